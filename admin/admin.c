/* The admin server: libmicrohttpd set-up, the request pipeline and its
 * error order, replies, the static console, and the daemon-facing calls.
 *
 * Error order for /api/v1 (issue 4): 429 (address refused after repeated
 * failures) -> 401 (no or bad token) -> 404 (no such route; 405 when the
 * path exists with another method) -> 403 (role) -> 413 (Content-Length
 * over the limit, decided before any body byte is read; a chunked body
 * is cut off at the limit) -> 400 (bad JSON, naming the field) -> the
 * handler's own 404/409.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin-int.h"

#define RESPONSE_MAX (16u << 20) /* largest JSON document one reply builds */
#define STATIC_FILE_MAX (8u << 20)

void admin_config_default(struct admin_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:8080";
    c->body_max = 65536;
    c->threads = 4;
    c->auth_fail_limit = 20;
    c->auth_fail_window_s = 60;
    c->reload_timeout_ms = 10000;
}

/* ---- replies ---------------------------------------------------------------- */

int admin_error(struct admin_req *r, int status, const char *code, const char *field,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jw_reset(r->w);
    jw_obj_begin(r->w);
    jw_key(r->w, "error");
    jw_obj_begin(r->w);
    jw_kstr(r->w, "code", code);
    jw_kstr(r->w, "message", msg);
    admin_jw_str_or_null(r->w, "field", field);
    jw_obj_end(r->w);
    jw_obj_end(r->w);
    return status;
}

int admin_store_error(admin_t *a, struct admin_req *r, int rc, const char *what)
{
    const char *m = store_errmsg(r->db ? r->db : a->store);
    switch (rc) {
    case SG_ENOTFOUND: return admin_error(r, 404, "not_found", NULL, "%s: no such entry", what);
    case SG_EEXIST: return admin_error(r, 409, "conflict", NULL, "%s: %s", what, m);
    case SG_EINVAL: {
        char field[64];
        const char *colon = strchr(m, ':');
        size_t n = colon ? (size_t)(colon - m) : 0;
        if (n >= sizeof field)
            n = 0;
        memcpy(field, m, n);
        field[n] = '\0';
        return admin_error(r, 400, "invalid", n ? field : NULL, "%s", m);
    }
    default:
        fprintf(stderr, "smsguard api: %s: %s\n", what, m);
        return admin_error(r, 500, "store_failed", NULL, "%s failed (see the server log)", what);
    }
}

