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
    unsigned i = 0;
    while (i < k->n && rh_a[i] != rh) /* bound: cap */
        i++;
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
         * the oldest, so the newest recipients define the window.  One
         * pass finds the oldest and the runner-up, the new lower bound. */
        unsigned min_i = 0;
        uint32_t second = now;
        for (unsigned j = 1; j < k->n; j++) {
            if (ts_a[j] < ts_a[min_i]) {
                if (ts_a[min_i] < second)
                    second = ts_a[min_i];
                min_i = j;
            } else if (ts_a[j] < second) {
                second = ts_a[j];
            }
        }
        rh_a[min_i] = rh;
        ts_a[min_i] = now;
        k->oldest = second;
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
