/* The JSON writer's fast paths give what plain reference code gives, on
 * random inputs and at the edges:
 *   - string escaping (8 bytes at a time, two-byte UTF-8 inline) against a
 *     byte-at-a-time escaper, on random bytes (controls, '"', '\\', valid and
 *     invalid UTF-8), both with room to spare and at the ceiling, where the
 *     general path writes;
 *   - jw_uint / jw_int against printf, jw_hex against a nibble loop;
 *   - jw_time_us (civil date by hand, cached per second) against gmtime_r and
 *     printf, across second, day, month, year and leap-day boundaries;
 *   - keys (constant length for literals) and commas against a hand-built document
 *     that outgrows the first buffer;
 *   - sg_ipv6_format / sg_endpoint_format against inet_ntop;
 *   - the literal-key members of json-writer-int.h (jw_lit_*, table keys,
 *     memo values) against the general calls, at every ceiling around the
 *     document's length, so the fallback is met at each member;
 *   - the table names output-json.c and smpp.c write without escaping
 *     (commands, statuses, TLVs) need none, and the endpoint memo gives
 *     sg_endpoint_format's text whatever the slot history. */
#include "testutil.h"
#include "json-writer.h"
#include "json-writer-int.h"
#include "output-json.h"
#include "sg-common.h"
#include "smpp.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- strings ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0: decoded the long way. */
static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC0 && c <= 0xDF ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static size_t ref_escape(const unsigned char *s, size_t n, char *out)
{
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t l = ref_utf8_len(s + i, n - i);
            if (l == 0) {
                o += sprintf(o, "\xEF\xBF\xBD");
                i++;
            } else {
                memcpy(o, s + i, l);
                o += l;
                i += l;
            }
            continue;
        }
        if (c == '"') o += sprintf(o, "\\\"");
        else if (c == '\\') o += sprintf(o, "\\\\");
        else if (c == '\n') o += sprintf(o, "\\n");
        else if (c == '\r') o += sprintf(o, "\\r");
        else if (c == '\t') o += sprintf(o, "\\t");
        else if (c < 0x20) o += sprintf(o, "\\u%04x", c);
        else *o++ = (char)c;
        i++;
    }
    *o++ = '"';
    *o = '\0';
    return (size_t)(o - out);
}

