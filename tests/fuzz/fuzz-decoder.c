/* Fuzz target: SMPP traffic on a few TCP flows through decoder_feed(), the
 * capture path's entry (cmd/cmd-common.c): link/IP/TCP decoding, stream
 * reassembly, smpp_decode, sessions and their bind's system_id,
 * request/response pairing by flow and sequence number, orphan responses,
 * multipart reassembly, receipt ties keyed by (SMSC link, message_id),
 * the text arena and the evictions at the table bounds.
 *
 * The input is a menu, not a capture, so that the fuzzer reaches the
 * decoder's states without having to invent TCP and SMPP framing:
 *
 *   [u8 cfg][u8 bounds] then records [u8 op][...]
 *
 * cfg: bits 0-1 default msgid format, 2-3 link A's msgid format, 4-5 link
 * A's dc 0 charset (GSM, Latin-1, ASCII), 6 link A packs GSM, 7 link A's
 * dc1_gsm quirk.  bounds: 1-4 each of partial multipart messages (bits
 * 0-1), sessions (2-3), pending requests and receipt ties (4-5), held
 * messages (6-7), so that every eviction path is a few records away.
 *
 * op: bits 0-3 kind, bits 4-5 flow (0-3), bit 6 flips the direction the
 * kind normally goes, bit 7 reuses the direction's last sequence number
 * (requests) instead of taking a new one.  Flows 0 and 1 go to SMSC A
 * (configured link), flow 2 to SMSC B (link with port 0), flow 3 over
 * IPv6 to SMSC C (defaults).  A PDU kind's second octet is seg: bits 0-2
 * how its bytes go on the wire (whole; split in two; split and reordered;
 * whole and retransmitted; held and sent with the next PDU; lost, a gap;
 * delayed until RELEASE, so that what follows overtakes it; split in
 * three, sent 1-3-2 with an overlapping retransmission), bits 3-7 where
 * to split.  Kinds and their octets:
 *   0 BIND       [b][seg][n][system_id]  bind type b%3 (ESME -> SMSC)
 *   1 BIND_RESP  [b][seg]([status] if b&0x80)[n][system_id]  to ring b>>2&7
 *   2 SUBMIT     [h][seg][a][n][octets]  h: bits 0-2 data_coding from DCS,
 *                3 UDHI, 4 data_sm (message_payload), 5 deliver_sm,
 *                7 a service_type; a: source (bits 0-2) and destination
 *                (3-5) from ADDRS, 6 registered_delivery
 *   3 SUBMIT_UDH [h][seg][ref][tot][seq][a][n][text]  concat UDH, 16-bit
 *                reference when h&8; tot 1-5 and seq 1..tot unless h&0x40
 *   4 SUBMIT_SAR the same octets, the sar_* TLVs instead of the UDH
 *   5 SUBMIT_PAYLOAD [h][seg][a][u16 le n][payload]  message_payload TLV
 *                (a short_message too when h&0x10)
 *   6 RESP       [b][seg][k]([status] if b&8)[id]  to ring entry b&7 of
 *                the other direction; command RESP_IDS[k&7]; id in form
 *                b>>4 (hex, HEX, decimal, text, empty, padded hex, padded
 *                decimal; 7: no body here, "decimal-hex" in receipts)
 *   7 RECEIPT_TEXT [b][seg][id][st][a]  deliver_sm "id:... stat:..."
 *                (esm 0x04, 0x08, 0x10 or 0x20 by b>>2&3), id form b>>4
 *   8 RECEIPT_TLV  the same octets: receipted_message_id, message_state
 *   9 DELIVER_MO [h][seg][ref][tot][seq][a][n][text]  (SMSC -> ESME)
 *  10 SIMPLE     [b][seg]([id] for query_sm)  enquire_link, unbind, their
 *                responses, generic_nack, submit_multi, query_sm, outbind
 *  11 RAW_PDU    [b][seg][u16 le n][bytes]  command_length patched if b&1
 *  12 TIME       [t]  packet time += (t&63) * {10 ms, 1 s, 30 s, 1000 s}[t>>6]
 *  13 RELEASE    send the flow's delayed and held bytes; with the flip
 *                bit, REPEAT [c][seg]: the last PDU built again 1-16 times
 *                (c&15) in direction bit 7, a new sequence number each
 *                time for a request
 *  14 CONTROL    [b]([u32])  SYN (new ISN), FIN, RST, a sequence jump
 *  15 RAW_FRAME  [b][u16 le n][bytes]  a frame of one of 4 link types
 * [id] is [v], then [u32] when v&0x80 (a new id, shifted 4*(v&7) bits
 * left, remembered for that SMSC) else the (v&7)-th last id issued there,
 * then [n][text] for the text form.  Every record moves packet time 1 ms.
 *
 * Invariants (abort on violation): every event's pointers are non-NULL
 * where the API says so and their bytes readable (summed, so ASan sees an
 * overread); PDUs are whole (command_length == raw_len); texts are valid
 * UTF-8 without an embedded NUL; accounts and message ids are
 * NUL-terminated within their SMPP bounds; message uids are unique and no
 * higher than the message PDUs seen; parts_received <= parts, all of them
 * when complete; a message_id or a status only with a response; a tied
 * receipt names a uid that can exist; a single-part message holds the
 * text (or user data) its PDU's event showed, cut only at the arena's
 * quarter; the stats agree with the events seen (packets, PDUs, messages,
 * incomplete, receipts, tied) and, after decoder_flush(), nothing is left
 * in the stream or multipart tables.  Every message and receipt also goes
 * through a small msg_batch (msg-batch.h: 8 events, 4 KiB, so it fills,
 * refuses and resets often) whose copy must hold the same fields, strings
 * and endpoints, pointing into the batch.  Leaks are LeakSanitizer's.
 *
 * Corpus: tests/fuzz/corpus/fuzz-decoder/: seed-* written by a one-off
 * generator that spells out the records above (seed-pcap-* are frames of
 * decode-small.pcap as RAW_FRAME records); crash-* reproduce findings in
 * filter/decoder.c.  Any file is a valid input.
 *
 *   CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz-decoder
 *   ./build-fuzz/tests/fuzz-decoder -max_len=20000 corpus-copy/
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "fuzz-util.h"
#include "msg-batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz-util.h's check(), saying which line failed: the inline helper
 * leaves no line in the crash's stack. */
static void check_line(int ok, int line)
{
    if (!ok)
        fprintf(stderr, "fuzz-decoder.c:%d: check failed\n", line);
    check(ok);
}
#define CHECK(ok) check_line((ok), __LINE__)

#define NFLOWS 4
#define RING 8
#define HOLD_MAX 65536u
#define PDU_CAP (SMPP_MAX_PDU_LEN + 1024u)

