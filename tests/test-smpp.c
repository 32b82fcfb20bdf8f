/* SMPP PDU decoder: the shared vectors (../shared/data/vectors/smpp-pdus.tsv),
 * hand-built vectors of every v3.4/v5.0 PDU (tests/vectors/), every error
 * path with its offset and reason, the JSON dump, and a speed figure. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-writer.h"
#include "smpp-frame.h"
#include "smpp.h"
#include "testutil.h"
#include "vectors/smpp-spec-vectors.h"

static struct smpp_pdu pdu; /* ~7 KiB: static, not on the stack */

static int view_eq(struct sg_view v, const char *s)
{
    return v.p && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}
#define CHECK_VIEW(v, s) CHECK_MSG(view_eq((v), (s)), "view \"%.*s\" != \"%s\"", \
                                   (int)(v).len, (v).p ? (const char *)(v).p : "", (s))

static int decode(const uint8_t *b, size_t n, struct smpp_error *e)
{
    memset(e, 0, sizeof(*e));
    return smpp_decode(b, n, &pdu, e);
}

/* Decodes from a hex string into an exact-size heap buffer (so ASan sees
 * overreads). */
static uint8_t *hexbuf;
static int decode_hex(const char *hex, size_t *n, struct smpp_error *e)
{
    uint8_t tmp[8192];
    /* "LLLLLLLL" as the first word stands for the real length. */
    int fix = strncmp(hex, "LLLLLLLL", 8) == 0;
    long l = test_unhex(fix ? hex + 8 : hex, fix ? tmp + 4 : tmp, sizeof(tmp) - 4);
    if (l < 0)
        return -9999;
    if (fix) {
        l += 4;
        tmp[0] = (uint8_t)(l >> 24), tmp[1] = (uint8_t)(l >> 16);
        tmp[2] = (uint8_t)(l >> 8), tmp[3] = (uint8_t)l;
    }
    free(hexbuf);
    hexbuf = malloc((size_t)l + 1);
    memcpy(hexbuf, tmp, (size_t)l);
    *n = (size_t)l;
    return decode(hexbuf, (size_t)l, e);
}

/* ---- shared TSV vectors: one expectation per row ------------------------ */

