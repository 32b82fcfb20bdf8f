/* What the inline proxy writes itself: responses, generic_nack, unbind and
 * delivery receipts (SMPP v3.4), and the bounded table that pairs a
 * sequence number with the request it answers.
 *
 * Encoders write into a caller-owned buffer (the connection's output
 * buffer), never allocate, and return the PDU length or SG_ENOSPC when it
 * does not fit (nothing then counts as written).
 *
 * Sequence numbers (v3.4 §5.1.4: 0x00000001..0x7FFFFFFF): requests the
 * proxy passes through keep their sender's number, so the peer's response
 * needs no rewriting; requests the proxy originates (unbind at shutdown,
 * receipts it generates, held multipart parts) take numbers from
 * PROXY_SEQ_OWN_BASE upwards, a range real peers do not reach (they count
 * from 1 and wrap at 0x7FFFFFFF only after two billion PDUs on one bind),
 * and their responses are consumed by the proxy, never forwarded.
 *
 * Reentrancy: all functions are reentrant; a seqmap is used by one thread.
 */
#ifndef SG_PROXY_PDU_H
#define SG_PROXY_PDU_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

#define PROXY_SEQ_OWN_BASE 0x7FF00000u
#define PROXY_SEQ_OWN_LAST 0x7FFFFFFFu

/* ESME_RSUBMITFAIL (v3.4 §5.1.3): the default answer to a blocked submit;
 * it says "not sent" without saying why (never reveal the rule). */
#define PROXY_ESME_RSUBMITFAIL 0x00000045u
/* ESME_RX_T_APPN (v3.4 §5.1.3, "ESME Receiver Temporary App Error"): the
 * answer to a deliver_sm the ESME did not answer in time; temporary, so
 * the SMSC retries it. */
#define PROXY_ESME_RX_T_APPN 0x00000064u

/* Next number of an own-number counter; wraps within the own range. */
static inline uint32_t proxy_seq_next(uint32_t *counter)
{
    if (*counter < PROXY_SEQ_OWN_BASE || *counter >= PROXY_SEQ_OWN_LAST)
        *counter = PROXY_SEQ_OWN_BASE;
    else
        (*counter)++;
    return *counter;
}

static inline int proxy_seq_is_own(uint32_t seq) { return seq >= PROXY_SEQ_OWN_BASE; }

/* Writes a 16-octet header. */
void proxy_pdu_header(uint8_t *out, uint32_t len, uint32_t command_id, uint32_t status, uint32_t seq);

/* The response to request req_id (v3.4 §4): header only for enquire_link,
 * unbind, generic_nack and binds with an error; with message_id (NULL =
 * empty C-octet string) for submit_sm, data_sm, deliver_sm; plus
 * no_unsuccess = 0 for submit_multi.  With a non-zero status the body of a
 * submit_sm_resp / submit_multi_resp / data_sm_resp is omitted (v3.4
 * §4.4.2: "not returned if the command_status field contains a non-zero
 * value").  req_id with the response bit already set is taken as it is
 * (generic_nack).  Returns the length or SG_ENOSPC. */
int proxy_pdu_response(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status, uint32_t seq,
                       const char *message_id);

/* unbind / enquire_link (header only).  Returns 16 or SG_ENOSPC. */
int proxy_pdu_simple(uint8_t *out, size_t cap, uint32_t command_id, uint32_t seq);

/* A delivery receipt (deliver_sm, esm_class 0x04, v3.4 Appendix B text plus
 * receipted_message_id and message_state TLVs, §5.3.2.12 and §5.3.2.35):
 * from dst back to src of the original message.  stat is "REJECTD",
 * "UNDELIV", ...; state the matching message_state (SMPP_STATE_*); submit
 * the time of submission (UTC seconds).  Text is ASCII (data_coding 0).
 * Returns the length or SG_ENOSPC / SG_EINVAL (an address or id too long). */
int proxy_pdu_receipt(uint8_t *out, size_t cap, uint32_t seq, struct sg_view orig_src,
                      uint8_t src_ton, uint8_t src_npi, struct sg_view orig_dst, uint8_t dst_ton,
                      uint8_t dst_npi, const char *message_id, const char *stat, int state,
                      int64_t submit_s, int64_t done_s);

/* ---- the pending-request table ----------------------------------------- */

/* What a pending sequence number stands for. */
enum proxy_pending_kind {
    PROXY_PEND_PASS = 0,    /* a request passed through: forward the response */
    PROXY_PEND_JUDGED,      /* a judged submit passed through: log the response, forward it */
    PROXY_PEND_OWN,         /* the proxy's own request: consume the response */
    PROXY_PEND_HELD_PART,   /* a held multipart part the proxy forwarded: consume,
                               map the SMSC's message_id to the one issued */
};

struct proxy_pending {
    uint32_t command_id;    /* of the request */
    uint8_t kind;           /* enum proxy_pending_kind */
    union {
        int64_t log_link;   /* JUDGED: message-log row, 0 = none */
        uint64_t issued_gen; /* HELD_PART: issue counter of the id (proxy_mp_issued_info) */
    };
    uint32_t aux;           /* HELD_PART: index of the issued id in the id map */
    uint64_t sent_us;       /* monotonic time it was sent (response timeout) */
};

typedef struct proxy_seqmap proxy_seqmap_t;

/* A table of at most max entries keyed by sequence number (open
 * addressing, linear probing, backward-shift deletion; capacity the next
 * power of two >= 2 * max, so a probe stays short), whose entries are also
 * kept in the order they were put, so the oldest is found in O(1) (the
 * response timeout: one timeout per table, so put order is expiry order).
 * Allocates now. */
proxy_seqmap_t *proxy_seqmap_new(uint32_t max);
void proxy_seqmap_free(proxy_seqmap_t *m);
/* 0; SG_ENOSPC when max entries are pending; SG_EEXIST when seq is
 * already pending (a peer reusing a number in flight: the new one
 * replaces nothing and is refused).  Work: O(1) expected. */
int proxy_seqmap_put(proxy_seqmap_t *m, uint32_t seq, const struct proxy_pending *v);
/* The entry pending under seq (valid until the next put/take/drain), or
 * NULL.  Work: O(1) expected. */
const struct proxy_pending *proxy_seqmap_get(const proxy_seqmap_t *m, uint32_t seq);
/* Removes seq into *out (may be NULL).  0 or SG_ENOTFOUND.  Work: O(1)
 * expected. */
int proxy_seqmap_take(proxy_seqmap_t *m, uint32_t seq, struct proxy_pending *out);
/* The entry put longest ago: its seq and value (out may be NULL).  0 or
 * SG_ENOTFOUND when empty.  Work: O(1). */
int proxy_seqmap_oldest(const proxy_seqmap_t *m, uint32_t *seq, struct proxy_pending *out);
uint32_t proxy_seqmap_count(const proxy_seqmap_t *m);
uint32_t proxy_seqmap_max(const proxy_seqmap_t *m);
/* Calls fn for every entry, oldest first, then empties the table (a link
 * that closes with requests in flight).  fn must not change m.  Work:
 * O(capacity). */
void proxy_seqmap_drain(proxy_seqmap_t *m, void (*fn)(void *ctx, uint32_t seq, const struct proxy_pending *v),
                        void *ctx);

#endif
