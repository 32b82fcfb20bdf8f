/* The SQLite backend of store.h.
 *
 * Durability: WAL journal, synchronous=FULL on this connection (list changes:
 * a change acknowledged to the caller survives kill -9 and power loss), every
 * change and its audit row in one BEGIN IMMEDIATE transaction.  The message
 * log writes on its own connection with synchronous=NORMAL (msglog.c).
 *
 * SQL: every value is bound to a prepared statement, never formatted into
 * SQL text.  The statements avoid SQLite-only syntax where a portable form
 * exists (COALESCE rather than IFNULL / IS, CASE rather than IIF) so the
 * PostgreSQL backend can reuse them with $n placeholders.  The only SQLite
 * specifics are the PRAGMAs, BEGIN IMMEDIATE and INTEGER PRIMARY KEY.
 *
 * Times: NULL in a *_at / expires_at column means "none"; the C interface
 * uses 0 for that.
 */
#include "store.h"
#include "postings.h"
#include "store-int.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "json-writer.h"

/* ---- schema and migrations ---------------------------------------------- */

/* migrations[i] takes the schema from user_version i to i+1.  Never edit a
 * shipped step: append a new one. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE counters (\n"
    "  name TEXT PRIMARY KEY,\n"
    "  value INTEGER NOT NULL\n"
    ");\n"
    "INSERT INTO counters (name, value) VALUES ('lists_version', 0);\n"
    "CREATE TABLE rules_meta (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL,\n"
    "  updated_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE whitelist_requests (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  provider TEXT NOT NULL,\n"
    "  senders TEXT NOT NULL,\n"
    "  ton INTEGER NOT NULL DEFAULT -1,\n"
    "  account TEXT NOT NULL,\n"
    "  source_cidrs TEXT,\n"
    "  contact TEXT,\n"
    "  evidence TEXT,\n"
    "  state TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK (state IN ('pending', 'approved', 'rejected')),\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  decided_by TEXT,\n"
    "  decision_reason TEXT,\n"
    "  decided_at INTEGER\n"
    ");\n"
    "CREATE INDEX whitelist_requests_provider ON whitelist_requests (provider, state);\n"
    "CREATE INDEX whitelist_requests_state ON whitelist_requests (state, id);\n"
    "CREATE TABLE whitelist (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  sender TEXT NOT NULL,\n"
    "  ton INTEGER NOT NULL DEFAULT -1,\n"
    "  account TEXT,\n"
    "  source_cidrs TEXT,\n"
    "  provider TEXT,\n"
    "  verified_by TEXT NOT NULL,\n"
    "  verified_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER,\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  removed_at INTEGER,\n"
    "  removed_by TEXT,\n"
    "  request_id INTEGER REFERENCES whitelist_requests (id)\n"
    ");\n"
    "CREATE INDEX whitelist_sender ON whitelist (sender);\n"
    "CREATE TABLE blacklist (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('sender', 'account', 'domain', 'fingerprint')),\n"
    "  value TEXT NOT NULL,\n"
    "  automatic INTEGER NOT NULL DEFAULT 0,\n"
    "  reason TEXT NOT NULL,\n"
    "  ticket TEXT,\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER,\n"
    "  cleared_at INTEGER,\n"
    "  cleared_by TEXT,\n"
    "  clear_reason TEXT,\n"
    "  clear_ticket TEXT\n"
    ");\n"
    "CREATE INDEX blacklist_kind_value ON blacklist (kind, value);\n"
    "CREATE TABLE exceptions (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  sender TEXT NOT NULL,\n"
    "  msisdn TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  ticket TEXT,\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER,\n"
    "  removed_at INTEGER,\n"
    "  removed_by TEXT\n"
    ");\n"
    "CREATE INDEX exceptions_msisdn ON exceptions (msisdn);\n"
    "CREATE INDEX exceptions_sender ON exceptions (sender);\n"
    "CREATE TABLE api_tokens (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  role TEXT NOT NULL CHECK (role IN ('callcentre', 'ops', 'provider')),\n"
    "  provider TEXT,\n"
    "  token_sha256 TEXT NOT NULL UNIQUE,\n"
    "  created_by TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER,\n"
    "  revoked_at INTEGER,\n"
    "  revoked_by TEXT\n"
    ");\n"
    "CREATE INDEX api_tokens_name ON api_tokens (name);\n"
    "CREATE TABLE audit_log (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  ts INTEGER NOT NULL,\n"
    "  actor TEXT NOT NULL,\n"
    "  action TEXT NOT NULL,\n"
    "  object TEXT NOT NULL,\n"
    "  object_id INTEGER,\n"
    "  detail TEXT NOT NULL DEFAULT '{}',\n"
    "  reason TEXT,\n"
    "  ticket TEXT\n"
    ");\n"
    "CREATE INDEX audit_log_ts ON audit_log (ts);\n"
    "CREATE INDEX audit_log_object ON audit_log (object, object_id);\n"
    "CREATE INDEX audit_log_actor ON audit_log (actor, id);\n"
    "CREATE INDEX audit_log_ticket ON audit_log (ticket) WHERE ticket IS NOT NULL;\n"
    /* The message log.  id is the msglog "link": assigned by the writer
     * before the row is written so responses can refer to it.  Indexes are
     * the ones the timeline, sender and receipt lookups need, no more:
     * each costs insert rate (see docs/state.md for the measured figure). */
    "CREATE TABLE message_log (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  ts INTEGER NOT NULL,\n"
    "  account TEXT,\n"
    "  source_addr TEXT,\n"
    "  source_ton INTEGER,\n"
    "  dest_addr TEXT,\n"
    "  src_ip TEXT,\n"
    "  action TEXT NOT NULL,\n"
    "  score INTEGER NOT NULL DEFAULT 0,\n"
    "  reasons TEXT,\n"
    "  fingerprint TEXT,\n"
    "  snippet TEXT,\n"
    "  parts INTEGER NOT NULL DEFAULT 1,\n"
    "  message_id TEXT,\n"
    "  smsc_status INTEGER,\n"
    "  smsc_resp_ts INTEGER,\n"
    "  receipt_stat TEXT,\n"
    "  receipt_err TEXT,\n"
    "  receipt_ts INTEGER,\n"
    "  enforced INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX message_log_dest_ts ON message_log (dest_addr, ts DESC);\n"
    "CREATE INDEX message_log_source_ts ON message_log (source_addr, ts);\n"
    "CREATE INDEX message_log_message_id ON message_log (message_id)"
    " WHERE message_id IS NOT NULL;\n",
    /* 1 -> 2: integer keys for the timeline and sender lookups, in key
     * tables the message-log writer fills in key order once per transaction
     * (msglog.c) instead of two text indexes updated row by row: with the
     * writer's batching, 3 to 3.5 times the insert rate (docs/state.md).
     * The trigger keeps the key tables in step with any delete (retention,
     * manual clean-up).
     * sg_addr_key() is store_addr_key(), registered on every connection by
     * store_sqlite_configure(). */
    "ALTER TABLE message_log ADD COLUMN dest_key INTEGER;\n"
    "ALTER TABLE message_log ADD COLUMN source_key INTEGER;\n"
    "UPDATE message_log SET dest_key = sg_addr_key(dest_addr),"
    " source_key = sg_addr_key(source_addr);\n"
    /* ts DESC in the dest key: ties come in id order, as they did from
     * the version 1 index (dest_addr, ts DESC). */
    "CREATE TABLE message_log_dest (\n"
    "  dest_key INTEGER NOT NULL,\n"
    "  ts INTEGER NOT NULL,\n"
    "  id INTEGER NOT NULL,\n"
    "  PRIMARY KEY (dest_key, ts DESC, id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE message_log_source (\n"
    "  source_key INTEGER NOT NULL,\n"
    "  ts INTEGER NOT NULL,\n"
    "  id INTEGER NOT NULL,\n"
    "  PRIMARY KEY (source_key, ts, id)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO message_log_dest (dest_key, ts, id)"
    " SELECT dest_key, ts, id FROM message_log WHERE dest_key IS NOT NULL;\n"
    "INSERT INTO message_log_source (source_key, ts, id)"
    " SELECT source_key, ts, id FROM message_log WHERE source_key IS NOT NULL;\n"
    "CREATE TRIGGER message_log_keys_delete AFTER DELETE ON message_log BEGIN\n"
    "  DELETE FROM message_log_dest"
    "   WHERE dest_key = old.dest_key AND ts = old.ts AND id = old.id;\n"
    "  DELETE FROM message_log_source"
    "   WHERE source_key = old.source_key AND ts = old.ts AND id = old.id;\n"
    "END;\n"
    "DROP INDEX message_log_dest_ts;\n"
    "DROP INDEX message_log_source_ts;\n",
    /* 2 -> 3: per-sender counters in 10-minute buckets of packet time
     * (STORE_SENDER_BUCKET_US), which the message-log writer upserts once
     * per transaction from counts it aggregates in memory (msglog.c), so
     * the sender lookup reads a few rows instead of scanning message_log.
     * Filled here from the rows already logged, with exact distinct
     * recipients per bucket; the writer's recipient count is an upper bound
     * (docs/state.md).  The bucket width is part of the schema: this step's
     * 600000000 and STORE_SENDER_BUCKET_US must agree forever.  The index on
     * bucket is for retention (old buckets go with the rows they count). */
    "CREATE TABLE sender_stats (\n"
    "  sender TEXT NOT NULL,\n"
    "  bucket INTEGER NOT NULL,\n"
    "  total INTEGER NOT NULL,\n"
    "  allowed INTEGER NOT NULL,\n"
    "  flagged INTEGER NOT NULL,\n"
    "  blocked INTEGER NOT NULL,\n"
    "  recipients INTEGER NOT NULL,\n"
    "  PRIMARY KEY (sender, bucket)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX sender_stats_bucket ON sender_stats (bucket);\n"
    "INSERT INTO sender_stats (sender, bucket, total, allowed, flagged, blocked, recipients)"
    " SELECT source_addr, ts - ts % 600000000, COUNT(*),"
    " SUM(CASE WHEN action = 'allow' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN action = 'flag' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN action = 'block' THEN 1 ELSE 0 END),"
    " COUNT(DISTINCT dest_addr)"
    " FROM message_log WHERE source_addr IS NOT NULL"
    " GROUP BY source_addr, ts - ts % 600000000;\n",
    /* 3 -> 4: receipts find their rows through an integer key table
     * (mid_key, id) that the message-log writer fills in key order once per
     * transaction, like the address key tables, instead of a text index on
     * message_id entered row by row (docs/state.md "Updates": the index was
     * the largest cost of the update path).  mid_key is kept in the row for
     * the delete trigger, which now takes the key-table entry along too.
     * sg_mid_key() is store_mid_key(), registered on every connection by
     * store_sqlite_configure(). */
    "ALTER TABLE message_log ADD COLUMN mid_key INTEGER;\n"
    "UPDATE message_log SET mid_key = sg_mid_key(message_id) WHERE message_id IS NOT NULL;\n"
    "CREATE TABLE message_log_mid (\n"
    "  mid_key INTEGER NOT NULL,\n"
    "  id INTEGER NOT NULL,\n"
    "  PRIMARY KEY (mid_key, id)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO message_log_mid (mid_key, id)"
    " SELECT mid_key, id FROM message_log WHERE mid_key IS NOT NULL ORDER BY mid_key, id;\n"
    "DROP TRIGGER message_log_keys_delete;\n"
    "CREATE TRIGGER message_log_keys_delete AFTER DELETE ON message_log BEGIN\n"
    "  DELETE FROM message_log_dest"
    "   WHERE dest_key = old.dest_key AND ts = old.ts AND id = old.id;\n"
    "  DELETE FROM message_log_source"
    "   WHERE source_key = old.source_key AND ts = old.ts AND id = old.id;\n"
    "  DELETE FROM message_log_mid WHERE mid_key = old.mid_key AND id = old.id;\n"
    "END;\n"
    "DROP INDEX message_log_message_id;\n",
    /* 4 -> 5: a sender's rows are found through posting lists (postings.h)
     * instead of a key-table entry per row: one row per sender and writer
     * transaction, (source_key, newest ts, smallest and largest id, the
     * (ts, id) entries packed), so the writer inserts one B-tree entry per
     * sender where it inserted one per row, each at the end of that
     * sender's range of a large table (a fifth of the writer's time,
     * docs/state.md "Sender runs").  The entries already in
     * message_log_source are packed here, in id order, 256 (POSTINGS_MAX)
     * a list; sg_postings() is the aggregate that packs them, registered
     * on every connection by store_sqlite_configure().  Deletes no longer
     * touch the lists: a list may name a row that is gone, and the lookups
     * skip it (store_sender_messages); retention deletes a list once every
     * id it names is below the smallest id left (store_sqlite_prune),
     * through the index on last_id, and the writer never gives an id a
     * list names again (msglog_new). */
    "CREATE TABLE message_log_sender_runs (\n"
    "  source_key INTEGER NOT NULL,\n"
    "  ts_last INTEGER NOT NULL,\n"
    "  first_id INTEGER NOT NULL,\n"
    "  last_id INTEGER NOT NULL,\n"
    "  entries BLOB NOT NULL,\n"
    "  PRIMARY KEY (source_key, ts_last, first_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX message_log_sender_runs_last_id ON message_log_sender_runs (last_id);\n"
    "INSERT INTO message_log_sender_runs (source_key, ts_last, first_id, last_id, entries)"
    " SELECT source_key, MAX(ts), MIN(id), MAX(id), sg_postings(ts, id) FROM"
    " (SELECT source_key, ts, id,"
    "  (ROW_NUMBER() OVER (PARTITION BY source_key ORDER BY id) - 1) / 256 AS list"
    "  FROM message_log_source)"
    " GROUP BY source_key, list;\n"
    "DROP TRIGGER message_log_keys_delete;\n"
    "CREATE TRIGGER message_log_keys_delete AFTER DELETE ON message_log BEGIN\n"
    "  DELETE FROM message_log_dest"
    "   WHERE dest_key = old.dest_key AND ts = old.ts AND id = old.id;\n"
    "  DELETE FROM message_log_mid WHERE mid_key = old.mid_key AND id = old.id;\n"
    "END;\n"
    "DROP TABLE message_log_source;\n",
};