static void check_tsv_row(int id, const uint8_t *b, size_t n)
{
    struct smpp_error e;
    int rc = decode(b, n, &e);
    switch (id) {
    case 1:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(enquire_link));
        CHECK_EQ_INT(pdu.sequence_number, 0x0a342ee7);
        CHECK_EQ_INT(pdu.present, 0);
        break;
    case 2:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_STR(smpp_command_name(pdu.command_id), "enquire_link_resp");
        CHECK_EQ_INT(pdu.sequence_number, 0x0a342eed);
        break;
    case 3: {
        /* Two PDUs in one buffer: the first is complete, the rest is a
         * partial header the stream layer must wait on. */
        uint32_t plen = 0;
        CHECK_EQ_INT(smpp_frame_check(b, n, 0, &plen), SMPP_FRAME_OK);
        CHECK_EQ_INT(plen, 16);
        CHECK_EQ_INT(decode(b, plen, &e), 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(enquire_link_resp));
        CHECK_EQ_INT(smpp_frame_check(b + plen, n - plen, 0, &plen), SMPP_FRAME_NEED_MORE);
        /* As one PDU, the trailing bytes are reported. */
        CHECK_EQ_INT(rc, SG_EINVAL);
        CHECK_EQ_INT(decode(b, n, &e), SG_EINVAL);
        CHECK_EQ_INT(e.offset, 16);
        CHECK_EQ_STR(e.reason, "command_length 16 leaves 15 trailing bytes");
        break;
    }
    case 4:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(submit_sm_resp));
        CHECK_VIEW(pdu.message_id, "94258431594");
        CHECK(SMPP_HAS(&pdu, message_id));
        break;
    case 5:
        CHECK_EQ_INT(rc, SG_ETRUNC);
        CHECK_EQ_INT(e.offset, 16);
        CHECK_EQ_STR(e.reason, "missing NUL in message_id (max 65)");
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(submit_sm_resp)); /* header still valid */
        CHECK_EQ_INT(pdu.sequence_number, 0x0a342ee1);
        CHECK(!SMPP_HAS(&pdu, message_id));
        break;
    case 6:
        CHECK_EQ_INT(rc, 0);
        CHECK_VIEW(pdu.system_id, "Smsc Simulator");
        CHECK_EQ_INT(pdu.tlv.sc_interface_version, -1);
        break;
    case 7:
        CHECK_EQ_INT(rc, 0);
        CHECK_VIEW(pdu.system_id, "Smsc GW");
        CHECK_EQ_INT(pdu.n_tlvs, 1);
        CHECK_EQ_INT(pdu.tlv.sc_interface_version, 0x34);
        break;
    case 8:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(bind_transceiver));
        CHECK_VIEW(pdu.system_id, "ALL_TW");
        CHECK_VIEW(pdu.password, "ALL_TW");
        CHECK_VIEW(pdu.system_type, "");
        CHECK_EQ_INT(pdu.interface_version, 0x34);
        CHECK_EQ_INT(pdu.addr_ton, 1);
        CHECK_EQ_INT(pdu.addr_npi, 2);
        CHECK(SMPP_HAS(&pdu, address_range));
        CHECK_EQ_INT(pdu.address_range.len, 0);
        break;
    case 9:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(deliver_sm));
        CHECK_VIEW(pdu.source_addr, "87654321");
        CHECK_EQ_INT(pdu.source_addr_ton, 2);
        CHECK_VIEW(pdu.destination_addr, "40404");
        CHECK_EQ_INT(pdu.dest_addr_ton, 4);
        CHECK_EQ_INT(pdu.dest_addr_npi, 9);
        CHECK_EQ_INT(pdu.sm_length, 8);
        CHECK(pdu.short_message.len == 8 && memcmp(pdu.short_message.p, "@$#!%&/:", 8) == 0);
        CHECK_EQ_INT(pdu.n_tlvs, 2);
        CHECK_EQ_INT(pdu.tlvs[0].tag, 0x000E);
        CHECK_EQ_INT(pdu.tlvs[1].tag, 0x0006);
        CHECK_EQ_STR(smpp_tlv_name(pdu.tlvs[0].tag), "source_network_type");
        break;
    case 10:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.esm_class, 4);
        CHECK_EQ_INT(smpp_esm_is_receipt(pdu.esm_class), 4);
        CHECK_EQ_INT(pdu.sm_length, 110);
        CHECK(pdu.short_message.len == 110 && memcmp(pdu.short_message.p, "id:0059113978 ", 14) == 0);
        CHECK_VIEW(pdu.tlv.receipted_message_id, "38601fa");
        CHECK_EQ_INT(pdu.tlv.message_state, SMPP_STATE_DELIVERED);
        CHECK_EQ_INT(pdu.n_tlvs, 4);
        break;
    case 11:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(submit_sm));
        CHECK_EQ_INT(pdu.sequence_number, 20456);
        CHECK_VIEW(pdu.source_addr, "40404");
        CHECK_VIEW(pdu.destination_addr, "44951361920");
        CHECK_EQ_INT(pdu.registered_delivery, 1);
        CHECK_EQ_INT(pdu.n_tlvs, 0);
        CHECK(pdu.tlv.message_payload.p == NULL);
        break;
    case 12:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_STR(smpp_command_name(pdu.command_id), "generic_nack");
        CHECK_EQ_INT(pdu.command_status, 1);
        CHECK_EQ_STR(smpp_status_name(pdu.command_status), "ESME_RINVMSGLEN");
        break;
    case 13:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.sm_length, 0);
        CHECK_EQ_INT(pdu.tlv.message_payload.len, 38);
        CHECK(memcmp(pdu.tlv.message_payload.p, "@Maidenman664", 13) == 0);
        CHECK(smpp_pdu_message(&pdu).p == pdu.tlv.message_payload.p);
        break;
    case 14:
        CHECK_EQ_INT(rc, 0);
        CHECK(pdu.tlv.message_payload.p != NULL); /* present, empty */
        CHECK_EQ_INT(pdu.tlv.message_payload.len, 0);
        break;
    case 15:
        CHECK_EQ_INT(rc, SG_ETRUNC);
        CHECK_EQ_INT(e.offset, 48);
        CHECK_EQ_STR(e.reason, "sm_length 16 exceeds remaining 8 bytes");
        CHECK_VIEW(pdu.source_addr, "999919914593"); /* decoded so far */
        CHECK_EQ_INT(pdu.data_coding, 8);
        CHECK(!SMPP_HAS(&pdu, short_message));
        break;
    case 16:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(data_sm));
        CHECK_VIEW(pdu.source_addr, "5552710000");
        CHECK_VIEW(pdu.destination_addr, "9695");
        CHECK_EQ_INT(pdu.registered_delivery, 1);
        CHECK(!SMPP_HAS(&pdu, sm_length));
        CHECK_VIEW(pdu.tlv.message_payload, "Test");
        break;
    case 17:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(cancel_sm));
        CHECK_VIEW(pdu.message_id, "12345");
        CHECK_VIEW(pdu.destination_addr, "44951361920");
        break;
    case 18:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(query_sm));
        CHECK_VIEW(pdu.message_id, "12345");
        CHECK_VIEW(pdu.source_addr, "40404");
        break;
    case 19:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(replace_sm));
        CHECK_VIEW(pdu.message_id, "msg-12345");
        CHECK_VIEW(pdu.schedule_delivery_time, "150203040506708+");
        CHECK_VIEW(pdu.validity_period, "010203040506000R");
        CHECK_EQ_INT(pdu.sm_default_msg_id, 2);
        CHECK_VIEW(pdu.short_message, "text");
        break;
    case 20:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.command_id, SMPP_CMD(alert_notification));
        CHECK_VIEW(pdu.source_addr, "5552710000");
        CHECK_VIEW(pdu.esme_addr, "40404");
        CHECK_EQ_INT(pdu.esme_addr_ton, 1);
        break;
    case 38:
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(pdu.esm_class, 0x40);
        CHECK(smpp_esm_has_udhi(pdu.esm_class));
        CHECK_EQ_INT(pdu.data_coding, 1);
        CHECK_EQ_INT(pdu.short_message.len, 8);
        CHECK_EQ_INT(pdu.short_message.p[1], 0x24);
        break;
    default:
        CHECK_MSG(0, "TSV row %d has no expectation in this test", id);
    }
}

