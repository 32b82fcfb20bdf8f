/* Volume counters: how many distinct recipients one key (a sender, a
 * content fingerprint, an account) reached within a sliding time window.
 *
 * What the verdict engine asks is only "has key K reached more than N
 * distinct recipients in the last W seconds?".  So each key keeps an exact
 * set of at most N+1 (recipient hash, last seen) pairs:
 *
 *   - exact below the threshold: no false trigger from estimation error,
 *     which matters because a trigger can blacklist a sender automatically
 *     (a HyperLogLog of 64 registers, 64 bytes per window bucket, has a
 *     standard error of 1.04/sqrt(64) = 13% (Flajolet et al. 2007): at
 *     N = 50 it would trigger on ~44 recipients now and then);
 *   - a true sliding window: each recipient carries its own last-seen time
 *     and drops out exactly W seconds later, no bucket granularity;
 *   - bounded: past N+1 live recipients the oldest is overwritten, so the
 *     count stays at N+1 (triggered) without growing.  Memory is
 *     8 * (N+1) bytes per key: 408 bytes at N = 50 (from N = 255 on, with
 *     an index, 16 bytes per entry and 8 per cell of a hash of twice as
 *     many: 64 KB per key at an account's N = 2,000).  Sets are handed to
 *     keys as they need one and packed at the front of the table, so only
 *     the pages of the sets in use are ever touched.
 *     A key's first recipients (VOLUME_INLINE, see volume.c) are kept in
 *     its own 24 to 32-byte record; its set is touched only once more
 *     distinct recipients than that share a window, which most keys (a
 *     fingerprint of a one-off text, a sender writing to one person) never
 *     reach.
 *
 * The table of keys is fixed at creation: set-associative, 8 ways per
 * bucket, a key's bucket chosen by its 64-bit hash.  A new key in a full
 * bucket evicts the way whose last activity is oldest; every eviction is
 * counted, and separately those that evicted a key still inside its window
 * ("live"), the ones that cost accuracy: a key evicted and seen again
 * starts from zero, so an attacker would need to spread keys over more
 * than the table to hide, which the live-eviction counter shows.  Work per
 * observation: O(8) to find the key plus, below N = 255, one vectorised
 * search of its set (O(N+1), a few dozen instructions at N = 50), which is
 * a ring in last-seen order, so expiry and overwriting the oldest take the
 * ring's head; from N = 255 on O(1) on average: a hash of the set's
 * recipients and a list of them in last-seen order, whose head expiry and
 * overwriting take (an account's N is 2,000 by default, up to 100,000).
 *
 * Keys and recipients are 64-bit hashes chosen by the caller (XXH3 of the
 * sender key, of the normalised recipient, the fingerprint itself); two
 * different keys colliding on 64 bits is negligible (2^-64 per pair).
 * Recipient hashes are stored as 32 bits: two recipients of one key
 * colliding merge, which can only under-count (~N^2/2^33 per key, 3e-7 at
 * N = 50), never trigger falsely.
 *
 * Times are packet time in seconds (sg_time_us / 1e6).
 *
 * Threads: a volume table is not thread-safe; the verdict engine owns one
 * per counter kind and serialises access (see verdict.h).
 */
#ifndef SG_VOLUME_H
#define SG_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

#define VOLUME_WAYS 8
#define VOLUME_MAX_THRESHOLD 100000u

typedef struct volume_table volume_table_t;

struct volume_stats {
    uint64_t observations;
    uint64_t keys_inserted;
    uint64_t evictions;      /* keys pushed out of a full bucket */
    uint64_t evictions_live; /* ... while their window still held recipients */
    uint64_t overwrites;     /* recipients past N+1 replacing the oldest */
    size_t max_keys;
    size_t bytes;            /* memory held by the table */
};

/* max_keys is rounded up to a multiple of VOLUME_WAYS (and a power of two
 * buckets); threshold N in 1..VOLUME_MAX_THRESHOLD; window_s >= 1.
 * Allocates everything now: 8*(N+1)*keys + 28*keys bytes below N = 255
 * (more with the index above).  NULL on bad arguments or allocation
 * failure. */
volume_table_t *volume_new(size_t max_keys, unsigned threshold, uint32_t window_s);
void volume_free(volume_table_t *t);

/* Records that key sent to recipient at time now_s and returns the number
 * of distinct recipients of key within (now_s - window_s, now_s], capped
 * at threshold + 1.  A result > threshold means the rule triggers.
 * Time going backwards (out-of-order packets) is treated as now_s = the
 * latest time seen for that key. */
unsigned volume_observe(volume_table_t *t, uint64_t key, uint64_t recipient, uint32_t now_s);

/* Starts loading key's bucket into the CPU cache, so that a
 * volume_observe of the same key later in the message's judging finds it
 * there: the tables are far larger than the cache and keyed at random, so
 * each observation otherwise begins with a cache miss.  Changes nothing. */
void volume_prefetch(const volume_table_t *t, uint64_t key);
/* The second step, once the bucket has had time to arrive: starts loading
 * the part of key's recipient set that volume_observe(t, key, recipient)
 * will read first.  Changes nothing. */
void volume_prefetch_set(const volume_table_t *t, uint64_t key, uint64_t recipient);

/* The count for key at now_s without recording anything (0 if unknown). */
unsigned volume_peek(const volume_table_t *t, uint64_t key, uint32_t now_s);

/* Forgets key (for example after a blacklist clear, so that the cleared
 * sender starts from zero when its grace period ends). */
void volume_forget(volume_table_t *t, uint64_t key);

unsigned volume_threshold(const volume_table_t *t);
uint32_t volume_window(const volume_table_t *t);
void volume_get_stats(const volume_table_t *t, struct volume_stats *out);

#endif
