#include "output-json.h"
#include "json-writer-int.h"

#include <string.h>

/* Formatted endpoints ("10.0.0.1:2775", quotes included) are memoised in
 * the writer: every event writes two, and a capture has few distinct ones
 * (decode-small: 64 endpoints on 200,000 events), so formatting them each
 * time was a tenth of `decode`.  Keyed by the whole endpoint, so a slot can
 * never be stale, only replaced. */
_Static_assert(SG_ENDPOINT_STRLEN + 1 <= JW_MEMO_TEXT, "a formatted endpoint and its quotes fit a memo slot");

static const struct jw_memo_slot *endpoint_memo(jw_t *w, const struct sg_endpoint *ep)
{
    uint64_t a0, a1;
    memcpy(&a0, ep->addr, 8);
    memcpy(&a1, ep->addr + 8, 8);
    uint64_t k2 = (uint64_t)ep->port | (uint64_t)ep->is_v4 << 16;
    uint64_t h = (a0 ^ a1 * 0x9E3779B97F4A7C15u ^ k2) * 0xFF51AFD7ED558CCDu;
    struct jw_memo_slot *m = jw_memo_slot(w, h >> 58);
    if (m->n && m->key[0] == a0 && m->key[1] == a1 && m->key[2] == k2)
        return m;
    char buf[SG_ENDPOINT_STRLEN];
    sg_endpoint_format(ep, buf, sizeof buf);
    size_t n = strlen(buf);
    m->text[0] = '"';
    memcpy(m->text + 1, buf, n);
    m->text[n + 1] = '"';
    m->n = (uint32_t)n + 2;
    m->key[0] = a0;
    m->key[1] = a1;
    m->key[2] = k2;
    return m;
}

#define endpoint(w, k, ep)                                \
    do {                                                  \
        const struct sg_endpoint *ep_ = (ep);             \
        if (ep_)                                          \
            jw_lit_kmemo((w), k, endpoint_memo((w), ep_)); \
        else                                              \
            jw_lit_knull((w), k);                         \
    } while (0)

/* A name from the program's own tables (command, TLV, event kind): no
 * escaping needed; NULL as null. */
#define name_or_null(w, k, name)                              \
    do {                                                      \
        const char *nm_ = (name);                             \
        if (nm_)                                              \
            jw_lit_kplain((w), k, nm_, strlen(nm_));          \
        else                                                  \
            jw_lit_knull((w), k);                             \
    } while (0)

/* A string from the decoder (outside data): escaped; NULL as null. */
#define str_or_null(w, k, str)                                \
    do {                                                      \
        const char *st_ = (str);                              \
        if (st_)                                              \
            jw_lit_kstrn((w), k, st_, strlen(st_));           \
        else                                                  \
            jw_lit_knull((w), k);                             \
    } while (0)

#define view_str(w, k, v) jw_lit_kstrn((w), k, (const char *)(v).p, (v).len)