_Static_assert(POSTINGS_MAX == 256, "the 4 -> 5 migration makes lists of 256");

#if STORE_SCHEMA_VERSION != 5
#error "migrations[] and STORE_SCHEMA_VERSION disagree"
#endif

/* ---- prepared statements ---------------------------------------------- */

enum stmt_id {
    ST_BEGIN_IMMEDIATE,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DATA_VERSION,
    ST_LISTS_VERSION_GET,
    ST_LISTS_VERSION_BUMP,
    ST_AUDIT_INSERT,
    ST_WL_ACTIVE,
    ST_WL_FIND_DUP,
    ST_WL_INSERT,
    ST_WL_GET,
    ST_WL_REMOVE,
    ST_WL_PRESENT_BY_SENDER,
    ST_WL_LIST,
    ST_BL_ACTIVE,
    ST_BL_FIND_ACTIVE,
    ST_BL_INSERT,
    ST_BL_GET,
    ST_BL_CLEAR,
    ST_BL_RECENTLY_CLEARED,
    ST_BL_LIST,
    ST_BL_LIST_KV,
    ST_EX_ACTIVE,
    ST_EX_INSERT,
    ST_EX_GET,
    ST_EX_REMOVE,
    ST_EX_LIST,
    ST_TOK_LIVE_BY_NAME,
    ST_TOK_INSERT,
    ST_TOK_CHECK,
    ST_TOK_FIND_LIVE,
    ST_TOK_REVOKE,
    ST_TOK_LIST,
    ST_REQ_INSERT,
    ST_REQ_LIST,
    ST_REQ_GET,
    ST_REQ_DECIDE,
    ST_AUDIT_LIST,
    ST_MSG_TIMELINE,
    ST_SENDER_RUNS,
    ST_MSG_BY_ID,
    ST_MSG_SENDER_STATS,
    ST_MSG_ALERTS,
    ST_META_SET,
    ST_META_DEL,
    ST_META_GET,
    ST__COUNT
};

#define WL_COLS "id, sender, ton, account, source_cidrs, provider, verified_by, verified_at," \
                " expires_at, created_at, removed_at, removed_by, request_id"
#define BL_COLS "id, kind, value, automatic, reason, created_at, expires_at, cleared_at," \
                " cleared_by, clear_reason, clear_ticket, ticket, created_by"
#define EX_COLS "id, sender, msisdn, reason, ticket, created_by, created_at, expires_at," \
                " removed_at, removed_by"
#define TOK_COLS "id, role, name, provider, created_at, expires_at, revoked_at"
#define REQ_COLS "id, provider, senders, ton, account, source_cidrs, contact, evidence, state," \
                 " created_by, created_at, decided_by, decision_reason, decided_at"
#define MSG_COLS "id, ts, account, source_addr, source_ton, dest_addr, src_ip, action, score," \
                 " reasons, fingerprint, snippet, parts, message_id, smsc_status, smsc_resp_ts," \
                 " receipt_stat, receipt_err, receipt_ts, enforced"
/* MSG_COLS of message_log m, for the key-table joins. */
#define MSG_COLS_M "m.id, m.ts, m.account, m.source_addr, m.source_ton, m.dest_addr, m.src_ip," \
                   " m.action, m.score, m.reasons, m.fingerprint, m.snippet, m.parts," \
                   " m.message_id, m.smsc_status, m.smsc_resp_ts, m.receipt_stat," \
                   " m.receipt_err, m.receipt_ts, m.enforced"
/* "active at ?now": not expired. */
#define NOT_EXPIRED(n) "(expires_at IS NULL OR expires_at > " n ")"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_LISTS_VERSION_GET] = "SELECT value FROM counters WHERE name = 'lists_version'",
    [ST_LISTS_VERSION_BUMP] =
        "UPDATE counters SET value = value + 1 WHERE name = 'lists_version'",
    [ST_AUDIT_INSERT] =
        "INSERT INTO audit_log (ts, actor, action, object, object_id, detail, reason, ticket)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_WL_ACTIVE] = "SELECT " WL_COLS " FROM whitelist"
                     " WHERE removed_at IS NULL AND " NOT_EXPIRED("?1") " ORDER BY id",
    [ST_WL_FIND_DUP] = "SELECT id FROM whitelist WHERE sender = ?1 AND ton = ?2"
                       " AND COALESCE(account, '') = COALESCE(?3, '')"
                       " AND removed_at IS NULL AND " NOT_EXPIRED("?4"),
    [ST_WL_INSERT] =
        "INSERT INTO whitelist (sender, ton, account, source_cidrs, provider, verified_by,"
        " verified_at, expires_at, created_by, created_at, request_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_WL_GET] = "SELECT sender, ton, account, removed_at FROM whitelist WHERE id = ?1",
    [ST_WL_REMOVE] = "UPDATE whitelist SET removed_at = ?2, removed_by = ?3"
                     " WHERE id = ?1 AND removed_at IS NULL",
    [ST_WL_PRESENT_BY_SENDER] =
        "SELECT id FROM whitelist WHERE sender = ?1 AND removed_at IS NULL ORDER BY id",
    [ST_WL_LIST] = "SELECT " WL_COLS " FROM whitelist"
                   " WHERE (?1 <> 0 OR (removed_at IS NULL AND " NOT_EXPIRED("?2") "))"
                   " AND (?3 = 0 OR id = ?3) AND (?4 IS NULL OR sender = ?4)"
                   " ORDER BY id DESC LIMIT ?5",
    /* Live entries, and those cleared recently: the snapshot answers the
     * grace-period question (lists_blacklist_cleared_within) too. */
    [ST_BL_ACTIVE] = "SELECT " BL_COLS " FROM blacklist"
                     " WHERE (cleared_at IS NULL AND " NOT_EXPIRED("?1") ")"
                     " OR (cleared_at IS NOT NULL AND cleared_at >= ?2) ORDER BY id",
    [ST_BL_FIND_ACTIVE] = "SELECT id FROM blacklist WHERE kind = ?1 AND value = ?2"
                          " AND cleared_at IS NULL AND " NOT_EXPIRED("?3"),
    [ST_BL_INSERT] =
        "INSERT INTO blacklist (kind, value, automatic, reason, ticket, created_by,"
        " created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_BL_GET] = "SELECT kind, value, cleared_at FROM blacklist WHERE id = ?1",
    [ST_BL_CLEAR] = "UPDATE blacklist SET cleared_at = ?2, cleared_by = ?3,"
                    " clear_reason = ?4, clear_ticket = ?5"
                    " WHERE id = ?1 AND cleared_at IS NULL",
    [ST_BL_RECENTLY_CLEARED] =
        "SELECT id FROM blacklist WHERE kind = ?1 AND value = ?2"
        " AND cleared_at IS NOT NULL AND cleared_at > ?3 AND cleared_at <= ?4 LIMIT 1",
    [ST_BL_LIST] = "SELECT " BL_COLS " FROM blacklist"
                   " WHERE (?1 <> 0 OR (cleared_at IS NULL AND " NOT_EXPIRED("?2") "))"
                   " AND (?3 = 0 OR id = ?3) AND (?4 IS NULL OR value = ?4)"
                   " AND (?5 IS NULL OR kind = ?5)"
                   " ORDER BY id DESC LIMIT ?6",
    /* ST_BL_LIST when both kind and value are given (every sender lookup
     * asks for its sender's entries): the same rows in the same order, but
     * the "?4 IS NULL OR" form keeps SQLite off the (kind, value) index, so
     * ST_BL_LIST scans the whole table, automatic entries included; this
     * one reads the matching index range only. */
    [ST_BL_LIST_KV] = "SELECT " BL_COLS " FROM blacklist"
                      " WHERE kind = ?5 AND value = ?4"
                      " AND (?1 <> 0 OR (cleared_at IS NULL AND " NOT_EXPIRED("?2") "))"
                      " AND (?3 = 0 OR id = ?3)"
                      " ORDER BY id DESC LIMIT ?6",
    [ST_EX_ACTIVE] = "SELECT " EX_COLS " FROM exceptions"
                     " WHERE removed_at IS NULL AND " NOT_EXPIRED("?1") " ORDER BY id",
    [ST_EX_INSERT] =
        "INSERT INTO exceptions (sender, msisdn, reason, ticket, created_by, created_at,"
        " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_EX_GET] = "SELECT sender, msisdn, removed_at FROM exceptions WHERE id = ?1",
    [ST_EX_REMOVE] = "UPDATE exceptions SET removed_at = ?2, removed_by = ?3"
                     " WHERE id = ?1 AND removed_at IS NULL",
    [ST_EX_LIST] = "SELECT " EX_COLS " FROM exceptions"
                   " WHERE (?1 <> 0 OR (removed_at IS NULL AND " NOT_EXPIRED("?2") "))"
                   " AND (?3 = 0 OR id = ?3) AND (?4 IS NULL OR sender = ?4)"
                   " AND (?5 IS NULL OR msisdn = ?5)"
                   " ORDER BY id DESC LIMIT ?6",
    [ST_TOK_LIVE_BY_NAME] = "SELECT id FROM api_tokens WHERE name = ?1"
                            " AND revoked_at IS NULL AND " NOT_EXPIRED("?2"),
    [ST_TOK_INSERT] =
        "INSERT INTO api_tokens (name, role, provider, token_sha256, created_by, created_at,"
        " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_TOK_CHECK] = "SELECT " TOK_COLS " FROM api_tokens WHERE token_sha256 = ?1"
                     " AND revoked_at IS NULL AND " NOT_EXPIRED("?2"),
    [ST_TOK_FIND_LIVE] = "SELECT id, name FROM api_tokens WHERE revoked_at IS NULL"
                         " AND ((?1 <> 0 AND id = ?1) OR (?2 IS NOT NULL AND name = ?2))"
                         " ORDER BY id",
    [ST_TOK_REVOKE] = "UPDATE api_tokens SET revoked_at = ?2, revoked_by = ?3"
                      " WHERE id = ?1 AND revoked_at IS NULL",
    [ST_TOK_LIST] = "SELECT " TOK_COLS " FROM api_tokens"
                    " WHERE (?1 <> 0 OR revoked_at IS NULL) ORDER BY id",
    [ST_REQ_INSERT] =
        "INSERT INTO whitelist_requests (provider, senders, ton, account, source_cidrs,"
        " contact, evidence, created_by, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_REQ_LIST] = "SELECT " REQ_COLS " FROM whitelist_requests"
                    " WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR state = ?2)"
                    " AND (?3 = 0 OR id = ?3) ORDER BY id DESC",
    [ST_REQ_GET] = "SELECT " REQ_COLS " FROM whitelist_requests WHERE id = ?1",
    [ST_REQ_DECIDE] = "UPDATE whitelist_requests SET state = ?2, decided_by = ?3,"
                      " decision_reason = ?4, decided_at = ?5"
                      " WHERE id = ?1 AND state = 'pending'",
    [ST_AUDIT_LIST] =
        "SELECT id, ts, actor, action, object, object_id, detail, reason, ticket"
        " FROM audit_log WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2)"
        " AND (?3 IS NULL OR object = ?3) AND (?4 = 0 OR object_id = ?4)"
        " AND (?5 IS NULL OR ticket = ?5) AND (?6 = 0 OR ts >= ?6)"
        " AND (?7 = 0 OR ts < ?7) AND (?8 = 0 OR id < ?8)"
        " ORDER BY id DESC LIMIT ?9",
    /* The timeline walks the recipient key table ((key, ts, id), newest
     * first) and joins the rows; the text comparison drops hash collisions
     * (store_addr_key).  ?6: the key of ?1. */
    [ST_MSG_TIMELINE] = "SELECT " MSG_COLS_M " FROM message_log_dest k"
                        " JOIN message_log m ON m.id = k.id"
                        " WHERE k.dest_key = ?6 AND k.ts >= ?2 AND k.ts < ?3"
                        " AND m.dest_addr = ?1 AND (?4 IS NULL OR m.source_addr = ?4)"
                        " ORDER BY k.ts DESC, k.id LIMIT ?5",
    /* Sender lookups read the sender's posting lists newest first
     * (sender_newest), then the rows by id, each checked against its
     * entry (sender_walk: the row may be gone, or another sender's whose
     * key collides). */
    [ST_SENDER_RUNS] = "SELECT ts_last, entries FROM message_log_sender_runs"
                       " WHERE source_key = ?1 AND ts_last >= ?2 ORDER BY ts_last DESC",
    [ST_MSG_BY_ID] = "SELECT " MSG_COLS " FROM message_log WHERE id = ?1",
    /* The sender's buckets from ?2 on: one range of the primary key, one
     * row per 10 minutes of traffic (a day is 144 rows at most), whatever
     * the sender's volume. */
    [ST_MSG_SENDER_STATS] =
        "SELECT COUNT(*), COALESCE(SUM(total), 0), COALESCE(SUM(allowed), 0),"
        " COALESCE(SUM(flagged), 0), COALESCE(SUM(blocked), 0), COALESCE(SUM(recipients), 0),"
        " MIN(bucket), MAX(bucket)"
        " FROM sender_stats WHERE sender = ?1 AND bucket >= ?2",
    /* Alerts are derived from the reasons the engine logged (see
     * store_alert_messages); a walk from the newest row that stops at the
     * limit, so its cost follows how rare alerts are, not the table size. */
    [ST_MSG_ALERTS] = "SELECT " MSG_COLS " FROM message_log"
                      " WHERE ts >= ?1 AND (?2 IS NULL OR source_addr = ?2) AND ("
                      " reasons LIKE '%\"type\":\"spoofing\"%'"
                      " OR reasons LIKE '%\"type\":\"lookalike\"%'"
                      " OR (reasons LIKE '%\"type\":\"whitelist\"%' AND ("
                      "   reasons LIKE '%\"type\":\"rule\"%'"
                      "   OR reasons LIKE '%\"type\":\"domain\"%'"
                      "   OR reasons LIKE '%\"type\":\"volume\"%')))"
                      " ORDER BY id DESC LIMIT ?3",
    [ST_META_SET] = "INSERT INTO rules_meta (key, value, updated_at) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
    [ST_META_DEL] = "DELETE FROM rules_meta WHERE key = ?1",
    [ST_META_GET] = "SELECT value FROM rules_meta WHERE key = ?1",
};

