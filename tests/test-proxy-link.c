/* Unit tests for the proxy's per-link behaviour through the testing
 * interface (proxy.h: proxy_feed_for_test, proxy_expire_for_test,
 * proxy_clock_for_test), without sockets: response timeouts answered
 * exactly once with late answers dropped, duplicate sequence numbers,
 * held multipart parts the SMSC refuses or never confirms (failure
 * receipts under the issued id), the judging budget with fail-open,
 * fail-closed and a verified sender that passes with an alert (also one
 * the proxy never judged before), multipart in monitor mode (parts
 * forwarded at once and unchanged, the message judged and logged once as
 * enforcement judges it, an incomplete one judged on expiry), and a bind
 * the SMSC accepts after the proxy answered it ESME_RBINDFAIL (unbind,
 * then the link closes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "lists.h"
#include "msglog.h"
#include "store.h"
#include "proxy-pdu.h"
#include "proxy.h"
#include "smpp-receipt.h"
#include "smpp.h"
#include "testutil.h"

#define ESME 0
#define SMSC 1

/* ---- building PDUs ----------------------------------------------------- */

struct w {
    uint8_t b[1024];
    size_t n;
};

static void w8(struct w *w, uint8_t v) { w->b[w->n++] = v; }
static void w32(struct w *w, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        w8(w, (uint8_t)(v >> (8 * i)));
}
static void wstr(struct w *w, const char *s)
{
    size_t l = strlen(s) + 1;
    memcpy(w->b + w->n, s, l);
    w->n += l;
}
static void whead(struct w *w, uint32_t id, uint32_t status, uint32_t seq)
{
    w->n = 0;
    w32(w, 0);
    w32(w, id);
    w32(w, status);
    w32(w, seq);
}
static void wdone(struct w *w)
{
    w->b[0] = (uint8_t)(w->n >> 24), w->b[1] = (uint8_t)(w->n >> 16);
    w->b[2] = (uint8_t)(w->n >> 8), w->b[3] = (uint8_t)w->n;
}

static void bind_trx(struct w *w, const char *system_id, uint32_t seq)
{
    whead(w, SMPP_CMD(bind_transceiver), 0, seq);
    wstr(w, system_id);
    wstr(w, "pw");
    wstr(w, "");
    w8(w, 0x34), w8(w, 0), w8(w, 0);
    wstr(w, "");
    wdone(w);
}

static void bind_resp(struct w *w, uint32_t seq)
{
    whead(w, SMPP_CMD(bind_transceiver_resp), 0, seq);
    wstr(w, "smsc");
    wdone(w);
}

/* submit_sm; with total > 1 an 8-bit-reference concatenation UDH. */
static void submit(struct w *w, uint32_t seq, const char *src, const char *text, uint8_t ref, uint8_t total,
                   uint8_t part)
{
    whead(w, SMPP_CMD(submit_sm), 0, seq);
    wstr(w, "");
    w8(w, 5), w8(w, 0);
    wstr(w, src);
    w8(w, 1), w8(w, 1);
    wstr(w, "79161234567");
    w8(w, total > 1 ? 0x40 : 0); /* esm_class: UDHI */
    w8(w, 0), w8(w, 0);
    wstr(w, ""), wstr(w, "");
    w8(w, 1); /* registered_delivery */
    w8(w, 0), w8(w, 0), w8(w, 0);
    size_t tl = strlen(text);
    if (total > 1) {
        w8(w, (uint8_t)(tl + 6));
        w8(w, 5), w8(w, 0), w8(w, 3), w8(w, ref), w8(w, total), w8(w, part);
    } else {
        w8(w, (uint8_t)tl);
    }
    memcpy(w->b + w->n, text, tl);
    w->n += tl;
    wdone(w);
}

static void submit_resp(struct w *w, uint32_t seq, uint32_t status, const char *id)
{
    whead(w, SMPP_CMD(submit_sm_resp), status, seq);
    if (!status)
        wstr(w, id);
    wdone(w);
}

/* ---- what the proxy writes ------------------------------------------------ */