static enum MHD_Result send_reply(admin_t *a, struct admin_req *r, int status)
{
    struct MHD_Response *resp;
    const char *ctype = r->ctype ? r->ctype : "application/json; charset=utf-8";
    if (r->text) {
        resp = MHD_create_response_from_buffer(r->text_len, r->text, MHD_RESPMEM_MUST_COPY);
    } else {
        if (jw_failed(r->w))
            admin_error(r, status = 500, "too_large", NULL, "the answer is too large: narrow the query");
        resp = MHD_create_response_from_buffer(jw_len(r->w), (void *)jw_data(r->w),
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == 405 && r->allow[0])
        MHD_add_response_header(resp, "Allow", r->allow);
    if (status == 429) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", a->auth_fail_window_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    int cls = status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add_explicit(&a->responses_by_class[cls], 1, memory_order_relaxed);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- static console ---------------------------------------------------------- */

static const char *mime_of(const char *path)
{
    static const struct { const char *ext, *type; } m[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
        {".svg", "image/svg+xml"},             {".png", "image/png"},
        {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < SG_ARRAY_LEN(m); i++)
        if (strcmp(dot, m[i].ext) == 0)
            return m[i].type;
    return "application/octet-stream";
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Serves console_dir/path: GET or HEAD only, no "..", no hidden files,
 * regular files only.  The console is the only HTML this server sends, so
 * its Content-Security-Policy forbids inline script and every origin but
 * this one: attacker-controlled sender IDs rendered by a slip as HTML still
 * cannot run. */
static enum MHD_Result serve_static(admin_t *a, struct MHD_Connection *c, const char *method,
                                    const char *url)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return plain(c, 405, "method not allowed\n");
    if (!a->console_dir)
        return plain(c, 404, "not found (no console configured)\n");
    const char *rel = url[0] == '/' ? url + 1 : url;
    if (!*rel)
        rel = "index.html";
    if (strstr(rel, "..") || strstr(rel, "/.") || rel[0] == '.' || strlen(rel) > 512)
        return plain(c, 404, "not found\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", a->console_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        return plain(c, 404, "not found\n");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", mime_of(path));
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                            "base-uri 'none'; frame-ancestors 'none'");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the request pipeline ------------------------------------------------------ */

static void req_free(struct admin_req *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->text);
    json_decref(r->json);
    jw_free(r->w);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_free(*con_cls);
    *con_cls = NULL;
}

/* Checks the query string against the route's allowed parameters. */
struct qcheck {
    const char *allowed;
    char bad[128];
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct qcheck *q = cls;
    (void)kind;
    (void)value;
    size_t kl = strlen(key);
    for (const char *p = q->allowed; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == kl && memcmp(p, key, n) == 0)
            return MHD_YES;
        p = e ? e + 1 : NULL;
    }
    snprintf(q->bad, sizeof q->bad, "%s", key);
    return MHD_NO;
}

static int route_checks(admin_t *a, struct admin_req *r, const char *method, const char *url,
                        int path_known, const char *cl);

/* The header-only checks of the first call.  Returns 0 to go on reading
 * the body, or the status of the error written. */
static int first_checks(admin_t *a, struct admin_req *r, const char *method, const char *url)
{
    if (admin_auth_throttled(a, r->conn)) {
        atomic_fetch_add_explicit(&a->throttled, 1, memory_order_relaxed);
        return admin_error(r, 429, "too_many_failures", NULL,
                           "too many failed sign-ins from this address; wait and retry");
    }
    int path_known = 0;
    r->route = admin_route_match(method, url, r, &path_known);
    int public_route = r->route && r->route->roles == 0;
    int need_token = !public_route || a->metrics_need_token;
    if (need_token) {
        int st = admin_auth_check(a, r);
        if (st)
            return st;
    }
    return route_checks(a, r, method, url, path_known,
                        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length"));
}

/* The checks after authentication (shared with admin_dispatch_for_test):
 * 404/405, role, query parameters, Content-Length.  cl: the header or NULL. */
static int route_checks(admin_t *a, struct admin_req *r, const char *method, const char *url,
                        int path_known, const char *cl)
{
    int public_route = r->route && r->route->roles == 0;
    if (!r->route) {
        if (path_known)
            return admin_error(r, 405, "method_not_allowed", NULL, "%s is not served on %s", method,
                               url);
        return admin_error(r, 404, "no_route", NULL, "no such route: %s %s", method, url);
    }
    if (public_route) {
        if (a->metrics_need_token && r->tok.role != STORE_ROLE_OPS)
            return admin_error(r, 403, "forbidden", NULL, "this needs an ops token");
    } else if (!(r->route->roles & (1u << r->tok.role))) {
        return admin_error(r, 403, "forbidden", NULL, "role %s may not %s %s",
                           store_role_name(r->tok.role), method, r->route->info.path);
    }
    struct qcheck q = {.allowed = r->route->query};
    if (r->conn) {
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_iter, &q);
    } else {
        for (size_t i = 0; i < r->n_test_query; i++)
            if (query_iter(&q, MHD_GET_ARGUMENT_KIND, r->test_query[2 * i],
                           r->test_query[2 * i + 1]) == MHD_NO)
                break;
    }
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > a->body_max)
            return admin_error(r, 413, "body_too_large", NULL,
                               "request body over the limit of %zu bytes", a->body_max);
        if (n > 0 && !r->route->body)
            return admin_error(r, 400, "unexpected_body", NULL, "%s %s takes no body", method,
                               r->route->info.path);
    }
    if (q.bad[0])
        return admin_error(r, 400, "unknown_parameter", q.bad, "unknown query parameter '%s'",
                           q.bad);
    return 0;
}

