/* The admin API: JSON over HTTP under /api/v1 (libmicrohttpd), the static
 * web console at /, Prometheus metrics at /metrics and /healthz.  Served by
 * `smsguard run` itself, so that a list change made here reaches the
 * running engine at once.  Routes, roles and error shapes: docs/api.md and
 * docs/openapi.yaml (kept in step with admin_route_at() by a test).
 *
 * Lifecycle (libpcap's habit: caller-owned error buffer):
 *   admin_config_default(&c); set fields; admin_start(&a, &c, err, cap);
 *   ... the daemon's loop calls admin_lists_changed_take(),
 *   admin_rules_reload_take()/admin_rules_reload_done() and
 *   admin_publish_metrics() from its tick ...
 *   admin_stop(a).
 *
 * Threads: MHD runs an internal polling thread pool (config.threads).  The
 * API threads never use the daemon's store_t: GET routes and token checks
 * read on read-only connections of their own, one per thread, in parallel;
 * changes go through one write connection, serialised.  The functions
 * below that the daemon calls from its judging thread are safe against the
 * API threads and never block on them, except admin_stop().
 */
#ifndef SG_ADMIN_H
#define SG_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "decoder.h"
#include "msglog.h"
#include "verdict.h"

typedef struct admin admin_t;

struct admin_config {
    const char *listen;        /* "ADDR:PORT", "[v6]:PORT"; default 127.0.0.1:8080 */
    const char *db_path;       /* required: the daemon's SQLite state */
    const char *console_dir;   /* static files served at /; NULL = none */
    const char *tls_cert;      /* PEM file paths; both or neither */
    const char *tls_key;
    /* A non-loopback address needs TLS; this says the operator knows
     * better (a TLS-terminating proxy on the same host, a lab). */
    int insecure_listen;
    const char *country_code;  /* msisdn normalisation; NULL = "7" */
    const char *trunk_prefix;  /* NULL = "8" */
    size_t body_max;           /* request body limit in bytes; 0 = 65536 */
    unsigned threads;          /* MHD thread pool; 0 = 4 */
    /* 429 after this many failed authentications from one address within
     * auth_fail_window_s; the address stays refused until the window ends.
     * 0 = 20 and 60. */
    unsigned auth_fail_limit;
    unsigned auth_fail_window_s;
    /* /metrics and /healthz need an ops token when set. */
    int metrics_need_token;
    /* Borrowed, may be NULL (then /api/v1/rules answers 503): the running
     * engine, for rule metadata, hit counters and verdict counters. */
    verdict_engine_t *engine;
    /* Borrowed, may be NULL: the daemon's message-log writer (queue depth
     * and drop counters for /metrics; msglog_get_stats is thread-safe). */
    msglog_t *msglog;
    /* How long POST /api/v1/rules/reload waits for the daemon's loop to
     * apply the reload; 0 = 10 s. */
    unsigned reload_timeout_ms;
};

void admin_config_default(struct admin_config *c);

/* Opens its own store connection, checks the listen address (loopback or
 * TLS or insecure_listen; TLS needs MHD built with it), binds and starts
 * serving.  On failure returns a negative code, *out = NULL, and a message
 * in err naming the option or file. */
int admin_start(admin_t **out, const struct admin_config *c, char *err, size_t errcap);
/* Stops serving (waits for requests in flight), closes.  NULL is a no-op. */
void admin_stop(admin_t *a);
/* The port actually bound (useful with port 0). */
unsigned admin_port(const admin_t *a);

/* 1 once after any committed list change through the API (the caller
 * reloads its lists snapshot now), else 0.  Lock-free. */
int admin_lists_changed_take(admin_t *a);

/* 1 once when POST /api/v1/rules/reload asked for a reload: the caller
 * reloads rules and lists and then reports with admin_rules_reload_done()
 * (ok 1/0, msg a one-line summary or the first error), which wakes the
 * waiting request. */
int admin_rules_reload_take(admin_t *a);
void admin_rules_reload_done(admin_t *a, int ok, const char *msg);

/* Counters only the judging thread can read safely, copied for /metrics. */
struct admin_metrics {
    struct decoder_stats dec;
    uint64_t rule_reloads, rule_reload_failures, list_reloads;
    uint64_t autobl_written;
    int64_t updated_at; /* wall clock of the copy */
};
/* Copies *m under a mutex (O(sizeof *m)); call from the daemon's tick. */
void admin_publish_metrics(admin_t *a, const struct admin_metrics *m);

/* The daemon's alert webhook (admin-webhook.h), borrowed, for its counters
 * in /metrics; NULL = none.  Any thread; the webhook must outlive the API
 * (free it after admin_stop()). */
struct admin_webhook;
void admin_set_webhook(admin_t *a, struct admin_webhook *wh);

/* ---- route table (for tests and the OpenAPI check) ---------------------- */

struct admin_route_info {
    const char *method;   /* "GET", "POST", "DELETE" */
    const char *path;     /* OpenAPI form: "/api/v1/blacklist/{id}/clear" */
    const char *roles;    /* "callcentre,ops", "public" */
};
/* The i-th route the server serves (0-based), or NULL past the end. */
const struct admin_route_info *admin_route_at(size_t i);

/* ---- testing interface (tests/fuzz/fuzz-api.c) ---------------------------
 * The request pipeline without HTTP, so a fuzzer or a unit test can drive
 * the router, the query and body checks and the handlers directly.  Not for
 * production: no listen socket, no libmicrohttpd, no token check. */

/* An admin_t with its own store at c->db_path (created when missing) and no
 * server.  Close it with admin_stop().  Same errors as admin_start(). */
int admin_new_for_test(admin_t **out, const struct admin_config *c, char *err, size_t errcap);
/* Runs one request as if authenticated by a token of role (enum
 * store_role; another value is callcentre) named "test-<role>", of
 * provider "test-provider" for a provider token: route and path parameters
 * (404/405), role (403), query parameters (query: the raw text after '?',
 * NULL for none; url and query are decoded as libmicrohttpd does), body
 * limit (413), JSON body (400), then the handler.  Returns the HTTP status;
 * the response body (JSON, or text for /metrics) is copied to out,
 * NUL-terminated and cut at cap (out may be NULL).  Thread: the caller's;
 * may run beside other requests as a real one does. */
int admin_dispatch_for_test(admin_t *a, const char *method, const char *url, const char *query,
                            const char *body, size_t body_len, int role, char *out, size_t cap);

#endif
