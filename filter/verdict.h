/* The verdict engine: one message in, one explainable verdict out.
 *
 * Used by every front end (offline replay, the live tap daemon, the inline
 * SMPP proxy): they decode and reassemble, fill a verdict_input, call
 * verdict_judge() and act on / log the verdict.  The engine does no I/O of
 * its own on that path: lists, rules and domain lists reach it as
 * immutable snapshots swapped in by the front end; automatic blacklist
 * entries leave it through a bounded queue the front end drains into the
 * store.  See docs/verdict-engine.md for the order of judgement.
 *
 * Objects and threads (Hyperscan's habit: shared database, per-thread
 * scratch):
 *
 *   verdict_engine_t  shared by all workers.  Holds the current snapshots
 *                     (lists, rules db, domain lists), the volume tables,
 *                     the in-memory overlay of automatic blacklist entries
 *                     and the counters.  The verdict_engine_set_* calls may
 *                     come from any thread at any time (a reload thread, a
 *                     SIGHUP handler's loop, the admin API).
 *   verdict_worker_t  one per judging thread, never shared: the
 *                     normaliser context and buffers, the Hyperscan scratch
 *                     for the rules db it currently uses, and its
 *                     references to the snapshots.
 *
 * Snapshot swaps (RCU-like): each snapshot sits in a reference-counted
 * holder.  A set_* call replaces the engine's holder under a mutex held
 * for O(1) work and bumps a generation counter.  A worker compares the
 * generation (one relaxed atomic load) at the start of every judgement
 * and, only when it moved, takes the mutex to pick up references to the
 * new holders (and, for a new rules db, allocates scratch for it: the one
 * allocation on the judging path, once per reload).  The old snapshot is
 * freed by whoever drops the last reference, outside the mutex.  So a
 * reload never makes the packet path wait for a compile or a database
 * read, and a verdict is always computed against one consistent snapshot.
 *
 * Volume tables are per engine, so that a sender spread over workers is
 * counted once; one lock serialises the bounded update (O(8 + N) work,
 * see volume.h): a spin lock that yields when contended, as the update
 * never blocks.
 *
 * Clocks: verdict_input.ts (packet time) drives the volume windows;
 * verdict_input.now (wall-clock seconds) drives list validity, TTLs and
 * grace periods.
 */
#ifndef SG_VERDICT_H
#define SG_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "json-writer.h"
#include "lists.h"
#include "sg-common.h"
#include "url-extract.h"
#include "volume.h"

/* Forward declaration of the rules helper's compiled rule set
 * (rules-db.h); the engine takes ownership of one. */
typedef struct rules_db rules_db_t;

typedef struct verdict_engine verdict_engine_t;
typedef struct verdict_worker verdict_worker_t;

enum verdict_action { VERDICT_ALLOW = 0, VERDICT_FLAG = 1, VERDICT_BLOCK = 2 };

/* Reason types, in the order of judgement; names are the JSON "type". */
enum verdict_reason_type {
    VERDICT_R_WHITELIST = 0,
    VERDICT_R_SPOOFING,
    VERDICT_R_LOOKALIKE,
    VERDICT_R_EXCEPTION,
    VERDICT_R_BLACKLIST,
    VERDICT_R_RULE,
    VERDICT_R_DOMAIN,
    VERDICT_R_VOLUME,
    VERDICT_R_COUNT
};

