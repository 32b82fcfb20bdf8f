/* Unit tests for the rule language (filter/rules-parse), the compiled rule
 * databases (filter/rules-db): every parse error with its location, compile
 * errors mapped back to their rule, scanning per field, de-duplication,
 * scoring, literals (compiled as escaped regexes in the field's one
 * database) matching only literally, invalid UTF-8 input, the order of
 * hits against the two databases per field that came before, the on-disk
 * cache round trip and its load time, and the shipped rule set (rules/)
 * compiling with all its examples passing. */
#include <dirent.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rules-db.h"
#include "testutil.h"
#include "text-norm.h"

static int diag_has(const rules_diag_t *d, const char *needle)
{
    for (size_t i = 0; i < rules_diag_kept(d); i++)
        if (strstr(rules_diag_get(d, i), needle))
            return 1;
    return 0;
}

static void dump(const rules_diag_t *d)
{
    for (size_t i = 0; i < rules_diag_kept(d); i++)
        fprintf(stderr, "  diag: %s\n", rules_diag_get(d, i));
}

static rules_set_t *parse(const char *text, rules_diag_t *d, int *rc)
{
    rules_set_t *set = rules_set_new();
    *rc = rules_parse_buffer(set, "t.rules", text, strlen(text), d);
    return set;
}

static void test_parse_ok(void)
{
    const char *src =
        "# comment\n"
        "rule LOAN-RU-001   # trailing comment\n"
        "  name     \"Loan offer \\\"without\\\" refusal\"\n"
        "  field    text\n"
        "  match    /займ.{0,20}без\\s+отказ/i\n"
        "  match    \"деньги без отказа\"\n"
        "  score    6\n"
        "  action   block\n"
        "  tags     loan ru\n"
        "  state    shadow\n"
        "  example  match    \"Займ до 30000 руб без отказа\"\n"
        "  example  nomatch  \"Займ одобрен? Нет\"\n"
        "end\r\n"
        "\n"
        "rule S1\n"
        "  field sender\n"
        "  match \"QIWI\" i\n"
        "  score -2\n"
        "end";
    rules_diag_t *d = rules_diag_new(0);
    int rc;
    rules_set_t *set = parse(src, d, &rc);
    CHECK_EQ_INT(rc, 0);
    dump(d);
    CHECK_EQ_INT(rules_set_count(set), 2);
    const struct rules_rule *r = rules_set_rule(set, 0);
    CHECK_EQ_STR(r->id, "LOAN-RU-001");
    CHECK_EQ_STR(r->name, "Loan offer \"without\" refusal");
    CHECK_EQ_INT(r->field, RULES_FIELD_TEXT);
    CHECK_EQ_INT(r->npatterns, 2);
    CHECK_EQ_INT(r->patterns[0].kind, RULES_PAT_REGEX);
    CHECK_EQ_STR(r->patterns[0].text, "займ.{0,20}без\\s+отказ");
    CHECK(r->patterns[0].flags & RULES_PF_CASELESS);
    CHECK_EQ_INT(r->patterns[0].loc.line, 5);
    CHECK_EQ_INT(r->patterns[0].loc.col, 13);
    CHECK_EQ_INT(r->patterns[1].kind, RULES_PAT_LITERAL);
    CHECK_EQ_INT(r->score, 6);
    CHECK_EQ_INT(r->action, RULES_ACTION_BLOCK);
    CHECK_EQ_INT(r->state, RULES_STATE_SHADOW);
    CHECK_EQ_STR(r->tags, "loan ru");
    CHECK_EQ_INT(r->nexamples, 2);
    CHECK_EQ_INT(r->examples[1].must_match, 0);
    r = rules_set_rule(set, 1);
    CHECK_EQ_INT(r->field, RULES_FIELD_SENDER);
    CHECK_EQ_INT(r->score, -2);
    CHECK_EQ_STR(r->name, "");
    CHECK_EQ_INT(rules_set_find(set, "S1"), 1);
    CHECK_EQ_INT(rules_set_find(set, "nope"), -1);
    rules_set_free(set);
    rules_diag_free(d);
}

