/* /api/v1/blacklist, /api/v1/exceptions, /api/v1/whitelist: list reads and
 * changes.  Every change goes through a store function that writes its
 * audit row (token name, reason, ticket) in the same transaction, and then
 * tells the daemon to reload its lists snapshot at once. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"
#include "msisdn.h"

#define REASON_MAX 500
#define TICKET_MAX 64
#define VALUE_MAX 256

/* Rows of one list written as JSON objects: all of them (GET), or the first
 * only (a row read back after a change). */
struct rows {
    jw_t *w;
    int n;
    int first_only;
};
static int bl_rows(void *arg, const struct store_blacklist_row *row)
{
    struct rows *o = arg;
    o->n++;
    admin_jw_blacklist(o->w, row);
    return o->first_only;
}
static int ex_rows(void *arg, const struct store_exception_row *row)
{
    struct rows *o = arg;
    o->n++;
    admin_jw_exception(o->w, row);
    return o->first_only;
}
static int wl_rows(void *arg, const struct store_whitelist_row *row)
{
    struct rows *o = arg;
    o->n++;
    admin_jw_whitelist(o->w, row);
    return o->first_only;
}
static int ex_first_id(void *arg, const struct store_exception_row *r)
{
    int64_t *id = arg;
    *id = r->x.id;
    return 1;
}

/* Each list's read behind one signature: the store has a row type and a
 * callback type per list. */
typedef int (*list_read_fn)(store_t *db, const struct store_list_query *q, struct rows *o);
static int bl_read(store_t *db, const struct store_list_query *q, struct rows *o)
{
    return store_blacklist_list(db, q, bl_rows, o);
}
static int ex_read(store_t *db, const struct store_list_query *q, struct rows *o)
{
    return store_exception_list(db, q, ex_rows, o);
}
static int wl_read(store_t *db, const struct store_list_query *q, struct rows *o)
{
    return store_whitelist_list(db, q, wl_rows, o);
}

/* GET: {"entries": [...]} on the request's read connection. */
static int write_entries(admin_t *a, struct admin_req *r, list_read_fn read, const struct store_list_query *q,
                         const char *what)
{
    struct rows o = {r->w, 0, 0};
    jw_obj_begin(r->w);
    jw_key(r->w, "entries");
    jw_arr_begin(r->w);
    int rc = read(r->db, q, &o);
    if (rc)
        return admin_store_error(a, r, rc, what);
    jw_arr_end(r->w);
    jw_obj_end(r->w);
    return 200;
}

/* After a change: {"entry": <row id as stored now>} (null if gone), read
 * back on the write connection (the caller holds db_mu). */
static void write_entry(admin_t *a, struct admin_req *r, list_read_fn read, int64_t id)
{
    struct store_list_query q = {.include_inactive = 1, .id = id, .kind = -1};
    struct rows o = {r->w, 0, 1};
    jw_obj_begin(r->w);
    jw_key(r->w, "entry");
    read(a->store, &q, &o);
    if (!o.n)
        jw_null(r->w);
    jw_obj_end(r->w);
}

/* include_inactive=true|false|1|0. */
static int query_bool(struct admin_req *r, const char *name, int *out)
{
    const char *v = admin_query(r, name);
    *out = 0;
    if (!v)
        return 0;
    if (!strcmp(v, "true") || !strcmp(v, "1"))
        *out = 1;
    else if (strcmp(v, "false") && strcmp(v, "0"))
        return admin_error(r, 400, "invalid", name, "'%s' must be true or false", name);
    return 0;
}

/* limit and include_inactive, the query parameters every list GET takes. */
static int list_query(struct admin_req *r, struct store_list_query *q)
{
    int64_t limit;
    int st;
    if ((st = admin_query_int(r, "limit", 1, 10000, 1000, &limit)) ||
        (st = query_bool(r, "include_inactive", &q->include_inactive)))
        return st;
    q->limit = (int)limit;
    q->kind = -1;
    return 0;
}

/* Reason and ticket of a DELETE: from the JSON body, else the query. */
static int delete_reason(struct admin_req *r, const char **reason, const char **ticket)
{
    static const struct admin_field spec[] = {
        {"reason", AF_STR, 0, REASON_MAX},
        {"ticket", AF_STR, 0, TICKET_MAX},
    };
    int st = admin_body_check(r, spec, SG_ARRAY_LEN(spec));
    if (st)
        return st;
    *reason = admin_body_str(r, "reason");
    *ticket = admin_body_str(r, "ticket");
    if (!*reason)
        *reason = admin_query(r, "reason");
    if (!*ticket)
        *ticket = admin_query(r, "ticket");
    if (!*reason)
        return admin_error(r, 400, "missing_field", "reason", "'reason' is required");
    if (strlen(*reason) > REASON_MAX || (*ticket && strlen(*ticket) > TICKET_MAX))
        return admin_error(r, 400, "invalid", strlen(*reason) > REASON_MAX ? "reason" : "ticket",
                           "too long");
    return 0;
}

/* ---- blacklist ---------------------------------------------------------------- */

