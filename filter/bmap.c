#include "bmap.h"
#include "sg-common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#define NIL UINT32_MAX

/* Entries live in a slot array; the probe table holds slot indices.  Slots
 * form a doubly linked list in recency order (head = oldest) and a free
 * list threaded through `next`. */
struct slot {
    uint64_t key;
    uint32_t prev, next;
    uint32_t probe; /* index of this slot in the probe table */
};

/* A probe cell is 8 octets: the key's 32-bit mix() beside the slot index,
 * eight to a cache line.  A lookup compares mixes and reads the slot's key
 * only when they match (another key matches with probability about 2^-29
 * per cell), and the home position is the mix's low bits, so a deletion's
 * backward shift hashes nothing again.  The decoder's tables are sized by
 * their bounds (65,536 requests: 128Ki cells), so the probe array's size
 * is what the cache and the TLB see: 1 MiB at 8 octets a cell, where 16
 * octets (the whole key in the cell) made it 2 MiB. */
struct probe_cell {
    uint32_t hash;  /* mix(key); home position = hash & probe_mask */
    uint32_t slot1; /* slot index + 1; 0 when empty, so that a calloc'd
                     * table needs no initialisation pass */
};

struct bmap {
    uint32_t capacity, count, probe_mask;
    size_t value_size;
    struct slot *slots;
    unsigned char *values;
    struct probe_cell *probe;  /* 64-octet aligned: a group of eight cells is one line;
                                * NULL in a queue (bmap_new_queue): no key is looked up */
    void *probe_mem;           /* what calloc returned for it */
    uint32_t head, tail, free_head;
    uint32_t unused;   /* slots [unused, capacity) were never handed out */
    uint64_t evictions;
    uint64_t seed; /* per table, random: see mix() */
    enum bmap_order order;
    bmap_evict_fn on_evict;
    void *ctx;
};

/* The 32-bit mix of a key; its low bits are the probe position.  Keys come
 * from traffic (sequence numbers, hashes of message ids), so the table's
 * random seed goes in first: a peer cannot choose keys that share a probe
 * chain without knowing it.
 *
 * Keys that differ only in their three low bits get adjacent positions in
 * one aligned group of eight cells, one cache line: the decoder's exact
 * keys count up (sequence numbers within a flow and direction, message
 * uids), so the requests a peer has in flight, or consecutive messages,
 * share lines instead of costing a cache miss (and a TLB miss) each.  The
 * group's position is seeded like any key's: chosen keys can fill one
 * group, eight cells, and no more than that. */
static inline uint32_t mix(const bmap_t *m, uint64_t k)
{
    uint64_t low = k & 7;
    k ^= low ^ m->seed;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return ((uint32_t)k & ~7u) | (uint32_t)low;
}

static inline void *value_of(const bmap_t *m, uint32_t s)
{
    return m->values + (size_t)s * m->value_size;
}

/* A seed per table from getrandom(); should that fail (no entropy yet at
 * boot), the table's address and the time, which an attacker does not see
 * either.  Called once per table, at creation. */
static uint64_t table_seed(const void *salt)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = ((uint64_t)(uintptr_t)salt ^ (uint64_t)time(NULL)) * 0x9e3779b97f4a7c15ULL;
    return s;
}

/* A map of capacity entries, with a probe table when indexed. */
static bmap_t *map_new(uint32_t capacity, size_t value_size, enum bmap_order order, int indexed,
                       bmap_evict_fn on_evict, void *ctx)
{
    if (capacity == 0 || capacity > (1u << 30))
        return NULL;
    bmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    uint32_t psize = 8;  /* at least one group of eight */
    while (psize < capacity * 2u)
        psize <<= 1;
    m->capacity = capacity;
    m->probe_mask = psize - 1;
    m->value_size = value_size ? value_size : 1;
    /* calloc of large blocks maps zero pages lazily: creating even a table
     * of millions of entries costs nothing until entries are used. */
    m->slots = malloc((size_t)capacity * sizeof *m->slots);
    m->values = calloc(capacity, m->value_size);
    if (indexed)
        m->probe_mem = calloc(1, (size_t)psize * sizeof *m->probe + 63);
    if (!m->slots || !m->values || (indexed && !m->probe_mem)) {
        bmap_free(m);
        return NULL;
    }
    if (indexed)
        m->probe = (struct probe_cell *)(((uintptr_t)m->probe_mem + 63) & ~(uintptr_t)63);
    m->free_head = NIL;
    m->unused = 0;
    m->seed = table_seed(m);
    m->head = m->tail = NIL;
    m->order = order;
    m->on_evict = on_evict;
    m->ctx = ctx;
    return m;
}