static void test_tsv(void)
{
    const char *path = test_shared_path("data/vectors/smpp-pdus.tsv");
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return;
    char line[16384];
    int rows = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *hex = strrchr(line, '\t');
        CHECK(hex != NULL);
        if (!hex)
            continue;
        int id = atoi(line);
        size_t n;
        struct smpp_error e;
        (void)decode_hex(hex + 1, &n, &e);
        check_tsv_row(id, hexbuf, n);
        rows++;
    }
    fclose(f);
    CHECK_EQ_INT(rows, 21);
}

/* ---- hand-built vectors of every PDU ------------------------------------ */

#define DECODE_OK(v) do { struct smpp_error e_; CHECK_EQ_INT(decode((v), sizeof(v), &e_), 0); \
    CHECK_EQ_INT(pdu.command_length, sizeof(v)); } while (0)

static void test_spec_vectors(void)
{
    DECODE_OK(vec_submit_sm_udh_sar);
    CHECK_EQ_INT(pdu.command_id, SMPP_CMD(submit_sm));
    CHECK_VIEW(pdu.service_type, "CMT");
    CHECK_EQ_INT(pdu.source_addr_ton, 5);
    CHECK_VIEW(pdu.source_addr, "BANK");
    CHECK_VIEW(pdu.destination_addr, "447700900123");
    CHECK_VIEW(pdu.validity_period, "000001000000000R");
    CHECK(SMPP_HAS(&pdu, schedule_delivery_time) && pdu.schedule_delivery_time.len == 0);
    CHECK(smpp_esm_has_udhi(pdu.esm_class));
    CHECK_EQ_INT(pdu.short_message.len, 12);
    CHECK_EQ_INT(pdu.tlv.sar_msg_ref_num, 42);
    CHECK_EQ_INT(pdu.tlv.sar_total_segments, 2);
    CHECK_EQ_INT(pdu.tlv.sar_segment_seqnum, 1);
    CHECK_EQ_INT(pdu.n_tlvs, 4);
    CHECK_EQ_INT(pdu.tlvs[3].tag, 0x1400);
    CHECK(smpp_tlv_name(0x1400) == NULL);
    CHECK(pdu.tlvs[3].len == 4 && memcmp(pdu.tlvs[3].value, "1234", 4) == 0);
    CHECK(smpp_tlv_find(&pdu, 0x1400) == &pdu.tlvs[3]);
    CHECK(smpp_tlv_find(&pdu, 0x0424) == NULL);
    CHECK(!SMPP_HAS(&pdu, message_id));
    CHECK(!SMPP_HAS(&pdu, system_id));

    DECODE_OK(vec_submit_multi);
    CHECK_EQ_INT(pdu.number_of_dests, 3);
    CHECK_EQ_INT(pdu.n_dests, 3);
    CHECK_EQ_INT(pdu.dests[0].dest_flag, 1);
    CHECK_VIEW(pdu.dests[0].addr, "4477001");
    CHECK_EQ_INT(pdu.dests[1].dest_flag, 2);
    CHECK_VIEW(pdu.dests[1].addr, "friends");
    CHECK_EQ_INT(pdu.dests[2].ton, 2);
    CHECK_EQ_INT(pdu.dests[2].npi, 8);
    CHECK_VIEW(pdu.dests[2].addr, "33612345678");
    CHECK_EQ_INT(pdu.priority_flag, 1);
    CHECK_EQ_INT(pdu.data_coding, 3);
    CHECK_VIEW(pdu.short_message, "Hi!");
    CHECK(!SMPP_HAS(&pdu, destination_addr));

    DECODE_OK(vec_submit_multi_resp);
    CHECK_VIEW(pdu.message_id, "m1");
    CHECK_EQ_INT(pdu.no_unsuccess, 2);
    CHECK_EQ_INT(pdu.n_unsuccess, 2);
    CHECK_VIEW(pdu.unsuccess[0].addr, "4477001");
    CHECK_EQ_INT(pdu.unsuccess[0].error_status_code, SMPP_ESME_RINVDSTADR);
    CHECK_EQ_INT(pdu.unsuccess[1].npi, 2);
    CHECK_EQ_INT(pdu.unsuccess[1].error_status_code, SMPP_ESME_RTHROTTLED);

    DECODE_OK(vec_query_sm_resp);
    CHECK_VIEW(pdu.final_date, "100210173100000+");
    CHECK_EQ_INT(pdu.message_state, 2);
    CHECK_EQ_INT(pdu.tlv.message_state, 2);
    CHECK_EQ_STR(smpp_message_state_name(pdu.tlv.message_state), "DELIVERED");
    CHECK(SMPP_HAS(&pdu, error_code));

    DECODE_OK(vec_bind_transmitter);
    CHECK_EQ_STR(smpp_command_name(pdu.command_id), "bind_transmitter");
    CHECK_VIEW(pdu.system_id, "SMPP3TEST");
    CHECK_VIEW(pdu.password, "secret08");
    CHECK_VIEW(pdu.system_type, "SUBMIT1");

    DECODE_OK(vec_outbind);
    CHECK_VIEW(pdu.system_id, "SMSC");
    CHECK_VIEW(pdu.password, "pw");

    DECODE_OK(vec_broadcast_sm);
    CHECK_EQ_STR(smpp_command_name(pdu.command_id), "broadcast_sm");
    CHECK_VIEW(pdu.message_id, "bc1");
    CHECK_VIEW(pdu.source_addr, "1234");
    CHECK_EQ_INT(pdu.n_tlvs, 5);
    CHECK_EQ_STR(smpp_tlv_name(pdu.tlvs[0].tag), "broadcast_area_identifier");
    CHECK_EQ_STR(smpp_tlv_name(pdu.tlvs[2].tag), "broadcast_rep_num");
    CHECK_VIEW(pdu.tlv.message_payload, "Alert");

    DECODE_OK(vec_query_broadcast_sm);
    CHECK_EQ_INT(pdu.tlv.user_message_reference, 7);
    DECODE_OK(vec_query_broadcast_sm_resp);
    CHECK_EQ_INT(pdu.tlv.message_state, 2);
    CHECK(!SMPP_HAS(&pdu, message_state));
    DECODE_OK(vec_cancel_broadcast_sm);
    CHECK_VIEW(pdu.message_id, "bc1");

    /* Short bodies by hex: every remaining PDU. */
    static const struct {
        const char *hex;
        uint32_t id;
    } small[] = {
        {"00000010 80000002 00000000 00000001", SMPP_CMD(bind_transmitter_resp)}, /* no system_id */
        {"00000015 80000001 00000000 00000001 534d534300", SMPP_CMD(bind_receiver_resp)},
        {"LLLLLLLL 00000001 00000000 00000001 72783100 707700 00 34 00 00 3132333f00",
         SMPP_CMD(bind_receiver)},
        {"00000010 00000006 00000000 00000003", SMPP_CMD(unbind)},
        {"00000010 80000006 00000000 00000003", SMPP_CMD(unbind_resp)},
        {"00000010 80000004 00000058 00000004", SMPP_CMD(submit_sm_resp)}, /* throttled, no body */
        {"00000011 80000005 00000000 00000005 00", SMPP_CMD(deliver_sm_resp)},
        {"00000013 80000103 00000000 00000006 616200", SMPP_CMD(data_sm_resp)},
        {"00000010 80000008 00000000 00000007", SMPP_CMD(cancel_sm_resp)},
        {"00000010 80000007 00000000 00000008", SMPP_CMD(replace_sm_resp)},
        {"00000014 80000111 00000000 00000009 62633100", SMPP_CMD(broadcast_sm_resp)},
        {"00000010 80000113 00000000 0000000a", SMPP_CMD(cancel_broadcast_sm_resp)},
        {"00000010 80000021 00000045 0000000b", SMPP_CMD(submit_multi_resp)},
        {"00000010 80000003 00000067 0000000c", SMPP_CMD(query_sm_resp)},
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(small); i++) {
        size_t n;
        struct smpp_error e;
        int rc = decode_hex(small[i].hex, &n, &e);
        CHECK_MSG(rc == 0, "small[%zu]: %d %s", i, rc, rc ? e.reason : "");
        CHECK_EQ_INT(pdu.command_id, small[i].id);
        CHECK(smpp_command_name(pdu.command_id) != NULL);
        CHECK(smpp_command_known(pdu.command_id));
    }
    size_t n;
    struct smpp_error e;
    CHECK_EQ_INT(decode_hex(small[1].hex, &n, &e), 0);
    CHECK_VIEW(pdu.system_id, "SMSC");
    CHECK_EQ_INT(decode_hex(small[2].hex, &n, &e), 0);
    CHECK_VIEW(pdu.address_range, "123?");
    CHECK_EQ_INT(decode_hex(small[5].hex, &n, &e), 0);
    CHECK(!SMPP_HAS(&pdu, message_id));
    CHECK_EQ_STR(smpp_status_name(pdu.command_status), "ESME_RTHROTTLED");
}

