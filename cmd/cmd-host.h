/* What every judging front end (replay, run, proxy) does around the verdict
 * engine, which does no I/O of its own: load the rule set (with the
 * compiled-database cache) and the domain lists, load the lists snapshot
 * from the store, write the engine's automatic blacklist entries back, and,
 * between two messages, apply reloads (SIGHUP or the admin API) and pick up
 * list changes committed elsewhere (the API, another process through
 * PRAGMA data_version, checked about once a second).
 *
 * The caller fills the configuration members, creates the engine, opens the
 * store (or leaves it NULL: no lists, nothing written) and the API (or
 * NULL), calls cmd_host_tick() from its loop on the judging thread, and
 * cmd_host_finish() at the end.
 */
#ifndef SG_CMD_HOST_H
#define SG_CMD_HOST_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "admin.h"
#include "config.h"
#include "decoder.h"
#include "store.h"
#include "verdict.h"

struct cmd_host {
    /* set by the caller */
    const char *cmd;                 /* "replay", "run", "proxy": message prefix */
    const char *rules_dir, *db_path, *cache_dir;
    int quiet;                       /* no rule-load line at start-up */
    verdict_engine_t *engine;
    store_t *store;                  /* NULL: no database */
    admin_t *api;                    /* NULL: no admin API */
    struct admin_webhook *webhook;   /* NULL: no alert webhook; automatic
                                        blacklist entries are posted once stored */
    /* kept by the host */
    int64_t data_version;
    time_t last_poll;
    uint64_t reloads, reload_failures, list_reloads, autobl_written;
    char cache_buf[4096];
    struct cmd_host_reload *reload;  /* a rule set being built, or NULL */
    int reload_again;                /* asked again meanwhile: 1, 2 = by the API */
};

/* Without a cache_dir, uses rules_dir/.cache when it exists or can be
 * created (compiling thousands of rules takes seconds; loading them from
 * the cache, milliseconds); with none usable, rules compile every time. */
void cmd_host_default_cache(struct cmd_host *h);

/* Loads the rule set and the domain lists into the engine.  A rule set
 * that does not compile is refused with every error printed, and the
 * running one stays.  0 or -1. */
int cmd_host_load_rules(struct cmd_host *h, int initial);
/* Starts h->webhook from the [alerts] section when it names a URL (no-op
 * otherwise).  Before the admin API starts: the webhook runs
 * curl_global_init().  0, or -1 with the error printed. */
int cmd_host_start_webhook(struct cmd_host *h, const struct config_alerts *alerts);
/* Loads a fresh lists snapshot from the store (no-op without one).  0 or -1. */
int cmd_host_load_lists(struct cmd_host *h);
/* Between two messages: writes automatic blacklist entries, starts a rule
 * reload when reload_requested (SIGHUP) or the API asks for one (built on a
 * thread of its own while the running rules keep judging) and puts a built
 * one in force, reloads lists changed through the API or by another
 * process, and publishes the counters (and dec's, when given) to the API. */
void cmd_host_tick(struct cmd_host *h, int reload_requested, const decoder_t *dec);
/* SIGHUP asks for a reload: installs the handler (the previous one in
 * *old, may be NULL), and takes the request (1 once per SIGHUPs seen since
 * the last take) for cmd_host_tick's reload_requested. */
void cmd_host_catch_sighup(struct sigaction *old);
int cmd_host_take_sighup(void);
/* Waits for a rule reload in flight and puts it in force (or reports its
 * refusal), so that it is counted and answered; before the summary, and
 * before the engine is freed.  Safe to call more than once. */
void cmd_host_finish(struct cmd_host *h);

#endif
