#include <stdlib.h>

#include "bmap.h"
#include "testutil.h"

static int evicted;
static uint64_t last_evicted;
static uint8_t live[1u << 16];
static void on_evict_live(void *ctx, uint64_t key, void *v)
{
    (void)ctx; (void)v;
    live[key] = 0;
}

static void on_evict(void *ctx, uint64_t key, void *v)
{
    (void)ctx; (void)v;
    evicted++;
    last_evicted = key;
}

/* The same put into a bfifo and a BMAP_FIFO bmap of its capacity. */
static void put_both(bfifo_t *f, bmap_t *m, uint64_t key, uint64_t i)
{
    int created;
    bfifo_put(f, key, i, ~i);
    uint64_t *v = bmap_put(m, key, &created);
    v[0] = i;
    v[1] = ~i;
}

/* 1 when the two disagree on key: held by one only, or other words. */
static int differ(const bfifo_t *f, bmap_t *m, uint64_t key)
{
    const uint64_t *a = bfifo_get(f, key);
    const uint64_t *b = bmap_get(m, key);
    return (a == NULL) != (b == NULL) || (a && (a[0] != b[0] || a[1] != b[1]));
}

/* bmap_put_raw(), bmap_get_slot() and bmap_remove_slot() against
 * bmap_put(), bmap_get() and bmap_remove(): two maps of each order fed
 * the same random operations (small capacity, so that evictions happen)
 * hold the same keys with the same values, in the same eviction order.
 * The raw put's value is written whole by the test, as its callers do. */
static void test_slot_api(enum bmap_order order)
{
    bmap_t *a = bmap_new(64, 2 * sizeof(uint64_t), order, NULL, NULL);
    bmap_t *b = bmap_new(64, 2 * sizeof(uint64_t), order, NULL, NULL);
    CHECK(a != NULL && b != NULL);
    uint64_t x = 0x2545F4914F6CDD1DULL;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t key = (x >> 8) % 1000;
        int created_a, created_b;
        uint32_t slot;
        switch (x & 3) {
        case 0: {
            uint64_t *va = bmap_put(a, key, &created_a);
            uint64_t *vb = bmap_put_raw(b, key, &created_b, i & 4 ? &slot : NULL);
            if (created_b)
                vb[0] = vb[1] = 0;
            bad += created_a != created_b || va[0] != vb[0] || va[1] != vb[1];
            va[0] = vb[0] = (uint64_t)i;
            va[1] = vb[1] = key;
            break;
        }
        case 1: {
            uint64_t *va = bmap_get(a, key);
            uint64_t *vb = bmap_get_slot(b, key, &slot);
            bad += (va == NULL) != (vb == NULL) || (va && (va[0] != vb[0] || va[1] != vb[1]));
            if (vb && (x & 16)) { /* a lookup, then removal by its slot */
                bad += bmap_remove(a, key) != 1;
                bmap_remove_slot(b, slot);
            }
            break;
        }
        case 2: {
            /* removal through the slot a raw put returned */
            uint64_t *va = bmap_put(a, key, &created_a);
            uint64_t *vb = bmap_put_raw(b, key, &created_b, &slot);
            if (created_b)
                vb[0] = vb[1] = 0;
            bad += created_a != created_b || va[0] != vb[0] || va[1] != vb[1];
            bad += bmap_remove(a, key) != 1;
            bmap_remove_slot(b, slot);
            break;
        }
        default:
            bad += bmap_remove(a, key) != bmap_remove(b, key);
            break;
        }
        uint64_t ka = 0, kb = 0;
        uint64_t *oa = bmap_oldest(a, &ka), *ob = bmap_oldest(b, &kb);
        bad += (oa == NULL) != (ob == NULL) || ka != kb || bmap_count(a) != bmap_count(b);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bmap_evictions(a), bmap_evictions(b));
    CHECK(bmap_evictions(a) > 10000); /* the eviction path ran too */
    bmap_free(a);
    bmap_free(b);
}

/* A queue (bmap_new_queue): appends in order, removal by slot from
 * anywhere, the oldest evicted (and handed to on_evict) when full, and
 * slots reused; checked against a model of what it holds. */
static uint64_t queue_evicted[64];
static int n_queue_evicted;
static void on_queue_evict(void *ctx, uint64_t key, void *v)
{
    (void)ctx;
    CHECK_EQ_INT(*(uint64_t *)v, key * 7);
    if (n_queue_evicted < 64)
        queue_evicted[n_queue_evicted++] = key;
}

