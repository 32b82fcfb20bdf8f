/* smsguard rules check|test|eval: tools for rule writers.
 *
 *   check PATH        parse and compile; every error as file:line:col: message
 *   test PATH         run every rule's examples
 *   eval FILE.tsv     label<TAB>text lines: spam caught, ham blocked and hits
 *                     per rule (SpamAssassin mass-check style)
 *
 * PATH is a directory of *.rules files or one file (default: rules). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "rules-db.h"
#include "text-norm.h"

#define DEFAULT_RULES_DIR "rules"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: smsguard rules check [--cache DIR] [PATH]\n"
            "       smsguard rules test [PATH]\n"
            "       smsguard rules eval [--rules PATH] [--threshold N] [--flag N]\n"
            "                           [--show fp|fn|all|ham] [--cache DIR] FILE.tsv\n"
            "\n"
            "PATH is a folder of *.rules files or one file (default: %s).\n"
            "check   parse and compile; print every error as file:line:col: message\n"
            "test    check every rule's 'example match' and 'example nomatch' lines\n"
            "eval    judge label<TAB>text lines (label ham or spam) and report spam\n"
            "        caught, ham blocked and hits per rule; --threshold is the block\n"
            "        score (default %d), --flag the flag score (default %d)\n"
            "--cache DIR keeps the compiled databases in DIR (key: rules, library, CPU).\n"
            "Exit status: 0 ok, 1 errors or failures found, 2 usage error.\n",
            DEFAULT_RULES_DIR, RULES_DEFAULT_BLOCK_SCORE, RULES_DEFAULT_FLAG_SCORE);
}

/* Loads and reports; returns the db or NULL (errors printed). */
static rules_db_t *load(const char *path, const char *cache, int include_disabled,
                        struct rules_build_info *info)
{
    rules_diag_t *diag = rules_diag_new(0);
    if (!diag) {
        fprintf(stderr, "smsguard rules: out of memory\n");
        return NULL;
    }
    struct rules_build_opts o = {.cache_dir = cache, .include_disabled = include_disabled};
    rules_db_t *db = NULL;
    int rc = rules_db_load(path, &o, &db, diag, info);
    if (rc) {
        rules_diag_print(diag, stderr);
        if (rules_diag_count(diag) == 0)
            fprintf(stderr, "%s: %s\n", path, sg_strerror(rc));
        else
            fprintf(stderr, "%s: %zu error%s\n", path, rules_diag_count(diag),
                    rules_diag_count(diag) == 1 ? "" : "s");
    }
    rules_diag_free(diag);
    return db;
}

static int cmd_check(int argc, char **argv)
{
    static const struct option lo[] = {{"cache", required_argument, NULL, 'C'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *cache = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "C:h", lo, NULL)) != -1) {
        if (c == 'C')
            cache = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        usage(stderr);
        return 2;
    }
    const char *path = optind < argc ? argv[optind] : DEFAULT_RULES_DIR;
    struct rules_build_info info;
    rules_db_t *db = load(path, cache, 0, &info);
    if (!db)
        return 1;
    size_t en = 0, sh = 0, di = 0;
    for (uint32_t i = 0; i < rules_db_count(db); i++) {
        enum rules_state s = rules_db_rule_state(db, i);
        en += s == RULES_STATE_ENABLED;
        sh += s == RULES_STATE_SHADOW;
        di += s == RULES_STATE_DISABLED;
    }
    char key[17];
    rules_db_key_hex(db, key);
    printf("%s: %zu rules (%zu enabled, %zu shadow, %zu disabled), %zu patterns, "
           "%s in %.1f ms, key %s\n",
           path, rules_db_count(db), en, sh, di, info.npatterns,
           info.from_cache ? "loaded from cache" : "compiled", info.build_ms, key);
    rules_db_free(db);
    return 0;
}

