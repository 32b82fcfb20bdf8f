/* pkt_decode over every link type, VLAN stacks, IPv6 extension headers and
 * truncated frames; then the shared captures through capture + pkt_decode +
 * stream, with PDU counts taken from tshark 4.0:
 *   tshark -r F -Y smpp -T fields -e smpp.command_id
 * wireshark-sample-smpp.cap: 8 PDUs on TCP 9000 (bind_transmitter,
 * enquire_link, submit_sm, unbind and their responses);
 * node-smpp-loopback.pcapng: 10 PDUs on 2775 (bind_transceiver, 2 submit_sm,
 * enquire_link, unbind and their responses). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "decode-packet.h"
#include "smpp-frame.h"
#include "stream-tcp.h"
#include "testutil.h"

static uint8_t fr[2048];

static size_t put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}
static size_t put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
    return 4;
}

static const uint8_t PAYLOAD[16] = {0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7};

/* TCP header (20 bytes + optlen of NOP options) and payload. */
static size_t tcp(uint8_t *p, uint16_t sport, uint16_t dport, uint32_t seq, uint8_t flags,
                  size_t optlen)
{
    size_t at = 0;
    at += put16(p + at, sport);
    at += put16(p + at, dport);
    at += put32(p + at, seq);
    at += put32(p + at, 99);
    p[at++] = (uint8_t)(((20 + optlen) / 4) << 4);
    p[at++] = flags;
    at += put16(p + at, 65535);
    at += put32(p + at, 0);
    memset(p + at, 1, optlen);
    at += optlen;
    memcpy(p + at, PAYLOAD, sizeof PAYLOAD);
    return at + sizeof PAYLOAD;
}

static size_t ipv4(uint8_t *p, size_t optlen, uint16_t frag, uint8_t proto)
{
    size_t ihl = 20 + optlen;
    size_t tl = tcp(p + ihl, 40000, 2775, 1000, TH_ACK | TH_PUSH, 0);
    p[0] = (uint8_t)(0x40 | ihl / 4);
    p[1] = 0;
    put16(p + 2, (uint16_t)(ihl + tl));
    put16(p + 4, 1);
    put16(p + 6, frag);
    p[8] = 64;
    p[9] = proto;
    put16(p + 10, 0);
    uint8_t src[4] = {192, 168, 0, 1}, dst[4] = {192, 168, 0, 2};
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    memset(p + 20, 1, optlen); /* NOP options */
    return ihl + tl;
}

/* IPv6 with the given chain of extension headers (0, 43, 60, 51, 44). */
static size_t ipv6(uint8_t *p, const uint8_t *exts, int next)
{
    size_t at = 40;
    uint8_t nh0 = next > 0 ? exts[0] : 6;
    for (int i = 0; i < next; i++) {
        uint8_t nh = i + 1 < next ? exts[i + 1] : 6;
        uint8_t *h = p + at;
        memset(h, 0, 16);
        h[0] = nh;
        if (exts[i] == 51) {
            h[1] = 2; /* (2+2)*4 = 16 */
            at += 16;
        } else if (exts[i] == 44) {
            at += 8;
        } else {
            h[1] = 1; /* (1+1)*8 = 16 */
            at += 16;
        }
    }
    at += tcp(p + at, 40000, 2775, 1000, TH_ACK, 0);
    put32(p, 0x60000000u);
    put16(p + 4, (uint16_t)(at - 40));
    p[6] = nh0;
    p[7] = 64;
    memset(p + 8, 0, 32);
    p[8] = 0x20;
    p[9] = 0x01;
    p[23] = 1;
    p[24] = 0x20;
    p[25] = 0x01;
    p[39] = 2;
    return at;
}

static size_t eth(uint8_t *p, const uint16_t *tags, int ntags, uint16_t type)
{
    memset(p, 0xAA, 12);
    size_t at = 12;
    for (int i = 0; i < ntags; i += 2) {
        at += put16(p + at, tags[i]);
        at += put16(p + at, tags[i + 1]);
    }
    at += put16(p + at, type);
    return at;
}

