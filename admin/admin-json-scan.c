/* An allocation-free scan of the verdict reasons stored in message_log
 * (a JSON array of {"type","id","detail"} objects), for the timeline and
 * sender lookups: the stored text is checked against the JSON grammar and
 * copied as it is, and the reason fields are read in place.  Parsing it
 * with jansson (a tree of allocated values per message, then a dump) was
 * most of a sender lookup's time.
 *
 * Grammar: RFC 8259 (values, objects, arrays, strings with every escape,
 * numbers, literals, whitespace), plus what jansson refuses by default and
 * so would not have passed before either: bytes that are not UTF-8 (RFC
 * 3629: no overlong forms, no surrogates, nothing past U+10FFFF), \u0000,
 * and a \u escape of a surrogate that is not a proper pair.  Nesting is
 * bounded (ADMIN_JSCAN_DEPTH); a deeper text is refused.  Work: one pass
 * over the text, O(length); recursion depth at most ADMIN_JSCAN_DEPTH. */
#include <stdint.h>
#include <string.h>

#include "admin-int.h"

#define ADMIN_JSCAN_DEPTH 32

struct scan {
    const unsigned char *p, *end;
    struct admin_reason *out;
    size_t max, n;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* One UTF-8 sequence at p (RFC 3629 table 3.7); its length, or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* A string at s->p (the opening quote); on success *b, *len span its raw
 * (escaped) contents and s->p is past the closing quote. */
static int string(struct scan *s, const char **b, size_t *len)
{
    const unsigned char *p = s->p + 1;
    *b = (const char *)p;
    while (p < s->end && *p != '"') {
        if (*p < 0x20)
            return -1;
        if (*p == '\\') {
            if (p + 1 >= s->end)
                return -1;
            unsigned char e = p[1];
            if (e == 'u') {
                unsigned v, v2;
                if (s->end - p < 6 || hex4(p + 2, &v) != 0 || v == 0)
                    return -1;
                p += 6;
                if (v >= 0xDC00 && v <= 0xDFFF)
                    return -1; /* a low surrogate first */
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &v2) != 0 ||
                        v2 < 0xDC00 || v2 > 0xDFFF)
                        return -1;
                    p += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return -1;
            p += 2;
            continue;
        }
        size_t n = utf8_len(p, s->end);
        if (!n)
            return -1;
        p += n;
    }
    if (p >= s->end)
        return -1;
    *len = (size_t)((const char *)p - *b);
    s->p = p + 1;
    return 0;
}

static int number(struct scan *s)
{
    const unsigned char *p = s->p;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end)
        return -1;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    else
        return -1;
    if (p < s->end && *p == '.') {
        p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return -1;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return -1;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
}

static int literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

/* A value at s->p (whitespace skipped).  rec: an object here is a reason
 * (an element of the top-level array): note its fields. */
static int value(struct scan *s, int depth, int rec)
{
    ws(s);
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '{': {
        struct admin_reason r = {0};
        if (depth >= ADMIN_JSCAN_DEPTH)
            return -1;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            goto obj_done;
        }
        for (;;) {
            const char *k, *v;
            size_t kn, vn;
            ws(s);
            if (s->p >= s->end || *s->p != '"' || string(s, &k, &kn) != 0)
                return -1;
            ws(s);
            if (s->p >= s->end || *s->p != ':')
                return -1;
            s->p++;
            ws(s);
            /* Which of the reported names the key is (an escaped key, never
             * from our writer, is decoded to compare it: decoding never
             * lengthens a text, so a buffer longer than the raw key holds
             * all of it; a raw key over 36 bytes, 6 x "\uXXXX", cannot be
             * one of the names). */
            const char **field = NULL;
            size_t *field_len = NULL;
            if (rec) {
                char key[40];
                if (memchr(k, '\\', kn)) {
                    kn = kn < sizeof key ? admin_json_unescape(k, kn, key, sizeof key) : 0;
                    k = key;
                }
                if (kn == 4 && memcmp(k, "type", 4) == 0)
                    field = &r.type, field_len = &r.type_len;
                else if (kn == 2 && memcmp(k, "id", 2) == 0)
                    field = &r.id, field_len = &r.id_len;
                else if (kn == 6 && memcmp(k, "detail", 6) == 0)
                    field = &r.detail, field_len = &r.detail_len;
            }
            if (field && s->p < s->end && *s->p == '"') {
                if (string(s, &v, &vn) != 0)
                    return -1;
                *field = v, *field_len = vn;
            } else {
                if (value(s, depth + 1, 0) != 0)
                    return -1;
                /* A name given twice counts as its last value, as in
                 * jansson (which the API used before) and most readers:
                 * not a string there, the field is not reported. */
                if (field)
                    *field = NULL, *field_len = 0;
            }
            ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == '}') {
                s->p++;
                break;
            }
            return -1;
        }
    obj_done:
        if (rec && s->out && s->n < s->max)
            s->out[s->n++] = r;
        return 0;
    }
    case '[':
        if (depth >= ADMIN_JSCAN_DEPTH)
            return -1;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        for (;;) {
            if (value(s, depth + 1, depth == 0) != 0)
                return -1;
            ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == ']') {
                s->p++;
                return 0;
            }
            return -1;
        }
    case '"': {
        const char *b;
        size_t n;
        return string(s, &b, &n);
    }
    case 't': return literal(s, "true");
    case 'f': return literal(s, "false");
    case 'n': return literal(s, "null");
    default: return number(s);
    }
}

