/* smsguard whitelist | blacklist | exception | token: list management for
 * operators and scripts.  Every change goes through store.h, so it writes
 * its audit row in the same transaction and is durable (synchronous=FULL)
 * before the command prints its acknowledgement; a running daemon picks it
 * up within a second (store_data_version).
 *
 * Output: one JSON object per line on stdout (the acknowledgement of a
 * change, or one line per listed row); errors on stderr with the command and
 * the offending option, exit status 1.  `token create` prints the clear
 * token alone on stdout, once.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "json-writer.h"
#include "lists.h"
#include "msisdn.h"
#include "store.h"

enum opt_id {
    O_DB = 1,
    O_BY,
    O_SENDER,
    O_TON,
    O_ACCOUNT,
    O_PROVIDER,
    O_VERIFIED_BY,
    O_CIDR,
    O_EXPIRES_IN_DAYS,
    O_ID,
    O_REASON,
    O_TTL_HOURS,
    O_KIND,
    O_VALUE,
    O_TICKET,
    O_ALL,
    O_MSISDN,
    O_ROLE,
    O_NAME,
    O_EXPIRES_IN,
    O_COUNTRY_CODE,
    O_TRUNK_PREFIX,
    O_HELP,
    O__COUNT
};

static const struct option long_opts[] = {
    {"db", required_argument, NULL, O_DB},
    {"by", required_argument, NULL, O_BY},
    {"sender", required_argument, NULL, O_SENDER},
    {"ton", required_argument, NULL, O_TON},
    {"account", required_argument, NULL, O_ACCOUNT},
    {"provider", required_argument, NULL, O_PROVIDER},
    {"verified-by", required_argument, NULL, O_VERIFIED_BY},
    {"cidr", required_argument, NULL, O_CIDR},
    {"expires-in-days", required_argument, NULL, O_EXPIRES_IN_DAYS},
    {"id", required_argument, NULL, O_ID},
    {"reason", required_argument, NULL, O_REASON},
    {"ttl-hours", required_argument, NULL, O_TTL_HOURS},
    {"kind", required_argument, NULL, O_KIND},
    {"value", required_argument, NULL, O_VALUE},
    {"ticket", required_argument, NULL, O_TICKET},
    {"all", no_argument, NULL, O_ALL},
    {"msisdn", required_argument, NULL, O_MSISDN},
    {"role", required_argument, NULL, O_ROLE},
    {"name", required_argument, NULL, O_NAME},
    {"expires-in", required_argument, NULL, O_EXPIRES_IN},
    {"country-code", required_argument, NULL, O_COUNTRY_CODE},
    {"trunk-prefix", required_argument, NULL, O_TRUNK_PREFIX},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

struct args {
    const char *cmd, *action; /* "whitelist", "add" */
    const char *v[O__COUNT];  /* option values; "" for flags */
    char cidrs[2048];         /* --cidr repeated, joined with ',' */
};

struct action_spec {
    const char *action;
    const char *usage;
    int (*fn)(struct args *a, store_t *s);
    unsigned char allowed[O__COUNT];
};

static const char *opt_name(int id)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

static int fail(const struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const struct args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "smsguard %s %s: ", a->cmd, a->action ? a->action : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int store_fail(const struct args *a, store_t *s, int rc)
{
    return fail(a, "%s (%s)", store_errmsg(s), sg_strerror(rc));
}

static const char *need(struct args *a, int id, int *bad)
{
    if (!a->v[id] || !*a->v[id]) {
        if (!*bad)
            fail(a, "--%s is required", opt_name(id));
        *bad = 1;
        return NULL;
    }
    return a->v[id];
}

/* Parses a non-negative integer option; 0 on success. */
static int int_opt(struct args *a, int id, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    const char *s = a->v[id];
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return fail(a, "--%s: '%s' is not an integer in %" PRId64 "..%" PRId64, opt_name(id), s,
                    min, max);
    *out = v;
    return 0;
}

/* "90s", "30m", "24h", "30d", "2w" -> seconds. */
static int duration_opt(struct args *a, int id, int64_t *out)
{
    const char *s = a->v[id];
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    int64_t mul = 0;
    if (end != s && end[0] && !end[1]) {
        switch (end[0]) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        case 'w': mul = 7 * 86400; break;
        }
    }
    if (errno || mul == 0 || v <= 0 || v > (int64_t)100 * 365 * 86400 / mul)
        return fail(a, "--%s: '%s' is not a duration like 90m, 24h, 30d", opt_name(id), s);
    *out = v * mul;
    return 0;
}