static void expect_ok(int dlt, const uint8_t *f, size_t len, int v4, const char *what)
{
    struct pkt_tcp s;
    int rc = pkt_decode(dlt, f, len, &s);
    CHECK_MSG(rc == 0, "%s: rc %d (%s)", what, rc, pkt_decode_reason());
    if (rc)
        return;
    CHECK_EQ_INT(s.src.port, 40000);
    CHECK_EQ_INT(s.dst.port, 2775);
    CHECK_EQ_INT(s.seq, 1000);
    CHECK_EQ_INT(s.ack, 99);
    CHECK_EQ_INT(s.payload_len, 16);
    CHECK(s.payload && memcmp(s.payload, PAYLOAD, 16) == 0);
    CHECK(s.payload >= f && s.payload + 16 <= f + len);
    CHECK_EQ_INT(s.src.is_v4, v4);
    CHECK(s.reason == NULL);
    if (v4) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        CHECK(memcmp(s.src.addr, mapped, 12) == 0);
        CHECK(s.src.addr[12] == 192 && s.src.addr[15] == 1 && s.dst.addr[15] == 2);
        char b[SG_ENDPOINT_STRLEN];
        sg_endpoint_format(&s.src, b, sizeof b);
        CHECK_EQ_STR(b, "192.168.0.1:40000");
    } else {
        char b[SG_ENDPOINT_STRLEN];
        sg_endpoint_format(&s.dst, b, sizeof b);
        CHECK_EQ_STR(b, "[2001::2]:2775");
    }
}

static void expect_rc(int dlt, const uint8_t *f, size_t len, int want, int skip, const char *what)
{
    struct pkt_tcp s;
    int rc = pkt_decode(dlt, f, len, &s);
    CHECK_MSG(rc == want, "%s: rc %d want %d (%s)", what, rc, want, pkt_decode_reason());
    CHECK_MSG(s.skip == skip, "%s: skip %s want %s", what, pkt_skip_name(s.skip), pkt_skip_name(skip));
    if (want)
        CHECK(s.reason != NULL);
}

