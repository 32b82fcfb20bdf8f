/* smsguard proxy: the inline SMPP proxy from the command line (docs/proxy.md).
 *
 * Wires the proxy (proxy/proxy.h) to the same engine, store and message log
 * as `smsguard run`: rules with the compiled-database cache, lists from the
 * store, automatic blacklist entries written back, SIGHUP reloads, list
 * changes by other processes picked up (PRAGMA data_version), and the admin
 * API with --api, and the alert webhook of --config's [alerts] section.
 * SIGTERM/SIGINT: clean unbind to both sides, then exit.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-webhook.h"
#include "cmd-api.h"
#include "cmd-common.h"
#include "cmd-host.h"
#include "cmd-log.h"
#include "cmd-links.h"
#include "commands.h"
#include "config.h"
#include "msglog.h"
#include "proxy.h"
#include "store.h"
#include "verdict.h"

struct pctx {
    struct cmd_host host; /* engine, store, API and their reloads */
    msglog_t *log;
    struct cmd_log_reports log_reports; /* what was said of the log's failures */
};


static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Called by the proxy loop about every 200 ms, between two PDUs. */
static void tick(void *ctx)
{
    struct pctx *x = ctx;
    cmd_host_tick(&x->host, cmd_host_take_sighup(), NULL);
    /* A hole in the log is said as it happens (cmd-log.h). */
    cmd_log_report_failures(x->log, "proxy", &x->log_reports, false);
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
          "  --api ADDR:PORT       admin API and console (off without it); a non-loopback\n"
          "                        address needs --tls-cert/--tls-key or --insecure-listen\n"
          "  --tls-cert FILE, --tls-key FILE  PEM certificate and key: the API over HTTPS\n"
          "  --insecure-listen     allow the API in plain HTTP on a non-loopback address\n"
          "  --console DIR         console files served at / (default admin/console)\n"
          "  --db FILE             SQLite state: lists in, message log out (default smsguard.db)\n"
          "  --rules DIR           rule set (default rules)\n"
          "  --rules-cache DIR     compiled rule databases (default DIR/.cache when writable)\n"
          "  --config FILE         configuration file (docs/configuration.md): [paths],\n"
          "                        [verdict], [msglog] and [alerts] (the alert webhook);\n"
          "                        options given here override it; [proxy] sections are\n"
          "                        smsguard run's and ignored\n"
          "  --block-status HEX    command_status for a blocked submit (default 0x45\n"
          "                        ESME_RSUBMITFAIL); 0 = silent accept with a generated\n"
          "                        message_id and a REJECTD receipt to a receiver bind\n"
          "  --deliver-block-status HEX  deliver_sm_resp status for blocked MO (default 0:\n"
          "                        accept and drop)\n"
          "  --fail-closed         refuse messages that are not judged (engine error, or over\n"
          "                        --judge-budget) with the block status (default: pass them);\n"
          "                        a sender the engine verified lately passes either way, with\n"
          "                        an alert\n"
          "  --judge-budget MS     a message that waited longer than MS since it was read (the\n"
          "                        proxy thread overloaded or stalled) is not judged:\n"
          "                        --fail-closed decides (default 0: off)\n"
          "  --response-timeout S  a request the peer does not answer within S seconds is\n"
          "                        answered by the proxy, once; a late answer is dropped\n"
          "                        (default 5)\n"
          "  --timeout-status HEX  that answer's status for a submit (default 0x8 ESME_RSYSERR)\n"
          "  --multipart MODE      hold (default): hold the parts, judge the whole message,\n"
          "                        forward all or none; forward: forward parts as they come,\n"
          "                        judging the text so far, and refuse the rest once it is spam\n"
          "  --monitor             judge and log, forward everything\n"
          "  --window N            requests pending per direction per link (default 256)\n"
          "  --max-links N         concurrent ESME connections (default 4096)\n"
          "  --mp-timeout S        seconds a multipart message is held for its parts (default 30)\n"
          "  -h, --help            this help\n",
          f);
}

