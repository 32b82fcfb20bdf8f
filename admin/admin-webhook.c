/* The alert webhook (admin-webhook.h): a bounded queue of finished JSON
 * bodies in fixed slots, filled by the judging thread, drained by one
 * poster thread that POSTs them with libcurl.
 *
 * Why libcurl (docs/dependencies.md): TLS with certificate checks,
 * redirects and whole-request timeouts are not worth writing by hand for
 * an alert or two a minute.  It is loaded (dlopen) by the first webhook,
 * not linked: libcurl and the nineteen libraries it brings (Kerberos,
 * LDAP, SSH, ...) took 8.6 ms of every start of every command, a
 * `smsguard whitelist add` or a `decode` included (24.2 against 15.6 ms
 * for an empty program linked as smsguard is, with and without it), for
 * a feature most deployments configure once, in the daemon.
 *
 * Queue: a ring of queue_max slots with head/tail counters under `mu`.  The
 * producer formats into its own scratch writer (also under `mu`, so
 * several producers may call) and copies the body into the slot at head;
 * the poster copies the slot at tail into its own buffer and releases the
 * slot before the network call, so the mutex is never held across I/O.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "admin-webhook.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-writer.h"
#include "lists.h"
#include "sg-common.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_QUEUE 256
#define MAX_QUEUE 65536
#define DEFAULT_BACKOFF_MS 500
#define MAX_BACKOFF_MS 30000
#define MAX_REDIRS 3
#define URL_MAX 1024

struct wh_slot {
    size_t len;
    char body[ADMIN_WEBHOOK_BODY_MAX];
};

struct admin_webhook {
    char url[URL_MAX];
    unsigned timeout_ms, queue_max, retries, backoff_ms;

    pthread_mutex_t mu; /* the ring, stop, and the producer's writer */
    pthread_cond_t cv;  /* poster waits for work or stop */
    struct wh_slot *slots;
    uint64_t head, tail; /* free-running; slot = counter % queue_max */
    int stop;
    jw_t *pw; /* producer's scratch writer, under mu */

    pthread_t thread;
    int thread_started;
    CURL *curl;                   /* poster thread only */
    struct curl_slist *headers;   /* poster thread only */
    char body[ADMIN_WEBHOOK_BODY_MAX]; /* poster's copy of the slot */
    char curl_err[CURL_ERROR_SIZE];

    _Atomic uint64_t st_posted, st_failed, st_dropped, st_retries;
};

/* ---- libcurl, loaded on first use -------------------------------------- */

/* The libcurl calls this file makes, resolved from SG_CURL_SONAME (the
 * library the build found, admin/CMakeLists.txt). */
static struct {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *curl);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
} curl_fn;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_load_err[256]; /* empty once loaded */

static void curl_load(void)
{
    void *h = dlopen(SG_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(curl_load_err, sizeof curl_load_err, "%s", dlerror());
        return;
    }
    /* Kept loaded for the life of the process: libcurl's global state
     * outlives any one webhook. */
    static const struct {
        const char *name;
        size_t off;
    } syms[] = {
#define SYM(f, m) {#f, offsetof(__typeof__(curl_fn), m)}
        SYM(curl_global_init, global_init),     SYM(curl_global_cleanup, global_cleanup),
        SYM(curl_easy_init, easy_init),         SYM(curl_easy_setopt, easy_setopt),
        SYM(curl_easy_perform, easy_perform),   SYM(curl_easy_getinfo, easy_getinfo),
        SYM(curl_easy_cleanup, easy_cleanup),   SYM(curl_slist_append, slist_append),
        SYM(curl_slist_free_all, slist_free_all),
#undef SYM
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(syms); i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            snprintf(curl_load_err, sizeof curl_load_err, "%s: no %s", SG_CURL_SONAME, syms[i].name);
            return;
        }
        /* POSIX: a function's address travels as void * through dlsym. */
        memcpy((char *)&curl_fn + syms[i].off, &f, sizeof f);
    }
}

/* 0 when libcurl's calls are ready; else -1 with the reason in err. */
static int curl_ready(char *err, size_t errcap)
{
    pthread_once(&curl_once, curl_load);
    if (!curl_load_err[0])
        return 0;
    snprintf(err, errcap, "webhook: cannot load libcurl (%s): %s", SG_CURL_SONAME, curl_load_err);
    return -1;
}

