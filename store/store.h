/* The state store: whitelist, whitelist requests, blacklist, exceptions, API
 * tokens, the audit log and the message log, behind one backend-neutral
 * interface.  The embedded backend is SQLite (store-sqlite.c, WAL); a
 * PostgreSQL backend will implement the same functions.
 *
 * Clocks (see docs/state.md):
 *   - list validity, TTLs, grace periods, audit and token times are wall-clock
 *     seconds since the epoch (int64_t, 0 = "none");
 *   - message-log times are packet time in microseconds (int64_t).
 *
 * Errors: 0 or a negative code from sg-common.h.  SG_EDB is a backend
 * failure (store_errmsg() has the backend's text), SG_ENOTFOUND a missing
 * id, SG_EEXIST a conflict (entry already active, already cleared, name in
 * use), SG_EINVAL a bad argument (store_errmsg() names the field).
 *
 * Every list change writes its audit row in the same transaction and is
 * committed with synchronous=FULL: once a change function returns 0 the
 * change survives kill -9 of the process.
 *
 * Threads: a store_t is one database connection guarded by its own mutex, so
 * it may be shared by threads; calls are serialised.  Callbacks run with that
 * mutex held and must not call back into the same store_t.  The packet path
 * never calls the store: it reads a lists_t snapshot (store_load_lists) and
 * writes through msglog.h.
 *
 * Strings handed to callbacks are borrowed and valid only during the call.
 * Strings passed in are copied; the caller keeps them.
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lists.h"
#include "sg-common.h"

typedef struct store store_t;

#define STORE_ERRBUF_SIZE 256

enum store_open_flags {
    STORE_OPEN_CREATE = 1 << 0,   /* create the file and schema if missing */
    STORE_OPEN_READONLY = 1 << 1, /* no migrations, no writes */
};

/* Process-wide set-up for a process that runs the message-log writer
 * (run, replay, proxy), called before any other store or msglog call: the
 * page cache of every SQLite connection is taken from one region sized
 * for the writer's cache (STORE_WRITER_CACHE_KIB) and those of a few other
 * connections, mapped once and marked for transparent huge pages, instead
 * of one malloc per page.  The writer's cache is 256 MiB of B-tree pages
 * read and written at random: on 4 KiB pages each first touch was a page
 * fault and most accesses a TLB miss (a nested page walk under a
 * hypervisor).  bench-msglog, 3 alternated rounds: 168,108-170,757 rows
 * per writer CPU-second without, 177,704-181,771 with (docs/state.md).
 * Pages past the region, and pages of databases with pages over 8 KiB,
 * come from malloc as before.  The region lives as long as the process.
 * SQLite's memory statistics are turned off too (they cost a mutex per
 * allocation; sqlite3_memory_used() then reads 0).
 * 0; SG_EINVAL when SQLite is already in use in this process (it can then
 * not be configured; everything works as without the call); -ENOMEM. */
int store_init_process(void);

/* Opens (and, with STORE_OPEN_CREATE, creates) the database at path and
 * migrates its schema to the current version.  On failure returns a negative
 * code, *out = NULL and a message naming the file in errbuf. */
int store_open(store_t **out, const char *path, unsigned flags,
               char errbuf[STORE_ERRBUF_SIZE]);
void store_close(store_t *s); /* NULL is a no-op */
/* Text of the last error on this handle (backend message or field name). */
const char *store_errmsg(store_t *s);
/* Schema version the handle runs (PRAGMA user_version). */
int store_schema_version(store_t *s);

/* A read transaction around several calls (the admin API's GET requests):
 * they see one snapshot, the commits made before the first read, and the
 * connection takes its file locks once instead of once per statement.  A
 * call that writes, or store_load_lists (its own transaction), must not
 * run in between.  store_read_end() ends it (0 or SG_EDB); begin inside an
 * open transaction is SG_EINVAL. */
int store_read_begin(store_t *s);
int store_read_end(store_t *s);
/* Current schema version this build migrates to. */
#define STORE_SCHEMA_VERSION 5

