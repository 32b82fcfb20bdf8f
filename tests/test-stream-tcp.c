/* TCP reassembly with SMPP framing: hand-built segments for every case the
 * reassembler has to handle (stream-tcp.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smpp-frame.h"
#include "stream-tcp.h"
#include "testutil.h"

#define MAXPDU 4096
#define MAXREC 20000

struct rec {
    uint64_t flow;
    uint8_t dir;
    uint32_t len;
    uint64_t off;
    uint32_t cmd, seqno;
    int zero_copy; /* delivered from the segment payload */
};

static struct rec recs[MAXREC];
static int nrec;
static int nev[16];
static uint64_t ev_bytes[16];
static int nend;
static const uint8_t *cur_payload; /* segment being fed */
static size_t cur_len;
static uint8_t last_pdu[MAXPDU * 20];
static size_t last_pdu_len;

static void on_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                   size_t len, uint64_t off)
{
    (void)ctx;
    (void)ts;
    if (nrec < MAXREC) {
        struct rec *r = &recs[nrec++];
        r->flow = f->flow_id;
        r->dir = f->dir;
        r->len = (uint32_t)len;
        r->off = off;
        r->cmd = smpp_be32(p + 4);
        r->seqno = smpp_be32(p + 12);
        r->zero_copy = cur_payload && p >= cur_payload && p + len <= cur_payload + cur_len;
    }
    CHECK_EQ_INT(smpp_be32(p), len);
    if (len <= sizeof last_pdu) {
        memcpy(last_pdu, p, len);
        last_pdu_len = len;
    }
}

static void on_event(void *ctx, const struct stream_flow_info *f, sg_time_us ts,
                     enum stream_event ev, uint64_t off, uint64_t bytes, const char *why)
{
    (void)ctx;
    (void)f;
    (void)ts;
    (void)off;
    CHECK(why != NULL);
    nev[ev]++;
    ev_bytes[ev] += bytes;
    if (getenv("SG_VERBOSE"))
        fprintf(stderr, "  event %s off=%llu bytes=%llu %s\n", stream_event_name(ev),
                (unsigned long long)off, (unsigned long long)bytes, why);
}

static void on_end(void *ctx, uint64_t id)
{
    (void)ctx;
    (void)id;
    nend++;
}

static const struct stream_sink sink = {NULL, on_pdu, on_event, on_end};

static void reset(void)
{
    nrec = 0;
    nend = 0;
    memset(nev, 0, sizeof nev);
    memset(ev_bytes, 0, sizeof ev_bytes);
}

static struct sg_endpoint ep(uint32_t ip, uint16_t port)
{
    struct sg_endpoint e;
    memset(&e, 0, sizeof e);
    e.addr[10] = e.addr[11] = 0xFF;
    e.addr[12] = (uint8_t)(ip >> 24);
    e.addr[13] = (uint8_t)(ip >> 16);
    e.addr[14] = (uint8_t)(ip >> 8);
    e.addr[15] = (uint8_t)ip;
    e.port = port;
    e.is_v4 = 1;
    return e;
}

static const struct sg_endpoint *g_cli, *g_srv;
static struct sg_endpoint cli_ep, srv_ep;

/* Feeds a segment client -> server (dir 1 swaps). */
static void seg(stream_table_t *t, int rev, uint32_t seq, uint8_t flags, const uint8_t *data,
                size_t len, sg_time_us ts)
{
    struct pkt_tcp s;
    memset(&s, 0, sizeof s);
    s.src = rev ? *g_srv : *g_cli;
    s.dst = rev ? *g_cli : *g_srv;
    s.seq = seq;
    s.flags = flags;
    /* exact-size heap copy so ASan catches overreads */
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len)
        memcpy(copy, data, len);
    s.payload = copy;
    s.payload_len = len;
    cur_payload = copy;
    cur_len = len;
    stream_feed(t, &s, ts);
    cur_payload = NULL;
    free(copy);
}

/* Writes a PDU: header + body of body bytes ('a'.. pattern, never a header). */
static size_t mkpdu(uint8_t *p, uint32_t cmd, uint32_t seqno, uint32_t body)
{
    uint32_t len = 16 + body;
    uint32_t v[4] = {len, cmd, 0, seqno};
    for (int i = 0; i < 4; i++) {
        p[i * 4] = (uint8_t)(v[i] >> 24);
        p[i * 4 + 1] = (uint8_t)(v[i] >> 16);
        p[i * 4 + 2] = (uint8_t)(v[i] >> 8);
        p[i * 4 + 3] = (uint8_t)v[i];
    }
    for (uint32_t i = 0; i < body; i++)
        p[16 + i] = (uint8_t)('a' + (seqno + i) % 26);
    return len;
}

/* A stream of n PDUs: alternating submit_sm (body 40+7i) and enquire_link. */
static size_t mkstream(uint8_t *p, int n, uint32_t first_seqno)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (i % 2 == 0)
            at += mkpdu(p + at, 0x00000004, first_seqno + (uint32_t)i, 40 + 7 * (uint32_t)i);
        else
            at += mkpdu(p + at, 0x00000015, first_seqno + (uint32_t)i, 0);
    }
    return at;
}

static stream_table_t *table(uint32_t max_flows, uint64_t memcap, uint32_t flowbuf, uint32_t window)
{
    struct stream_config c;
    stream_config_default(&c);
    if (max_flows)
        c.max_flows = max_flows;
    if (memcap)
        c.max_buffered_bytes = memcap;
    if (flowbuf)
        c.max_flow_buffer = flowbuf;
    if (window)
        c.ooo_window = window;
    reset();
    stream_table_t *t = stream_new(&c, &sink);
    CHECK(t != NULL);
    return t;
}

static void check_seqnos(int n, uint32_t first)
{
    CHECK_EQ_INT(nrec, n);
    for (int i = 0; i < n && i < nrec; i++)
        CHECK_MSG(recs[i].seqno == first + (uint32_t)i, "pdu %d has seqno %u, want %u", i,
                  recs[i].seqno, first + (uint32_t)i);
}

static uint8_t buf[1 << 20];

static void test_in_order(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    uint32_t isn = 1000;
    seg(t, 0, isn, TH_SYN, NULL, 0, 1);
    seg(t, 1, 5000, TH_SYN | TH_ACK, NULL, 0, 2);
    uint8_t p[256];
    uint32_t seq = isn + 1;
    uint64_t off = 0;
    for (uint32_t i = 0; i < 3; i++) {
        size_t n = mkpdu(p, 4, 10 + i, 30 + i);
        seg(t, 0, seq, TH_ACK | TH_PUSH, p, n, 10 + i);
        CHECK_EQ_INT(recs[i].off, off);
        seq += (uint32_t)n;
        off += n;
    }
    size_t n = mkpdu(p, 0x80000004, 10, 9);
    check_seqnos(3, 10);
    seg(t, 1, 5001, TH_ACK, p, n, 20);
    CHECK_EQ_INT(nrec, 4);
    seg(t, 1, 5001, TH_ACK, p, n, 21); /* retransmitted response: not again */
    CHECK_EQ_INT(nrec, 4);
    CHECK_EQ_INT(recs[3].seqno, 10);
    CHECK_EQ_INT(recs[3].dir, 1);
    CHECK_EQ_INT(recs[3].cmd, 0x80000004);
    CHECK_EQ_INT(recs[3].off, 0);
    for (int i = 0; i < nrec; i++)
        CHECK(recs[i].zero_copy);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.copied_bytes, 0);
    CHECK_EQ_INT(st.pdus, 4);
    CHECK_EQ_INT(st.flows_created, 1);
    CHECK_EQ_INT(st.flows_active, 1);
    CHECK_EQ_INT(nev[STREAM_EV_RESYNC], 0);
    /* FIN both ways ends the flow */
    seg(t, 0, seq, TH_FIN | TH_ACK, NULL, 0, 30);
    CHECK_EQ_INT(nend, 0);
    seg(t, 1, 5001 + (uint32_t)n, TH_FIN | TH_ACK, NULL, 0, 31);
    CHECK_EQ_INT(nend, 1);
    CHECK_EQ_INT(nev[STREAM_EV_FIN], 2);
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.flows_active, 0);
    CHECK_EQ_INT(st.flows_closed, 1);
    CHECK_EQ_INT(st.buffered_bytes, 0);
    stream_free(t);
}

