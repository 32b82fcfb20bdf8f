/* The configuration file parser (config.h, docs/configuration.md).
 *
 * One table describes every key once (section, name, how its value is
 * written, where it is stored, its range); parsing, the duplicate check
 * and config_format() are all driven by it, so a key cannot be parsed but
 * left out of the example, or the reverse.
 *
 * Grammar (line-oriented, INI-like):
 *   line    = blank | comment | section | setting
 *   comment = ('#' | ';') anything
 *   section = '[' name ']' | '[link "' endpoint '"]'
 *   setting = key '=' value [ws comment]
 *   value   = bare | '"' chars with \" and \\ escapes '"'
 * A bare value ends at the end of the line or at whitespace followed by
 * '#' or ';' (so a path may contain '#' only when quoted).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "text-memo.h"

enum config_section { SEC_NONE = -1, SEC_DECODER = 0, SEC_LINK, SEC_VERDICT, SEC_MSGLOG, SEC_ALERTS, SEC_PATHS, SEC_PROXY, SEC_COUNT };

static const char *const section_names[SEC_COUNT] = {"decoder", "link", "verdict", "msglog", "alerts", "paths", "proxy"};

/* How a value is written. */
enum config_syntax {
    SY_NUM,     /* decimal integer, '-' only where min < 0 */
    SY_SIZE,    /* integer with optional K, M, G suffix (binary) */
    SY_DUR,     /* integer with optional ms, s, m, h, d suffix; bare = seconds */
    SY_BOOL,    /* true/false, yes/no, on/off, 1/0 */
    SY_CHARSET, /* gsm, latin1, ascii */
    SY_MSGID,   /* auto, same, hex-dec, dec-hex */
    SY_ACTION,  /* allow, flag, block */
    SY_PATH,    /* any non-empty string */
    SY_DIGITS,  /* up to 7 decimal digits, may be empty */
    SY_URL,     /* http:// or https:// and a host, no spaces or control bytes */
};

/* Where it is stored. */
enum config_storage { ST_U8, ST_U32, ST_UNS, ST_INT, ST_U64, ST_I64, ST_SZ, ST_PACKING, ST_MSGID, ST_ACTION, ST_PATH, ST_DIGITS };

struct config_key {
    enum config_section sec;
    const char *name;
    enum config_syntax syn;
    enum config_storage st;
    size_t off;           /* in struct config; for SEC_LINK in struct decoder_link_config */
    long long min, max;   /* numeric range, in the stored unit */
    unsigned dur_unit_ms; /* SY_DUR: the stored unit in ms (1000 = seconds, 1 = ms) */
};

#define D(f) offsetof(struct config, decoder.f)
#define V(f) offsetof(struct config, verdict.f)
#define M(f) offsetof(struct config, msglog.f)
#define L(f) offsetof(struct decoder_link_config, f)
#define P(f) offsetof(struct config, f)
#define A(f) offsetof(struct config, alerts.f)
#define U32MAX ((long long)UINT32_MAX)
#define TBLMAX (1LL << 28)