/* ---- producer side ------------------------------------------------------ */

const char *admin_webhook_kind(const struct verdict *v)
{
    int spoof = 0, lookalike = 0, wl = 0, matched = 0;
    if (!v)
        return NULL;
    /* The same selection and names as GET /api/v1/alerts, which selects on
     * the logged reason types (store_alert_messages) and names them
     * spoofing first, then look-alike (admin-routes-ops.c), so that the
     * webhook posts exactly what the API lists.  Bound: n_reasons <= 16. */
    for (unsigned i = 0; i < v->n_reasons && i < VERDICT_MAX_REASONS; i++) {
        switch (v->reasons[i].type) {
        case VERDICT_R_SPOOFING: spoof = 1; break;
        case VERDICT_R_LOOKALIKE: lookalike = 1; break;
        case VERDICT_R_WHITELIST: wl = 1; break;
        case VERDICT_R_RULE:
        case VERDICT_R_DOMAIN:
        case VERDICT_R_VOLUME: matched = 1; break;
        default: break;
        }
    }
    return spoof ? "spoofing" : lookalike ? "lookalike" : wl && matched ? "verified_sender_matched" : NULL;
}

/* Copies the writer's body into the next slot, or counts a drop.  Under mu. */
static int enqueue_locked(admin_webhook_t *wh)
{
    if (jw_failed(wh->pw) || wh->head - wh->tail >= wh->queue_max || wh->stop) {
        atomic_fetch_add_explicit(&wh->st_dropped, 1, memory_order_relaxed);
        return SG_ENOSPC;
    }
    struct wh_slot *sl = &wh->slots[wh->head % wh->queue_max];
    sl->len = jw_len(wh->pw);
    memcpy(sl->body, jw_data(wh->pw), sl->len);
    wh->head++;
    pthread_cond_signal(&wh->cv);
    return 0;
}

static void write_verdict(jw_t *w, const char *kind, int64_t ts_us, int64_t log_id,
                          const char *sender, size_t sender_len, const char *account,
                          const struct verdict *v, unsigned n_reasons)
{
    jw_reset(w);
    jw_obj_begin(w);
    jw_kstr(w, "kind", kind);
    jw_key(w, "time");
    jw_time_us(w, (uint64_t)(ts_us > 0 ? ts_us : 0));
    jw_key(w, "message_id");
    if (log_id > 0)
        jw_int(w, log_id);
    else
        jw_null(w);
    jw_kstrn(w, "sender", sender, sender_len);
    jw_key(w, "account");
    if (account && *account)
        jw_str(w, account);
    else
        jw_null(w);
    jw_kstr(w, "action", verdict_action_name(v->action));
    jw_kint(w, "score", v->score);
    jw_key(w, "reasons");
    jw_arr_begin(w);
    for (unsigned i = 0; i < n_reasons; i++) {
        jw_obj_begin(w);
        jw_kstr(w, "type", verdict_reason_name(v->reasons[i].type));
        jw_kstr(w, "id", v->reasons[i].id);
        jw_kstr(w, "detail", v->reasons[i].detail);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    if (n_reasons < v->n_reasons)
        jw_kbool(w, "reasons_truncated", true);
    jw_obj_end(w);
}

int admin_webhook_post_verdict(admin_webhook_t *wh, int64_t ts_us, int64_t log_id,
                               const char *sender, size_t sender_len, const char *account,
                               const struct verdict *v)
{
    if (!wh || !v || (!sender && sender_len))
        return SG_EINVAL;
    const char *kind = admin_webhook_kind(v);
    if (!kind)
        return 0;
    unsigned n = v->n_reasons < VERDICT_MAX_REASONS ? v->n_reasons : VERDICT_MAX_REASONS;
    pthread_mutex_lock(&wh->mu);
    /* Bound: at most log2(VERDICT_MAX_REASONS) + 2 formats, each O(body). */
    for (;;) {
        write_verdict(wh->pw, kind, ts_us, log_id, sender ? sender : "", sender_len, account, v, n);
        if (!jw_failed(wh->pw) || n == 0)
            break;
        n /= 2; /* too long (long, escaped details): keep the first reasons */
    }
    int rc = enqueue_locked(wh);
    pthread_mutex_unlock(&wh->mu);
    return rc;
}

int admin_webhook_post_autobl(admin_webhook_t *wh, int64_t blacklist_id,
                              const struct verdict_autobl *ev)
{
    if (!wh || !ev)
        return SG_EINVAL;
    pthread_mutex_lock(&wh->mu);
    jw_t *w = wh->pw;
    jw_reset(w);
    jw_obj_begin(w);
    jw_kstr(w, "kind", "automatic_blacklist");
    jw_key(w, "time");
    jw_time_us(w, (uint64_t)(ev->created_at > 0 ? ev->created_at : 0) * 1000000u);
    jw_kint(w, "blacklist_id", blacklist_id);
    jw_kstr(w, "blacklist_kind", lists_bl_kind_name(ev->kind));
    jw_kstr(w, "value", ev->value);
    jw_kstr(w, "reason", ev->reason);
    jw_kbool(w, "active", true);
    jw_obj_end(w);
    int rc = enqueue_locked(wh);
    pthread_mutex_unlock(&wh->mu);
    return rc;
}

void admin_webhook_get_stats(admin_webhook_t *wh, struct admin_webhook_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!wh)
        return;
    pthread_mutex_lock(&wh->mu);
    out->queued = wh->head - wh->tail;
    pthread_mutex_unlock(&wh->mu);
    out->posted = atomic_load_explicit(&wh->st_posted, memory_order_relaxed);
    out->failed = atomic_load_explicit(&wh->st_failed, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&wh->st_dropped, memory_order_relaxed);
    out->retries = atomic_load_explicit(&wh->st_retries, memory_order_relaxed);
}

