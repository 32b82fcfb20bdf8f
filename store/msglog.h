/* The message-log writer: the packet path hands rows to a bounded ring and
 * never waits on SQLite; one writer thread drains the ring in transactions
 * of up to batch_max rows, on its own connection (synchronous=NORMAL).
 *
 * Producer side (msglog_submit, msglog_update_*): copies the entry into a
 * record of its own size in a byte ring (strings truncated to the bounds
 * below, at a UTF-8 boundary), no allocation, no system call, no lock
 * unless multi_producer is set.  When the ring is full the row is dropped and
 * counted (SG_ENOSPC): judging never stalls behind the disk.
 *
 * Threads: by default ONE producer thread (lock-free single-producer /
 * single-consumer ring).  Set cfg.multi_producer when several threads
 * submit; producers then take a short mutex around the record copy.
 *
 * Ordering: updates travel through the same ring as the rows, so an update
 * is applied after the row it refers to (FIFO).  An update whose row was
 * dropped or pruned changes nothing.  The writer folds updates into their
 * row's INSERT and runs the rest set-wise, with the same result as applying
 * each in call order (see msglog.c).
 */
#ifndef SG_MSGLOG_H
#define SG_MSGLOG_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

typedef struct msglog msglog_t;

/* Column bounds (bytes, without NUL).  SMPP v3.4 §5.2: system_id 16,
 * addresses 21 (v5.0 allows 65 for some), message_id 65. */
#define MSGLOG_ACCOUNT_MAX 32
#define MSGLOG_ADDR_MAX 64
#define MSGLOG_IP_MAX 46
#define MSGLOG_ACTION_MAX 8
#define MSGLOG_REASONS_MAX 512
#define MSGLOG_FP_MAX 32
#define MSGLOG_SNIPPET_MAX 160
#define MSGLOG_MSGID_MAX 65
#define MSGLOG_STAT_MAX 8

/* The largest batch_max the writer takes; more is cut to it. */
#define MSGLOG_BATCH_MAX 1000000

struct msglog_config {
    size_t queue_capacity;   /* the ring's memory in KiB, rounded up to a
                                power of two (at least 4, at most 2^24);
                                0 = 131072 (128 MiB).  It used to count
                                fixed slots of about 1 KB, so a configured
                                value keeps its memory; an entry now takes
                                its real size (a row about 250 to 400
                                bytes, an update 56 to 88), so the ring
                                holds about five times the entries it did:
                                about 2.5 s of buffer at 100,000 messages/s
                                with their response and receipt updates,
                                where the writer's commit and checkpoint
                                at the end of a transaction stall it up to
                                about 1 s.  Also the most entries the
                                writer takes at a time (its per-drain
                                tables: 32 bytes per unit) */
    size_t batch_max;        /* most entries per transaction; 0 = 400000,
                                at most MSGLOG_BATCH_MAX (the writer keeps
                                96 bytes of key lists per entry) */
    unsigned batch_window_ms; /* a transaction ends this long after it
                                began; 0 = 1000.  It also ends at batch_max
                                entries, and as soon as it holds everything
                                a waiting msglog_flush / msglog_free waits
                                for (not after each drain).  Rows become
                                visible to lookups when it commits; a
                                kill -9 loses the open one */
    int multi_producer;      /* see above */
    int block_when_full;     /* offline replay only: a full ring makes the
                                producer wait for the writer instead of
                                dropping (never set this on a live path) */
    int64_t retention_days;  /* prune rows older than this (packet time of
                                the newest row); 0 = keep */
    int64_t max_rows;        /* keep at most this many rows; 0 = no bound */
    int prune_every_s;       /* how often the writer prunes; 0 = 60 */
    unsigned lock_timeout_ms; /* how long one BEGIN IMMEDIATE waits for
                                another connection's write lock (SQLite's
                                busy timeout on the writer's connection);
                                0 = 5000, at most 600000.  A BEGIN that
                                times out takes nothing from the ring: the
                                entries wait there and it is tried again,
                                MSGLOG_LOCK_ATTEMPTS times in all, before
                                they are given up (counted in failed).  So
                                by default the writer waits up to 30 s for
                                a lock (the ring fills meanwhile: dropped,
                                or block_when_full waits) */
};

/* Tries of a transaction's BEGIN IMMEDIATE against another connection's
 * write lock before its entries are given up (lock_timeout_ms). */
#define MSGLOG_LOCK_ATTEMPTS 6

/* One logical message.  Pointers are borrowed for the call only (the
 * submit copies); NULL means empty.  snippet is redacted again by the
 * writer side (every digit run masked) whatever the caller did. */
struct msglog_row {
    int64_t ts_us;             /* packet time */
    const char *account;       /* SMPP system_id of the bind */
    const char *source_addr;
    int source_ton;
    const char *dest_addr;     /* normalised msisdn */
    const char *src_ip;        /* text form */
    const char *action;        /* "allow" / "flag" / "block" */
    int score;
    const char *reasons;       /* JSON array text */
    const char *fingerprint;   /* hex */
    const char *snippet;       /* text; redacted on copy */
    size_t snippet_len;        /* bytes; 0 = strlen(snippet) */
    int parts;
    const char *message_id;    /* known already (e.g. from a receipt-less
                                  log); usually NULL */
    int enforced;              /* 1 = the inline proxy really stopped it */
};

