/* The state store (store.h), the message-log writer (msglog.h) and msisdn
 * normalisation: migrations, every list change with its audit row, the
 * grace-period query, snapshot loading, tokens, the message log, hostile
 * values stored verbatim, and change detection across connections. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lists.h"
#include "text-norm.h"
#include "msglog.h"
#include "msisdn.h"
#include "postings.h"
#include "store-int.h"
#include "store.h"
#include "testutil.h"

static char dir[] = "/tmp/test-store-XXXXXX";
static char dbpath[300];

#define T0 1800000000LL /* a fixed wall clock for deterministic expiry */

static store_t *open_db(void)
{
    store_t *s = NULL;
    char err[STORE_ERRBUF_SIZE];
    int rc = store_open(&s, dbpath, STORE_OPEN_CREATE, err);
    CHECK_MSG(rc == 0, "store_open: %s", err);
    return s;
}

/* Counts audit rows matching (action, object_id). */
struct audit_count {
    int n;
    char last_reason[256], last_ticket[256], last_actor[256], last_detail[512];
};

static int count_audit(void *arg, const struct store_audit_row *r)
{
    struct audit_count *c = arg;
    if (c->n++ == 0) { /* newest first: the first one is the latest */
        snprintf(c->last_reason, sizeof c->last_reason, "%s", r->reason ? r->reason : "");
        snprintf(c->last_ticket, sizeof c->last_ticket, "%s", r->ticket ? r->ticket : "");
        snprintf(c->last_actor, sizeof c->last_actor, "%s", r->actor);
        snprintf(c->last_detail, sizeof c->last_detail, "%s", r->detail);
    }
    return 0;
}

static struct audit_count audit_for(store_t *s, const char *action, int64_t id)
{
    struct audit_count c = {0};
    struct store_audit_query q = {.action = action, .object_id = id};
    CHECK_EQ_INT(store_audit_list(s, &q, count_audit, &c), 0);
    return c;
}

static int count_cb(void *arg, const void *r)
{
    (*(int *)arg)++;
    return 0;
}
#define COUNTER(fn, type) \
    static int fn(void *arg, const type *r) { return count_cb(arg, r); }
COUNTER(count_wl, struct store_whitelist_row)
COUNTER(count_bl, struct store_blacklist_row)
COUNTER(count_ex, struct store_exception_row)

struct bl_ids {
    size_t n;
    int64_t id[8];
};

static int collect_bl(void *arg, const struct store_blacklist_row *r)
{
    struct bl_ids *b = arg;
    if (b->n < SG_ARRAY_LEN(b->id))
        b->id[b->n] = r->b.id;
    b->n++;
    return 0;
}

static void test_msisdn(void)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"+7 912 345-67-89", "79123456789"}, {"89123456789", "79123456789"},
        {"79123456789", "79123456789"},      {"(912) 345 67 89", "79123456789"},
        {"8 (912) 345-67-89", "79123456789"}, {"+79123456789", "79123456789"},
        {"0079123456789", "79123456789"},    {"7494", "7494"},
        {"+44 20 7946 0958", "442079460958"},
    };
    static const char *bad[] = {"", "+", "QIWI", "7912345678901234", "12ab", "+7 912;1"};
    char out[MSISDN_MAX];
    for (size_t i = 0; i < SG_ARRAY_LEN(ok); i++) {
        int rc = msisdn_normalise(ok[i].in, "7", "8", out, sizeof out);
        CHECK_MSG(rc == (int)strlen(ok[i].out), "%s", ok[i].in);
        if (rc > 0)
            CHECK_EQ_STR(out, ok[i].out);
    }
    for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++)
        CHECK_MSG(msisdn_normalise(bad[i], "7", "8", out, sizeof out) < 0, "%s", bad[i]);
    CHECK(msisdn_normalise("89123456789", NULL, NULL, out, 5) == SG_ENOSPC);
}

static void test_redact(void)
{
    char out[64];
    /* every run of decimal digits, in any script, is one '#' (the
     * snippet's rule, norm_redact_digits) */
    msglog_redact("Code 123456, ok", 15, out, sizeof out);
    CHECK_EQ_STR(out, "Code #, ok");
    /* full-width "１２" and Arabic-Indic "٣" digits */
    msglog_redact("x\xEF\xBC\x91\xEF\xBC\x92y\xD9\xA3", 11, out, sizeof out);
    CHECK_EQ_STR(out, "x#y#");
    /* Devanagari "४८२९" (this copy once knew only three scripts) */
    msglog_redact("OTP \xE0\xA5\xAA\xE0\xA5\xAE\xE0\xA5\xA8\xE0\xA5\xAF.", 17, out, sizeof out);
    CHECK_EQ_STR(out, "OTP #.");
    /* stops at a NUL */
    CHECK_EQ_INT(msglog_redact("ab\0 12", 6, out, sizeof out), 2);
    CHECK_EQ_STR(out, "ab");
    /* never cuts a character in half: "ж" is 2 bytes */
    size_t n = msglog_redact("\xD0\xB6\xD0\xB6\xD0\xB6", 6, out, 4);
    CHECK_EQ_INT(n, 2);
    /* whatever comes in, what goes out is what the snippet masking gives
     * (random pieces, every cap), and a masked snippet of valid UTF-8 (as
     * the decoder's text always is) passes unchanged; invalid bytes at the
     * end of a snippet are dropped as a cut character, so not those */
    static const char *const pieces[] = {"ab", "c", "1", "\xD0\xB6", "\xEF\xBC\x91", "\xD9\xA3",
                                         " ", "xyz", "\xF0\x9F\x98\x80", "\x80", "#", "\xE2\x82",
                                         "\xE0\xA5\xAA", "\xDB\xB4"};
    uint32_t seed = 9;
    for (int round = 0; round < 20000; round++) {
        char in[200], want[200], got[200], again[200];
        size_t len = 0;
        int valid = 1;
        while (len < (size_t)(round % 120)) {
            seed = seed * 1103515245u + 12345u;
            const char *pc = pieces[(seed >> 16) % SG_ARRAY_LEN(pieces)];
            size_t k = strlen(pc);
            memcpy(in + len, pc, k);
            len += k;
            valid &= strcmp(pc, "\x80") != 0 && strcmp(pc, "\xE2\x82") != 0;
        }
        if (round % 7 == 0 && len) {
            in[(seed >> 8) % len] = '\0';
            valid = 0; /* the NUL may cut a character */
        }
        size_t cap = 1 + (size_t)round % 150;
        size_t w = norm_redact_digits(in, strnlen(in, len), want, cap);
        size_t k = msglog_redact(in, len, got, cap);
        CHECK_MSG(k == w && memcmp(got, want, w + 1) == 0, "round %d", round);
        if (valid)
            CHECK_MSG(msglog_redact(got, k, again, sizeof again) == k && memcmp(again, got, k + 1) == 0,
                      "round %d: a masked snippet changed", round);
    }
}

static void test_migrations(void)
{
    store_t *s = open_db();
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
    /* Re-open: no migration runs again, data intact. */
    s = open_db();
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
    /* A database from the future is refused, not damaged. */
    char fut[320];
    snprintf(fut, sizeof fut, "%s/future.db", dir);
    sqlite3 *db;
    sqlite3_open(fut, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    char err[STORE_ERRBUF_SIZE];
    CHECK(store_open(&s, fut, STORE_OPEN_CREATE, err) == SG_ENOTSUP);
    CHECK(s == NULL);
    CHECK(strstr(err, "future.db") != NULL);
    /* A missing file without CREATE fails with the path in the message. */
    char missing[320];
    snprintf(missing, sizeof missing, "%s/nope/x.db", dir);
    CHECK(store_open(&s, missing, STORE_OPEN_CREATE, err) != 0);
    CHECK(strstr(err, "nope") != NULL);
}

/* Collects ids in callback order. */
struct ids {
    int n;
    int64_t id[16];
};

static int ids_cb(void *arg, const struct store_msg_row *r)
{
    struct ids *x = arg;
    if (x->n < 16)
        x->id[x->n] = r->id;
    x->n++;
    return 0;
}

static int64_t sql_count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = -1;
    sqlite3_open(path, &db);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

struct list_entry {
    int64_t id, key, ts;
};

static int list_entry_cmp(const void *x, const void *y)
{
    const struct list_entry *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/* The senders' posting lists against the rows (schema 5): every list
 * decodes, its ts_last is its newest entry and first_id and last_id its
 * smallest and largest id;
 * every row with a source_key is named by exactly one entry, of a list of
 * that key, with its ts.  Returns the number of lists, entries and rows
 * that break this; *stale (if not NULL) gets the entries whose row is
 * gone, which deletes leave and the lookups skip. */
static int64_t sender_list_mismatches(const char *path, int64_t *stale)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t bad = 0, gone = 0;
    size_t n = 0, cap = 1024, i = 0;
    struct list_entry *e = malloc(cap * sizeof *e);

    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT source_key, ts_last, first_id, last_id, entries"
                           " FROM message_log_sender_runs", -1, &st, NULL);
    while (e && sqlite3_step(st) == SQLITE_ROW) {
        struct postings_reader r;
        struct posting p;
        int64_t newest = INT64_MIN, smallest = INT64_MAX, largest = INT64_MIN;
        int got;
        if (postings_open(&r, sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4))) {
            bad++;
            continue;
        }
        while ((got = postings_next(&r, &p)) == 1) {
            if (n == cap && !(e = realloc(e, (cap *= 2) * sizeof *e)))
                break;
            e[n++] = (struct list_entry){p.id, sqlite3_column_int64(st, 0), p.ts};
            newest = p.ts > newest ? p.ts : newest;
            smallest = p.id < smallest ? p.id : smallest;
            largest = p.id > largest ? p.id : largest;
        }
        bad += got < 0 || newest != sqlite3_column_int64(st, 1) ||
               smallest != sqlite3_column_int64(st, 2) || largest != sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (!e) {
        sqlite3_close(db);
        return -1;
    }
    qsort(e, n, sizeof *e, list_entry_cmp);
    sqlite3_prepare_v2(db, "SELECT id, source_key, ts FROM message_log"
                           " WHERE source_key IS NOT NULL ORDER BY id", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        for (; i < n && e[i].id < id; i++)
            gone++;
        if (i == n || e[i].id != id || e[i].key != sqlite3_column_int64(st, 1) ||
            e[i].ts != sqlite3_column_int64(st, 2))
            bad++;
        for (; i < n && e[i].id == id; i++)
            bad += i > 0 && e[i - 1].id == id; /* named twice */
    }
    gone += (int64_t)(n - i);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(e);
    if (stale)
        *stale = gone;
    return bad;
}

static int64_t sender_list_entries(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = 0;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT entries FROM message_log_sender_runs", -1, &st, NULL);
    while (n >= 0 && sqlite3_step(st) == SQLITE_ROW) {
        struct postings_reader r;
        struct posting p;
        int got = -1;
        if (postings_open(&r, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)) == 0)
            while ((got = postings_next(&r, &p)) == 1)
                n++;
        if (got < 0)
            n = -1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void t_mid_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t k = store_mid_key((const char *)sqlite3_value_text(argv[0]));
    (void)argc;
    if (k)
        sqlite3_result_int64(ctx, k);
    else
        sqlite3_result_null(ctx);
}

/* The message_id key table against the rows (schema 4): every row's
 * mid_key is store_mid_key(message_id), every keyed row has its entry in
 * message_log_mid and every entry its row.  Returns the number of rows and
 * entries that break this. */
