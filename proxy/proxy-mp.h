/* Multipart messages held by the inline proxy: the parts of a concatenated
 * submit (UDH IEI 0x00/0x08 or sar_* TLVs) are kept as raw PDUs until the
 * last one arrives, then judged as one text and forwarded all or none
 * (docs/proxy.md).  Each held part is answered at once with an id we
 * issue; the SMSC's ids for them are mapped back in later receipts.
 *
 * Memory: everything is allocated by proxy_mp_new(): max_messages message
 * slots, max_bytes of part slots of PROXY_MP_PART_MAX octets each (a part
 * PDU larger than that is not held: the caller judges it alone), a join
 * buffer, and the id map (id_map_max entries, 4-way sets; the oldest entry
 * of a full set is evicted and counted).  When the message or part pool is
 * full the oldest held message is evicted (its parts get a failure
 * receipt through the completion callback, complete = 0) and counted.
 *
 * Forward mode (proxy_mp_fwd_*, docs/proxy.md "--multipart forward"): the
 * parts pass as they come; the table keeps only each message's user data
 * so far (in the same part slots) so that the text so far can be judged
 * as one, and remembers a message judged spam so that its later parts are
 * refused without judging.  Nothing is held that was answered, so expiry,
 * eviction and a closed link free such a message without the callback.
 *
 * Monitor mode (proxy_mp_mon_add, the proxy's --monitor): the parts pass
 * as they come, unchanged; the table keeps a copy of each (same slots and
 * bounds as holding) so that the message is judged once, as a whole, when
 * its last part arrives, exactly as enforcement would judge it.  Expiry,
 * eviction and a closed link hand what arrived to the callback (monitor =
 * 1, complete = 0, ud the text so far) to be judged and logged as
 * incomplete; nothing of it was answered by the proxy.
 *
 * Work bounds: add is O(part length) or, on completion, O(bytes of the
 * message); expire is O(max_messages); id lookups O(1).
 * Threads: one thread (the proxy's).
 */
#ifndef SG_PROXY_MP_H
#define SG_PROXY_MP_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"
#include "smpp.h"

#define PROXY_MP_PART_MAX 384u
#define PROXY_MP_MAX_PARTS 255u
#define PROXY_MP_ID_MAX 24u
/* Largest joined user data of one held message. */
#define SMS_CONCAT_MAX_JOIN_PROXY (PROXY_MP_MAX_PARTS * PROXY_MP_PART_MAX)

typedef struct proxy_mp proxy_mp_t;

struct proxy_mp_config {
    uint32_t max_messages;
    size_t max_bytes;
    uint32_t timeout_ms;   /* first part to last; 0 = 30 s */
    uint32_t id_map_max;
    uint32_t salt;         /* makes issued ids differ between restarts */
};

struct proxy_mp_part {
    uint32_t link;         /* the link (connection) it arrived on */
    const uint8_t *raw;    /* the whole PDU; copied when held */
    size_t raw_len;
    struct sg_view src, dst;
    uint16_t ref;
    uint8_t total, seq;
    const uint8_t *ud;     /* user data after the UDH, inside raw */
    size_t ud_len;
    /* Kept with the issued id, for a failure receipt after the part has
     * left the table (refused by the SMSC, unanswered, link closed). */
    uint8_t src_ton, src_npi, dst_ton, dst_npi, registered_delivery;
};

/* Why a message is handed to the callback. */
enum proxy_mp_reason {
    PROXY_MP_DONE_COMPLETE = 0, /* the last part arrived */
    PROXY_MP_DONE_EXPIRED,      /* parts missing after the timeout */
    PROXY_MP_DONE_EVICTED,      /* a bound was hit: the oldest goes */
    PROXY_MP_DONE_LINK_CLOSED,  /* its link closed (proxy_mp_drop_link) */
};

/* A message handed to the completion callback; views valid during it. */
struct proxy_mp_message {
    uint32_t link;
    int complete;          /* 0: expired, evicted or link closed with parts missing */
    int monitor;           /* a monitor-mode message (never complete here):
                              its parts were forwarded; ud is the text so far
                              (seq order, gaps skipped), last_pdu the first part */
    enum proxy_mp_reason reason;
    uint8_t total;
    const uint8_t *ud;     /* joined user data in seq order (complete, or monitor) */
    size_t ud_len;
    const uint8_t *last_pdu; /* complete: the part that completed it (the
                                ESME still waits for its answer); else the
                                first held part (for addresses) */
    size_t last_len;
    const uint8_t *parts[PROXY_MP_MAX_PARTS]; /* in seq order, last_pdu included */
    size_t part_len[PROXY_MP_MAX_PARTS];
    unsigned n_parts;
    const char *issued[PROXY_MP_MAX_PARTS]; /* ids answered for the held parts */
    unsigned n_issued;
    uint32_t issued_idx_[PROXY_MP_MAX_PARTS]; /* per parts[] entry; internal */
};

typedef void (*proxy_mp_done_fn)(void *ctx, const struct proxy_mp_message *m);

proxy_mp_t *proxy_mp_new(const struct proxy_mp_config *c, proxy_mp_done_fn done, void *ctx);
void proxy_mp_free(proxy_mp_t *m);

