/* SMPP v3.4 and v5.0 PDU decoder: one complete PDU in, a struct of views out.
 *
 * Every PDU body is described once in smpp-pdu.def and every standard TLV in
 * smpp-tlv.def; this header, the decoder and the JSON dumper are expanded
 * from those tables.  Decoding never allocates and never copies: C-octet
 * strings, short_message and TLV values are views into the caller's buffer,
 * which must outlive the struct smpp_pdu.
 *
 * Reentrancy: all functions are reentrant; the tables are const.
 * Work bound: smpp_decode is O(command_length); loops driven by counts in
 * the PDU (number_of_dests, no_unsuccess, TLVs) stop at the end of the PDU
 * and at the bounds below.
 */
#ifndef SG_SMPP_H
#define SG_SMPP_H

#include <stddef.h>
#include <stdint.h>

#include "json-writer.h"
#include "sg-common.h"
#include "smpp-frame.h"

/* ---- protocol numbers, generated from the tables ------------------------ */

/* SMPP_CMD_submit_sm = 0x00000004, SMPP_CMD_submit_sm_resp = 0x80000004, ...
 * C11 enumerators are ints, so response ids are stored as their int32 bit
 * pattern: compare with a uint32_t command_id (== or switch), which converts
 * them back; do not compare with < or >. */
enum smpp_command {
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags) SMPP_CMD_##name = (int32_t)(uint32_t)(id),
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS
};

/* SMPP_CMD(submit_sm_resp): the command id as a uint32_t, for use anywhere
 * (arithmetic, printf, 64-bit comparisons). */
#define SMPP_CMD(name) ((uint32_t)SMPP_CMD_##name)

/* SMPP_TLV_message_payload = 0x0424, ... */
enum smpp_tlv_tag {
#define SMPP_TLV(tag, name, type) SMPP_TLV_##name = tag,
#include "smpp-tlv.def"
};

/* Bit index of each mandatory field in pdu->present. */
enum smpp_field_id {
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) SMPP_FID_##name,
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
    SMPP_FID__COUNT
};

/* command_status values (v3.4 §5.1.3, v5.0 §4.7.6); smpp_status_name() has
 * them all, these are the ones callers test for. */
enum {
    SMPP_ESME_ROK = 0x00000000,
    SMPP_ESME_RINVMSGLEN = 0x00000001,
    SMPP_ESME_RINVCMDLEN = 0x00000002,
    SMPP_ESME_RINVCMDID = 0x00000003,
    SMPP_ESME_RSYSERR = 0x00000008,
    SMPP_ESME_RINVSRCADR = 0x0000000A,
    SMPP_ESME_RINVDSTADR = 0x0000000B,
    SMPP_ESME_RBINDFAIL = 0x0000000D,
    SMPP_ESME_RINVPASWD = 0x0000000E,
    SMPP_ESME_RINVSYSID = 0x0000000F,
    SMPP_ESME_RMSGQFUL = 0x00000014,
    SMPP_ESME_RTHROTTLED = 0x00000058,
    SMPP_ESME_RUNKNOWNERR = 0x000000FF,
};

/* message_state (v3.4 §5.2.28, v5.0 §4.7.15) */
enum smpp_message_state {
    SMPP_STATE_SCHEDULED = 0, /* v5.0 */
    SMPP_STATE_ENROUTE = 1,
    SMPP_STATE_DELIVERED = 2,
    SMPP_STATE_EXPIRED = 3,
    SMPP_STATE_DELETED = 4,
    SMPP_STATE_UNDELIVERABLE = 5,
    SMPP_STATE_ACCEPTED = 6,
    SMPP_STATE_UNKNOWN = 7,
    SMPP_STATE_REJECTED = 8,
    SMPP_STATE_SKIPPED = 9, /* v5.0 */
};

/* ---- the decoded PDU ---------------------------------------------------- */

struct smpp_tlv {
    uint16_t tag;
    uint16_t len;
    const uint8_t *value; /* view into the PDU; len octets */
};

/* More TLVs than this is an error (reported) but decoding keeps the first
 * SMPP_MAX_TLVS and still fills the hot TLVs below from all of them. */
#define SMPP_MAX_TLVS 64
/* number_of_dests and no_unsuccess are one octet (v3.4 §4.5.1.1: at most 254
 * destinations are allowed; the octet allows 255). */
