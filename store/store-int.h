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

#define STORE_BUSY_TIMEOUT_MS 5000

#endif