static int64_t mid_key_mismatches(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = -1;
    sqlite3_open(path, &db);
    sqlite3_create_function(db, "t_mid_key", 1, SQLITE_UTF8, NULL, t_mid_key, NULL, NULL);
    if (sqlite3_prepare_v2(db,
            "SELECT (SELECT COUNT(*) FROM message_log WHERE mid_key IS NOT t_mid_key(message_id))"
            " + (SELECT COUNT(*) FROM message_log m WHERE m.mid_key IS NOT NULL AND NOT EXISTS"
            "   (SELECT 1 FROM message_log_mid k WHERE k.mid_key = m.mid_key AND k.id = m.id))"
            " + (SELECT COUNT(*) FROM message_log_mid k WHERE NOT EXISTS"
            "   (SELECT 1 FROM message_log m WHERE m.id = k.id AND m.mid_key = k.mid_key))",
            -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Turns a schema 5 database back into schema 4 (as migrations 0..4 left
 * it: a sender key table with an entry per row, kept by the delete
 * trigger), to test the 4 -> 5 migration on real rows.  SQLITE_OK or an
 * error. */
static int downgrade_to_v4(sqlite3 *db)
{
    return sqlite3_exec(db,
        "DROP TABLE message_log_sender_runs;"
        "CREATE TABLE message_log_source (source_key INTEGER NOT NULL, ts INTEGER NOT NULL,"
        " id INTEGER NOT NULL, PRIMARY KEY (source_key, ts, id)) WITHOUT ROWID;"
        "INSERT INTO message_log_source SELECT source_key, ts, id FROM message_log"
        " WHERE source_key IS NOT NULL;"
        "DROP TRIGGER message_log_keys_delete;"
        "CREATE TRIGGER message_log_keys_delete AFTER DELETE ON message_log BEGIN\n"
        "  DELETE FROM message_log_dest"
        "   WHERE dest_key = old.dest_key AND ts = old.ts AND id = old.id;\n"
        "  DELETE FROM message_log_source"
        "   WHERE source_key = old.source_key AND ts = old.ts AND id = old.id;\n"
        "  DELETE FROM message_log_mid WHERE mid_key = old.mid_key AND id = old.id;\n"
        "END;"
        "PRAGMA user_version = 4;", NULL, NULL, NULL);
}

/* Turns a schema 5 database back into schema 3 (as migrations 0..3 left
 * it: message_id indexed as text, no key column, table or trigger line),
 * to test the 3 -> 4 migration on real rows.  SQLITE_OK or an error. */
static int downgrade_to_v3(sqlite3 *db)
{
    int rc = downgrade_to_v4(db);
    if (rc != SQLITE_OK)
        return rc;
    return sqlite3_exec(db,
        "DROP TRIGGER message_log_keys_delete;"
        "DROP TABLE message_log_mid;"
        "ALTER TABLE message_log DROP COLUMN mid_key;"
        "CREATE TRIGGER message_log_keys_delete AFTER DELETE ON message_log BEGIN\n"
        "  DELETE FROM message_log_dest"
        "   WHERE dest_key = old.dest_key AND ts = old.ts AND id = old.id;\n"
        "  DELETE FROM message_log_source"
        "   WHERE source_key = old.source_key AND ts = old.ts AND id = old.id;\n"
        "END;"
        "CREATE INDEX message_log_message_id ON message_log (message_id)"
        " WHERE message_id IS NOT NULL;"
        "PRAGMA user_version = 3;", NULL, NULL, NULL);
}

/* Migration 1 -> 2 on a version 1 message log with rows: the key columns
 * and key tables are filled, lookups give the version 1 answers (ties on
 * ts included), and deletes take the key-table entries along. */
static void test_migrate_msglog_v1(void)
{
    char path[320], err[STORE_ERRBUF_SIZE];
    sqlite3 *db;
    store_t *s = NULL;

    snprintf(path, sizeof path, "%s/v1.db", dir);
    sqlite3_open(path, &db);
    /* The version 1 message_log, as migration 0 -> 1 created it. */
    CHECK_EQ_INT(sqlite3_exec(db,
        "CREATE TABLE message_log (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, account TEXT,"
        " source_addr TEXT, source_ton INTEGER, dest_addr TEXT, src_ip TEXT,"
        " action TEXT NOT NULL, score INTEGER NOT NULL DEFAULT 0, reasons TEXT,"
        " fingerprint TEXT, snippet TEXT, parts INTEGER NOT NULL DEFAULT 1, message_id TEXT,"
        " smsc_status INTEGER, smsc_resp_ts INTEGER, receipt_stat TEXT, receipt_err TEXT,"
        " receipt_ts INTEGER, enforced INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX message_log_dest_ts ON message_log (dest_addr, ts DESC);"
        "CREATE INDEX message_log_source_ts ON message_log (source_addr, ts);"
        "CREATE INDEX message_log_message_id ON message_log (message_id)"
        " WHERE message_id IS NOT NULL;"
        "INSERT INTO message_log (id, ts, source_addr, dest_addr, action, message_id) VALUES"
        " (1, 100, 'BANK', '79120000001', 'allow', 'A1'),"
        " (2, 200, 'BANK', '79120000001', 'block', NULL),"
        " (3, 200, '79001234567', '79120000001', 'allow', 'a1'),"
        " (4, 300, NULL, '79120000001', 'flag', '0a1'),"
        " (5, 150, 'BANK', '+7912 x', 'allow', 'A1'), (6, 150, 'BANK', '0123', 'allow', 'x-9'),"
        " (7, 400, '', '79120000002', 'allow', 'x-9');"
        "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    CHECK_EQ_INT(store_open(&s, path, STORE_OPEN_CREATE, err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    /* Newest first; equal ts in id order, as from (dest_addr, ts DESC). */
    struct ids x = {0};
    CHECK_EQ_INT(store_timeline(s, &(struct store_timeline_query){.msisdn = "79120000001"},
                                ids_cb, &x), 0);
    CHECK_EQ_INT(x.n, 4);
    CHECK_EQ_INT(x.id[0], 4);
    CHECK_EQ_INT(x.id[1], 2);
    CHECK_EQ_INT(x.id[2], 3);
    CHECK_EQ_INT(x.id[3], 1);
    x = (struct ids){0};
    store_timeline(s, &(struct store_timeline_query){.msisdn = "79120000001", .sender = "BANK"},
                   ids_cb, &x);
    CHECK_EQ_INT(x.n, 2);
    /* Text addresses (hashed keys) and a leading zero. */
    x = (struct ids){0};
    store_timeline(s, &(struct store_timeline_query){.msisdn = "+7912 x"}, ids_cb, &x);
    CHECK_EQ_INT(x.n, 1);
    CHECK_EQ_INT(x.id[0], 5);
    x = (struct ids){0};
    store_timeline(s, &(struct store_timeline_query){.msisdn = "0123"}, ids_cb, &x);
    CHECK_EQ_INT(x.n, 1);
    CHECK_EQ_INT(x.id[0], 6);
    x = (struct ids){0};
    store_timeline(s, &(struct store_timeline_query){.msisdn = "123"}, ids_cb, &x);
    CHECK_EQ_INT(x.n, 0);
    /* Sender page: newest first, equal ts in descending id order, as from
     * (source_addr, ts) walked backwards. */
    x = (struct ids){0};
    CHECK_EQ_INT(store_sender_messages(s, "BANK", 0, 10, ids_cb, &x), 0);
    CHECK_EQ_INT(x.n, 4);
    CHECK_EQ_INT(x.id[0], 2);
    CHECK_EQ_INT(x.id[1], 6);
    CHECK_EQ_INT(x.id[2], 5);
    CHECK_EQ_INT(x.id[3], 1);
    struct store_sender_stats ss;
    CHECK_EQ_INT(store_sender_stats(s, "BANK", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 4);
    CHECK_EQ_INT(ss.blocked, 1);
    CHECK_EQ_INT(ss.recipients, 3);
    CHECK_EQ_INT(store_sender_stats(s, "79001234567", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 1);
    CHECK_EQ_INT(store_sender_stats(s, "", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 1);
    /* 3 -> 4: every message_id keyed ('A1', 'a1' and '0a1' share a key). */
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_mid"), 6);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(DISTINCT mid_key) FROM message_log"), 2);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
    /* A receipt finds the migrated row through the key table, and only it. */
    msglog_t *m = msglog_new(path, NULL, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (m) {
        CHECK_EQ_INT(msglog_update_receipt(m, "a1", NULL, "DELIVRD", "000", 500), 0);
        CHECK_EQ_INT(msglog_update_receipt(m, "x-9", NULL, "EXPIRED", "000", 600), 0);
        CHECK_EQ_INT(msglog_flush(m), 0);
        msglog_free(m);
    }
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE receipt_stat = 'DELIVRD'"),
                 1);
    CHECK_EQ_INT(sql_count(path, "SELECT receipt_ts FROM message_log WHERE id = 3"), 500);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE receipt_stat = 'EXPIRED'"
                                 " AND id IN (6, 7)"), 2);
    /* A delete (retention) takes the key-table entries along.  The
     * statistics bucket (all of ts 100..400 is bucket 0) holds the oldest
     * row left, so it stays. */
    int64_t del = 0;
    CHECK_EQ_INT(store_msglog_prune(s, 0, 3, &del), 0);
    CHECK_EQ_INT(del, 4);
    CHECK_EQ_INT(store_sender_stats(s, "BANK", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 4);
    store_close(s);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_dest"), 3);
    /* A sender list goes when all its rows have (79001234567's: row 3);
     * BANK's stays for rows 5 and 6 and names rows 1 and 2 too, which the
     * lookups skip. */
    int64_t stale = 0;
    CHECK_EQ_INT(sender_list_mismatches(path, &stale), 0);
    CHECK_EQ_INT(stale, 2);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs"), 2);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_mid"), 3);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE dest_key IS NULL"
                                 " OR (source_key IS NULL) <> (source_addr IS NULL)"), 0);
}

static void test_whitelist(store_t *s)
{
    struct store_change c = {.now = T0, .actor = "ops-anna", .ticket = "OPS-1"};
    struct lists_whitelist_entry e = {.sender = "QIWI", .ton = 5, .account = "qiwi_otp",
                                      .provider = "QIWI Bank", .verified_by = "ops-anna",
                                      .source_cidrs = "10.0.0.0/8"};
    int64_t id = 0, id2 = 0;
    CHECK_EQ_INT(store_whitelist_add(s, &c, &e, &id), 0);
    CHECK(id > 0);
    CHECK_EQ_INT(store_whitelist_add(s, &c, &e, &id2), SG_EEXIST);
    CHECK_EQ_INT(id2, id);
    struct audit_count a = audit_for(s, "whitelist.add", id);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_STR(a.last_actor, "ops-anna");
    CHECK_EQ_STR(a.last_ticket, "OPS-1");
    CHECK(strstr(a.last_detail, "\"sender\":\"QIWI\"") != NULL);

    /* Same sender on another account: a second entry. */
    e.account = "qiwi_b";
    e.expires_at = T0 + 100;
    CHECK_EQ_INT(store_whitelist_add(s, &c, &e, &id2), 0);
    int n = 0;
    CHECK_EQ_INT(store_whitelist_list(s, &(struct store_list_query){.kind = -1, .now = T0},
                                      count_wl, &n), 0);
    CHECK_EQ_INT(n, 2);
    /* After its expiry the second one is no longer listed as active. */
    n = 0;
    store_whitelist_list(s, &(struct store_list_query){.kind = -1, .now = T0 + 100}, count_wl, &n);
    CHECK_EQ_INT(n, 1);

    /* Missing required fields name the field. */
    struct lists_whitelist_entry badw = {.sender = "", .ton = -1, .verified_by = "x"};
    CHECK_EQ_INT(store_whitelist_add(s, &c, &badw, NULL), SG_EINVAL);
    CHECK(strstr(store_errmsg(s), "sender") != NULL);
    struct store_change noactor = {.now = T0};
    CHECK_EQ_INT(store_whitelist_add(s, &noactor, &e, NULL), SG_EINVAL);

    CHECK_EQ_INT(store_whitelist_remove(s, &c, id2), 0);
    CHECK_EQ_INT(store_whitelist_remove(s, &c, id2), SG_ENOTFOUND);
    CHECK_EQ_INT(audit_for(s, "whitelist.remove", id2).n, 1);
    CHECK_EQ_INT(store_whitelist_remove(s, &c, 999999), SG_ENOTFOUND);
    /* include_inactive shows removed rows */
    n = 0;
    store_whitelist_list(s, &(struct store_list_query){.kind = -1, .include_inactive = 1},
                         count_wl, &n);
    CHECK_EQ_INT(n, 2);
}

static void test_blacklist(store_t *s)
{
    struct store_change c = {.now = T0, .actor = "ops-bob", .reason = "complaints"};
    int64_t id = 0, dup = 0;
    CHECK_EQ_INT(store_blacklist_add(s, &c, LISTS_BL_SENDER, "79001234567", 0, 0, &id), 0);
    CHECK_EQ_INT(store_blacklist_add(s, &c, LISTS_BL_SENDER, "79001234567", 0, 0, &dup),
                 SG_EEXIST);
    CHECK_EQ_INT(dup, id);
    CHECK_EQ_INT(audit_for(s, "blacklist.add", id).n, 1);
    /* reason is required */
    struct store_change noreason = {.now = T0, .actor = "x"};
    CHECK_EQ_INT(store_blacklist_add(s, &noreason, LISTS_BL_DOMAIN, "a.example", 0, 0, NULL),
                 SG_EINVAL);
    CHECK(strstr(store_errmsg(s), "reason") != NULL);

    /* An automatic entry with a TTL. */
    int64_t aid = 0;
    struct store_change eng = {.now = T0, .actor = "engine", .reason = "volume: 500 recipients"};
    CHECK_EQ_INT(store_blacklist_add(s, &eng, LISTS_BL_SENDER, "SPAMMER", 1, T0 + 3600, &aid), 0);

    /* Clear: who, why, ticket. */
    struct store_change clr = {.now = T0 + 10, .actor = "agent7", .reason = "payment provider",
                               .ticket = "INC-42"};
    CHECK_EQ_INT(store_blacklist_clear(s, &clr, id), 0);
    CHECK_EQ_INT(store_blacklist_clear(s, &clr, id), SG_EEXIST);
    CHECK_EQ_INT(store_blacklist_clear(s, &clr, 424242), SG_ENOTFOUND);
    struct audit_count a = audit_for(s, "blacklist.clear", id);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_STR(a.last_actor, "agent7");
    CHECK_EQ_STR(a.last_reason, "payment provider");
    CHECK_EQ_STR(a.last_ticket, "INC-42");

    /* Grace period. */
    CHECK_EQ_INT(store_blacklist_recently_cleared(s, LISTS_BL_SENDER, "79001234567", T0 + 20, 3600), 1);
    CHECK_EQ_INT(store_blacklist_recently_cleared(s, LISTS_BL_SENDER, "79001234567", T0 + 10 + 3601, 3600), 0);
    CHECK_EQ_INT(store_blacklist_recently_cleared(s, LISTS_BL_SENDER, "SPAMMER", T0 + 20, 3600), 0);
    CHECK_EQ_INT(store_blacklist_recently_cleared(s, LISTS_BL_ACCOUNT, "79001234567", T0 + 20, 3600), 0);

    /* A cleared key can be blacklisted again (by hand). */
    int64_t id3 = 0;
    CHECK_EQ_INT(store_blacklist_add(s, &c, LISTS_BL_SENDER, "79001234567", 0, 0, &id3), 0);
    CHECK(id3 != id);
    struct store_change clr2 = {.now = T0 + 30, .actor = "agent7", .reason = "again"};
    CHECK_EQ_INT(store_blacklist_clear(s, &clr2, id3), 0);

    /* Listing: active only vs all, by kind/value. */
    int n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = -1, .now = T0 + 40}, count_bl, &n);
    CHECK_EQ_INT(n, 1); /* SPAMMER */
    n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = -1, .now = T0 + 4000}, count_bl, &n);
    CHECK_EQ_INT(n, 0); /* SPAMMER expired */
    n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = LISTS_BL_SENDER,
                                                       .value = "79001234567",
                                                       .include_inactive = 1},
                         count_bl, &n);
    CHECK_EQ_INT(n, 2);
    /* Kind and value together take the (kind, value) index (the sender
     * lookup's query): same rows, same order (newest first), same filters
     * as the general form. */
    struct bl_ids got = {0};
    store_blacklist_list(s, &(struct store_list_query){.kind = LISTS_BL_SENDER,
                                                       .value = "79001234567",
                                                       .include_inactive = 1},
                         collect_bl, &got);
    CHECK_EQ_INT(got.n, 2);
    CHECK_EQ_INT(got.id[0], id3);
    CHECK_EQ_INT(got.id[1], id);
    got.n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = LISTS_BL_SENDER, .value = "79001234567",
                                                       .now = T0 + 40},
                         collect_bl, &got);
    CHECK_EQ_INT(got.n, 0); /* both cleared */
    got.n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = LISTS_BL_ACCOUNT, .value = "79001234567",
                                                       .include_inactive = 1},
                         collect_bl, &got);
    CHECK_EQ_INT(got.n, 0); /* another kind */
    got.n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = LISTS_BL_SENDER, .value = "79001234567",
                                                       .id = id, .include_inactive = 1},
                         collect_bl, &got);
    CHECK_EQ_INT(got.n, 1);
    CHECK_EQ_INT(got.id[0], id);
    got.n = 0;
    store_blacklist_list(s, &(struct store_list_query){.kind = LISTS_BL_SENDER, .value = "SPAMMER",
                                                       .now = T0 + 40},
                         collect_bl, &got);
    CHECK_EQ_INT(got.n, 1);
    CHECK_EQ_INT(got.id[0], aid);
}

