/* sms-text: data_coding mapping and decoding to UTF-8, with real vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sms-text.h"
#include "sms-udh.h"
#include "testutil.h"

static const struct sms_text_opts unpacked = {SMS_CS_GSM, SMS_GSM_UNPACKED, 0};
static const struct sms_text_opts packed = {SMS_CS_GSM, SMS_GSM_PACKED, 0};

/* Decodes hex in charset cs and checks the UTF-8 and the bad count. */
static void check_decode(const char *what, enum sms_charset cs, const struct sms_text_opts *o,
                         const char *hex, unsigned fill, const char *want, unsigned want_bad)
{
    uint8_t in[512];
    char out[2048];
    long n = test_unhex(hex, in, sizeof in);
    CHECK_MSG(n >= 0, "%s: bad hex", what);
    if (n < 0)
        return;
    size_t outlen = 99;
    unsigned bad = 0;
    int rc = sms_text_decode(cs, o, in, (size_t)n, fill, out, sizeof out, &outlen, &bad);
    CHECK_MSG(rc == 0, "%s: rc %d", what, rc);
    CHECK_MSG(strcmp(out, want) == 0, "%s: got \"%s\" want \"%s\"", what, out, want);
    CHECK_MSG(outlen == strlen(want), "%s: outlen %zu", what, outlen);
    CHECK_MSG(bad == want_bad, "%s: bad %u want %u", what, bad, want_bad);
}

static void test_charset_of(void)
{
    struct sms_text_opts o = {0};
    CHECK_EQ_INT(sms_charset_of(0x00, NULL), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0x00, &o), SMS_CS_GSM);
    o.dc0_charset = SMS_CS_LATIN1;
    CHECK_EQ_INT(sms_charset_of(0x00, &o), SMS_CS_LATIN1);
    o.dc0_charset = SMS_CS_ASCII;
    CHECK_EQ_INT(sms_charset_of(0x00, &o), SMS_CS_ASCII);
    CHECK_EQ_INT(sms_charset_of(0x01, NULL), SMS_CS_ASCII);
    o.dc1_gsm = 1; /* node-smpp */
    CHECK_EQ_INT(sms_charset_of(0x01, &o), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0x02, NULL), SMS_CS_BINARY);
    CHECK_EQ_INT(sms_charset_of(0x03, NULL), SMS_CS_LATIN1);
    CHECK_EQ_INT(sms_charset_of(0x04, NULL), SMS_CS_BINARY);
    CHECK_EQ_INT(sms_charset_of(0x05, NULL), SMS_CS_UNSUPPORTED);
    CHECK_EQ_INT(sms_charset_of(0x06, NULL), SMS_CS_CYRILLIC);
    CHECK_EQ_INT(sms_charset_of(0x07, NULL), SMS_CS_HEBREW);
    CHECK_EQ_INT(sms_charset_of(0x08, NULL), SMS_CS_UCS2);
    CHECK_EQ_INT(sms_charset_of(0x09, NULL), SMS_CS_UNSUPPORTED);
    CHECK_EQ_INT(sms_charset_of(0x0E, NULL), SMS_CS_UNSUPPORTED);
    /* TS 23.038 §4 general group with message class (bit 4) */
    CHECK_EQ_INT(sms_charset_of(0x10, NULL), SMS_CS_GSM);  /* flash, GSM */
    CHECK_EQ_INT(sms_charset_of(0x14, NULL), SMS_CS_BINARY);
    CHECK_EQ_INT(sms_charset_of(0x18, NULL), SMS_CS_UCS2); /* flash, UCS2 */
    CHECK_EQ_INT(sms_charset_of(0x1C, NULL), SMS_CS_UNSUPPORTED);
    CHECK_EQ_INT(sms_charset_of(0x30, NULL), SMS_CS_UNSUPPORTED); /* compressed */
    CHECK_EQ_INT(sms_charset_of(0x48, NULL), SMS_CS_UCS2);  /* auto-deletion group */
    CHECK_EQ_INT(sms_charset_of(0x90, NULL), SMS_CS_UNSUPPORTED);
    CHECK_EQ_INT(sms_charset_of(0xC0, NULL), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0xD8, NULL), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0xE8, NULL), SMS_CS_UCS2);
    /* 0xF0-0xFF message class group: bit 2 selects 8-bit data */
    CHECK_EQ_INT(sms_charset_of(0xF0, NULL), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0xF1, NULL), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0xF3, NULL), SMS_CS_GSM);
    CHECK_EQ_INT(sms_charset_of(0xF4, NULL), SMS_CS_BINARY);
    CHECK_EQ_INT(sms_charset_of(0xF5, NULL), SMS_CS_BINARY); /* class 1 8-bit: WAP push, OTA */
    CHECK_EQ_INT(sms_charset_of(0xF6, NULL), SMS_CS_BINARY);
    CHECK_EQ_STR(sms_charset_name(SMS_CS_UCS2), "ucs2");
}

