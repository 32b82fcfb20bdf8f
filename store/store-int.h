/* Internals shared by the SQLite store (store-sqlite.c) and the message-log
 * writer (msglog.c), which runs on a connection of its own. */
#ifndef SG_STORE_INT_H
#define SG_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

/* Applies the connection settings every connection needs: WAL, busy
 * timeout, foreign keys, and the given synchronous level ("FULL" for list
 * changes, "NORMAL" for the message log).  0 or SG_EDB. */
int store_sqlite_configure(sqlite3 *db, const char *synchronous);

/* Message-log retention on any connection; see store_msglog_prune(). */
int store_sqlite_prune(sqlite3 *db, int64_t older_than_us, int64_t max_rows,
                       int64_t *deleted);

/* The integer key of an address in message_log.dest_key / source_key, the
 * key table message_log_dest and the senders' posting lists
 * (message_log_sender_runs.source_key): a canonical digit
 * string (1 to 18 digits, no leading zero: a normalised MSISDN) is its
 * number; any other text is a 64-bit hash with the top bit set (negative,
 * so never a number; "" too).  Lookups compare the text column too, so a
 * hash collision never returns a wrong row.  0 for NULL (no key).  Defined
 * in msglog.c; the stored keys depend on it (see the migration 1 -> 2). */
int64_t store_addr_key(const char *addr);

/* The integer key of a message_id in message_log.mid_key and the key table
 * message_log_mid (receipts find their rows through it): the message_id's
 * last hex digits (at most STORE_MID_DIGITS) read as a number, below a
 * 15-bit hash (never 0) of the text before them:
 *
 *     key = hash15(prefix) << 48 | value(trailing hex digits)
 *
 * SMSCs give message_ids out from counters, decimal or hex, often behind a
 * fixed prefix ("1042", "0001a2f3", "MSG00017"): consecutive ids then get
 * ascending keys (a decimal counter read as hex ascends too), so a
 * transaction's keys land next to each other in the key table instead of
 * all over it.  Any other text (a UUID, random hex) gets a key as random as
 * a hash.  Several message_ids may share a key ("x0042" and "x42", "ABC"
 * and "abc", prefixes whose hashes meet): lookups compare the text too.
 * 0 for NULL or "" (no key); any other key is at least 2^48.  Defined in
 * msglog.c; the stored keys depend on it (see the migration 3 -> 4): never
 * change it without a migration that recomputes them. */
int64_t store_mid_key(const char *message_id);
#define STORE_MID_DIGITS 12

#define STORE_BUSY_TIMEOUT_MS 5000

/* The message-log writer's page cache (PRAGMA cache_size), which
 * store_init_process() sizes its region for, and the page size new
 * databases get (store_sqlite_configure). */
#define STORE_WRITER_CACHE_KIB 262144
#define STORE_PAGE_SIZE 8192

#endif
