/* Internals shared by the admin API's files: the server object, the
 * per-request context, the route table and the reply helpers. */
#ifndef SG_ADMIN_INT_H
#define SG_ADMIN_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "admin.h"
#include "admin-webhook.h"
#include "json-writer.h"
#include "store.h"

/* Role bits of a route. */
#define ADMIN_R_CALLCENTRE (1u << STORE_ROLE_CALLCENTRE)
#define ADMIN_R_OPS (1u << STORE_ROLE_OPS)
#define ADMIN_R_PROVIDER (1u << STORE_ROLE_PROVIDER)
#define ADMIN_R_ANY (ADMIN_R_CALLCENTRE | ADMIN_R_OPS | ADMIN_R_PROVIDER)

/* Failed-authentication table: one slot per client address, bounded;
 * a full table evicts the slot whose window is oldest (counted). */
#define ADMIN_AUTHFAIL_SLOTS 1024

struct admin_authfail {
    uint8_t addr[16];
    int used;
    unsigned count;
    int64_t window_start;
};

struct admin {
    struct MHD_Daemon *mhd;
    unsigned port;
    /* The write connection: list changes and their read-back.  Serialised
     * so that store_errmsg() read after a failed call is that call's
     * message (the store's own mutex covers only the call). */
    store_t *store;
    pthread_mutex_t db_mu;
    /* Read connections, one per MHD thread, for the GET routes and the
     * token check: SQLite in WAL mode runs them in parallel, so a slow
     * sender query no longer stalls the timeline lookups behind it.  A
     * request takes one within a single MHD callback and gives it back
     * before returning, so a thread never holds two and the pool never
     * runs dry under MHD (a caller of admin_dispatch_for_test may wait). */
    store_t **readers;
    size_t n_readers, n_free;
    store_t **rd_free; /* stack of the idle ones, under rd_mu */
    pthread_mutex_t rd_mu;
    pthread_cond_t rd_cv;

    char *console_dir, *country_code, *trunk_prefix, *tls_cert_pem, *tls_key_pem;
    size_t body_max;
    unsigned auth_fail_limit, auth_fail_window_s, reload_timeout_ms;
    int metrics_need_token;
    verdict_engine_t *engine;
    msglog_t *msglog;
    /* The alert webhook's counters for /metrics, set by the daemon after
     * start (admin_set_webhook); NULL = none configured. */
    _Atomic(admin_webhook_t *) webhook;

    atomic_int lists_changed;

    /* POST /rules/reload: request counter and completion, under reload_mu. */
    pthread_mutex_t reload_mu;
    pthread_cond_t reload_cv;
    atomic_int reload_wanted;
    uint64_t reload_req_seq, reload_done_seq;
    int reload_ok;
    char reload_msg[512];

    pthread_mutex_t metrics_mu;
    struct admin_metrics metrics;

    pthread_mutex_t authfail_mu;
    struct admin_authfail authfail[ADMIN_AUTHFAIL_SLOTS];
    atomic_uint_fast64_t authfail_evictions;

    atomic_uint_fast64_t requests, responses_by_class[6], auth_failures, throttled;
};

#define ADMIN_PARAM_MAX 4
#define ADMIN_PARAM_LEN 256

struct admin_req;
struct admin_route;
typedef int (*admin_handler)(admin_t *a, struct admin_req *r);

struct admin_route {
    struct admin_route_info info;
    unsigned roles;        /* ADMIN_R_* bits; 0 = public (no token) */
    int body;              /* 1: a JSON object body is read (POST) */
    const char *query;     /* allowed query parameters, comma list; NULL none */
    admin_handler fn;
};

