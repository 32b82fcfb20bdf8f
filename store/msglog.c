/* The message-log writer.  See msglog.h for the contract.
 *
 * Ring: a single-producer / single-consumer byte ring of variable-size
 * records, with two free-running 64-bit byte counters (head written only
 * by the producer, tail only by the writer thread); a record lives at
 * buf + (counter & mask).  A record is a fixed header (struct rec, then
 * struct rec_row or rec_upd: kind, size, id, time, status, the row's
 * numbers, each string's offset) followed by its strings at their real
 * length, NUL-terminated (the writer binds them with SQLITE_STATIC), the
 * whole padded to REC_ALIGN.  A fixed slot took 1,072 bytes for every
 * entry, most of it reasons[513] and snippet[161] that an update never
 * uses; a row now takes 230 to 400 bytes and an update 56 to 88, so
 * the same memory holds five to seven times the entries, which is what
 * absorbs the writer's stall at the end of a transaction (docs/state.md
 * "Ring of variable-size records").  A record never straddles the end
 * of the buffer (the writer binds it in place): one that would is
 * preceded by a REC_SKIP record filling the rest, and starts at the
 * beginning; both are published by the same head store, so the writer
 * never sees a skip without the record after it.  The producer publishes
 * a record with a release store of head, the writer reads head with
 * acquire, so the record's bytes are visible before its end is.
 *
 * The writer takes up to `dcap` records at a time (a drain: the old slot
 * count, so its tables are the size they were) and folds updates into
 * their records in place: the header's writer fields (next, mid_from,
 * rcpt_from, status, the times) are fixed, and a folded message_id or
 * receipt is not copied but named by its record's index in the drain.
 * That is safe because the drain's bytes go back (tail) all at once, after
 * its statements have run, so every record of a drain lives as long as
 * the drain; it is also before the commit, so a transaction can be far
 * larger than the ring; `committed` tracks what is durable, for
 * msglog_flush().  Work bound per submit: one bounded strnlen and one copy
 * per string, at most REC_ROW_MAX bytes; no allocation, no system call.
 *
 * Batches: a transaction spans several drains of the ring, until batch_max
 * entries, batch_window_ms after it began, or until its drains hold all
 * that a waiting flush / stop waits for (urgent).  Rows go into
 * message_log in arrival (id) order, so the table B-tree only ever
 * appends.  The timeline is served by a key table (message_log_dest:
 * (key, ts, id), WITHOUT ROWID) that the writer fills at the end of each
 * transaction (or before, when it finds the ring empty with KEYS_EARLY_MIN
 * entries waiting) from an in-memory list sorted by key: random keys then
 * reach the B-tree in key order, each insert lands next to the previous
 * one, and the pages it walks are already in the CPU cache.  Ordinary
 * indexes on message_log would take their inserts in id order, one
 * cache-missing descent per row and index (docs/state.md: about half the
 * rate with the same keys).  Receipts find their rows through a second
 * one, message_log_mid ((mid_key, id), the integer key of the message_id,
 * store_mid_key), filled the same way, and also before a set-wise receipt
 * runs (flush_updates), so that it sees every row written before it.
 * Senders are few and each sends a lot: their rows are found through
 * posting lists (postings.h), one message_log_sender_runs row per sender
 * and transaction, written at the COMMIT from the same sorted list
 * (write_sender_runs); an entry per row in a key table had cost a fifth
 * of the writer's time (docs/state.md "Sender runs").
 *
 * Updates (responses, receipts): the writer applies a drain (what the ring
 * held when it looked, up to dcap records) at once.  Its rows wait in
 * their records and are inserted at the end, ROW_CHUNK per statement; an
 * update of a waiting row is folded into the row's record and written by
 * the INSERT; the others (rows of earlier drains) are coalesced per
 * target in memory and run set-wise, one UPDATE ... FROM a temp table per
 * drain, before the waiting rows are inserted.  The result is the one the
 * statements one by one in ring order would give (apply_drain;
 * tests/test-store.c compares the two on random sequences).  One UPDATE
 * per update cost more than the row itself (docs/state.md).
 *
 * Failures: the INSERTs run without statement journals (OR FAIL, q_sql), so
 * a statement that fails keeps the rows before the failing one (counted as
 * written, with their keys) and an error SQLite cannot undo one statement
 * for rolls the transaction back (step: the rest of it fails, counted).
 * The transaction takes the write lock at its BEGIN IMMEDIATE (q_sql),
 * before anything is taken from the ring: a BEGIN that another
 * connection's lock times out is tried again with the entries still
 * there, MSGLOG_LOCK_ATTEMPTS times (writer_main), so a lock held for
 * seconds costs a wait, not the entries.  The first error of a transaction
 * that lost entries is kept for msglog_last_error (publish_error).
 *
 * Sender statistics: each row written also counts into an in-memory table
 * keyed by (sender, 10-minute bucket of packet time); before the commit the
 * table is upserted into sender_stats, sorted by key, SS_ROWS entries per
 * statement, so the cost follows the number of distinct senders in a
 * transaction, not the rows (no statement per message).  Distinct
 * recipients are counted against a fixed table of (sender, recipient,
 * bucket) hashes, 8-way set-associative: a pair seen again while the table
 * still holds it is not counted again; one it has forgotten (about a
 * million newer pairs later, or after a restart) is (so the count is an
 * upper bound; docs/state.md).
 *
 * Waking: the producer never signals (no system call on the packet path);
 * an idle writer sleeps IDLE_WAIT_MS at a time.  msglog_flush() and
 * msglog_free() signal it.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "msglog.h"
#include "postings.h"
#include "store.h"
#include "store-int.h"
#include "text-norm.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define IDLE_WAIT_MS 5
#define LOCK_TIMEOUT_MAX_MS 600000 /* msglog.h */
/* queue_capacity counts KiB of ring (msglog.h): it used to count slots of
 * 1,072 bytes, so a configured value keeps about its memory (a little
 * less) and holds about five times the entries.  It also bounds a drain
 * (records the writer takes at a time), as it bounded it before. */
#define DEFAULT_CAPACITY 131072
#define RING_UNIT 1024
#define RING_UNITS_MAX (1u << 24) /* filter/config.c's bound: 16 GiB */
#define REC_ALIGN 8
/* Large transactions: each one rewrites about every leaf of the key tables
 * it touches once the tables outgrow its inserts (a random key per row), so
 * the WAL and checkpoint volume per row falls as transactions grow
 * (docs/state.md "Transaction size"). */
#define DEFAULT_BATCH 400000
#define DEFAULT_WINDOW_MS 1000
/* Recipient keys waiting when the writer finds the ring empty inside a
 * transaction, from which it writes them early (writer_main). */
#define KEYS_EARLY_MIN 65536
/* Key-table entries per INSERT: one statement run (cursor open, halt,
 * reset) per KEY_ROWS entries instead of per entry; 3 parameters each (2
 * for message_log_mid). */
#define KEY_ROWS 64
/* Rows per multi-row message_log INSERT, when that many follow each other
 * in the ring (the same saving); ROW_PARAMS values each. */
#define ROW_CHUNK 16
#define ROW_PARAMS 23
#define CACHE_LINE 64
/* Sender statistics: distinct (sender, bucket) entries aggregated before
 * they are written (a full table is written early, mid-transaction: the
 * upsert adds, so the result is the same); open addressing at load 1/2 at
 * most; upserts per statement and their parameters; remembered
 * (sender, recipient, bucket) pairs, 8 bytes each (8 MB), in sets of
 * PAIR_WAYS (one cache line). */
#define AGG_MAX 16384
#define AGG_SLOTS (2 * AGG_MAX)
#define SS_ROWS 32
#define SS_PARAMS 7
#define PAIR_SET_BITS 17
#define PAIR_WAYS 8
#define PAIR_SLOTS ((1u << PAIR_SET_BITS) * PAIR_WAYS)

/* A record's kind; REC_SKIP is the padding before a record that would
 * have straddled the end of the buffer (only its size and kind are
 * written).  0 is no kind: a record the producer did not write. */
enum rec_kind { REC_ROW = 1, REC_RESP = 2, REC_RECEIPT = 3, REC_SKIP = 4 };

/* Every record starts with this; 40 bytes, REC_ALIGN-aligned. */
struct rec {
    uint32_t size; /* bytes to the next record: header, strings, padding */
    uint8_t kind, enforced;
    uint8_t has_resp; /* writer, ROW: a response was folded in */
    uint8_t unused;
    int64_t id; /* row id (ROW, RESP) */
    int64_t ts_us;
    uint32_t status; /* RESP: command_status; ROW (writer): the folded one */
    /* Writer only, while the record waits in its drain: its hash chain in
     * the drain tables, and the drain index + 1 of the record whose
     * message_id (a folded or coalesced response) or stat and err (a
     * folded or coalesced receipt) stand for this one's; 0 = its own.
     * Indices, not copies: the strings need no room reserved in every
     * row for what an update may bring, and the record they name lives
     * as long as the drain (see the top of the file). */
    uint32_t next, mid_from, rcpt_from;
};

/* A row's strings, in the order they are laid out after struct rec_row. */
enum { R_ACCOUNT, R_SOURCE, R_DEST, R_IP, R_ACTION, R_FP, R_MID, R_SNIPPET, R_REASONS, R__N };

struct rec_row {
    struct rec h;
    int64_t resp_ts, rcpt_ts; /* writer: the folded updates' times */
    int32_t source_ton, score, parts;
    /* Offsets from the record of each string and, in off[R__N], of the
     * end of the last one: lengths come free (off[f + 1] - off[f] - 1)
     * for the binds.  Records are far below 64 KiB (REC_ROW_MAX). */
    uint16_t off[R__N + 1];
};

/* An update's strings.  A response carries U_MID only; its other offsets
 * point at that string's NUL (empty). */
enum { U_MID, U_ACCOUNT, U_STAT, U_ERR, U__N };

struct rec_upd {
    struct rec h;
    uint16_t off[U__N];
};

#define REC_ROUND(n) (((n) + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1))
/* The bounds of msglog.h, in R_ order. */
static const uint16_t row_max[R__N] = {
    MSGLOG_ACCOUNT_MAX, MSGLOG_ADDR_MAX, MSGLOG_ADDR_MAX,     MSGLOG_IP_MAX,     MSGLOG_ACTION_MAX,
    MSGLOG_FP_MAX,      MSGLOG_MSGID_MAX, MSGLOG_SNIPPET_MAX, MSGLOG_REASONS_MAX};
/* The largest record: a row with every string at its bound (1,080 bytes).
 * The ring is at least twice that, so that a record always fits once the
 * writer has caught up, even after the padding of a wrap. */
#define REC_ROW_MAX                                                                          \
    REC_ROUND(sizeof(struct rec_row) + MSGLOG_ACCOUNT_MAX + 2 * MSGLOG_ADDR_MAX +             \
              MSGLOG_IP_MAX + MSGLOG_ACTION_MAX + MSGLOG_FP_MAX + MSGLOG_MSGID_MAX +          \
              MSGLOG_SNIPPET_MAX + MSGLOG_REASONS_MAX + R__N)
#define RING_MIN 4096
_Static_assert(RING_MIN >= 2 * REC_ROW_MAX, "the ring must hold a record after a wrap");
_Static_assert(sizeof(struct rec) % REC_ALIGN == 0 && sizeof(struct rec_row) % REC_ALIGN == 0 &&
                   sizeof(struct rec_upd) % REC_ALIGN == 0,
               "records stay aligned");

enum {
    Q_INSERT,
    Q_KEY_DEST,
    Q_KEY_MID,
    Q_SENDER_RUN, /* one sender's posting list (write_sender_runs) */
    Q_INSERT_MANY,   /* ROW_CHUNK rows per statement, built in msglog_new */
    Q_KEY_DEST_MANY, /* KEY_ROWS entries per statement, built in msglog_new */
    Q_KEY_MID_MANY,
    Q_STATS,      /* one sender_stats upsert */
    Q_STATS_MANY, /* SS_ROWS upserts per statement, built in msglog_new */
    Q_TMP_RESP, /* one coalesced response into the temp table */
    Q_TMP_RCPT, /* one coalesced receipt into the temp table */
    Q_MID_RESP, /* key-table entries of the rows the responses give a message_id */
    Q_UPD_RESP, /* the temp table's responses, set-wise */
    Q_UPD_RCPT, /* the temp table's receipts, set-wise */
    Q_CLR_RESP,
    Q_CLR_RCPT,
    Q_MAX_ID, /* the table's largest id (insert_rows) */
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q__COUNT
};

