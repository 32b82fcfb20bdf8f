/* UCS-2 decoding with SSSE3 (utf16_block8_ssse3 and its tail window,
 * chosen at run time where the processor has it) gives what the SSE2 path
 * gives and what a unit-at-a-time decoder written here from the contract
 * gives: the same octets, length, return code and count of bad
 * characters.  Unpacked GSM, IA5 and Latin-1 (whose sixteen- and
 * eight-octet copies and their tails are the same in both builds) are
 * compared with one-octet-at-a-time decoders here too.  UCS-2 inputs: random UTF-16BE text of ASCII, Cyrillic, Latin-1
 * and other two-octet characters, with three-octet characters, surrogates
 * (paired and not), NUL, U+FFFD and odd lengths mixed in; and every
 * length of 0-40 units (and one octet more) with each edge unit (NUL,
 * U+0001, U+007F, U+0080, U+07FF, U+0800, lone and paired surrogates,
 * U+FFFD, U+FFFF) at every position, so at every block and tail boundary;
 * into exact, least (the room the fast path asks for, so that ASan sees
 * a store past it) and smaller outputs, each read from an exact-size copy
 * into an exact-size buffer.  The SSE2 reference is sms-text.c built with
 * SMS_TEXT_NO_SSSE3, its public names renamed.  On a processor without
 * SSSE3 the library runs the SSE2 path and the comparison with the
 * unit-at-a-time decoder still holds. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SMS_TEXT_NO_SSSE3
#define sms_charset_of ref_sms_charset_of
#define sms_charset_name ref_sms_charset_name
#define sms_text_decode ref_sms_text_decode
#define sms_gsm_unpack ref_sms_gsm_unpack
#define sms_gsm_pack ref_sms_gsm_pack
#define sms_gsm_encode ref_sms_gsm_encode
#define sms_ucs2_encode ref_sms_ucs2_encode
#include "../filter/sms-text.c"
#undef sms_charset_of
#undef sms_charset_name
#undef sms_text_decode
#undef sms_gsm_unpack
#undef sms_gsm_pack
#undef sms_gsm_encode
#undef sms_ucs2_encode

/* The library's (sms-text.h was read above under the reference's names). */
int sms_text_decode(enum sms_charset cs, const struct sms_text_opts *o, const uint8_t *ud,
                    size_t len, unsigned fill_bits, char *out, size_t cap, size_t *outlen,
                    unsigned *bad);

static uint64_t rng = 0x243F6A8885A308D3ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static unsigned compared;

/* A character at a time, as the contract of sms_text_decode says: a
 * character is written whole while it and the NUL fit, and the first that
 * does not ends the output (SG_ENOSPC); U+0000 is U+FFFD, and every
 * U+FFFD written counts as bad. */
struct unit_writer {
    char *out;
    size_t cap, len;
    unsigned bad;
    int full;
};

static void unit_put(struct unit_writer *u, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (u->full)
        return;
    if (cp == 0)
        cp = 0xFFFD;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (u->len + n + 1 > u->cap) {
        u->full = 1;
        return;
    }
    memcpy(u->out + u->len, b, n);
    u->len += n;
    if (cp == 0xFFFD)
        u->bad++;
}

static int unit_end(struct unit_writer *u, size_t *outlen, unsigned *bad)
{
    u->out[u->len] = '\0';
    *outlen = u->len;
    *bad += u->bad;
    return u->full ? SG_ENOSPC : 0;
}

/* SMS_CS_UCS2 a unit at a time: a pair of surrogates is one character, a
 * lone surrogate and a trailing odd octet are U+FFFD. */
static int unit_ucs2(const uint8_t *in, size_t len, char *out, size_t cap, size_t *outlen, unsigned *bad)
{
    struct unit_writer u = {out, cap, 0, 0, 0};
    size_t i = 0;
    *outlen = 0;
    if (cap == 0)
        return len ? SG_ENOSPC : 0;
    while (i < len && !u.full) {
        uint32_t cp;
        if (i + 1 >= len) {
            cp = 0xFFFD;
            i++;
        } else {
            cp = (uint32_t)in[i] << 8 | in[i + 1];
            i += 2;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < len && in[i] >= 0xDC && in[i] <= 0xDF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (((uint32_t)in[i] << 8 | in[i + 1]) - 0xDC00);
                i += 2;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
        }
        unit_put(&u, cp);
    }
    return unit_end(&u, outlen, bad);
}

