/* The verdict engine (filter/verdict.h), stage by stage, with the cases
 * the product exists for: a verified provider's OTP never lost, spoofed
 * and look-alike senders blocked, exceptions narrow, a blacklist clear
 * effective at once and not undone by the volume rule within grace. */
#include <arpa/inet.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lists.h"
#include "rules-db.h"
#include "testutil.h"
#include "verdict.h"

static const int64_t NOW = 1800000000;

static const char RULES[] =
    "rule T-LOAN\n"
    "  name \"loan without refusal\"\n"
    "  field text\n"
    "  match \"займ без отказа\"\n"
    "  score 6\n"
    "end\n"
    "rule T-WON\n"
    "  name \"you have won\"\n"
    "  field text\n"
    "  match /you have won/\n"
    "  score 3\n"
    "end\n"
    "rule T-SHADOW\n"
    "  name \"trial rule\"\n"
    "  field text\n"
    "  match \"shadowword\"\n"
    "  score 10\n"
    "  state shadow\n"
    "end\n"
    "rule T-FORCE\n"
    "  name \"forced block\"\n"
    "  field raw\n"
    "  match \"FORCEBLOCK\"\n"
    "  score 0\n"
    "  action block\n"
    "end\n"
    "rule T-SENDER\n"
    "  name \"premium sender\"\n"
    "  field sender\n"
    "  match /^PRIZE/\n"
    "  score 2\n"
    "end\n"
    "rule T-DOM\n"
    "  name \"rule on a domain\"\n"
    "  field domain\n"
    "  match /^(.*\\.)?rule-dom\\.top$/\n"
    "  score 5\n"
    "end\n";

static rules_db_t *test_rules(void)
{
    rules_set_t *set = rules_set_new();
    rules_diag_t *d = rules_diag_new(0);
    int rc = rules_parse_buffer(set, "test.rules", RULES, sizeof RULES - 1, d);
    if (rc)
        rules_diag_print(d, stderr);
    CHECK_EQ_INT(rc, 0);
    rules_db_t *db = NULL;
    rc = rules_db_build(set, NULL, &db, d, NULL);
    if (rc)
        rules_diag_print(d, stderr);
    CHECK_EQ_INT(rc, 0);
    rules_diag_free(d);
    return db;
}

static struct sg_endpoint ESME = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3}, 40000, 1};

/* Base snapshot: QIWI and 7494 verified on qiwi_otp; a manually
 * blacklisted sender with an exception to one subscriber. */
