/* The alert webhook (admin/admin-webhook.h) against a loopback receiver
 * run by the test itself: which verdicts are alerts (the API's
 * classification), the bodies (valid JSON; a verdict too long for a slot
 * loses reasons from the end and says so), a full queue drops and counts,
 * a failing receiver is retried then counted failed, bad URLs are refused,
 * and stopping with a receiver that never answers is bounded.
 * tests/alert-webhook.sh runs the daemon end to end. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin-webhook.h"
#include "testutil.h"

/* ---- a minimal HTTP receiver ------------------------------------------------ */

#define RX_MAX 64

struct rx {
    int fd;
    unsigned port;
    int status;       /* answer with this */
    int delay_ms;     /* before answering */
    int never_answer; /* read, then hold the connection until stop */
    _Atomic int stop;
    pthread_t th;
    pthread_mutex_t mu;
    int n;            /* requests seen */
    char *body[RX_MAX];
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads one request (headers, then Content-Length bytes); the body, or NULL. */
static char *read_request(int c)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    long want = -1;
    while (buf && len < cap) {
        ssize_t r = read(c, buf + len, cap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        char *eoh = strstr(buf, "\r\n\r\n");
        if (eoh) {
            const char *cl = strstr(buf, "Content-Length:");
            long n = cl ? strtol(cl + 15, NULL, 10) : 0;
            want = (long)(eoh + 4 - buf) + n;
            if ((long)len >= want)
                break;
        }
    }
    if (!buf || want < 0 || (long)len < want) {
        free(buf);
        return NULL;
    }
    char *eoh = strstr(buf, "\r\n\r\n") + 4;
    memmove(buf, eoh, (size_t)(want - (eoh - buf)));
    buf[want - (eoh - buf)] = '\0';
    return buf;
}

static void *rx_main(void *arg)
{
    struct rx *x = arg;
    while (!atomic_load(&x->stop)) {
        int c = accept(x->fd, NULL, NULL);
        if (c < 0)
            continue;
        char *body = read_request(c);
        pthread_mutex_lock(&x->mu);
        if (x->n < RX_MAX)
            x->body[x->n] = body;
        else
            free(body);
        x->n++;
        pthread_mutex_unlock(&x->mu);
        while (x->never_answer && !atomic_load(&x->stop))
            sleep_ms(10);
        if (x->delay_ms)
            sleep_ms(x->delay_ms);
        char resp[128];
        int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                         x->status);
        if (write(c, resp, (size_t)n) < 0) {
            /* the client gave up: nothing to do */
        }
        close(c);
    }
    return NULL;
}

static void rx_start(struct rx *x, int status)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    x->status = status;
    pthread_mutex_init(&x->mu, NULL);
    x->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(x->fd >= 0);
    CHECK(bind(x->fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(x->fd, 16) == 0);
    getsockname(x->fd, (struct sockaddr *)&a, &al);
    x->port = ntohs(a.sin_port);
    /* accept() wakes every 100 ms to see stop. */
    struct timeval tv = {0, 100000};
    setsockopt(x->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_create(&x->th, NULL, rx_main, x);
}

static void rx_stop(struct rx *x)
{
    atomic_store(&x->stop, 1);
    pthread_join(x->th, NULL);
    close(x->fd);
    for (int i = 0; i < x->n && i < RX_MAX; i++)
        free(x->body[i]);
    pthread_mutex_destroy(&x->mu);
}

static int rx_count(struct rx *x)
{
    pthread_mutex_lock(&x->mu);
    int n = x->n;
    pthread_mutex_unlock(&x->mu);
    return n;
}

static admin_webhook_t *wh_new(unsigned port, unsigned timeout_ms, unsigned queue, unsigned retries)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", port);
    struct admin_webhook_config c = {.url = url, .timeout_ms = timeout_ms, .queue_max = queue,
                                     .retries = retries, .backoff_ms = 10};
    admin_webhook_t *wh = admin_webhook_new(&c, err, sizeof err);
    CHECK_MSG(wh != NULL, "%s", err);
    return wh;
}

/* Waits until stats say posted + failed == n (at most 10 s). */
static void wait_done(admin_webhook_t *wh, uint64_t n, struct admin_webhook_stats *st)
{
    for (int i = 0; i < 1000; i++) {
        admin_webhook_get_stats(wh, st);
        if (st->posted + st->failed >= n)
            return;
        sleep_ms(10);
    }
}

