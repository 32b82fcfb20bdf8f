/* Receipt ties through every reading of a message_id the decoder makes:
 * for each msgid_format, pairs of (submit_sm_resp id, receipt id) that
 * must tie and must not: hexadecimal and decimal numbers in either case,
 * leading zeros, the length limits of each base (16 hex digits, 19
 * decimal), ids that are text, one octet off a digit.  Written when the
 * digit parsing went from a test per digit to one check per id, and run
 * against the parser before that change too: the expectations are what it
 * did.  The ties go through one flow, one submit and one receipt each.
 *
 * And numeric keys per link: a numeric id is keyed by the hash of its
 * SMSC endpoint (computed once per direction of a flow and kept with its
 * session) mixed with the number; a receipt ties on another flow to the
 * same SMSC endpoint, never when the same number comes from another SMSC
 * address or port (decoder.c: tie_key_number, link_hash_src).
 *
 * And the tie table's bound (test_tie_bound). */
#include <stdio.h>
#include <string.h>

#include "decoder.h"
#include "smpp-wire.h"
#include "testutil.h"

/* submit_sm (id 4) or deliver_sm (id 5) with esm_class esm, from Bank to
 * 79001234567. */
static void sm(struct wire_buf *b, uint32_t id, uint32_t seq, uint8_t esm, const char *text)
{
    wire_sm(b, id, seq, esm, 0, "Bank", "79001234567", text, strlen(text));
}

struct seen {
    int messages, receipts;
    uint64_t uid;
    int tied, tied_count; /* the last receipt's, and how many tied */
    uint64_t tied_uid;
};

static void on_msg(void *ctx, const struct decoder_message *m)
{
    struct seen *s = ctx;
    s->messages++;
    s->uid = m->uid;
}

static void on_receipt(void *ctx, const struct decoder_receipt *r)
{
    struct seen *s = ctx;
    s->receipts++;
    s->tied = r->tied;
    s->tied_count += r->tied;
    s->tied_uid = r->message_uid;
}

/* A decoder for format f reporting into *s. */
static decoder_t *tie_decoder(enum decoder_msgid_format f, struct seen *s)
{
    struct decoder_config c;
    decoder_config_default(&c);
    c.msgid_format = f;
    memset(s, 0, sizeof *s);
    struct decoder_sink sink = {.ctx = s, .message = on_msg, .receipt = on_receipt};
    return decoder_new(&c, &sink);
}

/* A submit_sm from esme to smsc at t, answered with resp_id at t + 900. */
static void submit_answered(decoder_t *d, struct wire_end *esme, struct wire_end *smsc, const char *resp_id,
                            sg_time_us t)
{
    struct wire_buf b;
    sm(&b, 4, 7, 0, "Kod 1234");
    wire_feed(d, esme, smsc, &b, t);
    wire_pdu_begin(&b, 0x80000004u, 7);
    wire_putstr(&b, resp_id);
    wire_pdu_end(&b);
    wire_feed(d, smsc, esme, &b, t + 900);
}

/* The delivery receipt (deliver_sm, sequence number seq) for receipt_id into b. */
static void receipt(struct wire_buf *b, uint32_t seq, const char *receipt_id)
{
    char text[160];
    snprintf(text, sizeof text, "id:%s sub:001 dlvrd:001 stat:DELIVRD err:000", receipt_id);
    sm(b, 5, seq, 0x04, text);
}

/* 1 when a receipt reporting receipt_id ties to the submit answered with
 * resp_id under format f, 0 when it does not, -1 when the events are not
 * the one message and one receipt expected. */
static int ties(enum decoder_msgid_format f, const char *resp_id, const char *receipt_id)
{
    struct seen s;
    decoder_t *d = tie_decoder(f, &s);
    if (!d)
        return -1;
    struct wire_end esme = {{10, 0, 0, 1}, 40000, 1000}, smsc = {{10, 9, 9, 9}, 2775, 9000};
    struct wire_buf b;
    sg_time_us t = 1700000000000000ull;
    submit_answered(d, &esme, &smsc, resp_id, t + 100);
    receipt(&b, 55, receipt_id);
    wire_feed(d, &smsc, &esme, &b, t + 2000);
    decoder_flush(d);
    decoder_free(d);
    if (s.messages != 1 || s.receipts != 1)
        return -1;
    return s.tied && s.tied_uid == s.uid;
}

/* A submit from ESME 10.0.0.1:40000 to SMSC 10.9.9.9:2775 answered with
 * resp_id, then a receipt for receipt_id from smsc2 (address, port) to
 * ESME port esme2_port (another flow unless it is 40000).  Returns the
 * number of tied receipts, -1 when the events are not those expected. */