struct verdict_config {
    /* Score thresholds: the sum of the scores decides flag / block
     * (defaults RULES_DEFAULT_FLAG_SCORE 3 and _BLOCK_SCORE 5). */
    int flag_at, block_at;
    /* A look-alike of a protected sender: 0 blocks (default), N > 0 adds N
     * to the score instead (for a market where look-alike IDs are common
     * and ops want them flagged first). */
    int lookalike_score;
    /* A protected sender whose entry needs the account, when the account
     * is unknown (a tap that started after the bind): 1 (default) trusts it
     * as verified with "account unknown" in the reason and an alert, so an
     * OTP is never lost to a capture gap; 0 judges it as spoofing.  The
     * inline proxy always knows the account. */
    int trust_unknown_account;
    /* Domain lists: score of a domains.list entry without its own score,
     * of a shortener without one, and of a defanged URL ("hxxp://",
     * "[.]"): nobody writes those but people dodging filters. */
    int domain_score, shortener_score, defanged_url_score;
    /* Volume rules: more than N distinct recipients within window_s
     * seconds (packet time).  0 disables that counter. */
    uint32_t window_s;
    unsigned sender_max_recipients;      /* default 50 */
    unsigned fingerprint_max_recipients; /* default 100 */
    unsigned account_max_recipients;     /* default 2000 */
    /* Fingerprints of normalised texts shorter than this (bytes) are not
     * counted: "ok", "thanks" and "happy new year" are sent by millions of
     * people to millions, and a campaign worth stopping is longer. */
    unsigned fingerprint_min_len;        /* default 40 */
    /* Action when the sender / fingerprint counter triggers (default
     * block), and when the account counter does (default flag:
     * aggregators legitimately send a lot). */
    enum verdict_action volume_action, account_volume_action;
    /* Volume alone is evidence against a numeric sender (a phone number
     * writing to fifty strangers in minutes is a SIM farm), but not against
     * an alphanumeric one: registered brands reach thousands through their
     * aggregators.  For an alphanumeric sender a sender or fingerprint
     * trigger therefore acts with volume_action (and may blacklist) only
     * when content or domain rules already scored at least this much; below
     * it, the trigger flags.  The fingerprint trigger (one text to many
     * recipients) needs the same corroboration whatever the sender: shop
     * notices and greetings are templates too.  0: volume acts alone. */
    int volume_corroborate_score;        /* default 3 (= flag_at) */
    /* Automatic blacklisting on a sender / fingerprint volume trigger. */
    int auto_blacklist;                  /* default 1 */
    int64_t auto_blacklist_ttl_s;        /* default 86400 */
    /* After a clear, the same key is not blacklisted automatically again
     * and its messages are exempt from volume rules for this long: at
     * most LISTS_CLEARED_LOOKBACK_S, the clears a lists snapshot holds. */
    int64_t clear_grace_s;               /* default 86400 */
    /* Bounds: keys per volume table, automatic entries kept in memory,
     * automatic-blacklist events queued for the front end. */
    size_t sender_table_keys, fingerprint_table_keys, account_table_keys;
    size_t overlay_max, autobl_queue_max;
    /* Texts whose content findings a worker keeps, for texts that repeat
     * word for word (text-memo.h); 0: none. */
    size_t text_memo_entries;            /* default 256 */
    /* Numbering plan for recipient normalisation (msisdn.h); NULL = the
     * defaults ("7" and "8"). */
    const char *country_code, *trunk_prefix;
};

/* Fills c with the documented defaults. */
void verdict_config_default(struct verdict_config *c);

struct verdict_input {
    sg_time_us ts;                     /* packet time: volume windows */
    int64_t now;                       /* wall clock, seconds: list validity */
    struct sg_view account;            /* bind system_id; len 0 = unknown */
    struct sg_view source_addr;        /* as sent */
    int source_ton, source_npi;        /* -1 = unknown */
    struct sg_view dest_addr;          /* as sent */
    const struct sg_endpoint *src_ip;  /* the ESME's address; NULL = unknown */
    const char *text;                  /* UTF-8 after decoding and reassembly */
    size_t text_len;
    int is_binary;                     /* 8-bit data: no text to judge */
    uint8_t data_coding;
    unsigned parts;
};

#define VERDICT_MAX_REASONS 16
#define VERDICT_ID_MAX 64
#define VERDICT_DETAIL_MAX 160
#define VERDICT_SNIPPET_MAX 161
#define VERDICT_MAX_SHADOW 8

struct verdict_reason {
    enum verdict_reason_type type;
    char id[VERDICT_ID_MAX];         /* rule id, "wl-12", "bl-7", domain, ... */
    char detail[VERDICT_DETAIL_MAX]; /* one human line, no digits of the text */
    int score;                       /* what it added to the sum (0: forced) */
};

struct verdict {
    /* The fields every verdict writes and reads come first, on one or two
     * cache lines; the reasons and shadow ids (4 KiB) after them are
     * touched only as far as they are used.  A front end keeps a vector of
     * these (verdict_judge_batch), where the layout shows. */
    enum verdict_action action;
    int score;
    unsigned n_reasons;
    unsigned reasons_dropped;        /* past VERDICT_MAX_REASONS, counted */
    /* Index in reasons of the one that decided the action (-1: the score
     * alone, or nothing: allow). */
    int decided_by;
    /* Set when something an operator must see happened: a verified sender
     * that content, domain or volume rules would have blocked; spoofing; a
     * look-alike; an automatic blacklist entry created; an unverifiable
     * origin trusted. */
    int alert;
    int verified;                    /* the sender is a verified whitelist match */
    unsigned n_shadow;
    uint64_t fingerprint;            /* norm_fingerprint of the text; 0 for binary */
    /* The raw text with every digit run masked (what the message log may
     * keep), cut at VERDICT_SNIPPET_MAX - 1 bytes on a UTF-8 boundary. */
    char snippet[VERDICT_SNIPPET_MAX];
    struct verdict_reason reasons[VERDICT_MAX_REASONS];
    /* Shadow rules that matched: counted, never acting. */
    char shadow[VERDICT_MAX_SHADOW][VERDICT_ID_MAX];
};

