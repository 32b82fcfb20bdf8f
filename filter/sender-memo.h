/* A bounded memo of the rule hits of a message's sender address, for
 * senders that come again.
 *
 * Why: A2P traffic comes from few senders.  A bank's short code, a shop's
 * alphanumeric name, an aggregator's pool of long numbers send message
 * after message (on the benchmark capture 256 senders send 78% of the
 * messages).  What the sender database finds in an address depends on
 * the address's bytes and the rule set alone, and scanning it costs a
 * Hyperscan call whose fixed part dominates for a dozen bytes (skipping
 * the sender scans altogether took 2.2% off `replay -q` with the
 * 1,000-rule set; docs/verdict-engine.md, "Sender memo").  A repeat takes
 * its hits from here for a compare of its bytes and a copy.
 *
 * What is kept: per slot, one sender's bytes (found by its full bytes:
 * the caller's hash picks the slot, the bytes are compared, so a
 * collision never lends one sender's hits to another) and its hits.
 * Direct-mapped: a new sender takes its slot's place.  Senders longer
 * than SENDER_MEMO_KEY_MAX bytes, and hit lists longer than
 * SENDER_MEMO_HITS, are not stored.
 *
 * Exactness: the hits depend on the rule set, so the memo is emptied
 * (sender_memo_clear, O(1)) whenever the caller's rule set changes.
 *
 * Memory: fixed at creation, 64 bytes a slot; entries == 0 makes a memo
 * that holds nothing.
 *
 * Thread safety: one memo per thread (the verdict engine keeps one per
 * worker).
 */
#ifndef SG_SENDER_MEMO_H
#define SG_SENDER_MEMO_H

#include <stddef.h>
#include <stdint.h>

#define SENDER_MEMO_KEY_MAX 32 /* SMPP's addresses are up to 21 octets (65 in data_sm) */
#define SENDER_MEMO_HITS 6
#define SENDER_MEMO_MAX_ENTRIES 65536

typedef struct sender_memo sender_memo_t;

/* A memo of `entries` senders (rounded up to a power of two; at most
 * SENDER_MEMO_MAX_ENTRIES; 0: a memo that keeps nothing).  NULL on a bad
 * size or when the memory cannot be allocated. */
sender_memo_t *sender_memo_new(size_t entries);
/* NULL is a no-op. */
void sender_memo_free(sender_memo_t *m);

/* Forgets every sender (O(1)). */
void sender_memo_clear(sender_memo_t *m);

/* The hits stored for exactly sender[0..len) (hash: any hash of the
 * sender the caller has, the same for find and store): their count,
 * 0..SENDER_MEMO_HITS, with the rule indices copied to hits, in the order
 * they were stored; -1 when the sender is not there. */
int sender_memo_find(const sender_memo_t *m, uint64_t hash, const char *sender, size_t len,
                     uint32_t hits[SENDER_MEMO_HITS]);

/* Stores hits[0..n) as sender[0..len)'s, in place of whatever held its
 * slot.  Stores nothing for a sender longer than SENDER_MEMO_KEY_MAX, an
 * empty one, more than SENDER_MEMO_HITS hits, or a memo of no entries. */
void sender_memo_store(sender_memo_t *m, uint64_t hash, const char *sender, size_t len,
                       const uint32_t *hits, size_t n);

#endif
