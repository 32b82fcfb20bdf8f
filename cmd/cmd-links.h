/* The inline proxy links of `smsguard run`: one `smsguard proxy` per
 * [proxy "NAME"] section of the configuration (docs/proxy.md, "Links in
 * smsguard run"), each on a thread of its own, judging with the daemon's
 * engine and logging to its message log, beside the tap and the admin API.
 *
 * Lifecycle: cmd_links_new() checks every section before anything starts
 * (errors as FILE:LINE); cmd_links_start() listens and starts the threads;
 * cmd_links_free() stops them (each unbinds both sides of its links),
 * prints each link's summary and frees.
 */
#ifndef SG_CMD_LINKS_H
#define SG_CMD_LINKS_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "msglog.h"
#include "proxy.h"
#include "verdict.h"

struct cmd_links;
struct admin_webhook;

/* One `smsguard proxy` option, by its long name ('_' and '-' alike, no
 * leading dashes), applied to c: the one parser of the command line and
 * of [proxy] sections.  value: the option's argument; for the switches
 * (monitor, fail-closed) a boolean.  value must outlive c (listen and
 * upstream are kept as pointers).  0, or -1 with a message in err. */
int cmd_proxy_setting(struct proxy_config *c, const char *key, const char *value, char *err, size_t cap);

/* Checks the [proxy] sections of cfg (read from path, for messages) and
 * returns them in *out (NULL when there is none).  0, or -1 after
 * printing every error as path:line: message. */
int cmd_links_new(const struct config *cfg, const char *path, struct cmd_links **out);
size_t cmd_links_count(const struct cmd_links *l);
/* Listens on every link's address and starts its thread.  engine, log
 * and webhook are borrowed and must outlive cmd_links_free(); log (may be
 * NULL) must have been opened with multi_producer; webhook (the daemon's
 * [alerts] webhook, may be NULL) gets the alerts of every link, as the
 * tap's (cmd_proxy_post_alerts).  0, or -1 (reported; nothing left
 * running). */
int cmd_links_start(struct cmd_links *l, verdict_engine_t *engine, msglog_t *log, struct admin_webhook *webhook);

/* Sets c's on_judged hook so that every message the proxy logs that
 * GET /api/v1/alerts would list is queued for webhook (borrowed, must
 * outlive the proxy; NULL: no hook).  admin_webhook_post_verdict() takes
 * a short mutex, only for alerts, so several proxy threads may share one
 * webhook with the tap. */
void cmd_proxy_post_alerts(struct proxy_config *c, struct admin_webhook *webhook);
/* Stops and joins every link's thread, prints its summary on stderr,
 * frees.  NULL is a no-op. */
void cmd_links_free(struct cmd_links *l);

/* The summary line of a proxy's counters, prefixed by who. */
void cmd_proxy_print_summary(FILE *f, const char *who, const struct proxy_stats *st);

#endif