/* ---- engine ------------------------------------------------------------ */

/* Creates an engine with empty lists, no rules and no domain lists.
 * cfg NULL = defaults.  Allocates the volume tables now.  On a bad
 * configuration returns NULL with the offending field named in err. */
verdict_engine_t *verdict_engine_new(const struct verdict_config *cfg, char *err, size_t errcap);
/* Frees the engine; every worker must have been freed first. */
void verdict_engine_free(verdict_engine_t *e);
const struct verdict_config *verdict_engine_config(const verdict_engine_t *e);

/* Snapshot swaps: the engine takes ownership of the object (NULL = an
 * empty one).  The previous snapshot is freed once no worker uses it.
 * Lists must be sealed, domain sets sealed.  Return 0 or SG_EINVAL. */
int verdict_engine_set_lists(verdict_engine_t *e, lists_t *l);
int verdict_engine_set_rules(verdict_engine_t *e, rules_db_t *db);
int verdict_engine_set_domains(verdict_engine_t *e, domain_set_t *bad, domain_set_t *shorteners);
/* Convenience for start-up and reloads: loads dir/domains.list and
 * dir/shorteners.list (a missing file is an empty list) and swaps them in.
 * Errors as "file:line: message" in err. */
int verdict_engine_load_domains(verdict_engine_t *e, const char *dir, char *err, size_t errcap);

/* ---- automatic blacklist entries ----------------------------------------
 * A volume trigger with auto_blacklist on (and the key not cleared within
 * the grace period, and not a verified sender) creates an automatic entry:
 * the engine applies it at once to its in-memory overlay (so the next
 * message is blocked) and queues an event for the front end to write to
 * the store (store_blacklist_add with automatic = 1, expires_at as given,
 * created_at as given).  An overlay entry is retired when a lists snapshot
 * arrives after its event was drained: by then the store has it (or the
 * operator has cleared it, which must take effect).  Queue and overlay are
 * bounded; overflows are counted. */
struct verdict_autobl {
    enum lists_bl_kind kind;
    char value[VERDICT_ID_MAX];      /* sender key, or fingerprint hex */
    int64_t created_at, expires_at;  /* wall clock */
    char reason[VERDICT_DETAIL_MAX];
};
/* Moves up to max queued events into out; returns how many. */
size_t verdict_engine_drain_autobl(verdict_engine_t *e, struct verdict_autobl *out, size_t max);

/* ---- counters (for metrics) ----------------------------------------------- */
struct verdict_stats {
    uint64_t messages;
    uint64_t by_action[3];
    uint64_t by_reason[VERDICT_R_COUNT]; /* messages with at least one */
    uint64_t alerts;
    uint64_t shadow_hits;
    uint64_t autobl_created, autobl_suppressed_grace, autobl_queue_dropped,
        overlay_evictions, overlay_retired;
    uint64_t volume_exempt_grace;
    uint64_t volume_uncorroborated; /* alphanumeric-sender triggers that only flagged */
    uint64_t lists_swaps, rules_swaps, domains_swaps;
    uint64_t norm_truncated;        /* texts longer than the normaliser's capacity */
    uint64_t rule_hits_dropped;     /* hits past the per-message bound */
    uint64_t text_memo_hits;        /* texts whose content findings came from the text memo */
    struct volume_stats vol_sender, vol_fingerprint, vol_account;
};
void verdict_engine_get_stats(verdict_engine_t *e, struct verdict_stats *out);
/* Calls fn with the engine's current rules db (NULL when none) and returns
 * its result.  The db is referenced for the duration of the call, so a
 * reload that swaps it out meanwhile does not free it under fn (for the
 * admin API's rule listing: per-rule metadata and hit counters).  Any
 * thread; fn must not call set_rules on the same engine. */
int verdict_engine_with_rules(verdict_engine_t *e, int (*fn)(void *arg, const rules_db_t *db),
                              void *arg);

/* ---- workers and judging ------------------------------------------------------ */

/* One per judging thread.  Allocates its buffers now.  NULL on failure. */
verdict_worker_t *verdict_worker_new(verdict_engine_t *e);
void verdict_worker_free(verdict_worker_t *w);