static void test_exceptions(store_t *s)
{
    struct store_change c = {.now = T0, .actor = "agent7", .reason = "customer waiting",
                             .ticket = "INC-43"};
    int64_t id = 0;
    CHECK_EQ_INT(store_exception_add(s, &c, "QIWI", "79123456789", T0 + 7200, &id), 0);
    CHECK_EQ_INT(audit_for(s, "exception.add", id).n, 1);
    CHECK_EQ_INT(store_exception_add(s, &c, "QIWI", "+7 912", T0 + 7200, NULL), SG_EINVAL);
    CHECK(strstr(store_errmsg(s), "msisdn") != NULL);
    CHECK_EQ_INT(store_exception_add(s, &c, "QIWI", "79123456789", T0 - 1, NULL), SG_EINVAL);
    int n = 0;
    store_exception_list(s, &(struct store_list_query){.kind = -1, .now = T0, .msisdn = "79123456789"},
                         count_ex, &n);
    CHECK_EQ_INT(n, 1);
    int64_t id2 = 0;
    CHECK_EQ_INT(store_exception_add(s, &c, "BANK", "79000000000", 0, &id2), 0);
    CHECK_EQ_INT(store_exception_remove(s, &c, id2), 0);
    CHECK_EQ_INT(store_exception_remove(s, &c, id2), SG_ENOTFOUND);
    CHECK_EQ_INT(audit_for(s, "exception.remove", id2).n, 1);
}

/* After the list tests: QIWI/qiwi_otp whitelisted, QIWI/qiwi_b removed;
 * SPAMMER blacklisted until T0+3600; 79001234567 cleared at T0+10 and
 * T0+30; exception QIWI->79123456789 until T0+7200. */
static void test_snapshot(store_t *s)
{
    lists_t *l = NULL;
    struct lists_counts cnt;

    CHECK_EQ_INT(store_load_lists(s, T0 + 60, &l), 0);
    if (!l)
        return;
    lists_counts(l, &cnt);
    CHECK_EQ_INT(cnt.whitelist, 1);
    CHECK_EQ_INT(cnt.exceptions, 1);
    CHECK_EQ_INT(cnt.blacklist, 3); /* SPAMMER live + two recently cleared */
    CHECK_EQ_INT(cnt.blacklist_cleared, 2);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "SPAMMER", 7, T0 + 60) != NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "79001234567", 11, T0 + 60) == NULL);
    CHECK(lists_blacklist_cleared_within(l, LISTS_BL_SENDER, "79001234567", 11, T0 + 60, 3600) != NULL);
    CHECK(lists_exception_find(l, "QIWI", 4, "79123456789", 11, T0 + 60) != NULL);
    lists_free(l);

    /* Loaded after expiry: the expired rows are not in the snapshot. */
    CHECK_EQ_INT(store_load_lists(s, T0 + 8000, &l), 0);
    if (!l)
        return;
    lists_counts(l, &cnt);
    CHECK_EQ_INT(cnt.exceptions, 0);
    CHECK_EQ_INT(cnt.blacklist - cnt.blacklist_cleared, 0);
    lists_free(l);
}

static void test_data_version(store_t *s)
{
    int64_t v1 = 0, v2 = 0, v3 = 0;
    CHECK_EQ_INT(store_data_version(s, &v1), 0);
    CHECK_EQ_INT(store_data_version(s, &v2), 0);
    CHECK_EQ_INT(v1, v2);
    /* Another connection (as the CLI would be) changes a list. */
    store_t *other = open_db();
    struct store_change c = {.now = T0, .actor = "cli", .reason = "r"};
    CHECK_EQ_INT(store_blacklist_add(other, &c, LISTS_BL_DOMAIN, "dv.example", 0, 0, NULL), 0);
    CHECK_EQ_INT(store_data_version(s, &v2), 0);
    CHECK(v2 != v1);
    /* A token change on the other connection is not a list change. */
    char tok[STORE_TOKEN_STRLEN];
    CHECK_EQ_INT(store_token_create(other, &c, STORE_ROLE_OPS, "dv-token", NULL, 0, tok, NULL), 0);
    CHECK_EQ_INT(store_data_version(s, &v3), 0);
    CHECK_EQ_INT(v3, v2);
    /* A change through this very handle counts too. */
    CHECK_EQ_INT(store_blacklist_add(s, &c, LISTS_BL_DOMAIN, "dv2.example", 0, 0, NULL), 0);
    CHECK_EQ_INT(store_data_version(s, &v3), 0);
    CHECK(v3 != v2);
    store_close(other);
}

