/* pcap-readloop: the floor under every decode benchmark.  It reads a capture
 * with a bare libpcap loop (pcap_next_ex), counts packets and bytes, and prints
 * packets/s and MB/s.  Nothing the decoder does can make reading the same file
 * faster than this, so the decoder's figure is judged against it.
 *
 *   pcap-readloop [--touch] [--repeat N] [--capture] FILE
 *
 * Output: "packets N bytes B seconds S packets/s P MB/s M" on one line.
 * --touch also reads every captured byte (a checksum-like sum), which is
 * the least work a decoder must do with the packet. --repeat reads the file
 * N times and prints the best pass, so a cold page cache does not count.
 * --capture reads through smsguard's own capture module (filter/capture.h)
 * instead of pcap_next_ex: for classic pcap files that is its direct
 * reader, faster than libpcap's loop, so "decode against this loop" is
 * the decoder's own cost, and "decode against the bare loop" its speed
 * against the libpcap yardstick.
 *
 * Build: part of bench/ (cmake --build build --target pcap-readloop).
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct pass {
    uint64_t packets, bytes, sum;
    double seconds;
};

/* One pass over the file; returns 0, or 1 with the error printed. */
static int read_pass(const char *path, int touch, struct pass *out)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    int rc = 1;
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    pcap_t *p = pcap_open_offline(path, errbuf);
    if (!p) {
        fprintf(stderr, "pcap-readloop: %s: %s\n", path, errbuf);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    int r;
    while ((r = pcap_next_ex(p, &h, &data)) == 1) {
        out->packets++;
        out->bytes += h->caplen;
        if (touch) {
            uint64_t s = 0;
            for (uint32_t i = 0; i < h->caplen; i++)
                s += data[i];
            out->sum += s;
        }
    }
    if (r == PCAP_ERROR) {
        fprintf(stderr, "pcap-readloop: %s: %s\n", path, pcap_geterr(p));
        goto out;
    }
    rc = 0;
out:
    pcap_close(p);
    out->seconds = now_s() - t0;
    return rc;
}

/* The same pass through filter/capture.h. */
static int read_pass_capture(const char *path, int touch, struct pass *out)
{
    char errbuf[256];
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    struct capture_opts opts = {.file = path};
    capture_t *c = NULL;
    if (capture_open(&c, &opts, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "pcap-readloop: %s: %s\n", path, errbuf);
        return 1;
    }
    struct capture_pkt pk;
    int r;
    while ((r = capture_next(c, &pk)) == 1) {
        out->packets++;
        out->bytes += pk.caplen;
        if (touch) {
            uint64_t s = 0;
            for (uint32_t i = 0; i < pk.caplen; i++)
                s += pk.data[i];
            out->sum += s;
        }
    }
    int rc = 0;
    if (r < 0) {
        fprintf(stderr, "pcap-readloop: %s: %s\n", path, capture_error(c));
        rc = 1;
    }
    capture_free(c);
    out->seconds = now_s() - t0;
    return rc;
}

int main(int argc, char **argv)
{
    int touch = 0, own_reader = 0;
    long repeat = 1;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--touch")) {
            touch = 1;
        } else if (!strcmp(argv[i], "--capture")) {
            own_reader = 1;
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            char *e;
            repeat = strtol(argv[++i], &e, 10);
            if (*e || repeat < 1 || repeat > 1000) {
                fprintf(stderr, "pcap-readloop: --repeat: expected 1..1000\n");
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "usage: pcap-readloop [--touch] [--repeat N] [--capture] FILE\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: pcap-readloop [--touch] [--repeat N] [--capture] FILE\n");
        return 2;
    }
    struct pass best = {0}, cur;
    for (long k = 0; k < repeat; k++) {
        if ((own_reader ? read_pass_capture(path, touch, &cur) : read_pass(path, touch, &cur)) != 0)
            return 1;
        if (k == 0 || cur.seconds < best.seconds)
            best = cur;
    }
    double s = best.seconds > 0 ? best.seconds : 1e-9;
    /* One line, field 2 the packet count: bench/bench-decode.sh reads it
     * with awk '{print $2}'. */
    printf("packets %" PRIu64 " bytes %" PRIu64 " seconds %.3f packets/s %.0f MB/s %.1f%s%s\n", best.packets,
           best.bytes, best.seconds, (double)best.packets / s, (double)best.bytes / s / 1e6,
           touch ? " (bytes touched)" : "", own_reader ? " (capture module)" : "");
    if (touch)
        fprintf(stderr, "pcap-readloop: byte sum %" PRIu64 "\n", best.sum); /* keeps the loop honest */
    return 0;
}
