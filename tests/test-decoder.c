/* The decode pipeline end to end on frames built here: bind -> account,
 * request/response pairing, multipart with responses in any order,
 * receipts tied back across hex/decimal ids, malformed PDUs as events, and
 * the memory bounds under a million flows and a million unfinished
 * multipart messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "testutil.h"

/* ---- frame builders ------------------------------------------------------ */

struct buf {
    uint8_t b[2048];
    size_t n;
};

static void put8(struct buf *b, uint8_t v) { b->b[b->n++] = v; }
static void put16(struct buf *b, uint16_t v) { put8(b, (uint8_t)(v >> 8)); put8(b, (uint8_t)v); }
static void put32(struct buf *b, uint32_t v) { put16(b, (uint16_t)(v >> 16)); put16(b, (uint16_t)v); }
static void putstr(struct buf *b, const char *s) { size_t l = strlen(s) + 1; memcpy(b->b + b->n, s, l); b->n += l; }
static void putmem(struct buf *b, const void *p, size_t l) { memcpy(b->b + b->n, p, l); b->n += l; }

static void pdu_begin(struct buf *b, uint32_t id, uint32_t status, uint32_t seq)
{
    b->n = 0;
    put32(b, 0);
    put32(b, id);
    put32(b, status);
    put32(b, seq);
}

static void pdu_end(struct buf *b)
{
    uint32_t n = (uint32_t)b->n;
    b->b[0] = (uint8_t)(n >> 24); b->b[1] = (uint8_t)(n >> 16); b->b[2] = (uint8_t)(n >> 8); b->b[3] = (uint8_t)n;
}

static void bind_tx(struct buf *b, uint32_t seq, const char *system_id)
{
    pdu_begin(b, 0x00000002, 0, seq);
    putstr(b, system_id); putstr(b, "secret"); putstr(b, ""); put8(b, 0x34); put8(b, 0); put8(b, 0); putstr(b, "");
    pdu_end(b);
}

static void sm(struct buf *b, uint32_t id, uint32_t seq, const char *src, const char *dst, uint8_t esm,
               uint8_t dc, const void *msg, size_t len)
{
    pdu_begin(b, id, 0, seq);
    putstr(b, ""); put8(b, 5); put8(b, 0); putstr(b, src); put8(b, 1); put8(b, 1); putstr(b, dst);
    put8(b, esm); put8(b, 0); put8(b, 0); putstr(b, ""); putstr(b, ""); put8(b, 1); put8(b, 0);
    put8(b, dc); put8(b, 0); put8(b, (uint8_t)len); putmem(b, msg, len);
    pdu_end(b);
}

static void resp(struct buf *b, uint32_t id, uint32_t status, uint32_t seq, const char *msgid)
{
    pdu_begin(b, id, status, seq);
    if (msgid)
        putstr(b, msgid);
    pdu_end(b);
}

/* A flow between ESME 10.0.x.y:port and SMSC 10.9.9.9:2775, raw IPv4. */
struct flow {
    uint32_t esme_ip;
    uint16_t esme_port;
    uint32_t seq[2];
};

static uint8_t frame[4096];

static void feed(decoder_t *d, struct flow *f, int from_smsc, const uint8_t *payload, size_t len, sg_time_us ts)
{
    uint8_t *p = frame;
    size_t tot = 20 + 20 + len;
    memset(p, 0, 40);
    p[0] = 0x45; p[2] = (uint8_t)(tot >> 8); p[3] = (uint8_t)tot; p[8] = 64; p[9] = 6;
    uint32_t a = f->esme_ip, s = 0x0A090909;
    uint32_t srcip = from_smsc ? s : a, dstip = from_smsc ? a : s;
    for (int i = 0; i < 4; i++) { p[12 + i] = (uint8_t)(srcip >> (24 - 8 * i)); p[16 + i] = (uint8_t)(dstip >> (24 - 8 * i)); }
    uint16_t sp = from_smsc ? 2775 : f->esme_port, dp = from_smsc ? f->esme_port : 2775;
    uint8_t *t = p + 20;
    t[0] = (uint8_t)(sp >> 8); t[1] = (uint8_t)sp; t[2] = (uint8_t)(dp >> 8); t[3] = (uint8_t)dp;
    uint32_t q = f->seq[from_smsc];
    t[4] = (uint8_t)(q >> 24); t[5] = (uint8_t)(q >> 16); t[6] = (uint8_t)(q >> 8); t[7] = (uint8_t)q;
    t[12] = 0x50; t[13] = 0x18;
    memcpy(p + 40, payload, len);
    f->seq[from_smsc] += (uint32_t)len;
    struct capture_pkt pkt = {.ts = ts, .dlt = 12 /* DLT_RAW */, .data = p, .caplen = (uint32_t)tot, .wirelen = (uint32_t)tot};
    decoder_feed(d, &pkt);
}

