/* smpp_decode's fast bodies (submit_sm, deliver_sm and their responses)
 * give what the general body decoders give: the same return code, every
 * member of the struct, the same TLVs, the same error offset and reason,
 * on random PDUs of those commands, well formed and not (C-octet strings
 * at and past their maximum, without their NUL, sm_length above 254 or
 * past the end, bodies cut anywhere, trailing octets, TLVs), each decoded
 * from an exact-size copy so that a read past the PDU is a sanitizer
 * error.  The reference is smpp.c itself built with
 * SMPP_GENERAL_BODIES_ONLY, its public names renamed. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define SMPP_GENERAL_BODIES_ONLY
#define smpp_decode ref_smpp_decode
#define smpp_command_name ref_smpp_command_name
#define smpp_status_name ref_smpp_status_name
#define smpp_tlv_name ref_smpp_tlv_name
#define smpp_message_state_name ref_smpp_message_state_name
#define smpp_tlv_find ref_smpp_tlv_find
#define smpp_pdu_write_json ref_smpp_pdu_write_json
#include "../filter/smpp.c"
#undef smpp_decode
#undef smpp_command_name
#undef smpp_status_name
#undef smpp_tlv_name
#undef smpp_message_state_name
#undef smpp_tlv_find
#undef smpp_pdu_write_json
#pragma GCC diagnostic pop

/* The library's, fast bodies included (smpp.h was read above under the
 * reference's names). */
int smpp_decode(const uint8_t *buf, size_t len, struct smpp_pdu *out, struct smpp_error *err);

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static struct smpp_pdu pa, pb;
static unsigned compared, fast_taken_ok, errors_seen;

/* Both decoders on buf[0..len), from an exact-size copy. */
static void same_decode(const uint8_t *buf, size_t len, int *mismatches)
{
    uint8_t *exact = malloc(len ? len : 1);
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, buf, len);
    struct smpp_error ea, eb;
    memset(&ea, 0, sizeof ea);
    memset(&eb, 0, sizeof eb);
    /* garbage in the parts not cleared per PDU: only counted entries count */
    memset(&pa, 0xA5, sizeof pa);
    memset(&pb, 0x5A, sizeof pb);
    int ra = smpp_decode(exact, len, &pa, &ea), rb = ref_smpp_decode(exact, len, &pb, &eb);
    int same = ra == rb && memcmp(&pa, &pb, offsetof(struct smpp_pdu, tlvs)) == 0;
    for (unsigned i = 0; same && i < pa.n_tlvs; i++) /* member by member: tlvs[] has padding */
        same = pa.tlvs[i].tag == pb.tlvs[i].tag && pa.tlvs[i].len == pb.tlvs[i].len &&
               pa.tlvs[i].value == pb.tlvs[i].value;
    if (same && ra != 0)
        same = ea.offset == eb.offset && ea.reason && eb.reason && strcmp(ea.reason, eb.reason) == 0;
    if (!same && (*mismatches)++ < 5)
        CHECK_MSG(same, "fast and general bodies differ: command 0x%08x, %zu octets, rc %d/%d, %s / %s",
                  pa.command_id, len, ra, rb, ra ? ea.reason : "-", rb ? eb.reason : "-");
    compared++;
    if (ra == 0)
        fast_taken_ok++;
    else
        errors_seen++;
    free(exact);
}

/* A C-octet string: usually 0..max-1 octets and its NUL; sometimes max or
 * more, or no NUL at all (the body then runs on into the next field). */
static size_t put_cstr(uint8_t *b, size_t n, size_t cap, unsigned max)
{
    unsigned r = next_rand() % 16;
    size_t len = r == 0 ? max + next_rand() % 4 : r < 4 ? 0 : next_rand() % max;
    if (r < 6 && r >= 4)
        len = next_rand() % 3 ? max - 1 : (next_rand() % 2 ? 15 : 16); /* the 16-octet boundary */
    for (size_t i = 0; i < len && n < cap; i++)
        b[n++] = (uint8_t)('0' + next_rand() % 40 + (next_rand() % 9 == 0 ? 0x60 : 0));
    if (n < cap && next_rand() % 32)
        b[n++] = 0;
    return n;
}

