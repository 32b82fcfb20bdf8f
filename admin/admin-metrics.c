/* GET /metrics (Prometheus text format 0.0.4, every series prefixed
 * smsguard_) and GET /healthz.
 *
 * Sources: the engine's counters and the message log's are atomics any
 * thread may read; the decoder's belong to the judging thread, which
 * copies them here from its tick (admin_publish_metrics), so they are at
 * most one tick old (about 4096 packets or 200 ms idle). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
    fprintf(f, "# HELP smsguard_%s %s\n# TYPE smsguard_%s counter\nsmsguard_%s %llu\n", name, help,
            name, name, (unsigned long long)v);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
    fprintf(f, "# HELP smsguard_%s %s\n# TYPE smsguard_%s gauge\nsmsguard_%s %llu\n", name, help,
            name, name, (unsigned long long)v);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP smsguard_%s %s\n# TYPE smsguard_%s %s\n", name, help, name, type);
}

int admin_h_metrics(admin_t *a, struct admin_req *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return admin_error(r, 500, "no_memory", NULL, "out of memory");
    struct admin_metrics m;
    pthread_mutex_lock(&a->metrics_mu);
    m = a->metrics;
    pthread_mutex_unlock(&a->metrics_mu);
    const struct decoder_stats *d = &m.dec;

    /* Prometheus wants every sample of a family together: collect the
     * labelled families first, then print them in one go. */
    struct lv {
        const char *label;
        uint64_t v;
    } drops[8], ev[12];
    size_t nd = 0, ne = 0;
#define DROP(l, x) drops[nd++] = (struct lv){(l), (x)}
#define EVICT(l, x) ev[ne++] = (struct lv){(l), (x)}
    DROP("memcap", d->stream.memcap_drops);
    DROP("out_of_order", d->stream.ooo_dropped);
    DROP("gap_bytes", d->stream.gap_bytes);
    DROP("oversize_pdu", d->stream.oversize);
    EVICT("flows", d->stream.flows_evicted);
    EVICT("sessions", d->sessions_evicted);
    EVICT("requests", d->requests_evicted);
    EVICT("multipart", d->messages_evicted);
    EVICT("receipt_ties", d->ties_evicted);
    EVICT("api_authfail", atomic_load(&a->authfail_evictions));
    struct verdict_stats v;
    memset(&v, 0, sizeof v);
    if (a->engine) {
        verdict_engine_get_stats(a->engine, &v);
        DROP("autobl_queue_full", v.autobl_queue_dropped);
        EVICT("autobl_overlay", v.overlay_evictions);
        EVICT("volume_sender", v.vol_sender.evictions);
        EVICT("volume_fingerprint", v.vol_fingerprint.evictions);
        EVICT("volume_account", v.vol_account.evictions);
    }
    struct msglog_stats ms;
    memset(&ms, 0, sizeof ms);
    if (a->msglog) {
        msglog_get_stats(a->msglog, &ms);
        DROP("msglog_queue_full", ms.dropped);
        DROP("msglog_failed", ms.failed);
    }
    admin_webhook_t *wh = atomic_load_explicit(&a->webhook, memory_order_acquire);
    struct admin_webhook_stats ws;
    memset(&ws, 0, sizeof ws);
    if (wh) {
        admin_webhook_get_stats(wh, &ws);
        DROP("alert_webhook_queue_full", ws.dropped);
    }