/* Unpacked SMS_CS_GSM a septet at a time (TS 23.038 §6.2.1, with the
 * reference build's tables): an octet above 0x7F and a dangling escape
 * are U+FFFD, an unknown extension code U+FFFD and then its default
 * character (none for ESC ESC or a non-septet). */
static int unit_gsm(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen, unsigned *bad)
{
    struct unit_writer u = {out, cap, 0, 0, 0};
    *outlen = 0;
    if (cap == 0)
        return n ? SG_ENOSPC : 0;
    for (size_t i = 0; i < n && !u.full; i++) {
        if (in[i] > 0x7F) {
            unit_put(&u, 0xFFFD);
        } else if (in[i] != 0x1B) {
            unit_put(&u, gsm_default[in[i]]);
        } else if (i + 1 >= n) {
            unit_put(&u, 0xFFFD);
        } else {
            uint8_t c = in[++i];
            uint32_t cp = c <= 0x7F ? gsm_ext_lookup(c) : 0;
            if (cp) {
                unit_put(&u, cp);
            } else {
                unit_put(&u, 0xFFFD);
                if (c <= 0x7F && c != 0x1B)
                    unit_put(&u, gsm_default[c]);
            }
        }
    }
    return unit_end(&u, outlen, bad);
}

/* SMS_CS_ASCII and SMS_CS_LATIN1 an octet at a time: Latin-1 octets are
 * their code points, ASCII ones above 0x7F U+FFFD. */
static int unit_8bit(int latin1, const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen,
                     unsigned *bad)
{
    struct unit_writer u = {out, cap, 0, 0, 0};
    *outlen = 0;
    if (cap == 0)
        return n ? SG_ENOSPC : 0;
    for (size_t i = 0; i < n && !u.full; i++)
        unit_put(&u, latin1 || in[i] < 0x80 ? in[i] : 0xFFFD);
    return unit_end(&u, outlen, bad);
}

/* sms_text_decode(cs) of in, read from an exact-size copy into an
 * exact-size output, against the one-at-a-time decoder above. */
static void same_as_unit(enum sms_charset cs, const uint8_t *in, size_t len, size_t cap, int *mismatches)
{
    uint8_t *exact = malloc(len ? len : 1);
    char *oa = malloc(cap ? cap : 1), *ob = malloc(cap ? cap : 1);
    CHECK(exact && oa && ob);
    if (exact && oa && ob) {
        memcpy(exact, in, len);
        size_t na = 0, nb = 0;
        unsigned ba = 0, bb = 0;
        int ra = sms_text_decode(cs, NULL, exact, len, 0, oa, cap, &na, &ba);
        int rb = cs == SMS_CS_GSM ? unit_gsm(exact, len, ob, cap, &nb, &bb)
                                  : unit_8bit(cs == SMS_CS_LATIN1, exact, len, ob, cap, &nb, &bb);
        int same = ra == rb && na == nb && ba == bb && (cap == 0 || memcmp(oa, ob, na + 1) == 0);
        if (!same && (*mismatches)++ < 5)
            CHECK_MSG(same, "%s differs from one at a time on %zu octets into %zu: rc %d/%d, %zu/%zu octets, "
                      "bad %u/%u", ref_sms_charset_name(cs), len, cap, ra, rb, na, nb, ba, bb);
        compared++;
    }
    free(exact);
    free(oa);
    free(ob);
}

