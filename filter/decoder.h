/* The decode pipeline: packets in, SMPP events out.
 *
 *   capture_pkt -> pkt_decode (link/IP/TCP) -> stream (per-direction TCP
 *   reassembly, SMPP framing) -> smpp_decode (PDU views) -> sessions
 *   (account from the bind, request/response pairing) -> sms-concat
 *   (multipart) -> sms-text (UTF-8) -> events
 *
 * Events reach the caller through a decoder_sink.  Everything an event
 * points to is borrowed and valid only during the callback.  Events come in
 * packet order, except that a logical message is held until the responses of
 * all its parts have been seen (to report the SMSC's message_id and status),
 * at most response_wait_s of packet time or until its slot is needed.
 *
 * Clocks: the decoder only knows packet time.  All its timeouts (multipart,
 * response pairing, receipt ties, idle flows) run on packet time, so a
 * replayed capture decodes exactly like the live traffic did.
 *
 * Memory: every table keyed by traffic is bounded by decoder_config and
 * evicts least recently used entries, counted in decoder_stats.
 *
 * Thread safety: a decoder is used by one thread.
 */
#ifndef SG_DECODER_H
#define SG_DECODER_H

#include <stdbool.h>
#include <stdint.h>

#include "capture.h"
#include "decode-packet.h"
#include "json-writer.h"
#include "sg-common.h"
#include "smpp.h"
#include "sms-concat.h"
#include "sms-text.h"
#include "sms-udh.h"
#include "stream-tcp.h"

typedef struct decoder decoder_t;

/* How an SMSC writes the message_id of its delivery receipts relative to
 * the one in its submit_sm_resp (SMPP field notes: many answer in hex and
 * report in decimal). */
enum decoder_msgid_format {
    DECODER_MSGID_AUTO = 0, /* exact match first, then hex<->decimal */
    DECODER_MSGID_SAME,     /* exact match only */
    DECODER_MSGID_HEX_DEC,  /* response hex, receipt decimal */
    DECODER_MSGID_DEC_HEX,  /* response decimal, receipt hex */
};

/* Per-link settings, keyed by the SMSC's endpoint (port 0: any port). */
struct decoder_link_config {
    struct sg_endpoint smsc;
    struct sms_text_opts text;
    enum decoder_msgid_format msgid_format;
};

#define DECODER_MAX_LINK_CONFIGS 64

struct decoder_config {
    struct stream_config stream;
    struct sms_concat_config concat;
    struct sms_text_opts text;              /* default for links not listed */
    enum decoder_msgid_format msgid_format; /* default for links not listed */
    uint32_t max_sessions;          /* flows whose bind state is tracked */
    uint32_t max_pending_requests;  /* requests awaiting their response */
    uint32_t request_timeout_s;
    uint32_t max_pending_messages;  /* messages held for their responses */
    uint32_t max_text_bytes;        /* their texts, in one ring (>= 64 KiB) */
    uint32_t response_wait_s;
    uint32_t max_receipt_ties;      /* accepted submits awaiting a receipt */
    uint32_t receipt_tie_ttl_s;
    struct decoder_link_config links[DECODER_MAX_LINK_CONFIGS];
    unsigned n_links;
};

void decoder_config_default(struct decoder_config *c);

/* One decoded PDU. */
struct decoder_pdu {
    const struct stream_flow_info *flow;
    sg_time_us ts;
    uint64_t offset;          /* of the PDU in its direction's byte stream */
    const uint8_t *raw;
    size_t raw_len;
    const struct smpp_pdu *pdu;
    const struct sms_udh *udh; /* NULL without a UDH */
    const char *text;          /* this PDU's own text, UTF-8; NULL if none */
    size_t text_len;
    bool text_binary;          /* 8-bit data: no text */
};

