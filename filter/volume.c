#include "volume.h"

#include <stdlib.h>
#include <string.h>

/* Hot fields of a key first: a lookup reads only key and last of the 8
 * ways of one bucket (128 bytes, two cache lines). */
struct vkey {
    uint64_t key;  /* 0 = empty way */
    uint32_t last; /* last observation, seconds */
    uint32_t n;    /* recipients in recs */
};

struct vrec {
    uint32_t rh; /* recipient hash (low 32 bits) */
    uint32_t t;  /* last seen, seconds */
};

struct volume_table {
    struct vkey *keys;  /* nbuckets * VOLUME_WAYS */
    struct vrec *recs;  /* (nbuckets * VOLUME_WAYS) * cap */
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
    t->recs = calloc(nk * t->cap, sizeof *t->recs);
    if (!t->keys || !t->recs) {
        volume_free(t);
        return NULL;
    }
    t->st.max_keys = nk;
    t->st.bytes = sizeof *t + nk * sizeof *t->keys + nk * t->cap * sizeof *t->recs;
    return t;
}

void volume_free(volume_table_t *t)
{
    if (!t)
        return;
    free(t->keys);
    free(t->recs);
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

static struct vrec *recs_of(const volume_table_t *t, const struct vkey *k)
{
    return &t->recs[(size_t)(k - t->keys) * t->cap];
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
        t->st.keys_inserted++;
    }
    if (now < k->last)
        now = k->last;
    struct vrec *r = recs_of(t, k);
    uint32_t rh = (uint32_t)recipient;
    int found = 0;
    unsigned out = 0, oldest = 0;
    /* One pass (bound: cap = N+1): drop recipients that left the window,
     * refresh this one if present, remember the oldest survivor. */
    for (unsigned i = 0; i < k->n; i++) {
        if (!in_window(t, r[i].t, now))
            continue;
        if (r[i].rh == rh) {
            r[i].t = now;
            found = 1;
        }
        r[out] = r[i];
        if (r[out].t < r[oldest].t)
            oldest = out;
        out++;
    }
    k->n = out;
    if (!found) {
        if (k->n < t->cap) {
            r[k->n].rh = rh;
            r[k->n].t = now;
            k->n++;
        } else {
            /* Already past the threshold: keep the set at N+1 by replacing
             * the oldest, so the newest recipients define the window. */
            r[oldest].rh = rh;
            r[oldest].t = now;
            t->st.overwrites++;
        }
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
        const struct vrec *r = recs_of(t, &b[w]);
        if (now < b[w].last)
            now = b[w].last;
        unsigned n = 0;
        for (unsigned i = 0; i < b[w].n; i++)
            n += in_window(t, r[i].t, now);
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
