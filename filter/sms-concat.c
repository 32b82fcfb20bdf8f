/* Concatenated SMS reassembly (see sms-concat.h). */
#include "sms-concat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sms-text.h"

#define CHUNK 64u
#define NIL UINT32_MAX

/* Header at the start of a part's first chunk; the part's bytes follow it and
 * run on through the chunk chain. */
struct part_hdr {
    uint64_t cookie;
    uint32_t next_part; /* first chunk of the slot's next part, NIL at end */
    uint32_t len;
    uint8_t seq;
};
#define PART_HDR ((uint32_t)sizeof(struct part_hdr))

struct slot {
    /* probe comparison fields first: every lookup reads them */
    uint64_t hash;
    uint64_t link;
    uint16_t ref;
    uint8_t total, received;
    uint8_t src_len, dst_len; /* stored (cut) lengths */
    uint8_t data_coding, gsm_unpacked;
    uint16_t src_full, dst_full; /* lengths as given (capped at 65535) */
    uint32_t prev, next;         /* age list (least recently extended first); free list */
    uint32_t first_part;         /* chunk index, NIL when none */
    uint32_t nchunks;
    uint32_t repaired;
    uint64_t have[4];            /* seq bitmap */
    sg_time_us first_ts, last_ts;
    uint8_t src[SMS_CONCAT_ADDR_MAX], dst[SMS_CONCAT_ADDR_MAX];
};

struct sms_concat {
    struct sms_concat_config cfg;
    struct sms_concat_sink sink;
    uint64_t seed;
    sg_time_us timeout_us;

    struct slot *slots;
    uint32_t free_slot; /* free list through slot.next */
    uint32_t fresh_slot; /* slots [fresh_slot, max_messages) never handed out */
    uint32_t head, tail; /* age list */
    uint32_t *index;     /* slot + 1, 0 empty */
    uint32_t index_mask;

    uint8_t *arena; /* n_chunks * CHUNK */
    uint32_t *chunk_next;
    uint32_t n_chunks, free_chunks, free_chunk;
    uint32_t fresh_chunk; /* chunks [fresh_chunk, n_chunks) never handed out */

    uint8_t *scratch; /* unpacked septets / repaired UCS-2 of one part */
    size_t scratch_cap;
    uint8_t *join;
    size_t join_cap;
    uint32_t by_seq[256];
    uint64_t cookies[255];
    uint8_t seqs[255];

    struct sms_concat_stats st;
};

/* --- chunk arena --- */

static uint32_t chunks_for(size_t len) { return (uint32_t)((PART_HDR + len + CHUNK - 1) / CHUNK); }

/* Released chunks first (most recently released first), then chunks never
 * used, in index order: the order a free list threaded through every chunk
 * at creation would give, without the pass over the arena that building it
 * costs (a million chunks at the default 64 MiB). */
static uint32_t chunk_take(sms_concat_t *t)
{
    uint32_t c = t->free_chunk;
    if (c != NIL) {
        t->free_chunk = t->chunk_next[c];
        return c;
    }
    return t->fresh_chunk++;
}

static uint32_t chunk_alloc(sms_concat_t *t, uint32_t n)
{
    /* caller checked free_chunks >= n >= 1 */
    uint32_t first = chunk_take(t), last = first;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t c = chunk_take(t);
        t->chunk_next[last] = c;
        last = c;
    }
    t->chunk_next[last] = NIL;
    t->free_chunks -= n;
    return first;
}

/* The chain goes onto the free list whole, in its own order, so that
 * chunk_alloc hands its chunks out again in that order: chunks taken in
 * ascending runs (as fresh ones are) come back as the same runs, which
 * chain_copy copies in one piece. */
static void chain_free(sms_concat_t *t, uint32_t c)
{
    if (c == NIL)
        return;
    uint32_t last = c, n = 1;
    while (t->chunk_next[last] != NIL) {
        last = t->chunk_next[last];
        n++;
    }
    t->chunk_next[last] = t->free_chunk;
    t->free_chunk = c;
    t->free_chunks += n;
}

