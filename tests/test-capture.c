/* capture.c: the direct pcap reader against libpcap.  Each file below is
 * read three times: by libpcap (capture_opts.libpcap_only), by the direct
 * reader, and by the direct reader through a window of a few records
 * (capture_opts.map_window); all must hand out the same packets, time
 * stamps, lengths, end and error: classic pcap in micro- and nanoseconds,
 * the other byte order, negative time stamps, a record longer than the
 * window, a record longer than the snapshot length, files that end inside
 * a record header or a record, and a file that grows after it is opened.
 *
 * Then a live capture on loopback (skipped without the right to capture):
 * capture_next() reports an idle point (SG_EAGAIN) about every timeout_ms
 * on a quiet link, soon after a lone packet, while packets keep coming,
 * and while a slow reader never empties the ring. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
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

/* FNV-1a over everything a packet is: time, lengths, link type, octets. */
static uint64_t hash_pkt(uint64_t h, const struct capture_pkt *p)
{
    uint64_t v[4] = {p->ts, p->caplen, p->wirelen, (uint64_t)p->dlt};
    for (int i = 0; i < 4; i++)
        h = (h ^ v[i]) * 1099511628211ULL;
    for (uint32_t i = 0; i < p->caplen; i++)
        h = (h ^ p->data[i]) * 1099511628211ULL;
    return h;
}

static void read_all(const char *path, int libpcap_only, size_t map_window, struct out *o)
{
    memset(o, 0, sizeof *o);
    struct capture_opts opts = {.file = path, .libpcap_only = libpcap_only, .map_window = map_window};
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
        h = hash_pkt(h, &p);
        uint64_t pos, size;
        if (capture_progress(c, &pos, &size) == 0)
            o->progress = pos;
    }
    o->sum = h;
    o->last_rc = rc;
    snprintf(o->err, sizeof o->err, "%s", capture_error(c));
    capture_free(c);
}

/* The file read by libpcap, by the direct reader, and by the direct
 * reader through a window of a few records (every window end crossed,
 * records longer than the window among them): all must agree. */
static void same(const char *what, const char *path, long want_packets)
{
    struct out ref, d[2];
    read_all(path, 1, 0, &ref);
    read_all(path, 0, 0, &d[0]);
    read_all(path, 0, 100, &d[1]);
    for (int i = 0; i < 2; i++) {
        const struct out *a = &d[i];
        const char *how = i ? "small window" : "direct";
        CHECK_MSG(a->packets == ref.packets, "%s (%s): %ld != %ld packets", what, how, a->packets, ref.packets);
        CHECK_MSG(a->sum == ref.sum, "%s (%s): different packets", what, how);
        CHECK_MSG(a->last_rc == ref.last_rc, "%s (%s): end %d != %d", what, how, a->last_rc, ref.last_rc);
        CHECK_MSG(strcmp(a->err, ref.err) == 0, "%s (%s): \"%s\" != \"%s\"", what, how, a->err, ref.err);
    }
    CHECK_MSG(ref.packets == want_packets, "%s: %ld packets, want %ld", what, ref.packets, want_packets);
}
/* A file that grows after it was opened (the direct reader maps it as it
 * was): its first records are written, the capture opened, the rest
 * appended; every record must come, in order, as from the whole file. */
static void grown_file(const char *path, const struct rec *r)
{
    enum { N = 300, FIRST = 120 };
    write_pcap(path, 0xa1b2c3d4u, 0, 262144, 1, r, N, -1);
    struct out whole;
    read_all(path, 1, 0, &whole);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    static uint8_t bytes[N * (16 + 1500) + 24];
    size_t len = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    size_t head = 24;
    for (int i = 0; i < FIRST; i++)
        head += 16 + r[i].caplen;
    CHECK(head < len);
    for (size_t window = 0; window <= 100; window += 100) {
        f = fopen(path, "wb");
        CHECK(f != NULL && fwrite(bytes, 1, head, f) == head);
        if (f)
            fclose(f);
        struct capture_opts opts = {.file = path, .map_window = window};
        capture_t *c = NULL;
        char err[256];
        CHECK_MSG(capture_open(&c, &opts, err, sizeof err) == 0, "%s", err);
        if (!c)
            return;
        f = fopen(path, "ab");
        CHECK(f != NULL && fwrite(bytes + head, 1, len - head, f) == len - head);
        if (f)
            fclose(f);
        struct capture_pkt p;
        uint64_t h = 1469598103934665603ULL;
        long n = 0;
        int rc;
        while ((rc = capture_next(c, &p)) == 1) {
            n++;
            h = hash_pkt(h, &p);
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(n, N);
        CHECK_MSG(h == whole.sum, "grown file (window %zu): different packets", window);
        capture_free(c);
    }
}

#define LIVE_TIMEOUT_MS 50
/* What a loaded CI machine (sanitizers, two shared cores) may add to a
 * deadline. */
#define LIVE_SLACK_MS 250

static double live_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A UDP socket bound to 127.0.0.1 on a free port (so that packets sent to
 * it draw no ICMP), its port in *port. */
static int live_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void live_send(int fd, uint16_t port, int n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++)
        (void)sendto(fd, "smsguard", 8, 0, (struct sockaddr *)&a, sizeof a);
}

