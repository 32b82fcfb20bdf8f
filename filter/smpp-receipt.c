/* Delivery receipt text parser (SMPP v3.4 Appendix B) and message id
 * normalisation. */
#include "smpp-receipt.h"

#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

enum { R_ID, R_SUB, R_DLVRD, R_SUBMIT, R_DONE, R_STAT, R_ERR, R_TEXT };

/* Keys as SMSCs write them, matched case-insensitively, as little-endian
 * words of their octets (zero past the key): fold is 0x20 where the key
 * has a lowercase letter (p | 0x20 equals it exactly when p is that letter
 * in either case) and 0 where the octet must match as is, so a text word w
 * matches when (w | fold) & care(len) == key. */
struct receipt_key {
    uint64_t key[2], fold[2];
    uint8_t field;
};

#define RK_OCT(c, i) ((uint64_t)(uint8_t)(c) << 8 * (i))
#define RK_FOLD(c, i) ((uint64_t)((c) >= 'a' && (c) <= 'z' ? 0x20 : 0) << 8 * (i))
#define RK_W(X, a, b, c, d, e, f, g, h) \
    (X(a, 0) | X(b, 1) | X(c, 2) | X(d, 3) | X(e, 4) | X(f, 5) | X(g, 6) | X(h, 7))
/* RK(field, twelve octets, zero-padded) */
#define RK(field, a, b, c, d, e, f, g, h, i, j, k, l) \
    {{RK_W(RK_OCT, a, b, c, d, e, f, g, h), RK_W(RK_OCT, i, j, k, l, 0, 0, 0, 0)}, \
     {RK_W(RK_FOLD, a, b, c, d, e, f, g, h), RK_W(RK_FOLD, i, j, k, l, 0, 0, 0, 0)}, field}

static const struct receipt_key receipt_keys[] = {
    RK(R_ID, 'i', 'd', ':', 0, 0, 0, 0, 0, 0, 0, 0, 0),
    RK(R_SUB, 's', 'u', 'b', ':', 0, 0, 0, 0, 0, 0, 0, 0),
    RK(R_ERR, 'e', 'r', 'r', ':', 0, 0, 0, 0, 0, 0, 0, 0),
    RK(R_STAT, 's', 't', 'a', 't', ':', 0, 0, 0, 0, 0, 0, 0),
    RK(R_TEXT, 't', 'e', 'x', 't', ':', 0, 0, 0, 0, 0, 0, 0),
    RK(R_DLVRD, 'd', 'l', 'v', 'r', 'd', ':', 0, 0, 0, 0, 0, 0),
    RK(R_DONE, 'd', 'o', 'n', 'e', 'd', 'a', 't', 'e', ':', 0, 0, 0),
    RK(R_DONE, 'd', 'o', 'n', 'e', ' ', 'd', 'a', 't', 'e', ':', 0, 0),
    RK(R_DONE, 'd', 'o', 'n', 'e', '_', 'd', 'a', 't', 'e', ':', 0, 0),
    RK(R_SUBMIT, 's', 'u', 'b', 'm', 'i', 't', 'd', 'a', 't', 'e', ':', 0),
    RK(R_SUBMIT, 's', 'u', 'b', 'm', 'i', 't', ' ', 'd', 'a', 't', 'e', ':'),
    RK(R_SUBMIT, 's', 'u', 'b', 'm', 'i', 't', '_', 'd', 'a', 't', 'e', ':'),
};
#undef RK
#undef RK_W
#undef RK_FOLD
#undef RK_OCT

/* Every key holds one ':', its last octet, and no two keys of one length
 * can both match (they differ in a letter or in ' ' / '_'), so the first
 * ':' of a word says which keys it may start.  by_len[n]: the octets a key
 * n long covers (care) and the indexes in receipt_keys of the keys that
 * long (0xFF: none). */
#define KEY_MAX 12
/* (% 64 keeps the shift of the branch not taken in range for the
 * compiler's warnings; for 8 < n < 16 it is 8 * (n - 8)) */