static const struct config_key keys[] = {
    /* [decoder]: reassembly, multipart and pairing bounds (docs/capture-and-reassembly.md) */
    {SEC_DECODER, "max_flows", SY_NUM, ST_U32, D(stream.max_flows), 1, 1LL << 30, 0},
    {SEC_DECODER, "memcap", SY_SIZE, ST_U64, D(stream.max_buffered_bytes), 65536, 1LL << 40, 0},
    {SEC_DECODER, "max_flow_buffer", SY_SIZE, ST_U32, D(stream.max_flow_buffer), 32, U32MAX, 0},
    {SEC_DECODER, "ooo_window", SY_SIZE, ST_U32, D(stream.ooo_window), 0, U32MAX, 0},
    {SEC_DECODER, "flow_idle_timeout", SY_DUR, ST_U32, D(stream.idle_timeout_s), 1, U32MAX, 1000},
    {SEC_DECODER, "gap_timeout", SY_DUR, ST_U32, D(stream.gap_timeout_ms), 0, U32MAX, 1},
    {SEC_DECODER, "not_smpp_after", SY_SIZE, ST_U32, D(stream.not_smpp_after), 1, U32MAX, 0},
    {SEC_DECODER, "max_multipart", SY_NUM, ST_U32, D(concat.max_messages), 1, TBLMAX, 0},
    {SEC_DECODER, "multipart_memcap", SY_SIZE, ST_U64, D(concat.max_bytes), 65536, 1LL << 40, 0},
    {SEC_DECODER, "multipart_timeout", SY_DUR, ST_U32, D(concat.timeout_s), 0, U32MAX, 1000},
    {SEC_DECODER, "max_sessions", SY_NUM, ST_U32, D(max_sessions), 1, TBLMAX, 0},
    {SEC_DECODER, "max_pending_requests", SY_NUM, ST_U32, D(max_pending_requests), 1, TBLMAX, 0},
    {SEC_DECODER, "request_timeout", SY_DUR, ST_U32, D(request_timeout_s), 1, U32MAX, 1000},
    {SEC_DECODER, "max_pending_messages", SY_NUM, ST_U32, D(max_pending_messages), 1, TBLMAX, 0},
    {SEC_DECODER, "response_wait", SY_DUR, ST_U32, D(response_wait_s), 0, U32MAX, 1000},
    {SEC_DECODER, "max_receipt_ties", SY_NUM, ST_U32, D(max_receipt_ties), 1, TBLMAX, 0},
    {SEC_DECODER, "receipt_tie_ttl", SY_DUR, ST_U32, D(receipt_tie_ttl_s), 1, U32MAX, 1000},
    {SEC_DECODER, "dc0", SY_CHARSET, ST_U8, D(text.dc0_charset), 0, 0, 0},
    {SEC_DECODER, "gsm_packed", SY_BOOL, ST_PACKING, D(text.gsm_packing), 0, 1, 0},
    {SEC_DECODER, "dc1_gsm", SY_BOOL, ST_U8, D(text.dc1_gsm), 0, 1, 0},
    {SEC_DECODER, "msgid", SY_MSGID, ST_MSGID, D(msgid_format), 0, 0, 0},
    /* [link "ADDR[:PORT]"]: the same four, for one SMSC */
    {SEC_LINK, "dc0", SY_CHARSET, ST_U8, L(text.dc0_charset), 0, 0, 0},
    {SEC_LINK, "gsm_packed", SY_BOOL, ST_PACKING, L(text.gsm_packing), 0, 1, 0},
    {SEC_LINK, "dc1_gsm", SY_BOOL, ST_U8, L(text.dc1_gsm), 0, 1, 0},
    {SEC_LINK, "msgid", SY_MSGID, ST_MSGID, L(msgid_format), 0, 0, 0},
    /* [verdict]: docs/verdict-engine.md */
    {SEC_VERDICT, "flag_at", SY_NUM, ST_INT, V(flag_at), 1, 1000000, 0},
    {SEC_VERDICT, "block_at", SY_NUM, ST_INT, V(block_at), 1, 1000000, 0},
    {SEC_VERDICT, "lookalike_score", SY_NUM, ST_INT, V(lookalike_score), 0, 1000000, 0},
    {SEC_VERDICT, "trust_unknown_account", SY_BOOL, ST_INT, V(trust_unknown_account), 0, 1, 0},
    {SEC_VERDICT, "domain_score", SY_NUM, ST_INT, V(domain_score), 0, 1000000, 0},
    {SEC_VERDICT, "shortener_score", SY_NUM, ST_INT, V(shortener_score), 0, 1000000, 0},
    {SEC_VERDICT, "defanged_url_score", SY_NUM, ST_INT, V(defanged_url_score), 0, 1000000, 0},
    {SEC_VERDICT, "window", SY_DUR, ST_U32, V(window_s), 1, U32MAX, 1000},
    {SEC_VERDICT, "sender_max_recipients", SY_NUM, ST_UNS, V(sender_max_recipients), 0, VOLUME_MAX_THRESHOLD, 0},
    {SEC_VERDICT, "fingerprint_max_recipients", SY_NUM, ST_UNS, V(fingerprint_max_recipients), 0,
     VOLUME_MAX_THRESHOLD, 0},
    {SEC_VERDICT, "account_max_recipients", SY_NUM, ST_UNS, V(account_max_recipients), 0, VOLUME_MAX_THRESHOLD,
     0},
    {SEC_VERDICT, "fingerprint_min_len", SY_NUM, ST_UNS, V(fingerprint_min_len), 0, 100000, 0},
    {SEC_VERDICT, "volume_action", SY_ACTION, ST_ACTION, V(volume_action), 0, 0, 0},
    {SEC_VERDICT, "account_volume_action", SY_ACTION, ST_ACTION, V(account_volume_action), 0, 0, 0},
    {SEC_VERDICT, "volume_corroborate_score", SY_NUM, ST_INT, V(volume_corroborate_score), 0, 1000000, 0},
    {SEC_VERDICT, "auto_blacklist", SY_BOOL, ST_INT, V(auto_blacklist), 0, 1, 0},
    {SEC_VERDICT, "auto_blacklist_ttl", SY_DUR, ST_I64, V(auto_blacklist_ttl_s), 0, 1LL << 40, 1000},
    {SEC_VERDICT, "clear_grace", SY_DUR, ST_I64, V(clear_grace_s), 0, LISTS_CLEARED_LOOKBACK_S, 1000},
    {SEC_VERDICT, "sender_table_keys", SY_NUM, ST_SZ, V(sender_table_keys), 1, TBLMAX, 0},
    {SEC_VERDICT, "fingerprint_table_keys", SY_NUM, ST_SZ, V(fingerprint_table_keys), 1, TBLMAX, 0},
    {SEC_VERDICT, "account_table_keys", SY_NUM, ST_SZ, V(account_table_keys), 1, TBLMAX, 0},
    {SEC_VERDICT, "overlay_max", SY_NUM, ST_SZ, V(overlay_max), 1, TBLMAX, 0},
    {SEC_VERDICT, "autobl_queue_max", SY_NUM, ST_SZ, V(autobl_queue_max), 1, TBLMAX, 0},
    {SEC_VERDICT, "text_memo_entries", SY_NUM, ST_SZ, V(text_memo_entries), 0, TEXT_MEMO_MAX_ENTRIES, 0},
    {SEC_VERDICT, "country_code", SY_DIGITS, ST_DIGITS, P(country_code), 1, 3, 0},
    {SEC_VERDICT, "trunk_prefix", SY_DIGITS, ST_DIGITS, P(trunk_prefix), 0, 3, 0},
    /* [msglog]: store/msglog.h; 0 = that module's default */
    {SEC_MSGLOG, "queue_capacity", SY_NUM, ST_U64, M(queue_capacity), 0, 1LL << 24, 0},
    {SEC_MSGLOG, "batch_max", SY_NUM, ST_U64, M(batch_max), 0, CONFIG_MSGLOG_BATCH_MAX, 0},
    {SEC_MSGLOG, "batch_window", SY_DUR, ST_I64, M(batch_window_ms), 10, 60000, 1},
    {SEC_MSGLOG, "retention_days", SY_NUM, ST_I64, M(retention_days), 0, 100000, 0},
    {SEC_MSGLOG, "max_rows", SY_NUM, ST_I64, M(max_rows), 0, 1LL << 50, 0},
    {SEC_MSGLOG, "prune_every", SY_DUR, ST_I64, M(prune_every_s), 0, 86400 * 365LL, 1000},
    /* [alerts]: admin/admin-webhook.h; no webhook_url = no webhook */
    {SEC_ALERTS, "webhook_url", SY_URL, ST_PATH, A(webhook_url), 0, 0, 0},
    {SEC_ALERTS, "webhook_timeout", SY_DUR, ST_I64, A(webhook_timeout_ms), 100, 600000, 1},
    {SEC_ALERTS, "webhook_queue", SY_NUM, ST_I64, A(webhook_queue), 1, 65536, 0},
    {SEC_ALERTS, "webhook_retries", SY_NUM, ST_I64, A(webhook_retries), 0, 100, 0},
    {SEC_ALERTS, "webhook_backoff", SY_DUR, ST_I64, A(webhook_backoff_ms), 1, 600000, 1},
    /* [paths]: relative to the working directory, as on the command line */
    {SEC_PATHS, "rules", SY_PATH, ST_PATH, P(rules_dir), 0, 0, 0},
    {SEC_PATHS, "db", SY_PATH, ST_PATH, P(db_path), 0, 0, 0},
    {SEC_PATHS, "rules_cache", SY_PATH, ST_PATH, P(rules_cache), 0, 0, 0},
};