#define MAXOUT 64
struct seen {
    uint32_t id, status, seq;
    char msgid[32];       /* submit_sm_resp message_id */
    char rcpt_id[32];     /* receipt: receipted_message_id */
    char rcpt_stat[16];   /* receipt: stat */
};
static struct seen out[2][MAXOUT];
static int nout[2];
/* The last PDU written to each side, as written. */
static uint8_t last_raw[2][1024];
static size_t last_len[2];
static struct smpp_pdu dec;

static void reset_out(void) { nout[0] = nout[1] = 0; }

static void collect(void *ctx, int link, int side, const uint8_t *p, size_t len)
{
    (void)ctx;
    (void)link;
    for (size_t off = 0; off + SMPP_HEADER_LEN <= len;) {
        uint32_t n = smpp_be32(p + off);
        if (n < SMPP_HEADER_LEN || n > len - off || nout[side] >= MAXOUT)
            break;
        if (n <= sizeof last_raw[side]) {
            memcpy(last_raw[side], p + off, n);
            last_len[side] = n;
        }
        struct seen *s = &out[side][nout[side]++];
        memset(s, 0, sizeof *s);
        s->id = smpp_be32(p + off + 4);
        s->status = smpp_be32(p + off + 8);
        s->seq = smpp_be32(p + off + 12);
        if (smpp_decode(p + off, n, &dec, NULL) == 0) {
            if (s->id == SMPP_CMD(submit_sm_resp) && dec.message_id.p)
                snprintf(s->msgid, sizeof s->msgid, "%.*s", (int)dec.message_id.len, (const char *)dec.message_id.p);
            if (s->id == SMPP_CMD(deliver_sm) && smpp_esm_is_receipt(dec.esm_class)) {
                struct sg_view r = dec.tlv.receipted_message_id;
                snprintf(s->rcpt_id, sizeof s->rcpt_id, "%.*s", (int)r.len, (const char *)r.p);
                struct smpp_receipt rc;
                if (smpp_receipt_parse(dec.short_message.p, dec.short_message.len, &rc) == 0)
                    snprintf(s->rcpt_stat, sizeof s->rcpt_stat, "%.*s", (int)rc.stat.len, (const char *)rc.stat.p);
            }
        }
        off += n;
    }
}

static int feed(proxy_t *p, int link, int side, const struct w *w)
{
    size_t taken;
    int rc = proxy_feed_for_test(p, (unsigned)link, side, w->b, w->n, &taken, collect, NULL);
    return rc == 0 && taken == w->n ? 0 : -1;
}

static const struct seen *find(int side, uint32_t id, uint32_t seq)
{
    for (int i = 0; i < nout[side]; i++)
        if (out[side][i].id == id && out[side][i].seq == seq)
            return &out[side][i];
    return NULL;
}

