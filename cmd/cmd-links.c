#include "cmd-links.h"

#include "admin-webhook.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- one option ------------------------------------------------------------ */

/* key == name, with '_' and '-' alike. */
static int key_is(const char *key, const char *name)
{
    for (; *key && *name; key++, name++)
        if (*key != *name && !((*key == '_' || *key == '-') && *name == '-'))
            return 0;
    return !*key && !*name;
}

/* An unsigned number in [lo, hi], any base strtoul reads (0x45, 69). */
static int parse_uns(const char *v, int base, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end = NULL;
    if (!*v || *v == '-')
        return -1;
    unsigned long x = strtoul(v, &end, base);
    if (*end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

int cmd_proxy_setting(struct proxy_config *c, const char *key, const char *value, char *err, size_t cap)
{
    unsigned long v;
    int b;
    if (key_is(key, "listen")) {
        c->listen = value;
    } else if (key_is(key, "upstream")) {
        c->upstream = value;
    } else if (key_is(key, "block-status") || key_is(key, "deliver-block-status") ||
               key_is(key, "timeout-status")) {
        int timeout = key_is(key, "timeout-status");
        if (parse_uns(value, 0, timeout ? 1 : 0, 0xFFFFFFFFul, &v) != 0) {
            snprintf(err, cap, "%s %s: not a%s command_status", key, value, timeout ? "n error" : "");
            return -1;
        }
        if (timeout)
            c->timeout_status = (uint32_t)v;
        else if (key_is(key, "deliver-block-status"))
            c->deliver_block_status = (uint32_t)v;
        else if (v == 0) /* silent accept, REJECTD receipt */
            c->block_mode = PROXY_BLOCK_SILENT;
        else
            c->block_mode = PROXY_BLOCK_ERROR, c->block_status = (uint32_t)v;
    } else if (key_is(key, "fail-closed") || key_is(key, "monitor")) {
        if (config_bool(value, &b) != 0) {
            snprintf(err, cap, "%s %s: expected true or false", key, value);
            return -1;
        }
        if (key_is(key, "monitor"))
            c->enforce = !b;
        else
            c->fail_mode = b ? PROXY_FAIL_CLOSED : PROXY_FAIL_OPEN;
    } else if (key_is(key, "multipart")) {
        if (strcmp(value, "hold") == 0)
            c->mp_mode = PROXY_MP_HOLD;
        else if (strcmp(value, "forward") == 0)
            c->mp_mode = PROXY_MP_FORWARD;
        else {
            snprintf(err, cap, "%s %s: expected hold or forward", key, value);
            return -1;
        }
    } else if (key_is(key, "judge-budget")) {
        if (parse_uns(value, 10, 0, 60000, &v) != 0) {
            snprintf(err, cap, "%s %s: expected milliseconds from 0 to 60000", key, value);
            return -1;
        }
        c->judge_budget_us = (unsigned)v * 1000u;
    } else if (key_is(key, "response-timeout")) {
        if (parse_uns(value, 10, 1, 3600, &v) != 0) {
            snprintf(err, cap, "%s %s: expected seconds from 1 to 3600", key, value);
            return -1;
        }
        c->response_timeout_ms = (unsigned)v * 1000u;
    } else if (key_is(key, "window") || key_is(key, "max-links") || key_is(key, "mp-timeout")) {
        if (parse_uns(value, 10, 1, 1000000, &v) != 0) {
            snprintf(err, cap, "%s %s: expected a number from 1 to 1000000", key, value);
            return -1;
        }
        if (key_is(key, "window"))
            c->window = (unsigned)v;
        else if (key_is(key, "max-links"))
            c->max_links = (unsigned)v;
        else
            c->mp_timeout_s = (unsigned)v;
    } else {
        snprintf(err, cap, "unknown setting '%s' (listen, upstream, block_status, deliver_block_status, "
                           "fail_closed, judge_budget, response_timeout, timeout_status, multipart, monitor, "
                           "window, max_links, mp_timeout)", key);
        return -1;
    }
    return 0;
}

/* ---- the links of `smsguard run` --------------------------------------------- */

struct link_run {
    const char *name;
    struct proxy_config pc;
    proxy_t *p;
    volatile sig_atomic_t *stop;
    pthread_t thread;
    int started;
    int rc;
};

struct cmd_links {
    size_t n;
    volatile sig_atomic_t stop;
    struct link_run run[CONFIG_MAX_PROXIES];
};

int cmd_links_new(const struct config *cfg, const char *path, struct cmd_links **out)
{
    *out = NULL;
    if (cfg->n_proxies == 0)
        return 0;
    struct cmd_links *l = calloc(1, sizeof *l);
    if (!l) {
        fprintf(stderr, "smsguard run: out of memory\n");
        return -1;
    }
    int bad = 0;
    for (unsigned i = 0; i < cfg->n_proxies; i++) {
        const struct config_proxy *cp = &cfg->proxies[i];
        struct link_run *r = &l->run[l->n++];
        r->name = cp->name;
        r->stop = &l->stop;
        proxy_config_default(&r->pc);
        for (unsigned k = 0; k < cp->n; k++) {
            char err[512];
            if (cmd_proxy_setting(&r->pc, cp->set[k].key, cp->set[k].value, err, sizeof err) != 0) {
                fprintf(stderr, "%s:%u: [proxy \"%s\"] %s\n", path, cp->set[k].line, cp->name, err);
                bad = 1;
            }
        }
        if (!r->pc.listen || !r->pc.upstream) {
            fprintf(stderr, "%s:%u: [proxy \"%s\"] needs listen and upstream\n", path, cp->line, cp->name);
            bad = 1;
        }
    }
    if (bad) {
        free(l);
        return -1;
    }
    *out = l;
    return 0;
}

size_t cmd_links_count(const struct cmd_links *l) { return l ? l->n : 0; }

static void *link_thread(void *arg)
{
    struct link_run *r = arg;
    /* No tick: reloads, automatic blacklist entries and list changes are
     * the main thread's (cmd_host_tick), and reach this link through the
     * engine. */
    r->rc = proxy_run(r->p, r->stop, NULL, NULL);
    return NULL;
}

/* The proxy's on_judged hook: the same post, and so the same selection
 * and body, as the tap's on_message (cmd-judge.c).  Non-alerts return
 * before the webhook's mutex; a full queue drops and counts. */
static void post_alert(void *ctx, const struct proxy_judged *j)
{
    admin_webhook_post_verdict(ctx, j->ts_us, j->log_id, j->sender, strlen(j->sender), j->account, j->v);
}

void cmd_proxy_post_alerts(struct proxy_config *c, struct admin_webhook *webhook)
{
    c->on_judged = webhook ? post_alert : NULL;
    c->on_judged_ctx = webhook;
}

int cmd_links_start(struct cmd_links *l, verdict_engine_t *engine, msglog_t *log, struct admin_webhook *webhook)
{
    if (!l)
        return 0;
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is a closed link, not a dead daemon */
    for (size_t i = 0; i < l->n; i++) {
        struct link_run *r = &l->run[i];
        char err[512];
        cmd_proxy_post_alerts(&r->pc, webhook);
        r->p = proxy_new(&r->pc, engine, log, err, sizeof err);
        if (!r->p) {
            fprintf(stderr, "smsguard run: proxy \"%s\": %s\n", r->name, err);
            goto fail;
        }
        /* Signals are the main thread's (SIGHUP reloads, SIGTERM stops
         * everything): the link's thread starts with all of them blocked. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int rc = pthread_create(&r->thread, NULL, link_thread, r);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            fprintf(stderr, "smsguard run: proxy \"%s\": cannot start its thread\n", r->name);
            goto fail;
        }
        r->started = 1;
        fprintf(stderr, "smsguard run: proxy \"%s\" listening on %s (port %u), upstream %s, %s\n", r->name,
                r->pc.listen, proxy_port(r->p), r->pc.upstream, r->pc.enforce ? "enforcing" : "monitor only");
    }
    return 0;
fail:
    l->stop = 1;
    for (size_t i = 0; i < l->n; i++) {
        struct link_run *r = &l->run[i];
        if (r->started)
            pthread_join(r->thread, NULL);
        r->started = 0;
        proxy_free(r->p);
        r->p = NULL;
    }
    return -1;
}

void cmd_proxy_print_summary(FILE *f, const char *who, const struct proxy_stats *st)
{
    fprintf(f,
            "%s: %llu links (%llu refused, %llu upstream failures); %llu judged: %llu allow, "
            "%llu flag, %llu submits and %llu delivers blocked; fail-open %llu, fail-closed %llu; "
            "%llu malformed, %llu generic_nack; %llu receipts made (%llu without a receiver); multipart "
            "%llu held parts, %llu forwarded, %llu blocked, %llu expired, %llu evicted, %llu parts failed; "
            "forward mode %llu parts, %llu blocked (%llu partly forwarded), %llu refused parts; "
            "monitor mode %llu parts, %llu messages judged whole, %llu judged incomplete; "
            "%llu back-pressure stalls; %llu timeouts (%llu answered), %llu late binds unbound, %llu late and "
            "%llu unmatched responses "
            "dropped (%llu timed-out numbers forgotten), %llu duplicate requests; %llu over budget, %llu slow "
            "judgements, %llu verified unjudged (alerts)\n",
            who, (unsigned long long)st->links_accepted, (unsigned long long)st->links_refused,
            (unsigned long long)st->upstream_failures, (unsigned long long)st->judged,
            (unsigned long long)st->allowed, (unsigned long long)st->flagged,
            (unsigned long long)st->blocked_submit, (unsigned long long)st->blocked_deliver,
            (unsigned long long)st->fail_open, (unsigned long long)st->fail_closed,
            (unsigned long long)st->malformed, (unsigned long long)st->generic_nacks,
            (unsigned long long)st->receipts_sent, (unsigned long long)st->receipts_undeliverable,
            (unsigned long long)st->mp_held, (unsigned long long)st->mp_forwarded,
            (unsigned long long)st->mp_blocked, (unsigned long long)st->mp_expired,
            (unsigned long long)st->mp_evicted, (unsigned long long)st->mp_parts_failed,
            (unsigned long long)st->mp_fwd_parts, (unsigned long long)st->mp_fwd_blocked,
            (unsigned long long)st->mp_fwd_partial, (unsigned long long)st->mp_fwd_refused,
            (unsigned long long)st->mp_mon_parts, (unsigned long long)st->mp_mon_judged,
            (unsigned long long)st->mp_mon_incomplete,
            (unsigned long long)st->backpressure_stalls, (unsigned long long)st->timeouts,
            (unsigned long long)st->timeout_answers, (unsigned long long)st->late_binds_unbound,
            (unsigned long long)st->late_responses,
            (unsigned long long)st->unmatched_responses, (unsigned long long)st->late_records_evicted,
            (unsigned long long)st->duplicate_requests, (unsigned long long)st->over_budget,
            (unsigned long long)st->judge_slow, (unsigned long long)st->verified_unjudged);
}

void cmd_links_free(struct cmd_links *l)
{
    if (!l)
        return;
    l->stop = 1; /* each loop sees it within its 50 ms wait, then unbinds both sides */
    for (size_t i = 0; i < l->n; i++) {
        struct link_run *r = &l->run[i];
        if (r->started) {
            pthread_join(r->thread, NULL);
            struct proxy_stats st;
            proxy_get_stats(r->p, &st);
            char who[CONFIG_PROXY_NAME_MAX + 32];
            snprintf(who, sizeof who, "smsguard run: proxy \"%s\"", r->name);
            cmd_proxy_print_summary(stderr, who, &st);
        }
        proxy_free(r->p);
    }
    free(l);
}