/* One random byte, drawn to hit every class the escaper sorts. */
static unsigned char rnd_byte(int mode)
{
    static const unsigned char special[] = {'"', '\\', '\n', '\r', '\t', 0, 0x1F, 0x7F,
                                            0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                            0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
    uint64_t r = rnd();
    switch (mode) {
    case 0: return (unsigned char)r;                              /* anything */
    case 1: return (unsigned char)(0x20 + r % 95);                /* printable */
    default:
        if (r % 8 == 0)
            return special[(r >> 8) % sizeof special];
        return (unsigned char)(r % 3 ? 0x20 + (r >> 8) % 95 : 0x80 | (r >> 8));
    }
}

/* Appends a valid UTF-8 sequence of 1-4 bytes. */
static size_t rnd_utf8(unsigned char *o)
{
    uint32_t cp;
    do {
        uint64_t r = rnd();
        cp = (uint32_t)(r % 4 == 0 ? r % 0x80 : r % 4 == 1 ? r % 0x800 : r % 4 == 2 ? r % 0x10000 : r % 0x110000);
    } while (cp >= 0xD800 && cp <= 0xDFFF);
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        o[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 63)); o[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

static void check_escape(const unsigned char *in, size_t n)
{
    static char want[6 * 4096 + 16];
    size_t wn = ref_escape(in, n, want);
    /* With room to spare: the fast path. */
    jw_t *w = jw_new(1u << 20);
    jw_strn(w, (const char *)in, n);
    CHECK_MSG(!jw_failed(w) && jw_len(w) == wn && memcmp(jw_data(w), want, wn) == 0,
              "escape of %zu bytes differs", n);
    jw_free(w);
    /* A ceiling of exactly the output: the general path, still whole. */
    w = jw_new(wn);
    jw_strn(w, (const char *)in, n);
    CHECK_MSG(!jw_failed(w) && jw_len(w) == wn && memcmp(jw_data(w), want, wn) == 0,
              "escape of %zu bytes at the ceiling differs", n);
    jw_free(w);
    /* One byte short: the error state. */
    w = jw_new(wn - 1);
    jw_strn(w, (const char *)in, n);
    CHECK(jw_failed(w));
    jw_free(w);
}

static void test_escape(void)
{
    static unsigned char in[4096];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd() % (iter < 15000 ? 40 : 600);
        int mode = (int)(rnd() % 4);
        size_t k = 0;
        while (k < n) {
            if (mode == 3 && k + 4 <= n) /* valid UTF-8 with stray bytes */
                k += rnd() % 6 ? rnd_utf8(in + k) : (in[k] = rnd_byte(0), 1);
            else
                in[k++] = rnd_byte(mode == 3 ? 1 : mode);
        }
        check_escape(in, n);
    }
    /* Every byte alone, and at each position of a word. */
    for (unsigned c = 0; c < 256; c++)
        for (size_t pos = 0; pos < 17; pos++) {
            memset(in, 'a', 17);
            in[pos] = (unsigned char)c;
            check_escape(in, 17);
            check_escape(in, pos + 1);
        }
    /* Sequences cut by the end of the string. */
    static const char *const cut[] = {"\xC3", "\xE2\x82", "\xF0\x9F\x98", "ab\xD0", "\xD0\xB0\xD0"};
    for (size_t i = 0; i < SG_ARRAY_LEN(cut); i++)
        check_escape((const unsigned char *)cut[i], strlen(cut[i]));
    jw_t *w = jw_new(1024);
    jw_str(w, NULL);
    CHECK_EQ_STR(jw_data(w), "null");
    jw_free(w);
}

/* ---- numbers and hex ---------------------------------------------------------- */

/* The number written as want, also under a ceiling of exactly its length;
 * one byte less fails the writer. */
static void check_number(const char *want, bool is_signed, uint64_t bits)
{
    size_t caps[3] = {1024, strlen(want), strlen(want) - 1};
    for (int i = 0; i < 3; i++) {
        jw_t *w = jw_new(caps[i]);
        if (is_signed)
            jw_int(w, (int64_t)bits);
        else
            jw_uint(w, bits);
        if (i < 2) {
            CHECK(!jw_failed(w));
            CHECK_EQ_STR(jw_data(w), want);
        } else {
            CHECK(jw_failed(w));
        }
        jw_free(w);
    }
}

static void check_uint(uint64_t v)
{
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, v);
    check_number(want, false, v);
}

static void check_int(int64_t v)
{
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, v);
    check_number(want, true, (uint64_t)v);
}

static void test_numbers(void)
{
    static const uint64_t edge[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 4294967295u,
                                    4294967296u, 9999999999999999999u, 10000000000000000000u,
                                    INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < SG_ARRAY_LEN(edge); i++) {
        check_uint(edge[i]);
        check_int((int64_t)edge[i]);
    }
    static const int64_t iedge[] = {0, -1, -9, -10, -99, -100, INT64_MIN, INT64_MIN + 1, INT64_MAX};
    for (size_t i = 0; i < SG_ARRAY_LEN(iedge); i++)
        check_int(iedge[i]);
    /* Every power of ten and its neighbours. */
    for (uint64_t p = 1; p <= UINT64_MAX / 10; p *= 10) {
        check_uint(p - 1), check_uint(p), check_uint(p + 1);
        check_int(-(int64_t)p), check_int(-(int64_t)p + 1);
    }
    for (int i = 0; i < 100000; i++) {
        uint64_t v = rnd() >> (rnd() % 64); /* every magnitude */
        check_uint(v);
        check_int((int64_t)v);
        check_int(-(int64_t)(v >> 1));
    }
}

static void test_hex(void)
{
    static const char hexd[] = "0123456789abcdef";
    uint8_t in[300];
    char want[700];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = rnd() % sizeof in;
        char *o = want;
        *o++ = '"';
        for (size_t i = 0; i < n; i++) {
            in[i] = (uint8_t)rnd();
            *o++ = hexd[in[i] >> 4];
            *o++ = hexd[in[i] & 15];
        }
        *o++ = '"';
        *o = '\0';
        jw_t *w = jw_new(4096);
        jw_hex(w, in, n);
        CHECK_EQ_STR(jw_data(w), want);
        jw_free(w);
    }
}