/* Opens its own connection to db_path (which must already carry the schema:
 * open it once with store_open first) and starts the writer thread.
 * Returns NULL and a message in errbuf (at least 256 bytes) on failure. */
msglog_t *msglog_new(const char *db_path, const struct msglog_config *cfg,
                     char *errbuf);
/* Flushes everything queued, stops the thread, closes.  NULL is a no-op. */
void msglog_free(msglog_t *m);

/* Queues a row.  *link_out (may be NULL) receives the row's id in the
 * message_log table, assigned here so that responses can refer to the row
 * before it is written; a dropped row's link refers to nothing.
 * 0, or SG_ENOSPC (counted in dropped) when the ring is full. */
int msglog_submit(msglog_t *m, const struct msglog_row *row, int64_t *link_out);

/* The SMSC answered the submit (submit_sm_resp): sets message_id (the first
 * one, for multipart) and smsc_status (a non-zero status sticks: one
 * rejected part makes the message rejected). */
int msglog_update_response(msglog_t *m, int64_t link, const char *message_id,
                           uint32_t command_status, int64_t ts_us);
/* A delivery receipt for message_id (account may be NULL = any account):
 * stat "DELIVRD"/"UNDELIV"/"EXPIRED"/..., err the receipt's err field. */
int msglog_update_receipt(msglog_t *m, const char *message_id,
                          const char *account, const char *stat,
                          const char *err, int64_t ts_us);

/* Blocks until every entry queued before the call is committed (or failed
 * and counted).  For SIGTERM and the end of a replay.  0 or SG_EDB if a
 * batch failed since the last flush (then msglog_last_error says why).
 * Another connection's write lock can hold it up to MSGLOG_LOCK_ATTEMPTS x
 * lock_timeout_ms per transaction (30 s by default). */
int msglog_flush(msglog_t *m);

struct msglog_stats {
    uint64_t submitted;  /* rows + updates accepted into the ring */
    uint64_t queued;     /* in the ring now */
    uint64_t written;    /* rows committed */
    uint64_t updates;    /* updates applied (matched a row or not) */
    uint64_t dropped;    /* refused: ring full */
    uint64_t batches;    /* transactions committed */
    uint64_t failed;     /* entries lost to a failed transaction */
    uint64_t pruned;     /* rows deleted by retention */
    uint64_t writer_cpu_ns; /* CPU time of the writer thread (as of its last
                               batch): rows / this = the single-core rate */
    uint64_t stats_failed; /* sender_stats upserts that failed (their rows
                              are written; the counts miss them) */
    uint64_t folded;     /* updates written by their row's INSERT: it was
                            still waiting in the writer when they came (a
                            receipt goes to the rows already in the table
                            as well) */
    uint64_t early_keys; /* times the writer, idle inside a transaction,
                            wrote its key-table entries before the COMMIT */
    uint64_t submitted_bytes; /* ring bytes the submitted entries took
                                 (records, without the padding at a wrap):
                                 / submitted = the mean entry, for sizing
                                 queue_capacity */
    uint64_t lock_waits; /* BEGINs that found the database locked past
                            lock_timeout_ms and were tried again (the
                            entries waited in the ring, nothing lost) */
};
/* Safe from any thread. */
void msglog_get_stats(msglog_t *m, struct msglog_stats *out);

/* Failures that cost entries (counted in failed): the writer keeps a
 * description of the most recent one, for the operator, since an entry
 * lost is a verdict missing from the log.  The text names the phase (the
 * statement that failed first in the transaction, or BEGIN IMMEDIATE or
 * COMMIT; a BEGIN's lock timeout counts only after its last attempt), SQLite's message and extended result code, and the entries the
 * transaction lost, e.g. "message_log INSERT: database is locked
 * (SQLITE_BUSY_SNAPSHOT, extended code 517); 1873 entries lost".
 *
 * msglog_last_error writes the description (at most cap - 1 bytes and a
 * NUL; "" when there is none) and returns how many such failures there
 * have been since msglog_new (0 = none).  With cap 0 (buf may then be
 * NULL) it only returns the count, with one atomic load and no lock: cheap
 * enough for a daemon to call at every tick and report each new failure.
 * Safe from any thread. */
#define MSGLOG_ERROR_MAX 256
uint64_t msglog_last_error(msglog_t *m, char *buf, size_t cap);

/* Masks every digit run in UTF-8 text as the snippet is masked
 * (norm_redact_digits, filter/text-norm.h): each run of decimal digits, in
 * any script (Unicode Nd), becomes one '#', so a one-time code never
 * reaches the database in clear.  Reads up to len bytes or a NUL; writes
 * at most cap-1 bytes and a NUL; returns the length written. */
size_t msglog_redact(const char *in, size_t len, char *out, size_t cap);

#endif