enum {
    PROXY_MP_HELD = 1,      /* held; *issued is the id to answer with */
    PROXY_MP_COMPLETED = 2, /* completed the message; done() ran */
    PROXY_MP_REFUSED = 3,   /* not held (too big, bad numbering): judge alone */
};
int proxy_mp_add(proxy_mp_t *m, const struct proxy_mp_part *p, char issued[PROXY_MP_ID_MAX + 1],
                 uint64_t now_ms);
/* Calls done() (complete = 0) for messages whose first part is older than
 * the timeout. */
void proxy_mp_expire(proxy_mp_t *m, uint64_t now_ms);
/* Hands the held messages of a link that is closing to done() (complete =
 * 0, reason LINK_CLOSED: their parts were answered and will never be
 * forwarded), counted as evicted; forward-mode messages are just freed. */
void proxy_mp_drop_link(proxy_mp_t *m, uint32_t link);
/* Most bytes one completed message can forward at once. */
size_t proxy_mp_max_message_bytes(const proxy_mp_t *m);

/* Id map.  The issued id of parts[i] in a completed message: */
uint32_t proxy_mp_issued_index(const proxy_mp_t *m, const struct proxy_mp_message *msg, unsigned i);
/* The issue counter of entry idx (stored with a forwarded part, so a later
 * lookup can tell whether the ring has reused the entry meanwhile). */
uint64_t proxy_mp_issued_gen(const proxy_mp_t *m, uint32_t idx);
/* What a failure receipt for an issued id needs.  Views point into the
 * table: valid until the next proxy_mp_add. */
struct proxy_mp_issued {
    const char *issued;
    struct sg_view src, dst;
    uint8_t src_ton, src_npi, dst_ton, dst_npi, registered_delivery;
};
/* 0 and *out filled, or SG_ENOTFOUND when idx was reused since gen. */
int proxy_mp_issued_info(const proxy_mp_t *m, uint32_t idx, uint64_t gen, struct proxy_mp_issued *out);
/* Records the SMSC's id for issued entry idx. */
void proxy_mp_map_id(proxy_mp_t *m, uint32_t idx, const char *smsc_id, size_t len);
/* The issued id for an SMSC id: 0 and issued filled, or SG_ENOTFOUND. */
int proxy_mp_lookup_id(const proxy_mp_t *m, const uint8_t *smsc_id, size_t len, char issued[PROXY_MP_ID_MAX + 1]);
/* Rewrites a receipt deliver_sm (raw, decoded as pdu) so that it names
 * issued instead of old: the "id:" of the text in short_message and the
 * receipted_message_id TLV (each, when repeated).  Returns the new length;
 * SG_ENOSPC when it needs more than cap; SG_EINVAL when raw's TLVs are
 * malformed or the result would be longer than SMPP_MAX_PDU_LEN.  Work:
 * O(len). */
int proxy_mp_rewrite_receipt(const uint8_t *raw, size_t len, const struct smpp_pdu *pdu, struct sg_view old,
                             const char *issued, uint8_t *out, size_t cap);
void proxy_mp_get_stats(const proxy_mp_t *m, uint64_t *evicted, uint64_t *id_evicted);

/* ---- forward mode -------------------------------------------------------- */

enum {
    PROXY_MP_FWD_JUDGE = 4,  /* judge out->ud (the text so far), then call
                                proxy_mp_fwd_verdict(out->slot, ...) */
    PROXY_MP_FWD_REFUSE = 5, /* an earlier part was judged spam: refuse this
                                one without judging */
};
struct proxy_mp_fwd {
    uint32_t slot;          /* for proxy_mp_fwd_verdict */
    const uint8_t *ud;      /* user data of the parts so far, seq order */
    size_t ud_len;
    unsigned received;      /* parts so far, this one included */
    int complete;           /* this part was the last one missing */
};
/* Records a part of a message in forward mode.  Returns PROXY_MP_FWD_JUDGE,
 * PROXY_MP_FWD_REFUSE, or PROXY_MP_REFUSED (not tracked: too big, bad
 * numbering, a duplicate of a message not refused: judge it alone).  Work:
 * O(max_messages) to find the message, O(bytes so far) to join. */
int proxy_mp_fwd_add(proxy_mp_t *m, const struct proxy_mp_part *p, uint64_t now_ms, struct proxy_mp_fwd *out);
/* The verdict on the text so far: refused = 1 refuses every later part;
 * a complete message's slot is freed either way. */
void proxy_mp_fwd_verdict(proxy_mp_t *m, uint32_t slot, int refused);
/* Forward-mode messages dropped by expiry (their later parts, if they
 * come, are judged with what arrives then). */
uint64_t proxy_mp_fwd_expired(const proxy_mp_t *m);

/* ---- monitor mode ------------------------------------------------------------ */

enum {
    PROXY_MP_MON_TRACKED = 6, /* kept a copy: forward the part, judge nothing yet */
};
/* Records a part in monitor mode.  Returns PROXY_MP_MON_TRACKED;
 * PROXY_MP_FWD_JUDGE when p completes the message (out->ud is the whole
 * text in seq order, valid until the next call into the table; the slot is
 * already freed: judge it with p's addresses, log it, forward p); or
 * PROXY_MP_REFUSED (not tracked, as proxy_mp_add refuses: judge it alone).
 * Work: O(max_messages) to find the message, O(bytes) to join. */
int proxy_mp_mon_add(proxy_mp_t *m, const struct proxy_mp_part *p, uint64_t now_ms, struct proxy_mp_fwd *out);

#endif