/* ---- time ------------------------------------------------------------------------- */

static void ref_time(uint64_t us, char *out, size_t cap)
{
    time_t secs = (time_t)(us / 1000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, cap, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06uZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(us % 1000000u));
}

/* w is reused: the per-second cache must follow the time back and forth. */
static void check_time(jw_t *w, uint64_t us)
{
    char want[96];
    ref_time(us, want, sizeof want);
    jw_reset(w);
    jw_time_us(w, us);
    CHECK_MSG(strcmp(jw_data(w), want) == 0, "%" PRIu64 ": %s != %s", us, jw_data(w), want);
}

static void test_time(void)
{
    jw_t *w = jw_new(1024);
    check_time(w, 0);
    check_time(w, 999999);
    check_time(w, 1000000);
    /* Both sides of midnight on the first of every month, 1970-2101, and
     * of every second boundary there. */
    for (int y = 1970; y <= 2101; y++)
        for (int m = 0; m < 12; m++) {
            struct tm tm = {.tm_year = y - 1900, .tm_mon = m, .tm_mday = 1};
            uint64_t s = (uint64_t)timegm(&tm);
            for (int d = -2; d <= 1; d++) {
                check_time(w, (s + (uint64_t)d) * 1000000u);
                check_time(w, (s + (uint64_t)d) * 1000000u + 999999u);
            }
            tm.tm_mday = 29; /* leap days and the day after */
            tm.tm_mon = 1;
            s = (uint64_t)timegm(&tm);
            check_time(w, s * 1000000u - 1);
            check_time(w, s * 1000000u);
        }
    /* Random times up to year 3000, then any 64-bit value (years past 9999
     * take the general code). */
    for (int i = 0; i < 200000; i++)
        check_time(w, rnd() % (32503680000u * 1000000u));
    for (int i = 0; i < 2000; i++)
        check_time(w, rnd() >> (rnd() % 20));
    check_time(w, 253402300799u * 1000000u + 999999u); /* 9999-12-31T23:59:59 */
    check_time(w, 253402300800u * 1000000u);           /* 10000-01-01 */
    check_time(w, UINT64_MAX);
    /* The same second twice, then its neighbour: the cached prefix. */
    check_time(w, 1709265271284567u);
    check_time(w, 1709265271999999u);
    check_time(w, 1709265272000000u);
    check_time(w, 1709265271000000u);
    jw_free(w);
}

/* ---- keys and structure ---------------------------------------------------------- */

static void test_keys(void)
{
    /* Enough members to outgrow the first 4096-byte buffer several times, so
     * the inline key path meets a full buffer and hands over. */
    static char want[1 << 20];
    jw_t *w = jw_new(1u << 20);
    char *o = want;
    jw_obj_begin(w);
    o += sprintf(o, "{");
    for (int i = 0; i < 5000; i++) {
        if (i % 3 == 0) {
            jw_kuint(w, "source_addr_ton", (uint64_t)i);
            o += sprintf(o, "%s\"source_addr_ton\":%d", i ? "," : "", i);
        } else if (i % 3 == 1) {
            jw_key(w, "x");
            jw_arr_begin(w);
            jw_kint(w, "", -i); /* a key inside an array: what the writer did before */
            jw_str(w, "v");
            jw_arr_end(w);
            o += sprintf(o, ",\"x\":[\"\":%d,\"v\"]", -i);
        } else {
            char key[40];
            snprintf(key, sizeof key, "k%d_%.*s", i, i % 29, "abcdefghijklmnopqrstuvwxyz012");
            jw_kstr(w, key, "a\"b");
            o += sprintf(o, ",\"%s\":\"a\\\"b\"", key);
        }
    }
    jw_obj_end(w);
    o += sprintf(o, "}");
    CHECK(!jw_failed(w));
    CHECK_EQ_INT(jw_len(w), o - want);
    CHECK(strcmp(jw_data(w), want) == 0);
    jw_free(w);

    /* A key that does not fit under the ceiling fails the writer. */
    w = jw_new(10);
    jw_obj_begin(w);
    jw_key(w, "abcdefgh");
    CHECK(jw_failed(w));
    jw_free(w);
    w = jw_new(14);
    jw_obj_begin(w);
    jw_kbool(w, "abcdef", true);
    CHECK(!jw_failed(w));
    CHECK_EQ_STR(jw_data(w), "{\"abcdef\":true");
    jw_free(w);
    w = jw_new(13);
    jw_obj_begin(w);
    jw_kbool(w, "abcdef", true);
    CHECK(jw_failed(w));
    jw_free(w);
}

