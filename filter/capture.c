#include "capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CAPTURE_DEFAULT_SNAPLEN 262144
#define CAPTURE_DEFAULT_TIMEOUT_MS 100

/* stdio buffer for a capture file that libpcap reads: a read() per 64 KiB
 * instead of per 4 KiB (stdio's default). */
#define CAPTURE_FILE_BUFFER (64u << 10)

/* Classic pcap files (pcap-savefile(5)) in this host's byte order, the
 * common case by far, are read by the direct reader: the file is mapped
 * and its records are parsed in place, packets handed out as views of the
 * map.  libpcap reads a savefile with two fread() calls and a copy per
 * packet (about 430 instructions a packet, more than the decoder spends on
 * most packets); the direct reader costs a few dozen.  Reading through the
 * map also spares the kernel's copy of every octet out of the page cache,
 * which pread() into a buffer needed: with the judge's tables and
 * Hyperscan's state between two reads, that copy wrote to lines long
 * evicted, 16% of `replay -q`'s samples (perf, 1M-message capture).  The
 * CPU time saved is smaller, 2-4% (docs/benchmarks.md, tenth session): the
 * reader now takes the first touch of each packet's lines itself.
 * libpcap still opens and checks the file (and gives the link type);
 * anything the direct reader does not handle exactly as libpcap 1.10 does
 * (another byte order, pcapng, a BPF filter, a link type libpcap
 * post-processes, a record longer than the snapshot length, a file that
 * ends inside a record, or grew after it was opened: the map covers the
 * file as it was then) goes to libpcap, from that record on.  A file
 * that cannot be mapped is read by libpcap.
 *
 * The map is read through a window of CAPTURE_MAP_WINDOW octets: when the
 * reader reaches its end, the pages behind the current record are given
 * back (MADV_DONTNEED), so the process's resident size stays about one
 * window however large the file.  The hot path only compares against the
 * window's end, as it compared against the end of pread()'s buffer.
 * (Filling each window's page tables in one call, MADV_POPULATE_READ,
 * cost as much as the page faults it saved: 1.27 s of CPU for `decode -q`
 * of the 1M-message capture either way.)
 *
 * A capture file truncated by another process while it is read would
 * raise SIGBUS at the next access past its new end, as would a disk error
 * reading a page of it (pread() returned EIO).  Captures are read once
 * written (tcpdump -w finishes a file before it rotates to the next); one
 * still being appended to is safe: the map ends where the file did, and
 * libpcap reads what came after. */
#define CAPTURE_MAP_WINDOW (8u << 20)
#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_RECORD_HDR 16u
#define PCAP_MAX_CAPLEN 262144u /* libpcap's max_snaplen_for_dlt() for ours */

/* A live capture reads in non-blocking mode and waits in its own poll():
 * libpcap 1.10 on Linux (TPACKET_V3) leaves its read timeout to the kernel,
 * whose block-retire timer only fires for a block that holds a packet, and
 * polls without a timeout, so on a quiet link pcap_next_ex() would never
 * come back.  capture_next() instead returns SG_EAGAIN, the caller's idle
 * point, at least every timeout_ms: when the ring is empty (the monotonic
 * clock is read then, once per wait, not per packet), and while packets
 * keep coming, checked every CAPTURE_CLOCK_EVERY packets, so that a loop
 * that never drains the ring still gets its idle points on time.  The
 * clock is vDSO clock_gettime() (no system call, a few dozen
 * instructions): once in 64 packets is well under 1% of pcap_next_ex()'s
 * own cost per packet (a few hundred), and 64 packets are a small part of
 * timeout_ms even for a loop that judges only a few thousand a second. */
#define CAPTURE_CLOCK_EVERY 64