static int count(int side, uint32_t id)
{
    int n = 0;
    for (int i = 0; i < nout[side]; i++)
        n += out[side][i].id == id;
    return n;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- set-up ------------------------------------------------------------------ */

static verdict_engine_t *engine;

static void make_engine(void)
{
    char err[256];
    engine = verdict_engine_new(NULL, err, sizeof err);
    CHECK_MSG(engine != NULL, "%s", err);
    lists_t *l = lists_new();
    struct lists_blacklist_entry b = {.id = 1, .kind = LISTS_BL_SENDER, .value = "SPAM", .reason = "test",
                                      .created_at = 1};
    lists_add_blacklist(l, &b);
    struct lists_whitelist_entry wl = {.id = 7, .sender = "MyBank", .ton = -1, .account = "bank",
                                       .verified_by = "test", .verified_at = 1};
    lists_add_whitelist(l, &wl);
    /* Split over two parts, only the joined text names this domain. */
    struct lists_blacklist_entry d = {.id = 2, .kind = LISTS_BL_DOMAIN, .value = "evil-phish.top", .reason = "test",
                                      .created_at = 1};
    lists_add_blacklist(l, &d);
    lists_seal(l);
    verdict_engine_set_lists(engine, l);
}

/* A proxy (logging to log, may be NULL) with one link whose ESME bound as
 * transceiver `account`. */
static proxy_t *make_proxy_log(const struct proxy_config *c, msglog_t *log, const char *account, int *link)
{
    char err[256];
    proxy_t *p = proxy_new_for_test(c, engine, log, err, sizeof err);
    CHECK_MSG(p != NULL, "%s", err);
    *link = proxy_link_open_for_test(p);
    struct w w;
    bind_trx(&w, account, 1);
    CHECK(feed(p, *link, ESME, &w) == 0);
    bind_resp(&w, 1);
    CHECK(feed(p, *link, SMSC, &w) == 0);
    reset_out();
    return p;
}

static proxy_t *make_proxy(const struct proxy_config *c, const char *account, int *link)
{
    return make_proxy_log(c, NULL, account, link);
}

static struct proxy_config small_config(void)
{
    struct proxy_config c;
    proxy_config_default(&c);
    c.max_links = 4;
    c.window = 16;
    c.response_timeout_ms = 1000;
    return c;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_timeouts(void)
{
    struct proxy_config c = small_config();
    int lk;
    proxy_t *p = make_proxy(&c, "esme1", &lk);
    struct w w;
    submit(&w, 10, "ShopX", "See you at dinner tonight", 0, 1, 1);
    CHECK(feed(p, lk, ESME, &w) == 0);
    CHECK(find(SMSC, SMPP_CMD(submit_sm), 10) != NULL); /* forwarded */
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 0);
    /* Not yet: the timeout is 1 s from now. */
    reset_out();
    proxy_expire_for_test(p, mono_ms() + 200, collect, NULL);
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 0);
    /* Past it: answered once by the proxy, ESME_RSYSERR. */
    proxy_expire_for_test(p, mono_ms() + 1500, collect, NULL);
    const struct seen *r = find(ESME, SMPP_CMD(submit_sm_resp), 10);
    CHECK(r && r->status == SMPP_ESME_RSYSERR);
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 1);
    proxy_expire_for_test(p, mono_ms() + 3000, collect, NULL);
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 1);
    /* The SMSC's late answer is dropped and counted. */
    reset_out();
    submit_resp(&w, 10, 0, "smsc-1");
    CHECK(feed(p, lk, SMSC, &w) == 0);
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 0);
    /* An answer to nothing pending is dropped too. */
    submit_resp(&w, 4242, 0, "smsc-2");
    CHECK(feed(p, lk, SMSC, &w) == 0);
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 0);
    /* A sequence number still in flight is refused, the first one kept. */
    submit(&w, 11, "ShopX", "Your table is booked", 0, 1, 1);
    CHECK(feed(p, lk, ESME, &w) == 0);
    reset_out();
    CHECK(feed(p, lk, ESME, &w) == 0);
    r = find(ESME, SMPP_CMD(submit_sm_resp), 11);
    CHECK(r && r->status == SMPP_ESME_RSYSERR);
    CHECK(find(SMSC, SMPP_CMD(submit_sm), 11) == NULL);
    submit_resp(&w, 11, 0, "smsc-3");
    reset_out();
    CHECK(feed(p, lk, SMSC, &w) == 0);
    r = find(ESME, SMPP_CMD(submit_sm_resp), 11);
    CHECK(r && r->status == 0 && strcmp(r->msgid, "smsc-3") == 0);
    /* A deliver_sm the ESME does not answer: the SMSC gets ESME_RX_T_APPN
     * (temporary: it retries). */
    w.n = 0;
    whead(&w, SMPP_CMD(deliver_sm), 0, 77);
    wstr(&w, ""), w8(&w, 1), w8(&w, 1), wstr(&w, "79001112233"), w8(&w, 0), w8(&w, 0), wstr(&w, "4444");
    w8(&w, 0), w8(&w, 0), w8(&w, 0), wstr(&w, ""), wstr(&w, ""), w8(&w, 0), w8(&w, 0), w8(&w, 0), w8(&w, 0);
    w8(&w, 5);
    memcpy(w.b + w.n, "hello", 5);
    w.n += 5;
    wdone(&w);
    reset_out();
    CHECK(feed(p, lk, SMSC, &w) == 0);
    CHECK(find(ESME, SMPP_CMD(deliver_sm), 77) != NULL);
    proxy_expire_for_test(p, mono_ms() + 1500, collect, NULL);
    r = find(SMSC, SMPP_CMD(deliver_sm_resp), 77);
    CHECK(r && r->status == PROXY_ESME_RX_T_APPN);
    struct proxy_stats st;
    proxy_get_stats(p, &st);
    CHECK_EQ_INT(st.timeouts, 2);
    CHECK_EQ_INT(st.timeout_answers, 2);
    CHECK_EQ_INT(st.late_responses, 1);
    CHECK_EQ_INT(st.unmatched_responses, 1);
    CHECK_EQ_INT(st.duplicate_requests, 1);
    proxy_free(p);
}