/* ---- the handle --------------------------------------------------------- */

struct store {
    sqlite3 *db;
    pthread_mutex_t lock;
    sqlite3_stmt *st[ST__COUNT];
    int readonly;
    int64_t dv_last;        /* last PRAGMA data_version seen */
    int64_t lists_version;  /* cached counters.lists_version */
    int lists_version_valid;
    char err[STORE_ERRBUF_SIZE];
};

/* Bounds on text accepted from operators and the API: generous for real
 * use, small enough that a hostile client cannot fill the disk one field at
 * a time. */
#define FIELD_MAX 1024
#define LONG_FIELD_MAX 65536
#define NO_LIMIT ((int64_t)1 << 62)

static void set_err(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

static int db_err(store_t *s, const char *what)
{
    set_err(s, "%s: %s", what, sqlite3_errmsg(s->db));
    return SG_EDB;
}

static int64_t now_or(int64_t now)
{
    return now ? now : (int64_t)time(NULL);
}

/* Returns the cached statement, reset and unbound. */
static sqlite3_stmt *stmt(store_t *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->st[id];
    if (!st) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK) {
            set_err(s, "prepare: %s", sqlite3_errmsg(s->db));
            return NULL;
        }
        s->st[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Empty string stored as NULL: optional fields have one "absent" value. */
static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    bind_text(st, i, v && *v ? v : NULL);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Runs a statement that returns no rows. */
static int exec_stmt(store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_err(s, what);
    return 0;
}

static int run_simple(store_t *s, enum stmt_id id, const char *what)
{
    sqlite3_stmt *st = stmt(s, id);
    if (!st)
        return SG_EDB;
    return exec_stmt(s, st, what);
}

static int tx_begin_write(store_t *s)
{
    if (s->readonly) {
        set_err(s, "store opened read-only");
        return SG_EINVAL;
    }
    return run_simple(s, ST_BEGIN_IMMEDIATE, "begin");
}

static int tx_commit(store_t *s)
{
    return run_simple(s, ST_COMMIT, "commit");
}


static void tx_rollback(store_t *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_stmt *st = stmt(s, ST_ROLLBACK);
        if (st) {
            sqlite3_step(st);
            sqlite3_reset(st);
        }
    }
}

/* Finishes a write transaction: commit if rc == 0, else roll back. */
static int tx_end(store_t *s, int rc)
{
    if (rc == 0)
        rc = tx_commit(s);
    if (rc != 0)
        tx_rollback(s);
    return rc;
}

static int check_field(store_t *s, const char *name, const char *v, int required, size_t max)
{
    if (!v || !*v) {
        if (required) {
            set_err(s, "%s: required", name);
            return SG_EINVAL;
        }
        return 0;
    }
    if (strlen(v) > max) {
        set_err(s, "%s: longer than %zu bytes", name, max);
        return SG_EINVAL;
    }
    return 0;
}

static int check_ctx(store_t *s, const struct store_change *ctx, int need_reason)
{
    int rc;
    if (!ctx) {
        set_err(s, "actor: required");
        return SG_EINVAL;
    }
    if ((rc = check_field(s, "actor", ctx->actor, 1, FIELD_MAX)) ||
        (rc = check_field(s, "reason", ctx->reason, need_reason, FIELD_MAX)) ||
        (rc = check_field(s, "ticket", ctx->ticket, 0, FIELD_MAX)))
        return rc;
    return 0;
}

/* Bumps counters.lists_version inside the current transaction, so that
 * store_data_version() moves for every reader, this connection included. */
static int bump_lists(store_t *s)
{
    int rc = run_simple(s, ST_LISTS_VERSION_BUMP, "lists_version");
    if (rc == 0)
        s->lists_version_valid = 0;
    return rc;
}

/* Writes the audit row for a change, inside its transaction.  detail_json
 * may be NULL ("{}"). */
static int audit(store_t *s, const struct store_change *ctx, int64_t now, const char *action,
                 const char *object, int64_t object_id, const char *detail_json)
{
    sqlite3_stmt *st = stmt(s, ST_AUDIT_INSERT);
    if (!st)
        return SG_EDB;
    sqlite3_bind_int64(st, 1, now);
    bind_text(st, 2, ctx->actor);
    bind_text(st, 3, action);
    bind_text(st, 4, object);
    if (object_id)
        sqlite3_bind_int64(st, 5, object_id);
    else
        sqlite3_bind_null(st, 5);
    bind_text(st, 6, detail_json ? detail_json : "{}");
    bind_opt_text(st, 7, ctx->reason);
    bind_opt_text(st, 8, ctx->ticket);
    return exec_stmt(s, st, "audit");
}

/* A JSON object for audit details: built with the project's writer so that
 * every value is escaped. */
static jw_t *detail_begin(void)
{
    jw_t *w = jw_new(LONG_FIELD_MAX * 2);
    if (w)
        jw_obj_begin(w);
    return w;
}

static const char *detail_end(jw_t *w)
{
    if (!w)
        return NULL;
    jw_obj_end(w);
    return jw_failed(w) ? NULL : jw_data(w);
}

static void jw_kstr_opt(jw_t *w, const char *k, const char *v)
{
    if (v && *v)
        jw_kstr(w, k, v);
}

static void jw_ktime_opt(jw_t *w, const char *k, int64_t v)
{
    if (v)
        jw_kint(w, k, v);
}

/* ---- open / close / migrate ------------------------------------------- */

/* The key functions of the schema as SQL functions (migrations fill key
 * columns with them): the C function travels as the function's user data,
 * wrapped in a struct since a function pointer is not a void pointer. */
struct sql_key_fn {
    int64_t (*key)(const char *text);
};
static const struct sql_key_fn addr_key_fn = {store_addr_key}, mid_key_fn = {store_mid_key};

static void sql_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct sql_key_fn *fn = sqlite3_user_data(ctx);
    int64_t k = fn->key((const char *)sqlite3_value_text(argv[0]));
    if (k)
        sqlite3_result_int64(ctx, k);
    else
        sqlite3_result_null(ctx);
}

int store_init_process(void)
{
    static int done;
    if (done)
        return 0;
    /* No memory statistics: with them every SQLite allocation takes a
     * global mutex to count itself, and nothing here reads them
     * (sqlite3_memory_used, a soft heap limit).  bench-msglog, 6 alternated
     * pairs: +1.9% rows per writer CPU-second (median 177,700 -> 181,000),
     * faster in all six. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    int hdr = 0;
    if (sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &hdr) != SQLITE_OK)
        return SG_EINVAL; /* already initialised: too late to configure */
    /* A slot holds one page and SQLite's header for it: the writer's pages
     * and an eighth more for the other connections (the store's, the API's
     * readers: SQLite's default cache is 2 MiB each); past that, malloc. */
    size_t slot = ((size_t)STORE_PAGE_SIZE + (size_t)hdr + 7) & ~(size_t)7;
    size_t slots = (size_t)STORE_WRITER_CACHE_KIB * 1024 / STORE_PAGE_SIZE * 9 / 8;
    size_t len = slot * slots, huge = (size_t)2 << 20;
    /* Anonymous memory is mapped lazily: untouched slots cost no memory.
     * Aligned to 2 MiB so that the kernel can back it with huge pages. */
    uint8_t *map = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -ENOMEM;
    uint8_t *at = (uint8_t *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(at, len, MADV_HUGEPAGE); /* a hint: refused is fine */
#endif
    if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, at, (int)slot, (int)slots) != SQLITE_OK) {
        munmap(map, len + huge);
        return SG_EINVAL;
    }
    done = 1;
    return 0;
}

/* sg_postings(ts, id): the aggregate that packs a group's entries into a
 * posting list, in id order (SQLite does not say in which order an
 * aggregate sees its rows), for the 4 -> 5 migration.  At most
 * POSTINGS_MAX entries a group: the migration's groups are 256 a sender. */
struct postings_agg {
    size_t n;
    int overflow;
    struct posting e[POSTINGS_MAX];
};

static void postings_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct postings_agg *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (!a) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (a->n == POSTINGS_MAX) {
        a->overflow = 1;
        return;
    }
    a->e[a->n++] = (struct posting){sqlite3_value_int64(argv[0]), sqlite3_value_int64(argv[1])};
}