#define STATS_CONFLICT                                                                       \
    " ON CONFLICT (sender, bucket) DO UPDATE SET total = total + excluded.total,"            \
    " allowed = allowed + excluded.allowed, flagged = flagged + excluded.flagged,"           \
    " blocked = blocked + excluded.blocked, recipients = recipients + excluded.recipients"

/* OR FAIL on the writer's INSERTs: a statement that can write several rows
 * and stop on a constraint with the default ABORT needs a statement journal
 * (SQLite copies every page the statement touches, before its first change,
 * so that it can undo the statement alone): a tenth of the writer's
 * instructions (docs/state.md), for a failure that cannot happen (ids and
 * keys are unique by construction).  With FAIL a failed
 * statement keeps the rows it wrote before the failing one, which
 * insert_rows counts (sqlite3_changes), and an error that SQLite cannot
 * undo one statement for (I/O, disk full, no memory) rolls the whole
 * transaction back, which step() detects. */
static const char *const q_sql[Q__COUNT] = {
    [Q_INSERT] = "INSERT OR FAIL INTO message_log (id, ts, account, source_addr, source_ton,"
                 " dest_addr, src_ip, action, score, reasons, fingerprint, snippet, parts,"
                 " message_id, enforced, dest_key, source_key, smsc_status, smsc_resp_ts,"
                 " receipt_stat, receipt_err, receipt_ts, mid_key) VALUES (?1, ?2, ?3, ?4, ?5,"
                 " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
                 " ?22, ?23)",
    [Q_KEY_DEST] = "INSERT OR FAIL INTO message_log_dest (dest_key, ts, id) VALUES (?1, ?2, ?3)",
    [Q_KEY_MID] = "INSERT OR FAIL INTO message_log_mid (mid_key, id) VALUES (?1, ?2)",
    [Q_SENDER_RUN] = "INSERT OR FAIL INTO message_log_sender_runs (source_key, ts_last, first_id,"
                     " last_id, entries) VALUES (?1, ?2, ?3, ?4, ?5)",
    /* Counts add up: a (sender, bucket) written by an earlier transaction,
     * or earlier in this one, gets this one's counts on top. */
    [Q_STATS] = "INSERT INTO sender_stats (sender, bucket, total, allowed, flagged, blocked,"
                " recipients) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" STATS_CONFLICT,
    /* Updates of rows already in the table (see apply_drain): coalesced
     * in memory, one row per target in a temp table (created in
     * msglog_new), then one UPDATE ... FROM per table.  First message_id
     * wins (multipart: the first part's); a non-zero command_status
     * sticks, so one rejected part marks the message. */
    [Q_TMP_RESP] = "INSERT INTO temp.msglog_resp (u_id, u_mid, u_status, u_ts, u_key)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_TMP_RCPT] = "INSERT INTO temp.msglog_rcpt (r_mid, r_account, r_stat, r_err, r_ts, r_key)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* A row that gets its message_id from a set-wise response gets its
     * key-table entry here, before the UPDATE (which sets mid_key to
     * match); the rows that keep their first message_id get none.  OR
     * IGNORE: an entry an earlier failed phase left in place is the same
     * entry. */
    [Q_MID_RESP] = "INSERT OR IGNORE INTO message_log_mid (mid_key, id)"
                   " SELECT u.u_key, u.u_id FROM temp.msglog_resp AS u"
                   " JOIN message_log AS m ON m.id = u.u_id"
                   " WHERE u.u_key IS NOT NULL AND m.message_id IS NULL",
    [Q_UPD_RESP] = "UPDATE message_log SET"
                   " message_id = COALESCE(message_log.message_id, u.u_mid),"
                   " mid_key = CASE WHEN message_log.message_id IS NULL THEN u.u_key"
                   " ELSE message_log.mid_key END,"
                   " smsc_status = CASE WHEN message_log.smsc_status IS NULL"
                   " OR message_log.smsc_status = 0 THEN u.u_status"
                   " ELSE message_log.smsc_status END, smsc_resp_ts = u.u_ts"
                   " FROM temp.msglog_resp AS u WHERE message_log.id = +u.u_id",
    /* The unary + keeps the planner from scanning message_log and probing
     * the temp table (it has no statistics to say which is small): the
     * temp table is scanned in id order and each row found by its id.
     * Receipts: the temp table scanned, each receipt's key probed in the
     * key table, each entry's row found by its id, the text compared (a
     * key may stand for several message_ids).  The + on k.id leaves the
     * planner no way to reach the key table but by mid_key; with automatic
     * indexes off (msglog_new) that is the plan whatever it guesses about
     * the tables' sizes (no ANALYZE). */
    [Q_UPD_RCPT] = "UPDATE message_log SET"
                   " receipt_stat = r.r_stat, receipt_err = r.r_err, receipt_ts = r.r_ts"
                   " FROM temp.msglog_rcpt AS r JOIN message_log_mid AS k ON k.mid_key = r.r_key"
                   " WHERE message_log.id = +k.id AND message_log.message_id = r.r_mid"
                   " AND (r.r_account IS NULL OR message_log.account = r.r_account)",
    [Q_CLR_RESP] = "DELETE FROM temp.msglog_resp",
    [Q_CLR_RCPT] = "DELETE FROM temp.msglog_rcpt",
    [Q_MAX_ID] = "SELECT MAX(id) FROM message_log",
    /* IMMEDIATE: the write lock is taken here, where SQLite's busy
     * handler waits for it and a timeout has cost nothing yet (writer_main
     * tries again with the entries still in the ring).  A deferred BEGIN
     * takes it at the first write; a statement that read the database
     * before that (a SELECT, an INSERT ... SELECT) holds a snapshot, and
     * then SQLite cannot wait: the write fails at once with SQLITE_BUSY if
     * another connection is writing, or SQLITE_BUSY_SNAPSHOT for good if
     * it has committed since, and so does every later write of the
     * transaction.  (A reverted writer with a SELECT probe before its
     * receipts UPDATE lost whole transactions that way, 12,000 to 24,000
     * entries each, when the run's own store connection was writing an
     * automatic blacklist entry: "receipts UPDATE: database is locked
     * (SQLITE_BUSY, extended code 5)".) */
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

/* What each statement does, for the failure report (msglog_last_error):
 * the operator needs the phase, not 400 bytes of SQL. */
static const char *const q_name[Q__COUNT] = {
    [Q_INSERT] = "message_log INSERT",
    [Q_KEY_DEST] = "message_log_dest INSERT",
    [Q_KEY_MID] = "message_log_mid INSERT",
    [Q_SENDER_RUN] = "message_log_sender_runs INSERT",
    [Q_INSERT_MANY] = "message_log INSERT",
    [Q_KEY_DEST_MANY] = "message_log_dest INSERT",
    [Q_KEY_MID_MANY] = "message_log_mid INSERT",
    [Q_STATS] = "sender_stats upsert",
    [Q_STATS_MANY] = "sender_stats upsert",
    [Q_TMP_RESP] = "responses staging INSERT",
    [Q_TMP_RCPT] = "receipts staging INSERT",
    [Q_MID_RESP] = "responses' message_log_mid INSERT",
    [Q_UPD_RESP] = "responses UPDATE",
    [Q_UPD_RCPT] = "receipts UPDATE",
    [Q_CLR_RESP] = "responses staging DELETE",
    [Q_CLR_RCPT] = "receipts staging DELETE",
    [Q_MAX_ID] = "largest id SELECT",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

/* One entry of a key table, collected during the transaction. */
struct keyent {
    int64_t key, ts, id;
};

/* One (sender, bucket)'s counts, collected during the transaction. */
struct sstat {
    int64_t bucket, total, allowed, flagged, blocked, recipients;
    uint64_t hash;
    uint32_t slot; /* its index in agg_slot, to clear it after the write */
    char sender[MSGLOG_ADDR_MAX + 1];
};

/* What each parameter of a row INSERT holds now, so that a value equal to
 * the one already bound is not bound again.  SQLite keeps bindings across
 * sqlite3_reset, and a bind costs about 85 (integer) to 170 (text)
 * instructions (vdbeUnbind, sqlite3VdbeMemSetStr): with 23 parameters a
 * row, the row binds were about 3,300 of the writer's 24,000 instructions
 * per row (callgrind, bench-msglog -n 100000), while about half the values
 * of a row repeat the previous row's in the same position (account,
 * source IP, action, TON, parts, enforced, status, the receipt columns
 * NULL until a receipt).  Text is skipped only for the three short fields
 * that repeat (BC_ACCOUNT, BC_IP, BC_ACTION): they are bound from a copy
 * owned here, never from the ring, whose bytes the producer reuses once
 * the drain is handed back; every other text is bound again on every use
 * (BC_ANY), as before. */
enum { BC_ANY = 0, BC_NULL, BC_INT, BC_TEXT };
enum { BC_ACCOUNT, BC_IP, BC_ACTION, BC__N };
#define BC_TEXT_MAX MSGLOG_IP_MAX /* the longest of the three fields */
struct bindcache {
    uint8_t kind[ROW_CHUNK * ROW_PARAMS]; /* BC_*; BC_ANY = rebind */
    int64_t val[ROW_CHUNK * ROW_PARAMS];  /* BC_INT: the value; BC_TEXT: length */
    char text[ROW_CHUNK][BC__N][BC_TEXT_MAX + 1];
};

struct msglog {
    /* Producer-side cache line: head (a byte count), the producer's id
     * counter, the tail it last read (it reads the writer's line again
     * only when that one says the ring is full), and its counters, which
     * only the producer (or the one holding prod_lock) writes: plain
     * stores, no locked add, and no line shared with the writer's. */
    _Alignas(CACHE_LINE) _Atomic uint64_t head;
    int64_t next_id;
    uint64_t tail_seen;
    _Atomic uint64_t st_submitted, st_padding; /* entries; wrap padding, bytes */
    /* Consumer-side. */
    _Alignas(CACHE_LINE) _Atomic uint64_t tail;
    _Atomic uint64_t committed; /* tail value whose rows are committed */
    _Atomic uint64_t st_consumed; /* entries handed back (tail) */

    /* The ring: cap bytes (a power of two), read-only after msglog_new. */
    _Alignas(CACHE_LINE) unsigned char *buf;
    uint64_t cap, mask;
    /* The records of the current drain, by index (dcap of them). */
    struct rec **drec;
    /* Writer's key lists, batch_max entries each: (dest_key, ts, id),
     * (source_key, ts, id), (mid_key, 0, id); radix-sort scratch. */
    struct keyent *kdest, *ksrc, *kmid;
    struct keyent *ktmp;
    size_t nkdest, nksrc, nkmid;
    unsigned char *runbuf; /* one posting list, POSTINGS_BYTES_MAX */
    struct sstat *agg;   /* AGG_MAX entries, nagg used */
    uint32_t *agg_slot;  /* AGG_SLOTS: 0 = free, else index in agg + 1 */
    uint32_t *agg_order; /* AGG_MAX: sort scratch */
    size_t nagg;
    uint64_t *pairs;     /* PAIR_SLOTS pair hashes; 0 = empty */
    /* One drain's tables (apply_drain), dcap entries each, as indices in
     * drec (+1 in the heads, 0 = empty): its rows, and the coalesced
     * updates of rows already in the table. */
    uint32_t *d_rows, *d_resp, *d_rcpt;
    uint32_t *h_rowmid, *h_resp, *h_rcpt; /* chain heads, dcap each */
    size_t nd_rows, nd_resp, nd_rcpt;
    uint64_t d_updates; /* update records behind d_resp and d_rcpt */
    int tmp_dirty;      /* a temp table may hold rows a failed phase left */
    int tx_lost;        /* SQLite rolled the open transaction back (step) */
    int64_t append_next; /* insert_rows: the id SQLite would give the next
                            row (0 = not known in this transaction) */
    uint64_t dcap, dmask; /* most records per drain, a power of two */
    struct msglog_config cfg;
    pthread_mutex_t prod_lock; /* only with cfg.multi_producer */

    sqlite3 *db;
    sqlite3_stmt *q[Q__COUNT];
    /* The row INSERTs' bound values (bind_row): Q_INSERT_MANY, Q_INSERT. */
    struct bindcache *bc_many, *bc_one;
    pthread_t thread;
    int thread_started;

    pthread_mutex_t mu; /* guards stop, flush_waiters, flush_target, the conds */
    pthread_cond_t wake, done;
    int stop, flush_waiters;
    uint64_t flush_target; /* the largest head a waiting flush waits for */
    _Atomic int batch_failed;
    int64_t newest_ts_us; /* writer thread only */

    _Atomic uint64_t st_written, st_updates, st_dropped, st_batches, st_failed,
        st_pruned, st_writer_cpu_ns, st_stats_failed, st_folded, st_early_keys,
        st_lock_waits;

    /* Writer only: the first SQLite error of the open transaction (later
     * ones are usually its consequences), published with the entries it
     * cost when the transaction ends (publish_error). */
    struct {
        int set;
        int q;    /* Q_* of the statement */
        int code; /* sqlite3_extended_errcode */
        char msg[160];
    } tx_err;
    /* The most recent published failure (msglog_last_error), under mu;
     * err_count is read without it. */
    char last_err[MSGLOG_ERROR_MAX];
    _Atomic uint64_t err_count;
};

/* ---- redaction and bounded copies ------------------------------------- */

size_t msglog_redact(const char *in, size_t len, char *out, size_t cap)
{
    /* The snippet's own rule (norm_redact_digits: every run of decimal
     * digits, in any script, becomes one '#'), applied again here so that
     * a caller that passes a snippet it did not mask still stores no code
     * in clear; a masked snippet passes unchanged ('#' is no digit).  One
     * definition of a digit for both: this copy knew only ASCII, full-width
     * and Arabic-Indic digits.  Stops at a NUL: the row's strings are C
     * strings. */
    return norm_redact_digits(in, strnlen(in, len), out, cap);
}

/* The length of s to copy: at most max bytes, cut back to a UTF-8
 * boundary (0 for NULL). */
static size_t cut_len(const char *s, size_t max)
{
    size_t n;
    if (!s)
        return 0;
    n = strnlen(s, max);
    if (s[n] != '\0')
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    return n;
}

/* ---- address keys ------------------------------------------------------- */

int64_t store_addr_key(const char *addr)
{
    size_t n = 0;
    int64_t v = 0;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */

    if (!addr)
        return 0;
    /* Canonical digits (what msisdn normalisation produces): the number. */
    if (addr[0] && addr[0] != '0') {
        while (n < 19 && addr[n] >= '0' && addr[n] <= '9')
            v = v * 10 + (addr[n++] - '0');
        if (addr[n] == '\0' && n <= 18)
            return v;
    }
    /* Anything else: a 64-bit hash with the top bit set, so it never equals
     * a number.  Persisted: never change this function without a migration
     * that recomputes the key columns. */
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33; /* murmur3 finaliser: FNV's low bits mix poorly */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (int64_t)(h | 0x8000000000000000ULL);
}

/* ---- message_id keys ------------------------------------------------------ */

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int64_t store_mid_key(const char *mid)
{
    size_t n, d;
    uint64_t v = 0, h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */

    if (!mid || !mid[0])
        return 0;
    n = strlen(mid);
    /* The counter: the trailing hex digits, at most STORE_MID_DIGITS (48
     * bits).  Persisted: see store-int.h before changing anything here. */
    for (d = n; d > 0 && n - d < STORE_MID_DIGITS; d--)
        if (hex_digit((unsigned char)mid[d - 1]) < 0)
            break;
    for (size_t i = d; i < n; i++)
        v = v << 4 | (uint64_t)hex_digit((unsigned char)mid[i]);
    /* The prefix: 15 bits of its hash (murmur3 finaliser: FNV's low bits
     * mix poorly), never 0, so a key is never 0 and never negative. */
    for (size_t i = 0; i < d; i++) {
        h ^= (unsigned char)mid[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h >>= 64 - 15;
    return (int64_t)((h ? h : 1) << 48 | v);
}

/* ---- ring, producer side ------------------------------------------------ */

static struct rec *rec_at(const msglog_t *m, uint64_t pos)
{
    return (struct rec *)(m->buf + (pos & m->mask));
}

/* Reserves need bytes (a multiple of REC_ALIGN, at most REC_ROW_MAX) for a
 * record at the head, after a REC_SKIP record when they would straddle the
 * end of the buffer.  Returns the record's address and its position in
 * *h_out, or NULL when the ring is full (nothing written).  The caller
 * may publish fewer bytes than it reserved. */
static struct rec *claim(msglog_t *m, size_t need, uint64_t *h_out)
{
    uint64_t h = atomic_load_explicit(&m->head, memory_order_relaxed);
    uint64_t room = m->cap - (h & m->mask); /* to the end of the buffer */
    uint64_t pad = room < need ? room : 0;

    /* The tail last read first: the writer's cache line only when it says
     * full (the writer moves tail once per drain, not per record). */
    while (h + pad + need - m->tail_seen > m->cap) {
        m->tail_seen = atomic_load_explicit(&m->tail, memory_order_acquire);
        if (h + pad + need - m->tail_seen <= m->cap)
            break;
        if (!m->cfg.block_when_full)
            return NULL;
        /* Offline replay only: wait for the writer to release bytes. */
        pthread_mutex_lock(&m->mu);
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->mu);
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    if (pad) {
        /* room is a multiple of REC_ALIGN, so at least the 8 bytes the
         * skip's size and kind take. */
        struct rec *sk = rec_at(m, h);
        sk->size = (uint32_t)pad;
        sk->kind = REC_SKIP;
        atomic_store_explicit(&m->st_padding,
                              atomic_load_explicit(&m->st_padding, memory_order_relaxed) + pad,
                              memory_order_relaxed);
        h += pad;
    }
    *h_out = h;
    return rec_at(m, h);
}

/* Publishes the record at h (and the skip before it, if any): its bytes
 * before the new head (release; the writer reads head with acquire). */
static void publish(msglog_t *m, uint64_t h, struct rec *r)
{
    atomic_store_explicit(&m->head, h + r->size, memory_order_release);
    atomic_store_explicit(&m->st_submitted,
                          atomic_load_explicit(&m->st_submitted, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void prod_lock(msglog_t *m)
{
    if (m->cfg.multi_producer)
        pthread_mutex_lock(&m->prod_lock);
}

static void prod_unlock(msglog_t *m)
{
    if (m->cfg.multi_producer)
        pthread_mutex_unlock(&m->prod_lock);
}

/* Takes the producer lock and need bytes of ring; on a full ring, releases
 * the lock, counts the drop and returns NULL.  On success the caller fills
 * the record, publish()es it and unlocks. */
static struct rec *claim_locked(msglog_t *m, size_t need, uint64_t *h)
{
    prod_lock(m);
    struct rec *r = claim(m, need, h);
    if (!r) {
        prod_unlock(m);
        atomic_fetch_add_explicit(&m->st_dropped, 1, memory_order_relaxed);
    }
    return r;
}

/* Copies n bytes of s and a NUL at p; returns the byte after the NUL. */
static char *put_str(char *p, const char *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p + n + 1;
}

int msglog_submit(msglog_t *m, const struct msglog_row *row, int64_t *link_out)
{
    const char *s[R__N];
    size_t len[R__N], need = sizeof(struct rec_row), snip_in = 0;
    struct rec *r;
    struct rec_row *x;
    uint64_t h;
    char *p;

    if (link_out)
        *link_out = 0;
    if (!m || !row)
        return SG_EINVAL;
    s[R_ACCOUNT] = row->account;
    s[R_SOURCE] = row->source_addr;
    s[R_DEST] = row->dest_addr;
    s[R_IP] = row->src_ip;
    s[R_ACTION] = row->action ? row->action : "allow";
    s[R_FP] = row->fingerprint;
    s[R_MID] = row->message_id;
    s[R_SNIPPET] = row->snippet;
    s[R_REASONS] = row->reasons;
    /* The lengths first: the record's size must be known to claim it. */
    for (int f = 0; f < R__N; f++) {
        if (f == R_SNIPPET) {
            /* Redacted text is never longer than its input (a digit
             * becomes one '#') nor than the bound: reserve the smaller;
             * the real length is known after the copy.  Redaction never
             * reads past 3 input bytes per output byte, so the strnlen
             * stops at 4 x the bound without changing the result. */
            if (s[f])
                snip_in = row->snippet_len ? row->snippet_len
                                           : strnlen(s[f], 4 * MSGLOG_SNIPPET_MAX);
            len[f] = snip_in < MSGLOG_SNIPPET_MAX ? snip_in : MSGLOG_SNIPPET_MAX;
        } else {
            len[f] = cut_len(s[f], row_max[f]);
        }
        need += len[f] + 1;
    }
    if (!(r = claim_locked(m, REC_ROUND(need), &h)))
        return SG_ENOSPC;
    x = (struct rec_row *)r;
    r->kind = REC_ROW;
    r->enforced = row->enforced ? 1 : 0;
    r->id = m->next_id++;
    r->ts_us = row->ts_us;
    x->source_ton = row->source_ton;
    x->score = row->score;
    x->parts = row->parts > 0 ? row->parts : 1;
    p = (char *)(x + 1);
    for (int f = 0; f < R__N; f++) {
        x->off[f] = (uint16_t)(p - (char *)r);
        if (f == R_SNIPPET && s[f])
            p += msglog_redact(s[f], snip_in, p, len[f] + 1) + 1;
        else
            p = put_str(p, s[f], len[f]);
    }
    x->off[R__N] = (uint16_t)(p - (char *)r);
    r->size = (uint32_t)REC_ROUND((size_t)(p - (char *)r));
    if (link_out)
        *link_out = r->id;
    publish(m, h, r);
    prod_unlock(m);
    return 0;
}

/* Fills an update record's strings (n of them; the others empty). */
static void put_upd(struct rec *r, const char *const *s, const size_t *len, int n)
{
    struct rec_upd *x = (struct rec_upd *)r;
    char *p = (char *)(x + 1);
    for (int f = 0; f < n; f++) {
        x->off[f] = (uint16_t)(p - (char *)r);
        p = put_str(p, s[f], len[f]);
    }
    for (int f = n; f < U__N; f++)
        x->off[f] = (uint16_t)(p - 1 - (char *)r); /* the last NUL */
    r->size = (uint32_t)REC_ROUND((size_t)(p - (char *)r));
}

int msglog_update_response(msglog_t *m, int64_t link, const char *message_id,
                           uint32_t command_status, int64_t ts_us)
{
    struct rec *r;
    uint64_t h;
    size_t len;

    if (!m || link <= 0)
        return SG_EINVAL;
    len = cut_len(message_id, MSGLOG_MSGID_MAX);
    if (!(r = claim_locked(m, REC_ROUND(sizeof(struct rec_upd) + len + 1), &h)))
        return SG_ENOSPC;
    r->kind = REC_RESP;
    r->id = link;
    r->status = command_status;
    r->ts_us = ts_us;
    put_upd(r, &message_id, &len, 1);
    publish(m, h, r);
    prod_unlock(m);
    return 0;
}

int msglog_update_receipt(msglog_t *m, const char *message_id, const char *account,
                          const char *stat, const char *err, int64_t ts_us)
{
    const char *s[U__N] = {[U_MID] = message_id, [U_ACCOUNT] = account, [U_STAT] = stat,
                           [U_ERR] = err};
    size_t len[U__N], need = sizeof(struct rec_upd);
    struct rec *r;
    uint64_t h;

    if (!m || !message_id || !*message_id)
        return SG_EINVAL;
    len[U_MID] = cut_len(message_id, MSGLOG_MSGID_MAX);
    len[U_ACCOUNT] = cut_len(account, MSGLOG_ACCOUNT_MAX);
    len[U_STAT] = cut_len(stat, MSGLOG_STAT_MAX);
    len[U_ERR] = cut_len(err, MSGLOG_STAT_MAX);
    for (int f = 0; f < U__N; f++)
        need += len[f] + 1;
    if (!(r = claim_locked(m, REC_ROUND(need), &h)))
        return SG_ENOSPC;
    r->kind = REC_RECEIPT;
    r->id = 0;
    r->ts_us = ts_us;
    put_upd(r, s, len, U__N);
    publish(m, h, r);
    prod_unlock(m);
    return 0;
}

/* ---- writer thread ------------------------------------------------------ */

static void bind_s(sqlite3_stmt *st, int i, const char *v)
{
    if (v[0])
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* ---- records, writer side ------------------------------------------------ */

static const struct rec_row *as_row(const struct rec *r)
{
    return (const struct rec_row *)r;
}

static const char *row_str(const struct rec *r, int f)
{
    return (const char *)r + as_row(r)->off[f];
}

static const char *upd_str(const struct rec *r, int f)
{
    return (const char *)r + ((const struct rec_upd *)r)->off[f];
}

/* The message_id a record (a row, or a response) stands for now: its own,
 * or the one a folded or coalesced response gave it (mid_from). */
static const char *mid_of(const msglog_t *m, const struct rec *r)
{
    if (r->mid_from)
        r = m->drec[r->mid_from - 1];
    return r->kind == REC_ROW ? row_str(r, R_MID) : upd_str(r, U_MID);
}

/* The receipt record whose stat and err a row (or a coalesced receipt)
 * takes; a row's only when rcpt_from is set. */
static const struct rec *rcpt_of(const msglog_t *m, const struct rec *r)
{
    return r->rcpt_from ? m->drec[r->rcpt_from - 1] : r;
}

static void bind_key(sqlite3_stmt *st, int i, int64_t k)
{
    if (k)
        sqlite3_bind_int64(st, i, k);
    else
        sqlite3_bind_null(st, i);
}

/* SQLite's name for a result code: the primary code's, and the extended
 * codes the writer can meet under lock contention, since those tell
 * which kind of contention it was (BUSY_SNAPSHOT: the transaction read
 * before it wrote, and another connection committed in between). */
static const char *sqlite_code_name(int code)
{
    switch (code) {
    case SQLITE_BUSY_SNAPSHOT: return "SQLITE_BUSY_SNAPSHOT";
    case SQLITE_BUSY_RECOVERY: return "SQLITE_BUSY_RECOVERY";
    case SQLITE_BUSY_TIMEOUT: return "SQLITE_BUSY_TIMEOUT";
    case SQLITE_LOCKED_SHAREDCACHE: return "SQLITE_LOCKED_SHAREDCACHE";
    default: break;
    }
    switch (code & 0xff) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    default: return "SQLite error";
    }
}

/* Records the connection's error for the statement that just failed, if
 * it is the transaction's first (see tx_err).  Called before the
 * statement's reset, while sqlite3_errmsg still describes it.  Failure
 * path only: the statement's phase is found by a scan of q. */
static void note_error(msglog_t *m, sqlite3_stmt *st)
{
    int q = 0;
    if (m->tx_err.set)
        return;
    while (q < Q__COUNT && m->q[q] != st)
        q++;
    m->tx_err.set = 1;
    m->tx_err.q = q;
    m->tx_err.code = sqlite3_extended_errcode(m->db);
    snprintf(m->tx_err.msg, sizeof m->tx_err.msg, "%s", sqlite3_errmsg(m->db));
}

/* The transaction that just ended lost nfail entries: its first error
 * becomes the last error msglog_last_error reports, and the count goes up
 * with it (under mu: a reader gets a text and its count). */
static void publish_error(msglog_t *m, uint64_t nfail)
{
    pthread_mutex_lock(&m->mu);
    if (m->tx_err.set)
        snprintf(m->last_err, sizeof m->last_err, "%s: %s (%s, extended code %d); %llu entries lost",
                 m->tx_err.q < Q__COUNT ? q_name[m->tx_err.q] : "statement", m->tx_err.msg,
                 sqlite_code_name(m->tx_err.code), m->tx_err.code, (unsigned long long)nfail);
    else /* never: every counted loss follows a failed statement */
        snprintf(m->last_err, sizeof m->last_err, "%llu entries lost (no SQLite error recorded)",
                 (unsigned long long)nfail);
    atomic_fetch_add_explicit(&m->err_count, 1, memory_order_release);
    pthread_mutex_unlock(&m->mu);
}

/* A result code that says another connection held a lock SQLite waited
 * for (busy timeout) or could not wait for. */
static int lock_busy(int code)
{
    return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
}

/* Runs a statement of the open transaction: 1 if it completed.  On some
 * errors (I/O, disk full, no memory; q_sql) SQLite rolls the whole
 * transaction back, and a statement run after that would commit on its
 * own: tx_lost then fails every later statement of the transaction without
 * running it, and writer_main counts all its entries as failed. */
static int step(msglog_t *m, sqlite3_stmt *st)
{
    int rc = SQLITE_ABORT;
    if (!m->tx_lost) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            note_error(m, st);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 1;
    if (sqlite3_get_autocommit(m->db))
        m->tx_lost = 1;
    return 0;
}

/* A statement of the open transaction: 0 or SG_EDB. */
static int run_q(msglog_t *m, int q)
{
    return step(m, m->q[q]) ? 0 : SG_EDB;
}

/* BEGIN, COMMIT, ROLLBACK: 0 or SG_EDB. */
static int run_tx(msglog_t *m, int q)
{
    sqlite3_stmt *st = m->q[q];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        note_error(m, st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : SG_EDB;
}

/* The sender-statistics hashes of a row (count_sender): h of (sender key,
 * bucket), p of (h, recipient key), never 0. */
static uint64_t stats_hash(int64_t ks, int64_t bucket)
{
    return sg_mix64((uint64_t)ks ^ sg_mix64((uint64_t)bucket));
}

static uint64_t pair_hash(uint64_t h, int64_t kd)
{
    return sg_mix64(h ^ sg_mix64((uint64_t)kd + 0x9e3779b97f4a7c15ULL)) | 1;
}

/* The set of a pair hash: chosen by its top bits (the low bit is forced). */
static uint64_t *pair_set(msglog_t *m, uint64_t p)
{
    return &m->pairs[(p >> (64 - PAIR_SET_BITS)) * PAIR_WAYS];
}

/* A row's keys: dest_key, source_key, mid_key (0 = none). */
struct rowkeys {
    int64_t kd, ks, km;
};

/* Binds parameter i (1-based) of a row INSERT unless it holds the value
 * already (struct bindcache). */
static void bc_int(sqlite3_stmt *st, struct bindcache *c, int i, int64_t v)
{
    if (c->kind[i - 1] == BC_INT && c->val[i - 1] == v)
        return;
    sqlite3_bind_int64(st, i, v);
    c->kind[i - 1] = BC_INT;
    c->val[i - 1] = v;
}

static void bc_null(sqlite3_stmt *st, struct bindcache *c, int i)
{
    if (c->kind[i - 1] == BC_NULL)
        return;
    sqlite3_bind_null(st, i);
    c->kind[i - 1] = BC_NULL;
}

/* An integer key, NULL for none (0). */
static void bc_key(sqlite3_stmt *st, struct bindcache *c, int i, int64_t k)
{
    if (k)
        bc_int(st, c, i, k);
    else
        bc_null(st, c, i);
}

/* A row string that changes from row to row, bound in place (the ring's
 * bytes live as long as the drain); empty = NULL. */
static void bc_rs(sqlite3_stmt *st, struct bindcache *c, int i, const struct rec *r, int f)
{
    const struct rec_row *x = as_row(r);
    int n = x->off[f + 1] - x->off[f] - 1;
    if (n > 0) {
        sqlite3_bind_text(st, i, (const char *)r + x->off[f], n, SQLITE_STATIC);
        c->kind[i - 1] = BC_ANY;
    } else {
        bc_null(st, c, i);
    }
}

/* A short row string that usually repeats (account, IP, action): bound
 * from the cache's own copy, and only when it differs from that copy.
 * empty_null: an empty string is NULL (the action is never NULL). */
static void bc_short(sqlite3_stmt *st, struct bindcache *c, int i, int slot, int which,
                     const struct rec *r, int f, int empty_null)
{
    const struct rec_row *x = as_row(r);
    const char *v = (const char *)r + x->off[f];
    size_t n = (size_t)(x->off[f + 1] - x->off[f] - 1);
    char *own = c->text[slot][which];

    if (n == 0 && empty_null) {
        bc_null(st, c, i);
        return;
    }
    if (c->kind[i - 1] == BC_TEXT && c->val[i - 1] == (int64_t)n && memcmp(own, v, n) == 0)
        return;
    if (SG_NEVER(n > BC_TEXT_MAX)) { /* the bounds of msglog.h: never */
        sqlite3_bind_text(st, i, v, (int)n, SQLITE_STATIC);
        c->kind[i - 1] = BC_ANY;
        return;
    }
    /* Safe to overwrite: SQLite reads a SQLITE_STATIC value only while the
     * statement runs, and it is bound again right here before the next
     * run. */
    memcpy(own, v, n);
    own[n] = '\0';
    sqlite3_bind_text(st, i, own, (int)n, SQLITE_STATIC);
    c->kind[i - 1] = BC_TEXT;
    c->val[i - 1] = (int64_t)n;
}

/* Binds one row's ROW_PARAMS values at parameters base+1.. of an INSERT
 * (Q_INSERT or Q_INSERT_MANY, whose cache c is) and returns its keys.
 * A value already bound there is left as it is (struct bindcache).
 * implicit_id: the id is bound NULL, for SQLite to assign (insert_rows
 * knows it assigns r->id). */
static void bind_row(msglog_t *m, sqlite3_stmt *st, struct bindcache *c, int base,
                     const struct rec *r, int implicit_id, struct rowkeys *k)
{
    const struct rec_row *x = as_row(r);
    const char *mid = mid_of(m, r);
    int slot = base / ROW_PARAMS;
    if (implicit_id) { /* insert_rows: SQLite gives it r->id */
        bc_null(st, c, base + 1);
    } else {
        sqlite3_bind_int64(st, base + 1, r->id); /* never repeats */
        c->kind[base] = BC_ANY;
    }
    bc_int(st, c, base + 2, r->ts_us);
    bc_short(st, c, base + 3, slot, BC_ACCOUNT, r, R_ACCOUNT, 1);
    bc_rs(st, c, base + 4, r, R_SOURCE);
    bc_int(st, c, base + 5, x->source_ton);
    bc_rs(st, c, base + 6, r, R_DEST);
    bc_short(st, c, base + 7, slot, BC_IP, r, R_IP, 1);
    bc_short(st, c, base + 8, slot, BC_ACTION, r, R_ACTION, 0);
    bc_int(st, c, base + 9, x->score);
    bc_rs(st, c, base + 10, r, R_REASONS);
    bc_rs(st, c, base + 11, r, R_FP);
    bc_rs(st, c, base + 12, r, R_SNIPPET);
    bc_int(st, c, base + 13, x->parts);
    if (mid[0]) {
        sqlite3_bind_text(st, base + 14, mid, -1, SQLITE_STATIC);
        c->kind[base + 13] = BC_ANY;
    } else {
        bc_null(st, c, base + 14);
    }
    bc_int(st, c, base + 15, r->enforced);
    /* An empty string is stored as NULL (bc_rs): no key. */
    k->kd = row_str(r, R_DEST)[0] ? store_addr_key(row_str(r, R_DEST)) : 0;
    k->ks = row_str(r, R_SOURCE)[0] ? store_addr_key(row_str(r, R_SOURCE)) : 0;
    k->km = store_mid_key(mid);
    bc_key(st, c, base + 16, k->kd);
    bc_key(st, c, base + 17, k->ks);
    bc_key(st, c, base + 23, k->km);
    /* Updates folded in while the row waited in its drain (apply_drain);
     * without them the columns stay NULL, as the INSERT alone left them. */
    if (r->has_resp) {
        bc_int(st, c, base + 18, r->status);
        bc_int(st, c, base + 19, x->resp_ts);
    } else {
        bc_null(st, c, base + 18);
        bc_null(st, c, base + 19);
    }
    if (r->rcpt_from) {
        const struct rec *u = rcpt_of(m, r);
        const char *stat = upd_str(u, U_STAT), *err = upd_str(u, U_ERR);
        /* In the receipt's record: bound in place, like the row's. */
        if (stat[0])
            sqlite3_bind_text(st, base + 20, stat, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, base + 20);
        if (err[0])
            sqlite3_bind_text(st, base + 21, err, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, base + 21);
        c->kind[base + 19] = c->kind[base + 20] = BC_ANY;
        bc_int(st, c, base + 22, x->rcpt_ts);
    } else {
        bc_null(st, c, base + 20);
        bc_null(st, c, base + 21);
        bc_null(st, c, base + 22);
    }
    if (k->ks) {
        /* count_sender() reads these slots after the INSERT has run: start
         * the (likely) cache misses now, behind the statement's work. */
        uint64_t h = stats_hash(k->ks, STORE_SENDER_BUCKET(r->ts_us));
        __builtin_prefetch(&m->agg_slot[h & (AGG_SLOTS - 1)]);
        if (k->kd)
            __builtin_prefetch(pair_set(m, pair_hash(h, k->kd)), 1);
    }
    if (r->ts_us > m->newest_ts_us)
        m->newest_ts_us = r->ts_us;
}

/* ---- sender statistics ---------------------------------------------------- */

static int sstat_cmp(const void *a, const void *b, void *arg)
{
    const struct sstat *agg = arg;
    const struct sstat *x = &agg[*(const uint32_t *)a], *y = &agg[*(const uint32_t *)b];
    int c = strcmp(x->sender, y->sender);
    if (c)
        return c;
    return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

static void bind_sstat(sqlite3_stmt *st, int base, const struct sstat *a)
{
    sqlite3_bind_text(st, base + 1, a->sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 2, a->bucket);
    sqlite3_bind_int64(st, base + 3, a->total);
    sqlite3_bind_int64(st, base + 4, a->allowed);
    sqlite3_bind_int64(st, base + 5, a->flagged);
    sqlite3_bind_int64(st, base + 6, a->blocked);
    sqlite3_bind_int64(st, base + 7, a->recipients);
}

/* Upserts the aggregated counts into sender_stats in key order (so each
 * write lands next to the previous one, as with the key tables) and empties
 * the table.  Inside the open transaction: a rollback takes them too.
 * Bound: nagg / SS_ROWS statements, then fewer than SS_ROWS single ones.
 * Failed upserts are counted in stats_failed (the rows themselves are
 * written). */
static void write_sender_stats(msglog_t *m)
{
    size_t n = m->nagg, i = 0;
    uint64_t nfail = 0;

    if (n == 0)
        return;
    if (m->tx_lost)
        goto out; /* the rows they count are gone too */
    for (size_t k = 0; k < n; k++)
        m->agg_order[k] = (uint32_t)k;
    qsort_r(m->agg_order, n, sizeof *m->agg_order, sstat_cmp, m->agg);
    for (; i + SS_ROWS <= n; i += SS_ROWS) {
        sqlite3_stmt *st = m->q[Q_STATS_MANY];
        for (int j = 0; j < SS_ROWS; j++)
            bind_sstat(st, SS_PARAMS * j, &m->agg[m->agg_order[i + j]]);
        if (!step(m, st))
            nfail += SS_ROWS;
    }
    for (; i < n; i++) {
        sqlite3_stmt *st = m->q[Q_STATS];
        bind_sstat(st, 0, &m->agg[m->agg_order[i]]);
        if (!step(m, st))
            nfail++;
    }
out:
    for (size_t k = 0; k < n; k++)
        m->agg_slot[m->agg[k].slot] = 0;
    m->nagg = 0;
    if (nfail)
        atomic_fetch_add_explicit(&m->st_stats_failed, nfail, memory_order_relaxed);
}

/* Counts a written row into its (sender, bucket).  A row without a sender
 * has no key and is not counted (it has no sender to look up).  Work: one
 * probe sequence in a table at most half full, one pair-table probe. */
static void count_sender(msglog_t *m, const struct rec *r, int64_t kd, int64_t ks)
{
    int64_t bucket = STORE_SENDER_BUCKET(r->ts_us);
    const char *src = row_str(r, R_SOURCE), *action = row_str(r, R_ACTION);
    uint64_t h = stats_hash(ks, bucket);
    struct sstat *a = NULL;
    uint32_t i;

    if (!ks)
        return;
    if (m->nagg == AGG_MAX)
        write_sender_stats(m);
    /* Bound: the table has AGG_SLOTS >= 2 * nagg slots, so a free one is
     * reached. */
    for (i = (uint32_t)(h & (AGG_SLOTS - 1));; i = (i + 1) & (AGG_SLOTS - 1)) {
        uint32_t e = m->agg_slot[i];
        if (!e)
            break;
        a = &m->agg[e - 1];
        if (a->hash == h && a->bucket == bucket && strcmp(a->sender, src) == 0)
            break;
        a = NULL;
    }
    if (!a) {
        a = &m->agg[m->nagg];
        memset(a, 0, offsetof(struct sstat, sender));
        a->bucket = bucket;
        a->hash = h;
        a->slot = i;
        memcpy(a->sender, src, (size_t)(as_row(r)->off[R_SOURCE + 1] - as_row(r)->off[R_SOURCE]));
        m->agg_slot[i] = (uint32_t)++m->nagg;
    }
    a->total++;
    if (strcmp(action, "allow") == 0)
        a->allowed++;
    else if (strcmp(action, "flag") == 0)
        a->flagged++;
    else if (strcmp(action, "block") == 0)
        a->blocked++;
    if (kd) {
        /* One cache line of PAIR_WAYS hashes, newest first: a pair is
         * forgotten only when PAIR_WAYS newer pairs have landed in its set,
         * about PAIR_SLOTS pairs later on average.  Bound: PAIR_WAYS
         * compares and one PAIR_WAYS-entry shift. */
        uint64_t p = pair_hash(h, kd);
        uint64_t *set = pair_set(m, p);
        int w;
        for (w = 0; w < PAIR_WAYS && set[w] != p; w++)
            ;
        if (w == PAIR_WAYS) {
            memmove(set + 1, set, (PAIR_WAYS - 1) * sizeof *set);
            set[0] = p;
            a->recipients++;
        }
    }
}

/* A row is in the table: queue its key-table entries and count it for its
 * sender.  Bound: at most batch_max rows per transaction (writer_main), the
 * lists' size. */
static void row_done(msglog_t *m, const struct rec *r, const struct rowkeys *k)
{
    if (k->kd)
        m->kdest[m->nkdest++] = (struct keyent){k->kd, r->ts_us, r->id};
    if (k->ks)
        m->ksrc[m->nksrc++] = (struct keyent){k->ks, r->ts_us, r->id};
    if (k->km)
        m->kmid[m->nkmid++] = (struct keyent){k->km, 0, r->id};
    count_sender(m, r, k->kd, k->ks);
    atomic_fetch_add_explicit(&m->st_written, 1, memory_order_relaxed);
}

/* FNV-1a 64 of a message_id, for the drain tables' chains. */
static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return sg_mix64(h);
}

static uint64_t write_keys(msglog_t *m, int q1, int qmany, int ncols, struct keyent *k,
                           size_t n);

/* Runs the coalesced updates of rows already in the table (d_resp, then
 * d_rcpt) through the temp tables, one UPDATE ... FROM each, and empties
 * both.  Responses go first: a receipt queued after a response must see
 * the message_id it set; queue_resp() runs this early in the one case
 * where a response could change what an earlier receipt matches.  The
 * receipts find rows through message_log_mid: the entries of the rows
 * this transaction wrote so far are written first (sorted, as at the
 * commit), so the key table holds every row a receipt may reach.  A
 * failure fails every update record of the phase (counted in failed).
 * Bound: nd_resp + nd_rcpt temp-table inserts, six statements, and the
 * pending key-table entries (at most batch_max per transaction). */
static uint64_t flush_updates(msglog_t *m)
{
    int ok = 1;
    uint64_t nfail = 0;

    if (!m->nd_resp && !m->nd_rcpt)
        return 0;
    if (m->tmp_dirty) /* never applied twice; see the end */
        m->tmp_dirty = run_q(m, Q_CLR_RESP) != 0 || run_q(m, Q_CLR_RCPT) != 0;
    for (size_t k = 0; k < m->nd_resp; k++) {
        const struct rec *u = m->drec[m->d_resp[k]];
        const char *mid = mid_of(m, u);
        sqlite3_stmt *st = m->q[Q_TMP_RESP];
        sqlite3_bind_int64(st, 1, u->id);
        bind_s(st, 2, mid);
        sqlite3_bind_int64(st, 3, u->status);
        sqlite3_bind_int64(st, 4, u->ts_us);
        bind_key(st, 5, store_mid_key(mid));
        ok &= step(m, st);
        m->h_resp[sg_mix64((uint64_t)u->id) & m->dmask] = 0;
    }
    for (size_t k = 0; k < m->nd_rcpt; k++) {
        const struct rec *u = m->drec[m->d_rcpt[k]], *w = rcpt_of(m, u);
        const char *mid = upd_str(u, U_MID);
        sqlite3_stmt *st = m->q[Q_TMP_RCPT];
        sqlite3_bind_text(st, 1, mid, -1, SQLITE_STATIC);
        bind_s(st, 2, upd_str(u, U_ACCOUNT));
        bind_s(st, 3, upd_str(w, U_STAT));
        bind_s(st, 4, upd_str(w, U_ERR));
        sqlite3_bind_int64(st, 5, u->ts_us);
        sqlite3_bind_int64(st, 6, store_mid_key(mid)); /* never empty */
        ok &= step(m, st);
        m->h_rcpt[str_hash(mid) & m->dmask] = 0;
    }
    if (m->nd_resp)
        ok &= run_q(m, Q_MID_RESP) == 0 && run_q(m, Q_UPD_RESP) == 0;
    if (m->nd_rcpt) {
        nfail += write_keys(m, Q_KEY_MID, Q_KEY_MID_MANY, 2, m->kmid, m->nkmid);
        m->nkmid = 0;
        ok &= run_q(m, Q_UPD_RCPT) == 0;
    }
    /* Emptied whatever happened above: a leftover row would apply again. */
    if (m->nd_resp)
        ok &= run_q(m, Q_CLR_RESP) == 0;
    if (m->nd_rcpt)
        ok &= run_q(m, Q_CLR_RCPT) == 0;
    uint64_t n = m->d_updates;
    m->nd_resp = m->nd_rcpt = 0;
    m->d_updates = 0;
    if (ok) {
        atomic_fetch_add_explicit(&m->st_updates, n, memory_order_relaxed);
        return nfail;
    }
    m->tmp_dirty = 1;
    return nfail + n;
}

/* A response for a row already in the table (or for no row: then the
 * UPDATE matches nothing, as it always did).  Several for one row become
 * one: the first non-empty message_id, the first non-zero status (else
 * the last, 0), the last time, which is what the UPDATEs one by one
 * leave.  Chain walk: the responses of this drain that share a bucket. */
static uint64_t queue_resp(msglog_t *m, uint32_t i)
{
    struct rec *u = m->drec[i], *e = NULL;
    const char *umid = upd_str(u, U_MID);
    uint32_t *head = &m->h_resp[sg_mix64((uint64_t)u->id) & m->dmask];
    uint64_t nfail = 0;

    /* The one order that matters: a receipt queued before this response,
     * for the message_id this response may give a row, must not see it.
     * Run what is queued first (rare: an SMSC that reports before it
     * answers). */
    if (umid[0] && m->nd_rcpt) {
        for (uint32_t c = m->h_rcpt[str_hash(umid) & m->dmask]; c; c = m->drec[c - 1]->next)
            if (strcmp(upd_str(m->drec[c - 1], U_MID), umid) == 0) {
                nfail = flush_updates(m);
                break;
            }
    }
    for (uint32_t c = *head; c; c = m->drec[c - 1]->next)
        if (m->drec[c - 1]->id == u->id) {
            e = m->drec[c - 1];
            break;
        }
    m->d_updates++;
    if (!e) {
        u->mid_from = 0;
        u->next = *head;
        *head = i + 1;
        m->d_resp[m->nd_resp++] = i;
        return nfail;
    }
    if (!mid_of(m, e)[0])
        e->mid_from = i + 1;
    if (e->status == 0)
        e->status = u->status;
    e->ts_us = u->ts_us;
    return nfail;
}

/* A receipt, for the rows already in the table.  Two for one message_id
 * and the same account filter: the later one wins, as it would have.
 * With different filters the rows they match differ: the queued one is
 * run first. */
static uint64_t queue_rcpt(msglog_t *m, uint32_t i)
{
    struct rec *u = m->drec[i], *e = NULL;
    const char *umid = upd_str(u, U_MID);
    uint64_t hv = str_hash(umid), nfail = 0;

    for (uint32_t c = m->h_rcpt[hv & m->dmask]; c; c = m->drec[c - 1]->next)
        if (strcmp(upd_str(m->drec[c - 1], U_MID), umid) == 0) {
            e = m->drec[c - 1];
            break;
        }
    if (e && strcmp(upd_str(e, U_ACCOUNT), upd_str(u, U_ACCOUNT)) != 0) {
        nfail = flush_updates(m);
        e = NULL;
    }
    m->d_updates++;
    if (!e) {
        uint32_t *head = &m->h_rcpt[hv & m->dmask];
        u->rcpt_from = 0;
        u->next = *head;
        *head = i + 1;
        m->d_rcpt[m->nd_rcpt++] = i;
        return nfail;
    }
    e->rcpt_from = i + 1; /* u's stat and err: the later receipt wins */
    e->ts_us = u->ts_us;
    return nfail;
}

/* Gives a waiting row its message_id's chain (receipts find it there). */
static void link_row_mid(msglog_t *m, uint32_t i)
{
    struct rec *r = m->drec[i];
    uint32_t *head = &m->h_rowmid[str_hash(mid_of(m, r)) & m->dmask];
    r->next = *head;
    *head = i + 1;
}

/* Inserts the drain's waiting rows, in id order, ROW_CHUNK per statement,
 * with their folded updates, and empties the row tables.  A failing
 * statement fails its rows only, from the one it stopped at (OR FAIL: the
 * rows before it are in, and get their keys).  Returns the number of rows
 * that failed. */
static uint64_t insert_rows(msglog_t *m)
{
    uint64_t nfail = 0;
    size_t n = m->nd_rows, k = 0;
    struct rowkeys keys[ROW_CHUNK];

    /* Bound: n / ROW_CHUNK statements, then fewer than ROW_CHUNK single
     * ones. */
    while (k < n) {
        int chunk = n - k >= ROW_CHUNK ? ROW_CHUNK : 1, in = chunk;
        sqlite3_stmt *st = m->q[chunk == ROW_CHUNK ? Q_INSERT_MANY : Q_INSERT];
        struct bindcache *c = chunk == ROW_CHUNK ? m->bc_many : m->bc_one;
        int64_t first = m->drec[m->d_rows[k]]->id, last = first + chunk - 1;
        /* The ids of a drain's rows are consecutive (apply_drain).  When
         * the table's largest id is first - 1, a NULL id makes SQLite
         * assign exactly first, first + 1, ...: it then takes the row's
         * place from the last leaf instead of searching the table for the
         * id to check that it is free (a binary search per level and row,
         * about 1,000 instructions, a twentieth of a row's cost). */
        int implicit = m->append_next != 0 && m->append_next == first;
        for (int j = 0; j < chunk; j++)
            bind_row(m, st, c, ROW_PARAMS * j, m->drec[m->d_rows[k + j]], implicit, &keys[j]);
        /* Every parameter holds this use's value (bound now, or equal to
         * the one bound before): no sqlite3_clear_bindings. */
        if (!step(m, st)) {
            in = m->tx_lost ? 0 : sqlite3_changes(m->db);
            if (SG_NEVER(in < 0 || in >= chunk))
                in = 0;
            nfail += (uint64_t)(chunk - in);
            m->append_next = 0;
        } else if (implicit) {
            /* Never: the ids SQLite gave are the links (see above). */
            if (SG_NEVER(sqlite3_last_insert_rowid(m->db) != last))
                m->append_next = 0;
            else
                m->append_next = last + 1;
        } else if (!m->append_next) {
            /* Once per transaction (the write lock is held now, so the
             * largest id stays ours until the commit): is our last row the
             * table's last?  It is unless another process wrote rows with
             * larger ids (one writer per database, msglog.h). */
            sqlite3_stmt *q = m->q[Q_MAX_ID];
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) == last)
                m->append_next = last + 1;
            sqlite3_reset(q);
        } else {
            m->append_next = last + 1;
        }
        for (int j = 0; j < in; j++)
            row_done(m, m->drec[m->d_rows[k + j]], &keys[j]);
        k += (size_t)chunk;
    }
    for (k = 0; k < n; k++) {
        const char *mid = mid_of(m, m->drec[m->d_rows[k]]);
        if (mid[0])
            m->h_rowmid[str_hash(mid) & m->dmask] = 0;
    }
    m->nd_rows = 0;
    return nfail;
}

/* The next entry from byte position *pos (before h), past any wrap
 * padding; *pos moves past it.  NULL at h. */
static struct rec *next_entry(const msglog_t *m, uint64_t *pos, uint64_t h)
{
    while (*pos != h) {
        struct rec *r = rec_at(m, *pos);
        /* Never: the producer writes whole records, published whole. */
        if (SG_NEVER(r->size < 8 || r->size % REC_ALIGN || r->size > h - *pos)) {
            *pos = h;
            return NULL;
        }
        *pos += r->size;
        if (r->kind != REC_SKIP)
            return r;
    }
    return NULL;
}

/* Applies the records from byte position t (at most lim of them, the ring
 * holding up to h) inside the batch transaction, with the same result as
 * running them one by one in ring order (a row's INSERT, each update's
 * UPDATE), for less work:
 *
 * - Rows wait in the drain (their records are still the writer's) and are
 *   inserted at its end, ROW_CHUNK per statement however the updates
 *   interleave.  Ids are given out in ring order (msglog_submit assigns
 *   the id as it claims the record, under the producer lock when there is
 *   one), so the waiting rows hold consecutive ids: a link finds its row
 *   by subtraction.
 * - A response for a waiting row, and a receipt for the waiting rows with
 *   its message_id (chained by message_id), are folded into the row's
 *   record: the INSERT writes them and no UPDATE runs.
 * - Every other response, and every receipt (rows of earlier drains may
 *   carry its message_id too), is for rows already in the table, which
 *   the folded updates never touch: they are coalesced per target
 *   (queue_resp, queue_rcpt) and run set-wise (flush_updates) before the
 *   waiting rows are inserted, so they cannot reach those.  A response
 *   for a link not yet written (a dropped row, or none) matches nothing,
 *   as before.
 *
 * Work bound: at most lim <= dcap records, each a chain walk in a table
 * of dcap heads; then the inserts.  *n_out: the records applied; *end:
 * the byte position after them.  Returns the number of entries that
 * failed. */
static uint64_t apply_drain(msglog_t *m, uint64_t t, uint64_t h, uint64_t lim, uint64_t *n_out,
                            uint64_t *end)
{
    uint64_t nfail = 0, pos = t;
    int64_t first_id = 0;
    uint32_t i = 0;
    struct rec *sl;

    for (; i < lim && (sl = next_entry(m, &pos, h)); i++) {
        m->drec[i] = sl;
        switch (sl->kind) {
        case REC_ROW:
            if (m->nd_rows && SG_NEVER(sl->id != first_id + (int64_t)m->nd_rows)) {
                /* Ids out of ring order: write what waits, start again. */
                nfail += flush_updates(m);
                nfail += insert_rows(m);
            }
            if (!m->nd_rows)
                first_id = sl->id;
            sl->has_resp = 0;
            sl->status = 0;
            sl->mid_from = sl->rcpt_from = 0;
            m->d_rows[m->nd_rows++] = i;
            if (row_str(sl, R_MID)[0])
                link_row_mid(m, i);
            break;
        case REC_RESP:
            if (m->nd_rows && sl->id >= first_id && sl->id - first_id < (int64_t)m->nd_rows) {
                uint32_t ri = m->d_rows[sl->id - first_id];
                struct rec *r = m->drec[ri];
                if (!mid_of(m, r)[0] && upd_str(sl, U_MID)[0]) {
                    r->mid_from = i + 1;
                    link_row_mid(m, ri);
                }
                if (!r->has_resp || r->status == 0)
                    r->status = sl->status;
                r->has_resp = 1;
                ((struct rec_row *)r)->resp_ts = sl->ts_us;
                atomic_fetch_add_explicit(&m->st_updates, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&m->st_folded, 1, memory_order_relaxed);
            } else {
                nfail += queue_resp(m, i);
            }
            break;
        case REC_RECEIPT: {
            int folded = 0;
            const char *mid = upd_str(sl, U_MID), *acct = upd_str(sl, U_ACCOUNT);
            for (uint32_t c = m->h_rowmid[str_hash(mid) & m->dmask]; c; c = m->drec[c - 1]->next) {
                struct rec *r = m->drec[c - 1];
                if (strcmp(mid_of(m, r), mid) != 0 ||
                    (acct[0] && strcmp(row_str(r, R_ACCOUNT), acct) != 0))
                    continue;
                /* Its own stat and err, which nothing changes (a later
                 * receipt coalesced into this one names its own). */
                r->rcpt_from = i + 1;
                ((struct rec_row *)r)->rcpt_ts = sl->ts_us;
                folded = 1;
            }
            if (folded)
                atomic_fetch_add_explicit(&m->st_folded, 1, memory_order_relaxed);
            nfail += queue_rcpt(m, i);
            break;
        }
        default:
            nfail += (uint64_t)SG_NEVER(1);
        }
    }
    nfail += flush_updates(m);
    nfail += insert_rows(m);
    *n_out = i;
    *end = pos;
    return nfail;
}

/* The records from t that apply_drain would take, not applied (their
 * transaction could not begin): *end as there; returns how many. */
static uint64_t skip_drain(const msglog_t *m, uint64_t t, uint64_t h, uint64_t lim, uint64_t *end)
{
    uint64_t n = 0, pos = t;
    while (n < lim && next_entry(m, &pos, h))
        n++;
    *end = pos;
    return n;
}

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void maybe_prune(msglog_t *m, int64_t *last)
{
    int64_t now = mono_s(), n = 0, cutoff = 0;
    if (!m->cfg.retention_days && !m->cfg.max_rows)
        return;
    if (now - *last < m->cfg.prune_every_s)
        return;
    *last = now;
    /* Age is measured against the newest packet time logged, not the wall
     * clock, so a replay of an old capture is not pruned away as it is
     * written. */
    if (m->cfg.retention_days && m->newest_ts_us)
        cutoff = m->newest_ts_us - m->cfg.retention_days * 86400LL * 1000000LL;
    if (store_sqlite_prune(m->db, cutoff, m->cfg.max_rows, &n) == 0)
        atomic_fetch_add_explicit(&m->st_pruned, (uint64_t)n, memory_order_relaxed);
}

/* Sorts a key list by key: LSD radix sort on the 8 key bytes (sign bit
 * flipped, so the order is SQLite's), skipping the bytes every key shares
 * (the country-code prefix of MSISDNs).  Stable, so entries of one key stay
 * in id order.  O(n) per pass where qsort's comparisons cost a third of the
 * key-table time. */
static void sort_keys(struct keyent *k, struct keyent *tmp, size_t n)
{
    static size_t cnt[8][256]; /* writer thread only */
    struct keyent *src = k, *dst = tmp;

    if (n < 2)
        return;
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t u = (uint64_t)k[i].key ^ 0x8000000000000000ULL;
        for (int b = 0; b < 8; b++)
            cnt[b][(u >> (8 * b)) & 255]++;
    }
    for (int b = 0; b < 8; b++) {
        uint64_t u0 = (uint64_t)k[0].key ^ 0x8000000000000000ULL;
        size_t off = 0;
        if (cnt[b][(u0 >> (8 * b)) & 255] == n)
            continue; /* every key has this byte */
        for (int d = 0; d < 256; d++) {
            size_t c = cnt[b][d];
            cnt[b][d] = off;
            off += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)src[i].key ^ 0x8000000000000000ULL;
            dst[cnt[b][(u >> (8 * b)) & 255]++] = src[i];
        }
        struct keyent *x = src;
        src = dst;
        dst = x;
    }
    if (src != k)
        memcpy(k, src, n * sizeof *k);
}

/* Binds one key-table entry at parameters base+1..: (key, ts, id), or
 * (key, id) for the two-column message_log_mid. */
static void bind_keyent(sqlite3_stmt *st, int base, int ncols, const struct keyent *e)
{
    sqlite3_bind_int64(st, base + 1, e->key);
    if (ncols == 3)
        sqlite3_bind_int64(st, base + 2, e->ts);
    sqlite3_bind_int64(st, base + ncols, e->id);
}

/* Inserts a key list in key order (see the top of the file); ncols: 3 for
 * (key, ts, id), 2 for (key, id).  Returns the number of entries that
 * failed (OR FAIL: a statement's entries before the failing one are in). */
static uint64_t write_keys(msglog_t *m, int q1, int qmany, int ncols, struct keyent *k,
                           size_t n)
{
    uint64_t nfail = 0;
    size_t i = 0;

    sort_keys(k, m->ktmp, n);
    /* Bound: n / KEY_ROWS statements, then fewer than KEY_ROWS single ones. */
    for (; i + KEY_ROWS <= n; i += KEY_ROWS) {
        sqlite3_stmt *st = m->q[qmany];
        for (int j = 0; j < KEY_ROWS; j++)
            bind_keyent(st, ncols * j, ncols, &k[i + j]);
        if (!step(m, st)) {
            int in = m->tx_lost ? 0 : sqlite3_changes(m->db);
            nfail += KEY_ROWS - (uint64_t)(in >= 0 && in < KEY_ROWS ? in : 0);
        }
    }
    for (; i < n; i++) {
        sqlite3_stmt *st = m->q[q1];
        bind_keyent(st, 0, ncols, &k[i]);
        if (!step(m, st))
            nfail++;
    }
    return nfail;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A flush or stop waits, and the drains so far (up to `drained`, the
 * tail) hold everything it waits for: commit now rather than fill the
 * batch.  Until then the transaction goes on (within batch_max and the
 * window): a commit after each drain instead gave the waiter nothing (it
 * waits for all of it) and cost the rewrite of every key-table leaf per
 * commit; at the end of bench-msglog or a replay, with the ring full, 6
 * transactions of one drain each instead of 2 or 3 (docs/state.md
 * "Commits while a flush waits"). */
static int urgent(msglog_t *m, uint64_t drained)
{
    int u;
    pthread_mutex_lock(&m->mu);
    if (m->stop) /* producers are done (msglog_free): all of the ring */
        u = drained == atomic_load_explicit(&m->head, memory_order_acquire);
    else
        u = m->flush_waiters && drained >= m->flush_target;
    pthread_mutex_unlock(&m->mu);
    return u;
}

/* Sleeps up to IDLE_WAIT_MS unless a flush is waiting; flush and free
 * signal `wake`. */
static void idle_wait(msglog_t *m)
{
    pthread_mutex_lock(&m->mu);
    if (!m->flush_waiters && !m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += IDLE_WAIT_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->wake, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
}

/* The sender entries of the transaction so far, as posting lists: sorted
 * by key (stable: a sender's entries stay in id order), then one
 * message_log_sender_runs row per sender, or per POSTINGS_MAX entries of
 * one.  Returns the entries that failed (a list's, when its INSERT
 * fails).  Bound: nksrc entries, one statement per list. */
static uint64_t write_sender_runs(msglog_t *m)
{
    struct keyent *k = m->ksrc;
    size_t n = m->nksrc;
    uint64_t nfail = 0;
    sqlite3_stmt *st = m->q[Q_SENDER_RUN];

    sort_keys(k, m->ktmp, n);
    for (size_t i = 0; i < n;) {
        struct postings_writer w;
        int64_t ts_last = k[i].ts;
        size_t j = i;
        postings_begin(&w, m->runbuf);
        for (; j < n && k[j].key == k[i].key && postings_add(&w, k[j].ts, k[j].id) == 0; j++)
            if (k[j].ts > ts_last)
                ts_last = k[j].ts;
        sqlite3_bind_int64(st, 1, k[i].key);
        sqlite3_bind_int64(st, 2, ts_last);
        sqlite3_bind_int64(st, 3, k[i].id);     /* the list's smallest id */
        sqlite3_bind_int64(st, 4, k[j - 1].id); /* and its largest */
        sqlite3_bind_blob(st, 5, m->runbuf, (int)postings_len(&w), SQLITE_STATIC);
        if (!step(m, st))
            nfail += j - i;
        i = j;
    }
    m->nksrc = 0;
    return nfail;
}

/* The recipient and message_id key-table entries of the transaction so
 * far, into their tables (sorted; write_keys).  Returns the entries that
 * failed. */
static uint64_t write_early_keys(msglog_t *m)
{
    uint64_t nfail = write_keys(m, Q_KEY_DEST, Q_KEY_DEST_MANY, 3, m->kdest, m->nkdest);
    nfail += write_keys(m, Q_KEY_MID, Q_KEY_MID_MANY, 2, m->kmid, m->nkmid);
    m->nkdest = m->nkmid = 0;
    return nfail;
}

/* All the transaction's key entries: the above and the senders' lists,
 * which wait for the commit, so that each sender gets one list a
 * transaction however often the keys were written early.  Returns the
 * entries that failed. */
static uint64_t write_tx_keys(msglog_t *m)
{
    uint64_t nfail = write_early_keys(m);
    return nfail + write_sender_runs(m);
}

/* The open transaction has run for its batch_window_ms. */
static int window_over(const msglog_t *m, int64_t tx_start)
{
    return mono_ms() - tx_start >= (int64_t)m->cfg.batch_window_ms;
}

static void *writer_main(void *arg)
{
    msglog_t *m = arg;
    int64_t last_prune = mono_s(), tx_start = 0;
    int in_tx = 0, lock_tries = 0;
    uint64_t tx_n = 0, nfail = 0;

#ifdef __linux__
    pthread_setname_np(pthread_self(), "sg-msglog"); /* top -H, perf */
#endif
    for (;;) {
        uint64_t t = atomic_load_explicit(&m->tail, memory_order_relaxed);
        uint64_t h = atomic_load_explicit(&m->head, memory_order_acquire);
        if (h != t && tx_n < m->cfg.batch_max) {
            /* Apply what the ring holds, in arrival order: an update always
             * follows the row it refers to, in this transaction or an
             * earlier one. */
            uint64_t n = 0, end = t, lim = m->cfg.batch_max - tx_n;
            if (lim > m->dcap)
                lim = m->dcap;
            if (!in_tx) {
                tx_n = nfail = 0;
                m->nkdest = m->nksrc = m->nkmid = 0;
                m->tx_lost = 0;
                m->tx_err.set = 0;
                m->append_next = 0; /* another process may have written */
                if (run_tx(m, Q_BEGIN) == 0) {
                    in_tx = 1;
                } else if (lock_busy(m->tx_err.code) && ++lock_tries < MSGLOG_LOCK_ATTEMPTS) {
                    /* Another connection held the write lock for all of
                     * lock_timeout_ms.  Nothing is taken from the ring
                     * yet: the entries wait there, and BEGIN is tried
                     * again (its busy wait paces the loop).  Bounded, so
                     * that a flush or a stop is not held forever by a
                     * lock that is never given back. */
                    atomic_fetch_add_explicit(&m->st_lock_waits, 1, memory_order_relaxed);
                    continue;
                } else {
                    in_tx = -1; /* count the entries as failed, commit nothing */
                }
                lock_tries = 0;
                tx_start = mono_ms();
            }
            if (in_tx < 0)
                nfail += (n = skip_drain(m, t, h, lim, &end));
            else
                nfail += apply_drain(m, t, h, lim, &n, &end);
            tx_n += n;
            /* The drain's bytes are free again: its statements have run and
             * the bound text is no longer referenced. */
            atomic_store_explicit(&m->tail, end, memory_order_release);
            atomic_store_explicit(&m->st_consumed,
                                  atomic_load_explicit(&m->st_consumed, memory_order_relaxed) + n,
                                  memory_order_relaxed);
            if (tx_n < m->cfg.batch_max && !window_over(m, tx_start) && !urgent(m, end))
                continue;
        } else if (in_tx) {
            /* Ring empty: keep the transaction open a little for more rows
             * (fewer, larger commits), unless someone waits for it. */
            if (h == t && tx_n < m->cfg.batch_max && !window_over(m, tx_start) &&
                !urgent(m, t)) {
                /* Idle inside it: write the keys so far now instead of all
                 * at the end, so that the stall at the end, which the ring
                 * must absorb, is mostly the COMMIT (docs/state.md
                 * "Transaction size"). */
                if (in_tx > 0 && m->nkdest >= KEYS_EARLY_MIN) {
                    nfail += write_early_keys(m);
                    atomic_fetch_add_explicit(&m->st_early_keys, 1, memory_order_relaxed);
                } else {
                    idle_wait(m);
                }
                continue;
            }
        }
        if (in_tx) {
            uint64_t done = atomic_load_explicit(&m->tail, memory_order_relaxed);
            if (in_tx > 0) {
                write_sender_stats(m);
                nfail += write_tx_keys(m);
                if (m->tx_lost) {
                    nfail = tx_n; /* SQLite rolled it all back (step) */
                } else if (run_tx(m, Q_COMMIT) != 0) {
                    run_tx(m, Q_ROLLBACK);
                    nfail = tx_n;
                } else {
                    atomic_fetch_add_explicit(&m->st_batches, 1, memory_order_relaxed);
                }
            }
            if (nfail) {
                atomic_fetch_add_explicit(&m->st_failed, nfail, memory_order_relaxed);
                publish_error(m, nfail);
                atomic_store(&m->batch_failed, 1);
            }
            m->tx_err.set = 0;
            in_tx = 0;
            tx_n = nfail = 0;
            atomic_store_explicit(&m->committed, done, memory_order_release);
            atomic_store_explicit(&m->st_writer_cpu_ns, thread_cpu_ns(), memory_order_relaxed);
            pthread_mutex_lock(&m->mu);
            if (m->flush_waiters)
                pthread_cond_broadcast(&m->done);
            pthread_mutex_unlock(&m->mu);
            maybe_prune(m, &last_prune);
            continue;
        }
        /* Idle, no transaction open. */
        maybe_prune(m, &last_prune);
        pthread_mutex_lock(&m->mu);
        if (m->stop) {
            pthread_mutex_unlock(&m->mu);
            /* Re-check: a producer may have published after our load. */
            if (atomic_load_explicit(&m->head, memory_order_acquire) != t)
                continue;
            break;
        }
        pthread_mutex_unlock(&m->mu);
        idle_wait(m);
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static uint64_t round_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

msglog_t *msglog_new(const char *db_path, const struct msglog_config *cfg, char *errbuf)
{
    msglog_t *m = NULL;
    store_t *s = NULL;
    sqlite3_stmt *st = NULL;
    char eb[STORE_ERRBUF_SIZE];

    if (errbuf)
        errbuf[0] = '\0';
    /* Make sure the schema is there and current (migrations live in the
     * store). */
    if (store_open(&s, db_path, STORE_OPEN_CREATE, eb) != 0) {
        if (errbuf)
            snprintf(errbuf, 256, "%s", eb);
        return NULL;
    }
    store_close(s);

    m = aligned_alloc(CACHE_LINE, (sizeof *m + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
    if (!m)
        goto fail_oom;
    memset(m, 0, sizeof *m);
    if (cfg)
        m->cfg = *cfg;
    if (!m->cfg.queue_capacity)
        m->cfg.queue_capacity = DEFAULT_CAPACITY;
    if (!m->cfg.batch_max)
        m->cfg.batch_max = DEFAULT_BATCH;
    if (!m->cfg.batch_window_ms)
        m->cfg.batch_window_ms = DEFAULT_WINDOW_MS;
    if (m->cfg.batch_max > MSGLOG_BATCH_MAX)
        m->cfg.batch_max = MSGLOG_BATCH_MAX;
    if (m->cfg.prune_every_s <= 0)
        m->cfg.prune_every_s = 60;
    if (m->cfg.queue_capacity > RING_UNITS_MAX)
        m->cfg.queue_capacity = RING_UNITS_MAX;
    m->dcap = round_pow2(m->cfg.queue_capacity);
    m->dmask = m->dcap - 1;
    m->cap = round_pow2(m->cfg.queue_capacity * RING_UNIT);
    if (m->cap < RING_MIN)
        m->cap = RING_MIN;
    m->mask = m->cap - 1;
    /* calloc: untouched pages of a large ring cost no memory until
     * traffic first goes round it. */
    m->buf = calloc(m->cap, 1);
    m->drec = calloc(m->dcap, sizeof *m->drec);
    m->kdest = calloc(m->cfg.batch_max, sizeof *m->kdest);
    m->ksrc = calloc(m->cfg.batch_max, sizeof *m->ksrc);
    m->runbuf = malloc(POSTINGS_BYTES_MAX);
    m->kmid = calloc(m->cfg.batch_max, sizeof *m->kmid);
    m->ktmp = calloc(m->cfg.batch_max, sizeof *m->ktmp);
    m->agg = calloc(AGG_MAX, sizeof *m->agg);
    m->agg_slot = calloc(AGG_SLOTS, sizeof *m->agg_slot);
    m->agg_order = calloc(AGG_MAX, sizeof *m->agg_order);
    /* Random probes, one per row: on 2 MB pages (where the kernel allows
     * them) a probe costs a cache miss, not also a page walk. */
    m->pairs = aligned_alloc(1u << 21, PAIR_SLOTS * sizeof *m->pairs);
    if (m->pairs) {
        madvise(m->pairs, PAIR_SLOTS * sizeof *m->pairs, MADV_HUGEPAGE);
        memset(m->pairs, 0, PAIR_SLOTS * sizeof *m->pairs);
    }
    m->bc_many = calloc(1, sizeof *m->bc_many); /* BC_ANY: all bound on first use */
    m->bc_one = calloc(1, sizeof *m->bc_one);
    m->d_rows = calloc(m->dcap, sizeof *m->d_rows);
    m->d_resp = calloc(m->dcap, sizeof *m->d_resp);
    m->d_rcpt = calloc(m->dcap, sizeof *m->d_rcpt);
    m->h_rowmid = calloc(m->dcap, sizeof *m->h_rowmid);
    m->h_resp = calloc(m->dcap, sizeof *m->h_resp);
    m->h_rcpt = calloc(m->dcap, sizeof *m->h_rcpt);
    if (!m->buf || !m->drec || !m->kdest || !m->ksrc || !m->runbuf || !m->kmid || !m->ktmp ||
        !m->agg || !m->agg_slot || !m->agg_order || !m->pairs || !m->bc_many || !m->bc_one ||
        !m->d_rows || !m->d_resp || !m->d_rcpt || !m->h_rowmid || !m->h_resp || !m->h_rcpt)
        goto fail_oom;
    pthread_mutex_init(&m->prod_lock, NULL);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    pthread_cond_init(&m->done, NULL);

    if (sqlite3_open_v2(db_path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        store_sqlite_configure(m->db, "NORMAL") != 0)
        goto fail_db;
    if (m->cfg.lock_timeout_ms)
        sqlite3_busy_timeout(m->db, (int)(m->cfg.lock_timeout_ms < LOCK_TIMEOUT_MAX_MS
                                              ? m->cfg.lock_timeout_ms
                                              : LOCK_TIMEOUT_MAX_MS));
    /* A large page cache keeps the index pages hot; a larger WAL between
     * checkpoints amortises them over more batches. */
    _Static_assert(STORE_WRITER_CACHE_KIB == 262144, "the PRAGMA below says 262144");
    sqlite3_exec(m->db, "PRAGMA cache_size = -262144", NULL, NULL, NULL);
    sqlite3_exec(m->db, "PRAGMA wal_autocheckpoint = 8192", NULL, NULL, NULL);
    /* The set-wise updates' staging tables (flush_updates), this
     * connection's only, in memory.  No automatic indexes: the writer's
     * statements have the indexes they need, and one built over
     * message_log for a statement would cost more than the statement
     * (Q_UPD_RCPT). */
    sqlite3_exec(m->db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
    sqlite3_exec(m->db, "PRAGMA automatic_index = OFF", NULL, NULL, NULL);
    if (sqlite3_exec(m->db,
                     "CREATE TEMP TABLE msglog_resp (u_id INTEGER PRIMARY KEY, u_mid TEXT,"
                     " u_status INTEGER, u_ts INTEGER, u_key INTEGER);"
                     "CREATE TEMP TABLE msglog_rcpt (r_mid TEXT NOT NULL, r_account TEXT,"
                     " r_stat TEXT, r_err TEXT, r_ts INTEGER, r_key INTEGER NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail_db;
    for (int i = 0; i < Q__COUNT; i++) {
        char many[ROW_CHUNK * ROW_PARAMS * 8 + 512];
        const char *sql = q_sql[i];
        int want = i == Q_INSERT_MANY    ? ROW_CHUNK * ROW_PARAMS
                   : i == Q_STATS_MANY   ? SS_ROWS * SS_PARAMS
                   : i == Q_KEY_MID_MANY ? 2 * KEY_ROWS
                                         : 3 * KEY_ROWS;
        if (i == Q_INSERT_MANY) {
            /* Fixed text only: Q_INSERT's column list and ROW_CHUNK rows of
             * ROW_PARAMS "?". */
            const char *v = strstr(q_sql[Q_INSERT], " VALUES");
            size_t o = (size_t)snprintf(many, sizeof many, "%.*s VALUES ",
                                        (int)(v - q_sql[Q_INSERT]), q_sql[Q_INSERT]);
            for (int j = 0; j < ROW_CHUNK * ROW_PARAMS && o + 4 < sizeof many; j++)
                o += (size_t)snprintf(many + o, sizeof many - o, "%s?%s",
                                      j % ROW_PARAMS ? "," : j ? ",(" : "(",
                                      j % ROW_PARAMS == ROW_PARAMS - 1 ? ")" : "");
            sql = many;
        } else if (i == Q_KEY_DEST_MANY || i == Q_KEY_MID_MANY) {
            /* Fixed text only: the single INSERT's table and columns and
             * KEY_ROWS "(?,?,?)" or "(?,?)". */
            const char *one = q_sql[i == Q_KEY_DEST_MANY ? Q_KEY_DEST : Q_KEY_MID];
            const char *v = strstr(one, " VALUES");
            const char *grp = i == Q_KEY_MID_MANY ? "(?,?)" : "(?,?,?)";
            size_t o = (size_t)snprintf(many, sizeof many, "%.*s VALUES ", (int)(v - one), one);
            for (int j = 0; j < KEY_ROWS && o + 9 < sizeof many; j++)
                o += (size_t)snprintf(many + o, sizeof many - o, "%s%s", j ? "," : "", grp);
            sql = many;
        } else if (i == Q_STATS_MANY) {
            /* Fixed text only: Q_STATS's column list, SS_ROWS groups of
             * SS_PARAMS "?" and the conflict clause. */
            const char *v = strstr(q_sql[Q_STATS], " VALUES");
            size_t o = (size_t)snprintf(many, sizeof many, "%.*s VALUES ",
                                        (int)(v - q_sql[Q_STATS]), q_sql[Q_STATS]);
            for (int j = 0; j < SS_ROWS && o + 18 < sizeof many; j++)
                o += (size_t)snprintf(many + o, sizeof many - o, "%s(?,?,?,?,?,?,?)", j ? "," : "");
            if (o < sizeof many)
                snprintf(many + o, sizeof many - o, "%s", STATS_CONFLICT);
            sql = many;
        }
        if (sqlite3_prepare_v3(m->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &m->q[i], NULL) !=
            SQLITE_OK)
            goto fail_db;
        if (sql == many && sqlite3_bind_parameter_count(m->q[i]) != want)
            goto fail_db; /* never: the buffer holds all the rows */
    }
    /* Ids go on after the largest in use, and after the largest a sender
     * list names: a list outlives its rows until retention passes them
     * (store-sqlite.c, migration 4 -> 5), so an id given again after the
     * newest rows were deleted would be found twice by the sender lookups,
     * and its list would collide with the stale one. */
    if (sqlite3_prepare_v2(m->db,
                           "SELECT MAX(COALESCE((SELECT MAX(id) FROM message_log), 0),"
                           " COALESCE((SELECT MAX(last_id) FROM message_log_sender_runs), 0))",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto fail_db;
    m->next_id = sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
    st = NULL;

    if (pthread_create(&m->thread, NULL, writer_main, m) != 0) {
        if (errbuf)
            snprintf(errbuf, 256, "%s: cannot start the message-log writer", db_path);
        goto fail;
    }
    m->thread_started = 1;
    return m;

fail_db:
    if (errbuf)
        snprintf(errbuf, 256, "%s: message log: %s", db_path,
                 m->db ? sqlite3_errmsg(m->db) : "cannot open");
    sqlite3_finalize(st);
    goto fail;
fail_oom:
    if (errbuf)
        snprintf(errbuf, 256, "%s: message log: out of memory", db_path);
fail:
    msglog_free(m);
    return NULL;
}

int msglog_flush(msglog_t *m)
{
    uint64_t target;
    if (!m)
        return 0;
    prod_lock(m);
    target = atomic_load_explicit(&m->head, memory_order_acquire);
    prod_unlock(m);
    pthread_mutex_lock(&m->mu);
    m->flush_waiters++;
    if (target > m->flush_target)
        m->flush_target = target;
    pthread_cond_signal(&m->wake);
    while (atomic_load_explicit(&m->committed, memory_order_acquire) < target && m->thread_started)
        pthread_cond_wait(&m->done, &m->mu);
    m->flush_waiters--;
    pthread_mutex_unlock(&m->mu);
    return atomic_exchange(&m->batch_failed, 0) ? SG_EDB : 0;
}

void msglog_free(msglog_t *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->mu);
        m->stop = 1;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL); /* drains the ring before it exits */
    }
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(m->q[i]);
    if (m->db)
        sqlite3_close(m->db);
    if (m->buf) {
        pthread_mutex_destroy(&m->prod_lock);
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->wake);
        pthread_cond_destroy(&m->done);
    }
    free(m->buf);
    free(m->drec);
    free(m->kdest);
    free(m->ksrc);
    free(m->runbuf);
    free(m->kmid);
    free(m->ktmp);
    free(m->agg);
    free(m->agg_slot);
    free(m->agg_order);
    free(m->pairs);
    free(m->bc_many);
    free(m->bc_one);
    free(m->d_rows);
    free(m->d_resp);
    free(m->d_rcpt);
    free(m->h_rowmid);
    free(m->h_resp);
    free(m->h_rcpt);
    free(m);
}

void msglog_get_stats(msglog_t *m, struct msglog_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return;
    /* consumed first: it never passes submitted. */
    uint64_t done = atomic_load_explicit(&m->st_consumed, memory_order_relaxed);
    out->submitted = atomic_load_explicit(&m->st_submitted, memory_order_relaxed);
    out->queued = out->submitted >= done ? out->submitted - done : 0;
    out->submitted_bytes = atomic_load_explicit(&m->head, memory_order_relaxed) -
                           atomic_load_explicit(&m->st_padding, memory_order_relaxed);
    out->written = atomic_load_explicit(&m->st_written, memory_order_relaxed);
    out->updates = atomic_load_explicit(&m->st_updates, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&m->st_dropped, memory_order_relaxed);
    out->batches = atomic_load_explicit(&m->st_batches, memory_order_relaxed);
    out->failed = atomic_load_explicit(&m->st_failed, memory_order_relaxed);
    out->pruned = atomic_load_explicit(&m->st_pruned, memory_order_relaxed);
    out->writer_cpu_ns = atomic_load_explicit(&m->st_writer_cpu_ns, memory_order_relaxed);
    out->stats_failed = atomic_load_explicit(&m->st_stats_failed, memory_order_relaxed);
    out->folded = atomic_load_explicit(&m->st_folded, memory_order_relaxed);
    out->early_keys = atomic_load_explicit(&m->st_early_keys, memory_order_relaxed);
    out->lock_waits = atomic_load_explicit(&m->st_lock_waits, memory_order_relaxed);
}

uint64_t msglog_last_error(msglog_t *m, char *buf, size_t cap)
{
    uint64_t n;
    if (!m) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    if (!cap)
        return atomic_load_explicit(&m->err_count, memory_order_acquire);
    pthread_mutex_lock(&m->mu);
    n = atomic_load_explicit(&m->err_count, memory_order_acquire);
    snprintf(buf, cap, "%s", n ? m->last_err : "");
    pthread_mutex_unlock(&m->mu);
    return n;
}
