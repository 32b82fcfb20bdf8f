/* capture.c: the direct pcap reader against libpcap.  Each file below is
 * read twice, once by the direct reader and once by libpcap
 * (capture_opts.libpcap_only), and both must
 * hand out the same packets, time stamps, lengths, end and error: classic
 * pcap in micro- and nanoseconds, the other byte order, negative time
 * stamps, a record longer than the read buffer, a record longer than the
 * snapshot length, and files that end inside a record header or a record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "testutil.h"

struct rec {
    uint32_t sec, frac, caplen, len;
};

static uint32_t sw32(uint32_t v, int swap)
{
    return swap ? __builtin_bswap32(v) : v;
}

static uint16_t sw16(uint16_t v, int swap)
{
    return swap ? __builtin_bswap16(v) : v;
}

/* Writes a pcap file: header, then each record with caplen octets of a
 * pattern (fewer when cut is set: the file ends after `cut` octets of the
 * last record, header included). */
static void write_pcap(const char *path, uint32_t magic, int swap, uint32_t snaplen, uint32_t linktype,
                       const struct rec *r, size_t n, long cut)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    uint32_t m = sw32(magic, swap), sl = sw32(snaplen, swap), lt = sw32(linktype, swap), zero = 0;
    uint16_t maj = sw16(2, swap), min = sw16(4, swap);
    fwrite(&m, 4, 1, f);
    fwrite(&maj, 2, 1, f);
    fwrite(&min, 2, 1, f);
    fwrite(&zero, 4, 1, f);
    fwrite(&zero, 4, 1, f);
    fwrite(&sl, 4, 1, f);
    fwrite(&lt, 4, 1, f);
    static uint8_t data[400000];
    for (size_t i = 0; i < n; i++) {
        uint32_t h[4] = {sw32(r[i].sec, swap), sw32(r[i].frac, swap), sw32(r[i].caplen, swap),
                         sw32(r[i].len, swap)};
        for (uint32_t k = 0; k < r[i].caplen && k < sizeof data; k++)
            data[k] = (uint8_t)(k * 7 + i);
        size_t hn = sizeof h, dn = r[i].caplen;
        if (cut >= 0 && i == n - 1) {
            hn = (size_t)cut < hn ? (size_t)cut : hn;
            dn = (size_t)cut > sizeof h ? (size_t)cut - sizeof h : 0;
        }
        fwrite(h, 1, hn, f);
        fwrite(data, 1, dn, f);
    }
    fclose(f);
}

struct out {
    uint64_t sum;  /* of everything handed out, in order */
    long packets;
    int last_rc;
    char err[256];
    uint64_t progress;
};

static void read_all(const char *path, int libpcap_only, struct out *o)
{
    memset(o, 0, sizeof *o);
    struct capture_opts opts = {.file = path, .libpcap_only = libpcap_only};
    capture_t *c = NULL;
    char err[256];
    int rc = capture_open(&c, &opts, err, sizeof err);
    CHECK_MSG(rc == 0, "%s: %s", path, err);
    if (rc != 0)
        return;
    struct capture_pkt p;
    uint64_t h = 1469598103934665603ULL;
    while ((rc = capture_next(c, &p)) == 1) {
        o->packets++;
        uint64_t v[4] = {p.ts, p.caplen, p.wirelen, (uint64_t)p.dlt};
        for (int i = 0; i < 4; i++)
            h = (h ^ v[i]) * 1099511628211ULL;
        for (uint32_t i = 0; i < p.caplen; i++)
            h = (h ^ p.data[i]) * 1099511628211ULL;
        uint64_t pos, size;
        if (capture_progress(c, &pos, &size) == 0)
            o->progress = pos;
    }
    o->sum = h;
    o->last_rc = rc;
    snprintf(o->err, sizeof o->err, "%s", capture_error(c));
    capture_free(c);
}

