/* smsguard proxy: the inline SMPP proxy from the command line (docs/proxy.md).
 *
 * Wires the proxy (proxy/proxy.h) to the same engine, store and message log
 * as `smsguard run`: rules with the compiled-database cache, lists from the
 * store, automatic blacklist entries written back, SIGHUP reloads, list
 * changes by other processes picked up (PRAGMA data_version), and the admin
 * API with --api.  SIGTERM/SIGINT: clean unbind to both sides, then exit.
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
#include "commands.h"
#include "msglog.h"
#include "proxy.h"
#include "rules-db.h"
#include "rules-parse.h"
#include "store.h"
#include "verdict.h"

struct pctx {
    const char *rules_dir, *db_path, *cache_dir;
    verdict_engine_t *engine;
    store_t *store;
    msglog_t *log;
    admin_t *api;
    int64_t data_version;
    time_t last_poll;
    uint64_t reloads, reload_failures, list_reloads, autobl_written;
};

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static int load_rules(struct pctx *x, int initial)
{
    rules_diag_t *diag = rules_diag_new(100);
    rules_db_t *db = NULL;
    struct rules_build_opts opts = {.cache_dir = x->cache_dir};
    struct rules_build_info info = {0};
    if (rules_db_load(x->rules_dir, &opts, &db, diag, &info) != 0) {
        fprintf(stderr, "smsguard proxy: rule set %s refused%s:\n", x->rules_dir,
                initial ? "" : ", the running rules stay in force");
        rules_diag_print(diag, stderr);
        rules_diag_free(diag);
        x->reload_failures++;
        return -1;
    }
    rules_diag_free(diag);
    verdict_engine_set_rules(x->engine, db);
    char err[256];
    if (verdict_engine_load_domains(x->engine, x->rules_dir, err, sizeof err) != 0)
        fprintf(stderr, "smsguard proxy: domain lists: %s\n", err);
    fprintf(stderr, "smsguard proxy: %zu rules from %s (%s in %.1f ms)\n", rules_db_count(db), x->rules_dir,
            info.from_cache ? "cache" : "compiled", info.build_ms);
    return 0;
}

static int load_lists(struct pctx *x)
{
    if (!x->store)
        return 0;
    lists_t *l = NULL;
    if (store_load_lists(x->store, (int64_t)time(NULL), &l) != 0) {
        fprintf(stderr, "smsguard proxy: loading lists from %s: %s\n", x->db_path, store_errmsg(x->store));
        return -1;
    }
    verdict_engine_set_lists(x->engine, l);
    store_data_version(x->store, &x->data_version);
    x->list_reloads++;
    return 0;
}

/* Called by the proxy loop about every 200 ms, between two PDUs. */
static void tick(void *ctx)
{
    struct pctx *x = ctx;
    struct verdict_autobl ev[64];
    size_t n;
    int wrote = 0;
    while ((n = verdict_engine_drain_autobl(x->engine, ev, SG_ARRAY_LEN(ev))) > 0) {
        for (size_t i = 0; x->store && i < n; i++) {
            struct store_change c = {.now = ev[i].created_at, .actor = "engine", .reason = ev[i].reason};
            int64_t id;
            if (store_blacklist_add(x->store, &c, ev[i].kind, ev[i].value, 1, ev[i].expires_at, &id) == 0) {
                x->autobl_written++;
                wrote = 1;
            }
        }
    }
    int api_reload = admin_rules_reload_take(x->api);
    if (reload_requested || api_reload) {
        reload_requested = 0;
        x->reloads++;
        int ok = load_rules(x, 0) == 0;
        load_lists(x);
        admin_rules_reload_done(x->api, ok, ok ? "rules and lists reloaded"
                                               : "rule set refused; the running rules stay in force");
        wrote = 0;
    }
    if (wrote || admin_lists_changed_take(x->api))
        load_lists(x);
    if (x->api) {
        struct admin_metrics am = {.rule_reloads = x->reloads, .rule_reload_failures = x->reload_failures,
                                   .list_reloads = x->list_reloads, .autobl_written = x->autobl_written,
                                   .updated_at = (int64_t)time(NULL)};
        admin_publish_metrics(x->api, &am);
    }
    time_t now = time(NULL);
    if (x->store && now != x->last_poll) {
        x->last_poll = now;
        int64_t v;
        if (store_data_version(x->store, &v) == 0 && v != x->data_version)
            load_lists(x);
    }
}

