/* Volume tables (filter/volume.c) against the implementation they
 * replaced, copied below as a reference (ref_*, volume.c at 887e55b): the
 * first recipients of a key now live inline in its record and move into
 * its set only when one more distinct recipient arrives within the window,
 * which must change nothing.  One change to the reference since: its small
 * sets keep their recipients in order of last touch, plainly, with a
 * memmove (a recipient seen again moves to the end; past the threshold the
 * first, the least recently seen, makes room), as volume.c's rings do
 * without moving more than a re-seen recipient's followers.  Before, the
 * first in array order of the oldest times made room: the same but for
 * ties within a second.  Randomised streams, for each threshold (1,
 * 2, 3 and 4 around the inline slots, small sets, 255 and up indexed) and
 * window, into tables small enough to evict all the time and large enough
 * not to: many keys with one to three recipients, keys that grow past the
 * inline slots and past the threshold, recipients leaving the window, time
 * going backwards, forgotten keys, peeks, prefetches.  Every
 * volume_observe() and volume_peek() result and the stats (less bytes)
 * must equal the reference's. */
#include <stdio.h>

#include "testutil.h"
#include "volume.h"

typedef struct ref_table ref_table_t;
static void ref_free(ref_table_t *t);

/* ---- the reference: filter/volume.c before inline recipients ------------ */
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Hot fields of a key first: a lookup reads only key and last of the 8
 * ways of one bucket (192 bytes, three cache lines). */
struct vkey {
    uint64_t key;    /* 0 = empty way */
    uint32_t last;   /* last observation, seconds */
    uint32_t n;      /* recipients in the set */
    uint32_t oldest; /* <= the oldest last-seen in the set: while it is
                        inside the window no expiry pass is needed */
    uint32_t pad;
};

/* ref_prefetch_set() reads a key's `key` and `n` without the caller's
 * lock: a hint, which at worst fetches the wrong lines.  So that this is
 * not a data race (C11 5.1.2.4; ThreadSanitizer saw it between two proxy
 * links' workers), those two fields are written with relaxed atomic
 * stores and read there with relaxed loads: plain moves on x86-64 and
 * arm64.  Other reads hold the lock that orders them after every write. */
static inline void vk_set_key(struct vkey *k, uint64_t key)
{
    __atomic_store_n(&k->key, key, __ATOMIC_RELAXED);
}

static inline void vk_set_n(struct vkey *k, uint32_t n)
{
    __atomic_store_n(&k->n, n, __ATOMIC_RELAXED);
}

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

struct vlink {
    uint32_t prev, next; /* slot numbers in the key's set, NONE at the ends */
};

struct vlist {
    uint32_t head, tail; /* least and most recently touched slots */
    uint32_t free;       /* released slots, chained through vlink.next */
    uint32_t used;       /* slots [0, used) have been handed out */
};

struct ref_table {
    struct vkey *keys;  /* nbuckets * VOLUME_WAYS */
    /* Sets, structure-of-arrays: the recipient search reads only rh, 4
     * bytes per recipient, a tight loop over one cache-line run. */
    uint32_t *rh;       /* (nbuckets * VOLUME_WAYS) * cap recipient hashes */
    uint32_t *ts;       /* ... and their last-seen seconds */
    /* indexed sets only (NULL otherwise) */
    struct vlink *link; /* per slot, like rh */
    struct vlist *list; /* per key */
    uint32_t *hx;       /* per key hcap entries: slot + 1, 0 = empty */
    size_t hcap;
    unsigned hshift;
    size_t nbuckets, bmask;
    unsigned threshold, cap;
    uint32_t window;
    struct volume_stats st;
};