#define N_KEYS (sizeof keys / sizeof keys[0])
#define N_LINK_KEYS 4 /* the SEC_LINK rows above */

void config_default(struct config *c)
{
    memset(c, 0, sizeof *c);
    decoder_config_default(&c->decoder);
    verdict_config_default(&c->verdict);
    /* The numbering plan msisdn.h assumes when given NULL. */
    snprintf(c->country_code, sizeof c->country_code, "7");
    snprintf(c->trunk_prefix, sizeof c->trunk_prefix, "8");
    c->verdict.country_code = c->country_code;
    c->verdict.trunk_prefix = c->trunk_prefix;
    /* store/msglog.h's defaults, written out so the example shows them. */
    c->msglog.queue_capacity = 131072;
    c->msglog.batch_max = 400000;
    c->msglog.batch_window_ms = 1000;
    c->msglog.prune_every_s = 60;
    /* admin/admin-webhook.h's defaults, written out likewise. */
    c->alerts.webhook_timeout_ms = 5000;
    c->alerts.webhook_queue = 256;
    c->alerts.webhook_retries = 3;
    c->alerts.webhook_backoff_ms = 500;
}

/* ---- parse state and errors ------------------------------------------------ */

struct parse_state {
    struct config *c;
    const char *name;
    char *err;
    size_t errcap, errlen;
    unsigned n_errors;
    unsigned line;
    enum config_section sec;
    int bad_section;                          /* header had an error: skip its keys */
    int link;                                 /* index in c->decoder.links, -1 none */
    int proxy;                                /* index in c->proxies, -1 none */
    unsigned first_new_proxy;                 /* proxies from this parse start here */
    unsigned proxy_first_setting[CONFIG_MAX_PROXIES]; /* settings from this parse start here */
    unsigned key_line[N_KEYS];                /* first line of each global key */
    unsigned link_line[DECODER_MAX_LINK_CONFIGS];
    unsigned link_key_line[DECODER_MAX_LINK_CONFIGS][N_LINK_KEYS];
    unsigned first_new_link;                  /* links from this parse start here */
};

static void errf(struct parse_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errf(struct parse_state *s, const char *fmt, ...)
{
    s->n_errors++;
    if (!s->err || s->errcap == 0 || s->errlen + 1 >= s->errcap)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int w = snprintf(s->err + s->errlen, s->errcap - s->errlen, "%s:%u: %s\n", s->name, s->line, msg);
    if (w < 0)
        return;
    s->errlen += (size_t)w;
    if (s->errlen >= s->errcap) {
        /* Cut: drop the partial line so every line stays "name:line: ...". */
        s->errlen = s->errcap - 1;
        s->err[s->errlen] = '\0';
        char *nl = strrchr(s->err, '\n');
        s->errlen = nl ? (size_t)(nl - s->err) + 1 : 0;
        s->err[s->errlen] = '\0';
        s->errcap = s->errlen + 1; /* nothing more fits */
    }
}

/* Copies an input token for a message: at most 64 bytes, anything not
 * printable ASCII as '?', so a hostile file cannot put control bytes on
 * the operator's terminal. */
static const char *shown(const char *p, size_t n, char buf[72])
{
    size_t k = n > 64 ? 64 : n, i;
    for (i = 0; i < k; i++)
        buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    if (n > k) {
        buf[i++] = '.';
        buf[i++] = '.';
        buf[i++] = '.';
    }
    buf[i] = '\0';
    return buf;
}

/* ---- values ------------------------------------------------------------------ */

static bool is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* Parses [-]digits followed by a suffix into *num and *suffix (start). */
static int parse_int(const char *v, long long *num, const char **suffix)
{
    const char *p = v;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (!isdigit((unsigned char)*p))
        return -1;
    unsigned long long acc = 0;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (acc > (ULLONG_MAX - d) / 10 || acc * 10 + d > (unsigned long long)LLONG_MAX)
            return -1;
        acc = acc * 10 + d;
        p++;
    }
    *num = neg ? -(long long)acc : (long long)acc;
    *suffix = p;
    return 0;
}

