#include "decode-packet.h"

#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* the x86-64 baseline: put_v4_mapped() */
#endif

/* EtherTypes (IEEE registry) and IP protocol numbers (IANA). */
#define ETH_P_IPV4 0x0800u
#define ETH_P_IPV6 0x86DDu
#define ETH_P_8021Q 0x8100u
#define ETH_P_8021AD 0x88A8u
#define ETH_P_QINQ_OLD 0x9100u
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_NONE_ 59
#define IPPROTO_DSTOPTS_ 60
/* BSD loopback address families: AF_INET is 2 everywhere, AF_INET6 is 24
 * (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS). */
#define BSD_AF_INET 2u

/* More VLAN tags than this is not a real frame (QinQ uses two). */
#define MAX_VLAN_TAGS 8
/* IPv6 extension header chain bound; real packets carry one or two. */
#define MAX_IPV6_EXT 8

/* Writes the IPv4-mapped IPv6 form of the address at a4 (::ffff:a.b.c.d)
 * into addr, all 16 octets.  With SSE2, in one 16-octet store:
 * stream_feed() reads each address back whole (one 16-octet load,
 * flow_dir()) a few dozen instructions later, and a load that spans
 * several smaller stores still in flight cannot be forwarded from them.
 * Written as zeros, two 0xff and the address in four stores, it waited
 * for them to reach the cache: perf put 36% of stream_feed()'s samples on
 * that load (decode-1000000); with one store no instruction of it holds
 * more than 9%, and stream_feed() went from 5.2% to 3.8% of the run. */
static inline void put_v4_mapped(uint8_t addr[16], const uint8_t *a4)
{
#if defined(__SSE2__)
    uint32_t w;
    memcpy(&w, a4, 4);
    /* Little-endian lanes: octets 8-11 are 00 00 ff ff, 12-15 the address. */
    _mm_storeu_si128((__m128i *)(void *)addr, _mm_set_epi32((int)w, (int)0xFFFF0000u, 0, 0));
#else
    memset(addr, 0, 10);
    addr[10] = addr[11] = 0xFF;
    memcpy(addr + 12, a4, 4);
#endif
}

static _Thread_local const char *last_reason;

static int fail(struct pkt_tcp *out, int rc, enum pkt_skip skip, const char *why)
{
    out->skip = (uint8_t)skip;
    out->reason = why;
    last_reason = why;
    return rc;
}

const char *pkt_decode_reason(void) { return last_reason ? last_reason : "ok"; }

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
/* Four octets as one word, the first in the low bits whatever the host's
 * order: for the fast path's tests of several header fields at once. */
static inline uint32_t load_le32(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap32(w);
#endif
    return w;
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Every frame passes through decode_tcp, decode_ipv4 (or _ipv6) and
 * decode_ethertype: inlined into their few callers, a frame costs no calls
 * on the way to its TCP header. */
#define HOT_INLINE static inline __attribute__((always_inline))

HOT_INLINE int decode_tcp(const uint8_t *p, size_t len, struct pkt_tcp *out)
{
    if (len < 20)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "TCP header truncated");
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20)
        return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "TCP data offset below 5");
    if (doff > len)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "TCP options truncated");
    out->src.port = be16(p);
    out->dst.port = be16(p + 2);
    out->seq = be32(p + 4);
    out->ack = be32(p + 8);
    out->flags = p[13];
    out->payload_len = len - doff;
    out->payload = out->payload_len ? p + doff : NULL;
    out->skip = PKT_SKIP_NONE;
    out->reason = NULL;
    last_reason = NULL;
    return 0;
}