static void test_one_byte_segments(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 5, 100);
    seg(t, 0, 7, TH_SYN, NULL, 0, 1);
    for (size_t i = 0; i < n; i++)
        seg(t, 0, 8 + (uint32_t)i, TH_ACK, buf + i, 1, 2);
    check_seqnos(5, 100);
    /* the last PDU delivered is byte-identical to what was sent */
    size_t last_off = (size_t)recs[4].off;
    CHECK_EQ_INT(last_pdu_len, n - last_off);
    CHECK(memcmp(last_pdu, buf + last_off, last_pdu_len) == 0);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.copied_bytes, n);
    CHECK_EQ_INT(st.buffered_bytes, st.buffered_peak > 0 ? st.buffered_bytes : 0);
    stream_free(t);
}

static void test_three_in_one(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 3, 1);
    seg(t, 0, 99, TH_SYN, NULL, 0, 1);
    seg(t, 0, 100, TH_ACK, buf, n, 2);
    check_seqnos(3, 1);
    for (int i = 0; i < nrec; i++)
        CHECK_MSG(recs[i].zero_copy, "pdu %d copied", i);
    /* 3 PDUs and a half: the half is buffered, completed by the next segment */
    size_t m = mkstream(buf, 7, 50); /* the 7th is a submit_sm, 98 bytes */
    size_t cut = m - 20;
    seg(t, 0, 100 + (uint32_t)n, TH_ACK, buf, cut, 3);
    CHECK_EQ_INT(nrec, 3 + 6);
    seg(t, 0, 100 + (uint32_t)(n + cut), TH_ACK, buf + cut, 20, 4);
    CHECK_EQ_INT(nrec, 3 + 7);
    CHECK_EQ_INT(recs[9].seqno, 56);
    CHECK(!recs[9].zero_copy);
    CHECK(recs[8].zero_copy);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.copied_bytes, recs[9].len);
    stream_free(t);
}

/* Splits the stream at the given cut points and feeds the pieces in order[]. */
static void feed_pieces(stream_table_t *t, uint32_t seq0, const uint8_t *data, size_t n,
                        const size_t *cuts, int ncut, const int *order, sg_time_us ts)
{
    size_t starts[64], ends[64];
    int np = ncut + 1;
    for (int i = 0; i < np; i++) {
        starts[i] = i ? cuts[i - 1] : 0;
        ends[i] = i < ncut ? cuts[i] : n;
    }
    for (int k = 0; k < np; k++) {
        int i = order[k];
        seg(t, 0, seq0 + (uint32_t)starts[i], TH_ACK, data + starts[i], ends[i] - starts[i], ts);
    }
}

static void test_out_of_order(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 10, 1);
    size_t cuts[] = {10, 50, 51, 120, 200, 260, 300};
    int order[] = {1, 3, 2, 0, 5, 7, 4, 6};
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    feed_pieces(t, 1, buf, n, cuts, 7, order, 2);
    check_seqnos(10, 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK(st.ooo_segments >= 4);
    CHECK_EQ_INT(st.gaps, 0);
    CHECK_EQ_INT(st.ooo_dropped, 0);
    CHECK_EQ_INT(st.buffered_bytes <= st.buffered_peak, 1);
    /* reversed order */
    stream_free(t);
    t = table(0, 0, 0, 0);
    int rev[] = {7, 6, 5, 4, 3, 2, 1, 0};
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    feed_pieces(t, 1, buf, n, cuts, 7, rev, 2);
    check_seqnos(10, 1);
    stream_free(t);
}

static void test_retransmit_and_overlap(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 4, 1);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1, TH_ACK, buf, 70, 2);
    seg(t, 0, 1, TH_ACK, buf, 70, 3);             /* exact retransmission */
    seg(t, 0, 1 + 30, TH_ACK, buf + 30, 80, 4);    /* overlaps old data */
    seg(t, 0, 1, TH_ACK, buf, n, 5);               /* everything again */
    check_seqnos(4, 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.retrans_bytes, 70 + 40 + 110);
    stream_free(t);

    /* Overlapping out-of-order segments with different contents: the
     * first copy wins. */
    t = table(0, 0, 0, 0);
    uint8_t p[200];
    size_t pl = mkpdu(p, 4, 77, 150);
    uint8_t alt[200];
    memcpy(alt, p, pl);
    memset(alt + 100, 'Z', 100);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1 + 80, TH_ACK, p + 80, 40, 2);      /* [80,120) original */
    seg(t, 0, 1 + 100, TH_ACK, alt + 100, 66, 3);  /* [100,166) conflicting */
    seg(t, 0, 1, TH_ACK, p, 80, 4);
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(last_pdu_len, pl);
    CHECK(memcmp(last_pdu + 80, p + 80, 40) == 0); /* first copy kept */
    CHECK(last_pdu[130] == 'Z');                   /* new bytes taken */
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.overlaps, 1);
    CHECK_EQ_INT(st.overlap_bytes, 20);
    stream_free(t);
}

static void test_mid_stream(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 6, 1);
    /* capture starts 25 bytes into the first PDU; no SYN seen */
    seg(t, 0, 5000025, TH_ACK, buf + 25, n - 25, 1);
    check_seqnos(5, 2);
    CHECK_EQ_INT(nev[STREAM_EV_RESYNC], 1);
    CHECK_EQ_INT(ev_bytes[STREAM_EV_RESYNC], recs[0].off);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.resyncs, 1);
    CHECK_EQ_INT(st.hunt_bytes, recs[0].off);
    stream_free(t);

    /* mid-stream, starting exactly at a PDU boundary: nothing skipped */
    t = table(0, 0, 0, 0);
    seg(t, 0, 123, TH_ACK, buf, n, 1);
    check_seqnos(6, 1);
    CHECK_EQ_INT(nev[STREAM_EV_RESYNC], 0);
    stream_free(t);

    /* mid-stream, the tail of a PDU arrives byte by byte */
    t = table(0, 0, 0, 0);
    for (size_t i = 30; i < n; i++)
        seg(t, 0, 7000 + (uint32_t)i, TH_ACK, buf + i, 1, 1);
    check_seqnos(5, 2);
    stream_free(t);
}

