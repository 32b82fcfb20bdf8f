/* The configuration file: every threshold and bound of the decoder, the
 * verdict engine and the message log, per-SMSC-link text and message-id
 * options, and the paths a front end needs (rule set, database, rule
 * cache).  Format and keys: docs/configuration.md; a commented example
 * listing every key with its default: etc/smsguard.conf.
 *
 *   # smsguard.conf
 *   [decoder]
 *   max_flows = 131072
 *   memcap = 256M
 *   [link "10.20.0.10:2775"]
 *   dc0 = latin1
 *   msgid = hex-dec
 *   [verdict]
 *   block_at = 5
 *
 * The parser does no I/O (the engine's rule): the front end reads the file
 * and hands its bytes to config_parse().  Parsing fills the existing
 * config structs (decoder_config, verdict_config) on top of what the
 * struct holds, so the front end's order is: config_default(), then
 * config_parse() of the file, then command-line options on top.
 *
 * Errors carry their location as "NAME:LINE: message" (NAME as passed in),
 * one per line: unknown section or key, bad value, value out of range, a
 * key given twice in one section, a link given twice.  Every error in the
 * file is reported, not just the first (up to the error buffer's size).
 *
 * Lifetime: verdict.country_code and verdict.trunk_prefix point into the
 * same struct config, so a struct config must not be copied by assignment
 * (copy .decoder and .verdict out of it instead, and keep it alive while
 * they are used).  Not thread-safe; no global state.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "decoder.h"
#include "verdict.h"

/* Bounds on the input: a configuration is written by a person; anything
 * bigger is a mistake or an attack on the parser. */
#define CONFIG_MAX_BYTES (1u << 20)
#define CONFIG_MAX_LINE 4096
#define CONFIG_PATH_MAX 1024

/* The message log's settings, mirrored here because the engine library
 * does not depend on store/: the front end copies them into its
 * msglog_config (store/msglog.h documents each; 0 = that module's
 * default). */
/* msglog_config.batch_max's bound (MSGLOG_BATCH_MAX), here so that the
 * parser refuses more at FILE:LINE; cmd/cmd-log.c checks the two agree. */
#define CONFIG_MSGLOG_BATCH_MAX 1000000

struct config_msglog {
    uint64_t queue_capacity;
    uint64_t batch_max;
    int64_t batch_window_ms;
    int64_t retention_days;
    int64_t max_rows;
    int64_t prune_every_s;
};

/* [alerts]: the alert webhook (admin/admin-webhook.h documents each);
 * webhook_url "" = no webhook. */
struct config_alerts {
    char webhook_url[CONFIG_PATH_MAX];
    int64_t webhook_timeout_ms;
    int64_t webhook_queue;
    int64_t webhook_retries;
    int64_t webhook_backoff_ms;
};

/* [proxy "NAME"]: one inline SMPP proxy link run by `smsguard run`
 * (docs/proxy.md).  Its keys are the options of `smsguard proxy` (with '_'
 * or '-'), so the settings are kept as written, with their lines, and the
 * front end that knows the proxy checks them (reporting file:line). */
#define CONFIG_MAX_PROXIES 8
#define CONFIG_PROXY_MAX_SETTINGS 24
#define CONFIG_PROXY_NAME_MAX 64
#define CONFIG_PROXY_VALUE_MAX 256
struct config_proxy_setting {
    char key[32];
    char value[CONFIG_PROXY_VALUE_MAX];
    unsigned line;
};
struct config_proxy {
    char name[CONFIG_PROXY_NAME_MAX];
    unsigned line; /* of the section header */
    unsigned n;
    struct config_proxy_setting set[CONFIG_PROXY_MAX_SETTINGS];
};

struct config {
    struct decoder_config decoder;
    struct verdict_config verdict;
    struct config_msglog msglog;
    struct config_alerts alerts;
    /* [paths]; "" = not set (the front end's default applies). */
    char rules_dir[CONFIG_PATH_MAX];
    char db_path[CONFIG_PATH_MAX];
    char rules_cache[CONFIG_PATH_MAX];
    unsigned n_proxies;
    struct config_proxy proxies[CONFIG_MAX_PROXIES];
    /* Storage behind verdict.country_code / trunk_prefix. */
    char country_code[8];
    char trunk_prefix[8];
};

/* The bundled defaults: decoder_config_default(), verdict_config_default(),
 * message-log module defaults, no paths. */
void config_default(struct config *c);
/* A boolean as the file writes one: true/false, yes/no, on/off, 1/0, in
 * any case; 0 with *out set, or -1.  Also for the [proxy] sections'
 * values, which the front end parses. */
int config_bool(const char *v, int *out);

/* Parses len bytes of text (need not be NUL-terminated) named name in
 * messages, applying every valid key to c.
 *   err, errcap: receives the error lines ("name:line: message\n"...),
 *                cut at errcap (always NUL-terminated when errcap > 0).
 * Returns 0, or SG_EPARSE when at least one error was found (c then holds
 * the valid keys applied: the front end should refuse to start), or
 * SG_EINVAL for NULL arguments or len > CONFIG_MAX_BYTES.
 * Work: O(len + keys * links). */
int config_parse(struct config *c, const char *name, const char *text, size_t len, char *err,
                 size_t errcap);

/* Writes every key with its current value in the file's format (what
 * `etc/smsguard.conf` was generated from; also good for "show the
 * effective configuration").  Returns the length it needed (snprintf
 * habit). */
size_t config_format(const struct config *c, char *out, size_t cap);

#endif
