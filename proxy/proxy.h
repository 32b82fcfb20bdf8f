/* The inline SMPP proxy: smsguard in the path between ESMEs and an SMSC,
 * judging every message with the verdict engine and stopping the blocked
 * ones (docs/proxy.md).
 *
 * Shape: one thread runs an epoll loop over non-blocking sockets and judges
 * in line.  Each ESME connection accepted on the listen address gets its
 * own upstream connection to the SMSC (a "link"); binds and their answers
 * pass through unchanged and the bind's system_id becomes the account the
 * engine judges by.  submit_sm, submit_multi and data_sm from the ESME and
 * deliver_sm from the SMSC (except receipts) are judged before they are
 * forwarded.
 *
 * Memory: a link owns four fixed buffers allocated when it is accepted (two
 * input buffers of SMPP_MAX_PDU_LEN + a little, two output buffers of
 * out_buf bytes) and two pending-request tables; nothing on the message
 * path calls the allocator.  At most max_links links; further connections
 * are closed at once and counted.
 *
 * Back-pressure: a side is read only while the other side's output buffer
 * has room for a maximal PDU and fewer than window requests are pending
 * there, so a slow SMSC stops the ESME (TCP window) instead of growing a
 * queue.
 *
 * Lifecycle: proxy_config_default(&c); set fields; proxy_new(); proxy_run()
 * until *stop; proxy_free().  The engine and the message log are borrowed
 * and must outlive the proxy.
 */
#ifndef SG_PROXY_H
#define SG_PROXY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "msglog.h"
#include "sms-text.h"
#include "verdict.h"

typedef struct proxy proxy_t;

/* What a blocked submit gets back. */
enum proxy_block_mode {
    PROXY_BLOCK_ERROR = 0, /* submit_sm_resp with block_status (default) */
    PROXY_BLOCK_SILENT,    /* ESME_ROK with a generated message_id, and a
                              REJECTD receipt to a receiver bind */
};

/* When a message is not judged: the engine failed, or the message had
 * already waited longer than judge_budget_us when its turn came (the proxy
 * thread overloaded or stalled).  A sender the engine verified recently
 * passes either way, with an alert (docs/proxy.md). */
enum proxy_fail_mode {
    PROXY_FAIL_OPEN = 0,   /* forward it unjudged (default), counted */
    PROXY_FAIL_CLOSED,     /* answer block_status, never silently, counted */
};

/* Multipart submits (docs/proxy.md "Multipart"). */
enum proxy_mp_mode {
    PROXY_MP_HOLD = 0,     /* hold the parts, judge the whole, forward all or
                              none (default) */
    PROXY_MP_FORWARD,      /* forward parts as they come, judging the text so
                              far; once it is spam, refuse the rest */
};

/* A message the proxy judged (or passed unjudged: a verified sender),
 * as it logged it; what the on_judged hook gets.  Everything is borrowed
 * for the call only. */
struct proxy_judged {
    int64_t ts_us;          /* wall clock, the message-log row's time */
    int64_t log_id;         /* its message-log row; 0 when not logged */
    const char *sender;     /* source_addr as logged, NUL-terminated */
    const char *account;    /* the link's bind system_id ("" before a bind) */
    const struct verdict *v;
    unsigned parts;
    int enforced;           /* 1: the proxy stopped it */
};

