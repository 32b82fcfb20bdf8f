#include "smpp-frame.h"

/* Every command_id of SMPP v3.4 (§5.1.2.1) and v5.0 (§4.7.5); responses are
 * the request id with bit 31 set, except generic_nack which is only a
 * response. */
static inline int command_known(uint32_t id)
{
    if (id == 0x80000000u) /* generic_nack */
        return 1;
    uint32_t req = id & ~SMPP_RESP_BIT;
    switch (req) {
    case 0x00000001: case 0x00000002: case 0x00000003: case 0x00000004:
    case 0x00000005: case 0x00000006: case 0x00000007: case 0x00000008:
    case 0x00000009: case 0x00000015: case 0x00000021:
    case 0x00000103:
    case 0x00000111: case 0x00000112: case 0x00000113: /* broadcast_sm, query_, cancel_ (v5.0) */
        return 1;
    case 0x00000102: /* alert_notification: request only */
    case 0x0000000B: /* outbind: request only (v3.4 §4.1.7 has no outbind_resp) */
        return (id & SMPP_RESP_BIT) == 0;
    default:
        return 0;
    }
}

int smpp_command_known(uint32_t id) { return command_known(id); }

/* Smallest and largest body a PDU can have, for the strict check.  Bodies
 * made of C-octet strings are bounded by the specification's maxima (v3.4
 * §5.2); a short_message is at most 254 octets but message_payload and TLVs
 * are open-ended, so those commands are only bounded by SMPP_MAX_PDU_LEN. */
static int body_len_plausible(uint32_t id, uint32_t body)
{
    switch (id) {
    case 0x00000015: case 0x80000015: /* enquire_link(_resp) */
    case 0x00000006: case 0x80000006: /* unbind(_resp) */
    case 0x80000000:                  /* generic_nack */
        return body == 0;
    case 0x80000004: case 0x80000103: case 0x80000005: /* submit/data/deliver _resp */
        return body <= 65 + 1024;
    case 0x00000004: case 0x00000005: case 0x00000021:
        return body >= 17; /* at least the mandatory octets with empty strings */
    case 0x00000103: /* data_sm (v3.4 §4.7.1): 3 empty strings, 7 octets */
        return body >= 10;
    default:
        return 1;
    }
}

enum smpp_frame_verdict smpp_frame_check(const uint8_t *hdr, size_t avail, int strict,
                                         uint32_t *pdu_len)
{
    if (avail < SMPP_HEADER_LEN)
        return SMPP_FRAME_NEED_MORE;
    uint32_t len = smpp_be32(hdr);
    uint32_t id = smpp_be32(hdr + 4);
    uint32_t status = smpp_be32(hdr + 8);
    if (len < SMPP_HEADER_LEN || len > SMPP_MAX_PDU_LEN || !command_known(id))
        return SMPP_FRAME_BAD;
    if (strict) {
        if (!(id & SMPP_RESP_BIT) && status != 0)
            return SMPP_FRAME_BAD;
        if (!body_len_plausible(id, len - SMPP_HEADER_LEN))
            return SMPP_FRAME_BAD;
        /* Statuses defined by v3.4/v5.0 are below 0x100; vendors use
         * 0x400-0x4FF.  Anything larger is almost surely not a header. */
        if (status > 0x4FF)
            return SMPP_FRAME_BAD;
    }
    *pdu_len = len;
    return SMPP_FRAME_OK;
}
