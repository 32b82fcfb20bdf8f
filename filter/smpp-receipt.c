/* Delivery receipt text parser (SMPP v3.4 Appendix B) and message id
 * normalisation. */
#include "smpp-receipt.h"

#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

enum { R_ID, R_SUB, R_DLVRD, R_SUBMIT, R_DONE, R_STAT, R_ERR, R_TEXT };

/* Keys as SMSCs write them, matched case-insensitively: fold is 0x20 where
 * the key has a lowercase letter (p | 0x20 equals it exactly when p is that
 * letter in either case) and 0 where the octet must match as is.
 * Grouped by first letter (the switch in find_key); within a group, longer
 * spellings of the same field first. */
struct receipt_key {
    char key[16];
    uint8_t len;
    uint8_t field;
    char fold[16];
};

#define L 0x20
static const struct receipt_key receipt_keys[] = {
    {"dlvrd:", 6, R_DLVRD, {L, L, L, L, L, 0}},
    {"done date:", 10, R_DONE, {L, L, L, L, 0, L, L, L, L, 0}},
    {"done_date:", 10, R_DONE, {L, L, L, L, 0, L, L, L, L, 0}},
    {"donedate:", 9, R_DONE, {L, L, L, L, L, L, L, L, 0}},
    {"err:", 4, R_ERR, {L, L, L, 0}},
    {"id:", 3, R_ID, {L, L, 0}},
    {"sub:", 4, R_SUB, {L, L, L, 0}},
    {"submit date:", 12, R_SUBMIT, {L, L, L, L, L, L, 0, L, L, L, L, 0}},
    {"submit_date:", 12, R_SUBMIT, {L, L, L, L, L, L, 0, L, L, L, L, 0}},
    {"submitdate:", 11, R_SUBMIT, {L, L, L, L, L, L, L, L, L, L, 0}},
    {"stat:", 5, R_STAT, {L, L, L, L, 0}},
    {"text:", 5, R_TEXT, {L, L, L, L, 0}},
};
#undef L

/* Octet classes: a value ends at a blank or a NUL, a word at a blank. */
#define C_BLANK 1u
#define C_NUL 2u
static const uint8_t octet_class[256] = {
    [' '] = C_BLANK, ['\t'] = C_BLANK, ['\r'] = C_BLANK, ['\n'] = C_BLANK, [0] = C_NUL,
};

/* The key starting at p: a receipt is parsed once per deliver_sm on the
 * decode path, so a word is compared only with the keys that share its
 * first letter (in either case). */
static int find_key(const uint8_t *p, size_t avail, size_t *klen)
{
    size_t k, kend;
    switch (p[0] | 0x20) {
    case 'd': k = 0, kend = 4; break;
    case 'e': k = 4, kend = 5; break;
    case 'i': k = 5, kend = 6; break;
    case 's': k = 6, kend = 11; break;
    case 't': k = 11, kend = 12; break;
    default: return -1;
    }
    if (avail >= 16) {
        /* Sixteen octets of text at hand: each key is two word compares
         * (keys are at most 12 octets; care masks off the octets past it). */
        uint64_t p0 = sg_load_le64(p), p1 = sg_load_le64(p + 8);
        for (; k < kend; k++) {
            const struct receipt_key *rk = &receipt_keys[k];
            unsigned n = rk->len;
            uint64_t care0 = n >= 8 ? ~0ULL : (1ULL << 8 * n) - 1;
            uint64_t care1 = n <= 8 ? 0 : (1ULL << 8 * (n - 8)) - 1;
            if ((((p0 | sg_load_le64((const uint8_t *)rk->fold)) ^ sg_load_le64((const uint8_t *)rk->key)) &
                 care0) == 0 &&
                (((p1 | sg_load_le64((const uint8_t *)rk->fold + 8)) ^
                  sg_load_le64((const uint8_t *)rk->key + 8)) &
                 care1) == 0) {
                *klen = n;
                return rk->field;
            }
        }
        return -1;
    }
    for (; k < kend; k++) {
        const struct receipt_key *rk = &receipt_keys[k];
        size_t n = rk->len, i = 1;
        if (n > avail)
            continue;
        while (i < n && (uint8_t)(p[i] | rk->fold[i]) == (uint8_t)rk->key[i])
            i++;
        if (i == n) {
            *klen = n;
            return rk->field;
        }
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
            while (i < len && !(octet_class[text[i]] & C_BLANK))
                i++;
            while (i < len && (octet_class[text[i]] & C_BLANK))
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
        while (e < len && !octet_class[text[e]])
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