static void test_gsm(void)
{
    /* TS 23.038 §6.2.1 table spot checks and the whole extension table */
    check_decode("gsm @£$_", SMS_CS_GSM, &unpacked, "00 01 02 11", 0, "@£$_", 0);
    check_decode("gsm 0x09 0x24 0x40 0x60 0x7F", SMS_CS_GSM, &unpacked, "09 24 40 60 7F", 0,
                 "ç¤¡¿à", 0);
    check_decode("gsm greek", SMS_CS_GSM, &unpacked, "10 12 13 14 15 16 17 18 19 1A", 0,
                 "ΔΦΓΛΩΠΨΣΘΞ", 0);
    check_decode("gsm ÄÖÑÜ§ äöñü", SMS_CS_GSM, &unpacked, "5B 5C 5D 5E 5F 7B 7C 7D 7E", 0,
                 "ÄÖÑÜ§äöñü", 0);
    check_decode("gsm euro", SMS_CS_GSM, &unpacked, "1B 65", 0, "€", 0);
    check_decode("gsm extension table", SMS_CS_GSM, &unpacked,
                 "1B14 1B28 1B29 1B2F 1B3C 1B3D 1B3E 1B40 1B0A", 0, "^{}\\[~]|\f", 0);
    check_decode("gsm dangling escape", SMS_CS_GSM, &unpacked, "41 1B", 0, "A\xEF\xBF\xBD", 1);
    check_decode("gsm unknown escape", SMS_CS_GSM, &unpacked, "1B 41 42", 0, "\xEF\xBF\xBD" "AB", 1);
    check_decode("gsm octet > 0x7F", SMS_CS_GSM, &unpacked, "41 80 42", 0, "A\xEF\xBF\xBD" "B", 1);
    check_decode("gsm empty", SMS_CS_GSM, &unpacked, "", 0, "", 0);

    /* packed (TS 23.038 §6.1.2.1.1): the classic vectors */
    check_decode("packed hello", SMS_CS_GSM, &packed, "E8 32 9B FD 06", 0, "hello", 0);
    check_decode("packed hellohello", SMS_CS_GSM, &packed, "E8 32 9B FD 46 97 D9 EC 37", 0,
                 "hellohello", 0);
    /* after a 6-octet UDH (05 00 03 CC 02 01): one fill bit */
    CHECK_EQ_INT(sms_udh_fill_bits(6), 1);
    CHECK_EQ_INT(sms_udh_fill_bits(7), 0);
    CHECK_EQ_INT(sms_udh_fill_bits(1), 6);
    check_decode("packed hello fill 1", SMS_CS_GSM, &packed, "D0 65 36 FB 0D", 1, "hello", 0);
    /* 7 characters in 7 octets leave 7 zero bits: padding, not '@' */
    check_decode("packed 7 chars zero pad", SMS_CS_GSM, &packed, "31 D9 8C 56 B3 DD 00", 0,
                 "1234567", 0);
    /* ... and §6.1.2.3.1's CR padding (CR = 0x0D in the top 7 bits) */
    check_decode("packed 7 chars CR pad", SMS_CS_GSM, &packed, "31 D9 8C 56 B3 DD 1A", 0,
                 "1234567", 0);
    /* an escape across the packing */
    {
        uint8_t sept[64], pk[64], back[64];
        size_t n, pn, bn;
        CHECK_EQ_INT(sms_gsm_encode("Price: 5€ {ok}", strlen("Price: 5€ {ok}"), sept, sizeof sept, &n), 0);
        for (unsigned fill = 0; fill <= 6; fill++) {
            CHECK_EQ_INT(sms_gsm_pack(sept, n, fill, pk, sizeof pk, &pn), 0);
            CHECK_EQ_INT(sms_gsm_unpack(pk, pn, fill, back, sizeof back, &bn), 0);
            CHECK(bn == n && memcmp(back, sept, n) == 0);
            char out[128];
            size_t ol;
            CHECK_EQ_INT(sms_text_decode(SMS_CS_GSM, &packed, pk, pn, fill, out, sizeof out, &ol, NULL), 0);
            CHECK_EQ_STR(out, "Price: 5€ {ok}");
        }
        CHECK_EQ_INT(sms_gsm_unpack(pk, pn, 7, back, sizeof back, &bn), SG_EINVAL);
        CHECK_EQ_INT(sms_text_decode(SMS_CS_GSM, &packed, pk, pn, 7, (char *)back, sizeof back, NULL, NULL), SG_EINVAL);
    }
    /* random septets round-trip through pack/unpack at every fill */
    srand(7);
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t sept[200], pk[200], back[240];
        size_t n = (size_t)(rand() % 160), pn, bn;
        for (size_t i = 0; i < n; i++)
            sept[i] = (uint8_t)(rand() & 0x7F);
        if (n)
            sept[n - 1] |= 0x20; /* never the padding values 0x00/0x0D at the end */
        unsigned fill = (unsigned)(rand() % 7);
        CHECK_EQ_INT(sms_gsm_pack(sept, n, fill, pk, sizeof pk, &pn), 0);
        CHECK_EQ_INT(sms_gsm_unpack(pk, pn, fill, back, sizeof back, &bn), 0);
        CHECK(bn == n && memcmp(back, sept, n) == 0);
    }
}