static void test_held_part_failures(void)
{
    struct proxy_config c = small_config();
    int lk;
    proxy_t *p = make_proxy(&c, "esme2", &lk);
    struct w w;
    /* Message 1: part 1 held (answered sg...), part 2 completes it, both go
     * to the SMSC; the SMSC refuses part 1: a REJECTD receipt under the id
     * the ESME was given. */
    submit(&w, 20, "Family", "Hi mum, the train is late", 5, 2, 1);
    CHECK(feed(p, lk, ESME, &w) == 0);
    const struct seen *r = find(ESME, SMPP_CMD(submit_sm_resp), 20);
    CHECK(r && r->status == 0 && strncmp(r->msgid, "sg", 2) == 0);
    char issued1[32];
    snprintf(issued1, sizeof issued1, "%s", r ? r->msgid : "");
    reset_out();
    submit(&w, 21, "Family", " by twenty minutes, home at seven", 5, 2, 2);
    CHECK(feed(p, lk, ESME, &w) == 0);
    CHECK_EQ_INT(count(SMSC, SMPP_CMD(submit_sm)), 2);
    uint32_t own = 0;
    for (int i = 0; i < nout[SMSC]; i++)
        if (proxy_seq_is_own(out[SMSC][i].seq))
            own = out[SMSC][i].seq;
    CHECK(own != 0);
    reset_out();
    submit_resp(&w, own, 0x45, NULL);
    CHECK(feed(p, lk, SMSC, &w) == 0);
    CHECK_EQ_INT(count(ESME, SMPP_CMD(submit_sm_resp)), 0); /* consumed */
    CHECK(nout[ESME] == 1 && strcmp(out[ESME][0].rcpt_id, issued1) == 0 &&
          strcmp(out[ESME][0].rcpt_stat, "REJECTD") == 0);
    submit_resp(&w, 21, 0, "smsc-21");
    reset_out();
    CHECK(feed(p, lk, SMSC, &w) == 0);
    r = find(ESME, SMPP_CMD(submit_sm_resp), 21);
    CHECK(r && r->status == 0 && strcmp(r->msgid, "smsc-21") == 0);
    /* Message 2: forwarded, the SMSC never answers the held part: UNDELIV
     * after the response timeout. */
    submit(&w, 22, "Family", "The parcel arrived", 6, 2, 1);
    CHECK(feed(p, lk, ESME, &w) == 0);
    r = find(ESME, SMPP_CMD(submit_sm_resp), 22);
    char issued2[32];
    snprintf(issued2, sizeof issued2, "%s", r ? r->msgid : "");
    submit(&w, 23, "Family", " this morning, thanks", 6, 2, 2);
    reset_out();
    CHECK(feed(p, lk, ESME, &w) == 0);
    submit_resp(&w, 23, 0, "smsc-23");
    CHECK(feed(p, lk, SMSC, &w) == 0);
    reset_out();
    proxy_expire_for_test(p, mono_ms() + 1500, collect, NULL);
    CHECK(nout[ESME] == 1 && strcmp(out[ESME][0].rcpt_id, issued2) == 0 &&
          strcmp(out[ESME][0].rcpt_stat, "UNDELIV") == 0);
    /* Message 3: part 1 held, then the link closes (a bad command_length
     * from the SMSC): its UNDELIV receipt goes out before the close. */
    submit(&w, 24, "Family", "Dinner is at eight", 7, 2, 1);
    reset_out();
    CHECK(feed(p, lk, ESME, &w) == 0);
    r = find(ESME, SMPP_CMD(submit_sm_resp), 24);
    char issued3[32];
    snprintf(issued3, sizeof issued3, "%s", r ? r->msgid : "");
    struct proxy_stats st;
    proxy_get_stats(p, &st);
    uint64_t sent_before = st.receipts_sent;
    uint8_t bad[16] = {0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1};
    size_t taken;
    CHECK_EQ_INT(proxy_feed_for_test(p, (unsigned)lk, SMSC, bad, sizeof bad, &taken, collect, NULL), SG_EINVAL);
    proxy_get_stats(p, &st);
    CHECK_EQ_INT(st.receipts_sent, sent_before + 1);
    CHECK_EQ_INT(st.mp_parts_failed, 3);
    (void)issued3;
    proxy_free(p);
}

