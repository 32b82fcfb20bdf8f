/* The call-centre lookups: a subscriber's timeline with each message's
 * fate and a plain-words diagnosis naming which of the product brief's
 * causes applies (1 mistyped number, 2 provider never sent, 3 network or
 * SMSC, 4 our filter), a sender's status, and "who am I" for the console.
 *
 * Fate of a logged message, first match wins:
 *   blocked     the verdict was block (enforced says whether the inline
 *               proxy really stopped it; a tap only judged it, and the
 *               receipt, if any, stays in its own field);
 *   rejected    the SMSC answered the submit with an error status;
 *   delivered / expired / undelivered   from the delivery receipt;
 *   accepted    no receipt yet (or a receipt state that is not final).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"
#include "msisdn.h"
#include "smpp.h"
#include "text-norm.h"

#define TL_MAX_BL 32

enum fate { F_BLOCKED, F_REJECTED, F_DELIVERED, F_UNDELIVERED, F_EXPIRED, F_ACCEPTED, F__COUNT };
static const char *const fate_names[F__COUNT] = {"blocked",     "rejected", "delivered",
                                                 "undelivered", "expired",  "accepted"};

static enum fate fate_of(const struct store_msg_row *m)
{
    if (m->action && strcmp(m->action, "block") == 0)
        return F_BLOCKED;
    if (m->smsc_status > 0)
        return F_REJECTED;
    if (m->receipt_stat) {
        if (strcmp(m->receipt_stat, "DELIVRD") == 0 || strcmp(m->receipt_stat, "DELIVERED") == 0)
            return F_DELIVERED;
        if (strcmp(m->receipt_stat, "EXPIRED") == 0)
            return F_EXPIRED;
        if (strcmp(m->receipt_stat, "UNDELIV") == 0 || strcmp(m->receipt_stat, "REJECTD") == 0 ||
            strcmp(m->receipt_stat, "DELETED") == 0 || strcmp(m->receipt_stat, "UNDELIVERABLE") == 0 ||
            strcmp(m->receipt_stat, "REJECTED") == 0)
            return F_UNDELIVERED;
    }
    return F_ACCEPTED;
}

/* The reason that blocked a message: the first of blacklist, spoofing,
 * look-alike, rule, domain, volume in the logged reasons (the engine's
 * order of judgement).  Fills type/id/detail, or returns 0. */
struct block_reason {
    char type[16], id[64], detail[200];
    int64_t bl_id;
};

/* A stored reasons array, scanned once per message (admin-json-scan.c):
 * valid says whether it may be copied into the answer as it is. */
#define TL_MAX_REASONS 32
struct reasons {
    int valid;
    size_t n;
    struct admin_reason r[TL_MAX_REASONS];
};

static void scan_reasons(const char *text, struct reasons *rs)
{
    rs->valid = text && admin_reasons_scan(text, strlen(text), rs->r, TL_MAX_REASONS, &rs->n) == 0;
    if (!rs->valid)
        rs->n = 0;
}

static int blocked_by(const struct reasons *rs, struct block_reason *out)
{
    static const char *const order[] = {"blacklist", "spoofing", "lookalike", "rule", "domain", "volume"};
    /* Each reason's type unescaped once, not once per entry of order[]
     * (this runs for every blocked row of a timeline or sender lookup). */
    char types[TL_MAX_REASONS][16];
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < rs->n; i++) {
        types[i][0] = '\0';
        if (rs->r[i].type)
            admin_json_unescape(rs->r[i].type, rs->r[i].type_len, types[i], sizeof types[i]);
    }
    for (size_t k = 0; k < SG_ARRAY_LEN(order); k++) {
        for (size_t i = 0; i < rs->n; i++) {
            const struct admin_reason *e = &rs->r[i];
            const char *t = types[i];
            if (!e->type || strcmp(t, order[k]) != 0)
                continue;
            snprintf(out->type, sizeof out->type, "%s", t);
            if (e->id)
                admin_json_unescape(e->id, e->id_len, out->id, sizeof out->id);
            if (e->detail)
                admin_json_unescape(e->detail, e->detail_len, out->detail, sizeof out->detail);
            if (k == 0 && e->id && strncmp(out->id, "bl-", 3) == 0)
                out->bl_id = strtoll(out->id + 3, NULL, 10);
            return 1;
        }
    }
    return 0;
}