static ref_table_t *ref_new(size_t max_keys, unsigned threshold, uint32_t window_s)
{
    if (threshold == 0 || threshold > VOLUME_MAX_THRESHOLD || window_s == 0 || max_keys == 0 ||
        max_keys > ((size_t)1 << 32))
        return NULL;
    ref_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t nb = 1;
    while (nb * VOLUME_WAYS < max_keys)
        nb <<= 1;
    t->nbuckets = nb;
    t->bmask = nb - 1;
    t->threshold = threshold;
    t->cap = threshold + 1;
    t->window = window_s;
    size_t nk = nb * VOLUME_WAYS;
    t->keys = calloc(nk, sizeof *t->keys);
    /* calloc: untouched pages of a large table cost nothing until used. */
    t->rh = calloc(nk * t->cap, sizeof *t->rh);
    t->ts = calloc(nk * t->cap, sizeof *t->ts);
    if (!t->keys || !t->rh || !t->ts) {
        ref_free(t);
        return NULL;
    }
    t->st.max_keys = nk;
    t->st.bytes = sizeof *t + nk * sizeof *t->keys + nk * t->cap * (sizeof *t->rh + sizeof *t->ts);
    if (t->cap >= VOLUME_INDEXED_CAP) {
        /* the hash at most half full: short probe runs */
        unsigned bits = 1;
        while (((size_t)1 << bits) < 2 * (size_t)t->cap)
            bits++;
        t->hcap = (size_t)1 << bits;
        t->hshift = 32 - bits;
        t->link = calloc(nk * t->cap, sizeof *t->link);
        t->list = calloc(nk, sizeof *t->list);
        t->hx = calloc(nk * t->hcap, sizeof *t->hx);
        if (!t->link || !t->list || !t->hx) {
            ref_free(t);
            return NULL;
        }
        t->st.bytes += nk * (t->cap * sizeof *t->link + sizeof *t->list + t->hcap * sizeof *t->hx);
    }
    return t;
}

static void ref_free(ref_table_t *t)
{
    if (!t)
        return;
    free(t->keys);
    free(t->rh);
    free(t->ts);
    free(t->link);
    free(t->list);
    free(t->hx);
    free(t);
}

static uint64_t fix_key(uint64_t key) { return key ? key : 1; }

static struct vkey *bucket(const ref_table_t *t, uint64_t key)
{
    /* High bits pick the bucket: callers' hashes are XXH3, uniform in every
     * bit, but taking the top keeps a plain counter key usable in tests. */
    uint64_t mix = key * 0x9E3779B97F4A7C15ull;
    return &t->keys[((mix >> 32) & t->bmask) * VOLUME_WAYS];
}

static size_t set_of(const ref_table_t *t, const struct vkey *k)
{
    return (size_t)(k - t->keys) * t->cap;
}

/* In (now - window, now]? */
static int in_window(const ref_table_t *t, uint32_t ts, uint32_t now)
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

/* ---- indexed sets ---------------------------------------------------------- */

struct iset {
    struct vlist *l;
    struct vlink *ln;
    uint32_t *rh, *ts, *hx;
    size_t mask;
};

static struct iset iset_of(const ref_table_t *t, const struct vkey *k)
{
    size_t ki = (size_t)(k - t->keys);
    return (struct iset){&t->list[ki], t->link + ki * t->cap, t->rh + ki * t->cap,
                         t->ts + ki * t->cap, t->hx + ki * t->hcap, t->hcap - 1};
}

static size_t ix_home(const ref_table_t *t, uint32_t rh)
{
    return (uint32_t)(rh * 0x9E3779B1u) >> t->hshift; /* Fibonacci hashing */
}

/* Slot of rh in the set, or NONE.  The hash is at most half full, so a
 * probe always meets an empty entry. */
static uint32_t ix_find(const struct iset *s, size_t home, uint32_t rh)
{
    for (size_t i = home;; i = (i + 1) & s->mask) {
        uint32_t e = s->hx[i];
        if (!e)
            return NONE;
        if (s->rh[e - 1] == rh)
            return e - 1;
    }
}

static void ix_insert(struct iset *s, size_t home, uint32_t slot)
{
    size_t i = home;
    while (s->hx[i])
        i = (i + 1) & s->mask;
    s->hx[i] = slot + 1;
}

/* Removes slot (still holding its recipient hash) from the hash; linear
 * probing's backward shift keeps every probe run unbroken, no tombstones. */