/* ---- every error path --------------------------------------------------- */

static void expect_err(const char *hex, int code, size_t off, const char *reason)
{
    size_t n;
    struct smpp_error e;
    int rc = decode_hex(hex, &n, &e);
    CHECK_MSG(rc == code, "%s: rc %d, want %d (%s)", hex, rc, code, rc ? e.reason : "");
    if (rc != 0) {
        CHECK_MSG(e.offset == off, "%s: offset %zu, want %zu", hex, e.offset, off);
        CHECK_MSG(e.reason && strcmp(e.reason, reason) == 0, "%s: reason \"%s\", want \"%s\"", hex,
                  e.reason ? e.reason : "(null)", reason);
    }
}

static void test_errors(void)
{
    expect_err("00000010 000000", SG_ETRUNC, 7, "PDU of 7 bytes shorter than the 16-byte header");
    expect_err("0000000c 00000015 00000000 00000001", SG_EINVAL, 0,
               "command_length 12 below header size");
    expect_err("00000020 00000015 00000000 00000001", SG_ETRUNC, 16,
               "command_length 32 exceeds the 16 bytes available");
    expect_err("00000010 00000099 00000000 00000001", SG_EINVAL, 4, "unknown command_id 0x00000099");
    expect_err("00000010 80000102 00000000 00000001", SG_EINVAL, 4, "unknown command_id 0x80000102");
    /* source_addr of 22 octets without NUL where at most 21 with NUL fit. */
    expect_err("LLLLLLLL 00000004 00000000 00000001 00 01 01"
               " 31313131313131313131313131313131313131313131 00",
               SG_EINVAL, 19, "missing NUL in source_addr (max 21)");
    /* submit_sm that stops after destination_addr: requests may not. */
    expect_err("LLLLLLLL 00000004 00000000 00000001 00 0101 3100 0101 3200", SG_ETRUNC, 25,
               "PDU ends before esm_class");
    /* sm_length 255 with 255 octets present: above v3.4's 254. */
    {
        char hex[1200];
        int k = snprintf(hex, sizeof(hex), "LLLLLLLL 00000004 00000000 00000001 00 0101 3100 0101 3200"
                         " 00 00 00 00 00 00 00 00 00 ff");
        for (int i = 0; i < 255; i++)
            k += snprintf(hex + k, sizeof(hex) - (size_t)k, "41");
        expect_err(hex, SG_EINVAL, 34, "sm_length 255 above 254");
        CHECK_EQ_INT(pdu.short_message.len, 255); /* decoded all the same */
    }
    /* TLV whose length runs past the end. */
    expect_err("LLLLLLLL 80000009 00000000 00000001 00 0424 012c 4142", SG_ETRUNC, 17,
               "TLV 0x0424 length 300 runs past end of PDU at offset 17");
    /* Fewer than 4 bytes after the last field. */
    expect_err("LLLLLLLL 80000009 00000000 00000001 4100 0210 00", SG_ETRUNC, 18,
               "3 stray bytes after the last field at offset 18");
    /* Integer TLV of length 0 / 5: error, kept raw, decoding goes on. */
    expect_err("LLLLLLLL 80000009 00000000 00000001 00 020c 0000 0210 0001 34 0204 0000", SG_EINVAL,
               17, "TLV sar_msg_ref_num (0x020c) length 0 invalid for an integer");
    CHECK_EQ_INT(pdu.n_tlvs, 3);
    CHECK_EQ_INT(pdu.tlv.sc_interface_version, 0x34);
    CHECK_EQ_INT(pdu.tlv.sar_msg_ref_num, -1);
    /* Integer TLVs of another size 1..4 are accepted (2-octet sar_total_segments). */
    expect_err("LLLLLLLL 80000009 00000000 00000001 00 020e 0002 0003", 0, 0, "");
    CHECK_EQ_INT(pdu.tlv.sar_total_segments, 3);
    /* submit_multi: bad dest_flag; truncated list. */
    expect_err("LLLLLLLL 00000021 00000000 00000001 00 0101 3100 01 03 31 00", SG_EINVAL, 22,
               "dest_flag 3 invalid in destination 1");
    expect_err("LLLLLLLL 00000021 00000000 00000001 00 0101 3100 02 02 3100 01", SG_ETRUNC, 26,
               "PDU ends before dest_addr_ton");
    CHECK_EQ_INT(pdu.n_dests, 1);
    CHECK_VIEW(pdu.dests[0].addr, "1");
    /* submit_multi_resp cut inside error_status_code. */
    expect_err("LLLLLLLL 80000021 00000000 00000001 00 01 0101 3100 000000", SG_ETRUNC, 22,
               "PDU ends inside error_status_code");
    /* More than SMPP_MAX_TLVS TLVs: the first 64 are kept. */
    {
        char hex[1024];
        int k = snprintf(hex, sizeof(hex), "%08x 80000015 00000000 00000001", 16 + 65 * 4);
        for (int i = 0; i < 65; i++)
            k += snprintf(hex + k, sizeof(hex) - (size_t)k, " 1401 0000");
        expect_err(hex, SG_EINVAL, 16 + 64 * 4, "more than 64 TLVs");
        CHECK_EQ_INT(pdu.n_tlvs, 64);
    }
    /* dl_name longer than 21 with NUL. */
    expect_err("LLLLLLLL 00000021 00000000 00000001 00 0101 3100 01 02"
               " 4141414141414141414141414141414141414141414100",
               SG_EINVAL, 23, "missing NUL in dl_name (max 21)");
    /* A request whose body is missing altogether. */
    expect_err("00000010 00000002 00000000 00000001", SG_ETRUNC, 16, "PDU ends before system_id");
    /* A NULL err is allowed. */
    CHECK_EQ_INT(smpp_decode((const uint8_t *)"\0\0\0\x0c", 4, &pdu, NULL), SG_ETRUNC);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *pdu_json(jw_t *w)
{
    jw_reset(w);
    jw_obj_begin(w);
    smpp_pdu_write_json(&pdu, w);
    jw_obj_end(w);
    json_error_t je;
    json_t *j = json_loadb(jw_data(w), jw_len(w), JSON_REJECT_DUPLICATES, &je);
    CHECK_MSG(j != NULL, "bad JSON: %s: %.*s", je.text, (int)jw_len(w), jw_data(w));
    return j;
}

static void test_json(void)
{
    jw_t *w = jw_new(1 << 20);
    struct smpp_error e;
    CHECK_EQ_INT(decode(vec_submit_sm_udh_sar, sizeof(vec_submit_sm_udh_sar), &e), 0);
    json_t *j = pdu_json(w);
    if (j) {
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "command_length")), 104);
        CHECK(json_object_get(j, "command_id") == NULL); /* the caller's */
        CHECK(json_object_get(j, "sequence_number") == NULL);
        CHECK_EQ_STR(json_string_value(json_object_get(j, "source_addr")), "BANK");
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "source_addr_ton")), 5);
        CHECK_EQ_STR(json_string_value(json_object_get(j, "destination_addr")), "447700900123");
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "esm_class")), 0x40);
        CHECK_EQ_STR(json_string_value(json_object_get(j, "short_message")), "0500032a020148656c6c6f21");
        CHECK(json_object_get(j, "command") == NULL);
        CHECK(json_object_get(j, "text") == NULL);
        json_t *t = json_object_get(j, "tlvs");
        CHECK_EQ_INT(json_array_size(t), 4);
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(t, 0), "name")), "sar_msg_ref_num");
        CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(t, 0), "value")), 42);
        CHECK(json_is_null(json_object_get(json_array_get(t, 3), "name")));
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(t, 3), "value")), "31323334");
        json_decref(j);
    }
    CHECK_EQ_INT(decode(vec_bind_transmitter, sizeof(vec_bind_transmitter), &e), 0);
    j = pdu_json(w);
    if (j) {
        CHECK(json_object_get(j, "password") == NULL);
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "password_len")), 8);
        CHECK(strstr(jw_data(w), "secret08") == NULL);
        CHECK_EQ_STR(json_string_value(json_object_get(j, "system_id")), "SMPP3TEST");
        json_decref(j);
    }
    CHECK_EQ_INT(decode(vec_submit_multi, sizeof(vec_submit_multi), &e), 0);
    j = pdu_json(w);
    if (j) {
        json_t *d = json_object_get(j, "dests");
        CHECK_EQ_INT(json_array_size(d), 3);
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(d, 1), "dl_name")), "friends");
        json_decref(j);
    }
    CHECK_EQ_INT(decode(vec_submit_multi_resp, sizeof(vec_submit_multi_resp), &e), 0);
    j = pdu_json(w);
    if (j) {
        json_t *u = json_object_get(j, "unsuccess_sme");
        CHECK_EQ_INT(json_array_size(u), 2);
        CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(u, 1), "error_status_code")), 0x58);
        json_decref(j);
    }
    /* Receipt with receipted_message_id as a string value. */
    size_t n;
    CHECK_EQ_INT(decode_hex("LLLLLLLL 80000009 00000000 00000001 00 001e 0006 616263646500", &n, &e), 0);
    j = pdu_json(w);
    if (j) {
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "tlvs"), 0),
                                                       "value")), "abcde");
        json_decref(j);
    }
    /* Invalid UTF-8 in an address still gives valid JSON. */
    CHECK_EQ_INT(decode_hex("LLLLLLLL 80000004 00000000 00000001 ff fe 41 c3 28 00 00 00 00 00 00 00",
                            &n, &e), SG_ETRUNC);
    j = pdu_json(w);
    json_decref(j);
    jw_free(w);
}

