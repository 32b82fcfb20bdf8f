/* Delivery receipt text parser, receipt dates and message id normalisation,
 * on receipts in the styles of several SMSCs. */
#include <stdlib.h>
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

/* ---- the parser as it was before the word-at-a-time key match, kept as
 * the reference the current one must agree with on every input ---------- */

static int ref_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static size_t ref_match_key(const uint8_t *p, size_t avail, const char *key, size_t n)
{
    if (n > avail)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ref_lower(p[i]) != key[i])
            return 0;
    return n;
}

enum { RR_ID, RR_SUB, RR_DLVRD, RR_SUBMIT, RR_DONE, RR_STAT, RR_ERR, RR_TEXT };
static const struct {
    const char *key;
    int field;
} ref_keys[] = {
    {"id:", RR_ID},          {"sub:", RR_SUB},         {"dlvrd:", RR_DLVRD},
    {"submit date:", RR_SUBMIT}, {"submit_date:", RR_SUBMIT}, {"submitdate:", RR_SUBMIT},
    {"done date:", RR_DONE}, {"done_date:", RR_DONE}, {"donedate:", RR_DONE},
    {"stat:", RR_STAT},      {"err:", RR_ERR},         {"text:", RR_TEXT},
};

static int ref_blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int ref_parse(const uint8_t *text, size_t len, struct smpp_receipt *out)
{
    memset(out, 0, sizeof(*out));
    struct sg_view *slot[] = {&out->id,        &out->sub,  &out->dlvrd, &out->submit_date,
                              &out->done_date, &out->stat, &out->err,   &out->text};
    size_t i = 0;
    while (i < len) {
        size_t klen = 0;
        int field = -1;
        for (size_t k = 0; k < sizeof ref_keys / sizeof ref_keys[0] && field < 0; k++)
            if ((klen = ref_match_key(text + i, len - i, ref_keys[k].key, strlen(ref_keys[k].key))))
                field = ref_keys[k].field;
        if (field < 0) {
            while (i < len && !ref_blank(text[i]))
                i++;
            while (i < len && ref_blank(text[i]))
                i++;
            continue;
        }
        size_t v = i + klen;
        if (field == RR_TEXT) {
            size_t e = len;
            while (e > v && text[e - 1] == 0)
                e--;
            if (!out->text.p)
                out->text = (struct sg_view){text + v, e - v};
            break;
        }
        size_t e = v;
        while (e < len && !ref_blank(text[e]) && text[e] != 0)
            e++;
        if (!slot[field]->p)
            *slot[field] = (struct sg_view){text + v, e - v};
        i = e;
    }
    return (out->id.p || out->stat.p) ? 0 : SG_ENOTFOUND;
}

static int same_view(struct sg_view a, struct sg_view b) { return a.p == b.p && a.len == b.len; }

/* smpp_receipt_parse and the reference agree on buf[0..cut), read from an
 * exact-size copy (a read past it is a sanitizer error); the first five
 * disagreements are reported, all counted in *mismatches. */
static void agree_with_ref(const uint8_t *buf, size_t cut, int *mismatches)
{
    uint8_t *exact = malloc(cut ? cut : 1);
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, buf, cut);
    struct smpp_receipt a, b;
    int ra = smpp_receipt_parse(exact, cut, &a), rb = ref_parse(exact, cut, &b);
    int same = ra == rb && same_view(a.id, b.id) && same_view(a.sub, b.sub) &&
               same_view(a.dlvrd, b.dlvrd) && same_view(a.submit_date, b.submit_date) &&
               same_view(a.done_date, b.done_date) && same_view(a.stat, b.stat) &&
               same_view(a.err, b.err) && same_view(a.text, b.text);
    if (!same && (*mismatches)++ < 5)
        CHECK_MSG(same, "receipt parsers disagree on \"%.*s\"", (int)cut, (const char *)exact);
    free(exact);
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* Receipts built from keys in random case and spelling, values, blanks,
 * NULs and noise, cut at random lengths (so that keys meet the end of the
 * text, where the parser compares octet by octet), each parsed from an
 * exact-size copy by both parsers: same result, same views. */
