/* smsguard replay and smsguard run: decode, judge every logical message,
 * log it.
 *
 * Both share one loop on one thread: packet -> decoder -> verdict engine ->
 * JSON Lines + message log.  The engine does no I/O; this file owns it:
 * loading rules (with the compiled-database cache), loading the lists from
 * the store, writing automatic blacklist entries back, and, in the daemon,
 * reloading on SIGHUP and picking up list changes other processes commit
 * (PRAGMA data_version, checked about once a second).  Reloads happen
 * between two packets, so every message gets exactly one verdict.
 *
 * Messages are judged a vector at a time (verdict_judge_batch()): the sink
 * callbacks copy each message and receipt into a msg_batch (msg-batch.h),
 * and drain() judges the queued messages and then logs and prints every
 * event in decoder order.  Decoding a burst and then judging it keeps each
 * side's code in the instruction cache; judging inside the callback made
 * them evict each other for every message.  The batch is drained when it
 * holds JUDGE_DRAIN_MESSAGES messages or is full, at every tick (so each
 * message is judged by the rules and lists in force when it completed: the
 * tick is where reloads and list changes are put in force, and where the
 * automatic blacklist entries its verdicts queued are written), and after
 * the decoder's flush, before the summary.
 *
 * A live capture (-i) is batched too.  Its tick comes at every idle point
 * capture_next() reports (SG_EAGAIN): at least every timeout_ms (100 ms)
 * whether or not packets come, and timeout_ms / 8 after a wait that
 * delivered packets once they are all read (filter/capture.c: libpcap is
 * read in non-blocking mode and the capture polls with its own timeout,
 * since libpcap 1.10 on Linux, TPACKET_V3, would poll without one).  So a
 * message on a quiet link waits for the kernel's block timer (timeout_ms)
 * and a few milliseconds more, and a SIGHUP, a list change or an
 * automatic blacklist entry is put in force within about timeout_ms.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd-api.h"
#include "cmd-common.h"
#include "admin-webhook.h"
#include "cmd-host.h"
#include "cmd-log.h"
#include "cmd-links.h"
#include "commands.h"
#include "config.h"
#include "decoder.h"
#include "msg-batch.h"
#include "msglog.h"
#include "msisdn.h"
#include "output-json.h"
#include "store.h"
#include "verdict.h"

#define DEFAULT_RULES_DIR "rules"

/* Messages queued before a drain, judged VERDICT_BATCH_MAX at a time.
 * More than one vector: the decoder then runs longer between two drains.
 * Cachegrind, replay -q of replay-20k with 1,000 rules, I1 / D1 misses:
 * 8 messages 3.08M / 2.80M, 16 2.43M / 2.57M, 32 2.03M / 2.38M,
 * 64 1.81M / 2.32M, 128 1.76M / 2.27M (judged inside the callback:
 * 5.68M / 2.72M). */
#define JUDGE_DRAIN_MESSAGES (4 * VERDICT_BATCH_MAX)
/* Event slots: the messages and the receipts interleaved with them (about
 * one per message in real traffic, a third in the benchmark capture). */
#define JUDGE_BATCH_EVENTS (2 * JUDGE_DRAIN_MESSAGES)
/* Bytes of the queued events: typical messages take a few hundred; a
 * message too big for all of it (a text in message_payload TLVs of many
 * parts) is judged unbatched. */
#define JUDGE_BATCH_BYTES (256u << 10)

struct judge {
    const char *cmd;
    bool quiet, daemon;
    struct cmd_host host;  /* engine, store, API and their reloads */
    verdict_worker_t *worker;
    msglog_t *log;
    jw_t *w;
    decoder_t *dec;        /* for the API's metrics copy */
    int write_failed;
    struct cmd_log_reports log_reports; /* what was said of the log's failures */
    msg_batch_t *batch;    /* events not judged or logged yet, in order */
    bool live;             /* -i: verdict lines are flushed at every tick */
    bool unflushed;        /* a verdict line written since the last flush */
    struct verdict_input in[VERDICT_BATCH_MAX];
    struct verdict *verdicts; /* VERDICT_BATCH_MAX of them (~4.4 KB each), allocated once */
};

static void drain(struct judge *j);