static const char *actor(struct args *a)
{
    const char *by = a->v[O_BY];
    if (by && *by)
        return by;
    if ((by = getenv("SUDO_USER")) && *by)
        return by;
    if ((by = getenv("USER")) && *by)
        return by;
    return "unknown";
}

static struct store_change change_ctx(struct args *a)
{
    struct store_change c = {
        .now = (int64_t)time(NULL),
        .actor = actor(a),
        .reason = a->v[O_REASON],
        .ticket = a->v[O_TICKET],
    };
    return c;
}

/* ---- output --------------------------------------------------------- */

static jw_t *out_w;

static void kstr_or_null(jw_t *w, const char *k, const char *v)
{
    jw_key(w, k);
    if (v)
        jw_str(w, v);
    else
        jw_null(w);
}

static void ktime(jw_t *w, const char *k, int64_t t)
{
    jw_key(w, k);
    if (t)
        jw_int(w, t);
    else
        jw_null(w);
}

static int emit(void)
{
    return jw_flush_line(out_w, stdout) == 0 ? 0 : 1;
}

static void ack(const char *what, int64_t id)
{
    jw_reset(out_w);
    jw_obj_begin(out_w);
    jw_kstr(out_w, "ok", what);
    jw_kint(out_w, "id", id);
    jw_obj_end(out_w);
    emit();
    fflush(stdout);
}

static int print_wl(void *arg, const struct store_whitelist_row *r)
{
    jw_t *w = out_w;
    jw_reset(w);
    jw_obj_begin(w);
    jw_kint(w, "id", r->w.id);
    kstr_or_null(w, "sender", r->w.sender);
    jw_kint(w, "ton", r->w.ton);
    kstr_or_null(w, "account", r->w.account);
    kstr_or_null(w, "source_cidrs", r->w.source_cidrs);
    kstr_or_null(w, "provider", r->w.provider);
    kstr_or_null(w, "verified_by", r->w.verified_by);
    ktime(w, "verified_at", r->w.verified_at);
    ktime(w, "expires_at", r->w.expires_at);
    ktime(w, "created_at", r->created_at);
    ktime(w, "removed_at", r->removed_at);
    kstr_or_null(w, "removed_by", r->removed_by);
    if (r->request_id)
        jw_kint(w, "request_id", r->request_id);
    jw_obj_end(w);
    return emit();
}

static int print_bl(void *arg, const struct store_blacklist_row *r)
{
    jw_t *w = out_w;
    jw_reset(w);
    jw_obj_begin(w);
    jw_kint(w, "id", r->b.id);
    jw_kstr(w, "kind", lists_bl_kind_name(r->b.kind));
    kstr_or_null(w, "value", r->b.value);
    jw_kbool(w, "automatic", r->b.automatic != 0);
    kstr_or_null(w, "reason", r->b.reason);
    kstr_or_null(w, "ticket", r->ticket);
    kstr_or_null(w, "created_by", r->created_by);
    ktime(w, "created_at", r->b.created_at);
    ktime(w, "expires_at", r->b.expires_at);
    ktime(w, "cleared_at", r->b.cleared_at);
    kstr_or_null(w, "cleared_by", r->b.cleared_by);
    kstr_or_null(w, "clear_reason", r->b.clear_reason);
    kstr_or_null(w, "clear_ticket", r->b.clear_ticket);
    jw_obj_end(w);
    return emit();
}