static void test_gap(void)
{
    /* A segment never arrives; the window overflows; the hole is skipped
     * and framing found again. */
    stream_table_t *t = table(0, 0, 0, 256);
    size_t n = mkstream(buf, 40, 1);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    size_t hole_s = 100, hole_e = 160;
    seg(t, 0, 1, TH_ACK, buf, hole_s, 2);
    int before = nrec;
    for (size_t at = hole_e; at < n; at += 50) {
        size_t len = n - at < 50 ? n - at : 50;
        seg(t, 0, 1 + (uint32_t)at, TH_ACK, buf + at, len, 3);
    }
    CHECK_EQ_INT(nev[STREAM_EV_GAP], 1);
    CHECK_EQ_INT(ev_bytes[STREAM_EV_GAP], hole_e - hole_s);
    CHECK(nrec > before + 30);
    /* after the gap, every delivered PDU is a real one, in order */
    for (int i = 1; i < nrec; i++)
        CHECK(recs[i].seqno > recs[i - 1].seqno);
    CHECK_EQ_INT(recs[nrec - 1].seqno, 40);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.gaps, 1);
    CHECK_EQ_INT(st.gap_bytes, hole_e - hole_s);
    stream_free(t);

    /* Hole inside one PDU: the header is known, so framing survives the gap
     * without hunting (the damaged PDU is dropped). */
    t = table(0, 0, 0, 0);
    uint8_t p[1200];
    size_t a = mkpdu(p, 4, 1, 500);
    size_t b = mkpdu(p + a, 0x15, 2, 0);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1, TH_ACK, p, 200, 2);
    seg(t, 0, 1 + 300, TH_ACK, p + 300, a + b - 300, 3);
    CHECK_EQ_INT(nrec, 0);
    seg(t, 0, 1 + (uint32_t)(a + b), TH_ACK, NULL, 0, 4000000); /* 4 s later: hole timed out */
    CHECK_EQ_INT(nev[STREAM_EV_GAP], 1);
    CHECK_EQ_INT(ev_bytes[STREAM_EV_GAP], 100);
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(recs[0].seqno, 2);
    CHECK_EQ_INT(nev[STREAM_EV_RESYNC], 0);
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.resyncs, 0);
    CHECK_EQ_INT(st.partial_dropped, 200 + (a - 300));
    stream_free(t);
}

/* The endpoints reused by a new connection whose SYN was not captured:
 * its sequence numbers are unrelated to the old one's.  Behind the old
 * stream it is not a retransmission, ahead of it not a hole of gigabytes:
 * the direction starts over there, hunting for a header. */
static void test_seq_jump(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 6, 1);
    seg(t, 0, 0x80000000u, TH_ACK, buf, n, 1);
    check_seqnos(6, 1);
    /* 1.5 GB behind: the new connection's PDUs, picked up mid-stream */
    size_t m = mkstream(buf, 6, 101);
    seg(t, 0, 0x80000000u - 0x60000000u, TH_ACK, buf + 25, m - 25, 2);
    CHECK_EQ_INT(nrec, 6 + 5);
    CHECK_EQ_INT(recs[nrec - 1].seqno, 106);
    /* its next segment is in order with it */
    size_t k = mkstream(buf, 2, 201);
    seg(t, 0, 0x80000000u - 0x60000000u + (uint32_t)(m - 25), TH_ACK, buf, k, 3);
    CHECK_EQ_INT(nrec, 6 + 5 + 2);
    /* 1 GB ahead: another one; no gigabyte hole counted */
    k = mkstream(buf, 2, 301);
    seg(t, 0, 0x20000000u + 0x40000000u, TH_ACK, buf, k, 4);
    CHECK_EQ_INT(nrec, 6 + 5 + 2 + 2);
    CHECK_EQ_INT(recs[nrec - 1].seqno, 302);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.seq_jumps, 2);
    CHECK_EQ_INT(st.gap_bytes, 0);
    CHECK_EQ_INT(st.retrans_bytes, 0);
    stream_free(t);
}

static void test_wraparound(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 12, 1);
    uint32_t isn = 0xFFFFFF00u;
    seg(t, 0, isn, TH_SYN, NULL, 0, 1);
    size_t cuts[] = {100, 200, 256, 300, 400};
    int order[] = {0, 2, 1, 3, 5, 4};
    feed_pieces(t, isn + 1, buf, n, cuts, 5, order, 2);
    check_seqnos(12, 1);
    uint64_t off = 0;
    for (int i = 0; i < nrec; i++) {
        CHECK_EQ_INT(recs[i].off, off);
        off += recs[i].len;
    }
    stream_free(t);
}

static void test_rst(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    size_t n = mkstream(buf, 2, 1);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1, TH_ACK, buf, n - 10, 2);
    seg(t, 1, 900, TH_RST, NULL, 0, 3);
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(nev[STREAM_EV_RST], 1);
    CHECK_EQ_INT(nend, 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.flows_active, 0);
    CHECK_EQ_INT(st.flows_reset, 1);
    CHECK_EQ_INT(st.buffered_bytes, st.buffered_peak ? st.buffered_bytes : 0);
    CHECK_EQ_INT(st.partial_dropped, n - 10 - recs[0].len);
    /* a RST for an unknown flow creates nothing */
    seg(t, 0, 5, TH_RST, NULL, 0, 4);
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.flows_created, 1);
    stream_free(t);
}

/* Many flows, a small table and a small memcap: flows are evicted (counted),
 * buffered memory never exceeds the cap. */
static void test_eviction_memcap(void)
{
    const uint64_t memcap = 64 * 1024;
    stream_table_t *t = table(64, memcap, 8192, 4096);
    uint8_t p[3000];
    size_t pl = mkpdu(p, 4, 1, 2900);
    const int flows = 1000000;
    for (int i = 0; i < flows; i++) {
        struct sg_endpoint c = ep(0x0A000000u + (uint32_t)i, (uint16_t)(1024 + i % 50000));
        g_cli = &c;
        g_srv = &srv_ep;
        /* half a PDU, so that each flow wants a buffer */
        seg(t, 0, 1000, TH_ACK, p, i % 16 == 0 ? pl / 2 : 16, (sg_time_us)i);
    }
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.flows_created, flows);
    CHECK_EQ_INT(st.flows_evicted, flows - 64);
    CHECK_EQ_INT(st.flows_active, 64);
    CHECK_EQ_INT(nev[STREAM_EV_EVICTED], flows - 64);
    CHECK_EQ_INT(nend, flows - 64);
    CHECK_MSG(st.buffered_peak <= memcap, "peak %llu", (unsigned long long)st.buffered_peak);
    CHECK(st.buffered_bytes <= memcap);
    CHECK(st.memcap_drops > 0);
    CHECK(st.table_bytes > 0);
    stream_flush(t);
    stream_get_stats(t, &st);
    CHECK_EQ_INT(nend, flows);
    CHECK_EQ_INT(st.flows_active, 0);
    stream_free(t);
    g_cli = &cli_ep;
    g_srv = &srv_ep;

    /* memcap hit on one flow: its PDU is dropped, framing kept, the next
     * PDU delivered */
    t = table(0, 3 * 4096, 0, 0);
    struct sg_endpoint c2 = ep(0x0B000001u, 4000), c3 = ep(0x0B000002u, 4000),
                       c4 = ep(0x0B000003u, 4000), c5 = ep(0x0B000004u, 4000);
    const struct sg_endpoint *cs[4] = {&c2, &c3, &c4, &c5};
    for (int i = 0; i < 4; i++) {
        g_cli = cs[i];
        seg(t, 0, 0, TH_SYN, NULL, 0, 1);
        seg(t, 0, 1, TH_ACK, p, 1000, 2); /* each needs a 4 KiB buffer: the 4th fails */
    }
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.memcap_drops, 1);
    CHECK(st.buffered_peak <= 3 * 4096);
    g_cli = &c5;
    uint8_t q[64];
    size_t ql = mkpdu(q, 0x15, 9, 0);
    seg(t, 0, 1 + 1000, TH_ACK, p + 1000, pl - 1000, 3);
    seg(t, 0, 1 + (uint32_t)pl, TH_ACK, q, ql, 4);
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(recs[0].seqno, 9);
    CHECK_EQ_INT(nev[STREAM_EV_RESYNC], 0);
    stream_free(t);
    g_cli = &cli_ep;
}