static void test_parse_errors(void)
{
    /* one error per line, all reported, each with file:line:col */
    const char *src =
        "rule A\n"                          /* 1 */
        "  match /unterminated\n"           /* 2 */
        "  score 1000\n"                    /* 3 */
        "  colour red\n"                    /* 4 */
        "  field body\n"                    /* 5 */
        "end\n"                             /* 6: A has errors: dropped */
        "score 3\n"                         /* 7: outside a rule */
        "rule B\n"                          /* 8 */
        "  match \"bad \\q escape\"\n"      /* 9 */
        "  match /x/z\n"                    /* 10 */
        "  name \"unterminated\n"           /* 11 */
        "  score 3 4\n"                     /* 12 */
        "end\n"                             /* 13 */
        "rule C\n"                          /* 14: no match line */
        "end\n"                             /* 15 */
        "rule D\n"                          /* 16 */
        "  match \"ok\"\n"                  /* 17 */
        "end\n"                             /* 18 */
        "rule D\n"                          /* 19: duplicate id */
        "  match \"ok\"\n"                  /* 20 */
        "end\n"                             /* 21 */
        "rule E\n"                          /* 22: missing end */
        "  match \"x\"\n";                  /* 23 */
    rules_diag_t *d = rules_diag_new(0);
    int rc;
    rules_set_t *set = parse(src, d, &rc);
    CHECK_EQ_INT(rc, SG_EPARSE);
    CHECK(diag_has(d, "t.rules:2:9: unterminated regex"));
    CHECK(diag_has(d, "t.rules:3:9: score 1000 out of range"));
    CHECK(diag_has(d, "t.rules:4:3: unknown directive 'colour'"));
    CHECK(diag_has(d, "t.rules:5:9: unknown field 'body'"));
    CHECK(diag_has(d, "t.rules:7:1: 'score' outside a rule block"));
    CHECK(diag_has(d, "t.rules:9:14: unknown escape '\\q'"));
    CHECK(diag_has(d, "t.rules:10:12: unknown regex flag 'z'"));
    CHECK(diag_has(d, "t.rules:11:8: unterminated string"));
    CHECK(diag_has(d, "t.rules:12:11: unexpected '4'"));
    CHECK(diag_has(d, "t.rules:14:1: rule C has no 'match' line"));
    CHECK(diag_has(d, "t.rules:19:1: duplicate rule id D (first defined at t.rules:18") ||
          diag_has(d, "t.rules:19:1: duplicate rule id D (first defined at t.rules:16"));
    CHECK(diag_has(d, "t.rules:23:1: missing 'end' for rule E (opened at line 22)"));
    CHECK_EQ_INT(rules_diag_count(d), 12);
    if (rules_diag_count(d) != 12)
        dump(d);
    /* only the good rule survives */
    CHECK_EQ_INT(rules_set_count(set), 1);
    CHECK_EQ_INT(rules_set_find(set, "D"), 0);
    rules_set_free(set);

    /* bounded diagnostics: the count goes on past the kept messages */
    rules_diag_t *small = rules_diag_new(2);
    set = parse("x\ny\nz\nw\n", small, &rc);
    CHECK_EQ_INT(rules_diag_count(small), 4);
    CHECK_EQ_INT(rules_diag_kept(small), 2);
    rules_set_free(set);
    rules_diag_free(small);
    rules_diag_free(d);

    /* hostile bytes: NUL, invalid UTF-8, a huge line */
    d = rules_diag_new(0);
    const char nul[] = "rule X\n  match \"a\0b\"\nend\n";
    set = rules_set_new();
    rc = rules_parse_buffer(set, "n.rules", nul, sizeof nul - 1, d);
    CHECK_EQ_INT(rc, SG_EPARSE);
    CHECK(diag_has(d, "n.rules:2:"));
    rules_set_free(set);
    rules_diag_clear(d);
    set = parse("rule X\n  match \"\xff\xfe\"\nend\n", d, &rc);
    CHECK(diag_has(d, "not valid UTF-8"));
    rules_set_free(set);
    size_t big = RULES_MAX_LINE_BYTES + 10;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = '\0';
    rules_diag_clear(d);
    set = parse(huge, d, &rc);
    CHECK(diag_has(d, "line longer than"));
    rules_set_free(set);
    free(huge);
    rules_diag_free(d);
}