struct proxy_config {
    const char *listen;    /* "ADDR:PORT" of the SMPP side */
    const char *upstream;  /* "HOST:PORT" of the SMSC */
    enum proxy_block_mode block_mode;
    uint32_t block_status; /* error status for blocked submits; default 0x45 */
    /* deliver_sm (MO) judged block: 0 accept and drop (default: an error
     * makes the SMSC retry), else this status in the deliver_sm_resp. */
    uint32_t deliver_block_status;
    enum proxy_fail_mode fail_mode;
    /* 0: monitor: judge and log, forward everything (a tap in the path). */
    int enforce;
    unsigned max_links;          /* default 4096 */
    size_t out_buf;              /* per direction per link; default 256 KiB */
    unsigned window;             /* requests pending per direction; default 256 */
    unsigned connect_timeout_ms; /* upstream connect; default 5000 */
    /* A request forwarded to a peer and not answered within this is
     * answered by the proxy (once: a late answer is dropped and counted)
     * and its pending slot freed; default 5000.  What the ESME gets for a
     * submit_sm / submit_multi / data_sm: timeout_status (default
     * ESME_RSYSERR); a bind: ESME_RBINDFAIL; other requests ESME_RSYSERR;
     * the SMSC for a deliver_sm / data_sm: ESME_RX_T_APPN (it retries). */
    unsigned response_timeout_ms;
    uint32_t timeout_status;
    /* Most microseconds a message may have waited since it was read when
     * its judgement starts; older ones get fail_mode unjudged.  0 = off
     * (default). */
    unsigned judge_budget_us;
    enum proxy_mp_mode mp_mode;
    /* Multipart held in the proxy: most messages, bytes of parts, seconds
     * from first part to the last (default 1024, 8 MiB, 30). */
    unsigned mp_max_messages;
    size_t mp_max_bytes;
    unsigned mp_timeout_s;
    unsigned msgid_map_max;      /* issued id -> SMSC id entries; default 65536 */
    struct sms_text_opts text;   /* how data_coding values read on this link */
    /* Called on the proxy thread once for every message-log row the proxy
     * writes (also without a log: log_id 0), right after it is queued:
     * a judged message that is logged, a verified sender passed unjudged,
     * a monitored multipart message judged incomplete.  Not called for a
     * forward-mode part that does not finish its message (the last part
     * logs the whole).  When you would want it: alerts to the outside
     * (smsguard run and proxy post them to the alert webhook,
     * cmd/cmd-links.c), kept out of proxy/ so that it does not depend on
     * admin/.  It runs on the judging path: it must not block.  NULL: none
     * (default). */
    void (*on_judged)(void *ctx, const struct proxy_judged *j);
    void *on_judged_ctx;
};

void proxy_config_default(struct proxy_config *c);

/* Resolves the addresses and listens (SO_REUSEADDR).  Allocates the
 * link table and the judging buffers now.  NULL with a message in err
 * naming the option on failure.  engine: borrowed; a worker is made for
 * the proxy thread.  log: borrowed, may be NULL (nothing logged). */
proxy_t *proxy_new(const struct proxy_config *c, verdict_engine_t *engine, msglog_t *log, char *err,
                   size_t errcap);
/* The port actually listened on (for --listen ADDR:0). */
unsigned proxy_port(const proxy_t *p);

/* Runs the loop until *stop is set; then sends unbind to both sides of
 * every bound link, waits up to 2 s for the answers, and closes all.
 * tick(ctx) is called about every 200 ms from this thread (reloads, API
 * metrics).  Returns 0 or a negative code (epoll failed). */
int proxy_run(proxy_t *p, volatile sig_atomic_t *stop, void (*tick)(void *ctx), void *ctx);
void proxy_free(proxy_t *p);

