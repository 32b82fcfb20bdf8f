/* norm_text's one pass collapses padding ("з а й м", "f.r.e.e") only over
 * the stretch of its output that holds the runs of single-character words
 * (onepass_collapse's from..to: from the first word of the first run that
 * reached three to the end of the last word counted in such a run), and
 * keeps the bytes around it.  Checked against the general path
 * (NORM_SLOW_PATH), byte for byte, on texts built to put such runs at the
 * start, in the middle and at the end, one or several, after long words
 * the SSE2 blocks take (which then record where a run starts), next to
 * words that confusable folding changes, in Latin, Cyrillic and Latin-1,
 * with separators of one to four characters and runs just short of three. */
#include "testutil.h"
#include "text-norm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static norm_ctx_t *ctx;
static char o1[1 << 16], o2[1 << 16];
static unsigned compared, collapsed;

static void same(const char *in, size_t len)
{
    char *exact = malloc(len ? len : 1); /* a read past the end is a sanitizer error */
    CHECK(exact != NULL);
    if (!exact)
        return;
    memcpy(exact, in, len);
    size_t n1 = 0, n2 = 0;
    int r1 = norm_text(ctx, exact, len, o1, sizeof o1, &n1, 0);
    int r2 = norm_text(ctx, in, len, o2, sizeof o2, &n2, NORM_SLOW_PATH);
    free(exact);
    CHECK_MSG(r1 == r2 && n1 == n2 && memcmp(o1, o2, n1) == 0,
              "input \"%.*s\": fast \"%s\" (%d), general \"%s\" (%d)", (int)len, in, o1, r1, o2,
              r2);
    compared++;
    collapsed += n1 < len;
}

/* xorshift: the same texts on every run */
static uint32_t rng = 0x9E3779B9u;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng % n;
}

static const char *const words[] = {
    "offer", "Займ", "кредит", "PRIZE", "winner", "сегодня", "café", "ÉTÉ", "w1n",
    "fr33", "3айм", "box95", "KL341", "зaйм", "frее", "ёлка", "12hrs", "T&C's",
    "call", "0800123456", "www.x-y.ru", "долг", "£5", "€10", "₽100", "Ёж",
};
static const char *const singles[] = {"з", "А", "й", "М", "f", "R", "e", "1", "7", "é", "Ё", "x"};
static const char *const seps[] = {" ", ".", "-", " . ", "..", "_", " - ", "  ", ",", "*", ". "};

static size_t add(char *buf, size_t o, size_t cap, const char *s)
{
    size_t k = strlen(s);
    if (o + k < cap) {
        memcpy(buf + o, s, k);
        o += k;
    }
    return o;
}

/* A run of `count` single characters with one separator (or a mixed one). */
static size_t add_run(char *buf, size_t o, size_t cap, unsigned count)
{
    const char *sep = seps[rnd(SG_ARRAY_LEN(seps))];
    int mixed = rnd(5) == 0;
    for (unsigned k = 0; k < count; k++) {
        if (k)
            o = add(buf, o, cap, mixed ? seps[rnd(SG_ARRAY_LEN(seps))] : sep);
        o = add(buf, o, cap, singles[rnd(SG_ARRAY_LEN(singles))]);
    }
    return o;
}

static void random_texts(unsigned n)
{
    char buf[1024];
    for (unsigned t = 0; t < n; t++) {
        size_t o = 0;
        unsigned parts = 1 + rnd(24);
        for (unsigned p = 0; p < parts; p++) {
            if (p)
                o = add(buf, o, sizeof buf, seps[rnd(3)]);
            unsigned what = rnd(6);
            if (what == 0)
                o = add_run(buf, o, sizeof buf, 1 + rnd(6)); /* 1..6: also short of three */
            else
                o = add(buf, o, sizeof buf, words[rnd(SG_ARRAY_LEN(words))]);
        }
        same(buf, o);
    }
}

int main(void)
{
    ctx = norm_ctx_new(0);
    CHECK(ctx != NULL);
    if (!ctx)
        return test_summary();
    static const char *const fixed[] = {
        "з а й м",
        "З А Й М срочно, без справок",
        "Срочно нужны деньги? З А Й М до зарплаты",
        "Bring the long sentence first so the blocks take it: f.r.e.e c.a.s.h",
        "a b c then a long tail of ordinary words that the sixteen-byte blocks take",
        "first run x y z then ordinary words and then another run q-w-e-r-t-y at the end",
        "i'm a guy, browsin is compulsory",
        "Oh k...i'm watching here:)",
        "two singles a b only, and later c d e",
        "a b  c",
        "w1n a b c fr33",
        "З.А.Й.М",
        "é è ê words after",
        "ordinary words here and there x y",
        "ordinary words here and there x y z",
        "12345678901234 a b c",
        "abcdefghijklmnop a b c",
        "abcdefghijklmn й ц у к е н",
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(fixed); i++)
        same(fixed[i], strlen(fixed[i]));
    random_texts(40000);
    CHECK(collapsed > 1000); /* the texts do exercise the collapse */
    printf("padding window: %u texts compared, %u shortened\n", compared, collapsed);
    norm_ctx_free(ctx);
    return test_summary();
}
