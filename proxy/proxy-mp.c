/* Held multipart messages and the issued-id map (proxy-mp.h). */
#include "proxy-mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define ADDR_KEEP 24u
/* SMPP v3.4 §5.2.8/§5.2.9: source_addr and destination_addr of submit_sm
 * are at most 20 characters (21 with the NUL). */
#define RCPT_ADDR_MAX 21u
#define NO_PART UINT32_MAX
/* What a message slot keeps, by the proxy's mode (msg_slot.mode). */
enum { MODE_HOLD = 0, MODE_FWD = 1, MODE_MON = 2 };

struct part_slot {
    uint32_t next;      /* free list / the message's list */
    uint16_t len, ud_off, ud_len;
    uint8_t seq;
    uint32_t issued;    /* id map index */
    uint8_t raw[PROXY_MP_PART_MAX];
};

struct msg_slot {
    uint8_t used, total, received;
    uint8_t mode;       /* MODE_HOLD: parts held raw, answered by us;
                           MODE_FWD: user data only (forward mode);
                           MODE_MON: copies of forwarded parts (monitor) */
    uint8_t refused;    /* forward mode: judged spam, refuse the rest */
    uint16_t ref;
    uint32_t link;
    uint64_t first_ms;
    uint32_t parts;     /* list of part slots, arrival order */
    uint8_t src_len, dst_len;
    char src[ADDR_KEEP], dst[ADDR_KEEP];
    uint8_t have[32];   /* bitmap of seq numbers received */
};

struct id_entry {
    uint64_t gen;       /* 0 = empty; else issue counter */
    uint64_t hash;      /* of the SMSC id, 0 until known */
    char issued[PROXY_MP_ID_MAX + 1];
    /* The part's addresses and registered_delivery, for a failure receipt
     * once the part itself is gone (forwarded, then refused or unanswered). */
    uint8_t src_ton, src_npi, dst_ton, dst_npi, registered_delivery, src_len, dst_len;
    char src[RCPT_ADDR_MAX], dst[RCPT_ADDR_MAX];
};

struct proxy_mp {
    struct proxy_mp_config cfg;
    proxy_mp_done_fn done;
    void *ctx;
    struct msg_slot *msgs;
    struct part_slot *parts;
    uint32_t n_parts, free_parts;
    uint8_t *join;
    struct id_entry *ids;       /* ring of id_map_max */
    uint64_t id_gen;
    uint32_t *sets;             /* 4-way sets of ring indices + 1 (0 = empty) */
    uint32_t n_sets;
    uint64_t evicted, id_evicted, fwd_expired;
    struct proxy_mp_message out; /* handed to done() */
};

proxy_mp_t *proxy_mp_new(const struct proxy_mp_config *c, proxy_mp_done_fn done, void *ctx)
{
    if (!c->max_messages || c->max_bytes < PROXY_MP_PART_MAX || !c->id_map_max)
        return NULL;
    proxy_mp_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *c;
    if (!m->cfg.timeout_ms)
        m->cfg.timeout_ms = 30000;
    m->done = done;
    m->ctx = ctx;
    m->n_parts = (uint32_t)(c->max_bytes / sizeof(struct part_slot));
    if (m->n_parts < PROXY_MP_MAX_PARTS)
        m->n_parts = PROXY_MP_MAX_PARTS;
    m->msgs = calloc(c->max_messages, sizeof *m->msgs);
    m->parts = calloc(m->n_parts, sizeof *m->parts);
    m->join = malloc(SMS_CONCAT_MAX_JOIN_PROXY);
    m->ids = calloc(c->id_map_max, sizeof *m->ids);
    m->n_sets = 1;
    while (m->n_sets * 4 < c->id_map_max)
        m->n_sets <<= 1;
    m->sets = calloc((size_t)m->n_sets * 4, sizeof *m->sets);
    if (!m->msgs || !m->parts || !m->join || !m->ids || !m->sets) {
        proxy_mp_free(m);
        return NULL;
    }
    for (uint32_t i = 0; i < m->n_parts; i++)
        m->parts[i].next = i + 1 < m->n_parts ? i + 1 : NO_PART;
    m->free_parts = 0;
    return m;
}