static void test_8bit(void)
{
    check_decode("ascii", SMS_CS_ASCII, NULL, "48 69 21 24 40", 0, "Hi!$@", 0);
    check_decode("ascii high", SMS_CS_ASCII, NULL, "41 C3", 0, "A\xEF\xBF\xBD", 1);
    check_decode("latin1", SMS_CS_LATIN1, NULL, "63 61 66 E9 20 A3 35", 0, "café £5", 0);
    /* "Привет" in ISO-8859-5 */
    check_decode("iso-8859-5", SMS_CS_CYRILLIC, NULL, "BF E0 D8 D2 D5 E2", 0, "Привет", 0);
    check_decode("iso-8859-5 symbols", SMS_CS_CYRILLIC, NULL, "A1 F0 FD FF", 0, "Ё№§џ", 0);
    /* "שלום" in ISO-8859-8; 0xA1 is unassigned */
    check_decode("iso-8859-8", SMS_CS_HEBREW, NULL, "F9 EC E5 ED", 0, "שלום", 0);
    check_decode("iso-8859-8 hole", SMS_CS_HEBREW, NULL, "A1", 0, "\xEF\xBF\xBD", 1);
    /* NUL never reaches the output */
    check_decode("latin1 NUL", SMS_CS_LATIN1, NULL, "41 00 42", 0, "A\xEF\xBF\xBD" "B", 1);
}

static void test_ucs2(void)
{
    check_decode("ucs2 Привет", SMS_CS_UCS2, NULL, "041F 0440 0438 0432 0435 0442", 0, "Привет", 0);
    /* U+1F600 as a surrogate pair */
    check_decode("ucs2 emoji", SMS_CS_UCS2, NULL, "0048 0069 D83D DE00", 0, "Hi😀", 0);
    check_decode("ucs2 high alone", SMS_CS_UCS2, NULL, "D83D 0041", 0, "\xEF\xBF\xBD" "A", 1);
    check_decode("ucs2 high at end", SMS_CS_UCS2, NULL, "0041 D83D", 0, "A\xEF\xBF\xBD", 1);
    check_decode("ucs2 low alone", SMS_CS_UCS2, NULL, "DE00 0041", 0, "\xEF\xBF\xBD" "A", 1);
    /* U+FFFD and NUL sent as such are counted, after text the fast path
     * took (Cyrillic, then a three-byte character) */
    check_decode("ucs2 fffd sent", SMS_CS_UCS2, NULL, "041F 20AC FFFD 0041", 0,
                 "П€\xEF\xBF\xBD" "A", 1);
    check_decode("ucs2 nul sent", SMS_CS_UCS2, NULL, "0041 0000 0042", 0, "A\xEF\xBF\xBD" "B", 1);
    check_decode("ucs2 odd octet", SMS_CS_UCS2, NULL, "0041 00", 0, "A\xEF\xBF\xBD", 1);
    check_decode("ucs2 U+0000", SMS_CS_UCS2, NULL, "0000", 0, "\xEF\xBF\xBD", 1);
    /* the cloudhopper deliver_sm vector: dc 8 with octets 40 24 23 21 25 26 2F 3A */
    check_decode("ucs2 cloudhopper", SMS_CS_UCS2, NULL, "4024 2321 2526 2F3A", 0,
                 "\xE4\x80\xA4\xE2\x8C\xA1\xE2\x94\xA6\xE2\xBC\xBA", 0);
}

