/* PDU encoders and the pending-request table (proxy-pdu.h). */
#include "proxy-pdu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smpp.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void proxy_pdu_header(uint8_t *out, uint32_t len, uint32_t command_id, uint32_t status, uint32_t seq)
{
    put32(out, len);
    put32(out + 4, command_id);
    put32(out + 8, status);
    put32(out + 12, seq);
}

int proxy_pdu_simple(uint8_t *out, size_t cap, uint32_t command_id, uint32_t seq)
{
    if (cap < SMPP_HEADER_LEN)
        return SG_ENOSPC;
    proxy_pdu_header(out, SMPP_HEADER_LEN, command_id, 0, seq);
    return SMPP_HEADER_LEN;
}

int proxy_pdu_response(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status, uint32_t seq,
                       const char *message_id)
{
    uint32_t resp = req_id | SMPP_RESP_BIT;
    size_t idlen = message_id ? strlen(message_id) : 0;
    int with_id = 0, with_nuns = 0;
    switch (resp) {
    case SMPP_CMD(submit_sm_resp):
    case SMPP_CMD(data_sm_resp):
        with_id = status == 0;
        break;
    case SMPP_CMD(submit_multi_resp):
        with_id = with_nuns = status == 0;
        break;
    case SMPP_CMD(deliver_sm_resp):
        /* v3.4 §4.6.2: message_id is unused and set to NULL; the field is
         * still there. */
        with_id = 1;
        idlen = 0;
        break;
    default:
        break;
    }
    if (idlen > 64)
        return SG_EINVAL;
    size_t len = SMPP_HEADER_LEN + (with_id ? idlen + 1 : 0) + (with_nuns ? 1 : 0);
    if (cap < len)
        return SG_ENOSPC;
    proxy_pdu_header(out, (uint32_t)len, resp, status, seq);
    uint8_t *p = out + SMPP_HEADER_LEN;
    if (with_id) {
        if (idlen)
            memcpy(p, message_id, idlen);
        p[idlen] = 0;
        p += idlen + 1;
    }
    if (with_nuns)
        *p = 0; /* no_unsuccess */
    return (int)len;
}

static size_t put_cstr(uint8_t *p, struct sg_view v)
{
    if (v.len)
        memcpy(p, v.p, v.len);
    p[v.len] = 0;
    return v.len + 1;
}

static void fmt_date(char *buf, size_t cap, int64_t s)
{
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* YYMMDDhhmm (v3.4 Appendix B): two-digit year by definition. */
    snprintf(buf, cap, "%02u%02u%02u%02u%02u", (unsigned)(tm.tm_year % 100) % 100u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u);
}

int proxy_pdu_receipt(uint8_t *out, size_t cap, uint32_t seq, struct sg_view orig_src,
                      uint8_t src_ton, uint8_t src_npi, struct sg_view orig_dst, uint8_t dst_ton,
                      uint8_t dst_npi, const char *message_id, const char *stat, int state,
                      int64_t submit_s, int64_t done_s)
{
    size_t idlen = strlen(message_id);
    /* v3.4 §5.2: addresses at most 20 octets + NUL; message_id 64 + NUL. */
    if (orig_src.len > 64 || orig_dst.len > 64 || idlen > 64)
        return SG_EINVAL;
    char sd[16], dd[16], text[200];
    fmt_date(sd, sizeof sd, submit_s);
    fmt_date(dd, sizeof dd, done_s);
    int tl = snprintf(text, sizeof text, "id:%s sub:001 dlvrd:000 submit date:%s done date:%s stat:%s err:000 text:",
                      message_id, sd, dd, stat);
    if (tl < 0 || (size_t)tl >= sizeof text || tl > 254)
        return SG_EINVAL;
    /* Body (v3.4 §4.6.1): service_type, source (the original destination),
     * dest (the original source), esm_class .. sm_length, short_message,
     * then the TLVs. */
    size_t len = SMPP_HEADER_LEN + 1 + 2 + orig_dst.len + 1 + 2 + orig_src.len + 1 +
                 3 /* esm_class, protocol_id, priority */ + 7 /* times .. sm_length */ + (size_t)tl + (4 + idlen + 1) + (4 + 1);
    if (cap < len)
        return SG_ENOSPC;
    proxy_pdu_header(out, (uint32_t)len, SMPP_CMD(deliver_sm), 0, seq);
    uint8_t *p = out + SMPP_HEADER_LEN;
    *p++ = 0; /* service_type */
    *p++ = dst_ton;
    *p++ = dst_npi;
    p += put_cstr(p, orig_dst);
    *p++ = src_ton;
    *p++ = src_npi;
    p += put_cstr(p, orig_src);
    *p++ = 0x04; /* esm_class: SMSC delivery receipt (§5.2.12) */
    *p++ = 0;    /* protocol_id */
    *p++ = 0;    /* priority_flag */
    *p++ = 0;    /* schedule_delivery_time */
    *p++ = 0;    /* validity_period */
    *p++ = 0;    /* registered_delivery */
    *p++ = 0;    /* replace_if_present_flag */
    *p++ = 0;    /* data_coding: SMSC default */
    *p++ = 0;    /* sm_default_msg_id */
    *p++ = (uint8_t)tl;
    memcpy(p, text, (size_t)tl);
    p += tl;
    p[0] = (uint8_t)(SMPP_TLV_receipted_message_id >> 8);
    p[1] = (uint8_t)SMPP_TLV_receipted_message_id;
    p[2] = 0;
    p[3] = (uint8_t)(idlen + 1);
    memcpy(p + 4, message_id, idlen + 1);
    p += 4 + idlen + 1;
    p[0] = (uint8_t)(SMPP_TLV_message_state >> 8);
    p[1] = (uint8_t)SMPP_TLV_message_state;
    p[2] = 0;
    p[3] = 1;
    p[4] = (uint8_t)state;
    p += 5;
    if (SG_NEVER((size_t)(p - out) != len))
        return SG_EINVAL;
    return (int)len;
}

