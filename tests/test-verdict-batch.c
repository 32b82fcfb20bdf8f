/* verdict_judge_batch() against verdict_judge(): two engines built alike
 * judge the same stream of messages, one a message at a time without the
 * text memo, the other in vectors of random length with it (the stream's
 * texts repeat), and must agree on every verdict (action,
 * score, reasons and their details, the deciding reason, alert, verified,
 * fingerprint, shadow hits, snippet), on the engine counters and on every
 * rule's hit counter.
 *
 * The stream has what makes the staged order differ from the plain one if
 * anything is wrong: messages the lists decide before their rules
 * (spoofing, an exception, a blacklisted sender: their scans must not be
 * counted), volume triggers and automatic blacklist entries that a later
 * message of the same vector must see, texts long enough to end a vector
 * early (and one past the normaliser's capacity), binary and empty texts,
 * invalid UTF-8, URLs, and a rule set where one text hits more rules than
 * a scan's list holds (the counted rescan).  And a memo must not outlive
 * its rule set: a reload's verdicts are those of a fresh engine. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lists.h"
#include "rules-db.h"
#include "rules-parse.h"
#include "testutil.h"
#include "verdict.h"

static const int64_t NOW = 1800000000;
static struct sg_endpoint ESME = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3}, 40000, 1};

static lists_t *test_lists(void)
{
    lists_t *l = lists_new();
    struct lists_whitelist_entry w = {.id = 1, .sender = "QIWI", .ton = 5, .account = "qiwi_otp",
                                      .provider = "QIWI Bank", .verified_by = "ops-anna"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    struct lists_blacklist_entry b = {.id = 10, .kind = LISTS_BL_SENDER, .value = "79001234567",
                                      .reason = "complaints", .created_at = NOW - 1000};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    struct lists_exception_entry x = {.id = 20, .sender = "79001234567", .msisdn = "79121234567",
                                      .reason = "customer's bank", .ticket = "INC-7",
                                      .expires_at = NOW + 86400};
    CHECK_EQ_INT(lists_add_exception(l, &x), 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    return l;
}

/* The shipped rules are compiled once, then loaded from this cache. */
static char cache_dir[] = "/tmp/test-verdict-batch.XXXXXX";

