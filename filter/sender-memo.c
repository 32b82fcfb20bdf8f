/* The sender memo: sender-memo.h. */
#include "sender-memo.h"

#include <stdlib.h>
#include <string.h>

/* A slot, one cache line: the sender's bytes kept whole (compared on
 * every find), its hits, and the epoch it was stored in. */
struct entry {
    uint32_t epoch; /* the memo's epoch when stored; another epoch: empty */
    uint8_t len;
    uint8_t n_hits;
    uint16_t pad;
    char sender[SENDER_MEMO_KEY_MAX];
    uint32_t hits[SENDER_MEMO_HITS];
};
_Static_assert(sizeof(struct entry) == 64, "a slot is one cache line");

struct sender_memo {
    size_t mask;    /* slots - 1 */
    uint32_t epoch; /* starts at 1: calloc's zeroes are empty */
    struct entry *slots; /* NULL for a memo of no entries */
};

sender_memo_t *sender_memo_new(size_t entries)
{
    if (entries > SENDER_MEMO_MAX_ENTRIES)
        return NULL;
    sender_memo_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->epoch = 1;
    if (entries == 0)
        return m;
    size_t n = 1;
    while (n < entries)
        n <<= 1;
    m->mask = n - 1;
    m->slots = aligned_alloc(64, n * sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    memset(m->slots, 0, n * sizeof *m->slots);
    return m;
}

void sender_memo_free(sender_memo_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}

void sender_memo_clear(sender_memo_t *m)
{
    if (!m || !m->slots)
        return;
    if (++m->epoch == 0) { /* wrapped: old epochs would read as current */
        memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
        m->epoch = 1;
    }
}

/* The slot hash picks: its high bits, which XXH3 mixes as well as the
 * low ones, and which the caller's other tables (volume buckets) use too. */
static struct entry *slot_of(const sender_memo_t *m, uint64_t hash)
{
    return &m->slots[(hash >> 40) & m->mask];
}

int sender_memo_find(const sender_memo_t *m, uint64_t hash, const char *sender, size_t len,
                     uint32_t hits[SENDER_MEMO_HITS])
{
    if (!m->slots || len == 0 || len > SENDER_MEMO_KEY_MAX)
        return -1;
    const struct entry *e = slot_of(m, hash);
    if (e->epoch != m->epoch || e->len != len || memcmp(e->sender, sender, len) != 0)
        return -1;
    memcpy(hits, e->hits, e->n_hits * sizeof *hits);
    return e->n_hits;
}

void sender_memo_store(sender_memo_t *m, uint64_t hash, const char *sender, size_t len,
                       const uint32_t *hits, size_t n)
{
    if (!m->slots || len == 0 || len > SENDER_MEMO_KEY_MAX || n > SENDER_MEMO_HITS)
        return;
    struct entry *e = slot_of(m, hash);
    e->epoch = m->epoch;
    e->len = (uint8_t)len;
    e->n_hits = (uint8_t)n;
    memcpy(e->sender, sender, len);
    if (n)
        memcpy(e->hits, hits, n * sizeof *hits);
}
