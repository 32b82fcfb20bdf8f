/* /api/v1/whitelist-requests: payment providers ask for their sender IDs
 * and short codes to be whitelisted, bound to their SMPP account and
 * addresses; ops approve (which creates the verified whitelist entries in
 * the same transaction) or reject with a reason.  A provider token sees
 * and files only its own provider's requests. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"

static int req_row(void *arg, const struct store_wlreq *q)
{
    admin_jw_wlreq(arg, q);
    return 0;
}

struct one_req {
    jw_t *w;
    int n;
    const char *provider; /* when set: the row must belong to it */
    int foreign;
    int state;
};

static int req_one(void *arg, const struct store_wlreq *q)
{
    struct one_req *o = arg;
    o->n++;
    o->state = (int)q->state;
    if (o->provider && strcmp(o->provider, q->provider) != 0) {
        o->foreign = 1;
        return 1;
    }
    if (o->w)
        admin_jw_wlreq(o->w, q);
    return 1;
}

static const char *token_provider(struct admin_req *r)
{
    return r->tok.role == STORE_ROLE_PROVIDER ? r->tok.provider : NULL;
}

int admin_h_wlreq_get(admin_t *a, struct admin_req *r)
{
    int state = -1;
    const char *s = admin_query(r, "state");
    if (s) {
        for (int i = 0; i <= STORE_WLREQ_REJECTED; i++)
            if (strcmp(s, store_wlreq_state_name((enum store_wlreq_state)i)) == 0)
                state = i;
        if (state < 0)
            return admin_error(r, 400, "invalid", "state",
                               "'state' must be pending, approved or rejected");
    }
    jw_obj_begin(r->w);
    jw_key(r->w, "requests");
    jw_arr_begin(r->w);
    int rc = store_wlreq_list(r->db, token_provider(r), state, 0, req_row, r->w);
    if (rc)
        return admin_store_error(a, r, rc, "whitelist requests");
    jw_arr_end(r->w);
    jw_obj_end(r->w);
    return 200;
}

/* "QIWI,7494" from a string or an array of strings. */
static int join_senders(struct admin_req *r, char *out, size_t cap)
{
    json_t *v = json_object_get(r->json, "senders");
    out[0] = '\0';
    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
    } else {
        size_t i, len = 0;
        json_t *e;
        json_array_foreach(v, i, e) {
            int n = snprintf(out + len, cap - len, "%s%s", len ? "," : "", json_string_value(e));
            if (n < 0 || (size_t)n >= cap - len)
                return admin_error(r, 400, "invalid", "senders", "too many senders");
            len += (size_t)n;
        }
    }
    /* Each sender: 1..21 octets (SMPP v3.4 §5.2.8 source_addr), no spaces. */
    for (char *p = out; *p;) {
        char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n > 21 || memchr(p, ' ', n))
            return admin_error(r, 400, "invalid", "senders",
                               "each sender ID or short code must be 1 to 21 characters, no spaces");
        p = e ? e + 1 : p + n;
    }
    return 0;
}

/* {"request": ...} as stored now, read back on the write connection
 * (the caller holds db_mu). */
static void write_request(admin_t *a, struct admin_req *r, int64_t id)
{
    struct one_req o = {.w = r->w};
    jw_obj_begin(r->w);
    jw_key(r->w, "request");
    store_wlreq_list(a->store, NULL, -1, id, req_one, &o);
    if (!o.n)
        jw_null(r->w);
    jw_obj_end(r->w);
}

int admin_h_wlreq_post(admin_t *a, struct admin_req *r)
{
    static const struct admin_field spec[] = {
        {"provider", AF_STR, 0, 128},      {"senders", AF_STRLIST, 1, 1024},
        {"ton", AF_INT, 0, 255},           {"account", AF_STR, 1, 64},
        {"source_cidrs", AF_STR, 0, 1024}, {"contact", AF_STR, 0, 256},
        {"evidence", AF_STR, 0, 4000},     {"ticket", AF_STR, 0, 64},
    };
    int st = admin_body_check(r, spec, SG_ARRAY_LEN(spec));
    if (st)
        return st;
    const char *provider = admin_body_str(r, "provider");
    if (r->tok.role == STORE_ROLE_PROVIDER) {
        if (provider && strcmp(provider, r->tok.provider) != 0)
            return admin_error(r, 403, "forbidden", "provider",
                               "a provider token files requests for its own provider only");
        provider = r->tok.provider;
    } else if (!provider) {
        return admin_error(r, 400, "missing_field", "provider", "'provider' is required");
    }
    char senders[1100];
    if ((st = join_senders(r, senders, sizeof senders)))
        return st;
    const char *cidrs = admin_body_str(r, "source_cidrs");
    size_t bad = 0;
    if (cidrs && lists_cidrs_validate(cidrs, &bad) < 0)
        return admin_error(r, 400, "invalid", "source_cidrs", "bad address range at byte %zu", bad);
    struct store_wlreq q = {
        .provider = provider, .senders = senders, .ton = (int)admin_body_int(r, "ton", -1),
        .account = admin_body_str(r, "account"), .source_cidrs = cidrs,
        .contact = admin_body_str(r, "contact"), .evidence = admin_body_str(r, "evidence"),
    };
    struct store_change c = admin_change(r, "whitelist request filed", admin_body_str(r, "ticket"));
    int64_t id = 0;
    pthread_mutex_lock(&a->db_mu);
    int rc = store_wlreq_create(a->store, &c, &q, &id);
    if (rc == 0)
        write_request(a, r, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc)
        return admin_store_error(a, r, rc, "whitelist request");
    return 201;
}

static int decide(admin_t *a, struct admin_req *r, int approve)
{
    static const struct admin_field spec_ok[] = {
        {"reason", AF_STR, 0, 500}, {"ticket", AF_STR, 0, 64}, {"expires_at", AF_STR, 0, 40},
    };
    static const struct admin_field spec_no[] = {
        {"reason", AF_STR, 1, 500}, {"ticket", AF_STR, 0, 64},
    };
    int64_t id, exp_us = 0;
    int st;
    if ((st = admin_param_id(r, 0, &id)))
        return st;
    if ((st = approve ? admin_body_check(r, spec_ok, SG_ARRAY_LEN(spec_ok))
                      : admin_body_check(r, spec_no, SG_ARRAY_LEN(spec_no))))
        return st;
    const char *exp = admin_body_str(r, "expires_at");
    if (exp && admin_parse_time(exp, &exp_us) != 0)
        return admin_error(r, 400, "invalid", "expires_at", "'expires_at' must be an RFC 3339 time");
    struct store_change c = admin_change(r, admin_body_str(r, "reason"), admin_body_str(r, "ticket"));
    pthread_mutex_lock(&a->db_mu);
    int rc = store_wlreq_decide(a->store, &c, id, approve, exp_us / 1000000);
    if (rc == 0)
        write_request(a, r, id);
    pthread_mutex_unlock(&a->db_mu);
    if (rc == SG_EEXIST)
        return admin_error(r, 409, "conflict", NULL, "request %lld is already decided", (long long)id);
    if (rc)
        return admin_store_error(a, r, rc, approve ? "approve" : "reject");
    if (approve)
        admin_note_lists_changed(a);
    return 200;
}

int admin_h_wlreq_approve(admin_t *a, struct admin_req *r) { return decide(a, r, 1); }
int admin_h_wlreq_reject(admin_t *a, struct admin_req *r) { return decide(a, r, 0); }