struct admin_req {
    struct MHD_Connection *conn;
    const struct admin_route *route;
    char params[ADMIN_PARAM_MAX][ADMIN_PARAM_LEN]; /* {x} captures, in order */
    size_t n_params;
    struct store_token_info tok;
    int authed;
    /* Body: accumulated up to body_max; overflow set when a body without
     * Content-Length went past it. */
    char *body;
    size_t body_len, body_cap;
    int overflow;
    int early_status; /* response already queued in the first call */
    json_t *json;     /* parsed body (object) or NULL */
    jw_t *w;          /* response document */
    char *text;       /* or a plain-text response (metrics), malloc'd */
    size_t text_len;
    const char *ctype;
    char allow[32];   /* Allow header for 405 */
    /* GET routes: the read connection held while the handler runs (its
     * store_errmsg() is this request's); NULL for the others, which use
     * a->store under a->db_mu. */
    store_t *db;
    /* admin_dispatch_for_test() only (conn is NULL there): the decoded
     * query parameters as key/value pairs (value NULL for "?k"). */
    const char *const *test_query;
    size_t n_test_query;
};

/* ---- router (admin-router.c) ------------------------------------------- */

/* Finds the route for (method, path).  Returns it with params filled, or
 * NULL with *path_known = 1 when the path exists with another method. */
const struct admin_route *admin_route_match(const char *method, const char *path,
                                            struct admin_req *r, int *path_known);

/* ---- read connections (admin.c) ---------------------------------------- */

/* Takes an idle read connection (waits while none is idle); give it back
 * with admin_reader_put before the MHD callback returns. */
store_t *admin_reader_get(admin_t *a);
void admin_reader_put(admin_t *a, store_t *s);

/* ---- replies (admin.c) --------------------------------------------------- */

