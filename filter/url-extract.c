#include "url-extract.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* the x86-64 baseline: the separator search uses it where present */
#endif
#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- TLDs accepted for bare host names -------------------------------
 * Not the whole root zone: the TLDs met in SMS spam and ham of our
 * markets.  A bare word with another TLD is not taken for a domain (text
 * like "Ok.so" or "v.2" must not become a host); URLs with a scheme or
 * "www." are accepted whatever their TLD.  Two-letter TLDs that are also
 * common words glued to a full stop in chat ("is", "so", "do", "no", "be",
 * "in", "it", "at", "to") are left out on purpose; "me" stays (t.me).
 * Sorted by bytes (memcmp, a prefix first): url_tld_known searches it by
 * halves, about eight comparisons instead of one per entry.  Each entry
 * is zero-padded to eight bytes (the longest has eight; the compiler warns
 * of a longer one), so an entry read as a big-endian word orders as memcmp
 * does: the search compares words, not strings. */
static const char tlds[][8] = {
    "ae", "ai", "am", "app", "asia", "au", "az", "bank", "bet",
    "bid", "biz", "br", "buzz", "by", "ca", "cam", "cash", "casino",
    "cc", "center", "cf", "cfd", "ch", "click", "club", "cn", "co",
    "com", "credit", "cyou", "cz", "de", "dev", "digital", "dk",
    "ee", "email", "es", "eu", "fi", "finance", "fit", "fm", "fr",
    "fun", "ga", "games", "gd", "ge", "gg", "gift", "gl", "gq",
    "group", "gs", "help", "hk", "icu", "il", "info", "ink", "io",
    "jp", "kg", "kr", "kz", "life", "link", "live", "loan", "loans",
    "lt", "ltd", "lv", "ly", "md", "me", "men", "ml", "mobi",
    "money", "monster", "mx", "name", "net", "network", "nl", "one",
    "online", "org", "page", "pl", "pro", "promo", "pt", "pw",
    "rest", "ru", "sale", "sbs", "se", "services", "sg", "shop",
    "site", "sk", "space", "store", "su", "support", "tech", "tj",
    "tk", "tm", "today", "top", "tr", "tv", "tw", "ua", "uk",
    "us", "uz", "vip", "vn", "website", "wiki", "win", "work",
    "world", "ws", "xn--p1ai", "xyz", "\xd1\x80\xd1\x84" /* рф */,
};

/* Eight bytes at p as a word that orders as memcmp orders them. */
static inline uint64_t tld_word(const char *p)
{
    uint64_t w = sg_load_le64((const uint8_t *)p);
    return __builtin_bswap64(w); /* the first byte most significant */
}