struct proxy_stats {
    uint64_t links_accepted, links_refused, links_open, upstream_failures;
    uint64_t pdus_from_esme, pdus_from_smsc;
    uint64_t judged, allowed, flagged, blocked_submit, blocked_deliver;
    uint64_t fail_open, fail_closed;       /* messages not judged, by policy */
    uint64_t malformed, generic_nacks;     /* PDUs we could not use / nacks we sent */
    uint64_t receipts_sent, receipts_undeliverable; /* REJECTD/UNDELIV we made / no receiver */
    uint64_t backpressure_stalls;          /* times a side stopped being read */
    uint64_t timeouts;                     /* pending requests expired */
    uint64_t timeout_answers;              /* ... of which answered by the proxy */
    uint64_t late_responses;               /* answers after their request timed out: dropped */
    uint64_t unmatched_responses;          /* answers to nothing pending: dropped */
    uint64_t late_records_evicted;         /* timed-out numbers no longer remembered */
    uint64_t duplicate_requests;           /* a sequence number already pending: refused */
    uint64_t over_budget;                  /* not judged: waited past judge_budget_us */
    uint64_t judge_slow;                   /* judgements that alone took longer than the budget */
    uint64_t verified_unjudged;            /* verified senders passed unjudged, each an alert */
    uint64_t mp_parts_failed;              /* held parts answered OK but never delivered:
                                              refused by the SMSC, unanswered, link
                                              closed, expired, evicted */
    uint64_t mp_fwd_parts, mp_fwd_blocked, mp_fwd_refused, mp_fwd_partial, mp_fwd_expired;
    uint64_t mp_held, mp_forwarded, mp_blocked, mp_expired, mp_evicted;
    /* Monitor mode: parts forwarded and kept for the whole text, messages
     * judged whole when their last part came, messages judged on the parts
     * that arrived (expired, evicted, link closed; logged incomplete). */
    uint64_t mp_mon_parts, mp_mon_judged, mp_mon_incomplete;
    uint64_t late_binds_unbound;           /* bind answers after ESME_RBINDFAIL: unbind sent, link closed */
    uint64_t msgid_mapped, msgid_map_evicted;
};
void proxy_get_stats(const proxy_t *p, struct proxy_stats *out);

/* ---- testing interface (tests/fuzz/fuzz-proxy.c) --------------------------
 * The per-link input path without sockets or epoll, so a fuzzer can drive
 * framing, PDU handling, the pending tables, held multipart messages and
 * receipt rewriting deterministically.  Not for production. */

/* A proxy with link slots and tables as proxy_new() makes them, but no
 * addresses, listen socket or epoll (c->listen and c->upstream are
 * ignored).  Free with proxy_free(). */
proxy_t *proxy_new_for_test(const struct proxy_config *c, verdict_engine_t *engine, msglog_t *log,
                            char *err, size_t errcap);
/* Takes a free link slot as if an ESME (192.0.2.1) had connected and the
 * SMSC had answered the connect.  Returns the link index, SG_ENOSPC
 * when all max_links slots are in use, or -ENOMEM. */
int proxy_link_open_for_test(proxy_t *p);
/* Bytes the proxy would write to side (0 = ESME, 1 = SMSC) of link. */
typedef void (*proxy_test_out_fn)(void *ctx, int link, int side, const uint8_t *data, size_t len);
/* Appends data as if read from side (0 = ESME, 1 = SMSC) of link; *taken
 * says how much fitted in the input buffer (the rest would wait in the
 * socket).  Then processes both sides as the loop does after a read and
 * hands what every open link would write to out (NULL: discarded), as if
 * each write took it all.  Returns 0; SG_EINVAL when the link closed (a
 * command_length no framing recovers from: the slot is free again) or
 * link or side is out of range; SG_ENOTFOUND for a link not open. */
int proxy_feed_for_test(proxy_t *p, unsigned link, int side, const uint8_t *data, size_t len,
                        size_t *taken, proxy_test_out_fn out, void *ctx);
/* Runs multipart expiry and response timeouts as the loop's tick does, at
 * monotonic time at_ms (UINT64_MAX / 2: everything held or pending is
 * expired), then hands out what the links would write. */
void proxy_expire_for_test(proxy_t *p, uint64_t at_ms, proxy_test_out_fn out, void *ctx);
/* A fixed clock for the judging budget: data fed from now on counts as
 * read at read_us, and judging starts at now_us (monotonic microseconds);
 * both 0: the real clock again. */
void proxy_clock_for_test(proxy_t *p, uint64_t read_us, uint64_t now_us);

#endif