static int mul_checked(long long *v, long long m)
{
    if (*v > LLONG_MAX / m || *v < LLONG_MIN / m)
        return -1;
    *v *= m;
    return 0;
}

struct name_val {
    const char *name;
    int val;
};

static const struct name_val charsets[] = {{"gsm", SMS_CS_GSM}, {"latin1", SMS_CS_LATIN1}, {"ascii", SMS_CS_ASCII}};
static const struct name_val msgids[] = {{"auto", DECODER_MSGID_AUTO},
                                         {"same", DECODER_MSGID_SAME},
                                         {"hex-dec", DECODER_MSGID_HEX_DEC},
                                         {"dec-hex", DECODER_MSGID_DEC_HEX}};
static const struct name_val actions[] = {{"allow", VERDICT_ALLOW}, {"flag", VERDICT_FLAG}, {"block", VERDICT_BLOCK}};
static const struct name_val bools[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0},
                                        {"on", 1},   {"off", 0},   {"1", 1},    {"0", 0}};

int config_bool(const char *v, int *out)
{
    for (size_t i = 0; i < SG_ARRAY_LEN(bools); i++)
        if (strcasecmp(bools[i].name, v) == 0) {
            *out = bools[i].val;
            return 0;
        }
    return -1;
}

static int lookup(const struct name_val *t, size_t n, const char *v, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, v) == 0) {
            *out = t[i].val;
            return 0;
        }
    return -1;
}

static const char *name_of(const struct name_val *t, size_t n, int val)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].val == val)
            return t[i].name;
    return "?";
}

/* Converts a value per the key's syntax and stores it at base + k->off.
 * On error writes a message into msg and returns -1; nothing is stored. */
static int apply_value(const struct config_key *k, void *base, const char *v, char *msg, size_t msgcap)
{
    char *dst = (char *)base + k->off;
    long long num = 0;
    int e = 0;
    const char *suf = NULL;
    switch (k->syn) {
    case SY_NUM:
    case SY_SIZE:
    case SY_DUR:
        if (parse_int(v, &num, &suf) != 0 || (num < 0 && k->min >= 0)) {
            snprintf(msg, msgcap, "'%s' is not a %snumber", v, k->min >= 0 ? "non-negative " : "");
            return -1;
        }
        if (k->syn == SY_SIZE) {
            long long m = 1;
            if (*suf == 'k' || *suf == 'K') m = 1LL << 10, suf++;
            else if (*suf == 'm' || *suf == 'M') m = 1LL << 20, suf++;
            else if (*suf == 'g' || *suf == 'G') m = 1LL << 30, suf++;
            if (*suf || mul_checked(&num, m) != 0) {
                snprintf(msg, msgcap, "'%s' is not a size (a number with an optional K, M or G suffix)", v);
                return -1;
            }
        } else if (k->syn == SY_DUR) {
            long long ms_per;
            if (*suf == '\0' || strcmp(suf, "s") == 0) ms_per = 1000;
            else if (strcmp(suf, "ms") == 0) ms_per = 1;
            else if (strcmp(suf, "m") == 0) ms_per = 60000;
            else if (strcmp(suf, "h") == 0) ms_per = 3600000;
            else if (strcmp(suf, "d") == 0) ms_per = 86400000;
            else {
                snprintf(msg, msgcap, "'%s' is not a duration (a number with an optional ms, s, m, h or d suffix)", v);
                return -1;
            }
            if (mul_checked(&num, ms_per) != 0) {
                snprintf(msg, msgcap, "'%s' is out of range", v);
                return -1;
            }
            if (num % k->dur_unit_ms != 0) {
                snprintf(msg, msgcap, "'%s' is not a whole number of %s", v, k->dur_unit_ms == 1000 ? "seconds" : "ms");
                return -1;
            }
            num /= k->dur_unit_ms;
        } else if (*suf) {
            snprintf(msg, msgcap, "'%s' is not a number", v);
            return -1;
        }
        if (num < k->min || num > k->max) {
            snprintf(msg, msgcap, "'%s' is out of range (%lld..%lld%s)", v, k->min, k->max,
                     k->syn == SY_DUR ? (k->dur_unit_ms == 1000 ? " s" : " ms") : "");
            return -1;
        }
        break;
    case SY_BOOL:
        e = config_bool(v, (int *)&num);
        if (e) {
            snprintf(msg, msgcap, "'%s' is not a boolean (true, false, yes, no, on, off, 1, 0)", v);
            return -1;
        }
        break;
    case SY_CHARSET: {
        int x;
        if (lookup(charsets, SG_ARRAY_LEN(charsets), v, &x) != 0) {
            snprintf(msg, msgcap, "unknown charset '%s' (gsm, latin1, ascii)", v);
            return -1;
        }
        num = x;
        break;
    }
    case SY_MSGID: {
        int x;
        if (lookup(msgids, SG_ARRAY_LEN(msgids), v, &x) != 0) {
            snprintf(msg, msgcap, "unknown message id format '%s' (auto, same, hex-dec, dec-hex)", v);
            return -1;
        }
        num = x;
        break;
    }
    case SY_ACTION: {
        int x;
        if (lookup(actions, SG_ARRAY_LEN(actions), v, &x) != 0) {
            snprintf(msg, msgcap, "unknown action '%s' (allow, flag, block)", v);
            return -1;
        }
        num = x;
        break;
    }
    case SY_PATH:
        if (!*v || strlen(v) >= CONFIG_PATH_MAX) {
            snprintf(msg, msgcap, "a path must have 1 to %d bytes", CONFIG_PATH_MAX - 1);
            return -1;
        }
        memcpy(dst, v, strlen(v) + 1);
        return 0;
    case SY_URL: {
        size_t n = strlen(v), h = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;
        bool ok = h && n > h && v[h] != '/' && n < CONFIG_PATH_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)v[i] > 0x20 && v[i] != 0x7f;
        if (!ok) {
            snprintf(msg, msgcap, "'%s' is not an http:// or https:// URL (no spaces, at most %d bytes)", v,
                     CONFIG_PATH_MAX - 1);
            return -1;
        }
        memcpy(dst, v, n + 1);
        return 0;
    }
    case SY_DIGITS: {
        size_t n = strlen(v);
        bool ok = n >= (size_t)k->min && n <= (size_t)k->max;
        for (size_t i = 0; ok && i < n; i++)
            ok = isdigit((unsigned char)v[i]) != 0;
        if (!ok) {
            snprintf(msg, msgcap, "'%s' is not %lld to %lld digits", v, k->min, k->max);
            return -1;
        }
        memcpy(dst, v, n + 1);
        return 0;
    }
    }
    switch (k->st) {
    case ST_U8: *(uint8_t *)dst = (uint8_t)num; break;
    case ST_U32: *(uint32_t *)dst = (uint32_t)num; break;
    case ST_UNS: *(unsigned *)dst = (unsigned)num; break;
    case ST_INT: *(int *)dst = (int)num; break;
    case ST_U64: *(uint64_t *)dst = (uint64_t)num; break;
    case ST_I64: *(int64_t *)dst = (int64_t)num; break;
    case ST_SZ: *(size_t *)dst = (size_t)num; break;
    case ST_PACKING: *(enum sms_gsm_packing *)dst = num ? SMS_GSM_PACKED : SMS_GSM_UNPACKED; break;
    case ST_MSGID: *(enum decoder_msgid_format *)dst = (enum decoder_msgid_format)num; break;
    case ST_ACTION: *(enum verdict_action *)dst = (enum verdict_action)num; break;
    case ST_PATH:
    case ST_DIGITS: break; /* stored above */
    }
    return 0;
}

