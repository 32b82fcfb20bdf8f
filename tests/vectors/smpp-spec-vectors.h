/* SMPP PDUs built by hand from the SMPP v3.4 (§4) and v5.0 (§4.6) PDU
 * layouts, annotated byte by byte (nginx's empty_gif habit).  Each array is
 * exactly one PDU; command_length equals sizeof. */
#ifndef SG_SMPP_SPEC_VECTORS_H
#define SG_SMPP_SPEC_VECTORS_H

#include <stdint.h>

/* submit_sm (v3.4 §4.4.1), part 1 of 2 with a UDH, SAR TLVs and a vendor
 * (Indian DLT) TLV. */
static const uint8_t vec_submit_sm_udh_sar[] = {
    0x00, 0x00, 0x00, 0x68, /* command_length 104 */
    0x00, 0x00, 0x00, 0x04, /* command_id submit_sm */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x01, /* sequence_number 1 */
    'C', 'M', 'T', 0x00,    /* service_type "CMT" */
    0x05, 0x00,             /* source_addr_ton alphanumeric, npi unknown */
    'B', 'A', 'N', 'K', 0x00, /* source_addr "BANK" */
    0x01, 0x01,             /* dest_addr_ton international, npi E.164 */
    '4', '4', '7', '7', '0', '0', '9', '0', '0', '1', '2', '3', 0x00, /* destination_addr */
    0x40,                   /* esm_class: UDHI */
    0x00,                   /* protocol_id */
    0x00,                   /* priority_flag */
    0x00,                   /* schedule_delivery_time "" (immediate) */
    '0', '0', '0', '0', '0', '1', '0', '0', '0', '0', '0', '0', '0', '0', '0', 'R', 0x00,
                            /* validity_period relative: 1 day */
    0x01,                   /* registered_delivery: receipt requested */
    0x00,                   /* replace_if_present_flag */
    0x00,                   /* data_coding: SMSC default */
    0x00,                   /* sm_default_msg_id */
    0x0C,                   /* sm_length 12 */
    0x05, 0x00, 0x03, 0x2A, 0x02, 0x01, /* UDH: IEI 0 concat ref 42, 2 parts, part 1 */
    'H', 'e', 'l', 'l', 'o', '!',
    0x02, 0x0C, 0x00, 0x02, 0x00, 0x2A, /* sar_msg_ref_num 42 */
    0x02, 0x0E, 0x00, 0x01, 0x02,       /* sar_total_segments 2 */
    0x02, 0x0F, 0x00, 0x01, 0x01,       /* sar_segment_seqnum 1 */
    0x14, 0x00, 0x00, 0x04, '1', '2', '3', '4', /* vendor 0x1400 (DLT entity id) */
};

/* submit_multi (v3.4 §4.5.1) to an SME, a distribution list and an SME. */
static const uint8_t vec_submit_multi[] = {
    0x00, 0x00, 0x00, 0x4A, /* command_length 74 */
    0x00, 0x00, 0x00, 0x21, /* command_id submit_multi */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x02, /* sequence_number 2 */
    0x00,                   /* service_type "" */
    0x01, 0x01, '1', '2', '3', '4', '5', 0x00, /* source ton, npi, addr "12345" */
    0x03,                   /* number_of_dests 3 */
    0x01, 0x01, 0x01, '4', '4', '7', '7', '0', '0', '1', 0x00, /* SME 1/1 "4477001" */
    0x02, 'f', 'r', 'i', 'e', 'n', 'd', 's', 0x00,             /* dl_name "friends" */
    0x01, 0x02, 0x08, '3', '3', '6', '1', '2', '3', '4', '5', '6', '7', '8', 0x00,
                            /* SME ton 2 npi 8 "33612345678" */
    0x00, 0x00, 0x01,       /* esm_class, protocol_id, priority_flag 1 */
    0x00, 0x00,             /* schedule_delivery_time "", validity_period "" */
    0x00, 0x00, 0x03, 0x00, /* registered_delivery, replace, data_coding Latin-1, default */
    0x03, 'H', 'i', '!',    /* sm_length 3, short_message */
};

/* submit_multi_resp (v3.4 §4.5.2) with two unsuccessful destinations. */
static const uint8_t vec_submit_multi_resp[] = {
    0x00, 0x00, 0x00, 0x34, /* command_length 52 */
    0x80, 0x00, 0x00, 0x21, /* command_id submit_multi_resp */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x02, /* sequence_number 2 */
    'm', '1', 0x00,         /* message_id "m1" */
    0x02,                   /* no_unsuccess 2 */
    0x01, 0x01, '4', '4', '7', '7', '0', '0', '1', 0x00, 0x00, 0x00, 0x00, 0x0B,
                            /* 1/1 "4477001" ESME_RINVDSTADR */
    0x01, 0x02, '3', '3', '6', '1', '2', '3', '4', '5', '6', '7', '8', 0x00,
    0x00, 0x00, 0x00, 0x58, /* 1/2 "33612345678" ESME_RTHROTTLED */
};

