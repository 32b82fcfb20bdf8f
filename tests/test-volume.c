/* Volume counters (filter/volume.h): exact distinct counts up to the
 * threshold, the sliding window, the N+1 cap, eviction under a million
 * keys with a fixed table, and its cost. */
#include <stdio.h>
#include <time.h>

#include "testutil.h"
#include "volume.h"

static void test_distinct_and_trigger(void)
{
    volume_table_t *t = volume_new(64, 5, 60);
    CHECK(t != NULL);
    /* the same recipient again and again counts once */
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(volume_observe(t, 42, 1000, 100), 1);
    /* N = 5: recipients 2..5 stay at or below, the 6th (N+1) triggers */
    for (uint64_t r = 1001; r <= 1004; r++)
        CHECK(volume_observe(t, 42, r, 101) <= 5);
    CHECK_EQ_INT(volume_observe(t, 42, 1005, 102), 6);
    /* capped at N+1 however many more */
    for (uint64_t r = 2000; r < 2100; r++)
        CHECK_EQ_INT(volume_observe(t, 42, r, 103), 6);
    struct volume_stats st;
    volume_get_stats(t, &st);
    CHECK(st.overwrites >= 99);
    /* another key is independent */
    CHECK_EQ_INT(volume_observe(t, 43, 1000, 103), 1);
    CHECK_EQ_INT(volume_peek(t, 42, 103), 6);
    CHECK_EQ_INT(volume_peek(t, 44, 103), 0);
    volume_free(t);
}

static void test_window(void)
{
    volume_table_t *t = volume_new(64, 3, 10);
    /* recipients at t = 0, 5, 9: all in (now-10, now] at now = 9 */
    CHECK_EQ_INT(volume_observe(t, 7, 1, 0), 1);
    CHECK_EQ_INT(volume_observe(t, 7, 2, 5), 2);
    CHECK_EQ_INT(volume_observe(t, 7, 3, 9), 3);
    /* at t = 10 the first left the window: 2, 3 and the new 4 */
    CHECK_EQ_INT(volume_observe(t, 7, 4, 10), 3);
    /* refreshing 2 at 14 keeps it; at 15 recipient 3 (t=9) is still in,
     * at 19 it is out */
    CHECK_EQ_INT(volume_observe(t, 7, 2, 14), 3);
    CHECK_EQ_INT(volume_peek(t, 7, 19), 2);
    /* a slow sender never triggers: 1 new recipient every 4 s, window 10,
     * at most 3 in any window */
    for (uint32_t s = 100; s < 1000; s += 4)
        CHECK(volume_observe(t, 8, s, s) <= 3);
    /* time going backwards is clamped, not a wrap-around */
    CHECK_EQ_INT(volume_observe(t, 8, 5, 50), 4); /* 988, 992, 996 and 5 */
    /* forget */
    volume_forget(t, 7);
    CHECK_EQ_INT(volume_peek(t, 7, 19), 0);
    volume_free(t);
}

static void test_bad_args(void)
{
    CHECK(volume_new(0, 5, 10) == NULL);
    CHECK(volume_new(10, 0, 10) == NULL);
    CHECK(volume_new(10, 5, 0) == NULL);
    CHECK(volume_new(10, VOLUME_MAX_THRESHOLD + 1, 10) == NULL);
    volume_free(NULL);
    CHECK_EQ_INT(volume_observe(NULL, 1, 1, 1), 0);
    /* key 0 is usable */
    volume_table_t *t = volume_new(8, 2, 10);
    CHECK_EQ_INT(volume_observe(t, 0, 1, 1), 1);
    CHECK_EQ_INT(volume_observe(t, 0, 2, 1), 2);
    volume_free(t);
}

