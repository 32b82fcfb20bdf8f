/* The sender memo (filter/sender-memo.h): a sender's hits are found only
 * by its exact bytes, a newer sender takes an older one's slot, nothing
 * longer than a slot holds is stored, and a clear forgets everything. */
#include <stdio.h>
#include <string.h>

#include "sender-memo.h"
#include "testutil.h"

static void test_store_find(void)
{
    sender_memo_t *m = sender_memo_new(64);
    CHECK(m != NULL);
    uint32_t hits[SENDER_MEMO_HITS];
    static const uint32_t found[] = {12, 3, 40};
    CHECK_EQ_INT(sender_memo_find(m, 77, "QIWI", 4, hits), -1);
    sender_memo_store(m, 77, "QIWI", 4, found, 3);
    CHECK_EQ_INT(sender_memo_find(m, 77, "QIWI", 4, hits), 3);
    CHECK(hits[0] == 12 && hits[1] == 3 && hits[2] == 40);
    /* No hits is an answer too: most senders match no rule. */
    sender_memo_store(m, 5ull << 40, "900", 3, NULL, 0);
    CHECK_EQ_INT(sender_memo_find(m, 5ull << 40, "900", 3, hits), 0);
    /* Only the exact bytes find it: another sender under the same hash (a
     * collision), a prefix, a case change. */
    CHECK_EQ_INT(sender_memo_find(m, 77, "QIWl", 4, hits), -1);
    CHECK_EQ_INT(sender_memo_find(m, 77, "QIW", 3, hits), -1);
    CHECK_EQ_INT(sender_memo_find(m, 77, "qiwi", 4, hits), -1);
    /* A newer sender in the slot replaces the older one. */
    static const uint32_t one[] = {9};
    sender_memo_store(m, 77, "SBER", 4, one, 1);
    CHECK_EQ_INT(sender_memo_find(m, 77, "QIWI", 4, hits), -1);
    CHECK_EQ_INT(sender_memo_find(m, 77, "SBER", 4, hits), 1);
    CHECK(hits[0] == 9);
    sender_memo_free(m);
    sender_memo_free(NULL);
}

static void test_bounds(void)
{
    sender_memo_t *m = sender_memo_new(16);
    CHECK(m != NULL);
    uint32_t hits[SENDER_MEMO_HITS];
    static const uint32_t many[SENDER_MEMO_HITS + 1] = {1, 2, 3, 4, 5, 6, 7};
    /* More hits than a slot holds: not stored; exactly as many: stored. */
    sender_memo_store(m, 1, "TooMany", 7, many, SENDER_MEMO_HITS + 1);
    CHECK_EQ_INT(sender_memo_find(m, 1, "TooMany", 7, hits), -1);
    sender_memo_store(m, 1, "TooMany", 7, many, SENDER_MEMO_HITS);
    CHECK_EQ_INT(sender_memo_find(m, 1, "TooMany", 7, hits), SENDER_MEMO_HITS);
    CHECK(hits[SENDER_MEMO_HITS - 1] == SENDER_MEMO_HITS);
    /* A sender longer than a slot holds (data_sm allows 65 octets), and an
     * empty one: never stored, never found. */
    char longer[SENDER_MEMO_KEY_MAX + 2];
    memset(longer, 'A', sizeof longer);
    sender_memo_store(m, 2, longer, sizeof longer, NULL, 0);
    CHECK_EQ_INT(sender_memo_find(m, 2, longer, sizeof longer, hits), -1);
    sender_memo_store(m, 2, longer, SENDER_MEMO_KEY_MAX, NULL, 0);
    CHECK_EQ_INT(sender_memo_find(m, 2, longer, SENDER_MEMO_KEY_MAX, hits), 0);
    sender_memo_store(m, 3, "", 0, NULL, 0);
    CHECK_EQ_INT(sender_memo_find(m, 3, "", 0, hits), -1);
    sender_memo_free(m);
    CHECK(sender_memo_new(SENDER_MEMO_MAX_ENTRIES + 1) == NULL);
}

/* A clear forgets every sender at once; the memo works again after. */
static void test_clear(void)
{
    sender_memo_t *m = sender_memo_new(1024);
    CHECK(m != NULL);
    uint32_t hits[SENDER_MEMO_HITS];
    char s[16];
    for (uint64_t i = 0; i < 1024; i++) {
        int n = snprintf(s, sizeof s, "S%llu", (unsigned long long)i);
        sender_memo_store(m, i << 40, s, (size_t)n, NULL, 0);
    }
    int found = 0;
    for (uint64_t i = 0; i < 1024; i++) {
        int n = snprintf(s, sizeof s, "S%llu", (unsigned long long)i);
        found += sender_memo_find(m, i << 40, s, (size_t)n, hits) == 0;
    }
    CHECK_EQ_INT(found, 1024);
    sender_memo_clear(m);
    for (uint64_t i = 0; i < 1024; i++) {
        int n = snprintf(s, sizeof s, "S%llu", (unsigned long long)i);
        CHECK_EQ_INT(sender_memo_find(m, i << 40, s, (size_t)n, hits), -1);
    }
    static const uint32_t one[] = {4};
    sender_memo_store(m, 0, "S0", 2, one, 1);
    CHECK_EQ_INT(sender_memo_find(m, 0, "S0", 2, hits), 1);
    sender_memo_free(m);
}

/* A memo of no entries holds nothing. */
static void test_empty(void)
{
    sender_memo_t *m = sender_memo_new(0);
    CHECK(m != NULL);
    uint32_t hits[SENDER_MEMO_HITS];
    sender_memo_store(m, 1, "QIWI", 4, NULL, 0);
    CHECK_EQ_INT(sender_memo_find(m, 1, "QIWI", 4, hits), -1);
    sender_memo_clear(m);
    sender_memo_free(m);
}

int main(void)
{
    test_store_find();
    test_bounds();
    test_clear();
    test_empty();
    return test_summary();
}