static long long stored_value(const struct config_key *k, const void *base)
{
    const char *p = (const char *)base + k->off;
    switch (k->st) {
    case ST_U8: return *(const uint8_t *)p;
    case ST_U32: return *(const uint32_t *)p;
    case ST_UNS: return *(const unsigned *)p;
    case ST_INT: return *(const int *)p;
    case ST_U64: return (long long)*(const uint64_t *)p;
    case ST_I64: return *(const int64_t *)p;
    case ST_SZ: return (long long)*(const size_t *)p;
    case ST_PACKING: return *(const enum sms_gsm_packing *)p == SMS_GSM_PACKED;
    case ST_MSGID: return (long long)*(const enum decoder_msgid_format *)p;
    case ST_ACTION: return (long long)*(const enum verdict_action *)p;
    case ST_PATH:
    case ST_DIGITS: return 0;
    }
    return 0;
}

/* ---- endpoints of [link "..."] ----------------------------------------------- */


/* ---- [proxy "NAME"] ------------------------------------------------------------- */

/* The header's quoted name runs from n0 to its closing quote before close. */
static void proxy_section(struct parse_state *s, const char *n0, const char *close)
{
    char b[72];
    const char *n1 = memchr(n0, '"', (size_t)(close - n0));
    if (!n1 || n1 == n0 || (size_t)(n1 - n0) >= CONFIG_PROXY_NAME_MAX) {
        errf(s, "a proxy name has 1 to %d characters", CONFIG_PROXY_NAME_MAX - 1);
        return;
    }
    for (const char *t = n0; t < n1; t++)
        if (!(isalnum((unsigned char)*t) || *t == '_' || *t == '-' || *t == '.')) {
            errf(s, "proxy name '%s': letters, digits, '_', '-' and '.' only", shown(n0, (size_t)(n1 - n0), b));
            return;
        }
    for (const char *t = n1 + 1; t < close; t++)
        if (!is_blank(*t)) {
            errf(s, "text after the proxy name");
            return;
        }
    size_t n = (size_t)(n1 - n0);
    for (unsigned i = 0; i < s->c->n_proxies; i++) {
        struct config_proxy *x = &s->c->proxies[i];
        if (strlen(x->name) == n && memcmp(x->name, n0, n) == 0) {
            if (i >= s->first_new_proxy)
                errf(s, "proxy '%s' already defined at line %u", x->name, x->line);
            else { /* from an earlier parse (another file): this one adds to it */
                s->proxy = (int)i, s->sec = SEC_PROXY, s->bad_section = 0;
                s->proxy_first_setting[i] = x->n;
            }
            return;
        }
    }
    if (s->c->n_proxies == CONFIG_MAX_PROXIES) {
        errf(s, "more than %d proxies", CONFIG_MAX_PROXIES);
        return;
    }
    struct config_proxy *x = &s->c->proxies[s->c->n_proxies];
    memset(x, 0, sizeof *x);
    memcpy(x->name, n0, n);
    x->line = s->line;
    s->proxy_first_setting[s->c->n_proxies] = 0;
    s->proxy = (int)s->c->n_proxies++;
    s->sec = SEC_PROXY;
    s->bad_section = 0;
}

/* Keys of a [proxy] section compare with '_' and '-' alike: block_status
 * and block-status are one key. */