static int cmd_test(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    const char *path = argc == 2 ? argv[1] : DEFAULT_RULES_DIR;
    rules_db_t *db = load(path, NULL, 1, NULL);
    if (!db)
        return 1;
    rules_scratch_t *s = rules_scratch_new(db);
    norm_ctx_t *nc = norm_ctx_new(0);
    size_t cap = RULES_MAX_STRING_BYTES * 8 + 16;
    char *buf = malloc(cap);
    uint32_t *idx = malloc((rules_db_count(db) + 1) * sizeof *idx);
    if (!s || !nc || !buf || !idx) {
        fprintf(stderr, "smsguard rules test: out of memory\n");
        return 1;
    }
    size_t examples = 0, failures = 0, untested = 0;
    for (uint32_t i = 0; i < rules_db_count(db); i++) {
        const struct rules_rule *r = rules_db_rule(db, i);
        if (r->nexamples == 0)
            untested++;
        for (uint32_t k = 0; k < r->nexamples; k++) {
            const struct rules_example *ex = &r->examples[k];
            const char *data = ex->text;
            size_t len = ex->len;
            if (r->field == RULES_FIELD_TEXT) {
                norm_text(nc, ex->text, ex->len, buf, cap, &len, 0);
                data = buf;
            }
            struct rules_hits h = {.idx = idx, .cap = (uint32_t)rules_db_count(db) + 1};
            rules_scan(db, s, r->field, data, len, &h, NULL, NULL);
            int hit = 0;
            for (uint32_t j = 0; j < h.n; j++)
                hit |= h.idx[j] == i;
            examples++;
            if (hit != ex->must_match) {
                failures++;
                printf("%s:%u:%u: rule %s: example %s\n", ex->loc.file, ex->loc.line, ex->loc.col, r->id,
                       ex->must_match ? "should match but does not" : "matches but should not");
                if (r->field == RULES_FIELD_TEXT)
                    printf("    normalised: %s\n", buf);
            }
        }
    }
    printf("%s: %zu rules, %zu examples, %zu failed, %zu rules without examples\n", path,
           rules_db_count(db), examples, failures, untested);
    free(buf);
    free(idx);
    norm_ctx_free(nc);
    rules_scratch_free(s);
    rules_db_free(db);
    return failures ? 1 : 0;
}

struct rule_stat {
    uint64_t spam, ham;
};

/* qsort has no context argument in C11: the table is a file-level pointer
 * (the CLI is single-threaded).  Most hits first. */