static void test_limits(void)
{
    uint8_t in[8] = {0x1B, 0x65, 0x1B, 0x65};
    char out[8];
    size_t ol = 99;
    unsigned bad = 0;
    /* "€€" needs 6 + NUL; cap 5 fits one € */
    memset(out, 'x', sizeof out);
    CHECK_EQ_INT(sms_text_decode(SMS_CS_GSM, NULL, in, 4, 0, out, 5, &ol, &bad), SG_ENOSPC);
    CHECK_EQ_STR(out, "€");
    CHECK_EQ_INT(ol, 3);
    CHECK_EQ_INT(out[5], 'x'); /* nothing past cap */
    CHECK_EQ_INT(sms_text_decode(SMS_CS_GSM, NULL, in, 4, 0, out, 1, &ol, &bad), SG_ENOSPC);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(sms_text_decode(SMS_CS_GSM, NULL, in, 4, 0, out, 0, &ol, &bad), SG_ENOSPC);
    /* binary and unsupported: the caller shows hex */
    CHECK_EQ_INT(sms_text_decode(SMS_CS_BINARY, NULL, in, 4, 0, out, sizeof out, &ol, &bad), SG_ENOTSUP);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(sms_text_decode(SMS_CS_UNSUPPORTED, NULL, in, 4, 0, out, sizeof out, &ol, &bad), SG_ENOTSUP);
    /* SMS_TEXT_DECODE_CAP suffices for the worst inputs of each charset */
    uint8_t worst[140];
    char big[SMS_TEXT_DECODE_CAP(140)];
    memset(worst, 0xFF, sizeof worst);
    for (int cs = SMS_CS_GSM; cs <= SMS_CS_UCS2; cs++)
        for (int pk = 0; pk < 2; pk++) {
            struct sms_text_opts o = {SMS_CS_GSM, (enum sms_gsm_packing)pk, 0};
            CHECK_EQ_INT(sms_text_decode((enum sms_charset)cs, &o, worst, sizeof worst, 0, big,
                                         sizeof big, NULL, NULL), 0);
        }
}

static void test_encoders(void)
{
    uint8_t out[64];
    size_t n;
    CHECK_EQ_INT(sms_gsm_encode("@£$_{€}", strlen("@£$_{€}"), out, sizeof out, &n), 0);
    uint8_t want[] = {0x00, 0x01, 0x02, 0x11, 0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29};
    CHECK(n == sizeof want && memcmp(out, want, n) == 0);
    CHECK_EQ_INT(sms_gsm_encode("AЖ", strlen("AЖ"), out, sizeof out, &n), SG_EINVAL);
    CHECK_EQ_INT(n, 1); /* offset of the Ж */
    CHECK_EQ_INT(sms_gsm_encode("A\xC3", 2, out, sizeof out, &n), SG_EINVAL);
    CHECK_EQ_INT(sms_gsm_encode("€", 3, out, 1, &n), SG_ENOSPC);
    CHECK_EQ_INT(sms_ucs2_encode("Пр😀", strlen("Пр😀"), out, sizeof out, &n), 0);
    uint8_t w2[] = {0x04, 0x1F, 0x04, 0x40, 0xD8, 0x3D, 0xDE, 0x00};
    CHECK(n == sizeof w2 && memcmp(out, w2, n) == 0);
    CHECK_EQ_INT(sms_ucs2_encode("\xED\xA0\x80", 3, out, sizeof out, &n), SG_EINVAL); /* CESU surrogate */
    CHECK_EQ_INT(sms_ucs2_encode("\xC0\xAF", 2, out, sizeof out, &n), SG_EINVAL);     /* overlong */
    CHECK_EQ_INT(sms_ucs2_encode("😀", 4, out, 3, &n), SG_ENOSPC);
}