/* ---- event capture --------------------------------------------------------- */

struct seen {
    int messages, receipts, errors, pdus;
    char text[8][512];
    char account[8][32];
    char msgid[8][80];
    int complete[8];
    uint32_t status[8];
    uint64_t uid[8];
    int tied[8];
    uint64_t tied_uid[8];
    char last_error[160];
};

static void on_msg(void *ctx, const struct decoder_message *m)
{
    struct seen *s = ctx;
    int i = s->messages++;
    if (i >= 8)
        return;
    snprintf(s->text[i], sizeof s->text[i], "%.*s", (int)m->text_len, m->text ? m->text : "");
    snprintf(s->account[i], sizeof s->account[i], "%s", m->account ? m->account : "(none)");
    snprintf(s->msgid[i], sizeof s->msgid[i], "%s", m->message_id ? m->message_id : "(none)");
    s->complete[i] = m->complete;
    s->status[i] = m->command_status;
    s->uid[i] = m->uid;
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct seen *s = ctx;
    int i = s->receipts++;
    if (i < 8) {
        s->tied[i] = r->tied;
        s->tied_uid[i] = r->message_uid;
    }
}

static void on_error(void *ctx, const struct decoder_error *e)
{
    struct seen *s = ctx;
    s->errors++;
    snprintf(s->last_error, sizeof s->last_error, "%s", e->reason);
}

static void on_pdu(void *ctx, const struct decoder_pdu *e)
{
    struct seen *s = ctx;
    s->pdus++;
}

static decoder_t *new_decoder(struct seen *s, struct decoder_config *c)
{
    memset(s, 0, sizeof *s);
    struct decoder_sink sink = {.ctx = s, .message = on_msg, .receipt = on_receipt, .error = on_error, .pdu = on_pdu};
    return decoder_new(c, &sink);
}

static void test_pairing_and_receipts(void)
{
    struct decoder_config c;
    decoder_config_default(&c);
    struct seen s;
    decoder_t *d = new_decoder(&s, &c);
    struct flow f = {.esme_ip = 0x0A000001, .esme_port = 40000, .seq = {1000, 5000}};
    struct buf b;
    sg_time_us t = 1700000000000000ull;

    bind_tx(&b, 1, "qiwi_otp");
    feed(d, &f, 0, b.b, b.n, t);
    resp(&b, 0x80000002, 0, 1, "SMSC");
    feed(d, &f, 1, b.b, b.n, t + 10);
    sm(&b, 4, 2, "QIWI", "79123456789", 0, 0, "Kod 4821", 8);
    feed(d, &f, 0, b.b, b.n, t + 20);
    CHECK_EQ_INT(s.messages, 0); /* held for its response */
    resp(&b, 0x80000004, 0, 2, "1A2B3C");
    feed(d, &f, 1, b.b, b.n, t + 30);
    CHECK_EQ_INT(s.messages, 1);
    CHECK_EQ_STR(s.text[0], "Kod 4821");
    CHECK_EQ_STR(s.account[0], "qiwi_otp");
    CHECK_EQ_STR(s.msgid[0], "1A2B3C");

    /* The SMSC reports in decimal what it answered in hex: 0x1A2B3C = 1715004. */
    const char *rc = "id:1715004 sub:001 dlvrd:001 submit date:2311141200 done date:2311141201 stat:DELIVRD err:000 text:Kod";
    sm(&b, 5, 77, "79123456789", "QIWI", 0x04, 0, rc, strlen(rc));
    feed(d, &f, 1, b.b, b.n, t + 40);
    CHECK_EQ_INT(s.receipts, 1);
    CHECK_EQ_INT(s.tied[0], 1);
    CHECK_EQ_INT(s.tied_uid[0], s.uid[0]);

    /* A rejected submit (throttling) carries its status and no id. */
    sm(&b, 4, 3, "QIWI", "79123456780", 0, 0, "Kod 1111", 8);
    feed(d, &f, 0, b.b, b.n, t + 50);
    resp(&b, 0x80000004, 0x58, 3, NULL);
    feed(d, &f, 1, b.b, b.n, t + 60);
    CHECK_EQ_INT(s.messages, 2);
    CHECK_EQ_INT(s.status[1], 0x58);
    CHECK_EQ_STR(s.msgid[1], "(none)");

    /* A receipt for an id never answered is reported untied. */
    const char *rc2 = "id:999 stat:UNDELIV err:001";
    sm(&b, 5, 78, "79123456789", "QIWI", 0x04, 0, rc2, strlen(rc2));
    feed(d, &f, 1, b.b, b.n, t + 70);
    CHECK_EQ_INT(s.receipts, 2);
    CHECK_EQ_INT(s.tied[1], 0);
    decoder_flush(d);
    CHECK_EQ_INT(s.errors, 0);
    decoder_free(d);
}

