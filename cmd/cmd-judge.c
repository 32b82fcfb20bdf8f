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
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd-api.h"
#include "cmd-common.h"
#include "commands.h"
#include "config.h"
#include "decoder.h"
#include "msglog.h"
#include "msisdn.h"
#include "output-json.h"
#include "rules-db.h"
#include "rules-parse.h"
#include "store.h"
#include "verdict.h"

#define DEFAULT_RULES_DIR "rules"

struct judge {
    const char *cmd;
    const char *rules_dir, *db_path, *cache_dir;
    bool quiet, daemon;
    verdict_engine_t *engine;
    verdict_worker_t *worker;
    store_t *store;
    msglog_t *log;
    jw_t *w;
    int64_t data_version;
    time_t last_poll;
    uint64_t reloads, reload_failures, list_reloads, autobl_written;
    admin_t *api;       /* run: the admin API (cmd-api.c), NULL without */
    decoder_t *dec;     /* for the API's metrics copy */
    int write_failed;
    struct verdict verdict;
};

static volatile sig_atomic_t reload_requested;

static void on_sighup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static int load_rules(struct judge *j, int initial)
{
    rules_diag_t *diag = rules_diag_new(100);
    rules_db_t *db = NULL;
    struct rules_build_opts opts = {.cache_dir = j->cache_dir};
    struct rules_build_info info = {0};
    int rc = rules_db_load(j->rules_dir, &opts, &db, diag, &info);
    if (rc != 0) {
        fprintf(stderr, "smsguard %s: rule set %s refused%s:\n", j->cmd, j->rules_dir,
                initial ? "" : ", the running rules stay in force");
        rules_diag_print(diag, stderr);
        rules_diag_free(diag);
        j->reload_failures++;
        return -1;
    }
    rules_diag_free(diag);
    char err[256];
    verdict_engine_set_rules(j->engine, db);
    if (verdict_engine_load_domains(j->engine, j->rules_dir, err, sizeof err) != 0)
        fprintf(stderr, "smsguard %s: domain lists: %s\n", j->cmd, err);
    if (!j->quiet || !initial)
        fprintf(stderr, "smsguard %s: %zu rules from %s (%s in %.1f ms)\n", j->cmd, rules_db_count(db),
                j->rules_dir, info.from_cache ? "cache" : "compiled", info.build_ms);
    return 0;
}

static int load_lists(struct judge *j)
{
    if (!j->store)
        return 0;
    lists_t *l = NULL;
    int rc = store_load_lists(j->store, (int64_t)time(NULL), &l);
    if (rc != 0) {
        fprintf(stderr, "smsguard %s: loading lists from %s: %s\n", j->cmd, j->db_path, store_errmsg(j->store));
        return -1;
    }
    verdict_engine_set_lists(j->engine, l);
    store_data_version(j->store, &j->data_version);
    j->list_reloads++;
    return 0;
}

/* Writes the engine's automatic blacklist entries to the store (the engine
 * already applies them in memory), then reloads the lists so the snapshot
 * carries their ids. */
static void write_autobl(struct judge *j)
{
    struct verdict_autobl ev[64];
    size_t n;
    int wrote = 0;
    while ((n = verdict_engine_drain_autobl(j->engine, ev, SG_ARRAY_LEN(ev))) > 0) {
        if (!j->store)
            continue;
        for (size_t i = 0; i < n; i++) {
            struct store_change ctx = {.now = ev[i].created_at, .actor = "engine", .reason = ev[i].reason};
            int64_t id;
            int rc = store_blacklist_add(j->store, &ctx, ev[i].kind, ev[i].value, 1, ev[i].expires_at, &id);
            if (rc == 0) {
                j->autobl_written++;
                wrote = 1;
            } else if (rc != SG_EEXIST) {
                fprintf(stderr, "smsguard %s: automatic blacklist %s: %s\n", j->cmd, ev[i].value,
                        store_errmsg(j->store));
            }
        }
    }
    if (wrote)
        load_lists(j);
}

