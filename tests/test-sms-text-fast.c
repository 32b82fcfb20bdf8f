/* UCS-2 decoding with SSSE3 (utf16_mixed_ssse3, chosen at run time where
 * the processor has it) gives what the SSE2 path gives: the same octets,
 * length, return code and count of bad characters, on random UTF-16BE
 * text of ASCII, Cyrillic, Latin-1 and other two-octet characters, with
 * three-octet characters, surrogates (paired and not), NUL, U+FFFD and
 * odd lengths mixed in, into exact and smaller outputs, each read from an
 * exact-size copy.  The reference is sms-text.c built with
 * SMS_TEXT_NO_SSSE3, its public names renamed.  On a processor without
 * SSSE3 both sides run the SSE2 path and the test still passes. */
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

static void same_ucs2(const uint8_t *in, size_t len, size_t cap, int *mismatches)
{
    uint8_t *exact = malloc(len ? len : 1);
    char *oa = malloc(cap ? cap : 1), *ob = malloc(cap ? cap : 1);
    CHECK(exact && oa && ob);
    if (exact && oa && ob) {
        memcpy(exact, in, len);
        size_t na = 0, nb = 0;
        unsigned ba = 0, bb = 0;
        int ra = sms_text_decode(SMS_CS_UCS2, NULL, exact, len, 0, oa, cap, &na, &ba);
        int rb = ref_sms_text_decode(SMS_CS_UCS2, NULL, exact, len, 0, ob, cap, &nb, &bb);
        int same = ra == rb && na == nb && ba == bb && (cap == 0 || memcmp(oa, ob, na + 1) == 0);
        if (!same && (*mismatches)++ < 5)
            CHECK_MSG(same, "UCS-2 paths differ on %zu octets into %zu: rc %d/%d, %zu/%zu octets, bad %u/%u",
                      len, cap, ra, rb, na, nb, ba, bb);
        compared++;
    }
    free(exact);
    free(oa);
    free(ob);
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

int main(void)
{
    test_random();
    return test_summary();
}