/* Whether verdict_judge() on this worker fills verdict.snippet (default
 * 1).  A front end that logs no message (replay without a database) turns
 * it off: the snippet is for the message log alone, and masking the text
 * for nothing cost as much as the URL scan.  Off, snippet is "".  Call it
 * from the worker's thread, between judgements. */
void verdict_worker_set_snippet(verdict_worker_t *w, int on);

/* Judges one message into *out (fully written, also on error).  No I/O,
 * no allocation except once after a rules reload (see above).  Returns 0,
 * or SG_EINVAL for NULL arguments (out then says allow with no reasons).
 * Work: O(text length) for normalisation, URL extraction and Hyperscan
 * scans, plus O(8 + N) per volume counter. */
int verdict_judge(verdict_worker_t *w, const struct verdict_input *in, struct verdict *out);

/* The most messages verdict_judge_batch() takes in one call. */
#define VERDICT_BATCH_MAX 32

/* Judges in[0..n) into out[0..n), n <= VERDICT_BATCH_MAX: the same
 * verdicts, reasons, counters and list and volume state as n calls of
 * verdict_judge() in order, computed a stage at a time over the whole
 * vector (normalisation and URLs, then each field's Hyperscan scan, then
 * lists, volume and the decision, message by message in order), so that
 * each stage's code and tables stay in the CPU's caches across the
 * vector instead of being evicted by the next stage of every message:
 * the way vector packet processing (VPP) runs a graph node over a frame.
 * A front end that has several messages at hand (a capture's burst)
 * should pass them here; one that has one (the inline proxy) calls
 * verdict_judge().  Snapshot swaps are picked up once, at the start.
 * Returns 0, or SG_EINVAL for NULL arguments or n too large (every
 * out[i] then says allow with no reasons). */
int verdict_judge_batch(verdict_worker_t *w, const struct verdict_input *in, struct verdict *out,
                        size_t n);

/* Step 1 of the judgement alone: whether (account, sender, ton, src_ip)
 * is a verified whitelist match in the engine's current lists snapshot,
 * exactly as verdict_judge() decides it (an unknown account, len 0, is
 * trusted as verified only with trust_unknown_account), without touching
 * the text, rules, volume tables or counters.  For a front end that could
 * not judge a message in time (the inline proxy's --judge-budget) and must
 * not refuse a verified sender's one-time code.  Returns 1 verified (and,
 * when wl_id is not NULL, the entry's id "wl-N" in it), 0 not (or NULL
 * arguments).  Any thread; no allocation: it takes the snapshot mutex for
 * O(1) to reference the lists, then one hash lookup (lists.h). */
int verdict_engine_is_verified(verdict_engine_t *e, struct sg_view account, struct sg_view sender, int ton,
                               const struct sg_endpoint *src_ip, int64_t now, char wl_id[VERDICT_ID_MAX]);

/* Writes "action", "score", "reasons" ([{"type","id","detail","score"}]),
 * "alert", "fingerprint" (16 hex digits) and, when any, "shadow" (rule
 * ids) into an object the caller has opened. */
void verdict_write_json(const struct verdict *v, jw_t *w);

/* An entry written after the reasons by verdict_reasons_json(): not a
 * verdict reason but a remark on what was judged (the proxy's
 * {"type":"multipart","id":"incomplete"}). */
struct verdict_json_note {
    const char *type, *id, *detail;
};

/* The reasons as the message log stores them (MSGLOG_REASONS_MAX):
 * [{"type","id","detail"},...], then note when not NULL, NUL-terminated
 * into out (cap >= 3 bytes).  Too long for cap: the later entries lose
 * their detail first (last entry first), then the last entries go; the
 * types that decide what the API lists as alerts (whitelist, spoofing,
 * rule...) stay as long as they fit, and "[]" only when not even the
 * first type and id fit.  scratch: any writer whose ceiling is at least
 * cap - 1, reset on return (the caller's document in it is lost).  No
 * allocation.  Work: one format when it fits, else at most
 * 2 * (n_reasons + 1) + 1.  Returns 0 (all of it), 1 (shortened), or
 * SG_EINVAL (NULL arguments, cap < 3: out is "[]" when it has room). */
int verdict_reasons_json(const struct verdict *v, const struct verdict_json_note *note, jw_t *scratch,
                         char *out, size_t cap);

const char *verdict_action_name(enum verdict_action a);

/* The fingerprint as the message log, the blacklist and the JSON output
 * write it: 16 lower-case hex digits and a NUL ("%016" PRIx64), without
 * the printf machinery (once per logged message). */
void verdict_fingerprint_hex(uint64_t fp, char out[17]);
const char *verdict_reason_name(enum verdict_reason_type t);

#endif