static void tick(void *ctx)
{
    struct judge *j = ctx;
    write_autobl(j);
    /* POST /api/v1/rules/reload is SIGHUP with an answer. */
    int api_reload = admin_rules_reload_take(j->api);
    if (reload_requested || api_reload) {
        reload_requested = 0;
        j->reloads++;
        int ok = load_rules(j, 0) == 0;
        load_lists(j);
        admin_rules_reload_done(j->api, ok, ok ? "rules and lists reloaded"
                                               : "rule set refused; the running rules stay in force "
                                                 "(the daemon's log has the errors)");
    }
    /* A list change committed through the API: reload now, not at the
     * next data_version poll. */
    if (admin_lists_changed_take(j->api))
        load_lists(j);
    if (j->api) {
        struct admin_metrics am = {.rule_reloads = j->reloads, .rule_reload_failures = j->reload_failures,
                                   .list_reloads = j->list_reloads, .autobl_written = j->autobl_written,
                                   .updated_at = (int64_t)time(NULL)};
        if (j->dec)
            decoder_get_stats(j->dec, &am.dec);
        admin_publish_metrics(j->api, &am);
    }
    time_t now = time(NULL);
    if (j->store && now != j->last_poll) {
        j->last_poll = now;
        int64_t v;
        if (store_data_version(j->store, &v) == 0 && v != j->data_version)
            load_lists(j);
    }
}

static void reasons_json(const struct verdict *v, char *out, size_t cap)
{
    jw_t *w = jw_new(cap - 1);
    if (!w) {
        snprintf(out, cap, "[]");
        return;
    }
    jw_arr_begin(w);
    for (unsigned i = 0; i < v->n_reasons; i++) {
        const struct verdict_reason *r = &v->reasons[i];
        jw_obj_begin(w);
        jw_kstr(w, "type", verdict_reason_name(r->type));
        jw_kstr(w, "id", r->id);
        jw_kstr(w, "detail", r->detail);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    snprintf(out, cap, "%s", jw_failed(w) ? "[]" : jw_data(w));
    jw_free(w);
}

static void log_message(struct judge *j, const struct decoder_message *m, const struct verdict *v)
{
    char account[MSGLOG_ACCOUNT_MAX + 1], src[MSGLOG_ADDR_MAX + 1], dst_raw[MSGLOG_ADDR_MAX + 1];
    char dst[MSGLOG_ADDR_MAX + 1], ip[SG_ENDPOINT_STRLEN], fp[17], reasons[MSGLOG_REASONS_MAX];
    snprintf(account, sizeof account, "%s", m->account ? m->account : "");
    snprintf(src, sizeof src, "%.*s", (int)m->source_addr.len, (const char *)m->source_addr.p);
    snprintf(dst_raw, sizeof dst_raw, "%.*s", (int)m->destination_addr.len, (const char *)m->destination_addr.p);
    const struct verdict_config *vc = verdict_engine_config(j->engine);
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
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)v->fingerprint);
    reasons_json(v, reasons, sizeof reasons);
    struct msglog_row row = {
        .ts_us = (int64_t)m->ts, .account = account, .source_addr = src, .source_ton = m->source_addr_ton,
        .dest_addr = dst, .src_ip = ip, .action = verdict_action_name(v->action), .score = v->score,
        .reasons = reasons, .fingerprint = fp, .snippet = v->snippet, .parts = (int)m->parts,
        .enforced = 0,
    };
    int64_t link = 0;
    if (msglog_submit(j->log, &row, &link) == 0 && m->response_seen)
        msglog_update_response(j->log, link, m->message_id, m->command_status, (int64_t)m->last_ts);
}

static void on_message(void *ctx, const struct decoder_message *m)
{
    struct judge *j = ctx;
    struct verdict *v = &j->verdict;
    struct verdict_input in = {
        .ts = m->ts, .now = (int64_t)time(NULL),
        .account = {(const uint8_t *)m->account, m->account ? strlen(m->account) : 0},
        .source_addr = m->source_addr, .source_ton = m->source_addr_ton, .source_npi = m->source_addr_npi,
        .dest_addr = m->destination_addr, .src_ip = m->esme,
        .text = m->text, .text_len = m->text_len, .is_binary = m->text == NULL,
        .data_coding = m->data_coding, .parts = m->parts,
    };
    verdict_judge(j->worker, &in, v);
    if (j->log)
        log_message(j, m, v);
    if (j->quiet)
        return;
    jw_obj_begin(j->w);
    output_json_message(j->w, m, "verdict");
    verdict_write_json(v, j->w);
    jw_obj_end(j->w);
    if (jw_flush_line(j->w, stdout) != 0)
        j->write_failed = 1;
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct judge *j = ctx;
    if (!j->log || !r->message_id)
        return;
    char stat[MSGLOG_STAT_MAX + 1], err[MSGLOG_STAT_MAX + 1];
    snprintf(stat, sizeof stat, "%.*s", (int)r->stat.len, (const char *)r->stat.p);
    snprintf(err, sizeof err, "%.*s", (int)r->err.len, (const char *)r->err.p);
    if (!stat[0] && r->message_state >= 0)
        snprintf(stat, sizeof stat, "%s", smpp_message_state_name(r->message_state) ?: "");
    msglog_update_receipt(j->log, r->message_id, NULL, stat, err, (int64_t)r->ts);
}