static void test_not_smpp(void)
{
    stream_table_t *t = table(0, 0, 0, 0);
    static uint8_t http[8192];
    for (size_t i = 0; i < sizeof http; i++)
        http[i] = (uint8_t)("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"[i % 38]);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    uint32_t seq = 1;
    for (int i = 0; i < 40; i++) {
        seg(t, 0, seq, TH_ACK, http, sizeof http, 2);
        seq += sizeof http;
    }
    CHECK_EQ_INT(nrec, 0);
    CHECK_EQ_INT(nev[STREAM_EV_NOT_SMPP], 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.flows_not_smpp, 1);
    CHECK(st.not_smpp_bytes >= 2 * SMPP_MAX_PDU_LEN);
    CHECK_EQ_INT(st.buffered_bytes, st.buffered_peak ? st.buffered_bytes : 0);
    uint64_t before = st.hunt_bytes;
    seg(t, 0, seq, TH_ACK, http, sizeof http, 3);
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.hunt_bytes, before); /* ignored cheaply: not even hunted */
    stream_free(t);
}

static void test_oversize(void)
{
    stream_table_t *t = table(0, 0, 1024, 0);
    uint8_t p[4096];
    size_t a = mkpdu(p, 4, 1, 1984); /* 2000 bytes > max_flow_buffer */
    size_t b = mkpdu(p + a, 0x15, 2, 0);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    /* whole in one segment: delivered without buffering */
    seg(t, 0, 1, TH_ACK, p, a + b, 2);
    CHECK_EQ_INT(nrec, 2);
    /* straddling: cannot buffer, skipped, framing kept */
    uint32_t seq = 1 + (uint32_t)(a + b);
    seg(t, 0, seq, TH_ACK, p, 700, 3);
    seg(t, 0, seq + 700, TH_ACK, p + 700, a + b - 700, 4);
    CHECK_EQ_INT(nrec, 3);
    CHECK_EQ_INT(recs[2].seqno, 2);
    CHECK_EQ_INT(nev[STREAM_EV_OVERSIZE], 1);
    /* a known command with command_length above SMPP_MAX_PDU_LEN */
    uint8_t big[32];
    mkpdu(big, 4, 3, 1);
    big[0] = 0x7F;
    seq += (uint32_t)(a + b);
    seg(t, 0, seq, TH_ACK, big, 17, 5);
    CHECK_EQ_INT(nev[STREAM_EV_OVERSIZE], 2);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.oversize, 2);
    CHECK(st.buffered_peak <= 1024);
    stream_free(t);
}

static void test_ports_and_timeout(void)
{
    struct stream_config c;
    stream_config_default(&c);
    uint16_t ports[] = {2775};
    c.ports = ports;
    c.n_ports = 1;
    c.idle_timeout_s = 10;
    reset();
    stream_table_t *t = stream_new(&c, &sink);
    size_t n = mkstream(buf, 2, 1);
    struct sg_endpoint s2775 = ep(0x0A000001u, 2775), s80 = ep(0x0A000001u, 80);
    g_srv = &s80;
    seg(t, 0, 1, TH_ACK, buf, n, 1000000);
    CHECK_EQ_INT(nrec, 0);
    g_srv = &s2775;
    seg(t, 1, 1, TH_ACK, buf, n, 1000000); /* server -> client: dir 0 is the first seen */
    CHECK_EQ_INT(nrec, 2);
    CHECK_EQ_INT(recs[0].dir, 0);
    seg(t, 0, 1, TH_ACK, buf, n - 5, 2000000);
    CHECK_EQ_INT(recs[2].dir, 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.port_ignored, 1);
    stream_expire(t, 5000000);
    CHECK_EQ_INT(nend, 0);
    stream_expire(t, 13000000);
    CHECK_EQ_INT(nend, 1);
    CHECK_EQ_INT(nev[STREAM_EV_TIMEOUT], 1);
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.flows_timed_out, 1);
    CHECK_EQ_INT(st.flows_active, 0);
    stream_free(t);
    g_srv = &srv_ep;
}

/* Framing fixes made here: outbind has no response; a minimal data_sm
 * (three empty C-strings, seven octets: body 10) passes the strict check. */
static void test_frame_check(void)
{
    uint8_t p[64];
    uint32_t len;
    CHECK(smpp_command_known(0x0000000B));
    CHECK(!smpp_command_known(0x8000000B));
    mkpdu(p, 0x00000103, 1, 10);
    CHECK_EQ_INT(smpp_frame_check(p, 26, 1, &len), SMPP_FRAME_OK);
    CHECK_EQ_INT(len, 26);
    mkpdu(p, 0x00000103, 1, 9);
    CHECK_EQ_INT(smpp_frame_check(p, 25, 1, &len), SMPP_FRAME_BAD);
    mkpdu(p, 0x00000004, 1, 16);
    CHECK_EQ_INT(smpp_frame_check(p, 32, 1, &len), SMPP_FRAME_BAD);
    CHECK_EQ_INT(smpp_frame_check(p, 32, 0, &len), SMPP_FRAME_OK);
    CHECK_EQ_INT(smpp_frame_check(p, 15, 0, &len), SMPP_FRAME_NEED_MORE);
}

/* The command_ids of SMPP v3.4 (§5.1.2.1) and v5.0 (§4.7.5), written out as
 * smpp-frame.c had them before its bit table: the table must say the
 * same for every id. */
static int known_by_list(uint32_t id)
{
    if (id == 0x80000000u) /* generic_nack */
        return 1;
    switch (id & ~SMPP_RESP_BIT) {
    case 0x00000001: case 0x00000002: case 0x00000003: case 0x00000004:
    case 0x00000005: case 0x00000006: case 0x00000007: case 0x00000008:
    case 0x00000009: case 0x00000015: case 0x00000021:
    case 0x00000103:
    case 0x00000111: case 0x00000112: case 0x00000113:
        return 1;
    case 0x00000102: /* alert_notification: request only */
    case 0x0000000B: /* outbind: request only */
        return (id & SMPP_RESP_BIT) == 0;
    default:
        return 0;
    }
}

/* smpp_command_known() and the inline checks against the list, and
 * smpp_frame_check_loose() against smpp_frame_check(..., 0, ...), on every
 * id below 0x1000 either way, single bits, and random words. */