#undef DROP
#undef EVICT

    counter(f, "packets_total", "Packets read by the decoder.", d->packets);
    counter(f, "packet_errors_total", "Packets whose headers did not decode.", d->packet_errors);
    counter(f, "pdus_total", "SMPP PDUs decoded.", d->pdus);
    counter(f, "pdu_errors_total", "SMPP PDUs that failed to decode.", d->pdu_errors);
    counter(f, "messages_decoded_total", "Logical messages assembled.", d->messages);
    counter(f, "receipts_total", "Delivery receipts seen.", d->receipts);
    counter(f, "receipts_tied_total", "Delivery receipts tied to their submit.", d->receipts_tied);
    head(f, "drops_total", "counter", "Data dropped, by cause.");
    for (size_t i = 0; i < nd; i++)
        fprintf(f, "smsguard_drops_total{cause=\"%s\"} %llu\n", drops[i].label,
                (unsigned long long)drops[i].v);
    head(f, "evictions_total", "counter", "Entries evicted from bounded tables, by table.");
    for (size_t i = 0; i < ne; i++)
        fprintf(f, "smsguard_evictions_total{table=\"%s\"} %llu\n", ev[i].label,
                (unsigned long long)ev[i].v);
    gauge(f, "flows_active", "TCP flows tracked now.", d->stream.flows_active);
    gauge(f, "reassembly_buffered_bytes", "Bytes held for reassembly now.", d->stream.buffered_bytes);

    if (a->engine) {
        counter(f, "messages_judged_total", "Messages judged by the verdict engine.", v.messages);
        head(f, "verdicts_total", "counter", "Verdicts by action.");
        for (int i = 0; i < 3; i++)
            fprintf(f, "smsguard_verdicts_total{action=\"%s\"} %llu\n",
                    verdict_action_name((enum verdict_action)i), (unsigned long long)v.by_action[i]);
        head(f, "verdict_reasons_total", "counter", "Messages with at least one reason of each type.");
        for (int i = 0; i < VERDICT_R_COUNT; i++)
            fprintf(f, "smsguard_verdict_reasons_total{reason=\"%s\"} %llu\n",
                    verdict_reason_name((enum verdict_reason_type)i), (unsigned long long)v.by_reason[i]);
        counter(f, "alerts_total", "Verdicts that raised an alert.", v.alerts);
        counter(f, "shadow_hits_total", "Shadow rule matches (counted, never acting).", v.shadow_hits);
        counter(f, "autobl_created_total", "Automatic blacklist entries created.", v.autobl_created);
        head(f, "snapshot_swaps_total", "counter", "Engine snapshot swaps, by kind.");
        fprintf(f, "smsguard_snapshot_swaps_total{kind=\"lists\"} %llu\n", (unsigned long long)v.lists_swaps);
        fprintf(f, "smsguard_snapshot_swaps_total{kind=\"rules\"} %llu\n", (unsigned long long)v.rules_swaps);
        fprintf(f, "smsguard_snapshot_swaps_total{kind=\"domains\"} %llu\n", (unsigned long long)v.domains_swaps);
    }
    head(f, "reloads_total", "counter", "Reloads done by the daemon, by kind and result.");
    fprintf(f, "smsguard_reloads_total{kind=\"rules\",result=\"ok\"} %llu\n",
            (unsigned long long)(m.rule_reloads - (m.rule_reload_failures < m.rule_reloads ? m.rule_reload_failures : m.rule_reloads)));
    fprintf(f, "smsguard_reloads_total{kind=\"rules\",result=\"refused\"} %llu\n",
            (unsigned long long)m.rule_reload_failures);
    fprintf(f, "smsguard_reloads_total{kind=\"lists\",result=\"ok\"} %llu\n", (unsigned long long)m.list_reloads);
    counter(f, "autobl_written_total", "Automatic blacklist entries written to the store.", m.autobl_written);
    if (a->msglog) {
        gauge(f, "queue_depth", "Entries waiting in the message-log ring.", ms.queued);
        counter(f, "msglog_written_total", "Message-log rows committed.", ms.written);
        counter(f, "msglog_pruned_total", "Message-log rows deleted by retention.", ms.pruned);
        counter(f, "msglog_lock_waits_total",
                "Message-log transactions whose BEGIN timed out on another connection's write lock "
                "and was tried again (entries lost only after the last try: drops_total{cause=\"msglog_failed\"}).",
                ms.lock_waits);
        counter(f, "sender_stats_failed_total",
                "Sender-statistics upserts that failed (their rows are logged).", ms.stats_failed);
    }
    if (wh) {
        head(f, "alert_webhook_total", "counter",
             "Alerts for the webhook, by outcome: posted (2xx), failed (after the last retry), "
             "dropped (queue full, or left at shutdown).");
        fprintf(f, "smsguard_alert_webhook_total{result=\"posted\"} %llu\n", (unsigned long long)ws.posted);
        fprintf(f, "smsguard_alert_webhook_total{result=\"failed\"} %llu\n", (unsigned long long)ws.failed);
        fprintf(f, "smsguard_alert_webhook_total{result=\"dropped\"} %llu\n", (unsigned long long)ws.dropped);
        counter(f, "alert_webhook_retries_total", "Webhook attempts after a failed one.", ws.retries);
        gauge(f, "alert_webhook_queue_depth", "Alerts waiting to be posted.", ws.queued);
    }
    counter(f, "api_requests_total", "HTTP requests received by the admin API.",
            atomic_load(&a->requests));
    head(f, "api_responses_total", "counter", "Admin API responses by status class.");
    for (int c = 1; c <= 5; c++)
        fprintf(f, "smsguard_api_responses_total{class=\"%dxx\"} %llu\n", c,
                (unsigned long long)atomic_load(&a->responses_by_class[c]));
    counter(f, "api_auth_failures_total", "Requests with an unknown, revoked or expired token.",
            atomic_load(&a->auth_failures));
    counter(f, "api_throttled_total", "Requests refused with 429 after repeated failures.",
            atomic_load(&a->throttled));
    gauge(f, "metrics_updated_seconds", "Wall clock of the judging thread's last copy.",
          (uint64_t)(m.updated_at > 0 ? m.updated_at : 0));
    if (fclose(f) != 0) {
        free(buf);
        return admin_error(r, 500, "no_memory", NULL, "out of memory");
    }
    r->text = buf;
    r->text_len = len;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    return 200;
}

int admin_h_healthz(admin_t *a, struct admin_req *r)
{
    int v = 0;
    (void)a;
    v = store_schema_version(r->db);
    int ok = v == STORE_SCHEMA_VERSION;
    jw_obj_begin(r->w);
    jw_kstr(r->w, "status", ok ? "ok" : "degraded");
    jw_kint(r->w, "schema_version", v);
    jw_kbool(r->w, "engine", a->engine != NULL);
    jw_obj_end(r->w);
    return ok ? 200 : 503;
}