/* One logical SMS, after multipart reassembly. */
struct decoder_message {
    uint64_t uid;              /* unique within this decoder, in order of completion */
    sg_time_us ts;             /* time of its first part */
    sg_time_us last_ts;
    const struct sg_endpoint *esme, *smsc;
    bool mobile_originated;    /* deliver_sm towards the ESME */
    const char *account;       /* system_id of the bind; NULL when not seen */
    uint32_t command_id;       /* of its (first) request */
    struct sg_view source_addr;
    uint8_t source_addr_ton, source_addr_npi;
    struct sg_view destination_addr;
    uint8_t dest_addr_ton, dest_addr_npi;
    unsigned n_destinations;   /* submit_multi: more than one */
    uint8_t esm_class, data_coding;
    unsigned parts, parts_received;
    bool complete;
    const char *text;          /* UTF-8; NULL for binary */
    size_t text_len;
    const uint8_t *ud;         /* joined user data, without UDHs */
    size_t ud_len;
    /* From the response(s), when seen. */
    bool response_seen;
    uint32_t command_status;   /* first non-zero status among the parts, else 0 */
    const char *message_id;    /* first part's, NUL-terminated; NULL if none */
};

/* One delivery receipt (deliver_sm or data_sm with a receipt esm_class). */
struct decoder_receipt {
    sg_time_us ts;
    const struct sg_endpoint *esme, *smsc;
    const char *message_id;    /* as reported */
    struct sg_view stat, err, submit_date, done_date, sub, dlvrd;
    int message_state;         /* TLV 0x0427, -1 if absent */
    /* The submit it reports on, when the submit_sm_resp was seen. */
    bool tied;
    uint64_t message_uid;
    sg_time_us submit_ts;
    struct sg_view source_addr, destination_addr; /* of the receipt PDU */
};

enum decoder_error_kind {
    DECODER_ERR_PACKET,   /* malformed link/IP/TCP */
    DECODER_ERR_PDU,      /* malformed PDU */
    DECODER_ERR_UDH,      /* malformed user data header */
    DECODER_ERR_STREAM,   /* gap, resync, oversize PDU, non-SMPP bytes */
};

struct decoder_error {
    enum decoder_error_kind kind;
    const struct stream_flow_info *flow; /* NULL for packet errors */
    sg_time_us ts;
    uint64_t offset;      /* byte offset: in the PDU's stream, or in the frame */
    uint64_t frame;       /* 1-based number of the packet being processed */
    const char *reason;
};

struct decoder_sink {
    void *ctx;
    void (*pdu)(void *ctx, const struct decoder_pdu *e);         /* optional */
    void (*message)(void *ctx, const struct decoder_message *e); /* optional */
    void (*receipt)(void *ctx, const struct decoder_receipt *e); /* optional */
    void (*error)(void *ctx, const struct decoder_error *e);     /* optional */
};

struct decoder_stats {
    uint64_t packets, packet_errors, non_tcp;
    uint64_t pdus, pdu_errors, pdus_by_kind_response;
    uint64_t messages, messages_incomplete, receipts, receipts_tied;
    uint64_t requests_unanswered, responses_unmatched;
    uint64_t sessions_evicted, requests_evicted, messages_evicted, ties_evicted;
    uint64_t udh_errors, text_errors;
    struct stream_stats stream;
    struct sms_concat_stats concat;
};

decoder_t *decoder_new(const struct decoder_config *c, const struct decoder_sink *sink);
void decoder_free(decoder_t *d);

/* Feeds one captured frame.  Returns 0; malformed input is reported as
 * error events, never as a failure. */
int decoder_feed(decoder_t *d, const struct capture_pkt *pkt);
/* End of input: completes or gives up everything pending, in order. */
void decoder_flush(decoder_t *d);
void decoder_get_stats(const decoder_t *d, struct decoder_stats *s);
/* Writes the counters as one JSON object (for summaries and metrics). */
void decoder_stats_write_json(const struct decoder_stats *s, jw_t *w);

#endif