/* Who, when and why, for the audit row every change writes. */
struct store_change {
    int64_t now;        /* wall-clock seconds; 0 = time(NULL) */
    const char *actor;  /* operator login, token name, "engine"; required */
    const char *reason; /* required where the function says so */
    const char *ticket; /* optional */
};

/* ---- lists snapshot for the engine ------------------------------------ */

/* Builds a fresh sealed snapshot of the active rows (not removed / cleared,
 * not expired at `now`: expires_at == 0 or expires_at > now), plus the
 * blacklist entries cleared within LISTS_CLEARED_LOOKBACK_S (lists.h)
 * before now, so that lists_blacklist_cleared_within() can answer the
 * grace-period question without touching the database.  *out is owned by
 * the caller (lists_free).  Cost: one scan of the three list tables. */
int store_load_lists(store_t *s, int64_t now, lists_t **out);

/* A number that changes whenever the list tables (whitelist, blacklist,
 * exceptions) changed, through this handle or any other connection or
 * process.  Message-log writes and token changes do not move it, so a daemon
 * that polls this every second reloads only when there is something new.
 * Cheap: PRAGMA data_version first, a one-row read only when that moved. */
int store_data_version(store_t *s, int64_t *v);

/* ---- whitelist ---------------------------------------------------------- */

struct store_whitelist_row {
    struct lists_whitelist_entry w; /* id, sender, ton, account, ... */
    int64_t created_at;
    int64_t removed_at;     /* 0 while present */
    const char *removed_by;
    int64_t request_id;     /* whitelist request it came from, 0 = none */
};

/* Adds a verified entry: e->sender and e->verified_by required; e->id is
 * ignored; e->verified_at 0 = ctx now.  SG_EEXIST (and *id_out set to the
 * existing id) if an active entry with the same sender, ton and account
 * exists. */
int store_whitelist_add(store_t *s, const struct store_change *ctx,
                        const struct lists_whitelist_entry *e, int64_t *id_out);
/* Marks the entry removed (rows are never deleted: the audit refers to them).
 * SG_ENOTFOUND if no present entry has that id. */
int store_whitelist_remove(store_t *s, const struct store_change *ctx, int64_t id);
/* Removes every present entry for sender; *n_removed may be NULL.
 * SG_ENOTFOUND if there was none. */
int store_whitelist_remove_sender(store_t *s, const struct store_change *ctx,
                                  const char *sender, int *n_removed);

/* Filter for the list functions.  Zero-initialise, then set what you need. */
struct store_list_query {
    int include_inactive; /* also removed / cleared / expired rows */
    int64_t now;          /* for "expired"; 0 = time(NULL) */
    int64_t id;           /* only this id (0 = any) */
    const char *value;    /* only this sender (whitelist, exceptions) or
                             value (blacklist); NULL = any */
    const char *msisdn;   /* exceptions only: this subscriber */
    int kind;             /* blacklist only: enum lists_bl_kind, -1 = any
                             (zero-initialised 0 means SENDER: set -1!) */
    int limit;            /* 0 = no limit */
};

typedef int (*store_whitelist_cb)(void *arg, const struct store_whitelist_row *r);
/* Calls cb per row, newest id first; a non-zero return from cb stops the
 * walk and is returned. */
int store_whitelist_list(store_t *s, const struct store_list_query *q,
                         store_whitelist_cb cb, void *arg);

/* ---- whitelist requests (from payment providers) ----------------------- */

enum store_wlreq_state {
    STORE_WLREQ_PENDING = 0,
    STORE_WLREQ_APPROVED = 1,
    STORE_WLREQ_REJECTED = 2,
};
const char *store_wlreq_state_name(enum store_wlreq_state st);

