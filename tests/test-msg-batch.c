/* msg_batch: copies of decoder events that outlive the sink callback.
 *
 * - Faithful copies, from a hand-built event: every field equal to the
 *   original after the original's bytes are overwritten; NULL pointers stay
 *   NULL, empty views stay non-NULL; no pointer of the copy points into the
 *   original's memory.
 * - Faithful copies, from a real decoder: a bound session's submits (text
 *   and binary), their responses and delivery receipts, interleaved.  The
 *   JSON rendering of each event (and the fields JSON leaves out) is taken
 *   inside the callback; after the decoder has reused its memory for later
 *   events and the flush, the copies must render the same, in the same
 *   order.
 * - Bounds: SG_ENOSPC on full slots and on a full arena (nothing added),
 *   -EMSGSIZE for an event larger than the arena, reset, argument checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "json-writer.h"
#include "msg-batch.h"
#include "output-json.h"
#include "smpp-wire.h"
#include "testutil.h"

/* Whether p lies in [base, base + n): a copy must never point there. */
static int inside(const void *p, const void *base, size_t n)
{
    const char *c = p, *b = base;
    return p && c >= b && c < b + n;
}

static int view_eq(struct sg_view v, const char *s)
{
    return v.p && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

/* ---- hand-built events -------------------------------------------------- */

/* All the original's bytes in one block, overwritten after the add. */
struct orig {
    struct sg_endpoint esme, smsc;
    char account[16], src[16], dst[16], text[32], msgid[16];
    uint8_t ud[8];
    char stat[8], err[8], sdate[16], ddate[16], sub[4], dlvrd[4], rsrc[16], rdst[16];
};

static void fill_orig(struct orig *o)
{
    memset(o, 0, sizeof *o);
    sg_endpoint_parse("10.0.0.1:40000", &o->esme);
    sg_endpoint_parse("[2001:db8::9]:2775", &o->smsc);
    strcpy(o->account, "acct1");
    strcpy(o->src, "Bank");
    strcpy(o->dst, "79001234567");
    strcpy(o->text, "Kod 1234 \xd0\xbf\xd1\x80\xd0\xb8");
    strcpy(o->msgid, "abc123");
    memcpy(o->ud, "\x00\x01\xfe\xff\x10", 5);
    strcpy(o->stat, "DELIVRD");
    strcpy(o->err, "000");
    strcpy(o->sdate, "2311281200");
    strcpy(o->ddate, "2311281201");
    strcpy(o->sub, "001");
    strcpy(o->dlvrd, "001");
    strcpy(o->rsrc, "79001234567");
    strcpy(o->rdst, "Bank");
}

static struct decoder_message make_message(const struct orig *o, int binary)
{
    struct decoder_message m = {
        .uid = 42, .ts = 1700000000000001ull, .last_ts = 1700000000000999ull,
        .esme = &o->esme, .smsc = &o->smsc, .mobile_originated = false, .account = o->account,
        .command_id = 4,
        .source_addr = {(const uint8_t *)o->src, strlen(o->src)}, .source_addr_ton = 5, .source_addr_npi = 0,
        .destination_addr = {(const uint8_t *)o->dst, strlen(o->dst)}, .dest_addr_ton = 1, .dest_addr_npi = 1,
        .n_destinations = 1, .esm_class = 0x40, .data_coding = binary ? 4 : 8,
        .parts = 3, .parts_received = 2, .complete = false,
        .response_seen = true, .command_status = 0x45, .message_id = o->msgid,
    };
    if (binary) {
        m.ud = o->ud;
        m.ud_len = 5;
    } else {
        m.text = o->text;
        m.text_len = strlen(o->text);
    }
    return m;
}

static void test_message_fields(void)
{
    static struct orig o;
    fill_orig(&o);
    msg_batch_t *b = msg_batch_new(8, 1024);
    CHECK(b != NULL);
    struct decoder_message m = make_message(&o, 0), mb = make_message(&o, 1);
    mb.account = NULL;    /* unknown bind: stays NULL */
    mb.message_id = NULL; /* no response id */
    mb.source_addr.len = 0; /* empty but present: stays non-NULL */
    mb.n_destinations = 3;
    mb.mobile_originated = true;
    CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
    CHECK_EQ_INT(msg_batch_add_message(b, &mb), 0);
    memset(&o, 0xAA, sizeof o);
    memset(&m, 0x55, sizeof m);
    memset(&mb, 0x55, sizeof mb);

    CHECK_EQ_INT(msg_batch_count(b), 2);
    CHECK_EQ_INT(msg_batch_messages(b), 2);
    const struct decoder_message *c = msg_batch_message(b, 0);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK_EQ_INT(c->uid, 42);
    CHECK(c->ts == 1700000000000001ull);
    CHECK(c->last_ts == 1700000000000999ull);
    char ep[SG_ENDPOINT_STRLEN];
    sg_endpoint_format(c->esme, ep, sizeof ep);
    CHECK_EQ_STR(ep, "10.0.0.1:40000");
    sg_endpoint_format(c->smsc, ep, sizeof ep);
    CHECK_EQ_STR(ep, "[2001:db8::9]:2775");
    CHECK(c->esme->is_v4 == 1 && c->smsc->is_v4 == 0);
    CHECK(!c->mobile_originated);
    CHECK_EQ_STR(c->account, "acct1");
    CHECK_EQ_INT(c->command_id, 4);
    CHECK(view_eq(c->source_addr, "Bank"));
    CHECK_EQ_INT(c->source_addr_ton, 5);
    CHECK_EQ_INT(c->source_addr_npi, 0);
    CHECK(view_eq(c->destination_addr, "79001234567"));
    CHECK_EQ_INT(c->dest_addr_ton, 1);
    CHECK_EQ_INT(c->dest_addr_npi, 1);
    CHECK_EQ_INT(c->n_destinations, 1);
    CHECK_EQ_INT(c->esm_class, 0x40);
    CHECK_EQ_INT(c->data_coding, 8);
    CHECK_EQ_INT(c->parts, 3);
    CHECK_EQ_INT(c->parts_received, 2);
    CHECK(!c->complete);
    CHECK(c->text && c->text_len == strlen("Kod 1234 \xd0\xbf\xd1\x80\xd0\xb8") &&
          memcmp(c->text, "Kod 1234 \xd0\xbf\xd1\x80\xd0\xb8", c->text_len) == 0);
    CHECK(c->text && c->text[c->text_len] == '\0');
    CHECK(c->ud == NULL && c->ud_len == 0);
    CHECK(c->response_seen);
    CHECK_EQ_INT(c->command_status, 0x45);
    CHECK_EQ_STR(c->message_id, "abc123");
    /* Every pointer is the batch's own. */
    CHECK(!inside(c->esme, &o, sizeof o) && !inside(c->smsc, &o, sizeof o));
    CHECK(!inside(c->account, &o, sizeof o) && !inside(c->text, &o, sizeof o));
    CHECK(!inside(c->source_addr.p, &o, sizeof o) && !inside(c->destination_addr.p, &o, sizeof o));
    CHECK(!inside(c->message_id, &o, sizeof o));

    c = msg_batch_message(b, 1);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK(c->account == NULL);
    CHECK(c->message_id == NULL);
    CHECK(c->source_addr.p != NULL && c->source_addr.len == 0);
    CHECK(c->text == NULL && c->text_len == 0);
    CHECK(c->ud && c->ud_len == 5 && memcmp(c->ud, "\x00\x01\xfe\xff\x10", 5) == 0);
    CHECK(!inside(c->ud, &o, sizeof o));
    CHECK_EQ_INT(c->data_coding, 4);
    CHECK_EQ_INT(c->n_destinations, 3);
    CHECK(c->mobile_originated);
out:
    msg_batch_free(b);
}

static void test_receipt_fields(void)
{
    static struct orig o;
    fill_orig(&o);
    msg_batch_t *b = msg_batch_new(8, 1024);
    CHECK(b != NULL);
#define V(s) {(const uint8_t *)(s), strlen(s)}
    struct decoder_receipt r = {
        .ts = 1700000000123456ull, .esme = &o.esme, .smsc = &o.smsc, .message_id = o.msgid,
        .stat = V(o.stat), .err = V(o.err), .submit_date = V(o.sdate), .done_date = V(o.ddate),
        .sub = V(o.sub), .dlvrd = V(o.dlvrd), .message_state = 2, .tied = true, .message_uid = 42,
        .submit_ts = 1700000000000001ull, .source_addr = V(o.rsrc), .destination_addr = V(o.rdst),
    };
#undef V
    struct decoder_receipt r2 = r;
    r2.message_id = NULL;
    r2.stat = (struct sg_view){NULL, 0};
    r2.esme = NULL;
    r2.message_state = -1;
    CHECK_EQ_INT(msg_batch_add_receipt(b, &r), 0);
    CHECK_EQ_INT(msg_batch_add_receipt(b, &r2), 0);
    memset(&o, 0xAA, sizeof o);
    memset(&r, 0x55, sizeof r);
    memset(&r2, 0x55, sizeof r2);

    CHECK_EQ_INT(msg_batch_count(b), 2);
    CHECK_EQ_INT(msg_batch_messages(b), 0);
    CHECK(msg_batch_message(b, 0) == NULL);
    const struct decoder_receipt *c = msg_batch_receipt(b, 0);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK(c->ts == 1700000000123456ull);
    char ep[SG_ENDPOINT_STRLEN];
    sg_endpoint_format(c->esme, ep, sizeof ep);
    CHECK_EQ_STR(ep, "10.0.0.1:40000");
    sg_endpoint_format(c->smsc, ep, sizeof ep);
    CHECK_EQ_STR(ep, "[2001:db8::9]:2775");
    CHECK_EQ_STR(c->message_id, "abc123");
    CHECK(view_eq(c->stat, "DELIVRD") && view_eq(c->err, "000"));
    CHECK(view_eq(c->submit_date, "2311281200") && view_eq(c->done_date, "2311281201"));
    CHECK(view_eq(c->sub, "001") && view_eq(c->dlvrd, "001"));
    CHECK_EQ_INT(c->message_state, 2);
    CHECK(c->tied);
    CHECK_EQ_INT(c->message_uid, 42);
    CHECK(c->submit_ts == 1700000000000001ull);
    CHECK(view_eq(c->source_addr, "79001234567") && view_eq(c->destination_addr, "Bank"));
    const void *ptrs[] = {c->esme, c->smsc, c->message_id, c->stat.p, c->err.p, c->submit_date.p,
                          c->done_date.p, c->sub.p, c->dlvrd.p, c->source_addr.p, c->destination_addr.p};
    for (size_t i = 0; i < SG_ARRAY_LEN(ptrs); i++)
        CHECK_MSG(!inside(ptrs[i], &o, sizeof o), "pointer %zu", i);

    c = msg_batch_receipt(b, 1);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK(c->message_id == NULL && c->stat.p == NULL && c->esme == NULL);
    CHECK(c->smsc != NULL && !inside(c->smsc, &o, sizeof o));
    CHECK_EQ_INT(c->message_state, -1);
    CHECK(view_eq(c->err, "000"));
out:
    msg_batch_free(b);
}

/* ---- bounds ------------------------------------------------------------- */

static void test_bounds(void)
{
    CHECK(msg_batch_new(0, 100) == NULL);
    CHECK(msg_batch_new(10, 0) == NULL);
    msg_batch_free(NULL);

    static struct orig o;
    fill_orig(&o);
    struct decoder_message m = make_message(&o, 0);
    /* "acct1\0" + "abc123\0" + text + NUL + "Bank" + "79001234567" */
    size_t one = 6 + 7 + strlen(o.text) + 1 + 4 + 11;

    /* Slots: two events, the third waits for a reset. */
    msg_batch_t *b = msg_batch_new(2, 4096);
    CHECK(b != NULL);
    CHECK_EQ_INT(msg_batch_add_message(NULL, &m), SG_EINVAL);
    CHECK_EQ_INT(msg_batch_add_message(b, NULL), SG_EINVAL);
    CHECK_EQ_INT(msg_batch_add_receipt(b, NULL), SG_EINVAL);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), SG_ENOSPC);
    CHECK_EQ_INT(msg_batch_count(b), 2);
    CHECK_EQ_INT(msg_batch_messages(b), 2);
    msg_batch_reset(b);
    CHECK_EQ_INT(msg_batch_count(b), 0);
    CHECK_EQ_INT(msg_batch_messages(b), 0);
    CHECK(msg_batch_message(b, 0) == NULL);
    CHECK(msg_batch_kind(b, 0) == 0);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
    CHECK_EQ_STR(msg_batch_message(b, 0)->account, "acct1");
    msg_batch_free(b);

    /* Arena: exactly one message fits; the second waits; a bigger one
     * never fits, not even in an empty batch. */
    b = msg_batch_new(16, one);
    CHECK(b != NULL);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), SG_ENOSPC);
    CHECK_EQ_INT(msg_batch_count(b), 1);
    CHECK_EQ_STR(msg_batch_message(b, 0)->message_id, "abc123");
    struct decoder_message big = m;
    big.text_len++; /* one byte more than the arena (text holds a NUL after it) */
    CHECK_EQ_INT(msg_batch_add_message(b, &big), -EMSGSIZE);
    msg_batch_reset(b);
    CHECK_EQ_INT(msg_batch_add_message(b, &big), -EMSGSIZE);
    CHECK_EQ_INT(msg_batch_count(b), 0);
    CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
    CHECK_EQ_STR(msg_batch_message(b, 0)->account, "acct1");
    msg_batch_free(b);
}