void proxy_mp_free(proxy_mp_t *m)
{
    if (!m)
        return;
    free(m->msgs);
    free(m->parts);
    free(m->join);
    free(m->ids);
    free(m->sets);
    free(m);
}

size_t proxy_mp_max_message_bytes(const proxy_mp_t *m)
{
    (void)m;
    return (size_t)PROXY_MP_MAX_PARTS * PROXY_MP_PART_MAX;
}

void proxy_mp_get_stats(const proxy_mp_t *m, uint64_t *evicted, uint64_t *id_evicted)
{
    *evicted = m->evicted;
    *id_evicted = m->id_evicted;
}

/* ---- id map --------------------------------------------------------------- */

static uint32_t issue_id(proxy_mp_t *m, const struct proxy_mp_part *p, char out[PROXY_MP_ID_MAX + 1])
{
    uint64_t g = ++m->id_gen;
    uint32_t idx = (uint32_t)(g % m->cfg.id_map_max);
    struct id_entry *e = &m->ids[idx];
    if (e->gen && e->hash)
        m->id_evicted++; /* the ring wrapped over a mapped id */
    e->gen = g;
    e->hash = 0;
    snprintf(e->issued, sizeof e->issued, "sg%08x%08llx", m->cfg.salt ^ 0x80000000u, (unsigned long long)g);
    memcpy(out, e->issued, sizeof e->issued);
    e->src_len = (uint8_t)(p->src.len < RCPT_ADDR_MAX ? p->src.len : RCPT_ADDR_MAX);
    e->dst_len = (uint8_t)(p->dst.len < RCPT_ADDR_MAX ? p->dst.len : RCPT_ADDR_MAX);
    if (e->src_len)
        memcpy(e->src, p->src.p, e->src_len);
    if (e->dst_len)
        memcpy(e->dst, p->dst.p, e->dst_len);
    e->src_ton = p->src_ton;
    e->src_npi = p->src_npi;
    e->dst_ton = p->dst_ton;
    e->dst_npi = p->dst_npi;
    e->registered_delivery = p->registered_delivery;
    return idx;
}

uint64_t proxy_mp_issued_gen(const proxy_mp_t *m, uint32_t idx)
{
    return idx < m->cfg.id_map_max ? m->ids[idx].gen : 0;
}

int proxy_mp_issued_info(const proxy_mp_t *m, uint32_t idx, uint64_t gen, struct proxy_mp_issued *out)
{
    if (idx >= m->cfg.id_map_max || !gen || m->ids[idx].gen != gen)
        return SG_ENOTFOUND;
    const struct id_entry *e = &m->ids[idx];
    out->issued = e->issued;
    out->src = (struct sg_view){(const uint8_t *)e->src, e->src_len};
    out->dst = (struct sg_view){(const uint8_t *)e->dst, e->dst_len};
    out->src_ton = e->src_ton;
    out->src_npi = e->src_npi;
    out->dst_ton = e->dst_ton;
    out->dst_npi = e->dst_npi;
    out->registered_delivery = e->registered_delivery;
    return 0;
}

uint32_t proxy_mp_issued_index(const proxy_mp_t *m, const struct proxy_mp_message *msg, unsigned i)
{
    (void)m;
    return msg->issued_idx_[i];
}

static uint64_t id_hash(const void *p, size_t n)
{
    uint64_t h = XXH3_64bits(p, n);
    return h ? h : 1;
}