int url_tld_known(const char *tld, size_t len)
{
    if (len == 0 || len > sizeof tlds[0])
        return 0;
    /* tld_word of tld padded with NULs, built in a register: a copy to a
     * buffer became a memcpy call */
    uint64_t key = 0;
    for (size_t i = 0; i < len; i++)
        key |= (uint64_t)(uint8_t)tld[i] << (56 - 8 * i);
    size_t lo = 0, hi = SG_ARRAY_LEN(tlds);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t t = tld_word(tlds[mid]);
        if (key == t) /* and no NUL in tld: the entry's length is len */
            return len == sizeof tlds[0] - ((size_t)__builtin_ctzll(t) >> 3);
        if (key < t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

long url_next_parent(const char *host, size_t len, size_t off)
{
    const char *dot = off < len ? memchr(host + off, '.', len - off) : NULL;
    if (!dot || (size_t)(dot - host) + 1 >= len)
        return -1;
    return (long)(dot - host) + 1;
}

/* ---- scanning ---------------------------------------------------------- */

static int lc(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* ASCII classes for the scan, one table lookup per byte instead of a chain
 * of comparisons (the scan runs over every message). */
enum {
    UC_LABEL = 1, /* a label character: letter, digit, '-', '_' (label_char's ASCII part) */
    UC_END = 2,   /* ends a URL: white space, controls, '<' '>' '"' DEL */
    UC_SEP = 4,   /* may start a label separator: '.' '[' '(' '{' (sep_at) */
    UC_TRAIL = 8, /* punctuation path_end drops from a URL's end: . , ; : ! ? ) ] } ' */
    UC_UPPER = 16,/* A-Z */
    UC_AUTH = 32, /* ends a URL's authority: UC_END, '/' '?' '#' */
};
#define UCC(c)                                                                                     \
    (((((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z') || ((c) >= '0' && (c) <= '9') || (c) == '-' ||  \
              (c) == '_'                                                                           \
          ? UC_LABEL                                                                               \
          : 0) |                                                                                   \
     ((c) <= ' ' || (c) == '<' || (c) == '>' || (c) == '"' || (c) == 0x7F ? UC_END : 0) |          \
     ((c) == '.' || (c) == '[' || (c) == '(' || (c) == '{' ? UC_SEP : 0) |                         \
     ((c) == '.' || (c) == ',' || (c) == ';' || (c) == ':' || (c) == '!' || (c) == '?' ||          \
              (c) == ')' || (c) == ']' || (c) == '}' || (c) == '\'' || (c) == 0                    \
          ? UC_TRAIL                                                                               \
          : 0) |                                                                                   \
     ((c) >= 'A' && (c) <= 'Z' ? UC_UPPER : 0) |                                                   \
     ((c) <= ' ' || (c) == '<' || (c) == '>' || (c) == '"' || (c) == 0x7F || (c) == '/' ||         \
              (c) == '?' || (c) == '#'                                                             \
          ? UC_AUTH                                                                                \
          : 0))
#define UCC4(c) UCC(c), UCC((c) + 1), UCC((c) + 2), UCC((c) + 3)
#define UCC16(c) UCC4(c), UCC4((c) + 4), UCC4((c) + 8), UCC4((c) + 12)
#define UCC64(c) UCC16(c), UCC16((c) + 16), UCC16((c) + 32), UCC16((c) + 48)
/* bytes >= 0x80: none of the classes (a UTF-8 letter is a label character
 * by label_char_utf8, not by this table) */
static const uint8_t uclass[256] = {UCC64(0), UCC64(64)};

/* Decodes the code point at p (at most n bytes); returns its byte length,
 * or 0 for an invalid sequence.  *cp gets the code point. */
static size_t cp_at(const char *p, size_t n, int32_t *cp)
{
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)n, cp);
    return k > 0 ? (size_t)k : 0;
}

/* label_char for a character that starts with a byte >= 0x80. */
static size_t label_char_utf8(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    /* U+0400..U+047F (lead byte D0 or D1): Cyrillic letters, all of them;
     * the common non-ASCII case, answered without utf8proc. */
    if ((c == 0xD0 || c == 0xD1) && n >= 2 && ((unsigned char)p[1] & 0xC0) == 0x80)
        return 2;
    if ((c & 0xC0) == 0x80)
        return 0; /* a continuation byte starts no character (cp_at: invalid) */
    int32_t cp;
    size_t k = cp_at(p, n, &cp);
    if (!k)
        return 0;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ND:
        return k;
    default:
        return 0;
    }
}

/* A character that may appear inside a DNS label as spammers write them:
 * ASCII letters, digits, '-', '_' (not valid in host names but browsers
 * and SMS clients linkify it), and non-ASCII letters, digits and marks
 * (IDN labels).  Returns the byte length of the character, 0 if not. */
static inline size_t label_char(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    if (c < 0x80)
        return uclass[c] & UC_LABEL; /* UC_LABEL is 1: the length */
    return label_char_utf8(p, n);
}

/* A label separator at p: ".", or one of the defanged dots "[.]" "(.)"
 * "{.}" "[dot]" "(dot)".  Returns its byte length (0: none); *defanged set
 * for the obfuscated forms. */
static size_t sep_at(const char *p, size_t n, int *defanged)
{
    if (n >= 1 && p[0] == '.')
        return 1;
    if (n >= 3 && p[1] == '.' &&
        ((p[0] == '[' && p[2] == ']') || (p[0] == '(' && p[2] == ')') ||
         (p[0] == '{' && p[2] == '}'))) {
        *defanged = 1;
        return 3;
    }
    if (n >= 5 && (p[0] == '[' || p[0] == '(') && lc(p[1]) == 'd' && lc(p[2]) == 'o' &&
        lc(p[3]) == 't' && (p[4] == ']' || p[4] == ')')) {
        *defanged = 1;
        return 5;
    }
    return 0;
}

/* Appends the character at p (k bytes) lower-cased to host; returns 0 or
 * -1 when it does not fit. */
static int host_put(struct url_hit *h, const char *p, size_t k)
{
    unsigned char c0 = (unsigned char)p[0];
    int same_len = k == 1 || (k == 2 && (c0 == 0xD0 || c0 == 0xD1));
    if (same_len && h->host_len + k + 1 > URL_HOST_MAX)
        return -1; /* lower-casing keeps the length of these two kinds */
    if (k == 1) { /* ASCII, the bulk of host names: one store */
        h->host[h->host_len++] = (char)lc(c0);
        h->host[h->host_len] = '\0';
        return 0;
    }
    if (same_len) {
        /* U+0400..U+047F: upper case U+0400..U+042F is lower case + 0x20
         * (А-Я) or + 0x50 (Ѐ-Џ); the historic letters above U+0460 pair
         * as even (upper) and odd (lower) */
        int32_t cp = ((int32_t)(c0 & 0x1F) << 6) | ((unsigned char)p[1] & 0x3F);
        if (cp >= 0x0410 && cp <= 0x042F)
            cp += 0x20;
        else if (cp < 0x0410)
            cp += 0x50;
        else if (cp >= 0x0460)
            cp |= 1;
        h->host[h->host_len++] = (char)(0xC0 | (cp >> 6));
        h->host[h->host_len++] = (char)(0x80 | (cp & 0x3F));
        h->host[h->host_len] = '\0';
        return 0;
    }
    uint8_t enc[4];
    const uint8_t *src = (const uint8_t *)p;
    int32_t cp;
    if (cp_at(p, k, &cp) == k) {
        utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), enc);
        if (m > 0) {
            src = enc;
            k = (size_t)m;
        }
    }
    if (h->host_len + k + 1 > URL_HOST_MAX)
        return -1;
    memcpy(h->host + h->host_len, src, k);
    h->host_len += k;
    h->host[h->host_len] = '\0';
    return 0;
}

#if defined(__SSE2__)
/* The run of ASCII label characters (letters, digits, '-', '_') at
 * text[i..len), at most sixteen of them: returns its length and stores
 * sixteen bytes at out, the run lower-cased first.  len >= 16 (the last
 * sixteen bytes are read when fewer are left after i).  The adds move
 * each range to the bottom of the signed bytes: one compare a range. */
static inline size_t label_run16(const char *text, size_t len, size_t i, char *out)
{
    size_t rest = len - i, skip = rest >= 16 ? 0 : 16 - rest;
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(text + i - skip));
    __m128i up = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - 'A'))),
                                _mm_set1_epi8((char)(-128 + 26)));
    __m128i lower = _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
    __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(lower, _mm_set1_epi8((char)(0x80 - 'a'))),
                                    _mm_set1_epi8((char)(-128 + 26)));
    __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
                                   _mm_set1_epi8((char)(-128 + 10)));
    __m128i punct = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                                 _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), punct));
    size_t r = (size_t)__builtin_ctz(~(m >> skip)); /* bits past the text are 0: r <= rest */
    if (!skip) {
        _mm_storeu_si128((__m128i *)(void *)out, lower);
    } else {
        _Alignas(16) char tmp[32];
        _mm_store_si128((__m128i *)(void *)tmp, lower);
        _mm_store_si128((__m128i *)(void *)(tmp + 16), _mm_setzero_si128());
        _mm_storeu_si128((__m128i *)(void *)out,
                         _mm_loadu_si128((const __m128i *)(const void *)(tmp + skip)));
    }
    return r;
}
#endif

