/* The text memo: text-memo.h. */
#include "text-memo.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* A slot.  Its text's bytes are kept whole, so that a hash collision can
 * never hand one text's findings to another. */
struct entry {
    uint64_t hash;
    uint32_t epoch; /* the memo's epoch when stored; another epoch: empty */
    uint16_t len;
    struct text_memo_value v;
    char text[TEXT_MEMO_TEXT_MAX];
};

/* The admission filter holds FILTER_WAYS hashes a slot: the hashes of
 * texts seen once, the newest overwriting at random-ish (hash bits) among
 * them.  A text seen again while its hash is still there is admitted. */
#define FILTER_WAYS 4

struct text_memo {
    size_t mask;      /* slots - 1; SIZE_MAX for a memo of no entries */
    uint32_t epoch;   /* starts at 1: calloc's zeroes are empty */
    struct entry *slots;
    struct filter_row {
        uint64_t h[FILTER_WAYS];
        uint32_t epoch;
    } *filter;
};

text_memo_t *text_memo_new(size_t entries)
{
    if (entries > TEXT_MEMO_MAX_ENTRIES)
        return NULL;
    text_memo_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->epoch = 1;
    if (entries == 0) {
        m->mask = SIZE_MAX;
        return m;
    }
    size_t n = 1;
    while (n < entries)
        n <<= 1;
    m->mask = n - 1;
    m->slots = calloc(n, sizeof *m->slots);
    m->filter = calloc(n, sizeof *m->filter);
    if (!m->slots || !m->filter) {
        text_memo_free(m);
        return NULL;
    }
    return m;
}

void text_memo_free(text_memo_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->filter);
    free(m);
}

void text_memo_clear(text_memo_t *m)
{
    if (!m || !m->slots)
        return;
    if (++m->epoch == 0) { /* wrapped: old epochs would read as current */
        memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
        memset(m->filter, 0, (m->mask + 1) * sizeof *m->filter);
        m->epoch = 1;
    }
}

uint64_t text_memo_hash(const char *text, size_t len)
{
    return XXH3_64bits(text, len);
}

const struct text_memo_value *text_memo_find(const text_memo_t *m, uint64_t hash, const char *text,
                                             size_t len)
{
    if (!m || !m->slots || len > TEXT_MEMO_TEXT_MAX)
        return NULL;
    const struct entry *e = &m->slots[hash & m->mask];
    if (e->hash != hash || e->epoch != m->epoch || e->len != len || memcmp(e->text, text, len) != 0)
        return NULL;
    return &e->v;
}

bool text_memo_admit(text_memo_t *m, uint64_t hash, size_t len)
{
    if (!m || !m->slots || len > TEXT_MEMO_TEXT_MAX)
        return false;
    /* The row from bits the slot index does not use, so that texts
     * fighting over one slot do not also share a filter row. */
    struct filter_row *r = &m->filter[(hash >> 32) & m->mask];
    if (r->epoch != m->epoch) {
        memset(r->h, 0, sizeof r->h);
        r->epoch = m->epoch;
    }
    for (int i = 0; i < FILTER_WAYS; i++)
        if (r->h[i] == hash)
            return true;
    r->h[(hash >> 62) & (FILTER_WAYS - 1)] = hash;
    return false;
}

bool text_memo_store(text_memo_t *m, uint64_t hash, const char *text, size_t len,
                     const struct text_memo_findings *f)
{
    if (!m || !m->slots || len > TEXT_MEMO_TEXT_MAX || f->normlen > TEXT_MEMO_NORM_MAX ||
        f->n_urls > TEXT_MEMO_URLS)
        return false;
    for (int k = 0; k < TEXT_MEMO_FIELDS; k++)
        if (f->n_hits[k] > TEXT_MEMO_HITS)
            return false;
    struct entry *e = &m->slots[hash & m->mask];
    e->hash = hash;
    e->epoch = m->epoch;
    e->len = (uint16_t)len;
    memcpy(e->text, text, len);
    struct text_memo_value *v = &e->v;
    v->fp = f->fp;
    v->normlen = (uint16_t)f->normlen;
    v->case_only = f->case_only;
    v->n_urls = (uint8_t)f->n_urls;
    memcpy(v->urls, f->urls, f->n_urls * sizeof *f->urls);
    for (int k = 0; k < TEXT_MEMO_FIELDS; k++) {
        v->n_hits[k] = (uint8_t)f->n_hits[k];
        if (f->n_hits[k]) /* an empty list may have no array */
            memcpy(v->hits[k], f->hits[k], f->n_hits[k] * sizeof *f->hits[k]);
    }
    memcpy(v->norm, f->norm, f->normlen);
    v->norm[f->normlen] = '\0';
    return true;
}