struct capture {
    pcap_t *p;               /* hot: read on every packet */
    volatile sig_atomic_t stop;
    /* 1 while the direct reader reads a microsecond file and no break
     * was asked: direct, !ts_ns and !stop in one word, the one test
     * capture_next() makes before direct_take().  capture_break() clears
     * it (a plain store: safe in a signal handler), as does
     * direct_give_up(). */
    volatile sig_atomic_t take;
    int dlt;                 /* pcap_datalink(p), read once: it cannot change
                              * (libpcap refuses a pcapng file whose
                              * interfaces differ in link type, and we never
                              * call pcap_set_datalink) */
    int is_file;
    FILE *fp;                /* pcap_file(): offline position for progress */
    char *iobuf;             /* stdio buffer of fp (open_file) */
    uint64_t size;           /* file size, 0 when unknown (stdin) */
    /* Direct reader (see PCAP_MAGIC_US); direct == 0: libpcap reads. */
    int direct, ts_ns;
    uint32_t snaplen;        /* pcap_snapshot() */
    uint32_t caplen_max;     /* min(snaplen, PCAP_MAX_CAPLEN): the longest
                              * record the direct reader takes, one compare */
    const uint8_t *map;      /* the file as it was at open, map_len octets */
    size_t map_len;
    size_t rpos;             /* offset of the next record */
    size_t rend;             /* end of the window (CAPTURE_MAP_WINDOW) */
    size_t released;         /* pages before this offset were given back */
    size_t window;           /* CAPTURE_MAP_WINDOW, or capture_opts.map_window */
    /* Live (see CAPTURE_CLOCK_EVERY).  live_fd < 0: libpcap has no
     * selectable descriptor and blocks in its own read timeout. */
    int live_fd;
    unsigned reads_left;     /* capture_next() calls until the next clock check */
    int64_t idle_us;         /* timeout_ms in microseconds */
    int64_t idle_at;         /* monotonic time of the last SG_EAGAIN */
    uint64_t idle_packets;   /* st.packets then */
    struct capture_stats st;
    char err[PCAP_ERRBUF_SIZE];
};