static void test_tokens(store_t *s)
{
    struct store_change c = {.now = T0, .actor = "root"};
    char tok[STORE_TOKEN_STRLEN], tok2[STORE_TOKEN_STRLEN];
    int64_t id = 0;
    struct store_token_info info;

    CHECK_EQ_INT(store_token_create(s, &c, STORE_ROLE_CALLCENTRE, "cc-1", NULL, T0 + 86400, tok, &id), 0);
    CHECK_EQ_INT(strlen(tok), 68);
    CHECK(strncmp(tok, "sgt_", 4) == 0);
    CHECK_EQ_INT(audit_for(s, "token.create", id).n, 1);
    CHECK_EQ_INT(store_token_check(s, tok, T0 + 1, &info), 0);
    CHECK_EQ_INT(info.role, STORE_ROLE_CALLCENTRE);
    CHECK_EQ_STR(info.name, "cc-1");
    CHECK_EQ_INT(info.id, id);
    /* wrong token, one character off */
    char wrong[STORE_TOKEN_STRLEN];
    memcpy(wrong, tok, sizeof wrong);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    CHECK_EQ_INT(store_token_check(s, wrong, T0 + 1, &info), SG_ENOTFOUND);
    CHECK_EQ_INT(store_token_check(s, "", T0 + 1, &info), SG_ENOTFOUND);
    /* expiry */
    CHECK_EQ_INT(store_token_check(s, tok, T0 + 86400, &info), SG_ENOTFOUND);
    /* name in use */
    CHECK_EQ_INT(store_token_create(s, &c, STORE_ROLE_OPS, "cc-1", NULL, 0, tok2, NULL), SG_EEXIST);
    /* provider role needs a provider, others refuse one */
    CHECK_EQ_INT(store_token_create(s, &c, STORE_ROLE_PROVIDER, "p", NULL, 0, tok2, NULL), SG_EINVAL);
    CHECK_EQ_INT(store_token_create(s, &c, STORE_ROLE_OPS, "o", "QIWI", 0, tok2, NULL), SG_EINVAL);
    CHECK_EQ_INT(store_token_create(s, &c, STORE_ROLE_PROVIDER, "qiwi-api", "QIWI Bank", 0, tok2, NULL), 0);
    CHECK_EQ_INT(store_token_check(s, tok2, T0 + 1, &info), 0);
    CHECK_EQ_STR(info.provider, "QIWI Bank");
    CHECK(strcmp(tok, tok2) != 0);
    /* revoke by name */
    CHECK_EQ_INT(store_token_revoke(s, &c, 0, "qiwi-api"), 0);
    CHECK_EQ_INT(store_token_check(s, tok2, T0 + 1, &info), SG_ENOTFOUND);
    CHECK_EQ_INT(store_token_revoke(s, &c, 0, "qiwi-api"), SG_ENOTFOUND);
    CHECK_EQ_INT(store_token_revoke(s, &c, id, NULL), 0);
    CHECK_EQ_INT(store_token_check(s, tok, T0 + 1, &info), SG_ENOTFOUND);
    CHECK_EQ_INT(audit_for(s, "token.revoke", id).n, 1);
    /* the clear token is nowhere in the database */
    sqlite3 *db;
    sqlite3_stmt *st;
    sqlite3_open(dbpath, &db);
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM api_tokens WHERE token_sha256 = ?1 OR name = ?1", -1, &st, NULL);
    sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int wlreq_cb(void *arg, const struct store_wlreq *r)
{
    (*(int *)arg)++;
    return 0;
}

static void test_wlreq(store_t *s)
{
    struct store_change prov = {.now = T0, .actor = "qiwi-api"};
    struct store_wlreq r = {.provider = "QIWI Bank", .senders = "QIWIPAY, 7494", .ton = -1,
                            .account = "qiwi_otp2", .contact = "noc@qiwi.example",
                            .evidence = "{\"contract\":\"A-1\"}"};
    int64_t id = 0, id2 = 0;
    CHECK_EQ_INT(store_wlreq_create(s, &prov, &r, &id), 0);
    CHECK_EQ_INT(store_wlreq_create(s, &prov, &r, &id2), 0);
    int n = 0;
    store_wlreq_list(s, "QIWI Bank", STORE_WLREQ_PENDING, 0, wlreq_cb, &n);
    CHECK_EQ_INT(n, 2);
    n = 0;
    store_wlreq_list(s, "Other", -1, 0, wlreq_cb, &n);
    CHECK_EQ_INT(n, 0);
    struct store_change ops = {.now = T0 + 5, .actor = "ops-anna", .reason = "contract checked"};
    CHECK_EQ_INT(store_wlreq_decide(s, &ops, id, 1, 0), 0);
    CHECK_EQ_INT(store_wlreq_decide(s, &ops, id, 1, 0), SG_EEXIST);
    struct store_change norea = {.now = T0 + 5, .actor = "ops-anna"};
    CHECK_EQ_INT(store_wlreq_decide(s, &norea, id2, 0, 0), SG_EINVAL); /* reject needs reason */
    CHECK_EQ_INT(store_wlreq_decide(s, &ops, id2, 0, 0), 0);
    CHECK_EQ_INT(store_wlreq_decide(s, &ops, 9999, 1, 0), SG_ENOTFOUND);
    n = 0;
    store_whitelist_list(s, &(struct store_list_query){.kind = -1, .now = T0 + 6, .value = "7494"},
                         count_wl, &n);
    CHECK_EQ_INT(n, 1);
    n = 0;
    store_whitelist_list(s, &(struct store_list_query){.kind = -1, .now = T0 + 6, .value = "QIWIPAY"},
                         count_wl, &n);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(audit_for(s, "whitelist_request.approve", id).n, 1);
    CHECK_EQ_INT(audit_for(s, "whitelist_request.reject", id2).n, 1);
}

static int same_value_cb(void *arg, const struct store_blacklist_row *r)
{
    const char **expect = arg;
    CHECK_EQ_STR(r->b.value, expect[0]);
    CHECK_EQ_STR(r->b.reason, expect[1]);
    CHECK_EQ_STR(r->ticket, expect[2]);
    return 0;
}

static void test_metacharacters(store_t *s)
{
    static const char *const nasty[] = {
        "x'); DROP TABLE blacklist; --",
        "\" OR 1=1 --",
        "%_\\' \" ;",
        "<script>alert(1)</script>",
        "Робот\xF0\x9F\x98\x80 ?1 ?2 $1 :name @x",
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(nasty); i++) {
        struct store_change c = {.now = T0, .actor = nasty[i], .reason = nasty[i],
                                 .ticket = nasty[i]};
        int64_t id = 0;
        CHECK_EQ_INT(store_blacklist_add(s, &c, LISTS_BL_FINGERPRINT, nasty[i], 0, 0, &id), 0);
        const char *expect[3] = {nasty[i], nasty[i], nasty[i]};
        int n = 0;
        CHECK_EQ_INT(store_blacklist_list(s, &(struct store_list_query){.kind = -1, .id = id},
                                          same_value_cb, (void *)expect), 0);
        struct store_list_query q = {.kind = LISTS_BL_FINGERPRINT, .value = nasty[i], .now = T0};
        store_blacklist_list(s, &q, count_bl, &n);
        CHECK_EQ_INT(n, 1);
        struct audit_count a = {0};
        struct store_audit_query aq = {.actor = nasty[i]};
        store_audit_list(s, &aq, count_audit, &a);
        CHECK_EQ_INT(a.n, 1);
        CHECK_EQ_STR(a.last_reason, nasty[i]);
    }
    /* The tables are all still there. */
    int n = 0;
    CHECK_EQ_INT(store_blacklist_list(s, NULL, count_bl, &n), 0);
    CHECK(n > 0);
}

struct tl {
    int n;
    int64_t last_ts;
    int ordered;
    char first_snippet[200], first_status[16];
    int64_t first_smsc;
};

static int tl_cb(void *arg, const struct store_msg_row *r)
{
    struct tl *t = arg;
    if (t->n && r->ts_us > t->last_ts)
        t->ordered = 0;
    if (t->n == 0) {
        snprintf(t->first_snippet, sizeof t->first_snippet, "%s", r->snippet ? r->snippet : "");
        snprintf(t->first_status, sizeof t->first_status, "%s", r->receipt_stat ? r->receipt_stat : "");
        t->first_smsc = r->smsc_status;
    }
    t->last_ts = r->ts_us;
    t->n++;
    return 0;
}

static void test_msglog(void)
{
    char err[256];
    struct msglog_config cfg = {.queue_capacity = 1024, .batch_max = 300};
    msglog_t *m = msglog_new(dbpath, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    const int N = 5000;
    int64_t links[5000];
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        char dest[16], snip[64];
        snprintf(dest, sizeof dest, "7912000%04d", i % 10);
        snprintf(snip, sizeof snip, "Your code is %06d", i);
        struct msglog_row row = {.ts_us = 1800000000000000LL + i, .account = "qiwi_otp",
                                 .source_addr = i % 2 ? "QIWI" : "BANK", .source_ton = 5,
                                 .dest_addr = dest, .src_ip = "10.0.0.1", .action = "allow",
                                 .reasons = "[]", .fingerprint = "abcdef", .snippet = snip,
                                 .parts = 1};
        int rc;
        /* The ring holds 1024: a producer faster than the writer sees
         * SG_ENOSPC; retry here so every row lands (a test, not the packet
         * path). */
        while ((rc = msglog_submit(m, &row, &links[i])) == SG_ENOSPC) {
            dropped++;
            usleep(100);
        }
        CHECK_EQ_INT(rc, 0);
    }
    /* Response and receipt for the last message to 79120000009 (i = 4999). */
    CHECK_EQ_INT(msglog_update_response(m, links[N - 1], "MSG-4999", 0x58, 1800000000009999LL), 0);
    CHECK_EQ_INT(msglog_update_response(m, links[N - 1], "MSG-other", 0, 1800000000009999LL), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "MSG-4999", NULL, "UNDELIV", "001", 1800000000019999LL), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.written, N);
    CHECK_EQ_INT(st.updates, 3);
    CHECK_EQ_INT(st.dropped, dropped);
    CHECK_EQ_INT(st.queued, 0);
    CHECK(st.batches >= (uint64_t)(N / 300));
    CHECK_EQ_INT(st.failed, 0);
    msglog_free(m);

    store_t *s = open_db();
    struct tl t = {.ordered = 1};
    struct store_timeline_query q = {.msisdn = "79120000009", .limit = 1000};
    CHECK_EQ_INT(store_timeline(s, &q, tl_cb, &t), 0);
    CHECK_EQ_INT(t.n, N / 10);
    CHECK(t.ordered);
    CHECK_EQ_STR(t.first_snippet, "Your code is #");
    CHECK_EQ_STR(t.first_status, "UNDELIV");
    CHECK_EQ_INT(t.first_smsc, 0x58); /* a rejection sticks */
    /* sender filter and window */
    t = (struct tl){.ordered = 1};
    q.sender = "QIWI";
    q.since_us = 1800000000000000LL + 1000;
    q.until_us = 1800000000000000LL + 2000;
    CHECK_EQ_INT(store_timeline(s, &q, tl_cb, &t), 0);
    CHECK_EQ_INT(t.n, 100); /* i in [1000,2000), i%10==9: all odd, so QIWI */
    t = (struct tl){.ordered = 1};
    q.sender = "BANK";
    store_timeline(s, &q, tl_cb, &t);
    CHECK_EQ_INT(t.n, 0);
    struct store_sender_stats ss;
    /* All of QIWI's 2,500 messages, counted by the writer over 17 or more
     * transactions into one 10-minute bucket; 5 distinct recipients. */
    CHECK_EQ_INT(store_sender_stats(s, "QIWI", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 2500);
    CHECK_EQ_INT(ss.allowed, 2500);
    CHECK(!ss.capped);
    CHECK_EQ_INT(ss.recipients, 5);
    CHECK_EQ_INT(ss.buckets, 1);
    CHECK_EQ_INT(ss.first_bucket_us, 1800000000000000LL);
    CHECK_EQ_INT(ss.last_bucket_us, 1800000000000000LL);
    /* `since` inside a bucket counts the whole bucket; after it, nothing. */
    CHECK_EQ_INT(store_sender_stats(s, "QIWI", 1800000000000000LL + 4000, &ss), 0);
    CHECK_EQ_INT(ss.total, 2500);
    CHECK_EQ_INT(store_sender_stats(s, "QIWI", 1800000000000000LL + STORE_SENDER_BUCKET_US, &ss), 0);
    CHECK_EQ_INT(ss.total, 0);
    CHECK_EQ_INT(ss.buckets, 0);
    CHECK_EQ_INT(ss.first_bucket_us, 0);
    int64_t latest = 0;
    CHECK_EQ_INT(store_sender_latest(s, "QIWI", &latest), 0);
    CHECK_EQ_INT(latest, 1800000000000000LL + N - 1);
    CHECK_EQ_INT(store_sender_latest(s, "NOBODY", &latest), SG_ENOTFOUND);
    CHECK_EQ_INT(store_timeline(s, &(struct store_timeline_query){0}, tl_cb, &t), SG_EINVAL);

    /* No digit of any code is in the database. */
    sqlite3 *db;
    sqlite3_stmt *stq;
    sqlite3_open(dbpath, &db);
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM message_log WHERE snippet GLOB '*[0-9]*'", -1, &stq, NULL);
    CHECK(sqlite3_step(stq) == SQLITE_ROW && sqlite3_column_int(stq, 0) == 0);
    sqlite3_finalize(stq);
    sqlite3_close(db);

    /* Retention: keep at most 1000 rows, then drop everything older than
     * the newest 100 µs. */
    int64_t del = 0;
    CHECK_EQ_INT(store_msglog_prune(s, 0, 1000, &del), 0);
    CHECK_EQ_INT(del, N - 1000);
    CHECK_EQ_INT(store_msglog_prune(s, 1800000000000000LL + N - 100, 0, &del), 0);
    CHECK_EQ_INT(del, 900);
    /* The bucket still holds rows, so its counts stay whole. */
    CHECK_EQ_INT(store_sender_stats(s, "QIWI", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 2500);
    store_close(s);

    /* A new writer continues the ids (links) after the existing rows. */
    m = msglog_new(dbpath, NULL, err);
    CHECK(m != NULL);
    int64_t link = 0;
    struct msglog_row row = {.ts_us = 1, .dest_addr = "79120000001", .action = "block"};
    CHECK_EQ_INT(msglog_submit(m, &row, &link), 0);
    CHECK_EQ_INT(link, links[N - 1] + 1);
    msglog_free(m); /* free flushes */
    s = open_db();
    t = (struct tl){.ordered = 1};
    store_timeline(s, &(struct store_timeline_query){.msisdn = "79120000001", .until_us = 2}, tl_cb, &t);
    CHECK_EQ_INT(t.n, 1);
    store_close(s);
}

/* Compares sender_stats with a recount from message_log (exact counts;
 * distinct recipients exact too at these sizes: the writer's pair table is
 * far from full).  Returns the number of (sender, bucket) rows that differ,
 * plus the rows missing on either side. */
static int64_t stats_mismatches(const char *path)
{
    return sql_count(path,
        "WITH r AS (SELECT source_addr AS sender, ts - ts % 600000000 AS bucket, COUNT(*) AS total,"
        " SUM(action = 'allow') AS allowed, SUM(action = 'flag') AS flagged,"
        " SUM(action = 'block') AS blocked, COUNT(DISTINCT dest_addr) AS recipients"
        " FROM message_log WHERE source_addr IS NOT NULL GROUP BY 1, 2)"
        " SELECT (SELECT COUNT(*) FROM r LEFT JOIN sender_stats s USING (sender, bucket)"
        "  WHERE s.total IS NOT r.total OR s.allowed IS NOT r.allowed"
        "  OR s.flagged IS NOT r.flagged OR s.blocked IS NOT r.blocked"
        "  OR s.recipients IS NOT r.recipients)"
        " + (SELECT COUNT(*) FROM sender_stats s LEFT JOIN r USING (sender, bucket)"
        "  WHERE r.total IS NULL)");
}

/* Sender statistics kept by the writer (schema 3): counts per 10-minute
 * bucket equal a recount from the rows, across many small transactions and
 * one with more distinct senders than the writer aggregates at once; rows
 * without a sender are not counted; the 2 -> 3 migration computes the same
 * table from the rows; retention takes the buckets the log left. */
static void test_sender_stats(void)
{
    char path[320], err[256];
    const int64_t B = STORE_SENDER_BUCKET_US, base = 1800000000000000LL; /* a bucket start */
    snprintf(path, sizeof path, "%s/stats.db", dir);

    /* 1. Small transactions: three buckets, three actions, NULL and empty
     * senders, a sender in all three buckets. */
    struct msglog_config cfg = {.queue_capacity = 256, .batch_max = 50, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    static const char *const actions[] = {"allow", "flag", "block"};
    for (int i = 0; i < 3000; i++) {
        char src[16], dest[16];
        snprintf(src, sizeof src, "S%d", i % 7);
        snprintf(dest, sizeof dest, "7912%07d", (i * 13) % 40);
        struct msglog_row row = {.ts_us = base + (i / 1000) * B + i, .action = actions[i % 3],
                                 .source_addr = i % 50 == 0 ? NULL : i % 50 == 1 ? "" : src,
                                 .dest_addr = dest};
        CHECK_EQ_INT(msglog_submit(m, &row, NULL), 0);
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.stats_failed, 0);
    CHECK(st.batches >= 3000 / 50);
    msglog_free(m);
    CHECK_EQ_INT(stats_mismatches(path), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sender_stats"), 7 * 3);
    CHECK_EQ_INT(sql_count(path, "SELECT SUM(total) FROM sender_stats"), 3000 - 2 * 3000 / 50);

    store_t *s = NULL;
    char serr[STORE_ERRBUF_SIZE];
    CHECK_EQ_INT(store_open(&s, path, STORE_OPEN_CREATE, serr), 0);
    if (!s)
        return;
    struct store_sender_stats ss;
    CHECK_EQ_INT(store_sender_stats(s, "S3", 0, &ss), 0);
    CHECK_EQ_INT(ss.buckets, 3);
    CHECK_EQ_INT(ss.total, ss.allowed + ss.flagged + ss.blocked);
    CHECK_EQ_INT(ss.first_bucket_us, base);
    CHECK_EQ_INT(ss.last_bucket_us, base + 2 * B);
    int64_t all = ss.total;
    CHECK_EQ_INT(store_sender_stats(s, "S3", base + B + 1, &ss), 0);
    CHECK_EQ_INT(ss.buckets, 2);
    CHECK_EQ_INT(ss.first_bucket_us, base + B);
    CHECK(ss.total < all && ss.total > 0);
    CHECK_EQ_INT(store_sender_stats(s, "", 0, &ss), 0);
    CHECK_EQ_INT(ss.total, 0); /* stored as NULL: no sender */
    store_close(s);

    /* 2. One large transaction with 20,000 distinct senders in a bucket of
     * its own: more than the writer aggregates at once (it writes early
     * and goes on), same result. */
    cfg = (struct msglog_config){.queue_capacity = 32768, .batch_max = 100000, .block_when_full = 1};
    m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    for (int i = 0; i < 40000; i++) {
        char src[16];
        snprintf(src, sizeof src, "X%05d", i % 20000);
        struct msglog_row row = {.ts_us = base + 3 * B + i, .action = "block", .source_addr = src,
                                 .dest_addr = "79120000001"};
        CHECK_EQ_INT(msglog_submit(m, &row, NULL), 0);
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.stats_failed, 0);
    msglog_free(m);
    CHECK_EQ_INT(stats_mismatches(path), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sender_stats WHERE bucket = 1800001800000000"), 20000);

    /* 3. The 2 -> 3 migration computes the same table from the rows. */
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK_EQ_INT(downgrade_to_v3(db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TABLE keep AS SELECT * FROM sender_stats;"
                                  "DROP TABLE sender_stats; PRAGMA user_version = 2;",
                              NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(store_open(&s, path, STORE_OPEN_CREATE, serr), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(stats_mismatches(path), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM (SELECT * FROM keep EXCEPT"
                                 " SELECT * FROM sender_stats)"), 0);

    /* 4. Retention: rows older than bucket 2 go; buckets 0 and 1 with them,
     * bucket 2 (the oldest row left) and 3 stay. */
    int64_t del = 0;
    CHECK_EQ_INT(store_msglog_prune(s, base + 2 * B + 5, 0, &del), 0);
    CHECK(del >= 2000);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sender_stats WHERE bucket < 1800001200000000"), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sender_stats WHERE bucket = 1800001200000000"), 7);
    CHECK_EQ_INT(store_sender_stats(s, "S3", 0, &ss), 0);
    CHECK_EQ_INT(ss.buckets, 1);
    /* Everything gone: no statistics either. */
    CHECK_EQ_INT(store_msglog_prune(s, base + 10 * B, 0, &del), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log"), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sender_stats"), 0);
    store_close(s);
}

static void test_meta(store_t *s)
{
    char buf[64];
    CHECK_EQ_INT(store_meta_set(s, "rules_hash", "abc"), 0);
    CHECK_EQ_INT(store_meta_set(s, "rules_hash", "def"), 0);
    CHECK_EQ_INT(store_meta_get(s, "rules_hash", buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "def");
    CHECK_EQ_INT(store_meta_set(s, "rules_hash", NULL), 0);
    CHECK_EQ_INT(store_meta_get(s, "rules_hash", buf, sizeof buf), SG_ENOTFOUND);
}

/* ---- message-log updates: folded, set-wise, earlier batch, unknown ---- */

/* The update columns of message_log, one row per line, for comparison. */
static void dump_updates(const char *path, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t o = 0;
    out[0] = '\0';
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db,
                       "SELECT id, quote(message_id), quote(smsc_status), quote(smsc_resp_ts),"
                       " quote(receipt_stat), quote(receipt_err), quote(receipt_ts)"
                       " FROM message_log ORDER BY id",
                       -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW && o + 200 < cap)
        o += (size_t)snprintf(out + o, cap - o, "%lld %s %s %s %s %s %s\n",
                              (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
                              sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                              sqlite3_column_text(st, 4), sqlite3_column_text(st, 5),
                              sqlite3_column_text(st, 6));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The reference: each row's INSERT and each update's UPDATE, one statement
 * at a time in call order (the writer's behaviour before updates were
 * folded and run set-wise). */
struct ref {
    sqlite3 *db;
    sqlite3_stmt *ins, *resp, *rcpt;
};

static void ref_open(struct ref *r, const char *path)
{
    store_t *s = NULL;
    char err[STORE_ERRBUF_SIZE];
    CHECK_EQ_INT(store_open(&s, path, STORE_OPEN_CREATE, err), 0);
    store_close(s);
    sqlite3_open(path, &r->db);
    /* The reference finds receipts' rows by a text index, as schema 3 did. */
    sqlite3_exec(r->db, "CREATE INDEX ref_message_id ON message_log (message_id)", NULL, NULL,
                 NULL);
    sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(r->db, "INSERT INTO message_log (id, ts, account, action, message_id)"
                              " VALUES (?1, ?2, ?3, 'allow', ?4)", -1, &r->ins, NULL);
    sqlite3_prepare_v2(r->db, "UPDATE message_log SET message_id = COALESCE(message_id, ?2),"
                              " smsc_status = CASE WHEN smsc_status IS NULL OR smsc_status = 0"
                              " THEN ?3 ELSE smsc_status END, smsc_resp_ts = ?4 WHERE id = ?1",
                       -1, &r->resp, NULL);
    sqlite3_prepare_v2(r->db, "UPDATE message_log SET receipt_stat = ?2, receipt_err = ?3,"
                              " receipt_ts = ?4 WHERE message_id = ?1 AND (?5 IS NULL OR account = ?5)",
                       -1, &r->rcpt, NULL);
}

static void ref_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void ref_run(sqlite3_stmt *st)
{
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_reset(st);
}

static void ref_close(struct ref *r)
{
    sqlite3_finalize(r->ins);
    sqlite3_finalize(r->resp);
    sqlite3_finalize(r->rcpt);
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(r->db);
}

/* Random rows and updates with few message_ids and accounts, so that
 * updates collide every way: several responses for one row, receipts
 * before the response that gives the message_id, one message_id on
 * several rows and accounts, links not yet written and unknown, rows of
 * earlier batches (flushes, small rings).  The writer's table must equal
 * the reference's. */
static void msglog_diff_run(unsigned seed, size_t ring, size_t batch, int nops)
{
    char path[320], rpath[320], err[256];
    snprintf(path, sizeof path, "%s/diff-%u.db", dir, seed);
    snprintf(rpath, sizeof rpath, "%s/diff-%u-ref.db", dir, seed);
    struct msglog_config cfg = {.queue_capacity = ring, .batch_max = batch, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    struct ref r;
    ref_open(&r, rpath);
    static const char *const accts[] = {NULL, "a", "b"};
    static const char *const stats[] = {"DELIVRD", "UNDELIV", "", "EXPIRED"};
    static const uint32_t statuses[] = {0, 0, 0, 0x45, 0x58};
    uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
    int64_t last = 0;
    uint64_t nupd = 0;
    for (int op = 0; op < nops; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned k = (unsigned)(x % 100);
        char mid[16];
        snprintf(mid, sizeof mid, "M%u", (unsigned)(x >> 20) % 40);
        int64_t ts = 1800000000000000LL + op;
        if (k < 40 || last == 0) {
            const char *acct = accts[(x >> 8) % 3];
            int with_mid = (x >> 12) % 8 == 0;
            struct msglog_row row = {.ts_us = ts, .account = acct, .action = "allow",
                                     .message_id = with_mid ? mid : NULL};
            CHECK_EQ_INT(msglog_submit(m, &row, &last), 0);
            sqlite3_bind_int64(r.ins, 1, last);
            sqlite3_bind_int64(r.ins, 2, ts);
            ref_text(r.ins, 3, acct);
            ref_text(r.ins, 4, with_mid ? mid : NULL);
            ref_run(r.ins);
        } else if (k < 75) {
            /* Mostly a recent row; sometimes an old one, the next one (not
             * written yet) or one that never exists. */
            unsigned w = (unsigned)(x >> 30) % 16;
            int64_t link = w < 10 ? last - (int64_t)((x >> 40) % 4)
                           : w < 13 ? 1 + (int64_t)((x >> 40) % (uint64_t)last)
                           : w < 15 ? last + 1
                                    : 1000000000;
            if (link < 1)
                link = 1;
            const char *rmid = (x >> 50) % 6 == 0 ? NULL : mid;
            uint32_t status = statuses[(x >> 44) % 5];
            CHECK_EQ_INT(msglog_update_response(m, link, rmid, status, ts), 0);
            sqlite3_bind_int64(r.resp, 1, link);
            ref_text(r.resp, 2, rmid);
            sqlite3_bind_int64(r.resp, 3, status);
            sqlite3_bind_int64(r.resp, 4, ts);
            ref_run(r.resp);
            nupd++;
        } else if (k < 99) {
            const char *acct = accts[(x >> 8) % 3];
            const char *stat = stats[(x >> 36) % 4];
            const char *e = (x >> 40) % 2 ? "000" : "001";
            CHECK_EQ_INT(msglog_update_receipt(m, mid, acct, stat, e, ts), 0);
            sqlite3_bind_text(r.rcpt, 1, mid, -1, SQLITE_TRANSIENT);
            ref_text(r.rcpt, 2, stat);
            ref_text(r.rcpt, 3, e);
            sqlite3_bind_int64(r.rcpt, 4, ts);
            ref_text(r.rcpt, 5, acct);
            ref_run(r.rcpt);
            nupd++;
        } else {
            CHECK_EQ_INT(msglog_flush(m), 0); /* rows of an earlier batch */
        }
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.updates, nupd);
    CHECK_EQ_INT(st.failed, 0);
    msglog_free(m);
    ref_close(&r);

    CHECK_MSG(mid_key_mismatches(path) == 0, "seed %u: message_id key table out of step", seed);
    static char a[4 << 20], b[4 << 20];
    dump_updates(path, a, sizeof a);
    dump_updates(rpath, b, sizeof b);
    CHECK(a[0] != '\0');
    if (strcmp(a, b) != 0) {
        size_t i = 0;
        while (a[i] == b[i])
            i++;
        while (i > 0 && a[i - 1] != '\n')
            i--;
        CHECK_MSG(0, "seed %u: writer and reference differ at\n  writer: %.80s\n  ref:    %.80s",
                  seed, a + i, b + i);
    }
}

/* Each path on its own, with the stats that say which one ran. */
static void test_msglog_updates(void)
{
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/upd.db", dir);
    struct msglog_config cfg = {.queue_capacity = 4096, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    struct msglog_stats st;
    int64_t l1 = 0, l2 = 0;

    /* Folded: a burst of rows, each followed by its response (two for every
     * third, a rejection then an acceptance) and the previous row's
     * receipt; the writer takes them in few drains, most rows still
     * waiting when their updates come. */
    enum { NB = 3000 };
    static int64_t links[NB];
    for (int i = 0; i < NB; i++) {
        char mid[16];
        struct msglog_row row = {.ts_us = 1800000000000000LL + i, .account = "acc",
                                 .action = "allow"};
        CHECK_EQ_INT(msglog_submit(m, &row, &links[i]), 0);
        snprintf(mid, sizeof mid, "F%d", i);
        CHECK_EQ_INT(msglog_update_response(m, links[i], mid, i % 3 ? 0 : 0x45, 10 + i), 0);
        if (i % 3 == 0)
            CHECK_EQ_INT(msglog_update_response(m, links[i], "other", 0, 20 + i), 0);
        if (i > 0) {
            snprintf(mid, sizeof mid, "F%d", i - 1);
            CHECK_EQ_INT(msglog_update_receipt(m, mid, i % 2 ? "acc" : NULL, "DELIVRD", "000",
                                               30 + i), 0);
        }
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.written, NB);
    CHECK_EQ_INT(st.updates, NB + NB / 3 + NB - 1);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_MSG(st.folded > 0, "no update was folded (%llu)", (unsigned long long)st.folded);
    uint64_t folded0 = st.folded;
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE message_id = 'F' || (id - 1)"
                                 " AND smsc_status = CASE WHEN (id - 1) % 3 THEN 0 ELSE 69 END"
                                 " AND smsc_resp_ts = CASE WHEN (id - 1) % 3 THEN 9 ELSE 19 END + id"),
                 NB);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE receipt_stat = 'DELIVRD'"
                                 " AND receipt_err = '000' AND receipt_ts = 30 + id"),
                 NB - 1);

    /* Rows of an earlier batch: the updates go set-wise. */
    struct msglog_row row = {.ts_us = 1800000000000000LL + NB, .account = "acc2", .action = "flag"};
    CHECK_EQ_INT(msglog_submit(m, &row, &l1), 0);
    CHECK_EQ_INT(msglog_submit(m, &row, &l2), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "E1", NULL, "UNDELIV", "001", 1), 0); /* before its id */
    CHECK_EQ_INT(msglog_update_response(m, l1, NULL, 0, 2), 0);
    CHECK_EQ_INT(msglog_update_response(m, l1, "E1", 0x58, 3), 0);
    CHECK_EQ_INT(msglog_update_response(m, l1, "E1b", 0, 4), 0); /* first id, status stick */
    CHECK_EQ_INT(msglog_update_response(m, l2, "E2", 0, 5), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "E1", "acc2", "ACCEPTD", "002", 6), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "E1", "acc2", "DELIVRD", "000", 7), 0); /* last wins */
    CHECK_EQ_INT(msglog_update_receipt(m, "E2", "nobody", "DELIVRD", "000", 8), 0); /* account */
    /* Unknown: a link never given out, a message_id no row carries. */
    CHECK_EQ_INT(msglog_update_response(m, l2 + 1000, "E9", 0x45, 9), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "NOPE", NULL, "DELIVRD", "000", 10), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.folded, folded0);
    CHECK_EQ_INT(st.updates, NB + NB / 3 + NB - 1 + 10);
    CHECK_EQ_INT(st.failed, 0);
    char q[256];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM message_log WHERE id = %lld AND message_id = 'E1'"
             " AND smsc_status = 88 AND smsc_resp_ts = 4 AND receipt_stat = 'DELIVRD'"
             " AND receipt_err = '000' AND receipt_ts = 7", (long long)l1);
    CHECK_EQ_INT(sql_count(path, q), 1);
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM message_log WHERE id = %lld AND message_id = 'E2'"
             " AND smsc_status = 0 AND receipt_stat IS NULL", (long long)l2);
    CHECK_EQ_INT(sql_count(path, q), 1);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE message_id IN ('E9', 'NOPE')"
                                 " OR receipt_stat = 'UNDELIV'"), 0);
    msglog_free(m);

    /* Every path mixed, against the one-statement-per-update reference:
     * tiny rings and batches (many drains, rows of earlier batches), a
     * large ring (long drains, most updates folded). */
    msglog_diff_run(1, 16, 7, 6000);
    msglog_diff_run(2, 64, 100, 20000);
    msglog_diff_run(3, 4096, 100000, 30000);
    msglog_diff_run(4, 256, 1000, 20000);
}