/* Parses a host name at text[i..len) into h->host.  Stops at the first
 * character that is neither a label character nor a separator followed by
 * one.  Returns the end offset; *labels gets the label count and
 * *last_label the offset in h->host where the last label starts. */
static size_t parse_host(const char *text, size_t len, size_t i, struct url_hit *h,
                         unsigned *labels, size_t *last_label, int *too_long)
{
    h->host_len = 0;
    h->host[0] = '\0';
    *labels = 0;
    *last_label = 0;
    *too_long = 0;
    for (;;) {
        size_t start = i, k;
        *last_label = h->host_len;
        /* Bound: each iteration consumes input; the host buffer caps the
         * work at URL_HOST_MAX characters per candidate.  ASCII, the bulk
         * of host names, is copied here with one lookup per byte; the
         * NUL after the host is written once, when the label ends. */
        for (;;) {
#if defined(__SSE2__)
            /* Sixteen bytes at a time while the host has room for all
             * of them: the scalar step below would then not find it too
             * long either (its limit is URL_HOST_MAX - 1 bytes).  The
             * bytes stored past the label are overwritten or lie past
             * the NUL. */
            if (h->host_len + 16 < URL_HOST_MAX && len >= 16 && i < len) {
                size_t r = label_run16(text, len, i, h->host + h->host_len);
                h->host_len += r;
                i += r;
                if (r == 16)
                    continue;
            }
#endif
            unsigned char c = i < len ? (unsigned char)text[i] : 0;
            if (c < 0x80) {
                if (!(uclass[c] & UC_LABEL) || i >= len)
                    break;
                if (h->host_len + 2 > URL_HOST_MAX) {
                    h->host[h->host_len] = '\0';
                    *too_long = 1;
                    return i;
                }
                /* UC_UPPER << 1 is 0x20, the case bit */
                h->host[h->host_len++] = (char)(c | (uclass[c] & UC_UPPER) << 1);
                i++;
                continue;
            }
            if ((k = label_char_utf8(text + i, len - i)) == 0)
                break;
            if (host_put(h, text + i, k) != 0) {
                h->host[h->host_len] = '\0';
                *too_long = 1;
                return i;
            }
            i += k;
        }
        h->host[h->host_len] = '\0';
        if (i == start)
            break;
        (*labels)++;
        int defanged = 0;
        size_t s = sep_at(text + i, len - i, &defanged);
        if (!s || i + s >= len || !label_char(text + i + s, len - i - s))
            break;
        if (defanged)
            h->flags |= URL_F_DEFANGED;
        if (host_put(h, ".", 1) != 0) {
            *too_long = 1;
            return i;
        }
        i += s;
    }
    /* A trailing hyphen or underscore is punctuation, not part of a label. */
    while (h->host_len && (h->host[h->host_len - 1] == '-' || h->host[h->host_len - 1] == '_')) {
        h->host[--h->host_len] = '\0';
        i--;
    }
    return i;
}