static int posting_id_cmp(const void *x, const void *y)
{
    const struct posting *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

static void postings_final(sqlite3_context *ctx)
{
    struct postings_agg *a = sqlite3_aggregate_context(ctx, 0);
    struct postings_writer w;
    unsigned char *buf;

    if (!a || a->n == 0) { /* no rows: no list */
        sqlite3_result_null(ctx);
        return;
    }
    if (a->overflow) {
        sqlite3_result_error(ctx, "sg_postings: more than 256 entries in a group", -1);
        return;
    }
    if (!(buf = sqlite3_malloc(POSTINGS_BYTES_MAX))) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    qsort(a->e, a->n, sizeof a->e[0], posting_id_cmp);
    postings_begin(&w, buf);
    for (size_t i = 0; i < a->n; i++)
        postings_add(&w, a->e[i].ts, a->e[i].id);
    sqlite3_result_blob(ctx, buf, (int)postings_len(&w), sqlite3_free);
}

int store_sqlite_configure(sqlite3 *db, const char *synchronous)
{
    char sql[96];
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    /* Only fixed PRAGMA text is formatted here, never a value from outside. */
    snprintf(sql, sizeof sql, "PRAGMA synchronous = %s",
             strcmp(synchronous, "FULL") == 0 ? "FULL" : "NORMAL");
    /* page_size takes effect only on a new, empty file, and only before WAL
     * is on: 8 KB pages make the message log's B-trees one level shallower
     * than 4 KB (docs/state.md). */
    _Static_assert(STORE_PAGE_SIZE == 8192, "the PRAGMA below says 8192");
    if (sqlite3_exec(db, "PRAGMA page_size = 8192", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "sg_addr_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                (void *)&addr_key_fn, sql_key, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "sg_mid_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                (void *)&mid_key_fn, sql_key, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "sg_postings", 2, SQLITE_UTF8, NULL, NULL, postings_step,
                                postings_final) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
        return SG_EDB;
    return 0;
}

static int get_user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int rc = SG_EDB;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return SG_EDB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Each step and its user_version bump commit together, so a crash during
 * migration leaves the previous version intact. */
static int migrate(store_t *s)
{
    int v;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, "migration begin");
    /* Read inside the write lock: two processes opening a new file at once
     * must not both run step 0. */
    if (get_user_version(s->db, &v) != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return db_err(s, "user_version");
    }
    if (v > STORE_SCHEMA_VERSION) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        set_err(s, "schema version %d is newer than this build (%d)", v, STORE_SCHEMA_VERSION);
        return SG_ENOTSUP;
    }
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char bump[48];
        if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            int rc = db_err(s, "migration");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(s->db, bump, NULL, NULL, NULL) != SQLITE_OK) {
            int rc = db_err(s, "user_version");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = db_err(s, "migration commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return 0;
}

int store_open(store_t **out, const char *path, unsigned flags, char errbuf[STORE_ERRBUF_SIZE])
{
    store_t *s = NULL;
    int rc = SG_EDB;
    int oflags = SQLITE_OPEN_NOMUTEX;

    *out = NULL;
    if (errbuf)
        errbuf[0] = '\0';
    if (!path || !*path) {
        if (errbuf)
            snprintf(errbuf, STORE_ERRBUF_SIZE, "no database path");
        return SG_EINVAL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        rc = -ENOMEM;
        goto out;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->readonly = (flags & STORE_OPEN_READONLY) != 0;
    if (s->readonly)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_OPEN_CREATE) ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK) {
        set_err(s, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (!s->readonly) {
        if (store_sqlite_configure(s->db, "FULL") != 0) {
            set_err(s, "%s: %s", path, sqlite3_errmsg(s->db));
            goto out;
        }
        if ((rc = migrate(s)) != 0) {
            char tmp[STORE_ERRBUF_SIZE * 3];
            snprintf(tmp, sizeof tmp, "%s: %s", path, s->err);
            snprintf(s->err, sizeof s->err, "%.*s", (int)sizeof s->err - 1, tmp);
            goto out;
        }
    } else {
        int v = 0;
        sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
        if (get_user_version(s->db, &v) != 0 || v != STORE_SCHEMA_VERSION) {
            set_err(s, "%s: schema version %d, this build needs %d", path, v,
                    STORE_SCHEMA_VERSION);
            rc = SG_ENOTSUP;
            goto out;
        }
    }
    *out = s;
    return 0;
out:
    if (errbuf && s)
        snprintf(errbuf, STORE_ERRBUF_SIZE, "%s", s->err);
    else if (errbuf)
        snprintf(errbuf, STORE_ERRBUF_SIZE, "%s: out of memory", path);
    store_close(s);
    return rc;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *store_errmsg(store_t *s)
{
    return s ? s->err : "no store";
}

int store_schema_version(store_t *s)
{
    int v = -1;
    pthread_mutex_lock(&s->lock);
    get_user_version(s->db, &v);
    pthread_mutex_unlock(&s->lock);
    return v;
}

#define LOCK(s) pthread_mutex_lock(&(s)->lock)
#define UNLOCK(s) pthread_mutex_unlock(&(s)->lock)

int store_read_begin(store_t *s)
{
    int rc;
    if (!s)
        return SG_EINVAL;
    LOCK(s);
    if (!sqlite3_get_autocommit(s->db)) {
        set_err(s, "a transaction is already open");
        rc = SG_EINVAL;
    } else {
        rc = run_simple(s, ST_BEGIN, "begin");
    }
    UNLOCK(s);
    return rc;
}

int store_read_end(store_t *s)
{
    int rc = 0;
    if (!s)
        return SG_EINVAL;
    LOCK(s);
    if (!sqlite3_get_autocommit(s->db))
        rc = run_simple(s, ST_COMMIT, "commit");
    UNLOCK(s);
    return rc;
}

/* ---- kinds and roles ---------------------------------------------------- */

static const char *const bl_kind_names[] = {"sender", "account", "domain", "fingerprint"};

static const char *bl_kind_str(enum lists_bl_kind k)
{
    return (unsigned)k < SG_ARRAY_LEN(bl_kind_names) ? bl_kind_names[k] : NULL;
}

static int bl_kind_from(const char *s)
{
    for (size_t i = 0; s && i < SG_ARRAY_LEN(bl_kind_names); i++)
        if (strcmp(s, bl_kind_names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *const role_names[] = {"callcentre", "ops", "provider"};

const char *store_role_name(enum store_role r)
{
    return (unsigned)r < SG_ARRAY_LEN(role_names) ? role_names[r] : "unknown";
}

int store_role_parse(const char *s)
{
    for (size_t i = 0; s && i < SG_ARRAY_LEN(role_names); i++)
        if (strcmp(s, role_names[i]) == 0)
            return (int)i;
    return SG_EINVAL;
}

static const char *const wlreq_state_names[] = {"pending", "approved", "rejected"};

const char *store_wlreq_state_name(enum store_wlreq_state st)
{
    return (unsigned)st < SG_ARRAY_LEN(wlreq_state_names) ? wlreq_state_names[st] : "unknown";
}

static int wlreq_state_from(const char *s)
{
    for (size_t i = 0; s && i < SG_ARRAY_LEN(wlreq_state_names); i++)
        if (strcmp(s, wlreq_state_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- lists snapshot and version -------------------------------------- */

static void read_wl_row(sqlite3_stmt *st, struct store_whitelist_row *r)
{
    memset(r, 0, sizeof *r);
    r->w.id = sqlite3_column_int64(st, 0);
    r->w.sender = col_text(st, 1);
    r->w.ton = sqlite3_column_int(st, 2);
    r->w.account = col_text(st, 3);
    r->w.source_cidrs = col_text(st, 4);
    r->w.provider = col_text(st, 5);
    r->w.verified_by = col_text(st, 6);
    r->w.verified_at = sqlite3_column_int64(st, 7);
    r->w.expires_at = sqlite3_column_int64(st, 8);
    r->created_at = sqlite3_column_int64(st, 9);
    r->removed_at = sqlite3_column_int64(st, 10);
    r->removed_by = col_text(st, 11);
    r->request_id = sqlite3_column_int64(st, 12);
}

static void read_bl_row(sqlite3_stmt *st, struct store_blacklist_row *r)
{
    memset(r, 0, sizeof *r);
    r->b.id = sqlite3_column_int64(st, 0);
    int k = bl_kind_from(col_text(st, 1));
    r->b.kind = k < 0 ? LISTS_BL_SENDER : (enum lists_bl_kind)k;
    r->b.value = col_text(st, 2);
    r->b.automatic = sqlite3_column_int(st, 3);
    r->b.reason = col_text(st, 4);
    r->b.created_at = sqlite3_column_int64(st, 5);
    r->b.expires_at = sqlite3_column_int64(st, 6);
    r->b.cleared_at = sqlite3_column_int64(st, 7);
    r->b.cleared_by = col_text(st, 8);
    r->b.clear_reason = col_text(st, 9);
    r->b.clear_ticket = col_text(st, 10);
    r->ticket = col_text(st, 11);
    r->created_by = col_text(st, 12);
}

static void read_ex_row(sqlite3_stmt *st, struct store_exception_row *r)
{
    memset(r, 0, sizeof *r);
    r->x.id = sqlite3_column_int64(st, 0);
    r->x.sender = col_text(st, 1);
    r->x.msisdn = col_text(st, 2);
    r->x.reason = col_text(st, 3);
    r->x.ticket = col_text(st, 4);
    r->x.created_by = col_text(st, 5);
    r->x.created_at = sqlite3_column_int64(st, 6);
    r->x.expires_at = sqlite3_column_int64(st, 7);
    r->removed_at = sqlite3_column_int64(st, 8);
    r->removed_by = col_text(st, 9);
}

/* Walks a prepared SELECT; returns 0, the callback's non-zero value, or
 * SG_EDB.  The statement is reset on every path. */
#define WALK(s, st, rowvar, reader, cb, arg, what)           \
    do {                                                     \
        int step_;                                           \
        rc = 0;                                              \
        while ((step_ = sqlite3_step(st)) == SQLITE_ROW) {   \
            reader(st, &rowvar);                             \
            if ((rc = cb(arg, &rowvar)) != 0)                \
                break;                                       \
        }                                                    \
        if (rc == 0 && step_ != SQLITE_DONE)                 \
            rc = db_err(s, what);                            \
        sqlite3_reset(st);                                   \
    } while (0)

static int add_wl(void *arg, const struct store_whitelist_row *r)
{
    return lists_add_whitelist(arg, &r->w);
}

static int add_bl(void *arg, const struct store_blacklist_row *r)
{
    return lists_add_blacklist(arg, &r->b);
}

static int add_ex(void *arg, const struct store_exception_row *r)
{
    return lists_add_exception(arg, &r->x);
}

int store_load_lists(store_t *s, int64_t now, lists_t **out)
{
    int rc;
    lists_t *l = NULL;
    sqlite3_stmt *st;

    *out = NULL;
    now = now_or(now);
    LOCK(s);
    l = lists_new();
    if (!l) {
        rc = -ENOMEM;
        goto out;
    }
    /* One read transaction: the three tables come from the same commit. */
    if ((rc = run_simple(s, ST_BEGIN, "begin")) != 0)
        goto out;
    {
        struct store_whitelist_row w;
        struct store_blacklist_row b;
        struct store_exception_row x;
        if (!(st = stmt(s, ST_WL_ACTIVE))) {
            rc = SG_EDB;
            goto out_tx;
        }
        sqlite3_bind_int64(st, 1, now);
        WALK(s, st, w, read_wl_row, add_wl, l, "load whitelist");
        if (rc)
            goto out_tx;
        if (!(st = stmt(s, ST_BL_ACTIVE))) {
            rc = SG_EDB;
            goto out_tx;
        }
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, now - LISTS_CLEARED_LOOKBACK_S);
        WALK(s, st, b, read_bl_row, add_bl, l, "load blacklist");
        if (rc)
            goto out_tx;
        if (!(st = stmt(s, ST_EX_ACTIVE))) {
            rc = SG_EDB;
            goto out_tx;
        }
        sqlite3_bind_int64(st, 1, now);
        WALK(s, st, x, read_ex_row, add_ex, l, "load exceptions");
    }
out_tx:
    tx_rollback(s); /* read-only transaction: nothing to commit */
    if (rc == 0)
        rc = lists_seal(l);
out:
    if (rc != 0) {
        if (rc != SG_EDB)
            set_err(s, "loading lists: %s", sg_strerror(rc));
        lists_free(l);
        l = NULL;
    }
    *out = l;
    UNLOCK(s);
    return rc;
}

static int read_lists_version(store_t *s, int64_t *v)
{
    sqlite3_stmt *st = stmt(s, ST_LISTS_VERSION_GET);
    int rc;
    if (!st)
        return SG_EDB;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = db_err(s, "lists_version");
    }
    sqlite3_reset(st);
    return rc;
}

int store_data_version(store_t *s, int64_t *v)
{
    int rc = 0;
    int64_t dv = 0;
    sqlite3_stmt *st;

    LOCK(s);
    if (!(st = stmt(s, ST_DATA_VERSION))) {
        rc = SG_EDB;
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_err(s, "data_version");
        sqlite3_reset(st);
        goto out;
    }
    dv = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    /* PRAGMA data_version moves when another connection committed anything
     * (the message log too); the counter row says whether lists changed. */
    if (!s->lists_version_valid || dv != s->dv_last) {
        if ((rc = read_lists_version(s, &s->lists_version)) != 0)
            goto out;
        s->dv_last = dv;
        s->lists_version_valid = 1;
    }
    *v = s->lists_version;
out:
    UNLOCK(s);
    return rc;
}

/* ---- whitelist ---------------------------------------------------------- */

static int wl_insert(store_t *s, const struct store_change *ctx, int64_t now,
                     const struct lists_whitelist_entry *e, int64_t request_id, int64_t *id_out)
{
    sqlite3_stmt *st;
    int64_t id;
    int rc;

    if (!(st = stmt(s, ST_WL_FIND_DUP)))
        return SG_EDB;
    bind_text(st, 1, e->sender);
    sqlite3_bind_int(st, 2, e->ton);
    bind_opt_text(st, 3, e->account);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t dup = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (id_out)
            *id_out = dup;
        set_err(s, "sender %s: already whitelisted (id %lld)", e->sender, (long long)dup);
        return SG_EEXIST;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_err(s, "whitelist lookup");

    if (!(st = stmt(s, ST_WL_INSERT)))
        return SG_EDB;
    bind_text(st, 1, e->sender);
    sqlite3_bind_int(st, 2, e->ton);
    bind_opt_text(st, 3, e->account);
    bind_opt_text(st, 4, e->source_cidrs);
    bind_opt_text(st, 5, e->provider);
    bind_text(st, 6, e->verified_by);
    sqlite3_bind_int64(st, 7, e->verified_at ? e->verified_at : now);
    bind_time(st, 8, e->expires_at);
    bind_text(st, 9, ctx->actor);
    sqlite3_bind_int64(st, 10, now);
    bind_time(st, 11, request_id);
    if ((rc = exec_stmt(s, st, "whitelist insert")) != 0)
        return rc;
    id = sqlite3_last_insert_rowid(s->db);

    jw_t *w = detail_begin();
    if (w) {
        jw_kstr(w, "sender", e->sender);
        jw_kint(w, "ton", e->ton);
        jw_kstr_opt(w, "account", e->account);
        jw_kstr_opt(w, "source_cidrs", e->source_cidrs);
        jw_kstr_opt(w, "provider", e->provider);
        jw_kstr(w, "verified_by", e->verified_by);
        jw_ktime_opt(w, "expires_at", e->expires_at);
        if (request_id)
            jw_kint(w, "request_id", request_id);
    }
    rc = audit(s, ctx, now, "whitelist.add", "whitelist", id, detail_end(w));
    jw_free(w);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

static int check_wl_entry(store_t *s, const struct lists_whitelist_entry *e)
{
    int rc;
    if (!e) {
        set_err(s, "sender: required");
        return SG_EINVAL;
    }
    if ((rc = check_field(s, "sender", e->sender, 1, 64)) ||
        (rc = check_field(s, "account", e->account, 0, 64)) ||
        (rc = check_field(s, "source_cidrs", e->source_cidrs, 0, FIELD_MAX)) ||
        (rc = check_field(s, "provider", e->provider, 0, FIELD_MAX)) ||
        (rc = check_field(s, "verified_by", e->verified_by, 1, FIELD_MAX)))
        return rc;
    if (e->ton < -1 || e->ton > 255) {
        set_err(s, "ton: must be -1..255");
        return SG_EINVAL;
    }
    return 0;
}

int store_whitelist_add(store_t *s, const struct store_change *ctx,
                        const struct lists_whitelist_entry *e, int64_t *id_out)
{
    int rc;
    int64_t now;
    LOCK(s);
    if ((rc = check_ctx(s, ctx, 0)) || (rc = check_wl_entry(s, e)))
        goto out;
    now = now_or(ctx->now);
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    rc = wl_insert(s, ctx, now, e, 0, id_out);
    if (rc == 0)
        rc = bump_lists(s);
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

/* Inside a transaction. */
static int wl_remove_one(store_t *s, const struct store_change *ctx, int64_t now, int64_t id)
{
    sqlite3_stmt *st;
    char sender[80] = "", account[80] = "";
    int ton = -1, rc;

    if (!(st = stmt(s, ST_WL_GET)))
        return SG_EDB;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW || sqlite3_column_type(st, 3) != SQLITE_NULL) {
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_err(s, "whitelist lookup");
        set_err(s, "whitelist id %lld: no such present entry", (long long)id);
        return SG_ENOTFOUND;
    }
    snprintf(sender, sizeof sender, "%s", col_text(st, 0) ? col_text(st, 0) : "");
    ton = sqlite3_column_int(st, 1);
    snprintf(account, sizeof account, "%s", col_text(st, 2) ? col_text(st, 2) : "");
    sqlite3_reset(st);

    if (!(st = stmt(s, ST_WL_REMOVE)))
        return SG_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, ctx->actor);
    if ((rc = exec_stmt(s, st, "whitelist remove")) != 0)
        return rc;
    jw_t *w = detail_begin();
    if (w) {
        jw_kstr(w, "sender", sender);
        jw_kint(w, "ton", ton);
        jw_kstr_opt(w, "account", account);
    }
    rc = audit(s, ctx, now, "whitelist.remove", "whitelist", id, detail_end(w));
    jw_free(w);
    return rc;
}

int store_whitelist_remove(store_t *s, const struct store_change *ctx, int64_t id)
{
    int rc;
    LOCK(s);
    if ((rc = check_ctx(s, ctx, 0)) != 0)
        goto out;
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    rc = wl_remove_one(s, ctx, now_or(ctx->now), id);
    if (rc == 0)
        rc = bump_lists(s);
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_whitelist_remove_sender(store_t *s, const struct store_change *ctx,
                                  const char *sender, int *n_removed)
{
    int rc, n = 0;
    int64_t ids[256];
    size_t nids = 0;
    sqlite3_stmt *st;

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 0)) || (rc = check_field(s, "sender", sender, 1, 64)))
        goto out;
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_WL_PRESENT_BY_SENDER))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, sender);
    /* Bound: a sender has a handful of entries (one per account); past 256
     * the caller repeats the call. */
    while (nids < SG_ARRAY_LEN(ids) && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[nids++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    rc = 0;
    if (nids == 0) {
        set_err(s, "sender %s: not whitelisted", sender);
        rc = SG_ENOTFOUND;
        goto out_tx;
    }
    for (size_t i = 0; i < nids && rc == 0; i++) {
        rc = wl_remove_one(s, ctx, now_or(ctx->now), ids[i]);
        n += rc == 0;
    }
    if (rc == 0)
        rc = bump_lists(s);
out_tx:
    rc = tx_end(s, rc);
    if (rc != 0)
        n = 0;
out:
    if (n_removed)
        *n_removed = n;
    UNLOCK(s);
    return rc;
}

static int64_t limit_of(int limit)
{
    return limit > 0 ? limit : NO_LIMIT;
}

int store_whitelist_list(store_t *s, const struct store_list_query *q,
                         store_whitelist_cb cb, void *arg)
{
    static const struct store_list_query none = {.kind = -1};
    struct store_whitelist_row r;
    sqlite3_stmt *st;
    int rc;

    if (!q)
        q = &none;
    LOCK(s);
    if (!(st = stmt(s, ST_WL_LIST))) {
        rc = SG_EDB;
        goto out;
    }
    sqlite3_bind_int(st, 1, q->include_inactive);
    sqlite3_bind_int64(st, 2, now_or(q->now));
    sqlite3_bind_int64(st, 3, q->id);
    bind_text(st, 4, q->value);
    sqlite3_bind_int64(st, 5, limit_of(q->limit));
    WALK(s, st, r, read_wl_row, cb, arg, "whitelist list");
out:
    UNLOCK(s);
    return rc;
}

/* ---- whitelist requests ----------------------------------------------- */

static void read_req_row(sqlite3_stmt *st, struct store_wlreq *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->provider = col_text(st, 1);
    r->senders = col_text(st, 2);
    r->ton = sqlite3_column_int(st, 3);
    r->account = col_text(st, 4);
    r->source_cidrs = col_text(st, 5);
    r->contact = col_text(st, 6);
    r->evidence = col_text(st, 7);
    int stt = wlreq_state_from(col_text(st, 8));
    r->state = stt < 0 ? STORE_WLREQ_PENDING : (enum store_wlreq_state)stt;
    r->created_by = col_text(st, 9);
    r->created_at = sqlite3_column_int64(st, 10);
    r->decided_by = col_text(st, 11);
    r->decision_reason = col_text(st, 12);
    r->decided_at = sqlite3_column_int64(st, 13);
}

int store_wlreq_create(store_t *s, const struct store_change *ctx, const struct store_wlreq *r,
                       int64_t *id_out)
{
    int rc;
    int64_t now, id;
    sqlite3_stmt *st;

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 0)) != 0)
        goto out;
    if (!r) {
        set_err(s, "request: required");
        rc = SG_EINVAL;
        goto out;
    }
    if ((rc = check_field(s, "provider", r->provider, 1, FIELD_MAX)) ||
        (rc = check_field(s, "senders", r->senders, 1, FIELD_MAX)) ||
        (rc = check_field(s, "account", r->account, 1, 64)) ||
        (rc = check_field(s, "source_cidrs", r->source_cidrs, 0, FIELD_MAX)) ||
        (rc = check_field(s, "contact", r->contact, 0, FIELD_MAX)) ||
        (rc = check_field(s, "evidence", r->evidence, 0, LONG_FIELD_MAX)))
        goto out;
    if (r->ton < -1 || r->ton > 255) {
        set_err(s, "ton: must be -1..255");
        rc = SG_EINVAL;
        goto out;
    }
    now = now_or(ctx->now);
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_REQ_INSERT))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, r->provider);
    bind_text(st, 2, r->senders);
    sqlite3_bind_int(st, 3, r->ton);
    bind_text(st, 4, r->account);
    bind_opt_text(st, 5, r->source_cidrs);
    bind_opt_text(st, 6, r->contact);
    bind_opt_text(st, 7, r->evidence);
    bind_text(st, 8, ctx->actor);
    sqlite3_bind_int64(st, 9, now);
    if ((rc = exec_stmt(s, st, "request insert")) != 0)
        goto out_tx;
    id = sqlite3_last_insert_rowid(s->db);
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "provider", r->provider);
            jw_kstr(w, "senders", r->senders);
            jw_kstr(w, "account", r->account);
        }
        rc = audit(s, ctx, now, "whitelist_request.create", "whitelist_request", id,
                   detail_end(w));
        jw_free(w);
    }
    if (rc == 0 && id_out)
        *id_out = id;
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_wlreq_list(store_t *s, const char *provider, int state, int64_t id,
                     store_wlreq_cb cb, void *arg)
{
    struct store_wlreq r;
    sqlite3_stmt *st;
    int rc;

    LOCK(s);
    if (!(st = stmt(s, ST_REQ_LIST))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, provider);
    bind_text(st, 2, state >= 0 ? store_wlreq_state_name((enum store_wlreq_state)state) : NULL);
    sqlite3_bind_int64(st, 3, id);
    WALK(s, st, r, read_req_row, cb, arg, "request list");
out:
    UNLOCK(s);
    return rc;
}

