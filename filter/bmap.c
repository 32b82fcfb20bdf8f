#include "bmap.h"

#include <stdlib.h>
#include <string.h>
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

/* A probe cell carries the key beside the slot index, so a lookup touches
 * one cache line per probe step instead of two (the probe array and the
 * slot); on tables of a million entries each of those is a cache miss. */
struct probe_cell {
    uint64_t key;
    uint32_t slot1; /* slot index + 1; 0 when empty, so that a calloc'd
                     * table needs no initialisation pass */
};

struct bmap {
    uint32_t capacity, count, probe_mask;
    size_t value_size;
    struct slot *slots;
    unsigned char *values;
    struct probe_cell *probe;
    uint32_t head, tail, free_head;
    uint32_t unused;   /* slots [unused, capacity) were never handed out */
    uint64_t evictions;
    uint64_t seed; /* per table, random: see mix() */
    enum bmap_order order;
    bmap_evict_fn on_evict;
    void *ctx;
};

/* The probe position of a key.  Keys come from traffic (sequence numbers,
 * hashes of message ids), so the table's random seed goes in first: a peer
 * cannot choose keys that share a probe chain without knowing it. */
static inline uint32_t mix(const bmap_t *m, uint64_t k)
{
    k ^= m->seed;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
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

bmap_t *bmap_new(uint32_t capacity, size_t value_size, enum bmap_order order,
                 bmap_evict_fn on_evict, void *ctx)
{
    if (capacity == 0 || capacity > (1u << 30))
        return NULL;
    bmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    uint32_t psize = 2;
    while (psize < capacity * 2u)
        psize <<= 1;
    m->capacity = capacity;
    m->probe_mask = psize - 1;
    m->value_size = value_size ? value_size : 1;
    /* calloc of large blocks maps zero pages lazily: creating even a table
     * of millions of entries costs nothing until entries are used. */
    m->slots = malloc((size_t)capacity * sizeof *m->slots);
    m->values = calloc(capacity, m->value_size);
    m->probe = calloc(psize, sizeof *m->probe);
    if (!m->slots || !m->values || !m->probe) {
        bmap_free(m);
        return NULL;
    }
    m->free_head = NIL;
    m->unused = 0;
    m->seed = table_seed(m);
    m->head = m->tail = NIL;
    m->order = order;
    m->on_evict = on_evict;
    m->ctx = ctx;
    return m;
}

void bmap_free(bmap_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->values);
    free(m->probe);
    free(m);
}

static void list_unlink(bmap_t *m, uint32_t s)
{
    struct slot *e = &m->slots[s];
    if (e->prev != NIL) m->slots[e->prev].next = e->next; else m->head = e->next;
    if (e->next != NIL) m->slots[e->next].prev = e->prev; else m->tail = e->prev;
}

static void list_append(bmap_t *m, uint32_t s)
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
    uint32_t i = mix(m, key) & m->probe_mask;
    for (;;) {
        const struct probe_cell *c = &m->probe[i];
        if (c->slot1 == 0)
            return NIL;
        if (c->key == key)
            return i;
        i = (i + 1) & m->probe_mask;
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
        uint32_t home = mix(m, c.key) & m->probe_mask;
        /* Move the cell back to i unless its home lies cyclically in (i, j]. */
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->probe[i] = c;
            m->slots[c.slot1 - 1].probe = i;
            i = j;
        }
    }
    m->probe[i].slot1 = 0;
}

static void release(bmap_t *m, uint32_t probe_pos)
{
    uint32_t s = m->probe[probe_pos].slot1 - 1;
    probe_delete(m, probe_pos);
    list_unlink(m, s);
    m->slots[s].next = m->free_head;
    m->free_head = s;
    m->count--;
}

void *bmap_get(bmap_t *m, uint64_t key)
{
    uint32_t i = find(m, key);
    if (i == NIL)
        return NULL;
    uint32_t s = m->probe[i].slot1 - 1;
    if (m->order == BMAP_LRU && m->tail != s) {
        list_unlink(m, s);
        list_append(m, s);
    }
    return value_of(m, s);
}

void *bmap_put(bmap_t *m, uint64_t key, int *created)
{
    /* One probe sequence both looks the key up and, when it is absent,
     * ends at the empty cell it goes into. */
    uint32_t i = mix(m, key) & m->probe_mask;
    for (; m->probe[i].slot1 != 0; i = (i + 1) & m->probe_mask) {
        if (m->probe[i].key != key)
            continue;
        uint32_t s = m->probe[i].slot1 - 1;
        if (m->order == BMAP_LRU && m->tail != s) {
            list_unlink(m, s);
            list_append(m, s);
        }
        if (created)
            *created = 0;
        return value_of(m, s);
    }
    if (m->count == m->capacity) {
        uint32_t old = m->head;
        m->evictions++;
        if (m->on_evict)
            m->on_evict(m->ctx, m->slots[old].key, value_of(m, old));
        release(m, m->slots[old].probe);
        /* The backward shift may have opened an earlier cell on our
         * sequence: look for the first empty one again. */
        i = mix(m, key) & m->probe_mask;
        while (m->probe[i].slot1 != 0)
            i = (i + 1) & m->probe_mask;
    }
    uint32_t s;
    if (m->free_head != NIL) {
        s = m->free_head;
        m->free_head = m->slots[s].next;
    } else {
        s = m->unused++;
    }
    m->slots[s].key = key;
    m->probe[i].key = key;
    m->probe[i].slot1 = s + 1;
    m->slots[s].probe = i;
    list_append(m, s);
    m->count++;
    void *v = value_of(m, s);
    memset(v, 0, m->value_size);
    if (created)
        *created = 1;
    return v;
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
           ((size_t)m->probe_mask + 1) * sizeof(struct probe_cell);
}