int admin_reasons_scan(const char *text, size_t len, struct admin_reason *out, size_t max,
                       size_t *n)
{
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len, out, max, 0};
    if (n)
        *n = 0;
    if (!text)
        return -1;
    ws(&s);
    if (s.p >= s.end || *s.p != '[' || value(&s, 0, 0) != 0)
        return -1;
    ws(&s);
    if (s.p != s.end)
        return -1;
    if (n)
        *n = s.n;
    return 0;
}

size_t admin_json_unescape(const char *raw, size_t len, char *out, size_t cap)
{
    size_t i = 0, o = 0;
    if (cap == 0)
        return 0;
    /* raw was checked by admin_reasons_scan(): escapes are complete. */
    while (i < len) {
        char u8[4];
        size_t k = 0;
        unsigned char c = (unsigned char)raw[i];
        if (c != '\\') {
            /* The run up to the next escape in one copy when it fits whole:
             * the scan checked its UTF-8, so it ends on a character
             * boundary and the byte-wise copy below would copy the same. */
            const char *bs = memchr(raw + i, '\\', len - i);
            size_t run = bs ? (size_t)(bs - (raw + i)) : len - i;
            if (o + run < cap) {
                memcpy(out + o, raw + i, run);
                o += run;
                i += run;
                continue;
            }
            size_t sl = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (sl > len - i)
                sl = len - i;
            if (o + sl >= cap)
                break; /* never cut a character */
            memcpy(out + o, raw + i, sl);
            o += sl;
            i += sl;
            continue;
        }
        char e = raw[i + 1];
        i += 2;
        if (e == 'u') {
            unsigned v = 0, v2 = 0;
            hex4((const unsigned char *)raw + i, &v);
            i += 4;
            if (v >= 0xD800 && v <= 0xDBFF && i + 6 <= len) {
                hex4((const unsigned char *)raw + i + 2, &v2);
                v = 0x10000 + ((v - 0xD800) << 10) + (v2 - 0xDC00);
                i += 6;
            }
            if (v < 0x80) {
                u8[k++] = (char)v;
            } else if (v < 0x800) {
                u8[k++] = (char)(0xC0 | v >> 6);
                u8[k++] = (char)(0x80 | (v & 0x3F));
            } else if (v < 0x10000) {
                u8[k++] = (char)(0xE0 | v >> 12);
                u8[k++] = (char)(0x80 | ((v >> 6) & 0x3F));
                u8[k++] = (char)(0x80 | (v & 0x3F));
            } else {
                u8[k++] = (char)(0xF0 | v >> 18);
                u8[k++] = (char)(0x80 | ((v >> 12) & 0x3F));
                u8[k++] = (char)(0x80 | ((v >> 6) & 0x3F));
                u8[k++] = (char)(0x80 | (v & 0x3F));
            }
        } else {
            u8[k++] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
        }
        if (o + k >= cap)
            break;
        memcpy(out + o, u8, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}