/* Splits "A, B,C" into whitelist entries; inside the decide transaction. */
static int approve_senders(store_t *s, const struct store_change *ctx, int64_t now,
                           const struct store_wlreq *r, int64_t expires_at)
{
    char buf[FIELD_MAX + 1];
    char *save = NULL, *tok;
    int rc = 0, n = 0;

    snprintf(buf, sizeof buf, "%s", r->senders);
    for (tok = strtok_r(buf, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (!len)
            continue;
        struct lists_whitelist_entry e = {
            .sender = tok,
            .ton = r->ton,
            .account = r->account,
            .source_cidrs = r->source_cidrs,
            .provider = r->provider,
            .verified_by = ctx->actor,
            .verified_at = now,
            .expires_at = expires_at,
        };
        if (check_field(s, "sender", tok, 1, 64) != 0)
            return SG_EINVAL;
        int64_t wid;
        rc = wl_insert(s, ctx, now, &e, r->id, &wid);
        if (rc == SG_EEXIST)
            rc = 0; /* already verified: approval is idempotent per sender */
        n++;
    }
    if (rc == 0 && n == 0) {
        set_err(s, "senders: empty");
        rc = SG_EINVAL;
    }
    return rc;
}

int store_wlreq_decide(store_t *s, const struct store_change *ctx, int64_t id, int approve,
                       int64_t expires_at)
{
    int rc;
    int64_t now;
    sqlite3_stmt *st;
    struct store_wlreq r;
    char provider[FIELD_MAX + 1], senders[FIELD_MAX + 1], account[80], cidrs[FIELD_MAX + 1];

    LOCK(s);
    if ((rc = check_ctx(s, ctx, !approve)) != 0)
        goto out;
    now = now_or(ctx->now);
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_REQ_GET))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = db_err(s, "request lookup");
        } else {
            set_err(s, "whitelist request %lld: not found", (long long)id);
            rc = SG_ENOTFOUND;
        }
        goto out_tx;
    }
    read_req_row(st, &r);
    /* Copy out: the row's text dies with the statement reset. */
    snprintf(provider, sizeof provider, "%s", r.provider ? r.provider : "");
    snprintf(senders, sizeof senders, "%s", r.senders ? r.senders : "");
    snprintf(account, sizeof account, "%s", r.account ? r.account : "");
    snprintf(cidrs, sizeof cidrs, "%s", r.source_cidrs ? r.source_cidrs : "");
    r.provider = provider;
    r.senders = senders;
    r.account = account;
    r.source_cidrs = cidrs[0] ? cidrs : NULL;
    r.contact = r.evidence = r.created_by = r.decided_by = r.decision_reason = NULL;
    sqlite3_reset(st);
    if (r.state != STORE_WLREQ_PENDING) {
        set_err(s, "whitelist request %lld: already %s", (long long)id,
                store_wlreq_state_name(r.state));
        rc = SG_EEXIST;
        goto out_tx;
    }
    if (!(st = stmt(s, ST_REQ_DECIDE))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, approve ? "approved" : "rejected");
    bind_text(st, 3, ctx->actor);
    bind_opt_text(st, 4, ctx->reason);
    sqlite3_bind_int64(st, 5, now);
    if ((rc = exec_stmt(s, st, "request decide")) != 0)
        goto out_tx;
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "provider", provider);
            jw_kstr(w, "senders", senders);
        }
        rc = audit(s, ctx, now, approve ? "whitelist_request.approve" : "whitelist_request.reject",
                   "whitelist_request", id, detail_end(w));
        jw_free(w);
    }
    if (rc == 0 && approve) {
        rc = approve_senders(s, ctx, now, &r, expires_at);
        if (rc == 0)
            rc = bump_lists(s);
    }
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