static void tick(void *ctx)
{
    struct judge *j = ctx;
    drain(j); /* before the tick puts new rules or lists in force */
    /* A live tap's verdicts reach a pipe or file within a tick too, not
     * when stdio's buffer fills (a quiet link may take hours to fill it). */
    if (j->live && j->unflushed) {
        if (fflush(stdout) != 0)
            j->write_failed = 1;
        j->unflushed = false;
    }
    cmd_host_tick(&j->host, cmd_host_take_sighup(), j->dec);
    /* A hole in the log is said as it happens, not only in the summary
     * (a daemon may run for months). */
    if (j->log)
        cmd_log_report_failures(j->log, j->cmd, &j->log_reports, false);
}

/* Returns the row's message-log id (0 when the ring dropped it). */
static int64_t log_message(struct judge *j, const struct decoder_message *m, const struct verdict *v)
{
    char account[MSGLOG_ACCOUNT_MAX + 1], src[MSGLOG_ADDR_MAX + 1], dst_raw[MSGLOG_ADDR_MAX + 1];
    char dst[MSGLOG_ADDR_MAX + 1], ip[SG_ENDPOINT_STRLEN], fp[17], reasons[MSGLOG_REASONS_MAX];
    snprintf(account, sizeof account, "%s", m->account ? m->account : "");
    snprintf(src, sizeof src, "%.*s", (int)m->source_addr.len, (const char *)m->source_addr.p);
    snprintf(dst_raw, sizeof dst_raw, "%.*s", (int)m->destination_addr.len, (const char *)m->destination_addr.p);
    const struct verdict_config *vc = verdict_engine_config(j->host.engine);
    if (msisdn_normalise(dst_raw, vc->country_code, vc->trunk_prefix, dst, sizeof dst) < 0)
        snprintf(dst, sizeof dst, "%s", dst_raw);
    sg_endpoint_format(m->esme, ip, sizeof ip);
    /* Only the address: the ESME's port changes with every connection. */
    char *colon = ip[0] == '[' ? strstr(ip, "]:") : strrchr(ip, ':');
    if (colon)
        colon[ip[0] == '[' ? 1 : 0] = '\0';
    if (ip[0] == '[') {
        memmove(ip, ip + 1, strlen(ip));
        ip[strlen(ip) - 1] = '\0';
    }
    verdict_fingerprint_hex(v->fingerprint, fp);
    /* j->w is empty between two messages: the verdict line is written
     * after this, and the writer comes back reset. */
    verdict_reasons_json(v, NULL, j->w, reasons, sizeof reasons);
    struct msglog_row row = {
        .ts_us = (int64_t)m->ts, .account = account, .source_addr = src, .source_ton = m->source_addr_ton,
        .dest_addr = dst, .src_ip = ip, .action = verdict_action_name(v->action), .score = v->score,
        .reasons = reasons, .fingerprint = fp, .snippet = v->snippet, .parts = (int)m->parts,
        .enforced = 0,
    };
    int64_t link = 0;
    if (msglog_submit(j->log, &row, &link) != 0)
        return 0;
    if (m->response_seen)
        msglog_update_response(j->log, link, m->message_id, m->command_status, (int64_t)m->last_ts);
    return link;
}

static void fill_input(struct verdict_input *in, const struct decoder_message *m, int64_t now)
{
    *in = (struct verdict_input){
        .ts = m->ts, .now = now,
        .account = {(const uint8_t *)m->account, m->account ? strlen(m->account) : 0},
        .source_addr = m->source_addr, .source_ton = m->source_addr_ton, .source_npi = m->source_addr_npi,
        .dest_addr = m->destination_addr, .src_ip = m->esme,
        .text = m->text, .text_len = m->text_len, .is_binary = m->text == NULL,
        .data_coding = m->data_coding, .parts = m->parts,
    };
}

/* Everything after the judgement of one message, in decoder order. */
static void emit_message(struct judge *j, const struct decoder_message *m, const struct verdict *v)
{
    int64_t link = j->log ? log_message(j, m, v) : 0;
    /* Queued for the webhook's thread when the API would list it as an
     * alert (or dropped and counted): never waits. */
    if (j->host.webhook)
        admin_webhook_post_verdict(j->host.webhook, (int64_t)m->ts, link, (const char *)m->source_addr.p,
                                   m->source_addr.len, m->account, v);
    if (j->quiet)
        return;
    jw_obj_begin(j->w);
    output_json_message(j->w, m, "verdict");
    verdict_write_json(v, j->w);
    jw_obj_end(j->w);
    if (jw_flush_line(j->w, stdout) != 0)
        j->write_failed = 1;
    j->unflushed = true;
}