/* RFC 791 §3.1. */
HOT_INLINE int decode_ipv4(const uint8_t *p, size_t caplen, struct pkt_tcp *out)
{
    if (caplen < 20)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv4 header truncated");
    if (p[0] >> 4 != 4)
        return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "IPv4 version is not 4");
    size_t ihl = (size_t)(p[0] & 0x0F) * 4;
    if (ihl < 20)
        return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "IPv4 header length below 5");
    if (ihl > caplen)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv4 options truncated");
    size_t total = be16(p + 2);
    /* Linux captures of TSO/GSO packets carry total length 0: the frame is
     * the packet. */
    if (total == 0)
        total = caplen;
    if (total < ihl)
        return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "IPv4 total length below header length");
    if (total > caplen)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv4 packet truncated (snap length?)");
    put_v4_mapped(out->src.addr, p + 12);
    put_v4_mapped(out->dst.addr, p + 16);
    out->src.is_v4 = out->dst.is_v4 = 1;
    uint16_t frag = be16(p + 6);
    if (frag & 0x3FFF) /* MF set or a non-zero offset */
        return fail(out, SG_ENOTSUP, PKT_SKIP_FRAGMENT, "IPv4 fragment");
    if (p[9] != IPPROTO_TCP_)
        return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_TCP, "IPv4 payload is not TCP");
    /* Anything past total is Ethernet padding. */
    return decode_tcp(p + ihl, total - ihl, out);
}

/* RFC 8200 §3-4. */
static int decode_ipv6(const uint8_t *p, size_t caplen, struct pkt_tcp *out)
{
    if (caplen < 40)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv6 header truncated");
    if (p[0] >> 4 != 6)
        return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "IPv6 version is not 6");
    memcpy(out->src.addr, p + 8, 16);
    memcpy(out->dst.addr, p + 24, 16);
    out->src.is_v4 = out->dst.is_v4 = 0;
    size_t plen = be16(p + 4);
    if (plen == 0) /* jumbogram (RFC 2675) or TSO: cannot be SMPP-sized */
        return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_TCP, "IPv6 jumbo payload");
    if (40 + plen > caplen)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv6 packet truncated (snap length?)");
    const uint8_t *q = p + 40;
    size_t left = plen;
    unsigned nh = p[6];
    for (int i = 0; i <= MAX_IPV6_EXT; i++) {
        size_t hl;
        switch (nh) {
        case IPPROTO_TCP_:
            return decode_tcp(q, left, out);
        case IPPROTO_HOPOPTS_:
        case IPPROTO_ROUTING_:
        case IPPROTO_DSTOPTS_:
            if (left < 8)
                return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv6 extension header truncated");
            hl = ((size_t)q[1] + 1) * 8;
            break;
        case IPPROTO_AH_: /* RFC 4302 §2.2: length in 4-octet units minus 2 */
            if (left < 8)
                return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv6 AH truncated");
            hl = ((size_t)q[1] + 2) * 4;
            break;
        case IPPROTO_FRAGMENT_:
            return fail(out, SG_ENOTSUP, PKT_SKIP_FRAGMENT, "IPv6 fragment");
        case IPPROTO_NONE_:
            return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_TCP, "IPv6 no next header");
        default:
            return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_TCP, "IPv6 payload is not TCP");
        }
        if (hl > left)
            return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "IPv6 extension header truncated");
        nh = q[0];
        q += hl;
        left -= hl;
    }
    return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "too many IPv6 extension headers");
}

static int decode_ip_by_version(const uint8_t *p, size_t len, struct pkt_tcp *out)
{
    if (len < 1)
        return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "empty IP packet");
    switch (p[0] >> 4) {
    case 4: return decode_ipv4(p, len, out);
    case 6: return decode_ipv6(p, len, out);
    default: return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_IP, "IP version is neither 4 nor 6");
    }
}

/* type is an EtherType and p the bytes after it; VLAN tags (IEEE 802.1Q
 * §9.6: TCI then the next EtherType) may follow. */
