/* UCS-2 decoding with SSSE3 (utf16_block8_ssse3 and its tail window,
 * chosen at run time where the processor has it) gives what the SSE2 path
 * gives and what a unit-at-a-time decoder written here from the contract
 * gives: the same octets, length, return code and count of bad
 * characters.  Inputs: random UTF-16BE text of ASCII, Cyrillic, Latin-1
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

/* The contract of sms_text_decode for SMS_CS_UCS2, one unit at a time:
 * a pair of surrogates is one character, a lone surrogate, U+0000 and a
 * trailing odd octet are U+FFFD, and U+FFFD counts as bad whether made or
 * sent; a character is written whole while it and the NUL fit, and the
 * first that does not ends the output with SG_ENOSPC. */
static int unit_ucs2(const uint8_t *in, size_t len, char *out, size_t cap, size_t *outlen, unsigned *bad)
{
    size_t o = 0, i = 0;
    *outlen = 0;
    if (cap == 0)
        return len ? SG_ENOSPC : 0;
    while (i < len) {
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
            } else if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                cp = 0xFFFD;
            }
        }
        uint8_t b[4];
        size_t n;
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
        if (o + n + 1 > cap) {
            out[o] = '\0';
            *outlen = o;
            return SG_ENOSPC;
        }
        memcpy(out + o, b, n);
        o += n;
        if (cp == 0xFFFD)
            (*bad)++;
    }
    out[o] = '\0';
    *outlen = o;
    return 0;
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

int main(void)
{
    test_edges();
    test_random();
    return test_summary();
}
