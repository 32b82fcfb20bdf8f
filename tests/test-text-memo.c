/* The text memo (filter/text-memo.h): texts are admitted the second time
 * they are seen, found only by their exact bytes, forgotten on clear, and
 * nothing larger than an entry holds is stored. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "text-memo.h"

static struct text_memo_findings findings(const char *norm, uint64_t fp)
{
    static const uint32_t text_hits[] = {7, 3}, raw_hits[] = {12};
    static struct url_hit url = {.off = 4, .len = 9, .flags = 0, .host_len = 8, .host = "x.top/ab"};
    return (struct text_memo_findings){
        .fp = fp, .norm = norm, .normlen = strlen(norm), .case_only = true,
        .urls = &url, .n_urls = 1,
        .hits = {text_hits, raw_hits}, .n_hits = {2, 1},
    };
}

static void test_admit_store_find(void)
{
    text_memo_t *m = text_memo_new(64);
    CHECK(m != NULL);
    const char *t = "Scidka 20% na vse: http://x.top/ab";
    size_t n = strlen(t);
    uint64_t h = text_memo_hash(t, n);
    CHECK(text_memo_find(m, h, t, n) == NULL);
    CHECK(!text_memo_admit(m, h, n)); /* first sight: noted only */
    CHECK(text_memo_admit(m, h, n));  /* second: store it */
    struct text_memo_findings f = findings("scidka 20% na vse: http://x.top/ab", 0x1234);
    CHECK(text_memo_store(m, h, t, n, &f));
    const struct text_memo_value *v = text_memo_find(m, h, t, n);
    CHECK(v != NULL);
    if (v) {
        CHECK_EQ_STR(v->norm, f.norm);
        CHECK_EQ_INT(v->normlen, f.normlen);
        CHECK(v->fp == 0x1234 && v->case_only == 1);
        CHECK_EQ_INT(v->n_urls, 1);
        CHECK_EQ_STR(v->urls[0].host, "x.top/ab");
        CHECK_EQ_INT(v->urls[0].len, 9);
        CHECK_EQ_INT(v->n_hits[0], 2);
        CHECK_EQ_INT(v->n_hits[1], 1);
        CHECK(v->hits[0][0] == 7 && v->hits[0][1] == 3 && v->hits[1][0] == 12);
    }
    /* Only the exact bytes find it: another text under the same hash (a
     * collision), a prefix, one byte changed. */
    const char *other = "Scidka 30% na vse: http://x.top/ab";
    CHECK(text_memo_find(m, h, other, n) == NULL);
    CHECK(text_memo_find(m, h, t, n - 1) == NULL);
    CHECK(text_memo_find(m, text_memo_hash(other, n), other, n) == NULL);
    /* A clear forgets the text and its admission. */
    text_memo_clear(m);
    CHECK(text_memo_find(m, h, t, n) == NULL);
    CHECK(!text_memo_admit(m, h, n));
    CHECK(text_memo_admit(m, h, n));
    text_memo_free(m);
}

static void test_bounds(void)
{
    text_memo_t *m = text_memo_new(8);
    CHECK(m != NULL);
    char longer[TEXT_MEMO_TEXT_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    size_t n = strlen(longer);
    uint64_t h = text_memo_hash(longer, n);
    CHECK(!text_memo_admit(m, h, n));
    CHECK(!text_memo_admit(m, h, n)); /* never admitted */
    struct text_memo_findings f = findings("a", 1);
    CHECK(!text_memo_store(m, h, longer, n, &f));
    CHECK(text_memo_find(m, h, longer, n) == NULL);

    /* At the limits it is stored; past any of them, not. */
    const char *t = "hello";
    h = text_memo_hash(t, 5);
    static char norm[TEXT_MEMO_NORM_MAX + 2];
    memset(norm, 'n', TEXT_MEMO_NORM_MAX + 1);
    f = findings(norm, 2);
    f.normlen = TEXT_MEMO_NORM_MAX + 1;
    CHECK(!text_memo_store(m, h, t, 5, &f));
    f.normlen = TEXT_MEMO_NORM_MAX;
    CHECK(text_memo_store(m, h, t, 5, &f));
    const struct text_memo_value *v = text_memo_find(m, h, t, 5);
    CHECK(v != NULL && v->normlen == TEXT_MEMO_NORM_MAX && v->norm[TEXT_MEMO_NORM_MAX] == '\0');
    static const uint32_t many[TEXT_MEMO_HITS + 1] = {1, 2, 3, 4, 5};
    f = findings("hello", 3);
    f.hits[1] = many;
    f.n_hits[1] = TEXT_MEMO_HITS + 1;
    CHECK(!text_memo_store(m, h, t, 5, &f));
    f.n_hits[1] = TEXT_MEMO_HITS;
    CHECK(text_memo_store(m, h, t, 5, &f));
    f.n_urls = TEXT_MEMO_URLS + 1;
    CHECK(!text_memo_store(m, h, t, 5, &f));
    /* a field without hits may have no list */
    f = findings("hello", 4);
    f.hits[0] = NULL;
    f.n_hits[0] = 0;
    CHECK(text_memo_store(m, h, t, 5, &f));
    v = text_memo_find(m, h, t, 5);
    CHECK(v != NULL && v->fp == 4 && v->n_hits[0] == 0);
    text_memo_free(m);

    /* No entries: nothing kept, nothing admitted. */
    m = text_memo_new(0);
    CHECK(m != NULL);
    CHECK(!text_memo_admit(m, h, 5));
    CHECK(!text_memo_admit(m, h, 5));
    CHECK(!text_memo_store(m, h, t, 5, &f));
    CHECK(text_memo_find(m, h, t, 5) == NULL);
    text_memo_free(m);
    CHECK(text_memo_new(TEXT_MEMO_MAX_ENTRIES + 1) == NULL);
    text_memo_free(NULL);
}

/* Texts sharing a slot: the newer one holds it, the older is not found
 * (never another's findings). */
static void test_slot_replacement(void)
{
    text_memo_t *m = text_memo_new(1);
    CHECK(m != NULL);
    const char *a = "first text", *b = "second text";
    uint64_t ha = text_memo_hash(a, strlen(a)), hb = text_memo_hash(b, strlen(b));
    struct text_memo_findings fa = findings("first text", 10), fb = findings("second text", 20);
    CHECK(text_memo_store(m, ha, a, strlen(a), &fa));
    CHECK(text_memo_store(m, hb, b, strlen(b), &fb));
    CHECK(text_memo_find(m, ha, a, strlen(a)) == NULL);
    const struct text_memo_value *v = text_memo_find(m, hb, b, strlen(b));
    CHECK(v != NULL && v->fp == 20);
    text_memo_free(m);
}

int main(void)
{
    test_admit_store_find();
    test_bounds();
    test_slot_replacement();
    return test_summary();
}
