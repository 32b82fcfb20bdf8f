/* sms-udh: TS 23.040 §9.2.3.24 headers, real and malformed. */
#include <string.h>

#include "sms-udh.h"
#include "testutil.h"

static int parse_hex(const char *hex, struct sms_udh *u, size_t *off, const char **why)
{
    static uint8_t buf[512];
    long n = test_unhex(hex, buf, sizeof buf);
    if (n < 0)
        return 12345;
    return sms_udh_parse(buf, (size_t)n, u, off, why);
}

static void test_good(void)
{
    struct sms_udh u;
    size_t off = 99;
    const char *why = "x";
    /* 8-bit reference: ref 0xCC, 2 parts, part 1, then "hello" packed with 1 fill bit */
    CHECK_EQ_INT(parse_hex("05 00 03 CC 02 01  D0 65 36 FB 0D", &u, &off, &why), 0);
    CHECK_EQ_INT(u.present, 1);
    CHECK_EQ_INT(u.udhl, 6);
    CHECK_EQ_INT(u.concat, 1);
    CHECK_EQ_INT(u.ref_bits, 8);
    CHECK_EQ_INT(u.ref, 0xCC);
    CHECK_EQ_INT(u.total, 2);
    CHECK_EQ_INT(u.seq, 1);
    CHECK_EQ_INT(u.n_ies, 1);
    CHECK(why == NULL);
    CHECK_EQ_INT(sms_udh_fill_bits(u.udhl), 1);

    /* 16-bit reference 0xF42E, 2 parts, part 1 */
    CHECK_EQ_INT(parse_hex("06 08 04 F4 2E 02 01  0041", &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.udhl, 7);
    CHECK_EQ_INT(u.ref_bits, 16);
    CHECK_EQ_INT(u.ref, 0xF42E);
    CHECK_EQ_INT(u.total, 2);
    CHECK_EQ_INT(u.seq, 1);
    CHECK_EQ_INT(sms_udh_fill_bits(u.udhl), 0);

    /* WAP push: 16-bit ports 2948 <- 9200 plus concat; UDH only, no text */
    CHECK_EQ_INT(parse_hex("0B 05 04 0B 84 23 F0 00 03 7A 03 02", &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.has_port, 1);
    CHECK_EQ_INT(u.dst_port, 2948);
    CHECK_EQ_INT(u.src_port, 9200);
    CHECK_EQ_INT(u.ref, 0x7A);
    CHECK_EQ_INT(u.total, 3);
    CHECK_EQ_INT(u.seq, 2);
    CHECK_EQ_INT(u.n_ies, 2);
    CHECK_EQ_INT(u.ies[0].iei, 0x05);
    CHECK_EQ_INT(u.ies[1].len, 3);

    /* language shifts + an unknown IE kept as a view */
    CHECK_EQ_INT(parse_hex("0A 24 01 01 25 01 02 70 02 AB CD 41", &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.lang_single, 1);
    CHECK_EQ_INT(u.lang_locking, 2);
    CHECK_EQ_INT(u.concat, 0);
    CHECK_EQ_INT(u.n_ies, 3);
    CHECK(u.ies[2].iei == 0x70 && u.ies[2].len == 2 && u.ies[2].data[0] == 0xAB);

    /* repeated concat IE: the last occurrence counts */
    CHECK_EQ_INT(parse_hex("0A 00 03 01 02 01 00 03 05 03 03", &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.ref, 5);
    CHECK_EQ_INT(u.seq, 3);

    /* empty UDH (UDHL 0) is legal; zero-length IEs; more IEs than kept */
    CHECK_EQ_INT(parse_hex("00 41", &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.udhl, 1);
    CHECK_EQ_INT(u.n_ies, 0);
    uint8_t many[1 + 40];
    many[0] = 40;
    for (int i = 0; i < 20; i++) {
        many[1 + 2 * i] = 0x70;
        many[2 + 2 * i] = 0;
    }
    CHECK_EQ_INT(sms_udh_parse(many, sizeof many, &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.n_ies, 20);
    CHECK_EQ_INT(u.n_kept, SMS_UDH_MAX_IES);
    /* UDHL 255 */
    uint8_t maxu[256];
    memset(maxu, 0, sizeof maxu);
    maxu[0] = 255;
    maxu[1] = 0x70;
    maxu[2] = 253;
    CHECK_EQ_INT(sms_udh_parse(maxu, sizeof maxu, &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.udhl, 256);
}

static void test_bad(void)
{
    struct sms_udh u;
    size_t off;
    const char *why;
#define BAD(hex, rc, at)                                                     \
    do {                                                                     \
        off = 999;                                                           \
        why = NULL;                                                          \
        CHECK_EQ_INT(parse_hex(hex, &u, &off, &why), rc);                    \
        CHECK_EQ_INT(off, at);                                               \
        CHECK(why != NULL);                                                  \
        CHECK_EQ_INT(u.present, 0);                                          \
    } while (0)
    BAD("", SG_ETRUNC, 0);
    BAD("05 00 03 CC 02", SG_ETRUNC, 0);          /* UDHL past the end */
    BAD("06 00 03 CC 02 01", SG_ETRUNC, 0);
    BAD("05 00 04 CC 02 01 41", SG_EINVAL, 2);    /* IE overflows the UDH */
    BAD("01 00 41", SG_EINVAL, 1);                /* IE header cut */
    BAD("05 00 03 CC 00 01 41", SG_EINVAL, 4);    /* total 0 */
    BAD("05 00 03 CC 02 00 41", SG_EINVAL, 5);    /* seq 0 */
    BAD("05 00 03 CC 02 03 41", SG_EINVAL, 5);    /* seq > total */
    BAD("06 08 04 F4 2E 02 03", SG_EINVAL, 6);    /* 16-bit seq > total */
    BAD("04 00 02 CC 02 41", SG_EINVAL, 2);       /* concat IE too short */
    BAD("06 08 03 F4 2E 02 01", SG_EINVAL, 2);    /* 16-bit concat IE wrong length */
}

/* The parse writes into *out as it goes: a second parse into the same
 * struct must not keep anything of the first, and an error must not leave
 * what it had read before the bad IE. */
static void test_reuse(void)
{
    struct sms_udh u;
    /* ports 16-bit, concat 8-bit, language 0x24 */
    CHECK_EQ_INT(parse_hex("0E 05 04 0B 84 23 F0 00 03 CC 02 01 24 01 02", &u, NULL, NULL), 0);
    CHECK(u.has_port && u.concat && u.lang_single == 2 && u.n_kept == 3);
    /* a bare UDH with one unknown IE: nothing of the above survives */
    CHECK_EQ_INT(parse_hex("03 70 01 AB", &u, NULL, NULL), 0);
    CHECK_EQ_INT(u.present, 1);
    CHECK_EQ_INT(u.has_port, 0);
    CHECK_EQ_INT(u.concat, 0);
    CHECK_EQ_INT(u.lang_single, -1);
    CHECK_EQ_INT(u.n_ies, 1);
    CHECK_EQ_INT(u.n_kept, 1);
    CHECK(u.ies[0].iei == 0x70 && u.ies[0].len == 1);
    /* a port IE read, then a concatenation IE with total 0: as after a
     * parse of nothing */
    CHECK_EQ_INT(parse_hex("0B 05 04 0B 84 23 F0 00 03 CC 00 01", &u, NULL, NULL), SG_EINVAL);
    CHECK_EQ_INT(u.present, 0);
    CHECK_EQ_INT(u.has_port, 0);
    CHECK_EQ_INT(u.dst_port, 0);
    CHECK_EQ_INT(u.n_ies, 0);
    CHECK_EQ_INT(u.n_kept, 0);
    CHECK_EQ_INT(u.udhl, 0);
    CHECK_EQ_INT(u.lang_single, -1);
    CHECK_EQ_INT(u.lang_locking, -1);
}

int main(void)
{
    test_good();
    test_bad();
    test_reuse();
    return test_summary();
}