static int print_ex(void *arg, const struct store_exception_row *r)
{
    jw_t *w = out_w;
    jw_reset(w);
    jw_obj_begin(w);
    jw_kint(w, "id", r->x.id);
    kstr_or_null(w, "sender", r->x.sender);
    kstr_or_null(w, "msisdn", r->x.msisdn);
    kstr_or_null(w, "reason", r->x.reason);
    kstr_or_null(w, "ticket", r->x.ticket);
    kstr_or_null(w, "created_by", r->x.created_by);
    ktime(w, "created_at", r->x.created_at);
    ktime(w, "expires_at", r->x.expires_at);
    ktime(w, "removed_at", r->removed_at);
    kstr_or_null(w, "removed_by", r->removed_by);
    jw_obj_end(w);
    return emit();
}

static int print_tok(void *arg, const struct store_token_info *t)
{
    jw_t *w = out_w;
    jw_reset(w);
    jw_obj_begin(w);
    jw_kint(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "role", store_role_name(t->role));
    kstr_or_null(w, "provider", t->provider[0] ? t->provider : NULL);
    ktime(w, "created_at", t->created_at);
    ktime(w, "expires_at", t->expires_at);
    ktime(w, "revoked_at", t->revoked_at);
    jw_obj_end(w);
    return emit();
}

/* ---- whitelist -------------------------------------------------------- */

static int wl_add(struct args *a, store_t *s)
{
    int bad = 0;
    int64_t ton = -1, days = 0, id = 0;
    struct lists_whitelist_entry e = {.ton = -1};
    struct store_change c = change_ctx(a);

    e.sender = need(a, O_SENDER, &bad);
    e.verified_by = need(a, O_VERIFIED_BY, &bad);
    if (bad)
        return 1;
    if (a->v[O_TON] && int_opt(a, O_TON, -1, 255, &ton))
        return 1;
    if (a->v[O_EXPIRES_IN_DAYS] && int_opt(a, O_EXPIRES_IN_DAYS, 1, 36500, &days))
        return 1;
    e.ton = (int)ton;
    e.account = a->v[O_ACCOUNT];
    e.provider = a->v[O_PROVIDER];
    if (a->cidrs[0]) {
        size_t off = 0;
        if (lists_cidrs_validate(a->cidrs, &off) < 0)
            return fail(a, "--cidr: bad address range at byte %zu of '%s'", off, a->cidrs);
        e.source_cidrs = a->cidrs;
    }
    e.verified_at = c.now;
    e.expires_at = days ? c.now + days * 86400 : 0;
    int rc = store_whitelist_add(s, &c, &e, &id);
    if (rc)
        return store_fail(a, s, rc);
    ack("whitelist.add", id);
    return 0;
}

static int wl_list(struct args *a, store_t *s)
{
    struct store_list_query q = {.kind = -1, .include_inactive = a->v[O_ALL] != NULL,
                                 .value = a->v[O_SENDER]};
    int rc = store_whitelist_list(s, &q, print_wl, NULL);
    return rc < 0 ? store_fail(a, s, rc) : rc;
}

static int wl_remove(struct args *a, store_t *s)
{
    struct store_change c = change_ctx(a);
    int rc;
    if (a->v[O_ID] && a->v[O_SENDER])
        return fail(a, "give --id or --sender, not both");
    if (a->v[O_ID]) {
        int64_t id;
        if (int_opt(a, O_ID, 1, INT64_MAX, &id))
            return 1;
        if ((rc = store_whitelist_remove(s, &c, id)) != 0)
            return store_fail(a, s, rc);
        ack("whitelist.remove", id);
        return 0;
    }
    if (a->v[O_SENDER]) {
        int n = 0;
        if ((rc = store_whitelist_remove_sender(s, &c, a->v[O_SENDER], &n)) != 0)
            return store_fail(a, s, rc);
        jw_reset(out_w);
        jw_obj_begin(out_w);
        jw_kstr(out_w, "ok", "whitelist.remove");
        jw_kstr(out_w, "sender", a->v[O_SENDER]);
        jw_kint(out_w, "removed", n);
        jw_obj_end(out_w);
        return emit();
    }
    return fail(a, "--id or --sender is required");
}