HOT_INLINE int decode_ethertype(unsigned type, const uint8_t *p, size_t len, struct pkt_tcp *out)
{
    int tags = 0;
    while (type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_OLD) {
        if (++tags > MAX_VLAN_TAGS)
            return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "too many VLAN tags");
        if (len < 4)
            return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "VLAN tag truncated");
        uint16_t vid = be16(p) & 0x0FFF;
        if (tags == 1)
            out->vlan = vid;
        out->vlan_inner = vid;
        type = be16(p + 2);
        p += 4;
        len -= 4;
    }
    if (type == ETH_P_IPV4)
        return decode_ipv4(p, len, out);
    if (type == ETH_P_IPV6)
        return decode_ipv6(p, len, out);
    return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_IP, "EtherType is not IPv4 or IPv6");
}

/* The TCP header at tcp[0..len) of a packet the fast path below has
 * accepted down to its IP header; fills *out as decode_tcp does after the
 * general path's IP decoding.  0 when decode_tcp would fail.  The caller
 * has checked that the frame holds tcp[0..20), whatever len says; a len
 * below 20 then fails the data offset test (doff >= 20, doff <= len). */
HOT_INLINE int fast_tcp(const uint8_t *tcp, size_t len, struct pkt_tcp *out)
{
    size_t doff = (size_t)(tcp[12] >> 2 & 0x3C); /* (tcp[12] >> 4) * 4 */
    if (doff < 20 || doff > len)
        return 0;
    out->seq = be32(tcp + 4);
    out->ack = be32(tcp + 8);
    out->payload_len = len - doff;
    out->payload = out->payload_len ? tcp + doff : NULL;
    last_reason = NULL;
    return 1;
}

/* The members of *out a fast path writes besides the addresses and those
 * fast_tcp() writes, and every octet of padding between them, as the
 * memset of pkt_decode_general() leaves them: each group of members with
 * the padding after it in one store (a memset of the 80 octets first was
 * five stores more, and the members' own stores after it).  The
 * addresses are stored whole, sixteen octets each, by the caller: see
 * put_v4_mapped() on why.  Little-endian x86-64 layout, checked below;
 * elsewhere the memset stays. */
#if defined(__x86_64__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
_Static_assert(offsetof(struct pkt_tcp, flags) == 24 && offsetof(struct pkt_tcp, vlan) == 26 &&
                   offsetof(struct pkt_tcp, vlan_inner) == 28 && offsetof(struct pkt_tcp, src) == 30 &&
                   offsetof(struct pkt_tcp, dst) == 50 && offsetof(struct pkt_tcp, skip) == 70 &&
                   offsetof(struct pkt_tcp, reason) == 72 && sizeof(struct pkt_tcp) == 80 &&
                   offsetof(struct sg_endpoint, port) == 16 && offsetof(struct sg_endpoint, is_v4) == 18 &&
                   sizeof(struct sg_endpoint) == 20,
               "struct pkt_tcp layout assumed by fast_fill()");
HOT_INLINE void fast_fill(struct pkt_tcp *out, const uint8_t *tcp, uint32_t vids, uint32_t is_v4)
{
    unsigned char *o = (unsigned char *)out;
    /* flags, padding */
    uint16_t fl = tcp[13];
    /* port, is_v4, padding; for dst also skip, padding and the first two
     * octets of reason, which the store of reason then rewrites.  Both
     * ports from one load: source port in the high half. */
    uint32_t ports = be32(tcp);
    uint32_t sp = ports >> 16 | is_v4 << 16;
    uint64_t dp = (uint64_t)(ports & 0xFFFF) | (uint64_t)is_v4 << 16;
    const char *reason = NULL;
    memcpy(o + 24, &fl, 2);
    memcpy(o + 26, &vids, 4); /* vlan, vlan_inner */
    memcpy(o + 46, &sp, 4);
    memcpy(o + 66, &dp, 8);
    memcpy(o + 72, &reason, 8);
}
#define fast_clear(out) ((void)(out)) /* fast_fill() writes the padding too */
#else
/* Elsewhere: the memset, then the same members one by one. */
#define fast_clear(out) memset((out), 0, sizeof *(out))
HOT_INLINE void fast_fill(struct pkt_tcp *out, const uint8_t *tcp, uint32_t vids, uint32_t is_v4)
{
    out->src.port = be16(tcp);
    out->dst.port = be16(tcp + 2);
    out->flags = tcp[13];
    out->vlan = (uint16_t)vids;
    out->vlan_inner = (uint16_t)(vids >> 16);
    out->src.is_v4 = out->dst.is_v4 = is_v4 != 0;
}
#endif

