/* sms-concat: reassembly, duplicates, straddling escapes and surrogates,
 * packed GSM, timeouts, and a million unfinished messages under a cap. */
#include <stdio.h>
#include <string.h>

#include "sms-concat.h"
#include "sms-text.h"
#include "sms-udh.h"
#include "testutil.h"

struct got {
    int n;
    int complete, total, received;
    char text[1024];
    unsigned bad;
    size_t ud_len;
    uint64_t cookies[8];
    uint8_t seqs[8];
    size_t n_cookies;
    char src[40], dst[40];
    uint64_t n_incomplete;
};

static void sink_fn(void *ctx, const struct sms_message_out *m)
{
    struct got *g = ctx;
    g->n++;
    if (!m->complete)
        g->n_incomplete++;
    g->complete = m->complete;
    g->total = m->total;
    g->received = m->received;
    g->ud_len = m->ud_len;
    g->n_cookies = m->n_cookies;
    for (size_t i = 0; i < m->n_cookies && i < 8; i++) {
        g->cookies[i] = m->cookies[i];
        g->seqs[i] = m->seqs[i];
    }
    snprintf(g->src, sizeof g->src, "%.*s", (int)m->src.len, (const char *)m->src.p);
    snprintf(g->dst, sizeof g->dst, "%.*s", (int)m->dst.len, (const char *)m->dst.p);
    struct sms_text_opts o = {SMS_CS_GSM, SMS_GSM_UNPACKED, 0};
    g->bad = 0;
    g->text[0] = '\0';
    sms_text_decode(sms_charset_of(m->data_coding, &o), &o, m->ud, m->ud_len, 0, g->text,
                    sizeof g->text, NULL, &g->bad);
}

/* Cheap sink for the million-message test: counts, and checks the message
 * is what eviction promises (incomplete, one part present). */
static void count_sink(void *ctx, const struct sms_message_out *m)
{
    struct got *g = ctx;
    g->n++;
    g->complete = m->complete;
    if (!m->complete)
        g->n_incomplete++;
    if (!m->complete && (m->received != 1 || m->n_cookies != 1 || m->ud_len == 0))
        g->bad++;
}

static struct sms_part mkpart(uint8_t dc, uint16_t ref, uint8_t total, uint8_t seq,
                              const uint8_t *ud, size_t len, sg_time_us ts)
{
    struct sms_part p;
    memset(&p, 0, sizeof p);
    p.link = 42;
    p.src = (struct sg_view){(const uint8_t *)"QIWI", 4};
    p.dst = (struct sg_view){(const uint8_t *)"79121234567", 11};
    p.ref = ref;
    p.total = total;
    p.seq = seq;
    p.data_coding = dc;
    p.ud = ud;
    p.ud_len = len;
    p.ts = ts;
    p.cookie = 1000u + seq;
    return p;
}