static void set_err(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static int apply_filter(capture_t *c, const char *expr, const char *what, char *errbuf, size_t errcap)
{
    struct bpf_program prog;
    if (pcap_compile(c->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        set_err(errbuf, errcap, "%s: bad filter: %s", what, pcap_geterr(c->p));
        return SG_EINVAL;
    }
    int rc = pcap_setfilter(c->p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        set_err(errbuf, errcap, "%s: cannot set filter: %s", what, pcap_geterr(c->p));
        return SG_EINVAL;
    }
    return 0;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int open_live(capture_t *c, const struct capture_opts *o, char *errbuf, size_t errcap)
{
    char pe[PCAP_ERRBUF_SIZE] = "";
    c->p = pcap_create(o->iface, pe);
    if (!c->p) {
        set_err(errbuf, errcap, "%s: %s", o->iface, pe);
        return SG_EINVAL;
    }
    pcap_set_snaplen(c->p, o->snaplen > 0 ? o->snaplen : CAPTURE_DEFAULT_SNAPLEN);
    pcap_set_promisc(c->p, o->promisc ? 1 : 0);
    pcap_set_timeout(c->p, o->timeout_ms > 0 ? o->timeout_ms : CAPTURE_DEFAULT_TIMEOUT_MS);
    /* A larger kernel buffer absorbs bursts (Kannel answers in bursts). */
    pcap_set_buffer_size(c->p, 32 * 1024 * 1024);
    pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_MICRO);
    int rc = pcap_activate(c->p);
    if (rc < 0) {
        const char *msg = (rc == PCAP_ERROR || rc == PCAP_ERROR_NO_SUCH_DEVICE ||
                           rc == PCAP_ERROR_PERM_DENIED)
                              ? pcap_geterr(c->p)
                              : pcap_statustostr(rc);
        if (!msg || !*msg)
            msg = pcap_statustostr(rc);
        set_err(errbuf, errcap, "%s: %s", o->iface, msg);
        return rc == PCAP_ERROR_PERM_DENIED ? -EPERM : SG_EINVAL;
    }
    /* rc > 0 is a warning (e.g. promiscuous mode not supported): go on. */
    c->idle_us = 1000 * (int64_t)(o->timeout_ms > 0 ? o->timeout_ms : CAPTURE_DEFAULT_TIMEOUT_MS);
    c->idle_at = mono_us();
    c->reads_left = CAPTURE_CLOCK_EVERY;
    c->live_fd = pcap_get_selectable_fd(c->p);
    if (c->live_fd >= 0 && pcap_setnonblock(c->p, 1, pe) != 0) {
        set_err(errbuf, errcap, "%s: cannot set non-blocking mode: %s", o->iface, pe);
        return SG_EINVAL;
    }
    return 0;
}

static int open_file(capture_t *c, const struct capture_opts *o, char *errbuf, size_t errcap)
{
    char pe[PCAP_ERRBUF_SIZE] = "";
    /* libpcap reads a savefile with one fread per header and per packet;
     * with stdio's default 4 KiB buffer that is a read() syscall every few
     * packets.  CAPTURE_FILE_BUFFER makes it one per hundreds. */
    int is_stdin = strcmp(o->file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(o->file, "rb");
    if (!f) {
        int e = errno;
        set_err(errbuf, errcap, "%s: %s", o->file, strerror(e));
        return -e;
    }
    /* glibc ignores the size when it allocates the buffer itself, so the
     * capture owns it; it is freed after pcap_close() has closed the file. */
    c->iobuf = malloc(CAPTURE_FILE_BUFFER);
    if (c->iobuf)
        setvbuf(f, c->iobuf, _IOFBF, CAPTURE_FILE_BUFFER);
    c->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, pe);
    if (!c->p) {
        if (!is_stdin)
            fclose(f);
        set_err(errbuf, errcap, "%s: %s", o->file, pe);
        return SG_EINVAL;
    }
    c->is_file = 1;
    c->fp = pcap_file(c->p);
    struct stat st;
    if (strcmp(o->file, "-") != 0 && stat(o->file, &st) == 0 && S_ISREG(st.st_mode))
        c->size = (uint64_t)st.st_size;
    return 0;
}

/* Link types libpcap hands over as they are in the file (no
 * pcap_post_process() fix-ups), which the decoder reads. */
static int direct_dlt(int dlt)
{
    return dlt == DLT_EN10MB || dlt == DLT_RAW || dlt == DLT_NULL || dlt == DLT_LOOP
#ifdef DLT_IPV4
           || dlt == DLT_IPV4 || dlt == DLT_IPV6
#endif
        ;
}

/* Turns the direct reader on when the file qualifies and can be mapped;
 * otherwise libpcap keeps reading.  The records start at offset 24, after
 * the file header libpcap has just checked. */
static void direct_setup(capture_t *c, size_t window)
{
    uint8_t h[24];
    int fd = fileno(c->fp);
    if (fd < 0 || c->size < sizeof h || c->size > SIZE_MAX || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return;
    uint32_t magic, snaplen;
    uint16_t major, minor;
    memcpy(&magic, h, 4);
    memcpy(&major, h + 4, 2);
    memcpy(&minor, h + 6, 2);
    memcpy(&snaplen, h + 16, 4);
    if ((magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS) || major != 2 || minor != 4 ||
        pcap_is_swapped(c->p) || !direct_dlt(c->dlt) || pcap_snapshot(c->p) <= 0 ||
        (uint32_t)pcap_snapshot(c->p) != snaplen)
        return;
    void *map = mmap(NULL, (size_t)c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return;
    madvise(map, (size_t)c->size, MADV_SEQUENTIAL);
    c->map = map;
    c->map_len = (size_t)c->size;
    c->rpos = sizeof h;
    c->rend = c->rpos;
    c->released = 0;
    c->window = window ? window : CAPTURE_MAP_WINDOW;
    c->snaplen = snaplen;
    c->caplen_max = snaplen < PCAP_MAX_CAPLEN ? snaplen : PCAP_MAX_CAPLEN;
    c->ts_ns = magic == PCAP_MAGIC_NS;
    c->direct = 1;
    c->take = !c->stop && !c->ts_ns;
}

/* Hands the rest of the file, from the record at rpos, to libpcap: it
 * reads on from there (a file that grew since it was mapped) and reports
 * whatever is wrong with that record in its own words. */
static int direct_give_up(capture_t *c)
{
    c->direct = 0;
    c->take = 0;
    if (fseeko(c->fp, (off_t)c->rpos, SEEK_SET) != 0) {
        snprintf(c->err, sizeof c->err, "cannot seek in the capture file: %s", strerror(errno));
        return -EIO;
    }
    return 1;
}

/* Moves the window on to start at the record at offset start, need
 * octets long (at most what the map holds from there), and gives back the
 * pages wholly before it: the packet handed out last lies there, and is
 * no longer valid.  An error of madvise() costs memory, not correctness:
 * it is advice. */
static void window_slide(capture_t *c, size_t start, size_t need)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t keep = start / page * page;
    if (keep > c->released) {
        madvise((void *)(c->map + c->released), keep - c->released, MADV_DONTNEED);
        c->released = keep;
    }
    size_t span = need > c->window ? need : c->window;
    c->rend = c->map_len - start > span ? start + span : c->map_len;
}

/* The record whose header r (ts_sec, ts_frac, caplen, len) is at rpos,
 * whole in the map, into *pkt; rpos moves past it.  ts_ns: the file's
 * c->ts_ns, a constant where the caller knows it. */
static inline __attribute__((always_inline)) void record_take(capture_t *c, const uint32_t r[4],
                                                              struct capture_pkt *pkt, int ts_ns)
{
    /* As libpcap: both time fields are signed 32-bit in the file, and a
     * nanosecond file is scaled down by integer division. */
    int64_t sec = (int32_t)r[0], frac = (int32_t)r[1];
    if (ts_ns)
        frac /= 1000;
    pkt->ts = (sg_time_us)sec * 1000000u + (sg_time_us)frac;
    pkt->dlt = c->dlt;
    pkt->data = c->map + c->rpos + PCAP_RECORD_HDR;
    pkt->caplen = r[2];
    pkt->wirelen = r[3];
    c->rpos += PCAP_RECORD_HDR + r[2];
}

/* The next record by the direct reader, moving the window on when the
 * record crosses its end: 1 with *pkt set, or 0 when libpcap must take
 * over (at the end of the map, and for a record it must judge). */
static int direct_next(capture_t *c, struct capture_pkt *pkt)
{
    size_t left = c->map_len - c->rpos;
    if (left < PCAP_RECORD_HDR)
        return 0; /* the end as mapped: libpcap reads what was appended since, or ends */
    uint32_t r[4]; /* ts_sec, ts_frac, caplen, len */
    memcpy(r, c->map + c->rpos, sizeof r); /* in the map: the window is only advice */
    if (r[2] > c->caplen_max || left - PCAP_RECORD_HDR < r[2])
        return 0; /* too long for the snapshot, or cut short by the end */
    if (c->rend - c->rpos < PCAP_RECORD_HDR + (size_t)r[2])
        window_slide(c, c->rpos, PCAP_RECORD_HDR + (size_t)r[2]);
    record_take(c, r, pkt, c->ts_ns);
    return 1;
}

int capture_open(capture_t **out, const struct capture_opts *o, char *errbuf, size_t errcap)
{
    int rc = SG_EINVAL;
    capture_t *c = NULL;
    *out = NULL;
    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (!o || (!o->file && !o->iface)) {
        set_err(errbuf, errcap, "capture: neither a file nor an interface given");
        goto out;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        rc = -ENOMEM;
        set_err(errbuf, errcap, "capture: out of memory");
        goto out;
    }
    rc = o->file ? open_file(c, o, errbuf, errcap) : open_live(c, o, errbuf, errcap);
    if (rc != 0)
        goto out;
    c->dlt = pcap_datalink(c->p);
    if (o->bpf && *o->bpf) {
        rc = apply_filter(c, o->bpf, o->file ? o->file : o->iface, errbuf, errcap);
        if (rc != 0)
            goto out;
    } else if (c->is_file && c->size && !o->libpcap_only) {
        direct_setup(c, o->map_window);
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    capture_free(c);
    return rc;
}

/* The direct reader's common case: a microsecond file (capture_next()
 * tests c->take), the next record whole in the buffer and within the
 * snapshot length.  A nanosecond file's records take capture_next_slow()
 * and direct_next(): the division they need made every record save and
 * restore a register here, five instructions a packet of the 43.  1 with *pkt set and counted as
 * capture_next() counts it; 0, with nothing changed, for everything else,
 * which capture_next_slow() then takes from the start.  Kept apart so that
 * capture_next() runs it without the stack frame and register saves its
 * calls into libpcap need: about 20 of the 70 instructions a packet cost. */
static inline int direct_take(capture_t *c, struct capture_pkt *pkt)
{
    size_t avail = c->rend - c->rpos;
    if (avail < PCAP_RECORD_HDR)
        return 0;
    uint32_t r[4];  /* ts_sec, ts_frac, caplen, len */
    memcpy(r, c->map + c->rpos, sizeof r);
    if (r[2] > c->caplen_max || avail - PCAP_RECORD_HDR < r[2])
        return 0;
    record_take(c, r, pkt, 0);
    c->st.packets++;
    c->st.bytes += r[2];
    if (r[2] < r[3])
        c->st.truncated++;
    return 1;
}

/* The caller's idle point: SG_EAGAIN, and the next one counted from now. */
static int live_idle(capture_t *c, int64_t now)
{
    c->idle_at = now;
    c->idle_packets = c->st.packets;
    c->reads_left = CAPTURE_CLOCK_EVERY;
    return SG_EAGAIN;
}

/* The next packet of a live capture, as pcap_next_ex() gives it (1,
 * PCAP_ERROR_BREAK, PCAP_ERROR), or SG_EAGAIN at an idle point (see
 * CAPTURE_CLOCK_EVERY), or -EIO when poll() fails.  Without a selectable
 * descriptor, pcap_next_ex() itself (0 after its read timeout).
 *
 * The idle points: when the ring is empty and timeout_ms has passed since
 * the last one; sooner, timeout_ms / 8 after it, when the ring has run
 * empty after handing out packets, so that a message completed by a
 * packet on a quiet link waits for the kernel's block timer (timeout_ms,
 * TPACKET_V3) and not for ours as well; and every CAPTURE_CLOCK_EVERY
 * calls when timeout_ms has passed.  At most 8 idle points per timeout_ms
 * when packets come one by one (a descriptor that wakes per packet),
 * about one per ring block when they stream. */
static int live_next(capture_t *c, struct pcap_pkthdr **h, const u_char **data)
{
    if (c->live_fd < 0)
        return pcap_next_ex(c->p, h, data);
    if (--c->reads_left == 0) {
        int64_t now = mono_us();
        if (now - c->idle_at >= c->idle_us)
            return live_idle(c, now);
        c->reads_left = CAPTURE_CLOCK_EVERY;
    }
    for (;;) {
        int rc = pcap_next_ex(c->p, h, data); /* non-blocking */
        if (rc != 0)
            return rc;
        /* Nothing buffered: the only place this waits. */
        int64_t now = mono_us();
        int64_t due = c->idle_at + (c->st.packets != c->idle_packets ? c->idle_us / 8 : c->idle_us);
        if (now >= due)
            return live_idle(c, now);
        if (c->stop)
            return PCAP_ERROR_BREAK;
        int64_t wait = due - now;
        /* libpcap may need to be read sooner (on Linux, 1 ms while it
         * watches whether an interface that went down has gone away):
         * asked before every wait, as its manual says. */
        const struct timeval *req = pcap_get_required_select_timeout(c->p);
        if (req) {
            int64_t us = (int64_t)req->tv_sec * 1000000 + req->tv_usec;
            if (us < wait)
                wait = us > 0 ? us : 0;
        }
        struct pollfd pfd = {.fd = c->live_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)((wait + 999) / 1000)) < 0) {
            if (errno == EINTR) /* a signal: the caller looks at what it asked now */
                return live_idle(c, mono_us());
            snprintf(c->err, sizeof c->err, "poll: %s", strerror(errno));
            return -EIO;
        }
        /* Readable, an error to collect (libpcap's read does), or the wait
         * is over: read again. */
    }
}

static __attribute__((noinline)) int capture_next_slow(capture_t *c, struct capture_pkt *pkt)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (c->stop)
        return 0;
    if (c->direct) {
        if (direct_next(c, pkt)) {
            c->st.packets++;
            c->st.bytes += pkt->caplen;
            if (pkt->caplen < pkt->wirelen)
                c->st.truncated++;
            return 1;
        }
        int given = direct_give_up(c);
        if (given < 0)
            return given;
    }
    int rc = c->is_file ? pcap_next_ex(c->p, &h, &data) : live_next(c, &h, &data);
    switch (rc) {
    case 1:
        pkt->ts = (sg_time_us)h->ts.tv_sec * 1000000u + (sg_time_us)h->ts.tv_usec;
        pkt->dlt = c->dlt;
        pkt->data = data;
        pkt->caplen = h->caplen;
        pkt->wirelen = h->len;
        c->st.packets++;
        c->st.bytes += h->caplen;
        if (h->caplen < h->len)
            c->st.truncated++;
        return 1;
    case 0:          /* live, blocking: libpcap's read timeout */
    case SG_EAGAIN:  /* live: live_next()'s idle point */
        return c->stop ? 0 : SG_EAGAIN;
    case PCAP_ERROR_BREAK: /* end of file, or pcap_breakloop() */
        return 0;
    case -EIO: /* live_next(): poll() failed, c->err says how */
        return -EIO;
    default:
        snprintf(c->err, sizeof c->err, "%s", pcap_geterr(c->p));
        return -EIO;
    }
}

int capture_next(capture_t *c, struct capture_pkt *pkt)
{
    if (c->take && direct_take(c, pkt))
        return 1;
    return capture_next_slow(c, pkt);
}

void capture_break(capture_t *c)
{
    if (!c)
        return;
    c->take = 0;
    c->stop = 1;
    pcap_breakloop(c->p); /* sets a flag only: safe in a signal handler */
}

int capture_progress(capture_t *c, uint64_t *pos, uint64_t *size)
{
    if (!c->is_file || !c->fp || c->size == 0)
        return SG_ENOTSUP;
    if (c->direct) {
        *pos = c->rpos;
        *size = c->size;
        return 0;
    }
    long off = ftell(c->fp);
    if (off < 0)
        return -errno;
    *pos = (uint64_t)off;
    *size = c->size;
    return 0;
}

int capture_datalink(const capture_t *c) { return pcap_datalink(c->p); }

void capture_get_stats(capture_t *c, struct capture_stats *s)
{
    if (!c->is_file) {
        struct pcap_stat ps;
        if (pcap_stats(c->p, &ps) == 0) {
            c->st.kernel_drops = ps.ps_drop;
            c->st.if_drops = ps.ps_ifdrop;
            c->st.have_kernel_stats = 1;
        }
    }
    *s = c->st;
}

const char *capture_error(const capture_t *c) { return c->err; }

void capture_free(capture_t *c)
{
    if (!c)
        return;
    if (c->p)
        pcap_close(c->p);
    free(c->iobuf);
    if (c->map)
        munmap((void *)c->map, c->map_len);
    free(c);
}