bmap_t *bmap_new(uint32_t capacity, size_t value_size, enum bmap_order order,
                 bmap_evict_fn on_evict, void *ctx)
{
    return map_new(capacity, value_size, order, 1, on_evict, ctx);
}

bmap_t *bmap_new_queue(uint32_t capacity, size_t value_size, bmap_evict_fn on_evict, void *ctx)
{
    return map_new(capacity, value_size, BMAP_FIFO, 0, on_evict, ctx);
}

void bmap_free(bmap_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->values);
    free(m->probe_mem);
    free(m);
}

static inline __attribute__((always_inline)) void list_unlink(bmap_t *m, uint32_t s)
{
    struct slot *e = &m->slots[s];
    if (e->prev != NIL) m->slots[e->prev].next = e->next; else m->head = e->next;
    if (e->next != NIL) m->slots[e->next].prev = e->prev; else m->tail = e->prev;
}

static inline __attribute__((always_inline)) void list_append(bmap_t *m, uint32_t s)
{
    struct slot *e = &m->slots[s];
    e->prev = m->tail;
    e->next = NIL;
    if (m->tail != NIL) m->slots[m->tail].next = s; else m->head = s;
    m->tail = s;
}

/* Probe position of key, or NIL.  Inlined into bmap_get and bmap_remove:
 * each runs several times per PDU. */
static inline __attribute__((always_inline)) uint32_t find(const bmap_t *m, uint64_t key)
{
    uint32_t h = mix(m, key);
    for (uint32_t i = h & m->probe_mask;; i = (i + 1) & m->probe_mask) {
        struct probe_cell c = m->probe[i];
        if (c.slot1 == 0)
            return NIL;
        if (c.hash == h && m->slots[c.slot1 - 1].key == key)
            return i;
    }
}

/* Deletes probe position i with backward-shift, keeping every remaining key
 * reachable from its home position without tombstones. */
static void probe_delete(bmap_t *m, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & m->probe_mask;
        struct probe_cell c = m->probe[j];
        if (c.slot1 == 0)
            break;
        /* Move the cell back to i unless its home lies cyclically in
         * (i, j], that is unless it is nearer to j than i is: two masked
         * subtractions instead of the interval's four compares. */
        if (((j - c.hash) & m->probe_mask) >= ((j - i) & m->probe_mask)) {
            m->probe[i] = c;
            m->slots[c.slot1 - 1].probe = i;
            i = j;
        }
    }
    m->probe[i].slot1 = 0;
}

/* Inlined into bmap_remove(), which runs once or twice per PDU, and into
 * evict_for(). */
static inline __attribute__((always_inline)) void release(bmap_t *m, uint32_t probe_pos)
{
    uint32_t s = m->probe[probe_pos].slot1 - 1;
    probe_delete(m, probe_pos);
    list_unlink(m, s);
    m->slots[s].next = m->free_head;
    m->free_head = s;
    m->count--;
}

/* release() for a queue, which has no probe cell to delete. */
static inline __attribute__((always_inline)) void release_unindexed(bmap_t *m, uint32_t s)
{
    list_unlink(m, s);
    m->slots[s].next = m->free_head;
    m->free_head = s;
    m->count--;
}

void *bmap_get(bmap_t *m, uint64_t key)
{
    uint32_t s;
    return bmap_get_slot(m, key, &s);
}

/* Evicts the oldest entry of a full map to make room for a key whose
 * mix is h; returns the probe cell the key goes into.  Out of line: with
 * the call to on_evict inlined, bmap_put() saved and restored six
 * registers on every call. */
static __attribute__((noinline)) uint32_t evict_for(bmap_t *m, uint32_t h)
{
    uint32_t old = m->head;
    m->evictions++;
    if (m->on_evict)
        m->on_evict(m->ctx, m->slots[old].key, value_of(m, old));
    release(m, m->slots[old].probe);
    /* The backward shift may have opened an earlier cell on our
     * sequence: look for the first empty one again. */
    uint32_t i = h & m->probe_mask;
    while (m->probe[i].slot1 != 0)
        i = (i + 1) & m->probe_mask;
    return i;
}

/* A free slot of a map with room: the last one freed (its lines are the
 * likeliest to be cached), else the first never used. */
static inline __attribute__((always_inline)) uint32_t take_slot(bmap_t *m)
{
    if (m->free_head == NIL)
        return m->unused++;
    uint32_t s = m->free_head;
    m->free_head = m->slots[s].next;
    return s;
}

/* Takes a slot for key (mixed to h) at empty probe cell i of a map with
 * room; returns the slot. */