/* query_sm_resp (v3.4 §4.8.2). */
static const uint8_t vec_query_sm_resp[] = {
    0x00, 0x00, 0x00, 0x29, /* command_length 41 */
    0x80, 0x00, 0x00, 0x03, /* command_id query_sm_resp */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x07, /* sequence_number 7 */
    '1', '2', '3', '4', '5', 0x00, /* message_id */
    '1', '0', '0', '2', '1', '0', '1', '7', '3', '1', '0', '0', '0', '0', '0', '+', 0x00,
                            /* final_date 2010-02-10 17:31:00 UTC */
    0x02,                   /* message_state DELIVERED */
    0x00,                   /* error_code */
};

/* bind_transmitter (v3.4 §4.1.1). */
static const uint8_t vec_bind_transmitter[] = {
    0x00, 0x00, 0x00, 0x2F, /* command_length 47 */
    0x00, 0x00, 0x00, 0x02, /* command_id bind_transmitter */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x01, /* sequence_number 1 */
    'S', 'M', 'P', 'P', '3', 'T', 'E', 'S', 'T', 0x00, /* system_id */
    's', 'e', 'c', 'r', 'e', 't', '0', '8', 0x00,      /* password */
    'S', 'U', 'B', 'M', 'I', 'T', '1', 0x00,           /* system_type */
    0x34,                   /* interface_version 3.4 */
    0x01, 0x01,             /* addr_ton, addr_npi */
    0x00,                   /* address_range "" */
};

/* outbind (v3.4 §4.1.7). */
static const uint8_t vec_outbind[] = {
    0x00, 0x00, 0x00, 0x18, /* command_length 24 */
    0x00, 0x00, 0x00, 0x0B, /* command_id outbind */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x09, /* sequence_number 9 */
    'S', 'M', 'S', 'C', 0x00, /* system_id */
    'p', 'w', 0x00,         /* password */
};

/* broadcast_sm (v5.0 §4.6.1.1) with its mandatory TLVs. */
static const uint8_t vec_broadcast_sm[] = {
    0x00, 0x00, 0x00, 0x47, /* command_length 71 */
    0x00, 0x00, 0x01, 0x11, /* command_id broadcast_sm */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x0A, /* sequence_number 10 */
    0x00,                   /* service_type "" */
    0x01, 0x01, '1', '2', '3', '4', 0x00, /* source ton, npi, addr "1234" */
    'b', 'c', '1', 0x00,    /* message_id "bc1" */
    0x00,                   /* priority_flag */
    0x00, 0x00,             /* schedule_delivery_time, validity_period */
    0x00,                   /* replace_if_present_flag */
    0x00,                   /* data_coding */
    0x00,                   /* sm_default_msg_id */
    0x06, 0x06, 0x00, 0x04, 0x00, 0x01, 0x02, 0x03, /* broadcast_area_identifier */
    0x06, 0x01, 0x00, 0x03, 0x01, 0x00, 0x10,       /* broadcast_content_type */
    0x06, 0x04, 0x00, 0x02, 0x00, 0x05,             /* broadcast_rep_num 5 */
    0x06, 0x05, 0x00, 0x03, 0x08, 0x00, 0x0A,       /* broadcast_frequency_interval */
    0x04, 0x24, 0x00, 0x05, 'A', 'l', 'e', 'r', 't', /* message_payload "Alert" */
};

/* query_broadcast_sm (v5.0 §4.6.2.1) with user_message_reference. */
static const uint8_t vec_query_broadcast_sm[] = {
    0x00, 0x00, 0x00, 0x21, /* command_length 33 */
    0x00, 0x00, 0x01, 0x12, /* command_id query_broadcast_sm */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x0B, /* sequence_number 11 */
    'b', 'c', '1', 0x00,    /* message_id */
    0x01, 0x01, '1', '2', '3', '4', 0x00, /* source ton, npi, addr */
    0x02, 0x04, 0x00, 0x02, 0x00, 0x07, /* user_message_reference 7 */
};

/* query_broadcast_sm_resp (v5.0 §4.6.2.3). */
static const uint8_t vec_query_broadcast_sm_resp[] = {
    0x00, 0x00, 0x00, 0x26, /* command_length 38 */
    0x80, 0x00, 0x01, 0x12, /* command_id query_broadcast_sm_resp */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x0B, /* sequence_number 11 */
    'b', 'c', '1', 0x00,    /* message_id */
    0x04, 0x27, 0x00, 0x01, 0x02, /* message_state DELIVERED */
    0x06, 0x06, 0x00, 0x04, 0x00, 0x01, 0x02, 0x03, /* broadcast_area_identifier */
    0x06, 0x08, 0x00, 0x01, 0x64, /* broadcast_area_success 100% */
};

/* cancel_broadcast_sm (v5.0 §4.6.3.1). */
static const uint8_t vec_cancel_broadcast_sm[] = {
    0x00, 0x00, 0x00, 0x1C, /* command_length 28 */
    0x00, 0x00, 0x01, 0x13, /* command_id cancel_broadcast_sm */
    0x00, 0x00, 0x00, 0x00, /* command_status */
    0x00, 0x00, 0x00, 0x0C, /* sequence_number 12 */
    0x00,                   /* service_type "" */
    'b', 'c', '1', 0x00,    /* message_id */
    0x01, 0x01, '1', '2', '3', '4', 0x00, /* source ton, npi, addr */
};

#endif