/* The node-smpp submit_sm from shared/data/vectors (id 38): esm_class 0x40,
 * data_coding 1 (GSM octets, node-smpp's habit), UDH IEI 0x24 (Portuguese
 * single shift) and text "tãst" in node-smpp's test.  We do not apply
 * national language tables: the 0x7B decodes from the default table. */
static void test_vector_38(void)
{
    FILE *f = fopen(test_shared_path("data/vectors/smpp-pdus.tsv"), "r");
    CHECK_MSG(f != NULL, "cannot open smpp-pdus.tsv");
    if (!f)
        return;
    char line[4096], hex[2048] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "38\t", 3) == 0) {
            char *h = strrchr(line, '\t');
            snprintf(hex, sizeof hex, "%s", h + 1);
        }
    fclose(f);
    uint8_t pdu[1024];
    long n = test_unhex(hex, pdu, sizeof pdu);
    CHECK(n == 63);
    if (n != 63)
        return;
    /* short_message is the last sm_length (pdu[n-9] == 8) octets */
    CHECK_EQ_INT(pdu[n - 9], 8);
    const uint8_t *sm = pdu + n - 8;
    struct sms_udh u;
    CHECK_EQ_INT(sms_udh_parse(sm, 8, &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.udhl, 4);
    CHECK_EQ_INT(u.lang_single, 3);
    CHECK_EQ_INT(u.concat, 0);
    struct sms_text_opts o = {SMS_CS_GSM, SMS_GSM_UNPACKED, 1};
    char out[64];
    CHECK_EQ_INT(sms_text_decode(sms_charset_of(pdu[n - 11], &o), &o, sm + u.udhl, 8 - u.udhl, 0,
                                 out, sizeof out, NULL, NULL), 0);
    CHECK_EQ_STR(out, "täst");
}

/* Unpacked GSM text runs through a path that copies eight septets at a
 * time when they are their own ASCII; shorter texts, and windows holding
 * anything else, go one septet at a time.  Every septet value, alone
 * (one by one) and repeated 8, 9 and 17 times (both paths), must decode
 * alike; so must random texts (without escapes) and the concatenation of
 * their septets decoded one at a time. */
static void test_gsm_runs(void)
{
    struct sms_text_opts o = {.dc0_charset = SMS_CS_GSM, .gsm_packing = SMS_GSM_UNPACKED};
    char one[8], run[256], want[256];
    for (unsigned b = 0; b < 0x100; b++) {
        if (b == 0x1B)
            continue;
        uint8_t s = (uint8_t)b;
        size_t n1 = 0;
        unsigned bad1 = 0;
        sms_text_decode(SMS_CS_GSM, &o, &s, 1, 0, one, sizeof one, &n1, &bad1);
        static const size_t reps[] = {8, 9, 17};
        for (size_t r = 0; r < sizeof reps / sizeof reps[0]; r++) {
            uint8_t in[17];
            memset(in, s, reps[r]);
            size_t n = 0;
            unsigned bad = 0;
            sms_text_decode(SMS_CS_GSM, &o, in, reps[r], 0, run, sizeof run, &n, &bad);
            int ok = n == n1 * reps[r] && bad == bad1 * reps[r];
            for (size_t k = 0; ok && k < reps[r]; k++)
                ok = memcmp(run + k * n1, one, n1) == 0;
            CHECK_MSG(ok, "septet 0x%02x repeated %zu times", b, reps[r]);
        }
    }
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    int mismatches = 0;
    for (int round = 0; round < 5000; round++) {
        uint8_t in[64];
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* mostly letters and spaces, sometimes any octet but the escape */
            uint8_t c = (x >> 8) % 4 ? (uint8_t)(0x20 + x % 0x5B) : (uint8_t)(x >> 16);
            in[i] = c == 0x1B ? 0x20 : c;
        }
        size_t n = 0, wn = 0;
        unsigned bad = 0, wbad = 0;
        sms_text_decode(SMS_CS_GSM, &o, in, len, 0, run, sizeof run, &n, &bad);
        for (size_t i = 0; i < len; i++) {
            size_t k = 0;
            sms_text_decode(SMS_CS_GSM, &o, in + i, 1, 0, one, sizeof one, &k, &wbad);
            memcpy(want + wn, one, k);
            wn += k;
        }
        if ((n != wn || bad != wbad || memcmp(run, want, n) != 0) && mismatches++ < 5)
            CHECK_MSG(0, "random GSM text %d decodes unlike its septets one by one", round);
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* The plain UTF-16BE decoder the fast paths must agree with: one unit at a
 * time, a character written whole or not at all with room for the NUL,
 * nothing after the first that does not fit; U+FFFD for NUL, lone
 * surrogates and an odd trailing octet, counted (U+FFFD sent as such too). */
static int ref_utf16be(const uint8_t *in, size_t len, char *out, size_t cap, size_t *outlen,
                       unsigned *bad)
{
    size_t o = 0, i = 0;
    int full = 0;
    *bad = 0;
    while (!full && i < len) {
        uint32_t cp;
        if (i + 1 >= len) {
            cp = 0xFFFD;
            i = len;
        } else {
            uint32_t u = (uint32_t)in[i] << 8 | in[i + 1];
            i += 2;
            cp = u;
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t l = i + 1 < len ? ((uint32_t)in[i] << 8 | in[i + 1]) : 0;
                if (l >= 0xDC00 && l <= 0xDFFF) {
                    cp = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
                    i += 2;
                } else {
                    cp = 0xFFFD;
                }
            } else if ((u >= 0xDC00 && u <= 0xDFFF) || u == 0) {
                cp = 0xFFFD;
            }
        }
        uint8_t b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (uint8_t)cp, n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xE0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), b[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
        }
        if (o + n + 1 > cap) {
            full = 1;
            break;
        }
        memcpy(out + o, b, n);
        o += n;
        if (cp == 0xFFFD)
            (*bad)++;
    }
    out[o] = '\0';
    *outlen = o;
    return full ? SG_ENOSPC : 0;
}