static void test_queue(void)
{
    bmap_t *q = bmap_new_queue(4, sizeof(uint64_t), on_queue_evict, NULL);
    CHECK(q != NULL);
    uint32_t slot[16];
    for (uint64_t k = 1; k <= 4; k++) {
        uint64_t *v = bmap_append(q, k, &slot[k]);
        CHECK(v != NULL);
        *v = k * 7;
    }
    CHECK_EQ_INT(bmap_count(q), 4);
    CHECK_EQ_INT(n_queue_evicted, 0);
    /* 2 leaves from the middle, 1 from the head: 3 is the oldest */
    bmap_remove_slot(q, slot[2]);
    bmap_remove_slot(q, slot[1]);
    uint64_t k;
    CHECK(bmap_oldest(q, &k) != NULL);
    CHECK_EQ_INT(k, 3);
    CHECK_EQ_INT(*(uint64_t *)bmap_oldest(q, NULL), 21);
    CHECK_EQ_INT(bmap_count(q), 2);
    /* 5 and 6 take the freed slots; 7 and 8 evict 3 and 4, in order */
    for (uint64_t j = 5; j <= 8; j++)
        *(uint64_t *)bmap_append(q, j, &slot[j]) = j * 7;
    CHECK_EQ_INT(bmap_count(q), 4);
    CHECK_EQ_INT(n_queue_evicted, 2);
    CHECK_EQ_INT(queue_evicted[0], 3);
    CHECK_EQ_INT(queue_evicted[1], 4);
    CHECK_EQ_INT(bmap_evictions(q), 2);
    CHECK(bmap_oldest(q, &k) != NULL);
    CHECK_EQ_INT(k, 5);
    /* values stay where they were put: each slot still holds its own */
    for (uint64_t j = 5; j <= 8; j++) {
        CHECK_EQ_INT(*(uint64_t *)bmap_oldest(q, &k), j * 7);
        CHECK_EQ_INT(k, j);
        bmap_remove_slot(q, slot[j]);
    }
    CHECK_EQ_INT(bmap_count(q), 0);
    CHECK(bmap_oldest(q, NULL) == NULL);
    /* no probe table */
    bmap_t *ix = bmap_new(4, sizeof(uint64_t), BMAP_FIFO, NULL, NULL);
    CHECK(bmap_memory(q) < bmap_memory(ix));
    bmap_free(ix);
    bmap_free(q);
}