void proxy_mp_map_id(proxy_mp_t *m, uint32_t idx, const char *smsc_id, size_t len)
{
    if (idx >= m->cfg.id_map_max || !len)
        return;
    struct id_entry *e = &m->ids[idx];
    e->hash = id_hash(smsc_id, len);
    uint32_t *set = &m->sets[(e->hash & (m->n_sets - 1)) * 4];
    /* An empty way, a stale way (its ring entry reused), or the oldest. */
    int victim = 0;
    uint64_t oldest = UINT64_MAX;
    for (int w = 0; w < 4; w++) {
        if (!set[w] || m->ids[set[w] - 1].hash == 0) {
            victim = w;
            oldest = 0;
            break;
        }
        if (m->ids[set[w] - 1].gen < oldest) {
            oldest = m->ids[set[w] - 1].gen;
            victim = w;
        }
    }
    if (oldest)
        m->id_evicted++;
    set[victim] = idx + 1;
}

int proxy_mp_lookup_id(const proxy_mp_t *m, const uint8_t *smsc_id, size_t len, char issued[PROXY_MP_ID_MAX + 1])
{
    if (!len)
        return SG_ENOTFOUND;
    uint64_t h = id_hash(smsc_id, len);
    const uint32_t *set = &m->sets[(h & (m->n_sets - 1)) * 4];
    for (int w = 0; w < 4; w++) {
        if (set[w] && m->ids[set[w] - 1].hash == h) {
            memcpy(issued, m->ids[set[w] - 1].issued, PROXY_MP_ID_MAX + 1);
            return 0;
        }
    }
    return SG_ENOTFOUND;
}

/* ---- held messages ------------------------------------------------------ */

static void free_msg(proxy_mp_t *m, struct msg_slot *s)
{
    uint32_t i = s->parts;
    while (i != NO_PART) {
        uint32_t n = m->parts[i].next;
        m->parts[i].next = m->free_parts;
        m->free_parts = i;
        i = n;
    }
    s->used = 0;
    s->parts = NO_PART;
}

/* Hands a message to done(): complete with extra (the completing part,
 * not held) or incomplete (extra NULL) for reason.  A forward-mode message
 * holds nothing answered: it is only freed. */
static void emit(proxy_mp_t *m, struct msg_slot *s, const struct proxy_mp_part *extra, enum proxy_mp_reason reason)
{
    if (s->mode == MODE_FWD) {
        free_msg(m, s);
        return;
    }
    struct proxy_mp_message *o = &m->out;
    o->link = s->link;
    o->total = s->total;
    o->complete = extra != NULL;
    o->monitor = s->mode == MODE_MON;
    o->reason = extra ? PROXY_MP_DONE_COMPLETE : reason;
    o->n_parts = o->n_issued = 0;
    o->ud_len = 0;
    o->ud = m->join;
    o->last_pdu = NULL;
    /* Parts in seq order: O(total * parts) with both <= 255. */
    for (unsigned q = 1; q <= s->total; q++) {
        if (extra && extra->seq == q) {
            o->parts[o->n_parts] = extra->raw;
            o->part_len[o->n_parts] = extra->raw_len;
            o->issued_idx_[o->n_parts] = UINT32_MAX;
            o->n_parts++;
            memcpy(m->join + o->ud_len, extra->ud, extra->ud_len);
            o->ud_len += extra->ud_len;
            continue;
        }
        for (uint32_t i = s->parts; i != NO_PART; i = m->parts[i].next) {
            struct part_slot *ps = &m->parts[i];
            if (ps->seq != q)
                continue;
            o->parts[o->n_parts] = ps->raw;
            o->part_len[o->n_parts] = ps->len;
            o->issued_idx_[o->n_parts] = ps->issued;
            if (ps->issued != UINT32_MAX) /* monitor copies issue no id */
                o->issued[o->n_issued++] = m->ids[ps->issued].issued;
            o->n_parts++;
            memcpy(m->join + o->ud_len, ps->raw + ps->ud_off, ps->ud_len);
            o->ud_len += ps->ud_len;
            break;
        }
    }
    if (extra) {
        o->last_pdu = extra->raw;
        o->last_len = extra->raw_len;
    } else if (o->n_parts) {
        o->last_pdu = o->parts[0];
        o->last_len = o->part_len[0];
    }
    m->done(m->ctx, o);
    free_msg(m, s);
}

