/* Unit tests for the proxy's PDU encoders (checked by decoding them back
 * with the project's decoder and against hand-written bytes), the
 * pending-request table and own sequence numbers, and the multipart hold
 * table's id map and receipt rewriting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy-mp.h"
#include "proxy-pdu.h"
#include "smpp-receipt.h"
#include "smpp.h"
#include "testutil.h"

static struct smpp_pdu pdu;

static void test_responses(void)
{
    uint8_t b[256];
    /* submit_sm_resp ESME_ROK "abc", seq 7 (v3.4 §4.4.2) */
    int n = proxy_pdu_response(b, sizeof b, SMPP_CMD(submit_sm), 0, 7, "abc");
    uint8_t want[20];
    CHECK_EQ_INT(test_unhex("00000014 80000004 00000000 00000007 61626300", want, sizeof want), 20);
    CHECK_EQ_INT(n, 20);
    CHECK(memcmp(b, want, 20) == 0);
    /* error: no body */
    n = proxy_pdu_response(b, sizeof b, SMPP_CMD(submit_sm), PROXY_ESME_RSUBMITFAIL, 9, "abc");
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(smpp_be32(b + 8), 0x45);
    CHECK_EQ_INT(smpp_be32(b + 4), SMPP_CMD(submit_sm_resp));
    /* generic_nack ESME_RINVCMDID (v3.4 §4.3) */
    n = proxy_pdu_response(b, sizeof b, SMPP_CMD(generic_nack), SMPP_ESME_RINVCMDID, 999, NULL);
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(smpp_be32(b + 4), 0x80000000u);
    CHECK_EQ_INT(smpp_be32(b + 12), 999);
    /* deliver_sm_resp: message_id field present and empty */
    n = proxy_pdu_response(b, sizeof b, SMPP_CMD(deliver_sm), 0, 3, "ignored");
    CHECK_EQ_INT(n, 17);
    CHECK(smpp_decode(b, (size_t)n, &pdu, NULL) == 0);
    /* submit_multi_resp: message_id + no_unsuccess 0 */
    n = proxy_pdu_response(b, sizeof b, SMPP_CMD(submit_multi), 0, 4, "m1");
    CHECK_EQ_INT(n, 16 + 3 + 1);
    CHECK(smpp_decode(b, (size_t)n, &pdu, NULL) == 0);
    CHECK_EQ_INT(pdu.n_unsuccess, 0);
    /* too small a buffer writes nothing */
    CHECK_EQ_INT(proxy_pdu_response(b, 10, SMPP_CMD(enquire_link), 0, 1, NULL), SG_ENOSPC);
    n = proxy_pdu_simple(b, sizeof b, SMPP_CMD(unbind), PROXY_SEQ_OWN_BASE);
    CHECK_EQ_INT(n, 16);
    CHECK(smpp_decode(b, 16, &pdu, NULL) == 0 && pdu.command_id == SMPP_CMD(unbind));
}

static void test_receipt(void)
{
    uint8_t b[512];
    struct sg_view src = {(const uint8_t *)"ShopX", 5}, dst = {(const uint8_t *)"79161234567", 11};
    int n = proxy_pdu_receipt(b, sizeof b, PROXY_SEQ_OWN_BASE + 1, src, 5, 0, dst, 1, 1, "sg0001", "REJECTD",
                              SMPP_STATE_REJECTED, 1767225600, 1767225600);
    CHECK(n > 0);
    struct smpp_error err;
    int rc = smpp_decode(b, (size_t)n, &pdu, &err);
    CHECK_MSG(rc == 0, "%s at %zu", rc ? err.reason : "", rc ? err.offset : 0);
    CHECK_EQ_INT(pdu.command_length, n);
    CHECK(pdu.esm_class == 0x04);
    /* the receipt goes back: source is the original destination */
    CHECK(pdu.source_addr.len == 11 && memcmp(pdu.source_addr.p, "79161234567", 11) == 0);
    CHECK(pdu.destination_addr.len == 5 && memcmp(pdu.destination_addr.p, "ShopX", 5) == 0);
    CHECK(pdu.tlv.receipted_message_id.len == 6 && memcmp(pdu.tlv.receipted_message_id.p, "sg0001", 6) == 0);
    CHECK_EQ_INT(pdu.tlv.message_state, SMPP_STATE_REJECTED);
    struct smpp_receipt r;
    CHECK(smpp_receipt_parse(pdu.short_message.p, pdu.short_message.len, &r) == 0);
    CHECK(r.stat.len == 7 && memcmp(r.stat.p, "REJECTD", 7) == 0);
    CHECK(r.submit_date.len == 10 && memcmp(r.submit_date.p, "2601010000", 10) == 0);
    CHECK_EQ_INT(proxy_pdu_receipt(b, 40, 1, src, 5, 0, dst, 1, 1, "x", "REJECTD", 8, 0, 0), SG_ENOSPC);
}