static void test_million_keys(void)
{
    const size_t keys = 4096;
    volume_table_t *t = volume_new(keys, 50, 600);
    struct volume_stats st;
    volume_get_stats(t, &st);
    CHECK(st.max_keys >= keys && st.max_keys < 2 * keys);
    size_t bytes = st.bytes;
    clock_t c0 = clock();
    /* a million one-message senders, 10 per second: bounded table, every
     * insert past the table size evicts and is counted */
    for (uint64_t k = 1; k <= 1000000; k++)
        volume_observe(t, k * 0x9E3779B97F4A7C15ull, k, (uint32_t)(k / 10));
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    volume_get_stats(t, &st);
    CHECK_EQ_INT(st.observations, 1000000);
    CHECK_EQ_INT(st.keys_inserted, 1000000);
    CHECK_EQ_INT(st.evictions, 1000000 - st.max_keys);
    CHECK(st.evictions_live > 0); /* 6000 keys per window > 4096 slots */
    CHECK_EQ_INT(st.bytes, bytes); /* no growth */
    printf("1e6 keys into %zu slots: %.3f s, %llu evictions (%llu live), %zu bytes\n",
           st.max_keys, secs, (unsigned long long)st.evictions,
           (unsigned long long)st.evictions_live, st.bytes);
    CHECK_MSG(secs < 2.0, "%.3f s", secs);
    /* a heavy sender in the middle of that churn is still caught: it keeps
     * its slot because its last activity is recent (LRU within a bucket) */
    uint64_t spam = 0xdeadbeefull;
    unsigned n = 0;
    for (uint64_t r = 0; r < 60; r++) {
        n = volume_observe(t, spam, r, 100000 + (uint32_t)r);
        for (uint64_t k = 0; k < 200; k++)
            volume_observe(t, (r * 1000 + k) * 0x2545F4914F6CDD1Dull + 7, k, 100000 + (uint32_t)r);
    }
    CHECK_EQ_INT(n, 51);
    volume_free(t);
}

/* One key against a plain model (a list of recipient, last-seen pairs):
 * thresholds around the 8-wide vector blocks of the set scans and up to an
 * account's 2,000, recipient pools smaller and larger than the cap, windows
 * short enough to expire.  Times increase by one per observation, so the
 * oldest entry (the one replaced when the set is full) is unique. */
static void test_against_model(void)
{
    /* 255 and up: the indexed sets (hash + list in last-seen order) */
    static const unsigned thresholds[] = {1, 7, 8, 9, 31, 200, 254, 255, 256, 2000, 5000};
    static const uint32_t windows[] = {5, 50, 1000, 100000};
    static uint32_t mrh[VOLUME_MAX_THRESHOLD + 1], mts[VOLUME_MAX_THRESHOLD + 1];
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t ti = 0; ti < SG_ARRAY_LEN(thresholds); ti++)
        for (size_t wi = 0; wi < SG_ARRAY_LEN(windows); wi++) {
            unsigned thr = thresholds[ti], cap = thr + 1;
            volume_table_t *t = volume_new(64, thr, windows[wi]);
            CHECK(t != NULL);
            unsigned pool = 3 + (unsigned)((ti * 7 + wi * 3) % 4) * thr, mn = 0, bad = 0;
            for (uint32_t now = 1; now <= 20000; now++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                uint32_t r = (uint32_t)(rng % pool) + 1;
                unsigned out = 0;
                for (unsigned i = 0; i < mn; i++) /* expire */
                    if (now - mts[i] < windows[wi])
                        mrh[out] = mrh[i], mts[out++] = mts[i];
                mn = out;
                unsigned i = 0;
                while (i < mn && mrh[i] != r)
                    i++;
                if (i < mn) {
                    mts[i] = now;
                } else if (mn < cap) {
                    mrh[mn] = r, mts[mn++] = now;
                } else {
                    unsigned m = 0;
                    for (unsigned j = 1; j < mn; j++)
                        if (mts[j] < mts[m])
                            m = j;
                    mrh[m] = r, mts[m] = now;
                }
                bad += volume_observe(t, 7, r, now) != mn;
            }
            CHECK_MSG(bad == 0, "threshold %u window %u: %u counts differ from the model", thr,
                      windows[wi], bad);
            volume_free(t);
        }
}

