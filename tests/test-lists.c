/* Operator lists snapshot (filter/lists.h): verified whitelist with
 * account and CIDR binding, look-alike index, blacklist lifecycle
 * (expiry, clear, grace, manual over automatic), exceptions. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lists.h"
#include "testutil.h"
#include "text-norm.h"

static struct sg_endpoint ep4(const char *ip)
{
    struct sg_endpoint e;
    memset(&e, 0, sizeof e);
    e.addr[10] = e.addr[11] = 0xff;
    inet_pton(AF_INET, ip, e.addr + 12);
    e.is_v4 = 1;
    return e;
}

static struct sg_endpoint ep6(const char *ip)
{
    struct sg_endpoint e;
    memset(&e, 0, sizeof e);
    inet_pton(AF_INET6, ip, e.addr);
    return e;
}

static const int64_t NOW = 1800000000;

static lists_t *build(void)
{
    lists_t *l = lists_new();
    struct lists_whitelist_entry w = {.id = 1, .sender = "QIWI", .ton = 5, .account = "qiwi_otp",
                                      .provider = "QIWI Bank", .verified_by = "ops-anna"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    w = (struct lists_whitelist_entry){.id = 2, .sender = "7494", .ton = -1, .account = "qiwi_otp",
                                       .source_cidrs = "10.1.0.0/16, 2001:db8::/32",
                                       .provider = "QIWI Bank"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    /* the same sender through a second aggregator account */
    w = (struct lists_whitelist_entry){.id = 3, .sender = "QIWI", .ton = 5, .account = "agg_mts",
                                       .provider = "QIWI Bank"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    /* bound by address only */
    w = (struct lists_whitelist_entry){.id = 4, .sender = "SBER", .ton = -1,
                                       .source_cidrs = "192.0.2.0/24", .provider = "Sber"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    /* expired */
    w = (struct lists_whitelist_entry){.id = 5, .sender = "OLDBANK", .ton = -1, .account = "old",
                                       .expires_at = NOW - 1};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    /* bad CIDR refused */
    w = (struct lists_whitelist_entry){.id = 6, .sender = "X", .ton = -1, .source_cidrs = "10.0.0.0/33"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), SG_EINVAL);

    struct lists_blacklist_entry b = {.id = 10, .kind = LISTS_BL_SENDER, .value = "+79001234567",
                                      .reason = "complaints", .created_at = NOW - 100};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 11, .kind = LISTS_BL_SENDER, .value = "PROMO",
                                       .automatic = 1, .created_at = NOW - 50, .expires_at = NOW + 3600};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 12, .kind = LISTS_BL_SENDER, .value = "PROMO",
                                       .reason = "manual too", .created_at = NOW - 40};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 13, .kind = LISTS_BL_SENDER, .value = "EXPIRED",
                                       .automatic = 1, .created_at = NOW - 7200, .expires_at = NOW - 1};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 14, .kind = LISTS_BL_SENDER, .value = "CLEARED",
                                       .automatic = 1, .created_at = NOW - 7200,
                                       .cleared_at = NOW - 600, .cleared_by = "cc-olga",
                                       .clear_reason = "OTP sender", .clear_ticket = "INC-1"};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 15, .kind = LISTS_BL_DOMAIN, .value = "Evil.XYZ.",
                                       .created_at = NOW - 10};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 16, .kind = LISTS_BL_FINGERPRINT,
                                       .value = "00AB00CD00EF0011", .automatic = 1,
                                       .created_at = NOW - 10, .expires_at = NOW + 10};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 17, .kind = LISTS_BL_ACCOUNT, .value = "spam_farm7",
                                       .created_at = NOW - 10};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), 0);
    b = (struct lists_blacklist_entry){.id = 18, .kind = 9, .value = "x"};
    CHECK_EQ_INT(lists_add_blacklist(l, &b), SG_EINVAL);

    struct lists_exception_entry x = {.id = 20, .sender = "+79001234567", .msisdn = "79121234567",
                                      .reason = "customer asked", .ticket = "INC-2",
                                      .expires_at = NOW + 86400};
    CHECK_EQ_INT(lists_add_exception(l, &x), 0);
    x = (struct lists_exception_entry){.id = 21, .sender = "SHOP", .msisdn = "79120000000",
                                       .expires_at = NOW - 1};
    CHECK_EQ_INT(lists_add_exception(l, &x), 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    CHECK_EQ_INT(lists_add_exception(l, &x), SG_EINVAL); /* sealed */
    return l;
}