static uint32_t drained[16];
static int drained_n;
static void on_drain(void *ctx, uint32_t seq, const struct proxy_pending *v)
{
    (void)ctx;
    (void)v;
    if (drained_n < 16)
        drained[drained_n++] = seq;
}

static void test_seq(void)
{
    uint32_t c = 0;
    CHECK_EQ_INT(proxy_seq_next(&c), PROXY_SEQ_OWN_BASE);
    CHECK_EQ_INT(proxy_seq_next(&c), PROXY_SEQ_OWN_BASE + 1);
    c = PROXY_SEQ_OWN_LAST;
    CHECK_EQ_INT(proxy_seq_next(&c), PROXY_SEQ_OWN_BASE); /* wraps inside the own range */
    CHECK(proxy_seq_is_own(PROXY_SEQ_OWN_BASE) && !proxy_seq_is_own(1));

    proxy_seqmap_t *m = proxy_seqmap_new(100);
    struct proxy_pending v = {.command_id = SMPP_CMD(submit_sm), .kind = PROXY_PEND_JUDGED}, o;
    for (uint32_t s = 1; s <= 100; s++) {
        v.log_link = s * 10;
        CHECK(proxy_seqmap_put(m, s, &v) == 0);
    }
    CHECK_EQ_INT(proxy_seqmap_put(m, 101, &v), SG_ENOSPC); /* the window */
    CHECK_EQ_INT(proxy_seqmap_put(m, 50, &v), SG_EEXIST);
    /* take in a scrambled order; every entry comes back once with its value */
    int ok = 1;
    for (uint32_t i = 0; i < 100; i++) {
        uint32_t s = (i * 37) % 100 + 1;
        if (proxy_seqmap_take(m, s, &o) != 0 || o.log_link != (int64_t)s * 10)
            ok = 0;
        if (proxy_seqmap_take(m, s, &o) != SG_ENOTFOUND)
            ok = 0;
    }
    CHECK(ok);
    CHECK_EQ_INT(proxy_seqmap_count(m), 0);
    /* churn: a sliding window of 64 over 100000 numbers, own range included */
    ok = 1;
    for (uint32_t s = 0; s < 100000; s++) {
        uint32_t k = s < 50000 ? s + 1 : PROXY_SEQ_OWN_BASE + s;
        v.log_link = k;
        if (proxy_seqmap_put(m, k, &v) != 0)
            ok = 0;
        if (s >= 64) {
            uint32_t old = s - 64 < 50000 ? s - 64 + 1 : PROXY_SEQ_OWN_BASE + s - 64;
            if (proxy_seqmap_take(m, old, &o) != 0 || o.log_link != old)
                ok = 0;
        }
    }
    CHECK(ok);
    CHECK_EQ_INT(proxy_seqmap_count(m), 64);
    proxy_seqmap_drain(m, NULL, NULL);
    CHECK_EQ_INT(proxy_seqmap_count(m), 0);
    /* Send order: the oldest is the first put still pending, whatever was
     * taken from the middle (what the response timeout looks at). */
    uint32_t seq = 0;
    CHECK_EQ_INT(proxy_seqmap_oldest(m, &seq, &o), SG_ENOTFOUND);
    for (uint32_t s = 500; s < 510; s++) {
        v.sent_us = s;
        CHECK(proxy_seqmap_put(m, s, &v) == 0);
    }
    CHECK(proxy_seqmap_get(m, 505) && proxy_seqmap_get(m, 505)->sent_us == 505);
    CHECK(proxy_seqmap_get(m, 510) == NULL);
    CHECK(proxy_seqmap_take(m, 503, NULL) == 0 && proxy_seqmap_take(m, 500, NULL) == 0);
    CHECK(proxy_seqmap_oldest(m, &seq, &o) == 0 && seq == 501 && o.sent_us == 501);
    CHECK(proxy_seqmap_take(m, 501, NULL) == 0 && proxy_seqmap_take(m, 502, NULL) == 0);
    CHECK(proxy_seqmap_oldest(m, &seq, &o) == 0 && seq == 504);
    v.sent_us = 1;
    CHECK(proxy_seqmap_put(m, 7, &v) == 0); /* newest, whatever its number */
    drained_n = 0;
    proxy_seqmap_drain(m, on_drain, NULL);
    CHECK_EQ_INT(drained_n, 7);
    CHECK(drained[0] == 504 && drained[5] == 509 && drained[6] == 7);
    CHECK_EQ_INT(proxy_seqmap_oldest(m, &seq, &o), SG_ENOTFOUND);
    /* the pool is whole again after a drain */
    for (uint32_t s = 1; s <= 100; s++)
        CHECK(proxy_seqmap_put(m, s + 1000, &v) == 0);
    CHECK_EQ_INT(proxy_seqmap_put(m, 2000, &v), SG_ENOSPC);
    proxy_seqmap_free(m);
    proxy_seqmap_free(NULL);
}

