/* The judging path's short cuts (filter/verdict.c, msisdn.c, volume.c),
 * each against what it replaced:
 *
 *   - volume reason details, built from tails formatted once per engine,
 *     read exactly as the printf format they replace, at every threshold
 *     and window width, with long senders and the verified note;
 *   - the overlay's tags, read without its mutex: an automatic entry
 *     added by one worker is found by the next message of any worker,
 *     while other workers look up and add concurrently (run it under
 *     the sanitizers, and TSan when there is one);
 *   - the lists stages skipped on an empty list come back with a
 *     snapshot that has entries, and go again with one that has none;
 *   - verdict_worker_set_snippet(): off, an empty snippet, nothing else
 *     changed;
 *   - msisdn_normalise_n() on views equals msisdn_normalise() on the
 *     NUL-terminated copy (embedded NULs, eight-digit runs, junk after);
 *   - the volume counters' vector searches against a plain model at
 *     sizes around the vector widths. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "msisdn.h"
#include "testutil.h"
#include "verdict.h"
#include "volume.h"

static const int64_t NOW = 1800000000;
static struct sg_endpoint ESME = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3}, 40000, 1};

static struct verdict_input msg(const char *account, const char *src, const char *dst, const char *text,
                                uint32_t t_s)
{
    struct verdict_input in;
    memset(&in, 0, sizeof in);
    in.ts = ((sg_time_us)NOW + t_s) * 1000000u;
    in.now = NOW;
    in.account.p = (const uint8_t *)account;
    in.account.len = strlen(account);
    in.source_addr.p = (const uint8_t *)src;
    in.source_addr.len = strlen(src);
    in.source_ton = strspn(src, "0123456789") == strlen(src) ? 1 : 5; /* international / alphanumeric */
    in.dest_addr.p = (const uint8_t *)dst;
    in.dest_addr.len = strlen(dst);
    in.src_ip = &ESME;
    in.text = text;
    in.text_len = strlen(text);
    in.parts = 1;
    return in;
}

static const struct verdict_reason *reason(const struct verdict *v, const char *id)
{
    for (unsigned i = 0; i < v->n_reasons; i++)
        if (strcmp(v->reasons[i].id, id) == 0)
            return &v->reasons[i];
    return NULL;
}