#define CARE0(n) ((n) >= 8 ? ~0ULL : (1ULL << 8 * (n) % 64) - 1)
#define CARE1(n) ((n) <= 8 ? 0ULL : (1ULL << 8 * (n) % 64) - 1)
#define BY_LEN(n, k1, k2) [n] = {{CARE0(n), CARE1(n)}, {k1, k2}}
static const struct {
    uint64_t care[2];
    uint8_t key[2];
} by_len[KEY_MAX + 1] = {
    BY_LEN(0, 0xFF, 0xFF), BY_LEN(1, 0xFF, 0xFF), BY_LEN(2, 0xFF, 0xFF),
    BY_LEN(3, 0, 0xFF),    /* id: */
    BY_LEN(4, 1, 2),       /* sub: err: */
    BY_LEN(5, 3, 4),       /* stat: text: */
    BY_LEN(6, 5, 0xFF),    /* dlvrd: */
    BY_LEN(7, 0xFF, 0xFF), BY_LEN(8, 0xFF, 0xFF),
    BY_LEN(9, 6, 0xFF),    /* donedate: */
    BY_LEN(10, 7, 8),      /* done date: done_date: */
    BY_LEN(11, 9, 0xFF),   /* submitdate: */
    BY_LEN(12, 10, 11),    /* submit date: submit_date: */
};
#undef BY_LEN
#undef CARE1
#undef CARE0

/* Receipts nearly always list their fields in Appendix B's order, so
 * find_key first tries the key that follows the last one found in that
 * order: receipt_keys indexes and lengths of "id:" "sub:" "dlvrd:"
 * "submit date:" "done date:" "stat:" "err:" "text:", and each key's place
 * among them (the other spellings take the place of their field). */
#define N_USUAL 8
static const uint8_t usual_key[N_USUAL] = {0, 1, 5, 10, 7, 3, 2, 4};
static const uint8_t usual_len[N_USUAL] = {3, 4, 6, 12, 10, 5, 4, 5};
static const uint8_t usual_pos[] = {0, 1, 6, 5, 7, 2, 4, 4, 4, 3, 3, 3};

/* First letters of the keys, bit (c - 'a'): most words that are not keys
 * (and the blank a value stops at) are turned away on their first octet. */
#define KEY_FIRST ((1u << ('d' - 'a')) | (1u << ('e' - 'a')) | (1u << ('i' - 'a')) | \
                   (1u << ('s' - 'a')) | (1u << ('t' - 'a')))

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The high bit of each octet of w that is below k (k <= 0x80), as far as
 * the lowest such octet: the classic borrow test is exact up to the first
 * hit and may flag octets above it, so only the lowest set bit is used. */
static inline uint64_t octets_below(uint64_t w, uint8_t k) { return (w - k * ONES) & ~w & HIGHS; }

/* 1 when receipt_keys[k], n octets long, starts the text whose first
 * sixteen octets are p0, p1 (little-endian words). */
static inline int key_matches(uint64_t p0, uint64_t p1, unsigned n, unsigned k)
{
    const struct receipt_key *rk = &receipt_keys[k];
    return ((p0 & by_len[n].care[0]) | rk->fold[0]) == rk->key[0] &&
           ((p1 & by_len[n].care[1]) | rk->fold[1]) == rk->key[1];
}

/* The key starting at p (avail octets, at least one): its field and
 * length, or -1.  A key is the first ':' of the word within KEY_MAX
 * octets plus a match of the one or two keys of that length, each two
 * masked word compares; *usual is the place in the usual order to try
 * first, moved past the key found. */