#define SMPP_MAX_DESTS 255

/* One submit_multi destination (v3.4 §5.2.25): dest_flag 1 is an SME
 * address (ton, npi, addr = destination_addr), 2 a distribution list (addr =
 * dl_name; ton and npi 0). */
struct smpp_dest {
    uint8_t dest_flag;
    uint8_t ton, npi;
    struct sg_view addr;
};

/* One submit_multi_resp unsuccess_sme (v3.4 §4.5.2). */
struct smpp_unsuccess {
    uint8_t ton, npi;
    uint32_t error_status_code;
    struct sg_view addr;
};

/* TLVs callers look at on every PDU, pulled out of tlvs[] during decoding
 * (the last occurrence wins).  Views: .p == NULL when absent (a present but
 * empty value has .p != NULL, .len 0).  Integers: -1 when absent. */
struct smpp_hot_tlvs {
    struct sg_view message_payload;      /* 0x0424 */
    struct sg_view receipted_message_id; /* 0x001E, without its NUL */
    struct sg_view network_error_code;   /* 0x0423, 3 octets: type, code */
    int32_t message_state;               /* 0x0427 (query_sm_resp: mandatory field) */
    int32_t sar_msg_ref_num;             /* 0x020C */
    int32_t sar_total_segments;          /* 0x020E */
    int32_t sar_segment_seqnum;          /* 0x020F */
    int32_t user_message_reference;      /* 0x0204 */
    int32_t source_port;                 /* 0x020A */
    int32_t destination_port;            /* 0x020B */
    int32_t sc_interface_version;        /* 0x0210 */
    int32_t payload_type;                /* 0x0019 */
    int32_t more_messages_to_send;       /* 0x0426 */
};

/* Member types per field kind (see smpp-pdu.def). */
#define SMPP_VIEW_MEMBER_CSTR(n) struct sg_view n;
#define SMPP_VIEW_MEMBER_SM(n) struct sg_view n;
#define SMPP_VIEW_MEMBER_INT1(n)
#define SMPP_VIEW_MEMBER_SMLEN(n)
#define SMPP_VIEW_MEMBER_NDEST(n)
#define SMPP_VIEW_MEMBER_NUNS(n)
#define SMPP_INT_MEMBER_CSTR(n)
#define SMPP_INT_MEMBER_SM(n)
#define SMPP_INT_MEMBER_INT1(n) uint8_t n;
#define SMPP_INT_MEMBER_SMLEN(n) uint8_t n;
#define SMPP_INT_MEMBER_NDEST(n) uint8_t n;
#define SMPP_INT_MEMBER_NUNS(n) uint8_t n;

/* Decoded PDU.  Hot fields first: the header and the mandatory fields fit
 * in the first few cache lines; tlvs[] and the submit_multi lists come last
 * and are not cleared per PDU (only their counts are), so decoding a
 * submit_sm touches about 500 bytes of this struct, not all of it.
 *
 * Mandatory fields: a member per field of smpp-pdu.def (the union of all
 * PDUs' bodies), valid when SMPP_HAS(pdu, field); absent ones read as
 * zero / empty view.  C-octet strings are views without the NUL. */
struct smpp_pdu {
    uint32_t command_length, command_id, command_status, sequence_number;
    uint64_t present; /* bit SMPP_FID_x set when field x was decoded */

#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) SMPP_VIEW_MEMBER_##kind(name)
#include "smpp-pdu.def"
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) SMPP_INT_MEMBER_##kind(name)
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS

    uint8_t n_tlvs;        /* entries valid in tlvs[] */
    uint8_t n_dests;       /* entries valid in dests[] (submit_multi) */
    uint8_t n_unsuccess;   /* entries valid in unsuccess[] (submit_multi_resp) */
    struct smpp_hot_tlvs tlv;

    /* ---- not cleared per PDU ---- */
    struct smpp_tlv tlvs[SMPP_MAX_TLVS]; /* in wire order, vendor ones included */
    union {
        struct smpp_dest dests[SMPP_MAX_DESTS];
        struct smpp_unsuccess unsuccess[SMPP_MAX_DESTS];
    };
};

#define SMPP_HAS(pdu, field) ((int)(((pdu)->present >> SMPP_FID_##field) & 1u))