/* 1 if the character before text[i] continues a host (a label character
 * or a dot), so text[i] cannot start one. */
static inline int prev_joins(const char *text, size_t i)
{
    unsigned char p = (unsigned char)text[i - 1];
    if (p < 0x80)
        return p == '.' || (uclass[p] & UC_LABEL);
    size_t j = i - 1;
    /* Back over at most three UTF-8 continuation bytes. */
    for (int k = 0; k < 3 && j > 0 && ((unsigned char)text[j] & 0xC0) == 0x80; k++)
        j--;
    return label_char(text + j, i - j) != 0;
}

static int is_ipv4(const char *h, size_t n)
{
    unsigned dots = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '.') {
            if (!digits)
                return 0;
            dots++;
            digits = 0;
        } else if (h[i] >= '0' && h[i] <= '9') {
            if (++digits > 3)
                return 0;
        } else {
            return 0;
        }
    }
    return dots == 3 && digits;
}

/* Matches a scheme at text[i..]: http, https and the defanged hxxp, hxxps,
 * h**p, h**ps, hXXp, with ":", "[:]" and up to two spaces before "//".
 * Returns the offset after "//" or 0. */
static size_t scheme_at(const char *text, size_t len, size_t i, int *defanged)
{
    size_t j = i;
    if (j + 4 > len || lc(text[j]) != 'h')
        return 0;
    char a = (char)lc(text[j + 1]), b = (char)lc(text[j + 2]);
    if (a == 't' && b == 't')
        *defanged = 0;
    else if ((a == 'x' && b == 'x') || (a == '*' && b == '*'))
        *defanged = 1;
    else
        return 0;
    if (lc(text[j + 3]) != 'p')
        return 0;
    j += 4;
    if (j < len && lc(text[j]) == 's')
        j++;
    for (int sp = 0; sp < 2 && j < len && text[j] == ' '; sp++)
        j++;
    if (j < len && text[j] == ':')
        j++;
    else if (j + 3 <= len && memcmp(text + j, "[:]", 3) == 0) {
        j += 3;
        *defanged = 1;
    } else
        return 0;
    for (int sp = 0; sp < 2 && j < len && text[j] == ' '; sp++)
        j++;
    if (j + 2 <= len && text[j] == '/' && text[j + 1] == '/')
        return j + 2;
    if (j + 4 <= len && memcmp(text + j, "\\/\\/", 4) == 0) {
        *defanged = 1;
        return j + 4;
    }
    return 0;
}

#if defined(__SSE2__)
/* Bits of the bytes of p[0..16) that end a URL (UC_END: white space,
 * controls, '<' '>' '"' DEL); *auth gets those that end its authority
 * (UC_AUTH: these and '/' '?' '#'), *ats those of the '@' bytes. */
static inline unsigned end_bits16(const char *p, unsigned *auth, unsigned *ats)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i sp = _mm_set1_epi8(' ');
    __m128i end = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, sp), x), _mm_cmpeq_epi8(x, _mm_set1_epi8('<'))),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('>')),
                                  _mm_cmpeq_epi8(x, _mm_set1_epi8('"'))),
                     _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7F))));
    __m128i au = _mm_or_si128(_mm_or_si128(end, _mm_cmpeq_epi8(x, _mm_set1_epi8('/'))),
                              _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')),
                                           _mm_cmpeq_epi8(x, _mm_set1_epi8('#'))));
    *auth = (unsigned)_mm_movemask_epi8(au);
    *ats = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('@')));
    return (unsigned)_mm_movemask_epi8(end);
}
#endif

/* The first byte of text[i..lim) in UC_AUTH (auth) or UC_END (!auth),
 * lim if none; with auth, *at gets the offset after the last '@' before
 * it (unchanged when there is none).  Sixteen bytes at a time where SSE2
 * is there, the last sixteen re-read with the bytes before i masked off. */