/* sms_text_decode (UCS-2) and ref_utf16be agree on in[0..len) with an
 * output of cap bytes (at most 1024): result, length, text with its NUL
 * and count of replaced units. */
static int ucs2_agrees_cap(const uint8_t *in, size_t len, size_t cap)
{
    char got[1024], want[1024];
    size_t gn = 0, wn = 0;
    unsigned gbad = 0, wbad = 0;
    int grc = sms_text_decode(SMS_CS_UCS2, NULL, in, len, 0, got, cap, &gn, &gbad);
    int wrc = ref_utf16be(in, len, want, cap, &wn, &wbad);
    return grc == wrc && gn == wn && gbad == wbad && memcmp(got, want, wn + 1) == 0;
}

static int ucs2_agrees(const uint8_t *in, size_t len) { return ucs2_agrees_cap(in, len, 128); }

/* UCS-2 goes four units at a time through runs of Cyrillic and of ASCII
 * (little-endian hosts), then unit by unit.  Random texts made mostly of
 * Cyrillic, ASCII, a few other characters and bad units, of every length
 * to 200 octets (odd ones too), decoded into buffers from roomy down to a
 * few octets, must give what the plain decoder above gives: octets, length,
 * bad count and return code. */
static void test_ucs2_runs(void)
{
    uint64_t x = 0x2545F4914F6CDD1DULL;
    int mismatches = 0;
    for (int round = 0; round < 20000; round++) {
        uint8_t in[200];
        size_t len = (size_t)(round % 201);
        for (size_t i = 0; i + 1 < len + 1 && i < len; i += 2) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint32_t u;
            switch ((x >> 40) % 16) {
            case 0: u = (uint32_t)(x >> 8) & 0xFFFF; break;               /* anything */
            case 1: u = (x >> 20) % 4 ? 0x20 : 0; break;                  /* space, NUL */
            case 2: u = 0xD800 + (uint32_t)((x >> 8) % 0x800); break;     /* surrogates */
            case 3: u = (x >> 20) % 2 ? 0x20AC : 0xFFFD; break;
            case 4: case 5: case 6: u = 0x20 + (uint32_t)((x >> 8) % 0x5F); break; /* ASCII */
            case 7: u = 0x80 + (uint32_t)((x >> 8) % 0x380); break;       /* Latin, Greek */
            default: u = 0x400 + (uint32_t)((x >> 8) % 0x100); break;     /* Cyrillic */
            }
            in[i] = (uint8_t)(u >> 8);
            if (i + 1 < len)
                in[i + 1] = (uint8_t)u;
        }
        static const size_t caps[] = {1024, 4, 7, 31, 100, 301};
        size_t cap = caps[round % 6];
        if (!ucs2_agrees_cap(in, len, cap) && mismatches++ < 5)
            CHECK_MSG(0, "UCS-2 text %d (%zu octets, cap %zu)", round, len, cap);
    }
    CHECK_EQ_INT(mismatches, 0);
    /* Every Cyrillic unit in each of the four lanes of a window. */
    for (uint32_t u = 0x400; u < 0x500; u++) {
        for (int lane = 0; lane < 4; lane++) {
            uint8_t in[16];
            for (int k = 0; k < 8; k++) {
                uint32_t v = k == lane ? u : (k == lane + 4 ? 0x41 : 0x430 + (uint32_t)k);
                in[2 * k] = (uint8_t)(v >> 8);
                in[2 * k + 1] = (uint8_t)v;
            }
            CHECK_MSG(ucs2_agrees(in, sizeof in), "U+%04X in lane %d", u, lane);
        }
    }
}

