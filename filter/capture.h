/* Packet capture: a thin wrapper over libpcap for files (pcap and pcapng)
 * and live interfaces.
 *
 * Life cycle (libpcap's create -> set options -> activate, folded into one
 * call because every option is known up front):
 *     capture_open(&c, &opts, err, sizeof err);
 *     while ((rc = capture_next(c, &pkt)) != 0) { if (rc == SG_EAGAIN) continue; ... }
 *     capture_free(c);
 * One capture_t belongs to one thread; only capture_break() may be called
 * from elsewhere (a signal handler or another thread).
 */
#ifndef SG_CAPTURE_H
#define SG_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

typedef struct capture capture_t;

struct capture_opts {
    const char *file;  /* pcap or pcapng file, "-" for stdin; or NULL for live */
    const char *iface; /* live interface when file is NULL */
    const char *bpf;   /* optional BPF filter expression (e.g. "tcp") */
    int snaplen;       /* live; <= 0 means 262144 */
    int promisc;       /* live */
    int timeout_ms;    /* live: the longest time between two idle points
                          (capture_next()'s SG_EAGAIN), and the kernel's
                          packet-buffer timeout; <= 0 means 100 */
    int libpcap_only;  /* file: read every packet through libpcap, even where
                          the direct pcap reader applies (capture.c): for
                          comparisons and benchmarks */
    size_t map_window; /* file: the direct reader's window over the mapped
                          file, in octets; 0 = its default (8 MiB).  Tests
                          use a few hundred octets to cross many window ends */
};

struct capture_pkt {
    sg_time_us ts;
    int dlt;             /* pcap DLT_* of this packet (pcapng files may mix) */
    const uint8_t *data; /* valid until the next capture_next() or capture_free() */
    uint32_t caplen, wirelen;
};

struct capture_stats {
    uint64_t packets;      /* returned by capture_next() */
    uint64_t bytes;        /* captured bytes returned */
    uint64_t truncated;    /* packets with caplen < wirelen (snap length) */
    uint64_t kernel_drops; /* live: pcap_stats ps_drop (buffer overflow) */
    uint64_t if_drops;     /* live: pcap_stats ps_ifdrop (interface) */
    int have_kernel_stats; /* 1 when the two drop counters are meaningful */
};

/* Opens a file (when o->file is set) or a live interface and applies the
 * optional BPF filter.  On failure returns a negative code and writes a
 * message naming the file or interface into errbuf (errcap bytes, may be 0).
 * OUT *out owns the handle; release with capture_free(). */
int capture_open(capture_t **out, const struct capture_opts *o, char *errbuf, size_t errcap);

/* Next packet: 1 and *pkt filled; 0 at end of file or after capture_break();
 * SG_EAGAIN at an idle point of a live capture; another negative code on a
 * read error (capture_error() says which).
 *
 * Idle points are where the caller does its periodic work (a daemon's
 * reloads, draining what it queued): a live capture reports one at least
 * every timeout_ms, whether the link is quiet or packets keep coming;
 * sooner (timeout_ms / 8 after the last) when the packets a wait delivered
 * have all been read; and at once when a signal interrupts a wait.  Waits
 * happen only when libpcap has nothing buffered; while packets flow, the
 * cost is a counter per packet and a clock read (vDSO, no system call)
 * every 64. */
int capture_next(capture_t *c, struct capture_pkt *pkt);

/* Makes the current or next capture_next() return 0.  Async-signal-safe. */
void capture_break(capture_t *c);

/* File position and size for a progress line; SG_ENOTSUP for live captures
 * and for stdin (size unknown). */
int capture_progress(capture_t *c, uint64_t *pos, uint64_t *size);

/* Data link type of the capture (first interface for pcapng). */
int capture_datalink(const capture_t *c);

/* Counters; on a live capture also asks the kernel (pcap_stats). */
void capture_get_stats(capture_t *c, struct capture_stats *s);

/* Last read error message ("" when none). */
const char *capture_error(const capture_t *c);

void capture_free(capture_t *c);

#endif