int main(void)
{
    test_slot_api(BMAP_FIFO);
    test_slot_api(BMAP_LRU);
    test_queue();
    bmap_t *m = bmap_new(4, sizeof(int), BMAP_LRU, on_evict, NULL);
    CHECK(m != NULL);
    int created;
    for (uint64_t k = 1; k <= 4; k++) {
        int *v = bmap_put(m, k, &created);
        CHECK(created == 1);
        *v = (int)k * 10;
    }
    CHECK_EQ_INT(bmap_count(m), 4);
    /* Touch 1 so that 2 becomes the least recently used. */
    CHECK_EQ_INT(*(int *)bmap_get(m, 1), 10);
    bmap_put(m, 5, &created);
    CHECK_EQ_INT(evicted, 1);
    CHECK_EQ_INT(last_evicted, 2);
    CHECK(bmap_get(m, 2) == NULL);
    CHECK(bmap_get(m, 1) != NULL);
    CHECK_EQ_INT(bmap_remove(m, 3), 1);
    CHECK_EQ_INT(bmap_remove(m, 3), 0);
    CHECK_EQ_INT(bmap_count(m), 3);
    uint64_t k;
    CHECK(bmap_oldest(m, &k) != NULL);
    CHECK_EQ_INT(k, 4);
    bmap_free(m);

    /* Churn with colliding probe positions: a million keys through a small
     * map must keep every live key reachable (backward-shift deletion). */
    evicted = 0;
    m = bmap_new(1000, sizeof(uint64_t), BMAP_FIFO, on_evict, NULL);
    for (uint64_t i = 0; i < 1000000; i++) {
        uint64_t *v = bmap_put(m, i * 7919, &created);
        *v = i;
        if (i % 3 == 0)
            bmap_remove(m, (i / 2) * 7919);
    }
    int bad = 0;
    for (uint64_t i = 999000; i < 1000000; i++) {
        uint64_t *v = bmap_get(m, i * 7919);
        if (v && *v != i)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(bmap_count(m) <= 1000);
    CHECK(bmap_evictions(m) > 900000);
    CHECK_EQ_INT((uint64_t)evicted, bmap_evictions(m));
    bmap_free(m);

    /* FIFO: a lookup does not save an entry from eviction. */
    evicted = 0;
    m = bmap_new(2, sizeof(int), BMAP_FIFO, on_evict, NULL);
    bmap_put(m, 1, &created);
    bmap_put(m, 2, &created);
    CHECK(bmap_get(m, 1) != NULL);
    bmap_put(m, 3, &created);
    CHECK_EQ_INT(last_evicted, 1);
    CHECK(bmap_get(m, 2) != NULL && bmap_get(m, 3) != NULL);
    bmap_free(m);

    /* Keys that count up share groups of four probe cells: runs of
     * consecutive keys with removals in between (requests answered out of
     * order) must all stay reachable, against a plain array. */
    m = bmap_new(4096, sizeof(uint64_t), BMAP_FIFO, on_evict_live, NULL);
    bad = 0;
    uint64_t x = 88172645463325252ULL;
    for (uint64_t i = 0; i < 200000; i++) {
        uint64_t key = i & 0xffff;
        uint64_t *v = bmap_put(m, key, &created);
        *v = key * 3;
        live[key] = 1;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t victim = (i - (x % 64)) & 0xffff;  /* one of the last 64 */
        if (i >= 64 && live[victim]) {
            CHECK_EQ_INT(bmap_remove(m, victim), 1);
            live[victim] = 0;
        }
    }
    for (uint64_t key = 0; key < (1u << 16); key++) {
        uint64_t *v = bmap_get(m, key);
        if (live[key] ? !v || *v != key * 3 : v != NULL)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    bmap_free(m);

    /* bfifo: FIFO eviction, counted; a key put again keeps its place and
     * takes the new words. */
    bfifo_t *f = bfifo_new(3);
    CHECK(f != NULL);
    bfifo_put(f, 10, 1, 100);
    bfifo_put(f, 20, 2, 200);
    bfifo_put(f, 30, 3, 300);
    bfifo_put(f, 10, 4, 400);  /* present: no eviction, new words */
    CHECK_EQ_INT(bfifo_count(f), 3);
    CHECK_EQ_INT(bfifo_evictions(f), 0);
    const uint64_t *w = bfifo_get(f, 10);
    CHECK(w != NULL && w[0] == 4 && w[1] == 400);
    bfifo_put(f, 40, 5, 500);  /* evicts 10, the oldest, despite the update */
    CHECK(bfifo_get(f, 10) == NULL);
    CHECK_EQ_INT(bfifo_evictions(f), 1);
    bfifo_put(f, 50, 6, 600);  /* evicts 20 */
    CHECK(bfifo_get(f, 20) == NULL);
    w = bfifo_get(f, 30);
    CHECK(w != NULL && w[0] == 3 && w[1] == 300);
    CHECK(bfifo_get(f, 40) != NULL && bfifo_get(f, 50) != NULL);
    CHECK_EQ_INT(bfifo_count(f), 3);
    bfifo_prefetch(f, 12345);  /* a hint only */
    bfifo_free(f);
    bfifo_free(NULL);

    /* bfifo against a BMAP_FIFO bmap of the same capacity: the same keys
     * (with repeats, colliding low bits and 0) in, the same entries kept,
     * the same evictions, over many wraps of the ring. */
    f = bfifo_new(1000);
    m = bmap_new(1000, 2 * sizeof(uint64_t), BMAP_FIFO, NULL, NULL);
    bad = 0;
    x = 2463534242ULL;
    for (uint64_t i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t key = (x % 3000) * 0x100000001ULL;  /* repeats, key 0 included */
        put_both(f, m, key, i);
        if (i % 1000 == 999)
            for (uint64_t j = 0; j < 3000; j++)
                bad += differ(f, m, j * 0x100000001ULL);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bfifo_count(f), bmap_count(m));
    CHECK_EQ_INT(bfifo_evictions(f), bmap_evictions(m));
    CHECK(bfifo_evictions(f) > 100000);
    CHECK(bfifo_memory(f) > 1000 * 32);
    bfifo_free(f);
    bmap_free(m);

    /* The same with keys that count up, as an SMSC's message ids do (+1 to
     * +3, a recent one now and then again): they fill whole groups of
     * eight cells (bfifo_hash keeps the three low bits) and spill into the
     * next, so the backward shift of each eviction crosses groups. */
    f = bfifo_new(1000);
    m = bmap_new(1000, 2 * sizeof(uint64_t), BMAP_FIFO, NULL, NULL);
    bad = 0;
    x = 88172645463325252ULL;
    uint64_t ctr = 1u << 20;
    for (uint64_t i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ctr += 1 + x % 3;
        uint64_t key = (x & 0x700) == 0 ? ctr - (x >> 32) % 1500 : ctr;
        put_both(f, m, key, i);
        if (i % 1000 == 999)
            for (uint64_t j = ctr - 3000; j <= ctr; j++)
                bad += differ(f, m, j);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bfifo_count(f), bmap_count(m));
    CHECK_EQ_INT(bfifo_evictions(f), bmap_evictions(m));
    CHECK(bfifo_evictions(f) > 100000);
    bfifo_free(f);
    bmap_free(m);
    CHECK(bfifo_new(0) == NULL);
    return test_summary();
}