static void emit_receipt(struct judge *j, const struct decoder_receipt *r)
{
    char stat[MSGLOG_STAT_MAX + 1], err[MSGLOG_STAT_MAX + 1];
    snprintf(stat, sizeof stat, "%.*s", (int)r->stat.len, (const char *)r->stat.p);
    snprintf(err, sizeof err, "%.*s", (int)r->err.len, (const char *)r->err.p);
    if (!stat[0] && r->message_state >= 0)
        snprintf(stat, sizeof stat, "%s", smpp_message_state_name(r->message_state) ?: "");
    msglog_update_receipt(j->log, r->message_id, NULL, stat, err, (int64_t)r->ts);
}

/* Judges the queued messages, up to VERDICT_BATCH_MAX per
 * verdict_judge_batch() call, and acts on every queued event in order;
 * empties the batch.  The wall clock is read once per call: list validity
 * has a resolution of seconds. */
static void drain(struct judge *j)
{
    const msg_batch_t *b = j->batch;
    size_t n = msg_batch_count(b);
    if (n == 0)
        return;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n;) {
        /* Events [i, end) hold the next k <= VERDICT_BATCH_MAX messages. */
        size_t k = 0, end = i;
        for (; end < n; end++) {
            const struct decoder_message *m = msg_batch_message(b, end);
            if (!m)
                continue;
            if (k == VERDICT_BATCH_MAX)
                break;
            fill_input(&j->in[k++], m, now);
        }
        if (k)
            verdict_judge_batch(j->worker, j->in, j->verdicts, k);
        k = 0;
        for (; i < end; i++) {
            const struct decoder_message *m = msg_batch_message(b, i);
            if (m)
                emit_message(j, m, &j->verdicts[k++]);
            else
                emit_receipt(j, msg_batch_receipt(b, i));
        }
    }
    msg_batch_reset(j->batch);
}

/* One message judged now, from the decoder's memory: a message too big for
 * the batch (after draining what was queued before it, so that order
 * holds). */
static void judge_now(struct judge *j, const struct decoder_message *m)
{
    drain(j);
    fill_input(&j->in[0], m, (int64_t)time(NULL));
    verdict_judge_batch(j->worker, j->in, j->verdicts, 1);
    emit_message(j, m, &j->verdicts[0]);
}

static void on_message(void *ctx, const struct decoder_message *m)
{
    struct judge *j = ctx;
    int rc = msg_batch_add_message(j->batch, m);
    if (rc == SG_ENOSPC) {
        drain(j);
        rc = msg_batch_add_message(j->batch, m);
    }
    if (rc != 0) { /* -EMSGSIZE: too big for the batch */
        judge_now(j, m);
        return;
    }
    if (msg_batch_messages(j->batch) == JUDGE_DRAIN_MESSAGES)
        drain(j);
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct judge *j = ctx;
    /* Without a message log a receipt does nothing: not queued. */
    if (!j->log || !r->message_id)
        return;
    int rc = msg_batch_add_receipt(j->batch, r);
    if (rc == SG_ENOSPC) {
        drain(j);
        rc = msg_batch_add_receipt(j->batch, r);
    }
    if (rc != 0) {
        drain(j);
        emit_receipt(j, r);
    }
}

