/* Fuzz target: the rule-file parser (rules-parse.h) on hostile rule files,
 * then what rules_db_build does with what parsed: every regex is normalised
 * as a pattern (NORM_PATTERN), and a small all-literal set is compiled and
 * its examples scanned.  Regex sets are not compiled: Hyperscan's compiler
 * takes tens of milliseconds per regex, which would starve the fuzzer, and
 * it is not our code.
 *
 * Invariants checked (abort on violation, so libFuzzer reports it):
 *   - every diagnostic starts with "<input>:LINE:COL: " and LINE is within
 *     the input's line count;
 *   - every parsed rule has an id, at least one pattern, a score in range,
 *     and pattern/example locations inside the input;
 *   - normalised patterns are NUL-terminated valid UTF-8;
 *   - every hit index of a scan is a rule of the set.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *        cmake --build build-fuzz --target fuzz-rules
 *        build-fuzz/tests/fuzz-rules tests/fuzz/corpus/fuzz-rules
 * The corpus is replayed by ctest (fuzz-rules-corpus). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "rules-db.h"
#include "text-norm.h"
#include "fuzz-util.h"

static norm_ctx_t *ctx;
static char *out;
static const size_t out_cap = RULES_MAX_STRING_BYTES * 8 + 16;

/* What rules_db_build compiles for a text regex (normalised re[0..n)):
 * the \d rewrite stays in its 3n + 1 bytes, changes nothing without an
 * escape, and when it rewrites it leaves no \d or \D behind (a second
 * pass finds nothing to do). */
static void check_ascii_digits(const char *re, size_t n)
{
    static char *rw, *again;
    if (!rw) {
        rw = malloc(3 * out_cap + 1);
        again = malloc(9 * out_cap + 1);
        check(rw && again);
    }
    size_t k = rules_text_ascii_digits(re, n, rw);
    check(k <= 3 * n);
    if (!memchr(re, '\\', n))
        check(k == 0); /* no escape, no \d */
    if (k) {
        check(rw[k] == '\0');
        check(rules_text_ascii_digits(rw, k, again) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        ctx = norm_ctx_new(RULES_MAX_STRING_BYTES * 2);
        out = malloc(out_cap);
        check(ctx && out);
    }
    uint32_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    rules_diag_t *d = rules_diag_new(64);
    rules_set_t *set = rules_set_new();
    check(d && set);
    int rc = rules_parse_buffer(set, "<input>", (const char *)data, size, d);
    check(rc == 0 || rc == SG_EPARSE || rc == SG_ENOSPC);
    check((rc == 0) == (rules_diag_count(d) == 0));
    for (size_t i = 0; i < rules_diag_kept(d); i++) {
        const char *m = rules_diag_get(d, i);
        check(strncmp(m, "<input>:", 8) == 0);
        unsigned long l = strtoul(m + 8, NULL, 10);
        check(l >= 1 && l <= lines);
    }
    size_t literals = 0, regexes = 0;
    for (size_t i = 0; i < rules_set_count(set); i++) {
        const struct rules_rule *r = rules_set_rule(set, i);
        check(r->id && r->id[0] && r->name && r->tags && r->npatterns >= 1);
        check(r->score >= RULES_SCORE_MIN && r->score <= RULES_SCORE_MAX);
        check(rules_set_find(set, r->id) == (long)i);
        for (uint32_t k = 0; k < r->npatterns; k++) {
            const struct rules_pattern *p = &r->patterns[k];
            check(p->len > 0 && p->loc.line >= 1 && p->loc.line <= lines);
            check(p->text[p->len] == '\0');
            if (p->kind == RULES_PAT_REGEX) {
                regexes++;
                size_t n = 0;
                int nr = norm_text(ctx, p->text, p->len, out, out_cap, &n, NORM_PATTERN);
                check(nr == 0 || nr == SG_ENOSPC);
                check(n < out_cap && out[n] == '\0' && valid_utf8(out, n));
                if (nr == 0)
                    check_ascii_digits(out, n);
            } else {
                literals++;
            }
        }
        for (uint32_t k = 0; k < r->nexamples; k++)
            check(r->examples[k].loc.line >= 1 && r->examples[k].loc.line <= lines);
    }

    /* Compile and scan small literal-only sets through the real path. */
    if (regexes == 0 && literals > 0 && literals <= 8) {
        rules_db_t *db = NULL;
        rules_diag_clear(d);
        struct rules_build_opts o = {.include_disabled = 1};
        rc = rules_db_build(set, &o, &db, d, NULL);
        set = NULL; /* taken over */
        check((rc == 0) == (db != NULL));
        if (db) {
            rules_scratch_t *s = rules_scratch_new(db);
            check(s != NULL);
            uint32_t idx[16];
            for (uint32_t i = 0; i < rules_db_count(db); i++) {
                const struct rules_rule *r = rules_db_rule(db, i);
                for (uint32_t k = 0; k < r->nexamples; k++) {
                    struct rules_hits h = {.idx = idx, .cap = 16};
                    const char *norm;
                    rc = rules_match_message(db, s, r->examples[k].text, r->examples[k].len,
                                             r->examples[k].text, r->examples[k].len, &h, &norm,
                                             NULL);
                    check(rc == 0);
                    for (uint32_t j = 0; j < h.n; j++)
                        check(h.idx[j] < rules_db_count(db));
                }
            }
            rules_scratch_free(s);
            rules_db_free(db);
        }
    }
    rules_set_free(set);
    rules_diag_free(d);
    return 0;
}