static void test_link_types(void)
{
    size_t n;
    /* Ethernet, padded to 60 bytes + more padding: total length strips it */
    n = eth(fr, NULL, 0, 0x0800);
    n += ipv4(fr + n, 0, 0x4000, 6);
    memset(fr + n, 0xEE, 20);
    expect_ok(PKT_DLT_EN10MB, fr, n + 20, 1, "ethernet+padding");

    /* IPv4 options */
    n = eth(fr, NULL, 0, 0x0800);
    n += ipv4(fr + n, 12, 0, 6);
    expect_ok(PKT_DLT_EN10MB, fr, n, 1, "ipv4 options");

    /* 802.1Q */
    uint16_t q[] = {0x8100, 0x2064};
    n = eth(fr, q, 2, 0x0800);
    n += ipv4(fr + n, 0, 0, 6);
    expect_ok(PKT_DLT_EN10MB, fr, n, 1, "802.1q");
    struct pkt_tcp s;
    pkt_decode(PKT_DLT_EN10MB, fr, n, &s);
    CHECK_EQ_INT(s.vlan, 100);

    /* QinQ 0x88a8 + 0x8100, and the old 0x9100 */
    uint16_t qq[] = {0x88A8, 10, 0x8100, 20};
    n = eth(fr, qq, 4, 0x86DD);
    n += ipv6(fr + n, NULL, 0);
    expect_ok(PKT_DLT_EN10MB, fr, n, 0, "qinq ipv6");
    pkt_decode(PKT_DLT_EN10MB, fr, n, &s);
    CHECK_EQ_INT(s.vlan, 10);
    CHECK_EQ_INT(s.vlan_inner, 20);
    uint16_t q91[] = {0x9100, 30, 0x8100, 40};
    n = eth(fr, q91, 4, 0x0800);
    n += ipv4(fr + n, 0, 0, 6);
    expect_ok(PKT_DLT_EN10MB, fr, n, 1, "0x9100 qinq");
    /* a VLAN tag cut short */
    n = eth(fr, q, 2, 0x0800);
    expect_rc(PKT_DLT_EN10MB, fr, 15, SG_ETRUNC, PKT_SKIP_TRUNCATED, "vlan truncated");

    /* Linux cooked v1: 16 bytes, protocol at 14 */
    memset(fr, 0, 16);
    put16(fr + 2, 1);
    put16(fr + 4, 6);
    put16(fr + 14, 0x0800);
    n = 16 + ipv4(fr + 16, 0, 0, 6);
    expect_ok(PKT_DLT_LINUX_SLL, fr, n, 1, "sll");
    put16(fr + 14, 0x86DD);
    n = 16 + ipv6(fr + 16, NULL, 0);
    expect_ok(PKT_DLT_LINUX_SLL, fr, n, 0, "sll ipv6");

    /* Linux cooked v2: 20 bytes, protocol first */
    memset(fr, 0, 20);
    put16(fr, 0x0800);
    put32(fr + 4, 3);
    put16(fr + 8, 1);
    n = 20 + ipv4(fr + 20, 0, 0, 6);
    expect_ok(PKT_DLT_LINUX_SLL2, fr, n, 1, "sll2");
    expect_rc(PKT_DLT_LINUX_SLL2, fr, 19, SG_ETRUNC, PKT_SKIP_TRUNCATED, "sll2 truncated");
    put16(fr, 0x0806);
    expect_rc(PKT_DLT_LINUX_SLL2, fr, n, SG_ENOTSUP, PKT_SKIP_NOT_IP, "sll2 arp");

    /* raw IP under every name */
    n = ipv4(fr, 0, 0, 6);
    expect_ok(PKT_DLT_RAW, fr, n, 1, "raw v4");
    expect_ok(PKT_LINKTYPE_RAW, fr, n, 1, "linktype raw v4");
    expect_ok(PKT_DLT_IPV4, fr, n, 1, "dlt ipv4");
    expect_rc(PKT_DLT_IPV6, fr, n, SG_EINVAL, PKT_SKIP_MALFORMED, "v4 as dlt ipv6");
    n = ipv6(fr, NULL, 0);
    expect_ok(PKT_DLT_RAW, fr, n, 0, "raw v6");
    expect_ok(PKT_DLT_IPV6, fr, n, 0, "dlt ipv6");

    /* BSD loopback: AF_INET in both byte orders, AF_INET6 as 24/28/30 */
    uint8_t le2[4] = {2, 0, 0, 0}, be2[4] = {0, 0, 0, 2};
    memcpy(fr, le2, 4);
    n = 4 + ipv4(fr + 4, 0, 0, 6);
    expect_ok(PKT_DLT_NULL, fr, n, 1, "null le");
    memcpy(fr, be2, 4);
    expect_ok(PKT_DLT_LOOP, fr, n, 1, "loop be");
    expect_ok(PKT_DLT_NULL, fr, n, 1, "null be");
    int fams[] = {24, 28, 30};
    for (int i = 0; i < 3; i++) {
        memset(fr, 0, 4);
        fr[i == 1 ? 3 : 0] = (uint8_t)fams[i];
        n = 4 + ipv6(fr + 4, NULL, 0);
        expect_ok(i == 2 ? PKT_DLT_LOOP : PKT_DLT_NULL, fr, n, 0, "loopback inet6");
    }
    fr[0] = 7;
    expect_rc(PKT_DLT_NULL, fr, n, SG_ENOTSUP, PKT_SKIP_NOT_IP, "loopback other family");

    expect_rc(147, fr, n, SG_ENOTSUP, PKT_SKIP_LINKTYPE, "unknown dlt");
}