static verdict_engine_t *engine(const struct verdict_config *cfg)
{
    char err[256] = "";
    verdict_engine_t *e = verdict_engine_new(cfg, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    return e;
}

/* ---- volume details -------------------------------------------------------- */

static lists_t *whitelist_of(const char *sender)
{
    lists_t *l = lists_new();
    struct lists_whitelist_entry w = {.id = 5, .sender = sender, .ton = -1, .account = "acct",
                                      .provider = "P"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    return l;
}

/* One sender, one text, one account to max + 1 recipients: the details of
 * the three volume reasons against snprintf with the formats they had. */
static void details_case(unsigned max, uint32_t window, const char *sender, const char *account,
                         int verified)
{
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.sender_max_recipients = cfg.fingerprint_max_recipients = cfg.account_max_recipients = max;
    cfg.window_s = window;
    cfg.volume_corroborate_score = 0;
    cfg.auto_blacklist = 0; /* every message reaches the volume stage */
    cfg.fingerprint_min_len = 1;
    verdict_engine_t *e = engine(&cfg);
    if (verified)
        CHECK_EQ_INT(verdict_engine_set_lists(e, whitelist_of(sender)), 0);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    char dst[32];
    const char *text = "the same text to everybody, long enough to be fingerprinted";
    for (unsigned i = 0; i <= max; i++) {
        snprintf(dst, sizeof dst, "7912%07u", i);
        struct verdict_input in = msg(account, sender, dst, text, 0);
        verdict_judge(w, &in, &v);
    }
    char want[VERDICT_DETAIL_MAX], s[40], a[40], fp[17];
    snprintf(s, sizeof s, "%.*s", (int)(strlen(sender) < 39 ? strlen(sender) : 39), sender);
    snprintf(a, sizeof a, "%.*s", (int)(strlen(account) < 39 ? strlen(account) : 39), account);
    verdict_fingerprint_hex(v.fingerprint, fp);
    const struct verdict_reason *r = reason(&v, "volume-sender");
    snprintf(want, sizeof want, "sender %s reached more than %u distinct recipients in %u s%s", s, max, window,
             verified ? " (verified sender: not acted on)" : "");
    CHECK_MSG(r && strcmp(r->detail, want) == 0, "max %u window %u: \"%s\" != \"%s\"", max, window,
              r ? r->detail : "(none)", want);
    CHECK(r && r->score == 0 && r->type == VERDICT_R_VOLUME);
    r = reason(&v, "volume-fingerprint");
    if (verified) { /* a verified sender's text is not fingerprint-counted */
        CHECK(r == NULL);
    } else {
        snprintf(want, sizeof want, "text %s reached more than %u distinct recipients in %u s", fp, max, window);
        CHECK_MSG(r && strcmp(r->detail, want) == 0, "\"%s\" != \"%s\"", r ? r->detail : "(none)", want);
    }
    r = reason(&v, "volume-account");
    if (verified) {
        CHECK(r == NULL);
    } else {
        snprintf(want, sizeof want, "account %s reached more than %u distinct recipients in %u s", a, max,
                 window);
        CHECK_MSG(r && strcmp(r->detail, want) == 0, "\"%s\" != \"%s\"", r ? r->detail : "(none)", want);
    }
    verdict_worker_free(w);
    verdict_engine_free(e);
}

static void test_volume_details(void)
{
    static const char long_sender[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    details_case(3, 600, "SHOP", "agg", 0);
    details_case(1, 1, "79001234567", "a", 0);
    details_case(3, 4294967295u, long_sender, long_sender, 0);
    details_case(3, 86400, "acct-bound", "acct", 1);
    details_case(2, 4000000000u, long_sender, "acct", 1);
}

/* ---- overlay without its mutex on a miss ---------------------------------- */

#define OV_THREADS 4
#define OV_SENDERS 150

struct ov_thr {
    verdict_engine_t *e;
    int id;
    int missed;  /* a sender's message after its trigger not blocked as "auto" */
    int lookups; /* judgements of other threads' senders */
};

static void sender_name(char *out, size_t cap, int thread, int k)
{
    snprintf(out, cap, "7900%02d%05d", thread, k);
}

static void *ov_loop(void *arg)
{
    struct ov_thr *t = arg;
    verdict_worker_t *w = verdict_worker_new(t->e);
    struct verdict v;
    char snd[32], other[32];
    unsigned seed = (unsigned)t->id * 7919u + 1;
    for (int k = 0; k < OV_SENDERS; k++) {
        sender_name(snd, sizeof snd, t->id, k);
        /* numeric sender, threshold 2: the third recipient blocks and
         * creates the automatic entry */
        for (int r = 0; r < 3; r++) {
            char dst[32];
            snprintf(dst, sizeof dst, "791200000%02d", r);
            struct verdict_input in = msg("", snd, dst, "hello", 0);
            verdict_judge(w, &in, &v);
        }
        struct verdict_input in = msg("", snd, "79129999999", "hello", 0);
        verdict_judge(w, &in, &v);
        if (!(v.action == VERDICT_BLOCK && reason(&v, "auto")))
            t->missed++;
        /* meanwhile, another thread's sender (present or not yet) */
        seed = seed * 1103515245u + 12345u;
        sender_name(other, sizeof other, (int)(seed >> 16) % OV_THREADS, (int)(seed >> 8) % OV_SENDERS);
        in = msg("", other, "79128888888", "hello", 0);
        verdict_judge(w, &in, &v);
        t->lookups++;
    }
    verdict_worker_free(w);
    return NULL;
}

static void test_overlay_threads(void)
{
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.sender_max_recipients = 2;
    cfg.fingerprint_max_recipients = 0;
    cfg.account_max_recipients = 0;
    verdict_engine_t *e = engine(&cfg);
    struct ov_thr t[OV_THREADS];
    pthread_t th[OV_THREADS];
    for (int i = 0; i < OV_THREADS; i++) {
        t[i] = (struct ov_thr){e, i, 0, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, ov_loop, &t[i]), 0);
    }
    for (int i = 0; i < OV_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(t[i].missed, 0);
        CHECK_EQ_INT(t[i].lookups, OV_SENDERS);
    }
    /* At least one entry per sender (two workers may both see a sender's
     * trigger before either adds it). */
    struct verdict_stats st;
    verdict_engine_get_stats(e, &st);
    CHECK(st.autobl_created >= OV_THREADS * OV_SENDERS);
    /* After the workers: every entry is found by a new worker, except one
     * evicted from a full bucket (counted). */
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    char snd[32];
    int found = 0;
    for (int i = 0; i < OV_THREADS; i++)
        for (int k = 0; k < OV_SENDERS; k++) {
            sender_name(snd, sizeof snd, i, k);
            struct verdict_input in = msg("", snd, "79127777777", "hello", 0);
            verdict_judge(w, &in, &v);
            found += v.action == VERDICT_BLOCK && reason(&v, "auto") != NULL;
        }
    if (st.overlay_evictions == 0)
        CHECK_EQ_INT(found, OV_THREADS * OV_SENDERS);
    else
        CHECK((uint64_t)found + st.overlay_evictions >= OV_THREADS * OV_SENDERS);
    /* an unknown sender is not */
    struct verdict_input in = msg("", "79990000000", "79127777777", "hello", 0);
    verdict_judge(w, &in, &v);
    CHECK(reason(&v, "auto") == NULL);
    /* retired once drained and a snapshot arrives: no tag left behind */
    struct verdict_autobl ev[64];
    while (verdict_engine_drain_autobl(e, ev, 64))
        ;
    CHECK_EQ_INT(verdict_engine_set_lists(e, NULL), 0);
    sender_name(snd, sizeof snd, 0, 0);
    in = msg("", snd, "79126666666", "hello", 0);
    verdict_judge(w, &in, &v);
    CHECK(reason(&v, "auto") == NULL);
    verdict_worker_free(w);
    verdict_engine_free(e);
}

/* ---- lists stages skipped when empty --------------------------------------- */

static lists_t *full_lists(int64_t cleared_at)
{
    lists_t *l = lists_new();
    struct lists_whitelist_entry w = {.id = 1, .sender = "QIWI", .ton = 5, .account = "qiwi_otp",
                                      .provider = "QIWI Bank"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    struct lists_blacklist_entry b = {.id = 10, .kind = LISTS_BL_SENDER, .value = "79001234567",
                                      .created_at = NOW - 1000, .cleared_at = cleared_at,
                                      .cleared_by = cleared_at ? "ops" : NULL};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 11, .kind = LISTS_BL_DOMAIN, .value = "evil.icu",
                                       .created_at = NOW - 1000};
    if (!cleared_at)
        CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    struct lists_exception_entry x = {.id = 20, .sender = "79005550000", .msisdn = "79121234567",
                                      .reason = "r"};
    CHECK_EQ_INT(lists_add_exception(l, &x), 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    return l;
}

/* Each stage's verdict with the full lists, none with an empty snapshot. */
static void lists_round(verdict_worker_t *w, int full)
{
    struct verdict v;
    struct verdict_input in = msg("qiwi_otp", "QIWI", "79121234567", "code 1234", 0);
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.verified, full);
    in = msg("other", "QlWI", "79121234567", "code 1234", 0);
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(reason(&v, "wl-1") != NULL, full); /* look-alike (and spoofing for QIWI) */
    in = msg("other", "79001234567", "79120000001", "hello", 0);
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(reason(&v, "bl-10") != NULL, full);
    in = msg("other", "79002223333", "79120000001", "see http://evil.icu/x", 0);
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(reason(&v, "bl-11") != NULL, full);
    in = msg("other", "79005550000", "+7 912 123-45-67", "hello", 0);
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(reason(&v, "ex-20") != NULL, full);
}

static void test_lists_gating(void)
{
    verdict_engine_t *e = engine(NULL);
    verdict_worker_t *w = verdict_worker_new(e);
    lists_round(w, 0); /* no snapshot */
    CHECK_EQ_INT(verdict_engine_set_lists(e, full_lists(0)), 0);
    lists_round(w, 1);
    lists_t *empty = lists_new();
    CHECK_EQ_INT(lists_seal(empty), 0);
    CHECK_EQ_INT(verdict_engine_set_lists(e, empty), 0);
    lists_round(w, 0);
    CHECK_EQ_INT(verdict_engine_set_lists(e, full_lists(0)), 0);
    lists_round(w, 1);
    verdict_worker_free(w);
    verdict_engine_free(e);

    /* Only a cleared entry: no blacklist hit, but its grace still exempts
     * the sender from the volume rule. */
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.sender_max_recipients = 2;
    e = engine(&cfg);
    CHECK_EQ_INT(verdict_engine_set_lists(e, full_lists(NOW - 10)), 0);
    w = verdict_worker_new(e);
    struct verdict v;
    char dst[32];
    for (int i = 0; i < 5; i++) {
        snprintf(dst, sizeof dst, "7912000000%d", i);
        struct verdict_input in = msg("", "79001234567", dst, "hello", 0);
        verdict_judge(w, &in, &v);
        CHECK_EQ_INT(v.action, VERDICT_ALLOW);
        CHECK(reason(&v, "bl-10") == NULL);
    }
    struct verdict_stats st;
    verdict_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.volume_exempt_grace, 3); /* the third, fourth and fifth recipients */
    verdict_worker_free(w);
    verdict_engine_free(e);
}

/* ---- snippet ----------------------------------------------------------------- */

static void test_snippet_toggle(void)
{
    verdict_engine_t *e = engine(NULL);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict a, b;
    struct verdict_input in = msg("acct", "BANK", "79121234567", "Your code 4821, do not share", 0);
    verdict_judge(w, &in, &a);
    CHECK_EQ_STR(a.snippet, "Your code #, do not share");
    verdict_worker_set_snippet(w, 0);
    in.dest_addr.p = (const uint8_t *)"79121234568";
    verdict_judge(w, &in, &b);
    CHECK_EQ_STR(b.snippet, "");
    CHECK_EQ_INT(a.fingerprint, b.fingerprint);
    CHECK_EQ_INT(a.action, b.action);
    CHECK_EQ_INT(a.n_reasons, b.n_reasons);
    verdict_worker_set_snippet(w, 1);
    verdict_judge(w, &in, &b);
    CHECK_EQ_STR(b.snippet, a.snippet);
    verdict_worker_set_snippet(NULL, 0); /* no-op */
    verdict_worker_free(w);
    verdict_engine_free(e);
}

/* ---- msisdn_normalise_n ------------------------------------------------------ */

static void msisdn_same(const char *in, size_t len)
{
    static const char *const plans[][2] = {{NULL, NULL}, {"7", "8"}, {"1", ""}, {"380", "0"}, {"7", "89"}};
    char copy[80];
    memcpy(copy, in, len);
    copy[len] = '\0';
    for (size_t p = 0; p < SG_ARRAY_LEN(plans); p++)
        for (size_t cap = 1; cap <= 17; cap += 4) {
            char a[32], b[32];
            memset(a, 'x', sizeof a);
            memset(b, 'x', sizeof b);
            int ra = msisdn_normalise_n(in, len, plans[p][0], plans[p][1], a, cap);
            int rb = msisdn_normalise(copy, plans[p][0], plans[p][1], b, cap);
            CHECK_MSG(ra == rb, "\"%s\" (%zu bytes): %d, from the copy %d", copy, len, ra, rb);
            if (ra == rb && ra > 0)
                CHECK(memcmp(a, b, (size_t)ra + 1) == 0);
            if (ra < 0)
                CHECK(a[0] == 'x');
        }
}

static void test_msisdn_views(void)
{
    static const char *const v[] = {"89123456789", "+79123456789", "0079123456789", "12345678", "1234567",
                                    "123456789012345", "1234567890123456", "8 (912) 345-67-89", "",
                                    "1234567890123456789012345678901", "12345678901234567890123456789012"};
    for (size_t i = 0; i < SG_ARRAY_LEN(v); i++)
        msisdn_same(v[i], strlen(v[i]));
    /* a view that ends before the digits do, or holds a NUL */
    msisdn_same("89123456789xyz", 11);
    msisdn_same("8912345\0" "6789", 12);
    msisdn_same("891234567\0" "89", 12);
    msisdn_same("\0" "89123456789", 12);
    msisdn_same(" \t+\0" "7", 5);
    static const char alphabet[] = "01234567890123456789012345678901234567890123456789 +-a\t";
    srand(20261129);
    char buf[48];
    for (int r = 0; r < 20000; r++) {
        size_t n = (size_t)(rand() % 40);
        for (size_t k = 0; k < n; k++)
            buf[k] = rand() % 50 ? alphabet[rand() % (sizeof alphabet - 1)] : '\0';
        msisdn_same(buf, n);
    }
}

/* ---- volume searches ---------------------------------------------------------- */

/* The distinct recipients of one key, its set full and overwritten, at
 * thresholds around the widths of the vector steps (4, 8, 16), against a
 * model that keeps (recipient, last seen) and replaces the first oldest. */
static void test_volume_model(void)
{
    static const unsigned thresholds[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 50, 63, 100, 130};
    for (size_t ti = 0; ti < SG_ARRAY_LEN(thresholds); ti++) {
        unsigned n_max = thresholds[ti], cap = n_max + 1;
        volume_table_t *t = volume_new(8, n_max, 40);
        uint32_t rh[256], ts[256];
        unsigned n = 0;
        srand(1000 + (unsigned)ti);
        uint32_t now = 100;
        for (int step = 0; step < 3000; step++) {
            now += (uint32_t)(rand() % 3 == 0);
            uint32_t r = (uint32_t)(rand() % (int)(cap * 2)) + 1;
            /* the model: expire, find, add or replace the first oldest */
            unsigned o = 0;
            for (unsigned i = 0; i < n; i++)
                if (now - ts[i] < 40) {
                    rh[o] = rh[i];
                    ts[o++] = ts[i];
                }
            n = o;
            unsigned i = 0;
            while (i < n && rh[i] != r)
                i++;
            if (i < n) {
                ts[i] = now;
            } else if (n < cap) {
                rh[n] = r;
                ts[n++] = now;
            } else {
                unsigned m = 0;
                for (unsigned k = 1; k < n; k++)
                    if (ts[k] < ts[m])
                        m = k;
                rh[m] = r;
                ts[m] = now;
            }
            unsigned got = volume_observe(t, 42, r, now);
            CHECK_MSG(got == n, "threshold %u step %d: %u, model %u", n_max, step, got, n);
            if (got != n)
                break;
        }
        volume_free(t);
    }
}

int main(void)
{
    test_volume_details();
    test_overlay_threads();
    test_lists_gating();
    test_snippet_toggle();
    test_msisdn_views();
    test_volume_model();
    return test_summary();
}