static void test_basic(void)
{
    struct got g = {0};
    struct sms_concat_config c = {16, 64 * 1024, 60};
    struct sms_concat_sink s = {&g, sink_fn};
    sms_concat_t *t = sms_concat_new(&c, &s);
    CHECK(t != NULL);

    /* GSM unpacked, three parts out of order; part 1 ends with ESC, part 2
     * starts with the € code: the escape straddles the boundary */
    const uint8_t p1[] = {'P', 'a', 'y', ' ', '5', 0x1B};
    const uint8_t p2[] = {0x65, ' ', 'a', 't', ' ', 'h', 't', 't', 'p', ':', '/'};
    const uint8_t p3[] = {'/', 'b', 'a', 'd', '.', 'e', 'x'};
    struct sms_part a = mkpart(0, 0xCC, 3, 3, p3, sizeof p3, 1000);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0);
    a = mkpart(0, 0xCC, 3, 1, p1, sizeof p1, 1100);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0); /* duplicate */
    CHECK_EQ_INT(g.n, 0);
    a = mkpart(0, 0xCC, 3, 2, p2, sizeof p2, 1200);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_INT(g.complete, 1);
    CHECK_EQ_INT(g.received, 3);
    CHECK_EQ_STR(g.text, "Pay 5€ at http://bad.ex");
    CHECK_EQ_INT(g.bad, 0);
    CHECK_EQ_INT(g.n_cookies, 3);
    CHECK(g.cookies[0] == 1001 && g.cookies[1] == 1002 && g.cookies[2] == 1003);
    CHECK(g.seqs[0] == 1 && g.seqs[2] == 3);
    CHECK_EQ_STR(g.src, "QIWI");
    CHECK_EQ_STR(g.dst, "79121234567");

    /* UCS-2 with a surrogate pair split across parts (😀 = D83D DE00) */
    const uint8_t u1[] = {0x00, 0x48, 0x00, 0x69, 0xD8, 0x3D};
    const uint8_t u2[] = {0xDE, 0x00, 0x00, 0x21};
    a = mkpart(8, 7, 2, 2, u2, sizeof u2, 2000);
    sms_concat_add(t, &a);
    a = mkpart(8, 7, 2, 1, u1, sizeof u1, 2001);
    sms_concat_add(t, &a);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_STR(g.text, "Hi😀!");
    CHECK_EQ_INT(g.bad, 0);

    /* UCS-2 part 1 of odd length (broken traffic): part 2 stays aligned */
    const uint8_t o1[] = {0x04, 0x1F, 0x04, 0x40, 0x04};
    const uint8_t o2[] = {0x04, 0x38, 0x04, 0x32};
    a = mkpart(8, 8, 2, 1, o1, sizeof o1, 2100);
    sms_concat_add(t, &a);
    a = mkpart(8, 8, 2, 2, o2, sizeof o2, 2101);
    sms_concat_add(t, &a);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_STR(g.text, "Пр\xEF\xBF\xBDив");
    CHECK_EQ_INT(g.bad, 1);

    /* same ref from another destination is another message; total 1 is
     * emitted at once */
    a = mkpart(0, 0xCC, 2, 1, p1, 5, 3000);
    a.dst = (struct sg_view){(const uint8_t *)"79000000000", 11};
    sms_concat_add(t, &a);
    CHECK_EQ_INT(g.n, 3);
    a = mkpart(0, 0xCC, 1, 1, p3, sizeof p3, 3001);
    sms_concat_add(t, &a);
    CHECK_EQ_INT(g.n, 4);
    CHECK_EQ_STR(g.text, "/bad.ex");

    /* invalid parts */
    a = mkpart(0, 1, 2, 3, p1, 1, 3002);
    CHECK_EQ_INT(sms_concat_add(t, &a), SG_EINVAL);
    a = mkpart(0, 1, 0, 0, p1, 1, 3002);
    CHECK_EQ_INT(sms_concat_add(t, &a), SG_EINVAL);

    struct sms_concat_stats st;
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.messages_complete, 4);
    CHECK_EQ_INT(st.duplicates, 1);
    CHECK_EQ_INT(st.active, 1);
    CHECK_EQ_INT(st.rejected, 2);
    CHECK_EQ_INT(st.repaired, 1);
    CHECK(st.buffered_bytes > 0);

    /* timeout: the 79000000000 message (last part at 3000 us) */
    sms_concat_expire(t, 3000 + 59 * 1000000ull);
    CHECK_EQ_INT(g.n, 4);
    sms_concat_expire(t, 3000 + 60 * 1000000ull);
    CHECK_EQ_INT(g.n, 5);
    CHECK_EQ_INT(g.complete, 0);
    CHECK_EQ_INT(g.received, 1);
    CHECK_EQ_INT(g.total, 2);
    CHECK_EQ_STR(g.text, "Pay 5");
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.timed_out, 1);
    CHECK_EQ_INT(st.active, 0);
    CHECK_EQ_INT(st.buffered_bytes, 0);

    /* flush emits what is left, incomplete */
    a = mkpart(0, 9, 3, 2, p2, sizeof p2, 4000);
    sms_concat_add(t, &a);
    sms_concat_flush(t);
    CHECK_EQ_INT(g.n, 6);
    CHECK_EQ_INT(g.complete, 0);
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.messages_incomplete, 2);
    sms_concat_free(t);
    sms_concat_free(NULL);
}

/* Packed GSM parts with a 6-octet UDH (1 fill bit): each part is unpacked
 * when stored, the escape straddling the boundary still decodes. */
static void test_packed(void)
{
    struct got g = {0};
    struct sms_concat_config c = {4, 4096, 0};
    struct sms_concat_sink s = {&g, sink_fn};
    sms_concat_t *t = sms_concat_new(&c, &s);
    uint8_t s1[16], s2[16], k1[16], k2[16];
    size_t n1, n2, l1, l2;
    CHECK_EQ_INT(sms_gsm_encode("Only 9", 6, s1, sizeof s1, &n1), 0);
    s1[n1++] = 0x1B; /* escape at the end of part 1 ... */
    s2[0] = 0x65;    /* ... € at the start of part 2 */
    memcpy(s2 + 1, " now", 4);
    n2 = 5;
    unsigned fill = sms_udh_fill_bits(6);
    CHECK_EQ_INT(sms_gsm_pack(s1, n1, fill, k1, sizeof k1, &l1), 0);
    CHECK_EQ_INT(sms_gsm_pack(s2, n2, fill, k2, sizeof k2, &l2), 0);
    struct sms_part a = mkpart(0, 0x1234, 2, 2, k2, l2, 10);
    a.gsm_packed = 1;
    a.fill_bits = fill;
    sms_concat_add(t, &a);
    a = mkpart(0, 0x1234, 2, 1, k1, l1, 11);
    a.gsm_packed = 1;
    a.fill_bits = fill;
    sms_concat_add(t, &a);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_STR(g.text, "Only 9€ now");
    CHECK_EQ_INT(g.bad, 0);
    /* bad fill bits */
    a.fill_bits = 7;
    CHECK_EQ_INT(sms_concat_add(t, &a), SG_EINVAL);
    sms_concat_free(t);
}