/* ---- message_id keys (schema 4) ------------------------------------------ */

/* Finds two prefixes whose keys collide (same 15-bit hash): "q<i>-" and
 * "q<j>-".  Birthday bound: a few hundred tries. */
static int find_prefix_collision(char *p1, char *p2, size_t cap)
{
    static int seen[1 << 15];
    memset(seen, -1, sizeof seen);
    for (int i = 0; i < 20000; i++) {
        char b[32];
        snprintf(b, sizeof b, "q%d-7", i);
        int h = (int)(store_mid_key(b) >> 48);
        if (seen[h] >= 0) {
            snprintf(p1, cap, "q%d-7", seen[h]);
            snprintf(p2, cap, "q%d-7", i);
            return 1;
        }
        seen[h] = i;
    }
    return 0;
}

/* The key function, and receipts on message_ids that share a key: each
 * reaches its own rows only, folded into a waiting row or set-wise on rows
 * of an earlier transaction, with and without an account; a response that
 * gives a row of an earlier transaction its message_id gives it a key-table
 * entry too. */
static void test_msglog_mid_keys(void)
{
    /* The key: counters ascend, whatever their base and prefix. */
    CHECK_EQ_INT(store_mid_key(NULL), 0);
    CHECK_EQ_INT(store_mid_key(""), 0);
    CHECK(store_mid_key("0") >= (1LL << 48));
    CHECK(store_mid_key("m9") < store_mid_key("m10"));
    CHECK(store_mid_key("m99999") < store_mid_key("m100000"));
    CHECK(store_mid_key("999") + 1 < store_mid_key("1000"));
    CHECK_EQ_INT(store_mid_key("0001a2f4") - store_mid_key("0001a2f3"), 1);
    CHECK_EQ_INT(store_mid_key("MSG00018") - store_mid_key("MSG00017"), 1);
    CHECK_EQ_INT(store_mid_key("x0042"), store_mid_key("x42"));
    CHECK_EQ_INT(store_mid_key("ABC"), store_mid_key("abc"));
    CHECK(store_mid_key("x42") != store_mid_key("y42"));
    /* 13 trailing hex digits: the first joins the prefix. */
    CHECK(store_mid_key("1000000000000") != store_mid_key("2000000000000"));
    CHECK_EQ_INT(store_mid_key("1000000000000") & ((1LL << 48) - 1), 0);
    /* A UUID: random, but a key. */
    CHECK(store_mid_key("550e8400-e29b-41d4-a716-446655440000") > 0);

    char c1[32], c2[32];
    CHECK(find_prefix_collision(c1, c2, sizeof c1));
    CHECK_EQ_INT(store_mid_key(c1), store_mid_key(c2));
    CHECK(strcmp(c1, c2) != 0);

    char path[320], err[256], q[320];
    snprintf(path, sizeof path, "%s/midkeys.db", dir);
    struct msglog_config cfg = {.queue_capacity = 1024, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    /* Groups of message_ids that share a key, each on two accounts. */
    const char *ids[] = {"x0042", "x42", "ABC", "abc", c1, c2};
    enum { NI = 6 };
    int64_t link[NI][2];
    for (int i = 0; i < NI; i++)
        for (int a = 0; a < 2; a++) {
            struct msglog_row row = {.ts_us = 1800000000000000LL + i * 2 + a,
                                     .account = a ? "acc1" : "acc0", .action = "allow",
                                     .dest_addr = "79120000001"};
            CHECK_EQ_INT(msglog_submit(m, &row, &link[i][a]), 0);
            /* Half with the row (folded), half for the rows of an earlier
             * transaction (set-wise, after the flush below). */
            if (i % 2 == 0)
                CHECK_EQ_INT(msglog_update_response(m, link[i][a], ids[i], 0, 1), 0);
        }
    /* Folded or not (the writer decides by what its drain holds), the
     * receipt of one id of a group reaches its rows only. */
    CHECK_EQ_INT(msglog_update_receipt(m, "x0042", NULL, "R0", "0", 10), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    for (int i = 1; i < NI; i += 2)
        for (int a = 0; a < 2; a++)
            CHECK_EQ_INT(msglog_update_response(m, link[i][a], ids[i], 0, 2), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
    /* Set-wise: every row is in the table. */
    CHECK_EQ_INT(msglog_update_receipt(m, "x42", "acc1", "R1", "1", 11), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "abc", NULL, "R3", "3", 13), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, c1, "acc0", "R4", "4", 14), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, c2, NULL, "R5", "5", 15), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "X42", NULL, "RX", "9", 19), 0); /* no such id */
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.failed, 0);
    msglog_free(m);
    /* Expected receipt per (id, account); NULL = none. */
    static const char *const want[NI][2] = {
        {"R0", "R0"}, {NULL, "R1"}, {NULL, NULL}, {"R3", "R3"}, {"R4", NULL}, {"R5", "R5"}};
    for (int i = 0; i < NI; i++)
        for (int a = 0; a < 2; a++) {
            snprintf(q, sizeof q, "SELECT COUNT(*) FROM message_log WHERE id = %lld"
                     " AND message_id = '%s' AND receipt_stat IS %s%s%s",
                     (long long)link[i][a], ids[i], want[i][a] ? "'" : "",
                     want[i][a] ? want[i][a] : "NULL", want[i][a] ? "'" : "");
            CHECK_MSG(sql_count(path, q) == 1, "%s (account %d): receipt not %s", ids[i], a,
                      want[i][a] ? want[i][a] : "none");
        }
    /* Three keys for six ids; each key on its four rows. */
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(DISTINCT mid_key) FROM message_log_mid"), 3);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_mid"), 2 * NI);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);

    /* 3 -> 4 on these rows: the schema 3 text index goes, the keys come
     * back the same, and receipts still find their rows. */
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TABLE keep AS SELECT id, mid_key FROM message_log",
                              NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(downgrade_to_v3(db), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(sql_count(path, "PRAGMA user_version"), 3);
    m = msglog_new(path, &cfg, err); /* opens the store: migrates */
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    CHECK_EQ_INT(sql_count(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sqlite_schema"
                                 " WHERE name = 'message_log_message_id'"), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log m JOIN keep k USING (id)"
                                 " WHERE m.mid_key IS NOT k.mid_key"), 0);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, "ABC", "acc1", "R2", "2", 12), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_free(m);
    snprintf(q, sizeof q,
             "SELECT COUNT(*) FROM message_log WHERE receipt_stat = 'R2' AND id = %lld",
             (long long)link[2][1]);
    CHECK_EQ_INT(sql_count(path, q), 1);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE receipt_stat = 'R2'"), 1);
    /* Retention takes the key-table entries along. */
    store_t *s = NULL;
    char serr[STORE_ERRBUF_SIZE];
    CHECK_EQ_INT(store_open(&s, path, STORE_OPEN_CREATE, serr), 0);
    int64_t del = 0;
    CHECK_EQ_INT(store_msglog_prune(s, 0, 5, &del), 0);
    CHECK_EQ_INT(del, 2 * NI - 5);
    store_close(s);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_mid"), 5);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
}