static inline __attribute__((always_inline)) uint32_t insert_at(bmap_t *m, uint64_t key, uint32_t h,
                                                                uint32_t i)
{
    uint32_t s = take_slot(m);
    m->slots[s].key = key;
    m->probe[i] = (struct probe_cell){h, s + 1};
    m->slots[s].probe = i;
    list_append(m, s);
    m->count++;
    return s;
}

/* put_slot() into a full map: evicts the oldest entry first.  Out of
 * line and reached by a tail call, so that put_slot() calls nothing on
 * its way and saves no registers (twelve instructions of the eighty a
 * put cost). */
static __attribute__((noinline)) void *put_evicting(bmap_t *m, uint64_t key, uint32_t h, int *created,
                                                    uint32_t *slot)
{
    uint32_t s = insert_at(m, key, h, evict_for(m, h));
    *created = 1;
    *slot = s;
    return value_of(m, s);
}

/* bmap_put() and bmap_put_raw(): the value of key, its slot taken (and
 * *created set to 1) when absent, the value not yet cleared. */
static inline __attribute__((always_inline)) void *put_slot(bmap_t *m, uint64_t key, int *created,
                                                            uint32_t *slot)
{
    /* One probe sequence both looks the key up and, when it is absent,
     * ends at the empty cell it goes into. */
    uint32_t h = mix(m, key);
    uint32_t i = h & m->probe_mask;
    for (;; i = (i + 1) & m->probe_mask) {
        struct probe_cell c = m->probe[i];
        if (c.slot1 == 0)
            break;
        uint32_t s = c.slot1 - 1;
        if (c.hash != h || m->slots[s].key != key)
            continue;
        if (m->order == BMAP_LRU && m->tail != s) {
            list_unlink(m, s);
            list_append(m, s);
        }
        *created = 0;
        *slot = s;
        return value_of(m, s);
    }
    if (m->count == m->capacity)
        return put_evicting(m, key, h, created, slot);
    uint32_t s = insert_at(m, key, h, i);
    *created = 1;
    *slot = s;
    return value_of(m, s);
}

void *bmap_put(bmap_t *m, uint64_t key, int *created)
{
    int c;
    uint32_t s;
    void *v = put_slot(m, key, &c, &s);
    if (created)
        *created = c;
    /* memset returns v: a tail call */
    return c ? memset(v, 0, m->value_size) : v;
}

void *bmap_put_raw(bmap_t *m, uint64_t key, int *created, uint32_t *slot)
{
    uint32_t s;
    return put_slot(m, key, created, slot ? slot : &s);
}

void *bmap_get_slot(bmap_t *m, uint64_t key, uint32_t *slot)
{
    uint32_t i = find(m, key);
    if (i == NIL)
        return NULL;
    uint32_t s = m->probe[i].slot1 - 1;
    if (m->order == BMAP_LRU && m->tail != s) {
        list_unlink(m, s);
        list_append(m, s);
    }
    *slot = s;
    return value_of(m, s);
}

void bmap_remove_slot(bmap_t *m, uint32_t slot)
{
    if (!m->probe)
        release_unindexed(m, slot);
    else
        release(m, m->slots[slot].probe);
}

void *bmap_append(bmap_t *m, uint64_t key, uint32_t *slot)
{
    if (SG_NEVER(m->probe))
        return NULL; /* an indexed map takes its keys through bmap_put */
    if (m->count == m->capacity) {
        uint32_t old = m->head;
        m->evictions++;
        if (m->on_evict)
            m->on_evict(m->ctx, m->slots[old].key, value_of(m, old));
        release_unindexed(m, old);
    }
    uint32_t s = take_slot(m);
    m->slots[s].key = key;
    list_append(m, s);
    m->count++;
    *slot = s;
    return value_of(m, s);
}

int bmap_remove(bmap_t *m, uint64_t key)
{
    uint32_t i = find(m, key);
    if (i == NIL)
        return 0;
    release(m, i);
    return 1;
}

uint32_t bmap_count(const bmap_t *m) { return m->count; }
uint32_t bmap_capacity(const bmap_t *m) { return m->capacity; }
uint64_t bmap_evictions(const bmap_t *m) { return m->evictions; }

void *bmap_oldest(bmap_t *m, uint64_t *key)
{
    if (m->head == NIL)
        return NULL;
    if (key)
        *key = m->slots[m->head].key;
    return value_of(m, m->head);
}

void bmap_foreach(bmap_t *m, void (*fn)(void *ctx, uint64_t key, void *value), void *ctx)
{
    for (uint32_t s = m->head; s != NIL; s = m->slots[s].next)
        fn(ctx, m->slots[s].key, value_of(m, s));
}