static int link_ties(const char *resp_id, const char *receipt_id, const uint8_t smsc2[4],
                     uint16_t smsc2_port, uint16_t esme2_port)
{
    struct seen s;
    decoder_t *d = tie_decoder(DECODER_MSGID_AUTO, &s);
    if (!d)
        return -1;
    struct wire_end esme = {{10, 0, 0, 1}, 40000, 1000}, smsc = {{10, 9, 9, 9}, 2775, 9000};
    struct wire_end esme2 = {{10, 0, 0, 1}, esme2_port, 5000}, sm2 = {{0}, smsc2_port, 7000};
    memcpy(sm2.addr, smsc2, 4);
    struct wire_buf b;
    sg_time_us t = 1700000000000000ull;
    /* A receipt on the first flow before any submit: its session has the
     * SMSC's link hash before the response needs it. */
    receipt(&b, 54, "77");
    wire_feed(d, &smsc, &esme, &b, t);
    submit_answered(d, &esme, &smsc, resp_id, t + 100);
    receipt(&b, 55, receipt_id);
    if (esme2_port == 40000 && !memcmp(smsc2, smsc.addr, 4) && smsc2_port == 2775)
        wire_feed(d, &smsc, &esme, &b, t + 2000);
    else
        wire_feed(d, &sm2, &esme2, &b, t + 2000);
    decoder_flush(d);
    decoder_free(d);
    if (s.messages != 1 || s.receipts != 2)
        return -1;
    return s.tied_count;
}

/* The tie table's bound: with room for two ties, a third submit's evicts
 * the first.  The decoder holds its last tie put back until the next put
 * or lookup (decoder.c: tie_commit); the statistics read in between count
 * the eviction it will make, and a tie put again (an id repeated) evicts
 * nothing. */
static void test_tie_bound(void)
{
    struct seen s;
    struct decoder_config c;
    decoder_config_default(&c);
    c.max_receipt_ties = 2;
    memset(&s, 0, sizeof s);
    struct decoder_sink sink = {.ctx = &s, .message = on_msg, .receipt = on_receipt};
    decoder_t *d = decoder_new(&c, &sink);
    CHECK(d != NULL);
    if (!d)
        return;
    struct wire_end esme = {{10, 0, 0, 1}, 40000, 1000}, smsc = {{10, 9, 9, 9}, 2775, 9000};
    struct wire_buf b;
    struct decoder_stats st;
    sg_time_us t = 1700000000000000ull;
    submit_answered(d, &esme, &smsc, "11", t);
    submit_answered(d, &esme, &smsc, "12", t + 10000);
    decoder_get_stats(d, &st);
    CHECK_EQ_INT(st.ties_evicted, 0);
    submit_answered(d, &esme, &smsc, "13", t + 20000);
    decoder_get_stats(d, &st);
    CHECK_EQ_INT(st.ties_evicted, 1);
    submit_answered(d, &esme, &smsc, "13", t + 30000); /* the same id again */
    decoder_get_stats(d, &st);
    CHECK_EQ_INT(st.ties_evicted, 1);
    static const char *const ids[] = {"11", "12", "13"};
    for (int i = 0; i < 3; i++) {
        receipt(&b, 60 + (uint32_t)i, ids[i]);
        wire_feed(d, &smsc, &esme, &b, t + 40000 + (sg_time_us)i);
        CHECK_MSG(s.tied == (i > 0), "receipt %s: tied %d", ids[i], s.tied);
    }
    decoder_flush(d);
    decoder_get_stats(d, &st);
    CHECK_EQ_INT(st.ties_evicted, 1);
    CHECK_EQ_INT(s.receipts, 3);
    decoder_free(d);
}

struct tie_case {
    enum decoder_msgid_format f;
    const char *resp, *receipt;
    int tied;
};