static size_t find_end(const char *text, size_t i, size_t lim, int auth, size_t *at)
{
#if defined(__SSE2__)
    if (lim - i >= 16 || lim >= 16) {
        for (;;) {
            size_t base = lim - i >= 16 ? i : lim - 16;
            unsigned au, ats, e = end_bits16(text + base, &au, &ats);
            unsigned below_i = (1u << (i - base)) - 1; /* i - base <= 16 */
            if (auth)
                e = au;
            e &= ~below_i;
            ats &= ~below_i & (e ? (1u << __builtin_ctz(e)) - 1 : 0xFFFFu);
            if (auth && ats)
                *at = base + (size_t)(31 - __builtin_clz(ats)) + 1;
            if (e)
                return base + (size_t)__builtin_ctz(e);
            if (base + 16 >= lim)
                return lim;
            i = base + 16;
        }
    }
#endif
    unsigned cls = auth ? UC_AUTH : UC_END;
    for (; i < lim && !(uclass[(unsigned char)text[i]] & cls); i++)
        if (text[i] == '@')
            *at = i + 1;
    return i;
}

/* End of the URL's path part: up to white space, minus trailing
 * punctuation ("see qiwi.xyz/login." ends before the dot). */
static size_t path_end(const char *text, size_t len, size_t i)
{
    size_t bound = i + 2048 < len ? i + 2048 : len, at = 0;
    i = find_end(text, i, bound, 0, &at);
    while (i > 0 && (uclass[(unsigned char)text[i - 1]] & UC_TRAIL))
        i--;
    return i;
}

static int seen(const struct url_hit *out, size_t n, const struct url_hit *h)
{
    for (size_t k = 0; k < n; k++)
        if (out[k].host_len == h->host_len && memcmp(out[k].host, h->host, h->host_len) == 0)
            return 1;
    return 0;
}

/* One step of the scan at i: either a hit appended to out[*np] and the
 * position after its span returned, or the position after what cannot
 * start one.  Always > i.  Positions inside a run of label characters
 * never start a hit (prev_joins), so returning anywhere in or at the end
 * of such a run is the same to the caller. */
static size_t scan_step(const char *text, size_t len, size_t i, struct url_hit *out, size_t *np)
{
    /* label_char first: cheap, and false on most bytes */
    if (!label_char(text + i, len - i) || (i > 0 && prev_joins(text, i))) {
        return i + 1;
    }
    int defanged = 0;
    size_t hs = scheme_at(text, len, i, &defanged);
    if (!hs) {
        /* Fast reject, the common case: a word not followed by a dot
         * (or a defanged one) cannot start a bare host; skip it
         * without copying it.  ASCII letters and digits and Cyrillic
         * letters (U+0400..U+047F, label characters as label_char()
         * says) only here; anything else takes the full path below. */
        size_t j = i;
        for (;;) {
            if (j < len && (uclass[(unsigned char)text[j]] & UC_LABEL))
                j++;
            else if (j + 1 < len && ((unsigned char)text[j] == 0xD0 || (unsigned char)text[j] == 0xD1) &&
                     ((unsigned char)text[j + 1] & 0xC0) == 0x80)
                j += 2;
            else
                break;
        }
        if (j >= len)
            return j;
        unsigned char t = (unsigned char)text[j];
        if (t < 0x80 && !(uclass[t] & UC_SEP))
            return j;
        /* "word." before anything but a label character: parse_host
         * would stop after one label, and a hit needs two. */
        if (t == '.' && (j + 1 >= len || !label_char(text + j + 1, len - j - 1)))
            return j;
    }
    struct url_hit *h = &out[*np];
    memset(h, 0, offsetof(struct url_hit, host));
    h->off = i;
    unsigned labels;
    size_t last, e;
    int too_long;
    if (hs) {
        h->flags |= URL_F_SCHEME | (defanged ? URL_F_DEFANGED : 0);
        /* Authority ends at '/', '?', '#' or white space; a user part
         * before '@' is skipped (RFC 3986 §3.2.1).  The host is parsed
         * first: when it ends where the authority does (or the text
         * does), the authority is all label characters and separators,
         * with no '@', and the search for one is saved (the common URL);
         * else the authority is searched and the host parsed again,
         * with the flags of before (a defanged dot in a user part does
         * not count). */
        const unsigned flags = h->flags;
        e = parse_host(text, len, hs, h, &labels, &last, &too_long);
        if (too_long || (e < len && !(uclass[(unsigned char)text[e]] & UC_AUTH))) {
            size_t at = 0, lim = hs + 512 < len ? hs + 512 : len;
            find_end(text, hs, lim, 1, &at);
            if (at) {
                h->flags = flags | URL_F_USERINFO;
                e = parse_host(text, len, at, h, &labels, &last, &too_long);
            }
        }
        if (too_long || labels < 2) {
            return e > i ? e : i + 1;
        }
    } else {
        e = parse_host(text, len, i, h, &labels, &last, &too_long);
        int www = h->host_len > 4 && memcmp(h->host, "www.", 4) == 0;
        if (too_long || labels < 2 ||
            !(www ? labels >= 3 : url_tld_known(h->host + last, h->host_len - last))) {
            return e > i ? e : i + 1;
        }
    }
    if (is_ipv4(h->host, h->host_len))
        h->flags |= URL_F_IP;
    /* A bare "1.2.3.4" has no known TLD and never gets here; with a
     * scheme it is a host. */
    size_t end = path_end(text, len, e);
    if (end < e)
        end = e;
    h->len = end - i;
    if (!seen(out, *np, h))
        (*np)++;
    return end > i ? end : i + 1;
}

