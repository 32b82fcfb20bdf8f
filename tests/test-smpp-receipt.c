/* Delivery receipt text parser, receipt dates and message id normalisation,
 * on receipts in the styles of several SMSCs. */
#include <string.h>

#include "smpp-receipt.h"
#include "smpp.h"
#include "testutil.h"

static int view_eq(struct sg_view v, const char *s)
{
    return v.p && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}
#define CHECK_VIEW(v, s) CHECK_MSG(view_eq((v), (s)), "view \"%.*s\" != \"%s\"", \
                                   (int)(v).len, (v).p ? (const char *)(v).p : "", (s))

static int parse(const char *s, struct smpp_receipt *r)
{
    return smpp_receipt_parse((const uint8_t *)s, strlen(s), r);
}

static void test_styles(void)
{
    struct smpp_receipt r;

    /* Kannel / v3.4 Appendix B order. */
    CHECK_EQ_INT(parse("id:0059113978 sub:001 dlvrd:001 submit date:1002101730 done "
                       "date:1002101731 stat:DELIVRD err:000 text:@$#!%&/:", &r), 0);
    CHECK_VIEW(r.id, "0059113978");
    CHECK_VIEW(r.sub, "001");
    CHECK_VIEW(r.dlvrd, "001");
    CHECK_VIEW(r.submit_date, "1002101730");
    CHECK_VIEW(r.done_date, "1002101731");
    CHECK_VIEW(r.stat, "DELIVRD");
    CHECK_VIEW(r.err, "000");
    CHECK_VIEW(r.text, "@$#!%&/:");

    /* node-smpp style: lowercase, hex id, 12-digit dates, text with spaces. */
    CHECK_EQ_INT(parse("id:5f3a9c01 sub:001 dlvrd:001 submit date:240117093015 done "
                       "date:240117093020 stat:UNDELIV err:034 text:Your code is 1234", &r), 0);
    CHECK_VIEW(r.id, "5f3a9c01");
    CHECK_VIEW(r.stat, "UNDELIV");
    CHECK_VIEW(r.text, "Your code is 1234");

    /* Uppercase keys. */
    CHECK_EQ_INT(parse("ID:12345 SUB:001 DLVRD:001 SUBMIT DATE:2401170930 DONE DATE:2401170931 "
                       "STAT:EXPIRED ERR:000 TEXT:hello", &r), 0);
    CHECK_VIEW(r.id, "12345");
    CHECK_VIEW(r.submit_date, "2401170930");
    CHECK_VIEW(r.stat, "EXPIRED");
    CHECK_VIEW(r.text, "hello");

    /* Reordered, underscores, no text:. */
    CHECK_EQ_INT(parse("stat:DELIVRD err:000 id:abc-42 submit_date:2401170930 done_date:2401170931", &r), 0);
    CHECK_VIEW(r.stat, "DELIVRD");
    CHECK_VIEW(r.id, "abc-42");
    CHECK_VIEW(r.submit_date, "2401170930");
    CHECK_VIEW(r.done_date, "2401170931");
    CHECK(r.text.p == NULL);
    CHECK(r.sub.p == NULL);

    /* Id only in receipted_message_id: the text has stat but no id. */
    CHECK_EQ_INT(parse("sub:001 dlvrd:001 stat:DELIVRD err:000", &r), 0);
    CHECK(r.id.p == NULL);
    CHECK_VIEW(r.stat, "DELIVRD");

    /* Keys inside text: are content, not fields; keys inside words are not keys. */
    CHECK_EQ_INT(parse("id:7 stat:ACCEPTD text:win id:999 stat:X now", &r), 0);
    CHECK_VIEW(r.id, "7");
    CHECK_VIEW(r.stat, "ACCEPTD");
    CHECK_VIEW(r.text, "win id:999 stat:X now");
    CHECK_EQ_INT(parse("msgid:55 xstat:DELIVRD", &r), SG_ENOTFOUND);

    /* Not a receipt. */
    CHECK_EQ_INT(parse("Hello, your parcel is waiting: http://x.example", &r), SG_ENOTFOUND);
    CHECK_EQ_INT(smpp_receipt_parse((const uint8_t *)"", 0, &r), SG_ENOTFOUND);
    /* Trailing NULs some SMSCs leave in short_message. */
    CHECK_EQ_INT(smpp_receipt_parse((const uint8_t *)"id:1 stat:DELIVRD text:ab\0\0", 27, &r), 0);
    CHECK_VIEW(r.text, "ab");
    /* Empty values and a value at the very end. */
    CHECK_EQ_INT(parse("id: stat:DELIVRD", &r), 0);
    CHECK(r.id.p != NULL && r.id.len == 0);
    CHECK_EQ_INT(parse("stat:", &r), 0);
    CHECK(r.stat.p != NULL && r.stat.len == 0);
}