static void add_base(lists_t *l, int64_t cleared_at)
{
    struct lists_whitelist_entry w = {.id = 1, .sender = "QIWI", .ton = 5, .account = "qiwi_otp",
                                      .provider = "QIWI Bank", .verified_by = "ops-anna"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    w = (struct lists_whitelist_entry){.id = 2, .sender = "7494", .ton = -1, .account = "qiwi_otp",
                                       .source_cidrs = "10.1.0.0/16", .provider = "QIWI Bank"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    struct lists_blacklist_entry b = {.id = 10, .kind = LISTS_BL_SENDER, .value = "79001234567",
                                      .reason = "complaints", .created_at = NOW - 1000,
                                      .cleared_at = cleared_at,
                                      .cleared_by = cleared_at ? "cc-olga" : NULL,
                                      .clear_reason = cleared_at ? "bank OTP sender" : NULL};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    struct lists_exception_entry x = {.id = 20, .sender = "79001234567", .msisdn = "79121234567",
                                      .reason = "customer's bank", .ticket = "INC-7",
                                      .expires_at = NOW + 86400};
    CHECK_EQ_INT(lists_add_exception(l, &x), 0);
}

static lists_t *base_lists(void)
{
    lists_t *l = lists_new();
    add_base(l, 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    return l;
}

static verdict_engine_t *engine(const struct verdict_config *cfg)
{
    char err[256] = "";
    verdict_engine_t *e = verdict_engine_new(cfg, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    CHECK_EQ_INT(verdict_engine_set_lists(e, base_lists()), 0);
    CHECK_EQ_INT(verdict_engine_set_rules(e, test_rules()), 0);
    CHECK_EQ_INT(verdict_engine_load_domains(e, test_source_path("rules"), err, sizeof err), 0);
    return e;
}

static struct verdict_input msg(const char *account, const char *src, int ton, const char *dst,
                                const char *text)
{
    struct verdict_input in;
    memset(&in, 0, sizeof in);
    in.ts = (sg_time_us)NOW * 1000000u;
    in.now = NOW;
    in.account.p = (const uint8_t *)account;
    in.account.len = strlen(account);
    in.source_addr.p = (const uint8_t *)src;
    in.source_addr.len = strlen(src);
    in.source_ton = ton;
    in.source_npi = 0;
    in.dest_addr.p = (const uint8_t *)dst;
    in.dest_addr.len = strlen(dst);
    in.src_ip = &ESME;
    in.text = text;
    in.text_len = strlen(text);
    in.parts = 1;
    return in;
}

static int has_reason(const struct verdict *v, enum verdict_reason_type t, const char *id)
{
    for (unsigned i = 0; i < v->n_reasons; i++)
        if (v->reasons[i].type == t && (!id || strcmp(v->reasons[i].id, id) == 0))
            return 1;
    return 0;
}

/* The detail of the first reason of type t (and id), "" if none. */
static const char *reason_detail(const struct verdict *v, enum verdict_reason_type t, const char *id)
{
    for (unsigned i = 0; i < v->n_reasons; i++)
        if (v->reasons[i].type == t && (!id || strcmp(v->reasons[i].id, id) == 0))
            return v->reasons[i].detail;
    return "";
}

static const char *decider(const struct verdict *v)
{
    return v->decided_by >= 0 ? verdict_reason_name(v->reasons[v->decided_by].type) : "score";
}

static void test_whitelist_spoofing_lookalike(void)
{
    verdict_engine_t *e = engine(NULL);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    struct verdict_input in;

    /* An OTP from verified QIWI, with a text that content and domain rules
     * would block: allowed, alert raised. */
    in = msg("qiwi_otp", "QIWI", 5, "79121234567",
             "Займ без отказа! код 4821 http://qiwi-secure.xyz/login FORCEBLOCK");
    CHECK_EQ_INT(verdict_judge(w, &in, &v), 0);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK(v.verified);
    CHECK(v.alert);
    CHECK(has_reason(&v, VERDICT_R_WHITELIST, "wl-1"));
    CHECK(has_reason(&v, VERDICT_R_RULE, "T-LOAN"));
    CHECK_EQ_STR(reason_detail(&v, VERDICT_R_RULE, "T-LOAN"), "text: loan without refusal");
    CHECK(has_reason(&v, VERDICT_R_DOMAIN, "qiwi-secure.xyz"));
    CHECK_EQ_STR(decider(&v), "whitelist");
    /* no digit of the code in the snippet */
    CHECK(strstr(v.snippet, "4821") == NULL && strstr(v.snippet, "код #") != NULL);

    /* A plain OTP: allowed, no alert. */
    in = msg("qiwi_otp", "QIWI", 5, "79121234567", "QIWI: kod 4821 dlya oplaty. Nikomu ne soobshchayte ego");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK(!v.alert);
    CHECK_EQ_INT(v.n_reasons, 1);

    /* QIWI from another account: spoofing. */
    in = msg("spam_farm7", "QIWI", 5, "79121234567", "QIWI: kod 4821");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK_EQ_STR(decider(&v), "spoofing");
    CHECK(v.alert);
    /* 7494 from the right account but outside its address range */
    in = msg("qiwi_otp", "7494", 3, "79121234567", "kod 1");
    struct sg_endpoint other = ESME;
    other.addr[12] = 11;
    in.src_ip = &other;
    verdict_judge(w, &in, &v);
    CHECK_EQ_STR(decider(&v), "spoofing");
    in.src_ip = &ESME;
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK(v.verified);

    /* Unknown account (capture began after the bind): trusted with an
     * alert by default. */
    in = msg("", "QIWI", 5, "79121234567", "kod 1");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK(v.alert);

    /* Look-alikes, whatever account. */
    const char *alikes[] = {"QlWI", "QIWl", "0IWI", "Q\xd0\x86W\xd0\x86", "QIVVI"};
    for (size_t i = 0; i < SG_ARRAY_LEN(alikes); i++) {
        in = msg("qiwi_otp", alikes[i], 5, "79121234567", "Vash koshelek zablokirovan");
        verdict_judge(w, &in, &v);
        CHECK_MSG(v.action == VERDICT_BLOCK && strcmp(decider(&v), "lookalike") == 0, "%s", alikes[i]);
        CHECK(has_reason(&v, VERDICT_R_LOOKALIKE, "wl-1"));
    }
    /* Not a look-alike. */
    in = msg("shop", "KIWI", 5, "79121234567", "Your order has shipped");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK_EQ_INT(v.n_reasons, 0);

    verdict_worker_free(w);
    verdict_engine_free(e);

    /* Look-alike configured to a score. */
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.lookalike_score = 3;
    cfg.trust_unknown_account = 0;
    e = engine(&cfg);
    w = verdict_worker_new(e);
    in = msg("x", "QlWI", 5, "79121234567", "hello");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_FLAG);
    CHECK_EQ_INT(v.score, 3);
    in = msg("", "QIWI", 5, "79121234567", "kod 1");
    verdict_judge(w, &in, &v);
    CHECK_EQ_STR(decider(&v), "spoofing");
    verdict_worker_free(w);
    verdict_engine_free(e);
}

static void test_exception_blacklist(void)
{
    verdict_engine_t *e = engine(NULL);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    struct verdict_input in;

    /* The blacklisted sender reaches the one subscriber of the exception,
     * written any way. */
    const char *forms[] = {"79121234567", "+79121234567", "89121234567"};
    for (size_t i = 0; i < 3; i++) {
        in = msg("agg", "79001234567", 1, forms[i], "Vash zakaz gotov");
        verdict_judge(w, &in, &v);
        CHECK_MSG(v.action == VERDICT_ALLOW && strcmp(decider(&v), "exception") == 0, "%s", forms[i]);
        CHECK(has_reason(&v, VERDICT_R_EXCEPTION, "ex-20"));
    }
    /* ... and nobody else. */
    in = msg("agg", "79001234567", 1, "79121234568", "Vash zakaz gotov");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK_EQ_STR(decider(&v), "blacklist");
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST, "bl-10"));
    /* "+79001234567" is the same sender */
    in = msg("agg", "+79001234567", 1, "79121234568", "x");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);

    /* Clear takes effect on the next message (new snapshot with the entry
     * cleared: the store loads cleared entries within grace). */
    lists_t *l = lists_new();
    add_base(l, NOW - 60);
    CHECK_EQ_INT(lists_seal(l), 0);
    CHECK_EQ_INT(verdict_engine_set_lists(e, l), 0);
    in = msg("agg", "79001234567", 1, "79121234568", "Vash zakaz gotov");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK_EQ_INT(v.n_reasons, 0);

    /* ... and within grace the volume rule neither blocks nor
     * re-blacklists it, however many recipients. */
    char dst[32];
    int blocked = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(dst, sizeof dst, "7912%07d", i);
        in = msg("agg", "79001234567", 1, dst, "Vash zakaz gotov");
        in.ts += (sg_time_us)i * 1000000u;
        verdict_judge(w, &in, &v);
        blocked += v.action != VERDICT_ALLOW;
    }
    CHECK_EQ_INT(blocked, 0);
    struct verdict_autobl ev[4];
    CHECK_EQ_INT(verdict_engine_drain_autobl(e, ev, 4), 0);
    struct verdict_stats st;
    verdict_engine_get_stats(e, &st);
    CHECK(st.volume_exempt_grace > 0);
    CHECK_EQ_INT(st.autobl_created, 0);

    /* After the grace period the volume rule applies again. */
    blocked = 0;
    for (int i = 0; i < 60; i++) {
        snprintf(dst, sizeof dst, "7913%07d", i);
        in = msg("agg", "79001234567", 1, dst, "Vash zakaz gotov");
        in.now = NOW + 2 * 86400;
        in.ts = (sg_time_us)in.now * 1000000u + (sg_time_us)i * 1000000u;
        verdict_judge(w, &in, &v);
        blocked += v.action == VERDICT_BLOCK;
    }
    CHECK(blocked > 0);
    CHECK_EQ_INT(verdict_engine_drain_autobl(e, ev, 4), 1);

    /* A verified sender: a manual entry stops it, an automatic one not. */
    l = lists_new();
    add_base(l, 0);
    struct lists_blacklist_entry b = {.id = 30, .kind = LISTS_BL_SENDER, .value = "QIWI", .automatic = 1,
                                      .created_at = NOW - 10, .expires_at = NOW + 3600};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 31, .kind = LISTS_BL_SENDER, .value = "7494",
                                       .reason = "compromised account", .created_at = NOW - 10};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 32, .kind = LISTS_BL_DOMAIN, .value = "bad-domain.ru",
                                       .created_at = NOW - 10};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 33, .kind = LISTS_BL_ACCOUNT, .value = "spam_farm7",
                                       .created_at = NOW - 10};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    CHECK_EQ_INT(verdict_engine_set_lists(e, l), 0);
    in = msg("qiwi_otp", "QIWI", 5, "79121234567", "kod 1");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    in = msg("qiwi_otp", "7494", 5, "79121234567", "kod 1");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST, "bl-31"));
    /* domain blacklist matches parents of the URL host */
    in = msg("shop", "SHOP", 5, "79121234567", "Skidki: https://www.promo.bad-domain.ru/x");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST, "bl-32"));
    in = msg("spam_farm7", "SHOP", 5, "79121234567", "hello");
    verdict_judge(w, &in, &v);
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST, "bl-33"));

    verdict_worker_free(w);
    verdict_engine_free(e);
}