/* ---- blacklist ---------------------------------------------------------- */

int store_blacklist_add(store_t *s, const struct store_change *ctx, enum lists_bl_kind kind,
                        const char *value, int automatic, int64_t expires_at, int64_t *id_out)
{
    int rc;
    int64_t now, id;
    sqlite3_stmt *st;
    const char *kname = bl_kind_str(kind);

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 1)) || (rc = check_field(s, "value", value, 1, FIELD_MAX)))
        goto out;
    if (!kname) {
        set_err(s, "kind: must be sender, account, domain or fingerprint");
        rc = SG_EINVAL;
        goto out;
    }
    now = now_or(ctx->now);
    if (expires_at && expires_at <= now) {
        set_err(s, "expires_at: already in the past");
        rc = SG_EINVAL;
        goto out;
    }
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_BL_FIND_ACTIVE))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, kname);
    bind_text(st, 2, value);
    sqlite3_bind_int64(st, 3, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (id_out)
            *id_out = id;
        set_err(s, "%s %s: already blacklisted (id %lld)", kname, value, (long long)id);
        rc = SG_EEXIST;
        goto out_tx;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = db_err(s, "blacklist lookup");
        goto out_tx;
    }
    if (!(st = stmt(s, ST_BL_INSERT))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, kname);
    bind_text(st, 2, value);
    sqlite3_bind_int(st, 3, automatic ? 1 : 0);
    bind_text(st, 4, ctx->reason);
    bind_opt_text(st, 5, ctx->ticket);
    bind_text(st, 6, ctx->actor);
    sqlite3_bind_int64(st, 7, now);
    bind_time(st, 8, expires_at);
    if ((rc = exec_stmt(s, st, "blacklist insert")) != 0)
        goto out_tx;
    id = sqlite3_last_insert_rowid(s->db);
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "kind", kname);
            jw_kstr(w, "value", value);
            jw_kbool(w, "automatic", automatic != 0);
            jw_ktime_opt(w, "expires_at", expires_at);
        }
        rc = audit(s, ctx, now, "blacklist.add", "blacklist", id, detail_end(w));
        jw_free(w);
    }
    if (rc == 0)
        rc = bump_lists(s);
    if (rc == 0 && id_out)
        *id_out = id;
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_blacklist_clear(store_t *s, const struct store_change *ctx, int64_t id)
{
    int rc;
    int64_t now;
    sqlite3_stmt *st;
    char kind[16] = "", value[FIELD_MAX + 1] = "";

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 1)) != 0)
        goto out;
    now = now_or(ctx->now);
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_BL_GET))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = db_err(s, "blacklist lookup");
        } else {
            set_err(s, "blacklist id %lld: not found", (long long)id);
            rc = SG_ENOTFOUND;
        }
        goto out_tx;
    }
    snprintf(kind, sizeof kind, "%s", col_text(st, 0) ? col_text(st, 0) : "");
    snprintf(value, sizeof value, "%s", col_text(st, 1) ? col_text(st, 1) : "");
    int cleared = sqlite3_column_type(st, 2) != SQLITE_NULL;
    sqlite3_reset(st);
    if (cleared) {
        set_err(s, "blacklist id %lld: already cleared", (long long)id);
        rc = SG_EEXIST;
        goto out_tx;
    }
    if (!(st = stmt(s, ST_BL_CLEAR))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, ctx->actor);
    bind_text(st, 4, ctx->reason);
    bind_opt_text(st, 5, ctx->ticket);
    if ((rc = exec_stmt(s, st, "blacklist clear")) != 0)
        goto out_tx;
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "kind", kind);
            jw_kstr(w, "value", value);
        }
        rc = audit(s, ctx, now, "blacklist.clear", "blacklist", id, detail_end(w));
        jw_free(w);
    }
    if (rc == 0)
        rc = bump_lists(s);
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_blacklist_recently_cleared(store_t *s, enum lists_bl_kind kind, const char *value,
                                     int64_t now, int64_t grace_s)
{
    int rc;
    sqlite3_stmt *st;
    const char *kname = bl_kind_str(kind);

    if (!kname || !value)
        return SG_EINVAL;
    now = now_or(now);
    LOCK(s);
    if (!(st = stmt(s, ST_BL_RECENTLY_CLEARED))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, kname);
    bind_text(st, 2, value);
    sqlite3_bind_int64(st, 3, now - grace_s);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = 1;
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = db_err(s, "blacklist lookup");
    sqlite3_reset(st);
out:
    UNLOCK(s);
    return rc;
}

int store_blacklist_list(store_t *s, const struct store_list_query *q, store_blacklist_cb cb,
                         void *arg)
{
    static const struct store_list_query none = {.kind = -1};
    struct store_blacklist_row r;
    sqlite3_stmt *st;
    int rc;

    if (!q)
        q = &none;
    LOCK(s);
    if (!(st = stmt(s, q->value && q->kind >= 0 ? ST_BL_LIST_KV : ST_BL_LIST))) {
        rc = SG_EDB;
        goto out;
    }
    sqlite3_bind_int(st, 1, q->include_inactive);
    sqlite3_bind_int64(st, 2, now_or(q->now));
    sqlite3_bind_int64(st, 3, q->id);
    bind_text(st, 4, q->value);
    bind_text(st, 5, q->kind >= 0 ? bl_kind_str((enum lists_bl_kind)q->kind) : NULL);
    sqlite3_bind_int64(st, 6, limit_of(q->limit));
    WALK(s, st, r, read_bl_row, cb, arg, "blacklist list");
out:
    UNLOCK(s);
    return rc;
}

/* ---- exceptions --------------------------------------------------------- */

static int is_digits(const char *v)
{
    if (!v || !*v)
        return 0;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return 0;
    return 1;
}

int store_exception_add(store_t *s, const struct store_change *ctx, const char *sender,
                        const char *msisdn, int64_t expires_at, int64_t *id_out)
{
    int rc;
    int64_t now, id;
    sqlite3_stmt *st;

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 1)) || (rc = check_field(s, "sender", sender, 1, 64)) ||
        (rc = check_field(s, "msisdn", msisdn, 1, 15)))
        goto out;
    if (!is_digits(msisdn)) {
        set_err(s, "msisdn: not a normalised number (digits only)");
        rc = SG_EINVAL;
        goto out;
    }
    now = now_or(ctx->now);
    if (expires_at && expires_at <= now) {
        set_err(s, "expires_at: already in the past");
        rc = SG_EINVAL;
        goto out;
    }
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_EX_INSERT))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, sender);
    bind_text(st, 2, msisdn);
    bind_text(st, 3, ctx->reason);
    bind_opt_text(st, 4, ctx->ticket);
    bind_text(st, 5, ctx->actor);
    sqlite3_bind_int64(st, 6, now);
    bind_time(st, 7, expires_at);
    if ((rc = exec_stmt(s, st, "exception insert")) != 0)
        goto out_tx;
    id = sqlite3_last_insert_rowid(s->db);
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "sender", sender);
            jw_kstr(w, "msisdn", msisdn);
            jw_ktime_opt(w, "expires_at", expires_at);
        }
        rc = audit(s, ctx, now, "exception.add", "exception", id, detail_end(w));
        jw_free(w);
    }
    if (rc == 0)
        rc = bump_lists(s);
    if (rc == 0 && id_out)
        *id_out = id;
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_exception_remove(store_t *s, const struct store_change *ctx, int64_t id)
{
    int rc;
    int64_t now;
    sqlite3_stmt *st;
    char sender[80] = "", msisdn[32] = "";

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 0)) != 0)
        goto out;
    now = now_or(ctx->now);
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_EX_GET))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW || sqlite3_column_type(st, 2) != SQLITE_NULL) {
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            rc = db_err(s, "exception lookup");
        } else {
            set_err(s, "exception id %lld: no such present entry", (long long)id);
            rc = SG_ENOTFOUND;
        }
        goto out_tx;
    }
    snprintf(sender, sizeof sender, "%s", col_text(st, 0) ? col_text(st, 0) : "");
    snprintf(msisdn, sizeof msisdn, "%s", col_text(st, 1) ? col_text(st, 1) : "");
    sqlite3_reset(st);
    if (!(st = stmt(s, ST_EX_REMOVE))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, ctx->actor);
    if ((rc = exec_stmt(s, st, "exception remove")) != 0)
        goto out_tx;
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "sender", sender);
            jw_kstr(w, "msisdn", msisdn);
        }
        rc = audit(s, ctx, now, "exception.remove", "exception", id, detail_end(w));
        jw_free(w);
    }
    if (rc == 0)
        rc = bump_lists(s);
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_exception_list(store_t *s, const struct store_list_query *q, store_exception_cb cb,
                         void *arg)
{
    static const struct store_list_query none = {.kind = -1};
    struct store_exception_row r;
    sqlite3_stmt *st;
    int rc;

    if (!q)
        q = &none;
    LOCK(s);
    if (!(st = stmt(s, ST_EX_LIST))) {
        rc = SG_EDB;
        goto out;
    }
    sqlite3_bind_int(st, 1, q->include_inactive);
    sqlite3_bind_int64(st, 2, now_or(q->now));
    sqlite3_bind_int64(st, 3, q->id);
    bind_text(st, 4, q->value);
    bind_text(st, 5, q->msisdn);
    sqlite3_bind_int64(st, 6, limit_of(q->limit));
    WALK(s, st, r, read_ex_row, cb, arg, "exception list");
out:
    UNLOCK(s);
    return rc;
}

/* ---- tokens ------------------------------------------------------------- */

/* SHA-256 from nettle (see docs/state.md for why nettle). */
static void token_hash_hex(const char *token, char out[SHA256_DIGEST_SIZE * 2 + 1])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    static const char hx[] = "0123456789abcdef";
    sha256_init(&c);
    sha256_update(&c, strlen(token), (const uint8_t *)token);
    sha256_digest(&c, sizeof d, d);
    for (size_t i = 0; i < sizeof d; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[sizeof d * 2] = '\0';
}