static void remove_cache(void)
{
    DIR *d = opendir(cache_dir);
    struct dirent *de;
    char path[512];
    while (d && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", cache_dir, de->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(cache_dir);
}

/* A rule set from source text. */
static rules_db_t *rules_from(const char *src)
{
    rules_db_t *db = NULL;
    rules_diag_t *d = rules_diag_new(0);
    rules_set_t *set = rules_set_new();
    int rc = rules_parse_buffer(set, "test.rules", src, strlen(src), d);
    if (rc == 0)
        rc = rules_db_build(set, NULL, &db, d, NULL);
    if (rc)
        rules_diag_print(d, stderr);
    CHECK_EQ_INT(rc, 0);
    rules_diag_free(d);
    return db;
}

/* The shipped rules, or, with flood, 300 rules that all match "flood" in
 * the text: more hits than one scan's list keeps; and rules on the sender
 * (the shipped set has none), eight of them for the same senders. */
static rules_db_t *test_rules(int flood)
{
    if (!flood) {
        rules_db_t *db = NULL;
        rules_diag_t *d = rules_diag_new(0);
        struct rules_build_opts opts = {.cache_dir = cache_dir};
        int rc = rules_db_load(test_source_path("rules"), &opts, &db, d, NULL);
        if (rc)
            rules_diag_print(d, stderr);
        CHECK_EQ_INT(rc, 0);
        rules_diag_free(d);
        return db;
    }
    size_t cap = 310 * 96, n = 0;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(buf + n, cap - n,
                              "rule F-%03d\n  name \"flood %d\"\n  match \"flood\"\n  score 1\nend\n", i, i);
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(buf + n, cap - n,
                              "rule S-%d\n  name \"p2p %d\"\n  field sender\n  match \"7900555\"\n  score 1\nend\n",
                              i, i);
    n += (size_t)snprintf(buf + n, cap - n, "rule S-SHOP\n  name \"shop\"\n  field sender\n  match \"SHOP\"\n"
                                            "  score 2\nend\n");
    n += (size_t)snprintf(buf + n, cap - n, "rule S-Q\n  name \"q\"\n  field sender\n  match /^Q.WI$/\n"
                                            "  score 1\nend\n");
    rules_db_t *db = rules_from(buf);
    free(buf);
    return db;
}

static verdict_engine_t *engine_with(rules_db_t *rules, size_t memo_entries)
{
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.text_memo_entries = memo_entries;
    /* Low thresholds: volume triggers and automatic entries every few
     * messages, so later messages of one vector meet them. */
    cfg.sender_max_recipients = 4;
    cfg.fingerprint_max_recipients = 6;
    cfg.account_max_recipients = 12;
    cfg.fingerprint_min_len = 10;
    char err[256] = "";
    verdict_engine_t *e = verdict_engine_new(&cfg, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    CHECK_EQ_INT(verdict_engine_set_lists(e, test_lists()), 0);
    CHECK_EQ_INT(verdict_engine_set_rules(e, rules), 0);
    CHECK_EQ_INT(verdict_engine_load_domains(e, test_source_path("rules"), err, sizeof err), 0);
    return e;
}

static verdict_engine_t *engine(int flood)
{
    return engine_with(test_rules(flood), 256);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

struct sender {
    const char *addr, *account;
    int ton;
};

static const struct sender SENDERS[] = {
    {"QIWI", "qiwi_otp", 5},     /* verified */
    {"QIWI", "bulk_gw", 5},      /* spoofed */
    {"QlWI", "bulk_gw", 5},      /* look-alike */
    {"79001234567", "p2p", 1},   /* blacklisted, with one exception */
    {"79005550001", "p2p", 1},
    {"79005550002", "p2p", 1},
    {"79005550003", "bulk_gw", 1},
    {"SHOP", "bulk_gw", 5},
    {"", "bulk_gw", 0},
};

static char long_text[30000], huge_text[70000];

static const char *const TEXTS[] = {
    "Ваш займ без отказа одобрен! Получите 30000 руб: http://bit.ly/zaim",
    "QIWI: Vash koshelek zablokirovan. Podtverdite dannye: http://qiwi-secure.xyz/login",
    "You have WON a 1000 prize! Call 09061234567 now to claim",
    "Ok, I'll call you later",
    "Ваш код 123456. Никому не сообщайте",
    "Kod podtverzhdeniya: 4821",
    "Claim at hxxp://evil[.]top/login today",
    "З А Й М без отказа, звоните",
    "W-I-N a free iPhone: https://win-prize.top/a?b=1",
    "С днём рождения! Счастья, здоровья и удачи!",
    "flood flood flood",
    "\xff\xfe invalid \xc3 bytes FREE PRIZE",
    NULL, /* long_text */
    NULL, /* huge_text */
    NULL, /* binary */
    "",
};

static const char *const RECIPIENTS[] = {"79121234567", "89121234567", "79120000001", "79120000002",
                                         "79120000003", "79120000004", "79120000005", "79120000006",
                                         "79120000007", "79120000008", "+79120000009", "1234"};

static struct verdict_input make(unsigned i)
{
    const struct sender *s = &SENDERS[rnd(SG_ARRAY_LEN(SENDERS))];
    unsigned t = rnd(SG_ARRAY_LEN(TEXTS));
    struct verdict_input in;
    memset(&in, 0, sizeof in);
    in.ts = ((sg_time_us)NOW + i / 4) * 1000000u;
    in.now = NOW;
    in.account = (struct sg_view){(const uint8_t *)s->account, strlen(s->account)};
    in.source_addr = (struct sg_view){(const uint8_t *)s->addr, strlen(s->addr)};
    in.source_ton = s->ton;
    const char *d = RECIPIENTS[rnd(SG_ARRAY_LEN(RECIPIENTS))];
    in.dest_addr = (struct sg_view){(const uint8_t *)d, strlen(d)};
    in.src_ip = &ESME;
    in.parts = 1;
    const char *text = TEXTS[t];
    if (t == 12)
        text = long_text;
    else if (t == 13)
        text = huge_text;
    if (t == 14) {
        in.is_binary = 1;
    } else {
        in.text = text;
        in.text_len = strlen(text);
    }
    return in;
}

static void same_verdict(const struct verdict *a, const struct verdict *b, unsigned i)
{
    CHECK_MSG(a->action == b->action && a->score == b->score, "message %u: action %d/%d score %d/%d",
              i, a->action, b->action, a->score, b->score);
    CHECK_EQ_INT(a->n_reasons, b->n_reasons);
    CHECK_EQ_INT(a->reasons_dropped, b->reasons_dropped);
    for (unsigned r = 0; r < a->n_reasons && r < b->n_reasons; r++) {
        CHECK_EQ_INT(a->reasons[r].type, b->reasons[r].type);
        CHECK_EQ_STR(a->reasons[r].id, b->reasons[r].id);
        CHECK_EQ_STR(a->reasons[r].detail, b->reasons[r].detail);
        CHECK_EQ_INT(a->reasons[r].score, b->reasons[r].score);
    }
    CHECK_EQ_INT(a->decided_by, b->decided_by);
    CHECK_EQ_INT(a->alert, b->alert);
    CHECK_EQ_INT(a->verified, b->verified);
    CHECK_MSG(a->fingerprint == b->fingerprint, "message %u: fingerprint", i);
    CHECK_EQ_INT(a->n_shadow, b->n_shadow);
    for (unsigned r = 0; r < a->n_shadow && r < b->n_shadow; r++)
        CHECK_EQ_STR(a->shadow[r], b->shadow[r]);
    CHECK_EQ_STR(a->snippet, b->snippet);
}

static int rule_hits(void *arg, const rules_db_t *db)
{
    uint64_t *out = arg;
    size_t n = rules_db_count(db);
    out[0] = n;
    for (size_t i = 0; i < n && i < 4095; i++)
        out[1 + i] = rules_db_rule_hits(db, (uint32_t)i);
    return 0;
}

static void same_counters(verdict_engine_t *a, verdict_engine_t *b)
{
    struct verdict_stats x, y;
    verdict_engine_get_stats(a, &x);
    verdict_engine_get_stats(b, &y);
    CHECK_EQ_INT(x.messages, y.messages);
    for (int k = 0; k < 3; k++)
        CHECK_EQ_INT(x.by_action[k], y.by_action[k]);
    for (int k = 0; k < VERDICT_R_COUNT; k++)
        CHECK_EQ_INT(x.by_reason[k], y.by_reason[k]);
    CHECK_EQ_INT(x.alerts, y.alerts);
    CHECK_EQ_INT(x.shadow_hits, y.shadow_hits);
    CHECK_EQ_INT(x.autobl_created, y.autobl_created);
    CHECK_EQ_INT(x.volume_exempt_grace, y.volume_exempt_grace);
    CHECK_EQ_INT(x.volume_uncorroborated, y.volume_uncorroborated);
    CHECK_EQ_INT(x.norm_truncated, y.norm_truncated);
    CHECK_EQ_INT(x.rule_hits_dropped, y.rule_hits_dropped);
    static uint64_t ha[4096], hb[4096];
    CHECK_EQ_INT(verdict_engine_with_rules(a, rule_hits, ha), 0);
    CHECK_EQ_INT(verdict_engine_with_rules(b, rule_hits, hb), 0);
    CHECK_EQ_INT(ha[0], hb[0]);
    uint64_t total = 0;
    for (uint64_t i = 1; i <= ha[0] && i < 4096; i++) {
        CHECK_MSG(ha[i] == hb[i], "rule %llu: %llu hits one at a time, %llu in vectors",
                  (unsigned long long)i - 1, (unsigned long long)ha[i], (unsigned long long)hb[i]);
        total += ha[i];
    }
    CHECK_MSG(total > 0, "no rule hit at all: the stream tests nothing");
}

/* The hits of a message that the lists decide before its rules are not
 * counted; the same text from another sender counts once per rule, in a
 * vector as alone. */
static void test_uncounted_early_exit(void)
{
    verdict_engine_t *e = engine(1);
    verdict_worker_t *w = verdict_worker_new(e);
    static uint64_t hits[4096];
    struct verdict_input in[3];
    static struct verdict v[3];
    for (int k = 0; k < 3; k++) {
        rng = 1;
        in[k] = make(0);
        in[k].text = "flood";
        in[k].text_len = 5;
        in[k].is_binary = 0;
    }
    in[0].source_addr = (struct sg_view){(const uint8_t *)"79001234567", 11}; /* blacklisted */
    in[0].dest_addr = (struct sg_view){(const uint8_t *)"79120000001", 11};
    in[1].source_addr = (struct sg_view){(const uint8_t *)"79005550001", 11};
    in[2].source_addr = (struct sg_view){(const uint8_t *)"79001234567", 11}; /* its exception */
    in[2].dest_addr = (struct sg_view){(const uint8_t *)"79121234567", 11};
    CHECK_EQ_INT(verdict_judge_batch(w, in, v, 3), 0);
    CHECK(v[0].action == VERDICT_BLOCK && v[0].reasons[0].type == VERDICT_R_BLACKLIST);
    CHECK(v[2].action == VERDICT_ALLOW && v[2].reasons[0].type == VERDICT_R_EXCEPTION);
    CHECK(v[1].n_reasons > 0 && v[1].reasons[0].type == VERDICT_R_RULE);
    CHECK_EQ_INT(verdict_engine_with_rules(e, rule_hits, hits), 0);
    CHECK_EQ_INT(hits[0], 310);
    /* the flood rules, and the eight on 79005550001's prefix */
    for (int i = 1; i <= 308; i++)
        CHECK_EQ_INT(hits[i], 1);
    CHECK(hits[309] == 0 && hits[310] == 0);
    verdict_worker_free(w);
    verdict_engine_free(e);
}

static void differential(int flood, unsigned messages)
{
    verdict_engine_t *ea = engine_with(test_rules(flood), 0), *eb = engine(flood);
    verdict_worker_t *wa = verdict_worker_new(ea), *wb = verdict_worker_new(eb);
    CHECK(wa && wb);
    static struct verdict_input in[VERDICT_BATCH_MAX];
    static struct verdict va, vb[VERDICT_BATCH_MAX];
    unsigned done = 0, vectors = 0, blocked = 0;
    while (done < messages) {
        size_t n = 1 + rnd(VERDICT_BATCH_MAX);
        if (vectors % 7 == 0)
            n = VERDICT_BATCH_MAX;
        for (size_t k = 0; k < n; k++)
            in[k] = make(done + (unsigned)k);
        CHECK_EQ_INT(verdict_judge_batch(wb, in, vb, n), 0);
        for (size_t k = 0; k < n; k++) {
            CHECK_EQ_INT(verdict_judge(wa, &in[k], &va), 0);
            same_verdict(&va, &vb[k], done + (unsigned)k);
            blocked += va.action == VERDICT_BLOCK;
        }
        done += (unsigned)n;
        vectors++;
    }
    CHECK_MSG(blocked > 0, "nothing blocked: the stream tests nothing");
    same_counters(ea, eb);
    struct verdict_stats sa, sb;
    verdict_engine_get_stats(ea, &sa);
    verdict_engine_get_stats(eb, &sb);
    CHECK_EQ_INT(sa.text_memo_hits, 0);
    CHECK_MSG(sb.text_memo_hits > messages / 4, "the memo found %llu of %u texts: it was not tested",
              (unsigned long long)sb.text_memo_hits, messages);
    if (flood) {
        struct verdict_stats s;
        verdict_engine_get_stats(eb, &s);
        CHECK_MSG(s.rule_hits_dropped > 0, "the flood rules never overflowed a scan's list");
    }
    verdict_worker_free(wa);
    verdict_worker_free(wb);
    verdict_engine_free(ea);
    verdict_engine_free(eb);
}

/* The memo after a reload: a text the memo holds, judged under a new rule
 * set, gets the new set's verdict (as from an engine that never saw the
 * old one), in a vector and alone. */
static void test_memo_reload(void)
{
    static const char *const SET_A = "rule A-1\n  name \"prize\"\n  match \"prize\"\n  score 9\nend\n";
    static const char *const SET_B = "rule B-1\n  name \"claim\"\n  match \"claim\"\n  score 4\nend\n"
                                     "rule B-2\n  name \"call\"\n  field raw\n  match \"Call\"\n  score 1\nend\n";
    verdict_engine_t *e = engine_with(rules_from(SET_A), 256), *fresh = engine_with(rules_from(SET_B), 0);
    verdict_worker_t *w = verdict_worker_new(e), *wf = verdict_worker_new(fresh);
    CHECK(w && wf);
    static struct verdict_input in[4];
    static struct verdict v[4], ref;
    for (int k = 0; k < 4; k++) {
        rng = 7;
        in[k] = make(0);
        in[k].source_addr = (struct sg_view){(const uint8_t *)"SHOP", 4};
        in[k].text = TEXTS[2]; /* "You have WON a 1000 prize! Call ... to claim" */
        in[k].text_len = strlen(TEXTS[2]);
        in[k].is_binary = 0;
    }
    /* seen, admitted and stored, then found: the memo holds it */
    for (int k = 0; k < 3; k++)
        CHECK_EQ_INT(verdict_judge(w, &in[k], &v[k]), 0);
    struct verdict_stats s;
    verdict_engine_get_stats(e, &s);
    CHECK_EQ_INT(s.text_memo_hits, 1);
    CHECK(v[2].n_reasons > 0 && strcmp(v[2].reasons[0].id, "A-1") == 0);
    CHECK_EQ_INT(verdict_engine_set_rules(e, rules_from(SET_B)), 0);
    CHECK_EQ_INT(verdict_judge_batch(w, in, v, 4), 0);
    CHECK_EQ_INT(verdict_judge(wf, &in[0], &ref), 0);
    CHECK(ref.n_reasons >= 2 && strcmp(ref.reasons[0].id, "B-1") == 0);
    for (int k = 0; k < 4; k++)
        same_verdict(&ref, &v[k], (unsigned)k);
    verdict_engine_get_stats(e, &s);
    CHECK_MSG(s.text_memo_hits == 1, "the old set's findings were used after the reload");
    /* the vector stored it anew (a text is stored once its vector is
     * scanned), so the next one is found, with the new set's findings */
    CHECK_EQ_INT(verdict_judge(w, &in[0], &v[0]), 0);
    same_verdict(&ref, &v[0], 4);
    verdict_engine_get_stats(e, &s);
    CHECK_EQ_INT(s.text_memo_hits, 2);
    verdict_worker_free(w);
    verdict_worker_free(wf);
    verdict_engine_free(e);
    verdict_engine_free(fresh);
}

/* Bad arguments: every verdict of the vector says allow, nothing judged. */
static void test_arguments(void)
{
    verdict_engine_t *e = engine(1);
    verdict_worker_t *w = verdict_worker_new(e);
    static struct verdict_input in[VERDICT_BATCH_MAX + 1];
    static struct verdict v[VERDICT_BATCH_MAX + 1];
    for (size_t k = 0; k <= VERDICT_BATCH_MAX; k++) {
        in[k] = make((unsigned)k);
        v[k].action = VERDICT_BLOCK;
        v[k].n_reasons = 3;
    }
    CHECK_EQ_INT(verdict_judge_batch(w, in, v, VERDICT_BATCH_MAX + 1), SG_EINVAL);
    for (size_t k = 0; k <= VERDICT_BATCH_MAX; k++)
        CHECK(v[k].action == VERDICT_ALLOW && v[k].n_reasons == 0);
    CHECK_EQ_INT(verdict_judge_batch(NULL, in, v, 2), SG_EINVAL);
    CHECK_EQ_INT(verdict_judge_batch(w, NULL, v, 2), SG_EINVAL);
    CHECK_EQ_INT(verdict_judge_batch(w, in, NULL, 2), SG_EINVAL);
    CHECK_EQ_INT(verdict_judge_batch(w, in, v, 0), 0);
    struct verdict_stats s;
    verdict_engine_get_stats(e, &s);
    CHECK_EQ_INT(s.messages, 0);
    verdict_worker_free(w);
    verdict_engine_free(e);
}

int main(void)
{
    for (size_t i = 0; i + 1 < sizeof long_text; i++)
        long_text[i] = "free prize call now "[i % 20];
    for (size_t i = 0; i + 1 < sizeof huge_text; i++)
        huge_text[i] = "zaim bez otkaza http://x.top "[i % 29];
    CHECK(mkdtemp(cache_dir) != NULL);
    differential(0, 1500);
    remove_cache();
    test_uncounted_early_exit();
    differential(1, 300);
    test_arguments();
    test_memo_reload();
    return test_summary();
}