static void test_whitelist(const lists_t *l)
{
    const struct lists_whitelist_entry *e;
    struct sg_endpoint in = ep4("10.1.2.3"), out = ep4("10.2.0.1"), v6 = ep6("2001:db8:1::5"),
                       v6out = ep6("2001:db9::1"), sber = ep4("192.0.2.200");
    struct lists_origin qiwi = {"qiwi_otp", 8, &in}, farm = {"spam_farm7", 10, &in},
                        mts = {"agg_mts", 7, NULL}, unknown = {"", 0, &in};

    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 5, &qiwi, NOW, &e), LISTS_WL_VERIFIED);
    CHECK(e && e->id == 1);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 5, &mts, NOW, &e), LISTS_WL_VERIFIED);
    CHECK(e && e->id == 3);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 5, &farm, NOW, &e), LISTS_WL_SPOOFED);
    CHECK(e && strcmp(e->sender, "QIWI") == 0);
    /* entry ton 5; unknown ton (-1) still matches; another ton does not */
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, -1, &qiwi, NOW, NULL), LISTS_WL_VERIFIED);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 1, &farm, NOW, NULL), LISTS_WL_NONE);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 0, &qiwi, NOW, NULL), LISTS_WL_VERIFIED);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 0, &farm, NOW, NULL), LISTS_WL_SPOOFED);
    /* account unknown: unverifiable, not spoofed */
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 5, &unknown, NOW, &e), LISTS_WL_UNVERIFIABLE);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIWI", 4, 5, NULL, NOW, NULL), LISTS_WL_UNVERIFIABLE);
    /* account + CIDR: both must match; "+7494" is "7494" */
    CHECK_EQ_INT(lists_whitelist_check(l, "7494", 4, 3, &qiwi, NOW, NULL), LISTS_WL_VERIFIED);
    CHECK_EQ_INT(lists_whitelist_check(l, "+7494", 5, 3, &qiwi, NOW, NULL), LISTS_WL_VERIFIED);
    struct lists_origin q_out = {"qiwi_otp", 8, &out}, q_v6 = {"qiwi_otp", 8, &v6},
                        q_v6out = {"qiwi_otp", 8, &v6out}, q_noip = {"qiwi_otp", 8, NULL},
                        unk_out = {"", 0, &out};
    CHECK_EQ_INT(lists_whitelist_check(l, "7494", 4, 3, &q_out, NOW, NULL), LISTS_WL_SPOOFED);
    CHECK_EQ_INT(lists_whitelist_check(l, "7494", 4, 3, &q_v6, NOW, NULL), LISTS_WL_VERIFIED);
    CHECK_EQ_INT(lists_whitelist_check(l, "7494", 4, 3, &q_v6out, NOW, NULL), LISTS_WL_SPOOFED);
    CHECK_EQ_INT(lists_whitelist_check(l, "7494", 4, 3, &q_noip, NOW, NULL), LISTS_WL_SPOOFED);
    /* unknown account but the address is outside the entry's ranges */
    CHECK_EQ_INT(lists_whitelist_check(l, "7494", 4, 3, &unk_out, NOW, NULL), LISTS_WL_SPOOFED);
    /* CIDR only: any account */
    struct lists_origin s_ok = {"whatever", 8, &sber}, s_bad = {"whatever", 8, &out};
    CHECK_EQ_INT(lists_whitelist_check(l, "SBER", 4, 5, &s_ok, NOW, NULL), LISTS_WL_VERIFIED);
    CHECK_EQ_INT(lists_whitelist_check(l, "SBER", 4, 5, &s_bad, NOW, NULL), LISTS_WL_SPOOFED);
    /* expired: not protected any more; case matters (qiwi is a look-alike) */
    CHECK_EQ_INT(lists_whitelist_check(l, "OLDBANK", 7, 5, &farm, NOW, NULL), LISTS_WL_NONE);
    CHECK_EQ_INT(lists_whitelist_check(l, "qiwi", 4, 5, &farm, NOW, NULL), LISTS_WL_NONE);
    CHECK_EQ_INT(lists_whitelist_check(l, "QIW", 3, 5, &farm, NOW, NULL), LISTS_WL_NONE);
    CHECK_EQ_INT(lists_whitelist_check(NULL, "QIWI", 4, 5, &farm, NOW, NULL), LISTS_WL_NONE);
}

