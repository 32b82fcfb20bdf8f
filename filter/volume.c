#include "volume.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* A key's first few recipients live in its own record ("inline"), not in
 * its slots of the set arrays: most keys (a fingerprint of a one-off or
 * ham text, a sender that writes to one or two people) never have more
 * than one or two recipients in a window, and each key's set lies far
 * from every other's, so its first write was a cache miss and, on fresh
 * calloc'ed pages, a page fault and zeroing of 4 KB (46% of
 * volume_observe's profile samples).  Only when a (VOLUME_INLINE+1)th
 * distinct recipient arrives within the window do the inline ones move,
 * in order, into the set; the key then stays there until it is replaced
 * or forgotten.  The counts are the same: both forms hold the same pairs
 * in the same order (see observe_inline()).
 *
 * VOLUME_INLINE pairs, 8 bytes each, share the union with the set form's
 * fields: at 1 the record stays at 24 bytes and a bucket at three cache
 * lines (the keys are 64-byte aligned); at 2 it is 32 bytes, four lines.
 * Replaying a million messages, 2 kept 0.7k fewer pages (14.4k faults
 * against 15.1k, 73 MB against 77 MB, 148 MB before) and CPU time did not
 * tell them apart, so the record keeps its size.  Any value works
 * (tests/test-volume-diff.c passes at 1, 2 and 3). */
#ifndef VOLUME_INLINE
#define VOLUME_INLINE 1
#endif

/* vkey.n: the recipient count, with VK_SET once they live in the set. */
#define VK_SET 0x80000000u

/* Hot fields of a key first: a lookup reads only key and last of the 8
 * ways of one bucket (three cache lines). */
struct vkey {
    uint64_t key;    /* 0 = empty way */
    uint32_t last;   /* last observation, seconds */
    uint32_t n;      /* recipients held, | VK_SET when in the set arrays */
    union {
        struct {
            uint32_t head;   /* small sets: ring position of the least
                                recently seen recipient (see observe_small);
                                indexed sets keep theirs in their list */
            uint32_t set;    /* the set's number (see struct volume_table) */
        } s;             /* set form */
        struct {
            uint32_t rh[VOLUME_INLINE], ts[VOLUME_INLINE];
        } in;            /* inline form: the recipients themselves */
    } u;
};
_Static_assert(VOLUME_INLINE > 1 || sizeof(struct vkey) == 24, "a bucket of 8 keys in 3 lines");

/* volume_prefetch_set() reads a key's `key`, `n`, set number and ring
 * head without the caller's lock: a hint, which at worst fetches the wrong
 * lines.  So that this is not a data race (C11 5.1.2.4; ThreadSanitizer
 * saw it between two proxy links' workers), those fields, and the inline
 * recipients that share their bytes, are written with relaxed atomic
 * stores and read there with relaxed loads: plain moves on x86-64 and
 * arm64.  Other reads hold the lock that orders them after every
 * write. */
static inline void vk_set_key(struct vkey *k, uint64_t key)
{
    __atomic_store_n(&k->key, key, __ATOMIC_RELAXED);
}

static inline void vk_set_n(struct vkey *k, uint32_t n)
{
    __atomic_store_n(&k->n, n, __ATOMIC_RELAXED);
}

static inline unsigned vk_count(const struct vkey *k) { return k->n & ~VK_SET; }