static const struct tie_case cases[] = {
    /* auto: exact first, then hex <-> decimal */
    {DECODER_MSGID_AUTO, "1A2B3C", "1715004", 1},          /* hex answered, decimal reported */
    {DECODER_MSGID_AUTO, "1A2B3C", "1a2b3c", 1},           /* hex both sides, either case */
    {DECODER_MSGID_AUTO, "1a2b3c", "001A2B3C", 1},         /* leading zeros: the same number */
    {DECODER_MSGID_AUTO, "12345", "12345", 1},             /* decimal-looking: read as hex both sides */
    {DECODER_MSGID_AUTO, "74565", "12345", 0},             /* 74565 = 0x12345, but an answer that reads as hex is keyed as hex */
    {DECODER_MSGID_AUTO, "1A2B3C", "1715005", 0},
    {DECODER_MSGID_AUTO, "ffffffffffffffff", "FFFFFFFFFFFFFFFF", 1}, /* 16 hex digits */
    {DECODER_MSGID_AUTO, "ffffffffffffffff", "18446744073709551615", 0}, /* 20 decimal digits: text */
    {DECODER_MSGID_AUTO, "fffffffffffffff", "1152921504606846975", 1}, /* 15 hex = 19 decimal */
    {DECODER_MSGID_AUTO, "10000000000000000", "10000000000000000", 1}, /* 17 digits: text both sides */
    {DECODER_MSGID_AUTO, "1234567890123456789", "1234567890123456789", 1}, /* 19: text on the answer */
    {DECODER_MSGID_AUTO, "abc-def", "ABC-DEF", 1},         /* text, case-folded */
    {DECODER_MSGID_AUTO, "1G", "1g", 1},                   /* one octet past f: text */
    {DECODER_MSGID_AUTO, "1A", "0x1A", 0},
    {DECODER_MSGID_AUTO, "2F", "2/", 0},                   /* '/' is just below '0' */
    {DECODER_MSGID_AUTO, "3A", "3:", 0},                   /* ':' just above '9' */
    {DECODER_MSGID_AUTO, "4F", "4@", 0},                   /* '@' just below 'A' */
    {DECODER_MSGID_AUTO, "9", "9", 1},
    {DECODER_MSGID_AUTO, "0", "00", 1},
    /* same: text only */
    {DECODER_MSGID_SAME, "1A2B3C", "1715004", 0},
    {DECODER_MSGID_SAME, "1A2B3C", "1a2b3c", 1},
    {DECODER_MSGID_SAME, "1a2b3c", "001A2B3C", 0},
    /* response hex, receipt decimal */
    {DECODER_MSGID_HEX_DEC, "1A2B3C", "1715004", 1},
    {DECODER_MSGID_HEX_DEC, "1A2B3C", "1A2B3C", 0},
    {DECODER_MSGID_HEX_DEC, "1A2B3C", "1a2b3c", 0},
    {DECODER_MSGID_HEX_DEC, "abc-def", "ABC-DEF", 1},
    {DECODER_MSGID_HEX_DEC, "ffffffffffffffff", "18446744073709551615", 0},
    {DECODER_MSGID_HEX_DEC, "8ac7230489e7ffff", "9999999999999999999", 1}, /* 19 decimal digits */
    /* response decimal, receipt hex */
    {DECODER_MSGID_DEC_HEX, "1715004", "1A2B3C", 1},
    {DECODER_MSGID_DEC_HEX, "1715004", "1715004", 0},
    {DECODER_MSGID_DEC_HEX, "9999999999999999999", "8AC7230489E7FFFF", 1},
    {DECODER_MSGID_DEC_HEX, "1A2B3C", "1a2b3c", 1},         /* not decimal: text both sides */
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct tie_case *k = &cases[i];
        int got = ties(k->f, k->resp, k->receipt);
        CHECK_MSG(got == k->tied, "format %d, answer \"%s\", receipt \"%s\": tied %d, expected %d", (int)k->f,
                  k->resp, k->receipt, got, k->tied);
    }
    /* Numeric keys carry the SMSC link: the same number from another
     * SMSC address or port never ties, another flow to the same SMSC does. */
    static const uint8_t same[4] = {10, 9, 9, 9}, other[4] = {10, 9, 9, 8};
    /* hex answer, hex and decimal receipts, text */
    static const char *const ids[][2] = {{"1A2B3C", "1a2b3c"}, {"1A2B3C", "1715004"}, {"abc-def", "ABC-DEF"}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *r = ids[i][0], *q = ids[i][1];
        CHECK_MSG(link_ties(r, q, same, 2775, 40000) == 1, "%s/%s: same flow", r, q);
        CHECK_MSG(link_ties(r, q, same, 2775, 40001) == 1, "%s/%s: same SMSC, other flow", r, q);
        CHECK_MSG(link_ties(r, q, other, 2775, 40000) == 0, "%s/%s: other SMSC address", r, q);
        CHECK_MSG(link_ties(r, q, same, 2776, 40000) == 0, "%s/%s: other SMSC port", r, q);
    }
    test_tie_bound();
        return test_summary();
}