static void ix_delete(const ref_table_t *t, struct iset *s, uint32_t slot)
{
    size_t i = ix_home(t, s->rh[slot]);
    while (s->hx[i] != slot + 1)
        i = (i + 1) & s->mask;
    for (size_t j = i;;) {
        j = (j + 1) & s->mask;
        if (!s->hx[j])
            break;
        size_t h = ix_home(t, s->rh[s->hx[j] - 1]);
        if (((j - h) & s->mask) >= ((j - i) & s->mask)) { /* may move back to i */
            s->hx[i] = s->hx[j];
            i = j;
        }
    }
    s->hx[i] = 0;
}

static void list_unlink(struct iset *s, uint32_t slot)
{
    uint32_t p = s->ln[slot].prev, n = s->ln[slot].next;
    if (p != NONE)
        s->ln[p].next = n;
    else
        s->l->head = n;
    if (n != NONE)
        s->ln[n].prev = p;
    else
        s->l->tail = p;
}

static void list_append(struct iset *s, uint32_t slot)
{
    s->ln[slot].prev = s->l->tail;
    s->ln[slot].next = NONE;
    if (s->l->tail != NONE)
        s->ln[s->l->tail].next = slot;
    else
        s->l->head = slot;
    s->l->tail = slot;
}

static void iset_reset(const ref_table_t *t, const struct vkey *k)
{
    struct iset s = iset_of(t, k);
    s.l->head = s.l->tail = s.l->free = NONE;
    s.l->used = 0;
    memset(s.hx, 0, t->hcap * sizeof *s.hx);
}

static unsigned observe_indexed(ref_table_t *t, struct vkey *k, uint32_t rh, uint32_t now)
{
    struct iset s = iset_of(t, k);
    /* the list is in last-seen order: what left the window is at its head */
    while (s.l->head != NONE && !in_window(t, s.ts[s.l->head], now)) {
        uint32_t old = s.l->head;
        ix_delete(t, &s, old);
        list_unlink(&s, old);
        s.ln[old].next = s.l->free;
        s.l->free = old;
        vk_set_n(k, k->n - 1);
    }
    size_t home = ix_home(t, rh);
    uint32_t slot = ix_find(&s, home, rh);
    if (slot != NONE) {
        s.ts[slot] = now;
        if (slot != s.l->tail) {
            list_unlink(&s, slot);
            list_append(&s, slot);
        }
    } else {
        if (k->n < t->cap) {
            if (s.l->free != NONE) {
                slot = s.l->free;
                s.l->free = s.ln[slot].next;
            } else {
                slot = s.l->used++;
            }
            vk_set_n(k, k->n + 1);
        } else { /* past the threshold: the least recently seen makes room */
            slot = s.l->head;
            ix_delete(t, &s, slot);
            list_unlink(&s, slot);
            t->st.overwrites++;
        }
        s.rh[slot] = rh;
        s.ts[slot] = now;
        list_append(&s, slot);
        ix_insert(&s, home, slot);
    }
    k->oldest = s.ts[s.l->head];
    k->last = now;
    return k->n;
}

static void ref_prefetch(const ref_table_t *t, uint64_t key)
{
    if (!t)
        return;
    const char *b = (const char *)bucket(t, fix_key(key));
    const char *end = b + VOLUME_WAYS * sizeof(struct vkey) - 1;
    for (const char *p = b; p <= end; p += 64)
        __builtin_prefetch(p);
    __builtin_prefetch(end);
}

static void ref_prefetch_set(const ref_table_t *t, uint64_t key, uint64_t recipient)
{
    if (!t)
        return;
    key = fix_key(key);
    const struct vkey *b = bucket(t, key);
    for (unsigned w = 0; w < VOLUME_WAYS; w++) {
        if (__atomic_load_n(&b[w].key, __ATOMIC_RELAXED) != key) /* unlocked: vk_set_key() */
            continue;
        if (t->link) { /* the recipient's probe run in the set's hash */
            const struct iset s = iset_of(t, &b[w]);
            __builtin_prefetch(&s.hx[ix_home(t, (uint32_t)recipient)]);
            return;
        }
        /* A small set: its recipients and times, searched whole (bound:
         * cap entries each, a few cache lines). */
        size_t base = set_of(t, &b[w]);
        unsigned n = __atomic_load_n(&b[w].n, __ATOMIC_RELAXED);
        n = n < t->cap ? n + 1 : t->cap;
        for (unsigned i = 0; i < n; i += 16) {
            __builtin_prefetch(&t->rh[base + i]);
            __builtin_prefetch(&t->ts[base + i]);
        }
        __builtin_prefetch(&t->rh[base + n - 1]);
        __builtin_prefetch(&t->ts[base + n - 1]);
        return;
    }
}