static void same(const char *what, const char *path, long want_packets)
{
    struct out a, b;
    read_all(path, 0, &a); /* direct */
    read_all(path, 1, &b); /* libpcap */
    CHECK_MSG(a.packets == b.packets, "%s: %ld != %ld packets", what, a.packets, b.packets);
    CHECK_MSG(a.sum == b.sum, "%s: different packets", what);
    CHECK_MSG(a.last_rc == b.last_rc, "%s: end %d != %d", what, a.last_rc, b.last_rc);
    CHECK_MSG(strcmp(a.err, b.err) == 0, "%s: \"%s\" != \"%s\"", what, a.err, b.err);
    CHECK_MSG(a.packets == want_packets, "%s: %ld packets, want %ld", what, a.packets, want_packets);
}

int main(void)
{
    char path[] = "/tmp/sg-test-capture-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return test_summary();
    close(fd);

    /* Many ordinary records, so the 64 KiB buffer refills many times with
     * records split across its end. */
    static struct rec r[5000];
    for (size_t i = 0; i < 5000; i++)
        r[i] = (struct rec){1700000000u + (uint32_t)(i / 10), (uint32_t)(i * 997 % 1000000),
                            (uint32_t)(40 + i * 13 % 1400), (uint32_t)(40 + i * 13 % 1400 + (i % 3))};
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, r, 5000, -1);
    same("microseconds", path, 5000);
    write_pcap(path, 0xa1b23c4du, 0, 262144, 1, r, 5000, -1);
    same("nanoseconds", path, 5000);
    write_pcap(path, 0xa1b2c3d4u, 1, 262144, 1, r, 5000, -1);
    same("other byte order", path, 5000);
    write_pcap(path, 0xa1b2c3d4u, 0, 65535, 101, r, 5000, -1);
    same("raw IP", path, 5000);

    /* Negative time stamps (signed in the file), a fraction of a second
     * past 10^6, a nanosecond fraction that rounds toward zero. */
    struct rec t[4] = {{0xffffff00u, 5, 60, 60}, {0, 0xfffffff0u, 60, 60}, {1, 1999999, 60, 60},
                       {2, 0xfffffc17u, 60, 60}};
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, t, 4, -1);
    same("signed time stamps", path, 4);
    write_pcap(path, 0xa1b23c4du, 0, 262144, 1, t, 4, -1);
    same("signed nanoseconds", path, 4);

    /* A record longer than the read buffer (grows it), then small ones. */
    struct rec big[3] = {{1, 0, 100, 100}, {1, 1, 200000, 200000}, {1, 2, 100, 100}};
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, big, 3, -1);
    same("long record", path, 3);

    /* A record longer than the snapshot length: libpcap's business from
     * there on (it truncates to the snapshot length). */
    struct rec over[3] = {{1, 0, 100, 100}, {1, 1, 3000, 3000}, {1, 2, 100, 100}};
    write_pcap(path, 0xa1b2c3d4u, 0, 2000, 1, over, 3, -1);
    same("longer than snaplen", path, 3);
    /* ... and past libpcap's maximum: an error. */
    struct rec huge[2] = {{1, 0, 100, 100}, {1, 1, 300000, 300000}};
    write_pcap(path, 0xa1b2c3d4u, 0, 0x7fffffffu, 1, huge, 2, -1);
    same("past the maximum", path, 1);

    /* Files that end inside the last record's header, or its data. */
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, r, 100, 7);
    same("cut in a header", path, 99);
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, r, 100, 16);
    same("cut after a header", path, 99);
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, r, 100, 30);
    same("cut in a record", path, 99);
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, r, 0, -1);
    same("no records", path, 0);

    /* The progress position of the direct reader is the file offset. */
    struct out o;
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, t, 4, -1);
    read_all(path, 0, &o);
    CHECK_EQ_INT(o.progress, 24 + 4 * (16 + 60));

    unlink(path);
    return test_summary();
}
