/* Operations routes: the running rule set with per-rule hit counters
 * (shadow rules included), rule reloads, the audit log and alerts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"
#include "rules-db.h"

/* ---- rules ------------------------------------------------------------------------ */

struct rules_arg {
    jw_t *w;
    int state; /* -1 = any */
};

static int write_rules(void *arg, const rules_db_t *db)
{
    struct rules_arg *ra = arg;
    jw_t *w = ra->w;
    jw_obj_begin(w);
    jw_kbool(w, "loaded", db != NULL);
    if (db) {
        char key[17];
        rules_db_key_hex(db, key);
        jw_kstr(w, "key", key);
        jw_kuint(w, "count", rules_db_count(db));
    }
    jw_key(w, "rules");
    jw_arr_begin(w);
    for (uint32_t i = 0; db && i < rules_db_count(db); i++) {
        enum rules_state st = rules_db_rule_state(db, i);
        if (ra->state >= 0 && (int)st != ra->state)
            continue;
        jw_obj_begin(w);
        jw_kstr(w, "id", rules_db_rule_id(db, i));
        admin_jw_str_or_null(w, "name", rules_db_rule_name(db, i));
        jw_kstr(w, "state", rules_state_name(st));
        jw_kstr(w, "action", rules_action_name(rules_db_rule_action(db, i)));
        jw_kint(w, "score", rules_db_rule_score(db, i));
        admin_jw_str_or_null(w, "tags", rules_db_rule_tags(db, i));
        jw_kuint(w, "hits", rules_db_rule_hits(db, i));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    return 0;
}

int admin_h_rules_get(admin_t *a, struct admin_req *r)
{
    struct rules_arg ra = {.w = r->w, .state = -1};
    const char *s = admin_query(r, "state");
    if (s) {
        static const enum rules_state states[] = {RULES_STATE_ENABLED, RULES_STATE_SHADOW,
                                                  RULES_STATE_DISABLED};
        for (size_t i = 0; i < SG_ARRAY_LEN(states); i++)
            if (strcmp(s, rules_state_name(states[i])) == 0)
                ra.state = (int)states[i];
        if (ra.state < 0)
            return admin_error(r, 400, "invalid", "state", "unknown rule state '%s'", s);
    }
    if (!a->engine)
        return admin_error(r, 503, "no_engine", NULL, "no engine is running in this process");
    verdict_engine_with_rules(a->engine, write_rules, &ra);
    return 200;
}

int admin_h_rules_reload(admin_t *a, struct admin_req *r)
{
    static const struct admin_field spec[] = {
        {"reason", AF_STR, 0, 500},
        {"ticket", AF_STR, 0, 64},
    };
    int st = admin_body_check(r, spec, SG_ARRAY_LEN(spec));
    if (st)
        return st;
    if (!a->engine)
        return admin_error(r, 503, "no_engine", NULL, "no engine is running in this process");
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += a->reload_timeout_ms / 1000;
    dl.tv_nsec += (long)(a->reload_timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->reload_mu);
    uint64_t my = ++a->reload_req_seq;
    atomic_store_explicit(&a->reload_wanted, 1, memory_order_release);
    int wrc = 0;
    while (a->reload_done_seq < my && wrc != ETIMEDOUT)
        wrc = pthread_cond_timedwait(&a->reload_cv, &a->reload_mu, &dl);
    int done = a->reload_done_seq >= my, ok = a->reload_ok;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", a->reload_msg);
    pthread_mutex_unlock(&a->reload_mu);
    if (!done)
        return admin_error(r, 504, "reload_pending", NULL,
                           "the daemon did not finish the reload within %u ms; it will still "
                           "apply it", a->reload_timeout_ms);
    if (!ok)
        return admin_error(r, 422, "rules_refused", NULL, "%s", msg);
    jw_obj_begin(r->w);
    jw_kbool(r->w, "reloaded", true);
    jw_kstr(r->w, "message", msg);
    jw_obj_end(r->w);
    return 200;
}

/* ---- audit ------------------------------------------------------------------------ */

struct audit_arg {
    jw_t *w;
    int64_t last_id;
    int n;
};

static int audit_row(void *arg, const struct store_audit_row *a)
{
    struct audit_arg *x = arg;
    jw_t *w = x->w;
    jw_obj_begin(w);
    jw_kint(w, "id", a->id);
    admin_jw_time(w, "time", a->ts);
    admin_jw_str_or_null(w, "actor", a->actor);
    admin_jw_str_or_null(w, "action", a->action);
    admin_jw_str_or_null(w, "object", a->object);
    jw_kint(w, "object_id", a->object_id);
    admin_jw_stored_json(w, "detail", a->detail, JSON_OBJECT, false);
    admin_jw_str_or_null(w, "reason", a->reason);
    admin_jw_str_or_null(w, "ticket", a->ticket);
    jw_obj_end(w);
    x->last_id = a->id;
    x->n++;
    return 0;
}

int admin_h_audit(admin_t *a, struct admin_req *r)
{
    struct store_audit_query q = {0};
    int64_t v;
    int st;
    if ((st = admin_query_int(r, "limit", 1, 1000, 100, &v)))
        return st;
    q.limit = (int)v;
    if ((st = admin_query_int(r, "object_id", 0, INT64_MAX, 0, &q.object_id)) ||
        (st = admin_query_int(r, "before_id", 0, INT64_MAX, 0, &q.before_id)))
        return st;
    const char *s = admin_query(r, "since"), *u = admin_query(r, "until");
    if (s) {
        if (admin_parse_time(s, &v) != 0)
            return admin_error(r, 400, "invalid", "since", "'since' must be an RFC 3339 time or epoch seconds");
        q.since = v / 1000000;
    }
    if (u) {
        if (admin_parse_time(u, &v) != 0)
            return admin_error(r, 400, "invalid", "until", "'until' must be an RFC 3339 time or epoch seconds");
        q.until = v / 1000000;
    }
    q.actor = admin_query(r, "actor");
    q.action = admin_query(r, "action");
    q.object = admin_query(r, "object");
    q.ticket = admin_query(r, "ticket");
    struct audit_arg x = {.w = r->w};
    jw_obj_begin(r->w);
    jw_key(r->w, "entries");
    jw_arr_begin(r->w);
    int rc = store_audit_list(r->db, &q, audit_row, &x);
    if (rc)
        return admin_store_error(a, r, rc, "audit");
    jw_arr_end(r->w);
    jw_key(r->w, "next_before_id");
    if (x.n == q.limit)
        jw_int(r->w, x.last_id);
    else
        jw_null(r->w);
    jw_obj_end(r->w);
    return 200;
}

/* ---- alerts ------------------------------------------------------------------------ */

#define ALERT_PROVIDER_SENDERS 64

struct alert_arg {
    jw_t *w;
    int n, limit;
    /* Provider token: its senders (whitelist entries and request senders)
     * and whitelist ids ("wl-N" in a look-alike reason). */
    int provider;
    char senders[ALERT_PROVIDER_SENDERS][24];
    int64_t wl_ids[ALERT_PROVIDER_SENDERS];
    size_t n_senders, n_wl;
};

static int prov_wl(void *arg, const struct store_whitelist_row *r)
{
    struct alert_arg *x = arg;
    if (x->n_senders < ALERT_PROVIDER_SENDERS)
        snprintf(x->senders[x->n_senders++], sizeof x->senders[0], "%s", r->w.sender);
    if (x->n_wl < ALERT_PROVIDER_SENDERS)
        x->wl_ids[x->n_wl++] = r->w.id;
    return 0;
}

struct prov_wl_filter {
    struct alert_arg *x;
    const char *provider;
};

static int prov_wl_filter(void *arg, const struct store_whitelist_row *r)
{
    struct prov_wl_filter *f = arg;
    if (r->w.provider && strcmp(r->w.provider, f->provider) == 0)
        prov_wl(f->x, r);
    return 0;
}

static int alert_is_providers(const struct alert_arg *x, const struct store_msg_row *m)
{
    for (size_t i = 0; i < x->n_senders; i++)
        if (m->source_addr && strcmp(m->source_addr, x->senders[i]) == 0)
            return 1;
    for (size_t i = 0; i < x->n_wl && m->reasons; i++) {
        char id[40];
        snprintf(id, sizeof id, "\"wl-%lld\"", (long long)x->wl_ids[i]);
        if (strstr(m->reasons, id))
            return 1;
    }
    return 0;
}

static const char *alert_kind(const char *reasons)
{
    if (!reasons)
        return "verified_sender_matched";
    if (strstr(reasons, "\"type\":\"spoofing\""))
        return "spoofing";
    if (strstr(reasons, "\"type\":\"lookalike\""))
        return "lookalike";
    return "verified_sender_matched";
}

static int alert_msg(void *arg, const struct store_msg_row *m)
{
    struct alert_arg *x = arg;
    if (x->provider && !alert_is_providers(x, m))
        return 0;
    if (x->n >= x->limit)
        return 1;
    jw_t *w = x->w;
    jw_obj_begin(w);
    jw_kstr(w, "kind", alert_kind(m->reasons));
    jw_key(w, "time");
    jw_time_us(w, (uint64_t)m->ts_us);
    jw_kint(w, "message_id", m->id);
    admin_jw_str_or_null(w, "sender", m->source_addr);
    admin_jw_str_or_null(w, "account", m->account);
    admin_jw_str_or_null(w, "action", m->action);
    admin_jw_stored_json(w, "reasons", m->reasons, JSON_ARRAY, false);
    jw_obj_end(w);
    x->n++;
    return 0;
}

static int alert_bl(void *arg, const struct store_blacklist_row *r)
{
    struct alert_arg *x = arg;
    if (!r->b.automatic)
        return 0;
    if (x->provider) {
        size_t i;
        for (i = 0; i < x->n_senders && strcmp(x->senders[i], r->b.value) != 0; i++)
            ;
        if (i == x->n_senders)
            return 0;
    }
    jw_t *w = x->w;
    jw_obj_begin(w);
    jw_kstr(w, "kind", "automatic_blacklist");
    admin_jw_time(w, "time", r->b.created_at);
    jw_kint(w, "blacklist_id", r->b.id);
    jw_kstr(w, "blacklist_kind", lists_bl_kind_name(r->b.kind));
    jw_kstr(w, "value", r->b.value);
    admin_jw_str_or_null(w, "reason", r->b.reason);
    jw_kbool(w, "active", r->b.cleared_at == 0);
    jw_obj_end(w);
    return 0;
}

int admin_h_alerts(admin_t *a, struct admin_req *r)
{
    int64_t limit, since = 0;
    int st;
    if ((st = admin_query_int(r, "limit", 1, 1000, 100, &limit)))
        return st;
    const char *s = admin_query(r, "since");
    if (s && admin_parse_time(s, &since) != 0)
        return admin_error(r, 400, "invalid", "since", "'since' must be an RFC 3339 time or epoch seconds");
    const char *sender = admin_query(r, "sender");
    struct alert_arg *x = calloc(1, sizeof *x);
    if (!x)
        return admin_error(r, 500, "no_memory", NULL, "out of memory");
    x->w = r->w;
    x->limit = (int)limit;
    x->provider = r->tok.role == STORE_ROLE_PROVIDER;
    jw_obj_begin(r->w);
    jw_key(r->w, "alerts");
    jw_arr_begin(r->w);
    int rc = 0;
    if (x->provider) {
        struct prov_wl_filter f = {x, r->tok.provider};
        struct store_list_query wq = {.kind = -1};
        rc = store_whitelist_list(r->db, &wq, prov_wl_filter, &f);
    }
    /* Provider filtering happens after the query, so ask for more rows. */
    if (rc == 0)
        rc = store_alert_messages(r->db, sender, since, x->provider ? 10000 : (int)limit,
                                  alert_msg, x);
    if (rc == 1)
        rc = 0;
    if (rc == 0) {
        struct store_list_query bq = {.include_inactive = 1, .kind = -1, .limit = (int)limit,
                                      .value = sender};
        rc = store_blacklist_list(r->db, &bq, alert_bl, x);
    }
    free(x);
    if (rc)
        return admin_store_error(a, r, rc, "alerts");
    jw_arr_end(r->w);
    jw_obj_end(r->w);
    return 200;
}