/* UCS-2 goes eight units at a time (SSE2) while all of them are U+0001 to
 * U+07FF, ASCII and two-octet lanes in any mix.  Every one of the 256
 * ASCII/two-octet patterns of a block, with lanes at the edges of both
 * ranges, behind 0-3 units that shift the blocks, and then random texts
 * mostly made of such blocks with a rare unit that is not (U+0000,
 * U+0800 and up, surrogates, U+FFFD), must decode as the plain decoder
 * does. */
static void test_ucs2_blocks(void)
{
    static const uint32_t ascii[] = {0x01, 0x20, 0x41, 0x7F}, two[] = {0x80, 0xE9, 0x410, 0x44F, 0x5D0, 0x7FF};
    int mismatches = 0;
    uint64_t x = 0xD1B54A32D192ED03ULL;
    for (unsigned shift = 0; shift < 4; shift++) {
        for (unsigned m = 0; m < 256; m++) {
            uint8_t in[2 * (3 + 24)];
            size_t n = 0;
            for (unsigned k = 0; k < shift + 24; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                unsigned lane = (k - shift) % 8;
                uint32_t u = k < shift ? 0x430
                             : (m >> lane & 1) ? ascii[x % 4] : two[(x >> 8) % 6];
                in[n++] = (uint8_t)(u >> 8);
                in[n++] = (uint8_t)u;
            }
            char got[256], want[256];
            size_t gn = 0, wn = 0;
            unsigned gbad = 0, wbad = 0;
            int grc = sms_text_decode(SMS_CS_UCS2, NULL, in, n, 0, got, sizeof got, &gn, &gbad);
            int wrc = ref_utf16be(in, n, want, sizeof want, &wn, &wbad);
            if ((grc != wrc || gn != wn || gbad != wbad || memcmp(got, want, wn + 1) != 0) &&
                mismatches++ < 5)
                CHECK_MSG(0, "UCS-2 block pattern 0x%02x after %u units", m, shift);
        }
    }
    /* Every unit value in every lane of a block of otherwise Cyrillic
     * and ASCII units. */
    for (uint32_t u = 0; u < 0x10000; u++) {
        uint8_t in[32];
        unsigned lane = u % 8;
        for (unsigned k = 0; k < 16; k++) {
            uint32_t v = k == lane ? u : k % 3 ? 0x430 + k : 0x20;
            in[2 * k] = (uint8_t)(v >> 8);
            in[2 * k + 1] = (uint8_t)v;
        }
        if (!ucs2_agrees(in, sizeof in) && mismatches++ < 5)
            CHECK_MSG(0, "U+%04X in lane %u of a block", u, lane);
    }
    static const uint32_t odd[] = {0x0000, 0x0800, 0x20AC, 0xD83D, 0xDE00, 0xFFFD, 0xFFFF, 0x0400};
    for (int round = 0; round < 20000; round++) {
        uint8_t in[300];
        size_t len = (size_t)(round % 301);
        for (size_t i = 0; i < len; i += 2) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint32_t u;
            unsigned r = (unsigned)(x >> 40) % 64;
            if (r == 0)
                u = odd[(x >> 8) % 8];
            else if (r < 24)
                u = ascii[(x >> 8) % 4] + (uint32_t)((x >> 16) % 0x20);
            else
                u = 0x80 + (uint32_t)((x >> 8) % 0x780);
            in[i] = (uint8_t)(u >> 8);
            if (i + 1 < len)
                in[i + 1] = (uint8_t)u;
        }
        static const size_t caps[] = {1024, 600, 451, 450, 449, 64, 17};
        size_t cap = caps[round % 7];
        if (!ucs2_agrees_cap(in, len, cap) && mismatches++ < 5)
            CHECK_MSG(0, "UCS-2 block text %d (%zu octets, cap %zu)", round, len, cap);
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* IA5 and Latin-1 copy sixteen-octet blocks of U+0001-U+007F at once:
 * random texts, mostly such octets with a rare NUL or high octet, of every
 * length to 100 and into buffers from roomy to tight (so that a block and
 * its NUL just fit or just do not), against the plain rule one octet at a
 * time: U+FFFD for NUL (and for high octets in IA5), a character written
 * whole or not at all with room for the NUL. */
static void test_8bit_blocks(void)
{
    uint64_t x = 0x243F6A8885A308D3ULL;
    int mismatches = 0;
    for (int round = 0; round < 20000; round++) {
        enum sms_charset cs = round % 2 ? SMS_CS_LATIN1 : SMS_CS_ASCII;
        uint8_t in[100];
        size_t len = (size_t)(round / 2 % 101);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            unsigned r = (unsigned)(x >> 40) % 40;
            in[i] = r == 0 ? 0 : r == 1 ? (uint8_t)(0x80 | x >> 8) : (uint8_t)(0x20 + (x >> 8) % 0x5F);
        }
        size_t cap = round % 5 == 0 ? 512 : 1 + (size_t)(x >> 20) % 120;
        char got[512], want[512];
        size_t gn = 0, wn = 0;
        unsigned gbad = 0, wbad = 0;
        int wrc = 0;
        for (size_t i = 0; i < len; i++) {
            uint32_t cp = in[i] == 0 || (cs == SMS_CS_ASCII && in[i] >= 0x80) ? 0xFFFD : in[i];
            uint8_t b[3];
            size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            if (n == 1)
                b[0] = (uint8_t)cp;
            else if (n == 2)
                b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3F));
            else
                b[0] = 0xEF, b[1] = 0xBF, b[2] = 0xBD;
            if (wn + n + 1 > cap) {
                wrc = SG_ENOSPC;
                break;
            }
            memcpy(want + wn, b, n);
            wn += n;
            wbad += cp == 0xFFFD;
        }
        want[wn] = '\0';
        int grc = sms_text_decode(cs, NULL, in, len, 0, got, cap, &gn, &gbad);
        if ((grc != wrc || gn != wn || gbad != wbad || memcmp(got, want, wn + 1) != 0) &&
            mismatches++ < 5)
            CHECK_MSG(0, "%s text %d (%zu octets, cap %zu): rc %d/%d, len %zu/%zu",
                      sms_charset_name(cs), round, len, cap, grc, wrc, gn, wn);
    }
    /* Every octet value in every place of a block of letters. */
    for (unsigned b = 0; b < 0x100; b++) {
        for (int cs8 = 0; cs8 < 2; cs8++) {
            enum sms_charset cs = cs8 ? SMS_CS_LATIN1 : SMS_CS_ASCII;
            uint8_t in[20];
            memset(in, 'a', sizeof in);
            in[b % 16] = (uint8_t)b;
            char got[128], one[8];
            size_t gn = 0, on = 0, pos = 0;
            unsigned gbad = 0, obad = 0;
            sms_text_decode(cs, NULL, in, sizeof in, 0, got, sizeof got, &gn, &gbad);
            int ok = 1;
            for (size_t i = 0; i < sizeof in; i++) {
                sms_text_decode(cs, NULL, in + i, 1, 0, one, sizeof one, &on, &obad);
                ok = ok && pos + on <= gn && memcmp(got + pos, one, on) == 0;
                pos += on;
            }
            if ((!ok || pos != gn || gbad != obad) && mismatches++ < 5)
                CHECK_MSG(0, "%s octet 0x%02x in a block", sms_charset_name(cs), b);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

int main(void)
{
    test_charset_of();
    test_gsm();
    test_gsm_runs();
    test_8bit();
    test_ucs2();
    test_ucs2_runs();
    test_ucs2_blocks();
    test_8bit_blocks();
    test_limits();
    test_encoders();
    test_vector_38();
    return test_summary();
}