/* ---- input reader ------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t n, at;
};

static uint8_t get8(struct rd *r)
{
    return r->at < r->n ? r->p[r->at++] : 0;
}

static uint16_t get16le(struct rd *r)
{
    uint16_t lo = get8(r);
    return (uint16_t)(lo | (uint16_t)get8(r) << 8);
}

static uint32_t get32(struct rd *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | get8(r);
    return v;
}

/* Up to want octets of input; *got says how many there were. */
static const uint8_t *getn(struct rd *r, size_t want, size_t *got)
{
    size_t left = r->n - r->at;
    *got = want < left ? want : left;
    const uint8_t *p = r->p + r->at;
    r->at += *got;
    return p;
}

/* ---- PDU builder -------------------------------------------------------- */

struct pb {
    uint8_t *b;
    size_t n;
};

static void p8(struct pb *b, uint8_t v)
{
    if (b->n < PDU_CAP)
        b->b[b->n++] = v;
}
static void p16(struct pb *b, uint16_t v)
{
    p8(b, (uint8_t)(v >> 8));
    p8(b, (uint8_t)v);
}
static void p32(struct pb *b, uint32_t v)
{
    p16(b, (uint16_t)(v >> 16));
    p16(b, (uint16_t)v);
}
static void pmem(struct pb *b, const void *p, size_t n)
{
    if (n > PDU_CAP - b->n)
        n = PDU_CAP - b->n;
    if (n)
        memcpy(b->b + b->n, p, n);
    b->n += n;
}
/* A C-octet string: the octets up to their first NUL, then a NUL. */
static void pcstr(struct pb *b, const void *s, size_t n)
{
    const void *z = n ? memchr(s, 0, n) : NULL;
    if (z)
        n = (size_t)((const uint8_t *)z - (const uint8_t *)s);
    pmem(b, s, n);
    p8(b, 0);
}
static void pstr(struct pb *b, const char *s)
{
    pcstr(b, s, strlen(s));
}
static void ptlv(struct pb *b, uint16_t tag, const void *v, size_t n)
{
    if (n > 65535)
        n = 65535;
    p16(b, tag);
    p16(b, (uint16_t)n);
    pmem(b, v, n);
}
static void begin(struct pb *b, uint32_t id, uint32_t status, uint32_t seq)
{
    b->n = 0;
    p32(b, 0);
    p32(b, id);
    p32(b, status);
    p32(b, seq);
}
static void finish(struct pb *b)
{
    uint32_t n = (uint32_t)b->n;
    b->b[0] = (uint8_t)(n >> 24);
    b->b[1] = (uint8_t)(n >> 16);
    b->b[2] = (uint8_t)(n >> 8);
    b->b[3] = (uint8_t)n;
}

/* ---- traffic state ------------------------------------------------------ */

struct dirstate {
    uint32_t tcp_seq;       /* next octet's TCP sequence number */
    uint32_t next_smpp;     /* next sequence_number of a request */
    uint32_t ring[RING];    /* recent request sequence numbers */
    unsigned ring_at;
    uint8_t *held;          /* coalesced PDUs waiting for the next one */
    size_t held_len;
    uint8_t *delayed;       /* a segment sent at RELEASE */
    size_t delayed_len;
    uint32_t delayed_seq;
};

/* A single-part message as its PDU event showed it: the message the
 * decoder makes of it must hold the same text (or user data). */
struct expect {
    sg_time_us ts;
    uint8_t src[66], dst[66];
    size_t src_len, dst_len;
    int is_text, matched; /* is_text -1: no user data at all */
    uint8_t *data;
    size_t len;
};

struct world {
    decoder_t *d;
    sg_time_us ts;
    struct dirstate fl[NFLOWS][2]; /* [flow][0: ESME -> SMSC, 1: back] */
    uint64_t ids[3][RING];         /* message ids issued per SMSC */
    unsigned ids_at[3];
    uint8_t *frame;                /* scratch for frames, copied exact-size */
    uint64_t frames_fed;

    msg_batch_t *batch; /* every message and receipt is copied into it */
    /* What the sink saw. */
    uint64_t pdus, msg_pdus, messages, incomplete, receipts, tied, errors;
    uint8_t *uid_seen;
    size_t uid_cap;
    uint64_t sum;
    /* What each single-part message PDU decoded to, for its message. */
    struct expect *exp;
    size_t n_exp, cap_exp;
};

static const int SMSC_OF[NFLOWS] = {0, 0, 1, 2};