static void same_ucs2(const uint8_t *in, size_t len, size_t cap, int *mismatches)
{
    uint8_t *exact = malloc(len ? len : 1);
    char *oa = malloc(cap ? cap : 1), *ob = malloc(cap ? cap : 1), *oc = malloc(cap ? cap : 1);
    CHECK(exact && oa && ob && oc);
    if (exact && oa && ob && oc) {
        memcpy(exact, in, len);
        size_t na = 0, nb = 0, nc = 0;
        unsigned ba = 0, bb = 0, bc = 0;
        int ra = sms_text_decode(SMS_CS_UCS2, NULL, exact, len, 0, oa, cap, &na, &ba);
        int rb = ref_sms_text_decode(SMS_CS_UCS2, NULL, exact, len, 0, ob, cap, &nb, &bb);
        int rc = unit_ucs2(exact, len, oc, cap, &nc, &bc);
        int same = ra == rb && na == nb && ba == bb && (cap == 0 || memcmp(oa, ob, na + 1) == 0);
        int same_unit = ra == rc && na == nc && ba == bc && (cap == 0 || memcmp(oa, oc, na + 1) == 0);
        if (!same && (*mismatches)++ < 5)
            CHECK_MSG(same, "UCS-2 paths differ on %zu octets into %zu: rc %d/%d, %zu/%zu octets, bad %u/%u",
                      len, cap, ra, rb, na, nb, ba, bb);
        if (!same_unit && (*mismatches)++ < 5)
            CHECK_MSG(same_unit, "UCS-2 differs from one unit at a time on %zu octets into %zu: rc %d/%d, "
                      "%zu/%zu octets, bad %u/%u", len, cap, ra, rc, na, nc, ba, bc);
        compared++;
    }
    free(exact);
    free(oa);
    free(ob);
    free(oc);
}

/* One UTF-16 unit of a kind the text mixes. */
static uint16_t unit(unsigned mix)
{
    unsigned r = next_rand() % 100;
    if (r < 30)
        return (uint16_t)(0x20 + next_rand() % 0x5F);   /* ASCII */
    if (r < 70)
        return (uint16_t)(0x0410 + next_rand() % 0x40); /* Cyrillic */
    if (r < 80)
        return (uint16_t)(0x00A0 + next_rand() % 0x60); /* Latin-1 */
    if (r < 85)
        return (uint16_t)(0x0080 + next_rand() % 0x780); /* any two-octet */
    if (r < 88 + mix)
        return (uint16_t)(0x0800 + next_rand() % 0xC000); /* three octets, surrogates too */
    if (r < 90 + mix)
        return (uint16_t)(next_rand() % 2 ? 0 : 0xFFFD);
    if (r < 92 + mix)
        return (uint16_t)(0xD800 + next_rand() % 0x800);
    return ' ';
}