static void test_helpers(void)
{
    CHECK_EQ_INT(smpp_esm_is_receipt(0x04), 0x04);
    CHECK_EQ_INT(smpp_esm_is_receipt(0x08), 0x08);
    CHECK_EQ_INT(smpp_esm_is_receipt(0x10), 0x10);
    CHECK_EQ_INT(smpp_esm_is_receipt(0x20), 0x20);
    CHECK_EQ_INT(smpp_esm_is_receipt(0x18), 0); /* conversation abort */
    CHECK_EQ_INT(smpp_esm_is_receipt(0x43), 0);
    CHECK_EQ_INT(smpp_esm_is_receipt(0x44), 0x04);
    CHECK(smpp_esm_has_udhi(0x40));
    CHECK(!smpp_esm_has_udhi(0x04));
    CHECK(smpp_is_response(SMPP_CMD_generic_nack));
    CHECK(!smpp_is_response(SMPP_CMD_submit_sm));
    CHECK(smpp_command_name(0x12345) == NULL);
    CHECK(smpp_status_name(0x4FF) == NULL);
    CHECK_EQ_STR(smpp_status_name(0x112), "ESME_RINVBCASTCHANIND");
    CHECK_EQ_STR(smpp_tlv_name(SMPP_TLV_message_payload), "message_payload");
    CHECK_EQ_STR(smpp_tlv_name(0x001E), "receipted_message_id");
    CHECK_EQ_STR(smpp_tlv_name(0x0613), "dest_addr_np_country");
    CHECK(smpp_message_state_name(10) == NULL);
    CHECK(smpp_message_state_name(-1) == NULL);
    /* Every command the framing layer knows, the decoder names, and back. */
    for (uint32_t id = 0; id < 0x200; id++) {
        CHECK_MSG(!!smpp_command_known(id) == (smpp_command_name(id) != NULL), "0x%x", id);
        if (id == 0x0B)
            continue; /* smpp_command_known() accepts outbind_resp, which v3.4 lacks */
        CHECK_MSG(!!smpp_command_known(id | SMPP_RESP_BIT) ==
                      (smpp_command_name(id | SMPP_RESP_BIT) != NULL), "0x%x", id | SMPP_RESP_BIT);
    }
}

