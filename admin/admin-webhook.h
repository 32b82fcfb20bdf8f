/* The alert webhook: every alert the admin API lists (GET /api/v1/alerts:
 * spoofing and look-alike attempts on a protected sender, a verified
 * sender's message that content, domain or volume rules would have
 * blocked, an automatic blacklist entry) is also POSTed, as one JSON object
 * of the same shape, to a URL the operator configured ([alerts]
 * webhook_url, docs/configuration.md).
 *
 *   admin_webhook_t *wh = admin_webhook_new(&cfg, err, sizeof err);
 *   ... judging thread: admin_webhook_post_verdict(wh, ...) for each verdict,
 *       admin_webhook_post_autobl(wh, ...) for each automatic entry stored ...
 *   admin_webhook_free(wh);
 *
 * Producer side (the post functions): formats the body into a fixed slot
 * of a bounded queue under a short mutex.  No allocation, no I/O, never
 * waits for the network: a full queue drops the alert and counts it
 * (dropped).  Work: O(body bytes), at most ADMIN_WEBHOOK_BODY_MAX.
 *
 * Poster thread (named sg-webhook): takes the oldest alert and POSTs it
 * with libcurl (Content-Type: application/json; http and https only,
 * redirects followed for both, at most 3, still POST).  An attempt that
 * fails (no connection, timeout, a status other than 2xx) is retried
 * `retries` times, after backoff_ms, then 2x, 4x ... (at most 30 s), then
 * counted failed; one that succeeds is counted posted.  One alert at a
 * time, in order: a slow receiver fills the queue, it never slows judging.
 *
 * Threads: the post functions may be called from several threads at once
 * (smsguard run: the tap's judging thread, every [proxy] link's thread
 * through its on_judged hook, the main thread for automatic entries);
 * stats from any thread.  admin_webhook_post_verdict() returns before the
 * mutex for a verdict that is not an alert.  Lifetime: the URL is copied; nothing is borrowed
 * after admin_webhook_new() returns.
 */
#ifndef SG_ADMIN_WEBHOOK_H
#define SG_ADMIN_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "verdict.h"

typedef struct admin_webhook admin_webhook_t;

/* A body longer than this is cut by dropping reasons from the end
 * ("reasons_truncated": true).  The slot size: queue_max of these are
 * allocated at start. */
#define ADMIN_WEBHOOK_BODY_MAX 8192

struct admin_webhook_config {
    const char *url;      /* http:// or https://; required */
    unsigned timeout_ms;  /* one attempt, connection to last byte; 0 = 5000 */
    unsigned queue_max;   /* alerts waiting to be posted; 0 = 256, at most 65536 */
    unsigned retries;     /* attempts after the first one (0 = none) */
    unsigned backoff_ms;  /* wait before the first retry, doubled for each
                             next one; 0 = 500 */
};

/* Checks the URL (http:// or https:// and a host), initialises libcurl
 * and starts the poster thread.  NULL and a message in err (naming the
 * setting) on failure.  Call it before other threads use libcurl: it runs
 * curl_global_init(). */
admin_webhook_t *admin_webhook_new(const struct admin_webhook_config *cfg, char *err, size_t errcap);
/* Stops the poster: the attempt in flight finishes (at most timeout_ms;
 * no more retries), what is still queued gets one attempt each while
 * timeout_ms has not passed since the stop, the rest is counted dropped.
 * So it returns within about three times timeout_ms.  NULL is a no-op. */
void admin_webhook_free(admin_webhook_t *wh);

/* The alert kind of a verdict, as GET /api/v1/alerts names it
 * ("spoofing", "lookalike", "verified_sender_matched": a whitelist reason
 * with a rule, domain or volume reason), or NULL when the API would not
 * list the message.  The API selects on the logged reasons, not on the
 * verdict's alert flag, and so does this: a verified sender's message that
 * a rule would only have flagged is listed (and posted); a verdict whose
 * alert stands for an automatic blacklist entry is not (the entry is
 * posted by admin_webhook_post_autobl() once stored), nor a protected
 * sender trusted with its account unknown (smsguard_alerts_total counts
 * both). */
const char *admin_webhook_kind(const struct verdict *v);

/* Queues the verdict's alert when admin_webhook_kind() names one:
 *   {"kind","time" (packet time, RFC 3339),"message_id" (the message-log
 *    id, null when not logged),"sender","account","action","score",
 *    "reasons":[{"type","id","detail"}]}
 * sender is sender_len bytes (not NUL-terminated); account may be NULL.
 * 0 (queued, or nothing to post), SG_ENOSPC (queue full: counted dropped),
 * SG_EINVAL (NULL arguments). */
int admin_webhook_post_verdict(admin_webhook_t *wh, int64_t ts_us, int64_t log_id,
                               const char *sender, size_t sender_len, const char *account,
                               const struct verdict *v);

/* Queues an automatic blacklist entry that the store now holds (id):
 *   {"kind":"automatic_blacklist","time" (created_at),"blacklist_id",
 *    "blacklist_kind","value","reason","active":true}
 * Same returns. */
int admin_webhook_post_autobl(admin_webhook_t *wh, int64_t blacklist_id,
                              const struct verdict_autobl *ev);

struct admin_webhook_stats {
    uint64_t queued;  /* waiting now (gauge) */
    uint64_t posted;  /* delivered: the receiver answered 2xx */
    uint64_t failed;  /* given up after the last retry */
    uint64_t dropped; /* refused (queue full) or abandoned at stop */
    uint64_t retries; /* attempts after a failed one */
};
void admin_webhook_get_stats(admin_webhook_t *wh, struct admin_webhook_stats *out);

#endif