/* Copies n bytes into (dir 0) or out of (dir 1) the chain starting at
 * chunk c, byte offset off (which may run past the first chunk).  A run of
 * chunks adjacent in the arena is one memcpy: a part is a few chunks,
 * usually one run (chain_free), and a copy per chunk of at most 64 octets
 * was inlined as a loop of 8-octet moves costing about twice the call. */
static void chain_copy(sms_concat_t *t, uint32_t c, size_t off, uint8_t *buf, size_t n, int out)
{
    while (off >= CHUNK && c != NIL) {
        c = t->chunk_next[c];
        off -= CHUNK;
    }
    while (n > 0 && SG_ALWAYS(c != NIL)) {
        /* Bound: the run ends at the end of the chain or once it covers n. */
        uint32_t last = c;
        size_t room = CHUNK - off;
        while (room < n && t->chunk_next[last] == last + 1) {
            last++;
            room += CHUNK;
        }
        size_t k = room < n ? room : n;
        uint8_t *p = t->arena + (size_t)c * CHUNK + off;
        if (out)
            memcpy(buf, p, k);
        else
            memcpy(p, buf, k);
        buf += k;
        n -= k;
        off = 0;
        c = t->chunk_next[last];
    }
}

static void hdr_get(sms_concat_t *t, uint32_t c, struct part_hdr *h)
{
    memcpy(h, t->arena + (size_t)c * CHUNK, sizeof *h);
}

/* --- key, index, age list --- */

static uint64_t key_hash(const sms_concat_t *t, const struct sms_part *p)
{
    uint64_t h = XXH3_64bits_withSeed(&p->link, sizeof p->link, t->seed);
    uint64_t k = (uint64_t)p->ref << 32 | (uint64_t)p->total << 24 | (uint64_t)(p->src.len & 0xFFFFFF);
    h = XXH3_64bits_withSeed(&k, sizeof k, h);
    h = XXH3_64bits_withSeed(p->src.p, p->src.len, h);
    k = p->dst.len;
    h = XXH3_64bits_withSeed(&k, sizeof k, h);
    return XXH3_64bits_withSeed(p->dst.p, p->dst.len, h);
}

static size_t cut(size_t n) { return n < SMS_CONCAT_ADDR_MAX ? n : SMS_CONCAT_ADDR_MAX; }
static uint16_t cap16(size_t n) { return n < 0xFFFF ? (uint16_t)n : 0xFFFF; }

static int key_eq(const struct slot *s, uint64_t h, const struct sms_part *p)
{
    return s->hash == h && s->link == p->link && s->ref == p->ref && s->total == p->total &&
           s->src_full == cap16(p->src.len) && s->dst_full == cap16(p->dst.len) &&
           (s->src_len == 0 || memcmp(s->src, p->src.p, s->src_len) == 0) &&
           (s->dst_len == 0 || memcmp(s->dst, p->dst.p, s->dst_len) == 0);
}

/* Index position holding slot si, or of an empty bucket when absent. */
static uint32_t index_find(const sms_concat_t *t, uint64_t h, const struct sms_part *p)
{
    uint32_t i = (uint32_t)h & t->index_mask;
    /* bounded: the index is at least twice the slot count, so an empty
     * bucket always exists */
    while (t->index[i] != 0) {
        if (key_eq(&t->slots[t->index[i] - 1], h, p))
            return i;
        i = (i + 1) & t->index_mask;
    }
    return i;
}

static void index_remove(sms_concat_t *t, uint32_t si)
{
    uint32_t m = t->index_mask;
    uint32_t i = (uint32_t)t->slots[si].hash & m;
    while (t->index[i] != si + 1) {
        if (SG_NEVER(t->index[i] == 0))
            return;
        i = (i + 1) & m;
    }
    /* backward-shift deletion keeps linear probing tombstone-free */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & m;
        if (t->index[j] == 0)
            break;
        uint32_t k = (uint32_t)t->slots[t->index[j] - 1].hash & m;
        /* move j's entry into the hole at i unless its home k lies
         * cyclically in (i, j] */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            t->index[i] = t->index[j];
            i = j;
        }
    }
    t->index[i] = 0;
}