/* Indexed sets (thresholds of 255 and more) under key churn: a key pushed
 * out of its bucket and seen again starts from zero, its hash and list
 * rebuilt; several keys interleave without touching each other; peek agrees
 * with what observe returned, also as recipients leave the window. */
static void test_indexed_keys(void)
{
    volume_table_t *t = volume_new(8, 300, 100); /* one bucket of 8 ways */
    CHECK(t != NULL);
    struct volume_stats st;
    volume_get_stats(t, &st);
    CHECK_EQ_INT(st.max_keys, 8);
    /* 8 keys, 400 recipients each, interleaved: each capped at 301 */
    for (uint32_t r = 0; r < 400; r++)
        for (uint64_t k = 1; k <= 8; k++)
            CHECK_EQ_INT(volume_observe(t, k, r * 8 + k, 10), r < 301 ? r + 1 : 301);
    for (uint64_t k = 1; k <= 8; k++)
        CHECK_EQ_INT(volume_peek(t, k, 10), 301);
    /* a ninth key evicts the least recently active one (key 1) */
    CHECK_EQ_INT(volume_observe(t, 9, 1, 11), 1);
    CHECK_EQ_INT(volume_peek(t, 1, 11), 0);
    CHECK_EQ_INT(volume_observe(t, 1, 5, 12), 1); /* back, from zero */
    for (uint32_t r = 0; r < 50; r++)
        volume_observe(t, 1, 1000 + r, 20 + r);
    CHECK_EQ_INT(volume_peek(t, 1, 69), 51);
    /* time moves on: the entry of 12 left the window at 112, then one a second */
    CHECK_EQ_INT(volume_peek(t, 1, 112), 50);
    CHECK_EQ_INT(volume_peek(t, 1, 130), 39); /* 20..30 out too */
    CHECK_EQ_INT(volume_observe(t, 1, 1049, 130), 39); /* seen again: no new entry */
    CHECK_EQ_INT(volume_observe(t, 1, 77, 130), 40);
    CHECK_EQ_INT(volume_observe(t, 1, 78, 1000), 1);  /* everything else expired */
    volume_forget(t, 1);
    CHECK_EQ_INT(volume_peek(t, 1, 1000), 0);
    CHECK_EQ_INT(volume_observe(t, 1, 78, 1000), 1);
    volume_free(t);
}

/* The prefetches change nothing: two tables fed the same observations,
 * one with prefetches of present, absent and full keys before each, give
 * the same counts (small and indexed sets, NULL tables too). */
static void test_prefetch_changes_nothing(void)
{
    static const unsigned thresholds[] = {5, 300};
    volume_prefetch(NULL, 1);
    volume_prefetch_set(NULL, 1, 2);
    for (size_t ti = 0; ti < sizeof thresholds / sizeof thresholds[0]; ti++) {
        volume_table_t *a = volume_new(64, thresholds[ti], 60);
        volume_table_t *b = volume_new(64, thresholds[ti], 60);
        CHECK(a != NULL && b != NULL);
        if (!a || !b)
            return;
        uint64_t x = 88172645463325252ull;
        int same = 1;
        for (uint32_t i = 0; i < 20000; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t key = x % 97, rcpt = (x >> 20) % 700;
            uint32_t now = i / 50;
            volume_prefetch(b, key);
            volume_prefetch(b, key + 1000); /* absent */
            volume_prefetch_set(b, key, rcpt);
            volume_prefetch_set(b, key + 1000, rcpt);
            if (volume_observe(a, key, rcpt, now) != volume_observe(b, key, rcpt, now))
                same = 0;
        }
        CHECK(same);
        volume_free(a);
        volume_free(b);
    }
}

int main(void)
{
    test_distinct_and_trigger();
    test_window();
    test_bad_args();
    test_against_model();
    test_indexed_keys();
    test_million_keys();
    test_prefetch_changes_nothing();
    return test_summary();
}