static void test_budget(void)
{
    struct w w;
    for (int closed = 0; closed < 2; closed++) {
        struct proxy_config c = small_config();
        c.judge_budget_us = 1000;
        c.fail_mode = closed ? PROXY_FAIL_CLOSED : PROXY_FAIL_OPEN;
        int lk, lb;
        proxy_t *p = make_proxy(&c, "esme3", &lk);
        /* A second link: the verified account. */
        lb = proxy_link_open_for_test(p);
        bind_trx(&w, "bank", 1);
        CHECK(feed(p, lb, ESME, &w) == 0);
        bind_resp(&w, 1);
        CHECK(feed(p, lb, SMSC, &w) == 0);
        reset_out();
        /* Within the budget: judged (the blacklisted sender is blocked). */
        proxy_clock_for_test(p, 1000000, 1000500);
        submit(&w, 30, "SPAM", "win a prize", 0, 1, 1);
        CHECK(feed(p, lk, ESME, &w) == 0);
        const struct seen *r = find(ESME, SMPP_CMD(submit_sm_resp), 30);
        CHECK(r && r->status == PROXY_ESME_RSUBMITFAIL);
        /* The verified sender, judged once in time: remembered. */
        submit(&w, 31, "MyBank", "Your code is 123456", 0, 1, 1);
        CHECK(feed(p, lb, ESME, &w) == 0);
        CHECK(find(SMSC, SMPP_CMD(submit_sm), 31) != NULL);
        /* Over the budget (waited 5 ms): not judged; the policy decides. */
        reset_out();
        proxy_clock_for_test(p, 2000000, 2005000);
        submit(&w, 32, "SPAM", "win a prize", 0, 1, 1);
        CHECK(feed(p, lk, ESME, &w) == 0);
        r = find(ESME, SMPP_CMD(submit_sm_resp), 32);
        if (closed)
            CHECK(r && r->status == PROXY_ESME_RSUBMITFAIL && !find(SMSC, SMPP_CMD(submit_sm), 32));
        else
            CHECK(!r && find(SMSC, SMPP_CMD(submit_sm), 32)); /* unjudged spam passes: fail open */
        /* The verified sender passes either way, with an alert. */
        submit(&w, 33, "MyBank", "Your code is 654321", 0, 1, 1);
        CHECK(feed(p, lb, ESME, &w) == 0);
        CHECK(find(SMSC, SMPP_CMD(submit_sm), 33) != NULL);
        CHECK(find(ESME, SMPP_CMD(submit_sm_resp), 33) == NULL);
        /* The same sender from another account is not trusted. */
        submit(&w, 34, "MyBank", "Your code is 111111", 0, 1, 1);
        CHECK(feed(p, lk, ESME, &w) == 0);
        CHECK(closed ? find(SMSC, SMPP_CMD(submit_sm), 34) == NULL : find(SMSC, SMPP_CMD(submit_sm), 34) != NULL);
        struct proxy_stats st;
        proxy_get_stats(p, &st);
        CHECK_EQ_INT(st.over_budget, 3);
        CHECK_EQ_INT(st.verified_unjudged, 1);
        CHECK_EQ_INT(closed ? st.fail_closed : st.fail_open, 2);
        CHECK_EQ_INT(st.judged, 2);
        proxy_free(p);
    }
}

/* A verified sender the proxy never judged (none of its messages came in
 * time since start-up) still passes unjudged under --fail-closed: the
 * engine's current lists say it is verified (verdict_engine_is_verified). */