/* An inline recipient's hash or time (vk_set_key). */
static inline void vk_put(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/* Indexed sets (cap >= VOLUME_INDEXED_CAP): a key's recipients also sit
 * in a doubly linked list in order of last touch, and in an open-addressing
 * hash from recipient hash to slot.  A key's time only moves forward, so the
 * list is ordered by last-seen: expiry pops its head while out of window,
 * the oldest to overwrite is its head, and a recipient is found by one hash
 * probe; every observation is O(1) on average instead of three scans of
 * N+1 entries, which for an account (N = 2,000 by default, up to 100,000)
 * dominated the cost of judging a message. */
#define VOLUME_INDEXED_CAP 256u
#define NONE UINT32_MAX

/* An indexed set's slot, everything an observation reads or writes of one
 * recipient on one line (four slots a line): with the hashes, times and
 * links in three arrays, overwriting the oldest recipient of a full set
 * touched up to eight lines at random in the key's 48 KB (an account's,
 * observed for most messages; a few busy accounts' sets are more than the
 * cache holds). */
struct islot {
    uint32_t rh;         /* recipient hash */
    uint32_t ts;         /* last seen */
    uint32_t prev, next; /* slot numbers in the key's set, NONE at the ends */
};

/* A cell of an indexed set's hash: the recipient hash beside its slot, so
 * that a probe and a deletion's backward shift compare and rehash without
 * reading the slots. */
struct icell {
    uint32_t rh;
    uint32_t slot1; /* slot + 1; 0 = empty */
};

struct vlist {
    uint32_t head, tail; /* least and most recently touched slots */
    uint32_t free;       /* released slots, chained through islot.next */
    uint32_t used;       /* slots [0, used) have been handed out */
};

struct volume_table {
    struct vkey *keys;  /* nbuckets * VOLUME_WAYS, 64-byte aligned */
    void *keys_mem;     /* what calloc returned for them */
    /* The sets below are numbered, one per key at most, and handed to keys
     * as they spill (a number freed by an evicted or forgotten key is the
     * next one handed out), so that the sets in use lie together at the
     * front of the arrays, whatever buckets their keys hash to: most keys
     * never spill, and a set placed by its key's position, with the keys
     * at random over 27 MB of senders' sets and 53 MB of fingerprints',
     * spread the few in use over as many pages: TLB misses (nested page
     * walks on a VM) and a page fault for each (docs/verdict-engine.md). */
    uint32_t *free_sets; /* numbers given back, a stack */
    uint32_t n_free, sets_used; /* sets [0, sets_used) have been handed out */
    /* Small sets, structure-of-arrays: the recipient search reads only
     * rh, 4 bytes per recipient, a tight loop over one cache-line run.
     * NULL in a table of indexed sets. */
    uint32_t *rh;       /* (nbuckets * VOLUME_WAYS) * cap recipient hashes */
    uint32_t *ts;       /* ... and their last-seen seconds */
    /* indexed sets only (NULL otherwise) */
    struct islot *slots; /* per key cap slots */
    struct vlist *list; /* per key */
    struct icell *hx;   /* per key hcap cells */
    size_t hcap;
    unsigned hshift;
    size_t nbuckets, bmask;
    unsigned threshold, cap;
    unsigned ninline;   /* inline recipients: min(VOLUME_INLINE, cap - 1) */
    uint32_t window;
    struct volume_stats st;
};

volume_table_t *volume_new(size_t max_keys, unsigned threshold, uint32_t window_s)
{
    if (threshold == 0 || threshold > VOLUME_MAX_THRESHOLD || window_s == 0 || max_keys == 0 ||
        max_keys > ((size_t)1 << 32))
        return NULL;
    volume_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t nb = 1;
    while (nb * VOLUME_WAYS < max_keys)
        nb <<= 1;
    t->nbuckets = nb;
    t->bmask = nb - 1;
    t->threshold = threshold;
    t->cap = threshold + 1;
    /* below cap, so that the inline form never has to overwrite */
    t->ninline = VOLUME_INLINE < t->cap - 1 ? VOLUME_INLINE : t->cap - 1;
    t->window = window_s;
    size_t nk = nb * VOLUME_WAYS;
    /* Aligned to a cache line, so that a bucket spans the fewest lines
     * (malloc's 16-byte alignment put every bucket across one more);
     * still calloc, for its untouched zero pages. */
    t->keys_mem = calloc(nk * sizeof *t->keys + 63, 1);
    if (t->keys_mem)
        t->keys = (struct vkey *)(((uintptr_t)t->keys_mem + 63) & ~(uintptr_t)63);
    t->free_sets = malloc(nk * sizeof *t->free_sets);
    if (!t->keys || !t->free_sets) {
        volume_free(t);
        return NULL;
    }
    t->st.max_keys = nk;
    t->st.bytes = sizeof *t + nk * (sizeof *t->keys + sizeof *t->free_sets) + 63;
    if (t->cap < VOLUME_INDEXED_CAP) {
        /* calloc: untouched pages of a large table cost nothing until used. */
        t->rh = calloc(nk * t->cap, sizeof *t->rh);
        t->ts = calloc(nk * t->cap, sizeof *t->ts);
        if (!t->rh || !t->ts) {
            volume_free(t);
            return NULL;
        }
        t->st.bytes += nk * t->cap * (sizeof *t->rh + sizeof *t->ts);
    } else {
        /* the hash at most half full: short probe runs */
        unsigned bits = 1;
        while (((size_t)1 << bits) < 2 * (size_t)t->cap)
            bits++;
        t->hcap = (size_t)1 << bits;
        t->hshift = 32 - bits;
        t->slots = calloc(nk * t->cap, sizeof *t->slots);
        t->list = calloc(nk, sizeof *t->list);
        t->hx = calloc(nk * t->hcap, sizeof *t->hx);
        if (!t->slots || !t->list || !t->hx) {
            volume_free(t);
            return NULL;
        }
        t->st.bytes += nk * (t->cap * sizeof *t->slots + sizeof *t->list + t->hcap * sizeof *t->hx);
    }
    return t;
}

void volume_free(volume_table_t *t)
{
    if (!t)
        return;
    free(t->keys_mem);
    free(t->free_sets);
    free(t->rh);
    free(t->ts);
    free(t->slots);
    free(t->list);
    free(t->hx);
    free(t);
}

static uint64_t fix_key(uint64_t key) { return key ? key : 1; }

static struct vkey *bucket(const volume_table_t *t, uint64_t key)
{
    /* High bits pick the bucket: callers' hashes are XXH3, uniform in every
     * bit, but taking the top keeps a plain counter key usable in tests. */
    uint64_t mix = key * 0x9E3779B97F4A7C15ull;
    return &t->keys[((mix >> 32) & t->bmask) * VOLUME_WAYS];
}

static size_t set_of(const volume_table_t *t, const struct vkey *k)
{
    return (size_t)k->u.s.set * t->cap;
}

/* A set number for a key that spills (one is always free: there are as
 * many as keys, and each key in set form holds one). */
static uint32_t set_take(volume_table_t *t)
{
    return t->n_free ? t->free_sets[--t->n_free] : t->sets_used++;
}

/* Gives back k's set, if it has one: k is evicted or forgotten. */
static void set_release(volume_table_t *t, const struct vkey *k)
{
    if (k->key && (k->n & VK_SET))
        t->free_sets[t->n_free++] = k->u.s.set;
}

/* In (now - window, now]? */
static int in_window(const volume_table_t *t, uint32_t ts, uint32_t now)
{
    return now - ts < t->window;
}

/* A recipient set is searched on every message, so the two scans over
 * it use GCC/Clang vector extensions (SSE2 on x86-64, NEON on arm64,
 * plain code elsewhere; on x86-64 the search with SSE2 intrinsics, whose
 * movemask tests sixteen entries at once): -O2 does not vectorise a
 * search with an early exit. */
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

#if !defined(__SSE2__)
static int any_lane(i32x4 m)
{
    uint64_t lo, hi;
    memcpy(&lo, &m, 8);
    memcpy(&hi, (const char *)&m + 8, 8);
    return (lo | hi) != 0;
}
#endif

/* Index of v among a[0..n), or n. */
static unsigned set_find(const uint32_t *a, unsigned n, uint32_t v)
{
#if defined(__SSE2__)
    /* Sixteen per step (one movemask for four compares), then the four
     * that hold the first match, or the last four, overlapping what was
     * searched (no match there), instead of a scalar tail. */
    const __m128i key = _mm_set1_epi32((int)v);
#define EQ4(p) _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)), key)
    unsigned i = 0;
    for (; i + 16 <= n; i += 16)
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(EQ4(a + i), EQ4(a + i + 4)),
                                           _mm_or_si128(EQ4(a + i + 8), EQ4(a + i + 12)))))
            break;
    for (; i + 4 <= n; i += 4) {
        unsigned m = (unsigned)_mm_movemask_epi8(EQ4(a + i));
        if (m)
            return i + (unsigned)__builtin_ctz(m) / 4;
    }
    if (i < n && n >= 4) {
        unsigned m = (unsigned)_mm_movemask_epi8(EQ4(a + n - 4));
        return m ? n - 4 + (unsigned)__builtin_ctz(m) / 4 : n;
    }