static bool proxy_key_eq(const char *k, const char *key, size_t klen)
{
    size_t j = 0;
    for (; j < klen && k[j]; j++)
        if (k[j] != key[j] && !((k[j] == '_' || k[j] == '-') && (key[j] == '_' || key[j] == '-')))
            return false;
    return j == klen && !k[j];
}

/* A setting of a [proxy] section, kept as written (see config.h). */
static void proxy_setting(struct parse_state *s, const char *key, size_t klen, const char *val)
{
    char b[72];
    struct config_proxy *x = &s->c->proxies[s->proxy];
    if (klen >= sizeof x->set[0].key || strlen(val) >= CONFIG_PROXY_VALUE_MAX) {
        errf(s, "'%s': key or value too long (at most %zu and %d bytes)", shown(key, klen, b),
             sizeof x->set[0].key - 1, CONFIG_PROXY_VALUE_MAX - 1);
        return;
    }
    /* Twice in this file is a mistake; a later file may override. */
    for (unsigned i = s->proxy_first_setting[s->proxy]; i < x->n; i++)
        if (proxy_key_eq(x->set[i].key, key, klen)) {
            errf(s, "duplicate key '%s' (first set at line %u)", x->set[i].key, x->set[i].line);
            return;
        }
    if (x->n == CONFIG_PROXY_MAX_SETTINGS) {
        errf(s, "more than %d settings in [proxy \"%s\"]", CONFIG_PROXY_MAX_SETTINGS, x->name);
        return;
    }
    struct config_proxy_setting *st = &x->set[x->n++];
    memcpy(st->key, key, klen);
    st->key[klen] = '\0';
    memcpy(st->value, val, strlen(val) + 1);
    st->line = s->line;
}

/* ---- lines --------------------------------------------------------------------- */

static void section_line(struct parse_state *s, const char *p, const char *end)
{
    char b[72];
    s->sec = SEC_NONE;
    s->link = -1;
    s->proxy = -1;
    s->bad_section = 1; /* until the header is known good */
    const char *close = memchr(p, ']', (size_t)(end - p));
    /* A quoted link address may not contain ']' but an IPv6 one does:
     * find the closing bracket after the closing quote. */
    const char *q1 = memchr(p, '"', (size_t)(end - p));
    if (q1) {
        const char *q2 = memchr(q1 + 1, '"', (size_t)(end - q1 - 1));
        close = q2 ? memchr(q2, ']', (size_t)(end - q2)) : NULL;
    }
    if (!close) {
        errf(s, "section header without ']'");
        return;
    }
    for (const char *t = close + 1; t < end; t++) {
        if (*t == '#' || *t == ';')
            break;
        if (!is_blank(*t)) {
            errf(s, "text after the section header");
            return;
        }
    }
    const char *n0 = p + 1, *n1 = q1 ? q1 : close;
    while (n0 < n1 && is_blank(*n0))
        n0++;
    while (n1 > n0 && is_blank(n1[-1]))
        n1--;
    for (int i = 0; i < SEC_COUNT; i++) {
        if (strlen(section_names[i]) == (size_t)(n1 - n0) && memcmp(section_names[i], n0, (size_t)(n1 - n0)) == 0) {
            int named = i == SEC_LINK || i == SEC_PROXY;
            if (named != (q1 != NULL)) {
                errf(s, i == SEC_LINK    ? "expected [link \"ADDRESS[:PORT]\"]"
                        : i == SEC_PROXY ? "expected [proxy \"NAME\"]"
                                         : "[%s] takes no address",
                     section_names[i]);
                return;
            }
            if (i == SEC_PROXY) {
                proxy_section(s, q1 + 1, close);
                return;
            }
            if (i != SEC_LINK) {
                s->sec = (enum config_section)i;
                s->bad_section = 0;
                return;
            }
            const char *a0 = q1 + 1, *a1 = memchr(a0, '"', (size_t)(close - a0));
            char addr[96];
            if (!a1 || (size_t)(a1 - a0) >= sizeof addr) {
                errf(s, "bad link address");
                return;
            }
            for (const char *t = a1 + 1; t < close; t++)
                if (!is_blank(*t)) {
                    errf(s, "text after the link address");
                    return;
                }
            memcpy(addr, a0, (size_t)(a1 - a0));
            addr[a1 - a0] = '\0';
            struct sg_endpoint ep;
            if (sg_endpoint_parse(addr, &ep) != 0) {
                errf(s, "'%s' is not an address (a.b.c.d[:port] or [v6][:port])", shown(addr, strlen(addr), b));
                return;
            }
            struct decoder_config *dc = &s->c->decoder;
            for (unsigned l = 0; l < dc->n_links; l++) {
                if (memcmp(dc->links[l].smsc.addr, ep.addr, 16) == 0 && dc->links[l].smsc.port == ep.port) {
                    if (l >= s->first_new_link)
                        errf(s, "link '%s' already defined at line %u", shown(addr, strlen(addr), b), s->link_line[l]);
                    else /* from an earlier parse (another file): this one refines it */
                        s->link = (int)l, s->sec = SEC_LINK, s->bad_section = 0;
                    return;
                }
            }
            if (dc->n_links == DECODER_MAX_LINK_CONFIGS) {
                errf(s, "more than %d links", DECODER_MAX_LINK_CONFIGS);
                return;
            }
            unsigned l = dc->n_links++;
            memset(&dc->links[l], 0, sizeof dc->links[l]);
            dc->links[l].smsc = ep;
            s->link_line[l] = s->line;
            s->link = (int)l;
            s->sec = SEC_LINK;
            s->bad_section = 0;
            return;
        }
    }
    errf(s, "unknown section [%s] (decoder, link \"ADDRESS\", verdict, msglog, alerts, paths, proxy \"NAME\")",
         shown(n0, (size_t)(n1 - n0), b));
}

