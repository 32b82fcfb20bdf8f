/* smsguard decode: SMPP from a capture file or an interface to JSON Lines. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd-common.h"
#include "commands.h"
#include "decoder.h"
#include "output-json.h"

struct decode_out {
    jw_t *w;
    FILE *f;
    bool pdus, messages, receipts, errors;
    int write_failed;
};

static void emit(struct decode_out *o)
{
    if (jw_flush_line(o->w, o->f) != 0)
        o->write_failed = 1;
}

static void on_pdu(void *ctx, const struct decoder_pdu *e)
{
    struct decode_out *o = ctx;
    jw_obj_begin(o->w);
    output_json_pdu(o->w, e);
    jw_obj_end(o->w);
    emit(o);
}

static void on_message(void *ctx, const struct decoder_message *e)
{
    struct decode_out *o = ctx;
    jw_obj_begin(o->w);
    output_json_message(o->w, e, "message");
    jw_obj_end(o->w);
    emit(o);
}

static void on_receipt(void *ctx, const struct decoder_receipt *e)
{
    struct decode_out *o = ctx;
    jw_obj_begin(o->w);
    output_json_receipt(o->w, e);
    jw_obj_end(o->w);
    emit(o);
}

static void on_error(void *ctx, const struct decoder_error *e)
{
    struct decode_out *o = ctx;
    jw_obj_begin(o->w);
    output_json_error(o->w, e);
    jw_obj_end(o->w);
    emit(o);
}

static void usage(FILE *f)
{
    fputs("usage: smsguard decode (-r FILE | -i IFACE) [options] [BPF expression]\n"
          "\n"
          "Decodes SMPP from a pcap/pcapng file or a live interface and writes one JSON\n"
          "object per line: \"pdu\", \"message\" (after multipart reassembly), \"receipt\"\n"
          "and \"error\" events.  A summary goes to stderr.\n"
          "\n"
          "  -r FILE            read packets from FILE (pcap or pcapng; - for stdin)\n"
          "  -i IFACE           capture live on IFACE\n"
          "  -q                 no events on stdout, only the summary on stderr\n"
          "  --events LIST      events to write, comma-separated (default\n"
          "                     pdu,message,receipt,error)\n"
          CMD_COMMON_CAPTURE_HELP
          CMD_COMMON_DECODER_HELP
          "  --no-progress      no progress line on a terminal\n"
          "  -h, --help         this help\n"
          "\n"
          "See docs/smsguard.1 for the output keys.\n", f);
}

int cmd_decode(int argc, char **argv)
{
    struct cmd_capture_args cap;
    struct decoder_config cfg;
    cmd_capture_args_init(&cap);
    decoder_config_default(&cfg);
    struct decode_out out = {.f = stdout, .pdus = true, .messages = true, .receipts = true, .errors = true};
    bool quiet = false;
    enum { OPT_EVENTS = 1000, OPT_NO_PROGRESS };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"events", required_argument, NULL, OPT_EVENTS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        CMD_COMMON_CAPTURE_LONGOPTS,
        CMD_COMMON_DECODER_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:i:c:qh", longopts, NULL)) != -1) {
        int handled = cmd_capture_option(&cap, c, optarg);
        if (handled < 0)
            return 2;
        if (handled)
            continue;
        handled = cmd_decoder_option(&cfg, c, optarg);
        if (handled < 0)
            return 2;
        if (handled)
            continue;
        switch (c) {
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        case OPT_NO_PROGRESS: cap.progress = false; break;
        case OPT_EVENTS:
            out.pdus = strstr(optarg, "pdu") != NULL;
            out.messages = strstr(optarg, "message") != NULL;
            out.receipts = strstr(optarg, "receipt") != NULL;
            out.errors = strstr(optarg, "error") != NULL;
            break;
        default: usage(stderr); return 2;
        }
    }
    if (cmd_capture_args_finish(&cap, &cfg, argc, argv, optind) != 0) {
        usage(stderr);
        return 2;
    }
    struct decoder_sink sink = {.ctx = &out};
    if (!quiet) {
        out.w = jw_new(4u << 20);
        if (!out.w)
            return 1;
        if (out.pdus) sink.pdu = on_pdu;
        if (out.messages) sink.message = on_message;
        if (out.receipts) sink.receipt = on_receipt;
        if (out.errors) sink.error = on_error;
    }
    decoder_t *d = decoder_new(&cfg, &sink);
    if (!d) {
        fprintf(stderr, "smsguard decode: cannot allocate the decoder tables (check the bounds)\n");
        jw_free(out.w);
        return 1;
    }
    struct cmd_run_result res;
    int rc = cmd_capture_run(&cap, d, &res);
    decoder_flush(d);
    fflush(stdout);
    struct decoder_stats st;
    decoder_get_stats(d, &st);
    if (res.opened)
        cmd_print_summary(stderr, "decode", &cap, &res, &st);
    decoder_free(d);
    jw_free(out.w);
    if (out.write_failed) {
        fprintf(stderr, "smsguard decode: writing to stdout failed\n");
        return 1;
    }
    return rc == 0 ? 0 : 1;
}