/* ---- blacklist -------------------------------------------------------- */

static int bl_add(struct args *a, store_t *s)
{
    int bad = 0, kind = LISTS_BL_SENDER;
    int64_t ttl = 0, id = 0;
    const char *value;
    struct store_change c = change_ctx(a);

    need(a, O_REASON, &bad);
    if (bad)
        return 1;
    if (a->v[O_SENDER] && (a->v[O_KIND] || a->v[O_VALUE]))
        return fail(a, "give --sender, or --kind and --value, not both");
    if (a->v[O_SENDER]) {
        value = a->v[O_SENDER];
    } else {
        if (a->v[O_KIND] && (kind = lists_bl_kind_parse(a->v[O_KIND])) < 0)
            return fail(a, "--kind: '%s' is not sender, account, domain or fingerprint",
                        a->v[O_KIND]);
        if (!(value = need(a, O_VALUE, &bad)))
            return fail(a, "--sender (or --kind and --value) is required");
    }
    if (a->v[O_TTL_HOURS] && int_opt(a, O_TTL_HOURS, 1, 24 * 36500, &ttl))
        return 1;
    int rc = store_blacklist_add(s, &c, (enum lists_bl_kind)kind, value, 0,
                                 ttl ? c.now + ttl * 3600 : 0, &id);
    if (rc)
        return store_fail(a, s, rc);
    ack("blacklist.add", id);
    return 0;
}

static int bl_list(struct args *a, store_t *s)
{
    struct store_list_query q = {.kind = -1, .include_inactive = a->v[O_ALL] != NULL};
    if (a->v[O_KIND] && (q.kind = lists_bl_kind_parse(a->v[O_KIND])) < 0)
        return fail(a, "--kind: '%s' is not sender, account, domain or fingerprint",
                    a->v[O_KIND]);
    q.value = a->v[O_VALUE] ? a->v[O_VALUE] : a->v[O_SENDER];
    if (a->v[O_SENDER] && q.kind < 0)
        q.kind = LISTS_BL_SENDER;
    int rc = store_blacklist_list(s, &q, print_bl, NULL);
    return rc < 0 ? store_fail(a, s, rc) : rc;
}

static int bl_clear(struct args *a, store_t *s)
{
    int bad = 0;
    int64_t id;
    struct store_change c = change_ctx(a);
    need(a, O_ID, &bad);
    need(a, O_REASON, &bad);
    need(a, O_TICKET, &bad);
    if (bad || int_opt(a, O_ID, 1, INT64_MAX, &id))
        return 1;
    int rc = store_blacklist_clear(s, &c, id);
    if (rc)
        return store_fail(a, s, rc);
    ack("blacklist.clear", id);
    return 0;
}

/* ---- exceptions ------------------------------------------------------- */

static int normalise(struct args *a, const char *in, char out[MSISDN_MAX])
{
    int n = msisdn_normalise(in, a->v[O_COUNTRY_CODE], a->v[O_TRUNK_PREFIX], out, MSISDN_MAX);
    if (n < 0)
        return fail(a, "--msisdn: '%s' is not a phone number", in);
    return 0;
}

