#include "cmd-host.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "admin-webhook.h"
#include "rules-db.h"
#include "rules-parse.h"

void cmd_host_default_cache(struct cmd_host *h)
{
    if (h->cache_dir)
        return;
    snprintf(h->cache_buf, sizeof h->cache_buf, "%s/.cache", h->rules_dir);
    if (mkdir(h->cache_buf, 0755) == 0 || errno == EEXIST)
        h->cache_dir = h->cache_buf;
}

/* Puts a loaded rule set in force, or reports why it was refused. */
static int apply_rules(struct cmd_host *h, int rc, rules_db_t *db, rules_diag_t *diag,
                       const struct rules_build_info *info, int initial)
{
    if (rc != 0) {
        fprintf(stderr, "smsguard %s: rule set %s refused%s:\n", h->cmd, h->rules_dir,
                initial ? "" : ", the running rules stay in force");
        rules_diag_print(diag, stderr);
        rules_diag_free(diag);
        h->reload_failures++;
        return -1;
    }
    rules_diag_free(diag);
    verdict_engine_set_rules(h->engine, db);
    char err[256];
    if (verdict_engine_load_domains(h->engine, h->rules_dir, err, sizeof err) != 0)
        fprintf(stderr, "smsguard %s: domain lists: %s\n", h->cmd, err);
    if (!h->quiet || !initial)
        fprintf(stderr, "smsguard %s: %zu rules from %s (%s in %.1f ms)\n", h->cmd, rules_db_count(db),
                h->rules_dir, info->from_cache ? "cache" : "compiled", info->build_ms);
    return 0;
}

int cmd_host_load_rules(struct cmd_host *h, int initial)
{
    rules_diag_t *diag = rules_diag_new(100);
    rules_db_t *db = NULL;
    struct rules_build_opts opts = {.cache_dir = h->cache_dir};
    struct rules_build_info info = {0};
    int rc = rules_db_load(h->rules_dir, &opts, &db, diag, &info);
    return apply_rules(h, rc, db, diag, &info, initial);
}

/* ---- reloads off the judging thread ---------------------------------------
 * Compiling a rule set that is not in the cache takes seconds (the shipped
 * one about ten on a loaded machine), and a refused set is compiled whole
 * to report every error.  Done on the judging thread, that stalls every
 * link of a proxy and the API's answer; so a reload is built by a thread of
 * its own while the running rules keep judging, and put in force between
 * two messages once built. */
struct cmd_host_reload {
    pthread_t thread;
    atomic_int done;
    int answers_api;               /* the API waits for this build's outcome */
    const char *rules_dir, *cache_dir;
    int rc;
    rules_db_t *db;
    rules_diag_t *diag;
    struct rules_build_info info;
};

static void *reload_thread(void *arg)
{
    struct cmd_host_reload *r = arg;
    struct rules_build_opts opts = {.cache_dir = r->cache_dir};
    r->rc = rules_db_load(r->rules_dir, &opts, &r->db, r->diag, &r->info);
    atomic_store_explicit(&r->done, 1, memory_order_release);
    return NULL;
}

static void reload_answer_api(struct cmd_host *h, int ok)
{
    admin_rules_reload_done(h->api, ok, ok ? "rules and lists reloaded"
                                           : "rule set refused; the running rules stay in force "
                                             "(the daemon's log has the errors)");
}

static void reload_start(struct cmd_host *h, int answers_api)
{
    h->reloads++;
    struct cmd_host_reload *r = calloc(1, sizeof *r);
    rules_diag_t *diag = r ? rules_diag_new(100) : NULL;
    if (r && diag) {
        *r = (struct cmd_host_reload){.answers_api = answers_api, .rules_dir = h->rules_dir,
                                      .cache_dir = h->cache_dir, .diag = diag};
        if (pthread_create(&r->thread, NULL, reload_thread, r) == 0) {
            h->reload = r;
            return;
        }
    }
    /* No thread to be had: build here, as before. */
    rules_diag_free(diag);
    free(r);
    int ok = cmd_host_load_rules(h, 0) == 0;
    if (answers_api)
        reload_answer_api(h, ok);
}

/* Puts a finished build in force (or reports its refusal); with wait, waits
 * for one in flight.  1 if a build ended. */
static int reload_finish(struct cmd_host *h, int wait)
{
    struct cmd_host_reload *r = h->reload;
    if (!r || (!wait && !atomic_load_explicit(&r->done, memory_order_acquire)))
        return 0;
    pthread_join(r->thread, NULL);
    h->reload = NULL;
    int ok = apply_rules(h, r->rc, r->db, r->diag, &r->info, 0) == 0;
    if (r->answers_api)
        reload_answer_api(h, ok);
    free(r);
    if (h->reload_again) {
        /* Asked again while building: the files may have changed since. */
        int api = h->reload_again > 1;
        h->reload_again = 0;
        reload_start(h, api);
    }
    return 1;
}