static struct msg_slot *oldest_msg(proxy_mp_t *m)
{
    struct msg_slot *best = NULL;
    for (uint32_t i = 0; i < m->cfg.max_messages; i++)
        if (m->msgs[i].used && (!best || m->msgs[i].first_ms < best->first_ms))
            best = &m->msgs[i];
    return best;
}

/* The message p belongs to (same link, reference, total and addresses,
 * held in the same mode), or NULL with *free_slot the first unused slot
 * (NULL when none).  Work: O(max_messages). */
static struct msg_slot *find_msg(proxy_mp_t *m, const struct proxy_mp_part *p, int fwd, struct msg_slot **free_slot)
{
    size_t sl = p->src.len < ADDR_KEEP ? p->src.len : ADDR_KEEP;
    size_t dl = p->dst.len < ADDR_KEEP ? p->dst.len : ADDR_KEEP;
    *free_slot = NULL;
    for (uint32_t i = 0; i < m->cfg.max_messages; i++) {
        struct msg_slot *c = &m->msgs[i];
        if (!c->used) {
            if (!*free_slot)
                *free_slot = c;
            continue;
        }
        if (c->link == p->link && c->ref == p->ref && c->total == p->total && c->mode == fwd && c->src_len == sl &&
            c->dst_len == dl && memcmp(c->src, p->src.p, sl) == 0 && memcmp(c->dst, p->dst.p, dl) == 0)
            return c;
    }
    return NULL;
}

/* A fresh message slot for p (the oldest message evicted when all are in
 * use). */
static struct msg_slot *new_msg(proxy_mp_t *m, const struct proxy_mp_part *p, struct msg_slot *free_slot, int fwd,
                                uint64_t now_ms)
{
    size_t sl = p->src.len < ADDR_KEEP ? p->src.len : ADDR_KEEP;
    size_t dl = p->dst.len < ADDR_KEEP ? p->dst.len : ADDR_KEEP;
    if (!free_slot) {
        struct msg_slot *old = oldest_msg(m);
        m->evicted++;
        emit(m, old, NULL, PROXY_MP_DONE_EVICTED);
        free_slot = old;
    }
    struct msg_slot *s = free_slot;
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->mode = (uint8_t)fwd;
    s->link = p->link;
    s->ref = p->ref;
    s->total = p->total;
    s->first_ms = now_ms;
    s->parts = NO_PART;
    s->src_len = (uint8_t)sl;
    s->dst_len = (uint8_t)dl;
    memcpy(s->src, p->src.p, sl);
    memcpy(s->dst, p->dst.p, dl);
    return s;
}

/* Takes a part slot for part p of message s, evicting the oldest other
 * messages while none is free, and links it into s: the whole PDU, or only
 * its user data (ud_only: the PDU itself is forwarded now).  The caller
 * sets ->issued.  NULL when no slot can be freed; an s left without parts
 * is freed then, so no empty message holds a slot. */
static struct part_slot *store_part(proxy_mp_t *m, struct msg_slot *s, const struct proxy_mp_part *p, int ud_only)
{
    while (m->free_parts == NO_PART) {
        struct msg_slot *old = oldest_msg(m);
        if (!old || old == s) {
            if (s->parts == NO_PART)
                free_msg(m, s);
            return NULL;
        }
        m->evicted++;
        emit(m, old, NULL, PROXY_MP_DONE_EVICTED);
    }
    uint32_t pi = m->free_parts;
    struct part_slot *ps = &m->parts[pi];
    m->free_parts = ps->next;
    const uint8_t *src = ud_only ? p->ud : p->raw;
    ps->len = (uint16_t)(ud_only ? p->ud_len : p->raw_len);
    ps->ud_off = (uint16_t)(ud_only ? 0 : p->ud - p->raw);
    ps->ud_len = (uint16_t)p->ud_len;
    ps->seq = p->seq;
    ps->issued = UINT32_MAX;
    memcpy(ps->raw, src, ps->len);
    ps->next = s->parts;
    s->parts = pi;
    s->have[p->seq >> 3] |= (uint8_t)(1u << (p->seq & 7));
    s->received++;
    return ps;
}