#undef EQ4
    while (i < n && a[i] != v)
        i++;
    return i;
#else
    const u32x4 key = {v, v, v, v};
    unsigned i = 0;
    for (; i + 8 <= n; i += 8) {
        u32x4 x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, a + i + 4, sizeof y);
        if (any_lane((x == key) | (y == key)))
            break;
    }
    while (i < n && a[i] != v)
        i++;
    return i;
#endif
}

/* Small sets are rings in last-seen order: the ring's head
 * (k->u.s.head) is the least recently seen recipient, the n live ones
 * follow it, wrapping at cap.  A key's time only moves forward (see
 * volume_observe), so the ring is in time order too: expiry drops from
 * the head while it is out of the window, and past the threshold the
 * newcomer takes the head's place, which then moves on, in O(1).  (A
 * search of the times for their minimum, and of its index, cost a set
 * with a busy sender or template, saturated on every message, two more
 * passes over its N+1 entries.)  A recipient seen again moves to the
 * ring's end, the entries after it one step back: O(N+1) at worst, like
 * the search that found it, and rare in a saturated set, whose
 * recipients are mostly new. */
static unsigned ring_next(const volume_table_t *t, unsigned pos)
{
    return pos + 1 == t->cap ? 0 : pos + 1;
}

/* The position off entries after pos (off <= cap), without a division. */
static unsigned ring_pos(const volume_table_t *t, unsigned pos, unsigned off)
{
    pos += off;
    return pos >= t->cap ? pos - t->cap : pos;
}