static rules_db_t *build(const char *src, rules_diag_t *d, const char *cache,
                         struct rules_build_info *info)
{
    int rc;
    rules_set_t *set = parse(src, d, &rc);
    if (rc)
        dump(d);
    struct rules_build_opts o = {.cache_dir = cache};
    rules_db_t *db = NULL;
    rc = rules_db_build(set, &o, &db, d, info);
    if (rc)
        dump(d);
    return db;
}

static void test_compile_errors(void)
{
    const char *src =
        "rule OK-1\n  match /fine/\nend\n"
        "rule BAD-1\n  match /ok/\n  match /a(b/\nend\n"        /* line 6 */
        "rule BAD-2\n  match /x{5,2}/\nend\n"                   /* line 9 */
        "rule BAD-3\n  match /\\bзайм/\nend\n"                  /* line 12 */
        /* literals share the field's database with the regexes above */
        "rule LIT-1\n  match \"a(b\"\n  match \"x{5,2}\"\nend\n"  /* lines 14-17 */
        "rule BAD-4\n  field raw\n  match \"raw lit\"\n"
        "  match /[z-a]/\nend\n";                                 /* line 21 */
    rules_diag_t *d = rules_diag_new(0);
    struct rules_build_info info;
    rules_db_t *db = build(src, d, NULL, &info);
    CHECK(db == NULL);
    CHECK(diag_has(d, "t.rules:6:10: rule BAD-1: regex does not compile"));
    CHECK(diag_has(d, "t.rules:9:10: rule BAD-2: regex does not compile"));
    CHECK(diag_has(d, "t.rules:12:10: rule BAD-3: \\b and \\B"));
    CHECK(diag_has(d, "t.rules:21:10: rule BAD-4: regex does not compile"));
    CHECK_EQ_INT(rules_diag_count(d), 4);
    if (rules_diag_count(d) != 4)
        dump(d);
    rules_diag_free(d);
}

/* More bad regexes than the merged compile retries for: the rest are
 * found by compiling them one by one, each still with its location. */
static void test_many_compile_errors(void)
{
    size_t cap = 1 << 16, n = 0;
    char *src = malloc(cap);
    for (int i = 0; i < 80; i++) /* rule i: lines 5i+1..5i+5, the regex on 5i+3 */
        n += (size_t)snprintf(src + n, cap - n, "rule R%d\n  match \"lit %d\"\n  match /a(b%d/\n"
                              "  score 1\nend\n", i, i, i);
    rules_diag_t *d = rules_diag_new(0);
    int rc;
    rules_set_t *set = parse(src, d, &rc);
    CHECK_EQ_INT(rc, 0);
    rules_db_t *db = NULL;
    CHECK_EQ_INT(rules_db_build(set, NULL, &db, d, NULL), SG_ECOMPILE);
    CHECK(db == NULL);
    CHECK_EQ_INT(rules_diag_count(d), 80);
    CHECK(diag_has(d, "t.rules:3:10: rule R0: regex does not compile"));
    CHECK(diag_has(d, "t.rules:398:10: rule R79: regex does not compile"));
    rules_diag_free(d);
    free(src);
}

/* Scans data in field f and returns the matched rule indices as a string
 * like "0,3," (in reporting order). */
