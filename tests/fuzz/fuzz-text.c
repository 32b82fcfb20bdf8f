/* libFuzzer target: UDH parse, text decode and multipart reassembly.
 *
 * Input: byte 0 selects the data_coding (low 4 bits index a table of
 * interesting values), GSM packing (bit 4), node-smpp's dc1 quirk (bit 5)
 * and what dc 0 means (bits 6-7).  The rest is a short_message: its UDH is
 * parsed and its text decoded; then it is cut into parts (per part: one
 * octet seq/total, one octet ref, one octet length) fed to a small
 * sms_concat table whose every emitted message is decoded again.
 *
 * Invariants checked (abort on failure): the output is valid UTF-8 with no
 * embedded NUL and strlen == outlen; SMS_TEXT_DECODE_CAP never truncates;
 * GSM and UCS-2 text decoded without errors re-encodes to the same octets;
 * the table stays within its caps.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *        cmake --build build-fuzz --target fuzz-text
 *        ./build-fuzz/tests/fuzz-text corpus/   (replayed by ctest as fuzz-text-corpus)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sms-concat.h"
#include "sms-text.h"
#include "sms-udh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t dcs[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                0x08, 0x10, 0x18, 0xF0, 0xF4, 0xF5, 0xC0, 0xE8};
static const uint8_t dc0s[4] = {SMS_CS_GSM, SMS_CS_LATIN1, SMS_CS_ASCII, 0xEE};

static void utf8_check(const char *s, size_t len)
{
    if (strlen(s) != len)
        abort();
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint8_t b = p[i];
        size_t n = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : 9;
        if (n == 9 || (n > 0 && i + n >= len))
            abort();
        for (size_t k = 1; k <= n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                abort();
        i += n + 1;
    }
}

/* Decodes into an exact-size heap buffer (so ASan sees any overrun) and
 * checks the invariants; with small set, into a tiny buffer too. */
static void decode_check(enum sms_charset cs, const struct sms_text_opts *o, const uint8_t *ud,
                         size_t len, unsigned fill, size_t small)
{
    size_t cap = SMS_TEXT_DECODE_CAP(len);
    char *out = malloc(cap);
    size_t outlen = 0;
    unsigned bad = 0;
    int rc = sms_text_decode(cs, o, ud, len, fill, out, cap, &outlen, &bad);
    if (rc == SG_ENOSPC)
        abort(); /* the documented capacity must suffice */
    if (rc == 0) {
        utf8_check(out, outlen);
        int packed = o && o->gsm_packing == SMS_GSM_PACKED;
        if (bad == 0 && cs == SMS_CS_GSM && !packed) {
            uint8_t *re = malloc(len + 1);
            size_t rn = 0;
            if (sms_gsm_encode(out, outlen, re, len + 1, &rn) != 0 || rn != len ||
                memcmp(re, ud, len) != 0)
                abort();
            free(re);
        }
        if (bad == 0 && cs == SMS_CS_UCS2) {
            uint8_t *re = malloc(len + 1);
            size_t rn = 0;
            if (sms_ucs2_encode(out, outlen, re, len + 1, &rn) != 0 || rn != len ||
                memcmp(re, ud, len) != 0)
                abort();
            free(re);
        }
    }
    if (small) {
        char *tiny = malloc(small);
        size_t tinylen = 0;
        int trc = sms_text_decode(cs, o, ud, len, fill, tiny, small, &tinylen, NULL);
        if (trc == 0 || trc == SG_ENOSPC)
            utf8_check(tiny, tinylen);
        /* A short buffer gets a prefix of the full text, cut at a
         * character: the fast paths and the careful ones must agree. */
        if (rc == 0 && (trc == 0 || trc == SG_ENOSPC) &&
            (tinylen > outlen || memcmp(tiny, out, tinylen) != 0))
            abort();
        free(tiny);
    }
    free(out);
}

struct fz_ctx {
    const struct sms_text_opts *o;
};