static void age_unlink(sms_concat_t *t, uint32_t si)
{
    struct slot *s = &t->slots[si];
    if (s->prev != NIL)
        t->slots[s->prev].next = s->next;
    else
        t->head = s->next;
    if (s->next != NIL)
        t->slots[s->next].prev = s->prev;
    else
        t->tail = s->prev;
    s->prev = s->next = NIL;
}

static void age_append(sms_concat_t *t, uint32_t si)
{
    struct slot *s = &t->slots[si];
    s->prev = t->tail;
    s->next = NIL;
    if (t->tail != NIL)
        t->slots[t->tail].next = si;
    else
        t->head = si;
    t->tail = si;
}

/* --- emission --- */

static void emit_and_free(sms_concat_t *t, uint32_t si, int complete)
{
    struct slot *s = &t->slots[si];
    struct sms_message_out m;
    memset(&m, 0, sizeof m);

    /* Bound: a slot holds at most 255 parts, one per seq (duplicates are
     * refused before storing). */
    for (unsigned q = 1; q <= s->total; q++)
        t->by_seq[q] = NIL;
    for (uint32_t c = s->first_part; c != NIL;) {
        struct part_hdr h;
        hdr_get(t, c, &h);
        if (SG_ALWAYS(h.seq >= 1 && h.seq <= s->total))
            t->by_seq[h.seq] = c;
        c = h.next_part;
    }
    size_t off = 0, n = 0;
    for (unsigned q = 1; q <= s->total; q++) {
        uint32_t c = t->by_seq[q];
        if (c == NIL)
            continue;
        struct part_hdr h;
        hdr_get(t, c, &h);
        size_t k = h.len;
        if (off + k > t->join_cap) {
            k = t->join_cap - off;
            m.truncated = 1;
        }
        chain_copy(t, c, PART_HDR, t->join + off, k, 1);
        off += k;
        t->cookies[n] = h.cookie;
        t->seqs[n] = (uint8_t)q;
        n++;
    }
    if (m.truncated)
        t->st.truncated++;

    m.link = s->link;
    m.src = (struct sg_view){s->src, s->src_len};
    m.dst = (struct sg_view){s->dst, s->dst_len};
    m.data_coding = s->data_coding;
    m.ref = s->ref;
    m.total = s->total;
    m.received = s->received;
    m.complete = complete;
    m.ud = t->join;
    m.ud_len = off;
    m.cookies = t->cookies;
    m.seqs = t->seqs;
    m.n_cookies = n;
    m.first_ts = s->first_ts;
    m.last_ts = s->last_ts;
    m.gsm_unpacked = s->gsm_unpacked;
    m.repaired = s->repaired;
    if (complete)
        t->st.messages_complete++;
    else
        t->st.messages_incomplete++;
    if (t->sink.message)
        t->sink.message(t->sink.ctx, &m);

    /* release */
    for (uint32_t c = s->first_part; c != NIL;) {
        struct part_hdr h;
        hdr_get(t, c, &h);
        chain_free(t, c);
        c = h.next_part;
    }
    index_remove(t, si);
    age_unlink(t, si);
    s->first_part = NIL;
    s->next = t->free_slot;
    t->free_slot = si;
    t->st.active--;
}

static void evict_oldest(sms_concat_t *t)
{
    uint32_t si = t->head;
    if (SG_NEVER(si == NIL))
        return;
    t->st.evicted_count++;
    t->st.evicted_bytes += (uint64_t)t->slots[si].nchunks * CHUNK;
    emit_and_free(t, si, 0);
}

/* --- public --- */

/* Like chunk_take: released slots first, then never-used ones in order. */
static int slot_available(const sms_concat_t *t)
{
    return t->free_slot != NIL || t->fresh_slot < t->cfg.max_messages;
}

static uint32_t slot_take(sms_concat_t *t)
{
    uint32_t si = t->free_slot;
    if (si != NIL) {
        t->free_slot = t->slots[si].next;
        return si;
    }
    return t->fresh_slot++;
}