static void test_against_reference(void)
{
#define W(s) {s, sizeof(s) - 1}
    static const struct {
        const char *s;
        size_t n;
    } words[] = {
        W("id:"), W("ID:"), W("Id:"), W("sub:"), W("SUB:"), W("dlvrd:"), W("DLVRD:"),
        W("submit date:"), W("Submit Date:"), W("submit_date:"), W("SUBMITDATE:"),
        W("done date:"), W("DONE_DATE:"), W("donedate:"), W("stat:"), W("Stat:"), W("err:"),
        W("ERR:"), W("text:"), W("TEXT:"), W("submit"), W("date:"), W("done"), W("s"), W("d"),
        W("i"), W("e"), W("t"), W("DELIVRD"), W("0059113978"), W("2402291200"), W("001"),
        W("st"), W("sub"), W("id"), W("iD;"), W("stat;"), W("submit\x7F" "date:"),
        W("done\0date:"), W("sUB:"), W("{d:"), W("Dlvrd:"), W("text"), W("\xC9RR:"),
        /* values long enough for the eight-octets-at-a-time scans, with
         * control octets below 0x21 that end nothing, and high octets */
        W("2403012347000012345"), W("DELIV\x01RD\x1F\x1F\x1Fxyz"), W("a\x80\xFF\xA1\x21\x20"),
        W("\x7F\x7F\x7F\x7F\x7F\x7F\x7F\x7F\x19"), W("id:\x01\x02\x03\x04\x05\x06\x07\x08\x09"),
        W("submit date:"), W("err::"), W("id:id:"), W("stat\x00:"), W("STAT:\xFF"),
    }, gaps[] = {W(" "), W("  "), W("\t"), W("\r\n"), W(""), W("\0"), W("x"), W("\x0B"),
                 W("        \n")};
#undef W
    int mismatches = 0;
    for (int round = 0; round < 50000; round++) {
        uint8_t buf[256];
        size_t n = 0;
        int nw = 1 + (int)(next_rand() % 12);
        for (int w = 0; w < nw; w++) {
            size_t wi = next_rand() % (sizeof words / sizeof words[0]);
            size_t gi = next_rand() % (sizeof gaps / sizeof gaps[0]);
            if (n + words[wi].n + gaps[gi].n > sizeof buf)
                break;
            memcpy(buf + n, words[wi].s, words[wi].n);
            n += words[wi].n;
            memcpy(buf + n, gaps[gi].s, gaps[gi].n);
            n += gaps[gi].n;
        }
        size_t cut = n ? next_rand() % (n + 1) : 0;
        agree_with_ref(buf, cut, &mismatches);
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* Receipts in Appendix B's order, which the parser guesses key by key,
 * then disturbed: a key dropped, doubled or moved, another spelling or
 * case, a value with a NUL, blank runs, and a cut anywhere; from an
 * exact-size copy, against the reference parser. */
static void test_usual_order(void)
{
    static const char *const keys[8][3] = {
        {"id:", "ID:", "Id:"},
        {"sub:", "SUB:", "Sub:"},
        {"dlvrd:", "DLVRD:", "dlvrd:"},
        {"submit date:", "submit_date:", "SUBMITDATE:"},
        {"done date:", "Done_Date:", "donedate:"},
        {"stat:", "STAT:", "stat:"},
        {"err:", "ERR:", "err:"},
        {"text:", "TEXT:", "text:"},
    };
    static const char *const values[] = {"0059113978", "001", "", "2402291200", "DELIVRD",
                                         "abc\0def", "5f3a9c01ffee00112233", "000"};
    int mismatches = 0;
    for (int round = 0; round < 20000; round++) {
        uint8_t buf[400];
        size_t n = 0;
        int order[10], no = 0;
        for (int k = 0; k < 8; k++)
            order[no++] = k;
        switch (next_rand() % 5) {
        case 0: { /* drop one */
            int d = (int)(next_rand() % 8);
            memmove(order + d, order + d + 1, sizeof(int) * (size_t)(no - d - 1));
            no--;
            break;
        }
        case 1: { /* swap two */
            int a = (int)(next_rand() % 8), b = (int)(next_rand() % 8), t = order[a];
            order[a] = order[b];
            order[b] = t;
            break;
        }
        case 2: /* a key twice */
            order[no++] = (int)(next_rand() % 7);
            break;
        default:
            break;
        }
        for (int j = 0; j < no; j++) {
            const char *key = keys[order[j]][next_rand() % 4 == 0 ? next_rand() % 3 : 0];
            const char *val = values[next_rand() % (sizeof values / sizeof values[0])];
            size_t kl = strlen(key), vl = strlen(val);
            if (val == values[5])
                vl = 7; /* "abc\0def" */
            memcpy(buf + n, key, kl);
            n += kl;
            memcpy(buf + n, val, vl);
            n += vl;
            size_t blanks = next_rand() % 8 == 0 ? 1 + next_rand() % 3 : 1;
            memset(buf + n, next_rand() % 8 == 0 ? '\t' : ' ', blanks);
            n += blanks;
        }
        size_t cut = next_rand() % 4 == 0 ? next_rand() % (n + 1) : n;
        agree_with_ref(buf, cut, &mismatches);
    }
    CHECK_EQ_INT(mismatches, 0);
}

int main(void)
{
    test_styles();
    test_dates();
    test_msgid();
    test_pdu_receipt();
    test_against_reference();
    test_usual_order();
    return test_summary();
}