static void test_known_ids(void)
{
    uint32_t st = 99;
    int bad = 0, frames = 0;
    for (uint32_t i = 0; i < 0x2000 + 64 + 200000; i++) {
        uint32_t id;
        if (i < 0x2000)
            id = (i & 0xFFF) | (i & 0x1000 ? SMPP_RESP_BIT : 0);
        else if (i < 0x2000 + 64)
            id = (1u << ((i - 0x2000) & 31)) | (i & 32 ? 0x103u : 0);
        else {
            st = st * 1103515245u + 12345u;
            id = (st >> ((st >> 28) & 15)) ^ (st & 0x80000000u);
        }
        int want = known_by_list(id);
        bad += !!smpp_command_known(id) != want;
        bad += !!smpp_command_known_inline(id) != want;
        uint8_t h[16];
        uint32_t lens[] = {0, 15, 16, 17, 1000, SMPP_MAX_PDU_LEN, SMPP_MAX_PDU_LEN + 1, 0xFFFFFFFFu};
        uint32_t plen = lens[i % 8];
        uint32_t v[4] = {plen, id, i, i * 7};
        for (int k = 0; k < 16; k++)
            h[k] = (uint8_t)(v[k / 4] >> (24 - 8 * (k % 4)));
        for (size_t avail = 15; avail <= 16; avail++) {
            uint32_t l1 = 12345, l2 = 12345;
            enum smpp_frame_verdict a = smpp_frame_check(h, avail, 0, &l1);
            enum smpp_frame_verdict b = smpp_frame_check_loose(h, avail, &l2);
            bad += a != b || l1 != l2;
            frames += a == SMPP_FRAME_OK;
        }
    }
    CHECK_MSG(bad == 0, "%d disagreements", bad);
    CHECK(frames > 10);
}

/* Property test: a long stream cut at random points, segments reordered
 * within a few places, some duplicated and (in the lossy rounds) some lost.
 * Without loss every PDU arrives once, in order; with loss every PDU
 * delivered is byte-identical to the original at its offset. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static const uint8_t *orig;
static size_t orig_len;
static int mismatches;

static void cmp_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                    size_t len, uint64_t off)
{
    on_pdu(ctx, f, ts, p, len, off);
    if (off + len > orig_len || memcmp(orig + off, p, len) != 0)
        mismatches++;
}

static void test_random(void)
{
    static uint8_t s[200000];
    size_t n = 0;
    int npdu = 0;
    while (n < sizeof s - 2000) {
        uint32_t body = rnd() % 4 == 0 ? 0 : 17 + rnd() % 1500;
        n += mkpdu(s + n, body ? 4 : 0x15, (uint32_t)++npdu, body);
    }
    orig = s;
    orig_len = n;
    struct stream_sink cs = sink;
    cs.pdu = cmp_pdu;
    for (int round = 0; round < 40; round++) {
        int lossy = round >= 20;
        struct stream_config c;
        stream_config_default(&c);
        c.ooo_window = 16384;
        reset();
        mismatches = 0;
        stream_table_t *t = stream_new(&c, &cs);
        uint32_t isn = rnd();
        seg(t, 0, isn, TH_SYN, NULL, 0, 1);
        size_t cuts[64];
        size_t at = 0;
        while (at < n) {
            int k = 0;
            for (; k < 64 && at < n; k++) {
                size_t len = 1 + rnd() % (round % 2 ? 1460 : 200);
                if (len > n - at)
                    len = n - at;
                cuts[k] = at;
                at += len;
            }
            size_t end = at;
            int order[64];
            for (int i = 0; i < k; i++)
                order[i] = i;
            for (int i = 0; i + 1 < k; i++)
                if (rnd() % 3 == 0) {
                    int j = i + 1 + (int)(rnd() % 3);
                    if (j >= k)
                        j = k - 1;
                    int x = order[i];
                    order[i] = order[j];
                    order[j] = x;
                }
            for (int i = 0; i < k; i++) {
                int p = order[i];
                size_t b = cuts[p], e = p + 1 < k ? cuts[p + 1] : end;
                if (lossy && rnd() % 50 == 0)
                    continue;
                seg(t, 0, isn + 1 + (uint32_t)b, TH_ACK, s + b, e - b, 10);
                if (rnd() % 10 == 0)
                    seg(t, 0, isn + 1 + (uint32_t)b, TH_ACK, s + b, e - b, 10);
            }
        }
        stream_flush(t);
        struct stream_stats st;
        stream_get_stats(t, &st);
        CHECK_MSG(mismatches == 0, "round %d: %d PDUs differ from the original", round, mismatches);
        if (!lossy) {
            CHECK_MSG(nrec == npdu, "round %d: %d of %d PDUs", round, nrec, npdu);
            CHECK_EQ_INT(st.gaps, 0);
        } else {
            if (getenv("SG_VERBOSE")) fprintf(stderr, "round %d: %d of %d\n", round, nrec, npdu);
            CHECK_MSG(nrec > npdu * 3 / 4, "round %d: %d of %d PDUs, gaps %llu gap_bytes %llu resyncs %llu hunt %llu ooo_dropped %llu memcap %llu partial %llu", round, nrec, npdu,
                      (unsigned long long)st.gaps, (unsigned long long)st.gap_bytes, (unsigned long long)st.resyncs,
                      (unsigned long long)st.hunt_bytes, (unsigned long long)st.ooo_dropped, (unsigned long long)st.memcap_drops, (unsigned long long)st.partial_dropped);
        }
        for (int i = 1; i < nrec; i++)
            CHECK(recs[i].seqno > recs[i - 1].seqno);
        CHECK_EQ_INT(st.buffered_bytes, st.buffered_bytes <= c.max_buffered_bytes ? st.buffered_bytes : 0);
        stream_free(t);
    }
}

/* Flows ended in random order (RST) keep every other flow findable:
 * exercises probing and backward-shift deletion in the flow index. */
static uint64_t last_flow_id;
static void id_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                   size_t len, uint64_t off)
{
    on_pdu(ctx, f, ts, p, len, off);
    last_flow_id = f->flow_id;
}

static void test_table_churn(void)
{
    struct stream_config c;
    stream_config_default(&c);
    c.max_flows = 300;
    struct stream_sink sk = sink;
    sk.pdu = id_pdu;
    reset();
    stream_table_t *t = stream_new(&c, &sk);
    enum { N = 280 };
    static struct sg_endpoint eps[N];
    uint64_t ids[N];
    int alive[N];
    uint8_t p[64];
    size_t pl = mkpdu(p, 0x15, 1, 0);
    uint64_t created = 0;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            if (round && alive[i])
                continue;
            eps[i] = ep(0x0A000000u + (uint32_t)(rnd() % 1000), (uint16_t)(1 + i));
            g_cli = &eps[i];
            seg(t, 0, 0, TH_SYN, NULL, 0, 1);
            seg(t, 0, 1, TH_ACK, p, pl, 2);
            ids[i] = last_flow_id;
            alive[i] = 1;
            created++;
        }
        for (int i = 0; i < N; i++)
            if (rnd() % 2) {
                g_cli = &eps[i];
                seg(t, 1, 77, TH_RST, NULL, 0, 3);
                alive[i] = 0;
            }
        for (int i = 0; i < N; i++) {
            if (!alive[i])
                continue;
            g_cli = &eps[i];
            last_flow_id = 0;
            seg(t, 0, 1 + (uint32_t)pl, TH_ACK, p, pl, 4);
            CHECK_MSG(last_flow_id == ids[i], "round %d flow %d: id %llu want %llu", round, i,
                      (unsigned long long)last_flow_id, (unsigned long long)ids[i]);
            seg(t, 0, 1, TH_ACK, p, pl, 4); /* back to the old sequence: a retransmission */
        }
        /* the same segment again is a retransmission on every live flow */
        struct stream_stats st;
        stream_get_stats(t, &st);
        CHECK_EQ_INT(st.flows_created, created);
        CHECK_EQ_INT(st.flows_evicted, 0);
        /* re-feed at the advanced sequence next round */
        for (int i = 0; i < N; i++)
            if (alive[i]) {
                g_cli = &eps[i];
                seg(t, 0, 1, TH_RST, NULL, 0, 5);
                alive[i] = 0;
            }
    }
    stream_free(t);
    g_cli = &cli_ep;
}