static void test_budget_verified_cold(void)
{
    struct proxy_config c = small_config();
    c.judge_budget_us = 1000;
    c.fail_mode = PROXY_FAIL_CLOSED;
    int lb, lk;
    proxy_t *p = make_proxy(&c, "bank", &lb);
    lk = proxy_link_open_for_test(p);
    struct w w;
    bind_trx(&w, "esme9", 1);
    CHECK(feed(p, lk, ESME, &w) == 0);
    bind_resp(&w, 1);
    CHECK(feed(p, lk, SMSC, &w) == 0);
    reset_out();
    proxy_clock_for_test(p, 2000000, 2005000); /* everything waited 5 ms */
    submit(&w, 40, "MyBank", "Your code is 246810", 0, 1, 1);
    CHECK(feed(p, lb, ESME, &w) == 0);
    CHECK(find(SMSC, SMPP_CMD(submit_sm), 40) != NULL);
    CHECK(find(ESME, SMPP_CMD(submit_sm_resp), 40) == NULL);
    /* A multipart OTP too (held, then judged whole: unjudged, verified). */
    submit(&w, 41, "MyBank", "Your code is 13579", 3, 2, 1);
    CHECK(feed(p, lb, ESME, &w) == 0);
    submit(&w, 42, "MyBank", ", valid 5 minutes", 3, 2, 2);
    CHECK(feed(p, lb, ESME, &w) == 0);
    CHECK(find(SMSC, SMPP_CMD(submit_sm), 42) != NULL);
    /* Not verified: the same sender from another account, an unknown one. */
    submit(&w, 43, "MyBank", "Your code is 111111", 0, 1, 1);
    CHECK(feed(p, lk, ESME, &w) == 0);
    submit(&w, 44, "Shop", "Your order shipped", 0, 1, 1);
    CHECK(feed(p, lb, ESME, &w) == 0);
    CHECK(find(SMSC, SMPP_CMD(submit_sm), 43) == NULL && find(SMSC, SMPP_CMD(submit_sm), 44) == NULL);
    const struct seen *r = find(ESME, SMPP_CMD(submit_sm_resp), 43);
    CHECK(r && r->status == PROXY_ESME_RSUBMITFAIL);
    struct proxy_stats st;
    proxy_get_stats(p, &st);
    CHECK_EQ_INT(st.judged, 0);
    CHECK_EQ_INT(st.verified_unjudged, 2);
    CHECK_EQ_INT(st.fail_closed, 2);
    proxy_free(p);
}

struct row {
    char action[8], msgid[32];
    int parts, enforced, incomplete;
};

/* The message log's rows, oldest first. */
static int read_rows(const char *path, struct row *rows, int max)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT action, parts, enforced, reasons LIKE '%\"id\":\"incomplete\"%', "
                             "coalesce(message_id, '') FROM message_log ORDER BY id",
                             -1, &st, NULL) == SQLITE_OK);
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(rows[n].action, sizeof rows[n].action, "%s", (const char *)sqlite3_column_text(st, 0));
        rows[n].parts = sqlite3_column_int(st, 1);
        rows[n].enforced = sqlite3_column_int(st, 2);
        rows[n].incomplete = sqlite3_column_int(st, 3);
        snprintf(rows[n].msgid, sizeof rows[n].msgid, "%s", (const char *)sqlite3_column_text(st, 4));
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Multipart under --monitor (enforce 0) and enforcing: a two-part spam
 * whose parts alone are allowed (the blacklisted domain is split between
 * them), a two-part ham, and (monitor) a three-part message whose last
 * part never comes.  Monitor forwards every part at once and unchanged,
 * answers none itself, and logs one row per message with the verdict
 * enforcement gives; the incomplete one is judged and logged on expiry. */