static void test_ip(void)
{
    size_t n;
    /* IPv6 with hop-by-hop, routing, destination options, AH */
    uint8_t chain[] = {0, 43, 60, 51};
    n = ipv6(fr, chain, 4);
    expect_ok(PKT_DLT_IPV6, fr, n, 0, "ipv6 ext chain");
    uint8_t frag6[] = {0, 44};
    n = ipv6(fr, frag6, 2);
    expect_rc(PKT_DLT_IPV6, fr, n, SG_ENOTSUP, PKT_SKIP_FRAGMENT, "ipv6 fragment");
    uint8_t many[] = {60, 60, 60, 60, 60, 60, 60, 60, 60, 60};
    n = ipv6(fr, many, 10);
    expect_rc(PKT_DLT_IPV6, fr, n, SG_EINVAL, PKT_SKIP_MALFORMED, "ipv6 too many ext");
    /* extension header cut short */
    n = ipv6(fr, chain, 2);
    expect_rc(PKT_DLT_IPV6, fr, 50, SG_ETRUNC, PKT_SKIP_TRUNCATED, "ipv6 ext truncated");

    /* IPv4 fragments (MF, offset), UDP */
    n = ipv4(fr, 0, 0x2000, 6);
    expect_rc(PKT_DLT_RAW, fr, n, SG_ENOTSUP, PKT_SKIP_FRAGMENT, "ipv4 MF");
    n = ipv4(fr, 0, 0x0010, 6);
    expect_rc(PKT_DLT_RAW, fr, n, SG_ENOTSUP, PKT_SKIP_FRAGMENT, "ipv4 offset");
    n = ipv4(fr, 0, 0, 17);
    expect_rc(PKT_DLT_RAW, fr, n, SG_ENOTSUP, PKT_SKIP_NOT_TCP, "udp");

    /* truncation at every length of an Ethernet frame: never a crash,
     * always ETRUNC before the end */
    n = eth(fr, NULL, 0, 0x0800);
    n += ipv4(fr + n, 4, 0, 6);
    expect_ok(PKT_DLT_EN10MB, fr, n, 1, "full");
    for (size_t len = 0; len < n; len++) {
        uint8_t cut[256];
        memcpy(cut, fr, len);
        struct pkt_tcp s;
        int rc = pkt_decode(PKT_DLT_EN10MB, cut, len, &s);
        CHECK_MSG(rc == SG_ETRUNC, "len %zu: rc %d (%s)", len, rc, s.reason);
    }
    /* snap length cut the TCP payload */
    expect_rc(PKT_DLT_EN10MB, fr, n - 1, SG_ETRUNC, PKT_SKIP_TRUNCATED, "snaplen");
    /* inconsistent headers */
    n = ipv4(fr, 0, 0, 6);
    fr[0] = 0x44; /* ihl 4 */
    expect_rc(PKT_DLT_RAW, fr, n, SG_EINVAL, PKT_SKIP_MALFORMED, "ihl < 5");
    n = ipv4(fr, 0, 0, 6);
    put16(fr + 2, 10);
    expect_rc(PKT_DLT_RAW, fr, n, SG_EINVAL, PKT_SKIP_MALFORMED, "total < ihl");
    n = ipv4(fr, 0, 0, 6);
    put16(fr + 2, 0); /* TSO: length 0 means "the frame" */
    expect_ok(PKT_DLT_RAW, fr, n, 1, "tso total 0");
    n = ipv4(fr, 0, 0, 6);
    fr[20 + 12] = 0x40; /* data offset 4 */
    expect_rc(PKT_DLT_RAW, fr, n, SG_EINVAL, PKT_SKIP_MALFORMED, "doff < 5");
    n = ipv4(fr, 0, 0, 6);
    fr[20 + 12] = 0xF0; /* options past the end */
    expect_rc(PKT_DLT_RAW, fr, n, SG_ETRUNC, PKT_SKIP_TRUNCATED, "doff > len");
    fr[0] = 0x55;
    expect_rc(PKT_DLT_RAW, fr, n, SG_ENOTSUP, PKT_SKIP_NOT_IP, "ip version 5");
    expect_rc(PKT_DLT_RAW, NULL, 0, SG_ETRUNC, PKT_SKIP_TRUNCATED, "null frame");

    /* counters */
    struct pkt_decode_stats ds;
    memset(&ds, 0, sizeof ds);
    struct pkt_tcp s;
    n = ipv4(fr, 0, 0x2000, 6);
    pkt_decode_count(&ds, pkt_decode(PKT_DLT_RAW, fr, n, &s), &s);
    n = ipv4(fr, 0, 0, 6);
    pkt_decode_count(&ds, pkt_decode(PKT_DLT_RAW, fr, n, &s), &s);
    CHECK_EQ_INT(ds.frames, 2);
    CHECK_EQ_INT(ds.tcp, 1);
    CHECK_EQ_INT(ds.ipv4, 1);
    CHECK_EQ_INT(ds.ipv6, 0);
    CHECK_EQ_INT(ds.vlan_tagged, 0);
    CHECK_EQ_INT(ds.skipped[PKT_SKIP_FRAGMENT], 1);
}

/* ---- shared captures end to end ---------------------------------------- */

struct tally {
    int pdus, dir_pdus[2];
    uint32_t cmds[64];
    int events;
    int ends;
};

static void t_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                  size_t len, uint64_t off)
{
    (void)ts;
    (void)off;
    struct tally *t = ctx;
    if (t->pdus < 64)
        t->cmds[t->pdus] = smpp_be32(p + 4);
    t->pdus++;
    t->dir_pdus[f->dir]++;
    CHECK_EQ_INT(smpp_be32(p), len);
}

