/* JSON shapes shared by several routes: list entries and requests.  Times
 * are RFC 3339 UTC strings, absent ones null. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"

void admin_jw_time(jw_t *w, const char *key, int64_t secs)
{
    jw_key(w, key);
    if (secs > 0)
        jw_time_us(w, (uint64_t)secs * 1000000u);
    else
        jw_null(w);
}

/* Nesting written at most; deeper values become null (a stored value is
 * two levels deep; jansson parses up to 2048). */
#define ADMIN_JW_JSON_DEPTH 32

static void jw_json(jw_t *w, const json_t *v, int depth)
{
    const char *k;
    json_t *e;
    size_t i;
    if (!v || depth > ADMIN_JW_JSON_DEPTH) {
        jw_null(w);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        jw_obj_begin(w);
        json_object_foreach((json_t *)v, k, e) {
            jw_key(w, k);
            jw_json(w, e, depth + 1);
        }
        jw_obj_end(w);
        break;
    case JSON_ARRAY:
        jw_arr_begin(w);
        json_array_foreach(v, i, e)
            jw_json(w, e, depth + 1);
        jw_arr_end(w);
        break;
    case JSON_STRING: jw_strn(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: jw_int(w, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: jw_double(w, json_real_value(v)); break;
    case JSON_TRUE: jw_bool(w, true); break;
    case JSON_FALSE: jw_bool(w, false); break;
    default: jw_null(w); break;
    }
}

void admin_jw_parsed_json(jw_t *w, const char *key, const json_t *d, json_type want, bool or_empty_array)
{
    jw_key(w, key);
    /* Written from the parse (our own escaping, no intermediate string)
     * rather than copied: the column may hold anything an older or foreign
     * writer put there, and the answer must stay valid JSON. */
    if (d && json_typeof(d) == want) {
        jw_json(w, d, 0);
    } else if (or_empty_array) {
        jw_arr_begin(w);
        jw_arr_end(w);
    } else {
        jw_null(w);
    }
}

void admin_jw_stored_json(jw_t *w, const char *key, const char *text, json_type want, bool or_empty_array)
{
    json_t *d = text ? json_loads(text, 0, NULL) : NULL;
    admin_jw_parsed_json(w, key, d, want, or_empty_array);
    json_decref(d);
}

void admin_jw_str_or_null(jw_t *w, const char *key, const char *s)
{
    jw_key(w, key);
    if (s)
        jw_str(w, s);
    else
        jw_null(w);
}

void admin_jw_whitelist(jw_t *w, const struct store_whitelist_row *r)
{
    jw_obj_begin(w);
    jw_kint(w, "id", r->w.id);
    jw_kstr(w, "sender", r->w.sender);
    jw_key(w, "ton");
    if (r->w.ton >= 0)
        jw_int(w, r->w.ton);
    else
        jw_null(w);
    admin_jw_str_or_null(w, "account", r->w.account);
    admin_jw_str_or_null(w, "source_cidrs", r->w.source_cidrs);
    admin_jw_str_or_null(w, "provider", r->w.provider);
    admin_jw_str_or_null(w, "verified_by", r->w.verified_by);
    admin_jw_time(w, "verified_at", r->w.verified_at);
    admin_jw_time(w, "expires_at", r->w.expires_at);
    admin_jw_time(w, "created_at", r->created_at);
    admin_jw_time(w, "removed_at", r->removed_at);
    admin_jw_str_or_null(w, "removed_by", r->removed_by);
    jw_key(w, "request_id");
    if (r->request_id)
        jw_int(w, r->request_id);
    else
        jw_null(w);
    jw_kbool(w, "active", r->removed_at == 0);
    jw_obj_end(w);
}

void admin_jw_blacklist(jw_t *w, const struct store_blacklist_row *r)
{
    const struct lists_blacklist_entry *b = &r->b;
    jw_obj_begin(w);
    jw_kint(w, "id", b->id);
    jw_kstr(w, "kind", lists_bl_kind_name(b->kind));
    jw_kstr(w, "value", b->value);
    jw_kbool(w, "automatic", b->automatic != 0);
    admin_jw_str_or_null(w, "reason", b->reason);
    admin_jw_str_or_null(w, "ticket", r->ticket);
    admin_jw_str_or_null(w, "created_by", r->created_by);
    admin_jw_time(w, "created_at", b->created_at);
    admin_jw_time(w, "expires_at", b->expires_at);
    admin_jw_time(w, "cleared_at", b->cleared_at);
    admin_jw_str_or_null(w, "cleared_by", b->cleared_by);
    admin_jw_str_or_null(w, "clear_reason", b->clear_reason);
    admin_jw_str_or_null(w, "clear_ticket", b->clear_ticket);
    jw_kbool(w, "active", b->cleared_at == 0 &&
                              (b->expires_at == 0 || b->expires_at > (int64_t)time(NULL)));
    jw_obj_end(w);
}

void admin_jw_exception(jw_t *w, const struct store_exception_row *r)
{
    const struct lists_exception_entry *x = &r->x;
    jw_obj_begin(w);
    jw_kint(w, "id", x->id);
    jw_kstr(w, "sender", x->sender);
    jw_kstr(w, "msisdn", x->msisdn);
    admin_jw_str_or_null(w, "reason", x->reason);
    admin_jw_str_or_null(w, "ticket", x->ticket);
    admin_jw_str_or_null(w, "created_by", x->created_by);
    admin_jw_time(w, "created_at", x->created_at);
    admin_jw_time(w, "expires_at", x->expires_at);
    admin_jw_time(w, "removed_at", r->removed_at);
    admin_jw_str_or_null(w, "removed_by", r->removed_by);
    jw_kbool(w, "active", r->removed_at == 0 &&
                              (x->expires_at == 0 || x->expires_at > (int64_t)time(NULL)));
    jw_obj_end(w);
}

void admin_jw_wlreq(jw_t *w, const struct store_wlreq *r)
{
    jw_obj_begin(w);
    jw_kint(w, "id", r->id);
    jw_kstr(w, "provider", r->provider);
    jw_key(w, "senders");
    jw_arr_begin(w);
    for (const char *p = r->senders; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        jw_strn(w, p, n);
        p = e ? e + 1 : NULL;
    }
    jw_arr_end(w);
    jw_key(w, "ton");
    if (r->ton >= 0)
        jw_int(w, r->ton);
    else
        jw_null(w);
    admin_jw_str_or_null(w, "account", r->account);
    admin_jw_str_or_null(w, "source_cidrs", r->source_cidrs);
    admin_jw_str_or_null(w, "contact", r->contact);
    admin_jw_str_or_null(w, "evidence", r->evidence);
    jw_kstr(w, "state", store_wlreq_state_name(r->state));
    admin_jw_str_or_null(w, "created_by", r->created_by);
    admin_jw_time(w, "created_at", r->created_at);
    admin_jw_str_or_null(w, "decided_by", r->decided_by);
    admin_jw_str_or_null(w, "decision_reason", r->decision_reason);
    admin_jw_time(w, "decided_at", r->decided_at);
    jw_obj_end(w);
}