struct store_wlreq {
    int64_t id;
    const char *provider;      /* required */
    const char *senders;       /* required: comma-separated sender IDs and
                                  short codes, "QIWI,7494" */
    int ton;                   /* -1 = any */
    const char *account;       /* SMPP system_id; required */
    const char *source_cidrs;  /* NULL = any */
    const char *contact;
    const char *evidence;
    enum store_wlreq_state state;
    const char *created_by;
    int64_t created_at;
    const char *decided_by;
    const char *decision_reason;
    int64_t decided_at;
};

/* Files a pending request (r->id, state, decided_* ignored; created_by from
 * ctx->actor). */
int store_wlreq_create(store_t *s, const struct store_change *ctx,
                       const struct store_wlreq *r, int64_t *id_out);
typedef int (*store_wlreq_cb)(void *arg, const struct store_wlreq *r);
/* provider NULL = every provider's; state -1 = any; id 0 = any. */
int store_wlreq_list(store_t *s, const char *provider, int state, int64_t id,
                     store_wlreq_cb cb, void *arg);
/* Approves (approve=1) or rejects a pending request; ctx->reason required
 * for a rejection.  Approval creates one verified whitelist entry per sender
 * in the request (verified_by = ctx->actor, expires_at as given, 0 = never)
 * in the same transaction.  SG_ENOTFOUND, or SG_EEXIST if already decided. */
int store_wlreq_decide(store_t *s, const struct store_change *ctx, int64_t id,
                       int approve, int64_t expires_at);

/* ---- blacklist ---------------------------------------------------------- */

struct store_blacklist_row {
    struct lists_blacklist_entry b; /* id, kind, value, automatic, reason,
                                       created_at, expires_at, cleared_* */
    const char *ticket;
    const char *created_by;
};

/* Adds an entry: reason = ctx->reason (required), ticket = ctx->ticket,
 * created_by = ctx->actor; automatic = created by a volume rule;
 * expires_at 0 = never.  SG_EEXIST (and *id_out = the existing id) when an
 * active entry for (kind, value) exists.  The engine must check
 * store_blacklist_recently_cleared() before an automatic add. */
int store_blacklist_add(store_t *s, const struct store_change *ctx,
                        enum lists_bl_kind kind, const char *value,
                        int automatic, int64_t expires_at, int64_t *id_out);
/* Clears an entry, recording ctx->actor, ctx->reason (required) and
 * ctx->ticket.  SG_ENOTFOUND if no such id, SG_EEXIST if already cleared. */
int store_blacklist_clear(store_t *s, const struct store_change *ctx, int64_t id);
/* 1 if an entry for (kind, value) was cleared within the last grace_s
 * seconds before now (so it must not be re-added automatically), 0 if not,
 * negative on error. */
int store_blacklist_recently_cleared(store_t *s, enum lists_bl_kind kind,
                                     const char *value, int64_t now, int64_t grace_s);
typedef int (*store_blacklist_cb)(void *arg, const struct store_blacklist_row *r);
int store_blacklist_list(store_t *s, const struct store_list_query *q,
                         store_blacklist_cb cb, void *arg);

/* ---- exceptions (one sender allowed to one subscriber) ----------------- */

struct store_exception_row {
    struct lists_exception_entry x; /* id, sender, msisdn, reason, ticket,
                                       created_by, created_at, expires_at */
    int64_t removed_at;
    const char *removed_by;
};

/* msisdn must already be normalised (msisdn_normalise in filter/msisdn.h);
 * reason = ctx->reason (required), ticket = ctx->ticket. */
int store_exception_add(store_t *s, const struct store_change *ctx,
                        const char *sender, const char *msisdn,
                        int64_t expires_at, int64_t *id_out);
int store_exception_remove(store_t *s, const struct store_change *ctx, int64_t id);
typedef int (*store_exception_cb)(void *arg, const struct store_exception_row *r);
int store_exception_list(store_t *s, const struct store_list_query *q,
                         store_exception_cb cb, void *arg);

/* ---- API tokens --------------------------------------------------------- */