/* Not an assertion on speed (CI machines vary); prints the figure and
 * checks it is not absurd. */
static void test_speed(void)
{
    const size_t iters = 300000;
    struct smpp_error e;
    struct timespec a, b;
    unsigned long sum = 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (size_t i = 0; i < iters; i++) {
        smpp_decode(vec_submit_sm_udh_sar, sizeof(vec_submit_sm_udh_sar), &pdu, &e);
        sum += pdu.short_message.len;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)iters;
    printf("smpp_decode submit_sm (104 bytes, 4 TLVs): %.1f ns/PDU (struct smpp_pdu %zu bytes)\n", ns,
           sizeof(struct smpp_pdu));
    CHECK(sum == iters * 12);
    CHECK_MSG(ns < 20000, "%.1f ns", ns);
}

/* The command ids of message traffic and their neighbours one bit away:
 * names only for the ids in smpp-pdu.def. */
static void test_hot_commands(void)
{
    CHECK_EQ_STR(smpp_command_name(0x00000004u), "submit_sm");
    CHECK_EQ_STR(smpp_command_name(0x00000005u), "deliver_sm");
    CHECK_EQ_STR(smpp_command_name(0x80000004u), "submit_sm_resp");
    CHECK_EQ_STR(smpp_command_name(0x80000005u), "deliver_sm_resp");
    CHECK_EQ_STR(smpp_command_name(0x00000006u), "unbind");
    CHECK_EQ_STR(smpp_command_name(0x80000006u), "unbind_resp");
    CHECK_EQ_STR(smpp_command_name(0x00000007u), "replace_sm");
    CHECK_EQ_STR(smpp_command_name(0x00000103u), "data_sm");
    for (int bit = 1; bit < 31; bit++) {
        uint32_t id = 4u | 1u << bit;
        const char *want = id == 5u ? "deliver_sm" : id == 6u ? "unbind" : NULL;
        const char *got = smpp_command_name(id);
        CHECK_MSG(want ? got && strcmp(got, want) == 0 : got == NULL || id < 0x200,
                  "command 0x%08x: %s", id, got ? got : "(null)");
    }
}