sms_concat_t *sms_concat_new(const struct sms_concat_config *c, const struct sms_concat_sink *s)
{
    if (!c || c->max_messages == 0 || c->max_messages > (1u << 28) || c->max_bytes < CHUNK)
        return NULL;
    uint64_t nch = c->max_bytes / CHUNK;
    if (nch >= NIL)
        nch = NIL - 1;
    sms_concat_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cfg = *c;
    if (s)
        t->sink = *s;
    t->timeout_us = (sg_time_us)c->timeout_s * 1000000u;
    /* A per-table seed keeps traffic-chosen keys from colliding on purpose. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t->seed = XXH3_64bits(&ts, sizeof ts) ^ (uint64_t)(uintptr_t)t;

    uint32_t isz = 16;
    while (isz < 2u * c->max_messages)
        isz <<= 1;
    t->index_mask = isz - 1;
    t->n_chunks = (uint32_t)nch;
    t->scratch_cap = SMS_CONCAT_MAX_PART / 7u * 8u + 16u;
    t->join_cap = (size_t)nch * CHUNK < SMS_CONCAT_MAX_JOIN ? (size_t)nch * CHUNK : SMS_CONCAT_MAX_JOIN;

    t->slots = calloc(c->max_messages, sizeof *t->slots);
    t->index = calloc(isz, sizeof *t->index);
    t->arena = malloc((size_t)nch * CHUNK);
    t->chunk_next = malloc((size_t)nch * sizeof *t->chunk_next);
    t->scratch = malloc(t->scratch_cap);
    t->join = malloc(t->join_cap);
    if (!t->slots || !t->index || !t->arena || !t->chunk_next || !t->scratch || !t->join) {
        sms_concat_free(t);
        return NULL;
    }
    /* Slots and chunks are handed out from their never-used ranges once
     * the free lists are empty (slot_take, chunk_take): no pass over the
     * tables here. */
    t->free_slot = NIL;
    t->fresh_slot = 0;
    t->head = t->tail = NIL;
    t->free_chunk = NIL;
    t->fresh_chunk = 0;
    t->free_chunks = t->n_chunks;
    return t;
}

void sms_concat_free(sms_concat_t *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->index);
    free(t->arena);
    free(t->chunk_next);
    free(t->scratch);
    free(t->join);
    free(t);
}