int proxy_mp_add(proxy_mp_t *m, const struct proxy_mp_part *p, char issued[PROXY_MP_ID_MAX + 1], uint64_t now_ms)
{
    if (p->raw_len > PROXY_MP_PART_MAX || p->seq == 0 || p->seq > p->total || p->total < 2 ||
        p->ud < p->raw || p->ud + p->ud_len > p->raw + p->raw_len)
        return PROXY_MP_REFUSED;
    struct msg_slot *free_slot;
    struct msg_slot *s = find_msg(m, p, MODE_HOLD, &free_slot);
    if (s && (s->have[p->seq >> 3] >> (p->seq & 7) & 1))
        return PROXY_MP_REFUSED; /* a duplicate part: judged and answered alone */
    if (s && s->received + 1 == s->total) {
        emit(m, s, p, PROXY_MP_DONE_COMPLETE);
        return PROXY_MP_COMPLETED;
    }
    if (!s)
        s = new_msg(m, p, free_slot, MODE_HOLD, now_ms);
    struct part_slot *ps = store_part(m, s, p, 0);
    if (!ps)
        return PROXY_MP_REFUSED;
    ps->issued = issue_id(m, p, issued);
    return PROXY_MP_HELD;
}

void proxy_mp_expire(proxy_mp_t *m, uint64_t now_ms)
{
    for (uint32_t i = 0; i < m->cfg.max_messages; i++) {
        struct msg_slot *s = &m->msgs[i];
        if (s->used && now_ms - s->first_ms >= m->cfg.timeout_ms) {
            if (s->mode == MODE_FWD)
                m->fwd_expired++;
            emit(m, s, NULL, PROXY_MP_DONE_EXPIRED);
        }
    }
}

void proxy_mp_drop_link(proxy_mp_t *m, uint32_t link)
{
    for (uint32_t i = 0; i < m->cfg.max_messages; i++) {
        struct msg_slot *s = &m->msgs[i];
        if (s->used && s->link == link) {
            m->evicted++;
            emit(m, s, NULL, PROXY_MP_DONE_LINK_CLOSED);
        }
    }
}

/* ---- forward mode ------------------------------------------------------------ */

int proxy_mp_fwd_add(proxy_mp_t *m, const struct proxy_mp_part *p, uint64_t now_ms, struct proxy_mp_fwd *out)
{
    if (p->ud_len > PROXY_MP_PART_MAX || p->seq == 0 || p->seq > p->total || p->total < 2 ||
        p->ud < p->raw || p->ud + p->ud_len > p->raw + p->raw_len)
        return PROXY_MP_REFUSED;
    struct msg_slot *free_slot;
    struct msg_slot *s = find_msg(m, p, MODE_FWD, &free_slot);
    int dup = s && (s->have[p->seq >> 3] >> (p->seq & 7) & 1);
    if (s && s->refused) {
        /* The text so far was spam: this part is refused unjudged; the
         * slot stays until every part was refused (or it expires). */
        if (!dup) {
            s->have[p->seq >> 3] |= (uint8_t)(1u << (p->seq & 7));
            if (++s->received == s->total)
                free_msg(m, s);
        }
        return PROXY_MP_FWD_REFUSE;
    }
    if (dup)
        return PROXY_MP_REFUSED;
    if (!s)
        s = new_msg(m, p, free_slot, MODE_FWD, now_ms);
    if (!store_part(m, s, p, 1)) /* only the user data: the PDU is forwarded now */
        return PROXY_MP_REFUSED;
    /* The text so far in seq order, gaps skipped: O(total * parts). */
    size_t n = 0;
    for (unsigned q = 1; q <= s->total; q++)
        for (uint32_t i = s->parts; i != NO_PART; i = m->parts[i].next)
            if (m->parts[i].seq == q) {
                memcpy(m->join + n, m->parts[i].raw, m->parts[i].ud_len);
                n += m->parts[i].ud_len;
                break;
            }
    out->slot = (uint32_t)(s - m->msgs);
    out->ud = m->join;
    out->ud_len = n;
    out->received = s->received;
    out->complete = s->received == s->total;
    return PROXY_MP_FWD_JUDGE;
}