static void test_lookalike(const lists_t *l)
{
    norm_ctx_t *nc = norm_ctx_new(256);
    const char *alikes[] = {"QlWI", "QIWl", "0IWI", "Q1WI", "QIVVI", "qiwi"};
    for (size_t i = 0; i < 6; i++) {
        char sk[64];
        size_t n = 0;
        CHECK(norm_sender(nc, alikes[i], strlen(alikes[i]), sk, sizeof sk, &n) == 0);
        const struct lists_whitelist_entry *e = lists_lookalike_find(l, sk, n, NOW);
        CHECK_MSG(e && strcmp(e->sender, "QIWI") == 0, "%s -> %s", alikes[i], sk);
    }
    /* Cyrillic І (U+0406) for I */
    const char *cyr = "Q\xd0\x86W\xd0\x86";
    char sk[64];
    size_t n = 0;
    CHECK(norm_sender(nc, cyr, strlen(cyr), sk, sizeof sk, &n) == 0);
    CHECK(lists_lookalike_find(l, sk, n, NOW) != NULL);
    /* not look-alikes */
    const char *others[] = {"QIWIX", "KIWI", "OZON", "SBERR"};
    for (size_t i = 0; i < 4; i++) {
        CHECK(norm_sender(nc, others[i], strlen(others[i]), sk, sizeof sk, &n) == 0);
        CHECK_MSG(lists_lookalike_find(l, sk, n, NOW) == NULL, "%s", others[i]);
    }
    /* expired entries do not protect */
    CHECK(norm_sender(nc, "OLDBANK", 7, sk, sizeof sk, &n) == 0);
    CHECK(lists_lookalike_find(l, sk, n, NOW) == NULL);
    norm_ctx_free(nc);
}

static void test_blacklist(const lists_t *l)
{
    const struct lists_blacklist_entry *b;
    b = lists_blacklist_find(l, LISTS_BL_SENDER, "79001234567", 11, NOW);
    CHECK(b && b->id == 10 && !b->automatic);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "+79001234567", 12, NOW) == b);
    /* manual preferred over automatic */
    b = lists_blacklist_find(l, LISTS_BL_SENDER, "PROMO", 5, NOW);
    CHECK(b && b->id == 12);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "promo", 5, NOW) == NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "EXPIRED", 7, NOW) == NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "EXPIRED", 7, NOW - 3600) != NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "CLEARED", 7, NOW) == NULL);
    /* grace */
    b = lists_blacklist_cleared_within(l, LISTS_BL_SENDER, "CLEARED", 7, NOW, 3600);
    CHECK(b && b->id == 14 && strcmp(b->clear_ticket, "INC-1") == 0);
    CHECK(lists_blacklist_cleared_within(l, LISTS_BL_SENDER, "CLEARED", 7, NOW, 300) == NULL);
    CHECK(lists_blacklist_cleared_within(l, LISTS_BL_SENDER, "PROMO", 5, NOW, 3600) == NULL);
    CHECK(lists_blacklist_seen_since(l, LISTS_BL_SENDER, "CLEARED", 7, NOW - 601) != NULL);
    CHECK(lists_blacklist_seen_since(l, LISTS_BL_SENDER, "CLEARED", 7, NOW - 599) == NULL);
    /* kinds are separate; domains and fingerprints case-insensitive */
    CHECK(lists_blacklist_find(l, LISTS_BL_ACCOUNT, "PROMO", 5, NOW) == NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_DOMAIN, "evil.xyz", 8, NOW) != NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_DOMAIN, "EVIL.xyz.", 9, NOW) != NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_FINGERPRINT, "00ab00cd00ef0011", 16, NOW) != NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_FINGERPRINT, "00ab00cd00ef0011", 16, NOW + 10) == NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_ACCOUNT, "spam_farm7", 10, NOW) != NULL);
    CHECK(lists_blacklist_find(l, LISTS_BL_ACCOUNT, "SPAM_FARM7", 10, NOW) == NULL);

    struct lists_counts c;
    lists_counts(l, &c);
    CHECK_EQ_INT(c.whitelist, 5);
    CHECK_EQ_INT(c.blacklist, 8);
    CHECK_EQ_INT(c.blacklist_cleared, 1);
    CHECK_EQ_INT(c.exceptions, 2);

    CHECK_EQ_STR(lists_bl_kind_name(LISTS_BL_FINGERPRINT), "fingerprint");
    CHECK_EQ_INT(lists_bl_kind_parse("domain"), LISTS_BL_DOMAIN);
    CHECK_EQ_INT(lists_bl_kind_parse("nope"), LISTS_BL_KIND_UNKNOWN);
}