/* The memcap is hit while a straddling PDU grows its buffer, and while
 * in-order data fills a hole: the damaged PDU is dropped and counted, framing
 * survives, later PDUs are delivered. */
static void test_memcap_paths(void)
{
    static uint8_t p[20000];
    size_t a = mkpdu(p, 4, 1, 6000); /* needs an 8 KiB buffer */
    size_t b = mkpdu(p + a, 0x15, 2, 0);
    stream_table_t *t = table(0, 6000, 0, 0);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1, TH_ACK, p, 1000, 2);          /* 4 KiB buffer: fits the cap */
    seg(t, 0, 1001, TH_ACK, p + 1000, a + b - 1000, 3); /* growth to 8 KiB: refused */
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(recs[0].seqno, 2);
    CHECK_EQ_INT(nev[STREAM_EV_GAP], 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.memcap_drops, 1);
    CHECK(st.buffered_peak <= 6000);
    CHECK_EQ_INT(st.partial_dropped, 1000);  /* buffered, then given up */
    CHECK_EQ_INT(st.gap_bytes, a - 1000);     /* never stored */
    stream_free(t);

    /* in-order data arriving while a hole's far side is held needs growth */
    t = table(0, 4096, 0, 0);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1, TH_ACK, p, 1000, 2);
    seg(t, 0, 1 + 3000, TH_ACK, p + 3000, 1000, 3);
    seg(t, 0, 1 + 6000, TH_ACK, p + 6000, 100, 4); /* ooo, needs 8 KiB: dropped */
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.ooo_dropped, 1);
    seg(t, 0, 1 + 1000, TH_ACK, p + 1000, 4000, 5); /* fills past the held range */
    seg(t, 0, 1 + 5000, TH_ACK, p + 5000, a + b - 5000, 6);
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(recs[0].seqno, 2);
    stream_get_stats(t, &st);
    CHECK(st.memcap_drops >= 2);
    CHECK(st.buffered_peak <= 4096);
    stream_free(t);

    /* out-of-order data held, then the in-order fill needs more room */
    t = table(0, 4096, 0, 0);
    seg(t, 0, 0, TH_SYN, NULL, 0, 1);
    seg(t, 0, 1 + 3000, TH_ACK, p + 3000, 1000, 2); /* held in a 4 KiB buffer */
    seg(t, 0, 1, TH_ACK, p, 3000, 3);               /* fills: fits */
    seg(t, 0, 1 + 4000, TH_ACK, p + 4000, a + b - 4000, 4); /* growth refused */
    CHECK_EQ_INT(nrec, 1);
    CHECK_EQ_INT(recs[0].seqno, 2);
    stream_get_stats(t, &st);
    CHECK(st.memcap_drops >= 1);
    CHECK(st.buffered_peak <= 4096);
    stream_free(t);
}

/* The in-order fast paths (the previous segment's flow tried first; bytes
 * appended to an incomplete PDU without parsing it again; a PDU completed
 * in the buffer delivered at once) against the general path.  Two flows
 * carry the same kind of stream: PDUs of every size from a bare header up,
 * and PDUs longer than max_flow_buffer (skipped, framing kept).  Each is
 * fed four ways: one PDU per segment; random pieces of 1 to 40 octets in
 * runs per flow (the fast paths); the same pieces alternating between the
 * flows (a different flow every segment and the table in
 * stream_set_general_only() mode: the lookup and the general path each
 * time); pieces alternating with a SYN-less duplicate of the last
 * piece (retransmissions, through the general path).  What is delivered
 * (flow, direction, offset, length, sequence number, octets), the events
 * and the stream counters other than copies must not depend on the way. */
struct diff_run {
    int n;
    struct rec r[2000];
    int ev[16];
    struct stream_stats st;
};
static struct diff_run *diff_cur;
static const uint8_t *diff_src[2];
static int diff_bad_octets;

static void diff_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                     size_t len, uint64_t off)
{
    (void)ctx;
    (void)ts;
    struct diff_run *d = diff_cur;
    /* flows are opened client first, so flow ids are 1 and 2 */
    int which = (int)f->flow_id - 1;
    if (which < 0 || which > 1 || memcmp(diff_src[which] + off, p, len) != 0)
        diff_bad_octets++;
    if (d->n < 2000)
        d->r[d->n++] = (struct rec){f->flow_id, f->dir, (uint32_t)len, off, smpp_be32(p + 4),
                                    smpp_be32(p + 12), 0};
}

static void diff_event(void *ctx, const struct stream_flow_info *f, sg_time_us ts,
                       enum stream_event ev, uint64_t off, uint64_t bytes, const char *why)
{
    (void)ctx, (void)f, (void)ts, (void)off, (void)bytes, (void)why;
    diff_cur->ev[ev]++;
}