/* ---- endpoints ------------------------------------------------------------------- */

static void check_v6(const uint8_t a[16])
{
    char want[INET6_ADDRSTRLEN], got[64];
    inet_ntop(AF_INET6, a, want, sizeof want);
    char *e = sg_ipv6_format(a, got);
    *e = '\0';
    CHECK_EQ_STR(got, want);

    struct sg_endpoint ep = {.port = (uint16_t)rnd()};
    memcpy(ep.addr, a, 16);
    char ref[SG_ENDPOINT_STRLEN], buf[SG_ENDPOINT_STRLEN];
    snprintf(ref, sizeof ref, "[%s]:%u", want, ep.port);
    sg_endpoint_format(&ep, buf, sizeof buf);
    CHECK_EQ_STR(buf, ref);
}

static void test_endpoints(void)
{
    uint8_t a[16];
    /* Every pattern of zero and non-zero words, with small and large words. */
    for (unsigned mask = 0; mask < 256; mask++)
        for (int k = 0; k < 8; k++) {
            for (int i = 0; i < 8; i++) {
                uint16_t v = 0;
                if (mask >> i & 1) {
                    uint64_t r = rnd();
                    v = (uint16_t)(r % 4 == 0 ? r >> 8 & 15 : r % 4 == 1 ? r >> 8 & 255
                                   : r % 4 == 2 ? 1 : r >> 8);
                    if (v == 0)
                        v = 1;
                }
                a[2 * i] = (uint8_t)(v >> 8);
                a[2 * i + 1] = (uint8_t)v;
            }
            check_v6(a);
            /* The IPv4 forms inet_ntop knows: ::a.b.c.d, ::ffff:a.b.c.d and
             * what is near them. */
            static const uint16_t w5[] = {0, 0xffff, 0xfffe, 1};
            memset(a, 0, 10);
            a[10] = (uint8_t)(w5[k % 4] >> 8);
            a[11] = (uint8_t)w5[k % 4];
            check_v6(a);
            a[12] = a[13] = 0;
            check_v6(a);
            a[14] = 0, a[15] = (uint8_t)(k & 1);
            check_v6(a);
            a[9] = 1;
            check_v6(a);
        }
    for (int i = 0; i < 50000; i++) {
        for (int k = 0; k < 16; k++)
            a[k] = (uint8_t)rnd();
        check_v6(a);
    }
    /* IPv4: every octet and port width. */
    for (int i = 0; i < 20000; i++) {
        struct sg_endpoint ep = {.is_v4 = 1, .port = (uint16_t)(rnd() >> (rnd() % 16))};
        ep.addr[10] = ep.addr[11] = 0xff;
        for (int k = 12; k < 16; k++)
            ep.addr[k] = (uint8_t)(rnd() >> (rnd() % 8));
        char want[SG_ENDPOINT_STRLEN], buf[SG_ENDPOINT_STRLEN];
        snprintf(want, sizeof want, "%u.%u.%u.%u:%u", ep.addr[12], ep.addr[13], ep.addr[14],
                 ep.addr[15], ep.port);
        sg_endpoint_format(&ep, buf, sizeof buf);
        CHECK_EQ_STR(buf, want);
        /* Cut short by a small buffer, as before. */
        sg_endpoint_format(&ep, buf, 6);
        CHECK(strlen(buf) == 5 && memcmp(buf, want, 5) == 0);
    }
}

/* ---- literal keys (json-writer-int.h) ---------------------------------------- */

static const uint64_t lit_nums[] = {0, 9, 10, 99, 100, 999, 1000, 2147483650u, UINT64_MAX};