/* Writes {"error":{"code","message","field"}} into r->w; returns status. */
int admin_error(struct admin_req *r, int status, const char *code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Maps a store error to 400/404/409/500 with the store's message (r->db's,
 * else a->store's); the field is the text before the first ':' of an
 * SG_EINVAL message. */
int admin_store_error(admin_t *a, struct admin_req *r, int rc, const char *what);

/* ---- request input (admin-input.c) -------------------------------------- */

enum admin_ftype { AF_STR, AF_INT, AF_BOOL, AF_STRLIST };

struct admin_field {
    const char *name;
    enum admin_ftype type;
    int required;
    size_t max;            /* strings: bytes; ints: 0 = any, else max value */
};
/* Checks r->json against the spec: unknown fields, wrong types, missing
 * required fields, oversize strings.  0, or the 400 status written. */
int admin_body_check(struct admin_req *r, const struct admin_field *spec, size_t n);
/* Field accessors after admin_body_check (NULL / defaults when absent). */
const char *admin_body_str(struct admin_req *r, const char *name);
int64_t admin_body_int(struct admin_req *r, const char *name, int64_t dflt);
int admin_body_bool(struct admin_req *r, const char *name, int dflt);
/* Query parameter or NULL. */
const char *admin_query(struct admin_req *r, const char *name);
/* Parses query param name as an integer in [lo, hi]; absent = dflt.
 * 0 or the 400 status written. */
int admin_query_int(struct admin_req *r, const char *name, int64_t lo, int64_t hi,
                    int64_t dflt, int64_t *out);
/* Parses a time: RFC 3339 ("2026-11-27T19:38:03Z", fraction and offset
 * allowed), a date ("2026-11-27", UTC midnight) or epoch seconds.
 * Microseconds into *us.  0 or SG_EINVAL. */
int admin_parse_time(const char *s, int64_t *us);
/* Path parameter i as a positive id; 0 or the 400/404 status written. */
int admin_param_id(struct admin_req *r, size_t i, int64_t *id);
/* The store_change for a change by this request's token. */
struct store_change admin_change(struct admin_req *r, const char *reason, const char *ticket);

/* ---- shared JSON shapes (admin-json.c) ---------------------------------- */

void admin_jw_time(jw_t *w, const char *key, int64_t secs); /* null when 0 */
void admin_jw_str_or_null(jw_t *w, const char *key, const char *s);
/* key: a JSON value stored as text in the database (audit detail, verdict
 * reasons), emitted as JSON when it parses as the wanted type, else null
 * (or [] with or_empty_array). */
void admin_jw_stored_json(jw_t *w, const char *key, const char *text, json_type want, bool or_empty_array);
/* The same for a value already parsed (d may be NULL): one parse serves
 * several uses of a stored value. */
void admin_jw_parsed_json(jw_t *w, const char *key, const json_t *d, json_type want, bool or_empty_array);

/* ---- stored verdict reasons without a parse tree (admin-json-scan.c) ----- */

/* One element of a stored reasons array: the raw (still escaped) contents
 * of its string fields "type", "id", "detail", pointing into the text;
 * NULL when absent or not a string. */
struct admin_reason {
    const char *type, *id, *detail;
    size_t type_len, id_len, detail_len;
};
/* 0 when text (len bytes) is one JSON array (RFC 8259, UTF-8, no \u0000,
 * nesting at most 32), so that it can be copied into an answer as it is;
 * the fields of its first max object elements go to out (may be NULL),
 * their number to *n.  -1 otherwise.  No allocation; O(len). */
int admin_reasons_scan(const char *text, size_t len, struct admin_reason *out, size_t max,
                       size_t *n);
/* Decodes the raw contents of a string that admin_reasons_scan() accepted
 * into UTF-8, cut to cap-1 bytes at a character boundary, NUL-terminated;
 * returns the length. */
size_t admin_json_unescape(const char *raw, size_t len, char *out, size_t cap);
void admin_jw_whitelist(jw_t *w, const struct store_whitelist_row *r);
void admin_jw_blacklist(jw_t *w, const struct store_blacklist_row *r);
void admin_jw_exception(jw_t *w, const struct store_exception_row *r);
void admin_jw_wlreq(jw_t *w, const struct store_wlreq *r);

/* ---- authentication (admin-auth.c) -------------------------------------- */

/* 1 when the client address is refused for repeated failures. */
int admin_auth_throttled(admin_t *a, struct MHD_Connection *c);
/* Checks the Authorization header: 0 and r->tok, or the 401 written
 * (a presented but wrong token counts as a failure for the address). */
int admin_auth_check(admin_t *a, struct admin_req *r);

/* ---- handlers ------------------------------------------------------------ */

int admin_h_me(admin_t *a, struct admin_req *r);
int admin_h_timeline(admin_t *a, struct admin_req *r);
int admin_h_sender(admin_t *a, struct admin_req *r);
int admin_h_blacklist_get(admin_t *a, struct admin_req *r);
int admin_h_blacklist_post(admin_t *a, struct admin_req *r);
int admin_h_blacklist_clear(admin_t *a, struct admin_req *r);
int admin_h_exceptions_get(admin_t *a, struct admin_req *r);
int admin_h_exceptions_post(admin_t *a, struct admin_req *r);
int admin_h_exceptions_delete(admin_t *a, struct admin_req *r);
int admin_h_whitelist_get(admin_t *a, struct admin_req *r);
int admin_h_whitelist_post(admin_t *a, struct admin_req *r);
int admin_h_whitelist_delete(admin_t *a, struct admin_req *r);
int admin_h_wlreq_get(admin_t *a, struct admin_req *r);
int admin_h_wlreq_post(admin_t *a, struct admin_req *r);
int admin_h_wlreq_approve(admin_t *a, struct admin_req *r);
int admin_h_wlreq_reject(admin_t *a, struct admin_req *r);
int admin_h_rules_get(admin_t *a, struct admin_req *r);
int admin_h_rules_reload(admin_t *a, struct admin_req *r);
int admin_h_audit(admin_t *a, struct admin_req *r);
int admin_h_alerts(admin_t *a, struct admin_req *r);
/* /metrics and /healthz write text into r->w's buffer via jw_raw. */
int admin_h_metrics(admin_t *a, struct admin_req *r);
int admin_h_healthz(admin_t *a, struct admin_req *r);

/* Marks a committed list change for the daemon. */
void admin_note_lists_changed(admin_t *a);

#endif