static void test_fast_path_differential(void)
{
    static uint8_t s[2][60000];
    size_t n[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        uint32_t seqno = 1 + 100000u * (uint32_t)k;
        while (n[k] < sizeof s[k] - 4000) {
            uint32_t r = rnd() % 16, body;
            if (r < 3)
                body = 0; /* header only: enquire_link */
            else if (r == 3)
                body = 2100 + rnd() % 1000; /* above max_flow_buffer below */
            else
                body = 17 + rnd() % 300;
            n[k] += mkpdu(s[k] + n[k], body ? 4 : 0x15, seqno++, body);
        }
        diff_src[k] = s[k];
    }
    struct stream_sink ds = {NULL, diff_pdu, diff_event, NULL};
    static struct diff_run runs[4];
    static size_t cuts[2][60000];
    for (int round = 0; round < 6; round++) {
        size_t ncut[2];
        for (int k = 0; k < 2; k++) {
            ncut[k] = 0;
            for (size_t at = 0; at < n[k];) {
                cuts[k][ncut[k]++] = at;
                at += 1 + rnd() % (round % 2 ? 40 : 6);
            }
        }
        for (int way = 0; way < 4; way++) {
            struct stream_config c;
            stream_config_default(&c);
            c.max_flow_buffer = 2048;
            memset(&runs[way], 0, sizeof runs[way]);
            diff_cur = &runs[way];
            diff_bad_octets = 0;
            stream_table_t *t = stream_new(&c, &ds);
            /* ways 2 and 3 change flow on every segment: the general path */
            stream_set_general_only(t, way >= 2);
            const struct sg_endpoint cli2 = ep(0x0A000009u, 40001), srv2 = ep(0x0A000001u, 2775);
            const struct sg_endpoint *cl[2] = {&cli_ep, &cli2}, *sv[2] = {&srv_ep, &srv2};
            uint32_t isn[2] = {0xFFFFF000u, 77};
            for (int k = 0; k < 2; k++) {
                g_cli = cl[k], g_srv = sv[k];
                seg(t, 0, isn[k], TH_SYN, NULL, 0, 1);
            }
            size_t next[2] = {0, 0}; /* next cut (ways 1-3) or PDU offset (way 0) */
            size_t rest_end[2] = {0, 0};
            int k = 0;
            while (next[0] < (way ? ncut[0] : n[0]) || next[1] < (way ? ncut[1] : n[1])) {
                if (next[k] >= (way ? ncut[k] : n[k]))
                    k = !k;
                g_cli = cl[k], g_srv = sv[k];
                size_t b, e;
                if (way == 0) {
                    /* a PDU too long to buffer is cut after 100 octets, as
                     * it is in the other ways: skipped, not delivered */
                    b = next[k];
                    if (rest_end[k]) {
                        e = rest_end[k];
                        rest_end[k] = 0;
                    } else {
                        uint32_t plen = smpp_be32(s[k] + b);
                        e = b + plen;
                        if (plen > c.max_flow_buffer) {
                            rest_end[k] = e;
                            e = b + 100;
                        }
                    }
                    next[k] = e;
                } else {
                    b = cuts[k][next[k]];
                    e = next[k] + 1 < ncut[k] ? cuts[k][next[k] + 1] : n[k];
                    next[k]++;
                }
                seg(t, 0, isn[k] + 1 + (uint32_t)b, TH_ACK, s[k] + b, e - b, 10);
                if (way == 3 && rnd() % 3 == 0)
                    seg(t, 0, isn[k] + 1 + (uint32_t)b, TH_ACK, s[k] + b, e - b, 10);
                /* way 1: runs of up to 8 segments per flow; 2 and 3: alternate */
                if (way != 1 || rnd() % 8 == 0)
                    k = !k;
            }
            stream_flush(t);
            stream_get_stats(t, &runs[way].st);
            stream_free(t);
            CHECK_MSG(diff_bad_octets == 0, "round %d way %d: %d PDUs unlike what was sent", round,
                      way, diff_bad_octets);
        }
        g_cli = &cli_ep, g_srv = &srv_ep;
        /* way 0 delivers in the order the flows were fed; compare per flow */
        for (int way = 1; way < 4; way++) {
            int same = 1;
            for (int fl = 1; fl <= 2; fl++) {
                int i = 0, j = 0;
                for (;;) {
                    while (i < runs[0].n && runs[0].r[i].flow != (uint64_t)fl)
                        i++;
                    while (j < runs[way].n && runs[way].r[j].flow != (uint64_t)fl)
                        j++;
                    if (i >= runs[0].n || j >= runs[way].n) {
                        same &= i >= runs[0].n && j >= runs[way].n;
                        break;
                    }
                    const struct rec *a = &runs[0].r[i++], *b = &runs[way].r[j++];
                    same &= a->dir == b->dir && a->len == b->len && a->off == b->off &&
                            a->cmd == b->cmd && a->seqno == b->seqno;
                }
            }
            CHECK_MSG(same && runs[way].n == runs[0].n, "round %d way %d: %d PDUs, %d one per segment",
                      round, way, runs[way].n, runs[0].n);
            CHECK_MSG(memcmp(runs[way].ev, runs[0].ev, sizeof runs[0].ev) == 0,
                      "round %d way %d: events differ", round, way);
            const struct stream_stats *a = &runs[0].st, *b = &runs[way].st;
            CHECK_MSG(a->pdus == b->pdus && a->pdu_bytes == b->pdu_bytes && a->oversize == b->oversize &&
                          a->partial_dropped == b->partial_dropped && a->sync_lost == b->sync_lost &&
                          a->gaps == b->gaps && a->hunt_bytes == b->hunt_bytes &&
                          a->retrans_bytes <= b->retrans_bytes,
                      "round %d way %d: counters differ", round, way);
        }
        CHECK(runs[0].st.oversize > 0);
        CHECK_EQ_INT(runs[0].st.gaps, 0);
    }
}

/* The hole shapes stream_feed() takes without feed_general() (feed_hole():
 * in-order data in one direction while the other waits on a hole, and
 * data appended to the last out-of-order range) against feed_general().
 * Two flows carry PDU streams both ways, cut into pieces of 1 to 60
 * octets; some pieces are lost (never fed: the hole times out or the flow
 * ends on it), some come late (a few pieces on), some twice.  Each round
 * feeds one schedule two ways: the flows' segments in runs (the fast
 * paths), then a third flow's; and the same segments, each followed by
 * one of the third flow, the table in stream_set_general_only() mode (a
 * different flow every segment: the lookup and feed_general() every
 * time).  Every flow sees the same segments at the
 * same times both ways, so what each delivers, its events and every
 * counter must be the same. */
struct hole_piece {
    uint8_t flow, dir;
    uint32_t at, len;
    sg_time_us ts;
};
static struct hole_piece hole_sched[12000];
static struct {
    int n;
    struct rec r[40000];
    struct stream_stats st;
} hole_runs[2];
static int hole_run, hole_bad_octets;
static int hole_ev[2][4][16];
static const uint8_t *hole_src[3][2];

static void hole_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                     size_t len, uint64_t off)
{
    (void)ctx;
    (void)ts;
    /* flows are opened in order, client first: ids 1 to 3, direction 0
     * from the client */
    if (f->flow_id < 1 || f->flow_id > 3 || memcmp(hole_src[f->flow_id - 1][f->dir] + off, p, len) != 0)
        hole_bad_octets++;
    if (hole_runs[hole_run].n < 40000)
        hole_runs[hole_run].r[hole_runs[hole_run].n++] =
            (struct rec){f->flow_id, f->dir, (uint32_t)len, off, smpp_be32(p + 4), smpp_be32(p + 12), 0};
}

static void hole_event(void *ctx, const struct stream_flow_info *f, sg_time_us ts,
                       enum stream_event ev, uint64_t off, uint64_t bytes, const char *why)
{
    (void)ctx, (void)ts, (void)off, (void)bytes, (void)why;
    if (f->flow_id <= 3)
        hole_ev[hole_run][f->flow_id][ev]++;
}