static int ex_add(struct args *a, store_t *s)
{
    int bad = 0;
    int64_t ttl, id = 0;
    char msisdn[MSISDN_MAX];
    struct store_change c = change_ctx(a);
    const char *sender = need(a, O_SENDER, &bad);
    const char *m = need(a, O_MSISDN, &bad);
    need(a, O_TTL_HOURS, &bad);
    need(a, O_REASON, &bad);
    need(a, O_TICKET, &bad);
    if (bad || int_opt(a, O_TTL_HOURS, 1, 24 * 366, &ttl) || normalise(a, m, msisdn))
        return 1;
    int rc = store_exception_add(s, &c, sender, msisdn, c.now + ttl * 3600, &id);
    if (rc)
        return store_fail(a, s, rc);
    ack("exception.add", id);
    return 0;
}

static int ex_list(struct args *a, store_t *s)
{
    char msisdn[MSISDN_MAX];
    struct store_list_query q = {.kind = -1, .include_inactive = a->v[O_ALL] != NULL,
                                 .value = a->v[O_SENDER]};
    if (a->v[O_MSISDN]) {
        if (normalise(a, a->v[O_MSISDN], msisdn))
            return 1;
        q.msisdn = msisdn;
    }
    int rc = store_exception_list(s, &q, print_ex, NULL);
    return rc < 0 ? store_fail(a, s, rc) : rc;
}

static int ex_remove(struct args *a, store_t *s)
{
    int bad = 0;
    int64_t id;
    struct store_change c = change_ctx(a);
    need(a, O_ID, &bad);
    if (bad || int_opt(a, O_ID, 1, INT64_MAX, &id))
        return 1;
    int rc = store_exception_remove(s, &c, id);
    if (rc)
        return store_fail(a, s, rc);
    ack("exception.remove", id);
    return 0;
}

/* ---- tokens ----------------------------------------------------------- */

static int tok_create(struct args *a, store_t *s)
{
    int bad = 0, role;
    int64_t ttl = 0, id = 0;
    char token[STORE_TOKEN_STRLEN];
    struct store_change c = change_ctx(a);
    const char *r = need(a, O_ROLE, &bad);
    const char *name = need(a, O_NAME, &bad);
    if (bad)
        return 1;
    if ((role = store_role_parse(r)) < 0)
        return fail(a, "--role: '%s' is not callcentre, ops or provider", r);
    if (role == STORE_ROLE_PROVIDER && !a->v[O_PROVIDER])
        return fail(a, "--provider is required for role provider");
    if (role != STORE_ROLE_PROVIDER && a->v[O_PROVIDER])
        return fail(a, "--provider is only for role provider");
    if (a->v[O_EXPIRES_IN] && duration_opt(a, O_EXPIRES_IN, &ttl))
        return 1;
    int rc = store_token_create(s, &c, (enum store_role)role, name, a->v[O_PROVIDER],
                                ttl ? c.now + ttl : 0, token, &id);
    if (rc)
        return store_fail(a, s, rc);
    printf("%s\n", token);
    fflush(stdout);
    fprintf(stderr, "smsguard token create: token '%s' (role %s, id %" PRId64
                    ") created; it is shown only this once\n",
            name, r, id);
    return 0;
}

static int tok_revoke(struct args *a, store_t *s)
{
    int64_t id = 0;
    struct store_change c = change_ctx(a);
    if (a->v[O_ID] && a->v[O_NAME])
        return fail(a, "give --id or --name, not both");
    if (!a->v[O_ID] && !a->v[O_NAME])
        return fail(a, "--id or --name is required");
    if (a->v[O_ID] && int_opt(a, O_ID, 1, INT64_MAX, &id))
        return 1;
    int rc = store_token_revoke(s, &c, id, a->v[O_NAME]);
    if (rc)
        return store_fail(a, s, rc);
    jw_reset(out_w);
    jw_obj_begin(out_w);
    jw_kstr(out_w, "ok", "token.revoke");
    if (id)
        jw_kint(out_w, "id", id);
    else
        jw_kstr(out_w, "name", a->v[O_NAME]);
    jw_obj_end(out_w);
    return emit();
}

