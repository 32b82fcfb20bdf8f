/* Fuzz target: capture files through capture.c's direct pcap reader and
 * through libpcap, which must agree.
 *
 * Input: the bytes of a capture file.  Inputs that do not start with a
 * pcap magic number get a valid classic header (host byte order, Ethernet,
 * snapshot length 65535) in front, so most runs reach the record parser
 * rather than libpcap's rejection of the file.  The file is read three
 * times: by libpcap alone (capture_opts.libpcap_only), by the direct
 * reader where the file qualifies, and by the direct reader through a
 * 64-octet window (records across its ends): all must hand out the same
 * packets, time stamps, lengths and link types, and end the same way.  A
 * difference aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *   ./build-fuzz/tests/fuzz-capture -max_total_time=600 corpus/
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture.h"

struct run {
    long packets;
    uint64_t sum;
    int last_rc;
    int opened;
};

static void read_all(const char *path, int libpcap_only, size_t map_window, struct run *r)
{
    memset(r, 0, sizeof *r);
    struct capture_opts opts = {.file = path, .libpcap_only = libpcap_only, .map_window = map_window};
    capture_t *c = NULL;
    char err[256];
    if (capture_open(&c, &opts, err, sizeof err) != 0)
        return;
    r->opened = 1;
    struct capture_pkt p;
    uint64_t h = 1469598103934665603ULL;
    int rc;
    while ((rc = capture_next(c, &p)) == 1) {
        r->packets++;
        uint64_t v[4] = {p.ts, p.caplen, p.wirelen, (uint64_t)p.dlt};
        for (int i = 0; i < 4; i++)
            h = (h ^ v[i]) * 1099511628211ULL;
        for (uint32_t i = 0; i < p.caplen; i++)
            h = (h ^ p.data[i]) * 1099511628211ULL;
    }
    r->sum = h;
    r->last_rc = rc;
    capture_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t magics[] = {0xa1b2c3d4u, 0xa1b23c4du, 0xd4c3b2a1u, 0x4d3cb2a1u,
                                      0x0a0d0d0au};
    uint32_t m = 0;
    if (size >= 4)
        memcpy(&m, data, 4);
    int known = 0;
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        known |= m == magics[i];

    int fd = memfd_create("fuzz-capture", 0);
    if (fd < 0)
        return 0;
    if (!known) {
        uint8_t hdr[24];
        const uint32_t magic = 0xa1b2c3d4u, zero = 0, snaplen = 65535, ethernet = 1;
        const uint16_t major = 2, minor = 4;
        memcpy(hdr, &magic, 4);
        memcpy(hdr + 4, &major, 2);
        memcpy(hdr + 6, &minor, 2);
        memcpy(hdr + 8, &zero, 4);
        memcpy(hdr + 12, &zero, 4);
        memcpy(hdr + 16, &snaplen, 4);
        memcpy(hdr + 20, &ethernet, 4);
        if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr) {
            close(fd);
            return 0;
        }
    }
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    struct run pcap, direct[2];
    read_all(path, 1, 0, &pcap);
    read_all(path, 0, 0, &direct[0]);
    read_all(path, 0, 64, &direct[1]); /* records across window ends */
    for (int i = 0; i < 2; i++)
        if (direct[i].opened != pcap.opened || direct[i].packets != pcap.packets ||
            direct[i].sum != pcap.sum || direct[i].last_rc != pcap.last_rc)
            abort();
    close(fd);
    return 0;
}
