/* The message-log writer's failures are visible (store/msglog.c,
 * msglog_last_error): a transaction that loses entries makes
 * msglog_flush() return SG_EDB, counts them in failed, and leaves a
 * description that names the phase, SQLite's message and result code and
 * the entries lost.  Provoked for real: a row whose id is taken by another
 * connection (a constraint, deterministic), and another connection that
 * holds the write lock past all the writer's tries of BEGIN IMMEDIATE.
 * And the tries themselves: a lock given back in time costs no entry.
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

static char dir[] = "/tmp/test-msglog-fail-XXXXXX";

static void submit_rows(msglog_t *m, int n, int64_t ts0)
{
    for (int i = 0; i < n; i++) {
        char dest[16];
        snprintf(dest, sizeof dest, "7912%07d", i);
        struct msglog_row row = {.ts_us = ts0 + i, .source_addr = "SENDER", .dest_addr = dest,
                                 .action = "allow", .parts = 1};
        CHECK_EQ_INT(msglog_submit(m, &row, NULL), 0);
    }
}

static void check_contains(const char *text, const char *want)
{
    CHECK_MSG(strstr(text, want) != NULL, "\"%s\" does not name \"%s\"", text, want);
}

/* Another connection takes the id the writer gives the next row: its
 * INSERT fails on the primary key (OR FAIL: the rows before it stay). */