static const struct rule_stat *g_stats;
static int cmp_stat(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    uint64_t tx = g_stats[x].spam + g_stats[x].ham, ty = g_stats[y].spam + g_stats[y].ham;
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmd_eval(int argc, char **argv)
{
    static const struct option lo[] = {{"rules", required_argument, NULL, 'r'},
                                       {"threshold", required_argument, NULL, 't'},
                                       {"flag", required_argument, NULL, 'f'},
                                       {"show", required_argument, NULL, 's'},
                                       {"cache", required_argument, NULL, 'C'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *path = DEFAULT_RULES_DIR, *cache = NULL;
    int block_at = RULES_DEFAULT_BLOCK_SCORE, flag_at = RULES_DEFAULT_FLAG_SCORE;
    int show_fp = 0, show_fn = 0, show_ham = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:t:f:s:C:h", lo, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'r': path = optarg; break;
        case 'C': cache = optarg; break;
        case 't':
        case 'f': {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < -10000 || v > 10000) {
                fprintf(stderr, "smsguard rules eval: bad score '%s'\n", optarg);
                return 2;
            }
            *(c == 't' ? &block_at : &flag_at) = (int)v;
            break;
        }
        case 's':
            show_fp = !strcmp(optarg, "fp") || !strcmp(optarg, "all");
            show_fn = !strcmp(optarg, "fn") || !strcmp(optarg, "all");
            show_ham = !strcmp(optarg, "ham");
            if (!show_fp && !show_fn && !show_ham) {
                fprintf(stderr, "smsguard rules eval: --show fp, fn, all or ham\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    const char *tsv = argv[optind];
    FILE *in = strcmp(tsv, "-") ? fopen(tsv, "r") : stdin;
    if (!in) {
        perror(tsv);
        return 1;
    }
    rules_db_t *db = load(path, cache, 0, NULL);
    if (!db) {
        if (in != stdin)
            fclose(in);
        return 1;
    }
    size_t nr = rules_db_count(db);
    rules_scratch_t *s = rules_scratch_new(db);
    uint32_t *idx = malloc((nr + 1) * sizeof *idx);
    struct rule_stat *st = calloc(nr + 1, sizeof *st);
    if (!s || !idx || !st) {
        fprintf(stderr, "smsguard rules eval: out of memory\n");
        return 1;
    }
    uint64_t spam = 0, ham = 0, spam_blocked = 0, spam_flagged = 0, ham_blocked = 0, ham_flagged = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    unsigned long lineno = 0;
    int bad = 0;
    while ((ll = getline(&line, &lcap, in)) != -1) {
        lineno++;
        while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
            line[--ll] = '\0';
        if (ll == 0)
            continue;
        char *tab = memchr(line, '\t', (size_t)ll);
        if (!tab) {
            fprintf(stderr, "%s:%lu: no TAB between label and text\n", tsv, lineno);
            bad = 1;
            continue;
        }
        *tab = '\0';
        int is_spam;
        if (!strcmp(line, "spam"))
            is_spam = 1;
        else if (!strcmp(line, "ham"))
            is_spam = 0;
        else {
            fprintf(stderr, "%s:%lu: label must be ham or spam\n", tsv, lineno);
            bad = 1;
            continue;
        }
        const char *text = tab + 1;
        size_t tlen = (size_t)(line + ll - text);
        struct rules_hits h = {.idx = idx, .cap = (uint32_t)nr + 1};
        rules_match_message(db, s, text, tlen, NULL, 0, &h, NULL, NULL);
        int score;
        enum rules_action a = rules_db_decide(db, &h, flag_at, block_at, &score);
        for (uint32_t j = 0; j < h.n; j++) {
            if (is_spam)
                st[h.idx[j]].spam++;
            else
                st[h.idx[j]].ham++;
        }
        if (is_spam) {
            spam++;
            spam_blocked += a == RULES_ACTION_BLOCK;
            spam_flagged += a == RULES_ACTION_FLAG;
        } else {
            ham++;
            ham_blocked += a == RULES_ACTION_BLOCK;
            ham_flagged += a == RULES_ACTION_FLAG;
        }
        if ((show_fp && !is_spam && a == RULES_ACTION_BLOCK) || (show_ham && !is_spam && h.n) ||
            (show_fn && is_spam && a != RULES_ACTION_BLOCK)) {
            printf("%s %lu score=%d", is_spam ? "FN" : a == RULES_ACTION_BLOCK ? "FP" : "HAM", lineno,
                   score);
            for (uint32_t j = 0; j < h.n; j++)
                printf(" %s", rules_db_rule_id(db, h.idx[j]));
            printf("\t%s\n", text);
        }
    }
    free(line);
    if (in != stdin)
        fclose(in);
    printf("rules: %s, %zu rules, block at score >= %d, flag at >= %d\n", path, nr, block_at, flag_at);
    printf("messages: %llu (spam %llu, ham %llu)\n", (unsigned long long)(spam + ham),
           (unsigned long long)spam, (unsigned long long)ham);
    printf("spam caught: %llu/%llu (%.2f%%), flagged only: %llu\n", (unsigned long long)spam_blocked,
           (unsigned long long)spam, spam ? 100.0 * (double)spam_blocked / (double)spam : 0.0,
           (unsigned long long)spam_flagged);
    printf("ham blocked: %llu/%llu (%.2f%%), flagged: %llu\n", (unsigned long long)ham_blocked,
           (unsigned long long)ham, ham ? 100.0 * (double)ham_blocked / (double)ham : 0.0,
           (unsigned long long)ham_flagged);
    /* mass-check style table: SPAM% = share of spam messages hit, HAM% the
     * same for ham, S/O = share of the rule's hits that were spam */
    uint32_t *order = malloc((nr + 1) * sizeof *order);
    size_t m = 0;
    for (uint32_t i = 0; order && i < nr; i++)
        if (st[i].spam + st[i].ham)
            order[m++] = i;
    if (order) {
        g_stats = st;
        qsort(order, m, sizeof *order, cmp_stat);
        printf("\n%8s %8s %6s %5s  %s\n", "SPAM%", "HAM%", "S/O", "SCORE", "RULE");
        for (size_t k = 0; k < m; k++) {
            uint32_t i = order[k];
            double sp = spam ? 100.0 * (double)st[i].spam / (double)spam : 0;
            double hp = ham ? 100.0 * (double)st[i].ham / (double)ham : 0;
            double so = (double)st[i].spam / (double)(st[i].spam + st[i].ham);
            printf("%8.3f %8.3f %6.3f %5d  %s%s\n", sp, hp, so, rules_db_rule_score(db, i),
                   rules_db_rule_id(db, i),
                   rules_db_rule_state(db, i) == RULES_STATE_SHADOW ? " (shadow)" : "");
        }
        printf("%zu of %zu rules hit nothing\n", nr - m, nr);
    }
    free(order);
    free(st);
    free(idx);
    rules_scratch_free(s);
    rules_db_free(db);
    return bad ? 1 : 0;
}

int cmd_rules(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(sub, "test"))
        return cmd_test(argc - 1, argv + 1);
    if (!strcmp(sub, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "smsguard rules: unknown sub-command '%s'\n", sub);
    usage(stderr);
    return 2;
}