/* Fast path for the frames nearly all SMPP traffic arrives in: Ethernet,
 * untagged or with one 802.1Q tag, then IPv4 without options and not a
 * fragment, or IPv6 without extension headers, then TCP (any options: they
 * are skipped, not parsed).  The general path spends its instructions on
 * the link-type switch, the VLAN loop and the IPv6 extension chain, and
 * keeps the failure reason of each check; here the checks are made on
 * fixed offsets and only say "not here".
 *
 * Returns 1 with *out written exactly as pkt_decode_general() writes it
 * (same checks, same fields, the padding zeroed: fast_fill());
 * returns 0 for anything else, failures included, and the general path
 * then decides the frame from scratch, so its every outcome and reason
 * stays its own.  tests/test-decode-packet.c compares the two on crafted
 * and random frames. */
HOT_INLINE int decode_fast_ether(const uint8_t *frame, size_t caplen, struct pkt_tcp *out)
{
    /* Room for the IPv4 and TCP headers without options: shorter frames
     * fail in the general path anyway, and fast_tcp() reads the TCP
     * header without testing its length first. */
    if (caplen < 14 + 20 + 20)
        return 0;
    /* The EtherType and the first two octets after it in one load: the
     * IPv4 test below is then one compare (08 00 45: IPv4, version 4, no
     * options) where it was three loads and compares. */
    uint32_t w = load_le32(frame + 12);
    uint32_t vids = 0; /* the VLAN id twice: vlan and vlan_inner in one store (fast_fill) */
    size_t l2 = 14;
    if ((w & 0xFFFFu) == 0x0081u) { /* 81 00: 802.1Q */
        /* One tag: outer and inner id are the same (decode_ethertype).  A
         * second tag of any kind goes to the general loop. */
        if (caplen < 18 + 20 + 20)
            return 0;
        vids = (uint32_t)(be16(frame + 14) & 0x0FFF) * 0x10001u;
        w = load_le32(frame + 16);
        l2 = 18;
    }
    const uint8_t *ip = frame + l2;
    size_t iplen = caplen - l2;
    if ((w & 0xFFFFFFu) == 0x450008u) { /* 08 00 45 */
        /* decode_ipv4 with ihl 20: total 0 is "to the end of the frame",
         * anything past total is padding; MF or an offset is a fragment.
         * Flags and offset, TTL and protocol are one word: the offset and
         * MF bits zero, the protocol TCP. */
        if ((load_le32(ip + 6) & 0xFF00FF3Fu) != 0x06000000u)
            return 0;
        size_t total = be16(ip + 2);
        if (total == 0)
            total = iplen;
        /* below 20 or above iplen (>= 40 here): one unsigned compare */
        if (total - 20 > iplen - 20)
            return 0;
        fast_clear(out);
        if (!fast_tcp(ip + 20, total - 20, out))
            return 0;
        fast_fill(out, ip + 20, vids, 1);
        put_v4_mapped(out->src.addr, ip + 12);
        put_v4_mapped(out->dst.addr, ip + 16);
        return 1;
    }
    if ((w & 0xF0FFFFu) == 0x60DD86u) { /* 86 DD 6x */
        /* decode_ipv6 with TCP as the first next header; payload length 0
         * (jumbo) and every extension header go to the general path. */
        if (iplen < 40 + 20 || ip[6] != IPPROTO_TCP_) /* 20: see fast_tcp() */
            return 0;
        size_t plen = be16(ip + 4);
        if (plen == 0 || 40 + plen > iplen)
            return 0;
        fast_clear(out);
        if (!fast_tcp(ip + 40, plen, out))
            return 0;
        fast_fill(out, ip + 40, vids, 0);
        memcpy(out->src.addr, ip + 8, 16);
        memcpy(out->dst.addr, ip + 24, 16);
        return 1;
    }
    return 0;
}