/* A multi-row INSERT that stops on a constraint (OR FAIL) keeps the rows
 * before the failing one: the writer counts them as written and gives them
 * their key-table entries and statistics; the rest are counted failed.  A
 * row with an id the writer is about to give out, written behind its back,
 * makes the conflict. */
static void test_msglog_partial_failure(void)
{
    char path[320], err[256], q[256];
    snprintf(path, sizeof path, "%s/partial.db", dir);
    struct msglog_config cfg = {.queue_capacity = 4096, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    int64_t first = 0;
    struct msglog_row row = {.ts_us = 1800000000000000LL, .action = "allow",
                             .dest_addr = "79120000001", .source_addr = "S"};
    CHECK_EQ_INT(msglog_submit(m, &row, &first), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    sqlite3 *db;
    sqlite3_open(path, &db);
    snprintf(q, sizeof q, "INSERT INTO message_log (id, ts, action) VALUES (%lld, 0, 'x')",
             (long long)first + 7);
    CHECK_EQ_INT(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    enum { NR = 64 };
    for (int i = 0; i < NR; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "P%d", i);
        row.ts_us = 1800000000000001LL + i;
        row.message_id = mid;
        CHECK_EQ_INT(msglog_submit(m, &row, NULL), 0);
    }
    CHECK_EQ_INT(msglog_flush(m), SG_EDB);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    msglog_free(m);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "partial failure: written %llu failed %llu\n",
                (unsigned long long)st.written, (unsigned long long)st.failed);
    CHECK(st.failed >= 1 && st.failed <= 16 /* ROW_CHUNK: one statement's rows */);
    CHECK_EQ_INT(st.written + st.failed, 1 + NR);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE action = 'allow'"),
                 st.written);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE action = 'x'"), 1);
    /* Every row in the table has its entries, and no entry lacks its row. */
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_dest"), st.written);
    CHECK_EQ_INT(sender_list_entries(path), st.written);
    CHECK_EQ_INT(sender_list_mismatches(path, NULL), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_mid"), st.written - 1);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log m WHERE action = 'allow'"
                                 " AND NOT EXISTS (SELECT 1 FROM message_log_dest k"
                                 " WHERE k.id = m.id)"), 0);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT SUM(total) FROM sender_stats"), st.written);
}

struct id_list {
    int64_t id[512];
    int n;
};

static int id_list_cb(void *arg, const struct store_msg_row *r)
{
    struct id_list *x = arg;
    if (x->n < 512)
        x->id[x->n++] = r->id;
    return 0;
}

/* A sender's page and latest time from the store against the same
 * question asked of message_log directly; the number of differences. */