static int parse_body(struct admin_req *r)
{
    if (!r->route->body)
        return 0;
    if (r->body_len == 0) {
        r->json = json_object();
        return 0;
    }
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return admin_error(r, 400, "bad_json", NULL, "body is not valid JSON: %s (line %d, column %d)",
                           e.text, e.line, e.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return admin_error(r, 400, "bad_json", NULL, "body must be a JSON object");
    }
    r->json = j;
    return 0;
}

/* ---- read connections ------------------------------------------------------------ */

store_t *admin_reader_get(admin_t *a)
{
    pthread_mutex_lock(&a->rd_mu);
    while (a->n_free == 0)
        pthread_cond_wait(&a->rd_cv, &a->rd_mu);
    store_t *s = a->rd_free[--a->n_free];
    pthread_mutex_unlock(&a->rd_mu);
    return s;
}

void admin_reader_put(admin_t *a, store_t *s)
{
    pthread_mutex_lock(&a->rd_mu);
    a->rd_free[a->n_free++] = s;
    pthread_cond_signal(&a->rd_cv);
    pthread_mutex_unlock(&a->rd_mu);
}

/* n read-only connections to path, opened after a->store (which created
 * and migrated the file).  0, or the error with the store's message. */
static int readers_open(admin_t *a, const char *path, unsigned n, char serr[STORE_ERRBUF_SIZE])
{
    a->readers = calloc(n, sizeof *a->readers);
    a->rd_free = calloc(n, sizeof *a->rd_free);
    if (!a->readers || !a->rd_free) {
        snprintf(serr, STORE_ERRBUF_SIZE, "%s: out of memory", path);
        return -ENOMEM;
    }
    for (; a->n_readers < n; a->n_readers++) {
        int rc = store_open(&a->readers[a->n_readers], path, STORE_OPEN_READONLY, serr);
        if (rc != 0)
            return rc;
        a->rd_free[a->n_free++] = a->readers[a->n_readers];
    }
    return 0;
}

/* GET routes run on a read connection of their own, the others on the
 * write connection (their handlers take a->db_mu). */
static int run_handler(admin_t *a, struct admin_req *r)
{
    if (strcmp(r->route->info.method, "GET") != 0)
        return r->route->fn(a, r);
    r->db = admin_reader_get(a);
    /* One read transaction for the request's queries (a sender lookup runs
     * five or six): one snapshot, and the file locks taken once. */
    int tx = store_read_begin(r->db) == 0;
    int st = r->route->fn(a, r);
    if (tx)
        store_read_end(r->db);
    admin_reader_put(a, r->db);
    r->db = NULL;
    return st;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    admin_t *a = cls;
    (void)version;
    struct admin_req *r = *con_cls;
    if (!r) {
        atomic_fetch_add_explicit(&a->requests, 1, memory_order_relaxed);
        int api = strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0;
        int match_known;
        if (!api && !admin_route_match(method, url, NULL, &match_known) && !match_known)
            return serve_static(a, c, method, url);
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->conn = c;
        r->w = jw_new(RESPONSE_MAX);
        if (!r->w) {
            free(r);
            return MHD_NO;
        }
        *con_cls = r;
        int st = first_checks(a, r, method, url);
        if (st) {
            r->early_status = st;
            return send_reply(a, r, st);
        }
        return MHD_YES;
    }
    if (r->early_status) {
        *upload_data_size = 0; /* the reply is queued; drop what comes */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->overflow)
            return MHD_YES;
        if (r->body_len + n > a->body_max) {
            r->overflow = 1; /* chunked: no Content-Length to refuse earlier */
            return MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
            while (cap < r->body_len + n)
                cap *= 2;
            if (cap > a->body_max)
                cap = a->body_max;
            char *nb = realloc(r->body, cap);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }
    int st;
    if (r->overflow)
        st = admin_error(r, 413, "body_too_large", NULL, "request body over the limit of %zu bytes",
                         a->body_max);
    else if ((st = parse_body(r)) == 0)
        st = run_handler(a, r);
    return send_reply(a, r, st);
}