size_t bmap_memory(const bmap_t *m)
{
    return sizeof *m + (size_t)m->capacity * (sizeof(struct slot) + m->value_size) +
           (m->probe ? ((size_t)m->probe_mask + 1) * sizeof(struct probe_cell) : 0);
}

/* ---- bfifo ------------------------------------------------------------- */

/* Entries live in a ring in insertion order (key and its two words,
 * written and evicted in sequence); the probe table holds 8-octet cells:
 * a 32-bit hash of the key and the entry's ring position.  The probe
 * position is the hash's low bits, so the backward shift of a deletion
 * needs no other read.  A lookup compares hashes, eight cells to a line,
 * and reads the ring entry only when they match (a different key matches
 * with probability about 2^-29 per cell: the hash's three low bits are
 * the key's, see bfifo_hash()).
 *
 * Why this shape: the receipt-tie table holds a million entries, and on
 * the machines measured its footprint mattered more than the number of
 * reads per lookup.  A run touches every page of the probe table within
 * its first tens of thousands of entries, and each page costs a fault and
 * clearing (about 4 us each under a hypervisor) besides its TLB and cache
 * misses.  At 8 octets a cell the table is 16 MiB for a million entries
 * (the bmap it replaced: 32 MiB of 16-octet probe cells, plus 40 octets
 * an entry of slots and values; cells of 32 octets with the values
 * inline, tried: 64 MiB, and decode-1000000 ran 17% slower than with half
 * of it: docs/benchmarks.md). */
struct bfifo_cell {
    uint32_t hash;
    uint32_t slot1;  /* ring position + 1; 0 when empty */
};

struct bfifo_entry {
    uint64_t key;
    uint64_t w[2];
};

struct bfifo {
    struct bfifo_cell *cells;  /* probe_mask + 1 cells, 64-octet aligned */
    void *cells_mem;           /* what calloc returned for them */
    struct bfifo_entry *ring;  /* capacity entries; ring[head] is the oldest */
    void *ring_mem;            /* what calloc returned for it */
    uint32_t capacity, count, head, probe_mask;
    uint64_t evictions;
    uint64_t seed;
};

/* Seeded, as bmap's mix(): a peer cannot choose keys that share a probe
 * chain without knowing the seed.  And as mix(), keys that differ only in
 * their three low bits go to one aligned group of eight cells, one cache
 * line: an SMSC numbers its messages with a counter, the decoder's keys
 * of numeric message ids keep the id's low bits (tie_key_number()), so
 * the submits of consecutive ids on a link, and their receipts, share
 * lines instead of costing a miss each.  Measured on decode-1000000
 * (ids counting up by 1 to 3, smsgen): bfifo_put from 6.2-7.3% of the
 * perf samples to 3.1-3.4%.  Chosen keys can fill one group, eight cells,
 * and no more than that. */
static inline uint32_t bfifo_hash(const bfifo_t *m, uint64_t k)
{
    uint64_t low = k & 7;
    k ^= low ^ m->seed;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return ((uint32_t)k & ~7u) | (uint32_t)low;
}

/* len zeroed octets, 64-octet aligned; from 2 MiB on aligned to 2 MiB and
 * marked for transparent huge pages (a hint: refused is fine).  *mem gets
 * what to free(). */
static void *huge_calloc(size_t len, void **mem)
{
    const size_t huge = (size_t)2 << 20;
    size_t align = len >= huge ? huge : 64;
    *mem = calloc(1, len + align - 1);
    if (!*mem)
        return NULL;
    void *at = (void *)(((uintptr_t)*mem + align - 1) & ~(uintptr_t)(align - 1));
#ifdef MADV_HUGEPAGE
    if (len >= huge)
        (void)madvise(at, len, MADV_HUGEPAGE);
#endif
    return at;
}