/* Starts loading count entries from p (count >= 1). */
static void prefetch_run(const uint32_t *p, unsigned count)
{
    for (unsigned i = 0; i < count; i += 16)
        __builtin_prefetch(p + i);
    __builtin_prefetch(p + count - 1);
}

/* Ring position of rh among the n live entries from h, or NONE. */
static uint32_t ring_find(const volume_table_t *t, const uint32_t *rh_a, unsigned h, unsigned n,
                          uint32_t rh)
{
    if (n == t->cap) /* every entry is live: one search of the array */
        h = 0;
    unsigned first = t->cap - h < n ? t->cap - h : n;
    unsigned i = set_find(rh_a + h, first, rh);
    if (i < first)
        return h + i;
    i = set_find(rh_a, n - first, rh);
    return i < n - first ? i : NONE;
}

static unsigned observe_small(volume_table_t *t, struct vkey *k, uint32_t rh, uint32_t now)
{
    size_t base = set_of(t, k);
    uint32_t *rh_a = t->rh + base, *ts_a = t->ts + base;
    unsigned n = vk_count(k), h = k->u.s.head;
    while (n && !in_window(t, ts_a[h], now)) {
        h = ring_next(t, h);
        n--;
    }
    uint32_t pos = ring_find(t, rh_a, h, n, rh);
    if (pos != NONE) { /* to the end: the entries after it one step back */
        for (unsigned next, end = ring_pos(t, h, n); (next = ring_next(t, pos)) != end; pos = next) {
            rh_a[pos] = rh_a[next];
            ts_a[pos] = ts_a[next];
        }
    } else if (n < t->cap) {
        pos = ring_pos(t, h, n);
        n++;
    } else { /* already past the threshold: the least recently seen makes room */
        pos = h;
        h = ring_next(t, h);
        t->st.overwrites++;
    }
    rh_a[pos] = rh;
    ts_a[pos] = now;
    vk_put(&k->u.s.head, h);
    vk_set_n(k, n | VK_SET);
    return n;
}

/* ---- indexed sets ---------------------------------------------------------- */

struct iset {
    struct vlist *l;
    struct islot *sl;
    struct icell *hx;
    size_t mask;
};

static struct iset iset_of(const volume_table_t *t, const struct vkey *k)
{
    size_t si = k->u.s.set;
    return (struct iset){&t->list[si], t->slots + si * t->cap, t->hx + si * t->hcap, t->hcap - 1};
}

static size_t ix_home(const volume_table_t *t, uint32_t rh)
{
    return (uint32_t)(rh * 0x9E3779B1u) >> t->hshift; /* Fibonacci hashing */
}

/* Slot of rh in the set, or NONE.  The hash is at most half full, so a
 * probe always meets an empty cell. */
static uint32_t ix_find(const struct iset *s, size_t home, uint32_t rh)
{
    for (size_t i = home;; i = (i + 1) & s->mask) {
        struct icell c = s->hx[i];
        if (!c.slot1)
            return NONE;
        if (c.rh == rh)
            return c.slot1 - 1;
    }
}

static void ix_insert(struct iset *s, size_t home, uint32_t rh, uint32_t slot)
{
    size_t i = home;
    while (s->hx[i].slot1)
        i = (i + 1) & s->mask;
    s->hx[i] = (struct icell){rh, slot + 1};
}

