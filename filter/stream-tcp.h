/* TCP stream reassembly per direction, framed into SMPP PDUs.
 *
 * Input: TCP segments (struct pkt_tcp from pkt_decode) in capture order.
 * Output: through struct stream_sink, one callback per complete PDU and one
 * per notable event.  Nothing depends on ACKs or on seeing the handshake:
 * a SYN only fixes the initial sequence number, and a stream picked up
 * mid-way is synchronised by hunting for a plausible SMPP header
 * (smpp_frame_check strict, confirmed by the following header when it is in
 * the same data).
 *
 * Guarantees and bounds (see docs/capture-and-reassembly.md):
 *  - at most max_flows flows; a new flow beyond that evicts the least
 *    recently seen one (STREAM_EV_EVICTED, flows_evicted);
 *  - every buffered byte (partial PDUs and out-of-order data) is charged
 *    against max_buffered_bytes; data that would exceed it is dropped and
 *    counted (memcap_drops) and shows up as a gap;
 *  - overlapping data: the first copy seen wins (retransmissions never
 *    rewrite bytes already buffered or delivered); counted in overlaps;
 *  - a PDU wholly inside one segment is delivered straight from the
 *    segment (no copy); only PDUs that straddle segments are copied, into a
 *    per-direction buffer whose size is checked against command_length
 *    (<= SMPP_MAX_PDU_LEN and <= max_flow_buffer) before anything is copied;
 *  - the work per segment is O(segment length + PDUs delivered), plus at
 *    most one memmove of the direction's buffer.
 *
 * Threads: a table belongs to one thread.  Callbacks must not call stream_*
 * functions on the same table.
 */
#ifndef SG_STREAM_TCP_H
#define SG_STREAM_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "decode-packet.h"
#include "sg-common.h"

typedef struct stream_table stream_table_t;

struct stream_config {
    uint32_t max_flows;          /* flow table bound; LRU eviction, counted */
    uint64_t max_buffered_bytes; /* memcap over all per-direction buffers */
    uint32_t max_flow_buffer;    /* per direction; PDUs longer than this that
                                    straddle segments are skipped (oversize) */
    uint32_t ooo_window;         /* bytes past the next expected byte we keep */
    uint32_t idle_timeout_s;     /* packet time without a segment -> flow ends */
    const uint16_t *ports;       /* optional: only flows with one of these ports */
    size_t n_ports;              /* 0 = any port, SMPP recognised by framing */
    /* Added fields (stream_config_default sets them): */
    uint32_t gap_timeout_ms;     /* a hole older than this (packet time) is
                                    skipped when the flow next sees a segment */
    uint32_t not_smpp_after;     /* bytes hunted in one direction of a flow
                                    that never framed before it is ignored */
};

/* max_flows 131072, memcap 256 MiB, 256 KiB per direction, 64 KiB window,
 * idle 300 s, gap timeout 2 s, not-SMPP after 2 * SMPP_MAX_PDU_LEN bytes
 * (a capture may start inside the largest PDU). */
void stream_config_default(struct stream_config *c);

struct stream_flow_info {
    uint64_t flow_id;              /* unique per table, never reused */
    uint8_t dir;                   /* 0 = direction of the first segment seen */
    const struct sg_endpoint *src, *dst; /* of this direction */
};

enum stream_event {
    STREAM_EV_GAP,      /* bytes never seen (or dropped) at offset; framing lost or skipped */
    STREAM_EV_RESYNC,   /* framing found at offset after hunting over bytes */
    STREAM_EV_NOT_SMPP, /* flow gave up on after bytes hunted without a header */
    STREAM_EV_OVERSIZE, /* PDU at offset of bytes length cannot be buffered, or
                           a known command_id with command_length > SMPP_MAX_PDU_LEN */
    STREAM_EV_FIN,      /* direction closed cleanly at offset */
    STREAM_EV_RST,      /* flow reset */
    STREAM_EV_EVICTED,  /* flow evicted by max_flows */
    STREAM_EV_TIMEOUT,  /* flow idle for idle_timeout_s */
};

const char *stream_event_name(enum stream_event ev);

struct stream_sink {
    void *ctx;
    /* One complete PDU (command_length bytes, contiguous, a view valid only
     * during the call).  offset: byte offset of the PDU in the direction's
     * stream (0 = first byte after the SYN, or first byte seen). */
    void (*pdu)(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *pdu,
                size_t len, uint64_t offset);
    /* Optional.  reason is a static string. */
    void (*event)(void *ctx, const struct stream_flow_info *f, sg_time_us ts, enum stream_event ev,
                  uint64_t offset, uint64_t bytes, const char *reason);
    /* Optional.  The flow is gone (FIN both ways, RST, evicted, timed out,
     * flushed): drop per-flow state.  Called exactly once per flow_id. */
    void (*flow_end)(void *ctx, uint64_t flow_id);
};

/* Allocates the flow table (max_flows entries, fixed) and copies *c and
 * *sink (ports are copied too).  NULL on allocation failure or when
 * max_flows is 0. */
stream_table_t *stream_new(const struct stream_config *c, const struct stream_sink *sink);

/* Feeds one segment with its capture time.  Returns 0, or SG_ENOTSUP when
 * the port restriction filtered it out. */
int stream_feed(stream_table_t *t, const struct pkt_tcp *seg, sg_time_us ts);

/* Ends flows idle for idle_timeout_s at packet time now (delivering what is
 * deliverable first).  Work: O(flows expired + 1). */
void stream_expire(stream_table_t *t, sg_time_us now);

/* End of input: skips remaining holes, delivers what is deliverable and
 * ends every flow. */
void stream_flush(stream_table_t *t);

struct stream_stats {
    /* segments and bytes not side by side: stream_feed() adds to both on
     * every segment, and as neighbours GCC made the two adds one SSE2
     * add through a spill (eight instructions instead of two). */
    uint64_t segments, pdus, bytes, flows_created, flows_evicted, flows_timed_out, gaps,
        gap_bytes, resyncs, retrans_bytes, overlaps, ooo_segments, ooo_dropped, memcap_drops,
        not_smpp_bytes, oversize;
    uint64_t flows_active, buffered_bytes;
    /* Added: */
    uint64_t pdu_bytes;        /* bytes delivered as PDUs */
    uint64_t copied_bytes;     /* bytes copied into buffers (the slow path) */
    uint64_t hunt_bytes;       /* bytes skipped while hunting for a header */
    uint64_t partial_dropped;  /* bytes of incomplete PDUs discarded at gaps/ends */
    uint64_t overlap_bytes;    /* bytes of overlaps (already held, not rewritten) */
    uint64_t sync_lost;        /* a header failed the check where one was expected */
    uint64_t flows_not_smpp, flows_closed, flows_reset;
    uint64_t port_ignored;     /* segments outside the port restriction */
    uint64_t buffered_peak;    /* high-water mark of buffered_bytes */
    uint64_t table_bytes;      /* fixed memory of the flow table */
    uint64_t seq_jumps;        /* directions started over: a sequence jump no
                                  loss or retransmission explains (a new
                                  connection on the same endpoints, its SYN
                                  not captured) */
};
void stream_get_stats(const stream_table_t *t, struct stream_stats *s);

/* For the tests that hold the fast paths to the general path: with on
 * set, a segment on another flow than the previous segment's takes the
 * general path (the lookup and every check) instead of the fast paths.
 * Fed so that the flow changes on every segment, the table reassembles as
 * it would without any fast path; the output must be the same either
 * way.  Off by default. */
void stream_set_general_only(stream_table_t *t, int on);

void stream_free(stream_table_t *t);

#endif
