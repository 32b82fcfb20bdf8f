#include "json-writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JW_MAX_DEPTH 32

struct jw {
    char *buf;
    size_t len, cap, ceiling;
    bool failed;
    int depth;
    /* need_comma[d]: the container at depth d already holds a member. */
    bool need_comma[JW_MAX_DEPTH];
    bool after_key;
    time_t time_secs;       /* second formatted in time_prefix */
    char time_prefix[64];   /* "\"YYYY-MM-DDThh:mm:ss." */
};

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

static void put_escaped(jw_t *w, const char *s, size_t n)
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

/* Keys are identifiers written in the code ("source_addr"), never data,
 * so they are copied without escaping. */
void jw_key(jw_t *w, const char *key)
{
    size_t n = strlen(key);
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
    static const char hexd[] = "0123456789abcdef";
    begin_value(w);
    if (!reserve(w, 2 * n + 2))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        *o++ = hexd[p[i] >> 4];
        *o++ = hexd[p[i] & 15];
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

void jw_uint(jw_t *w, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    begin_value(w);
    put(w, tmp + i, sizeof tmp - (size_t)i);
}

void jw_int(jw_t *w, int64_t v)
{
    if (v >= 0) {
        jw_uint(w, (uint64_t)v);
        return;
    }
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    begin_value(w);
    put(w, tmp, (size_t)n);
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

void jw_time_us(jw_t *w, uint64_t us)
{
    /* Consecutive events fall in the same second: format the date and time
     * once per second and only the microseconds per event. */
    time_t secs = (time_t)(us / 1000000u);
    if (secs != w->time_secs || !w->time_prefix[0]) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(w->time_prefix, sizeof w->time_prefix, "\"%04d-%02d-%02dT%02d:%02d:%02d.",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        w->time_secs = secs;
    }
    char frac[8];
    unsigned f = (unsigned)(us % 1000000u);
    for (int i = 5; i >= 0; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    frac[6] = 'Z';
    frac[7] = '"';
    begin_value(w);
    put(w, w->time_prefix, strlen(w->time_prefix));
    put(w, frac, sizeof frac);
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

void jw_kstr(jw_t *w, const char *key, const char *s) { jw_key(w, key); jw_str(w, s); }
void jw_kstrn(jw_t *w, const char *key, const char *s, size_t n) { jw_key(w, key); jw_strn(w, s, n); }
void jw_kuint(jw_t *w, const char *key, uint64_t v) { jw_key(w, key); jw_uint(w, v); }
void jw_kint(jw_t *w, const char *key, int64_t v) { jw_key(w, key); jw_int(w, v); }
void jw_kbool(jw_t *w, const char *key, bool v) { jw_key(w, key); jw_bool(w, v); }
void jw_khex(jw_t *w, const char *key, const uint8_t *p, size_t n) { jw_key(w, key); jw_hex(w, p, n); }