static int random_bytes(uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void read_tok_row(sqlite3_stmt *st, struct store_token_info *t)
{
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(st, 0);
    int r = store_role_parse(col_text(st, 1));
    t->role = r < 0 ? STORE_ROLE_CALLCENTRE : (enum store_role)r;
    snprintf(t->name, sizeof t->name, "%s", col_text(st, 2) ? col_text(st, 2) : "");
    snprintf(t->provider, sizeof t->provider, "%s", col_text(st, 3) ? col_text(st, 3) : "");
    t->created_at = sqlite3_column_int64(st, 4);
    t->expires_at = sqlite3_column_int64(st, 5);
    t->revoked_at = sqlite3_column_int64(st, 6);
}

int store_token_create(store_t *s, const struct store_change *ctx, enum store_role role,
                       const char *name, const char *provider, int64_t expires_at,
                       char out_token[STORE_TOKEN_STRLEN], int64_t *id_out)
{
    int rc;
    int64_t now, id;
    sqlite3_stmt *st;
    uint8_t raw[32];
    char token[STORE_TOKEN_STRLEN], hash[SHA256_DIGEST_SIZE * 2 + 1];
    static const char hx[] = "0123456789abcdef";

    LOCK(s);
    out_token[0] = '\0';
    if ((rc = check_ctx(s, ctx, 0)) ||
        (rc = check_field(s, "name", name, 1, 127)) ||
        (rc = check_field(s, "provider", provider, role == STORE_ROLE_PROVIDER, 127)))
        goto out;
    if ((unsigned)role >= SG_ARRAY_LEN(role_names)) {
        set_err(s, "role: must be callcentre, ops or provider");
        rc = SG_EINVAL;
        goto out;
    }
    if (role != STORE_ROLE_PROVIDER && provider && *provider) {
        set_err(s, "provider: only for role provider");
        rc = SG_EINVAL;
        goto out;
    }
    now = now_or(ctx->now);
    if (expires_at && expires_at <= now) {
        set_err(s, "expires_at: already in the past");
        rc = SG_EINVAL;
        goto out;
    }
    if ((rc = random_bytes(raw, sizeof raw)) != 0) {
        set_err(s, "getrandom: %s", strerror(-rc));
        goto out;
    }
    memcpy(token, "sgt_", 4);
    for (size_t i = 0; i < sizeof raw; i++) {
        token[4 + 2 * i] = hx[raw[i] >> 4];
        token[4 + 2 * i + 1] = hx[raw[i] & 15];
    }
    token[4 + 2 * sizeof raw] = '\0';
    token_hash_hex(token, hash);

    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_TOK_LIVE_BY_NAME))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        set_err(s, "token name %s: already in use by a live token", name);
        rc = SG_EEXIST;
        goto out_tx;
    }
    if (rc != SQLITE_DONE) {
        rc = db_err(s, "token lookup");
        goto out_tx;
    }
    if (!(st = stmt(s, ST_TOK_INSERT))) {
        rc = SG_EDB;
        goto out_tx;
    }
    bind_text(st, 1, name);
    bind_text(st, 2, role_names[role]);
    bind_opt_text(st, 3, provider);
    bind_text(st, 4, hash);
    bind_text(st, 5, ctx->actor);
    sqlite3_bind_int64(st, 6, now);
    bind_time(st, 7, expires_at);
    if ((rc = exec_stmt(s, st, "token insert")) != 0)
        goto out_tx;
    id = sqlite3_last_insert_rowid(s->db);
    {
        jw_t *w = detail_begin();
        if (w) {
            jw_kstr(w, "name", name);
            jw_kstr(w, "role", role_names[role]);
            jw_kstr_opt(w, "provider", provider);
            jw_ktime_opt(w, "expires_at", expires_at);
        }
        rc = audit(s, ctx, now, "token.create", "token", id, detail_end(w));
        jw_free(w);
    }
    if (rc == 0 && id_out)
        *id_out = id;
out_tx:
    rc = tx_end(s, rc);
    if (rc == 0)
        memcpy(out_token, token, strlen(token) + 1);
out:
    memset(raw, 0, sizeof raw);
    UNLOCK(s);
    return rc;
}

int store_token_check(store_t *s, const char *token, int64_t now, struct store_token_info *info)
{
    int rc;
    sqlite3_stmt *st;
    char hash[SHA256_DIGEST_SIZE * 2 + 1];

    if (!token || strlen(token) > 256)
        return SG_ENOTFOUND;
    token_hash_hex(token, hash);
    LOCK(s);
    if (!(st = stmt(s, ST_TOK_CHECK))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, hash);
    sqlite3_bind_int64(st, 2, now_or(now));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (info)
            read_tok_row(st, info);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = SG_ENOTFOUND;
    } else {
        rc = db_err(s, "token check");
    }
    sqlite3_reset(st);
out:
    UNLOCK(s);
    return rc;
}

int store_token_revoke(store_t *s, const struct store_change *ctx, int64_t id, const char *name)
{
    int rc;
    int64_t now, ids[64];
    char names[64][128];
    size_t n = 0;
    sqlite3_stmt *st;

    LOCK(s);
    if ((rc = check_ctx(s, ctx, 0)) != 0)
        goto out;
    if (!id && !(name && *name)) {
        set_err(s, "id or name: required");
        rc = SG_EINVAL;
        goto out;
    }
    now = now_or(ctx->now);
    if ((rc = tx_begin_write(s)) != 0)
        goto out;
    if (!(st = stmt(s, ST_TOK_FIND_LIVE))) {
        rc = SG_EDB;
        goto out_tx;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, name && *name ? name : NULL);
    /* Bound: names are unique among live tokens, so normally one row. */
    while (n < SG_ARRAY_LEN(ids) && sqlite3_step(st) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(st, 0);
        snprintf(names[n], sizeof names[n], "%s", col_text(st, 1) ? col_text(st, 1) : "");
        n++;
    }
    sqlite3_reset(st);
    if (n == 0) {
        set_err(s, "token %s: no live token", name && *name ? name : "id");
        rc = SG_ENOTFOUND;
        goto out_tx;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!(st = stmt(s, ST_TOK_REVOKE))) {
            rc = SG_EDB;
            break;
        }
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, ctx->actor);
        if ((rc = exec_stmt(s, st, "token revoke")) != 0)
            break;
        jw_t *w = detail_begin();
        if (w)
            jw_kstr(w, "name", names[i]);
        rc = audit(s, ctx, now, "token.revoke", "token", ids[i], detail_end(w));
        jw_free(w);
    }
out_tx:
    rc = tx_end(s, rc);
out:
    UNLOCK(s);
    return rc;
}

int store_token_list(store_t *s, int include_revoked, store_token_cb cb, void *arg)
{
    struct store_token_info t;
    sqlite3_stmt *st;
    int rc;

    LOCK(s);
    if (!(st = stmt(s, ST_TOK_LIST))) {
        rc = SG_EDB;
        goto out;
    }
    sqlite3_bind_int(st, 1, include_revoked);
    WALK(s, st, t, read_tok_row, cb, arg, "token list");
out:
    UNLOCK(s);
    return rc;
}

/* ---- audit -------------------------------------------------------------- */

static void read_audit_row(sqlite3_stmt *st, struct store_audit_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->ts = sqlite3_column_int64(st, 1);
    r->actor = col_text(st, 2);
    r->action = col_text(st, 3);
    r->object = col_text(st, 4);
    r->object_id = sqlite3_column_int64(st, 5);
    r->detail = col_text(st, 6);
    r->reason = col_text(st, 7);
    r->ticket = col_text(st, 8);
}

int store_audit_list(store_t *s, const struct store_audit_query *q, store_audit_cb cb, void *arg)
{
    static const struct store_audit_query none;
    struct store_audit_row r;
    sqlite3_stmt *st;
    int rc;

    if (!q)
        q = &none;
    LOCK(s);
    if (!(st = stmt(s, ST_AUDIT_LIST))) {
        rc = SG_EDB;
        goto out;
    }
    bind_opt_text(st, 1, q->actor);
    bind_opt_text(st, 2, q->action);
    bind_opt_text(st, 3, q->object);
    sqlite3_bind_int64(st, 4, q->object_id);
    bind_opt_text(st, 5, q->ticket);
    sqlite3_bind_int64(st, 6, q->since);
    sqlite3_bind_int64(st, 7, q->until);
    sqlite3_bind_int64(st, 8, q->before_id);
    sqlite3_bind_int64(st, 9, q->limit > 0 ? q->limit : 100);
    WALK(s, st, r, read_audit_row, cb, arg, "audit list");
out:
    UNLOCK(s);
    return rc;
}

/* ---- message log reads -------------------------------------------------- */

static void read_msg_row(sqlite3_stmt *st, struct store_msg_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->ts_us = sqlite3_column_int64(st, 1);
    r->account = col_text(st, 2);
    r->source_addr = col_text(st, 3);
    r->source_ton = sqlite3_column_int(st, 4);
    r->dest_addr = col_text(st, 5);
    r->src_ip = col_text(st, 6);
    r->action = col_text(st, 7);
    r->score = sqlite3_column_int(st, 8);
    r->reasons = col_text(st, 9);
    r->fingerprint = col_text(st, 10);
    r->snippet = col_text(st, 11);
    r->parts = sqlite3_column_int(st, 12);
    r->message_id = col_text(st, 13);
    r->smsc_status = sqlite3_column_type(st, 14) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 14);
    r->smsc_resp_ts_us = sqlite3_column_int64(st, 15);
    r->receipt_stat = col_text(st, 16);
    r->receipt_err = col_text(st, 17);
    r->receipt_ts_us = sqlite3_column_int64(st, 18);
    r->enforced = sqlite3_column_int(st, 19);
}

int store_timeline(store_t *s, const struct store_timeline_query *q, store_msg_cb cb, void *arg)
{
    struct store_msg_row r;
    sqlite3_stmt *st;
    int rc;
    int64_t limit;

    if (!q || !q->msisdn || !*q->msisdn) {
        if (s)
            set_err(s, "msisdn: required");
        return SG_EINVAL;
    }
    limit = q->limit > 0 ? q->limit : 100;
    if (limit > 10000)
        limit = 10000;
    LOCK(s);
    if (!(st = stmt(s, ST_MSG_TIMELINE))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, q->msisdn);
    sqlite3_bind_int64(st, 2, q->since_us > 0 ? q->since_us : INT64_MIN);
    sqlite3_bind_int64(st, 3, q->until_us > 0 ? q->until_us : INT64_MAX);
    bind_opt_text(st, 4, q->sender);
    sqlite3_bind_int64(st, 5, limit);
    sqlite3_bind_int64(st, 6, store_addr_key(q->msisdn));
    WALK(s, st, r, read_msg_row, cb, arg, "timeline");
out:
    UNLOCK(s);
    return rc;
}

/* (ts, id) order: a before b when a is newer. */
static int posting_newer(const struct posting *a, const struct posting *b)
{
    return a->ts != b->ts ? a->ts > b->ts : a->id > b->id;
}

static int posting_newest_first(const void *x, const void *y)
{
    const struct posting *a = x, *b = y;
    return posting_newer(a, b) ? -1 : posting_newer(b, a) ? 1 : 0;
}

/* The kept entries: a heap of at most `limit`, the oldest at the top. */
static void heap_sift_down(struct posting *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, o = i;
        if (l < n && posting_newer(&h[o], &h[l]))
            o = l;
        if (r < n && posting_newer(&h[o], &h[r]))
            o = r;
        if (o == i)
            return;
        struct posting t = h[i];
        h[i] = h[o];
        h[o] = t;
        i = o;
    }
}

static void heap_push(struct posting *h, size_t *n, size_t limit, struct posting e)
{
    if (*n == limit) { /* e is newer than the top (the caller checked) */
        h[0] = e;
        heap_sift_down(h, *n, 0);
        return;
    }
    size_t i = (*n)++;
    h[i] = e;
    while (i > 0 && posting_newer(&h[(i - 1) / 2], &h[i])) {
        struct posting t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The sender's newest `limit` entries from since_us on and, when after is
 * not NULL, older than *after, as (ts, id), newest first, in top[] (limit
 * entries), their number in *n; run[] is scratch of POSTINGS_MAX entries.
 * Entries only: whether each still names a row of this sender is for the
 * caller to see (sender_walk).  The lists come newest (ts_last) first; a
 * list whose newest entry is older than the oldest kept one cannot give
 * anything, and neither can any list after it, so the walk stops there:
 * the work follows the rows asked for, not the sender's volume.  Under
 * s's lock. */
static int sender_newest(store_t *s, const char *sender, int64_t since_us,
                         const struct posting *after, size_t limit, struct posting *top,
                         struct posting *run, size_t *n)
{
    sqlite3_stmt *st = stmt(s, ST_SENDER_RUNS);
    int rc = 0, step_rc;

    *n = 0;
    if (!st)
        return SG_EDB;
    sqlite3_bind_int64(st, 1, store_addr_key(sender));
    sqlite3_bind_int64(st, 2, since_us);
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct postings_reader r;
        size_t nrun = 0;
        int got;

        if (*n == limit && sqlite3_column_int64(st, 0) < top[0].ts)
            break;
        if (postings_open(&r, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1)) != 0)
            got = -1;
        else
            while ((got = postings_next(&r, &run[nrun])) == 1)
                nrun++; /* bound: postings_next stops at POSTINGS_MAX */
        if (got < 0) {
            set_err(s, "sender lookup: a damaged posting list in message_log_sender_runs"
                       " (source_key %lld, ts_last %lld)",
                    (long long)store_addr_key(sender), (long long)sqlite3_column_int64(st, 0));
            rc = SG_EDB;
            break;
        }
        /* Newest ids first: their times are the newest but for rows out
         * of order (a multipart message is logged when its last part
         * comes), so the heap fills from the first entries and most of the
         * rest fail the first comparison. */
        for (size_t i = nrun; i-- > 0;) {
            if (run[i].ts < since_us || (after && !posting_newer(after, &run[i])) ||
                (*n == limit && !posting_newer(&run[i], &top[0])))
                continue;
            heap_push(top, n, limit, run[i]);
        }
    }
    if (rc == 0 && step_rc != SQLITE_ROW && step_rc != SQLITE_DONE)
        rc = db_err(s, "sender lists");
    sqlite3_reset(st);
    if (rc == 0)
        qsort(top, *n, sizeof *top, posting_newest_first);
    return rc;
}