static void test_monitor_multipart(void)
{
    struct row rows[2][8];
    int nrows[2];
    for (int enforce = 0; enforce < 2; enforce++) {
        char path[] = "/tmp/test-proxy-link-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        close(fd);
        unlink(path);
        char err[256];
        store_t *stp = NULL;
        CHECK_EQ_INT(store_open(&stp, path, STORE_OPEN_CREATE, err), 0);
        store_close(stp);
        struct msglog_config mc;
        memset(&mc, 0, sizeof mc);
        mc.queue_capacity = 64;
        msglog_t *log = msglog_new(path, &mc, err);
        CHECK_MSG(log != NULL, "%s", err);
        struct proxy_config c = small_config();
        c.enforce = enforce;
        int lk;
        proxy_t *p = make_proxy_log(&c, log, "esme5", &lk);
        struct w w;
        const struct {
            uint32_t seq;
            const char *text;
            uint8_t ref, total, part;
        } parts[] = {
            {50, "Your account is locked, log in at http://evil-ph", 9, 2, 1},
            {51, "ish.top/login today", 9, 2, 2},
            {52, "Hi mum, the train is late", 10, 2, 1},
            {53, " by twenty minutes, home at seven", 10, 2, 2},
            {54, "Meeting moved to", 11, 3, 1},
            {55, " room four, bring", 11, 3, 2},
        };
        for (size_t i = 0; i < SG_ARRAY_LEN(parts) - (enforce ? 2 : 0); i++) {
            reset_out();
            submit(&w, parts[i].seq, "Family", parts[i].text, parts[i].ref, parts[i].total, parts[i].part);
            CHECK(feed(p, lk, ESME, &w) == 0);
            if (enforce)
                continue;
            /* Monitor: forwarded at once, byte for byte, not answered here. */
            CHECK_MSG(nout[SMSC] == 1 && last_len[SMSC] == w.n && memcmp(last_raw[SMSC], w.b, w.n) == 0,
                      "part %zu not forwarded unchanged", i);
            CHECK_EQ_INT(nout[ESME], 0);
        }
        if (enforce) {
            /* The spam was blocked on its completing part; the ham went. */
            const struct seen *r = find(ESME, SMPP_CMD(submit_sm_resp), 51);
            CHECK(r == NULL || r->status == 0); /* (out was reset per part) */
        } else {
            /* The SMSC's answer to the completing part updates the row. */
            submit_resp(&w, 51, 0, "smsc-51");
            reset_out();
            CHECK(feed(p, lk, SMSC, &w) == 0);
            const struct seen *r = find(ESME, SMPP_CMD(submit_sm_resp), 51);
            CHECK(r && r->status == 0 && strcmp(r->msgid, "smsc-51") == 0);
            proxy_expire_for_test(p, mono_ms() + 2000, NULL, NULL); /* within --mp-timeout */
            struct proxy_stats st;
            proxy_get_stats(p, &st);
            CHECK_EQ_INT(st.mp_mon_incomplete, 0);
            proxy_expire_for_test(p, UINT64_MAX / 2, NULL, NULL);
            proxy_get_stats(p, &st);
            CHECK_EQ_INT(st.judged, 3);
            CHECK_EQ_INT(st.mp_mon_parts, 4);
            CHECK_EQ_INT(st.mp_mon_judged, 2);
            CHECK_EQ_INT(st.mp_mon_incomplete, 1);
            CHECK_EQ_INT(st.blocked_submit, 0);
            CHECK_EQ_INT(st.mp_held, 0);
        }
        proxy_free(p);
        msglog_free(log);
        nrows[enforce] = read_rows(path, rows[enforce], 8);
        test_remove_db(path);
    }
    /* Monitor: one row per message, the spam blocked (not enforced). */
    CHECK_EQ_INT(nrows[0], 3);
    CHECK_EQ_INT(nrows[1], 2);
    if (nrows[0] == 3 && nrows[1] == 2) {
        for (int i = 0; i < 2; i++) {
            CHECK_EQ_STR(rows[0][i].action, rows[1][i].action); /* the same verdict as enforcement */
            CHECK_EQ_INT(rows[0][i].parts, rows[1][i].parts);
            CHECK_EQ_INT(rows[0][i].enforced, 0);
            CHECK_EQ_INT(rows[0][i].incomplete, 0);
        }
        CHECK_EQ_STR(rows[0][0].action, "block");
        CHECK_EQ_INT(rows[1][0].enforced, 1);
        CHECK_EQ_STR(rows[0][0].msgid, "smsc-51");
        CHECK_EQ_STR(rows[0][1].action, "allow");
        CHECK_EQ_STR(rows[0][2].action, "allow");
        CHECK_EQ_INT(rows[0][2].parts, 2);
        CHECK_EQ_INT(rows[0][2].incomplete, 1);
    }
}