static void setting_line(struct parse_state *s, const char *p, const char *end)
{
    char b[72], b2[72];
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq) {
        errf(s, "expected 'key = value', '[section]' or a comment");
        return;
    }
    const char *k1 = eq;
    while (k1 > p && is_blank(k1[-1]))
        k1--;
    for (const char *t = p; t < k1; t++)
        if (!(isalnum((unsigned char)*t) || *t == '_' || *t == '-')) {
            errf(s, "bad key '%s'", shown(p, (size_t)(k1 - p), b));
            return;
        }
    if (k1 == p) {
        errf(s, "missing key before '='");
        return;
    }
    /* The value: quoted or bare. */
    char val[CONFIG_MAX_LINE];
    size_t vn = 0;
    const char *v = eq + 1;
    while (v < end && is_blank(*v))
        v++;
    const char *rest;
    if (v < end && *v == '"') {
        const char *t = v + 1;
        for (; t < end && *t != '"'; t++) {
            if (*t == '\\' && t + 1 < end && (t[1] == '"' || t[1] == '\\'))
                t++;
            val[vn++] = *t;
        }
        if (t >= end) {
            errf(s, "unterminated quoted value");
            return;
        }
        rest = t + 1;
    } else {
        const char *t = v;
        while (t < end && !((*t == '#' || *t == ';') && (t == v || is_blank(t[-1]))))
            t++;
        const char *ve = t;
        while (ve > v && is_blank(ve[-1]))
            ve--;
        memcpy(val, v, (size_t)(ve - v));
        vn = (size_t)(ve - v);
        rest = t;
        if (vn == 0) {
            errf(s, "missing value for '%s'", shown(p, (size_t)(k1 - p), b));
            return;
        }
    }
    val[vn] = '\0';
    for (const char *t = rest; t < end; t++) {
        if (*t == '#' || *t == ';')
            break;
        if (!is_blank(*t)) {
            errf(s, "text after the quoted value");
            return;
        }
    }
    if (memchr(val, '\0', vn)) {
        errf(s, "NUL byte in the value");
        return;
    }
    if (s->bad_section)
        return; /* the header's error was reported; one per section is enough */
    if (s->sec == SEC_NONE) {
        errf(s, "'%s' outside a section", shown(p, (size_t)(k1 - p), b));
        return;
    }
    size_t klen = (size_t)(k1 - p);
    if (s->sec == SEC_PROXY) {
        proxy_setting(s, p, klen, val);
        return;
    }
    unsigned link_idx = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct config_key *k = &keys[i];
        if (k->sec == SEC_LINK)
            link_idx++;
        if (k->sec != s->sec || strlen(k->name) != klen || memcmp(k->name, p, klen) != 0)
            continue;
        unsigned *first = k->sec == SEC_LINK ? &s->link_key_line[s->link][link_idx - 1] : &s->key_line[i];
        if (*first) {
            errf(s, "duplicate key '%s' (first set at line %u)", k->name, *first);
            return;
        }
        void *base = k->sec == SEC_LINK ? (void *)&s->c->decoder.links[s->link] : (void *)s->c;
        char msg[CONFIG_MAX_LINE + 160];
        if (apply_value(k, base, val, msg, sizeof msg) != 0) {
            errf(s, "%s: %s", k->name, shown(msg, strlen(msg), b2));
            return;
        }
        *first = s->line;
        return;
    }
    errf(s, "unknown key '%s' in [%s]", shown(p, klen, b), section_names[s->sec]);
}

int config_parse(struct config *c, const char *name, const char *text, size_t len, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!c || !name || (!text && len) || len > CONFIG_MAX_BYTES)
        return SG_EINVAL;
    /* Large (about 8 KB of line tables): on the heap, not the stack. */
    struct parse_state *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->c = c;
    s->name = name;
    s->err = err;
    s->errcap = errcap;
    s->sec = SEC_NONE;
    s->link = -1;
    s->proxy = -1;
    s->first_new_link = c->decoder.n_links;
    s->first_new_proxy = c->n_proxies;
    const char *p = text, *end = text + len;
    /* Bound: one pass over the input; each line does O(keys + links). */
    while (p < end) {
        s->line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r')
            le--;
        if ((size_t)(le - p) >= CONFIG_MAX_LINE) {
            errf(s, "line longer than %d bytes", CONFIG_MAX_LINE - 1);
            p = next;
            continue;
        }
        if (memchr(p, '\0', (size_t)(le - p))) {
            errf(s, "NUL byte in the line");
            p = next;
            continue;
        }
        while (p < le && is_blank(*p))
            p++;
        if (p == le || *p == '#' || *p == ';')
            ;
        else if (*p == '[')
            section_line(s, p, le);
        else
            setting_line(s, p, le);
        p = next;
    }
    /* Cross-field checks, reported at the line of the later key. */
    size_t i_flag = 0, i_block = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].sec == SEC_VERDICT && strcmp(keys[i].name, "flag_at") == 0)
            i_flag = i;
        if (keys[i].sec == SEC_VERDICT && strcmp(keys[i].name, "block_at") == 0)
            i_block = i;
    }
    if ((s->key_line[i_flag] || s->key_line[i_block]) && c->verdict.block_at < c->verdict.flag_at) {
        s->line = s->key_line[i_flag] > s->key_line[i_block] ? s->key_line[i_flag] : s->key_line[i_block];
        errf(s, "block_at (%d) is below flag_at (%d)", c->verdict.block_at, c->verdict.flag_at);
    }
    /* New links take the [decoder] text and msgid defaults for whatever
     * they do not set, wherever [decoder] appears in the file. */
    for (unsigned l = s->first_new_link; l < c->decoder.n_links; l++) {
        struct decoder_link_config *lc = &c->decoder.links[l];
        unsigned *kl = s->link_key_line[l];
        if (!kl[0]) lc->text.dc0_charset = c->decoder.text.dc0_charset;
        if (!kl[1]) lc->text.gsm_packing = c->decoder.text.gsm_packing;
        if (!kl[2]) lc->text.dc1_gsm = c->decoder.text.dc1_gsm;
        if (!kl[3]) lc->msgid_format = c->decoder.msgid_format;
    }
    c->verdict.country_code = c->country_code;
    c->verdict.trunk_prefix = c->trunk_prefix;
    int rc = s->n_errors ? SG_EPARSE : 0;
    free(s);
    return rc;
}