static void test_rules_and_domains(void)
{
    verdict_engine_t *e = engine(NULL);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    struct verdict_input in;

    /* Content rule on normalised text: padding and look-alike letters. */
    in = msg("agg", "79005550000", 1, "79121234567", "З А Й М без oткaзa до 30000");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_RULE, "T-LOAN"));
    CHECK_EQ_INT(v.score, 6);
    CHECK_EQ_STR(decider(&v), "score");
    /* score 3 = flag */
    in = msg("agg", "79005550000", 1, "79121234567", "You have WON!");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_FLAG);
    /* sender field + text: 2 + 3 = 5 = block */
    in = msg("agg", "PRIZEDRAW", 5, "79121234567", "You have WON!");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_RULE, "T-SENDER"));
    /* a rule's own action forces, whatever the score */
    in = msg("agg", "79005550000", 1, "79121234567", "hello FORCEBLOCK");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK_EQ_INT(v.score, 0);
    CHECK_EQ_STR(decider(&v), "rule");
    /* shadow: counted, never acting */
    in = msg("agg", "79005550000", 1, "79121234567", "a shadowword here");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK_EQ_INT(v.n_shadow, 1);
    CHECK_EQ_STR(v.shadow[0], "T-SHADOW");
    CHECK_EQ_INT(v.n_reasons, 0);

    /* Domain list (domain and parents), shorteners, defanged URLs, domain
     * rules. */
    in = msg("agg", "79005550000", 1, "79121234567", "Podtverdite: qiwi-secure.xyz/login");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_DOMAIN, "qiwi-secure.xyz"));
    in = msg("agg", "79005550000", 1, "79121234567", "see https://pay.qiwi-secure.xyz/x");
    verdict_judge(w, &in, &v);
    CHECK(has_reason(&v, VERDICT_R_DOMAIN, "qiwi-secure.xyz"));
    in = msg("agg", "79005550000", 1, "79121234567", "photos: bit.ly/3abc");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK_EQ_INT(v.score, 2);
    CHECK(has_reason(&v, VERDICT_R_DOMAIN, "bit.ly"));
    in = msg("agg", "79005550000", 1, "79121234567", "open hxxp://something[.]top now, bit.ly/x");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_DOMAIN, "obfuscated-url"));
    in = msg("agg", "79005550000", 1, "79121234567", "go to a.rule-dom.top");
    verdict_judge(w, &in, &v);
    CHECK(has_reason(&v, VERDICT_R_RULE, "T-DOM"));
    /* Cyrillic look-alike letters in the host: found through the
     * normalised text */
    in = msg("agg", "79005550000", 1, "79121234567", "Vhod: q\xd1\x96w\xd1\x96-secure.xyz/login");
    verdict_judge(w, &in, &v);
    CHECK(has_reason(&v, VERDICT_R_DOMAIN, "qiwi-secure.xyz"));
    /* ham */
    in = msg("agg", "79005550000", 1, "79121234567", "Ok, see you at 7 near ozon.ru pickup");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK_EQ_INT(v.n_reasons, 0);

    /* Binary: no text judged, no crash. */
    in = msg("agg", "79005550000", 1, "79121234567", "");
    in.is_binary = 1;
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    CHECK(v.fingerprint == 0);

    /* JSON */
    in = msg("spam_farm7", "QIWI", 5, "79121234567", "Kod 1234");
    verdict_judge(w, &in, &v);
    jw_t *j = jw_new(65536);
    jw_obj_begin(j);
    jw_kstr(j, "event", "verdict");
    verdict_write_json(&v, j);
    jw_obj_end(j);
    const char *s = jw_data(j);
    CHECK_MSG(strstr(s, "\"action\":\"block\"") && strstr(s, "\"type\":\"spoofing\"") &&
                  strstr(s, "\"id\":\"wl-1\"") && strstr(s, "\"fingerprint\":\"") &&
                  !strstr(s, "1234"),
              "%s", s);
    jw_free(j);

    /* Stats */
    struct verdict_stats st;
    verdict_engine_get_stats(e, &st);
    CHECK_EQ_INT(st.messages, 14);
    CHECK(st.by_reason[VERDICT_R_DOMAIN] >= 4);
    CHECK(st.shadow_hits == 1);

    verdict_worker_free(w);
    verdict_engine_free(e);
}