/* ---- poster thread ------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n; /* the receiver's answer body is not used */
}

/* One attempt: 0 when the receiver answered 2xx. */
static int post_once(admin_webhook_t *wh, size_t len)
{
    long status = 0;
    curl_fn.easy_setopt(wh->curl, CURLOPT_POSTFIELDS, wh->body);
    curl_fn.easy_setopt(wh->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    wh->curl_err[0] = '\0';
    CURLcode rc = curl_fn.easy_perform(wh->curl);
    if (rc == CURLE_OK)
        curl_fn.easy_getinfo(wh->curl, CURLINFO_RESPONSE_CODE, &status);
    return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
}

/* Sleeps ms unless stop is set (then at once).  1 when stopping. */
static int wait_or_stop(admin_webhook_t *wh, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wh->mu);
    while (!wh->stop && pthread_cond_timedwait(&wh->cv, &wh->mu, &ts) != ETIMEDOUT)
        ;
    int stop = wh->stop;
    pthread_mutex_unlock(&wh->mu);
    return stop;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *poster_main(void *arg)
{
    admin_webhook_t *wh = arg;
    int64_t drain_until = 0;

#ifdef __linux__
    pthread_setname_np(pthread_self(), "sg-webhook");
#endif
    for (;;) {
        pthread_mutex_lock(&wh->mu);
        while (wh->head == wh->tail && !wh->stop)
            pthread_cond_wait(&wh->cv, &wh->mu);
        int stopping = wh->stop;
        if (stopping && !drain_until)
            drain_until = mono_ms() + wh->timeout_ms;
        if (wh->head == wh->tail || (stopping && mono_ms() >= drain_until)) {
            /* Stopping: what is left is abandoned, and counted. */
            atomic_fetch_add_explicit(&wh->st_dropped, wh->head - wh->tail, memory_order_relaxed);
            wh->tail = wh->head;
            pthread_mutex_unlock(&wh->mu);
            break;
        }
        struct wh_slot *sl = &wh->slots[wh->tail % wh->queue_max];
        size_t len = sl->len;
        memcpy(wh->body, sl->body, len);
        wh->tail++;
        pthread_mutex_unlock(&wh->mu);

        /* Bound: 1 + retries attempts, each at most timeout_ms, and the
         * waits between them (cut short by a stop). */
        int ok = post_once(wh, len) == 0;
        unsigned backoff = wh->backoff_ms;
        for (unsigned r = 0; !ok && r < wh->retries; r++) {
            if (wait_or_stop(wh, backoff))
                break; /* stopping: no more waiting, one attempt was made */
            atomic_fetch_add_explicit(&wh->st_retries, 1, memory_order_relaxed);
            ok = post_once(wh, len) == 0;
            backoff = backoff > MAX_BACKOFF_MS / 2 ? MAX_BACKOFF_MS : backoff * 2;
        }
        atomic_fetch_add_explicit(ok ? &wh->st_posted : &wh->st_failed, 1, memory_order_relaxed);
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int url_ok(const char *u)
{
    const char *host;
    if (strncmp(u, "http://", 7) == 0)
        host = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        host = u + 8;
    else
        return 0;
    if (!*host || *host == '/')
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0; /* no spaces or control characters */
    return 1;
}

admin_webhook_t *admin_webhook_new(const struct admin_webhook_config *cfg, char *err, size_t errcap)
{
    admin_webhook_t *wh = NULL;
    if (err && errcap)
        err[0] = '\0';
    if (!cfg || !cfg->url || !url_ok(cfg->url) || strlen(cfg->url) >= URL_MAX) {
        snprintf(err, errcap, "webhook_url: '%.100s' is not an http:// or https:// URL",
                 cfg && cfg->url ? cfg->url : "");
        return NULL;
    }
    if (cfg->queue_max > MAX_QUEUE) {
        snprintf(err, errcap, "webhook_queue: %u is more than %u", cfg->queue_max, MAX_QUEUE);
        return NULL;
    }
    if (curl_ready(err, errcap) != 0)
        return NULL;
    if (curl_fn.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errcap, "webhook: libcurl initialisation failed");
        return NULL;
    }
    wh = calloc(1, sizeof *wh);
    if (!wh)
        goto oom;
    snprintf(wh->url, sizeof wh->url, "%s", cfg->url);
    wh->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    wh->queue_max = cfg->queue_max ? cfg->queue_max : DEFAULT_QUEUE;
    wh->retries = cfg->retries;
    wh->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : DEFAULT_BACKOFF_MS;
    pthread_mutex_init(&wh->mu, NULL);
    pthread_cond_init(&wh->cv, NULL);
    wh->slots = calloc(wh->queue_max, sizeof *wh->slots);
    wh->pw = jw_new(ADMIN_WEBHOOK_BODY_MAX);
    wh->curl = curl_fn.easy_init();
    wh->headers = curl_fn.slist_append(NULL, "Content-Type: application/json");
    if (!wh->slots || !wh->pw || !wh->curl || !wh->headers)
        goto oom;
    CURL *c = wh->curl;
    curl_fn.easy_setopt(c, CURLOPT_URL, wh->url);
    curl_fn.easy_setopt(c, CURLOPT_HTTPHEADER, wh->headers);
    curl_fn.easy_setopt(c, CURLOPT_USERAGENT, "smsguard-webhook");
    curl_fn.easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)wh->timeout_ms);
    curl_fn.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->timeout_ms);
    curl_fn.easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_fn.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_fn.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_fn.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_fn.easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
    curl_fn.easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL); /* stay a POST */
    curl_fn.easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_fn.easy_setopt(c, CURLOPT_ERRORBUFFER, wh->curl_err);
    if (pthread_create(&wh->thread, NULL, poster_main, wh) != 0) {
        snprintf(err, errcap, "webhook: cannot start the poster thread");
        admin_webhook_free(wh);
        return NULL;
    }
    wh->thread_started = 1;
    return wh;
oom:
    snprintf(err, errcap, "webhook: out of memory");
    admin_webhook_free(wh);
    if (!wh)
        curl_fn.global_cleanup();
    return NULL;
}

void admin_webhook_free(admin_webhook_t *wh)
{
    if (!wh)
        return;
    if (wh->thread_started) {
        pthread_mutex_lock(&wh->mu);
        wh->stop = 1;
        pthread_cond_broadcast(&wh->cv);
        pthread_mutex_unlock(&wh->mu);
        pthread_join(wh->thread, NULL);
    }
    curl_fn.slist_free_all(wh->headers);
    if (wh->curl)
        curl_fn.easy_cleanup(wh->curl);
    jw_free(wh->pw);
    free(wh->slots);
    pthread_cond_destroy(&wh->cv);
    pthread_mutex_destroy(&wh->mu);
    free(wh);
    curl_fn.global_cleanup();
}