/* 1 if the '.' at text[s] cannot separate two labels: it ends the text
 * or comes before an ASCII byte that starts no label and does not close
 * a defanged dot "[.]" "(.)" "{.}". */
static inline int dead_dot(const char *text, size_t len, size_t s)
{
    if (s + 1 >= len)
        return 1;
    unsigned char c = (unsigned char)text[s + 1];
    return c < 0x80 && !(uclass[c] & UC_LABEL) && c != ']' && c != ')' && c != '}';
}

#if defined(__SSE2__)
/* Bits of the label separator candidates among the sixteen bytes at p:
 * '.', '[', '(' (a '[' or '(' counts only before 'd' or 'D': the caller
 * checks); *slashes gets the bits of the '/' bytes. */
static inline unsigned sep_bits16(const char *p, unsigned *slashes)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    *slashes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('/')));
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')),
                     _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('[')),
                                  _mm_cmpeq_epi8(x, _mm_set1_epi8('(')))));
}

/* Position of the first label separator candidate at or after from: a
 * '.', or '[' / '(' before 'd' or 'D' (the defanged "[dot]" "(dot)");
 * len if none.  *slash is set to 1 when a '/' lies in [from, that
 * position), else 0 (url_extract's full-stop shortcut needs to know).
 * Sixteen bytes per compare: one pass for all of them.
 *
 * That shortcut is taken here too, for as many full stops as the pass
 * meets: a dead_dot() with no '/' since from is passed over, and *from
 * moved after it, exactly as url_extract would have done on getting it
 * back (its next call would have started there, and found no '/' before
 * the dot it passed either).  A sentence's full stops cost a bit test
 * each instead of a call and a reload of their sixteen bytes. */
#define NEXT_SEP_DEAD(k, before)                                                                   \
    (!(before) && text[k] == '.' && dead_dot(text, len, k))
static size_t next_sep(const char *text, size_t len, size_t *from, int *slash)
{
    size_t i = *from;
    unsigned sl, seen = 0;
    while (len - i >= 16) {
        unsigned m = sep_bits16(text + i, &sl);
        for (; m; m &= m - 1) {
            unsigned b = (unsigned)__builtin_ctz(m);
            size_t k = i + b;
            if (text[k] == '.' || (k + 1 < len && lc(text[k + 1]) == 'd')) {
                unsigned before = seen | (sl & ((1u << b) - 1));
                if (NEXT_SEP_DEAD(k, before)) {
                    *from = k + 1;
                    continue;
                }
                *slash = before != 0;
                return k;
            }
        }
        seen |= sl;
        i += 16;
    }
    if (len >= 16 && i < len) {
        /* the last sixteen bytes, those before i masked off */
        size_t base = len - 16;
        unsigned m = sep_bits16(text + base, &sl) & ~0u << (i - base);
        sl &= ~0u << (i - base);
        for (; m; m &= m - 1) {
            unsigned b = (unsigned)__builtin_ctz(m);
            size_t k = base + b;
            if (text[k] == '.' || (k + 1 < len && lc(text[k + 1]) == 'd')) {
                unsigned before = seen | (sl & ((1u << b) - 1));
                if (NEXT_SEP_DEAD(k, before)) {
                    *from = k + 1;
                    continue;
                }
                *slash = before != 0;
                return k;
            }
        }
        *slash = (seen | sl) != 0;
        return len;
    }
    for (; i < len; i++) {
        if (text[i] == '.' ||
            ((text[i] == '[' || text[i] == '(') && i + 1 < len && lc(text[i + 1]) == 'd')) {
            if (NEXT_SEP_DEAD(i, seen)) {
                *from = i + 1;
                continue;
            }
            break;
        }
        seen |= text[i] == '/';
    }
    *slash = seen != 0;
    return i;
}
#undef NEXT_SEP_DEAD
#endif

#if !defined(__SSE2__)
/* Position of the first '[' or '(' before 'd' or 'D' (the defanged
 * "[dot]" "(dot)") at or after from; len if none.  Both are rare in SMS:
 * found with memchr (vectorised), and url_extract asks again only once
 * its scan has passed the last answer.  (Where SSE2 is missing.) */
