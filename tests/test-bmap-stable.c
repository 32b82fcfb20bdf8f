/* bmap.h's address guarantee, which the decoder relies on to keep a
 * request or a held message across operations on other keys without
 * looking it up again: a value stays where bmap_put returned it until its
 * own key is removed or evicted, whatever is put, got, removed and evicted
 * meanwhile (backward-shift deletions move probe cells, never values), in
 * both orders. */
#include <stdlib.h>

#include "bmap.h"
#include "testutil.h"

#define CAP 512u
#define KEYS 4096u

static void *where[KEYS];   /* address bmap_put returned, NULL when gone */
static uint64_t stamp[KEYS]; /* what the value holds */

static void on_evict(void *ctx, uint64_t key, void *v)
{
    (void)ctx;
    CHECK(where[key] == v);
    where[key] = NULL;
}

static void run(enum bmap_order order)
{
    bmap_t *m = bmap_new(CAP, sizeof(uint64_t) * 3, order, on_evict, NULL);
    CHECK(m != NULL);
    if (!m)
        return;
    for (unsigned k = 0; k < KEYS; k++)
        where[k] = NULL;
    uint64_t rnd = 0x9e3779b97f4a7c15ULL;
    for (unsigned step = 0; step < 200000; step++) {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 7;
        rnd ^= rnd << 17;
        /* Keys cluster (sequence numbers count up in the decoder): half
         * from a sliding window, half anywhere. */
        unsigned k = (rnd & 1) ? (unsigned)((step / 64 + (rnd >> 8) % 16) % KEYS) : (unsigned)((rnd >> 8) % KEYS);
        switch ((rnd >> 40) % 4) {
        case 0:
        case 1: {
            int created;
            uint64_t *v = bmap_put(m, k, &created);
            if (created) {
                CHECK(where[k] == NULL);
                where[k] = v;
                stamp[k] = rnd;
                v[0] = k;
                v[1] = rnd;
            } else {
                CHECK(where[k] == v);
            }
            break;
        }
        case 2: {
            uint64_t *v = bmap_get(m, k);
            CHECK(v == where[k]);
            if (v)
                CHECK(v[0] == k && v[1] == stamp[k]);
            break;
        }
        default:
            CHECK_EQ_INT(bmap_remove(m, k), where[k] != NULL);
            where[k] = NULL;
            break;
        }
    }
    /* Everything still held is where it was put, with what was written. */
    unsigned held = 0;
    for (unsigned k = 0; k < KEYS; k++) {
        if (!where[k])
            continue;
        held++;
        uint64_t *v = where[k];
        CHECK(bmap_get(m, k) == v);
        CHECK(v[0] == k && v[1] == stamp[k]);
    }
    CHECK_EQ_INT(held, bmap_count(m));
    CHECK(bmap_evictions(m) > 0);
    bmap_free(m);
}

int main(void)
{
    run(BMAP_LRU);
    run(BMAP_FIFO);
    return test_summary();
}
