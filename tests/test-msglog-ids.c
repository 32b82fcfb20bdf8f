/* The message-log writer's row INSERTs: every row lands under the id its
 * submit returned (the link), and every column holds that row's value.
 *
 * Two writer shortcuts are checked here (store/msglog.c, insert_rows and
 * struct bindcache):
 * - within a transaction, once the table's largest id is the writer's own
 *   last row, rows go in with a NULL id and SQLite assigns the next ids;
 *   another process that writes a larger id between transactions, or
 *   deletes the largest row, must not shift the links;
 * - a parameter that holds the value already bound is not bound again;
 *   values that change between NULL and text, equal prefixes of other
 *   lengths, and receipts on some rows only must all reach their row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "msglog.h"
#include "store.h"
#include "testutil.h"

static char dir[] = "/tmp/test-msglog-ids-XXXXXX";
static char dbpath[300];

/* What row i carries: each field varies with a different period, so that
 * neighbouring rows in a multi-row INSERT share some values and not
 * others. */
static void row_values(int i, char *dest, char *acct, char *ip, const char **action)
{
    static const char *const actions[] = {"allow", "allow", "flag", "block"};
    snprintf(dest, 16, "7912%07d", i);
    /* Empty every 7th (stored NULL), otherwise "a", "ab", "abc": equal
     * prefixes of different lengths. */
    if (i % 7 == 3)
        acct[0] = '\0';
    else
        snprintf(acct, 8, "%.*s", 1 + (i / 5) % 3, "abc");
    if (i % 11 == 0)
        ip[0] = '\0';
    else
        snprintf(ip, 16, "10.0.0.%d", (i / 3) % 4);
    *action = actions[(i / 2) % 4];
}

/* Submits rows [from, to) with a response each and a receipt on every
 * third; checks that each link is the row's expected id. */
static void submit_range(msglog_t *m, int from, int to, int64_t first_link)
{
    for (int i = from; i < to; i++) {
        char dest[16], acct[8], ip[16], mid[16];
        const char *action;
        row_values(i, dest, acct, ip, &action);
        struct msglog_row row = {.ts_us = 1700000000000000LL + i, .account = acct,
                                 .source_addr = "SENDER", .dest_addr = dest, .src_ip = ip,
                                 .action = action, .score = i % 3, .parts = 1 + i % 2,
                                 .source_ton = 5, .enforced = i % 13 == 0};
        int64_t link = 0;
        CHECK_EQ_INT(msglog_submit(m, &row, &link), 0);
        CHECK_EQ_INT(link, first_link + (i - from));
        snprintf(mid, sizeof mid, "M%d", i);
        CHECK_EQ_INT(msglog_update_response(m, link, mid, i % 17 == 0 ? 8 : 0, 5), 0);
        if (i % 3 == 0)
            CHECK_EQ_INT(msglog_update_receipt(m, mid, NULL, i % 2 ? "UNDELIV" : "DELIVRD",
                                               "000", 9),
                         0);
    }
}