/* Removes recipient rh (in the set) from the hash; linear probing's
 * backward shift keeps every probe run unbroken, no tombstones.  A set's
 * recipient hashes are distinct, so rh names its cell. */
static void ix_delete(const volume_table_t *t, struct iset *s, uint32_t rh)
{
    size_t i = ix_home(t, rh);
    while (!(s->hx[i].slot1 && s->hx[i].rh == rh))
        i = (i + 1) & s->mask;
    for (size_t j = i;;) {
        j = (j + 1) & s->mask;
        if (!s->hx[j].slot1)
            break;
        size_t h = ix_home(t, s->hx[j].rh);
        if (((j - h) & s->mask) >= ((j - i) & s->mask)) { /* may move back to i */
            s->hx[i] = s->hx[j];
            i = j;
        }
    }
    s->hx[i].slot1 = 0;
}

static void list_unlink(struct iset *s, uint32_t slot)
{
    uint32_t p = s->sl[slot].prev, n = s->sl[slot].next;
    if (p != NONE)
        s->sl[p].next = n;
    else
        s->l->head = n;
    if (n != NONE)
        s->sl[n].prev = p;
    else
        s->l->tail = p;
}

static void list_append(struct iset *s, uint32_t slot)
{
    s->sl[slot].prev = s->l->tail;
    s->sl[slot].next = NONE;
    if (s->l->tail != NONE)
        s->sl[s->l->tail].next = slot;
    else
        s->l->head = slot;
    s->l->tail = slot;
}

static void iset_reset(const volume_table_t *t, const struct vkey *k)
{
    struct iset s = iset_of(t, k);
    s.l->head = s.l->tail = s.l->free = NONE;
    s.l->used = 0;
    memset(s.hx, 0, t->hcap * sizeof *s.hx);
}

static unsigned observe_indexed(volume_table_t *t, struct vkey *k, uint32_t rh, uint32_t now)
{
    struct iset s = iset_of(t, k);
    /* the list is in last-seen order: what left the window is at its head */
    while (s.l->head != NONE && !in_window(t, s.sl[s.l->head].ts, now)) {
        uint32_t old = s.l->head;
        ix_delete(t, &s, s.sl[old].rh);
        list_unlink(&s, old);
        s.sl[old].next = s.l->free;
        s.l->free = old;
        vk_set_n(k, k->n - 1); /* n >= 1: VK_SET stays */
    }
    size_t home = ix_home(t, rh);
    uint32_t slot = ix_find(&s, home, rh);
    if (slot != NONE) {
        s.sl[slot].ts = now;
        if (slot != s.l->tail) {
            list_unlink(&s, slot);
            list_append(&s, slot);
        }
    } else {
        if (vk_count(k) < t->cap) {
            if (s.l->free != NONE) {
                slot = s.l->free;
                s.l->free = s.sl[slot].next;
            } else {
                slot = s.l->used++;
            }
            vk_set_n(k, k->n + 1);
        } else { /* past the threshold: the least recently seen makes room */
            slot = s.l->head;
            ix_delete(t, &s, s.sl[slot].rh);
            list_unlink(&s, slot);
            t->st.overwrites++;
        }
        s.sl[slot].rh = rh;
        s.sl[slot].ts = now;
        list_append(&s, slot);
        ix_insert(&s, home, rh, slot);
    }
    /* The head is the recipient the next observation of a full set
     * evicts (or expires), and its hash cell is a random line of the
     * set's: start loading it now, from the head's slot, which the unlink
     * above has just brought in, so that this key's next observation (a
     * few messages later for a busy account) does not wait for it. */
    if (vk_count(k) == t->cap)
        __builtin_prefetch(&s.hx[ix_home(t, s.sl[s.l->head].rh)], 1);
    k->last = now;
    return vk_count(k);
}

/* The inline form (k->n without VK_SET): the same pairs in the same order
 * as the set form would hold, so that moving them there changes nothing:
 * in order of last touch, as a small set's ring and an indexed set's list
 * hold them.  Returns the count, or UINT32_MAX when rh is a new recipient
 * and the inline slots are full (the expired already dropped): the caller
 * moves them into the set.  Bound: ninline <= VOLUME_INLINE entries. */