/* A million unfinished multipart messages (part 1 of 2, distinct refs):
 * the table stays under its caps and every eviction is counted and
 * emitted. */
static void test_million(void)
{
    struct got g = {0};
    struct sms_concat_config c = {1000, 64 * 1024, 3600};
    struct sms_concat_sink s = {&g, count_sink};
    sms_concat_t *t = sms_concat_new(&c, &s);
    CHECK(t != NULL);
    if (!t)
        return;
    uint8_t ud[134];
    memset(ud, 'x', sizeof ud);
    struct sms_concat_stats st;
    uint64_t max_active = 0, max_bytes = 0;
    const uint32_t N = 1000000;
    for (uint32_t i = 0; i < N; i++) {
        struct sms_part a = mkpart(0, (uint16_t)i, 2, 1, ud, 1 + i % sizeof ud, i);
        a.link = i >> 16; /* 16-bit refs wrap: vary the link */
        if (sms_concat_add(t, &a) != 0) {
            CHECK_MSG(0, "add %u failed", i);
            break;
        }
        if ((i & 1023) == 0) {
            sms_concat_get_stats(t, &st);
            if (st.active > max_active)
                max_active = st.active;
            if (st.buffered_bytes > max_bytes)
                max_bytes = st.buffered_bytes;
        }
    }
    sms_concat_get_stats(t, &st);
    CHECK(max_active <= c.max_messages && st.active <= c.max_messages);
    CHECK(max_bytes <= c.max_bytes && st.buffered_bytes <= c.max_bytes);
    CHECK_EQ_INT(st.parts, N);
    CHECK_EQ_INT(st.evicted_count + st.active, N);
    CHECK(st.evicted_count >= N - c.max_messages);
    CHECK(st.evicted_bytes > 0);
    CHECK_EQ_INT(st.messages_incomplete, st.evicted_count);
    CHECK_EQ_INT((uint64_t)g.n, st.evicted_count);
    CHECK_EQ_INT(g.n_incomplete, (uint64_t)g.n);
    CHECK_EQ_INT(st.messages_complete, 0);
    CHECK_EQ_INT(g.bad, 0);
    /* the table still works after all that: complete the newest message */
    struct sms_part a = mkpart(0, (uint16_t)(N - 1), 2, 2, ud, 3, N);
    a.link = (N - 1) >> 16;
    sms_concat_add(t, &a);
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.messages_complete, 1);
    CHECK_EQ_INT(g.complete, 1);
    sms_concat_flush(t);
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.active, 0);
    CHECK_EQ_INT(st.buffered_bytes, 0);
    sms_concat_free(t);
}

static void test_bad_config(void)
{
    struct sms_concat_config c = {0, 4096, 0};
    CHECK(sms_concat_new(&c, NULL) == NULL);
    c.max_messages = 1;
    c.max_bytes = 10;
    CHECK(sms_concat_new(&c, NULL) == NULL);
    /* a part bigger than the whole arena is refused, not stored */
    c.max_bytes = 128;
    sms_concat_t *t = sms_concat_new(&c, NULL);
    uint8_t big[200] = {0};
    struct sms_part a = mkpart(4, 1, 2, 1, big, sizeof big, 1);
    CHECK_EQ_INT(sms_concat_add(t, &a), SG_ENOSPC);
    /* one slot: a second message evicts the first */
    a = mkpart(4, 1, 2, 1, big, 10, 1);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0);
    a = mkpart(4, 2, 2, 1, big, 10, 2);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0);
    struct sms_concat_stats st;
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.evicted_count, 1);
    CHECK_EQ_INT(st.active, 1);
    /* the arena fits one 100-octet part: adding part 2 of the same message
     * evicts the message itself, the new part starts it anew */
    a = mkpart(4, 2, 2, 2, big, 100, 3);
    CHECK_EQ_INT(sms_concat_add(t, &a), 0);
    sms_concat_get_stats(t, &st);
    CHECK_EQ_INT(st.evicted_count, 2);
    CHECK_EQ_INT(st.active, 1);
    CHECK(st.buffered_bytes <= 128);
    sms_concat_free(t);
}

int main(void)
{
    test_basic();
    test_packed();
    test_million();
    test_bad_config();
    return test_summary();
}