/* ---- formatting ------------------------------------------------------------------ */

struct outbuf {
    char *p;
    size_t cap, len;
};

static void outf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct outbuf *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->len < o->cap ? o->p + o->len : NULL, o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (w > 0)
        o->len += (size_t)w;
}

static void format_value(struct outbuf *o, const struct config_key *k, const void *base)
{
    long long v = stored_value(k, base);
    switch (k->syn) {
    case SY_NUM: outf(o, "%lld", v); break;
    case SY_SIZE:
        if (v && v % (1LL << 30) == 0) outf(o, "%lldG", v >> 30);
        else if (v && v % (1LL << 20) == 0) outf(o, "%lldM", v >> 20);
        else if (v && v % (1LL << 10) == 0) outf(o, "%lldK", v >> 10);
        else outf(o, "%lld", v);
        break;
    case SY_DUR: {
        long long ms = v * k->dur_unit_ms;
        if (ms && ms % 86400000 == 0) outf(o, "%lldd", ms / 86400000);
        else if (ms && ms % 3600000 == 0) outf(o, "%lldh", ms / 3600000);
        else if (ms && ms % 60000 == 0) outf(o, "%lldm", ms / 60000);
        else if (ms % 1000 == 0) outf(o, "%llds", ms / 1000);
        else outf(o, "%lldms", ms);
        break;
    }
    case SY_BOOL: outf(o, "%s", v ? "true" : "false"); break;
    case SY_CHARSET: outf(o, "%s", name_of(charsets, SG_ARRAY_LEN(charsets), (int)v)); break;
    case SY_MSGID: outf(o, "%s", name_of(msgids, SG_ARRAY_LEN(msgids), (int)v)); break;
    case SY_ACTION: outf(o, "%s", name_of(actions, SG_ARRAY_LEN(actions), (int)v)); break;
    case SY_PATH:
    case SY_URL:
    case SY_DIGITS: {
        const char *str = (const char *)base + k->off;
        outf(o, "\"");
        for (; *str; str++)
            outf(o, *str == '"' || *str == '\\' ? "\\%c" : "%c", *str);
        outf(o, "\"");
        break;
    }
    }
}

size_t config_format(const struct config *c, char *out, size_t cap)
{
    struct outbuf o = {out, cap, 0};
    if (out && cap)
        out[0] = '\0';
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        if (sec == SEC_LINK) {
            for (unsigned l = 0; l < c->decoder.n_links; l++) {
                char ep[SG_ENDPOINT_STRLEN];
                const struct decoder_link_config *lc = &c->decoder.links[l];
                sg_endpoint_format(&lc->smsc, ep, sizeof ep);
                if (lc->smsc.port == 0) { /* "a.b.c.d:0" / "[v6]:0" -> without the port */
                    char *colon = strrchr(ep, ':');
                    if (colon)
                        *colon = '\0';
                }
                outf(&o, "\n[link \"%s\"]\n", ep);
                for (size_t i = 0; i < N_KEYS; i++)
                    if (keys[i].sec == SEC_LINK) {
                        outf(&o, "%s = ", keys[i].name);
                        format_value(&o, &keys[i], lc);
                        outf(&o, "\n");
                    }
            }
            continue;
        }
        if (sec == SEC_PROXY) {
            for (unsigned x = 0; x < c->n_proxies; x++) {
                const struct config_proxy *px = &c->proxies[x];
                outf(&o, "\n[proxy \"%s\"]\n", px->name);
                for (unsigned i = 0; i < px->n; i++) {
                    outf(&o, "%s = \"", px->set[i].key);
                    for (const char *str = px->set[i].value; *str; str++)
                        outf(&o, *str == '"' || *str == '\\' ? "\\%c" : "%c", *str);
                    outf(&o, "\"\n");
                }
            }
            continue;
        }
        outf(&o, "%s[%s]\n", sec ? "\n" : "", section_names[sec]);
        for (size_t i = 0; i < N_KEYS; i++) {
            if ((int)keys[i].sec != sec)
                continue;
            if ((keys[i].syn == SY_PATH || keys[i].syn == SY_URL) && !((const char *)c + keys[i].off)[0]) {
                outf(&o, "# %s = (not set)\n", keys[i].name);
                continue;
            }
            outf(&o, "%s = ", keys[i].name);
            format_value(&o, &keys[i], c);
            outf(&o, "\n");
        }
    }
    return o.len;
}