static void add_reason(struct verdict *v, enum verdict_reason_type t, const char *id, const char *detail)
{
    struct verdict_reason *r = &v->reasons[v->n_reasons++];
    r->type = t;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->detail, sizeof r->detail, "%s", detail);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_kind(void)
{
    struct verdict v = {0};
    CHECK(admin_webhook_kind(&v) == NULL);
    add_reason(&v, VERDICT_R_RULE, "R1", "x");
    CHECK(admin_webhook_kind(&v) == NULL); /* an ordinary rule match */
    add_reason(&v, VERDICT_R_WHITELIST, "wl-1", "verified");
    CHECK_EQ_STR(admin_webhook_kind(&v), "verified_sender_matched");
    add_reason(&v, VERDICT_R_LOOKALIKE, "wl-2", "looks like");
    CHECK_EQ_STR(admin_webhook_kind(&v), "lookalike");
    add_reason(&v, VERDICT_R_SPOOFING, "wl-1", "spoofed");
    CHECK_EQ_STR(admin_webhook_kind(&v), "spoofing"); /* spoofing first, as the API */
    struct verdict w = {0};
    add_reason(&w, VERDICT_R_WHITELIST, "wl-1", "account unknown");
    w.alert = 1;
    CHECK(admin_webhook_kind(&w) == NULL); /* the API does not list it either */
}

static void test_bodies(void)
{
    struct rx x = {0};
    rx_start(&x, 204);
    admin_webhook_t *wh = wh_new(x.port, 2000, 16, 0);
    if (!wh)
        return;
    /* 1. A look-alike: every field of the API's shape. */
    struct verdict v = {.action = VERDICT_BLOCK, .score = 7};
    add_reason(&v, VERDICT_R_LOOKALIKE, "wl-1", "sender QlWI looks like protected QIWI (QIWI Bank)");
    CHECK_EQ_INT(admin_webhook_post_verdict(wh, 1709311436534329LL, 428, "QlWI", 4, NULL, &v), 0);
    /* 2. Too long for a slot: 16 reasons whose details are control bytes
     * (each escaped as \u00XX: 6 bytes per byte). */
    struct verdict big = {.action = VERDICT_BLOCK};
    char detail[VERDICT_DETAIL_MAX];
    memset(detail, 0x01, sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    for (int i = 0; i < VERDICT_MAX_REASONS; i++)
        add_reason(&big, i == 0 ? VERDICT_R_SPOOFING : VERDICT_R_RULE, "R", detail);
    CHECK_EQ_INT(admin_webhook_post_verdict(wh, 1, 0, "S\"x", 3, "acct", &big), 0);
    /* 3. Not an alert: nothing posted. */
    struct verdict none = {0};
    CHECK_EQ_INT(admin_webhook_post_verdict(wh, 1, 1, "S", 1, NULL, &none), 0);
    /* 4. An automatic blacklist entry. */
    struct verdict_autobl ev = {.kind = LISTS_BL_SENDER, .created_at = 1800000000};
    snprintf(ev.value, sizeof ev.value, "Zaim24");
    snprintf(ev.reason, sizeof ev.reason, "volume: more than 50 recipients in 600 s");
    CHECK_EQ_INT(admin_webhook_post_autobl(wh, 9, &ev), 0);
    struct admin_webhook_stats st;
    wait_done(wh, 3, &st);
    CHECK_EQ_INT(st.posted, 3);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(st.dropped, 0);
    admin_webhook_free(wh);
    CHECK_EQ_INT(rx_count(&x), 3);
    json_error_t e;
    json_t *a = x.body[0] ? json_loads(x.body[0], 0, &e) : NULL;
    CHECK_MSG(a != NULL, "%s", x.body[0] ? x.body[0] : "(none)");
    if (a) {
        CHECK_EQ_STR(json_string_value(json_object_get(a, "kind")), "lookalike");
        CHECK_EQ_STR(json_string_value(json_object_get(a, "time")), "2024-03-01T16:43:56.534329Z");
        CHECK_EQ_INT(json_integer_value(json_object_get(a, "message_id")), 428);
        CHECK_EQ_STR(json_string_value(json_object_get(a, "sender")), "QlWI");
        CHECK(json_is_null(json_object_get(a, "account")));
        CHECK_EQ_STR(json_string_value(json_object_get(a, "action")), "block");
        CHECK_EQ_INT(json_integer_value(json_object_get(a, "score")), 7);
        json_t *r0 = json_array_get(json_object_get(a, "reasons"), 0);
        CHECK_EQ_STR(json_string_value(json_object_get(r0, "type")), "lookalike");
        CHECK_EQ_STR(json_string_value(json_object_get(r0, "id")), "wl-1");
        CHECK(json_object_get(a, "reasons_truncated") == NULL);
    }
    json_decref(a);
    json_t *b = x.body[1] ? json_loads(x.body[1], 0, &e) : NULL;
    CHECK_MSG(b != NULL, "oversized verdict: body is not JSON");
    if (b) {
        size_t n = json_array_size(json_object_get(b, "reasons"));
        CHECK(n > 0 && n < VERDICT_MAX_REASONS);
        CHECK(json_is_true(json_object_get(b, "reasons_truncated")));
        CHECK_EQ_STR(json_string_value(json_object_get(b, "kind")), "spoofing");
        CHECK_EQ_STR(json_string_value(json_object_get(b, "sender")), "S\"x");
        CHECK(json_is_null(json_object_get(b, "message_id")));
        CHECK(strlen(x.body[1]) <= ADMIN_WEBHOOK_BODY_MAX);
    }
    json_decref(b);
    json_t *c = x.body[2] ? json_loads(x.body[2], 0, &e) : NULL;
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_STR(json_string_value(json_object_get(c, "kind")), "automatic_blacklist");
        CHECK_EQ_INT(json_integer_value(json_object_get(c, "blacklist_id")), 9);
        CHECK_EQ_STR(json_string_value(json_object_get(c, "blacklist_kind")), "sender");
        CHECK_EQ_STR(json_string_value(json_object_get(c, "value")), "Zaim24");
        CHECK_EQ_STR(json_string_value(json_object_get(c, "time")), "2027-01-15T08:00:00.000000Z");
        CHECK(json_is_true(json_object_get(c, "active")));
    }
    json_decref(c);
    rx_stop(&x);
}