static uint32_t observe_inline(const volume_table_t *t, struct vkey *k, uint32_t rh, uint32_t now)
{
    uint32_t *rh_a = k->u.in.rh, *ts_a = k->u.in.ts;
    unsigned n = k->n, out = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!in_window(t, ts_a[i], now))
            continue;
        vk_put(&rh_a[out], rh_a[i]);
        vk_put(&ts_a[out], ts_a[i]);
        out++;
    }
    unsigned i = 0;
    while (i < out && rh_a[i] != rh)
        i++;
    uint32_t ret = out;
    if (i < out) { /* to the end: last touched */
        for (; i + 1 < out; i++) {
            vk_put(&rh_a[i], rh_a[i + 1]);
            vk_put(&ts_a[i], ts_a[i + 1]);
        }
        vk_put(&rh_a[i], rh);
        vk_put(&ts_a[i], now);
    } else if (out < t->ninline) {
        vk_put(&rh_a[out], rh);
        vk_put(&ts_a[out], now);
        ret = ++out;
    } else {
        ret = UINT32_MAX;
    }
    if (out != n)
        vk_set_n(k, out);
    return ret;
}

/* Moves k's inline recipients into its set (n of them, n < cap) and marks
 * it VK_SET.  An indexed set is reset here rather than when the key was
 * inserted: most keys never get this far. */
static void spill(volume_table_t *t, struct vkey *k)
{
    unsigned n = k->n;
    uint32_t rh_in[VOLUME_INLINE], ts_in[VOLUME_INLINE];
    memcpy(rh_in, k->u.in.rh, sizeof rh_in);
    memcpy(ts_in, k->u.in.ts, sizeof ts_in);
    vk_put(&k->u.s.set, set_take(t)); /* over the inline recipients, now copied */
    if (t->slots) {
        iset_reset(t, k);
        struct iset s = iset_of(t, k);
        for (unsigned i = 0; i < n; i++) {
            uint32_t slot = s.l->used++;
            s.sl[slot].rh = rh_in[i];
            s.sl[slot].ts = ts_in[i];
            list_append(&s, slot);
            ix_insert(&s, ix_home(t, rh_in[i]), rh_in[i], slot);
        }
    } else {
        size_t base = set_of(t, k);
        for (unsigned i = 0; i < n; i++) {
            t->rh[base + i] = rh_in[i];
            t->ts[base + i] = ts_in[i];
        }
    }
    vk_put(&k->u.s.head, 0); /* over the inline recipients, now copied */
    vk_set_n(k, n | VK_SET);
}

void volume_prefetch(const volume_table_t *t, uint64_t key)
{
    if (!t)
        return;
    /* A bucket starts on a line (the keys are 64-byte aligned and a
     * bucket, 8 * (16 + 8 * VOLUME_INLINE) bytes, is whole lines), so its
     * lines are these: a constant count, unrolled. */
    _Static_assert(VOLUME_WAYS * sizeof(struct vkey) % 64 == 0, "a bucket covers whole lines");
    const char *b = (const char *)bucket(t, fix_key(key));
    for (size_t off = 0; off < VOLUME_WAYS * sizeof(struct vkey); off += 64)
        __builtin_prefetch(b + off);
}

void volume_prefetch_set(const volume_table_t *t, uint64_t key, uint64_t recipient)
{
    if (!t)
        return;
    key = fix_key(key);
    const struct vkey *b = bucket(t, key);
    for (unsigned w = 0; w < VOLUME_WAYS; w++) {
        if (__atomic_load_n(&b[w].key, __ATOMIC_RELAXED) != key) /* unlocked: vk_set_key() */
            continue;
        unsigned n = __atomic_load_n(&b[w].n, __ATOMIC_RELAXED);
        /* Inline recipients are in the bucket, already on its way; a key
         * that is about to spill has no set yet (the one it will get is
         * the last one freed or the next unused, near those in use). */
        if (!(n & VK_SET))
            return;
        n &= ~VK_SET;
        size_t si = __atomic_load_n(&b[w].u.s.set, __ATOMIC_RELAXED);
        if (t->slots) { /* the recipient's probe run in the set's hash, and its list */
            __builtin_prefetch(&t->hx[si * t->hcap + ix_home(t, (uint32_t)recipient)]);
            __builtin_prefetch(&t->list[si]);
            return;
        }
        /* A small set: the recipients from its head, searched, and the
         * position after them; of the times, the head's (expiry, the one
         * overwritten) and that position's (an append).  Bound: cap
         * entries, a few cache lines.  A head read while the key changed
         * form may be an inline recipient: no hint then. */
        unsigned h = __atomic_load_n(&b[w].u.s.head, __ATOMIC_RELAXED);
        if (h >= t->cap || n > t->cap)
            return;
        size_t base = si * t->cap;
        unsigned span = n < t->cap ? n + 1 : t->cap;
        unsigned first = t->cap - h < span ? t->cap - h : span;
        prefetch_run(&t->rh[base + h], first);
        if (span > first)
            prefetch_run(&t->rh[base], span - first);
        __builtin_prefetch(&t->ts[base + h]);
        __builtin_prefetch(&t->ts[base + ring_pos(t, h, n)]);
        return;
    }
}

