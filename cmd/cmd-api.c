/* `smsguard run`'s admin API glue: options, start-up, and serving on after
 * a capture file ends. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd-api.h"

void cmd_api_args_init(struct cmd_api_args *a)
{
    memset(a, 0, sizeof *a);
    a->listen = "127.0.0.1:8080";
    a->console = "admin/console";
}

int cmd_api_option(struct cmd_api_args *a, int opt, const char *arg)
{
    switch (opt) {
    case CMD_OPT_LISTEN: a->listen = arg; return 1;
    case CMD_OPT_CONSOLE: a->console = arg; return 1;
    case CMD_OPT_NO_API: a->no_api = 1; return 1;
    case CMD_OPT_TLS_CERT: a->tls_cert = arg; return 1;
    case CMD_OPT_TLS_KEY: a->tls_key = arg; return 1;
    case CMD_OPT_INSECURE_LISTEN: a->insecure_listen = 1; return 1;
    default: return 0;
    }
}

int cmd_api_start(const struct cmd_api_args *a, const char *cmd, const char *db_path,
                  verdict_engine_t *engine, msglog_t *log, const struct verdict_config *vc,
                  admin_t **out)
{
    *out = NULL;
    if (a->no_api)
        return 0;
    struct admin_config c;
    admin_config_default(&c);
    c.listen = a->listen;
    c.db_path = db_path;
    c.console_dir = a->console;
    c.tls_cert = a->tls_cert;
    c.tls_key = a->tls_key;
    c.insecure_listen = a->insecure_listen;
    c.engine = engine;
    c.msglog = log;
    if (vc) {
        c.country_code = vc->country_code;
        c.trunk_prefix = vc->trunk_prefix;
    }
    char err[512];
    if (admin_start(out, &c, err, sizeof err) != 0) {
        fprintf(stderr, "smsguard %s: admin API: %s\n", cmd, err);
        return -1;
    }
    fprintf(stderr, "smsguard %s: admin API and console on %s://%s/ (port %u)\n", cmd,
            a->tls_cert ? "https" : "http", a->listen, admin_port(*out));
    return 0;
}

static volatile sig_atomic_t serve_stop;

static void on_stop(int sig)
{
    (void)sig;
    serve_stop = 1;
}

void cmd_api_serve_until_signal(admin_t *api, const char *cmd, void (*tick)(void *), void *ctx)
{
    if (!api)
        return;
    fprintf(stderr, "smsguard %s: capture done; serving the API until SIGTERM or Ctrl-C\n", cmd);
    cmd_serve_until_signal(tick, ctx);
}

void cmd_serve_until_signal(void (*tick)(void *), void *ctx)
{
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    serve_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    while (!serve_stop) {
        tick(ctx);
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL); /* a signal cuts it short */
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}
