/* Concatenated SMS reassembly: a bounded table of partial multipart messages
 * (UDH IEI 0x00/0x08, TS 23.040 §9.2.3.24.1, or SMPP sar_* TLVs, v3.4
 * §5.3.2.22-24), keyed by (link, source_addr, destination_addr, ref, total).
 *
 * Memory: everything is allocated by sms_concat_new(); sms_concat_add() never
 * calls the allocator.  Part data lives in an arena of 64-octet chunks
 * (max_bytes / 64 of them, each part charged whole chunks, including a small
 * per-part header); message state in a pool of max_messages slots indexed by
 * an open-addressing hash (XXH3-64, seeded per table).  When either is full
 * the least recently extended partial message is evicted: emitted as
 * incomplete and counted (evicted_count, evicted_bytes).  Fixed overhead
 * beyond max_bytes: about 200 octets per slot plus a join buffer of
 * min(max_bytes, 1 MiB).
 *
 * Work bounds: add is O(part length) plus O(1) amortised per eviction;
 * emitting a message is O(its parts + its bytes); expire is O(messages
 * expired).
 *
 * Threads: a table is used by one thread at a time.  The sink is called from
 * inside add / expire / flush and must not call back into the same table.
 */
#ifndef SG_SMS_CONCAT_H
#define SG_SMS_CONCAT_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

typedef struct sms_concat sms_concat_t;

/* Largest user data accepted for one part (message_payload is at most
 * 64 KiB, SMPP v3.4 §5.3.2.32). */
#define SMS_CONCAT_MAX_PART 65536u
/* Largest joined message passed to the sink; longer ones are cut and
 * flagged (255 parts of 254 octets need 65 KiB). */
#define SMS_CONCAT_MAX_JOIN (1024u * 1024u)
/* Addresses are kept inline up to this length (SMPP allows 21, v5.0 65);
 * longer ones are matched by their full hash and reported cut. */
#define SMS_CONCAT_ADDR_MAX 32u

struct sms_concat_config {
    uint32_t max_messages; /* partial messages kept (>= 1) */
    uint64_t max_bytes;    /* buffered part data, arena size (>= 64) */
    uint32_t timeout_s;    /* packet time since a message's last part after
                            * which sms_concat_expire() emits it incomplete;
                            * 0: never (only eviction and flush emit) */
};

struct sms_part {
    uint64_t link;           /* scope of the reference: the lead passes a hash of
                              * (flow or account, direction) */
    struct sg_view src, dst; /* source_addr / destination_addr as given */
    uint16_t ref;
    uint8_t total, seq;      /* 1 <= seq <= total */
    uint8_t data_coding;
    uint8_t gsm_packed;      /* 1: ud is packed GSM septets (the link packs and
                              * data_coding means GSM): the part is unpacked
                              * (after fill_bits) when stored, so the joined
                              * data is one septet per octet */
    const uint8_t *ud;       /* user data AFTER the UDH; copied, not kept */
    size_t ud_len;
    unsigned fill_bits;      /* packed GSM only (sms_udh_fill_bits) */
    sg_time_us ts;
    uint64_t cookie;         /* opaque, returned with the message */
};

struct sms_message_out {
    /* Everything here is valid only during the callback. */
    uint64_t link;
    struct sg_view src, dst; /* cut to SMS_CONCAT_ADDR_MAX */
    uint8_t data_coding;     /* of the first part received */
    uint16_t ref;
    uint8_t total, received;
    int complete;            /* 0 when emitted by timeout/eviction/flush with parts missing */
    const uint8_t *ud;       /* joined user data of the parts present, in seq
                              * order; a missing part contributes nothing (so
                              * text around a gap is glued: check complete) */
    size_t ud_len;
    const uint64_t *cookies; /* in seq order */
    const uint8_t *seqs;     /* seq number of each present part, parallel to cookies */
    size_t n_cookies;
    sg_time_us first_ts, last_ts;
    uint8_t gsm_unpacked;    /* 1: parts came packed and ud now holds one septet
                              * per octet: decode with SMS_GSM_UNPACKED, fill 0 */
    uint8_t truncated;       /* 1: joined data exceeded SMS_CONCAT_MAX_JOIN */
    unsigned repaired;       /* UCS-2 parts (not the last) of odd length whose
                              * orphan octet was replaced by U+FFFD (FF FD) so
                              * that later parts stay aligned; sms_text_decode
                              * counts that U+FFFD in *bad like any other */
};

struct sms_concat_sink {
    void *ctx;
    void (*message)(void *ctx, const struct sms_message_out *m);
};

/* Returns NULL on a bad config (max_messages 0, max_bytes < 64) or when the
 * allocation fails.  The sink is copied. */
sms_concat_t *sms_concat_new(const struct sms_concat_config *c, const struct sms_concat_sink *s);

/* Adds one part.  A part with total 1 is emitted at once.  When all parts of
 * a message are present it is emitted (complete) and forgotten.  A second
 * part with the same seq is ignored and counted (duplicates): the first one
 * wins, as on a handset.  Returns 0, or SG_EINVAL for a part that cannot be
 * used (seq 0 or > total, ud NULL with a length, ud_len >
 * SMS_CONCAT_MAX_PART, a packed part with fill_bits > 6), counted as
 * rejected. */
int sms_concat_add(sms_concat_t *t, const struct sms_part *p);

/* Emits, incomplete, every message whose last part is older than timeout_s
 * at packet time now (counted timed_out).  Cheap when nothing expires: call
 * it per packet or per second. */
void sms_concat_expire(sms_concat_t *t, sg_time_us now);

/* Emits every partial message, incomplete, oldest first (end of capture). */
void sms_concat_flush(sms_concat_t *t);

struct sms_concat_stats {
    uint64_t parts;               /* parts accepted (duplicates included) */
    uint64_t messages_complete;
    uint64_t messages_incomplete; /* = timed_out + evicted_count + flushed */
    uint64_t duplicates;
    uint64_t evicted_count, evicted_bytes; /* bytes: chunk bytes released */
    uint64_t timed_out;
    uint64_t active;              /* partial messages held now */
    uint64_t buffered_bytes;      /* arena bytes in use now (<= max_bytes) */
    uint64_t rejected;            /* parts refused with SG_EINVAL */
    uint64_t dc_mismatch;         /* parts whose data_coding differs from the first part's */
    uint64_t repaired;            /* odd-length UCS-2 parts repaired */
    uint64_t truncated;           /* messages cut to SMS_CONCAT_MAX_JOIN */
};

void sms_concat_get_stats(const sms_concat_t *t, struct sms_concat_stats *s);

/* Frees the table without emitting; NULL is a no-op.  Call flush first to
 * see the partial messages. */
void sms_concat_free(sms_concat_t *t);

#endif