static void test_random(void)
{
    int mismatches = 0;
    uint8_t buf[400];
    for (int round = 0; round < 100000; round++) {
        unsigned mix = next_rand() % 4 == 0 ? next_rand() % 8 : 0;
        size_t units = next_rand() % 140, len = 0;
        for (size_t i = 0; i < units; i++) {
            uint16_t u = unit(mix);
            buf[len++] = (uint8_t)(u >> 8);
            buf[len++] = (uint8_t)u;
        }
        if (len && next_rand() % 8 == 0)
            len--; /* odd trailing octet */
        size_t cap = SMS_TEXT_DECODE_CAP(len);
        if (next_rand() % 4 == 0)
            cap = next_rand() % (cap + 1); /* cut output */
        same_ucs2(buf, len, cap, &mismatches);
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* Each edge unit at each position of 0-40 units of a background that the
 * blocks take (ASCII, Cyrillic, Latin-1, or a mix), whole and with one
 * octet more, into the exact capacity and into cut ones. */
static void test_edges(void)
{
    static const uint16_t edge[] = {0x0000, 0x0001, 0x007F, 0x0080, 0x07FF, 0x0800, 0xD800,
                                    0xDBFF, 0xDC00, 0xDFFF, 0xFFFD, 0xFFFF, 0x0020, 0x0430};
    int mismatches = 0;
    uint8_t buf[2 * 41 + 4];
    for (unsigned bg = 0; bg < 4; bg++) {
        for (size_t units = 0; units <= 40; units++) {
            for (size_t at = 0; at <= units; at++) { /* at == units: background only */
                for (size_t e = 0; e < SG_ARRAY_LEN(edge) + 1; e++) {
                    size_t len = 0;
                    for (size_t k = 0; k < units; k++) {
                        uint16_t u = bg == 0 ? (uint16_t)('a' + k % 26)
                                   : bg == 1 ? (uint16_t)(0x0410 + k % 0x40)
                                   : bg == 2 ? (uint16_t)(0x00C0 + k % 0x40)
                                             : (uint16_t)(k % 3 ? 0x0410 + k % 0x40 : ' ');
                        if (k == at)
                            u = e < SG_ARRAY_LEN(edge) ? edge[e] : 0xD83D; /* last: a pair */
                        buf[len++] = (uint8_t)(u >> 8);
                        buf[len++] = (uint8_t)u;
                        if (k == at && e == SG_ARRAY_LEN(edge) && k + 1 < units) {
                            buf[len++] = 0xDE; /* U+1F600 */
                            buf[len++] = 0x00;
                            k++;
                        }
                    }
                    for (int odd = 0; odd < 2; odd++) {
                        size_t n = len + (size_t)odd;
                        buf[len] = 0x04;
                        size_t cap = SMS_TEXT_DECODE_CAP(n);
                        same_ucs2(buf, n, cap, &mismatches);
                        same_ucs2(buf, n, n / 2 * 3 + 1, &mismatches); /* least room for the fast path */
                        same_ucs2(buf, n, n / 2 + 1, &mismatches);
                    }
                    if (at == units)
                        break; /* no edge unit placed: once is enough */
                }
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* Unpacked GSM, IA5 and Latin-1: each edge octet at each position of 0-40
 * octets of text that the sixteen- and eight-octet copies take (and the
 * escapes ESC e, ESC < and ESC ESC there), into the exact capacity, the least the fast path asks for (2n + 1 for GSM, the
 * tail's new octets and the NUL for the others) and cut ones: the blocks,
 * the tails that rewrite a block's last octets, and the one-at-a-time
 * loops must agree with one octet at a time.  Then every octet value at
 * every position of sixteen and twenty-four octets, for the range tests
 * of the blocks. */
static void test_octet_edges(void)
{
    static const uint8_t edge[] = {0x00, 0x0A, 0x0D, 0x1B, 0x1F, 0x20, 0x24, 0x40, 0x5A, 0x5B, 0x60,
                                   0x61, 0x7A, 0x7B, 0x7F, 0x80, 0xA3, 0xFF};
    static const enum sms_charset cs[] = {SMS_CS_GSM, SMS_CS_ASCII, SMS_CS_LATIN1};
    int mismatches = 0;
    uint8_t buf[42];
    for (size_t c = 0; c < SG_ARRAY_LEN(cs); c++) {
        for (size_t n = 0; n <= 40; n++) {
            for (size_t at = 0; at <= n; at++) {
                for (size_t e = 0; e < SG_ARRAY_LEN(edge); e++) {
                    for (size_t k = 0; k < n; k++)
                        buf[k] = (uint8_t)(k % 7 == 3 ? ' ' : 'a' + k % 26);
                    if (at < n)
                        buf[at] = edge[e];
                    if (e == 0 && at + 1 < n)
                        buf[at] = 0x1B, buf[at + 1] = 0x65; /* ESC e: the euro sign */
                    if (e == 5 && at + 1 < n)
                        buf[at] = 0x1B, buf[at + 1] = 0x3C; /* ESC <: [ */
                    if (e == 6 && at + 1 < n)
                        buf[at] = 0x1B, buf[at + 1] = 0x1B; /* ESC ESC: unknown */
                    same_as_unit(cs[c], buf, n, SMS_TEXT_DECODE_CAP(n), &mismatches);
                    same_as_unit(cs[c], buf, n, 2 * n + 1, &mismatches);
                    same_as_unit(cs[c], buf, n, n + 1, &mismatches);
                    same_as_unit(cs[c], buf, n, n / 2 + 1, &mismatches);
                    if (at == n)
                        break; /* no edge octet placed: once is enough */
                }
            }
        }
    }
    /* every octet value at each position of sixteen and of twenty-four */
    for (size_t c = 0; c < SG_ARRAY_LEN(cs); c++)
        for (unsigned v = 0; v < 256; v++)
            for (size_t n = 16; n <= 24; n += 8)
                for (size_t at = 0; at < n; at++) {
                    for (size_t k = 0; k < n; k++)
                        buf[k] = (uint8_t)('A' + k % 26);
                    buf[at] = (uint8_t)v;
                    same_as_unit(cs[c], buf, n, SMS_TEXT_DECODE_CAP(n), &mismatches);
                }
    CHECK_EQ_INT(mismatches, 0);
}

int main(void)
{
    test_edges();
    test_octet_edges();
    test_random();
    return test_summary();
}