static void usage(FILE *f, const char *cmd)
{
    fprintf(f,
            "usage: smsguard %s (-r FILE%s) [options] [BPF expression]\n"
            "\n"
            "Decodes SMPP and judges every logical message: one {\"event\":\"verdict\"} JSON\n"
            "object per message on stdout (the message fields of decode plus action, score,\n"
            "reasons), a summary on stderr.%s%s\n"
            "\n"
            "  -r FILE          read packets from FILE (pcap or pcapng; - for stdin)\n"
            "%s"
            "  --rules DIR      rule set (default: %s)\n"
            "  --db FILE        SQLite state: lists in, message log out%s\n"
            "  --rules-cache DIR  compiled rule databases (default: DIR/.cache when writable)\n"
            "  --config FILE    configuration file (docs/configuration.md, etc/smsguard.conf);\n"
            "                   options given here override it\n"
            "  -q               no verdicts on stdout, only the summary\n"
            CMD_COMMON_CAPTURE_HELP
            CMD_COMMON_DECODER_HELP
            "  -h, --help       this help\n",
            cmd, strcmp(cmd, "run") == 0 ? " | -i IFACE" : "",
            strcmp(cmd, "run") == 0 ? "\nSIGHUP reloads rules and lists; SIGTERM stops after logging everything." : "",
            strcmp(cmd, "run") == 0 ? "\nWith [proxy \"NAME\"] sections in --config, -r and -i are optional: the\n"
                                      "proxy links are judged by the same engine." : "",
            strcmp(cmd, "run") == 0 ? "  -i IFACE         capture live on IFACE\n" : "",
            DEFAULT_RULES_DIR,
            strcmp(cmd, "run") == 0 ? " (default smsguard.db)" : "\n                   (without it, lists are empty and nothing is logged)");
    if (strcmp(cmd, "run") == 0)
        fputs(CMD_API_HELP, f);
}

