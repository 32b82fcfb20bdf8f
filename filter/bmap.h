/* A bounded map from 64-bit keys to fixed-size values, with LRU eviction.
 *
 * Every table the decoder keys by traffic (sessions, requests awaiting their
 * response, submits awaiting their receipt) is one of these: capacity is
 * fixed at creation, all memory is allocated then, and inserting into a full
 * map evicts the least recently used entry, handing it to the caller first so
 * the eviction can be counted and reported.  Keys are either exact (packed
 * identifiers) or 64-bit hashes of a longer key (XXH3); at a million entries
 * the chance of any hash collision is about 3e-8, which the callers accept
 * and document.
 *
 * Work bound: every operation is O(1) expected (linear probing at load <= 0.5).
 * Probe positions are seeded per map (random at bmap_new), so keys taken
 * from traffic cannot be chosen to share a probe chain; what the map
 * returns and evicts does not depend on the seed.  Keys that differ only in
 * their three low bits share one cache line of probe cells (sequence
 * numbers and uids count up), so at most eight keys can be placed next to
 * each other by choice.
 * Not thread-safe: one map per thread.
 */
#ifndef SG_BMAP_H
#define SG_BMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct bmap bmap_t;

/* Called with an entry about to be evicted to make room (not on remove). */
typedef void (*bmap_evict_fn)(void *ctx, uint64_t key, void *value);

/* Eviction order.  LRU suits entries that live as long as they are used
 * (sessions); FIFO suits entries that only age (requests awaiting a
 * response, submits awaiting a receipt), and spares every lookup the two
 * cache misses of moving an entry to the tail of the recency list. */
enum bmap_order { BMAP_LRU = 0, BMAP_FIFO = 1 };

/* capacity: most entries held; value_size: bytes per value (zeroed on put). */
bmap_t *bmap_new(uint32_t capacity, size_t value_size, enum bmap_order order,
                 bmap_evict_fn on_evict, void *ctx);
void bmap_free(bmap_t *m);

/* The value for key, or NULL.  In an LRU map a hit makes the entry most
 * recently used.  A value stays at the address bmap_get and bmap_put return
 * until its own key is removed or evicted: operations on other keys do not
 * move it. */
void *bmap_get(bmap_t *m, uint64_t key);
/* The value for key, inserted zeroed if absent (*created set to 1); evicts
 * the least recently used entry when full.  Never fails once created. */
void *bmap_put(bmap_t *m, uint64_t key, int *created);
/* bmap_put() without the clearing: a value inserted now holds whatever
 * its slot held before (*created, never NULL, says which it is), and the
 * caller writes every member it reads back.  The decoder's requests and
 * held messages are a few hundred octets each, written member by member
 * on insertion, where the memset of the whole value cost more than the
 * members the reader relies on. */
void *bmap_put_raw(bmap_t *m, uint64_t key, int *created, uint32_t *slot);
/* The entry's slot: a number that names it until it leaves the map
 * (removed or evicted), whatever happens to other keys, for
 * bmap_remove_slot().  bmap_put_raw() sets *slot unless slot is NULL;
 * bmap_get_slot() is bmap_get() that sets it.  A caller that has just
 * found an entry removes it without hashing and probing for its key
 * again (the decoder's request and message tables, on every response). */
void *bmap_get_slot(bmap_t *m, uint64_t key, uint32_t *slot);
/* Removes the entry in slot, which must be in the map. */
void bmap_remove_slot(bmap_t *m, uint32_t slot);
/* Removes key if present; returns 1 if it was. */
int bmap_remove(bmap_t *m, uint64_t key);

uint32_t bmap_count(const bmap_t *m);
uint32_t bmap_capacity(const bmap_t *m);
uint64_t bmap_evictions(const bmap_t *m);

/* A queue: a BMAP_FIFO map whose entries are never looked up by key, only
 * by slot (bmap_remove_slot) and by age (bmap_oldest, bmap_foreach), so
 * it has no probe table: an append and a removal are a few list
 * operations, where a put into and a removal from an indexed map hash,
 * probe and shift probe cells.  The decoder's held messages, keyed by a
 * counter and removed through the slot they keep, are one.  Only
 * bmap_append, bmap_remove_slot, bmap_oldest, bmap_foreach and the counts
 * apply to a queue; bmap_get, bmap_put, bmap_remove and the rest that take
 * a key do not. */
bmap_t *bmap_new_queue(uint32_t capacity, size_t value_size, bmap_evict_fn on_evict, void *ctx);
/* Appends an entry for key to a queue, its value not cleared (as
 * bmap_put_raw), and sets *slot; evicts the oldest entry when full.  Keys
 * need not be distinct: nothing looks them up.  Never fails on a queue;
 * NULL for a map made by bmap_new. */
void *bmap_append(bmap_t *m, uint64_t key, uint32_t *slot);

/* The entry evicted next (least recently used, or oldest in a FIFO map),
 * or NULL when empty. */
void *bmap_oldest(bmap_t *m, uint64_t *key);
/* Calls fn on every entry, oldest first; fn must not modify the map. */
void bmap_foreach(bmap_t *m, void (*fn)(void *ctx, uint64_t key, void *value), void *ctx);
/* Bytes allocated by the map (for memory reports). */
size_t bmap_memory(const bmap_t *m);

/* A bounded FIFO map from 64-bit keys to two 64-bit words, for tables far
 * larger than any cache (receipt ties: a million entries).  Entries live
 * in a ring in insertion order, so eviction reads the oldest key in
 * sequence instead of following a linked list of slots; the probe table
 * holds 8-octet cells (a 32-bit hash and a ring position), 16 MiB for a
 * million entries, on huge pages where the kernel grants them.  A lookup
 * costs the probe cell and, on a hash match, the ring entry.  Same
 * guarantees as bmap: capacity fixed at creation, all memory allocated
 * then, a put into a full map evicts the oldest entry (counted), probe
 * positions seeded per map, keys that differ only in their three low bits
 * share one cache line of probe cells, O(1) expected work per operation
 * (linear probing at load <= 0.5).  No removal: entries only age out.  Not
 * thread-safe. */
typedef struct bfifo bfifo_t;

bfifo_t *bfifo_new(uint32_t capacity);
void bfifo_free(bfifo_t *m);
/* Starts loading the cache line key probes first, so that a bfifo_get or
 * bfifo_put of it a little later does not wait for memory.  No effect on
 * the contents. */
void bfifo_prefetch(const bfifo_t *m, uint64_t key);
/* The two words stored for key, or NULL.  Valid until the next put. */
const uint64_t *bfifo_get(const bfifo_t *m, uint64_t key);
/* Stores (w0, w1) for key.  A key already present keeps its place in the
 * eviction order (as in a BMAP_FIFO bmap) and gets the new words; a new
 * key evicts the oldest entry when the map is full.  Never fails. */
void bfifo_put(bfifo_t *m, uint64_t key, uint64_t w0, uint64_t w1);
uint32_t bfifo_count(const bfifo_t *m);
uint64_t bfifo_evictions(const bfifo_t *m);
size_t bfifo_memory(const bfifo_t *m);

#endif