/* Where and why a PDU is malformed.  offset: bytes from the start of the PDU
 * (header included) to the offending octet; reason: a human-readable,
 * NUL-terminated message such as "missing NUL in source_addr (max 21)",
 * pointing either to a static string or to buf_ inside this struct (so it
 * lives as long as the struct).  Only the first problem is reported. */
struct smpp_error {
    size_t offset;
    const char *reason;
    char buf_[96];
};

/* Decodes one complete PDU: buf holds the command_length bytes of one PDU
 * (len should equal command_length; a buffer shorter than command_length is
 * decoded as far as it goes and reported as truncated).
 *
 * IN buf, len: the PDU; borrowed, and out keeps views into it.
 * OUT out: always written; on error the header fields (when len >= 16) and
 *   every field decoded before the problem stay valid so the error event can
 *   name the PDU.
 * OUT err: written on error (may be NULL).
 * Returns 0; SG_ETRUNC when the PDU ends inside a field, a TLV, or before
 * command_length; SG_EINVAL for anything else malformed (command_length below
 * 16 or above len... , unknown command_id, a C-octet string longer than its
 * maximum, more than SMPP_MAX_TLVS TLVs, an integer TLV of length 0 or > 4).
 *
 * Leniency (v3.4 allows or peers do it): a response body may stop at any
 * field boundary (submit_sm_resp with an error and no message_id, bind_resp
 * without system_id); TLVs may follow any PDU; unknown TLV tags are kept raw.
 */
int smpp_decode(const uint8_t *buf, size_t len, struct smpp_pdu *out, struct smpp_error *err);

/* "submit_sm", "submit_sm_resp", "generic_nack", ...; NULL when unknown. */
const char *smpp_command_name(uint32_t command_id);
/* "ESME_ROK", "ESME_RTHROTTLED", ...; NULL when not a v3.4/v5.0 code. */
const char *smpp_status_name(uint32_t command_status);
/* tshark-style TLV name ("message_payload"); NULL for vendor/unknown tags. */
const char *smpp_tlv_name(uint16_t tag);
/* "DELIVERED", "UNDELIVERABLE", ...; NULL when out of range. */
const char *smpp_message_state_name(int state);

/* First TLV with this tag among pdu->tlvs[], or NULL. */
const struct smpp_tlv *smpp_tlv_find(const struct smpp_pdu *pdu, uint16_t tag);

/* Writes the PDU's fields into an already-open JSON object:
 * "command_length", then every present mandatory field under tshark's name (integers as numbers,
 * C-octet strings as strings, short_message as hex of the raw octets,
 * "password_len" instead of the password), "dests" / "unsuccess_sme" arrays
 * for submit_multi(_resp), and "tlvs": [{"tag":N,"name":"..."|null,"len":N,
 * "value":N (integer TLVs) | "string" (C-string TLVs) | "hex"}].  Does not
 * write event, ts, src, dst, command, command_id, command_status,
 * sequence_number, text or udh (the caller does). */
void smpp_pdu_write_json(const struct smpp_pdu *pdu, jw_t *w);

/* ---- helpers ------------------------------------------------------------ */

static inline int smpp_is_response(uint32_t command_id)
{
    return (command_id & SMPP_RESP_BIT) != 0;
}

/* esm_class message type (bits 5-2, v3.4 §5.2.12): returns the type bits
 * (0x04 SMSC delivery receipt, 0x08 SME delivery ack, 0x10 SME manual/user
 * ack, 0x20 intermediate delivery notification) when the PDU reports on an
 * earlier message, else 0 (0x18 conversation abort is not a receipt). */
static inline int smpp_esm_is_receipt(uint8_t esm_class)
{
    unsigned t = esm_class & 0x3Cu;
    return (t == 0x04 || t == 0x08 || t == 0x10 || t == 0x20) ? (int)t : 0;
}

/* UDH indicator (esm_class bit 6, v3.4 §5.2.12). */
static inline int smpp_esm_has_udhi(uint8_t esm_class) { return (esm_class & 0x40u) != 0; }

/* The message octets: message_payload when present (v3.4 §5.3.2.32: then
 * sm_length is 0), else short_message. */
static inline struct sg_view smpp_pdu_message(const struct smpp_pdu *pdu)
{
    return pdu->tlv.message_payload.p ? pdu->tlv.message_payload : pdu->short_message;
}

#endif