/* ---- start / stop ------------------------------------------------------------------ */

static int read_file(const char *path, char **out, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char *buf = malloc(1u << 20);
    size_t n = buf ? fread(buf, 1, (1u << 20) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        snprintf(err, errcap, "%s: empty or unreadable", path);
        return SG_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Parses "ADDR:PORT", "[V6]:PORT" or "localhost:PORT" (numeric addresses
 * only: a daemon must not depend on DNS to start). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                        int *loopback, char *err, size_t errcap)
{
    char host[128];
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
            goto bad;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = '\0';
        port = e + 2;
    } else {
        const char *e = strrchr(s, ':');
        if (!e || (size_t)(e - s) >= sizeof host)
            goto bad;
        memcpy(host, s, (size_t)(e - s));
        host[e - s] = '\0';
        port = e + 1;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        goto bad;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
        return 0;
    }
bad:
    snprintf(err, errcap, "--listen %s: expected ADDR:PORT or [IPv6]:PORT with a numeric address", s);
    return SG_EINVAL;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void admin_free(admin_t *a)
{
    if (!a)
        return;
    /* Readers first: the last connection, the writer, checkpoints the WAL. */
    for (size_t i = 0; i < a->n_readers; i++)
        store_close(a->readers[i]);
    free(a->readers);
    free(a->rd_free);
    store_close(a->store);
    free(a->console_dir);
    free(a->country_code);
    free(a->trunk_prefix);
    free(a->tls_cert_pem);
    free(a->tls_key_pem);
    pthread_mutex_destroy(&a->db_mu);
    pthread_mutex_destroy(&a->rd_mu);
    pthread_cond_destroy(&a->rd_cv);
    pthread_mutex_destroy(&a->reload_mu);
    pthread_cond_destroy(&a->reload_cv);
    pthread_mutex_destroy(&a->metrics_mu);
    pthread_mutex_destroy(&a->authfail_mu);
    free(a);
}

/* The server object with c's settings and no store and no server yet. */
static admin_t *admin_alloc(const struct admin_config *c)
{
    struct admin_config d;
    admin_config_default(&d);
    admin_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    pthread_mutex_init(&a->db_mu, NULL);
    pthread_mutex_init(&a->rd_mu, NULL);
    pthread_cond_init(&a->rd_cv, NULL);
    pthread_mutex_init(&a->reload_mu, NULL);
    pthread_cond_init(&a->reload_cv, NULL);
    pthread_mutex_init(&a->metrics_mu, NULL);
    pthread_mutex_init(&a->authfail_mu, NULL);
    a->console_dir = dup_or_null(c->console_dir);
    a->country_code = dup_or_null(c->country_code);
    a->trunk_prefix = dup_or_null(c->trunk_prefix);
    a->body_max = c->body_max ? c->body_max : d.body_max;
    a->auth_fail_limit = c->auth_fail_limit ? c->auth_fail_limit : d.auth_fail_limit;
    a->auth_fail_window_s = c->auth_fail_window_s ? c->auth_fail_window_s : d.auth_fail_window_s;
    a->reload_timeout_ms = c->reload_timeout_ms ? c->reload_timeout_ms : d.reload_timeout_ms;
    a->metrics_need_token = c->metrics_need_token;
    a->engine = c->engine;
    a->msglog = c->msglog;
    return a;
}

int admin_start(admin_t **out, const struct admin_config *c, char *err, size_t errcap)
{
    struct admin_config d;
    admin_t *a = NULL;
    int rc = SG_EINVAL;
    *out = NULL;
    admin_config_default(&d);
    if (!c->db_path) {
        snprintf(err, errcap, "the API needs a database (--db)");
        return SG_EINVAL;
    }
    const char *listen = c->listen ? c->listen : d.listen;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int loopback;
    if ((rc = parse_listen(listen, &ss, &sslen, &loopback, err, errcap)) != 0)
        return rc;
    int tls = c->tls_cert || c->tls_key;
    if (tls && !(c->tls_cert && c->tls_key)) {
        snprintf(err, errcap, "TLS needs both --tls-cert and --tls-key");
        return SG_EINVAL;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errcap, "this libmicrohttpd was built without TLS; --tls-cert cannot be used");
        return SG_ENOTSUP;
    }
    if (!loopback && !tls && !c->insecure_listen) {
        snprintf(err, errcap,
                 "the API's address %s is not a loopback address: configure --tls-cert and --tls-key, or "
                 "pass --insecure-listen if a TLS proxy on this host fronts it",
                 listen);
        return SG_EINVAL;
    }
    a = admin_alloc(c);
    if (!a) {
        snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    if (tls && ((rc = read_file(c->tls_cert, &a->tls_cert_pem, err, errcap)) != 0 ||
                (rc = read_file(c->tls_key, &a->tls_key_pem, err, errcap)) != 0))
        goto fail;
    char serr[STORE_ERRBUF_SIZE];
    unsigned threads = c->threads ? c->threads : d.threads;
    if ((rc = store_open(&a->store, c->db_path, STORE_OPEN_CREATE, serr)) != 0 ||
        (rc = readers_open(a, c->db_path, threads, serr)) != 0) {
        snprintf(err, errcap, "%s", serr);
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 512, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, a->tls_cert_pem},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, a->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!a->mhd) {
        snprintf(err, errcap, "cannot listen on %s (address in use, or no permission)", listen);
        rc = -EADDRINUSE;
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : 0;
    *out = a;
    return 0;
fail:
    admin_free(a);
    return rc;
}

void admin_stop(admin_t *a)
{
    if (!a)
        return;
    /* Wake a reload request still waiting for a loop that has ended. */
    pthread_mutex_lock(&a->reload_mu);
    a->reload_done_seq = a->reload_req_seq;
    a->reload_ok = 0;
    snprintf(a->reload_msg, sizeof a->reload_msg, "the daemon is stopping");
    pthread_cond_broadcast(&a->reload_cv);
    pthread_mutex_unlock(&a->reload_mu);
    if (a->mhd) /* NULL for admin_new_for_test() */
        MHD_stop_daemon(a->mhd);
    admin_free(a);
}

unsigned admin_port(const admin_t *a) { return a ? a->port : 0; }

/* ---- daemon-facing ------------------------------------------------------------------ */

void admin_note_lists_changed(admin_t *a)
{
    atomic_store_explicit(&a->lists_changed, 1, memory_order_release);
}

void admin_set_webhook(admin_t *a, struct admin_webhook *wh)
{
    if (a)
        atomic_store_explicit(&a->webhook, wh, memory_order_release);
}

int admin_lists_changed_take(admin_t *a)
{
    return a && atomic_exchange_explicit(&a->lists_changed, 0, memory_order_acq_rel);
}

int admin_rules_reload_take(admin_t *a)
{
    return a && atomic_exchange_explicit(&a->reload_wanted, 0, memory_order_acq_rel);
}

void admin_rules_reload_done(admin_t *a, int ok, const char *msg)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->reload_mu);
    a->reload_done_seq = a->reload_req_seq;
    a->reload_ok = ok;
    snprintf(a->reload_msg, sizeof a->reload_msg, "%s", msg ? msg : "");
    pthread_cond_broadcast(&a->reload_cv);
    pthread_mutex_unlock(&a->reload_mu);
}