/* ---- reuse: a PDU decoded into a struct that held another PDU ----------- */

/* Every member a reader may look at, compared member by member (padding
 * is nobody's business): the header, presence, each mandatory field,
 * counts, hot TLVs, and the array entries up to their counts. */
#define CMP_CSTR(n) ok &= a->n.p == b->n.p && a->n.len == b->n.len;
#define CMP_SM(n) CMP_CSTR(n)
#define CMP_INT1(n) ok &= a->n == b->n;
#define CMP_SMLEN(n) CMP_INT1(n)
#define CMP_NDEST(n) CMP_INT1(n)
#define CMP_NUNS(n) CMP_INT1(n)
static int pdu_same(const struct smpp_pdu *a, const struct smpp_pdu *b)
{
    int ok = a->command_length == b->command_length && a->command_id == b->command_id &&
             a->command_status == b->command_status && a->sequence_number == b->sequence_number &&
             a->present == b->present && a->n_tlvs == b->n_tlvs && a->n_dests == b->n_dests &&
             a->n_unsuccess == b->n_unsuccess;
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) CMP_##kind(name)
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
    const struct smpp_hot_tlvs *h = &a->tlv, *k = &b->tlv;
    ok &= h->message_payload.p == k->message_payload.p && h->message_payload.len == k->message_payload.len;
    ok &= h->receipted_message_id.p == k->receipted_message_id.p &&
          h->receipted_message_id.len == k->receipted_message_id.len;
    ok &= h->network_error_code.p == k->network_error_code.p &&
          h->network_error_code.len == k->network_error_code.len;
    ok &= h->message_state == k->message_state && h->sar_msg_ref_num == k->sar_msg_ref_num &&
          h->sar_total_segments == k->sar_total_segments &&
          h->sar_segment_seqnum == k->sar_segment_seqnum &&
          h->user_message_reference == k->user_message_reference &&
          h->source_port == k->source_port && h->destination_port == k->destination_port &&
          h->sc_interface_version == k->sc_interface_version && h->payload_type == k->payload_type &&
          h->more_messages_to_send == k->more_messages_to_send;
    for (unsigned i = 0; ok && i < a->n_tlvs; i++)
        ok &= a->tlvs[i].tag == b->tlvs[i].tag && a->tlvs[i].len == b->tlvs[i].len &&
              a->tlvs[i].value == b->tlvs[i].value;
    for (unsigned i = 0; ok && i < a->n_dests; i++)
        ok &= a->dests[i].dest_flag == b->dests[i].dest_flag && a->dests[i].ton == b->dests[i].ton &&
              a->dests[i].npi == b->dests[i].npi && a->dests[i].addr.p == b->dests[i].addr.p &&
              a->dests[i].addr.len == b->dests[i].addr.len;
    for (unsigned i = 0; ok && i < a->n_unsuccess; i++)
        ok &= a->unsuccess[i].ton == b->unsuccess[i].ton && a->unsuccess[i].npi == b->unsuccess[i].npi &&
              a->unsuccess[i].error_status_code == b->unsuccess[i].error_status_code &&
              a->unsuccess[i].addr.p == b->unsuccess[i].addr.p &&
              a->unsuccess[i].addr.len == b->unsuccess[i].addr.len;
    return ok;
}