static void test_exceptions(const lists_t *l)
{
    const struct lists_exception_entry *x;
    x = lists_exception_find(l, "79001234567", 11, "79121234567", 11, NOW);
    CHECK(x && x->id == 20);
    CHECK(lists_exception_find(l, "+79001234567", 12, "79121234567", 11, NOW) == x);
    CHECK(lists_exception_find(l, "79001234567", 11, "79121234568", 11, NOW) == NULL);
    CHECK(lists_exception_find(l, "79001234567", 11, "79121234567", 11, NOW + 86400) == NULL);
    CHECK(lists_exception_find(l, "SHOP", 4, "79120000000", 11, NOW) == NULL);
}

static void test_cidrs(void)
{
    size_t off = 0;
    CHECK_EQ_INT(lists_cidrs_validate("10.0.0.0/8,::1,2001:db8::/32", NULL), 3);
    CHECK_EQ_INT(lists_cidrs_validate("10.0.0.0/8, 300.1.1.1", &off), SG_EINVAL);
    CHECK_EQ_INT(off, 11);
    CHECK_EQ_INT(lists_cidrs_validate("10.0.0.0/", NULL), SG_EINVAL);
    CHECK_EQ_INT(lists_cidrs_validate("::/129", NULL), SG_EINVAL);
    CHECK_EQ_INT(lists_cidrs_validate("", NULL), SG_EINVAL);
    /* a host-bits-set range still matches its network */
    lists_t *l = lists_new();
    struct lists_whitelist_entry w = {.id = 1, .sender = "A", .ton = -1, .source_cidrs = "10.1.2.3/16"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    w = (struct lists_whitelist_entry){.id = 2, .sender = "B", .ton = -1, .source_cidrs = "0.0.0.0/0"};
    CHECK_EQ_INT(lists_add_whitelist(l, &w), 0);
    CHECK_EQ_INT(lists_seal(l), 0);
    struct sg_endpoint a = ep4("10.1.200.1"), b = ep4("11.0.0.1"), v6 = ep6("::1");
    struct lists_origin oa = {"", 0, &a}, ob = {"", 0, &b}, o6 = {"", 0, &v6};
    CHECK_EQ_INT(lists_whitelist_check(l, "A", 1, 0, &oa, NOW, NULL), LISTS_WL_VERIFIED);
    CHECK_EQ_INT(lists_whitelist_check(l, "A", 1, 0, &ob, NOW, NULL), LISTS_WL_SPOOFED);
    CHECK_EQ_INT(lists_whitelist_check(l, "B", 1, 0, &ob, NOW, NULL), LISTS_WL_VERIFIED);
    /* 0.0.0.0/0 is all of IPv4, not IPv6 */
    CHECK_EQ_INT(lists_whitelist_check(l, "B", 1, 0, &o6, NOW, NULL), LISTS_WL_SPOOFED);
    lists_free(l);
}

static void test_empty_and_many(void)
{
    lists_t *l = lists_new();
    CHECK_EQ_INT(lists_seal(l), 0);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "x", 1, NOW) == NULL);
    CHECK(lists_exception_find(l, "x", 1, "1", 1, NOW) == NULL);
    CHECK(lists_lookalike_find(l, "x", 1, NOW) == NULL);
    CHECK_EQ_INT(lists_seal(l), SG_EINVAL);
    lists_free(l);
    lists_free(NULL);
    /* unsealed snapshot answers nothing */
    l = lists_new();
    struct lists_blacklist_entry b = {.id = 1, .kind = LISTS_BL_SENDER, .value = "S"};
    lists_add_blacklist(l, &b);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "S", 1, NOW) == NULL);
    lists_free(l);

    l = lists_new();
    char v[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(v, sizeof v, "7900%07d", i);
        b = (struct lists_blacklist_entry){.id = i, .kind = LISTS_BL_SENDER, .value = v};
        lists_add_blacklist(l, &b);
    }
    CHECK_EQ_INT(lists_seal(l), 0);
    int found = 0;
    for (int i = 0; i < 100000; i += 7) {
        snprintf(v, sizeof v, "7900%07d", i);
        const struct lists_blacklist_entry *e = lists_blacklist_find(l, LISTS_BL_SENDER, v, strlen(v), NOW);
        found += e && e->id == i;
    }
    CHECK_EQ_INT(found, (100000 + 6) / 7);
    CHECK(lists_blacklist_find(l, LISTS_BL_SENDER, "7901", 4, NOW) == NULL);
    lists_free(l);
}

int main(void)
{
    lists_t *l = build();
    test_whitelist(l);
    test_lookalike(l);
    test_blacklist(l);
    test_exceptions(l);
    lists_free(l);
    test_cidrs();
    test_empty_and_many();
    return test_summary();
}