static int done_calls, done_complete;
static char done_text[256];
static void on_done(void *ctx, const struct proxy_mp_message *m)
{
    (void)ctx;
    done_calls++;
    done_complete = m->complete;
    snprintf(done_text, sizeof done_text, "%.*s", (int)m->ud_len, (const char *)m->ud);
}

/* A submit_sm part: header + fixed fields + UDH + text. */
static size_t make_part(uint8_t *b, uint8_t ref, uint8_t tot, uint8_t seq, const char *text, size_t *ud_off)
{
    size_t o = 16;
    b[o++] = 0;                                  /* service_type */
    b[o++] = 5; b[o++] = 0; memcpy(b + o, "Promo", 6); o += 6;
    b[o++] = 1; b[o++] = 1; memcpy(b + o, "79161234567", 12); o += 12;
    b[o++] = 0x40; b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 1; b[o++] = 0; b[o++] = 0; b[o++] = 0;
    size_t tl = strlen(text);
    b[o++] = (uint8_t)(6 + tl);
    uint8_t udh[6] = {5, 0, 3, ref, tot, seq};
    memcpy(b + o, udh, 6);
    *ud_off = o + 6;
    memcpy(b + o + 6, text, tl);
    o += 6 + tl;
    proxy_pdu_header(b, (uint32_t)o, SMPP_CMD(submit_sm), 0, seq);
    return o;
}