static void test_multipart(void)
{
    struct decoder_config c;
    decoder_config_default(&c);
    struct seen s;
    decoder_t *d = new_decoder(&s, &c);
    struct flow f = {.esme_ip = 0x0A000002, .esme_port = 40001, .seq = {1, 1}};
    struct buf b;
    sg_time_us t = 1700000000000000ull;
    /* Three parts, UDH 05 00 03 ref 3 seq; the GSM escape for '€' (1B 65)
     * straddles parts 1 and 2. */
    const uint8_t p1[] = {5, 0, 3, 0x42, 3, 1, 'P', 'a', 'y', ' ', 0x1B};
    const uint8_t p2[] = {5, 0, 3, 0x42, 3, 2, 0x65, '5', ' ', 'n'};
    const uint8_t p3[] = {5, 0, 3, 0x42, 3, 3, 'o', 'w'};
    sm(&b, 4, 10, "SHOP", "79001112233", 0x40, 0, p3, sizeof p3);
    feed(d, &f, 0, b.b, b.n, t);
    resp(&b, 0x80000004, 0, 10, "c3");
    feed(d, &f, 1, b.b, b.n, t + 1);
    sm(&b, 4, 11, "SHOP", "79001112233", 0x40, 0, p1, sizeof p1);
    feed(d, &f, 0, b.b, b.n, t + 2);
    sm(&b, 4, 11, "SHOP", "79001112233", 0x40, 0, p1, sizeof p1); /* a duplicate part */
    feed(d, &f, 0, b.b, b.n, t + 2);
    sm(&b, 4, 12, "SHOP", "79001112233", 0x40, 0, p2, sizeof p2);
    feed(d, &f, 0, b.b, b.n, t + 3);
    CHECK_EQ_INT(s.messages, 0); /* complete, but two responses outstanding */
    resp(&b, 0x80000004, 0, 12, "c2");
    feed(d, &f, 1, b.b, b.n, t + 4);
    resp(&b, 0x80000004, 0, 11, "c1");
    feed(d, &f, 1, b.b, b.n, t + 5);
    CHECK_EQ_INT(s.messages, 1);
    CHECK_EQ_STR(s.text[0], "Pay \xe2\x82\xac" "5 now");
    CHECK_EQ_INT(s.complete[0], 1);
    CHECK_EQ_STR(s.msgid[0], "c1"); /* the first part's id */
    CHECK_EQ_STR(s.account[0], "(none)"); /* no bind seen on this flow */

    /* A part that never completes is given up at the flush, incomplete. */
    const uint8_t q1[] = {6, 8, 4, 0x12, 0x34, 2, 1, 'h', 'i'};
    sm(&b, 4, 20, "SHOP", "79001112233", 0x40, 0, q1, sizeof q1);
    feed(d, &f, 0, b.b, b.n, t + 6);
    decoder_flush(d);
    CHECK_EQ_INT(s.messages, 2);
    CHECK_EQ_INT(s.complete[1], 0);
    CHECK_EQ_STR(s.text[1], "hi");

    /* A malformed PDU is an error event with a reason, and decoding goes on. */
    sm(&b, 4, 30, "SHOP", "79001112233", 0, 0, "x", 1);
    b.b[b.n - 2] = 200; /* sm_length past the end */
    feed(d, &f, 0, b.b, b.n, t + 7);
    CHECK_EQ_INT(s.errors, 1);
    CHECK(strlen(s.last_error) > 0);
    sm(&b, 4, 31, "SHOP", "79001112233", 0, 0, "ok", 2);
    feed(d, &f, 0, b.b, b.n, t + 8);
    decoder_flush(d);
    CHECK_EQ_INT(s.messages, 3);
    CHECK_EQ_STR(s.text[2], "ok");
    decoder_free(d);
}