static int tok_list(struct args *a, store_t *s)
{
    int rc = store_token_list(s, a->v[O_ALL] != NULL, print_tok, NULL);
    return rc < 0 ? store_fail(a, s, rc) : rc;
}

/* ---- tables ------------------------------------------------------------ */

#define A(...) {[O_DB] = 1, [O_HELP] = 1, __VA_ARGS__}

static const struct action_spec wl_actions[] = {
    {"add", "--sender S --verified-by NAME [--ton N] [--account A] [--provider P] "
            "[--cidr CIDR]... [--expires-in-days N] [--reason R] [--ticket T] [--by NAME] --db FILE",
     wl_add, A([O_SENDER] = 1, [O_TON] = 1, [O_ACCOUNT] = 1, [O_PROVIDER] = 1,
               [O_VERIFIED_BY] = 1, [O_CIDR] = 1, [O_EXPIRES_IN_DAYS] = 1, [O_BY] = 1,
               [O_REASON] = 1, [O_TICKET] = 1)},
    {"list", "[--all] [--sender S] --db FILE", wl_list, A([O_ALL] = 1, [O_SENDER] = 1)},
    {"remove", "--id N | --sender S [--reason R] [--ticket T] [--by NAME] --db FILE", wl_remove,
     A([O_ID] = 1, [O_SENDER] = 1, [O_BY] = 1, [O_REASON] = 1, [O_TICKET] = 1)},
    {NULL, NULL, NULL, {0}},
};

static const struct action_spec bl_actions[] = {
    {"add", "--sender V | [--kind sender|account|domain|fingerprint] --value V  --reason R "
            "[--ttl-hours H] [--ticket T] [--by NAME] --db FILE",
     bl_add, A([O_SENDER] = 1, [O_KIND] = 1, [O_VALUE] = 1, [O_REASON] = 1, [O_TTL_HOURS] = 1,
               [O_TICKET] = 1, [O_BY] = 1)},
    {"list", "[--all] [--kind K] [--value V | --sender S] --db FILE", bl_list,
     A([O_ALL] = 1, [O_KIND] = 1, [O_VALUE] = 1, [O_SENDER] = 1)},
    {"clear", "--id N --reason R --ticket T [--by NAME] --db FILE", bl_clear,
     A([O_ID] = 1, [O_REASON] = 1, [O_TICKET] = 1, [O_BY] = 1)},
    {NULL, NULL, NULL, {0}},
};

static const struct action_spec ex_actions[] = {
    {"add", "--sender S --msisdn M --ttl-hours H --reason R --ticket T [--by NAME] "
            "[--country-code 7] [--trunk-prefix 8] --db FILE",
     ex_add, A([O_SENDER] = 1, [O_MSISDN] = 1, [O_TTL_HOURS] = 1, [O_REASON] = 1,
               [O_TICKET] = 1, [O_BY] = 1, [O_COUNTRY_CODE] = 1, [O_TRUNK_PREFIX] = 1)},
    {"list", "[--all] [--sender S] [--msisdn M] [--country-code 7] [--trunk-prefix 8] --db FILE", ex_list,
     A([O_ALL] = 1, [O_SENDER] = 1, [O_MSISDN] = 1, [O_COUNTRY_CODE] = 1,
       [O_TRUNK_PREFIX] = 1)},
    {"remove", "--id N [--reason R] [--ticket T] [--by NAME] --db FILE", ex_remove,
     A([O_ID] = 1, [O_REASON] = 1, [O_TICKET] = 1, [O_BY] = 1)},
    {NULL, NULL, NULL, {0}},
};

static const struct action_spec tok_actions[] = {
    {"create", "--role callcentre|ops|provider --name NAME [--provider NAME] "
               "[--expires-in N{s,m,h,d,w}] [--by NAME] --db FILE",
     tok_create, A([O_ROLE] = 1, [O_NAME] = 1, [O_PROVIDER] = 1, [O_EXPIRES_IN] = 1, [O_BY] = 1)},
    {"revoke", "--name NAME | --id N [--reason R] [--ticket T] [--by NAME] --db FILE", tok_revoke,
     A([O_NAME] = 1, [O_ID] = 1, [O_BY] = 1, [O_REASON] = 1, [O_TICKET] = 1)},
    {"list", "[--all] --db FILE", tok_list, A([O_ALL] = 1)},
    {NULL, NULL, NULL, {0}},
};