int admin_h_blacklist_get(admin_t *a, struct admin_req *r)
{
    struct store_list_query q = {0};
    int st = list_query(r, &q);
    if (st)
        return st;
    q.value = admin_query(r, "value");
    const char *kind = admin_query(r, "kind");
    if (kind && (q.kind = lists_bl_kind_parse(kind)) < 0)
        return admin_error(r, 400, "invalid", "kind",
                           "'kind' must be sender, account, domain or fingerprint");
    return write_entries(a, r, bl_read, &q, "blacklist");
}

int admin_h_blacklist_post(admin_t *a, struct admin_req *r)
{
    static const struct admin_field spec[] = {
        {"kind", AF_STR, 0, 16},          {"value", AF_STR, 1, VALUE_MAX},
        {"reason", AF_STR, 1, REASON_MAX}, {"ticket", AF_STR, 0, TICKET_MAX},
        {"ttl_hours", AF_INT, 0, 87600},
    };
    int st = admin_body_check(r, spec, SG_ARRAY_LEN(spec));
    if (st)
        return st;
    const char *kind_s = admin_body_str(r, "kind");
    int kind = kind_s ? lists_bl_kind_parse(kind_s) : LISTS_BL_SENDER;
    if (kind < 0)
        return admin_error(r, 400, "invalid", "kind",
                           "'kind' must be sender, account, domain or fingerprint");
    int64_t ttl_h = admin_body_int(r, "ttl_hours", 0);
    int64_t now = (int64_t)time(NULL);
    struct store_change c = admin_change(r, admin_body_str(r, "reason"), admin_body_str(r, "ticket"));
    c.now = now;
    int64_t id = 0;
    pthread_mutex_lock(&a->db_mu);
    int rc = store_blacklist_add(a->store, &c, (enum lists_bl_kind)kind, admin_body_str(r, "value"),
                                 0, ttl_h ? now + ttl_h * 3600 : 0, &id);
    if (rc == 0)
        write_entry(a, r, bl_read, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc == SG_EEXIST)
        return admin_error(r, 409, "conflict", "value", "already blacklisted: active entry %lld",
                           (long long)id);
    if (rc)
        return admin_store_error(a, r, rc, "blacklist add");
    admin_note_lists_changed(a);
    return 201;
}

int admin_h_blacklist_clear(admin_t *a, struct admin_req *r)
{
    static const struct admin_field spec[] = {
        {"reason", AF_STR, 1, REASON_MAX},
        {"ticket", AF_STR, 0, TICKET_MAX},
    };
    int64_t id;
    int st;
    if ((st = admin_param_id(r, 0, &id)) || (st = admin_body_check(r, spec, SG_ARRAY_LEN(spec))))
        return st;
    struct store_change c = admin_change(r, admin_body_str(r, "reason"), admin_body_str(r, "ticket"));
    pthread_mutex_lock(&a->db_mu);
    int rc = store_blacklist_clear(a->store, &c, id);
    if (rc == 0)
        write_entry(a, r, bl_read, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc == SG_EEXIST)
        return admin_error(r, 409, "conflict", NULL, "blacklist entry %lld is already cleared",
                           (long long)id);
    if (rc)
        return admin_store_error(a, r, rc, "blacklist clear");
    admin_note_lists_changed(a);
    return 200;
}

/* ---- exceptions ----------------------------------------------------------------- */

int admin_h_exceptions_get(admin_t *a, struct admin_req *r)
{
    struct store_list_query q = {0};
    int st = list_query(r, &q);
    if (st)
        return st;
    char msisdn[MSISDN_MAX];
    const char *m = admin_query(r, "msisdn");
    if (m && msisdn_normalise(m, a->country_code, a->trunk_prefix, msisdn, sizeof msisdn) < 0)
        return admin_error(r, 400, "invalid", "msisdn", "'%s' is not a phone number", m);
    q.value = admin_query(r, "sender");
    q.msisdn = m ? msisdn : NULL;
    return write_entries(a, r, ex_read, &q, "exceptions");
}