static int judge_main(int argc, char **argv, bool daemon)
{
    const char *cmd = daemon ? "run" : "replay";
    /* Before any database is opened: the message-log writer's page cache
     * on huge pages (store.h).  Should it fail, SQLite allocates as it
     * does by default: slower, nothing else. */
    (void)store_init_process();
    struct judge j = {.cmd = cmd, .daemon = daemon,
                      .host = {.cmd = cmd, .rules_dir = DEFAULT_RULES_DIR}};
    struct cmd_capture_args cap;
    struct decoder_config dcfg;
    struct verdict_config vcfg;
    cmd_capture_args_init(&cap);
    /* The configuration file first, so that every option overrides it;
     * vcfg's numbering-plan strings point into cfg. */
    static struct config cfg;
    const char *cfg_path = NULL;
    if (cmd_config_load(cmd, argc, argv, &cfg, &cfg_path) != 0)
        return 2;
    /* run: the [proxy] links of the configuration, checked before anything
     * starts; with them, neither -r nor -i is needed. */
    struct cmd_links *links = NULL;
    if (daemon && cmd_links_new(&cfg, cfg_path ? cfg_path : "", &links) != 0)
        return 2;
    cap.source_optional = links != NULL;
    dcfg = cfg.decoder;
    vcfg = cfg.verdict;
    if (daemon)
        j.host.db_path = "smsguard.db";
    if (cfg.rules_dir[0])
        j.host.rules_dir = cfg.rules_dir;
    if (cfg.db_path[0])
        j.host.db_path = cfg.db_path;
    if (cfg.rules_cache[0])
        j.host.cache_dir = cfg.rules_cache;
    enum { OPT_RULES = 1000, OPT_DB, OPT_CACHE, OPT_CONFIG };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"rules", required_argument, NULL, OPT_RULES},
        {"db", required_argument, NULL, OPT_DB},
        {"rules-cache", required_argument, NULL, OPT_CACHE},
        {"config", required_argument, NULL, OPT_CONFIG},
        CMD_COMMON_CAPTURE_LONGOPTS,
        CMD_COMMON_DECODER_LONGOPTS,
        CMD_API_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct cmd_api_args api_args;
    cmd_api_args_init(&api_args);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, daemon ? "r:i:c:qh" : "r:c:qh", longopts, NULL)) != -1) {
        int h = cmd_capture_option(&cap, c, optarg);
        if (h == 0)
            h = cmd_decoder_option(&dcfg, c, optarg);
        if (h == 0 && daemon)
            h = cmd_api_option(&api_args, c, optarg);
        if (h < 0)
            return 2;
        if (h)
            continue;
        switch (c) {
        case OPT_RULES: j.host.rules_dir = optarg; break;
        case OPT_DB: j.host.db_path = optarg; break;
        case OPT_CACHE: j.host.cache_dir = optarg; break;
        case OPT_CONFIG: break; /* read by cmd_config_load above */
        case 'q': j.quiet = true; break;
        case 'h': usage(stdout, cmd); return 0;
        default: usage(stderr, cmd); return 2;
        }
    }
    if (cmd_capture_args_finish(&cap, &dcfg, argc, argv, optind) != 0) {
        usage(stderr, cmd);
        cmd_links_free(links);
        return 2;
    }
    cmd_host_default_cache(&j.host);

    int status = 1;
    char err[512];
    decoder_t *d = NULL;
    j.host.engine = verdict_engine_new(&vcfg, err, sizeof err);
    if (!j.host.engine) {
        fprintf(stderr, "smsguard %s: %s\n", cmd, err);
        return 1;
    }
    j.worker = verdict_worker_new(j.host.engine);
    j.w = jw_new(4u << 20);
    j.batch = msg_batch_new(JUDGE_BATCH_EVENTS, JUDGE_BATCH_BYTES);
    j.verdicts = calloc(VERDICT_BATCH_MAX, sizeof *j.verdicts);
    if (!j.worker || !j.w || !j.batch || !j.verdicts)
        goto out;
    j.live = cap.opts.iface != NULL;
    j.host.quiet = j.quiet;
    if (cmd_host_load_rules(&j.host, 1) != 0)
        goto out;
    if (cmd_host_start_webhook(&j.host, &cfg.alerts) != 0)
        goto out;
    if (j.host.db_path) {
        char serr[STORE_ERRBUF_SIZE];
        if (store_open(&j.host.store, j.host.db_path, STORE_OPEN_CREATE, serr) != 0) {
            fprintf(stderr, "smsguard %s: %s: %s\n", cmd, j.host.db_path, serr);
            goto out;
        }
        /* Offline replay may wait for the writer; the daemon never does. */
        struct msglog_config mc = cmd_log_config(&cfg.msglog);
        mc.block_when_full = !daemon;
        mc.multi_producer = links != NULL; /* each proxy link's thread logs too */
        j.log = msglog_new(j.host.db_path, &mc, serr);
        if (!j.log) {
            fprintf(stderr, "smsguard %s: message log %s: %s\n", cmd, j.host.db_path, serr);
            goto out;
        }
        if (cmd_host_load_lists(&j.host) != 0)
            goto out;
    }
    /* The snippet is for the message log alone. */
    verdict_worker_set_snippet(j.worker, j.log != NULL);
    struct decoder_sink sink = {.ctx = &j, .message = on_message, .receipt = on_receipt};
    d = decoder_new(&dcfg, &sink);
    if (!d) {
        fprintf(stderr, "smsguard %s: cannot allocate the decoder tables\n", cmd);
        goto out;
    }
    j.dec = d;
    /* The API gets its own store connection; it needs the database. */
    if (daemon && j.host.db_path &&
        cmd_api_start(&api_args, cmd, j.host.db_path, j.host.engine, j.log, &vcfg, &j.host.api) != 0)
        goto out;
    admin_set_webhook(j.host.api, j.host.webhook);
    if (cmd_links_start(links, j.host.engine, j.log, j.host.webhook) != 0)
        goto out;
    struct sigaction old_hup;
    cmd_host_catch_sighup(&old_hup);
    cap.tick = tick;
    cap.tick_ctx = &j;
    struct cmd_run_result res = {0};
    int rc = 0;
    int tap = cap.opts.file || cap.opts.iface; /* else proxy links only */
    if (tap) {
        rc = cmd_capture_run(&cap, d, &res);
        if (!res.opened) {
            sigaction(SIGHUP, &old_hup, NULL);
            goto out; /* reported; status stays 1 */
        }
    } else {
        fprintf(stderr, "smsguard %s: no capture; judging on %zu proxy links until SIGTERM or Ctrl-C\n", cmd,
                cmd_links_count(links));
        cmd_serve_until_signal(tick, &j);
    }
    /* run -r FILE keeps answering the console and keeps the proxy links up
     * after the capture; otherwise the links stop now, so that the summary
     * below counts what they logged. */
    int serve_after = daemon && cap.opts.file && !res.interrupted && (j.host.api || links);
    if (!serve_after) {
        cmd_links_free(links);
        links = NULL;
    }
    decoder_flush(d);
    drain(&j); /* what the flush completed, and what a stop left queued */
    cmd_host_finish(&j.host); /* a reload in flight is counted and reported */
    tick(&j);
    sigaction(SIGHUP, &old_hup, NULL);
    fflush(stdout);
    /* Everything queued is committed or counted in failed: the exit status
     * says whether the log is complete. */
    int log_rc = j.log ? msglog_flush(j.log) : 0;

    struct decoder_stats st;
    decoder_get_stats(d, &st);
    if (tap)
        cmd_print_summary(stderr, cmd, &cap, &res, &st);
    struct verdict_stats vs;
    verdict_engine_get_stats(j.host.engine, &vs);
    fprintf(stderr, "  verdicts  %llu: %llu allow, %llu flag, %llu block; %llu alerts, %llu shadow hits\n",
            (unsigned long long)vs.messages, (unsigned long long)vs.by_action[VERDICT_ALLOW],
            (unsigned long long)vs.by_action[VERDICT_FLAG], (unsigned long long)vs.by_action[VERDICT_BLOCK],
            (unsigned long long)vs.alerts, (unsigned long long)vs.shadow_hits);
    fprintf(stderr, "  reasons  ");
    for (int r = 0; r < VERDICT_R_COUNT; r++)
        fprintf(stderr, " %s %llu", verdict_reason_name((enum verdict_reason_type)r), (unsigned long long)vs.by_reason[r]);
    fputc('\n', stderr);
    fprintf(stderr, "  text memo %llu texts were repeats of a recent text, judged from its findings\n",
            (unsigned long long)vs.text_memo_hits);
    if (j.log) {
        struct msglog_stats ms;
        msglog_get_stats(j.log, &ms);
        fprintf(stderr, "  log       %llu rows written to %s, %llu dropped, %llu failed; %llu automatic blacklist entries; "
                        "%llu rule reloads (%llu refused), %llu list reloads\n",
                (unsigned long long)ms.written, j.host.db_path, (unsigned long long)ms.dropped,
                (unsigned long long)ms.failed, (unsigned long long)j.host.autobl_written,
                (unsigned long long)j.host.reloads, (unsigned long long)j.host.reload_failures,
                (unsigned long long)j.host.list_reloads);
        log_rc = cmd_log_report_end(j.log, cmd, "  log", j.host.db_path, log_rc, &j.log_reports);
    }
    if (j.host.webhook) {
        struct admin_webhook_stats ws;
        admin_webhook_get_stats(j.host.webhook, &ws);
        fprintf(stderr, "  webhook   %llu alerts posted, %llu failed, %llu dropped, %llu queued\n",
                (unsigned long long)ws.posted, (unsigned long long)ws.failed,
                (unsigned long long)ws.dropped, (unsigned long long)ws.queued);
    }
    status = rc == 0 && !j.write_failed && !log_rc ? 0 : 1;
    if (serve_after) {
        if (j.host.api) {
            cmd_api_serve_until_signal(j.host.api, cmd, tick, &j);
        } else if (links) {
            fprintf(stderr, "smsguard %s: capture done; the proxy links run until SIGTERM or Ctrl-C\n", cmd);
            cmd_serve_until_signal(tick, &j);
        }
        /* What was logged while serving: a failure since the summary is
         * reported now and fails the exit status too. */
        if (j.log && msglog_flush(j.log) != 0) {
            cmd_log_report_failures(j.log, cmd, &j.log_reports, true);
            status = 1;
        }
    }
out:
    cmd_links_free(links); /* unbinds both sides of every link, prints their summaries */
    admin_stop(j.host.api); /* before the engine, log and webhook it reads go */
    cmd_host_finish(&j.host);
    admin_webhook_free(j.host.webhook); /* posts what is queued, within its timeout */
    decoder_free(d);
    msglog_free(j.log);
    store_close(j.host.store);
    verdict_worker_free(j.worker);
    verdict_engine_free(j.host.engine);
    jw_free(j.w);
    msg_batch_free(j.batch);
    free(j.verdicts);
    return status;
}

int cmd_replay(int argc, char **argv) { return judge_main(argc, argv, false); }
int cmd_run(int argc, char **argv) { return judge_main(argc, argv, true); }