static int sender_answers_differ(store_t *s, const char *path, const char *sender,
                                 int64_t since, int limit)
{
    struct id_list got = {0};
    sqlite3 *db;
    sqlite3_stmt *st;
    int differ = 0, n = 0;
    int64_t latest = 0, want_latest = 0;

    differ += store_sender_messages(s, sender, since, limit, id_list_cb, &got) != 0;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT id FROM message_log WHERE source_addr = ?1 AND ts >= ?2"
                           " ORDER BY ts DESC, id DESC LIMIT ?3", -1, &st, NULL);
    sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_int(st, 3, limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        differ += n >= got.n || got.id[n] != sqlite3_column_int64(st, 0);
        n++;
    }
    differ += n != got.n;
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT MAX(ts) FROM message_log WHERE source_addr = ?1", -1, &st,
                       NULL);
    sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        want_latest = sqlite3_column_int64(st, 0); /* NULL: 0 */
    sqlite3_finalize(st);
    sqlite3_close(db);
    int rc = store_sender_latest(s, sender, &latest);
    differ += want_latest ? rc != 0 || latest != want_latest : rc != SG_ENOTFOUND;
    return differ;
}

static int all_sender_answers_differ(store_t *s, const char *path)
{
    static const char *const senders[] = {"BANK", "SHOP", "79001234567", "NOBODY"};
    static const int64_t since[] = {0, 1800000000002500LL, 1800000000004990LL};
    static const int limits[] = {1, 3, 20, 500};
    int differ = 0;
    for (size_t a = 0; a < sizeof senders / sizeof *senders; a++)
        for (size_t b = 0; b < sizeof since / sizeof *since; b++)
            for (size_t c = 0; c < sizeof limits / sizeof *limits; c++) {
                int d = sender_answers_differ(s, path, senders[a], since[b], limits[c]);
                CHECK_MSG(d == 0, "%s since %lld limit %d: %d differences", senders[a],
                          (long long)since[b], limits[c], d);
                differ += d;
            }
    return differ;
}

/* Sender lookups through the posting lists (schema 5): many lists a
 * sender (small transactions), times out of id order, rows deleted behind
 * the lists' back, the 4 -> 5 migration of the same rows, and retention;
 * every answer as message_log gives it directly. */