int pkt_decode(int dlt, const uint8_t *frame, size_t caplen, struct pkt_tcp *out)
{
    /* Three tests in a row: written as one condition, GCC computed all
     * three with setcc and one branch (ten instructions). */
    if (__builtin_expect(dlt != PKT_DLT_EN10MB, 0))
        return pkt_decode_general(dlt, frame, caplen, out);
    if (__builtin_expect(!frame, 0))
        return pkt_decode_general(dlt, frame, caplen, out);
    if (decode_fast_ether(frame, caplen, out))
        return 0;
    return pkt_decode_general(dlt, frame, caplen, out);
}

int pkt_decode_general(int dlt, const uint8_t *frame, size_t caplen, struct pkt_tcp *out)
{
    memset(out, 0, sizeof *out);
    if (!frame)
        caplen = 0;
    switch (dlt) {
    case PKT_DLT_EN10MB:
        if (caplen < 14)
            return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "Ethernet header truncated");
        return decode_ethertype(be16(frame + 12), frame + 14, caplen - 14, out);
    case PKT_DLT_LINUX_SLL: /* 16 bytes, protocol last */
        if (caplen < 16)
            return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "Linux cooked header truncated");
        return decode_ethertype(be16(frame + 14), frame + 16, caplen - 16, out);
    case PKT_DLT_LINUX_SLL2: /* 20 bytes, protocol first */
        if (caplen < 20)
            return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "Linux cooked v2 header truncated");
        return decode_ethertype(be16(frame), frame + 20, caplen - 20, out);
    case PKT_DLT_RAW:
    case PKT_DLT_RAW_OPENBSD:
    case PKT_LINKTYPE_RAW:
        return decode_ip_by_version(frame, caplen, out);
    case PKT_DLT_IPV4:
        return decode_ipv4(frame, caplen, out);
    case PKT_DLT_IPV6:
        return decode_ipv6(frame, caplen, out);
    case PKT_DLT_NULL:
    case PKT_DLT_LOOP: {
        /* DLT_NULL is in the capturing host's byte order, DLT_LOOP in
         * network order, and files travel: accept both.  Family values are
         * below 256, so exactly one end byte is non-zero. */
        if (caplen < 4)
            return fail(out, SG_ETRUNC, PKT_SKIP_TRUNCATED, "loopback header truncated");
        unsigned fam;
        if (frame[1] == 0 && frame[2] == 0 && frame[3] == 0)
            fam = frame[0];
        else if (frame[0] == 0 && frame[1] == 0 && frame[2] == 0)
            fam = frame[3];
        else
            return fail(out, SG_EINVAL, PKT_SKIP_MALFORMED, "loopback address family out of range");
        if (fam == BSD_AF_INET)
            return decode_ipv4(frame + 4, caplen - 4, out);
        if (fam == 24 || fam == 28 || fam == 30)
            return decode_ipv6(frame + 4, caplen - 4, out);
        return fail(out, SG_ENOTSUP, PKT_SKIP_NOT_IP, "loopback family is not IPv4 or IPv6");
    }
    default:
        return fail(out, SG_ENOTSUP, PKT_SKIP_LINKTYPE, "unsupported link type");
    }
}

const char *pkt_skip_name(int skip)
{
    static const char *const names[PKT_SKIP__COUNT] = {
        "none", "linktype", "not-ip", "not-tcp", "fragment", "truncated", "malformed",
    };
    return skip >= 0 && skip < PKT_SKIP__COUNT ? names[skip] : "unknown";
}
