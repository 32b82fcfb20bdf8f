/* Raw SMPP PDUs and the IPv4/TCP frames that carry them, for the tests
 * that feed the decoder bytes as a capture would (test-decoder-ties,
 * test-msg-batch): a PDU built field by field, submit_sm / deliver_sm with
 * the fields those tests vary, and one TCP segment from one end of a link
 * to the other, its sequence numbers running on. */
#ifndef SG_TESTS_SMPP_WIRE_H
#define SG_TESTS_SMPP_WIRE_H

#include <stdint.h>
#include <string.h>

#include "decoder.h"

struct wire_buf {
    uint8_t b[1024];
    size_t n;
};

static inline void wire_put8(struct wire_buf *b, uint8_t v) { b->b[b->n++] = v; }

static inline void wire_put32(struct wire_buf *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        wire_put8(b, (uint8_t)(v >> (8 * i)));
}

/* A C-octet string, with its NUL. */
static inline void wire_putstr(struct wire_buf *b, const char *s)
{
    size_t l = strlen(s) + 1;
    memcpy(b->b + b->n, s, l);
    b->n += l;
}

/* The header with status 0; wire_pdu_end() writes the length. */
static inline void wire_pdu_begin(struct wire_buf *b, uint32_t id, uint32_t seq)
{
    b->n = 0;
    wire_put32(b, 0);
    wire_put32(b, id);
    wire_put32(b, 0);
    wire_put32(b, seq);
}

static inline void wire_pdu_end(struct wire_buf *b)
{
    uint32_t n = (uint32_t)b->n;
    for (int i = 0; i < 4; i++)
        b->b[i] = (uint8_t)(n >> (24 - 8 * i));
}

/* submit_sm (id 4) or deliver_sm (id 5): source TON 5, destination TON 1,
 * esm_class esm, registered_delivery 1, data_coding dc, short_message ud. */
static inline void wire_sm(struct wire_buf *b, uint32_t id, uint32_t seq, uint8_t esm, uint8_t dc,
                           const char *src, const char *dst, const void *ud, size_t len)
{
    wire_pdu_begin(b, id, seq);
    wire_putstr(b, "");
    wire_put8(b, 5);
    wire_put8(b, 0);
    wire_putstr(b, src);
    wire_put8(b, 1);
    wire_put8(b, 1);
    wire_putstr(b, dst);
    wire_put8(b, esm);
    wire_put8(b, 0);
    wire_put8(b, 0);
    wire_putstr(b, "");
    wire_putstr(b, "");
    wire_put8(b, 1);
    wire_put8(b, 0);
    wire_put8(b, dc);
    wire_put8(b, 0);
    wire_put8(b, (uint8_t)len);
    memcpy(b->b + b->n, ud, len);
    b->n += len;
    wire_pdu_end(b);
}

/* One end of a link: its IPv4 address, port and next TCP sequence number. */
struct wire_end {
    uint8_t addr[4];
    uint16_t port;
    uint32_t seq;
};

/* Feeds d one raw IPv4 TCP segment (DLT 12) from `from` to `to` carrying
 * the PDU in b.  The frame is the decoder's input only for the call: it
 * is scribbled on afterwards, as the next capture_next() would. */
static inline void wire_feed(decoder_t *d, struct wire_end *from, const struct wire_end *to,
                             const struct wire_buf *b, sg_time_us ts)
{
    static uint8_t frame[2048];
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
    struct capture_pkt pkt = {.ts = ts, .dlt = 12, .data = frame, .caplen = (uint32_t)tot,
                              .wirelen = (uint32_t)tot};
    decoder_feed(d, &pkt);
    memset(frame, 0xEE, tot);
}

#endif