bfifo_t *bfifo_new(uint32_t capacity)
{
    if (capacity == 0 || capacity > (1u << 30))
        return NULL;
    bfifo_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    uint32_t psize = 8;  /* at least one line of cells */
    while (psize < capacity * 2u)
        psize <<= 1;
    m->capacity = capacity;
    m->probe_mask = psize - 1;
    /* calloc: pages are mapped lazily, as for bmap, so a large table costs
     * nothing until it is used, and the ring only as far as it has been
     * filled.
     *
     * The cells are read at random and the table is dense: a few thousand
     * entries put a key on every 4 KiB page of it.  So a run soon faults
     * in every page (4,096 faults for 16 MiB), and nearly every lookup
     * misses the TLB as well (a page walk, nested under a hypervisor).  On
     * 2 MiB pages (transparent huge pages, which the kernel grants on
     * request where allowed) both go: the same memory is zeroed, in 8
     * faults, and 8 TLB entries cover the table.  The ring fills in order,
     * so huge pages zero at most 2 MiB ahead of its use: its 24 MiB for a
     * million entries took 6,000 of the 15,000 page faults of a
     * 1M-message replay.  Not for bmap's tables, whose value arrays are
     * sparse (huge pages would zero memory never used), nor for 64 MiB of
     * cells, where faulting huge pages in cost as much as it saved on this
     * VM (docs/benchmarks.md). */
    m->cells = huge_calloc((size_t)psize * sizeof *m->cells, &m->cells_mem);
    m->ring = huge_calloc((size_t)capacity * sizeof *m->ring, &m->ring_mem);
    if (!m->cells || !m->ring) {
        bfifo_free(m);
        return NULL;
    }
    m->seed = table_seed(m);
    return m;
}

void bfifo_free(bfifo_t *m)
{
    if (!m)
        return;
    free(m->cells_mem);
    free(m->ring_mem);
    free(m);
}

void bfifo_prefetch(const bfifo_t *m, uint64_t key)
{
    __builtin_prefetch(&m->cells[bfifo_hash(m, key) & m->probe_mask], 1);
}

const uint64_t *bfifo_get(const bfifo_t *m, uint64_t key)
{
    uint32_t h = bfifo_hash(m, key);
    for (uint32_t i = h & m->probe_mask;; i = (i + 1) & m->probe_mask) {
        struct bfifo_cell c = m->cells[i];
        if (c.slot1 == 0)
            return NULL;
        if (c.hash == h && m->ring[c.slot1 - 1].key == key)
            return m->ring[c.slot1 - 1].w;
    }
}

/* Removes the cell of ring position slot (its key hashing to h) with
 * backward shift, as probe_delete does for bmap. */
static void bfifo_delete(bfifo_t *m, uint32_t h, uint32_t slot)
{
    uint32_t i = h & m->probe_mask;
    for (;; i = (i + 1) & m->probe_mask) {
        if (m->cells[i].slot1 == 0)
            return;  /* cannot happen: every ring entry has its cell */
        if (m->cells[i].slot1 == slot + 1)
            break;
    }
    for (uint32_t j = i;;) {
        j = (j + 1) & m->probe_mask;
        struct bfifo_cell c = m->cells[j];
        if (c.slot1 == 0)
            break;
        /* as probe_delete() */
        if (((j - c.hash) & m->probe_mask) >= ((j - i) & m->probe_mask)) {
            m->cells[i] = c;
            i = j;
        }
    }
    m->cells[i].slot1 = 0;
}

void bfifo_put(bfifo_t *m, uint64_t key, uint64_t w0, uint64_t w1)
{
    uint32_t h = bfifo_hash(m, key);
    uint32_t i = h & m->probe_mask;
    for (; m->cells[i].slot1 != 0; i = (i + 1) & m->probe_mask) {
        struct bfifo_entry *e = &m->ring[m->cells[i].slot1 - 1];
        if (m->cells[i].hash == h && e->key == key) {
            e->w[0] = w0;
            e->w[1] = w1;
            return;
        }
    }
    uint32_t slot;
    if (m->count == m->capacity) {
        /* The new entry takes the oldest one's place in the ring. */
        slot = m->head;
        bfifo_delete(m, bfifo_hash(m, m->ring[slot].key), slot);
        m->evictions++;
        m->head = m->head + 1 == m->capacity ? 0 : m->head + 1;
        /* The backward shift may have opened an earlier cell on our
         * sequence: look for the first empty one again. */
        i = h & m->probe_mask;
        while (m->cells[i].slot1 != 0)
            i = (i + 1) & m->probe_mask;
        /* The next put evicts ring[head]: start loading its cell now, while
         * the PDUs in between are decoded. */
        bfifo_prefetch(m, m->ring[m->head].key);
    } else {
        uint32_t t = m->head + m->count;
        slot = t >= m->capacity ? t - m->capacity : t;
        m->count++;
    }
    m->ring[slot] = (struct bfifo_entry){key, {w0, w1}};
    m->cells[i] = (struct bfifo_cell){h, slot + 1};
}

uint32_t bfifo_count(const bfifo_t *m) { return m->count; }
uint64_t bfifo_evictions(const bfifo_t *m) { return m->evictions; }

size_t bfifo_memory(const bfifo_t *m)
{
    return sizeof *m + ((size_t)m->probe_mask + 1) * sizeof(struct bfifo_cell) +
           (size_t)m->capacity * sizeof *m->ring;
}