enum store_role {
    STORE_ROLE_CALLCENTRE = 0,
    STORE_ROLE_OPS = 1,
    STORE_ROLE_PROVIDER = 2,
};
const char *store_role_name(enum store_role r);
int store_role_parse(const char *s); /* role or SG_EINVAL */

/* "sgt_" + 64 hex digits (32 random bytes from getrandom) + NUL. */
#define STORE_TOKEN_STRLEN 72

struct store_token_info {
    int64_t id;
    enum store_role role;
    char name[128];
    char provider[128]; /* "" unless role is provider */
    int64_t created_at;
    int64_t expires_at;
    int64_t revoked_at;
};

/* Creates a token; the clear token is written to out once and only its
 * SHA-256 is stored.  provider required iff role == PROVIDER.  SG_EEXIST if
 * a live (unrevoked) token already has that name.  expires_at 0 = never. */
int store_token_create(store_t *s, const struct store_change *ctx,
                       enum store_role role, const char *name,
                       const char *provider, int64_t expires_at,
                       char out_token[STORE_TOKEN_STRLEN], int64_t *id_out);
/* 0 and *info filled if the token is known, unrevoked and unexpired at now;
 * SG_ENOTFOUND otherwise (unknown, revoked and expired are not told apart to
 * the caller: the API answers 401 for all three).  Lookup by hash, so the
 * time taken does not depend on how much of a guess was right. */
int store_token_check(store_t *s, const char *token, int64_t now,
                      struct store_token_info *info);
/* By id (name NULL) or by name (id 0). SG_ENOTFOUND if no live token. */
int store_token_revoke(store_t *s, const struct store_change *ctx, int64_t id,
                       const char *name);
typedef int (*store_token_cb)(void *arg, const struct store_token_info *t);
int store_token_list(store_t *s, int include_revoked, store_token_cb cb, void *arg);

/* ---- audit log ---------------------------------------------------------- */

struct store_audit_row {
    int64_t id;
    int64_t ts;          /* wall-clock seconds */
    const char *actor;
    const char *action;  /* "whitelist.add", "blacklist.clear", ... */
    const char *object;  /* "whitelist", "blacklist", "exception", "token",
                            "whitelist_request" */
    int64_t object_id;
    const char *detail;  /* JSON object */
    const char *reason;
    const char *ticket;
};

/* Zero-initialise; every set field narrows the result. */
struct store_audit_query {
    const char *actor;
    const char *action;
    const char *object;
    int64_t object_id;
    const char *ticket;
    int64_t since, until; /* ts >= since, ts < until; 0 = unbounded */
    int64_t before_id;    /* paging: id < before_id; 0 = from newest */
    int limit;            /* 0 = 100 */
};
typedef int (*store_audit_cb)(void *arg, const struct store_audit_row *r);
/* Newest first. */
int store_audit_list(store_t *s, const struct store_audit_query *q,
                     store_audit_cb cb, void *arg);

/* ---- message log (read side; the write side is msglog.h) -------------- */

struct store_msg_row {
    int64_t id;          /* also the msglog "link" */
    int64_t ts_us;       /* packet time */
    const char *account;
    const char *source_addr;
    int source_ton;
    const char *dest_addr;   /* normalised msisdn */
    const char *src_ip;
    const char *action;      /* "allow", "flag", "block" */
    int score;
    const char *reasons;     /* JSON array */
    const char *fingerprint; /* hex */
    const char *snippet;     /* redacted: digit runs masked */
    int parts;
    const char *message_id;  /* NULL until the SMSC answered */
    int64_t smsc_status;     /* -1 = no response yet */
    int64_t smsc_resp_ts_us;
    const char *receipt_stat;  /* "DELIVRD", "UNDELIV", "EXPIRED", ...; NULL */
    const char *receipt_err;
    int64_t receipt_ts_us;
    int enforced;            /* 1 = stopped inline, 0 = judged on a tap */
};

