/* Numeric receipt-tie keys per link: a numeric id is keyed by the hash of
 * its SMSC endpoint (computed once per direction of a flow and kept with
 * its session) mixed with the number.  A receipt ties on another flow to
 * the same SMSC endpoint, and does not tie when the same number comes
 * from another SMSC address or port; the numbers are hex and decimal
 * readings of one id (decoder.c: tie_key_number, link_hash_src). */
#include <stdio.h>
#include <string.h>

#include "decoder.h"
#include "testutil.h"

struct buf {
    uint8_t b[1024];
    size_t n;
};

static void put8(struct buf *b, uint8_t v) { b->b[b->n++] = v; }
static void put32(struct buf *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        put8(b, (uint8_t)(v >> (8 * i)));
}
static void putstr(struct buf *b, const char *s)
{
    size_t l = strlen(s) + 1;
    memcpy(b->b + b->n, s, l);
    b->n += l;
}

static void pdu_begin(struct buf *b, uint32_t id, uint32_t seq)
{
    b->n = 0;
    put32(b, 0);
    put32(b, id);
    put32(b, 0);
    put32(b, seq);
}

static void pdu_end(struct buf *b)
{
    uint32_t n = (uint32_t)b->n;
    for (int i = 0; i < 4; i++)
        b->b[i] = (uint8_t)(n >> (24 - 8 * i));
}

/* submit_sm (id 4) or deliver_sm (id 5) with esm_class esm. */
static void sm(struct buf *b, uint32_t id, uint32_t seq, uint8_t esm, const char *text)
{
    pdu_begin(b, id, seq);
    putstr(b, "");
    put8(b, 5);
    put8(b, 0);
    putstr(b, "Bank");
    put8(b, 1);
    put8(b, 1);
    putstr(b, "79001234567");
    put8(b, esm);
    put8(b, 0);
    put8(b, 0);
    putstr(b, "");
    putstr(b, "");
    put8(b, 1);
    put8(b, 0);
    put8(b, 0);
    put8(b, 0);
    size_t len = strlen(text);
    put8(b, (uint8_t)len);
    memcpy(b->b + b->n, text, len);
    b->n += len;
    pdu_end(b);
}

struct end {
    uint8_t addr[4];
    uint16_t port;
    uint32_t seq;
};

static uint8_t frame[2048];

/* One raw IPv4 TCP segment from a to b carrying b's PDU. */
static void feed(decoder_t *d, struct end *from, const struct end *to, const struct buf *b,
                 sg_time_us ts)
{
    size_t tot = 40 + b->n;
    memset(frame, 0, 40);
    frame[0] = 0x45;
    frame[2] = (uint8_t)(tot >> 8);
    frame[3] = (uint8_t)tot;
    frame[8] = 64;
    frame[9] = 6;
    memcpy(frame + 12, from->addr, 4);
    memcpy(frame + 16, to->addr, 4);
    uint8_t *t = frame + 20;
    t[0] = (uint8_t)(from->port >> 8);
    t[1] = (uint8_t)from->port;
    t[2] = (uint8_t)(to->port >> 8);
    t[3] = (uint8_t)to->port;
    for (int i = 0; i < 4; i++)
        t[4 + i] = (uint8_t)(from->seq >> (24 - 8 * i));
    t[12] = 0x50;
    t[13] = 0x18;
    memcpy(frame + 40, b->b, b->n);
    from->seq += (uint32_t)b->n;
    struct capture_pkt pkt = {.ts = ts, .dlt = 12, .data = frame, .caplen = (uint32_t)tot, .wirelen = (uint32_t)tot};
    decoder_feed(d, &pkt);
}

struct seen {
    int messages, receipts, tied;
};

static void on_msg(void *ctx, const struct decoder_message *m)
{
    (void)m;
    ((struct seen *)ctx)->messages++;
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct seen *s = ctx;
    s->receipts++;
    s->tied += r->tied;
}

/* A submit from ESME 10.0.0.1:40000 to SMSC 10.9.9.9:2775 answered with
 * resp_id, then a receipt for receipt_id from smsc2 (address, port) to
 * ESME port esme2_port (another flow unless it is 40000).  Returns the
 * number of tied receipts, -1 when the events are not those expected. */
static int ties(const char *resp_id, const char *receipt_id, const uint8_t smsc2[4],
                uint16_t smsc2_port, uint16_t esme2_port)
{
    struct decoder_config c;
    decoder_config_default(&c);
    struct seen s;
    memset(&s, 0, sizeof s);
    struct decoder_sink sink = {.ctx = &s, .message = on_msg, .receipt = on_receipt};
    decoder_t *d = decoder_new(&c, &sink);
    if (!d)
        return -1;
    struct end esme = {{10, 0, 0, 1}, 40000, 1000}, smsc = {{10, 9, 9, 9}, 2775, 9000};
    struct end esme2 = {{10, 0, 0, 1}, esme2_port, 5000}, sm2 = {{0}, smsc2_port, 7000};
    memcpy(sm2.addr, smsc2, 4);
    struct buf b;
    sg_time_us t = 1700000000000000ull;
    /* A receipt on the first flow before any submit: its session has the
     * SMSC's link hash before the response needs it. */
    sm(&b, 5, 54, 0x04, "id:77 sub:001 dlvrd:001 stat:DELIVRD err:000");
    feed(d, &smsc, &esme, &b, t);
    sm(&b, 4, 7, 0, "Kod 1234");
    feed(d, &esme, &smsc, &b, t + 100);
    pdu_begin(&b, 0x80000004u, 7);
    putstr(&b, resp_id);
    pdu_end(&b);
    feed(d, &smsc, &esme, &b, t + 1000);
    char text[160];
    snprintf(text, sizeof text, "id:%s sub:001 dlvrd:001 stat:DELIVRD err:000", receipt_id);
    sm(&b, 5, 55, 0x04, text);
    if (esme2_port == 40000 && !memcmp(smsc2, smsc.addr, 4) && smsc2_port == 2775)
        feed(d, &smsc, &esme, &b, t + 2000);
    else
        feed(d, &sm2, &esme2, &b, t + 2000);
    decoder_flush(d);
    decoder_free(d);
    if (s.messages != 1 || s.receipts != 2)
        return -1;
    return s.tied;
}

int main(void)
{
    static const uint8_t same[4] = {10, 9, 9, 9}, other[4] = {10, 9, 9, 8};
    /* hex answer, hex and decimal receipts, text */
    static const char *const ids[][2] = {{"1A2B3C", "1a2b3c"}, {"1A2B3C", "1715004"}, {"abc-def", "ABC-DEF"}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *r = ids[i][0], *q = ids[i][1];
        CHECK_MSG(ties(r, q, same, 2775, 40000) == 1, "%s/%s: same flow", r, q);
        CHECK_MSG(ties(r, q, same, 2775, 40001) == 1, "%s/%s: same SMSC, other flow", r, q);
        CHECK_MSG(ties(r, q, other, 2775, 40000) == 0, "%s/%s: other SMSC address", r, q);
        CHECK_MSG(ties(r, q, same, 2776, 40000) == 0, "%s/%s: other SMSC port", r, q);
    }
    return test_summary();
}