/* A bind the SMSC answers after the response timeout: the ESME got
 * ESME_RBINDFAIL from the proxy; a late success means the SMSC holds a
 * session nobody uses, so the proxy unbinds it and closes the link once
 * the unbind is answered (or itself times out).  A late failure needs
 * nothing. */
static void test_late_bind(void)
{
    for (int variant = 0; variant < 3; variant++) {
        struct proxy_config c = small_config();
        char err[256];
        proxy_t *p = proxy_new_for_test(&c, engine, NULL, err, sizeof err);
        CHECK_MSG(p != NULL, "%s", err);
        int lk = proxy_link_open_for_test(p);
        struct w w;
        reset_out();
        bind_trx(&w, "slowbind", 1);
        CHECK(feed(p, lk, ESME, &w) == 0);
        CHECK(find(SMSC, SMPP_CMD(bind_transceiver), 1) != NULL);
        proxy_expire_for_test(p, mono_ms() + 1500, collect, NULL);
        const struct seen *r = find(ESME, SMPP_CMD(bind_transceiver_resp), 1);
        CHECK(r && r->status == SMPP_ESME_RBINDFAIL);
        reset_out();
        whead(&w, SMPP_CMD(bind_transceiver_resp), variant == 2 ? 0x0d : 0, 1);
        wstr(&w, "smsc");
        wdone(&w);
        CHECK(feed(p, lk, SMSC, &w) == 0);
        CHECK_EQ_INT(nout[ESME], 0); /* the late answer is not passed on */
        struct proxy_stats st;
        proxy_get_stats(p, &st);
        CHECK_EQ_INT(st.late_responses, 1);
        if (variant == 2) {
            /* A late refusal: the SMSC holds nothing; the link stays. */
            CHECK_EQ_INT(nout[SMSC], 0);
            CHECK_EQ_INT(st.late_binds_unbound, 0);
            CHECK_EQ_INT(st.links_open, 1);
            proxy_free(p);
            continue;
        }
        CHECK_EQ_INT(st.late_binds_unbound, 1);
        CHECK(nout[SMSC] == 1 && out[SMSC][0].id == SMPP_CMD(unbind) && proxy_seq_is_own(out[SMSC][0].seq));
        uint32_t useq = nout[SMSC] ? out[SMSC][0].seq : 0;
        /* Meanwhile nothing passes: the ESME's submit stays unread, the
         * SMSC's deliver_sm is answered here (temporary error, it retries)
         * and its enquire_link too. */
        reset_out();
        submit(&w, 2, "Shop", "Your order shipped", 0, 1, 1);
        CHECK(feed(p, lk, ESME, &w) == 0);
        CHECK_EQ_INT(nout[SMSC], 0);
        whead(&w, SMPP_CMD(enquire_link), 0, 9);
        wdone(&w);
        CHECK(feed(p, lk, SMSC, &w) == 0);
        r = find(SMSC, SMPP_CMD(enquire_link_resp), 9);
        CHECK(r && r->status == 0);
        CHECK_EQ_INT(nout[ESME], 0);
        if (variant == 0) {
            /* The SMSC answers the unbind: the link closes. */
            whead(&w, SMPP_CMD(unbind_resp), 0, useq);
            wdone(&w);
            size_t taken;
            CHECK_EQ_INT(proxy_feed_for_test(p, (unsigned)lk, SMSC, w.b, w.n, &taken, collect, NULL), SG_EINVAL);
        } else {
            /* It never answers: closed after the response timeout. */
            proxy_expire_for_test(p, mono_ms() + 1500, collect, NULL);
        }
        size_t taken;
        CHECK_EQ_INT(proxy_feed_for_test(p, (unsigned)lk, SMSC, w.b, w.n, &taken, collect, NULL), SG_ENOTFOUND);
        proxy_get_stats(p, &st);
        CHECK_EQ_INT(st.links_open, 0);
        proxy_free(p);
    }
}

int main(void)
{
    make_engine();
    test_timeouts();
    test_held_part_failures();
    test_budget();
    test_budget_verified_cold();
    test_monitor_multipart();
    test_late_bind();
    verdict_engine_free(engine);
    return test_summary();
}