/* A million flows, each leaving half a PDU buffered, and a million
 * multipart messages missing their last part: the tables stay at their
 * bounds and the counters say what was evicted. */
static char arena_want[2000][161];

struct arena_check {
    int n, bad;
};

static void on_arena_msg(void *ctx, const struct decoder_message *m)
{
    struct arena_check *ac = ctx;
    int i = ac->n++;
    if (i >= 2000 || !m->text || m->text_len != strlen(arena_want[i]) ||
        memcmp(m->text, arena_want[i], m->text_len) != 0) {
        if (ac->bad++ < 3)
            CHECK_MSG(0, "held message %d: \"%.*s\"", i, (int)m->text_len, m->text ? m->text : "");
    }
}

/* A response that overtakes its submit (held as an orphan) still ties
 * the message to its receipt, through the key the response computed; and
 * texts in the smallest text arena (64 KiB), held for responses that never
 * come, are written in place, wrap, and push the oldest held messages out
 * early, every text intact. */
static void test_early_response_and_arena(void)
{
    struct decoder_config c;
    decoder_config_default(&c);
    c.max_text_bytes = 64u << 10;
    struct seen s;
    decoder_t *d = new_decoder(&s, &c);
    struct flow f = {.esme_ip = 0x0A000002, .esme_port = 40001, .seq = {100, 900}};
    struct buf b;
    sg_time_us t = 1700000000000000ull;

    resp(&b, 0x80000004, 0, 5, "00ABCDEF");
    feed(d, &f, 1, b.b, b.n, t);
    CHECK_EQ_INT(s.messages, 0);
    sm(&b, 4, 5, "BANK", "79120000001", 0, 0, "Code 7312", 9);
    feed(d, &f, 0, b.b, b.n, t + 10);
    CHECK_EQ_INT(s.messages, 1); /* its response already in */
    CHECK_EQ_STR(s.msgid[0], "00ABCDEF");
    CHECK_EQ_STR(s.text[0], "Code 7312");
    const char *rc = "id:11259375 sub:001 dlvrd:001 submit date:2311141200 done date:2311141201 stat:DELIVRD err:000 Text:Code";
    sm(&b, 5, 90, "79120000001", "BANK", 0x04, 0, rc, strlen(rc));
    feed(d, &f, 1, b.b, b.n, t + 20);
    CHECK_EQ_INT(s.receipts, 1);
    CHECK_EQ_INT(s.tied[0], 1); /* 0xABCDEF = 11259375 */
    CHECK_EQ_INT(s.tied_uid[0], s.uid[0]);

    decoder_flush(d);
    decoder_free(d);

    /* 2,000 texts of 100 to 159 octets (GSM, and UCS-2 for a third),
     * never answered: several times the arena.  They leave in order,
     * early or at the flush, each as sent. */
    struct arena_check ac = {0, 0};
    struct decoder_sink sink = {.ctx = &ac, .message = on_arena_msg};
    d = decoder_new(&c, &sink);
    for (int i = 0; i < 2000; i++) {
        size_t len = 100 + (size_t)(i * 7 % 60);
        for (size_t k = 0; k < len; k++)
            arena_want[i][k] = (char)('a' + (i + (int)k) % 26);
        arena_want[i][len] = '\0';
        if (i % 3 == 0) {
            uint8_t u[160];
            size_t n = len > 70 ? 70 : len;
            for (size_t k = 0; k < n; k++) {
                u[2 * k] = 0;
                u[2 * k + 1] = (uint8_t)arena_want[i][k];
            }
            arena_want[i][n] = '\0';
            sm(&b, 4, 1000 + (uint32_t)i, "SHOP", "79120000002", 0, 8, u, 2 * n);
        } else {
            sm(&b, 4, 1000 + (uint32_t)i, "SHOP", "79120000002", 0, 0, arena_want[i], len);
        }
        feed(d, &f, 0, b.b, b.n, t + 100 + (sg_time_us)i);
    }
    struct decoder_stats st;
    decoder_get_stats(d, &st);
    CHECK(st.messages_evicted > 1000); /* pushed out of the arena early */
    decoder_flush(d);
    CHECK_EQ_INT(ac.n, 2000);
    CHECK_EQ_INT(ac.bad, 0);
    decoder_free(d);
}