static void usage(FILE *f, const char *cmd)
{
    fprintf(f,
            "usage: smsguard %s (-r FILE%s) [options] [BPF expression]\n"
            "\n"
            "Decodes SMPP and judges every logical message: one {\"event\":\"verdict\"} JSON\n"
            "object per message on stdout (the message fields of decode plus action, score,\n"
            "reasons), a summary on stderr.%s\n"
            "\n"
            "  -r FILE          read packets from FILE (pcap or pcapng)\n"
            "%s"
            "  --rules DIR      rule set (default: %s)\n"
            "  --db FILE        SQLite state: lists in, message log out%s\n"
            "  --rules-cache DIR  compiled rule databases (default: DIR/.cache when writable)\n"
            "  --config FILE    configuration file (docs/configuration.md, etc/smsguard.conf);\n"
            "                   options given here override it\n"
            "  -c COUNT         stop after COUNT packets\n"
            "  --pace N         judge -r FILE at N messages/s at most (a known load for\n"
            "                   benchmarks); the summary says whether the pace was kept\n"
            "  -q               no verdicts on stdout, only the summary\n"
            CMD_COMMON_DECODER_HELP
            "  -h, --help       this help\n",
            cmd, strcmp(cmd, "run") == 0 ? " | -i IFACE" : "",
            strcmp(cmd, "run") == 0 ? "\nSIGHUP reloads rules and lists; SIGTERM stops after logging everything." : "",
            strcmp(cmd, "run") == 0 ? "  -i IFACE         capture live on IFACE\n" : "",
            DEFAULT_RULES_DIR,
            strcmp(cmd, "run") == 0 ? " (default smsguard.db)" : "\n                   (without it, lists are empty and nothing is logged)");
    if (strcmp(cmd, "run") == 0)
        fputs(CMD_API_HELP, f);
}