static void test_full_queue_and_failures(void)
{
    struct verdict v = {.action = VERDICT_BLOCK};
    add_reason(&v, VERDICT_R_SPOOFING, "wl-1", "spoofed");

    /* A slow receiver (200 ms per answer) and a queue of 2: ten alerts
     * posted at once, most are dropped and counted; posting never waits. */
    struct rx x = {.delay_ms = 200};
    rx_start(&x, 204);
    admin_webhook_t *wh = wh_new(x.port, 2000, 2, 0);
    if (!wh)
        return;
    double t0 = now_s();
    int refused = 0;
    for (int i = 0; i < 10; i++)
        refused += admin_webhook_post_verdict(wh, 1, i + 1, "QIWI", 4, "a", &v) == SG_ENOSPC;
    CHECK(now_s() - t0 < 0.1);
    struct admin_webhook_stats st;
    wait_done(wh, (uint64_t)(10 - refused), &st);
    CHECK(refused >= 7);
    CHECK_EQ_INT(st.dropped, refused);
    CHECK_EQ_INT(st.posted, 10 - refused);
    admin_webhook_free(wh);
    rx_stop(&x);

    /* A receiver that answers 503: 1 + 2 attempts, then failed. */
    struct rx y = {0};
    rx_start(&y, 503);
    wh = wh_new(y.port, 2000, 4, 2);
    if (!wh)
        return;
    CHECK_EQ_INT(admin_webhook_post_verdict(wh, 1, 1, "QIWI", 4, "a", &v), 0);
    wait_done(wh, 1, &st);
    CHECK_EQ_INT(st.failed, 1);
    CHECK_EQ_INT(st.posted, 0);
    CHECK_EQ_INT(st.retries, 2);
    admin_webhook_free(wh);
    CHECK_EQ_INT(rx_count(&y), 3);
    rx_stop(&y);

    /* A receiver that never answers: stopping is bounded by about three
     * timeouts, and what could not be posted is counted. */
    struct rx z = {.never_answer = 1};
    rx_start(&z, 204);
    wh = wh_new(z.port, 300, 8, 5);
    if (!wh)
        return;
    for (int i = 0; i < 5; i++)
        admin_webhook_post_verdict(wh, 1, i + 1, "QIWI", 4, "a", &v);
    sleep_ms(50);
    t0 = now_s();
    admin_webhook_get_stats(wh, &st);
    admin_webhook_free(wh);
    double took = now_s() - t0;
    CHECK_MSG(took < 1.5, "stop took %.2f s", took);
    rx_stop(&z);
}

static void test_bad_urls(void)
{
    static const char *const bad[] = {"ftp://x/", "http://", "https:///x", "http://a b/", "localhost:80", ""};
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct admin_webhook_config c = {.url = bad[i]};
        admin_webhook_t *wh = admin_webhook_new(&c, err, sizeof err);
        CHECK_MSG(wh == NULL, "accepted '%s'", bad[i]);
        CHECK(strstr(err, "webhook_url") != NULL);
        admin_webhook_free(wh);
    }
    admin_webhook_free(NULL);
}

int main(void)
{
    test_kind();
    test_bodies();
    test_full_queue_and_failures();
    test_bad_urls();
    return test_summary();
}