static void usage(FILE *f)
{
    fputs("usage: smsguard proxy --listen ADDR:PORT --upstream HOST:PORT [options]\n"
          "\n"
          "Inline SMPP proxy: each ESME connection to --listen gets its own connection to\n"
          "the SMSC at --upstream; every submit_sm, submit_multi, data_sm and deliver_sm is\n"
          "judged and blocked messages are stopped.  SIGHUP reloads rules and lists;\n"
          "SIGTERM unbinds both sides and exits.  See docs/proxy.md.\n"
          "\n"
          "  --listen ADDR:PORT    SMPP side, where ESMEs connect\n"
          "  --upstream HOST:PORT  the SMSC\n"
          "  --api ADDR:PORT       admin API and console (off without it)\n"
          "  --db FILE             SQLite state: lists in, message log out (default smsguard.db)\n"
          "  --rules DIR           rule set (default rules)\n"
          "  --rules-cache DIR     compiled rule databases (default DIR/.cache when writable)\n"
          "  --block-status HEX    command_status for a blocked submit (default 0x45\n"
          "                        ESME_RSUBMITFAIL); 0 = silent accept with a generated\n"
          "                        message_id and a REJECTD receipt to a receiver bind\n"
          "  --deliver-block-status HEX  deliver_sm_resp status for blocked MO (default 0:\n"
          "                        accept and drop)\n"
          "  --fail-closed         refuse messages the engine cannot judge (default: pass)\n"
          "  --monitor             judge and log, forward everything\n"
          "  --window N            requests pending per direction per link (default 256)\n"
          "  --max-links N         concurrent ESME connections (default 4096)\n"
          "  --mp-timeout S        seconds a multipart message is held for its parts (default 30)\n"
          "  -h, --help            this help\n",
          f);
}