static int find_key(const uint8_t *p, size_t avail, size_t *klen, unsigned *usual)
{
    unsigned c = (unsigned)(p[0] | 0x20) - 'a';
    if (c >= 26 || !(KEY_FIRST >> c & 1))
        return -1;
    uint8_t pad[16];
    if (avail < 16) {
        /* Near the end of the text: the same compares on a zero-padded
         * copy; zeros are never ':' and never match a key octet, so no key
         * is found past avail. */
        memset(pad, 0, sizeof pad);
        memcpy(pad, p, avail);
        p = pad;
    }
    uint64_t p0 = sg_load_le64(p), p1 = sg_load_le64(p + 8);
    /* The usual next key: a match there is the match the search below
     * would find (its ':' is the word's first, and only one key of a
     * length can match). */
    if (*usual < N_USUAL && key_matches(p0, p1, usual_len[*usual], usual_key[*usual])) {
        *klen = usual_len[*usual];
        return receipt_keys[usual_key[(*usual)++]].field;
    }
    uint64_t colon0 = octets_below(p0 ^ (':' * ONES), 1);
    uint64_t colon1 = octets_below(p1 ^ (':' * ONES), 1) & 0x80808080ULL; /* octets 8-11 */
    unsigned n;
    if (colon0)
        n = (unsigned)__builtin_ctzll(colon0) / 8 + 1;
    else if (colon1)
        n = 8 + (unsigned)__builtin_ctzll(colon1) / 8 + 1;
    else
        return -1;
    for (int j = 0; j < 2; j++) {
        unsigned k = by_len[n].key[j];
        if (k == 0xFF)
            break;
        if (key_matches(p0, p1, n, k)) {
            /* fields out of the usual order: guess on from this one */
            *usual = usual_pos[k] + 1u;
            *klen = n;
            return receipt_keys[k].field;
        }
    }
    return -1;
}

/* Octet classes: a value ends at a blank or a NUL, a word at a blank.  All
 * of them are below 0x21, which the word-at-a-time scans test first. */
#define C_BLANK 1u
#define C_NUL 2u
static const uint8_t octet_class[256] = {
    [' '] = C_BLANK, ['\t'] = C_BLANK, ['\r'] = C_BLANK, ['\n'] = C_BLANK, [0] = C_NUL,
};

/* First e >= i with octet_class[t[e]] & mask, else len.  Eight octets at a
 * time: octets below 0x21 are the only candidates, and the lowest one is
 * looked up in the table.  A control octet that ends nothing (rare in
 * receipts) sends the rest of its eight octets one by one, since the
 * borrow test may have flagged them wrongly. */
static inline size_t scan_to_class(const uint8_t *t, size_t i, size_t len, unsigned mask)
{
    for (; i + 8 <= len; i += 8) {
        uint64_t low = octets_below(sg_load_le64(t + i), 0x21);
        if (!low)
            continue;
        for (size_t at = i + (size_t)__builtin_ctzll(low) / 8; at < i + 8; at++)
            if (octet_class[t[at]] & mask)
                return at;
    }
    while (i < len && !(octet_class[t[i]] & mask))
        i++;
    return i;
}

/* Index of the first octet below 0x21 at or after i, else len: where a
 * value of Appendix B's layout ends (its blank), or an octet the general
 * parser must look at. */
static inline size_t below21(const uint8_t *t, size_t i, size_t len)
{
#if defined(__SSE2__)
    /* Values are a few octets: sixteen at a time, one test for most.
     * Unsigned v < 0x21 is min(v, 0x20) == v. */
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    for (; i + 8 <= len; i += 8) {
        uint64_t low = octets_below(sg_load_le64(t + i), 0x21);
        if (low)
            return i + (size_t)__builtin_ctzll(low) / 8;
    }
    while (i < len && t[i] >= 0x21)
        i++;
    return i;
}

/* Appendix B's layout exactly, as nearly every SMSC writes it: "id:V
 * sub:V dlvrd:V submit date:V done date:V stat:V err:V text:...", keys in
 * lowercase ("Text:" too), one space after each value, "id:V " possibly
 * left out.  Parsed in one pass: a constant key compare and a value scan
 * per field, instead of a key search per word (a third of the
 * instructions on decode-small's 14,930 receipts).  Returns 0 with every
 * field of *out set (id {NULL, 0} when left out), exactly as the general
 * parse below sets them for such a text; -1 at the first octet that departs
 * from the layout (another case, spelling or order, a blank other than
 * one space, a NUL in a value, the end of the text before text:), and
 * the general parse starts over. */
