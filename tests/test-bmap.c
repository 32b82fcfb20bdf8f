#include <stdlib.h>

#include "bmap.h"
#include "testutil.h"

static int evicted;
static uint64_t last_evicted;
static void on_evict(void *ctx, uint64_t key, void *v)
{
    (void)ctx; (void)v;
    evicted++;
    last_evicted = key;
}

int main(void)
{
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
    return test_summary();
}