static void test_hole_differential(void)
{
    static uint8_t hs[2][2][24000];
    size_t hn[2][2];
    for (int k = 0; k < 2; k++)
        for (int dir = 0; dir < 2; dir++) {
            uint32_t seqno = 1 + 100000u * (uint32_t)(2 * k + dir);
            size_t n = 0;
            while (n < sizeof hs[k][dir] - 4000) {
                uint32_t r = rnd() % 16, body;
                if (r < 4)
                    body = 0;
                else if (r == 4)
                    body = 1500 + rnd() % 1500; /* longer than max_flow_buffer in some rounds */
                else
                    body = 17 + rnd() % 200;
                n += mkpdu(hs[k][dir] + n, body ? (dir ? 5 : 4) : 0x15, seqno++, body);
            }
            hn[k][dir] = n;
            hole_src[k][dir] = hs[k][dir];
        }
    static uint8_t dummy[16 * 12000];
    for (int i = 0; i < 12000; i++)
        mkpdu(dummy + 16 * i, 0x15, 900000u + (uint32_t)i, 0);
    hole_src[2][0] = hole_src[2][1] = dummy;
    hole_bad_octets = 0;
    struct stream_sink hsink = {NULL, hole_pdu, hole_event, NULL};
    const struct sg_endpoint cli2 = ep(0x0A000009u, 40001), srv2 = ep(0x0A000001u, 2775);
    const struct sg_endpoint cli3 = ep(0x0A000077u, 40077), srv3 = ep(0x0A000001u, 2776);
    const struct sg_endpoint *cl[3] = {&cli_ep, &cli2, &cli3}, *sv[3] = {&srv_ep, &srv2, &srv3};
    const uint32_t isn[3][2] = {{0xFFFFF000u, 5000}, {77, 0x7FFFFFF0u}, {1000, 2000}};
    uint64_t total_ooo = 0, total_gaps = 0;
    for (int round = 0; round < 8; round++) {
        /* Pieces per flow and direction, in order, then the schedule:
         * runs of a few pieces of one direction of one flow. */
        size_t next[2][2] = {{0, 0}, {0, 0}};
        int nsched = 0, k = 0, dir = 0;
        sg_time_us now = 1000000;
        int lose = round % 4 == 3 ? 8 : 40; /* one piece in lose is lost */
        while (nsched < 11000) {
            if (next[k][dir] >= hn[k][dir]) {
                if (next[0][0] >= hn[0][0] && next[0][1] >= hn[0][1] && next[1][0] >= hn[1][0] &&
                    next[1][1] >= hn[1][1])
                    break;
                k = rnd() % 2, dir = rnd() % 2;
                continue;
            }
            uint32_t len = 1 + rnd() % 60;
            if (next[k][dir] + len > hn[k][dir])
                len = (uint32_t)(hn[k][dir] - next[k][dir]);
            now += rnd() % (round % 2 ? 30000 : 3000);
            struct hole_piece pc = {(uint8_t)k, (uint8_t)dir, (uint32_t)next[k][dir], len, now};
            next[k][dir] += len;
            uint32_t r = rnd() % (uint32_t)lose;
            if (r == 0)
                continue; /* lost */
            hole_sched[nsched++] = pc;
            if (r == 1 && nsched >= 2) {
                /* late: after the piece before it */
                struct hole_piece x = hole_sched[nsched - 1];
                hole_sched[nsched - 1] = hole_sched[nsched - 2];
                hole_sched[nsched - 2] = x;
                hole_sched[nsched - 2].ts = hole_sched[nsched - 1].ts;
                hole_sched[nsched - 1].ts = now;
            } else if (r == 2 && nsched < 11000) {
                hole_sched[nsched] = pc; /* again: a retransmission */
                hole_sched[nsched++].ts = now;
            }
            if (rnd() % 6 == 0)
                dir = !dir;
            if (rnd() % 10 == 0)
                k = !k;
        }
        for (int way = 0; way < 2; way++) {
            struct stream_config c;
            stream_config_default(&c);
            if (round % 4 == 1)
                c.ooo_window = 2048;
            if (round % 4 == 2)
                c.max_flow_buffer = 2048;
            if (round >= 6)
                c.max_buffered_bytes = 16384;
            memset(&hole_runs[way], 0, sizeof hole_runs[way]);
            memset(hole_ev[way], 0, sizeof hole_ev[way]);
            hole_run = way;
            stream_table_t *t = stream_new(&c, &hsink);
            CHECK(t != NULL);
            if (!t)
                return;
            stream_set_general_only(t, way == 1);
            for (int f = 0; f < 3; f++) {
                g_cli = cl[f], g_srv = sv[f];
                seg(t, 0, isn[f][0], TH_SYN, NULL, 0, 1);
                seg(t, 1, isn[f][1], TH_SYN | TH_ACK, NULL, 0, 1);
            }
            int nd = 0;
            for (int i = 0; i < nsched; i++) {
                const struct hole_piece *pc = &hole_sched[i];
                g_cli = cl[pc->flow], g_srv = sv[pc->flow];
                seg(t, pc->dir, isn[pc->flow][pc->dir] + 1 + pc->at, TH_ACK,
                    hs[pc->flow][pc->dir] + pc->at, pc->len, pc->ts);
                if (way == 1) {
                    g_cli = cl[2], g_srv = sv[2];
                    seg(t, 0, isn[2][0] + 1 + 16u * (uint32_t)nd, TH_ACK, dummy + 16 * nd, 16, pc->ts);
                    nd++;
                }
            }
            for (g_cli = cl[2], g_srv = sv[2]; way == 0 && nd < nsched; nd++)
                seg(t, 0, isn[2][0] + 1 + 16u * (uint32_t)nd, TH_ACK, dummy + 16 * nd, 16, now);
            stream_flush(t);
            stream_get_stats(t, &hole_runs[way].st);
            stream_free(t);
        }
        g_cli = &cli_ep, g_srv = &srv_ep;
        int same = 1;
        for (int fl = 1; fl <= 2; fl++) {
            int i = 0, j = 0;
            for (;;) {
                while (i < hole_runs[0].n && hole_runs[0].r[i].flow != (uint64_t)fl)
                    i++;
                while (j < hole_runs[1].n && hole_runs[1].r[j].flow != (uint64_t)fl)
                    j++;
                if (i >= hole_runs[0].n || j >= hole_runs[1].n) {
                    same &= i >= hole_runs[0].n && j >= hole_runs[1].n;
                    break;
                }
                const struct rec *a = &hole_runs[0].r[i++], *b = &hole_runs[1].r[j++];
                same &= a->dir == b->dir && a->len == b->len && a->off == b->off &&
                        a->cmd == b->cmd && a->seqno == b->seqno;
            }
        }
        CHECK_MSG(same, "round %d: flows deliver differently (%d and %d PDUs)", round,
                  hole_runs[0].n, hole_runs[1].n);
        CHECK_MSG(memcmp(hole_ev[0], hole_ev[1], sizeof hole_ev[0]) == 0, "round %d: events differ",
                  round);
        struct stream_stats a = hole_runs[0].st, b = hole_runs[1].st;
        CHECK_MSG(memcmp(&a, &b, sizeof a) == 0,
                  "round %d: counters differ (ooo %llu/%llu, copied %llu/%llu, gaps %llu/%llu)", round,
                  (unsigned long long)a.ooo_segments, (unsigned long long)b.ooo_segments,
                  (unsigned long long)a.copied_bytes, (unsigned long long)b.copied_bytes,
                  (unsigned long long)a.gaps, (unsigned long long)b.gaps);
        total_ooo += a.ooo_segments;
        total_gaps += a.gaps;
    }
    CHECK_MSG(hole_bad_octets == 0, "%d PDUs unlike what was sent", hole_bad_octets);
    /* the shapes were there to take */
    CHECK_MSG(total_ooo > 1000 && total_gaps > 10, "%llu out-of-order segments, %llu gaps",
              (unsigned long long)total_ooo, (unsigned long long)total_gaps);
}

int main(void)
{
    test_frame_check();
    test_known_ids();
    cli_ep = ep(0xC0A80001u, 40000);
    srv_ep = ep(0xC0A80002u, 2775);
    g_cli = &cli_ep;
    g_srv = &srv_ep;
    test_in_order();
    test_one_byte_segments();
    test_three_in_one();
    test_out_of_order();
    test_retransmit_and_overlap();
    test_mid_stream();
    test_gap();
    test_wraparound();
    test_seq_jump();
    test_rst();
    test_eviction_memcap();
    test_not_smpp();
    test_oversize();
    test_ports_and_timeout();
    test_random();
    test_fast_path_differential();
    test_hole_differential();
    test_table_churn();
    test_memcap_paths();
    stream_free(NULL);
    return test_summary();
}
