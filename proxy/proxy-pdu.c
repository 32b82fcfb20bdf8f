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

struct slot {
    uint32_t seq;
    uint8_t used;
    struct proxy_pending v;
};

struct proxy_seqmap {
    uint32_t max, count, mask;
    struct slot *slots;
};

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
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->max = max;
    m->mask = cap - 1;
    return m;
}

void proxy_seqmap_free(proxy_seqmap_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}

/* Fibonacci hashing: sequence numbers are consecutive, so spread them. */
static uint32_t home(const proxy_seqmap_t *m, uint32_t seq) { return (seq * 2654435769u) & m->mask; }

int proxy_seqmap_put(proxy_seqmap_t *m, uint32_t seq, const struct proxy_pending *v)
{
    uint32_t i = home(m, seq);
    /* Load stays <= 1/2, so the probe ends at an empty slot. */
    for (;; i = (i + 1) & m->mask) {
        struct slot *s = &m->slots[i];
        if (!s->used)
            break;
        if (s->seq == seq)
            return SG_EEXIST;
    }
    if (m->count >= m->max)
        return SG_ENOSPC;
    m->slots[i].used = 1;
    m->slots[i].seq = seq;
    m->slots[i].v = *v;
    m->count++;
    return 0;
}

int proxy_seqmap_take(proxy_seqmap_t *m, uint32_t seq, struct proxy_pending *out)
{
    uint32_t i = home(m, seq);
    for (;; i = (i + 1) & m->mask) {
        struct slot *s = &m->slots[i];
        if (!s->used)
            return SG_ENOTFOUND;
        if (s->seq == seq)
            break;
    }
    if (out)
        *out = m->slots[i].v;
    /* Backward-shift deletion (Knuth 6.4 Algorithm R): move later entries of
     * the cluster into the hole when their home slot allows it, so no
     * tombstones accumulate. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & m->mask; m->slots[j].used; j = (j + 1) & m->mask) {
        uint32_t h = home(m, m->slots[j].seq);
        /* j may move to hole when h is not cyclically in (hole, j]. */
        int in_range = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
        if (!in_range) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].used = 0;
    m->count--;
    return 0;
}

uint32_t proxy_seqmap_count(const proxy_seqmap_t *m) { return m->count; }
uint32_t proxy_seqmap_max(const proxy_seqmap_t *m) { return m->max; }

void proxy_seqmap_drain(proxy_seqmap_t *m, void (*fn)(void *ctx, uint32_t seq, const struct proxy_pending *v),
                        void *ctx)
{
    for (uint32_t i = 0; i <= m->mask; i++) {
        struct slot *s = &m->slots[i];
        if (!s->used)
            continue;
        if (fn)
            fn(ctx, s->seq, &s->v);
        s->used = 0;
    }
    m->count = 0;
}