static unsigned ref_observe(ref_table_t *t, uint64_t key, uint64_t recipient, uint32_t now)
{
    if (!t)
        return 0;
    key = fix_key(key);
    t->st.observations++;
    struct vkey *b = bucket(t, key), *k = NULL, *victim = NULL;
    for (unsigned w = 0; w < VOLUME_WAYS; w++) {
        if (b[w].key == key) {
            k = &b[w];
            break;
        }
        if (!victim || (victim->key && (!b[w].key || b[w].last < victim->last)))
            victim = &b[w];
    }
    if (!k) {
        k = victim;
        if (k->key) {
            t->st.evictions++;
            if (in_window(t, k->last, now > k->last ? now : k->last))
                t->st.evictions_live++;
        }
        vk_set_key(k, key);
        vk_set_n(k, 0);
        k->last = now;
        k->oldest = now;
        if (t->link)
            iset_reset(t, k);
        t->st.keys_inserted++;
    }
    if (now < k->last)
        now = k->last;
    if (t->link)
        return observe_indexed(t, k, (uint32_t)recipient, now);
    size_t base = set_of(t, k);
    uint32_t *rh_a = t->rh + base, *ts_a = t->ts + base;
    uint32_t rh = (uint32_t)recipient;
    /* Expiry pass only when something may have left the window (bound:
     * cap = N+1 entries). */
    if (k->n && !in_window(t, k->oldest, now)) {
        unsigned out = 0;
        uint32_t oldest = now;
        for (unsigned i = 0; i < k->n; i++) {
            if (!in_window(t, ts_a[i], now))
                continue;
            rh_a[out] = rh_a[i];
            ts_a[out] = ts_a[i];
            if (ts_a[out] < oldest)
                oldest = ts_a[out];
            out++;
        }
        vk_set_n(k, out);
        k->oldest = oldest;
    }
    /* In order of last touch (the one change since 887e55b, see the top):
     * a recipient seen again moves to the end, and past the threshold the
     * first, the least recently seen, makes room at the end. */
    unsigned i = set_find(rh_a, k->n, rh);
    if (i < k->n || k->n == t->cap) {
        if (i == k->n) {
            i = 0;
            t->st.overwrites++;
        }
        memmove(rh_a + i, rh_a + i + 1, (k->n - i - 1) * sizeof *rh_a);
        memmove(ts_a + i, ts_a + i + 1, (k->n - i - 1) * sizeof *ts_a);
        rh_a[k->n - 1] = rh;
        ts_a[k->n - 1] = now; /* k->oldest stays a lower bound */
    } else {
        if (k->n == 0)
            k->oldest = now;
        rh_a[k->n] = rh;
        ts_a[k->n] = now;
        vk_set_n(k, k->n + 1);
    }
    k->last = now;
    return k->n;
}

static unsigned ref_peek(const ref_table_t *t, uint64_t key, uint32_t now)
{
    if (!t)
        return 0;
    key = fix_key(key);
    struct vkey *b = bucket(t, key);
    for (unsigned w = 0; w < VOLUME_WAYS; w++) {
        if (b[w].key != key)
            continue;
        const uint32_t *ts_a = t->ts + set_of(t, &b[w]);
        if (now < b[w].last)
            now = b[w].last;
        if (t->link) { /* n less what left the window, from the list's head */
            struct iset s = iset_of(t, &b[w]);
            unsigned gone = 0;
            for (uint32_t i = s.l->head; i != NONE && !in_window(t, s.ts[i], now); i = s.ln[i].next)
                gone++;
            return b[w].n - gone;
        }
        unsigned n = 0;
        for (unsigned i = 0; i < b[w].n; i++)
            n += in_window(t, ts_a[i], now);
        return n;
    }
    return 0;
}