int admin_h_exceptions_post(admin_t *a, struct admin_req *r)
{
    static const struct admin_field spec[] = {
        {"sender", AF_STR, 1, 64},         {"msisdn", AF_STR, 1, 32},
        {"ttl_hours", AF_INT, 0, 8760},    {"reason", AF_STR, 1, REASON_MAX},
        {"ticket", AF_STR, 0, TICKET_MAX},
    };
    int st = admin_body_check(r, spec, SG_ARRAY_LEN(spec));
    if (st)
        return st;
    char msisdn[MSISDN_MAX];
    const char *m = admin_body_str(r, "msisdn");
    if (msisdn_normalise(m, a->country_code, a->trunk_prefix, msisdn, sizeof msisdn) < 0)
        return admin_error(r, 400, "invalid", "msisdn", "'%s' is not a phone number", m);
    int64_t ttl_h = admin_body_int(r, "ttl_hours", 24);
    if (ttl_h < 1)
        return admin_error(r, 400, "invalid", "ttl_hours", "'ttl_hours' must be 1 to 8760");
    int64_t now = (int64_t)time(NULL), id = 0;
    struct store_change c = admin_change(r, admin_body_str(r, "reason"), admin_body_str(r, "ticket"));
    c.now = now;
    pthread_mutex_lock(&a->db_mu);
    /* One live exception per (sender, number): a second is a conflict,
     * not a silent duplicate the agent then has to remove twice. */
    struct store_list_query dq = {.kind = -1, .value = admin_body_str(r, "sender"), .msisdn = msisdn};
    int64_t dup = 0;
    int rc = store_exception_list(a->store, &dq, ex_first_id, &dup);
    if (rc < 0 || dup) {
        pthread_mutex_unlock(&a->db_mu);
        if (rc < 0)
            return admin_store_error(a, r, rc, "exceptions");
        return admin_error(r, 409, "conflict", NULL, "an active exception exists (entry %lld)", (long long)dup);
    }
    rc = store_exception_add(a->store, &c, admin_body_str(r, "sender"), msisdn, now + ttl_h * 3600,
                             &id);
    if (rc == 0)
        write_entry(a, r, ex_read, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc == SG_EEXIST)
        return admin_error(r, 409, "conflict", NULL, "an active exception exists (entry %lld)",
                           (long long)id);
    if (rc)
        return admin_store_error(a, r, rc, "exception add");
    admin_note_lists_changed(a);
    return 201;
}

/* DELETE of an exception or a whitelist entry: both take a reason (and an
 * optional ticket) for the audit log and answer with the entry as it is
 * now. */
static int remove_entry(admin_t *a, struct admin_req *r,
                        int (*remove)(store_t *, const struct store_change *, int64_t),
                        list_read_fn read, const char *what)
{
    int64_t id;
    const char *reason, *ticket;
    int st;
    if ((st = admin_param_id(r, 0, &id)) || (st = delete_reason(r, &reason, &ticket)))
        return st;
    struct store_change c = admin_change(r, reason, ticket);
    pthread_mutex_lock(&a->db_mu);
    int rc = remove(a->store, &c, id);
    if (rc == 0)
        write_entry(a, r, read, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc)
        return admin_store_error(a, r, rc, what);
    admin_note_lists_changed(a);
    return 200;
}

int admin_h_exceptions_delete(admin_t *a, struct admin_req *r)
{
    return remove_entry(a, r, store_exception_remove, ex_read, "exception remove");
}

/* ---- whitelist ------------------------------------------------------------------ */

int admin_h_whitelist_get(admin_t *a, struct admin_req *r)
{
    struct store_list_query q = {0};
    int st = list_query(r, &q);
    if (st)
        return st;
    q.value = admin_query(r, "sender");
    return write_entries(a, r, wl_read, &q, "whitelist");
}

int admin_h_whitelist_post(admin_t *a, struct admin_req *r)
{
    static const struct admin_field spec[] = {
        {"sender", AF_STR, 1, 64},          {"ton", AF_INT, 0, 255},
        {"account", AF_STR, 0, 64},         {"source_cidrs", AF_STR, 0, 1024},
        {"provider", AF_STR, 0, 128},       {"expires_at", AF_STR, 0, 40},
        {"reason", AF_STR, 1, REASON_MAX},  {"ticket", AF_STR, 0, TICKET_MAX},
    };
    int st = admin_body_check(r, spec, SG_ARRAY_LEN(spec));
    if (st)
        return st;
    const char *cidrs = admin_body_str(r, "source_cidrs");
    size_t bad = 0;
    if (cidrs && lists_cidrs_validate(cidrs, &bad) < 0)
        return admin_error(r, 400, "invalid", "source_cidrs", "bad address range at byte %zu", bad);
    int64_t exp_us = 0;
    const char *exp = admin_body_str(r, "expires_at");
    if (exp && admin_parse_time(exp, &exp_us) != 0)
        return admin_error(r, 400, "invalid", "expires_at", "'expires_at' must be an RFC 3339 time");
    struct lists_whitelist_entry e = {
        .sender = admin_body_str(r, "sender"), .ton = (int)admin_body_int(r, "ton", -1),
        .account = admin_body_str(r, "account"), .source_cidrs = cidrs,
        .provider = admin_body_str(r, "provider"), .verified_by = r->tok.name,
        .expires_at = exp_us / 1000000,
    };
    struct store_change c = admin_change(r, admin_body_str(r, "reason"), admin_body_str(r, "ticket"));
    int64_t id = 0;
    pthread_mutex_lock(&a->db_mu);
    int rc = store_whitelist_add(a->store, &c, &e, &id);
    if (rc == 0)
        write_entry(a, r, wl_read, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc == SG_EEXIST)
        return admin_error(r, 409, "conflict", "sender", "already whitelisted: active entry %lld",
                           (long long)id);
    if (rc)
        return admin_store_error(a, r, rc, "whitelist add");
    admin_note_lists_changed(a);
    return 201;
}

int admin_h_whitelist_delete(admin_t *a, struct admin_req *r)
{
    return remove_entry(a, r, store_whitelist_remove, wl_read, "whitelist remove");
}