/* Volume alone acts on a numeric sender but only flags an alphanumeric one
 * whose content is clean; with spammy content it blocks and blacklists. */
static void test_volume_corroboration(void)
{
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.sender_max_recipients = 3;
    verdict_engine_t *e = engine(&cfg);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    struct verdict_input in;
    char dst[32];
    enum verdict_action last_brand = VERDICT_ALLOW, last_numeric = VERDICT_ALLOW;
    for (int i = 0; i < 5; i++) {
        snprintf(dst, sizeof dst, "7912%07d", i);
        in = msg("agg", "OZON", 5, dst, "Your order is ready for pickup at the store");
        verdict_judge(w, &in, &v);
        last_brand = v.action;
        in = msg("p2p", "79001112233", 1, dst, "Your order is ready for pickup at the store");
        verdict_judge(w, &in, &v);
        last_numeric = v.action;
    }
    CHECK_EQ_INT(last_brand, VERDICT_FLAG);   /* a brand's broadcast: flagged, not blocked */
    CHECK_EQ_INT(last_numeric, VERDICT_BLOCK); /* a phone number writing to strangers */
    struct verdict_autobl ev[4];
    size_t n = verdict_engine_drain_autobl(e, ev, 4);
    CHECK_EQ_INT(n, 1);
    if (n)
        CHECK_EQ_STR(ev[0].value, "79001112233");
    struct verdict_stats st;
    verdict_engine_get_stats(e, &st);
    CHECK(st.volume_uncorroborated >= 1);
    verdict_worker_free(w);
    verdict_engine_free(e);
}

