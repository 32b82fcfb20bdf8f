#include "volume.h"

#include <stdlib.h>
#include <string.h>

/* Hot fields of a key first: a lookup reads only key and last of the 8
 * ways of one bucket (128 bytes, two cache lines). */
struct vkey {
    uint64_t key;    /* 0 = empty way */
    uint32_t last;   /* last observation, seconds */
    uint32_t n;      /* recipients in the set */
    uint32_t oldest; /* <= the oldest last-seen in the set: while it is
                        inside the window no expiry pass is needed */
    uint32_t pad;
};

struct volume_table {
    struct vkey *keys;  /* nbuckets * VOLUME_WAYS */
    /* Sets, structure-of-arrays: the recipient search reads only rh, 4
     * bytes per recipient, a tight loop over one cache-line run. */
    uint32_t *rh;       /* (nbuckets * VOLUME_WAYS) * cap recipient hashes */
    uint32_t *ts;       /* ... and their last-seen seconds */
    size_t nbuckets, bmask;
    unsigned threshold, cap;
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
    t->window = window_s;
    size_t nk = nb * VOLUME_WAYS;
    t->keys = calloc(nk, sizeof *t->keys);
    /* calloc: untouched pages of a large table cost nothing until used. */
    t->rh = calloc(nk * t->cap, sizeof *t->rh);
    t->ts = calloc(nk * t->cap, sizeof *t->ts);
    if (!t->keys || !t->rh || !t->ts) {
        volume_free(t);
        return NULL;
    }
    t->st.max_keys = nk;
    t->st.bytes = sizeof *t + nk * sizeof *t->keys + nk * t->cap * (sizeof *t->rh + sizeof *t->ts);
    return t;
}

void volume_free(volume_table_t *t)
{
    if (!t)
        return;
    free(t->keys);
    free(t->rh);
    free(t->ts);
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
    return (size_t)(k - t->keys) * t->cap;
}

/* In (now - window, now]? */
static int in_window(const volume_table_t *t, uint32_t ts, uint32_t now)
{
    return now - ts < t->window;
}

/* An account's recipient set holds thousands of entries and is searched
 * on every message, so the two scans over it use GCC/Clang vector
 * extensions (SSE2 on x86-64, NEON on arm64, plain code elsewhere): -O2
 * does not vectorise a search with an early exit. */
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

static int any_lane(i32x4 m)
{
    uint64_t lo, hi;
    memcpy(&lo, &m, 8);
    memcpy(&hi, (const char *)&m + 8, 8);
    return (lo | hi) != 0;
}

/* Index of v among a[0..n), or n. */
static unsigned set_find(const uint32_t *a, unsigned n, uint32_t v)
{
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
}

/* Smallest of a[0..n), n >= 1. */
static uint32_t set_min(const uint32_t *a, unsigned n)
{
    unsigned i = 0;
    uint32_t m = a[0];
    if (n >= 4) {
        u32x4 acc;
        memcpy(&acc, a, sizeof acc);
        for (i = 4; i + 4 <= n; i += 4) {
            u32x4 x;
            memcpy(&x, a + i, sizeof x);
            u32x4 lt = (u32x4)(x < acc);
            acc = (x & lt) | (acc & ~lt);
        }
        m = acc[0];
        for (int j = 1; j < 4; j++)
            m = acc[j] < m ? acc[j] : m;
    }
    for (; i < n; i++)
        m = a[i] < m ? a[i] : m;
    return m;
}

unsigned volume_observe(volume_table_t *t, uint64_t key, uint64_t recipient, uint32_t now)
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
        k->key = key;
        k->n = 0;
        k->last = now;
        k->oldest = now;
        t->st.keys_inserted++;
    }
    if (now < k->last)
        now = k->last;
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
        k->n = out;
        k->oldest = oldest;
    }
    unsigned i = set_find(rh_a, k->n, rh);
    if (i < k->n) {
        ts_a[i] = now; /* k->oldest stays a lower bound */
    } else if (k->n < t->cap) {
        if (k->n == 0)
            k->oldest = now;
        rh_a[k->n] = rh;
        ts_a[k->n] = now;
        k->n++;
    } else {
        /* Already past the threshold: keep the set at N+1 by replacing
         * the oldest, so the newest recipients define the window.  The
         * minimum is a reduction and its index a search, both vectorised;
         * the replaced time stays a valid lower bound for k->oldest (the
         * next expiry pass makes it exact again). */
        uint32_t min_ts = set_min(ts_a, k->n);
        unsigned min_i = set_find(ts_a, k->n, min_ts);
        rh_a[min_i] = rh;
        ts_a[min_i] = now;
        k->oldest = min_ts;
        t->st.overwrites++;
    }
    k->last = now;
    return k->n;
}

unsigned volume_peek(const volume_table_t *t, uint64_t key, uint32_t now)
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
        unsigned n = 0;
        for (unsigned i = 0; i < b[w].n; i++)
            n += in_window(t, ts_a[i], now);
        return n;
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
            b[w].key = 0;
            b[w].n = 0;
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