/* Every length from 0 to 40 bytes (the copy has a path for below 8,
 * 8 to 16, 17 to 32 and longer), at every alignment of source and arena. */
static void test_lengths(void)
{
    static struct orig o;
    fill_orig(&o);
    uint8_t src[64], want[64];
    msg_batch_t *b = msg_batch_new(4, 4096);
    CHECK(b != NULL);
    int bad = 0;
    for (size_t n = 0; n <= 40 && b; n++) {
        for (size_t off = 0; off < 8; off++) {
            for (size_t i = 0; i < sizeof src; i++)
                src[i] = (uint8_t)(i * 7 + n + 1);
            memcpy(want, src + off, n);
            struct decoder_message m = make_message(&o, 0);
            m.source_addr = (struct sg_view){src + off, n};
            m.text = (const char *)src + off; /* after a copy of n + off odd bytes */
            m.text_len = (n + off) % 37;
            msg_batch_reset(b);
            CHECK_EQ_INT(msg_batch_add_message(b, &m), 0);
            const struct decoder_message *c = msg_batch_message(b, 0);
            memset(src, 0xAA, sizeof src);
            if (!c || c->source_addr.len != n || memcmp(c->source_addr.p, want, n) != 0 ||
                !view_eq(c->destination_addr, "79001234567") || c->text_len != (n + off) % 37 ||
                memcmp(c->text, want, c->text_len < n ? c->text_len : n) != 0)
                bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    msg_batch_free(b);
}

/* ---- events from a real decoder --------------------------------------- */

#define MAX_SEEN 64

struct seen {
    msg_batch_t *batch;
    jw_t *w;
    int n, kinds[MAX_SEEN];
    char *text[MAX_SEEN]; /* the JSON, then what it leaves out */
    int add_failed;
};

/* The event as text: output_json_* plus the fields it leaves out. */
static char *render(jw_t *w, const struct decoder_message *m, const struct decoder_receipt *r)
{
    jw_reset(w);
    jw_obj_begin(w);
    if (m) {
        output_json_message(w, m, "message");
        jw_kuint(w, "last_ts", m->last_ts);
        jw_kuint(w, "text_len", m->text_len);
        jw_kuint(w, "ud_len", m->ud_len);
        jw_kbool(w, "ud_null", m->ud == NULL);
    } else {
        output_json_receipt(w, r);
        jw_kstrn(w, "sub", (const char *)r->sub.p, r->sub.len);
        jw_kstrn(w, "dlvrd", (const char *)r->dlvrd.p, r->dlvrd.len);
        jw_kbool(w, "tied_field", r->tied);
        jw_kuint(w, "message_uid_field", r->message_uid);
    }
    jw_obj_end(w);
    char *s = malloc(jw_len(w) + 1);
    if (s) {
        memcpy(s, jw_data(w), jw_len(w));
        s[jw_len(w)] = '\0';
    }
    return s;
}

static void on_msg(void *ctx, const struct decoder_message *m)
{
    struct seen *s = ctx;
    if (s->n == MAX_SEEN)
        return;
    s->kinds[s->n] = MSG_BATCH_MESSAGE;
    s->text[s->n++] = render(s->w, m, NULL);
    if (msg_batch_add_message(s->batch, m) != 0)
        s->add_failed++;
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct seen *s = ctx;
    if (s->n == MAX_SEEN)
        return;
    s->kinds[s->n] = MSG_BATCH_RECEIPT;
    s->text[s->n++] = render(s->w, NULL, r);
    if (msg_batch_add_receipt(s->batch, r) != 0)
        s->add_failed++;
}

static void test_decoder_events(void)
{
    struct seen s = {.batch = msg_batch_new(MAX_SEEN, 64u << 10), .w = jw_new(1u << 16)};
    struct decoder_config c;
    decoder_config_default(&c);
    struct decoder_sink sink = {.ctx = &s, .message = on_msg, .receipt = on_receipt};
    decoder_t *d = decoder_new(&c, &sink);
    CHECK(s.batch && s.w && d);
    if (!s.batch || !s.w || !d)
        goto out;
    struct wire_end esme = {{10, 0, 0, 1}, 40000, 1000}, smsc = {{10, 9, 9, 9}, 2775, 9000};
    struct wire_buf b;
    sg_time_us t = 1700000000000000ull;
    /* bind_transmitter "shop7" and its response: the account. */
    wire_pdu_begin(&b, 0x00000002u, 1);
    wire_putstr(&b, "shop7");
    wire_putstr(&b, "pw");
    wire_putstr(&b, "");
    wire_put8(&b, 0x34);
    wire_put8(&b, 0);
    wire_put8(&b, 0);
    wire_putstr(&b, "");
    wire_pdu_end(&b);
    wire_feed(d, &esme, &smsc, &b, t);
    wire_pdu_begin(&b, 0x80000002u, 1);
    wire_putstr(&b, "SMSC");
    wire_pdu_end(&b);
    wire_feed(d, &smsc, &esme, &b, t + 50);
    /* Ten submits, answered; every third binary; each followed by the
     * receipt of the one before it, so that messages and receipts
     * interleave. */
    for (int i = 0; i < 10; i++) {
        char text[64], src[16], dst[16], id[16], rtext[160];
        snprintf(text, sizeof text, "Message %d: visit example.com/%d now", i, i * 7);
        snprintf(src, sizeof src, i % 2 ? "Shop%d" : "7900555%04d", i);
        snprintf(dst, sizeof dst, "7916%07d", 1000 + i);
        uint8_t bin[] = {0x00, 0xff, (uint8_t)i, 0x7f, 0x80};
        sg_time_us ti = t + 1000 + (sg_time_us)i * 1000;
        if (i % 3 == 2)
            wire_sm(&b, 4, 10 + i, 0, 4, src, dst, bin, sizeof bin);
        else
            wire_sm(&b, 4, 10 + i, 0, 0, src, dst, text, strlen(text));
        wire_feed(d, &esme, &smsc, &b, ti);
        wire_pdu_begin(&b, 0x80000004u, 10 + i);
        snprintf(id, sizeof id, "id%04d", i);
        wire_putstr(&b, id);
        wire_pdu_end(&b);
        wire_feed(d, &smsc, &esme, &b, ti + 100);
        if (i > 0) {
            snprintf(rtext, sizeof rtext,
                     "id:id%04d sub:001 dlvrd:001 submit date:2311281200 done date:2311281201 stat:DELIVRD err:000 text:x",
                     i - 1);
            wire_sm(&b, 5, 500 + i, 0x04, 0, dst, src, rtext, strlen(rtext));
            wire_feed(d, &smsc, &esme, &b, ti + 500);
        }
    }
    /* A last submit with no response: emitted by the flush. */
    wire_sm(&b, 4, 99, 0, 0, "Last", "79160000000", "bye", 3);
    wire_feed(d, &esme, &smsc, &b, t + 60000);
    decoder_flush(d);

    CHECK_EQ_INT(s.add_failed, 0);
    CHECK_EQ_INT(s.n, 20); /* 11 messages, 9 receipts */
    CHECK_EQ_INT(msg_batch_count(s.batch), (size_t)s.n);
    CHECK_EQ_INT(msg_batch_messages(s.batch), 11);
    int receipts = 0, tied = 0, binary = 0, accounts = 0;
    for (int i = 0; i < s.n && i < (int)msg_batch_count(s.batch); i++) {
        const struct decoder_message *m = msg_batch_message(s.batch, (size_t)i);
        const struct decoder_receipt *r = msg_batch_receipt(s.batch, (size_t)i);
        CHECK_EQ_INT(msg_batch_kind(s.batch, (size_t)i), s.kinds[i]);
        CHECK_MSG((m != NULL) != (r != NULL), "event %d", i);
        char *copy = render(s.w, m, r);
        CHECK_MSG(copy && s.text[i] && strcmp(copy, s.text[i]) == 0, "event %d:\n  decoder %s\n  copy    %s", i,
                  s.text[i] ? s.text[i] : "(null)", copy ? copy : "(null)");
        free(copy);
        receipts += r != NULL;
        tied += r && r->tied;
        binary += m && m->text == NULL;
        accounts += m && m->account && strcmp(m->account, "shop7") == 0;
    }
    /* The traffic is what the comparison needs it to be. */
    CHECK_EQ_INT(receipts, 9);
    CHECK_EQ_INT(tied, 9);
    CHECK_EQ_INT(binary, 3);
    CHECK_EQ_INT(accounts, 11);
out:
    for (int i = 0; i < s.n; i++)
        free(s.text[i]);
    decoder_free(d);
    msg_batch_free(s.batch);
    jw_free(s.w);
}

int main(void)
{
    test_message_fields();
    test_receipt_fields();
    test_bounds();
    test_lengths();
    test_decoder_events();
    return test_summary();
}
