/* Fuzz target: captured frames through pkt_decode() and stream_feed().
 *
 * Input: a sequence of records
 *     [u8 sel][u16 len, little-endian][len bytes]
 * sel & 0x80 clear: the bytes are a frame of link type DLTS[sel & 7];
 * sel & 0x80 set:   the bytes are [u8 flags][u32 seq][u8 flow] then payload,
 *                   a synthetic segment on one of 4 flows (either direction),
 *                   so the reassembler is reached without valid headers.
 * (sel >> 3) & 0xF advances packet time by that many 100 ms steps, to reach
 * gap and idle timeouts.  Each frame is copied into an exact-size buffer so
 * that an overread is caught.  The table is small (4 flows, 64 KiB memcap,
 * 8 KiB per direction, 2 KiB window) so that eviction and caps are hit.
 *
 *   CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *   ./build-fuzz/tests/fuzz-packets -max_total_time=600 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode-packet.h"
#include "smpp-frame.h"
#include "stream-tcp.h"

static const int DLTS[8] = {PKT_DLT_EN10MB, PKT_DLT_LINUX_SLL, PKT_DLT_LINUX_SLL2, PKT_DLT_RAW,
                            PKT_DLT_NULL,   PKT_DLT_LOOP,      PKT_DLT_IPV6,       PKT_LINKTYPE_RAW};

static uint64_t sink_sum;

static void on_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *p,
                   size_t len, uint64_t off)
{
    (void)ctx;
    (void)f;
    (void)ts;
    (void)off;
    if (len < SMPP_HEADER_LEN || smpp_be32(p) != len)
        abort(); /* the contract: one whole PDU */
    for (size_t i = 0; i < len; i++)
        sink_sum += p[i];
}

static void on_event(void *ctx, const struct stream_flow_info *f, sg_time_us ts,
                     enum stream_event ev, uint64_t off, uint64_t bytes, const char *why)
{
    (void)ctx;
    (void)ts;
    (void)off;
    (void)bytes;
    if (!why || !f->src || !f->dst || stream_event_name(ev)[0] == 'u')
        abort();
}

static uint64_t ended, created_seen;

static void on_end(void *ctx, uint64_t id)
{
    (void)ctx;
    (void)id;
    ended++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stream_config c;
    stream_config_default(&c);
    c.max_flows = 4;
    c.max_buffered_bytes = 64 * 1024;
    c.max_flow_buffer = 8192;
    c.ooo_window = 2048;
    c.idle_timeout_s = 2;
    c.gap_timeout_ms = 500;
    c.not_smpp_after = 4096;
    struct stream_sink sink = {NULL, on_pdu, on_event, on_end};
    stream_table_t *t = stream_new(&c, &sink);
    if (!t)
        return 0;
    ended = 0;
    sg_time_us ts = 1000000;
    struct pkt_decode_stats ds;
    memset(&ds, 0, sizeof ds);
    size_t at = 0;
    /* Bound: each record consumes at least 3 bytes. */
    while (size - at >= 3) {
        uint8_t sel = data[at];
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (len > size - at)
            len = size - at;
        uint8_t *frame = malloc(len ? len : 1);
        if (!frame)
            break;
        memcpy(frame, data + at, len);
        at += len;
        ts += (sg_time_us)((sel >> 3) & 0xF) * 100000u;
        struct pkt_tcp seg;
        if (sel & 0x80) {
            if (len >= 6) {
                memset(&seg, 0, sizeof seg);
                seg.flags = frame[0];
                seg.seq = (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 |
                          (uint32_t)frame[3] << 8 | frame[4];
                int fl = frame[5] & 3, rev = frame[5] & 4;
                struct sg_endpoint a = {{0}, 2775, 1}, b = {{0}, (uint16_t)(40000 + fl), 1};
                a.addr[15] = 1;
                b.addr[15] = 2;
                seg.src = rev ? a : b;
                seg.dst = rev ? b : a;
                seg.payload = len > 6 ? frame + 6 : NULL;
                seg.payload_len = len - 6;
                stream_feed(t, &seg, ts);
            }
        } else {
            int rc = pkt_decode(DLTS[sel & 7], frame, len, &seg);
            /* The fast path must leave exactly what the general path does. */
            struct pkt_tcp gen;
            memset(&gen, 0x5A, sizeof gen);
            if (pkt_decode_general(DLTS[sel & 7], frame, len, &gen) != rc ||
                memcmp(&gen, &seg, sizeof seg) != 0)
                abort();
            pkt_decode_count(&ds, rc, &seg);
            if (rc == 0) {
                if (seg.payload && (seg.payload < frame || seg.payload + seg.payload_len > frame + len))
                    abort();
                stream_feed(t, &seg, ts);
            } else if (!seg.reason) {
                abort();
            }
        }
        free(frame);
        if ((sel & 0x78) == 0x78)
            stream_expire(t, ts);
    }
    struct stream_stats st;
    stream_get_stats(t, &st);
    if (st.buffered_peak > c.max_buffered_bytes || st.flows_active > c.max_flows)
        abort();
    stream_flush(t);
    stream_get_stats(t, &st);
    if (st.flows_active != 0 || ended != st.flows_created)
        abort();
    (void)created_seen;
    stream_free(t);
    return 0;
}