static const char *scan_str(rules_db_t *db, rules_scratch_t *s, enum rules_field f,
                            const char *data, size_t len)
{
    static char out[256];
    uint32_t idx[32];
    struct rules_hits h = {.idx = idx, .cap = 32};
    out[0] = '\0';
    if (rules_scan(db, s, f, data, len, &h, NULL, NULL) != 0)
        return "error";
    for (uint32_t i = 0; i < h.n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%u,", idx[i]);
    return out;
}
#define SCAN(db, s, f, lit) scan_str(db, s, f, lit, sizeof lit - 1)

/* A literal is its bytes, whatever Hyperscan's regex syntax makes of them. */
static void test_literal_escapes(void)
{
    const char *src =
        "rule L0\n field raw\n match \"a.b*(c)\"\nend\n"
        "rule L1\n field raw\n match \"[x]\"\nend\n"
        "rule L2\n field raw\n match \"\\\\\"\nend\n"      /* one backslash */
        "rule L3\n field raw\n match \"end$\"\nend\n"
        "rule L4\n field raw\n match \"^\"\nend\n"
        "rule L5\n field raw\n match \"x{2}\"\nend\n"
        "rule L6\n field raw\n match \"?\"\nend\n"
        "rule L7\n field raw\n match \"a|b\"\nend\n"
        "rule L8\n field raw\n match \"1+1\"\nend\n"
        "rule L9\n field raw\n match \"A.B\" i\nend\n"
        "rule L10\n field raw\n match \"n\\x00l\"\nend\n"   /* a NUL byte */
        "rule L11\n field sender\n match \"(?i)q\"\nend\n"
        "rule L12\n field raw\n match \"\\\\x41 \\\\Q#\"\nend\n";
    rules_diag_t *d = rules_diag_new(0);
    rules_db_t *db = build(src, d, NULL, NULL);
    CHECK(db != NULL);
    if (!db) {
        rules_diag_free(d);
        return;
    }
    rules_scratch_t *s = rules_scratch_new(db);
    enum rules_field R = RULES_FIELD_RAW;
    CHECK_EQ_STR(SCAN(db, s, R, "axbbc ab abc a-b*c"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "-a.b*(c)-"), "9,0,"); /* L9 ends first */
    CHECK_EQ_STR(SCAN(db, s, R, "x [y] [x"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "[x]"), "1,");
    CHECK_EQ_STR(SCAN(db, s, R, "no slash / here"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "back\\slash"), "2,");
    CHECK_EQ_STR(SCAN(db, s, R, "the end"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "the end$ now"), "3,");
    CHECK_EQ_STR(SCAN(db, s, R, "caret"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "2^3"), "4,");
    CHECK_EQ_STR(SCAN(db, s, R, "xx x{3}"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "x{2}"), "5,");
    CHECK_EQ_STR(SCAN(db, s, R, "why"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "why?"), "6,");
    CHECK_EQ_STR(SCAN(db, s, R, "a b ab"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "a|b"), "7,");
    CHECK_EQ_STR(SCAN(db, s, R, "11 111"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "1+1"), "8,");
    CHECK_EQ_STR(SCAN(db, s, R, "AxB"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "a.b"), "9,");
    CHECK_EQ_STR(SCAN(db, s, R, "nl n l"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "n\0l"), "10,");
    CHECK_EQ_STR(SCAN(db, s, RULES_FIELD_SENDER, "Q"), "");
    CHECK_EQ_STR(SCAN(db, s, RULES_FIELD_SENDER, "x(?i)q"), "11,");
    CHECK_EQ_STR(SCAN(db, s, R, "A #"), "");
    CHECK_EQ_STR(SCAN(db, s, R, "\\x41 \\Q#"), "2,12,");
    rules_scratch_free(s);
    rules_db_free(db);
    rules_diag_free(d);
}

/* Cyrillic literals: bytes as written in raw (case-folding is ASCII-only,
 * as it was with hs_compile_lit), normalised in text; literals and regexes
 * of one field in its one database; input that is not valid UTF-8. */
static void test_cyrillic_literals(void)
{
    const char *src =
        "rule T-LIT\n  match \"ЗАЙМ без Отказа\"\nend\n"       /* 0: normalised */
        "rule T-RE\n  match /ставк[аи]\\s+\\d+%/\nend\n"           /* 1 */
        "rule T-BOTH\n  match \"кредит\"\n  match /к\\w+т/\nend\n" /* 2 */
        "rule R-LIT\n  field raw\n  match \"ДОМ\" i\nend\n"        /* 3 */
        "rule R-RE\n  field raw\n  match /дом/\nend\n";            /* 4 */
    rules_diag_t *d = rules_diag_new(0);
    rules_db_t *db = build(src, d, NULL, NULL);
    CHECK(db != NULL);
    if (!db) {
        rules_diag_free(d);
        return;
    }
    rules_scratch_t *s = rules_scratch_new(db);
    uint32_t idx[16];
    struct rules_hits h = {.idx = idx, .cap = 16};
    const char *norm;
    const char *m = "Займ без отказа: ставка 5% и кредит";
    CHECK_EQ_INT(rules_match_message(db, s, m, strlen(m), NULL, 0, &h, &norm, NULL), 0);
    /* literal-matched rules first (by their literal), then the regex ones */
    CHECK_EQ_INT(h.n, 3);
    CHECK(h.n == 3 && idx[0] == 0 && idx[1] == 2 && idx[2] == 1);
    enum rules_field R = RULES_FIELD_RAW, T = RULES_FIELD_TEXT;
    /* T-BOTH: its regex matches first ("кот"), its literal later: still
     * reported with the literal-matched rules, before T-RE */
    CHECK_EQ_STR(SCAN(db, s, T, "кот ставки 7% кредит"), "2,1,");
    CHECK_EQ_STR(SCAN(db, s, T, "ставки 7% кот"), "1,2,");
    CHECK_EQ_STR(SCAN(db, s, T, "займ без отказа"), "0,");
    /* raw: the literal's Cyrillic is not case-folded, ASCII would be */
    CHECK_EQ_STR(SCAN(db, s, R, "дом"), "4,");
    CHECK_EQ_STR(SCAN(db, s, R, "ДОМ"), "3,");
    CHECK_EQ_STR(SCAN(db, s, R, "ДОМ дом"), "3,4,");
    /* invalid UTF-8: a literal never matches across an invalid byte, a
     * regex sees the text without it (both as with two databases) */
    CHECK_EQ_STR(SCAN(db, s, R, "Д\xffОМ д\xffом"), "4,");
    CHECK_EQ_STR(SCAN(db, s, R, "\xfeДОМ\xff"), "3,");
    CHECK_EQ_STR(SCAN(db, s, R, "ДОМ\xd0"), "3,"); /* a truncated character */
    CHECK_EQ_STR(SCAN(db, s, R, "д\xd0ом"), "4,");
    rules_scratch_free(s);
    rules_db_free(db);

    /* every ASCII byte in some raw literal: no stand-in byte for invalid
     * input, literals scan the valid runs one by one */
    char all[4096];
    size_t n = (size_t)snprintf(all, sizeof all, "rule ALL\n field raw\n match \"");
    for (int c = 0; c < 128; c++)
        n += (size_t)snprintf(all + n, sizeof all - n, "\\x%02x", c);
    snprintf(all + n, sizeof all - n, "\"\nend\n%s", src);
    db = build(all, d, NULL, NULL);
    CHECK(db != NULL);
    if (db) {
        s = rules_scratch_new(db);
        CHECK_EQ_STR(SCAN(db, s, R, "Д\xffОМ д\xffом"), "5,");
        CHECK_EQ_STR(SCAN(db, s, R, "\xfeДОМ\xff"), "4,");
        CHECK_EQ_STR(SCAN(db, s, R, "\xfe\xff"), "");
        rules_scratch_free(s);
        rules_db_free(db);
    }
    rules_diag_free(d);
}

static int count_cb(uint32_t idx, void *ud)
{
    (void)idx;
    ++*(int *)ud;
    return 0;
}

static void test_scan(void)
{
    const char *src =
        "rule LOAN\n"
        "  match /займ.{0,20}без\\s+отказ/\n"
        "  match \"микрозайм\"\n"
        "  score 6\n"
        "end\n"
        "rule WIN\n"
        "  match \"W I N\"\n"         /* literal normalised at compile time */
        "  score 2\n"
        "end\n"
        "rule PRIZE\n"
        "  match /prize/\n"
        "  score 2\n"
        "  state shadow\n"
        "end\n"
        "rule RAWCAPS\n"
        "  field raw\n"
        "  match /[A-Z]{5}!/\n"
        "  score 1\n"
        "end\n"
        "rule SND\n"
        "  field sender\n"
        "  match \"qiwi\" i\n"
        "  score 3\n"
        "  action flag\n"
        "end\n"
        "rule OFF\n"
        "  match \"free\"\n"
        "  score 9\n"
        "  state disabled\n"
        "end\n";
    rules_diag_t *d = rules_diag_new(0);
    struct rules_build_info info;
    rules_db_t *db = build(src, d, NULL, &info);
    CHECK(db != NULL);
    if (!db) {
        rules_diag_free(d);
        return;
    }
    CHECK_EQ_INT(rules_db_count(db), 6);
    CHECK_EQ_STR(rules_db_rule_id(db, 0), "LOAN");
    CHECK_EQ_INT(rules_db_rule_score(db, 0), 6);
    CHECK_EQ_INT(rules_db_rule_state(db, 2), RULES_STATE_SHADOW);
    CHECK_EQ_INT(rules_db_rule_action(db, 4), RULES_ACTION_FLAG);
    rules_scratch_t *s = rules_scratch_new(db);
    CHECK(s != NULL);
    uint32_t idx[16];
    struct rules_hits h = {.idx = idx, .cap = 16};
    /* mixed scripts, padding, zero-width: both LOAN patterns hit, reported once */
    const char *msg = "3AЙM бeз oткaзa! Микро\xE2\x80\x8Bзайм, W-I-N a PRIZE";
    const char *norm;
    CHECK_EQ_INT(rules_match_message(db, s, msg, strlen(msg), "QIWI", 4, &h, &norm, NULL), 0);
    CHECK_EQ_STR(norm, "займ без отказа! микрозайм, win a prize");
    int seen[6] = {0};
    for (uint32_t i = 0; i < h.n; i++)
        seen[h.idx[i]]++;
    CHECK_EQ_INT(seen[0], 1); /* LOAN once, although two patterns matched */
    CHECK_EQ_INT(seen[1], 1); /* WIN */
    CHECK_EQ_INT(seen[2], 1); /* PRIZE (shadow: reported, not scored) */
    CHECK_EQ_INT(seen[3], 0); /* RAWCAPS: "PRIZE" has no '!' */
    CHECK_EQ_INT(seen[4], 1); /* SND */
    CHECK_EQ_INT(seen[5], 0); /* disabled */
    int score;
    CHECK_EQ_INT(rules_db_decide(db, &h, RULES_DEFAULT_FLAG_SCORE, RULES_DEFAULT_BLOCK_SCORE, &score),
                 RULES_ACTION_BLOCK);
    CHECK_EQ_INT(score, 6 + 2 + 3);
    CHECK_EQ_INT(rules_db_rule_hits(db, 0), 1);

    /* a rule's own action wins over a low score */
    const char *m2 = "hello";
    CHECK_EQ_INT(rules_match_message(db, s, m2, strlen(m2), "Q.I.W.I", 7, &h, NULL, NULL), 0);
    CHECK_EQ_INT(h.n, 0); /* sender field is matched as sent */
    CHECK_EQ_INT(rules_match_message(db, s, m2, strlen(m2), "qiwi", 4, &h, NULL, NULL), 0);
    CHECK_EQ_INT(rules_db_decide(db, &h, 3, 5, &score), RULES_ACTION_FLAG);

    /* raw field, invalid UTF-8 scanned safely; callback; capacity */
    const char raw[] = "WINNER!\xff\xfe";
    int calls = 0;
    CHECK_EQ_INT(rules_scan(db, s, RULES_FIELD_RAW, raw, sizeof raw - 1, &h, count_cb, &calls), 0);
    CHECK_EQ_INT(h.n, 1);
    CHECK_EQ_INT(calls, 1);
    struct rules_hits tiny = {.idx = idx, .cap = 0};
    CHECK_EQ_INT(rules_scan(db, s, RULES_FIELD_RAW, raw, sizeof raw - 1, &tiny, NULL, NULL), 0);
    CHECK_EQ_INT(tiny.dropped, 1);
    CHECK_EQ_INT(rules_scan(db, s, (enum rules_field)9, raw, 3, &h, NULL, NULL), SG_EINVAL);
    /* a scratch belongs to its db */
    rules_db_t *other = build("rule Z\n match \"z\"\nend\n", d, NULL, NULL);
    CHECK_EQ_INT(rules_scan(other, s, RULES_FIELD_TEXT, "z", 1, &h, NULL, NULL), SG_EINVAL);
    rules_db_free(other);
    rules_scratch_free(s);
    rules_scratch_free(NULL);
    rules_db_free(db);
    rules_db_free(NULL);
    rules_diag_free(d);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void rm_dir(const char *dir)
{
    DIR *dd = opendir(dir);
    if (!dd)
        return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(dd)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(dd);
    rmdir(dir);
}

static void test_cache(void)
{
    char dir[] = "/tmp/sg-rules-cache-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    /* a set with a few hundred regexes and literals */
    size_t cap = 1 << 20, n = 0;
    char *src = malloc(cap);
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(src + n, cap - n,
                              "rule R%d\n  match /(prize|award|bonus)%d[a-z]{2,8}\\s+now/\n"
                              "  match \"literal number %d\"\n  score 1\nend\n", i, i, i);
    rules_diag_t *d = rules_diag_new(0);
    struct rules_build_info i1, i2;
    rules_db_t *db1 = build(src, d, dir, &i1);
    CHECK(db1 != NULL);
    CHECK_EQ_INT(i1.from_cache, 0);
    double t0 = now_ms();
    rules_db_t *db2 = build(src, d, dir, &i2);
    double load_ms = now_ms() - t0;
    CHECK(db2 != NULL);
    CHECK_EQ_INT(i2.from_cache, 1);
    CHECK(i1.key == i2.key);
    printf("cache: compile %.1f ms, parse + load from cache %.1f ms (db load %.1f ms), "
           "%zu patterns\n", i1.build_ms, load_ms, i2.build_ms, i2.npatterns);
    CHECK_MSG(load_ms < 50.0, "cache load took %.1f ms", load_ms);
    CHECK(i2.build_ms * 10 < i1.build_ms);
    /* the loaded databases match the same messages */
    if (db1 && db2) {
        rules_scratch_t *s1 = rules_scratch_new(db1), *s2 = rules_scratch_new(db2);
        uint32_t a[8], b[8];
        struct rules_hits h1 = {.idx = a, .cap = 8}, h2 = {.idx = b, .cap = 8};
        const char *m = "Your AWARD17xy now! literal number 42";
        rules_match_message(db1, s1, m, strlen(m), NULL, 0, &h1, NULL, NULL);
        rules_match_message(db2, s2, m, strlen(m), NULL, 0, &h2, NULL, NULL);
        CHECK_EQ_INT(h1.n, 3); /* R17, R4 ("literal number 4") and R42 */
        CHECK(h1.n == 3 && h1.idx[0] != h1.idx[1]);
        CHECK_EQ_INT(h2.n, 3);
        CHECK(h1.n == h2.n && memcmp(a, b, h1.n * sizeof *a) == 0);
        rules_scratch_free(s1);
        rules_scratch_free(s2);
    }
    /* a changed rule set misses the cache; a corrupt cache file is ignored */
    strcat(src, "rule EXTRA\n match \"x\"\nend\n");
    struct rules_build_info i3;
    rules_db_t *db3 = build(src, d, dir, &i3);
    CHECK(db3 != NULL);
    CHECK_EQ_INT(i3.from_cache, 0);
    CHECK(i3.key != i1.key);
    char path[4200];
    snprintf(path, sizeof path, "%s/rules-%016llx.hsdb", dir, (unsigned long long)i3.key);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 40, SEEK_SET);
        fputs("garbage garbage garbage", f);
        fclose(f);
    }
    struct rules_build_info i4;
    rules_db_t *db4 = build(src, d, dir, &i4);
    CHECK(db4 != NULL);
    CHECK_EQ_INT(i4.from_cache, 0);
    /* A cut file (a full disk, a crash while another process wrote it) is
     * a miss too: the mapped reader never reads past its end.  Each miss
     * recompiles and stores the file whole again, cut again next round. */
    struct stat st;
    CHECK(stat(path, &st) == 0);
    const off_t cuts[] = {0, 7, 12, 16, 23, 24, 40, st.st_size / 2, st.st_size - 1};
    for (size_t c = 0; c < SG_ARRAY_LEN(cuts); c++) {
        CHECK(truncate(path, cuts[c]) == 0);
        struct rules_build_info i5;
        rules_db_t *db5 = build(src, d, dir, &i5);
        CHECK_MSG(db5 != NULL && i5.from_cache == 0, "cache cut at %lld bytes", (long long)cuts[c]);
        rules_db_free(db5);
    }
    struct rules_build_info i6;
    rules_db_t *db6 = build(src, d, dir, &i6); /* and the whole file stored last loads */
    CHECK(db6 != NULL);
    CHECK_EQ_INT(i6.from_cache, 1);
    rules_db_free(db6);
    rules_db_free(db1);
    rules_db_free(db2);
    rules_db_free(db3);
    rules_db_free(db4);
    rules_diag_free(d);
    free(src);
    rm_dir(dir);
}

