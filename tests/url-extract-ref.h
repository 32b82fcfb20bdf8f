/* The URL extractor as it was before its table and sixteen-byte paths
 * (filter/url-extract.c as of commit 5fd8145, scanning part only, names
 * prefixed ref_): the reference that tests/test-fastpaths.c and fuzz-norm-url
 * compare url_extract() against, hit for hit.  Do not optimise it; change
 * it only together with a change of url_extract()'s documented behaviour.
 * Header-only (every function static) so a test and a fuzz target can
 * each include it. */
#ifndef SG_TEST_URL_EXTRACT_REF_H
#define SG_TEST_URL_EXTRACT_REF_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <utf8proc.h>

#include "url-extract.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* ---- TLDs accepted for bare host names -------------------------------
 * Not the whole root zone: the TLDs met in SMS spam and ham of our
 * markets.  A bare word with another TLD is not taken for a domain (text
 * like "Ok.so" or "v.2" must not become a host); URLs with a scheme or
 * "www." are accepted whatever their TLD.  Two-letter TLDs that are also
 * common words glued to a full stop in chat ("is", "so", "do", "no", "be",
 * "in", "it", "at", "to") are left out on purpose; "me" stays (t.me). */
static const char *const ref_tlds[] = {
    "com", "net", "org", "info", "biz", "ru", "su", "\xd1\x80\xd1\x84" /* рф */,
    "xn--p1ai", "ua", "by", "kz", "uz", "kg", "tj", "am", "ge", "az", "md", "tm",
    "lv", "lt", "ee", "fi", "se", "dk", "pl", "cz", "sk", "de", "fr", "es", "pt",
    "nl", "eu", "ch", "uk", "us", "ca", "au", "jp", "cn", "kr", "vn", "br", "mx",
    "tr", "il", "ae", "me", "io", "co", "cc", "tk", "ml", "ga", "cf", "gq", "ly",
    "gl", "gd", "gg", "ws", "tv", "fm", "pw", "xyz", "top", "club", "online",
    "site", "website", "store", "shop", "app", "link", "click", "live", "life",
    "pro", "win", "bid", "loan", "loans", "men", "work", "vip", "fun", "space",
    "tech", "icu", "buzz", "rest", "fit", "cam", "monster", "cyou", "sbs", "cfd",
    "today", "world", "email", "mobi", "name", "asia", "money", "cash", "bank",
    "finance", "credit", "casino", "bet", "games", "page", "dev", "one", "ltd",
    "gift", "promo", "sale", "help", "support", "services", "digital", "network",
    "center", "group", "ink", "wiki", "gs", "ai", "tw", "hk", "sg",
};

static int ref_tld_known(const char *tld, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < SG_ARRAY_LEN(ref_tlds); i++) /* first byte before strlen */
        if (ref_tlds[i][0] == tld[0] && strlen(ref_tlds[i]) == len && memcmp(ref_tlds[i], tld, len) == 0)
            return 1;
    return 0;
}

/* ---- scanning ---------------------------------------------------------- */

static int ref_lc(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Decodes the code point at p (at most n bytes); returns its byte length,
 * or 0 for an invalid sequence.  *cp gets the code point. */
static size_t ref_cp_at(const char *p, size_t n, int32_t *cp)
{
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)n, cp);
    return k > 0 ? (size_t)k : 0;
}

/* A character that may appear inside a DNS label as spammers write them:
 * ASCII letters, digits, '-', '_' (not valid in host names but browsers
 * and SMS clients linkify it), and non-ASCII letters, digits and marks
 * (IDN labels).  Returns the byte length of the character, 0 if not. */