static int judge_main(int argc, char **argv, bool daemon)
{
    const char *cmd = daemon ? "run" : "replay";
    struct judge j = {.cmd = cmd, .rules_dir = DEFAULT_RULES_DIR, .daemon = daemon};
    struct cmd_capture_args cap;
    struct decoder_config dcfg;
    struct verdict_config vcfg;
    cmd_capture_args_init(&cap);
    /* The configuration file first, so that every option overrides it;
     * vcfg's numbering-plan strings point into cfg. */
    static struct config cfg;
    if (cmd_config_load(cmd, argc, argv, &cfg, NULL) != 0)
        return 2;
    dcfg = cfg.decoder;
    vcfg = cfg.verdict;
    if (daemon)
        j.db_path = "smsguard.db";
    if (cfg.rules_dir[0])
        j.rules_dir = cfg.rules_dir;
    if (cfg.db_path[0])
        j.db_path = cfg.db_path;
    if (cfg.rules_cache[0])
        j.cache_dir = cfg.rules_cache;
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
        case OPT_RULES: j.rules_dir = optarg; break;
        case OPT_DB: j.db_path = optarg; break;
        case OPT_CACHE: j.cache_dir = optarg; break;
        case OPT_CONFIG: break; /* read by cmd_config_load above */
        case 'q': j.quiet = true; break;
        case 'h': usage(stdout, cmd); return 0;
        default: usage(stderr, cmd); return 2;
        }
    }
    if (cmd_capture_args_finish(&cap, &dcfg, argc, argv, optind) != 0) {
        usage(stderr, cmd);
        return 2;
    }
    static char cache[4096];
    if (!j.cache_dir) {
        snprintf(cache, sizeof cache, "%s/.cache", j.rules_dir);
        if (mkdir(cache, 0755) == 0 || errno == EEXIST)
            j.cache_dir = cache;
    }

    int status = 1;
    char err[512];
    decoder_t *d = NULL;
    j.engine = verdict_engine_new(&vcfg, err, sizeof err);
    if (!j.engine) {
        fprintf(stderr, "smsguard %s: %s\n", cmd, err);
        return 1;
    }
    j.worker = verdict_worker_new(j.engine);
    j.w = jw_new(4u << 20);
    if (!j.worker || !j.w)
        goto out;
    if (load_rules(&j, 1) != 0)
        goto out;
    if (j.db_path) {
        char serr[STORE_ERRBUF_SIZE];
        if (store_open(&j.store, j.db_path, STORE_OPEN_CREATE, serr) != 0) {
            fprintf(stderr, "smsguard %s: %s: %s\n", cmd, j.db_path, serr);
            goto out;
        }
        /* Offline replay may wait for the writer; the daemon never does. */
        struct msglog_config mc = {
            .block_when_full = !daemon,
            .queue_capacity = (size_t)cfg.msglog.queue_capacity, .batch_max = (size_t)cfg.msglog.batch_max,
            .retention_days = cfg.msglog.retention_days, .max_rows = cfg.msglog.max_rows,
            .prune_every_s = (int)cfg.msglog.prune_every_s,
        };
        j.log = msglog_new(j.db_path, &mc, serr);
        if (!j.log) {
            fprintf(stderr, "smsguard %s: message log %s: %s\n", cmd, j.db_path, serr);
            goto out;
        }
        if (load_lists(&j) != 0)
            goto out;
    }
    struct decoder_sink sink = {.ctx = &j, .message = on_message, .receipt = on_receipt};
    d = decoder_new(&dcfg, &sink);
    if (!d) {
        fprintf(stderr, "smsguard %s: cannot allocate the decoder tables\n", cmd);
        goto out;
    }
    j.dec = d;
    /* The API gets its own store connection; it needs the database. */
    if (daemon && j.db_path &&
        cmd_api_start(&api_args, cmd, j.db_path, j.engine, j.log, &vcfg, &j.api) != 0)
        goto out;
    struct sigaction sa = {0}, old_hup;
    sa.sa_handler = on_sighup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, &old_hup);
    cap.tick = tick;
    cap.tick_ctx = &j;
    struct cmd_run_result res;
    int rc = cmd_capture_run(&cap, d, &res);
    if (!res.opened) {
        sigaction(SIGHUP, &old_hup, NULL);
        goto out; /* reported; status stays 1 */
    }
    decoder_flush(d);
    tick(&j);
    sigaction(SIGHUP, &old_hup, NULL);
    fflush(stdout);
    if (j.log)
        msglog_flush(j.log);

    struct decoder_stats st;
    decoder_get_stats(d, &st);
    cmd_print_summary(stderr, cmd, &cap, &res, &st);
    struct verdict_stats vs;
    verdict_engine_get_stats(j.engine, &vs);
    fprintf(stderr, "  verdicts  %llu: %llu allow, %llu flag, %llu block; %llu alerts, %llu shadow hits\n",
            (unsigned long long)vs.messages, (unsigned long long)vs.by_action[VERDICT_ALLOW],
            (unsigned long long)vs.by_action[VERDICT_FLAG], (unsigned long long)vs.by_action[VERDICT_BLOCK],
            (unsigned long long)vs.alerts, (unsigned long long)vs.shadow_hits);
    fprintf(stderr, "  reasons  ");
    for (int r = 0; r < VERDICT_R_COUNT; r++)
        fprintf(stderr, " %s %llu", verdict_reason_name((enum verdict_reason_type)r), (unsigned long long)vs.by_reason[r]);
    fputc('\n', stderr);
    if (j.log) {
        struct msglog_stats ms;
        msglog_get_stats(j.log, &ms);
        fprintf(stderr, "  log       %llu rows written to %s, %llu dropped; %llu automatic blacklist entries; "
                        "%llu rule reloads (%llu refused), %llu list reloads\n",
                (unsigned long long)ms.written, j.db_path, (unsigned long long)ms.dropped,
                (unsigned long long)j.autobl_written, (unsigned long long)j.reloads,
                (unsigned long long)j.reload_failures, (unsigned long long)j.list_reloads);
    }
    status = rc == 0 && !j.write_failed ? 0 : 1;
    /* run -r FILE: the capture is judged; keep answering the console. */
    if (daemon && cap.opts.file && !res.interrupted)
        cmd_api_serve_until_signal(j.api, cmd, tick, &j);
out:
    admin_stop(j.api); /* before the engine and log it reads go */
    decoder_free(d);
    msglog_free(j.log);
    store_close(j.store);
    verdict_worker_free(j.worker);
    verdict_engine_free(j.engine);
    jw_free(j.w);
    return status;
}

int cmd_replay(int argc, char **argv) { return judge_main(argc, argv, false); }
int cmd_run(int argc, char **argv) { return judge_main(argc, argv, true); }
