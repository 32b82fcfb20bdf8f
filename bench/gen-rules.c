/* gen-rules: writes a synthetic rule set of N rules in the rule language
 * (docs/rules.md) to stdout, for benchmarks of rule compilation, cache load
 * and scanning at 1,000 and 10,000 rules.
 *
 * The mix follows what real spam rule sets hold: about 70% literal phrases
 * on the normalised text (Russian and English spam vocabulary plus a
 * campaign token, so every phrase is distinct), 20% regexes on the text
 * (word alternations with short gaps, amounts, short codes), 5% raw-text
 * literals and 5% sender literals.  Regexes avoid long bounded repeats,
 * which cost Hyperscan's compiler much more than they add to realism.
 * Deterministic for a given N and seed.
 *
 * usage: gen-rules N [SEED]
 * build: cmake --build build --target gen-rules
 *        build/bench/gen-rules 10000 > /tmp/r10k.rules
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: plenty for picking words */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

#define PICK(a) ((a)[rnd((uint32_t)(sizeof(a) / sizeof((a)[0])))])

static const char *const ru_a[] = {"займ", "кредит", "деньги", "микрозайм", "выигрыш", "приз",
                                   "бонус", "кэшбэк", "подарок", "компенсация", "выплата",
                                   "карта", "счет", "перевод", "доход", "заработок"};
static const char *const ru_b[] = {"без отказа", "на карту", "за 5 минут", "под 0%",
                                   "без проверок", "для всех", "сегодня", "онлайн",
                                   "до 30000 руб", "без залога", "от государства",
                                   "заблокирован", "ждет вас", "одобрен"};
static const char *const en_a[] = {"free", "win", "claim", "prize", "cash", "bonus", "voucher",
                                   "loan", "offer", "reward", "gift card", "ringtone", "credit",
                                   "account", "parcel", "refund"};
static const char *const en_b[] = {"now", "today only", "guaranteed", "no credit check",
                                   "call now", "text back", "click here", "limited time",
                                   "selected", "suspended", "on hold", "awaiting collection",
                                   "instant approval", "for you"};
static const char *const tld[] = {"ru", "top", "xyz", "site", "online", "info", "com", "biz"};
static const char *const tags[] = {"loan ru", "prize ru", "phishing ru", "casino ru",
                                   "premium en", "prize en", "phishing en", "loan en"};

static void token(char *buf, size_t cap)
{
    static const char al[] = "abcdefghkmnpqrstuvwxyz";
    size_t n = 4 + rnd(4);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = al[rnd(sizeof al - 1)];
    buf[n] = '\0';
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gen-rules N [SEED]\n");
        return 2;
    }
    char *end;
    long n = strtol(argv[1], &end, 10);
    if (*end || n < 1 || n > 1000000) {
        fprintf(stderr, "gen-rules: N must be 1..1000000\n");
        return 2;
    }
    if (argc == 3)
        rng_state ^= strtoull(argv[2], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
    printf("# Synthetic rule set: %ld rules (bench/gen-rules %ld%s%s)\n\n", n, n,
           argc == 3 ? " " : "", argc == 3 ? argv[2] : "");
    for (long i = 0; i < n; i++) {
        uint32_t kind = rnd(100);
        int ru = rnd(2);
        char tok[16];
        token(tok, sizeof tok);
        printf("rule GEN-%06ld\n", i);
        if (kind < 70) {
            printf("  name     \"synthetic phrase %ld\"\n", i);
            if (ru)
                printf("  match    \"%s %s %s\"\n", PICK(ru_a), PICK(ru_b), tok);
            else
                printf("  match    \"%s %s %s\"\n", PICK(en_a), PICK(en_b), tok);
        } else if (kind < 90) {
            printf("  name     \"synthetic regex %ld\"\n", i);
            switch (rnd(4)) {
            case 0:
                printf("  match    /(%s|%s)\\s+%s\\s+%s/\n", PICK(ru_a), PICK(ru_a), PICK(ru_b), tok);
                break;
            case 1:
                printf("  match    /%s.{0,8}%s\\d{2,5}/\n", PICK(en_a), tok);
                break;
            case 2:
                printf("  match    /%s[a-z0-9-]*\\.%s\\/[a-z0-9]+/\n", tok, PICK(tld));
                break;
            default:
                printf("  match    /(txt|text|send) %s to [6-9]\\d{4}/\n", tok);
                break;
            }
        } else if (kind < 95) {
            printf("  name     \"synthetic raw %ld\"\n", i);
            printf("  field    raw\n");
            printf("  match    \"%s-%s\" i\n", PICK(en_a), tok);
        } else {
            printf("  name     \"synthetic sender %ld\"\n", i);
            printf("  field    sender\n");
            printf("  match    \"%s%ld\"\n", tok, i);
        }
        printf("  score    %u\n", 1 + rnd(6));
        printf("  tags     %s\n", PICK(tags));
        if (rnd(20) == 0)
            printf("  state    shadow\n");
        printf("end\n\n");
    }
    return 0;
}