static void test_mp(void)
{
    struct proxy_mp_config c = {.max_messages = 2, .max_bytes = 1 << 20, .timeout_ms = 1000, .id_map_max = 8};
    proxy_mp_t *m = proxy_mp_new(&c, on_done, NULL);
    CHECK(m != NULL);
    uint8_t p1[256], p2[256];
    size_t u1, u2;
    size_t l1 = make_part(p1, 7, 2, 1, "your account has been susp", &u1);
    size_t l2 = make_part(p2, 7, 2, 2, "ended", &u2);
    struct sg_view src = {(const uint8_t *)"Promo", 5}, dst = {(const uint8_t *)"79161234567", 11};
    struct proxy_mp_part a = {.link = 3, .raw = p1, .raw_len = l1, .src = src, .dst = dst, .ref = 7, .total = 2,
                              .seq = 1, .ud = p1 + u1, .ud_len = l1 - u1};
    struct proxy_mp_part b = a;
    b.raw = p2; b.raw_len = l2; b.seq = 2; b.ud = p2 + u2; b.ud_len = l2 - u2;
    char id1[PROXY_MP_ID_MAX + 1], id2[PROXY_MP_ID_MAX + 1];
    /* second part first: order does not matter */
    CHECK_EQ_INT(proxy_mp_add(m, &b, id1, 0), PROXY_MP_HELD);
    CHECK_EQ_INT(proxy_mp_add(m, &b, id2, 0), PROXY_MP_REFUSED); /* duplicate */
    CHECK_EQ_INT(proxy_mp_add(m, &a, id2, 0), PROXY_MP_COMPLETED);
    CHECK_EQ_INT(done_calls, 1);
    CHECK(done_complete);
    CHECK_EQ_STR(done_text, "your account has been suspended");
    /* the issued id maps to the SMSC's; a receipt naming it is rewritten */
    proxy_mp_map_id(m, 1 % 8, "smsc-42", 7);
    char issued[PROXY_MP_ID_MAX + 1];
    CHECK(proxy_mp_lookup_id(m, (const uint8_t *)"smsc-42", 7, issued) == 0);
    CHECK_EQ_STR(issued, id1);
    CHECK(proxy_mp_lookup_id(m, (const uint8_t *)"smsc-43", 7, issued) == SG_ENOTFOUND);
    uint8_t rb[512], out[600];
    struct sg_view s2 = {(const uint8_t *)"79161234567", 11}, d2 = {(const uint8_t *)"Promo", 5};
    int n = proxy_pdu_receipt(rb, sizeof rb, 5, d2, 5, 0, s2, 1, 1, "smsc-42", "DELIVRD", 2, 0, 0);
    CHECK(smpp_decode(rb, (size_t)n, &pdu, NULL) == 0);
    int rn = proxy_mp_rewrite_receipt(rb, (size_t)n, &pdu, pdu.tlv.receipted_message_id, issued, out, sizeof out);
    CHECK(rn > 0);
    CHECK(smpp_decode(out, (size_t)rn, &pdu, NULL) == 0);
    CHECK(pdu.tlv.receipted_message_id.len == strlen(id1) && memcmp(pdu.tlv.receipted_message_id.p, id1, strlen(id1)) == 0);
    struct smpp_receipt r;
    CHECK(smpp_receipt_parse(pdu.short_message.p, pdu.short_message.len, &r) == 0);
    CHECK(r.id.len == strlen(id1) && memcmp(r.id.p, id1, r.id.len) == 0);
    /* expiry: one part held, the timeout passes, emitted incomplete */
    done_calls = 0;
    a.ref = 8;
    CHECK_EQ_INT(proxy_mp_add(m, &a, id1, 100), PROXY_MP_HELD);
    proxy_mp_expire(m, 500);
    CHECK_EQ_INT(done_calls, 0);
    proxy_mp_expire(m, 1100);
    CHECK_EQ_INT(done_calls, 1);
    CHECK(!done_complete);
    /* bound: a third message evicts the oldest, counted */
    done_calls = 0;
    for (uint16_t ref = 20; ref < 23; ref++) {
        a.ref = ref;
        CHECK_EQ_INT(proxy_mp_add(m, &a, id1, ref), PROXY_MP_HELD);
    }
    CHECK_EQ_INT(done_calls, 1);
    uint64_t ev, idev;
    proxy_mp_get_stats(m, &ev, &idev);
    CHECK_EQ_INT(ev, 1);
    proxy_mp_drop_link(m, 3);
    proxy_mp_get_stats(m, &ev, &idev);
    CHECK_EQ_INT(ev, 3);
    /* a part too big to hold is refused (the caller judges it alone) */
    uint8_t big[PROXY_MP_PART_MAX + 10];
    a.raw = big;
    a.raw_len = sizeof big;
    a.ud = big + 100;
    a.ud_len = 10;
    CHECK_EQ_INT(proxy_mp_add(m, &a, id1, 0), PROXY_MP_REFUSED);
    proxy_mp_free(m);
}

/* Forward mode: the text so far in seq order, a refusal that sticks,
 * completion and expiry free the slot, addresses kept for receipts. */