/* Absent mandatory fields read as zero / empty views, whatever was there. */
#define ZERO_CSTR(n) ok &= SMPP_HAS(p, n) || (p->n.p == NULL && p->n.len == 0);
#define ZERO_SM(n) ZERO_CSTR(n)
#define ZERO_INT1(n) ok &= SMPP_HAS(p, n) || p->n == 0;
#define ZERO_SMLEN(n) ZERO_INT1(n)
#define ZERO_NDEST(n) ZERO_INT1(n)
#define ZERO_NUNS(n) ZERO_INT1(n)
static int absent_zero(const struct smpp_pdu *p)
{
    int ok = 1;
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) ZERO_##kind(name)
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
    return ok;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* smpp_decode resets per PDU only what the command's body does not write
 * and what a short body did not reach.  Each PDU B, whole and cut at every
 * length (with its command_length kept: truncated; and set to the cut:
 * bodies that stop early), is decoded into a zeroed struct, into one
 * poisoned with 0xA5 octets, and after each other PDU A into the same
 * struct: all three must read the same, error included. */
static void test_reuse(void)
{
    static const char *const hex[] = {
        /* submit_sm_resp "abc123", deliver_sm_resp (empty id), generic_nack */
        "000000178000000400000000000000076162633132330000",
        "0000001180000005000000000000000800",
        "00000010800000000000000300000009",
        /* bind_transmitter_resp with sc_interface_version, enquire_link */
        "0000001A80000002000000000000000153433100021000013400",
        "00000010000000150000000000000002",
        /* deliver_sm receipt with receipted_message_id, message_state,
         * network_error_code */
        "LLLLLLLL000000050000000000000005"
        "00010134343737303039303031323300010142414e4b000400000000000000"
        "0b69643a31207374617440"
        "001e0004616263000427000102042300030300"
        "01",
    };
    struct {
        const uint8_t *b;
        size_t n;
    } v[16];
    size_t nv = 0;
    static uint8_t bufs[SG_ARRAY_LEN(hex)][512];
    for (size_t i = 0; i < SG_ARRAY_LEN(hex); i++) {
        const char *h = hex[i];
        int fix = strncmp(h, "LLLLLLLL", 8) == 0;
        long l = test_unhex(fix ? h + 8 : h, bufs[i], sizeof bufs[i]);
        CHECK_MSG(l >= 16, "vector %zu", i);
        if (l < 16)
            return;
        if (fix)
            put_be32(bufs[i], (uint32_t)l);
        v[nv].b = bufs[i], v[nv].n = (size_t)l, nv++;
    }
#define ADD(x) (v[nv].b = (x), v[nv].n = sizeof(x), nv++)
    ADD(vec_submit_sm_udh_sar);
    ADD(vec_submit_multi);
    ADD(vec_submit_multi_resp);
    ADD(vec_query_sm_resp);
    ADD(vec_bind_transmitter);
    ADD(vec_outbind);
    ADD(vec_broadcast_sm);
    ADD(vec_query_broadcast_sm);
    ADD(vec_cancel_broadcast_sm);
#undef ADD

    static struct smpp_pdu ref, reuse;
    uint8_t cut[512];
    unsigned compared = 0;
    for (size_t bi = 0; bi < nv; bi++) {
        for (size_t n = 0; n <= v[bi].n; n++) {
            for (int fixlen = 0; fixlen < 2; fixlen++) {
                /* exact-size heap copy, so that ASan sees overreads */
                memcpy(cut, v[bi].b, n);
                if (fixlen && n >= 4)
                    put_be32(cut, (uint32_t)n);
                uint8_t *b = malloc(n ? n : 1);
                memcpy(b, cut, n);
                struct smpp_error e1, e2;
                memset(&ref, 0, sizeof ref);
                memset(&e1, 0, sizeof e1);
                int rc1 = smpp_decode(b, n, &ref, &e1);
                CHECK_MSG(absent_zero(&ref), "PDU %zu cut at %zu: absent field not zero", bi, n);
                for (size_t ai = 0; ai <= nv; ai++) {
                    if (ai == nv) {
                        memset(&reuse, 0xA5, sizeof reuse);
                    } else {
                        memset(&reuse, 0, sizeof reuse);
                        smpp_decode(v[ai].b, v[ai].n, &reuse, NULL);
                    }
                    memset(&e2, 0, sizeof e2);
                    int rc2 = smpp_decode(b, n, &reuse, &e2);
                    int same = rc1 == rc2 && pdu_same(&ref, &reuse) && e1.offset == e2.offset &&
                               (e1.reason == NULL) == (e2.reason == NULL) &&
                               (!e1.reason || strcmp(e1.reason, e2.reason) == 0);
                    CHECK_MSG(same, "PDU %zu cut at %zu (length %s) after %s %zu: differs", bi, n,
                              fixlen ? "fixed" : "kept", ai == nv ? "poison" : "PDU", ai);
                    compared++;
                }
                free(b);
            }
        }
    }
    CHECK(compared > 1000);
}

int main(void)
{
    test_hot_commands();
    test_tsv();
    test_spec_vectors();
    test_errors();
    test_json();
    test_helpers();
    test_reuse();
    test_speed();
    free(hexbuf);
    return test_summary();
}
