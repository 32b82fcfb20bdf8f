#include "capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CAPTURE_DEFAULT_SNAPLEN 262144
#define CAPTURE_DEFAULT_TIMEOUT_MS 100

#define CAPTURE_FILE_BUFFER (1u << 20)

struct capture {
    pcap_t *p;               /* hot: read on every packet */
    volatile sig_atomic_t stop;
    int dlt;                 /* pcap_datalink(p), read once: it cannot change
                              * (libpcap refuses a pcapng file whose
                              * interfaces differ in link type, and we never
                              * call pcap_set_datalink) */
    int is_file;
    FILE *fp;                /* pcap_file(): offline position for progress */
    char *iobuf;             /* stdio buffer of fp (open_file) */
    uint64_t size;           /* file size, 0 when unknown (stdin) */
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
    return 0;
}

static int open_file(capture_t *c, const struct capture_opts *o, char *errbuf, size_t errcap)
{
    char pe[PCAP_ERRBUF_SIZE] = "";
    /* libpcap reads a savefile with one fread per header and per packet;
     * with stdio's default 4 KiB buffer that is a read() syscall every few
     * packets.  A 1 MiB buffer makes it one per thousands of packets. */
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
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    capture_free(c);
    return rc;
}

int capture_next(capture_t *c, struct capture_pkt *pkt)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (c->stop)
        return 0;
    int rc = pcap_next_ex(c->p, &h, &data);
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
    case 0: /* live timeout */
        return c->stop ? 0 : SG_EAGAIN;
    case PCAP_ERROR_BREAK: /* end of file, or pcap_breakloop() */
        return 0;
    default:
        snprintf(c->err, sizeof c->err, "%s", pcap_geterr(c->p));
        return -EIO;
    }
}

void capture_break(capture_t *c)
{
    if (!c)
        return;
    c->stop = 1;
    pcap_breakloop(c->p); /* sets a flag only: safe in a signal handler */
}

int capture_progress(capture_t *c, uint64_t *pos, uint64_t *size)
{
    if (!c->is_file || !c->fp || c->size == 0)
        return SG_ENOTSUP;
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
    free(c);
}