static void test_volume(void)
{
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.sender_max_recipients = 10;
    cfg.fingerprint_max_recipients = 20;
    cfg.account_max_recipients = 30;
    cfg.volume_corroborate_score = 0; /* the mechanics, on volume alone */
    verdict_engine_t *e = engine(&cfg);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict v;
    struct verdict_input in;
    char dst[32];

    /* 1 sender -> N distinct recipients: allowed; N+1: volume block and an
     * automatic blacklist entry; the next message is blocked by it. */
    for (int i = 0; i < 10; i++) {
        snprintf(dst, sizeof dst, "7912%07d", i);
        in = msg("agg", "SPAMMER", 5, dst, "hi");
        in.ts += (sg_time_us)i * 1000000u;
        verdict_judge(w, &in, &v);
        CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    }
    /* the same recipient again does not count */
    in = msg("agg", "SPAMMER", 5, "79120000000", "hi");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    in = msg("agg", "SPAMMER", 5, "79129999999", "hi");
    in.ts += 11000000u;
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_VOLUME, "volume-sender"));
    /* the detail reads as printf would write it */
    char want[VERDICT_DETAIL_MAX];
    snprintf(want, sizeof want, "sender SPAMMER reached more than %u distinct recipients in %u s",
             cfg.sender_max_recipients, cfg.window_s);
    CHECK_EQ_STR(reason_detail(&v, VERDICT_R_VOLUME, "volume-sender"), want);
    CHECK(v.alert);
    in = msg("agg", "SPAMMER", 5, "79128888888", "hi");
    verdict_judge(w, &in, &v);
    CHECK_EQ_INT(v.action, VERDICT_BLOCK);
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST, "auto"));
    struct verdict_autobl ev[4];
    CHECK_EQ_INT(verdict_engine_drain_autobl(e, ev, 4), 1);
    CHECK_EQ_INT(ev[0].kind, LISTS_BL_SENDER);
    CHECK_EQ_STR(ev[0].value, "SPAMMER");
    CHECK_EQ_INT(ev[0].expires_at, NOW + 86400);
    /* The store has it now: the next snapshot blocks it, the overlay entry
     * is retired. */
    lists_t *l = lists_new();
    add_base(l, 0);
    struct lists_blacklist_entry b = {.id = 40, .kind = LISTS_BL_SENDER, .value = "SPAMMER",
                                      .automatic = 1, .created_at = NOW, .expires_at = NOW + 86400};
    lists_add_blacklist(l, &b);
    lists_seal(l);
    verdict_engine_set_lists(e, l);
    in = msg("agg", "SPAMMER", 5, "79127777777", "hi");
    verdict_judge(w, &in, &v);
    CHECK(has_reason(&v, VERDICT_R_BLACKLIST, "bl-40"));
    /* The operator clears it: next message allowed, no re-blacklisting. */
    l = lists_new();
    add_base(l, 0);
    b.cleared_at = NOW + 1;
    b.cleared_by = "cc-olga";
    lists_add_blacklist(l, &b);
    lists_seal(l);
    verdict_engine_set_lists(e, l);
    for (int i = 0; i < 30; i++) {
        snprintf(dst, sizeof dst, "7914%07d", i);
        in = msg("agg", "SPAMMER", 5, dst, "hi");
        in.now = NOW + 5;
        in.ts += 20000000u;
        verdict_judge(w, &in, &v);
        CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    }
    CHECK_EQ_INT(verdict_engine_drain_autobl(e, ev, 4), 0);
    verdict_engine_set_lists(e, base_lists());

    /* Verified senders are never blocked by volume; alert instead. */
    for (int i = 0; i < 12; i++) {
        snprintf(dst, sizeof dst, "7915%07d", i);
        in = msg("qiwi_otp", "QIWI", 5, dst, "QIWI: kod 1234");
        verdict_judge(w, &in, &v);
        CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    }
    CHECK(v.alert && has_reason(&v, VERDICT_R_VOLUME, "volume-sender"));
    snprintf(want, sizeof want,
             "sender QIWI reached more than %u distinct recipients in %u s (verified sender: not acted on)",
             cfg.sender_max_recipients, cfg.window_s);
    CHECK_EQ_STR(reason_detail(&v, VERDICT_R_VOLUME, "volume-sender"), want);
    CHECK_EQ_INT(verdict_engine_drain_autobl(e, ev, 4), 0);

    /* One text from many senders: the fingerprint counter (texts of at
     * least fingerprint_min_len bytes). */
    const char *camp = "Vy vyigrali priz 50000 rub! Zaberite na sajte segodnya, kod 7731";
    int fp_blocked = 0;
    for (int i = 0; i < 25; i++) {
        char src[32];
        snprintf(src, sizeof src, "7999%07d", i);
        snprintf(dst, sizeof dst, "7916%07d", i);
        in = msg("agg2", src, 1, dst, camp);
        verdict_judge(w, &in, &v);
        fp_blocked += v.action == VERDICT_BLOCK;
    }
    CHECK_EQ_INT(fp_blocked, 5); /* 21st by volume, 22nd..25th by the automatic entry */
    CHECK_EQ_INT(verdict_engine_drain_autobl(e, ev, 4), 1);
    CHECK_EQ_INT(ev[0].kind, LISTS_BL_FINGERPRINT);
    CHECK_EQ_INT(strlen(ev[0].value), 16);
    /* short texts are not fingerprint-counted */
    for (int i = 0; i < 25; i++) {
        char src[32];
        snprintf(src, sizeof src, "7998%07d", i);
        snprintf(dst, sizeof dst, "7917%07d", i);
        in = msg("agg3", src, 1, dst, "ok, thanks");
        verdict_judge(w, &in, &v);
        CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    }
    /* The account counter only flags. */
    for (int i = 0; i < 40; i++) {
        char src[32];
        snprintf(src, sizeof src, "7997%07d", i);
        snprintf(dst, sizeof dst, "7918%07d", i);
        in = msg("bulk_agg", src, 1, dst, "Your parcel is ready");
        verdict_judge(w, &in, &v);
    }
    CHECK_EQ_INT(v.action, VERDICT_FLAG);
    CHECK(has_reason(&v, VERDICT_R_VOLUME, "volume-account"));

    /* The window slides: the same sender 10 minutes later starts over. */
    struct verdict_stats st;
    verdict_engine_get_stats(e, &st);
    CHECK(st.autobl_created == 2);
    CHECK(st.overlay_retired >= 1);
    verdict_worker_free(w);
    verdict_engine_free(e);
}