static void usage(FILE *f, const char *cmd, const struct action_spec *acts)
{
    for (const struct action_spec *x = acts; x->action; x++)
        fprintf(f, "usage: smsguard %s %s %s\n", cmd, x->action, x->usage);
}

static int run_cmd(int argc, char **argv, const struct action_spec *acts)
{
    struct args a;
    const struct action_spec *spec = NULL;
    store_t *s = NULL;
    char errbuf[STORE_ERRBUF_SIZE];
    int c, rc = 1;

    memset(&a, 0, sizeof a);
    a.cmd = argv[0];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout, a.cmd, acts);
        return argc < 2 ? 1 : 0;
    }
    a.action = argv[1];
    for (const struct action_spec *x = acts; x->action; x++)
        if (strcmp(x->action, a.action) == 0)
            spec = x;
    if (!spec) {
        fprintf(stderr, "smsguard %s: unknown action '%s'\n", a.cmd, a.action);
        usage(stderr, a.cmd, acts);
        return 1;
    }
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "h", long_opts, NULL)) != -1) {
        if (c == 'h')
            c = O_HELP;
        if (c == '?' || c == ':') {
            if (optopt)
                return fail(&a, "option -%c needs a value or is unknown", optopt);
            /* argv + 1 was scanned and optind points past the offending
             * word there, so in argv it is argv[optind]. */
            return fail(&a, "unknown option or missing value: '%s'", argv[optind]);
        }
        if (c <= 0 || c >= O__COUNT || !spec->allowed[c])
            return fail(&a, "--%s does not apply here; usage: %s", opt_name(c), spec->usage);
        if (c == O_CIDR) {
            size_t used = strlen(a.cidrs);
            if (used + strlen(optarg) + 2 > sizeof a.cidrs)
                return fail(&a, "--cidr: too many ranges");
            if (used)
                strcat(a.cidrs, ",");
            strcat(a.cidrs, optarg);
            continue;
        }
        if (a.v[c] && c != O_ALL && c != O_HELP)
            return fail(&a, "--%s given twice", opt_name(c));
        a.v[c] = optarg ? optarg : "";
    }
    if (a.v[O_HELP]) {
        printf("usage: smsguard %s %s %s\n", a.cmd, a.action, spec->usage);
        return 0;
    }
    if (optind < argc - 1)
        return fail(&a, "unexpected argument '%s'", argv[optind + 1]);
    if (!a.v[O_DB] || !*a.v[O_DB])
        return fail(&a, "--db FILE is required");

    out_w = jw_new(1 << 20);
    if (!out_w)
        return fail(&a, "out of memory");
    if (store_open(&s, a.v[O_DB], STORE_OPEN_CREATE, errbuf) != 0) {
        fail(&a, "%s", errbuf);
        goto out;
    }
    rc = spec->fn(&a, s);
    if (fflush(stdout) != 0 && rc == 0)
        rc = fail(&a, "writing output: %s", strerror(errno));
out:
    store_close(s);
    jw_free(out_w);
    out_w = NULL;
    return rc ? 1 : 0;
}

int cmd_whitelist(int argc, char **argv)
{
    return run_cmd(argc, argv, wl_actions);
}

int cmd_blacklist(int argc, char **argv)
{
    return run_cmd(argc, argv, bl_actions);
}

int cmd_exception(int argc, char **argv)
{
    return run_cmd(argc, argv, ex_actions);
}

int cmd_token(int argc, char **argv)
{
    return run_cmd(argc, argv, tok_actions);
}
