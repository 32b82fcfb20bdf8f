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

/* The integer key of an address in message_log.dest_key / source_key and
 * the key tables message_log_dest / message_log_source: a canonical digit
 * string (1 to 18 digits, no leading zero: a normalised MSISDN) is its
 * number; any other text is a 64-bit hash with the top bit set (negative,
 * so never a number; "" too).  Lookups compare the text column too, so a
 * hash collision never returns a wrong row.  0 for NULL (no key).  Defined
 * in msglog.c; the stored keys depend on it (see the migration 1 -> 2). */
int64_t store_addr_key(const char *addr);

#define STORE_BUSY_TIMEOUT_MS 5000

#endif
