/* A clear of a blacklisted sender, end to end through the store (issue 3):
 * the volume rule blacklists a sender automatically, the front end writes
 * the entry to SQLite (as cmd-judge.c does), a call-centre clear committed
 * on another connection (the CLI, another process) is picked up by
 * PRAGMA data_version, the very next message is allowed, and the next burst
 * within the grace period neither blocks nor re-blacklists.  After the
 * grace period the volume rule applies again.  test-verdict.c covers the
 * engine alone with hand-built snapshots; this covers the store path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"
#include "verdict.h"

#define NOW 1800000000LL

static verdict_engine_t *eng;
static verdict_worker_t *wk;
static store_t *st;
static int64_t data_version;
static uint64_t ts_us = 1700000000000000ULL;
static unsigned next_dst = 1;

static enum verdict_action judge(int64_t now, struct verdict *v)
{
    char dst[16];
    snprintf(dst, sizeof dst, "7916%07u", next_dst++);
    const char *text = "Your parcel is waiting at the pick-up point, open until nine";
    struct verdict_input in = {
        .ts = ts_us += 1000, .now = now,
        .account = {(const uint8_t *)"farm7", 5},
        .source_addr = {(const uint8_t *)"Parcels", 7}, .source_ton = 5, .source_npi = 0,
        .dest_addr = {(const uint8_t *)dst, strlen(dst)},
        .text = text, .text_len = strlen(text), .parts = 1,
    };
    CHECK_EQ_INT(verdict_judge(wk, &in, v), 0);
    return v->action;
}

static int has_reason(const struct verdict *v, enum verdict_reason_type t)
{
    for (unsigned i = 0; i < v->n_reasons; i++)
        if (v->reasons[i].type == t)
            return 1;
    return 0;
}

static void reload(int64_t now)
{
    lists_t *l = NULL;
    CHECK_EQ_INT(store_load_lists(st, now, &l), 0);
    CHECK_EQ_INT(verdict_engine_set_lists(eng, l), 0);
    CHECK_EQ_INT(store_data_version(st, &data_version), 0);
}

/* What cmd-judge.c's write_autobl does; returns entries written. */
static int write_autobl(int64_t now)
{
    struct verdict_autobl ev[16];
    size_t n;
    int wrote = 0;
    while ((n = verdict_engine_drain_autobl(eng, ev, 16)) > 0)
        for (size_t i = 0; i < n; i++) {
            struct store_change ctx = {.now = ev[i].created_at, .actor = "engine", .reason = ev[i].reason};
            int64_t id;
            CHECK_EQ_INT(store_blacklist_add(st, &ctx, ev[i].kind, ev[i].value, 1, ev[i].expires_at, &id), 0);
            wrote++;
        }
    if (wrote)
        reload(now);
    return wrote;
}

static int64_t sender_entry_id;

static int find_entry(void *arg, const struct store_blacklist_row *r)
{
    (void)arg;
    if (r->b.kind == LISTS_BL_SENDER && r->b.automatic && !r->b.cleared_at)
        sender_entry_id = r->b.id;
    return 0;
}

int main(void)
{
    char path[] = "/tmp/sg-clear-grace-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    char err[STORE_ERRBUF_SIZE];
    CHECK_EQ_INT(store_open(&st, path, STORE_OPEN_CREATE, err), 0);
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.volume_corroborate_score = 0; /* blacklisting on volume alone */
    eng = verdict_engine_new(&cfg, err, sizeof err);
    wk = eng ? verdict_worker_new(eng) : NULL;
    CHECK(eng && wk && st);
    if (!eng || !wk || !st)
        return test_summary();
    reload(NOW);
    struct verdict v;
    /* Active sender entries, as of a wall clock inside the test's day. */
    struct store_list_query q = {.now = NOW + 62, .kind = LISTS_BL_SENDER};

    /* 1. A burst past sender_max_recipients: blocked by volume, blacklisted. */
    unsigned blocked = 0;
    for (unsigned i = 0; i < cfg.sender_max_recipients + 10; i++)
        blocked += judge(NOW, &v) == VERDICT_BLOCK;
    CHECK(blocked >= 10);
    CHECK(write_autobl(NOW) >= 1);
    judge(NOW, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST));

    /* 2. The call centre clears it from another connection (the CLI). */
    CHECK_EQ_INT(store_blacklist_list(st, &q, find_entry, NULL), 0);
    CHECK(sender_entry_id > 0);
    store_t *cli = NULL;
    CHECK_EQ_INT(store_open(&cli, path, 0, err), 0);
    struct store_change clr = {.now = NOW + 60, .actor = "cc-olga", .reason = "customer's parcels", .ticket = "CC-1"};
    CHECK_EQ_INT(store_blacklist_clear(cli, &clr, sender_entry_id), 0);
    store_close(cli);
    int64_t dv = 0;
    CHECK_EQ_INT(store_data_version(st, &dv), 0);
    CHECK_MSG(dv != data_version, "the clear did not move data_version");
    reload(NOW + 61);

    /* 3. The very next message is allowed; the next burst, within grace and
     *    within the same volume window, is neither blocked nor re-listed. */
    CHECK_EQ_INT(judge(NOW + 61, &v), VERDICT_ALLOW);
    CHECK(!has_reason(&v, VERDICT_R_BLACKLIST));
    unsigned not_allowed = 0;
    for (unsigned i = 0; i < 3 * cfg.sender_max_recipients; i++)
        not_allowed += judge(NOW + 62, &v) != VERDICT_ALLOW;
    CHECK_EQ_INT(not_allowed, 0);
    CHECK_EQ_INT(write_autobl(NOW + 62), 0);
    struct verdict_stats vs;
    verdict_engine_get_stats(eng, &vs);
    CHECK(vs.volume_exempt_grace >= 3 * cfg.sender_max_recipients);
    sender_entry_id = 0;
    CHECK_EQ_INT(store_blacklist_list(st, &q, find_entry, NULL), 0);
    CHECK_EQ_INT(sender_entry_id, 0);

    /* 4. After the grace period the volume rule applies again. */
    int64_t later = NOW + 60 + cfg.clear_grace_s + 1;
    reload(later);
    ts_us += (uint64_t)cfg.window_s * 2000000ULL; /* a fresh window */
    blocked = 0;
    for (unsigned i = 0; i < cfg.sender_max_recipients + 10; i++)
        blocked += judge(later, &v) == VERDICT_BLOCK;
    CHECK(blocked >= 10);
    CHECK(write_autobl(later) >= 1);

    verdict_worker_free(wk);
    verdict_engine_free(eng);
    store_close(st);
    test_remove_db(path);
    return test_summary();
}