void cmd_host_finish(struct cmd_host *h)
{
    while (reload_finish(h, 1))
        ;
}

int cmd_host_load_lists(struct cmd_host *h)
{
    if (!h->store)
        return 0;
    lists_t *l = NULL;
    if (store_load_lists(h->store, (int64_t)time(NULL), &l) != 0) {
        fprintf(stderr, "smsguard %s: loading lists from %s: %s\n", h->cmd, h->db_path,
                store_errmsg(h->store));
        return -1;
    }
    verdict_engine_set_lists(h->engine, l);
    store_data_version(h->store, &h->data_version);
    h->list_reloads++;
    return 0;
}

/* The engine applies its automatic entries in memory at once; the store
 * gets them here, and must have them before the next snapshot is installed
 * (installing it retires the engine's in-memory copies).  Returns 1 when
 * something was written. */
static int write_autobl(struct cmd_host *h)
{
    struct verdict_autobl ev[64];
    size_t n;
    int wrote = 0;
    while ((n = verdict_engine_drain_autobl(h->engine, ev, SG_ARRAY_LEN(ev))) > 0) {
        for (size_t i = 0; h->store && i < n; i++) {
            struct store_change c = {.now = ev[i].created_at, .actor = "engine", .reason = ev[i].reason};
            int64_t id;
            int rc = store_blacklist_add(h->store, &c, ev[i].kind, ev[i].value, 1, ev[i].expires_at, &id);
            if (rc == 0) {
                h->autobl_written++;
                wrote = 1;
                if (h->webhook)
                    admin_webhook_post_autobl(h->webhook, id, &ev[i]); /* queued, or dropped and counted */
            } else if (rc != SG_EEXIST) {
                fprintf(stderr, "smsguard %s: automatic blacklist %s: %s\n", h->cmd, ev[i].value,
                        store_errmsg(h->store));
            }
        }
    }
    return wrote;
}

/* SIGHUP: a flag the handler sets and the judging thread takes. */
int cmd_host_start_webhook(struct cmd_host *h, const struct config_alerts *alerts)
{
    if (!alerts->webhook_url[0])
        return 0;
    struct admin_webhook_config wc = {
        .url = alerts->webhook_url,
        .timeout_ms = (unsigned)alerts->webhook_timeout_ms,
        .queue_max = (unsigned)alerts->webhook_queue,
        .retries = (unsigned)alerts->webhook_retries,
        .backoff_ms = (unsigned)alerts->webhook_backoff_ms,
    };
    char err[512];
    h->webhook = admin_webhook_new(&wc, err, sizeof err);
    if (!h->webhook) {
        fprintf(stderr, "smsguard %s: alert webhook: %s\n", h->cmd, err);
        return -1;
    }
    return 0;
}

static volatile sig_atomic_t sighup_seen;

static void on_sighup(int sig)
{
    (void)sig;
    sighup_seen = 1;
}

void cmd_host_catch_sighup(struct sigaction *old)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_sighup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, old);
}

int cmd_host_take_sighup(void)
{
    int seen = sighup_seen;
    sighup_seen = 0;
    return seen;
}

void cmd_host_tick(struct cmd_host *h, int reload_requested, const decoder_t *dec)
{
    int lists_stale = write_autobl(h);
    /* POST /api/v1/rules/reload is SIGHUP with an answer, given when the
     * build it started (or the next one, when one was running) ends. */
    int api_reload = admin_rules_reload_take(h->api);
    if (reload_requested || api_reload) {
        if (!h->reload)
            reload_start(h, api_reload);
        else if (h->reload_again < 1 + api_reload)
            h->reload_again = 1 + api_reload;
    }
    if (reload_finish(h, 0))
        lists_stale = 1;
    /* A list change committed through the API: reload now, not at the
     * next data_version poll. */
    if (admin_lists_changed_take(h->api))
        lists_stale = 1;
    time_t now = time(NULL);
    if (h->store && now != h->last_poll) {
        h->last_poll = now;
        int64_t v;
        if (store_data_version(h->store, &v) == 0 && v != h->data_version)
            lists_stale = 1;
    }
    if (lists_stale)
        cmd_host_load_lists(h);
    if (h->api) {
        struct admin_metrics am = {.rule_reloads = h->reloads, .rule_reload_failures = h->reload_failures,
                                   .list_reloads = h->list_reloads, .autobl_written = h->autobl_written,
                                   .updated_at = (int64_t)now};
        if (dec)
            decoder_get_stats(dec, &am.dec);
        admin_publish_metrics(h->api, &am);
    }
}