static void fz_sink(void *ctx, const struct sms_message_out *m)
{
    struct fz_ctx *c = ctx;
    if (m->received > m->total || m->n_cookies != m->received)
        abort();
    for (size_t i = 1; i < m->n_cookies; i++)
        if (m->seqs[i] <= m->seqs[i - 1])
            abort();
    struct sms_text_opts o = *c->o;
    if (m->gsm_unpacked)
        o.gsm_packing = SMS_GSM_UNPACKED;
    /* copy so that an overread of the joined data is caught */
    uint8_t *ud = malloc(m->ud_len ? m->ud_len : 1);
    memcpy(ud, m->ud, m->ud_len);
    decode_check(sms_charset_of(m->data_coding, &o), &o, ud, m->ud_len, 0, 0);
    free(ud);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sms_text_opts o;
    memset(&o, 0, sizeof o);
    uint8_t sel = data[0];
    uint8_t dc = dcs[sel & 15];
    o.gsm_packing = (sel & 0x10) ? SMS_GSM_PACKED : SMS_GSM_UNPACKED;
    o.dc1_gsm = (sel >> 5) & 1;
    o.dc0_charset = dc0s[sel >> 6];
    enum sms_charset cs = sms_charset_of(dc, &o);
    const uint8_t *sm = data + 1;
    size_t len = size - 1;

    /* 1. the whole input as one short_message with UDHI set */
    struct sms_udh u;
    size_t err_off = 0;
    const char *why = NULL;
    size_t body = 0;
    unsigned fill = 0;
    int rc = sms_udh_parse(sm, len, &u, &err_off, &why);
    if (rc == 0) {
        if (u.udhl > len || !u.present || (u.concat && (u.seq == 0 || u.seq > u.total)))
            abort();
        body = u.udhl;
        fill = sms_udh_fill_bits(u.udhl);
    } else if (!why || (len && err_off >= len) || u.present) {
        abort();
    }
    decode_check(cs, &o, sm + body, len - body, fill, len ? sm[0] % 16 : 0);
    /* and without a UDH */
    decode_check(cs, &o, sm, len, 0, 0);

    /* 2. the septet packer against the unpacker */
    if (len > 0) {
        size_t cap = len * 8 / 7 + 2, n = 0, pn = 0, n2 = 0;
        uint8_t *sept = malloc(cap), *pk = malloc(len + 2), *back = malloc(cap);
        unsigned f = sm[0] % 7;
        if (sms_gsm_unpack(sm, len, f, sept, cap, &n) != 0)
            abort();
        if (sms_gsm_pack(sept, n, f, pk, len + 2, &pn) != 0 || pn > len)
            abort();
        if (n > 0 && sept[n - 1] != 0 && sept[n - 1] != 0x0D) {
            if (sms_gsm_unpack(pk, pn, f, back, cap, &n2) != 0 || n2 != n ||
                memcmp(back, sept, n) != 0)
                abort();
        }
        free(sept);
        free(pk);
        free(back);
    }

    /* 3. multipart: cut the input into parts */
    static sms_concat_t *t;
    static struct fz_ctx ctx;
    ctx.o = &o;
    if (!t) {
        struct sms_concat_config c = {4, 1024, 1};
        struct sms_concat_sink s = {&ctx, fz_sink};
        t = sms_concat_new(&c, &s);
        if (!t)
            abort();
    }
    size_t i = 0;
    sg_time_us ts = 1;
    int packed = cs == SMS_CS_GSM && o.gsm_packing == SMS_GSM_PACKED;
    while (i + 3 <= len) {
        uint8_t st = sm[i], ref = sm[i + 1], pl = sm[i + 2];
        i += 3;
        size_t n = pl < len - i ? pl : len - i;
        uint8_t *ud = malloc(n ? n : 1);
        memcpy(ud, sm + i, n);
        i += n;
        struct sms_part p;
        memset(&p, 0, sizeof p);
        p.link = st >> 7;
        p.src = (struct sg_view){(const uint8_t *)"src", 3};
        p.dst = (struct sg_view){(const uint8_t *)"dst", ref & 1 ? 3 : 2};
        p.ref = ref;
        p.total = (uint8_t)((st >> 4) & 7);
        p.seq = st & 15;
        p.data_coding = dc;
        p.gsm_packed = (uint8_t)packed;
        p.fill_bits = packed ? st % 7 : 0;
        p.ud = ud;
        p.ud_len = n;
        p.ts = ts;
        p.cookie = i;
        sms_concat_add(t, &p);
        free(ud);
        ts += (ref & 0x80) ? 2000000 : 1;
        sms_concat_expire(t, ts);
        struct sms_concat_stats s;
        sms_concat_get_stats(t, &s);
        if (s.active > 4 || s.buffered_bytes > 1024)
            abort();
    }
    sms_concat_flush(t);
    struct sms_concat_stats s;
    sms_concat_get_stats(t, &s);
    if (s.active != 0 || s.buffered_bytes != 0)
        abort();
    return 0;
}