struct tl_ctx {
    jw_t *w; /* the messages array */
    size_t n;
    size_t counts[F__COUNT];
    /* The newest message decides the diagnosis. */
    int have_first;
    enum fate first_fate;
    struct block_reason first_block;
    char first_sender[MSGLOG_ADDR_MAX + 1];
    int64_t first_ts_us, first_status;
    char first_receipt[16];
    int first_enforced;
    int64_t bl_ids[TL_MAX_BL];
    size_t n_bl;
};

static void jw_time_or_null(jw_t *w, const char *key, int64_t us)
{
    jw_key(w, key);
    if (us > 0)
        jw_time_us(w, (uint64_t)us);
    else
        jw_null(w);
}

/* One message as the timeline and sender routes show it. */
/* reasons: m->reasons scanned. */
static void write_message(jw_t *w, const struct store_msg_row *m, const struct reasons *reasons,
                          enum fate f, const struct block_reason *br, int with_msisdn)
{
    jw_obj_begin(w);
    jw_kint(w, "id", m->id);
    jw_time_or_null(w, "time", m->ts_us);
    admin_jw_str_or_null(w, "sender", m->source_addr);
    jw_kint(w, "sender_ton", m->source_ton);
    admin_jw_str_or_null(w, "account", m->account);
    if (with_msisdn)
        admin_jw_str_or_null(w, "msisdn", m->dest_addr);
    jw_kstr(w, "fate", fate_names[f]);
    admin_jw_str_or_null(w, "action", m->action);
    jw_kint(w, "score", m->score);
    jw_kbool(w, "enforced", m->enforced != 0);
    /* Copied as stored once the scan has found it to be a JSON array (the
     * column may hold anything an older or foreign writer put there, and
     * the answer must stay valid JSON); else []. */
    jw_key(w, "reasons");
    if (reasons->valid) {
        jw_raw(w, m->reasons, strlen(m->reasons));
    } else {
        jw_arr_begin(w);
        jw_arr_end(w);
    }
    jw_key(w, "blocked_by");
    if (f == F_BLOCKED && br && br->type[0]) {
        jw_obj_begin(w);
        jw_kstr(w, "type", br->type);
        jw_kstr(w, "id", br->id);
        jw_kstr(w, "detail", br->detail);
        jw_key(w, "blacklist_id");
        if (br->bl_id)
            jw_int(w, br->bl_id);
        else
            jw_null(w);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "smsc");
    jw_obj_begin(w);
    jw_key(w, "status");
    if (m->smsc_status >= 0)
        jw_int(w, m->smsc_status);
    else
        jw_null(w);
    const char *sn = m->smsc_status >= 0 ? smpp_status_name((uint32_t)m->smsc_status) : NULL;
    admin_jw_str_or_null(w, "status_name", sn);
    jw_time_or_null(w, "at", m->smsc_resp_ts_us);
    admin_jw_str_or_null(w, "message_id", m->message_id);
    jw_obj_end(w);
    jw_key(w, "receipt");
    if (m->receipt_stat) {
        jw_obj_begin(w);
        jw_kstr(w, "stat", m->receipt_stat);
        admin_jw_str_or_null(w, "err", m->receipt_err);
        jw_time_or_null(w, "at", m->receipt_ts_us);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_kint(w, "parts", m->parts);
    admin_jw_str_or_null(w, "snippet", m->snippet);
    jw_obj_end(w);
}

static int tl_row(void *arg, const struct store_msg_row *m)
{
    struct tl_ctx *c = arg;
    enum fate f = fate_of(m);
    struct block_reason br = {0};
    struct reasons reasons;
    scan_reasons(m->reasons, &reasons);
    if (f == F_BLOCKED)
        blocked_by(&reasons, &br);
    c->counts[f]++;
    c->n++;
    if (!c->have_first) {
        c->have_first = 1;
        c->first_fate = f;
        c->first_block = br;
        snprintf(c->first_sender, sizeof c->first_sender, "%s", m->source_addr ? m->source_addr : "");
        c->first_ts_us = m->ts_us;
        c->first_status = m->smsc_status;
        snprintf(c->first_receipt, sizeof c->first_receipt, "%s", m->receipt_stat ? m->receipt_stat : "");
        c->first_enforced = m->enforced;
    }
    if (br.bl_id) {
        size_t i;
        for (i = 0; i < c->n_bl && c->bl_ids[i] != br.bl_id; i++)
            ;
        if (i == c->n_bl && c->n_bl < TL_MAX_BL)
            c->bl_ids[c->n_bl++] = br.bl_id;
    }
    write_message(c->w, m, &reasons, f, &br, 0);
    return 0;
}

struct bl_found {
    jw_t *w;
    int active;
    int64_t cleared_at;
    char cleared_by[128];
};

static int bl_entry(void *arg, const struct store_blacklist_row *r)
{
    struct bl_found *b = arg;
    admin_jw_blacklist(b->w, r);
    b->active = r->b.cleared_at == 0;
    b->cleared_at = r->b.cleared_at;
    snprintf(b->cleared_by, sizeof b->cleared_by, "%s", r->b.cleared_by ? r->b.cleared_by : "");
    return 0;
}

static void fmt_time(int64_t us, char *buf, size_t cap)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void jw_causes(jw_t *w, int a, int b)
{
    jw_key(w, "causes");
    jw_arr_begin(w);
    if (a)
        jw_int(w, a);
    if (b)
        jw_int(w, b);
    jw_arr_end(w);
}

/* The diagnosis: code (stable, for translation), causes (the brief's
 * numbers), summary (what happened) and advice (what to tell the
 * customer or do). */
static void write_diagnosis(jw_t *w, const struct tl_ctx *c, const char *sender,
                            const struct bl_found *first_bl)
{
    char summary[768], advice[512], when[40] = "";
    const char *code;
    int c1 = 0, c2 = 0;
    if (c->have_first)
        fmt_time(c->first_ts_us, when, sizeof when);
    if (!c->have_first) {
        code = "not_seen";
        c1 = 1;
        c2 = 2;
        if (sender)
            snprintf(summary, sizeof summary,
                     "Nothing from %s reached this number in this period: the provider never sent "
                     "it, or the number given to the provider was wrong.", sender);
        else
            snprintf(summary, sizeof summary,
                     "No message to this number in this period: the number given to the provider "
                     "was wrong, or the provider never sent anything.");
        snprintf(advice, sizeof advice,
                 "Check the number the customer typed into the payment form (cause 1). If it is "
                 "right, the provider did not send the code (cause 2): ask the customer to retry "
                 "later or contact the provider.");
    } else {
        const char *who = c->first_sender;
        switch (c->first_fate) {
        case F_BLOCKED:
            code = "blocked_by_filter";
            c1 = 4;
            if (c->first_block.bl_id && first_bl && !first_bl->active) {
                snprintf(summary, sizeof summary,
                         "Our spam filter blocked the latest message from %s (%s) because of "
                         "blacklist entry %lld, which has since been cleared by %s.", who, when,
                         (long long)c->first_block.bl_id, first_bl->cleared_by);
                snprintf(advice, sizeof advice,
                         "The block is cleared: ask the customer to request a new code now.");
            } else if (c->first_block.bl_id) {
                snprintf(summary, sizeof summary,
                         "Our spam filter blocked the latest message from %s (%s): the sender is "
                         "on the blacklist (entry %lld: %s).", who, when,
                         (long long)c->first_block.bl_id, c->first_block.detail);
                snprintf(advice, sizeof advice,
                         "If the sender is the customer's payment provider, clear blacklist entry "
                         "%lld with a reason and ticket, then ask the customer to request a new "
                         "code.", (long long)c->first_block.bl_id);
            } else if (!strcmp(c->first_block.type, "spoofing") ||
                       !strcmp(c->first_block.type, "lookalike")) {
                snprintf(summary, sizeof summary,
                         "Our spam filter blocked the latest message from %s (%s) as an imitation "
                         "of a protected sender (%s).", who, when, c->first_block.detail);
                snprintf(advice, sizeof advice,
                         "This was probably not the real provider: tell the customer not to use "
                         "any code or link from it, and pass the case to operations.");
            } else {
                snprintf(summary, sizeof summary,
                         "Our spam filter blocked the latest message from %s (%s) by %s %s (%s).",
                         who, when, c->first_block.type[0] ? c->first_block.type : "score",
                         c->first_block.id, c->first_block.detail);
                snprintf(advice, sizeof advice,
                         "If it is the customer's provider, grant a narrow exception for this "
                         "sender to this number, then ask the customer to request a new code.");
            }
            break;
        case F_REJECTED: {
            const char *sn = smpp_status_name((uint32_t)c->first_status);
            code = "rejected_by_smsc";
            c1 = 3;
            snprintf(summary, sizeof summary,
                     "The SMS centre refused the latest message from %s (%s) with status %s "
                     "(0x%llx): the network was congested or throttling.", who, when,
                     sn ? sn : "error", (unsigned long long)c->first_status);
            snprintf(advice, sizeof advice,
                     "Ask the customer to wait a few minutes and request a new code.");
            break;
        }
        case F_UNDELIVERED:
        case F_EXPIRED:
            code = c->first_fate == F_EXPIRED ? "expired" : "undelivered";
            c1 = 3;
            snprintf(summary, sizeof summary,
                     "The latest message from %s (%s) was accepted but not delivered to the phone "
                     "(receipt %s).", who, when, c->first_receipt);
            snprintf(advice, sizeof advice,
                     "Ask the customer to check that the phone is on, has signal and free message "
                     "memory, then request a new code.");
            break;
        case F_DELIVERED:
            code = "delivered";
            snprintf(summary, sizeof summary,
                     "The latest message from %s (%s) was delivered to the phone.", who, when);
            snprintf(advice, sizeof advice,
                     "Ask the customer to look in the phone's messages (and its blocked or spam "
                     "folder) and to check the code was typed correctly.");
            break;
        default:
            code = "pending";
            c1 = 3;
            snprintf(summary, sizeof summary,
                     "The latest message from %s (%s) was passed to the SMS centre; no delivery "
                     "report yet.", who, when);
            snprintf(advice, sizeof advice,
                     "Delivery may still be in progress: ask the customer to wait a few minutes; "
                     "if nothing arrives the network is delaying it (cause 3).");
            break;
        }
    }
    jw_key(w, "diagnosis");
    jw_obj_begin(w);
    jw_kstr(w, "code", code);
    jw_causes(w, c1, c2);
    jw_kstr(w, "summary", summary);
    jw_kstr(w, "advice", advice);
    jw_kbool(w, "nothing_from_sender", !c->have_first);
    if (c->have_first) {
        jw_kstr(w, "latest_fate", fate_names[c->first_fate]);
        jw_kbool(w, "latest_enforced", c->first_enforced != 0);
    }
    jw_obj_end(w);
}

static int parse_window(struct admin_req *r, int64_t *since, int64_t *until)
{
    const char *s = admin_query(r, "since"), *u = admin_query(r, "until");
    *since = *until = 0;
    if (s && admin_parse_time(s, since) != 0)
        return admin_error(r, 400, "invalid", "since", "'since' must be an RFC 3339 time or epoch seconds");
    if (u && admin_parse_time(u, until) != 0)
        return admin_error(r, 400, "invalid", "until", "'until' must be an RFC 3339 time or epoch seconds");
    return 0;
}

int admin_h_timeline(admin_t *a, struct admin_req *r)
{
    char msisdn[MSISDN_MAX];
    int64_t since, until, limit;
    int st;
    if (msisdn_normalise(r->params[0], a->country_code, a->trunk_prefix, msisdn, sizeof msisdn) < 0)
        return admin_error(r, 400, "invalid", "msisdn", "'%s' is not a phone number", r->params[0]);
    if ((st = parse_window(r, &since, &until)) ||
        (st = admin_query_int(r, "limit", 1, 1000, 100, &limit)))
        return st;
    const char *sender = admin_query(r, "sender");
    if (sender && strlen(sender) > 64)
        return admin_error(r, 400, "invalid", "sender", "'sender' is longer than 64 bytes");
    jw_t *msgs = jw_new(12u << 20);
    if (!msgs)
        return admin_error(r, 500, "no_memory", NULL, "out of memory");
    struct tl_ctx c = {.w = msgs};
    struct store_timeline_query q = {.msisdn = msisdn, .sender = sender, .since_us = since,
                                     .until_us = until, .limit = (int)limit};
    jw_arr_begin(msgs);
    int rc = store_timeline(r->db, &q, tl_row, &c);
    jw_arr_end(msgs);
    /* The blacklist entries named by blocked messages, active or cleared. */
    jw_t *bls = jw_new(1u << 20);
    struct bl_found first_bl = {.w = bls, .active = 1};
    if (rc == 0 && bls) {
        jw_arr_begin(bls);
        for (size_t i = 0; i < c.n_bl; i++) {
            struct store_list_query bq = {.include_inactive = 1, .id = c.bl_ids[i], .kind = -1};
            struct bl_found tmp = {.w = bls, .active = 1};
            store_blacklist_list(r->db, &bq, bl_entry, &tmp);
            if (c.bl_ids[i] == c.first_block.bl_id)
                first_bl = tmp;
        }
        jw_arr_end(bls);
    }
    if (rc || !bls || jw_failed(msgs)) {
        jw_free(msgs);
        jw_free(bls);
        if (rc)
            return admin_store_error(a, r, rc, "timeline");
        return admin_error(r, 500, "too_large", NULL, "the answer is too large: lower 'limit'");
    }
    jw_t *w = r->w;
    jw_obj_begin(w);
    jw_kstr(w, "msisdn", msisdn);
    admin_jw_str_or_null(w, "sender", sender);
    jw_time_or_null(w, "since", since);
    jw_time_or_null(w, "until", until);
    write_diagnosis(w, &c, sender, c.first_block.bl_id ? &first_bl : NULL);
    jw_key(w, "counts");
    jw_obj_begin(w);
    for (int f = 0; f < F__COUNT; f++)
        jw_kuint(w, fate_names[f], c.counts[f]);
    jw_obj_end(w);
    jw_key(w, "blacklist_entries");
    jw_raw(w, jw_data(bls), jw_len(bls));
    jw_key(w, "messages");
    jw_raw(w, jw_data(msgs), jw_len(msgs));
    jw_kbool(w, "truncated", c.n >= (size_t)limit);
    jw_obj_end(w);
    jw_free(msgs);
    jw_free(bls);
    return 200;
}

/* ---- senders ------------------------------------------------------------------------ */

struct wl_scan {
    jw_t *w;           /* whitelist entries of the sender, or NULL */
    const char *sender;
    char key[80];      /* lists_sender_key of sender */
    char skel[80];     /* norm_sender skeleton of sender */
    norm_ctx_t *nc;
    const char *provider; /* provider token: does it own the sender? */
    int owned, is_protected;
    struct { int64_t id; char sender[80], provider[128]; } lookalike;
};

static int wl_scan_row(void *arg, const struct store_whitelist_row *r)
{
    struct wl_scan *s = arg;
    char key[80], skel[80];
    lists_sender_key(r->w.sender, strlen(r->w.sender), key, sizeof key);
    int active = r->removed_at == 0 && (r->w.expires_at == 0 || r->w.expires_at > (int64_t)time(NULL));
    if (strcmp(key, s->key) == 0) {
        if (s->w)
            admin_jw_whitelist(s->w, r);
        if (active)
            s->is_protected = 1;
        if (s->provider && r->w.provider && strcmp(s->provider, r->w.provider) == 0)
            s->owned = 1;
        return 0;
    }
    if (!active || s->lookalike.id || !s->skel[0])
        return 0;
    if (norm_sender(s->nc, r->w.sender, strlen(r->w.sender), skel, sizeof skel, NULL) == 0 &&
        strcmp(skel, s->skel) == 0) {
        s->lookalike.id = r->w.id;
        snprintf(s->lookalike.sender, sizeof s->lookalike.sender, "%s", r->w.sender);
        snprintf(s->lookalike.provider, sizeof s->lookalike.provider, "%s",
                 r->w.provider ? r->w.provider : "");
    }
    return 0;
}

static int bl_row_w(void *arg, const struct store_blacklist_row *r)
{
    admin_jw_blacklist(arg, r);
    return 0;
}

static int recent_row(void *arg, const struct store_msg_row *m)
{
    enum fate f = fate_of(m);
    struct block_reason br = {0};
    struct reasons reasons;
    scan_reasons(m->reasons, &reasons);
    if (f == F_BLOCKED)
        blocked_by(&reasons, &br);
    write_message(arg, m, &reasons, f, &br, 1);
    return 0;
}

struct req_owner {
    const char *sender;
    int owned;
};

static int req_owner_row(void *arg, const struct store_wlreq *q)
{
    struct req_owner *o = arg;
    size_t n = strlen(o->sender);
    for (const char *p = q->senders; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, o->sender, n) == 0)
            o->owned = 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* "Recent" without `since`: the hour of statistics buckets (six of 10
 * minutes) ending with the one that holds the sender's newest message. */
#define ADMIN_SENDER_RECENT_BUCKETS 6

int admin_h_sender(admin_t *a, struct admin_req *r)
{
    const char *sender = r->params[0];
    int64_t since = 0;
    const char *s = admin_query(r, "since");
    if (s && admin_parse_time(s, &since) != 0)
        return admin_error(r, 400, "invalid", "since", "'since' must be an RFC 3339 time or epoch seconds");
    if (strlen(sender) > 64)
        return admin_error(r, 400, "invalid", "sender", "a sender is at most 64 bytes");
    int provider = r->tok.role == STORE_ROLE_PROVIDER;
    struct wl_scan ws = {.sender = sender, .provider = provider ? r->tok.provider : NULL};
    lists_sender_key(sender, strlen(sender), ws.key, sizeof ws.key);
    ws.nc = norm_ctx_new(256);
    if (!ws.nc)
        return admin_error(r, 500, "no_memory", NULL, "out of memory");
    if (norm_sender(ws.nc, sender, strlen(sender), ws.skel, sizeof ws.skel, NULL) != 0)
        ws.skel[0] = '\0';
    jw_t *wl = jw_new(1u << 20);
    ws.w = wl;
    struct store_list_query wq = {.include_inactive = 1, .kind = -1};
    struct store_sender_stats stats;
    int rc;
    jw_t *w = r->w;
    if (wl)
        jw_arr_begin(wl);
    rc = wl ? store_whitelist_list(r->db, &wq, wl_scan_row, &ws) : -ENOMEM;
    if (wl)
        jw_arr_end(wl);
    if (rc == 0 && provider && !ws.owned) {
        struct req_owner o = {.sender = sender};
        store_wlreq_list(r->db, r->tok.provider, -1, 0, req_owner_row, &o);
        ws.owned = o.owned;
    }
    if (rc == 0 && provider && !ws.owned) {
        norm_ctx_free(ws.nc);
        jw_free(wl);
        return admin_error(r, 403, "forbidden", "sender",
                           "a provider token sees only its own provider's senders");
    }
    /* Without `since`, the counts are the recent ones the issue asks for:
     * the hour before the sender's newest message (packet time, so a
     * replayed capture reads the same as live traffic), in whole buckets of
     * the per-sender counters the message-log writer keeps (sender_stats):
     * a few rows read, whatever the sender's volume.  With `since`, the
     * counts start at the bucket holding it, and `since` in the answer says
     * where they really start. */
    if (rc == 0 && !s) {
        int64_t latest;
        if (store_sender_latest(r->db, sender, &latest) == 0)
            since = STORE_SENDER_BUCKET(latest) - (ADMIN_SENDER_RECENT_BUCKETS - 1) * STORE_SENDER_BUCKET_US;
    }
    if (since > 0)
        since = STORE_SENDER_BUCKET(since);
    if (rc == 0)
        rc = store_sender_stats(r->db, sender, since, &stats);
    if (rc == 0) {
        jw_obj_begin(w);
        jw_kstr(w, "sender", sender);
        jw_kbool(w, "protected", ws.is_protected != 0);
        jw_key(w, "whitelist");
        jw_raw(w, jw_data(wl), jw_len(wl));
        jw_key(w, "blacklist");
        jw_arr_begin(w);
        struct store_list_query bq = {.include_inactive = 1, .kind = LISTS_BL_SENDER, .value = sender};
        rc = store_blacklist_list(r->db, &bq, bl_row_w, w);
        jw_arr_end(w);
        jw_key(w, "lookalike_of");
        if (!ws.is_protected && ws.lookalike.id) {
            jw_obj_begin(w);
            jw_kint(w, "whitelist_id", ws.lookalike.id);
            jw_kstr(w, "sender", ws.lookalike.sender);
            jw_kstr(w, "provider", ws.lookalike.provider);
            jw_obj_end(w);
        } else {
            jw_null(w);
        }
        jw_key(w, "stats");
        jw_obj_begin(w);
        jw_time_or_null(w, "since", since);
        jw_kint(w, "messages", stats.total);
        jw_kint(w, "allowed", stats.allowed);
        jw_kint(w, "flagged", stats.flagged);
        jw_kint(w, "blocked", stats.blocked);
        /* Per bucket, summed: an upper bound on distinct recipients
         * (docs/api.md). */
        jw_kint(w, "recipients", stats.recipients);
        /* Always false since schema 3 (every message is counted); kept so
         * that clients of the earlier, capped scan keep working. */
        jw_kbool(w, "capped", stats.capped != 0);
        jw_time_or_null(w, "until", stats.last_bucket_us ? stats.last_bucket_us + STORE_SENDER_BUCKET_US : 0);
        jw_kint(w, "bucket_seconds", STORE_SENDER_BUCKET_US / 1000000);
        jw_obj_end(w);
        if (!provider && rc == 0) {
            /* Recipients' numbers are the call centre's business, not the
             * provider's. */
            jw_key(w, "recent");
            jw_arr_begin(w);
            rc = store_sender_messages(r->db, sender, since, 20, recent_row, w);
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    norm_ctx_free(ws.nc);
    jw_free(wl);
    if (rc)
        return admin_store_error(a, r, rc, "sender");
    return 200;
}

int admin_h_me(admin_t *a, struct admin_req *r)
{
    (void)a;
    jw_obj_begin(r->w);
    jw_kstr(r->w, "name", r->tok.name);
    jw_kstr(r->w, "role", store_role_name(r->tok.role));
    admin_jw_str_or_null(r->w, "provider", r->tok.provider[0] ? r->tok.provider : NULL);
    admin_jw_time(r->w, "expires_at", r->tok.expires_at);
    jw_obj_end(r->w);
    return 200;
}