static void t_event(void *ctx, const struct stream_flow_info *f, sg_time_us ts,
                    enum stream_event ev, uint64_t off, uint64_t bytes, const char *why)
{
    (void)f;
    (void)ts;
    (void)off;
    (void)bytes;
    struct tally *t = ctx;
    if (ev != STREAM_EV_FIN) {
        t->events++;
        fprintf(stderr, "unexpected event %s: %s\n", stream_event_name(ev), why);
    }
}

static void t_end(void *ctx, uint64_t id)
{
    (void)id;
    ((struct tally *)ctx)->ends++;
}

static void run_capture(const char *rel, const char *bpf, int want_pdus, int want_dir0,
                        int want_packets, const uint32_t *want_cmds)
{
    struct capture_opts o;
    memset(&o, 0, sizeof o);
    o.file = test_shared_path(rel);
    o.bpf = bpf;
    capture_t *c = NULL;
    char err[256];
    int rc = capture_open(&c, &o, err, sizeof err);
    CHECK_MSG(rc == 0, "%s: %s", rel, err);
    if (rc)
        return;
    struct tally ta;
    memset(&ta, 0, sizeof ta);
    struct stream_sink sink = {&ta, t_pdu, t_event, t_end};
    struct stream_config cfg;
    stream_config_default(&cfg);
    stream_table_t *t = stream_new(&cfg, &sink);
    struct capture_pkt pkt;
    struct pkt_decode_stats ds;
    memset(&ds, 0, sizeof ds);
    int packets = 0;
    uint64_t pos = 0, size = 0;
    while ((rc = capture_next(c, &pkt)) == 1) {
        packets++;
        CHECK(pkt.ts > 1000000000ull * 1000000u / 1000); /* after 2001 */
        struct pkt_tcp s;
        int d = pkt_decode(pkt.dlt, pkt.data, pkt.caplen, &s);
        pkt_decode_count(&ds, d, &s);
        if (d == 0)
            stream_feed(t, &s, pkt.ts);
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(capture_progress(c, &pos, &size), 0);
    CHECK(size > 0 && pos <= size);
    stream_flush(t);
    CHECK_EQ_INT(packets, want_packets);
    CHECK_MSG(ta.pdus == want_pdus, "%s: %d PDUs, want %d", rel, ta.pdus, want_pdus);
    for (int i = 0; want_cmds && i < want_pdus && i < 64; i++)
        CHECK_MSG(ta.cmds[i] == want_cmds[i], "%s: PDU %d is 0x%08x, want 0x%08x", rel, i,
                  ta.cmds[i], want_cmds[i]);
    CHECK_EQ_INT(ta.dir_pdus[0], want_dir0);
    CHECK_EQ_INT(ta.events, 0);
    CHECK_EQ_INT(ta.ends, 1);
    struct stream_stats st;
    stream_get_stats(t, &st);
    CHECK_EQ_INT(st.gaps, 0);
    CHECK_EQ_INT(st.flows_created, 1);
    struct capture_stats cs;
    capture_get_stats(c, &cs);
    CHECK_EQ_INT(cs.packets, (uint64_t)want_packets);
    CHECK_EQ_INT(ds.frames, (uint64_t)want_packets);
    stream_free(t);
    capture_free(c);
}

static void test_captures(void)
{
    static const uint32_t ws[] = {0x00000002, 0x80000002, 0x00000015, 0x80000015,
                                  0x00000004, 0x80000004, 0x00000006, 0x80000006};
    run_capture("data/pcaps/wireshark-sample-smpp.cap", NULL, 8, 4, 17, ws);
    static const uint32_t node[] = {0x00000009, 0x80000009, 0x00000004, 0x80000004,
                                    0x00000004, 0x80000004, 0x00000015, 0x80000015,
                                    0x00000006, 0x80000006};
    run_capture("data/pcaps/node-smpp-loopback.pcapng", NULL, 10, 5, 18, node);
    /* a BPF filter that keeps only the client's packets: 4 + 5 */
    run_capture("data/pcaps/node-smpp-loopback.pcapng", "tcp and dst port 2775", 5, 5, 9, NULL);

    capture_t *c = NULL;
    char err[256];
    struct capture_opts o;
    memset(&o, 0, sizeof o);
    o.file = "/nonexistent/x.pcap";
    CHECK(capture_open(&c, &o, err, sizeof err) < 0);
    CHECK(c == NULL);
    CHECK(strstr(err, "/nonexistent/x.pcap") != NULL);
    o.file = test_shared_path("data/pcaps/wireshark-sample-smpp.cap");
    o.bpf = "tcp and and";
    CHECK(capture_open(&c, &o, err, sizeof err) == SG_EINVAL);
    CHECK(strstr(err, "filter") != NULL);
    memset(&o, 0, sizeof o);
    CHECK(capture_open(&c, &o, err, sizeof err) == SG_EINVAL);
    /* capture_break stops a file read */
    o.file = test_shared_path("data/pcaps/wireshark-sample-smpp.cap");
    CHECK_EQ_INT(capture_open(&c, &o, err, sizeof err), 0);
    struct capture_pkt pkt;
    CHECK_EQ_INT(capture_next(c, &pkt), 1);
    CHECK_EQ_INT(pkt.dlt, PKT_DLT_EN10MB);
    CHECK_EQ_INT(capture_datalink(c), PKT_DLT_EN10MB);
    capture_break(c);
    CHECK_EQ_INT(capture_next(c, &pkt), 0);
    capture_free(c);
    capture_free(NULL);
}

/* ---- the fast path against the general one ------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Decodes f both ways, each into a struct pre-filled with a different
 * pattern (so a field one of them leaves unwritten shows), and compares
 * return code, every byte of the struct and the thread's reason string.
 * Returns 1 when they agree. */
static int same_both_ways(int dlt, const uint8_t *f, size_t len)
{
    struct pkt_tcp a, b;
    memset(&a, 0xAA, sizeof a);
    memset(&b, 0x55, sizeof b);
    int ra = pkt_decode(dlt, f, len, &a);
    const char *why_a = pkt_decode_reason();
    int rb = pkt_decode_general(dlt, f, len, &b);
    const char *why_b = pkt_decode_reason();
    return ra == rb && memcmp(&a, &b, sizeof a) == 0 && why_a == why_b;
}

/* A frame near the fast path's edge: Ethernet with 0-2 tags of the three
 * kinds, IPv4 (IHL 5 mostly, sometimes 6; fragment bits; TCP or UDP; total
 * length exact, 0, short, long, or with padding after) or IPv6 (TCP or an
 * extension header; payload length exact, 0, short or long) or another
 * EtherType, a TCP header of any data offset, and a cut anywhere. */
static size_t edge_frame(uint8_t *p)
{
    static const uint16_t tag_types[] = {0x8100, 0x88A8, 0x9100};
    size_t at = 12;
    memset(p, 0xAA, 12);
    unsigned ntags = next_rand() % 4 == 0 ? next_rand() % 3 : (next_rand() % 3 == 0);
    for (unsigned t = 0; t < ntags; t++) {
        at += put16(p + at, tag_types[next_rand() % 8 == 0 ? next_rand() % 3 : 0]);
        at += put16(p + at, (uint16_t)next_rand());
    }
    unsigned kind = next_rand() % 8;
    size_t ip_at = at + 2;
    size_t len;
    if (kind < 5) {
        at += put16(p + at, 0x0800);
        size_t optlen = next_rand() % 8 == 0 ? 4 : 0;
        uint16_t frag = next_rand() % 8 == 0 ? (uint16_t)next_rand() : (next_rand() % 2 ? 0x4000 : 0);
        uint8_t proto = next_rand() % 10 == 0 ? 17 : 6;
        len = ip_at + ipv4(p + ip_at, optlen, frag, proto);
        if (next_rand() % 4 == 0)
            p[ip_at] = (uint8_t)(next_rand() % 6 == 0 ? next_rand() : 0x40 | (next_rand() % 16));
        size_t total = len - ip_at;
        switch (next_rand() % 8) {
        case 0: put16(p + ip_at + 2, 0); break;
        case 1: put16(p + ip_at + 2, (uint16_t)(next_rand() % (total + 8))); break;
        case 2: memset(p + len, 0, 10), len += 10; break; /* Ethernet padding */
        default: break;
        }
        /* the TCP data offset, anything from 0 to 15 words */
        if (next_rand() % 3 == 0)
            p[ip_at + 20 + optlen + 12] = (uint8_t)((next_rand() % 16) << 4);
    } else if (kind < 7) {
        at += put16(p + at, 0x86DD);
        static const uint8_t ext[] = {0};
        len = ip_at + ipv6(p + ip_at, ext, next_rand() % 6 == 0);
        size_t plen = len - ip_at - 40;
        switch (next_rand() % 8) {
        case 0: put16(p + ip_at + 4, 0); break;
        case 1: put16(p + ip_at + 4, (uint16_t)(next_rand() % (plen + 8))); break;
        case 2: memset(p + len, 0, 10), len += 10; break;
        default: break;
        }
        if (next_rand() % 6 == 0)
            p[ip_at] = (uint8_t)next_rand();
        if (next_rand() % 3 == 0)
            p[ip_at + 40 + 12] = (uint8_t)((next_rand() % 16) << 4);
    } else {
        at += put16(p + at, next_rand() % 2 ? 0x0806 : (uint16_t)next_rand());
        len = at + 60;
        for (size_t i = at; i < len; i++)
            p[i] = (uint8_t)next_rand();
    }
    if (next_rand() % 4 == 0)
        len = next_rand() % (len + 1);
    return len;
}

/* pkt_decode takes a fast path for plain Ethernet/IPv4/IPv6 TCP; it must
 * give exactly what the general path gives on every frame, the ones it
 * turns down included.  Crafted frames on both sides of each of its
 * checks, random ones, and each of them cut at every length, all from
 * exact-size copies (ASan catches a read past the frame). */
static void test_fast_path(void)
{
    int mismatches = 0;
    for (int round = 0; round < 100000; round++) {
        uint8_t frame[256];
        size_t len = edge_frame(frame);
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, frame, len);
        int dlt = round % 50 == 0 ? PKT_DLT_LINUX_SLL : PKT_DLT_EN10MB;
        if (!same_both_ways(dlt, exact, len) && mismatches++ < 5)
            CHECK_MSG(0, "round %d: fast and general path differ on a %zu-byte frame", round, len);
        free(exact);
    }
    /* One good frame of each shape cut at every length. */
    static const uint16_t one_tag[] = {0x8100, 0x0123}, qinq[] = {0x88A8, 5, 0x8100, 6};
    static const uint8_t no_ext[] = {0}, hop[] = {0};
    for (int shape = 0; shape < 6; shape++) {
        size_t n;
        switch (shape) {
        case 0: n = eth(fr, NULL, 0, 0x0800), n += ipv4(fr + n, 0, 0x4000, 6); break;
        case 1: n = eth(fr, one_tag, 2, 0x0800), n += ipv4(fr + n, 0, 0, 6); break;
        case 2: n = eth(fr, qinq, 4, 0x0800), n += ipv4(fr + n, 0, 0, 6); break;
        case 3: n = eth(fr, NULL, 0, 0x86DD), n += ipv6(fr + n, no_ext, 0); break;
        case 4: n = eth(fr, one_tag, 2, 0x86DD), n += ipv6(fr + n, no_ext, 0); break;
        default: n = eth(fr, NULL, 0, 0x86DD), n += ipv6(fr + n, hop, 1); break;
        }
        CHECK_MSG(same_both_ways(PKT_DLT_EN10MB, fr, n), "shape %d whole", shape);
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *exact = malloc(cut ? cut : 1);
            memcpy(exact, fr, cut);
            if (!same_both_ways(PKT_DLT_EN10MB, exact, cut) && mismatches++ < 5)
                CHECK_MSG(0, "shape %d cut at %zu: fast and general path differ", shape, cut);
            free(exact);
        }
    }
    CHECK(same_both_ways(PKT_DLT_EN10MB, NULL, 0));
    CHECK(same_both_ways(PKT_DLT_EN10MB, NULL, 100));
    CHECK_EQ_INT(mismatches, 0);
    /* The fast path's own successes: one 802.1Q tag sets both ids. */
    size_t n = eth(fr, one_tag, 2, 0x0800);
    n += ipv4(fr + n, 0, 0, 6);
    struct pkt_tcp s;
    CHECK_EQ_INT(pkt_decode(PKT_DLT_EN10MB, fr, n, &s), 0);
    CHECK_EQ_INT(s.vlan, 0x123);
    CHECK_EQ_INT(s.vlan_inner, 0x123);
}

int main(void)
{
    test_link_types();
    test_ip();
    test_fast_path();
    test_captures();
    return test_summary();
}