/* Two workers judging while the main thread swaps snapshots: each verdict
 * sees one consistent snapshot; nothing leaks or is freed under a reader
 * (run under ASan/TSan to see it). */
struct thr {
    verdict_engine_t *e;
    int bad, n;
};

static void *judge_loop(void *arg)
{
    struct thr *t = arg;
    verdict_worker_t *w = verdict_worker_new(t->e);
    struct verdict v;
    for (int i = 0; i < 3000; i++) {
        struct verdict_input in = msg("qiwi_otp", i % 2 ? "QIWI" : "QlWI", 5, "79121234567", "kod 12");
        verdict_judge(w, &in, &v);
        t->bad += (i % 2) ? v.action != VERDICT_ALLOW : v.action != VERDICT_BLOCK;
        t->n++;
    }
    verdict_worker_free(w);
    return NULL;
}

/* verdict_engine_is_verified(): step 1 alone, agreeing with what
 * verdict_judge() says about the same sender (the inline proxy trusts it
 * when a message cannot be judged in time), without judging or counting. */
static void test_is_verified(void)
{
    for (int trust = 1; trust >= 0; trust--) {
        struct verdict_config cfg;
        verdict_config_default(&cfg);
        cfg.trust_unknown_account = trust;
        verdict_engine_t *e = engine(&cfg);
        verdict_worker_t *w = verdict_worker_new(e);
        struct sg_endpoint other = ESME;
        other.addr[12] = 11;
        struct {
            const char *account, *sender;
            int ton;
            const struct sg_endpoint *ip;
            int want; /* -1: trust_unknown_account decides */
        } cases[] = {
            {"qiwi_otp", "QIWI", 5, &ESME, 1},     {"qiwi_otp", "QIWI", 0, &ESME, 1},
            {"qiwi_otp", "QIWI", 1, &ESME, 0},     {"spam_farm7", "QIWI", 5, &ESME, 0},
            {"qiwi_otp", "7494", 3, &ESME, 1},     {"qiwi_otp", "7494", 3, &other, 0},
            {"qiwi_otp", "7494", 3, NULL, 0},      {"", "QIWI", 5, &ESME, -1},
            {"qiwi_otp", "QlWI", 5, &ESME, 0},     {"qiwi_otp", "79001234567", 1, &ESME, 0},
            {"qiwi_otp", "", 0, &ESME, 0},
        };
        struct verdict_stats s0, s1;
        for (size_t i = 0; i < SG_ARRAY_LEN(cases); i++) {
            struct verdict_input in = msg(cases[i].account, cases[i].sender, cases[i].ton, "79121234567",
                                          "kod 4821 http://qiwi-secure.xyz/login FORCEBLOCK");
            in.src_ip = cases[i].ip;
            verdict_engine_get_stats(e, &s0);
            char id[VERDICT_ID_MAX] = "junk";
            int got = verdict_engine_is_verified(e, in.account, in.source_addr, in.source_ton, in.src_ip, in.now, id);
            verdict_engine_get_stats(e, &s1);
            CHECK_EQ_INT(s1.messages, s0.messages); /* nothing judged */
            int want = cases[i].want < 0 ? trust : cases[i].want;
            CHECK_MSG(got == want, "case %zu (%s/%s): got %d want %d", i, cases[i].account, cases[i].sender, got,
                      want);
            struct verdict v;
            verdict_judge(w, &in, &v);
            CHECK_MSG(got == v.verified, "case %zu: is_verified %d, judgement verified %d", i, got, v.verified);
            if (got)
                CHECK_MSG(has_reason(&v, VERDICT_R_WHITELIST, id), "case %zu: id %s", i, id);
            else
                CHECK_EQ_STR(id, "");
        }
        /* The current snapshot: a swap to lists without QIWI ends it. */
        struct sg_view acct = {(const uint8_t *)"qiwi_otp", 8}, snd = {(const uint8_t *)"QIWI", 4};
        CHECK_EQ_INT(verdict_engine_is_verified(e, acct, snd, 5, &ESME, NOW, NULL), 1);
        lists_t *l = lists_new();
        CHECK_EQ_INT(lists_seal(l), 0);
        CHECK_EQ_INT(verdict_engine_set_lists(e, l), 0);
        CHECK_EQ_INT(verdict_engine_is_verified(e, acct, snd, 5, &ESME, NOW, NULL), 0);
        CHECK_EQ_INT(verdict_engine_set_lists(e, NULL), 0);
        CHECK_EQ_INT(verdict_engine_is_verified(e, acct, snd, 5, &ESME, NOW, NULL), 0);
        verdict_worker_free(w);
        verdict_engine_free(e);
    }
    struct sg_view none = {0};
    CHECK_EQ_INT(verdict_engine_is_verified(NULL, none, none, 0, NULL, NOW, NULL), 0);
}