static void ref_forget(ref_table_t *t, uint64_t key)
{
    if (!t)
        return;
    key = fix_key(key);
    struct vkey *b = bucket(t, key);
    for (unsigned w = 0; w < VOLUME_WAYS; w++)
        if (b[w].key == key) {
            vk_set_key(&b[w], 0);
            vk_set_n(&b[w], 0);
            b[w].last = 0;
        }
}

static unsigned ref_threshold(const ref_table_t *t) { return t ? t->threshold : 0; }
static uint32_t ref_window(const ref_table_t *t) { return t ? t->window : 0; }

static void ref_get_stats(const ref_table_t *t, struct volume_stats *out)
{
    if (!t) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = t->st;
}

/* Every counter but bytes (the layouts differ) the same in both. */
static void check_same_stats(const volume_table_t *t, const ref_table_t *r)
{
    struct volume_stats sa, sb;
    volume_get_stats(t, &sa);
    ref_get_stats(r, &sb);
    CHECK_EQ_INT(sa.observations, sb.observations);
    CHECK_EQ_INT(sa.keys_inserted, sb.keys_inserted);
    CHECK_EQ_INT(sa.evictions, sb.evictions);
    CHECK_EQ_INT(sa.evictions_live, sb.evictions_live);
    CHECK_EQ_INT(sa.overwrites, sb.overwrites);
    CHECK_EQ_INT(sa.max_keys, sb.max_keys);
}

/* ---- the differential test ------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 31);
}

struct diff_run {
    unsigned threshold;
    uint32_t window;
    size_t max_keys;
    int steps;
};

/* One stream into both tables; returns the number of differences. */
static unsigned diff_one(const struct diff_run *run, uint64_t seed)
{
    volume_table_t *t = volume_new(run->max_keys, run->threshold, run->window);
    ref_table_t *r = ref_new(run->max_keys, run->threshold, run->window);
    CHECK(t != NULL && r != NULL);
    if (!t || !r) {
        volume_free(t);
        ref_free(r);
        return 1;
    }
    CHECK_EQ_INT(volume_threshold(t), ref_threshold(r));
    CHECK_EQ_INT(volume_window(t), ref_window(r));
    uint64_t s = seed;
    /* Key classes: a large pool of light keys (one to three recipients of
     * their own), a few middling (4 to 12) and a few heavy ones (twice the
     * cap): keys are drawn so that light ones dominate, as fingerprints of
     * ham texts do. */
    unsigned cap = run->threshold + 1;
    uint64_t n_light = run->max_keys * 3, n_mid = 16, n_heavy = 4;
    uint32_t now = 1000;
    unsigned bad = 0;
    for (int step = 0; step < run->steps && bad < 5; step++) {
        uint64_t x = rng_next(&s);
        /* time: mostly steady, now and then a jump past the window */
        unsigned dt = (unsigned)(x & 1023);
        if (dt < 200)
            now += 1;
        else if (dt == 200)
            now += run->window + (uint32_t)(x >> 54);
        else if (dt < 204)
            now += run->window / 2;
        uint32_t at = now;
        if (((x >> 10) & 63) == 0)
            at = now - (uint32_t)((x >> 16) % (run->window + 3)); /* out of order */
        unsigned cls = (unsigned)((x >> 24) % 100);
        uint64_t key, rcpt, k;
        if (cls < 85) {
            k = (x >> 32) % n_light;
            unsigned pool = 1 + (unsigned)(k % 3);
            key = mix(1, k);
            rcpt = mix(key, (x >> 40) % pool);
        } else if (cls < 97) {
            k = (x >> 32) % n_mid;
            unsigned pool = 4 + (unsigned)(k % 9);
            key = mix(2, k);
            rcpt = mix(key, (x >> 40) % pool);
        } else {
            k = (x >> 32) % n_heavy;
            key = mix(3, k);
            rcpt = mix(key, (x >> 40) % (2 * cap));
        }
        if (((x >> 48) & 1023) == 0)
            key = 0; /* key 0 is mapped to 1 by both */
        volume_prefetch(t, key);
        ref_prefetch(r, key);
        volume_prefetch_set(t, key, rcpt);
        ref_prefetch_set(r, key, rcpt);
        unsigned a = volume_observe(t, key, rcpt, at), b = ref_observe(r, key, rcpt, at);
        if (a != b) {
            bad++;
            CHECK_MSG(0, "N %u window %u keys %zu step %d: observe %u, reference %u",
                      run->threshold, run->window, run->max_keys, step, a, b);
        }
        uint64_t y = rng_next(&s);
        if ((y & 15) == 0) { /* peek a key of any class, maybe absent, maybe later */
            uint64_t pk = mix(1 + (y >> 4) % 3, (y >> 8) % n_light);
            uint32_t pt = now + (uint32_t)((y >> 32) % (2 * run->window));
            unsigned pa = volume_peek(t, pk, pt), pb = ref_peek(r, pk, pt);
            if (pa != pb) {
                bad++;
                CHECK_MSG(0, "N %u window %u step %d: peek %u, reference %u", run->threshold,
                          run->window, step, pa, pb);
            }
        }
        if ((y >> 20) % 4096 == 0) { /* forget one, maybe spilled */
            uint64_t fk = (y >> 40) & 1 ? key : mix(2, (y >> 8) % n_mid);
            volume_forget(t, fk);
            ref_forget(r, fk);
        }
    }
    check_same_stats(t, r);
    volume_free(t);
    ref_free(r);
    return bad;
}