static void test_mp_forward(void)
{
    struct proxy_mp_config c = {.max_messages = 2, .max_bytes = 1 << 20, .timeout_ms = 1000, .id_map_max = 8};
    done_calls = 0;
    proxy_mp_t *m = proxy_mp_new(&c, on_done, NULL);
    uint8_t p[3][256];
    size_t u[3], l[3];
    const char *texts[3] = {"Dear customer, your ", "account is suspended", " call now"};
    struct sg_view src = {(const uint8_t *)"Promo", 5}, dst = {(const uint8_t *)"79161234567", 11};
    struct proxy_mp_part a[3];
    for (int i = 0; i < 3; i++) {
        l[i] = make_part(p[i], 9, 3, (uint8_t)(i + 1), texts[i], &u[i]);
        a[i] = (struct proxy_mp_part){.link = 1, .raw = p[i], .raw_len = l[i], .src = src, .dst = dst, .ref = 9,
                                      .total = 3, .seq = (uint8_t)(i + 1), .ud = p[i] + u[i], .ud_len = l[i] - u[i]};
    }
    struct proxy_mp_fwd f;
    /* part 2 first: the text so far is part 2 alone */
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[1], 0, &f), PROXY_MP_FWD_JUDGE);
    CHECK(f.ud_len == strlen(texts[1]) && memcmp(f.ud, texts[1], f.ud_len) == 0 && f.received == 1 && !f.complete);
    proxy_mp_fwd_verdict(m, f.slot, 0);
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[1], 0, &f), PROXY_MP_REFUSED); /* duplicate: judged alone */
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[0], 0, &f), PROXY_MP_FWD_JUDGE);
    CHECK(f.ud_len == 40 && memcmp(f.ud, "Dear customer, your account is suspended", 40) == 0 && f.received == 2);
    proxy_mp_fwd_verdict(m, f.slot, 1); /* spam so far: the rest is refused */
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[2], 0, &f), PROXY_MP_FWD_REFUSE);
    /* all parts seen: the slot is free, the same reference starts afresh */
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[2], 0, &f), PROXY_MP_FWD_JUDGE);
    CHECK(f.received == 1);
    CHECK_EQ_INT(done_calls, 0); /* forward mode never holds anything answered */
    /* expiry frees it without the callback, counted */
    proxy_mp_expire(m, 5000);
    CHECK_EQ_INT(done_calls, 0);
    CHECK_EQ_INT(proxy_mp_fwd_expired(m), 1);
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[0], 6000, &f), PROXY_MP_FWD_JUDGE);
    CHECK(f.received == 1);
    /* a complete allowed message frees its slot */
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[1], 6000, &f), PROXY_MP_FWD_JUDGE);
    proxy_mp_fwd_verdict(m, f.slot, 0);
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[2], 6000, &f), PROXY_MP_FWD_JUDGE);
    CHECK(f.complete && f.ud_len == strlen(texts[0]) + strlen(texts[1]) + strlen(texts[2]));
    proxy_mp_fwd_verdict(m, f.slot, 0);
    CHECK_EQ_INT(proxy_mp_fwd_add(m, &a[2], 6000, &f), PROXY_MP_FWD_JUDGE);
    CHECK(f.received == 1);
    /* held mode keeps what a failure receipt needs with the issued id */
    char id[PROXY_MP_ID_MAX + 1];
    struct proxy_mp_part h = a[0];
    h.ref = 77;
    h.src_ton = 5;
    h.registered_delivery = 1;
    CHECK_EQ_INT(proxy_mp_add(m, &h, id, 0), PROXY_MP_HELD);
    uint32_t idx = 1; /* the first id issued */
    struct proxy_mp_issued in;
    CHECK(proxy_mp_issued_info(m, idx, proxy_mp_issued_gen(m, idx), &in) == 0);
    CHECK_EQ_STR(in.issued, id);
    CHECK(in.src.len == 5 && memcmp(in.src.p, "Promo", 5) == 0 && in.src_ton == 5 && in.registered_delivery == 1);
    CHECK_EQ_INT(proxy_mp_issued_info(m, idx, proxy_mp_issued_gen(m, idx) + 1, &in), SG_ENOTFOUND);
    proxy_mp_free(m);
}

int main(void)
{
    test_responses();
    test_receipt();
    test_seq();
    test_mp();
    test_mp_forward();
    return test_summary();
}