static int parse_appendix_b(const uint8_t *t, size_t len, struct smpp_receipt *out)
{
    size_t i = 0, e;
#define AB_KEY(s)                                                             \
    do {                                                                      \
        if (len - i < sizeof(s) - 1 || memcmp(t + i, s, sizeof(s) - 1) != 0) \
            return -1;                                                        \
        i += sizeof(s) - 1;                                                   \
    } while (0)
#define AB_VALUE(field)                                \
    do {                                               \
        e = below21(t, i, len);                        \
        if (e >= len || t[e] != ' ')                   \
            return -1;                                 \
        out->field = (struct sg_view){t + i, e - i};   \
        i = e + 1;                                     \
    } while (0)
    /* Some SMSCs leave the id out of the text (it is in
     * receipted_message_id); found or not, the general parse agrees. */
    out->id = (struct sg_view){NULL, 0};
    if (len >= 3 && memcmp(t, "id:", 3) == 0) {
        i = 3;
        AB_VALUE(id);
    }
    AB_KEY("sub:");
    AB_VALUE(sub);
    AB_KEY("dlvrd:");
    AB_VALUE(dlvrd);
    AB_KEY("submit date:");
    AB_VALUE(submit_date);
    AB_KEY("done date:");
    AB_VALUE(done_date);
    AB_KEY("stat:");
    AB_VALUE(stat);
    AB_KEY("err:");
    AB_VALUE(err);
    /* "Text:" too (a vendor's spelling): c | 0x20 is 't' only for 't'
     * and 'T', as the general parse folds case. */
    if (len - i < 5 || (t[i] | 0x20) != 't' || (t[i + 1] | 0x20) != 'e' || (t[i + 2] | 0x20) != 'x' ||
        (t[i + 3] | 0x20) != 't' || t[i + 4] != ':')
        return -1;
    i += 5;
#undef AB_VALUE
#undef AB_KEY
    e = len;
    while (e > i && t[e - 1] == 0)
        e--;
    out->text = (struct sg_view){t + i, e - i};
    return 0;
}

int smpp_receipt_parse(const uint8_t *text, size_t len, struct smpp_receipt *out)
{
    if (parse_appendix_b(text, len, out) == 0)
        return 0; /* stat found */
    memset(out, 0, sizeof(*out));
    /* Where each field's view lives, by R_* value. */
    static const size_t slot_off[] = {
        offsetof(struct smpp_receipt, id),          offsetof(struct smpp_receipt, sub),
        offsetof(struct smpp_receipt, dlvrd),       offsetof(struct smpp_receipt, submit_date),
        offsetof(struct smpp_receipt, done_date),   offsetof(struct smpp_receipt, stat),
        offsetof(struct smpp_receipt, err),         offsetof(struct smpp_receipt, text),
    };
    /* Work bound: O(len): each octet is passed over by one scan, and each
     * word start costs one find_key (two word compares at most). */
    size_t i = 0;
    unsigned usual = 0; /* place in the usual order of the next key expected */
    while (i < len) {
        size_t klen = 0;
        int field = find_key(text + i, len - i, &klen, &usual);
        if (field < 0) {
            /* Not a key: on to the next word (keys start a word). */
            i = scan_to_class(text, i, len, C_BLANK);
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
        size_t e = scan_to_class(text, v, len, C_BLANK | C_NUL);
        struct sg_view *slot = (struct sg_view *)((char *)out + slot_off[field]);
        if (!slot->p)
            *slot = (struct sg_view){text + v, e - v};
        /* A value that stops at a blank is followed by the next word (the
         * blank itself is no key); one that stops at a NUL goes back to
         * the loop, which skips the rest of that word. */
        if (e < len && (octet_class[text[e]] & C_BLANK))
            while (++e < len && (octet_class[text[e]] & C_BLANK))
                ;
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