/* One document, members written the fast way (lit) or the general way;
 * both must give the same bytes, the same length and the same error state
 * for every ceiling. */
static void lit_doc(jw_t *w, bool lit, const struct jw_memo_slot *m, const char *tab_ck, size_t tab_n)
{
    static const char s1[] = "a\"b\\\n\xD0\xBA\xFF z";
    static const char tlv[JW_TAB_KEY + 1] = "\"sc_interface_version\""; /* 32 readable bytes */
    jw_obj_begin(w);
    for (size_t i = 0; i < SG_ARRAY_LEN(lit_nums); i++) {
        if (lit)
            jw_lit_kuint(w, "n", lit_nums[i]);
        else
            jw_kuint(w, "n", lit_nums[i]);
    }
    if (lit) {
        jw_lit_kbool(w, "t", true);
        jw_lit_kbool(w, "f", false);
        jw_lit_knull(w, "z");
        jw_lit_kstrn(w, "s", s1, sizeof s1 - 1);
        jw_lit_kstrn(w, "e", "", 0);
        jw_lit_kplain(w, "p", "bind_transmitter", 16);
        jw_lit_kraw32(w, "r", tlv, 22);
        jw_lit_kmemo(w, "m", m);
        jw_lit_khex(w, "h", (const uint8_t *)s1, 5);
        jw_lit_key(w, "o");
        jw_obj_begin(w);
        jw_lit_kuint(w, "first", 7); /* no comma: first member */
        char *o = jw_tab_begin(w, tab_ck, tab_n, 20);
        if (o)
            jw_lit_commit(w, jw_put_uint_at(o, 12345));
        else {
            jw_keyn(w, tab_ck + 2, tab_n - 4);
            jw_uint(w, 12345);
        }
        jw_obj_end(w);
        jw_lit_key(w, "a");
        jw_arr_begin(w);
        jw_uint(w, 1);
        jw_obj_begin(w);
        jw_lit_kuint(w, "x", 100);
        jw_obj_end(w);
        jw_arr_end(w);
    } else {
        jw_kbool(w, "t", true);
        jw_kbool(w, "f", false);
        jw_key(w, "z");
        jw_null(w);
        jw_kstrn(w, "s", s1, sizeof s1 - 1);
        jw_kstrn(w, "e", "", 0);
        jw_kstr(w, "p", "bind_transmitter");
        jw_key(w, "r");
        jw_raw(w, tlv, 22);
        jw_key(w, "m");
        jw_raw(w, m->text, m->n);
        jw_khex(w, "h", (const uint8_t *)s1, 5);
        jw_key(w, "o");
        jw_obj_begin(w);
        jw_kuint(w, "first", 7);
        jw_keyn(w, tab_ck + 2, tab_n - 4);
        jw_uint(w, 12345);
        jw_obj_end(w);
        jw_key(w, "a");
        jw_arr_begin(w);
        jw_uint(w, 1);
        jw_obj_begin(w);
        jw_kuint(w, "x", 100);
        jw_obj_end(w);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void test_lit(void)
{
    struct jw_memo_slot m = {{0}, 0, {0}};
    static const char ep[] = "\"[2001:db8:30:5::2]:50885\"";
    memcpy(m.text, ep, sizeof ep - 1);
    m.n = sizeof ep - 1;
    static const char tab_ck[JW_TAB_KEY + 1] = ",\"schedule_delivery_time\":";
    size_t tab_n = strlen(tab_ck);

    jw_t *ref = jw_new(1u << 16);
    lit_doc(ref, false, &m, tab_ck, tab_n);
    CHECK(!jw_failed(ref));
    size_t full = jw_len(ref);
    CHECK(strstr(jw_data(ref), "\"o\":{\"first\":7,\"schedule_delivery_time\":12345}") != NULL);
    jw_free(ref);
    for (size_t ceiling = 1; ceiling < full + 200; ceiling++) {
        jw_t *a = jw_new(ceiling), *b = jw_new(ceiling);
        lit_doc(a, true, &m, tab_ck, tab_n);
        lit_doc(b, false, &m, tab_ck, tab_n);
        CHECK_MSG(jw_failed(a) == jw_failed(b) && jw_len(a) == jw_len(b) &&
                      memcmp(jw_data(a), jw_data(b), jw_len(a)) == 0,
                  "literal members differ at ceiling %zu", ceiling);
        CHECK_EQ_INT(jw_failed(a), ceiling < full);
        jw_free(a);
        jw_free(b);
    }
    /* Past a key written with jw_key, a literal member takes the general
     * path (as jw_kuint would), and a second document reuses the writer. */
    jw_t *w = jw_new(4096);
    for (int round = 0; round < 2; round++) {
        jw_obj_begin(w);
        jw_key(w, "k");
        jw_lit_kuint(w, "v", 5);
        jw_obj_end(w);
        CHECK_EQ_STR(jw_data(w), "{\"k\":\"v\":5}");
        jw_reset(w);
    }
    jw_free(w);
}

/* Names written without escaping (jw_lit_kplain, kraw32): program tables,
 * all plain ASCII, and short enough for their fixed-size copies. */
static bool plain_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7E || s[i] == '"' || s[i] == '\\')
            return false;
    return n <= max;
}