static sqlite3 *open_raw(void)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(dbpath, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static const char *col(sqlite3_stmt *st, int c)
{
    const char *v = (const char *)sqlite3_column_text(st, c);
    return v ? v : "";
}

/* Every row [from, to) sits at id first_id + (i - from) with its values. */
static void check_range(sqlite3 *db, int from, int to, int64_t first_id)
{
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT dest_addr, COALESCE(account, '~'), COALESCE(src_ip, '~'),"
                             " action, score, parts, source_ton, enforced, message_id,"
                             " smsc_status, COALESCE(receipt_stat, '~'), ts"
                             " FROM message_log WHERE id = ?1",
                             -1, &st, NULL) == SQLITE_OK);
    int bad = 0;
    for (int i = from; i < to && bad < 5; i++) {
        char dest[16], acct[8], ip[16], mid[16];
        const char *action;
        row_values(i, dest, acct, ip, &action);
        snprintf(mid, sizeof mid, "M%d", i);
        sqlite3_bind_int64(st, 1, first_id + (i - from));
        int ok = sqlite3_step(st) == SQLITE_ROW;
        CHECK_MSG(ok, "row %d: no id %lld", i, (long long)(first_id + (i - from)));
        if (ok) {
            int before = test_failed;
            CHECK_EQ_STR(col(st, 0), dest);
            CHECK_EQ_STR(col(st, 1), acct[0] ? acct : "~");
            CHECK_EQ_STR(col(st, 2), ip[0] ? ip : "~");
            CHECK_EQ_STR(col(st, 3), action);
            CHECK_EQ_INT(sqlite3_column_int(st, 4), i % 3);
            CHECK_EQ_INT(sqlite3_column_int(st, 5), 1 + i % 2);
            CHECK_EQ_INT(sqlite3_column_int(st, 6), 5);
            CHECK_EQ_INT(sqlite3_column_int(st, 7), i % 13 == 0);
            CHECK_EQ_STR(col(st, 8), mid);
            CHECK_EQ_INT(sqlite3_column_int(st, 9), i % 17 == 0 ? 8 : 0);
            CHECK_EQ_STR(col(st, 10), i % 3 ? "~" : i % 2 ? "UNDELIV" : "DELIVRD");
            CHECK_EQ_INT(sqlite3_column_int64(st, 11), 1700000000000000LL + i);
            if (test_failed != before) {
                fprintf(stderr, "  (row %d)\n", i);
                bad++;
            }
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int main(void)
{
    char err[256];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/ids.db", dir);

    /* Small transactions (batch_max), so that the runs below span several,
     * and a ring small enough that a run spans several drains (the producer
     * waits for room rather than dropping). */
    struct msglog_config cfg = {.batch_max = 1000, .queue_capacity = 64, .block_when_full = 1};
    msglog_t *m = msglog_new(dbpath, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return test_summary();
    submit_range(m, 0, 3001, 1); /* 3001: ends in single-row INSERTs */
    CHECK_EQ_INT(msglog_flush(m), 0);

    /* Another process, between transactions: deletes the largest row, then
     * writes one far above.  The writer's next rows keep their links. */
    sqlite3 *db = open_raw();
    CHECK(sqlite3_exec(db, "DELETE FROM message_log WHERE id = 3001", NULL, NULL, NULL) ==
          SQLITE_OK);
    submit_range(m, 3001, 3500, 3002);
    CHECK_EQ_INT(msglog_flush(m), 0);
    CHECK(sqlite3_exec(db,
                       "INSERT INTO message_log (id, ts, action) VALUES (100000, 1, 'allow')",
                       NULL, NULL, NULL) == SQLITE_OK);
    submit_range(m, 3500, 5000, 3501);
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.written, 5000);
    CHECK_EQ_INT(st.failed, 0);
    msglog_free(m);

    check_range(db, 0, 3000, 1);
    check_range(db, 3001, 5000, 3002);
    CHECK_EQ_INT(count_rows(db, "SELECT COUNT(*) FROM message_log"), 5000);
    CHECK_EQ_INT(count_rows(db, "SELECT COUNT(*) FROM message_log WHERE id > 5001"), 1);
    /* Every row the writer wrote (5000, less the one deleted) has its
     * key-table entries, pointing at it. */
    CHECK_EQ_INT(count_rows(db, "SELECT COUNT(*) FROM message_log_dest d JOIN message_log m"
                                " ON m.id = d.id AND m.dest_key = d.dest_key AND m.ts = d.ts"),
                 4999);
    CHECK_EQ_INT(count_rows(db, "SELECT COUNT(*) FROM message_log_mid k JOIN message_log m"
                                " ON m.id = k.id AND m.mid_key = k.mid_key"),
                 4999);

    /* A new writer continues after the largest id (100000). */
    m = msglog_new(dbpath, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (m) {
        submit_range(m, 5000, 5100, 100001);
        CHECK_EQ_INT(msglog_flush(m), 0);
        msglog_free(m);
        check_range(db, 5000, 5100, 100001);
    }
    sqlite3_close(db);

    test_remove_db(dbpath);
    rmdir(dir);
    return test_summary();
}