static void test_constraint(void)
{
    char path[320], err[256], e[MSGLOG_ERROR_MAX], q[160];
    snprintf(path, sizeof path, "%s/constraint.db", dir);
    struct msglog_config cfg = {.queue_capacity = 4096, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    int64_t first = 0;
    struct msglog_row row = {.ts_us = 1800000000000000LL, .action = "allow", .dest_addr = "79120000001"};
    CHECK_EQ_INT(msglog_submit(m, &row, &first), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    /* Nothing failed yet: no description, count 0. */
    strcpy(e, "x");
    CHECK_EQ_INT(msglog_last_error(m, e, sizeof e), 0);
    CHECK_EQ_STR(e, "");
    CHECK_EQ_INT(msglog_last_error(m, NULL, 0), 0);

    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    snprintf(q, sizeof q, "INSERT INTO message_log (id, ts, action) VALUES (%lld, 0, 'x')", (long long)first + 1);
    CHECK_EQ_INT(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    submit_rows(m, 1, 1800000000000001LL);
    CHECK_EQ_INT(msglog_flush(m), SG_EDB);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.failed, 1);
    CHECK_EQ_INT(msglog_last_error(m, NULL, 0), 1);
    CHECK_EQ_INT(msglog_last_error(m, e, sizeof e), 1);
    check_contains(e, "message_log INSERT: ");
    check_contains(e, "UNIQUE constraint failed: message_log.id");
    check_contains(e, "(SQLITE_CONSTRAINT, extended code 1555)"); /* SQLITE_CONSTRAINT_PRIMARYKEY */
    check_contains(e, "; 1 entries lost");
    /* A small buffer gets a prefix, NUL-terminated. */
    char small[8];
    CHECK_EQ_INT(msglog_last_error(m, small, sizeof small), 1);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);

    /* The flush reported it once; the next one that loses nothing is 0,
     * and the description stays until a newer failure. */
    submit_rows(m, 3, 1800000000000100LL);
    CHECK_EQ_INT(msglog_flush(m), 0);
    CHECK_EQ_INT(msglog_last_error(m, e, sizeof e), 1);
    check_contains(e, "UNIQUE constraint failed");
    msglog_free(m);
}

struct locker {
    const char *path;
    int hold_ms;
    int locked; /* set once BEGIN IMMEDIATE holds */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Holds the database's write lock for hold_ms from another connection, as
 * a bulk list import or a stuck tool would. */
static void *hold_lock(void *arg)
{
    struct locker *l = arg;
    sqlite3 *db = NULL;
    int ok = sqlite3_open(l->path, &db) == SQLITE_OK &&
             sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    pthread_mutex_lock(&l->mu);
    l->locked = ok ? 1 : -1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (ok) {
        struct timespec d = {l->hold_ms / 1000, (l->hold_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return NULL;
}

/* Submits rows while another connection holds the write lock for hold_ms,
 * then flushes; returns msglog_flush's result, *st the stats after it and
 * e the last error. */
static int flush_against_lock(const char *path, const struct msglog_config *cfg, int hold_ms, int rows,
                              struct msglog_stats *st, char *e, size_t ecap)
{
    char err[256];
    msglog_t *m = msglog_new(path, cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return -1;
    struct locker l = {.path = path, .hold_ms = hold_ms};
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, hold_lock, &l) == 0);
    pthread_mutex_lock(&l.mu);
    while (!l.locked)
        pthread_cond_wait(&l.cv, &l.mu);
    pthread_mutex_unlock(&l.mu);
    CHECK_EQ_INT(l.locked, 1);
    submit_rows(m, rows, 1800000000000000LL);
    int rc = msglog_flush(m);
    pthread_join(t, NULL);
    msglog_get_stats(m, st);
    msglog_last_error(m, e, ecap);
    msglog_free(m);
    pthread_mutex_destroy(&l.mu);
    pthread_cond_destroy(&l.cv);
    return rc;
}

/* The lock outlasts every BEGIN IMMEDIATE the writer tries
 * (MSGLOG_LOCK_ATTEMPTS x lock_timeout_ms): the entries are lost, and the
 * description says the database was locked. */
static void test_lock_timeout(void)
{
    char path[320], e[MSGLOG_ERROR_MAX];
    struct msglog_stats st;
    snprintf(path, sizeof path, "%s/locked.db", dir);
    struct msglog_config cfg = {.queue_capacity = 4096, .lock_timeout_ms = 50};
    int hold_ms = 4 * MSGLOG_LOCK_ATTEMPTS * 50;
    CHECK_EQ_INT(flush_against_lock(path, &cfg, hold_ms, 40, &st, e, sizeof e), SG_EDB);
    CHECK_EQ_INT(st.written + st.failed, 40);
    CHECK_MSG(st.failed > 0, "nothing failed");
    CHECK_MSG(st.lock_waits >= MSGLOG_LOCK_ATTEMPTS - 1, "%llu lock waits",
              (unsigned long long)st.lock_waits);
    check_contains(e, "BEGIN IMMEDIATE: database is locked (SQLITE_BUSY, extended code 5); ");
    check_contains(e, " entries lost");
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log"), (int64_t)st.written);
}

/* A lock given back within the attempts costs a wait, not the entries:
 * they waited in the ring while BEGIN was tried again. */
static void test_lock_wait(void)
{
    char path[320], e[MSGLOG_ERROR_MAX];
    struct msglog_stats st;
    snprintf(path, sizeof path, "%s/waited.db", dir);
    struct msglog_config cfg = {.queue_capacity = 4096, .lock_timeout_ms = 200};
    /* 2.5 timeouts: the first BEGIN times out (unless the writer starts it
     * 300 ms late), and the lock is back 700 ms before the last one would. */
    CHECK_EQ_INT(flush_against_lock(path, &cfg, 500, 40, &st, e, sizeof e), 0);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(st.written, 40);
    CHECK_MSG(st.lock_waits >= 1, "%llu lock waits", (unsigned long long)st.lock_waits);
    CHECK_EQ_STR(e, "");
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log"), 40);
    CHECK_EQ_INT(test_sql_int(path, "SELECT COUNT(*) FROM message_log_dest"), 40);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_constraint();
    /* SQLite is in use now: too late to configure its page cache, and
     * said so (the front ends call it first thing). */
    CHECK_EQ_INT(store_init_process(), SG_EINVAL);
    test_lock_timeout();
    test_lock_wait();
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "done\n");

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