void proxy_mp_fwd_verdict(proxy_mp_t *m, uint32_t slot, int refused)
{
    if (slot >= m->cfg.max_messages)
        return;
    struct msg_slot *s = &m->msgs[slot];
    if (!s->used || s->mode != MODE_FWD)
        return;
    if (s->received == s->total) {
        free_msg(m, s);
        return;
    }
    if (refused) {
        /* Its text is no longer needed; the slot remembers the refusal. */
        uint32_t i = s->parts;
        while (i != NO_PART) {
            uint32_t nx = m->parts[i].next;
            m->parts[i].next = m->free_parts;
            m->free_parts = i;
            i = nx;
        }
        s->parts = NO_PART;
        s->refused = 1;
    }
}

uint64_t proxy_mp_fwd_expired(const proxy_mp_t *m) { return m->fwd_expired; }

/* ---- monitor mode ------------------------------------------------------------ */

int proxy_mp_mon_add(proxy_mp_t *m, const struct proxy_mp_part *p, uint64_t now_ms, struct proxy_mp_fwd *out)
{
    /* The same acceptance as proxy_mp_add: what enforcement would judge
     * alone (a part too big to hold, bad numbering, a duplicate) is judged
     * alone here too, so both modes log the same verdicts. */
    if (p->raw_len > PROXY_MP_PART_MAX || p->seq == 0 || p->seq > p->total || p->total < 2 ||
        p->ud < p->raw || p->ud + p->ud_len > p->raw + p->raw_len)
        return PROXY_MP_REFUSED;
    struct msg_slot *free_slot;
    struct msg_slot *s = find_msg(m, p, MODE_MON, &free_slot);
    if (s && (s->have[p->seq >> 3] >> (p->seq & 7) & 1))
        return PROXY_MP_REFUSED;
    if (s && s->received + 1 == s->total) {
        /* The whole text in seq order, this part included: O(total * parts). */
        size_t n = 0;
        for (unsigned q = 1; q <= s->total; q++) {
            if (q == p->seq) {
                memcpy(m->join + n, p->ud, p->ud_len);
                n += p->ud_len;
                continue;
            }
            for (uint32_t i = s->parts; i != NO_PART; i = m->parts[i].next)
                if (m->parts[i].seq == q) {
                    memcpy(m->join + n, m->parts[i].raw + m->parts[i].ud_off, m->parts[i].ud_len);
                    n += m->parts[i].ud_len;
                    break;
                }
        }
        out->slot = UINT32_MAX;
        out->ud = m->join;
        out->ud_len = n;
        out->received = s->total;
        out->complete = 1;
        free_msg(m, s);
        return PROXY_MP_FWD_JUDGE;
    }
    if (!s)
        s = new_msg(m, p, free_slot, MODE_MON, now_ms);
    /* A copy of the whole PDU (it is forwarded now): its user data for the
     * joined text, its header fields for a judgement on expiry. */
    if (!store_part(m, s, p, 0))
        return PROXY_MP_REFUSED;
    out->slot = (uint32_t)(s - m->msgs);
    out->ud = NULL;
    out->ud_len = 0;
    out->received = s->received;
    out->complete = 0;
    return PROXY_MP_MON_TRACKED;
}

