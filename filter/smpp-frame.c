#include "smpp-frame.h"

/* Every command_id of SMPP v3.4 (§5.1.2.1) and v5.0 (§4.7.5), as bits (see
 * smpp-frame.h); responses are the request id with bit 31 set, except
 * generic_nack (0x80000000), which is only a response.
 *   requests  0x01-0x09 (bind_receiver .. bind_transceiver), 0x0B outbind
 *             (request only: v3.4 §4.1.7 has no outbind_resp), 0x15
 *             enquire_link, 0x21 submit_multi, 0x102 alert_notification
 *             (request only), 0x103 data_sm, 0x111-0x113 broadcast_sm,
 *             query_broadcast_sm, cancel_broadcast_sm (v5.0);
 *   responses 0x00 generic_nack, and 0x01-0x09, 0x15, 0x21, 0x103,
 *             0x111-0x113 with bit 31.
 * test-stream-tcp.c holds this against the list written out as a switch,
 * test-smpp.c against smpp_command_name(). */
const uint64_t smpp_known_ids[2][8] = {
    {0x0000000200200BFEull, 0, 0, 0, 0x00000000000E000Cull, 0, 0, 0},
    {0x00000002002003FFull, 0, 0, 0, 0x00000000000E0008ull, 0, 0, 0},
};

static inline int command_known(uint32_t id) { return smpp_command_known_inline(id); }

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