static struct sg_endpoint endpoint(int flow, int smsc_side)
{
    struct sg_endpoint e;
    memset(&e, 0, sizeof e);
    if (flow == 3) {
        e.addr[0] = 0xfd;
        e.addr[15] = smsc_side ? 0x99 : (uint8_t)(1 + flow);
        e.is_v4 = 0;
    } else {
        e.addr[10] = 0xff;
        e.addr[11] = 0xff;
        e.addr[12] = 10;
        e.addr[13] = smsc_side ? 9 : 0;
        e.addr[14] = smsc_side ? 9 : 0;
        e.addr[15] = smsc_side ? (uint8_t)(9 - SMSC_OF[flow]) : (uint8_t)(1 + flow);
        e.is_v4 = 1;
    }
    e.port = smsc_side ? (uint16_t)(2775 + SMSC_OF[flow]) : (uint16_t)(40000 + flow);
    return e;
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

static void feed_frame(struct world *w, int dlt, const uint8_t *f, size_t len)
{
    /* Exact size, so that an overread past the frame is caught. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    if (len)
        memcpy(copy, f, len);
    struct capture_pkt pkt = {.ts = w->ts, .dlt = dlt, .data = copy, .caplen = (uint32_t)len,
                              .wirelen = (uint32_t)len};
    CHECK(decoder_feed(w->d, &pkt) == 0);
    w->frames_fed++;
    free(copy);
}

/* One TCP segment of flow in direction dir (0: from the ESME), over
 * Ethernet and IPv4 (flows 0-2) or IPv6 (flow 3). */
static void send_seg(struct world *w, int flow, int dir, uint8_t flags, uint32_t seq, const uint8_t *p,
                     size_t n)
{
    if (n > 65000)
        n = 65000;
    struct sg_endpoint esme = endpoint(flow, 0), smsc = endpoint(flow, 1);
    const struct sg_endpoint *src = dir ? &smsc : &esme, *dst = dir ? &esme : &smsc;
    uint8_t *f = w->frame;
    size_t ip = 14, iph = flow == 3 ? 40 : 20, tcp = ip + iph, len = tcp + 20 + n;
    memset(f, 0, tcp + 20);
    f[12] = flow == 3 ? 0x86 : 0x08;
    f[13] = flow == 3 ? 0xDD : 0x00;
    if (flow == 3) {
        f[ip] = 0x60;
        wr16(f + ip + 4, (uint16_t)(20 + n));
        f[ip + 6] = 6;
        f[ip + 7] = 64;
        memcpy(f + ip + 8, src->addr, 16);
        memcpy(f + ip + 24, dst->addr, 16);
    } else {
        f[ip] = 0x45;
        wr16(f + ip + 2, (uint16_t)(20 + 20 + n));
        f[ip + 6] = 0x40; /* DF */
        f[ip + 8] = 64;
        f[ip + 9] = 6;
        memcpy(f + ip + 12, src->addr + 12, 4);
        memcpy(f + ip + 16, dst->addr + 12, 4);
    }
    wr16(f + tcp, src->port);
    wr16(f + tcp + 2, dst->port);
    wr32(f + tcp + 4, seq);
    f[tcp + 12] = 0x50;
    f[tcp + 13] = flags;
    if (n)
        memcpy(f + tcp + 20, p, n);
    feed_frame(w, PKT_DLT_EN10MB, f, len);
}

static void send_delayed(struct world *w, int flow, int dir)
{
    struct dirstate *s = &w->fl[flow][dir];
    if (!s->delayed)
        return;
    send_seg(w, flow, dir, TH_ACK | TH_PUSH, s->delayed_seq, s->delayed, s->delayed_len);
    free(s->delayed);
    s->delayed = NULL;
    s->delayed_len = 0;
}

static void send_held(struct world *w, int flow, int dir)
{
    struct dirstate *s = &w->fl[flow][dir];
    if (!s->held_len)
        return;
    send_seg(w, flow, dir, TH_ACK | TH_PUSH, s->tcp_seq, s->held, s->held_len);
    s->tcp_seq += (uint32_t)s->held_len;
    s->held_len = 0;
}

/* Puts the PDU (after any held bytes) on the wire as seg says. */
static void transmit(struct world *w, int flow, int dir, uint8_t seg, const uint8_t *pdu, size_t n)
{
    struct dirstate *s = &w->fl[flow][dir];
    unsigned mode = seg & 7, param = seg >> 3;
    if (!s->held && !(s->held = malloc(HOLD_MAX)))
        return;
    if (s->held_len + n > HOLD_MAX)
        send_held(w, flow, dir);
    if (n > HOLD_MAX)
        n = HOLD_MAX;
    memcpy(s->held + s->held_len, pdu, n);
    s->held_len += n;
    if (mode == 4)
        return;
    const uint8_t *b = s->held;
    size_t len = s->held_len;
    uint32_t q = s->tcp_seq;
    size_t k = len > 1 ? 1 + (size_t)param * (len - 1) / 32 : len;
    uint8_t fl = TH_ACK | TH_PUSH;
    switch (mode) {
    case 0:
        send_seg(w, flow, dir, fl, q, b, len);
        break;
    case 1:
        send_seg(w, flow, dir, fl, q, b, k);
        send_seg(w, flow, dir, fl, q + (uint32_t)k, b + k, len - k);
        break;
    case 2:
        send_seg(w, flow, dir, fl, q + (uint32_t)k, b + k, len - k);
        send_seg(w, flow, dir, fl, q, b, k);
        break;
    case 3:
        send_seg(w, flow, dir, fl, q, b, len);
        send_seg(w, flow, dir, fl, q, b, len);
        break;
    case 5:
        break; /* lost: a gap */
    case 6:
        send_delayed(w, flow, dir);
        s->delayed = malloc(len);
        if (s->delayed) {
            memcpy(s->delayed, b, len);
            s->delayed_len = len;
            s->delayed_seq = q;
        }
        break;
    case 7: {
        size_t k1 = len / 3, k2 = 2 * len / 3;
        send_seg(w, flow, dir, fl, q, b, k1);
        send_seg(w, flow, dir, fl, q + (uint32_t)k2, b + k2, len - k2);
        send_seg(w, flow, dir, fl, q + (uint32_t)k1, b + k1, k2 - k1);
        send_seg(w, flow, dir, fl, q, b, k2);
        break;
    }
    }
    s->tcp_seq += (uint32_t)len;
    s->held_len = 0;
}

/* Sequence number for a new request of (flow, dir); bit 7 of op reuses
 * the last one. */
static uint32_t req_seq(struct world *w, int flow, int dir, int reuse)
{
    struct dirstate *s = &w->fl[flow][dir];
    uint32_t q = reuse ? s->ring[(s->ring_at + RING - 1) % RING] : s->next_smpp++;
    s->ring[s->ring_at++ % RING] = q;
    return q;
}

static uint32_t resp_seq(struct world *w, int flow, int req_dir, unsigned idx)
{
    struct dirstate *s = &w->fl[flow][req_dir];
    return s->ring[(s->ring_at + RING - 1 - idx % RING) % RING];
}

/* ---- sink checks -------------------------------------------------------- */

static void touch(struct world *w, const void *p, size_t n)
{
    CHECK(p != NULL || n == 0);
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        w->sum += b[i];
}

static void check_view(struct world *w, struct sg_view v, size_t max)
{
    CHECK(v.len <= max);
    touch(w, v.p, v.len);
}

/* A NUL-terminated string of at most max octets. */
static void check_cstr(struct world *w, const char *s, size_t max)
{
    if (!s)
        return;
    size_t n = strnlen(s, max + 1);
    CHECK(n <= max);
    touch(w, s, n);
}

static void check_text(struct world *w, const char *t, size_t n)
{
    CHECK(t != NULL);
    touch(w, t, n);
    CHECK(memchr(t, 0, n) == NULL);
    CHECK(valid_utf8(t, n));
}

static void check_flow(const struct stream_flow_info *f)
{
    CHECK(f != NULL && f->src != NULL && f->dst != NULL && f->dir <= 1 && f->flow_id > 0);
}

static int carries_message(uint32_t id)
{
    return id == SMPP_CMD(submit_sm) || id == SMPP_CMD(submit_multi) || id == SMPP_CMD(deliver_sm) ||
           id == SMPP_CMD(data_sm);
}

/* The decoder's multipart test (handle_message_request). */
static int is_multipart(const struct decoder_pdu *e)
{
    const struct smpp_pdu *p = e->pdu;
    if (e->udh && e->udh->concat && e->udh->total > 1)
        return 1;
    return p->tlv.sar_msg_ref_num >= 0 && p->tlv.sar_total_segments > 1 && p->tlv.sar_segment_seqnum >= 1;
}

static void copy_addr(uint8_t *dst, size_t *len, struct sg_view v)
{
    *len = v.len < 65 ? v.len : 65;
    if (*len)
        memcpy(dst, v.p, *len);
}

static void expect_add(struct world *w, const struct decoder_pdu *e)
{
    const struct smpp_pdu *p = e->pdu;
    /* Only a PDU that decoded (smpp_decode again: the event does not say)
     * and carries a single-part message that is not a receipt. */
    if (!carries_message(p->command_id) || smpp_esm_is_receipt(p->esm_class) || is_multipart(e))
        return;
    static struct smpp_pdu again;
    if (smpp_decode(e->raw, e->raw_len, &again, NULL) != 0)
        return;
    if (w->n_exp == w->cap_exp) {
        size_t cap = w->cap_exp * 2 + 16;
        struct expect *nx = realloc(w->exp, cap * sizeof *nx);
        CHECK(nx != NULL);
        w->exp = nx;
        w->cap_exp = cap;
    }
    struct expect *x = &w->exp[w->n_exp++];
    memset(x, 0, sizeof *x);
    x->ts = e->ts;
    copy_addr(x->src, &x->src_len, p->source_addr);
    copy_addr(x->dst, &x->dst_len, p->destination_addr);
    const uint8_t *src = NULL;
    if (!e->text && !e->text_binary) {
        x->is_text = -1; /* no user data: the message has "" or none */
    } else if (e->text) {
        x->is_text = 1;
        src = (const uint8_t *)e->text;
        x->len = e->text_len;
    } else {
        /* the user data after the UDH, as the message's ud */
        struct sg_view ud = smpp_pdu_message(p);
        src = ud.p;
        x->len = ud.len;
        if (smpp_esm_has_udhi(p->esm_class) && e->udh && e->udh->udhl <= ud.len) {
            src += e->udh->udhl;
            x->len -= e->udh->udhl;
        }
    }
    x->data = malloc(x->len ? x->len : 1);
    CHECK(x->data != NULL);
    if (x->len)
        memcpy(x->data, src, x->len);
}

/* The message's text or user data against its PDU's: equal, or cut to the
 * quarter of the text arena (message_set_text) when longer than that. */
static void expect_match(struct world *w, const struct decoder_message *m)
{
    const void *data = m->text ? (const void *)m->text : (const void *)m->ud;
    size_t len = m->text ? m->text_len : m->ud_len;
    size_t quarter = (64u << 10) / 4;
    int candidates = 0;
    const struct expect *last = NULL;
    /* Exact kinds first: a PDU without user data (is_text -1) must not
     * take the place of one with it at the same time and addresses. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = w->n_exp; i-- > 0;) {
            struct expect *x = &w->exp[i];
            if (x->matched || x->ts != m->ts || x->is_text != (pass ? -1 : (m->text != NULL)) ||
                x->src_len != m->source_addr.len || x->dst_len != m->destination_addr.len ||
                memcmp(x->src, m->source_addr.p, x->src_len) != 0 ||
                memcmp(x->dst, m->destination_addr.p, x->dst_len) != 0)
                continue;
            candidates++;
            last = x;
            if ((x->len == len || (x->len > quarter && len <= quarter && len + 4 > quarter)) &&
                (len == 0 || memcmp(x->data, data, len) == 0)) {
                x->matched = 1;
                return;
            }
        }
    fprintf(stderr, "fuzz-decoder: message %llu (%zu octets, %s, ts %lld, %.*s -> %.*s, %u/%u parts) matches none of %d PDUs\n",
            (unsigned long long)m->uid, len, m->text ? "text" : "binary", (long long)m->ts,
            (int)m->source_addr.len, (const char *)m->source_addr.p, (int)m->destination_addr.len,
            (const char *)m->destination_addr.p, m->parts_received, m->parts, candidates);
    if (last)
        fprintf(stderr, "  message (command 0x%08x, mo %d, dc 0x%02x): %.*s\n  PDU event (%zu octets): %.*s\n",
                m->command_id, m->mobile_originated, m->data_coding,
                (int)(len < 80 ? len : 80), (const char *)data, last->len,
                (int)(last->len < 80 ? last->len : 80), (const char *)last->data);
    CHECK(0);
}

static void on_pdu(void *ctx, const struct decoder_pdu *e)
{
    struct world *w = ctx;
    check_flow(e->flow);
    CHECK(e->pdu != NULL && e->raw != NULL);
    CHECK(e->raw_len >= SMPP_HEADER_LEN && smpp_be32(e->raw) == e->raw_len);
    CHECK(e->pdu->command_id == smpp_be32(e->raw + 4) && e->pdu->sequence_number == smpp_be32(e->raw + 12));
    touch(w, e->raw, e->raw_len);
    if (e->udh) {
        CHECK(e->udh->udhl >= 1 && e->udh->udhl <= e->raw_len);
        CHECK(!e->udh->concat || (e->udh->seq >= 1 && e->udh->seq <= e->udh->total));
    }
    if (e->text)
        check_text(w, e->text, e->text_len);
    CHECK(!(e->text && e->text_binary));
    w->pdus++;
    expect_add(w, e);
    if (carries_message(e->pdu->command_id))
        w->msg_pdus++;
}

/* ---- msg-batch copies ---------------------------------------------------- */

/* The same bytes, and (but for NULL) a copy of them: a copy pointing
 * into the decoder's memory would read other bytes once it is reused. */
static int same_view(struct sg_view a, struct sg_view b)
{
    if (!a.p || !b.p)
        return a.p == b.p && a.len == b.len;
    return a.p != b.p && a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int same_cstr(const char *a, const char *b)
{
    return (!a || !b) ? a == b : a != b && strcmp(a, b) == 0;
}

static int same_endpoint(const struct sg_endpoint *a, const struct sg_endpoint *b)
{
    return (!a || !b) ? a == b : a != b && memcmp(a->addr, b->addr, 16) == 0 && a->port == b->port &&
                                     a->is_v4 == b->is_v4;
}

/* Adds the event to w->batch (reset and added again when full; skipped
 * when it can never fit): the count of events with it, 0 when skipped. */
static size_t batch_add(struct world *w, const struct decoder_message *m, const struct decoder_receipt *r)
{
    int rc = m ? msg_batch_add_message(w->batch, m) : msg_batch_add_receipt(w->batch, r);
    if (rc == SG_ENOSPC) {
        CHECK(msg_batch_count(w->batch) > 0);
        msg_batch_reset(w->batch);
        rc = m ? msg_batch_add_message(w->batch, m) : msg_batch_add_receipt(w->batch, r);
    }
    if (rc != 0) {
        CHECK(rc == -EMSGSIZE);
        return 0;
    }
    return msg_batch_count(w->batch);
}

static void check_message_copy(struct world *w, const struct decoder_message *m)
{
    size_t n = batch_add(w, m, NULL);
    if (!n)
        return;
    const struct decoder_message *c = msg_batch_message(w->batch, n - 1);
    CHECK(c != NULL && c != m && msg_batch_kind(w->batch, n - 1) == MSG_BATCH_MESSAGE);
    CHECK(c->uid == m->uid && c->ts == m->ts && c->last_ts == m->last_ts &&
          c->mobile_originated == m->mobile_originated && c->command_id == m->command_id);
    CHECK(same_endpoint(c->esme, m->esme) && same_endpoint(c->smsc, m->smsc));
    CHECK(same_cstr(c->account, m->account) && same_cstr(c->message_id, m->message_id));
    CHECK(same_view(c->source_addr, m->source_addr) && same_view(c->destination_addr, m->destination_addr));
    CHECK(c->source_addr_ton == m->source_addr_ton && c->dest_addr_npi == m->dest_addr_npi &&
          c->esm_class == m->esm_class && c->data_coding == m->data_coding && c->parts == m->parts &&
          c->parts_received == m->parts_received && c->complete == m->complete &&
          c->response_seen == m->response_seen && c->command_status == m->command_status);
    CHECK(c->text_len == m->text_len && (!c->text) == (!m->text));
    CHECK(!m->text || (c->text != m->text && memcmp(c->text, m->text, m->text_len) == 0 &&
                       c->text[c->text_len] == '\0'));
    CHECK(c->ud_len == m->ud_len && (!c->ud) == (!m->ud));
    CHECK(!m->ud || m->ud_len == 0 || memcmp(c->ud, m->ud, m->ud_len) == 0);
}

static void check_receipt_copy(struct world *w, const struct decoder_receipt *r)
{
    size_t n = batch_add(w, NULL, r);
    if (!n)
        return;
    const struct decoder_receipt *c = msg_batch_receipt(w->batch, n - 1);
    CHECK(c != NULL && c != r && msg_batch_kind(w->batch, n - 1) == MSG_BATCH_RECEIPT);
    CHECK(c->ts == r->ts && c->message_state == r->message_state && c->tied == r->tied &&
          c->message_uid == r->message_uid && c->submit_ts == r->submit_ts);
    CHECK(same_endpoint(c->esme, r->esme) && same_endpoint(c->smsc, r->smsc));
    CHECK(same_cstr(c->message_id, r->message_id));
    CHECK(same_view(c->stat, r->stat) && same_view(c->err, r->err) &&
          same_view(c->submit_date, r->submit_date) && same_view(c->done_date, r->done_date) &&
          same_view(c->sub, r->sub) && same_view(c->dlvrd, r->dlvrd) &&
          same_view(c->source_addr, r->source_addr) && same_view(c->destination_addr, r->destination_addr));
}

static void on_message(void *ctx, const struct decoder_message *m)
{
    struct world *w = ctx;
    CHECK(m->esme != NULL && m->smsc != NULL);
    /* uids count from 1, one per logical message, so never more than the
     * message PDUs seen so far; each is emitted once. */
    CHECK(m->uid >= 1 && m->uid <= w->msg_pdus);
    if (m->uid >= w->uid_cap) {
        size_t cap = (size_t)m->uid * 2 + 64;
        uint8_t *nb = realloc(w->uid_seen, cap);
        CHECK(nb != NULL);
        memset(nb + w->uid_cap, 0, cap - w->uid_cap);
        w->uid_seen = nb;
        w->uid_cap = cap;
    }
    CHECK(!w->uid_seen[m->uid]);
    w->uid_seen[m->uid] = 1;
    CHECK(m->ts <= m->last_ts && m->last_ts <= w->ts);
    check_cstr(w, m->account, 16);
    CHECK(m->command_id == 0 || carries_message(m->command_id));
    check_view(w, m->source_addr, 65);
    check_view(w, m->destination_addr, 65);
    CHECK(m->parts_received <= m->parts);
    CHECK(!m->complete || (m->parts_received == m->parts && m->parts >= 1));
    if (m->text) {
        check_text(w, m->text, m->text_len);
        CHECK(m->ud == NULL && m->ud_len == 0);
    } else {
        touch(w, m->ud, m->ud_len);
        CHECK(m->text_len == 0);
    }
    check_cstr(w, m->message_id, 65);
    CHECK(m->response_seen || (m->message_id == NULL && m->command_status == 0));
    if (m->parts == 1)
        expect_match(w, m);
    w->messages++;
    if (!m->complete)
        w->incomplete++;
    check_message_copy(w, m);
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct world *w = ctx;
    CHECK(r->esme != NULL && r->smsc != NULL);
    check_cstr(w, r->message_id, 65);
    check_view(w, r->stat, 65536);
    check_view(w, r->err, 65536);
    check_view(w, r->submit_date, 65536);
    check_view(w, r->done_date, 65536);
    check_view(w, r->sub, 65536);
    check_view(w, r->dlvrd, 65536);
    check_view(w, r->source_addr, 65);
    check_view(w, r->destination_addr, 65);
    CHECK(r->message_state >= -1);
    if (r->tied) {
        CHECK(r->message_id != NULL);
        CHECK(r->message_uid >= 1 && r->message_uid <= w->msg_pdus);
        CHECK(r->submit_ts <= r->ts);
        w->tied++;
    }
    w->receipts++;
    check_receipt_copy(w, r);
}

static void on_error(void *ctx, const struct decoder_error *e)
{
    struct world *w = ctx;
    CHECK(e->reason != NULL);
    touch(w, e->reason, strlen(e->reason));
    CHECK(e->kind >= DECODER_ERR_PACKET && e->kind <= DECODER_ERR_STREAM);
    if (e->kind == DECODER_ERR_PACKET)
        CHECK(e->flow == NULL);
    else
        check_flow(e->flow);
    CHECK(e->frame >= 1 && e->frame <= w->frames_fed + 1);
    w->errors++;
}

/* ---- records ------------------------------------------------------------ */

static const uint8_t DCS[8] = {0x00, 0x01, 0x03, 0x08, 0x04, 0x06, 0xF0, 0x02};
static const char *const ADDRS[8] = {"447700900001", "1234", "Alpha", "", "+33612345678",
                                     "447700900002", "9", "SHORTCODE12345678901"};
static const char *const STATS[8] = {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD",
                                     "ACCEPTD", "ENROUTE", "UNKNOWN", ""};
static const uint8_t RECEIPT_ESM[4] = {0x04, 0x08, 0x10, 0x20};
static const uint32_t RESP_IDS[8] = {0x80000004, 0x80000005, 0x80000103, 0x80000021,
                                     0x80000000, 0x80000015, 0x80000006, 0x80000009};

/* The body of submit_sm / deliver_sm up to sm_length. */
/* service_type, then source and destination (TON 1, NPI 1) picked by a. */
static void sm_addrs(struct pb *b, const char *service_type, uint8_t a)
{
    pstr(b, service_type);
    p8(b, 1);
    p8(b, 1);
    pstr(b, ADDRS[a & 7]);
    p8(b, 1);
    p8(b, 1);
    pstr(b, ADDRS[(a >> 3) & 7]);
}

static void sm_head(struct pb *b, struct rd *r, uint8_t h, uint8_t esm, uint8_t dc)
{
    uint8_t a = get8(r);
    sm_addrs(b, (h & 0x80) ? "CMT" : "", a);
    p8(b, esm);
    p8(b, 0);
    p8(b, 0);
    pstr(b, "");
    pstr(b, "");
    p8(b, (uint8_t)((a >> 6) & 1));
    p8(b, 0);
    p8(b, dc);
    p8(b, 0);
}

/* A message id in one of the forms SMSCs use, from the issued ids of smsc
 * (v < 0x80) or a new one (then recorded). */
static void make_id(struct world *w, struct rd *r, int smsc, unsigned form, char *out, size_t cap)
{
    uint8_t v = get8(r);
    uint64_t id;
    if (v & 0x80) {
        id = (uint64_t)get32(r) << ((v & 0x7) * 4);
        w->ids[smsc][w->ids_at[smsc]++ % RING] = id;
    } else {
        id = w->ids[smsc][(w->ids_at[smsc] + RING - 1 - (v & 7)) % RING];
    }
    switch (form & 7) {
    case 0: snprintf(out, cap, "%llx", (unsigned long long)id); break;
    case 1: snprintf(out, cap, "%llX", (unsigned long long)id); break;
    case 2: snprintf(out, cap, "%llu", (unsigned long long)id); break;
    case 3: {
        size_t n;
        const uint8_t *p = getn(r, get8(r) % 70, &n);
        if (n >= cap)
            n = cap - 1;
        memcpy(out, p, n);
        out[n] = '\0';
        break;
    }
    case 4: out[0] = '\0'; break;
    case 5: snprintf(out, cap, "%016llx", (unsigned long long)id); break;
    case 6: snprintf(out, cap, "%020llu", (unsigned long long)id); break;
    default: snprintf(out, cap, "%llu-%llx", (unsigned long long)id, (unsigned long long)id); break;
    }
}

static void sar_tlvs(struct pb *b, uint16_t ref, uint8_t tot, uint8_t seq)
{
    uint8_t rv[2] = {(uint8_t)(ref >> 8), (uint8_t)ref};
    ptlv(b, 0x020C, rv, 2);
    ptlv(b, 0x020E, &tot, 1);
    ptlv(b, 0x020F, &seq, 1);
}

static void record(struct world *w, struct rd *r, struct pb *b)
{
    uint8_t op = get8(r);
    unsigned kind = op & 15, flow = (op >> 4) & 3, flip = (op >> 6) & 1, reuse = op >> 7;
    int smsc = SMSC_OF[flow];
    int dir = 0; /* the kind's usual direction, before flip */
    uint8_t seg = 0;
    w->ts += 1000;
    /* b keeps the last PDU built, for REPEAT; begin() starts a new one. */
    switch (kind) {
    case 0: { /* BIND */
        static const uint32_t ids[3] = {0x00000001, 0x00000002, 0x00000009};
        uint8_t t = get8(r);
        seg = get8(r);
        dir = 0;
        begin(b, ids[t % 3], 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
        size_t n;
        const uint8_t *s = getn(r, get8(r) % 20, &n);
        pcstr(b, s, n);
        pstr(b, "secret");
        pstr(b, "");
        p8(b, 0x34);
        p8(b, 0);
        p8(b, 0);
        pstr(b, "");
        break;
    }
    case 1: { /* BIND_RESP */
        static const uint32_t ids[3] = {0x80000001, 0x80000002, 0x80000009};
        uint8_t t = get8(r);
        seg = get8(r);
        dir = 1;
        uint32_t status = (t & 0x80) ? get8(r) : 0;
        begin(b, ids[t % 3], status, resp_seq(w, (int)flow, !(dir ^ (int)flip), (t >> 2) & 7));
        size_t n;
        const uint8_t *s = getn(r, get8(r) % 20, &n);
        pcstr(b, s, n);
        break;
    }
    case 2: { /* SUBMIT: h bits 0-2 dc, 3 UDHI, 4 data_sm, 5 deliver_sm, 6 registered */
        uint8_t h = get8(r);
        seg = get8(r);
        uint8_t dc = DCS[h & 7], esm = (h & 0x08) ? 0x40 : 0;
        uint32_t id = (h & 0x10) ? SMPP_CMD(data_sm) : (h & 0x20) ? SMPP_CMD(deliver_sm) : SMPP_CMD(submit_sm);
        dir = id == SMPP_CMD(deliver_sm) ? 1 : 0;
        begin(b, id, 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
        size_t n;
        if (id == SMPP_CMD(data_sm)) {
            sm_addrs(b, "", get8(r));
            p8(b, esm);
            p8(b, 1);
            p8(b, dc);
            const uint8_t *s = getn(r, get8(r), &n);
            ptlv(b, 0x0424, s, n);
        } else {
            sm_head(b, r, h, esm, dc);
            const uint8_t *s = getn(r, get8(r), &n);
            p8(b, (uint8_t)n);
            pmem(b, s, n);
        }
        break;
    }
    case 3:   /* SUBMIT_UDH */
    case 4:   /* SUBMIT_SAR */
    case 9: { /* DELIVER_MO, UDH concat when tot > 1 */
        uint8_t h = get8(r);
        seg = get8(r);
        uint8_t ref = get8(r), tot = get8(r), sq = get8(r);
        /* mostly valid numbering: total 1-5, seq 1..total; the raw octets
         * when h & 0x40 */
        if (!(h & 0x40)) {
            tot = (uint8_t)(1 + tot % 5);
            sq = (uint8_t)(1 + sq % tot);
        }
        uint8_t dc = DCS[h & 7];
        int udh = kind != 4 && (kind == 3 || tot > 1);
        uint32_t id = kind == 9 ? SMPP_CMD(deliver_sm) : SMPP_CMD(submit_sm);
        dir = kind == 9 ? 1 : 0;
        begin(b, id, 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
        sm_head(b, r, h, udh ? 0x40 : 0, dc);
        size_t n;
        const uint8_t *s = getn(r, get8(r) % 160, &n);
        uint8_t ud[300];
        size_t u = 0;
        if (udh) {
            if (h & 0x08) {
                const uint8_t hdr[7] = {6, 0x08, 4, (uint8_t)(ref * 7), ref, tot, sq};
                memcpy(ud, hdr, 7);
                u = 7;
            } else {
                const uint8_t hdr[6] = {5, 0x00, 3, ref, tot, sq};
                memcpy(ud, hdr, 6);
                u = 6;
            }
        }
        memcpy(ud + u, s, n);
        u += n;
        p8(b, (uint8_t)u);
        pmem(b, ud, u);
        if (kind == 4)
            sar_tlvs(b, (uint16_t)(ref | (h & 0x08 ? 0x100 : 0)), tot, sq);
        break;
    }
    case 5: { /* SUBMIT_PAYLOAD: h bits 0-2 dc, 3 UDHI, 4 a short_message too */
        uint8_t h = get8(r);
        seg = get8(r);
        dir = 0;
        begin(b, SMPP_CMD(submit_sm), 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
        sm_head(b, r, h, (h & 0x08) ? 0x40 : 0, DCS[h & 7]);
        size_t n;
        uint16_t want = get16le(r);
        const uint8_t *s = getn(r, want, &n);
        if (h & 0x10) {
            p8(b, 3);
            pmem(b, "abc", 3);
        } else {
            p8(b, 0);
        }
        ptlv(b, 0x0424, s, n);
        break;
    }
    case 6: { /* RESP */
        uint8_t t = get8(r);
        seg = get8(r);
        uint8_t k = get8(r);
        uint32_t cid = RESP_IDS[k & 7];
        dir = 1;
        uint32_t status = (t & 0x08) ? (uint32_t)get8(r) | ((k & 0x80) ? 0x400u : 0) : 0;
        begin(b, cid, status, resp_seq(w, (int)flow, !(dir ^ (int)flip), t & 7));
        unsigned form = t >> 4;
        if (form != 7) {
            char id[80];
            make_id(w, r, smsc, form, id, sizeof id);
            pstr(b, id);
            if (cid == 0x80000021)
                p8(b, 0);
        }
        break;
    }
    case 7:   /* RECEIPT_TEXT */
    case 8: { /* RECEIPT_TLV */
        uint8_t t = get8(r);
        seg = get8(r);
        dir = 1;
        char id[80];
        make_id(w, r, smsc, t >> 4, id, sizeof id);
        uint8_t st = get8(r);
        uint8_t esm = RECEIPT_ESM[(t >> 2) & 3] | ((t & 0x02) ? 0x40 : 0);
        begin(b, SMPP_CMD(deliver_sm), 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
        sm_head(b, r, 0, esm, (t & 1) ? 0x03 : 0x00);
        char text[300];
        int n = 0;
        if (kind == 7 || (st & 0x80)) {
            n = snprintf(text, sizeof text,
                         "%sid:%s sub:001 dlvrd:%03u submit date:2411281200 done date:2411281201 stat:%s err:%03u text:hello",
                         (t & 0x02) ? "\x05\x00\x03\x01\x02\x01" : "", id, st & 1u, STATS[st & 7], st & 0x70u);
            if (n < 0)
                n = 0;
            if (n > 254)
                n = 254;
        }
        if (kind == 7 && (st & 0x08)) {
            p8(b, 0);
            ptlv(b, 0x0424, text, (size_t)n);
        } else {
            p8(b, (uint8_t)n);
            pmem(b, text, (size_t)n);
        }
        if (kind == 8) {
            ptlv(b, 0x001E, id, strlen(id) + 1);
            uint8_t ms = (uint8_t)((st >> 4) & 7);
            ptlv(b, 0x0427, &ms, 1);
        }
        break;
    }
    case 10: { /* SIMPLE */
        uint8_t t = get8(r);
        seg = get8(r);
        unsigned what = t & 7;
        dir = (t >> 3) & 1;
        switch (what) {
        case 0: begin(b, 0x00000015, 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse)); break;
        case 1: begin(b, 0x00000006, 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse)); break;
        case 2: begin(b, 0x80000015, 0, resp_seq(w, (int)flow, !(dir ^ (int)flip), t >> 4)); break;
        case 3: begin(b, 0x80000006, 0, resp_seq(w, (int)flow, !(dir ^ (int)flip), t >> 4)); break;
        case 4: begin(b, 0x80000000, 3, resp_seq(w, (int)flow, !(dir ^ (int)flip), t >> 4)); break;
        case 5: { /* submit_multi to 1-3 destinations */
            begin(b, SMPP_CMD(submit_multi), 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
            pstr(b, "");
            p8(b, 1);
            p8(b, 1);
            pstr(b, ADDRS[t >> 5]);
            unsigned nd = 1 + (t >> 4) % 3;
            p8(b, (uint8_t)nd);
            for (unsigned i = 0; i < nd; i++) {
                p8(b, i == 2 ? 2 : 1);
                if (i == 2) {
                    pstr(b, "list");
                } else {
                    p8(b, 1);
                    p8(b, 1);
                    pstr(b, ADDRS[i + 1]);
                }
            }
            p8(b, 0);
            p8(b, 0);
            p8(b, 0);
            pstr(b, "");
            pstr(b, "");
            p8(b, 1);
            p8(b, 0);
            p8(b, 0);
            p8(b, 0);
            p8(b, 5);
            pmem(b, "multi", 5);
            break;
        }
        case 6: { /* query_sm */
            begin(b, 0x00000003, 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
            char id[80];
            make_id(w, r, smsc, t >> 4, id, sizeof id);
            pstr(b, id);
            p8(b, 1);
            p8(b, 1);
            pstr(b, "1234");
            break;
        }
        default: /* outbind */
            begin(b, 0x0000000B, 0, req_seq(w, (int)flow, dir ^ (int)flip, reuse));
            pstr(b, "acct");
            pstr(b, "pw");
            break;
        }
        break;
    }
    case 11: { /* RAW_PDU */
        uint8_t t = get8(r);
        seg = get8(r);
        dir = t >> 7;
        size_t n;
        const uint8_t *s = getn(r, get16le(r), &n);
        b->n = 0;
        pmem(b, s, n);
        if ((t & 1) && b->n >= 4)
            finish(b);
        transmit(w, (int)flow, dir ^ (int)flip, seg, b->b, b->n);
        return;
    }
    case 12: { /* TIME */
        static const sg_time_us unit[4] = {10000, 1000000, 30000000, 1000000000};
        uint8_t t = get8(r);
        w->ts += (sg_time_us)(t & 63) * unit[t >> 6];
        return;
    }
    case 13: /* RELEASE, or REPEAT with the flip bit */
        if (flip) {
            /* The arena and the tables fill up without the input holding
             * each copy: 64 KiB of text is more than max_len allows. */
            unsigned times = 1 + (get8(r) & 15);
            seg = get8(r);
            for (unsigned i = 0; i < times && b->n >= SMPP_HEADER_LEN; i++) {
                if (!(b->b[4] & 0x80))
                    wr32(b->b + 12, req_seq(w, (int)flow, (int)reuse, 0));
                transmit(w, (int)flow, (int)reuse, seg, b->b, b->n);
            }
            return;
        }
        for (int d = 0; d < 2; d++) {
            send_delayed(w, (int)flow, d);
            send_held(w, (int)flow, d);
        }
        return;
    case 14: { /* CONTROL */
        uint8_t t = get8(r);
        int d = (t >> 2) & 1;
        struct dirstate *s = &w->fl[flow][d];
        switch (t & 3) {
        case 0:
            s->tcp_seq = get32(r);
            send_seg(w, (int)flow, d, TH_SYN | ((t & 8) ? TH_ACK : 0), s->tcp_seq, NULL, 0);
            s->tcp_seq++;
            break;
        case 1:
            send_held(w, (int)flow, d);
            send_seg(w, (int)flow, d, TH_FIN | TH_ACK, s->tcp_seq, NULL, 0);
            s->tcp_seq++;
            break;
        case 2:
            send_seg(w, (int)flow, d, TH_RST, s->tcp_seq, NULL, 0);
            break;
        default:
            s->tcp_seq += get32(r);
            break;
        }
        return;
    }
    default: { /* 15 RAW_FRAME */
        static const int dlts[4] = {PKT_DLT_EN10MB, PKT_DLT_RAW, PKT_DLT_LINUX_SLL, PKT_DLT_NULL};
        uint8_t t = get8(r);
        size_t n;
        const uint8_t *s = getn(r, get16le(r), &n);
        feed_frame(w, dlts[t & 3], s, n);
        return;
    }
    }
    finish(b);
    transmit(w, (int)flow, dir ^ (int)flip, seg, b->b, b->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rd r = {data, size, 0};
    uint8_t cfg = get8(&r), bounds = get8(&r);
    struct decoder_config c;
    decoder_config_default(&c);
    c.stream.max_flows = 3;
    c.stream.max_buffered_bytes = 256 * 1024;
    c.stream.max_flow_buffer = 80 * 1024;
    c.stream.ooo_window = 16 * 1024;
    c.stream.idle_timeout_s = 30;
    c.stream.gap_timeout_ms = 500;
    c.stream.not_smpp_after = 8192;
    c.concat.max_messages = 1 + (bounds & 3);
    c.concat.max_bytes = 4096;
    c.concat.timeout_s = 5;
    c.max_sessions = 1 + ((bounds >> 2) & 3);
    c.max_pending_requests = 1 + ((bounds >> 4) & 3);
    c.request_timeout_s = 3;
    c.max_pending_messages = 1 + (bounds >> 6);
    c.max_text_bytes = 0; /* the 64 KiB floor */
    c.response_wait_s = 2;
    c.max_receipt_ties = c.max_pending_requests;
    c.receipt_tie_ttl_s = 20;
    c.msgid_format = (enum decoder_msgid_format)(cfg & 3);
    /* Link A (flows 0, 1): its port, settings from cfg; link B (flow 2):
     * any port; SMSC C (flow 3) takes the defaults. */
    struct sg_endpoint a = endpoint(0, 1), bb = endpoint(2, 1);
    c.links[0].smsc = a;
    c.links[0].text.dc0_charset = (uint8_t[]){SMS_CS_GSM, SMS_CS_LATIN1, SMS_CS_ASCII, SMS_CS_GSM}[(cfg >> 4) & 3];
    c.links[0].text.gsm_packing = (cfg & 0x40) ? SMS_GSM_PACKED : SMS_GSM_UNPACKED;
    c.links[0].text.dc1_gsm = (uint8_t)(cfg >> 7);
    c.links[0].msgid_format = (enum decoder_msgid_format)((cfg >> 2) & 3);
    c.links[1].smsc = bb;
    c.links[1].smsc.port = 0;
    c.links[1].text.dc0_charset = SMS_CS_LATIN1;
    c.links[1].msgid_format = DECODER_MSGID_HEX_DEC;
    c.n_links = 2;

    struct world *w = calloc(1, sizeof *w);
    struct pb b = {malloc(PDU_CAP), 0};
    if (!w || !b.b || !(w->frame = malloc(14 + 40 + 20 + 65536))) {
        free(b.b);
        if (w)
            free(w->frame);
        free(w);
        return 0;
    }
    w->batch = msg_batch_new(8, 4096);
    CHECK(w->batch != NULL);
    struct decoder_sink sink = {w, on_pdu, on_message, on_receipt, on_error};
    w->d = decoder_new(&c, &sink);
    CHECK(w->d != NULL);
    w->ts = (sg_time_us)1732795200 * 1000000u;
    for (int f = 0; f < NFLOWS; f++)
        for (int d = 0; d < 2; d++) {
            w->fl[f][d].tcp_seq = 1000u * (uint32_t)(f + 1) + 500000u * (uint32_t)d;
            w->fl[f][d].next_smpp = 1 + 100u * (uint32_t)d;
        }

    /* Each record reads at least its op octet: the loop ends. */
    while (r.at < r.n)
        record(w, &r, &b);
    for (int f = 0; f < NFLOWS; f++)
        for (int d = 0; d < 2; d++) {
            send_delayed(w, f, d);
            send_held(w, f, d);
        }
    decoder_flush(w->d);

    struct decoder_stats st;
    decoder_get_stats(w->d, &st);
#ifdef FUZZ_DECODER_VERBOSE
    fprintf(stderr, "frames %llu pdus %llu errs %llu msgs %llu incomplete %llu receipts %llu tied %llu unanswered %llu unmatched %llu evicted s%llu r%llu m%llu t%llu concat %llu/%llu text_errors %llu\n",
            (unsigned long long)st.packets, (unsigned long long)st.pdus, (unsigned long long)w->errors,
            (unsigned long long)st.messages, (unsigned long long)st.messages_incomplete,
            (unsigned long long)st.receipts, (unsigned long long)st.receipts_tied,
            (unsigned long long)st.requests_unanswered, (unsigned long long)st.responses_unmatched,
            (unsigned long long)st.sessions_evicted, (unsigned long long)st.requests_evicted,
            (unsigned long long)st.messages_evicted, (unsigned long long)st.ties_evicted,
            (unsigned long long)st.concat.messages_complete, (unsigned long long)st.concat.messages_incomplete,
            (unsigned long long)st.text_errors);
#endif
    CHECK(st.packets == w->frames_fed);
    CHECK(st.pdus == w->pdus);
    CHECK(st.pdu_errors <= st.pdus);
    CHECK(st.messages == w->messages && st.messages_incomplete == w->incomplete);
    CHECK(st.messages <= w->msg_pdus);
    CHECK(st.messages_evicted <= st.messages);
    CHECK(st.receipts == w->receipts && st.receipts_tied == w->tied);
    CHECK(st.receipts_tied <= st.receipts);
    CHECK(st.concat.messages_complete + st.concat.messages_incomplete <= st.messages);
    /* buffered_bytes stays charged with the stream's pooled buffers */
    CHECK(st.stream.flows_active == 0);
    CHECK(st.stream.buffered_peak <= c.stream.max_buffered_bytes);
    CHECK(st.concat.active == 0 && st.concat.buffered_bytes == 0);
    CHECK(st.stream.pdus == st.pdus);

    decoder_free(w->d);
    msg_batch_free(w->batch);
    for (int f = 0; f < NFLOWS; f++)
        for (int d = 0; d < 2; d++) {
            free(w->fl[f][d].held);
            free(w->fl[f][d].delayed);
        }
    free(w->uid_seen);
    for (size_t i = 0; i < w->n_exp; i++)
        free(w->exp[i].data);
    free(w->exp);
    free(w->frame);
    free(w);
    free(b.b);
    return 0;
}