int cmd_proxy(int argc, char **argv)
{
    struct proxy_config pc;
    proxy_config_default(&pc);
    struct pctx x = {.rules_dir = "rules", .db_path = "smsguard.db"};
    const char *api_listen = NULL;
    enum { O_LISTEN = 1000, O_UP, O_API, O_DB, O_RULES, O_CACHE, O_BSTAT, O_DSTAT, O_FAILC, O_MON, O_WIN,
           O_MAXL, O_MPT };
    static const struct option lo[] = {
        {"listen", required_argument, NULL, O_LISTEN}, {"upstream", required_argument, NULL, O_UP},
        {"api", required_argument, NULL, O_API}, {"db", required_argument, NULL, O_DB},
        {"rules", required_argument, NULL, O_RULES}, {"rules-cache", required_argument, NULL, O_CACHE},
        {"block-status", required_argument, NULL, O_BSTAT},
        {"deliver-block-status", required_argument, NULL, O_DSTAT},
        {"fail-closed", no_argument, NULL, O_FAILC}, {"monitor", no_argument, NULL, O_MON},
        {"window", required_argument, NULL, O_WIN}, {"max-links", required_argument, NULL, O_MAXL},
        {"mp-timeout", required_argument, NULL, O_MPT}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_LISTEN: pc.listen = optarg; break;
        case O_UP: pc.upstream = optarg; break;
        case O_API: api_listen = optarg; break;
        case O_DB: x.db_path = optarg; break;
        case O_RULES: x.rules_dir = optarg; break;
        case O_CACHE: x.cache_dir = optarg; break;
        case O_BSTAT:
        case O_DSTAT: {
            unsigned long v = strtoul(optarg, &end, 0);
            if (!*optarg || *end || v > 0xFFFFFFFFul) {
                fprintf(stderr, "smsguard proxy: --%s %s: not a command_status\n",
                        c == O_BSTAT ? "block-status" : "deliver-block-status", optarg);
                return 2;
            }
            if (c == O_DSTAT)
                pc.deliver_block_status = (uint32_t)v;
            else if (v == 0)
                pc.block_mode = PROXY_BLOCK_SILENT;
            else
                pc.block_status = (uint32_t)v;
            break;
        }
        case O_FAILC: pc.fail_mode = PROXY_FAIL_CLOSED; break;
        case O_MON: pc.enforce = 0; break;
        case O_WIN:
        case O_MAXL:
        case O_MPT: {
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > 1000000) {
                fprintf(stderr, "smsguard proxy: %s: expected a number from 1 to 1000000\n", optarg);
                return 2;
            }
            if (c == O_WIN)
                pc.window = (unsigned)v;
            else if (c == O_MAXL)
                pc.max_links = (unsigned)v;
            else
                pc.mp_timeout_s = (unsigned)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!pc.listen || !pc.upstream || optind != argc) {
        usage(stderr);
        return 2;
    }
    static char cache[4096];
    if (!x.cache_dir) {
        snprintf(cache, sizeof cache, "%s/.cache", x.rules_dir);
        if (mkdir(cache, 0755) == 0 || errno == EEXIST)
            x.cache_dir = cache;
    }
    int status = 1;
    char err[512];
    proxy_t *p = NULL;
    x.engine = verdict_engine_new(NULL, err, sizeof err);
    if (!x.engine) {
        fprintf(stderr, "smsguard proxy: %s\n", err);
        return 1;
    }
    if (load_rules(&x, 1) != 0)
        goto out;
    char serr[STORE_ERRBUF_SIZE];
    if (store_open(&x.store, x.db_path, STORE_OPEN_CREATE, serr) != 0) {
        fprintf(stderr, "smsguard proxy: %s: %s\n", x.db_path, serr);
        goto out;
    }
    struct msglog_config mc = {0};
    x.log = msglog_new(x.db_path, &mc, serr);
    if (!x.log) {
        fprintf(stderr, "smsguard proxy: message log %s: %s\n", x.db_path, serr);
        goto out;
    }
    if (load_lists(&x) != 0)
        goto out;
    p = proxy_new(&pc, x.engine, x.log, err, sizeof err);
    if (!p) {
        fprintf(stderr, "smsguard proxy: %s\n", err);
        goto out;
    }
    if (api_listen) {
        struct cmd_api_args aa;
        cmd_api_args_init(&aa);
        aa.listen = api_listen;
        if (cmd_api_start(&aa, "proxy", x.db_path, x.engine, x.log, verdict_engine_config(x.engine), &x.api) != 0)
            goto out;
    }
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "smsguard proxy: listening on %s (port %u), upstream %s, %s\n", pc.listen, proxy_port(p),
            pc.upstream, pc.enforce ? "enforcing" : "monitor only");
    int rc = proxy_run(p, &stop_requested, tick, &x);
    tick(&x);
    msglog_flush(x.log);
    struct proxy_stats st;
    proxy_get_stats(p, &st);
    fprintf(stderr,
            "smsguard proxy: %llu links (%llu refused, %llu upstream failures); %llu judged: %llu allow, "
            "%llu flag, %llu submits and %llu delivers blocked; fail-open %llu, fail-closed %llu; "
            "%llu malformed, %llu generic_nack; %llu receipts made (%llu without a receiver); multipart "
            "%llu held parts, %llu forwarded, %llu blocked, %llu expired, %llu evicted; %llu back-pressure stalls\n",
            (unsigned long long)st.links_accepted, (unsigned long long)st.links_refused,
            (unsigned long long)st.upstream_failures, (unsigned long long)st.judged,
            (unsigned long long)st.allowed, (unsigned long long)st.flagged,
            (unsigned long long)st.blocked_submit, (unsigned long long)st.blocked_deliver,
            (unsigned long long)st.fail_open, (unsigned long long)st.fail_closed,
            (unsigned long long)st.malformed, (unsigned long long)st.generic_nacks,
            (unsigned long long)st.receipts_sent, (unsigned long long)st.receipts_undeliverable,
            (unsigned long long)st.mp_held, (unsigned long long)st.mp_forwarded,
            (unsigned long long)st.mp_blocked, (unsigned long long)st.mp_expired,
            (unsigned long long)st.mp_evicted, (unsigned long long)st.backpressure_stalls);
    status = rc == 0 ? 0 : 1;
out:
    admin_stop(x.api);
    proxy_free(p);
    msglog_free(x.log);
    store_close(x.store);
    verdict_engine_free(x.engine);
    return status;
}
