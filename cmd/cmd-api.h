/* What `smsguard run` needs to serve the admin API (admin/admin.h): its
 * options and the wait after a capture file is done.  Kept out of
 * cmd-judge.c so the judging loop stays readable. */
#ifndef SG_CMD_API_H
#define SG_CMD_API_H

#include <getopt.h>

#include "admin.h"

struct cmd_api_args {
    const char *listen;   /* --listen ADDR:PORT (default 127.0.0.1:8080) */
    const char *console;  /* --console DIR (default admin/console) */
    const char *tls_cert, *tls_key;
    int insecure_listen;
    int no_api;
};

/* Long option values 3001.. are the API's. */
enum {
    CMD_OPT_LISTEN = 3001,
    CMD_OPT_CONSOLE,
    CMD_OPT_NO_API,
    CMD_OPT_TLS_CERT,
    CMD_OPT_TLS_KEY,
    CMD_OPT_INSECURE_LISTEN,
};

#define CMD_API_LONGOPTS \
    {"listen", required_argument, NULL, CMD_OPT_LISTEN}, \
    {"console", required_argument, NULL, CMD_OPT_CONSOLE}, \
    {"no-api", no_argument, NULL, CMD_OPT_NO_API}, \
    {"tls-cert", required_argument, NULL, CMD_OPT_TLS_CERT}, \
    {"tls-key", required_argument, NULL, CMD_OPT_TLS_KEY}, \
    {"insecure-listen", no_argument, NULL, CMD_OPT_INSECURE_LISTEN}

#define CMD_API_HELP \
    "  --listen ADDR:PORT admin API and console (default 127.0.0.1:8080); a\n" \
    "                   non-loopback address needs --tls-cert/--tls-key\n" \
    "  --console DIR    console files served at / (default admin/console)\n" \
    "  --tls-cert FILE, --tls-key FILE  PEM certificate and key: HTTPS\n" \
    "  --insecure-listen  allow plain HTTP on a non-loopback address\n" \
    "  --no-api         no admin API\n"

void cmd_api_args_init(struct cmd_api_args *a);
/* 1 handled, 0 not an API option. */
int cmd_api_option(struct cmd_api_args *a, int opt, const char *arg);
/* Starts the API unless --no-api; *out NULL then.  Prints where it
 * listens.  0, or -1 with the error printed. */
int cmd_api_start(const struct cmd_api_args *a, const char *cmd, const char *db_path,
                  verdict_engine_t *engine, msglog_t *log, const struct verdict_config *vc,
                  admin_t **out);
/* After `run -r FILE`: keeps serving until SIGINT/SIGTERM, calling
 * tick(ctx) about every 200 ms so that API changes still reach the engine
 * and its automatic-blacklist queue drains. */
void cmd_api_serve_until_signal(admin_t *api, const char *cmd, void (*tick)(void *), void *ctx);
/* The same loop, API or not: what `run` does when it only has proxy links
 * (their threads judge; this one applies reloads and drains). */
void cmd_serve_until_signal(void (*tick)(void *), void *ctx);

#endif