int cmd_proxy(int argc, char **argv)
{
    (void)store_init_process(); /* before any database is opened, as run's (store.h) */
    struct proxy_config pc;
    proxy_config_default(&pc);
    struct pctx x = {.host = {.cmd = "proxy", .rules_dir = "rules", .db_path = "smsguard.db"}};
    const char *api_listen = NULL;
    struct cmd_api_args aa; /* --api's TLS and console options; listen is --api's */
    cmd_api_args_init(&aa);
    /* The configuration file first, so that every option overrides it;
     * the engine config's numbering-plan strings point into cfg. */
    static struct config cfg;
    const char *cfg_path = NULL;
    if (cmd_config_load("proxy", argc, argv, &cfg, &cfg_path) != 0)
        return 2;
    if (cfg.n_proxies)
        fprintf(stderr, "smsguard proxy: %s: %u [proxy] sections ignored (they are smsguard run's links)\n",
                cfg_path, cfg.n_proxies);
    if (cfg.rules_dir[0])
        x.host.rules_dir = cfg.rules_dir;
    if (cfg.db_path[0])
        x.host.db_path = cfg.db_path;
    if (cfg.rules_cache[0])
        x.host.cache_dir = cfg.rules_cache;
    enum { O_LISTEN = 1000, O_UP, O_API, O_DB, O_RULES, O_CACHE, O_BSTAT, O_DSTAT, O_FAILC, O_MON, O_WIN,
           O_MAXL, O_MPT, O_RTO, O_TSTAT, O_BUDGET, O_MPMODE, O_CONFIG };
    static const struct option lo[] = {
        {"listen", required_argument, NULL, O_LISTEN}, {"upstream", required_argument, NULL, O_UP},
        {"api", required_argument, NULL, O_API}, {"db", required_argument, NULL, O_DB},
        {"rules", required_argument, NULL, O_RULES}, {"rules-cache", required_argument, NULL, O_CACHE},
        {"block-status", required_argument, NULL, O_BSTAT},
        {"deliver-block-status", required_argument, NULL, O_DSTAT},
        {"fail-closed", no_argument, NULL, O_FAILC}, {"monitor", no_argument, NULL, O_MON},
        {"window", required_argument, NULL, O_WIN}, {"max-links", required_argument, NULL, O_MAXL},
        {"mp-timeout", required_argument, NULL, O_MPT},
        {"response-timeout", required_argument, NULL, O_RTO},
        {"timeout-status", required_argument, NULL, O_TSTAT},
        {"judge-budget", required_argument, NULL, O_BUDGET},
        {"multipart", required_argument, NULL, O_MPMODE}, {"config", required_argument, NULL, O_CONFIG},
        {"console", required_argument, NULL, CMD_OPT_CONSOLE},
        {"tls-cert", required_argument, NULL, CMD_OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, CMD_OPT_TLS_KEY},
        {"insecure-listen", no_argument, NULL, CMD_OPT_INSECURE_LISTEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: pc.listen = optarg; break;
        case O_UP: pc.upstream = optarg; break;
        case O_API: api_listen = optarg; break;
        case O_DB: x.host.db_path = optarg; break;
        case O_RULES: x.host.rules_dir = optarg; break;
        case O_CACHE: x.host.cache_dir = optarg; break;
        case O_CONFIG: break; /* read by cmd_config_load above */
        case O_BSTAT:
        case O_DSTAT:
        case O_TSTAT:
        case O_FAILC:
        case O_MPMODE:
        case O_BUDGET:
        case O_MON:
        case O_WIN:
        case O_MAXL:
        case O_MPT:
        case O_RTO: {
            /* One parser for these and for [proxy] sections of run's
             * configuration (cmd/cmd-links.c). */
            char err[256];
            const char *name = NULL;
            for (const struct option *o = lo; o->name && !name; o++)
                if (o->val == c)
                    name = o->name;
            if (cmd_proxy_setting(&pc, name, optarg ? optarg : "true", err, sizeof err) != 0) {
                fprintf(stderr, "smsguard proxy: --%s\n", err);
                return 2;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            if (cmd_api_option(&aa, c, optarg))
                break;
            usage(stderr);
            return 2;
        }
    }
    if (!pc.listen || !pc.upstream || optind != argc) {
        usage(stderr);
        return 2;
    }
    cmd_host_default_cache(&x.host);
    int status = 1;
    char err[512];
    proxy_t *p = NULL;
    x.host.engine = verdict_engine_new(&cfg.verdict, err, sizeof err);
    if (!x.host.engine) {
        fprintf(stderr, "smsguard proxy: %s\n", err);
        return 1;
    }
    if (cmd_host_load_rules(&x.host, 1) != 0)
        goto out;
    /* Before the API: the webhook runs curl_global_init(). */
    if (cmd_host_start_webhook(&x.host, &cfg.alerts) != 0)
        goto out;
    if (x.host.webhook)
        cmd_proxy_post_alerts(&pc, x.host.webhook); /* automatic entries: cmd_host_tick */
    char serr[STORE_ERRBUF_SIZE];
    if (store_open(&x.host.store, x.host.db_path, STORE_OPEN_CREATE, serr) != 0) {
        fprintf(stderr, "smsguard proxy: %s: %s\n", x.host.db_path, serr);
        goto out;
    }
    struct msglog_config mc = cmd_log_config(&cfg.msglog);
    x.log = msglog_new(x.host.db_path, &mc, serr);
    if (!x.log) {
        fprintf(stderr, "smsguard proxy: message log %s: %s\n", x.host.db_path, serr);
        goto out;
    }
    if (cmd_host_load_lists(&x.host) != 0)
        goto out;
    p = proxy_new(&pc, x.host.engine, x.log, err, sizeof err);
    if (!p) {
        fprintf(stderr, "smsguard proxy: %s\n", err);
        goto out;
    }
    if (api_listen) {
        aa.listen = api_listen;
        if (cmd_api_start(&aa, "proxy", x.host.db_path, x.host.engine, x.log, verdict_engine_config(x.host.engine), &x.host.api) != 0)
            goto out;
    }
    admin_set_webhook(x.host.api, x.host.webhook);
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    cmd_host_catch_sighup(NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "smsguard proxy: listening on %s (port %u), upstream %s, %s\n", pc.listen, proxy_port(p),
            pc.upstream, pc.enforce ? "enforcing" : "monitor only");
    int rc = proxy_run(p, &stop_requested, tick, &x);
    tick(&x);
    /* Everything queued is committed or counted in failed: the exit status
     * says whether the log is complete. */
    int log_rc = msglog_flush(x.log);
    struct proxy_stats st;
    proxy_get_stats(p, &st);
    cmd_proxy_print_summary(stderr, "smsguard proxy", &st);
    struct msglog_stats ms;
    msglog_get_stats(x.log, &ms);
    fprintf(stderr, "smsguard proxy: log %llu rows written to %s, %llu dropped, %llu failed\n",
            (unsigned long long)ms.written, x.host.db_path, (unsigned long long)ms.dropped,
            (unsigned long long)ms.failed);
    log_rc = cmd_log_report_end(x.log, "proxy", "smsguard proxy: log", x.host.db_path, log_rc, &x.log_reports);
    if (x.host.webhook) {
        struct admin_webhook_stats ws;
        admin_webhook_get_stats(x.host.webhook, &ws);
        fprintf(stderr, "smsguard proxy: webhook %llu alerts posted, %llu failed, %llu dropped, %llu queued\n",
                (unsigned long long)ws.posted, (unsigned long long)ws.failed,
                (unsigned long long)ws.dropped, (unsigned long long)ws.queued);
    }
    status = rc == 0 && !log_rc ? 0 : 1;
out:
    admin_stop(x.host.api);
    cmd_host_finish(&x.host); /* a reload still building: joined before the engine goes */
    proxy_free(p);
    admin_webhook_free(x.host.webhook); /* posts what is queued, within its timeout */
    msglog_free(x.log);
    store_close(x.host.store);
    verdict_engine_free(x.host.engine);
    return status;
}