unsigned volume_observe(volume_table_t *t, uint64_t key, uint64_t recipient, uint32_t now)
{
    if (!t)
        return 0;
    key = fix_key(key);
    t->st.observations++;
    struct vkey *b = bucket(t, key), *k = NULL;
    /* The key first, alone (most observations find it); the victim only
     * for a new key, chosen exactly as one pass over the ways would: the
     * first empty way, else the first of the oldest last activity. */
    for (unsigned w = 0; w < VOLUME_WAYS; w++)
        if (b[w].key == key) {
            k = &b[w];
            break;
        }
    if (!k) {
        struct vkey *victim = &b[0];
        for (unsigned w = 1; w < VOLUME_WAYS && victim->key; w++)
            if (!b[w].key || b[w].last < victim->last)
                victim = &b[w];
        k = victim;
        set_release(t, k);
        if (k->key) {
            t->st.evictions++;
            if (in_window(t, k->last, now > k->last ? now : k->last))
                t->st.evictions_live++;
        }
        vk_set_key(k, key);
        vk_set_n(k, 0); /* inline, empty */
        k->last = now;
        t->st.keys_inserted++;
    }
    if (now < k->last)
        now = k->last;
    uint32_t rh = (uint32_t)recipient;
    if (!(k->n & VK_SET)) {
        uint32_t c = observe_inline(t, k, rh, now);
        if (c != UINT32_MAX) {
            k->last = now;
            return c;
        }
        spill(t, k); /* and add rh to the set below */
    }
    if (t->slots)
        return observe_indexed(t, k, rh, now);
    unsigned n = observe_small(t, k, rh, now);
    k->last = now;
    return n;
}

unsigned volume_peek(const volume_table_t *t, uint64_t key, uint32_t now)
{
    if (!t)
        return 0;
    key = fix_key(key);
    const struct vkey *b = bucket(t, key);
    for (unsigned w = 0; w < VOLUME_WAYS; w++) {
        if (b[w].key != key)
            continue;
        const struct vkey *k = &b[w];
        if (now < k->last)
            now = k->last;
        const uint32_t *ts_a = k->u.in.ts;
        unsigned n = vk_count(k);
        if (k->n & VK_SET) { /* n less what left the window, from the head */
            unsigned gone = 0;
            if (t->slots) {
                struct iset s = iset_of(t, k);
                for (uint32_t i = s.l->head; i != NONE && !in_window(t, s.sl[i].ts, now);
                     i = s.sl[i].next)
                    gone++;
            } else {
                ts_a = t->ts + set_of(t, k);
                for (unsigned i = k->u.s.head; gone < n && !in_window(t, ts_a[i], now);
                     i = ring_next(t, i))
                    gone++;
            }
            return n - gone;
        }
        unsigned live = 0;
        for (unsigned i = 0; i < n; i++)
            live += in_window(t, ts_a[i], now);
        return live;
    }
    return 0;
}

void volume_forget(volume_table_t *t, uint64_t key)
{
    if (!t)
        return;
    key = fix_key(key);
    struct vkey *b = bucket(t, key);
    for (unsigned w = 0; w < VOLUME_WAYS; w++)
        if (b[w].key == key) {
            set_release(t, &b[w]);
            vk_set_key(&b[w], 0);
            vk_set_n(&b[w], 0);
            b[w].last = 0;
        }
}

unsigned volume_threshold(const volume_table_t *t) { return t ? t->threshold : 0; }
uint32_t volume_window(const volume_table_t *t) { return t ? t->window : 0; }

void volume_get_stats(const volume_table_t *t, struct volume_stats *out)
{
    if (!t) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = t->st;
}
