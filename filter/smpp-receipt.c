/* Delivery receipt text parser (SMPP v3.4 Appendix B) and message id
 * normalisation. */
#include "smpp-receipt.h"

#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Case-insensitive prefix match of a lowercase key of known length. */
static size_t match_key(const uint8_t *p, size_t avail, const char *key, size_t n)
{
    if (n > avail)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != key[i])
            return 0;
    return n;
}

enum { R_ID, R_SUB, R_DLVRD, R_SUBMIT, R_DONE, R_STAT, R_ERR, R_TEXT };

#define RK(s, f) {s, sizeof(s) - 1, f}
/* Keys as SMSCs write them (lowercase; matched case-insensitively).  Longer
 * spellings of the same field first. */
static const struct {
    const char *key;
    size_t len;
    int field;
} receipt_keys[] = {
    RK("id:", R_ID),
    RK("sub:", R_SUB),
    RK("dlvrd:", R_DLVRD),
    RK("submit date:", R_SUBMIT),
    RK("submit_date:", R_SUBMIT),
    RK("submitdate:", R_SUBMIT),
    RK("done date:", R_DONE),
    RK("done_date:", R_DONE),
    RK("donedate:", R_DONE),
    RK("stat:", R_STAT),
    RK("err:", R_ERR),
    RK("text:", R_TEXT),
};
#undef RK

static int is_blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* The key starting at p, by its first letter: a receipt is parsed once per
 * deliver_sm on the decode path, so a word is compared only with the keys
 * that can match it. */
static int find_key(const uint8_t *p, size_t avail, size_t *klen)
{
    int c = lower(p[0]);
    if (c != 'i' && c != 's' && c != 'd' && c != 'e' && c != 't')
        return -1;
    for (size_t k = 0; k < SG_ARRAY_LEN(receipt_keys); k++) {
        if (receipt_keys[k].key[0] != c)
            continue;
        *klen = match_key(p, avail, receipt_keys[k].key, receipt_keys[k].len);
        if (*klen)
            return receipt_keys[k].field;
    }
    return -1;
}

int smpp_receipt_parse(const uint8_t *text, size_t len, struct smpp_receipt *out)
{
    memset(out, 0, sizeof(*out));
    struct sg_view *slot[] = {&out->id,        &out->sub,  &out->dlvrd, &out->submit_date,
                              &out->done_date, &out->stat, &out->err,   &out->text};
    /* Work bound: O(len), each word start compared with the few keys that
     * share its first letter. */
    size_t i = 0;
    while (i < len) {
        size_t klen = 0;
        int field = find_key(text + i, len - i, &klen);
        if (field < 0) {
            /* Not a key: on to the next word (keys start a word). */
            while (i < len && !is_blank(text[i]))
                i++;
            while (i < len && is_blank(text[i]))
                i++;
            continue;
        }
        size_t v = i + klen;
        if (field == R_TEXT) {
            /* text: runs to the end: it is a copy of the message, and
             * anything looking like a key inside it is content. */
            size_t e = len;
            while (e > v && text[e - 1] == 0)
                e--;
            if (!out->text.p)
                out->text = (struct sg_view){text + v, e - v};
            break;
        }
        size_t e = v;
        while (e < len && !is_blank(text[e]) && text[e] != 0)
            e++;
        if (!slot[field]->p)
            *slot[field] = (struct sg_view){text + v, e - v};
        i = e;
    }
    return (out->id.p || out->stat.p) ? 0 : SG_ENOTFOUND;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil; exact for all years here). */
static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + (int64_t)doe - 719468;
}

int smpp_receipt_date(struct sg_view date, int64_t *unix_seconds)
{
    if (!date.p || (date.len != 10 && date.len != 12))
        return SG_EINVAL;
    unsigned f[6] = {0};
    for (size_t i = 0; i < date.len; i++) {
        if (date.p[i] < '0' || date.p[i] > '9')
            return SG_EINVAL;
        f[i / 2] = f[i / 2] * 10 + (unsigned)(date.p[i] - '0');
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = (int)(f[0] < 70 ? 2000 + f[0] : 1900 + f[0]);
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > mdays[f[1] - 1] || f[3] > 23 || f[4] > 59 ||
        f[5] > 60)
        return SG_EINVAL;
    if (f[1] == 2 && f[2] == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return SG_EINVAL;
    *unix_seconds = days_from_civil(year, f[1], f[2]) * 86400 + f[3] * 3600 + f[4] * 60 + f[5];
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int smpp_msgid_normalise(struct sg_view id, enum smpp_msgid_format fmt, char *out, size_t cap)
{
    if (!id.p || id.len == 0)
        return SG_EINVAL;
    if (fmt == SMPP_MSGID_HEX || fmt == SMPP_MSGID_DEC) {
        unsigned base = fmt == SMPP_MSGID_HEX ? 16 : 10;
        uint64_t v = 0;
        int ok = 1;
        for (size_t i = 0; i < id.len && ok; i++) {
            int d = hexval(id.p[i]);
            if (d < 0 || (unsigned)d >= base || v > (UINT64_MAX - (unsigned)d) / base)
                ok = 0;
            else
                v = v * base + (unsigned)d;
        }
        if (ok) {
            char tmp[24];
            size_t n = 0;
            do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            if (n + 1 > cap)
                return SG_ENOSPC;
            for (size_t i = 0; i < n; i++)
                out[i] = tmp[n - 1 - i];
            out[n] = 0;
            return (int)n;
        }
    }
    if (id.len + 1 > cap || id.len > INT32_MAX)
        return SG_ENOSPC;
    for (size_t i = 0; i < id.len; i++)
        out[i] = (char)lower(id.p[i]);
    out[id.len] = 0;
    return (int)id.len;
}
