/* Posting lists (store/postings.c): the bytes of known lists, round trips
 * of lists the writer makes and of extreme ones, the bound, and damaged
 * lists read from a database. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postings.h"
#include "testutil.h"

static unsigned char buf[POSTINGS_BYTES_MAX];

/* Encodes n entries; returns the length. */
static size_t encode(const struct posting *e, size_t n)
{
    struct postings_writer w;
    postings_begin(&w, buf);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(postings_add(&w, e[i].ts, e[i].id), 0);
    CHECK_EQ_INT(postings_count(&w), n);
    return postings_len(&w);
}

/* Decodes blob; the entries in out (at most cap), their number, or -1 for
 * a damaged list. */
static long decode(const void *blob, size_t len, struct posting *out, size_t cap)
{
    struct postings_reader r;
    struct posting p;
    size_t n = 0;
    int got;
    if (postings_open(&r, blob, len) != 0)
        return -1;
    for (; (got = postings_next(&r, &p)) == 1; n++)
        if (n < cap)
            out[n] = p;
    /* Damage is final: the reader gives nothing more. */
    if (got < 0)
        CHECK_EQ_INT(postings_next(&r, &p), 0);
    return got < 0 ? -1 : (long)n;
}

static void round_trip(const struct posting *e, size_t n, const char *what)
{
    static struct posting out[POSTINGS_MAX];
    size_t len = encode(e, n);
    CHECK_MSG(len <= POSTINGS_BYTES_MAX, "%s: %zu bytes", what, len);
    CHECK_MSG(decode(buf, len, out, POSTINGS_MAX) == (long)n, "%s", what);
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(out[i].ts == e[i].ts && out[i].id == e[i].id, "%s: entry %zu", what, i);
}

/* The bytes of the format (postings.h), computed by hand. */
static void test_vectors(void)
{
    static const struct {
        const char *what, *hex;
        struct posting e[3];
        size_t n;
    } v[] = {
        {"one entry: id 1 (zigzag 2), ts 1.8e15 in 8 bytes", "01 02 8080c489e5c5b206",
         {{1800000000000000LL, 1}}, 1},
        {"ids ascending, a time 3 us back (zigzag 5)", "01 52 8080c489e5c5b206 02 14 06 05",
         {{1800000000000000LL, 41}, {1800000000000010LL, 42}, {1800000000000007LL, 45}}, 3},
        {"the extremes: deltas wrap, and come back exact",
         "01 feffffffffffffffff01 ffffffffffffffffff01 02 01",
         {{INT64_MIN, INT64_MAX}, {INT64_MAX, INT64_MIN}}, 2},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t want[64];
        long wn = test_unhex(v[i].hex, want, sizeof want);
        size_t len = encode(v[i].e, v[i].n);
        CHECK_MSG(wn > 0 && len == (size_t)wn && memcmp(buf, want, len) == 0, "%s", v[i].what);
        round_trip(v[i].e, v[i].n, v[i].what);
    }
}

/* What the writer makes: a sender's rows of a transaction in id order,
 * gaps between ids, times mostly rising; and the bound. */
static void test_writer_lists(void)
{
    static struct posting e[POSTINGS_MAX];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int64_t id = 1000000, ts = 1800000000000000LL;
    for (size_t i = 0; i < POSTINGS_MAX; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        id += 1 + (int64_t)(x % 40);
        ts += (int64_t)(x >> 40) % 2000 - 100; /* now and then backwards */
        e[i] = (struct posting){ts, id};
    }
    round_trip(e, POSTINGS_MAX, "POSTINGS_MAX writer-like entries");
    size_t len = encode(e, POSTINGS_MAX);
    /* About 1 byte an id delta and 2 a time delta: far below a key-table
     * entry's 27. */
    CHECK_MSG(len < 4 * POSTINGS_MAX, "%zu bytes", len);

    struct postings_writer w;
    postings_begin(&w, buf);
    for (size_t i = 0; i < POSTINGS_MAX; i++)
        postings_add(&w, e[i].ts, e[i].id);
    size_t full = postings_len(&w);
    CHECK_EQ_INT(postings_add(&w, 1, 1), -1);
    CHECK_EQ_INT(postings_len(&w), full);
    CHECK_EQ_INT(postings_count(&w), POSTINGS_MAX);
}

/* Lists a damaged database could hand back. */
static void test_damaged(void)
{
    static const struct {
        const char *what, *hex;
    } bad[] = {
        {"empty", ""},
        {"the version byte alone", "01"},
        {"version 2", "02 02 02"},
        {"version 0", "00 02 02"},
        {"an id without its time", "01 02 02 04"},
        {"a time cut short", "01 02 8080"},
        {"an id varint of 11 bytes", "01 8080808080808080808001 02"},
        {"a tenth byte above 1", "01 ffffffffffffffffff02 02"},
        {"a tenth byte with more to come", "01 ffffffffffffffffff81 00 02"},
    };
    struct posting out[4];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t b[64];
        long n = test_unhex(bad[i].hex, b, sizeof b);
        CHECK_MSG(n >= 0 && decode(b, (size_t)n, out, 4) == -1, "%s", bad[i].what);
    }
    CHECK_EQ_INT(decode(NULL, 3, out, 4), -1);

    /* One entry more than POSTINGS_MAX: refused at that entry. */
    static unsigned char big[1 + 2 * (POSTINGS_MAX + 1)];
    big[0] = POSTINGS_VERSION;
    memset(big + 1, 0x02, sizeof big - 1);
    CHECK_EQ_INT(decode(big, sizeof big, out, 4), -1);
    CHECK_EQ_INT(decode(big, sizeof big - 2, out, 4), POSTINGS_MAX);
}

int main(void)
{
    test_vectors();
    test_writer_lists();
    test_damaged();
    return test_summary();
}
