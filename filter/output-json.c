#include "output-json.h"

#include <string.h>

static void endpoint(jw_t *w, const char *key, const struct sg_endpoint *ep)
{
    char buf[SG_ENDPOINT_STRLEN];
    jw_key(w, key);
    if (!ep) {
        jw_null(w);
        return;
    }
    sg_endpoint_format(ep, buf, sizeof buf);
    jw_str(w, buf);
}

static void view_str(jw_t *w, const char *key, struct sg_view v)
{
    jw_kstrn(w, key, (const char *)v.p, v.len);
}

static void udh_json(jw_t *w, const struct sms_udh *u)
{
    jw_key(w, "udh");
    jw_obj_begin(w);
    jw_kuint(w, "length", u->udhl);
    if (u->concat) {
        jw_kuint(w, "ref", u->ref);
        jw_kuint(w, "ref_bits", u->ref_bits);
        jw_kuint(w, "total", u->total);
        jw_kuint(w, "seq", u->seq);
    }
    if (u->has_port) {
        jw_kuint(w, "dst_port", u->dst_port);
        jw_kuint(w, "src_port", u->src_port);
    }
    jw_key(w, "ies");
    jw_arr_begin(w);
    for (unsigned i = 0; i < u->n_kept; i++) {
        jw_obj_begin(w);
        jw_kuint(w, "iei", u->ies[i].iei);
        jw_khex(w, "data", u->ies[i].data, u->ies[i].len);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

void output_json_pdu(jw_t *w, const struct decoder_pdu *e)
{
    const struct smpp_pdu *p = e->pdu;
    const char *name = smpp_command_name(p->command_id);
    jw_kstr(w, "event", "pdu");
    jw_key(w, "ts");
    jw_time_us(w, e->ts);
    endpoint(w, "src", e->flow->src);
    endpoint(w, "dst", e->flow->dst);
    jw_kuint(w, "flow", e->flow->flow_id);
    jw_kuint(w, "offset", e->offset);
    jw_key(w, "command");
    if (name)
        jw_str(w, name);
    else
        jw_null(w);
    jw_kuint(w, "command_id", p->command_id);
    jw_kuint(w, "command_status", p->command_status);
    const char *st = smpp_status_name(p->command_status);
    if (p->command_status && st)
        jw_kstr(w, "command_status_name", st);
    jw_kuint(w, "sequence_number", p->sequence_number);
    smpp_pdu_write_json(p, w);
    if (e->udh)
        udh_json(w, e->udh);
    if (e->text)
        jw_kstrn(w, "text", e->text, e->text_len);
    else if (e->text_binary)
        jw_kbool(w, "binary", true);
}

void output_json_message(jw_t *w, const struct decoder_message *e, const char *event_name)
{
    jw_kstr(w, "event", event_name);
    jw_key(w, "ts");
    jw_time_us(w, e->ts);
    jw_kuint(w, "uid", e->uid);
    endpoint(w, "esme", e->esme);
    endpoint(w, "smsc", e->smsc);
    jw_kstr(w, "direction", e->mobile_originated ? "mo" : "mt");
    jw_key(w, "account");
    jw_str(w, e->account);
    jw_kstr(w, "command", smpp_command_name(e->command_id));
    view_str(w, "source_addr", e->source_addr);
    jw_kuint(w, "source_addr_ton", e->source_addr_ton);
    jw_kuint(w, "source_addr_npi", e->source_addr_npi);
    view_str(w, "destination_addr", e->destination_addr);
    jw_kuint(w, "dest_addr_ton", e->dest_addr_ton);
    jw_kuint(w, "dest_addr_npi", e->dest_addr_npi);
    if (e->n_destinations > 1)
        jw_kuint(w, "destinations", e->n_destinations);
    jw_kuint(w, "esm_class", e->esm_class);
    jw_kuint(w, "data_coding", e->data_coding);
    jw_kuint(w, "parts", e->parts);
    if (e->parts_received != e->parts)
        jw_kuint(w, "parts_received", e->parts_received);
    jw_kbool(w, "complete", e->complete);
    jw_key(w, "text");
    if (e->text)
        jw_strn(w, e->text, e->text_len);
    else
        jw_null(w);
    if (!e->text)
        jw_khex(w, "user_data", e->ud, e->ud_len);
    jw_key(w, "message_id");
    jw_str(w, e->message_id);
    jw_key(w, "command_status");
    if (e->response_seen)
        jw_uint(w, e->command_status);
    else
        jw_null(w);
}

void output_json_receipt(jw_t *w, const struct decoder_receipt *e)
{
    jw_kstr(w, "event", "receipt");
    jw_key(w, "ts");
    jw_time_us(w, e->ts);
    endpoint(w, "esme", e->esme);
    endpoint(w, "smsc", e->smsc);
    jw_key(w, "message_id");
    jw_str(w, e->message_id);
    view_str(w, "stat", e->stat);
    view_str(w, "err", e->err);
    view_str(w, "submit_date", e->submit_date);
    view_str(w, "done_date", e->done_date);
    if (e->message_state >= 0)
        jw_kint(w, "message_state", e->message_state);
    view_str(w, "source_addr", e->source_addr);
    view_str(w, "destination_addr", e->destination_addr);
    jw_kbool(w, "tied", e->tied);
    if (e->tied) {
        jw_kuint(w, "message_uid", e->message_uid);
        jw_key(w, "submit_ts");
        jw_time_us(w, e->submit_ts);
    }
}

void output_json_error(jw_t *w, const struct decoder_error *e)
{
    static const char *kinds[] = {"packet", "pdu", "udh", "stream"};
    jw_kstr(w, "event", "error");
    jw_key(w, "ts");
    jw_time_us(w, e->ts);
    jw_kstr(w, "kind", kinds[e->kind]);
    jw_kuint(w, "frame", e->frame);
    if (e->flow) {
        endpoint(w, "src", e->flow->src);
        endpoint(w, "dst", e->flow->dst);
        jw_kuint(w, "flow", e->flow->flow_id);
    }
    jw_kuint(w, "offset", e->offset);
    jw_kstr(w, "reason", e->reason);
}