static void test_sender_lists(void)
{
    char path[320], err[256], serr[STORE_ERRBUF_SIZE];
    static const char *const senders[] = {"BANK", "SHOP", "79001234567"};
    snprintf(path, sizeof path, "%s/senderlists.db", dir);
    struct msglog_config cfg = {.queue_capacity = 64, .batch_max = 700, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    for (int i = 0; i < 5000; i++) {
        /* Every seventh row 3 us early, so a list's times go back now and
         * then, and equal times meet across rows. */
        struct msglog_row row = {.ts_us = 1800000000000000LL + i - (i % 7 == 0 ? 3 : 0),
                                 .action = "allow", .source_addr = senders[i % 3 == 2 ? 2 : i % 5 == 0],
                                 .dest_addr = "79120000001"};
        CHECK_EQ_INT(msglog_submit(m, &row, NULL), 0);
        if (i % 1000 == 999)
            CHECK_EQ_INT(msglog_flush(m), 0);
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    /* Late rows (another link's traffic, logged after): their list's
     * times fall inside the newest lists' ranges, so the newest rows of a
     * sender come from two lists. */
    for (int i = 0; i < 60; i++) {
        struct msglog_row row = {.ts_us = 1800000000004999LL - 2 * i, .action = "flag",
                                 .source_addr = senders[i % 3], .dest_addr = "79120000002"};
        CHECK_EQ_INT(msglog_submit(m, &row, NULL), 0);
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_free(m);
    CHECK_EQ_INT(sender_list_mismatches(path, NULL), 0);
    CHECK(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs") >= 3 * 8);

    store_t *s = NULL;
    CHECK_EQ_INT(store_open(&s, path, 0, serr), 0);
    if (!s)
        return;
    CHECK_EQ_INT(all_sender_answers_differ(s, path), 0);
    /* Rows deleted: each sender's newest, a run of BANK's, all of SHOP's
     * older half.  The lists keep naming them; the answers skip them. */
    int64_t ndel = sql_count(path, "SELECT COUNT(*) FROM message_log"
                                   " WHERE id IN (SELECT MAX(id) FROM message_log GROUP BY source_addr)"
                                   " OR (source_addr = 'BANK' AND id BETWEEN 4000 AND 4600)"
                                   " OR (source_addr = 'SHOP' AND id < 2500)");
    CHECK(ndel > 600);
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK_EQ_INT(sqlite3_exec(db, "DELETE FROM message_log"
                                  " WHERE id IN (SELECT MAX(id) FROM message_log GROUP BY source_addr)"
                                  " OR (source_addr = 'BANK' AND id BETWEEN 4000 AND 4600)"
                                  " OR (source_addr = 'SHOP' AND id < 2500)", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    int64_t stale = 0;
    CHECK_EQ_INT(sender_list_mismatches(path, &stale), 0);
    CHECK_EQ_INT(stale, ndel);
    CHECK_EQ_INT(all_sender_answers_differ(s, path), 0);
    store_close(s);

    /* 4 -> 5 on these rows: one list per 256 rows of a sender, no stale
     * entries (schema 4's trigger took them along), the same answers. */
    sqlite3_open(path, &db);
    CHECK_EQ_INT(downgrade_to_v4(db), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(store_open(&s, path, STORE_OPEN_CREATE, serr), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_schema_version(s), STORE_SCHEMA_VERSION);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM sqlite_schema"
                                 " WHERE name = 'message_log_source'"), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs"),
                 sql_count(path, "SELECT SUM((n + 255) / 256) FROM (SELECT COUNT(*) AS n"
                                 " FROM message_log WHERE source_key IS NOT NULL"
                                 " GROUP BY source_key)"));
    CHECK_EQ_INT(sender_list_mismatches(path, &stale), 0);
    CHECK_EQ_INT(stale, 0);
    CHECK_EQ_INT(all_sender_answers_differ(s, path), 0);

    /* Retention keeps the newest 1,000 rows: the lists all of whose rows
     * are gone go (none of the migrated ones is), the answers hold. */
    int64_t del = 0;
    CHECK_EQ_INT(store_msglog_prune(s, 0, 1000, &del), 0);
    CHECK(del > 0);
    CHECK_EQ_INT(sender_list_mismatches(path, NULL), 0);
    CHECK_EQ_INT(all_sender_answers_differ(s, path), 0);
    /* All of it: no list is left. */
    CHECK_EQ_INT(store_msglog_prune(s, 0, 0, &del), 0);
    CHECK_EQ_INT(store_msglog_prune(s, INT64_MAX, 0, &del), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log"), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs"), 0);
    CHECK_EQ_INT(all_sender_answers_differ(s, path), 0);
    store_close(s);
}

/* Writes n rows of sender src at ts, ts + 1, ... through a writer of its
 * own; the links in links[] (if not NULL); returns the writer's failed
 * count. */
static uint64_t write_sender_rows(const char *path, const char *src, int n, int64_t ts,
                                  int64_t *links)
{
    char err[256];
    struct msglog_stats st = {0};
    msglog_t *m = msglog_new(path, NULL, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return 1;
    for (int i = 0; i < n; i++) {
        struct msglog_row row = {.ts_us = ts + i, .action = "allow", .source_addr = src,
                                 .dest_addr = "79120000003"};
        CHECK_EQ_INT(msglog_submit(m, &row, links ? &links[i] : NULL), 0);
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_get_stats(m, &st);
    msglog_free(m);
    return st.failed;
}

/* The lists against ids rather than times: retention keeps the list of a
 * row logged late (an older time than the oldest id's bucket), and ids
 * freed by deleting the newest rows are not given again while a list
 * names them (found by review: the lookups gave such rows twice, and the
 * new list collided with the stale one). */
static void test_sender_list_ids(void)
{
    char path[320], serr[STORE_ERRBUF_SIZE];
    const int64_t t = 1800000000000000LL; /* a bucket's start */
    int64_t links[10], del = -1;
    store_t *s = NULL;
    snprintf(path, sizeof path, "%s/senderids.db", dir);

    CHECK_EQ_INT(write_sender_rows(path, "X", 1, t, NULL), 0);
    CHECK_EQ_INT(write_sender_rows(path, "Y", 1, t - 1, NULL), 0); /* logged late */
    CHECK_EQ_INT(store_open(&s, path, 0, serr), 0);
    if (!s)
        return;
    CHECK_EQ_INT(store_msglog_prune(s, 0, 1000, &del), 0);
    CHECK_EQ_INT(del, 0);
    CHECK_EQ_INT(sender_answers_differ(s, path, "Y", 0, 10), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs"), 2);

    /* Ten rows of A (ids 3 to 12), the newest five deleted by hand, five
     * more: ids from 13 on, each row once. */
    CHECK_EQ_INT(write_sender_rows(path, "A", 10, t + 100, links), 0);
    CHECK_EQ_INT(links[0], 3);
    sqlite3 *db;
    sqlite3_open(path, &db);
    CHECK_EQ_INT(sqlite3_exec(db, "DELETE FROM message_log WHERE id > 7", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(write_sender_rows(path, "A", 5, t + 105, links), 0);
    CHECK_EQ_INT(links[0], 13);
    CHECK_EQ_INT(sender_answers_differ(s, path, "A", 0, 50), 0);
    CHECK_EQ_INT(sender_list_mismatches(path, NULL), 0);

    /* All of it pruned: no list is left, and ids start again at 1. */
    CHECK_EQ_INT(store_msglog_prune(s, INT64_MAX, 0, &del), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log"), 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs"), 0);
    CHECK_EQ_INT(write_sender_rows(path, "A", 5, t + 200, links), 0);
    CHECK_EQ_INT(links[0], 1);
    CHECK_EQ_INT(sender_answers_differ(s, path, "A", 0, 50), 0);
    CHECK_EQ_INT(sender_list_mismatches(path, NULL), 0);
    store_close(s);
}

/* The writer, idle inside a long transaction with many key-table entries
 * waiting, writes them before the COMMIT (writer_main): every row must
 * still have exactly one entry in each key table (the senders' lists,
 * which wait for the COMMIT, one each), and receipts that come after the
 * early write must still reach rows written before it. */
static void test_msglog_early_keys(void)
{
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/earlykeys.db", dir);
    struct msglog_config cfg = {.queue_capacity = 65536, .batch_window_ms = 60000, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    const int n1 = 70000, n2 = 10000;
    for (int i = 0; i < n1 + n2; i++) {
        char dest[16], src[16], mid[16];
        snprintf(dest, sizeof dest, "7912%07d", i);
        snprintf(src, sizeof src, "S%03d", i % 500);
        snprintf(mid, sizeof mid, "e%d", i);
        struct msglog_row row = {.ts_us = 1800000000000000LL + i, .action = "allow", .source_addr = src,
                                 .dest_addr = dest};
        int64_t link = 0;
        CHECK_EQ_INT(msglog_submit(m, &row, &link), 0);
        CHECK_EQ_INT(msglog_update_response(m, link, mid, 0, row.ts_us + 1), 0);
        if (i == n1 - 1) {
            /* The writer drains the first rows, finds the ring empty with
             * 70,000 recipient keys waiting and writes them; the 60 s window
             * keeps the transaction open.  Then receipts for those rows. */
            for (int w = 0; w < 200; w++) {
                struct msglog_stats st;
                msglog_get_stats(m, &st);
                if (st.early_keys)
                    break;
                usleep(10000);
            }
            for (int r = 0; r < 100; r++) {
                snprintf(mid, sizeof mid, "e%d", r * 397);
                CHECK_EQ_INT(msglog_update_receipt(m, mid, NULL, "DELIVRD", "000", row.ts_us + 2), 0);
            }
        }
    }
    /* All of it in the one transaction still open: nothing committed. */
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK(st.early_keys >= 1);
    CHECK_EQ_INT(st.batches, 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(st.written, n1 + n2);
    msglog_free(m);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_dest"), n1 + n2);
    CHECK_EQ_INT(sender_list_entries(path), n1 + n2);
    CHECK_EQ_INT(sender_list_mismatches(path, NULL), 0);
    /* The senders' lists wait for the COMMIT: one list a sender. */
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_sender_runs"), 500);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log_mid"), n1 + n2);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log m JOIN message_log_dest d"
                                 " ON d.dest_key = m.dest_key AND d.id = m.id"), n1 + n2);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE receipt_stat = 'DELIVRD'"), 100);
}

/* ---- the ring of variable-size records ------------------------------------ */

/* Row i of test_msglog_ring_wrap: every seventh long (reasons past its
 * bound for some, a snippet with digits past its bound for some), the
 * others tiny.  reasons/snippet: the text submitted; want_*: what the
 * table must hold. */
static void ring_row_text(int i, char *reasons, char *snippet, char *want_reasons,
                          char *want_snippet)
{
    reasons[0] = snippet[0] = want_reasons[0] = want_snippet[0] = '\0';
    if (i % 7)
        return;
    int nr = 300 + i % 250, ns = 100 + i % 120;
    for (int k = 0; k < nr; k++)
        reasons[k] = (char)('a' + (i + k) % 26);
    reasons[nr] = '\0';
    for (int k = 0; k < ns; k++)
        snippet[k] = k % 10 == 3 ? (char)('0' + (i + k) % 10) : 'x';
    snippet[ns] = '\0';
    int nw = nr < MSGLOG_REASONS_MAX ? nr : MSGLOG_REASONS_MAX;
    memcpy(want_reasons, reasons, (size_t)nw);
    want_reasons[nw] = '\0';
    for (int k = 0; k < ns && k < MSGLOG_SNIPPET_MAX; k++)
        want_snippet[k] = snippet[k] >= '0' && snippet[k] <= '9' ? '#' : snippet[k];
    want_snippet[ns < MSGLOG_SNIPPET_MAX ? ns : MSGLOG_SNIPPET_MAX] = '\0';
}

/* A small ring (8 KiB, drains of 8) that wraps hundreds of times with
 * records of very different sizes (rows of about 1 KB between rows and
 * updates of 64 to 100 bytes), so that wraps fall on every kind of record
 * and padding of every length: every row, its response and the receipts
 * come out whole and in order. */
static void test_msglog_ring_wrap(void)
{
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/ringwrap.db", dir);
    struct msglog_config cfg = {.queue_capacity = 8, .batch_max = 500, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    enum { NW = 4000 };
    static char reasons[600], snippet[300], wr[600], ws[300];
    int64_t first = 0;
    uint64_t nupd = 0;
    for (int i = 0; i < NW; i++) {
        char mid[16], dest[16];
        int64_t link = 0;
        ring_row_text(i, reasons, snippet, wr, ws);
        snprintf(dest, sizeof dest, "7912%07d", i % 100);
        struct msglog_row row = {.ts_us = 1800000000000000LL + i, .action = "allow",
                                 .dest_addr = dest, .reasons = reasons[0] ? reasons : NULL,
                                 .snippet = snippet[0] ? snippet : NULL,
                                 .fingerprint = i % 7 ? NULL : "0123456789abcdef0123456789abcdef"};
        CHECK_EQ_INT(msglog_submit(m, &row, &link), 0);
        if (i == 0)
            first = link;
        CHECK_EQ_INT(link, first + i);
        snprintf(mid, sizeof mid, "W%d", i);
        CHECK_EQ_INT(msglog_update_response(m, link, mid, 0, 10 + i), 0);
        nupd++;
        if (i % 2 == 0 && i >= 3) {
            snprintf(mid, sizeof mid, "W%d", i - 3);
            CHECK_EQ_INT(msglog_update_receipt(m, mid, NULL, "DELIVRD", "000", 20 + i), 0);
            nupd++;
        }
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    msglog_free(m);
    CHECK_EQ_INT(st.written, NW);
    CHECK_EQ_INT(st.updates, nupd);
    CHECK_EQ_INT(st.submitted, NW + nupd);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(st.dropped, 0);
    CHECK_EQ_INT(st.queued, 0);
    /* Gone round the 8 KiB ring many times; entries far below a slot. */
    CHECK_MSG(st.submitted_bytes > 100 * 8192, "%llu bytes", (unsigned long long)st.submitted_bytes);
    CHECK(st.submitted_bytes < st.submitted * 300);
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "ring wrap: %llu entries, %llu bytes (%.1f per entry)\n",
                (unsigned long long)st.submitted, (unsigned long long)st.submitted_bytes,
                (double)st.submitted_bytes / (double)st.submitted);

    sqlite3 *db;
    sqlite3_stmt *q;
    int n = 0, bad = 0;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT id, reasons, snippet, message_id, receipt_stat, smsc_resp_ts,"
                           " fingerprint FROM message_log ORDER BY id", -1, &q, NULL);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int i = (int)(sqlite3_column_int64(q, 0) - first);
        char mid[16];
        const char *r = (const char *)sqlite3_column_text(q, 1);
        const char *s = (const char *)sqlite3_column_text(q, 2);
        const char *mi = (const char *)sqlite3_column_text(q, 3);
        const char *rs = (const char *)sqlite3_column_text(q, 4);
        const char *fp = (const char *)sqlite3_column_text(q, 6);
        ring_row_text(i, reasons, snippet, wr, ws);
        snprintf(mid, sizeof mid, "W%d", i);
        int want_rcpt = i < NW - 3 && (i + 3) % 2 == 0;
        if (i != n || strcmp(r ? r : "", wr) != 0 || strcmp(s ? s : "", ws) != 0 ||
            !mi || strcmp(mi, mid) != 0 || (rs != NULL) != want_rcpt ||
            (rs && strcmp(rs, "DELIVRD") != 0) || sqlite3_column_int64(q, 5) != 10 + i ||
            (i % 7 == 0) != (fp != NULL)) {
            if (bad++ < 3)
                CHECK_MSG(0, "ring wrap: row %d (at %d) differs", i, n);
        }
        n++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    CHECK_EQ_INT(n, NW);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
}

/* A full ring drops, and counts exactly what it refused: a producer of
 * rows at their largest (about 1 KB each) into the smallest ring (4 KiB)
 * outruns the writer at once.  Every refusal is SG_ENOSPC and one count
 * in dropped; everything accepted is written. */
static void test_msglog_ring_full(void)
{
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/ringfull.db", dir);
    struct msglog_config cfg = {.queue_capacity = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    static char big[700];
    memset(big, 'r', sizeof big - 1);
    uint64_t rows = 0, upds = 0, refused = 0;
    for (int i = 0; i < 200000 && refused < 200; i++) {
        struct msglog_row row = {.ts_us = 1800000000000000LL + i, .action = "block",
                                 .dest_addr = "79120000001", .reasons = big, .snippet = big};
        int64_t link = 0;
        int rc = msglog_submit(m, &row, &link);
        if (rc == SG_ENOSPC) {
            refused++;
            CHECK_EQ_INT(link, 0);
            continue;
        }
        CHECK_EQ_INT(rc, 0);
        rows++;
        rc = msglog_update_response(m, link, "F", 0, 1);
        CHECK(rc == 0 || rc == SG_ENOSPC);
        if (rc == 0)
            upds++;
        else
            refused++;
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    msglog_free(m);
    CHECK_MSG(refused > 0, "a 4 KiB ring never filled");
    CHECK_EQ_INT(st.dropped, refused);
    CHECK_EQ_INT(st.submitted, rows + upds);
    CHECK_EQ_INT(st.written, rows);
    CHECK_EQ_INT(st.updates, upds);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log"), (int64_t)rows);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE message_id = 'F'"),
                 (int64_t)upds);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE"
                                 " length(CAST(reasons AS BLOB)) = 512 AND length(snippet) = 160"),
                 (int64_t)rows);
}

/* Every string past its bound: cut to the bound (msglog.h), at a UTF-8
 * boundary, in rows and updates; a message_id cut the same way in a
 * response and a receipt still matches, folded and set-wise. */
static void test_msglog_ring_bounds(void)
{
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/ringbounds.db", dir);
    struct msglog_config cfg = {.queue_capacity = 16, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    /* 600 bytes: 'a's, with a two-byte character across each bound. */
    static char s[601], mid[100];
    memset(s, 'a', 600);
    s[600] = '\0';
    static const int bounds[] = {MSGLOG_ACCOUNT_MAX, MSGLOG_ADDR_MAX, MSGLOG_IP_MAX,
                                 MSGLOG_ACTION_MAX, MSGLOG_FP_MAX,   MSGLOG_REASONS_MAX};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        s[bounds[b]] = (char)0xC3; /* é: its second byte would be past the bound */
        s[bounds[b] + 1] = (char)0xA9;
    }
    memset(mid, 'M', 90);
    mid[90] = '\0';
    mid[MSGLOG_MSGID_MAX - 1] = (char)0xC3; /* é across the bound: cut before it */
    mid[MSGLOG_MSGID_MAX] = (char)0xA9;
    int64_t l1 = 0, l2 = 0;
    struct msglog_row row = {.ts_us = 1800000000000000LL, .account = s, .source_addr = s,
                             .dest_addr = s, .src_ip = s, .action = s, .reasons = s,
                             .fingerprint = s, .snippet = s, .parts = 3, .score = 77,
                             .source_ton = 5, .enforced = 1};
    CHECK_EQ_INT(msglog_submit(m, &row, &l1), 0);
    CHECK_EQ_INT(msglog_update_response(m, l1, mid, 0x45, 5), 0); /* folded, likely */
    row.message_id = mid;                                           /* its own, cut */
    CHECK_EQ_INT(msglog_submit(m, &row, &l2), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    /* Set-wise, on rows of an earlier transaction: the cut id matches. */
    CHECK_EQ_INT(msglog_update_receipt(m, mid, s, "DELIVRD-LONG", "0123456789", 6), 0);
    CHECK_EQ_INT(msglog_update_receipt(m, mid, NULL, "DELIVRD-LONG", "0123456789", 7), 0);
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(st.updates, 3);
    msglog_free(m);
    char q[1024];
    snprintf(q, sizeof q,
             "SELECT COUNT(*) FROM message_log WHERE length(CAST(account AS BLOB)) = %d"
             " AND length(CAST(source_addr AS BLOB)) = %d AND length(CAST(dest_addr AS BLOB)) = %d"
             " AND length(CAST(src_ip AS BLOB)) = %d AND length(CAST(action AS BLOB)) = %d"
             " AND length(CAST(fingerprint AS BLOB)) = %d AND length(CAST(reasons AS BLOB)) = %d"
             " AND snippet = '%.*s' AND length(CAST(message_id AS BLOB)) = %d"
             " AND message_id NOT GLOB '*[^M]*' AND parts = 3 AND score = 77"
             " AND source_ton = 5 AND enforced = 1 AND receipt_stat = 'DELIVRD-'"
             " AND receipt_err = '01234567' AND receipt_ts = 7",
             MSGLOG_ACCOUNT_MAX, MSGLOG_ADDR_MAX, MSGLOG_ADDR_MAX, MSGLOG_IP_MAX,
             MSGLOG_ACTION_MAX, MSGLOG_FP_MAX, MSGLOG_REASONS_MAX, MSGLOG_SNIPPET_MAX, s,
             MSGLOG_MSGID_MAX - 1);
    CHECK_EQ_INT(sql_count(path, q), 2);
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM message_log WHERE id = %lld AND smsc_status = 69"
             " AND smsc_resp_ts = 5", (long long)l1);
    CHECK_EQ_INT(sql_count(path, q), 1);
    CHECK_EQ_INT(mid_key_mismatches(path), 0);
}

/* Several producers (multi_producer): each record is claimed, filled and
 * published under the producer lock, so rows and their responses from
 * four threads all arrive whole, each response with its own row. */
struct ring_thread_arg {
    msglog_t *m;
    int t, fails;
};

static void *ring_thread(void *p)
{
    struct ring_thread_arg *a = p;
    for (int i = 0; i < 3000; i++) {
        char dest[16], mid[20];
        int64_t link = 0;
        snprintf(dest, sizeof dest, "79%d%08d", a->t, i);
        snprintf(mid, sizeof mid, "T%s", dest);
        struct msglog_row row = {.ts_us = 1800000000000000LL + i, .action = "allow",
                                 .dest_addr = dest, .reasons = i % 3 ? NULL : dest};
        if (msglog_submit(a->m, &row, &link) != 0 ||
            msglog_update_response(a->m, link, mid, 0, 1) != 0)
            a->fails++;
    }
    return NULL;
}

static void test_msglog_ring_threads(void)
{
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/ringthreads.db", dir);
    struct msglog_config cfg = {.queue_capacity = 8, .multi_producer = 1, .block_when_full = 1};
    msglog_t *m = msglog_new(path, &cfg, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m)
        return;
    pthread_t th[4];
    struct ring_thread_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (struct ring_thread_arg){.m = m, .t = t};
        CHECK_EQ_INT(pthread_create(&th[t], NULL, ring_thread, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ_INT(args[t].fails, 0);
    }
    CHECK_EQ_INT(msglog_flush(m), 0);
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    msglog_free(m);
    CHECK_EQ_INT(st.written, 12000);
    CHECK_EQ_INT(st.updates, 12000);
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(sql_count(path, "SELECT COUNT(*) FROM message_log WHERE message_id = 'T' || dest_addr"
                                 " AND (reasons IS NULL OR reasons = dest_addr)"), 12000);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/state.db", dir);

    test_msisdn();
    test_redact();
    test_migrations();
    test_migrate_msglog_v1();
    test_sender_stats();
    store_t *s = open_db();
    if (s) {
        test_whitelist(s);
        test_blacklist(s);
        test_exceptions(s);
        test_snapshot(s);
        test_data_version(s);
        test_tokens(s);
        test_wlreq(s);
        test_metacharacters(s);
        test_meta(s);
        store_close(s);
    }
    test_msglog();
    test_msglog_updates();
    test_msglog_mid_keys();
    test_msglog_partial_failure();
    test_msglog_early_keys();
    test_sender_lists();
    test_sender_list_ids();
    test_msglog_ring_wrap();
    test_msglog_ring_full();
    test_msglog_ring_bounds();
    test_msglog_ring_threads();

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