static void test_names_plain(void)
{
    static const uint32_t ids[] = {
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags) id,
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(ids); i++) {
        const char *n = smpp_command_name(ids[i]);
        CHECK_MSG(n && plain_name(n, 64), "command 0x%08x", (unsigned)ids[i]);
    }
    for (uint32_t s = 0; s < 0x10000; s++) {
        const char *n = smpp_status_name(s);
        if (n)
            CHECK_MSG(plain_name(n, 64), "status 0x%x", (unsigned)s);
    }
    for (uint32_t t = 0; t < 0x10000; t++) {
        const char *n = smpp_tlv_name((uint16_t)t);
        if (n)
            CHECK_MSG(plain_name(n, JW_TAB_KEY - 2), "TLV 0x%04x", (unsigned)t);
    }
}

/* Error events carry two endpoints: with more distinct endpoints than memo
 * slots, in a repeating order, every slot is filled, hit and replaced. */
static void test_endpoint_memo(void)
{
    enum { NEP = 300 };
    static struct sg_endpoint eps[NEP];
    for (int i = 0; i < NEP; i++) {
        memset(&eps[i], 0, sizeof eps[i]);
        eps[i].is_v4 = i % 3 != 0;
        for (int k = 0; k < 16; k++)
            eps[i].addr[k] = (uint8_t)rnd();
        if (eps[i].is_v4)
            memset(eps[i].addr, 0, 12);
        eps[i].port = (uint16_t)(i % 7 == 0 ? 2775 : rnd());
    }
    eps[1] = eps[0];
    eps[1].port = 2776; /* differ only in the port */
    eps[2] = eps[0];
    eps[2].is_v4 = !eps[0].is_v4; /* same bytes, other family */
    jw_t *w = jw_new(4096);
    for (int iter = 0; iter < 20000; iter++) {
        int a = (int)(rnd() % (iter < 10000 ? 40 : NEP)), b = (int)(rnd() % NEP);
        struct stream_flow_info fl = {.flow_id = 1, .src = &eps[a], .dst = &eps[b]};
        struct decoder_error e = {.kind = DECODER_ERR_PDU, .flow = &fl, .ts = 0, .reason = "r"};
        jw_obj_begin(w);
        output_json_error(w, &e);
        jw_obj_end(w);
        char sa[SG_ENDPOINT_STRLEN], sb[SG_ENDPOINT_STRLEN], want[256];
        sg_endpoint_format(&eps[a], sa, sizeof sa);
        sg_endpoint_format(&eps[b], sb, sizeof sb);
        snprintf(want, sizeof want, "\"src\":\"%s\",\"dst\":\"%s\",\"flow\":1,", sa, sb);
        CHECK_MSG(strstr(jw_data(w), want) != NULL, "%s lacks %s", jw_data(w), want);
        jw_reset(w);
    }
    jw_free(w);
}

int main(void)
{
    test_escape();
    test_numbers();
    test_hex();
    test_time();
    test_keys();
    test_endpoints();
    test_lit();
    test_names_plain();
    test_endpoint_memo();
    return test_summary();
}