static void test_swaps(void)
{
    verdict_engine_t *e = engine(NULL);
    struct thr t[2] = {{e, 0, 0}, {e, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, judge_loop, &t[i]);
    for (int i = 0; i < 200; i++) {
        verdict_engine_set_lists(e, base_lists());
        if (i % 50 == 0)
            verdict_engine_set_rules(e, test_rules());
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(t[0].bad + t[1].bad, 0);
    CHECK_EQ_INT(t[0].n + t[1].n, 6000);
    verdict_engine_free(e);
}

static void test_api_edges(void)
{
    struct verdict v;
    CHECK_EQ_INT(verdict_judge(NULL, NULL, &v), SG_EINVAL);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    struct verdict_config cfg;
    verdict_config_default(&cfg);
    cfg.block_at = 1;
    cfg.flag_at = 2;
    char err[128] = "";
    CHECK(verdict_engine_new(&cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "block_at") != NULL);
    verdict_engine_free(NULL);
    verdict_worker_free(NULL);
    CHECK_EQ_STR(verdict_action_name(VERDICT_FLAG), "flag");
    CHECK_EQ_STR(verdict_reason_name(VERDICT_R_LOOKALIKE), "lookalike");
    /* an engine with nothing loaded allows, with empty input */
    verdict_engine_t *e = verdict_engine_new(NULL, NULL, 0);
    verdict_worker_t *w = verdict_worker_new(e);
    struct verdict_input in;
    memset(&in, 0, sizeof in);
    CHECK_EQ_INT(verdict_judge(w, &in, &v), 0);
    CHECK_EQ_INT(v.action, VERDICT_ALLOW);
    verdict_worker_free(w);
    verdict_engine_free(e);
}

/* The hex form every store and output uses, as printf writes it. */
static void test_fingerprint_hex(void)
{
    static const uint64_t v[] = {0, 1, 0x0123456789abcdefull, UINT64_MAX, 0xa0000000000000b0ull};
    for (size_t i = 0; i < SG_ARRAY_LEN(v); i++) {
        char got[17], want[17];
        verdict_fingerprint_hex(v[i], got);
        snprintf(want, sizeof want, "%016" PRIx64, v[i]);
        CHECK_EQ_STR(got, want);
    }
}

int main(void)
{
    test_fingerprint_hex();
    test_whitelist_spoofing_lookalike();
    test_exception_blacklist();
    test_rules_and_domains();
    test_volume();
    test_volume_corroboration();
    test_is_verified();
    test_swaps();
    test_api_edges();
    return test_summary();
}