/* The shipped rule set compiles and every example passes. */
static void test_shipped_rules(void)
{
    rules_diag_t *d = rules_diag_new(0);
    /* cached under the build folder: the shipped set takes seconds to compile */
    char cache[4096];
    const char *b = getenv("SG_BUILD");
    snprintf(cache, sizeof cache, "%s/rules-cache", b ? b : "/tmp");
    struct rules_build_opts o = {.include_disabled = 1, .cache_dir = cache};
    rules_db_t *db = NULL;
    int rc = rules_db_load(test_source_path("rules"), &o, &db, d, NULL);
    CHECK_EQ_INT(rc, 0);
    dump(d);
    if (!db) {
        rules_diag_free(d);
        return;
    }
    CHECK(rules_db_count(db) >= 30);
    rules_scratch_t *s = rules_scratch_new(db);
    norm_ctx_t *nc = norm_ctx_new(0);
    char buf[65536];
    uint32_t *idx = malloc((rules_db_count(db) + 1) * sizeof *idx);
    size_t examples = 0;
    for (uint32_t i = 0; i < rules_db_count(db); i++) {
        const struct rules_rule *r = rules_db_rule(db, i);
        for (uint32_t k = 0; k < r->nexamples; k++) {
            const struct rules_example *ex = &r->examples[k];
            size_t len = ex->len;
            const char *data = ex->text;
            if (r->field == RULES_FIELD_TEXT) {
                norm_text(nc, ex->text, ex->len, buf, sizeof buf, &len, 0);
                data = buf;
            }
            struct rules_hits h = {.idx = idx, .cap = (uint32_t)rules_db_count(db) + 1};
            rules_scan(db, s, r->field, data, len, &h, NULL, NULL);
            int hit = 0;
            for (uint32_t j = 0; j < h.n; j++)
                hit |= h.idx[j] == i;
            CHECK_MSG(hit == ex->must_match, "%s:%u: rule %s example", ex->loc.file, ex->loc.line,
                      r->id);
            examples++;
        }
    }
    CHECK(examples >= 60);
    free(idx);
    norm_ctx_free(nc);
    rules_scratch_free(s);
    rules_db_free(db);
    rules_diag_free(d);
}

int main(void)
{
    test_parse_ok();
    test_parse_errors();
    test_compile_errors();
    test_many_compile_errors();
    test_scan();
    test_literal_escapes();
    test_cyrillic_literals();
    test_cache();
    test_shipped_rules();
    return test_summary();
}