int sms_concat_add(sms_concat_t *t, const struct sms_part *p)
{
    if (!p || p->total == 0 || p->seq == 0 || p->seq > p->total || (!p->ud && p->ud_len) ||
        p->ud_len > SMS_CONCAT_MAX_PART || (p->gsm_packed && p->fill_bits > 6) ||
        (!p->src.p && p->src.len) || (!p->dst.p && p->dst.len)) {
        t->st.rejected++;
        return SG_EINVAL;
    }
    t->st.parts++;

    /* What gets stored: packed GSM unpacked to septets; an odd-length UCS-2
     * part that is not the last gets its orphan octet replaced by FF FD
     * (U+FFFD) so the parts after it stay on 16-bit boundaries. */
    const uint8_t *data = p->ud ? p->ud : (const uint8_t *)"";
    size_t len = p->ud_len;
    int repaired = 0;
    if (p->gsm_packed) {
        size_t n = 0;
        sms_gsm_unpack(p->ud, p->ud_len, p->fill_bits, t->scratch, t->scratch_cap, &n);
        data = t->scratch;
        len = n;
    } else if ((len & 1) && p->seq < p->total &&
               sms_charset_of(p->data_coding, NULL) == SMS_CS_UCS2) {
        memcpy(t->scratch, p->ud, len - 1);
        t->scratch[len - 1] = 0xFF;
        t->scratch[len] = 0xFD;
        data = t->scratch;
        len++;
        repaired = 1;
    }

    uint64_t h = key_hash(t, p);
    uint32_t pos = index_find(t, h, p);
    uint32_t si = t->index[pos] ? t->index[pos] - 1 : NIL;
    if (si != NIL && (t->slots[si].have[p->seq >> 6] >> (p->seq & 63) & 1)) {
        t->st.duplicates++;
        return 0;
    }

    if (p->total == 1) { /* nothing to wait for: emit from scratch */
        struct sms_message_out m;
        memset(&m, 0, sizeof m);
        uint8_t seq1 = 1;
        m.link = p->link;
        m.src = (struct sg_view){p->src.p, cut(p->src.len)};
        m.dst = (struct sg_view){p->dst.p, cut(p->dst.len)};
        m.data_coding = p->data_coding;
        m.ref = p->ref;
        m.total = m.received = 1;
        m.complete = 1;
        m.ud = data;
        m.ud_len = len;
        m.cookies = &p->cookie;
        m.seqs = &seq1;
        m.n_cookies = 1;
        m.first_ts = m.last_ts = p->ts;
        m.gsm_unpacked = p->gsm_packed;
        t->st.messages_complete++;
        if (t->sink.message)
            t->sink.message(t->sink.ctx, &m);
        return 0;
    }

    uint32_t need = chunks_for(len);
    if (need > t->n_chunks) {
        t->st.parts--;
        t->st.rejected++;
        return SG_ENOSPC;
    }
    /* Make room: evict least recently extended messages (possibly this
     * very one: it is then emitted incomplete and this part starts anew).
     * Bound: each round frees a slot; at most max_messages rounds. */
    while (t->free_chunks < need || (si == NIL && !slot_available(t))) {
        if (t->head == si)
            si = NIL;
        evict_oldest(t);
    }
    if (si == NIL) {
        si = slot_take(t);
        struct slot *s = &t->slots[si];
        memset(s, 0, sizeof *s);
        s->hash = h;
        s->link = p->link;
        s->ref = p->ref;
        s->total = p->total;
        s->src_full = cap16(p->src.len);
        s->dst_full = cap16(p->dst.len);
        s->src_len = (uint8_t)cut(p->src.len);
        s->dst_len = (uint8_t)cut(p->dst.len);
        if (s->src_len)
            memcpy(s->src, p->src.p, s->src_len);
        if (s->dst_len)
            memcpy(s->dst, p->dst.p, s->dst_len);
        s->data_coding = p->data_coding;
        s->first_part = NIL;
        s->first_ts = p->ts;
        s->prev = s->next = NIL;
        /* evictions above may have shifted the index: find the hole again */
        pos = index_find(t, h, p);
        t->index[pos] = si + 1;
        age_append(t, si);
        t->st.active++;
    } else {
        age_unlink(t, si);
        age_append(t, si);
        if (t->slots[si].data_coding != p->data_coding)
            t->st.dc_mismatch++;
    }

    struct slot *s = &t->slots[si];
    uint32_t c = chunk_alloc(t, need);
    struct part_hdr hd;
    memset(&hd, 0, sizeof hd);
    hd.cookie = p->cookie;
    hd.next_part = s->first_part;
    hd.len = (uint32_t)len;
    hd.seq = p->seq;
    memcpy(t->arena + (size_t)c * CHUNK, &hd, sizeof hd);
    chain_copy(t, c, PART_HDR, (uint8_t *)(uintptr_t)data, len, 0);
    s->first_part = c;
    s->nchunks += need;
    s->have[p->seq >> 6] |= 1ull << (p->seq & 63);
    s->received++;
    s->last_ts = p->ts;
    s->gsm_unpacked |= p->gsm_packed;
    s->repaired += (uint32_t)repaired;
    t->st.repaired += (uint64_t)repaired;

    if (s->received == s->total)
        emit_and_free(t, si, 1);
    return 0;
}

void sms_concat_expire(sms_concat_t *t, sg_time_us now)
{
    if (!t || t->timeout_us == 0)
        return;
    /* The age list is in order of last extension (arrival order), so the
     * first message not yet due ends the scan; packet time running slightly
     * backwards across flows only delays an expiry. */
    while (t->head != NIL && now >= t->slots[t->head].last_ts + t->timeout_us) {
        t->st.timed_out++;
        emit_and_free(t, t->head, 0);
    }
}

void sms_concat_flush(sms_concat_t *t)
{
    if (!t)
        return;
    while (t->head != NIL)
        emit_and_free(t, t->head, 0);
}

void sms_concat_get_stats(const sms_concat_t *t, struct sms_concat_stats *s)
{
    *s = t->st;
    s->buffered_bytes = (uint64_t)(t->n_chunks - t->free_chunks) * CHUNK;
}