struct live_run {
    long packets, idles;
    double max_gap_ms; /* between two idle points (or the start and the first) */
};

/* Reads until `packets` packets came and then until the first idle point,
 * or until end_ms; sleep_us after each packet (a slow reader). */
static void live_read(capture_t *c, long packets, double end_ms, unsigned sleep_us, struct live_run *r)
{
    memset(r, 0, sizeof *r);
    struct capture_pkt p;
    double last = live_now_ms();
    while (live_now_ms() < end_ms) {
        int rc = capture_next(c, &p);
        double t = live_now_ms();
        if (rc == 1) {
            r->packets++;
            if (sleep_us)
                usleep(sleep_us);
            continue;
        }
        CHECK_MSG(rc == SG_EAGAIN, "live capture_next: %d (%s)", rc, capture_error(c));
        if (rc != SG_EAGAIN)
            return;
        r->idles++;
        if (t - last > r->max_gap_ms)
            r->max_gap_ms = t - last;
        last = t;
        if (r->packets >= packets)
            return;
    }
}

static void live_tests(void)
{
    uint16_t port;
    int fd = live_socket(&port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    char bpf[64], err[256];
    snprintf(bpf, sizeof bpf, "udp dst port %u", (unsigned)port);
    struct capture_opts opts = {.iface = "lo", .bpf = bpf, .timeout_ms = LIVE_TIMEOUT_MS};
    capture_t *c = NULL;
    if (capture_open(&c, &opts, err, sizeof err) != 0) {
        printf("test-capture: live capture on lo skipped: %s\n", err);
        close(fd);
        return;
    }
    /* A capture that hangs (the bug this tests) ends the test: a failure. */
    alarm(30);

    /* A quiet link: an idle point every timeout_ms. */
    struct capture_pkt p;
    double t0 = live_now_ms(), prev = t0;
    for (int i = 0; i < 4; i++) {
        int rc = capture_next(c, &p);
        double t = live_now_ms();
        CHECK_MSG(rc == SG_EAGAIN, "quiet link: %d", rc);
        CHECK_MSG(t - prev >= LIVE_TIMEOUT_MS * 0.8 && t - prev <= LIVE_TIMEOUT_MS + LIVE_SLACK_MS,
                  "quiet link: idle point after %.1f ms, want %d", t - prev, LIVE_TIMEOUT_MS);
        prev = t;
    }

    /* A lone packet comes within the kernel's block timer (timeout_ms), and
     * the idle point right after it, not a timeout_ms later. */
    t0 = live_now_ms();
    live_send(fd, port, 1);
    struct live_run r;
    live_read(c, 1, t0 + 5000, 0, &r);
    double t = live_now_ms();
    CHECK_EQ_INT(r.packets, 1);
    CHECK_MSG(t - t0 <= LIVE_TIMEOUT_MS + LIVE_TIMEOUT_MS / 2 + LIVE_SLACK_MS,
              "lone packet: the idle point after it came %.1f ms after it was sent", t - t0);

    /* Packets every 2 ms for 600 ms, from a child: idle points keep
     * coming every timeout_ms or so. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 300; i++) {
            live_send(fd, port, 1);
            usleep(2000);
        }
        _exit(0);
    }
    if (pid > 0) {
        live_read(c, 300, live_now_ms() + 10000, 0, &r);
        waitpid(pid, NULL, 0);
        CHECK_EQ_INT(r.packets, 300);
        CHECK_MSG(r.max_gap_ms <= LIVE_TIMEOUT_MS + LIVE_SLACK_MS,
                  "steady traffic: %ld idle points, %.1f ms apart at most", r.idles, r.max_gap_ms);
        printf("test-capture: steady traffic: %ld packets, %ld idle points, at most %.1f ms apart\n",
               r.packets, r.idles, r.max_gap_ms);
    }

    /* A burst read by a slow reader (0.3 ms a packet): the ring never runs
     * empty, and the idle points still come on time. */
    live_send(fd, port, 1000);
    live_read(c, 1000, live_now_ms() + 20000, 300, &r);
    CHECK_EQ_INT(r.packets, 1000);
    CHECK_MSG(r.max_gap_ms <= LIVE_TIMEOUT_MS + LIVE_SLACK_MS,
              "slow reader: %ld idle points, %.1f ms apart at most", r.idles, r.max_gap_ms);
    printf("test-capture: slow reader: %ld packets, %ld idle points, at most %.1f ms apart\n", r.packets,
           r.idles, r.max_gap_ms);

    /* capture_break() ends the next read at once. */
    capture_break(c);
    t0 = live_now_ms();
    CHECK_EQ_INT(capture_next(c, &p), 0);
    CHECK(live_now_ms() - t0 < LIVE_SLACK_MS);

    alarm(0);
    capture_free(c);
    close(fd);
}

int main(void)
{
    char path[] = "/tmp/sg-test-capture-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return test_summary();
    close(fd);

    /* Many ordinary records: through the small window, records split
     * across its end over and over. */
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

    /* A record longer than the small window, then small ones. */
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
    read_all(path, 0, 0, &o);
    CHECK_EQ_INT(o.progress, 24 + 4 * (16 + 60));

    grown_file(path, r);
    unlink(path);
    live_tests();
    return test_summary();
}
