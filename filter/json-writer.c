#include "json-writer.h"
#include "json-writer-int.h"
#include "sg-common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

jw_t *jw_new(size_t ceiling)
{
    jw_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cap = ceiling < 4096 ? ceiling : 4096;
    w->buf = malloc(w->cap + 1);
    if (!w->buf) {
        free(w);
        return NULL;
    }
    w->ceiling = ceiling;
    w->buf[0] = '\0';
    return w;
}

void jw_free(jw_t *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

void jw_reset(jw_t *w)
{
    w->len = 0;
    w->failed = false;
    w->depth = 0;
    w->need_comma[0] = false;
    w->after_key = false;
}

bool jw_failed(const jw_t *w) { return w->failed; }
const char *jw_data(const jw_t *w) { w->buf[w->len] = '\0'; return w->buf; }
size_t jw_len(const jw_t *w) { return w->len; }

/* Growth and the ceiling, out of line: the common case is the inline check. */
static bool grow(jw_t *w, size_t more);

static inline bool reserve(jw_t *w, size_t more)
{
    if (w->len + more <= w->cap && !w->failed)
        return true;
    return grow(w, more);
}

static bool grow(jw_t *w, size_t more)
{
    if (w->failed)
        return false;
    if (w->len + more <= w->cap)
        return true;
    if (w->len + more > w->ceiling) {
        w->failed = true;
        return false;
    }
    size_t ncap = w->cap * 2;
    while (ncap < w->len + more)
        ncap *= 2;
    if (ncap > w->ceiling)
        ncap = w->ceiling;
    char *nb = realloc(w->buf, ncap + 1);
    if (!nb) {
        w->failed = true;
        return false;
    }
    w->buf = nb;
    w->cap = ncap;
    return true;
}

static inline void put(jw_t *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static inline void putc_(jw_t *w, char c)
{
    if (!reserve(w, 1))
        return;
    w->buf[w->len++] = c;
}

/* Emits the separator a new value needs in its container. */
static inline void begin_value(jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma[w->depth])
        putc_(w, ',');
    w->need_comma[w->depth] = true;
}

static void open_container(jw_t *w, char c)
{
    begin_value(w);
    putc_(w, c);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_container(jw_t *w, char c)
{
    putc_(w, c);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj_begin(jw_t *w) { open_container(w, '{'); }
void jw_obj_end(jw_t *w) { close_container(w, '}'); }
void jw_arr_begin(jw_t *w) { open_container(w, '['); }
void jw_arr_end(jw_t *w) { close_container(w, ']'); }

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid (overlong
 * forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* plain[c]: byte c is copied as it is (printable ASCII but " and \). */
static const bool plain[256] = {
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
    R16(0), R16(0),
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' is 0x22 */
    R16(1), R16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' is 0x5C */
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
#undef R16
};

/* The general path: reserves as it goes, so a string that fits under the
 * ceiling only just is still written whole. */
static void put_escaped_slow(jw_t *w, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    putc_(w, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* Copy the longest run that needs no escaping in one go. */
        while (run < n && plain[p[run]])
            run++;
        if (run > i) {
            put(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l == 0) {
                put(w, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                put(w, s + i, l);
                i += l;
            }
            continue;
        }
        switch (c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            put(w, e, 6);
        }
        }
        i++;
    }
    putc_(w, '"');
}

/* Any byte of x below 0x20, at or above 0x80, '"' or '\\' (the bytes
 * plain[] rejects).  Exact as a yes/no: a borrow can only set a high bit
 * above a byte that already matched. */
static inline bool word_special(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t t = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x;
    return (t & highs) != 0;
}

static void put_escaped(jw_t *w, const char *s, size_t n)
{
    /* One reservation for the worst case (6 bytes per byte, "\u00XX"), then
     * plain text is copied 8 bytes at a time with no check per byte: message
     * text and addresses are the bulk of the output.  Near the ceiling the
     * general path decides, as before. */
    size_t worst = 6 * n + 2;
    if (n > (SIZE_MAX - 2) / 6 || w->failed || w->len + worst > w->ceiling ||
        (w->len + worst > w->cap && !grow(w, worst))) {
        put_escaped_slow(w, s, n);
        return;
    }
    static const char hexd[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
    if (n < 8 && n >= 4) {
        /* Short values (TON-less addresses, "0", system types): two
         * overlapping 4-byte words decide the common all-plain case. */
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        if (!word_special(a | (uint64_t)b << 32)) {
            memcpy(o, &a, 4);
            memcpy(o + n - 4, &b, 4);
            o += n;
            i = n;
        }
    }
    for (;;) {
        while (i + 8 <= n) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            if (word_special(x))
                break;
            memcpy(o, &x, 8);
            o += 8;
            i += 8;
        }
        if (i + 8 > n && i < n && n >= 8) {
            /* The tail as the last 8 bytes, overlapping bytes already
             * copied: if none of the 8 is special, those were copied one
             * for one, so rewriting them changes nothing. */
            uint64_t x;
            memcpy(&x, p + n - 8, 8);
            if (!word_special(x)) {
                memcpy(o - (i - (n - 8)), &x, 8);
                o += n - i;
                break;
            }
        }
        /* Byte by byte, two-byte UTF-8 sequences (Cyrillic, Latin-1) inline:
         * C2-DF then 80-BF is always U+0080-U+07FF, no code point check.
         * Back to words after 16 bytes, so that ASCII after a non-ASCII
         * run goes 8 at a time again. */
        size_t stop = n - i > 16 ? i + 16 : n;
        while (i < stop) {
            unsigned char c = p[i];
            if (plain[c]) {
                *o++ = (char)c;
                i++;
            } else if (c - 0xC2u <= 0xDFu - 0xC2u && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
                o[0] = (char)c;
                o[1] = (char)p[i + 1];
                o += 2;
                i += 2;
            } else {
                break;
            }
        }
        if (i >= n)
            break;
        if (i >= stop)
            continue;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l == 0) {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
            } else {
                for (size_t k = 0; k < l; k++)
                    o[k] = (char)p[i + k];
                o += l;
                i += l;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hexd[c >> 4];
            o[4] = hexd[c & 15];
            o += 5;
        }
        i++;
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

void jw_keyn(jw_t *w, const char *key, size_t n)
{
    /* Room for ',' '"' key '"' ':' already there: the common case. */
    if (w->len + n + 4 <= w->cap && !w->failed && !w->after_key) {
        char *o = w->buf + w->len;
        *o = ',';
        o += w->need_comma[w->depth];
        w->need_comma[w->depth] = true;
        *o++ = '"';
        jw_copy_short(o, key, n);
        o += n;
        *o++ = '"';
        *o++ = ':';
        w->len = (size_t)(o - w->buf);
        w->after_key = true;
        return;
    }
    begin_value(w);
    if (!reserve(w, n + 3))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    memcpy(o, key, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    w->len = (size_t)(o - w->buf);
    w->after_key = true;
}

void jw_put_escaped_value(jw_t *w, const char *s, size_t n)
{
    w->after_key = false;
    put_escaped(w, s, n);
}

void jw_str(jw_t *w, const char *s)
{
    if (!s) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}

void jw_strn(jw_t *w, const char *s, size_t n)
{
    begin_value(w);
    put_escaped(w, s, n);
}


void jw_hex(jw_t *w, const uint8_t *p, size_t n)
{
    begin_value(w);
    if (!reserve(w, 2 * n + 2))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
#ifdef __SSE2__
    /* 8 bytes to 16 digits per step (short_message and UDH data, 140
     * bytes a PDU): nibbles split and interleaved, then '0' + d, plus
     * 'a' - '0' - 10 where d > 9. */
    const __m128i low4 = _mm_set1_epi8(0x0F), nine = _mm_set1_epi8(9);
    const __m128i zero_ch = _mm_set1_epi8('0'), letter = _mm_set1_epi8('a' - '0' - 10);
    for (; i + 8 <= n; i += 8) {
        __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)(p + i));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low4);
        __m128i lo = _mm_and_si128(x, low4);
        __m128i d = _mm_unpacklo_epi8(hi, lo);
        __m128i c = _mm_add_epi8(_mm_add_epi8(d, zero_ch),
                                 _mm_and_si128(_mm_cmpgt_epi8(d, nine), letter));
        _mm_storeu_si128((__m128i *)(void *)o, c);
        o += 16;
    }
#endif
    for (; i < n; i++) {
        memcpy(o, sg_hex_pairs + 2 * p[i], 2); /* one copy per byte */
        o += 2;
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

/* "00" "01" ... "99": two digits per division. */
const char jw_digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* The decimal digits of v written backwards ending at end; returns the first. */
static inline char *dec_backwards(char *end, uint64_t v)
{
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--end = jw_digits2[d + 1];
        *--end = jw_digits2[d];
    }
    if (v >= 10) {
        *--end = jw_digits2[v * 2 + 1];
        *--end = jw_digits2[v * 2];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

static const uint64_t pow10[20] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
    1000000000u, 10000000000u, 100000000000u, 1000000000000u, 10000000000000u,
    100000000000000u, 1000000000000000u, 10000000000000000u,
    100000000000000000u, 1000000000000000000u, 10000000000000000000u,
};

/* Decimal digits of v: floor(log10) from the bit length (1233/4096 is
 * log10(2) to four places, exact as a floor for bit lengths to 64), then
 * one compare (Bit Twiddling Hacks, "IntegerLog10"). */
static inline size_t dec_digits(uint64_t v)
{
    uint64_t u = v | 1; /* 0 has one digit, as 1 */
    unsigned t = (64 - (unsigned)__builtin_clzll(u)) * 1233 >> 12;
    return t + 1 - (u < pow10[t]);
}

char *jw_put_uint_big(char *o, uint64_t v)
{
    char *end = o + dec_digits(v);
    dec_backwards(end, v);
    return end;
}

/* Numbers are a third of the values of a PDU event and mostly small: count
 * the digits, reserve exactly that, write them in place. */
static void put_uint(jw_t *w, uint64_t v, bool neg)
{
    size_t n = dec_digits(v) + neg;
    if (!reserve(w, n))
        return;
    char *end = w->buf + w->len + n;
    char *o = dec_backwards(end, v);
    if (neg)
        o[-1] = '-';
    w->len += n;
}

void jw_uint(jw_t *w, uint64_t v)
{
    begin_value(w);
    put_uint(w, v, false);
}

void jw_int(jw_t *w, int64_t v)
{
    begin_value(w);
    /* 0 - (uint64_t)v is |v|, INT64_MIN included. */
    put_uint(w, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
}

void jw_double(jw_t *w, double v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.6g", v);
    begin_value(w);
    put(w, tmp, (size_t)n);
}

void jw_bool(jw_t *w, bool v)
{
    begin_value(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jw_null(jw_t *w)
{
    begin_value(w);
    put(w, "null", 4);
}

void jw_raw(jw_t *w, const char *json, size_t n)
{
    begin_value(w);
    put(w, json, n);
}

/* Writes the two digits of v (0-99). */
static inline char *put2(char *o, unsigned v)
{
    o[0] = jw_digits2[v * 2];
    o[1] = jw_digits2[v * 2 + 1];
    return o + 2;
}

/* "\"YYYY-MM-DDThh:mm:ss." for secs into out; returns its length.  The
 * civil date by hand (H. Hinnant's civil_from_days): snprintf of the date,
 * once per second of traffic, was a twentieth of `decode`.  Years past 9999
 * keep the general code (they only come from corrupt timestamps). */
static size_t time_prefix(time_t secs, char *out, size_t cap)
{
    int64_t days = (int64_t)(secs / 86400);
    unsigned sod = (unsigned)(secs % 86400);
    if (secs >= 0 && days < 2932897) { /* 2932897: 10000-01-01 */
        int64_t z = days + 719468;
        int64_t era = z / 146097;
        unsigned doe = (unsigned)(z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        unsigned d = doy - (153 * mp + 2) / 5 + 1;
        unsigned m = mp < 10 ? mp + 3 : mp - 9;
        unsigned y = (unsigned)(yoe + era * 400) + (m <= 2);
        char *o = out;
        *o++ = '"';
        o = put2(o, y / 100);
        o = put2(o, y % 100);
        *o++ = '-';
        o = put2(o, m);
        *o++ = '-';
        o = put2(o, d);
        *o++ = 'T';
        o = put2(o, sod / 3600);
        *o++ = ':';
        o = put2(o, sod / 60 % 60);
        *o++ = ':';
        o = put2(o, sod % 60);
        *o++ = '.';
        *o = '\0';
        return (size_t)(o - out);
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(out, cap, "\"%04d-%02d-%02dT%02d:%02d:%02d.",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void jw_time_us(jw_t *w, uint64_t us)
{
    /* Consecutive events fall in the same second: format the date and time
     * once per second and only the microseconds per event. */
    time_t secs = (time_t)(us / 1000000u);
    if (secs != w->time_secs || !w->time_prefix[0]) {
        w->time_prefix_len = time_prefix(secs, w->time_prefix, sizeof w->time_prefix);
        w->time_secs = secs;
    }
    begin_value(w);
    size_t n = w->time_prefix_len;
    if (!reserve(w, n + 8))
        return;
    char *o = w->buf + w->len;
    memcpy(o, w->time_prefix, n);
    o += n;
    unsigned f = (unsigned)(us % 1000000u);
    o = put2(o, f / 10000);
    o = put2(o, f / 100 % 100);
    o = put2(o, f % 100);
    *o++ = 'Z';
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

int jw_flush_line(jw_t *w, FILE *f)
{
    int rc = 0;
    if (w->failed) {
        rc = -ENOSPC;
    } else {
        w->buf[w->len++] = '\n'; /* cap + 1 bytes are allocated */
        if (fwrite(w->buf, 1, w->len, f) != w->len)
            rc = -errno;
    }
    jw_reset(w);
    return rc;
}