static void test_dates(void)
{
    int64_t t = 0;
    struct sg_view v = {(const uint8_t *)"1002101730", 10};
    CHECK_EQ_INT(smpp_receipt_date(v, &t), 0);
    CHECK_EQ_INT(t, 1265823000); /* 2010-02-10 17:30:00 UTC */
    v = (struct sg_view){(const uint8_t *)"240229235959", 12};
    CHECK_EQ_INT(smpp_receipt_date(v, &t), 0);
    CHECK_EQ_INT(t, 1709251199); /* 2024-02-29 23:59:59 UTC */
    v = (struct sg_view){(const uint8_t *)"9912312359", 10};
    CHECK_EQ_INT(smpp_receipt_date(v, &t), 0);
    CHECK_EQ_INT(t, 946684740); /* 1999-12-31 23:59 */
    const char *bad[] = {"230229", "2302291200", "2313011200", "2301321200", "2301012400",
                         "230101126000x", "23010112a0", "2300011200", "2301011260"};
    for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
        v = (struct sg_view){(const uint8_t *)bad[i], strlen(bad[i])};
        CHECK_MSG(smpp_receipt_date(v, &t) == SG_EINVAL, "%s", bad[i]);
    }
    CHECK_EQ_INT(smpp_receipt_date((struct sg_view){NULL, 0}, &t), SG_EINVAL);
}

static const char *norm(const char *id, enum smpp_msgid_format f)
{
    static char out[80];
    int n = smpp_msgid_normalise((struct sg_view){(const uint8_t *)id, strlen(id)}, f, out, sizeof(out));
    return n < 0 ? "ERR" : out;
}

static void test_msgid(void)
{
    /* submit_sm_resp in hex, receipt in decimal: both meet at decimal. */
    CHECK_EQ_STR(norm("38601fa", SMPP_MSGID_HEX), "59113978");
    CHECK_EQ_STR(norm("0059113978", SMPP_MSGID_DEC), "59113978");
    CHECK_EQ_STR(norm("38601FA", SMPP_MSGID_HEX), "59113978");
    CHECK_EQ_STR(norm("0", SMPP_MSGID_DEC), "0");
    CHECK_EQ_STR(norm("000", SMPP_MSGID_HEX), "0");
    CHECK_EQ_STR(norm("ffffffffffffffff", SMPP_MSGID_HEX), "18446744073709551615");
    CHECK_EQ_STR(norm("18446744073709551615", SMPP_MSGID_DEC), "18446744073709551615");
    /* Over 64 bits or not a number in that base: lowercase text. */
    CHECK_EQ_STR(norm("1FFFFFFFFFFFFFFFF", SMPP_MSGID_HEX), "1ffffffffffffffff");
    CHECK_EQ_STR(norm("18446744073709551616", SMPP_MSGID_DEC), "18446744073709551616");
    CHECK_EQ_STR(norm("12ab", SMPP_MSGID_DEC), "12ab");
    CHECK_EQ_STR(norm("Msg-XY", SMPP_MSGID_AS_IS), "msg-xy");
    CHECK_EQ_STR(norm("0123", SMPP_MSGID_AS_IS), "0123");
    CHECK_EQ_STR(norm("", SMPP_MSGID_DEC), "ERR");
    char small[3];
    CHECK_EQ_INT(smpp_msgid_normalise((struct sg_view){(const uint8_t *)"1234", 4}, SMPP_MSGID_DEC,
                                      small, sizeof(small)), SG_ENOSPC);
    CHECK_EQ_INT(smpp_msgid_normalise((struct sg_view){(const uint8_t *)"abcd", 4}, SMPP_MSGID_AS_IS,
                                      small, sizeof(small)), SG_ENOSPC);
    CHECK_EQ_INT(smpp_msgid_normalise((struct sg_view){(const uint8_t *)"12", 2}, SMPP_MSGID_DEC,
                                      small, sizeof(small)), 2);
}

/* The receipt in the shared vectors (row 10), end to end: decode, parse the
 * text, and match its id to the TLV's hex id. */
static void test_pdu_receipt(void)
{
    static const char hex[] =
        "000000ba00000005000000000000000200010134343935313336313932300001013430343034000400000000"
        "000000006e69643a30303539313133393738207375623a30303120646c7672643a303031207375626d697420"
        "646174653a3130303231303137333020646f6e6520646174653a3130303231303137333120737461743a4445"
        "4c49565244206572723a30303020746578743a4024232125262f3a000e0001010006000101001e0008333836"
        "30316661000427000102";
    uint8_t buf[256];
    long n = test_unhex(hex, buf, sizeof(buf));
    static struct smpp_pdu pdu;
    struct smpp_error e;
    CHECK_EQ_INT(smpp_decode(buf, (size_t)n, &pdu, &e), 0);
    CHECK(smpp_esm_is_receipt(pdu.esm_class));
    struct smpp_receipt r;
    struct sg_view m = smpp_pdu_message(&pdu);
    CHECK_EQ_INT(smpp_receipt_parse(m.p, m.len, &r), 0);
    CHECK_VIEW(r.stat, "DELIVRD");
    char a[32], b[32];
    CHECK(smpp_msgid_normalise(r.id, SMPP_MSGID_DEC, a, sizeof(a)) > 0);
    CHECK(smpp_msgid_normalise(pdu.tlv.receipted_message_id, SMPP_MSGID_HEX, b, sizeof(b)) > 0);
    CHECK_EQ_STR(a, b);
}

int main(void)
{
    test_styles();
    test_dates();
    test_msgid();
    test_pdu_receipt();
    return test_summary();
}