static size_t next_open_dot(const char *text, size_t len, size_t from)
{
    size_t best = len;
    for (const char *open = "[("; *open; open++)
        for (size_t k = from; k + 1 < best;) {
            const char *q = memchr(text + k, *open, best - 1 - k);
            if (!q)
                break;
            k = (size_t)(q - text);
            if (lc(text[k + 1]) == 'd') {
                best = k; /* the earlier of the two wins */
                break;
            }
            k++;
        }
    return best;
}
#endif

/* Start of the run of non-white-space bytes (> ' ') that ends at p, not
 * before lo.  Eight bytes at a time, backwards: per byte, with the top
 * bit cleared so no sum carries, a + 0x5F stays below 0x80 exactly when
 * the byte is at most ' '. */
static size_t word_start(const char *text, size_t lo, size_t p)
{
    const uint64_t ones = 0x0101010101010101ull;
    while (p - lo >= 8) {
        uint64_t w = sg_load_le64((const uint8_t *)text + p - 8);
        uint64_t ws = ~((w & 0x7F * ones) + 0x5F * ones) & ~w & 0x80 * ones;
        if (ws) /* the last white space byte of the eight */
            return p - 8 + (size_t)((63 - __builtin_clzll(ws)) >> 3) + 1;
        p -= 8;
    }
    while (p > lo && (unsigned char)text[p - 1] > ' ')
        p--;
    return p;
}

size_t url_extract(const char *text, size_t len, struct url_hit *out, size_t max)
{
    size_t n = 0, i = 0;
    if (!text || !out)
        return 0;
    /* Every hit holds a separator, and only a scheme ("http : //") spans
     * white space, over at most two words before its host.  So the scan
     * visits only the words (runs between white space) that hold a
     * separator, a clean start, since every other step stops at white
     * space; most messages have a full stop or two and no URL.  Work:
     * O(len).  A text without a separator returns at once. */
#if !defined(__SSE2__)
    size_t open_dot = next_open_dot(text, len, 0);
#endif
    while (i < len && n < max) {
        /* the first separator candidate at or after i: a '.', or a
         * "[d" / "(d" */
        int slash; /* a '/' in text[i..s) */
#if defined(__SSE2__)
        size_t s = next_sep(text, len, &i, &slash); /* i moves past the full stops it skips */
#else
        if (open_dot < i)
            open_dot = next_open_dot(text, len, i);
        const char *dot = memchr(text + i, '.', (open_dot < len ? open_dot : len) - i);
        size_t s = dot ? (size_t)(dot - text) : open_dot;
        slash = s < len && memchr(text + i, '/', s - i) != NULL;
#endif
        if (s >= len)
            break;
        /* A full stop before white space, punctuation or the end ("Ok.",
         * "lar...") is the common case and ends every label: a scan of
         * its word would find nothing and stop just after it, unless a
         * scheme in the word carries the host past it ("http://a.@b.ru").
         * Every scheme holds a '/', so with none since i the scan is
         * skipped.  (A "." inside "[.]" "(.)" "{.}" is a separator.) */
        if (!slash && text[s] == '.' && dead_dot(text, len, s)) {
            i = s + 1;
            continue;
        }
        size_t ws = word_start(text, i, s);
        /* A scheme in an earlier word reaches this one only through
         * "http :", "http: //" or "http[:] //": then the word starts
         * with ':' '[' '/' or '\\' (the "\/\/" spelling) and the scan
         * starts two words earlier. */
        if (ws > i && (text[ws] == ':' || text[ws] == '[' || text[ws] == '/' || text[ws] == '\\'))
            for (int w = 0; w < 2 && ws > i; w++) {
                size_t k = ws;
                while (k > i && (unsigned char)text[k - 1] <= ' ')
                    k--;
                ws = word_start(text, i, k);
            }
        i = ws;
        while (i <= s && i < len && n < max)
            i = scan_step(text, len, i, out, &n);
    }
    return n;
}

/* ---- domain sets -------------------------------------------------------- */

struct domain_set {
    struct domain_entry *v;
    size_t n, cap;
    uint32_t *slots;    /* index+1 into v, 0 = empty; open addressing */
    uint64_t *hashes;   /* parallel to slots */
    size_t mask;
    int sealed;
};

domain_set_t *domain_set_new(void)
{
    return calloc(1, sizeof(domain_set_t));
}

void domain_set_free(domain_set_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free((char *)s->v[i].domain);
    free(s->v);
    free(s->slots);
    free(s->hashes);
    free(s);
}