static void udh_json(jw_t *w, const struct sms_udh *u)
{
    jw_lit_key(w, "udh");
    jw_obj_begin(w);
    jw_lit_kuint(w, "length", u->udhl);
    if (u->concat) {
        jw_lit_kuint(w, "ref", u->ref);
        jw_lit_kuint(w, "ref_bits", u->ref_bits);
        jw_lit_kuint(w, "total", u->total);
        jw_lit_kuint(w, "seq", u->seq);
    }
    if (u->has_port) {
        jw_lit_kuint(w, "dst_port", u->dst_port);
        jw_lit_kuint(w, "src_port", u->src_port);
    }
    jw_lit_key(w, "ies");
    jw_arr_begin(w);
    for (unsigned i = 0; i < u->n_kept; i++) {
        jw_obj_begin(w);
        jw_lit_kuint(w, "iei", u->ies[i].iei);
        jw_lit_khex(w, "data", u->ies[i].data, u->ies[i].len);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

void output_json_pdu(jw_t *w, const struct decoder_pdu *e)
{
    const struct smpp_pdu *p = e->pdu;
    const char *name = smpp_command_name(p->command_id);
    jw_lit_kplain(w, "event", "pdu", 3);
    jw_lit_key(w, "ts");
    jw_time_us(w, e->ts);
    endpoint(w, "src", e->flow->src);
    endpoint(w, "dst", e->flow->dst);
    jw_lit_kuint(w, "flow", e->flow->flow_id);
    jw_lit_kuint(w, "offset", e->offset);
    name_or_null(w, "command", name);
    jw_lit_kuint(w, "command_id", p->command_id);
    jw_lit_kuint(w, "command_status", p->command_status);
    const char *st = smpp_status_name(p->command_status);
    if (p->command_status && st)
        jw_lit_kplain(w, "command_status_name", st, strlen(st));
    jw_lit_kuint(w, "sequence_number", p->sequence_number);
    smpp_pdu_write_json(p, w);
    if (e->udh)
        udh_json(w, e->udh);
    if (e->text)
        jw_lit_kstrn(w, "text", e->text, e->text_len);
    else if (e->text_binary)
        jw_lit_kbool(w, "binary", true);
}

void output_json_message(jw_t *w, const struct decoder_message *e, const char *event_name)
{
    name_or_null(w, "event", event_name);
    jw_lit_key(w, "ts");
    jw_time_us(w, e->ts);
    jw_lit_kuint(w, "uid", e->uid);
    endpoint(w, "esme", e->esme);
    endpoint(w, "smsc", e->smsc);
    jw_lit_kplain(w, "direction", e->mobile_originated ? "mo" : "mt", 2);
    str_or_null(w, "account", e->account);
    name_or_null(w, "command", smpp_command_name(e->command_id));
    view_str(w, "source_addr", e->source_addr);
    jw_lit_kuint(w, "source_addr_ton", e->source_addr_ton);
    jw_lit_kuint(w, "source_addr_npi", e->source_addr_npi);
    view_str(w, "destination_addr", e->destination_addr);
    jw_lit_kuint(w, "dest_addr_ton", e->dest_addr_ton);
    jw_lit_kuint(w, "dest_addr_npi", e->dest_addr_npi);
    if (e->n_destinations > 1)
        jw_lit_kuint(w, "destinations", e->n_destinations);
    jw_lit_kuint(w, "esm_class", e->esm_class);
    jw_lit_kuint(w, "data_coding", e->data_coding);
    jw_lit_kuint(w, "parts", e->parts);
    if (e->parts_received != e->parts)
        jw_lit_kuint(w, "parts_received", e->parts_received);
    jw_lit_kbool(w, "complete", e->complete);
    if (e->text) {
        jw_lit_kstrn(w, "text", e->text, e->text_len);
    } else {
        jw_lit_knull(w, "text");
        jw_lit_khex(w, "user_data", e->ud, e->ud_len);
    }
    str_or_null(w, "message_id", e->message_id);
    if (e->response_seen)
        jw_lit_kuint(w, "command_status", e->command_status);
    else
        jw_lit_knull(w, "command_status");
}

void output_json_receipt(jw_t *w, const struct decoder_receipt *e)
{
    jw_lit_kplain(w, "event", "receipt", 7);
    jw_lit_key(w, "ts");
    jw_time_us(w, e->ts);
    endpoint(w, "esme", e->esme);
    endpoint(w, "smsc", e->smsc);
    str_or_null(w, "message_id", e->message_id);
    view_str(w, "stat", e->stat);
    view_str(w, "err", e->err);
    view_str(w, "submit_date", e->submit_date);
    view_str(w, "done_date", e->done_date);
    if (e->message_state >= 0)
        jw_lit_kuint(w, "message_state", (uint64_t)e->message_state);
    view_str(w, "source_addr", e->source_addr);
    view_str(w, "destination_addr", e->destination_addr);
    jw_lit_kbool(w, "tied", e->tied);
    if (e->tied) {
        jw_lit_kuint(w, "message_uid", e->message_uid);
        jw_lit_key(w, "submit_ts");
        jw_time_us(w, e->submit_ts);
    }
}

void output_json_error(jw_t *w, const struct decoder_error *e)
{
    static const char *kinds[] = {"packet", "pdu", "udh", "stream"};
    jw_lit_kplain(w, "event", "error", 5);
    jw_lit_key(w, "ts");
    jw_time_us(w, e->ts);
    jw_lit_kplain(w, "kind", kinds[e->kind], strlen(kinds[e->kind]));
    jw_lit_kuint(w, "frame", e->frame);
    if (e->flow) {
        endpoint(w, "src", e->flow->src);
        endpoint(w, "dst", e->flow->dst);
        jw_lit_kuint(w, "flow", e->flow->flow_id);
    }
    jw_lit_kuint(w, "offset", e->offset);
    str_or_null(w, "reason", e->reason);
}