/* ---- receipt rewriting ------------------------------------------------------- */

int proxy_mp_rewrite_receipt(const uint8_t *raw, size_t len, const struct smpp_pdu *pdu, struct sg_view old,
                             const char *issued, uint8_t *out, size_t cap)
{
    size_t il = strlen(issued);
    struct sg_view sm = pdu->short_message;
    if (!sm.p || sm.p < raw + SMPP_HEADER_LEN + 1 || sm.p + sm.len > raw + len)
        return SG_EINVAL;
    size_t sm_off = (size_t)(sm.p - raw);
    /* New short_message: "id:<old>" replaced once. */
    uint8_t text[256];
    size_t tl = 0;
    const uint8_t *hit = NULL;
    for (size_t i = 0; i + 3 + old.len <= sm.len; i++) {
        if ((sm.p[i] == 'i' || sm.p[i] == 'I') && (sm.p[i + 1] == 'd' || sm.p[i + 1] == 'D') && sm.p[i + 2] == ':' &&
            memcmp(sm.p + i + 3, old.p, old.len) == 0) {
            hit = sm.p + i + 3;
            break;
        }
    }
    if (hit && sm.len - old.len + il <= 254) {
        size_t pre = (size_t)(hit - sm.p);
        memcpy(text, sm.p, pre);
        memcpy(text + pre, issued, il);
        memcpy(text + pre + il, hit + old.len, sm.len - pre - old.len);
        tl = sm.len - old.len + il;
    } else {
        memcpy(text, sm.p, sm.len);
        tl = sm.len;
    }
    /* The exact length first: the text may grow by the issued id, and so
     * does every receipted_message_id TLV (one per spec, but a peer may
     * repeat it, up to SMPP_MAX_TLVS times, each possibly empty), so the
     * result can be longer than the input by much more than one id.  A
     * receipt that would pass SMPP_MAX_PDU_LEN is refused: no peer could
     * take it (found by tests/fuzz/fuzz-proxy.c). */
    size_t need = sm_off + tl;
    for (size_t i = sm_off + sm.len; i + 4 <= len;) {
        uint16_t tag = smpp_be16(raw + i), vl = smpp_be16(raw + i + 2);
        if (i + 4 + vl > len)
            return SG_EINVAL;
        need += 4 + (tag == SMPP_TLV_receipted_message_id ? il + 1 : (size_t)vl);
        i += 4 + (size_t)vl;
    }
    if (need > SMPP_MAX_PDU_LEN)
        return SG_EINVAL;
    if (need > cap)
        return SG_ENOSPC;
    size_t o = 0;
    memcpy(out, raw, sm_off - 1);
    o = sm_off - 1;
    out[o++] = (uint8_t)tl;
    memcpy(out + o, text, tl);
    o += tl;
    /* TLVs: copy, replacing receipted_message_id (v3.4 §5.3.2.12). */
    size_t i = sm_off + sm.len;
    while (i + 4 <= len) {
        uint16_t tag = smpp_be16(raw + i), vl = smpp_be16(raw + i + 2);
        if (i + 4 + vl > len)
            return SG_EINVAL;
        if (tag == SMPP_TLV_receipted_message_id) {
            out[o++] = raw[i];
            out[o++] = raw[i + 1];
            out[o++] = 0;
            out[o++] = (uint8_t)(il + 1);
            memcpy(out + o, issued, il + 1);
            o += il + 1;
        } else {
            memcpy(out + o, raw + i, 4 + (size_t)vl);
            o += 4 + (size_t)vl;
        }
        i += 4 + (size_t)vl;
    }
    out[0] = (uint8_t)(o >> 24);
    out[1] = (uint8_t)(o >> 16);
    out[2] = (uint8_t)(o >> 8);
    out[3] = (uint8_t)o;
    return (int)o;
}
