#include "cmd-common.h"
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static capture_t *volatile running_capture;
static volatile sig_atomic_t stop_requested;

void cmd_capture_args_init(struct cmd_capture_args *a)
{
    memset(a, 0, sizeof *a);
    a->progress = true;
}

int cmd_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > UINT32_MAX) {
        fprintf(stderr, "smsguard: %s: '%s' is not a positive number\n", opt, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int cmd_capture_option(struct cmd_capture_args *a, int opt, const char *arg)
{
    switch (opt) {
    case 'r': a->opts.file = arg; return 1;
    case 'i': a->opts.iface = arg; return 1;
    case 'c': {
        char *end;
        a->count = strtoll(arg, &end, 10);
        if (*end || a->count <= 0) {
            fprintf(stderr, "smsguard: -c: '%s' is not a positive count\n", arg);
            return -1;
        }
        return 1;
    }
    case CMD_OPT_PORT: {
        uint32_t p;
        if (parse_u32("--port", arg, &p) != 0 || p > 65535) {
            fprintf(stderr, "smsguard: --port: bad port '%s'\n", arg);
            return -1;
        }
        if (a->n_ports == CMD_MAX_PORTS) {
            fprintf(stderr, "smsguard: --port: at most %d ports\n", CMD_MAX_PORTS);
            return -1;
        }
        a->ports[a->n_ports++] = (uint16_t)p;
        return 1;
    }
    case CMD_OPT_PACE: {
        char *end;
        errno = 0;
        double v = strtod(arg, &end);
        if (errno || end == arg || *end || !(v >= 1.0 && v <= 1e9)) {
            fprintf(stderr, "smsguard: --pace: '%s' is not a rate of 1 to 1e9 messages/s\n", arg);
            return -1;
        }
        a->pace = v;
        return 1;
    }
    default: return 0;
    }
}

static int parse_charset(const char *s, uint8_t *out)
{
    if (strcmp(s, "gsm") == 0) *out = SMS_CS_GSM;
    else if (strcmp(s, "latin1") == 0) *out = SMS_CS_LATIN1;
    else if (strcmp(s, "ascii") == 0) *out = SMS_CS_ASCII;
    else {
        fprintf(stderr, "smsguard: unknown charset '%s' (gsm, latin1, ascii)\n", s);
        return -1;
    }
    return 0;
}

static int parse_msgid_format(const char *s, enum decoder_msgid_format *out)
{
    if (strcmp(s, "auto") == 0) *out = DECODER_MSGID_AUTO;
    else if (strcmp(s, "same") == 0) *out = DECODER_MSGID_SAME;
    else if (strcmp(s, "hex-dec") == 0) *out = DECODER_MSGID_HEX_DEC;
    else if (strcmp(s, "dec-hex") == 0) *out = DECODER_MSGID_DEC_HEX;
    else {
        fprintf(stderr, "smsguard: unknown message id format '%s' (auto, same, hex-dec, dec-hex)\n", s);
        return -1;
    }
    return 0;
}


static int parse_link(struct decoder_config *c, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char addr[96];
    if (!eq || (size_t)(eq - arg) >= sizeof addr) {
        fprintf(stderr, "smsguard: --link: expected ADDR[:PORT]=OPTS, got '%s'\n", arg);
        return -1;
    }
    memcpy(addr, arg, (size_t)(eq - arg));
    addr[eq - arg] = '\0';
    struct sg_endpoint ep;
    if (sg_endpoint_parse(addr, &ep) != 0) {
        fprintf(stderr, "smsguard: --link: bad address '%s'\n", addr);
        return -1;
    }
    /* The same address again (or one from the configuration file): the
     * command line's settings replace it, since the first match wins in
     * the decoder. */
    unsigned idx = c->n_links;
    for (unsigned i = 0; i < c->n_links; i++)
        if (memcmp(c->links[i].smsc.addr, ep.addr, 16) == 0 && c->links[i].smsc.port == ep.port)
            idx = i;
    if (idx == DECODER_MAX_LINK_CONFIGS) {
        fprintf(stderr, "smsguard: --link: at most %d links\n", DECODER_MAX_LINK_CONFIGS);
        return -1;
    }
    struct decoder_link_config *l = &c->links[idx];
    l->smsc = ep;
    l->text = c->text;
    l->msgid_format = c->msgid_format;
    char opts[256];
    snprintf(opts, sizeof opts, "%s", eq + 1);
    char *save = NULL;
    for (char *tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strncmp(tok, "dc0=", 4) == 0) {
            if (parse_charset(tok + 4, &l->text.dc0_charset) != 0)
                return -1;
        } else if (strcmp(tok, "gsm-packed") == 0) {
            l->text.gsm_packing = SMS_GSM_PACKED;
        } else if (strcmp(tok, "dc1-gsm") == 0) {
            l->text.dc1_gsm = 1;
        } else if (strncmp(tok, "msgid=", 6) == 0) {
            if (parse_msgid_format(tok + 6, &l->msgid_format) != 0)
                return -1;
        } else {
            fprintf(stderr, "smsguard: --link: unknown option '%s'\n", tok);
            return -1;
        }
    }
    if (idx == c->n_links)
        c->n_links++;
    return 0;
}

int cmd_decoder_option(struct decoder_config *c, int opt, const char *arg)
{
    uint64_t v;
    switch (opt) {
    case CMD_OPT_DC0: return parse_charset(arg, &c->text.dc0_charset) == 0 ? 1 : -1;
    case CMD_OPT_GSM_PACKED: c->text.gsm_packing = SMS_GSM_PACKED; return 1;
    case CMD_OPT_DC1_GSM: c->text.dc1_gsm = 1; return 1;
    case CMD_OPT_MSGID_FORMAT: return parse_msgid_format(arg, &c->msgid_format) == 0 ? 1 : -1;
    case CMD_OPT_LINK: return parse_link(c, arg) == 0 ? 1 : -1;
    case CMD_OPT_MAX_FLOWS: return parse_u32("--max-flows", arg, &c->stream.max_flows) == 0 ? 1 : -1;
    case CMD_OPT_MAX_MULTIPART:
        return parse_u32("--max-multipart", arg, &c->concat.max_messages) == 0 ? 1 : -1;
    case CMD_OPT_MEMCAP:
        if (cmd_parse_size(arg, &v) != 0 || v < 65536) {
            fprintf(stderr, "smsguard: --memcap: '%s' is not a size of at least 64K\n", arg);
            return -1;
        }
        c->stream.max_buffered_bytes = v;
        return 1;
    default: return 0;
    }
}

int cmd_capture_args_finish(struct cmd_capture_args *a, struct decoder_config *c, int argc,
                            char **argv, int optind_)
{
    if (a->opts.file && a->opts.iface) {
        fprintf(stderr, "smsguard: give exactly one of -r FILE and -i IFACE\n");
        return -1;
    }
    if (!a->opts.file && !a->opts.iface && !a->source_optional) {
        fprintf(stderr, "smsguard: give one of -r FILE and -i IFACE\n");
        return -1;
    }
    size_t n = 0;
    a->bpf[0] = '\0';
    for (int i = optind_; i < argc; i++) {
        int w = snprintf(a->bpf + n, sizeof a->bpf - n, "%s%s", n ? " " : "", argv[i]);
        if (w < 0 || (size_t)w >= sizeof a->bpf - n) {
            fprintf(stderr, "smsguard: BPF expression too long\n");
            return -1;
        }
        n += (size_t)w;
    }
    a->opts.bpf = n ? a->bpf : NULL;
    if (a->pace > 0 && !a->opts.file) {
        fprintf(stderr, "smsguard: --pace needs -r FILE (live traffic comes at its own pace)\n");
        return -1;
    }
    c->stream.ports = a->n_ports ? a->ports : NULL;
    c->stream.n_ports = a->n_ports;
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    capture_t *c = running_capture;
    if (c)
        capture_break(c);
}

void cmd_capture_stop(void) { on_signal(0); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first packet count after done at which cmd_capture_run() has work
 * besides decoding: a multiple of step (a power of two; 0: none) or
 * limit. */
static uint64_t next_due_after(uint64_t done, uint64_t step, uint64_t limit)
{
    uint64_t next = step ? (done | (step - 1)) + 1 : UINT64_MAX;
    return next < limit ? next : limit;
}

int cmd_capture_run(struct cmd_capture_args *a, decoder_t *d, struct cmd_run_result *r)
{
    memset(r, 0, sizeof *r);
    char err[512];
    capture_t *cap = NULL;
    int rc = capture_open(&cap, &a->opts, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "smsguard: %s\n", err); /* err names the file or interface */
        return 1;
    }
    r->opened = 1;
    stop_requested = 0;
    running_capture = cap;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    bool progress = a->progress && a->opts.file && isatty(STDERR_FILENO);
    double start = now_s(), next_progress = start + 0.5;
    struct capture_pkt pkt;
    int status = 0;
    /* Per packet the loop reads, decodes and counts; the rest (the -c
     * count, ticks, the progress line, pacing) waits until the count
     * reaches next_due, the next multiple of step or the -c count: each
     * keeps its own test there, so it runs at the packets it ran at when
     * all of them were tested on every packet (29 instructions a packet
     * then, 13 now).  A signal or cmd_capture_stop() sets stop_requested
     * and breaks the capture, whose next capture_next() returns 0. */
    uint64_t packets = 0;
    uint64_t step = a->pace > 0 ? 256 : (a->tick || progress) ? 4096 : 0;
    uint64_t limit = a->count > 0 ? (uint64_t)a->count : UINT64_MAX;
    uint64_t next_due = next_due_after(0, step, limit);
    while (!stop_requested) {
        int n = capture_next(cap, &pkt);
        if (n != 1) {
            if (n == SG_EAGAIN) {
                /* A live capture's idle point: at least every timeout_ms
                 * even under steady traffic (capture.h), so a daemon's
                 * tick is timely without a clock read here. */
                if (a->tick)
                    a->tick(a->tick_ctx);
                continue;
            }
            if (n == 0)
                break;
            fprintf(stderr, "smsguard: %s: read error: %s\n",
                    a->opts.file ? a->opts.file : a->opts.iface, capture_error(cap));
            status = 1;
            break;
        }
        decoder_feed(d, &pkt);
        if (++packets < next_due)
            continue;
        r->packets = packets;
        if (packets >= limit)
            break;
        next_due = next_due_after(packets, step, limit);
        if (a->tick && (packets & 4095) == 0)
            a->tick(a->tick_ctx);
        /* Checking the clock every 4096 packets keeps the syscall off the
         * per-packet path. */
        if (progress && (packets & 4095) == 0) {
            double t = now_s();
            uint64_t pos, size;
            if (t >= next_progress && capture_progress(cap, &pos, &size) == 0 && size) {
                fprintf(stderr, "\r%5.1f%%  %llu packets  %.0f packets/s ", 100.0 * (double)pos / (double)size,
                        (unsigned long long)packets, (double)packets / (t - start));
                next_progress = t + 0.5;
            }
        }
        /* --pace: every 256 packets (well under a millisecond of traffic at
         * 100,000 messages/s), sleep until the messages decoded so far are
         * due, or note how far behind the loop is. */
        if (a->pace > 0 && (packets & 255) == 0) {
            struct decoder_stats ds;
            decoder_get_stats(d, &ds);
            double due = start + (double)ds.messages / a->pace, t = now_s();
            if (t < due) {
                double w = due - t;
                struct timespec ts = {(time_t)w, (long)((w - (double)(time_t)w) * 1e9)};
                nanosleep(&ts, NULL); /* a signal cuts it short */
            } else if (t - due > r->pace_max_lag_s) {
                r->pace_max_lag_s = t - due;
            }
        }
    }
    r->packets = packets;
    if (progress)
        fputs("\r\033[K", stderr);
    r->seconds = now_s() - start;
    r->interrupted = stop_requested;
    if (a->pace > 0) {
        struct decoder_stats ds;
        decoder_get_stats(d, &ds);
        r->paced_messages = ds.messages;
    }
    capture_get_stats(cap, &r->cap);
    running_capture = NULL;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    capture_free(cap);
    return status;
}

void cmd_print_summary(FILE *f, const char *cmd, const struct cmd_capture_args *a,
                       const struct cmd_run_result *r, const struct decoder_stats *s)
{
    double secs = r->seconds > 0 ? r->seconds : 1e-9;
    fprintf(f, "smsguard %s: %s%s\n", cmd, a->opts.file ? a->opts.file : a->opts.iface,
            r->interrupted ? " (interrupted)" : "");
    fprintf(f, "  packets   %llu read in %.3f s (%.0f/s), %llu not TCP, %llu malformed",
            (unsigned long long)r->packets, r->seconds, (double)r->packets / secs,
            (unsigned long long)s->non_tcp, (unsigned long long)s->packet_errors);
    if (r->cap.have_kernel_stats)
        fprintf(f, ", %llu dropped by the kernel", (unsigned long long)r->cap.kernel_drops);
    fputc('\n', f);
    fprintf(f, "  stream    %llu flows, %llu gaps (%llu bytes), %llu resyncs, %llu sequence jumps, "
               "%llu bytes not SMPP, %llu retransmitted bytes, %llu out-of-order segments\n",
            (unsigned long long)s->stream.flows_created, (unsigned long long)s->stream.gaps,
            (unsigned long long)s->stream.gap_bytes, (unsigned long long)s->stream.resyncs,
            (unsigned long long)s->stream.seq_jumps,
            (unsigned long long)s->stream.not_smpp_bytes, (unsigned long long)s->stream.retrans_bytes,
            (unsigned long long)s->stream.ooo_segments);
    fprintf(f, "  pdus      %llu decoded, %llu malformed, %llu responses unmatched, %llu requests unanswered\n",
            (unsigned long long)s->pdus, (unsigned long long)s->pdu_errors,
            (unsigned long long)s->responses_unmatched, (unsigned long long)s->requests_unanswered);
    fprintf(f, "  messages  %llu (%.0f/s), %llu incomplete, %llu multipart parts, %llu duplicate parts, "
               "%llu bad UDH\n",
            (unsigned long long)s->messages, (double)s->messages / secs,
            (unsigned long long)s->messages_incomplete, (unsigned long long)s->concat.parts,
            (unsigned long long)s->concat.duplicates, (unsigned long long)s->udh_errors);
    fprintf(f, "  receipts  %llu, %llu tied to their submit\n", (unsigned long long)s->receipts,
            (unsigned long long)s->receipts_tied);
    if (a->pace > 0) {
        /* Kept = the read loop ended no later than its last message was
         * due (plus 1% for the last sleep's slack). */
        double end_lag = r->seconds - (double)r->paced_messages / a->pace;
        fprintf(f, "  pace      %.0f messages/s asked, %.0f/s judged: %s; at most %.1f ms behind, "
                   "%.1f ms at the end\n",
                a->pace, (double)r->paced_messages / secs,
                end_lag <= 0.01 * r->seconds + 0.01 ? "kept" : "NOT kept (backlog)",
                1e3 * r->pace_max_lag_s, 1e3 * (end_lag > 0 ? end_lag : 0));
    }
    fprintf(f, "  evicted   %llu flows, %llu multipart, %llu sessions, %llu requests, %llu held messages, "
               "%llu receipt ties; %llu bytes dropped at the memcap\n",
            (unsigned long long)s->stream.flows_evicted, (unsigned long long)s->concat.evicted_count,
            (unsigned long long)s->sessions_evicted, (unsigned long long)s->requests_evicted,
            (unsigned long long)s->messages_evicted, (unsigned long long)s->ties_evicted,
            (unsigned long long)s->stream.memcap_drops);
}

int cmd_config_load(const char *cmd, int argc, char **argv, struct config *cfg, const char **path_out)
{
    config_default(cfg);
    if (path_out)
        *path_out = NULL;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    if (!path)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "smsguard %s: --config %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, f) : 0;
    int rd_err = ferror(f);
    fclose(f);
    if (!text || rd_err || len > CONFIG_MAX_BYTES) {
        fprintf(stderr, "smsguard %s: --config %s: %s\n", cmd, path,
                !text ? "out of memory" : rd_err ? "read error" : "larger than 1 MiB");
        free(text);
        return -1;
    }
    static char err[16384];
    int rc = config_parse(cfg, path, text, len, err, sizeof err);
    free(text);
    if (rc != 0) {
        fputs(err, stderr);
        fprintf(stderr, "smsguard %s: configuration %s refused\n", cmd, path);
        return -1;
    }
    if (path_out)
        *path_out = path;
    return 0;
}