static size_t ref_label_char(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    if (c < 0x80)
        return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_')
                   ? 1
                   : 0;
    /* U+0400..U+047F (lead byte D0 or D1): Cyrillic letters, all of them;
     * the common non-ASCII case, answered without utf8proc. */
    if ((c == 0xD0 || c == 0xD1) && n >= 2 && ((unsigned char)p[1] & 0xC0) == 0x80)
        return 2;
    if ((c & 0xC0) == 0x80)
        return 0; /* a continuation byte starts no character (cp_at: invalid) */
    int32_t cp;
    size_t k = ref_cp_at(p, n, &cp);
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

/* A label separator at p: ".", or one of the defanged dots "[.]" "(.)"
 * "{.}" "[dot]" "(dot)".  Returns its byte length (0: none); *defanged set
 * for the obfuscated forms. */
static size_t ref_sep_at(const char *p, size_t n, int *defanged)
{
    if (n >= 1 && p[0] == '.')
        return 1;
    if (n >= 3 && p[1] == '.' &&
        ((p[0] == '[' && p[2] == ']') || (p[0] == '(' && p[2] == ')') ||
         (p[0] == '{' && p[2] == '}'))) {
        *defanged = 1;
        return 3;
    }
    if (n >= 5 && (p[0] == '[' || p[0] == '(') && ref_lc(p[1]) == 'd' && ref_lc(p[2]) == 'o' &&
        ref_lc(p[3]) == 't' && (p[4] == ']' || p[4] == ')')) {
        *defanged = 1;
        return 5;
    }
    return 0;
}

/* Appends the character at p (k bytes) lower-cased to host; returns 0 or
 * -1 when it does not fit. */
static int ref_host_put(struct url_hit *h, const char *p, size_t k)
{
    unsigned char c0 = (unsigned char)p[0];
    int same_len = k == 1 || (k == 2 && (c0 == 0xD0 || c0 == 0xD1));
    if (same_len && h->host_len + k + 1 > URL_HOST_MAX)
        return -1; /* lower-casing keeps the length of these two kinds */
    if (k == 1) { /* ASCII, the bulk of host names: one store */
        h->host[h->host_len++] = (char)ref_lc(c0);
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
    if (ref_cp_at(p, k, &cp) == k) {
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

/* Parses a host name at text[i..len) into h->host.  Stops at the first
 * character that is neither a label character nor a separator followed by
 * one.  Returns the end offset; *labels gets the label count and
 * *last_label the offset in h->host where the last label starts. */
static size_t ref_parse_host(const char *text, size_t len, size_t i, struct url_hit *h,
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
         * work at URL_HOST_MAX characters per candidate. */
        while (i < len && (k = ref_label_char(text + i, len - i)) != 0) {
            if (ref_host_put(h, text + i, k) != 0) {
                *too_long = 1;
                return i;
            }
            i += k;
        }
        if (i == start)
            break;
        (*labels)++;
        int defanged = 0;
        size_t s = ref_sep_at(text + i, len - i, &defanged);
        if (!s || i + s >= len || !ref_label_char(text + i + s, len - i - s))
            break;
        if (defanged)
            h->flags |= URL_F_DEFANGED;
        if (ref_host_put(h, ".", 1) != 0) {
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
static int ref_prev_joins(const char *text, size_t i)
{
    size_t j = i - 1;
    /* Back over at most three UTF-8 continuation bytes. */
    for (int k = 0; k < 3 && j > 0 && ((unsigned char)text[j] & 0xC0) == 0x80; k++)
        j--;
    return text[i - 1] == '.' || ref_label_char(text + j, i - j) != 0;
}

static int ref_is_ipv4(const char *h, size_t n)
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
static size_t ref_scheme_at(const char *text, size_t len, size_t i, int *defanged)
{
    size_t j = i;
    if (j + 4 > len || ref_lc(text[j]) != 'h')
        return 0;
    char a = (char)ref_lc(text[j + 1]), b = (char)ref_lc(text[j + 2]);
    if (a == 't' && b == 't')
        *defanged = 0;
    else if ((a == 'x' && b == 'x') || (a == '*' && b == '*'))
        *defanged = 1;
    else
        return 0;
    if (ref_lc(text[j + 3]) != 'p')
        return 0;
    j += 4;
    if (j < len && ref_lc(text[j]) == 's')
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

static int ref_is_space_or_end(const char *text, size_t len, size_t i)
{
    if (i >= len)
        return 1;
    unsigned char c = (unsigned char)text[i];
    return c <= ' ' || c == '<' || c == '>' || c == '"' || c == '\x7f';
}

/* End of the URL's path part: up to white space, minus trailing
 * punctuation ("see qiwi.xyz/login." ends before the dot). */
static size_t ref_path_end(const char *text, size_t len, size_t i)
{
    size_t bound = i + 2048 < len ? i + 2048 : len;
    while (i < bound && !ref_is_space_or_end(text, len, i))
        i++;
    while (i > 0 && strchr(".,;:!?)]}'", text[i - 1]))
        i--;
    return i;
}

static int ref_seen(const struct url_hit *out, size_t n, const struct url_hit *h)
{
    for (size_t k = 0; k < n; k++)
        if (out[k].host_len == h->host_len && memcmp(out[k].host, h->host, h->host_len) == 0)
            return 1;
    return 0;
}

/* 1 if text has a label separator ref_sep_at() could accept: a '.' (also in
 * "[.]" "(.)" "{.}") or "[dot]" "(dot)".  Every hit has at least two
 * labels, so a text without one has no URL and needs no scan. */
static int ref_may_have_sep(const char *text, size_t len)
{
    if (memchr(text, '.', len))
        return 1;
    for (size_t i = 0; i + 1 < len; i++)
        if ((text[i] == '[' || text[i] == '(') && ref_lc(text[i + 1]) == 'd')
            return 1;
    return 0;
}

/* One step of the scan at i: either a hit appended to out[*np] and the
 * position after its span returned, or the position after what cannot
 * start one.  Always > i. */
static size_t ref_scan_step(const char *text, size_t len, size_t i, struct url_hit *out, size_t *np)
{
    /* label_char first: cheap, and false on most bytes */
    if (!ref_label_char(text + i, len - i) || (i > 0 && ref_prev_joins(text, i))) {
        return i + 1;
    }
    int defanged = 0;
    size_t hs = ref_scheme_at(text, len, i, &defanged);
    if (!hs) {
        /* Fast reject, the common case: a word not followed by a dot
         * (or a defanged one) cannot start a bare host; skip it
         * without copying it.  ASCII letters and digits and Cyrillic
         * letters (U+0400..U+047F, label characters as ref_label_char()
         * says) only here; anything else takes the full path below. */
        size_t j = i;
        for (;;) {
            if (j < len && ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= 'A' && text[j] <= 'Z') ||
                            (text[j] >= '0' && text[j] <= '9') || text[j] == '-' || text[j] == '_'))
                j++;
            else if (j + 1 < len && ((unsigned char)text[j] == 0xD0 || (unsigned char)text[j] == 0xD1) &&
                     ((unsigned char)text[j + 1] & 0xC0) == 0x80)
                j += 2;
            else
                break;
        }
        if (j > i && (j >= len || !strchr(".[({", text[j]) || text[j] == '\0') &&
            (j >= len || (unsigned char)text[j] < 0x80)) {
            return j;
        }
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
         * before '@' is skipped (RFC 3986 §3.2.1). */
        size_t a = hs, at = 0;
        while (a < len && a < hs + 512 && !ref_is_space_or_end(text, len, a) &&
               text[a] != '/' && text[a] != '?' && text[a] != '#') {
            if (text[a] == '@')
                at = a + 1;
            a++;
        }
        if (at) {
            h->flags |= URL_F_USERINFO;
            hs = at;
        }
        e = ref_parse_host(text, len, hs, h, &labels, &last, &too_long);
        if (too_long || labels < 2) {
            return e > i ? e : i + 1;
        }
    } else {
        e = ref_parse_host(text, len, i, h, &labels, &last, &too_long);
        int www = h->host_len > 4 && memcmp(h->host, "www.", 4) == 0;
        if (too_long || labels < 2 ||
            !(www ? labels >= 3 : ref_tld_known(h->host + last, h->host_len - last))) {
            return e > i ? e : i + 1;
        }
    }
    if (ref_is_ipv4(h->host, h->host_len))
        h->flags |= URL_F_IP;
    /* A bare "1.2.3.4" has no known TLD and never gets here; with a
     * scheme it is a host. */
    size_t end = ref_path_end(text, len, e);
    if (end < e)
        end = e;
    h->len = end - i;
    if (!ref_seen(out, *np, h))
        (*np)++;
    return end > i ? end : i + 1;
}

/* Position of the first label separator candidate at or after from: a
 * '.', or '[' / '(' before 'd' (the defanged "[dot]"); len if none. */
static size_t ref_next_sep(const char *text, size_t len, size_t from)
{
    const char *dot = memchr(text + from, '.', len - from);
    size_t limit = dot ? (size_t)(dot - text) : len;
    /* '[' and '(' are rare in SMS: find each with memchr (vectorised)
     * rather than testing every byte for both */
    for (const char *open = "[("; *open; open++)
        for (size_t k = from; k + 1 < limit;) {
            const char *q = memchr(text + k, *open, limit - 1 - k);
            if (!q)
                break;
            k = (size_t)(q - text);
            if (ref_lc(text[k + 1]) == 'd') {
                limit = k; /* the earlier of the two wins */
                break;
            }
            k++;
        }
    return limit;
}

/* Start of the run of non-white-space bytes that ends at p, not before lo. */
static size_t ref_word_start(const char *text, size_t lo, size_t p)
{
    while (p > lo && (unsigned char)text[p - 1] > ' ')
        p--;
    return p;
}

static size_t url_extract_ref(const char *text, size_t len, struct url_hit *out, size_t max)
{
    size_t n = 0, i = 0;
    if (!text || !out || !ref_may_have_sep(text, len))
        return 0;
    /* Every hit holds a separator, and only a scheme ("http : //") spans
     * white space, over at most two words before its host.  So the scan
     * visits only the words (runs between white space) that hold a
     * separator, starting two words earlier: a clean start, since every
     * other step stops at white space.  Most messages have a full stop or
     * two and no URL.  Work: O(len). */
    while (i < len && n < max) {
        size_t s = ref_next_sep(text, len, i);
        if (s >= len)
            break;
        size_t ws = ref_word_start(text, i, s);
        for (int w = 0; w < 2 && ws > i; w++) {
            size_t k = ws;
            while (k > i && (unsigned char)text[k - 1] <= ' ')
                k--;
            ws = ref_word_start(text, i, k);
        }
        i = ws;
        while (i <= s && i < len && n < max)
            i = ref_scan_step(text, len, i, out, &n);
    }
    return n;
}

/* Compares url_extract()'s hits a[0..na) with the reference's b[0..nb)
 * from text[0..len): 0 when they agree hit for hit (span, flags, host),
 * else 1 with the first difference described in why[0..cap). */
static int url_hits_differ(const char *text, size_t len, const struct url_hit *a, size_t na,
                           const struct url_hit *b, size_t nb, char *why, size_t cap)
{
    if (na != nb) {
        snprintf(why, cap, "\"%.*s\": %zu hits, reference %zu", (int)len, text, na, nb);
        return 1;
    }
    for (size_t k = 0; k < na; k++)
        if (a[k].off != b[k].off || a[k].len != b[k].len || a[k].flags != b[k].flags ||
            a[k].host_len != b[k].host_len || strcmp(a[k].host, b[k].host) != 0) {
            snprintf(why, cap, "\"%.*s\" hit %zu: %zu+%zu %u \"%s\", reference %zu+%zu %u \"%s\"",
                     (int)len, text, k, a[k].off, a[k].len, a[k].flags, a[k].host, b[k].off,
                     b[k].len, b[k].flags, b[k].host);
            return 1;
        }
    return 0;
}

#pragma GCC diagnostic pop

#endif
