/* What the packet-reading sub-commands (decode, replay, run) share: the
 * tcpdump-style capture options, the decoder's bounds and per-link text
 * options, the read loop with its progress line and signal handling, and
 * the summary. */
#ifndef SG_CMD_COMMON_H
#define SG_CMD_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "capture.h"
#include "decoder.h"

#define CMD_MAX_PORTS 32

struct cmd_capture_args {
    struct capture_opts opts;
    long long count;        /* -c: stop after this many packets; 0 = all */
    bool progress;          /* progress line on stderr when it is a terminal */
    char bpf[4096];
    uint16_t ports[CMD_MAX_PORTS];
    size_t n_ports;
    /* Called between packets about every 4096 packets and at every idle
     * point of a live capture (capture_next()'s SG_EAGAIN: at least every
     * timeout_ms, traffic or not): where a daemon applies reloads, so
     * that they happen between two messages, never during one. */
    void (*tick)(void *ctx);
    void *tick_ctx;
    /* --pace: judge a file at this many logical messages per wall-clock
     * second at most (0 = as fast as possible), so a benchmark can offer a
     * daemon a known load; a file read faster than the pace is slept. */
    double pace;
    /* run with proxy links: neither -r nor -i is needed (set before
     * cmd_capture_args_finish). */
    bool source_optional;
};

struct cmd_run_result {
    double seconds;
    uint64_t packets;
    /* --pace only: the messages decoded and the most the loop fell behind
     * the pace (wall time past messages/pace, seconds); a lag that grows
     * to the end means the judging could not keep the pace. */
    uint64_t paced_messages;
    double pace_max_lag_s;
    struct capture_stats cap;
    int interrupted;
    int opened;         /* 0: the capture could not be opened (reported) */
};

/* Long options shared by the packet-reading commands; option values above
 * 2000 are reserved for them. */
enum {
    CMD_OPT_PORT = 2001,
    CMD_OPT_DC0,
    CMD_OPT_GSM_PACKED,
    CMD_OPT_DC1_GSM,
    CMD_OPT_MSGID_FORMAT,
    CMD_OPT_LINK,
    CMD_OPT_MAX_FLOWS,
    CMD_OPT_MEMCAP,
    CMD_OPT_MAX_MULTIPART,
    CMD_OPT_PACE,
};

#define CMD_COMMON_CAPTURE_LONGOPTS \
    {"port", required_argument, NULL, CMD_OPT_PORT}, \
    {"pace", required_argument, NULL, CMD_OPT_PACE}

#define CMD_COMMON_DECODER_LONGOPTS \
    {"dc0", required_argument, NULL, CMD_OPT_DC0}, \
    {"gsm-packed", no_argument, NULL, CMD_OPT_GSM_PACKED}, \
    {"dc1-gsm", no_argument, NULL, CMD_OPT_DC1_GSM}, \
    {"msgid-format", required_argument, NULL, CMD_OPT_MSGID_FORMAT}, \
    {"link", required_argument, NULL, CMD_OPT_LINK}, \
    {"max-flows", required_argument, NULL, CMD_OPT_MAX_FLOWS}, \
    {"memcap", required_argument, NULL, CMD_OPT_MEMCAP}, \
    {"max-multipart", required_argument, NULL, CMD_OPT_MAX_MULTIPART}

/* Help for -c and CMD_COMMON_CAPTURE_LONGOPTS (-r and -i are each
 * command's own: run alone of the judging commands captures live). */
#define CMD_COMMON_CAPTURE_HELP \
    "  -c COUNT           stop after COUNT packets\n" \
    "  --port PORT        only TCP port PORT carries SMPP (repeatable; default:\n" \
    "                     any port, recognised by framing)\n" \
    "  --pace N           read -r FILE at N messages/s at most (a known load for\n" \
    "                     benchmarks); the summary says whether the pace was kept\n"

#define CMD_COMMON_DECODER_HELP \
    "  --dc0 CHARSET      what data_coding 0 means: gsm (default), latin1, ascii\n" \
    "  --gsm-packed       GSM 03.38 text is packed septets (default: unpacked)\n" \
    "  --dc1-gsm          data_coding 1 carries GSM 03.38 octets (node-smpp habit)\n" \
    "  --msgid-format F   how receipts write the submit_sm_resp message_id:\n" \
    "                     auto (default), same, hex-dec, dec-hex\n" \
    "  --link ADDR[:PORT]=OPTS  per-SMSC settings, OPTS a comma list of\n" \
    "                     dc0=CHARSET, gsm-packed, dc1-gsm, msgid=F (repeatable)\n" \
    "  --max-flows N      TCP flows tracked (default 131072)\n" \
    "  --memcap BYTES     reassembly buffer cap, K/M/G suffixes (default 256M)\n" \
    "  --max-multipart N  partial multipart messages held (default 65536)\n"

void cmd_capture_args_init(struct cmd_capture_args *a);
/* Handles -r, -i, -c, --port, --pace.  1 handled, 0 not ours, -1 bad value
 * (reported). */
int cmd_capture_option(struct cmd_capture_args *a, int opt, const char *arg);
/* Handles the CMD_COMMON_DECODER_LONGOPTS.  1, 0 or -1 as above. */
int cmd_decoder_option(struct decoder_config *c, int opt, const char *arg);
/* Joins the remaining arguments into the BPF expression, checks that a
 * source was given and copies the port list into the decoder config. */
int cmd_capture_args_finish(struct cmd_capture_args *a, struct decoder_config *c, int argc,
                            char **argv, int optind_);
/* Opens the capture and feeds every packet to the decoder until the end,
 * -c packets, or SIGINT/SIGTERM.  0, or 1 when the capture failed (the
 * error is printed).  Does not flush the decoder. */
int cmd_capture_run(struct cmd_capture_args *a, decoder_t *d, struct cmd_run_result *r);
/* Ends the current cmd_capture_run() from a signal handler. */
void cmd_capture_stop(void);
/* The human-readable summary on stderr. */
void cmd_print_summary(FILE *f, const char *cmd, const struct cmd_capture_args *a,
                       const struct cmd_run_result *r, const struct decoder_stats *s);
/* Parses "123", "64K", "256M", "2G". */
int cmd_parse_size(const char *s, uint64_t *out);

struct config;
/* The --config FILE option (docs/configuration.md), looked for in argv
 * before getopt runs so that every other option overrides the file:
 * fills cfg with the bundled defaults, then, when argv names a file,
 * reads it (at most CONFIG_MAX_BYTES) and parses it on top.  Errors are
 * printed as "FILE:LINE: message".  0, or -1 when the file cannot be read
 * or has errors.  *path_out (may be NULL) receives the file or NULL. */
int cmd_config_load(const char *cmd, int argc, char **argv, struct config *cfg, const char **path_out);

#endif
