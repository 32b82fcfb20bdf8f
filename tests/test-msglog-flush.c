/* The message-log writer while a flush waits (store/msglog.c, urgent()):
 * the drains that hold what the flush waits for go into as few
 * transactions as batch_max allows, not one commit per drain (each commit
 * rewrites every key-table leaf it touched: docs/state.md "Commits while a
 * flush waits"), and everything the flush waited for is committed when it
 * returns, with its key-table entries.
 *
 * The ring is filled while another connection holds the write lock, so
 * that the writer is stuck at its first BEGIN IMMEDIATE (busy timeout)
 * and the flush starts with many drains' worth of records in the ring.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "msglog.h"
#include "sg-common.h"
#include "store.h"
#include "testutil.h"

static char dir[] = "/tmp/test-msglog-flush-XXXXXX";

/* Releases the write lock a while after the flush began waiting. */
static void *release_later(void *arg)
{
    struct timespec d = {0, 300 * 1000000L};
    nanosleep(&d, NULL);
    sqlite3_exec((sqlite3 *)arg, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

/* Fills the ring (rows with a response each) until it refuses, with the
 * writer held off by a lock, then flushes.  Returns the rows accepted;
 * *resp the responses accepted (the last row's may be refused), *st the
 * writer's stats after the flush. */
static uint64_t fill_and_flush(const char *path, size_t batch_max, uint64_t *resp,
                               struct msglog_stats *st)
{
    char err[256];
    /* A 64 KiB ring: about 400 rows with their responses; a drain takes
     * at most 64 records, so the ring holds about a dozen drains.  The
     * window is long so that only batch_max and the flush end a
     * transaction. */
    struct msglog_config cfg = {.queue_capacity = 64, .batch_max = batch_max,
                                .batch_window_ms = 600000};
    uint64_t rows = 0;
    memset(st, 0, sizeof *st);
    *resp = 0;
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return 0;
    sqlite3 *lock = NULL;
    CHECK(sqlite3_open(path, &lock) == SQLITE_OK);
    CHECK(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    for (int i = 0; i < 100000; i++) {
        char dest[16], mid[16];
        snprintf(dest, sizeof dest, "7912%07d", (i * 7919) % 10000000);
        struct msglog_row row = {.ts_us = 1700000000000000LL + i, .source_addr = "SENDER",
                                 .dest_addr = dest, .action = "allow", .parts = 1};
        int64_t link = 0;
        if (msglog_submit(m, &row, &link) == SG_ENOSPC)
            break;
        rows++;
        snprintf(mid, sizeof mid, "M%d", i);
        if (msglog_update_response(m, link, mid, 0, 5) == SG_ENOSPC)
            break;
        (*resp)++;
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, release_later, lock) == 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    pthread_join(t, NULL);
    sqlite3_close(lock);
    msglog_get_stats(m, st);
    msglog_free(m);
    return rows;
}

int main(void)
{
    char path[320];
    struct msglog_stats st;
    uint64_t resp;
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* The writer's page cache on the preconfigured region, as run, replay
     * and proxy have it: every test below runs on it.  A second call is a
     * no-op. */
    CHECK_EQ_INT(store_init_process(), 0);
    CHECK_EQ_INT(store_init_process(), 0);

    /* Everything in one transaction: the flush waited for all of it. */
    snprintf(path, sizeof path, "%s/one.db", dir);
    uint64_t rows = fill_and_flush(path, 0, &resp, &st);
    CHECK_MSG(rows > 200, "the ring took only %llu rows", (unsigned long long)rows);
    CHECK_EQ_INT(st.written, rows);
    CHECK_EQ_INT(st.updates, resp);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(st.batches, 1);
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log"), (int64_t)rows);
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log_dest d JOIN message_log m"
                                  " ON m.id = d.id AND m.dest_key = d.dest_key AND m.ts = d.ts"),
                 (int64_t)rows);
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log_mid k JOIN message_log m"
                                  " ON m.id = k.id AND m.mid_key = k.mid_key"),
                 (int64_t)resp);

    /* batch_max still ends a transaction while a flush waits. */
    snprintf(path, sizeof path, "%s/many.db", dir);
    rows = fill_and_flush(path, 100, &resp, &st);
    CHECK_MSG(rows > 200, "the ring took only %llu rows", (unsigned long long)rows);
    CHECK_EQ_INT(st.written, rows);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_MSG(st.batches >= (rows + resp) / 100, "%llu transactions for %llu entries",
              (unsigned long long)st.batches, (unsigned long long)(rows + resp));
    CHECK_EQ_INT(st.updates, resp);
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log WHERE message_id IS NULL"),
                 (int64_t)(rows - resp));
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log_mid"), (int64_t)resp);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
