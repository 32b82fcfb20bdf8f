#include "cmd-host.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

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

int cmd_host_load_rules(struct cmd_host *h, int initial)
{
    rules_diag_t *diag = rules_diag_new(100);
    rules_db_t *db = NULL;
    struct rules_build_opts opts = {.cache_dir = h->cache_dir};
    struct rules_build_info info = {0};
    if (rules_db_load(h->rules_dir, &opts, &db, diag, &info) != 0) {
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
                h->rules_dir, info.from_cache ? "cache" : "compiled", info.build_ms);
    return 0;
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
            } else if (rc != SG_EEXIST) {
                fprintf(stderr, "smsguard %s: automatic blacklist %s: %s\n", h->cmd, ev[i].value,
                        store_errmsg(h->store));
            }
        }
    }
    return wrote;
}

void cmd_host_tick(struct cmd_host *h, int reload_requested, const decoder_t *dec)
{
    int lists_stale = write_autobl(h);
    /* POST /api/v1/rules/reload is SIGHUP with an answer. */
    int api_reload = admin_rules_reload_take(h->api);
    if (reload_requested || api_reload) {
        h->reloads++;
        int ok = cmd_host_load_rules(h, 0) == 0;
        admin_rules_reload_done(h->api, ok, ok ? "rules and lists reloaded"
                                               : "rule set refused; the running rules stay in force "
                                                 "(the daemon's log has the errors)");
        lists_stale = 1;
    }
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