/* ---- seqmap --------------------------------------------------------------- */

#define NIL UINT32_MAX

/* An entry lives in a fixed pool (its index never changes while pending),
 * linked in the order it was put: the head is the oldest request, so the
 * response-timeout check looks at one entry per side and tick.  The hash
 * slots hold only (seq, entry index): 8 octets, so a probe stays in one or
 * two cache lines. */
struct ent {
    struct proxy_pending v;
    uint32_t seq;
    uint32_t prev, next;  /* send order; NIL at the ends (next = free list when free) */
};

struct slot {
    uint32_t seq;
    uint32_t ent;         /* entry index + 1; 0 = empty slot */
};

struct proxy_seqmap {
    uint32_t max, count, mask;
    struct slot *slots;
    struct ent *ents;
    uint32_t free_head, head, tail;
};

static void seqmap_reset(proxy_seqmap_t *m)
{
    memset(m->slots, 0, ((size_t)m->mask + 1) * sizeof *m->slots);
    for (uint32_t i = 0; i < m->max; i++)
        m->ents[i].next = i + 1 < m->max ? i + 1 : NIL;
    m->free_head = 0;
    m->head = m->tail = NIL;
    m->count = 0;
}

proxy_seqmap_t *proxy_seqmap_new(uint32_t max)
{
    if (max == 0 || max > (1u << 24))
        return NULL;
    uint32_t cap = 16;
    while (cap < 2 * max)
        cap <<= 1;
    proxy_seqmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->slots = calloc(cap, sizeof *m->slots);
    m->ents = calloc(max, sizeof *m->ents);
    if (!m->slots || !m->ents) {
        proxy_seqmap_free(m);
        return NULL;
    }
    m->max = max;
    m->mask = cap - 1;
    seqmap_reset(m);
    return m;
}

void proxy_seqmap_free(proxy_seqmap_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->ents);
    free(m);
}

/* Fibonacci hashing: sequence numbers are consecutive, so spread them. */
static uint32_t home(const proxy_seqmap_t *m, uint32_t seq) { return (seq * 2654435769u) & m->mask; }

/* The slot holding seq, or the empty slot ending its probe (load <= 1/2,
 * so a probe ends). */
static uint32_t find_slot(const proxy_seqmap_t *m, uint32_t seq)
{
    uint32_t i = home(m, seq);
    while (m->slots[i].ent && m->slots[i].seq != seq)
        i = (i + 1) & m->mask;
    return i;
}

int proxy_seqmap_put(proxy_seqmap_t *m, uint32_t seq, const struct proxy_pending *v)
{
    uint32_t i = find_slot(m, seq);
    if (m->slots[i].ent)
        return SG_EEXIST;
    if (m->count >= m->max || SG_NEVER(m->free_head == NIL))
        return SG_ENOSPC;
    uint32_t e = m->free_head;
    struct ent *en = &m->ents[e];
    m->free_head = en->next;
    en->v = *v;
    en->seq = seq;
    en->prev = m->tail;
    en->next = NIL;
    if (m->tail != NIL)
        m->ents[m->tail].next = e;
    else
        m->head = e;
    m->tail = e;
    m->slots[i].seq = seq;
    m->slots[i].ent = e + 1;
    m->count++;
    return 0;
}

const struct proxy_pending *proxy_seqmap_get(const proxy_seqmap_t *m, uint32_t seq)
{
    uint32_t i = find_slot(m, seq);
    return m->slots[i].ent ? &m->ents[m->slots[i].ent - 1].v : NULL;
}

int proxy_seqmap_take(proxy_seqmap_t *m, uint32_t seq, struct proxy_pending *out)
{
    uint32_t i = find_slot(m, seq);
    if (!m->slots[i].ent)
        return SG_ENOTFOUND;
    uint32_t e = m->slots[i].ent - 1;
    struct ent *en = &m->ents[e];
    if (out)
        *out = en->v;
    if (en->prev != NIL)
        m->ents[en->prev].next = en->next;
    else
        m->head = en->next;
    if (en->next != NIL)
        m->ents[en->next].prev = en->prev;
    else
        m->tail = en->prev;
    en->next = m->free_head;
    m->free_head = e;
    /* Backward-shift deletion (Knuth 6.4 Algorithm R): move later entries of
     * the cluster into the hole when their home slot allows it, so no
     * tombstones accumulate. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & m->mask; m->slots[j].ent; j = (j + 1) & m->mask) {
        uint32_t h = home(m, m->slots[j].seq);
        /* j may move to hole when h is not cyclically in (hole, j]. */
        int in_range = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
        if (!in_range) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].ent = 0;
    m->count--;
    return 0;
}

int proxy_seqmap_oldest(const proxy_seqmap_t *m, uint32_t *seq, struct proxy_pending *out)
{
    if (m->head == NIL)
        return SG_ENOTFOUND;
    *seq = m->ents[m->head].seq;
    if (out)
        *out = m->ents[m->head].v;
    return 0;
}

uint32_t proxy_seqmap_count(const proxy_seqmap_t *m) { return m->count; }
uint32_t proxy_seqmap_max(const proxy_seqmap_t *m) { return m->max; }

void proxy_seqmap_drain(proxy_seqmap_t *m, void (*fn)(void *ctx, uint32_t seq, const struct proxy_pending *v),
                        void *ctx)
{
    if (fn)
        for (uint32_t e = m->head; e != NIL; e = m->ents[e].next)
            fn(ctx, m->ents[e].seq, &m->ents[e].v);
    seqmap_reset(m);
}