static void test_differential(void)
{
    static const unsigned thresholds[] = {1, 2, 3, 4, 5, 9, 50, 254, 255, 300};
    static const uint32_t windows[] = {3, 30, 600};
    static const size_t sizes[] = {8, 64, 2048};
    unsigned runs = 0, bad = 0;
    for (size_t ti = 0; ti < SG_ARRAY_LEN(thresholds); ti++)
        for (size_t wi = 0; wi < SG_ARRAY_LEN(windows); wi++)
            for (size_t si = 0; si < SG_ARRAY_LEN(sizes); si++) {
                struct diff_run run = {thresholds[ti], windows[wi], sizes[si], 30000};
                bad += diff_one(&run, 0x9E3779B97F4A7C15ull + ti * 1000 + wi * 10 + si);
                runs++;
            }
    printf("%u streams against the reference, %u differences\n", runs, bad);
}

/* One key growing step by step around the inline slots: the first
 * recipients, a refresh, the one that moves them into the set, expiry of
 * the inline-era entries after the move, and a key evicted while in its
 * set coming back inline, at thresholds where the set is small or indexed. */
static void test_spill_edges(void)
{
    static const unsigned thresholds[] = {1, 2, 3, 255};
    for (size_t ti = 0; ti < SG_ARRAY_LEN(thresholds); ti++) {
        unsigned thr = thresholds[ti];
        volume_table_t *t = volume_new(8, thr, 10);
        ref_table_t *r = ref_new(8, thr, 10);
        CHECK(t && r);
        if (!t || !r)
            return;
        static const struct {
            uint64_t key, rcpt;
            uint32_t now;
        } seq[] = {
            {5, 100, 1}, {5, 100, 2}, {5, 101, 3}, {5, 100, 4}, {5, 102, 5}, {5, 103, 6},
            {5, 101, 12}, {5, 104, 13}, {5, 105, 14}, {5, 100, 30}, {5, 101, 30}, {5, 102, 31},
            /* eight more keys push key 5 out (one bucket of 8 ways) */
            {11, 1, 40}, {12, 1, 41}, {13, 1, 42}, {14, 1, 43}, {15, 1, 44}, {16, 1, 45},
            {17, 1, 46}, {18, 1, 47}, {5, 100, 48}, {5, 107, 48}, {5, 108, 49}, {5, 100, 49},
        };
        for (size_t i = 0; i < SG_ARRAY_LEN(seq); i++) {
            unsigned a = volume_observe(t, seq[i].key, seq[i].rcpt, seq[i].now);
            unsigned b = ref_observe(r, seq[i].key, seq[i].rcpt, seq[i].now);
            CHECK_MSG(a == b, "N %u step %zu: %u, reference %u", thr, i, a, b);
            CHECK_EQ_INT(volume_peek(t, 5, seq[i].now + 5), ref_peek(r, 5, seq[i].now + 5));
        }
        check_same_stats(t, r);
        volume_free(t);
        ref_free(r);
    }
}

int main(void)
{
    test_spill_edges();
    test_differential();
    return test_summary();
}