int domain_set_add(domain_set_t *s, const char *domain, int score, unsigned line)
{
    if (!s || !domain || s->sealed)
        return SG_EINVAL;
    size_t n = strlen(domain);
    while (n && domain[n - 1] == '.')
        n--;
    while (n && domain[0] == '.') {
        domain++;
        n--;
    }
    if (n == 0 || n >= URL_HOST_MAX)
        return SG_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)domain[i] <= ' ' || domain[i] == '/')
            return SG_EINVAL;
    if (s->n >= DOMAIN_SET_MAX)
        return SG_ENOSPC;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct domain_entry *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    /* Lower-case through the same routine as the extractor so a list entry
     * written "СБЕРБАНК.РФ" meets the extracted "сбербанк.рф". */
    struct url_hit tmp;
    tmp.host_len = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t k = (unsigned char)domain[i] < 0x80 ? 1 : cp_at(domain + i, n - i, &cp);
        if (!k)
            return SG_EINVAL;
        if (host_put(&tmp, domain + i, k) != 0)
            return SG_EINVAL;
        i += k;
    }
    char *copy = malloc(tmp.host_len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, tmp.host, tmp.host_len + 1);
    s->v[s->n++] = (struct domain_entry){copy, score, line};
    return 0;
}

static int set_lookup(const domain_set_t *s, const char *d, size_t n, uint64_t h)
{
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        uint32_t k = s->slots[i];
        if (!k)
            return -1;
        const struct domain_entry *e = &s->v[k - 1];
        if (s->hashes[i] == h && strlen(e->domain) == n && memcmp(e->domain, d, n) == 0)
            return (int)(k - 1);
    }
}

int domain_set_seal(domain_set_t *s)
{
    if (!s || s->sealed)
        return SG_EINVAL;
    size_t size = 16;
    while (size < s->n * 2)
        size <<= 1;
    s->slots = calloc(size, sizeof *s->slots);
    s->hashes = calloc(size, sizeof *s->hashes);
    if (!s->slots || !s->hashes)
        return -ENOMEM;
    s->mask = size - 1;
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct domain_entry e = s->v[i];
        size_t len = strlen(e.domain);
        uint64_t h = XXH3_64bits(e.domain, len);
        int dup = set_lookup(s, e.domain, len, h);
        if (dup >= 0) {
            if (e.score > s->v[dup].score)
                s->v[dup].score = e.score;
            free((char *)e.domain);
            continue;
        }
        s->v[kept] = e;
        size_t j = h & s->mask;
        while (s->slots[j])
            j = (j + 1) & s->mask;
        s->slots[j] = (uint32_t)kept + 1;
        s->hashes[j] = h;
        kept++;
    }
    s->n = kept;
    s->sealed = 1;
    return 0;
}

size_t domain_set_count(const domain_set_t *s) { return s ? s->n : 0; }

const struct domain_entry *domain_set_match(const domain_set_t *s, const char *host, size_t len)
{
    if (!s || !s->sealed || !host || s->n == 0)
        return NULL;
    /* Most specific first: host, then each parent; at most one lookup per
     * label (<= 128 for a 256-byte host). */
    for (long off = 0; off >= 0; off = url_next_parent(host, len, (size_t)off)) {
        const char *d = host + off;
        size_t n = len - (size_t)off;
        int k = set_lookup(s, d, n, XXH3_64bits(d, n));
        if (k >= 0)
            return &s->v[k];
    }
    return NULL;
}

int domain_set_load(domain_set_t *s, const char *path, int default_score, char *err,
                    size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        if (err)
            snprintf(err, errcap, "%s: %s", path, strerror(-rc));
        return rc;
    }
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t L = strlen(line);
        if (L == sizeof line - 1 && line[L - 1] != '\n') {
            if (err)
                snprintf(err, errcap, "%s:%u: line too long", path, lineno);
            rc = SG_EPARSE;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *dom = strtok_r(line, " \t\r\n", &save);
        if (!dom)
            continue;
        char *sc = strtok_r(NULL, " \t\r\n", &save);
        int score = default_score;
        if (sc) {
            char *endp;
            long v = strtol(sc, &endp, 10);
            if (*endp || v < -1000 || v > 1000) {
                if (err)
                    snprintf(err, errcap, "%s:%u: bad score '%s'", path, lineno, sc);
                rc = SG_EPARSE;
                break;
            }
            score = (int)v;
        }
        if (strtok_r(NULL, " \t\r\n", &save)) {
            if (err)
                snprintf(err, errcap, "%s:%u: trailing text after the score", path, lineno);
            rc = SG_EPARSE;
            break;
        }
        int r = domain_set_add(s, dom, score, lineno);
        if (r != 0) {
            if (err)
                snprintf(err, errcap, "%s:%u: bad domain '%s': %s", path, lineno, dom,
                         sg_strerror(r));
            rc = r == SG_EINVAL ? SG_EPARSE : r;
            break;
        }
    }
    fclose(f);
    return rc;
}
