/* Link, IP and TCP decoding: one captured frame in, one TCP segment view out.
 *
 * pkt_decode() allocates nothing and copies nothing but the addresses: the
 * payload in struct pkt_tcp points into the caller's frame, so it is valid as
 * long as the frame is (for capture_next(), until the next call).  It keeps
 * no state and is safe to call from several threads.
 *
 * Link types (pcap DLT_* values as pcap_datalink() returns them):
 *   DLT_EN10MB (1) with any stack of 802.1Q / 802.1ad (0x88a8) / 0x9100 tags,
 *   DLT_LINUX_SLL (113), DLT_LINUX_SLL2 (276), DLT_RAW (12, 14 on OpenBSD)
 *   and LINKTYPE_RAW (101), DLT_IPV4 (228), DLT_IPV6 (229), DLT_NULL (0) and
 *   DLT_LOOP (108; 12 on OpenBSD is DLT_RAW there) in either byte order.
 * Network: IPv4 (options, total length strips Ethernet padding, a total
 * length of 0 as written by TSO is taken as "to the end of the frame"),
 * IPv6 with hop-by-hop, routing, destination-options and AH headers.
 * Fragments are not reassembled: SMPP peers set DF and a fragmented segment
 * is reported as SG_ENOTSUP with PKT_SKIP_FRAGMENT so it can be counted.
 */
#ifndef SG_DECODE_PACKET_H
#define SG_DECODE_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

/* TCP flag bits (RFC 9293 §3.1), the same values as BSD's TH_*. */
#ifndef TH_FIN
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PUSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20
#endif

/* Link types we accept that some libpcap headers do not define. */
#define PKT_DLT_NULL 0
#define PKT_DLT_EN10MB 1
#define PKT_DLT_RAW 12
#define PKT_DLT_RAW_OPENBSD 14
#define PKT_LINKTYPE_RAW 101
#define PKT_DLT_LOOP 108
#define PKT_DLT_LINUX_SLL 113
#define PKT_DLT_IPV4 228
#define PKT_DLT_IPV6 229
#define PKT_DLT_LINUX_SLL2 276

/* Why a frame was not turned into a segment (set with every non-zero
 * return, PKT_SKIP_NONE on success).  Lets the caller count without parsing
 * the reason string. */
enum pkt_skip {
    PKT_SKIP_NONE = 0,
    PKT_SKIP_LINKTYPE,  /* SG_ENOTSUP: link type we do not decode */
    PKT_SKIP_NOT_IP,    /* SG_ENOTSUP: ARP, LLDP, 802.3 length frames ... */
    PKT_SKIP_NOT_TCP,   /* SG_ENOTSUP: UDP, ICMP, SCTP ... */
    PKT_SKIP_FRAGMENT,  /* SG_ENOTSUP: IPv4 or IPv6 fragment */
    PKT_SKIP_TRUNCATED, /* SG_ETRUNC: frame ends inside a header or payload */
    PKT_SKIP_MALFORMED, /* SG_EINVAL: a header field contradicts the frame */
    PKT_SKIP__COUNT
};

/* One TCP segment.  Hot fields first: the reassembler reads seq, flags and
 * payload on every packet. */
struct pkt_tcp {
    const uint8_t *payload; /* view into the frame; NULL when payload_len is 0 */
    size_t payload_len;
    uint32_t seq, ack;
    uint8_t flags;          /* TH_SYN etc */
    uint16_t vlan;          /* outermost VLAN id, 0 when untagged */
    uint16_t vlan_inner;    /* innermost VLAN id under QinQ, else equal to vlan */
    struct sg_endpoint src, dst;
    /* Diagnostics, set on every return. */
    uint8_t skip;           /* enum pkt_skip */
    const char *reason;     /* static string, NULL on success */
};

/* Decodes one frame of link type dlt.
 * IN dlt, frame[0..caplen); OUT *out (all fields written).
 * Returns 0, SG_ENOTSUP (not IPv4/IPv6 TCP, fragment, unknown link type),
 * SG_ETRUNC (frame cut short, including by the snap length) or SG_EINVAL
 * (inconsistent header).  out->reason says which check failed. */
int pkt_decode(int dlt, const uint8_t *frame, size_t caplen, struct pkt_tcp *out);

/* pkt_decode() without its fast path for plain Ethernet/IPv4/IPv6 TCP
 * frames: the same contract and, for every input, the same result and the
 * same *out.  For the tests that hold the fast path to that. */
int pkt_decode_general(int dlt, const uint8_t *frame, size_t caplen, struct pkt_tcp *out);

/* Reason string of the last pkt_decode() call in this thread. */
const char *pkt_decode_reason(void);

/* Counters a caller may keep: pkt_decode_count() adds one frame's outcome. */
struct pkt_decode_stats {
    uint64_t frames, tcp, ipv4, ipv6, vlan_tagged;
    uint64_t skipped[PKT_SKIP__COUNT]; /* indexed by enum pkt_skip; [0] unused */
};
/* Inline: it runs once per captured frame, and the call cost as much as
 * the counting. */
static inline void pkt_decode_count(struct pkt_decode_stats *s, int rc, const struct pkt_tcp *p)
{
    s->frames++;
    if (p->vlan || p->vlan_inner)
        s->vlan_tagged++;
    if (rc == 0) {
        s->tcp++;
        s->ipv4 += p->src.is_v4 != 0;
        s->ipv6 += p->src.is_v4 == 0;
        return;
    }
    if (p->skip > PKT_SKIP_NONE && p->skip < PKT_SKIP__COUNT)
        s->skipped[p->skip]++;
}

/* Name of an enum pkt_skip value ("fragment", ...). */
const char *pkt_skip_name(int skip);

#endif