/* A PDU event of 8-bit data carries no text, only the binary flag; the
 * GSM one after it its text. */
struct pdu_text_check {
    int n, binary_ok, text_ok;
};

static void on_pdu_text(void *ctx, const struct decoder_pdu *e)
{
    struct pdu_text_check *c = ctx;
    c->n++;
    if (e->pdu->command_id == 4 && e->pdu->data_coding == 4)
        c->binary_ok = e->text == NULL && e->text_binary;
    if (e->pdu->command_id == 4 && e->pdu->data_coding == 0)
        c->text_ok = e->text && !e->text_binary && e->text_len == 5 && memcmp(e->text, "hello", 5) == 0;
}

static void test_pdu_text_events(void)
{
    struct decoder_config c;
    decoder_config_default(&c);
    struct pdu_text_check pc = {0, 0, 0};
    struct decoder_sink sink = {.ctx = &pc, .pdu = on_pdu_text};
    decoder_t *d = decoder_new(&c, &sink);
    struct flow f = {.esme_ip = 0x0A000003, .esme_port = 40002, .seq = {10, 20}};
    struct buf b;
    sg_time_us t = 1700000000000000ull;
    const uint8_t bin[] = {0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0};
    sm(&b, 4, 1, "APP", "79120000003", 0, 4, bin, sizeof bin);
    feed(d, &f, 0, b.b, b.n, t);
    sm(&b, 4, 2, "APP", "79120000003", 0, 0, "hello", 5);
    feed(d, &f, 0, b.b, b.n, t + 1);
    decoder_flush(d);
    CHECK_EQ_INT(pc.n, 2);
    CHECK(pc.binary_ok);
    CHECK(pc.text_ok);
    decoder_free(d);
}

static void test_bounds(void)
{
    struct decoder_config c;
    decoder_config_default(&c);
    c.stream.max_flows = 4096;
    c.stream.max_buffered_bytes = 1u << 20;
    c.concat.max_messages = 4096;
    c.concat.max_bytes = 1u << 20;
    c.max_pending_requests = 8192;
    c.max_pending_messages = 1024;
    c.max_sessions = 4096;
    struct seen s;
    decoder_t *d = new_decoder(&s, &c);
    struct buf b;
    sg_time_us t = 1700000000000000ull;
    const unsigned n = 1000000;
    for (unsigned i = 0; i < n; i++) {
        struct flow f = {.esme_ip = 0x0B000000 | (i & 0xFFFFFF), .esme_port = (uint16_t)(1024 + (i >> 24)), .seq = {7, 7}};
        char src[16];
        snprintf(src, sizeof src, "S%u", i);
        const uint8_t part[] = {5, 0, 3, (uint8_t)i, 2, 1, 'a', 'b', 'c'};
        sm(&b, 4, 1, src, "79001112233", 0x40, 0, part, sizeof part);
        feed(d, &f, 0, b.b, b.n, t + i);      /* part 1 of 2: never completed */
        sm(&b, 4, 2, src, "79001112233", 0, 0, "half of me is missing", 21);
        feed(d, &f, 0, b.b, b.n / 2, t + i);  /* half a PDU: buffered */
    }
    struct decoder_stats st;
    decoder_get_stats(d, &st);
    CHECK(st.stream.flows_active <= 4096);
    CHECK(st.stream.buffered_bytes <= (1u << 20));
    CHECK(st.stream.flows_evicted >= n - 4096);
    CHECK(st.concat.active <= 4096);
    CHECK(st.concat.evicted_count >= n - 4096);
    CHECK(st.requests_evicted > 0);
    CHECK(st.concat.buffered_bytes <= (1u << 20));
    printf("bounds: %llu flows evicted, %llu multipart evicted, %llu requests evicted, %llu messages\n",
           (unsigned long long)st.stream.flows_evicted, (unsigned long long)st.concat.evicted_count,
           (unsigned long long)st.requests_evicted, (unsigned long long)st.messages);
    decoder_flush(d);
    decoder_get_stats(d, &st);
    CHECK_EQ_INT(st.messages, n); /* every part surfaced once, as an incomplete message */
    CHECK_EQ_INT(st.messages_incomplete, n);
    decoder_free(d);
}

int main(void)
{
    test_pairing_and_receipts();
    test_multipart();
    test_early_response_and_arena();
    test_pdu_text_events();
    test_bounds();
    return test_summary();
}