static size_t put_u8(uint8_t *b, size_t n, size_t cap)
{
    if (n < cap)
        b[n++] = (uint8_t)(next_rand() % 8 == 0 ? next_rand() : next_rand() % 3);
    return n;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A random PDU of one of the four commands; returns its length. */
static size_t make_pdu(uint8_t *b, size_t cap)
{
    static const uint32_t ids[] = {0x00000004u, 0x00000005u, 0x80000004u, 0x80000005u};
    uint32_t id = ids[next_rand() % 4];
    size_t n = SMPP_HEADER_LEN;
    if (!(id & SMPP_RESP_BIT)) {
        n = put_cstr(b, n, cap, 6);
        n = put_u8(b, n, cap);
        n = put_u8(b, n, cap);
        n = put_cstr(b, n, cap, 21);
        n = put_u8(b, n, cap);
        n = put_u8(b, n, cap);
        n = put_cstr(b, n, cap, 21);
        for (int k = 0; k < 3; k++)
            n = put_u8(b, n, cap);
        n = put_cstr(b, n, cap, 17);
        n = put_cstr(b, n, cap, 17);
        for (int k = 0; k < 4; k++)
            n = put_u8(b, n, cap);
        unsigned sm = next_rand() % 16 == 0 ? 200 + next_rand() % 56 : next_rand() % 160;
        if (n < cap)
            b[n++] = (uint8_t)sm;
        for (unsigned i = 0; i < sm && n < cap; i++)
            b[n++] = (uint8_t)next_rand();
    } else if (next_rand() % 8) {
        size_t len = next_rand() % 8 == 0 ? 30 + next_rand() % 40 : next_rand() % 20;
        for (size_t i = 0; i < len && n < cap; i++)
            b[n++] = (uint8_t)('0' + next_rand() % 40);
        if (n < cap && next_rand() % 16)
            b[n++] = 0;
    }
    /* TLVs: sar_*, message_payload, receipted_message_id, a vendor one,
     * an integer of a wrong length */
    unsigned nt = next_rand() % 4 == 0 ? next_rand() % 4 : 0;
    static const uint16_t tags[] = {0x020C, 0x020E, 0x020F, 0x0424, 0x001E, 0x1401, 0x0427, 0x0005};
    for (unsigned t = 0; t < nt && n + 4 < cap; t++) {
        uint16_t tag = tags[next_rand() % 8];
        uint16_t tl = (uint16_t)(next_rand() % 6);
        b[n++] = (uint8_t)(tag >> 8);
        b[n++] = (uint8_t)tag;
        b[n++] = 0;
        b[n++] = (uint8_t)tl;
        for (unsigned i = 0; i < tl && n < cap; i++)
            b[n++] = (uint8_t)next_rand();
    }
    put_be32(b, (uint32_t)n);
    put_be32(b + 4, id);
    put_be32(b + 8, next_rand() % 4 == 0 ? 0x58u : 0);
    put_be32(b + 12, next_rand());
    return n;
}

static void test_random(void)
{
    int mismatches = 0;
    uint8_t buf[600];
    for (int round = 0; round < 200000; round++) {
        size_t n = make_pdu(buf, sizeof buf);
        switch (next_rand() % 8) {
        case 0: /* cut anywhere after the header: command_length says more */
            n = SMPP_HEADER_LEN + next_rand() % (n - SMPP_HEADER_LEN + 1);
            break;
        case 1: /* trailing octets beyond command_length */
            if (n + 3 <= sizeof buf) {
                memset(buf + n, 0, 3);
                n += 1 + next_rand() % 3;
            }
            break;
        default:
            break;
        }
        same_decode(buf, n, &mismatches);
    }
    CHECK_EQ_INT(mismatches, 0);
    /* the generator reaches both outcomes often */
    CHECK(fast_taken_ok > compared / 4);
    CHECK(errors_seen > compared / 10);
}

/* Hand-made edges: addresses of 15, 16, 20 and 21 octets (the sixteen-
 * octet window and the 21 maximum), a response id of 31, 32, 64 and 65
 * octets, an empty body, a body that ends inside the header's sixteen. */
static void test_edges(void)
{
    int mismatches = 0;
    uint8_t b[400];
    static const size_t alen[] = {0, 1, 14, 15, 16, 17, 20, 21, 22};
    for (size_t i = 0; i < sizeof alen / sizeof alen[0]; i++) {
        for (size_t j = 0; j < sizeof alen / sizeof alen[0]; j++) {
            size_t n = SMPP_HEADER_LEN;
            b[n++] = 0; /* service_type */
            b[n++] = 1;
            b[n++] = 1;
            memset(b + n, '7', alen[i]);
            n += alen[i];
            b[n++] = 0;
            b[n++] = 1;
            b[n++] = 1;
            memset(b + n, '9', alen[j]);
            n += alen[j];
            b[n++] = 0;
            memset(b + n, 0, 3 + 2 + 4);
            n += 9;
            b[n++] = 5;
            memcpy(b + n, "hello", 5);
            n += 5;
            put_be32(b, (uint32_t)n);
            put_be32(b + 4, 0x00000004u);
            put_be32(b + 8, 0);
            put_be32(b + 12, 7);
            for (size_t cut = SMPP_HEADER_LEN; cut <= n; cut++)
                same_decode(b, cut, &mismatches);
        }
    }
    static const size_t idlen[] = {0, 1, 15, 16, 31, 32, 33, 64, 65, 66};
    for (size_t i = 0; i < sizeof idlen / sizeof idlen[0]; i++) {
        for (int nul = 0; nul < 2; nul++) {
            size_t n = SMPP_HEADER_LEN;
            memset(b + n, 'a', idlen[i]);
            n += idlen[i];
            if (nul)
                b[n++] = 0;
            put_be32(b, (uint32_t)n);
            put_be32(b + 4, 0x80000004u);
            put_be32(b + 8, 0);
            put_be32(b + 12, 9);
            same_decode(b, n, &mismatches);
            put_be32(b + 4, 0x80000005u);
            same_decode(b, n, &mismatches);
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