struct store_timeline_query {
    const char *msisdn;  /* required, normalised */
    const char *sender;  /* NULL = any */
    int64_t since_us;    /* 0 = no lower bound */
    int64_t until_us;    /* 0 = no upper bound (exclusive) */
    int limit;           /* 0 = 100; capped at 10000 */
};
typedef int (*store_msg_cb)(void *arg, const struct store_msg_row *r);
/* Messages to msisdn, newest first; one range read of the recipient key
 * table (dest key, ts DESC, id), each row joined by id. */
int store_timeline(store_t *s, const struct store_timeline_query *q,
                   store_msg_cb cb, void *arg);
/* Messages from sender with ts >= since_us (0 = any), newest first (equal
 * times: larger id first), at most limit (0 = 100; capped at 10000).  Read
 * from the sender's posting lists newest first, stopping at the first list
 * older than the rows kept, so the cost follows limit, not the sender's
 * volume; an entry whose row was deleted is skipped. */
int store_sender_messages(store_t *s, const char *sender, int64_t since_us,
                          int limit, store_msg_cb cb, void *arg);

/* Width of a sender_stats bucket in packet time (10 minutes).  Part of the
 * schema (the 2 -> 3 migration uses the same number): never change it
 * without a migration. */
#define STORE_SENDER_BUCKET_US (600LL * 1000000)
/* The start of the bucket holding ts_us. */
#define STORE_SENDER_BUCKET(ts_us) ((ts_us) - (ts_us) % STORE_SENDER_BUCKET_US)
struct store_sender_stats {
    int64_t total, allowed, flagged, blocked;
    /* Distinct recipients per bucket, summed over the buckets counted: a
     * recipient messaged in two buckets counts twice, and within a bucket
     * the writer's count is an upper bound (docs/state.md, "Sender
     * statistics"). */
    int64_t recipients;
    int64_t buckets;        /* buckets with traffic that were summed */
    int64_t first_bucket_us; /* start of the oldest of them; 0 = none */
    int64_t last_bucket_us;  /* start of the newest of them; 0 = none */
    int capped;             /* always 0 since schema 3 (every message is
                               counted); kept for the API's "capped" key */
};
/* Sums the sender's counters (table sender_stats, kept by the message-log
 * writer) over the buckets from the one holding since_us on (0 = all it
 * has): the counts are those of whole buckets, so they may include up to
 * one bucket of messages before since_us.  One primary-key range read of
 * at most one row per bucket. */
int store_sender_stats(store_t *s, const char *sender, int64_t since_us,
                       struct store_sender_stats *out);
/* Packet time (µs) of the sender's newest logged message; SG_ENOTFOUND
 * when it has none.  Its newest posting list and, unless rows were
 * deleted behind it, one row read: what "recent" is measured from. */
int store_sender_latest(store_t *s, const char *sender, int64_t *ts_us);
/* Messages an operator must see, newest first: those whose logged reasons
 * name spoofing or a look-alike of a protected sender, and those from a
 * verified sender that content, domain or volume rules matched (the engine
 * let them through).  sender NULL = any.  Automatic blacklist entries are
 * the other kind of alert: store_blacklist_list, automatic rows. */
int store_alert_messages(store_t *s, const char *sender, int64_t since_us, int limit,
                         store_msg_cb cb, void *arg);

/* Retention: deletes message-log rows older than older_than_us and then the
 * oldest rows beyond max_rows (0 = no row bound), in slices of at most 10,000
 * rows per transaction so a writer never waits long.  *deleted may be NULL. */
int store_msglog_prune(store_t *s, int64_t older_than_us, int64_t max_rows,
                       int64_t *deleted);

/* ---- rules metadata ----------------------------------------------------- */

/* Key/value facts about the loaded rule set (hash, loaded_at, counts), so
 * the API can show what runs. value NULL deletes. Not audited (not a list
 * change). */
int store_meta_set(store_t *s, const char *key, const char *value);
/* Copies the value into buf; SG_ENOTFOUND if unset. */
int store_meta_get(store_t *s, const char *key, char *buf, size_t cap);

#endif