void admin_publish_metrics(admin_t *a, const struct admin_metrics *m)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->metrics_mu);
    a->metrics = *m;
    pthread_mutex_unlock(&a->metrics_mu);
}

/* ---- testing interface (admin.h) ------------------------------------------- */

int admin_new_for_test(admin_t **out, const struct admin_config *c, char *err, size_t errcap)
{
    *out = NULL;
    if (!c->db_path) {
        snprintf(err, errcap, "the API needs a database (--db)");
        return SG_EINVAL;
    }
    admin_t *a = admin_alloc(c);
    if (!a) {
        snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    char serr[STORE_ERRBUF_SIZE];
    /* One reader: requests run on the caller's thread, one at a time
     * unless the caller has threads of its own (they then wait for it). */
    int rc = store_open(&a->store, c->db_path, STORE_OPEN_CREATE, serr);
    if (rc == 0)
        rc = readers_open(a, c->db_path, 1, serr);
    if (rc != 0) {
        snprintf(err, errcap, "%s", serr);
        admin_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* In place, as libmicrohttpd decodes arguments: '+' is a space (plus_too),
 * "%XX" an octet, a malformed escape stays as it is. */
static void test_unescape(char *s, int plus_too)
{
    char *d = s;
    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *d++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
            s += 2;
        } else {
            *d++ = plus_too && *s == '+' ? ' ' : *s;
        }
    }
    *d = '\0';
}

#define TEST_QUERY_MAX 32

int admin_dispatch_for_test(admin_t *a, const char *method, const char *url, const char *query,
                            const char *body, size_t body_len, int role, char *out, size_t cap)
{
    int st = 500;
    char *path = strdup(url), *qs = query ? strdup(query) : NULL;
    const char *pairs[2 * TEST_QUERY_MAX];
    struct admin_req *r = calloc(1, sizeof *r);
    if (!path || (query && !qs) || !r || !(r->w = jw_new(RESPONSE_MAX)))
        goto out;
    test_unescape(path, 0);
    size_t n = 0;
    for (char *save = NULL, *kv = qs ? strtok_r(qs, "&", &save) : NULL; kv && n < TEST_QUERY_MAX;
         kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        test_unescape(kv, 1);
        if (eq)
            test_unescape(eq, 1);
        pairs[2 * n] = kv;
        pairs[2 * n + 1] = eq;
        n++;
    }
    r->test_query = pairs;
    r->n_test_query = n;
    r->authed = 1;
    r->tok.id = 1;
    r->tok.role = (enum store_role)(role == STORE_ROLE_OPS || role == STORE_ROLE_PROVIDER
                                        ? role : STORE_ROLE_CALLCENTRE);
    snprintf(r->tok.name, sizeof r->tok.name, "test-%s", store_role_name(r->tok.role));
    if (r->tok.role == STORE_ROLE_PROVIDER)
        snprintf(r->tok.provider, sizeof r->tok.provider, "test-provider");
    int path_known = 0;
    r->route = admin_route_match(method, path, r, &path_known);
    char cl[24];
    snprintf(cl, sizeof cl, "%zu", body_len);
    st = route_checks(a, r, method, path, path_known, body_len ? cl : NULL);
    if (st == 0 && body_len > a->body_max)
        st = admin_error(r, 413, "body_too_large", NULL, "request body over the limit of %zu bytes",
                         a->body_max);
    if (st == 0 && body_len) {
        if (!(r->body = malloc(body_len))) {
            st = 500;
            goto out;
        }
        memcpy(r->body, body, body_len);
        r->body_len = r->body_cap = body_len;
    }
    if (st == 0 && (st = parse_body(r)) == 0)
        st = run_handler(a, r);
    if (!r->text && jw_failed(r->w))
        st = admin_error(r, 500, "too_large", NULL, "the answer is too large: narrow the query");
    if (out && cap) {
        const char *src = r->text ? r->text : jw_data(r->w);
        size_t len = r->text ? r->text_len : jw_len(r->w);
        if (len >= cap)
            len = cap - 1;
        memcpy(out, src, len);
        out[len] = '\0';
    }
out:
    req_free(r);
    free(path);
    free(qs);
    return st;
}