/* Candidates a walk takes beyond the rows asked for, so that a few entries
 * whose rows are gone do not cost a second walk; and the most it takes at
 * once when many are gone. */
#define SENDER_SLACK(limit) ((limit) / 4 + 4)
#define SENDER_WANT_MAX 65536

/* Gives cb the sender's newest `limit` rows from since_us on, newest first
 * (equal times: larger id first).  The entries come from sender_newest();
 * each row is read by id and given only when it is still this sender's
 * at that time: a list may name a row deleted since (deletes leave the
 * lists alone), or one of another sender whose key collides with this
 * one's (store_addr_key).  When too many were not, the lists are walked
 * again for the entries older than the last one seen, with twice the
 * candidates.  Bound: each walk either ends the loop or moves past `want`
 * entries of the sender's lists.  Under s's lock. */
static int sender_walk(store_t *s, const char *sender, int64_t since_us, size_t limit,
                       store_msg_cb cb, void *arg)
{
    size_t want = limit + SENDER_SLACK(limit), given = 0, n;
    struct posting *top = malloc(want * sizeof *top);
    struct posting *run = malloc(POSTINGS_MAX * sizeof *run);
    struct posting last;
    int rc = 0, have_last = 0;
    /* One read transaction for the lists and the rows, unless the caller
     * has one open (store_read_begin): one snapshot, and one lock taken
     * and given back instead of one per statement (a system call each). */
    int own_tx = sqlite3_get_autocommit(s->db);

    if (!top || !run) {
        set_err(s, "sender lookup: out of memory");
        rc = SG_ENOSPC;
    } else if (own_tx) {
        rc = run_simple(s, ST_BEGIN, "sender lookup begin");
    }
    while (rc == 0) {
        rc = sender_newest(s, sender, since_us, have_last ? &last : NULL, want, top, run, &n);
        for (size_t i = 0; rc == 0 && i < n && given < limit; i++) {
            sqlite3_stmt *st = stmt(s, ST_MSG_BY_ID);
            struct store_msg_row r;
            int step_rc;
            if (!st) {
                rc = SG_EDB;
                break;
            }
            /* The same entry twice (a list written twice: never by this
             * writer, msglog_new) is one row. */
            if (i > 0 && top[i].id == top[i - 1].id && top[i].ts == top[i - 1].ts)
                continue;
            last = top[i];
            have_last = 1;
            sqlite3_bind_int64(st, 1, top[i].id);
            if ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
                read_msg_row(st, &r);
                if (r.ts_us == top[i].ts && r.source_addr && strcmp(r.source_addr, sender) == 0) {
                    given++;
                    rc = cb(arg, &r);
                }
            } else if (step_rc != SQLITE_DONE) {
                rc = db_err(s, "sender messages");
            }
            sqlite3_reset(st);
        }
        if (rc || given == limit || n < want)
            break; /* done, or the lists hold nothing more */
        if (want < SENDER_WANT_MAX) {
            struct posting *more = realloc(top, 2 * want * sizeof *top);
            if (!more) {
                set_err(s, "sender lookup: out of memory");
                rc = SG_ENOSPC;
                break;
            }
            top = more;
            want *= 2;
        }
    }
    if (own_tx && !sqlite3_get_autocommit(s->db)) {
        int end = run_simple(s, ST_COMMIT, "sender lookup commit");
        if (end != 0 && !sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* never hold the snapshot */
        rc = rc ? rc : end;
    }
    free(top);
    free(run);
    return rc;
}

int store_sender_messages(store_t *s, const char *sender, int64_t since_us, int limit,
                          store_msg_cb cb, void *arg)
{
    int rc;
    if (!sender)
        return SG_EINVAL;
    LOCK(s);
    rc = sender_walk(s, sender, since_us > 0 ? since_us : INT64_MIN,
                     limit > 0 ? (limit > 10000 ? 10000 : (size_t)limit) : 100, cb, arg);
    UNLOCK(s);
    return rc;
}

int store_sender_stats(store_t *s, const char *sender, int64_t since_us,
                       struct store_sender_stats *out)
{
    sqlite3_stmt *st;
    int rc;

    memset(out, 0, sizeof *out);
    if (!sender)
        return SG_EINVAL;
    LOCK(s);
    if (!(st = stmt(s, ST_MSG_SENDER_STATS))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, sender);
    sqlite3_bind_int64(st, 2, since_us > 0 ? STORE_SENDER_BUCKET(since_us) : INT64_MIN);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->buckets = sqlite3_column_int64(st, 0);
        out->total = sqlite3_column_int64(st, 1);
        out->allowed = sqlite3_column_int64(st, 2);
        out->flagged = sqlite3_column_int64(st, 3);
        out->blocked = sqlite3_column_int64(st, 4);
        out->recipients = sqlite3_column_int64(st, 5);
        out->first_bucket_us = sqlite3_column_int64(st, 6); /* NULL -> 0 */
        out->last_bucket_us = sqlite3_column_int64(st, 7);
        rc = 0;
    } else {
        rc = db_err(s, "sender stats");
    }
    sqlite3_reset(st);
out:
    UNLOCK(s);
    return rc;
}

struct latest {
    int found;
    int64_t ts_us;
};

static int latest_ts(void *arg, const struct store_msg_row *r)
{
    struct latest *l = arg;
    l->found = 1;
    l->ts_us = r->ts_us;
    return 0;
}

int store_sender_latest(store_t *s, const char *sender, int64_t *ts_us)
{
    struct latest l = {0};
    int rc;
    *ts_us = 0;
    if (!sender)
        return SG_EINVAL;
    LOCK(s);
    rc = sender_walk(s, sender, INT64_MIN, 1, latest_ts, &l);
    UNLOCK(s);
    if (rc == 0 && !l.found)
        return SG_ENOTFOUND;
    *ts_us = l.ts_us;
    return rc;
}

int store_alert_messages(store_t *s, const char *sender, int64_t since_us, int limit,
                         store_msg_cb cb, void *arg)
{
    struct store_msg_row r;
    sqlite3_stmt *st;
    int rc;

    LOCK(s);
    if (!(st = stmt(s, ST_MSG_ALERTS))) {
        rc = SG_EDB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, since_us > 0 ? since_us : INT64_MIN);
    bind_opt_text(st, 2, sender);
    sqlite3_bind_int64(st, 3, limit > 0 ? (limit > 10000 ? 10000 : limit) : 100);
    WALK(s, st, r, read_msg_row, cb, arg, "alerts");
out:
    UNLOCK(s);
    return rc;
}

/* Retention.  Rows are deleted from the oldest id upwards in slices of
 * PRUNE_SLICE, one transaction each, so a concurrent writer waits at most
 * one slice.  Age: ids follow packet time closely (one writer, packets in
 * order), so the walk stops at the first slice with nothing older than the
 * cutoff instead of scanning the table for stragglers.  Count: ids are
 * dense but for dropped rows, so "id <= max_id - max_rows" keeps at most
 * max_rows rows without a COUNT(*) scan. */
#define PRUNE_SLICE 10000

static int prune_exec(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t *changed)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return SG_EDB;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *changed = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        *changed = sqlite3_changes(db);
        rc = 0;
    } else {
        rc = SG_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Sender statistics and posting lists go with the rows they count or
 * name: every bucket that ends at or before the start of the oldest row's
 * bucket (the bucket holding the oldest row stays, counting some pruned
 * rows, until the log leaves it), and every list all of whose ids are
 * below the smallest id left (by id, not time: a row logged late, a
 * multipart message or another link's, may be older than rows with
 * smaller ids, and keeps its list as long as it is there; a list that
 * names some pruned rows stays, and the lookups skip them).  An empty log
 * keeps neither.  Sliced like the rows; the indexes on bucket and last_id
 * make each slice a range read.  Bound: each loop deletes at least one
 * row or stops. */
static int prune_sender_tables(sqlite3 *db)
{
    int64_t oldest = -1, min_id = -1, n;
    int rc;
    if ((rc = prune_exec(db, "SELECT (SELECT ts FROM message_log ORDER BY id LIMIT 1)", 0, 0,
                         &oldest)) != 0 ||
        (rc = prune_exec(db, "SELECT MIN(id) FROM message_log", 0, 0, &min_id)) != 0)
        return rc;
    int64_t cut = oldest >= 0 ? STORE_SENDER_BUCKET(oldest) : INT64_MAX;
    int64_t id_cut = min_id >= 0 ? min_id : INT64_MAX;
    for (;;) {
        if ((rc = prune_exec(db, "DELETE FROM sender_stats WHERE (sender, bucket) IN"
                                 " (SELECT sender, bucket FROM sender_stats WHERE bucket < ?1"
                                 "  LIMIT ?2)", cut, PRUNE_SLICE, &n)) != 0 || n == 0)
            break;
    }
    for (;;) {
        if (rc != 0 ||
            (rc = prune_exec(db, "DELETE FROM message_log_sender_runs"
                                 " WHERE (source_key, ts_last, first_id) IN"
                                 " (SELECT source_key, ts_last, first_id FROM message_log_sender_runs"
                                 "  WHERE last_id < ?1 LIMIT ?2)", id_cut, PRUNE_SLICE, &n)) != 0 ||
            n == 0)
            break;
    }
    return rc;
}

int store_sqlite_prune(sqlite3 *db, int64_t older_than_us, int64_t max_rows, int64_t *deleted)
{
    int64_t total = 0, lo, hi, n;
    int rc = 0;

    /* Bound: each loop deletes at least one row or stops; the table is
     * finite. */
    if (older_than_us > 0) {
        for (;;) {
            if ((rc = prune_exec(db, "SELECT MIN(id) FROM message_log", 0, 0, &lo)) != 0 || lo < 0)
                break;
            if ((rc = prune_exec(db, "DELETE FROM message_log WHERE id >= ?1 AND id < ?1 + 10000"
                                     " AND ts < ?2", lo, older_than_us, &n)) != 0 || n == 0)
                break;
            total += n;
        }
    }
    if (rc == 0 && max_rows > 0) {
        if ((rc = prune_exec(db, "SELECT MAX(id) FROM message_log", 0, 0, &hi)) == 0 && hi >= 0) {
            int64_t cut = hi - max_rows; /* delete id <= cut */
            for (;;) {
                if ((rc = prune_exec(db, "SELECT MIN(id) FROM message_log", 0, 0, &lo)) != 0 ||
                    lo < 0 || lo > cut)
                    break;
                int64_t top = lo + PRUNE_SLICE - 1 < cut ? lo + PRUNE_SLICE - 1 : cut;
                if ((rc = prune_exec(db, "DELETE FROM message_log WHERE id >= ?1 AND id <= ?2",
                                     lo, top, &n)) != 0)
                    break;
                total += n;
            }
        }
    }
    if (rc == 0)
        rc = prune_sender_tables(db);
    if (deleted)
        *deleted = total;
    return rc;
}

int store_msglog_prune(store_t *s, int64_t older_than_us, int64_t max_rows, int64_t *deleted)
{
    int rc;
    LOCK(s);
    rc = store_sqlite_prune(s->db, older_than_us, max_rows, deleted);
    if (rc)
        db_err(s, "prune");
    UNLOCK(s);
    return rc;
}

/* ---- rules metadata ----------------------------------------------------- */

int store_meta_set(store_t *s, const char *key, const char *value)
{
    int rc;
    sqlite3_stmt *st;
    LOCK(s);
    if ((rc = check_field(s, "key", key, 1, 128)) ||
        (rc = check_field(s, "value", value, 0, LONG_FIELD_MAX)))
        goto out;
    if (!(st = stmt(s, value ? ST_META_SET : ST_META_DEL))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, key);
    if (value) {
        bind_text(st, 2, value);
        sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    }
    rc = exec_stmt(s, st, "rules_meta");
out:
    UNLOCK(s);
    return rc;
}

int store_meta_get(store_t *s, const char *key, char *buf, size_t cap)
{
    int rc;
    sqlite3_stmt *st;
    LOCK(s);
    if (!(st = stmt(s, ST_META_GET))) {
        rc = SG_EDB;
        goto out;
    }
    bind_text(st, 1, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(buf, cap, "%s", col_text(st, 0) ? col_text(st, 0) : "");
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = SG_ENOTFOUND;
    } else {
        rc = db_err(s, "rules_meta");
    }
    sqlite3_reset(st);
out:
    UNLOCK(s);
    return rc;
}
