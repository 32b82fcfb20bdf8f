/* Parser for the rule language: see rules-parse.h and docs/rules.md.
 *
 * Line-oriented: each line is one directive, so an error costs at most the
 * rest of its line and the parser resynchronises at the next one.  A rule
 * with any error is dropped at its `end` (or at the next `rule` or end of
 * file), so a rule set never holds a half-understood rule. */
#include "rules-parse.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- diagnostics ------------------------------------------------------- */

struct rules_diag {
    char **msg;
    size_t kept, max, count;
};

rules_diag_t *rules_diag_new(size_t max)
{
    rules_diag_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->max = max ? max : 1000;
    d->msg = calloc(d->max, sizeof *d->msg);
    if (!d->msg) {
        free(d);
        return NULL;
    }
    return d;
}

void rules_diag_clear(rules_diag_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->kept; i++)
        free(d->msg[i]);
    d->kept = d->count = 0;
}

void rules_diag_free(rules_diag_t *d)
{
    if (!d)
        return;
    rules_diag_clear(d);
    free(d->msg);
    free(d);
}

void rules_diag_add(rules_diag_t *d, const struct rules_loc *loc, const char *fmt, ...)
{
    if (!d)
        return;
    d->count++;
    if (d->kept >= d->max)
        return;
    char body[1024], line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (loc && loc->file)
        snprintf(line, sizeof line, "%s:%u:%u: %s", loc->file, loc->line, loc->col, body);
    else
        snprintf(line, sizeof line, "%s", body);
    d->msg[d->kept] = strdup(line);
    if (d->msg[d->kept])
        d->kept++;
}

size_t rules_diag_count(const rules_diag_t *d) { return d ? d->count : 0; }
size_t rules_diag_kept(const rules_diag_t *d) { return d ? d->kept : 0; }
const char *rules_diag_get(const rules_diag_t *d, size_t i)
{
    return d && i < d->kept ? d->msg[i] : NULL;
}

void rules_diag_print(const rules_diag_t *d, FILE *f)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->kept; i++)
        fprintf(f, "%s\n", d->msg[i]);
    if (d->count > d->kept)
        fprintf(f, "... and %zu more errors\n", d->count - d->kept);
}

/* ---- rule sets --------------------------------------------------------- */

struct rules_set {
    struct rules_rule *rules;
    size_t n, cap;
    char **files;          /* owned file names, referenced by rules_loc */
    size_t nfiles, files_cap;
    /* open-addressing index of rule ids -> index + 1 (0 = empty) */
    uint32_t *idx;
    size_t idx_cap;        /* power of two, > 2 * n */
};

rules_set_t *rules_set_new(void)
{
    return calloc(1, sizeof(rules_set_t));
}

static void rule_release(struct rules_rule *r)
{
    free(r->id);
    free(r->name);
    free(r->tags);
    for (uint32_t i = 0; i < r->npatterns; i++)
        free(r->patterns[i].text);
    free(r->patterns);
    for (uint32_t i = 0; i < r->nexamples; i++)
        free(r->examples[i].text);
    free(r->examples);
    memset(r, 0, sizeof *r);
}

void rules_set_free(rules_set_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        rule_release(&set->rules[i]);
    free(set->rules);
    for (size_t i = 0; i < set->nfiles; i++)
        free(set->files[i]);
    free(set->files);
    free(set->idx);
    free(set);
}

size_t rules_set_count(const rules_set_t *set) { return set ? set->n : 0; }

const struct rules_rule *rules_set_rule(const rules_set_t *set, size_t i)
{
    return set && i < set->n ? &set->rules[i] : NULL;
}

static size_t id_slot(const rules_set_t *set, const char *id)
{
    size_t mask = set->idx_cap - 1;
    size_t h = (size_t)XXH3_64bits(id, strlen(id)) & mask;
    while (set->idx[h] && strcmp(set->rules[set->idx[h] - 1].id, id) != 0)
        h = (h + 1) & mask;
    return h;
}

long rules_set_find(const rules_set_t *set, const char *id)
{
    if (!set || !set->idx_cap || !id)
        return -1;
    size_t h = id_slot(set, id);
    return set->idx[h] ? (long)set->idx[h] - 1 : -1;
}

static int index_grow(rules_set_t *set)
{
    size_t ncap = set->idx_cap ? set->idx_cap * 2 : 256;
    uint32_t *old = set->idx;
    size_t ocap = set->idx_cap;
    set->idx = calloc(ncap, sizeof *set->idx);
    if (!set->idx) {
        set->idx = old;
        return -ENOMEM;
    }
    set->idx_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            set->idx[id_slot(set, set->rules[old[i] - 1].id)] = old[i];
    free(old);
    return 0;
}

/* Takes over *r (zeroed on return). */
static int set_add(rules_set_t *set, struct rules_rule *r)
{
    if (set->n >= RULES_MAX_RULES)
        return SG_ENOSPC;
    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 64;
        struct rules_rule *nr = realloc(set->rules, ncap * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        set->rules = nr;
        set->cap = ncap;
    }
    if ((set->n + 1) * 2 >= set->idx_cap && index_grow(set) != 0)
        return -ENOMEM;
    set->rules[set->n] = *r;
    set->idx[id_slot(set, r->id)] = (uint32_t)(set->n + 1);
    set->n++;
    memset(r, 0, sizeof *r);
    return 0;
}

static const char *set_file(rules_set_t *set, const char *name)
{
    if (set->nfiles == set->files_cap) {
        size_t ncap = set->files_cap ? set->files_cap * 2 : 8;
        char **nf = realloc(set->files, ncap * sizeof *nf);
        if (!nf)
            return NULL;
        set->files = nf;
        set->files_cap = ncap;
    }
    char *s = strdup(name);
    if (!s)
        return NULL;
    set->files[set->nfiles++] = s;
    return s;
}

const char *rules_field_name(enum rules_field f)
{
    static const char *n[] = {"text", "raw", "sender", "domain"};
    return (unsigned)f < SG_ARRAY_LEN(n) ? n[f] : "?";
}

const char *rules_action_name(enum rules_action a)
{
    static const char *n[] = {"none", "flag", "block"};
    return (unsigned)a < SG_ARRAY_LEN(n) ? n[a] : "?";
}

const char *rules_state_name(enum rules_state s)
{
    static const char *n[] = {"enabled", "shadow", "disabled"};
    return (unsigned)s < SG_ARRAY_LEN(n) ? n[s] : "?";
}

/* ---- the line parser --------------------------------------------------- */

struct parser {
    rules_set_t *set;
    rules_diag_t *diag;
    const char *file;        /* owned by set */
    uint32_t lineno;
    const char *line;        /* current line (not NUL-terminated) */
    size_t len, pos;
    int errors;              /* in this file */
    /* the rule being built */
    int in_rule;
    int rule_bad;
    struct rules_rule cur;
    unsigned seen;           /* SEEN_* bits for single-valued directives */
    int fatal;               /* SG_ENOSPC or -ENOMEM: stop */
};

enum { SEEN_NAME = 1, SEEN_FIELD = 2, SEEN_SCORE = 4, SEEN_ACTION = 8, SEEN_STATE = 16,
       SEEN_TAGS = 32 };

static struct rules_loc loc_at(const struct parser *p, size_t pos)
{
    struct rules_loc l = {p->file, p->lineno, (uint32_t)(pos + 1)};
    return l;
}

static void perr(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, size_t pos, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct rules_loc l = loc_at(p, pos);
    rules_diag_add(p->diag, &l, "%s", msg);
    p->errors++;
    if (p->in_rule)
        p->rule_bad = 1;
}

static void skip_ws(struct parser *p)
{
    size_t i = p->pos; /* a local: the loop runs over every line's indentation */
    while (i < p->len && (p->line[i] == ' ' || p->line[i] == '\t'))
        i++;
    p->pos = i;
}

static int at_end(struct parser *p)
{
    skip_ws(p);
    return p->pos >= p->len || p->line[p->pos] == '#';
}

/* Letters, digits and _-.: (a table: read_word() runs over every word of
 * every line). */
static const uint8_t word_chars[256] = {
    ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1,
    ['_'] = 1, ['-'] = 1, ['.'] = 1, [':'] = 1,
};

static int is_word_char(char c) { return word_chars[(unsigned char)c]; }

/* Reads a bare word; returns its length (0 = none) with *start set. */
static size_t read_word(struct parser *p, size_t *start)
{
    skip_ws(p);
    size_t i = p->pos;
    *start = i;
    while (i < p->len && is_word_char(p->line[i]))
        i++;
    p->pos = i;
    return i - *start;
}

static int word_is(struct parser *p, size_t s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(p->line + s, w, n) == 0;
}

static void show_token(struct parser *p, size_t at, char *buf, size_t cap)
{
    size_t n = 0;
    while (at + n < p->len && n + 1 < cap && n < 24 && p->line[at + n] != ' ' &&
           p->line[at + n] != '\t')
        n++;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p->line[at + i];
        buf[i] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    buf[n] = '\0';
}

/* Reports anything left on the line. */
static void expect_eol(struct parser *p)
{
    if (at_end(p))
        return;
    char tok[32];
    show_token(p, p->pos, tok, sizeof tok);
    perr(p, p->pos, "unexpected '%s' at end of directive", tok);
}

/* Rule files are mostly ASCII: eight bytes at a time while they are, and
 * utf8proc (which also refuses surrogates and overlong forms) for the rest. */
static int valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        if (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) {
            i += 8;
            continue;
        }
        if (!((unsigned char)s[i] & 0x80)) {
            i++;
            continue;
        }
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads "..." with escapes \\ \" \n \t \r \xHH into a new heap string.
 * Returns 0 and sets *out and *outlen, or -1 after reporting the error. */
static int read_string(struct parser *p, char **out, size_t *outlen, size_t *start)
{
    skip_ws(p);
    *start = p->pos;
    if (p->pos >= p->len || p->line[p->pos] != '"') {
        perr(p, p->pos, "expected a quoted string");
        return -1;
    }
    p->pos++;
    /* The text decodes to at most the rest of the line: one allocation,
     * never grown (a string ends its line but for a comment, so little is
     * wasted; one longer than RULES_MAX_STRING_BYTES is refused below). */
    size_t cap = p->len - p->pos + 1, n = 0;
    if (cap > RULES_MAX_STRING_BYTES)
        cap = RULES_MAX_STRING_BYTES;
    char *s = malloc(cap);
    if (!s) {
        p->fatal = -ENOMEM;
        return -1;
    }
    for (;;) {
        /* A run of plain bytes first, copied at once (what the byte loop
         * below would do, error included). */
        size_t run = p->pos;
        while (run < p->len && p->line[run] != '"' && p->line[run] != '\\')
            run++;
        if (run > p->pos) {
            size_t k = run - p->pos;
            if (n + k > RULES_MAX_STRING_BYTES - 1) {
                perr(p, *start, "string longer than %u bytes", RULES_MAX_STRING_BYTES);
                free(s);
                return -1;
            }
            memcpy(s + n, p->line + p->pos, k);
            n += k;
            p->pos = run;
        }
        if (p->pos >= p->len) {
            perr(p, *start, "unterminated string");
            free(s);
            return -1;
        }
        char c = p->line[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        {   /* a backslash: the run stopped at one or the other */
            size_t esc = p->pos;
            if (p->pos + 1 >= p->len) {
                perr(p, esc, "unterminated string");
                free(s);
                return -1;
            }
            char e = p->line[p->pos + 1];
            p->pos += 2;
            switch (e) {
            case '\\': c = '\\'; break;
            case '"': c = '"'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'x': {
                int h1 = p->pos < p->len ? hexval(p->line[p->pos]) : -1;
                int h2 = p->pos + 1 < p->len ? hexval(p->line[p->pos + 1]) : -1;
                if (h1 < 0 || h2 < 0) {
                    perr(p, esc, "\\x needs two hex digits");
                    free(s);
                    return -1;
                }
                c = (char)(h1 * 16 + h2);
                p->pos += 2;
                break;
            }
            default:
                perr(p, esc, "unknown escape '\\%c' in string (use \\\\ for a backslash)",
                     (e >= 0x20 && e < 0x7F) ? e : '?');
                free(s);
                return -1;
            }
        }
        if (n + 2 > RULES_MAX_STRING_BYTES) {
            perr(p, *start, "string longer than %u bytes", RULES_MAX_STRING_BYTES);
            free(s);
            return -1;
        }
        s[n++] = c;
    }
    s[n] = '\0';
    if (!valid_utf8(s, n)) {
        perr(p, *start, "string is not valid UTF-8");
        free(s);
        return -1;
    }
    *out = s;
    *outlen = n;
    return 0;
}

/* Reads /regex/flags.  Backslash sequences are kept as written (they are
 * Hyperscan's); "\/" stands for a slash. */
static int read_regex(struct parser *p, struct rules_pattern *pat)
{
    size_t start = p->pos;
    p->pos++; /* '/' */
    size_t body = p->pos;
    while (p->pos < p->len && p->line[p->pos] != '/') {
        if (p->line[p->pos] == '\\' && p->pos + 1 < p->len)
            p->pos++;
        p->pos++;
    }
    if (p->pos >= p->len) {
        perr(p, start, "unterminated regex (missing closing '/')");
        return -1;
    }
    size_t n = p->pos - body;
    p->pos++;
    if (n == 0) {
        perr(p, start, "empty regex");
        return -1;
    }
    if (n > RULES_MAX_STRING_BYTES) {
        perr(p, start, "regex longer than %u bytes", RULES_MAX_STRING_BYTES);
        return -1;
    }
    if (!valid_utf8(p->line + body, n)) {
        perr(p, start, "regex is not valid UTF-8");
        return -1;
    }
    if (memchr(p->line + body, '\0', n)) {
        perr(p, start, "NUL byte in regex");
        return -1;
    }
    unsigned flags = 0;
    while (p->pos < p->len && is_word_char(p->line[p->pos])) {
        char f = p->line[p->pos];
        if (f == 'i')
            flags |= RULES_PF_CASELESS;
        else if (f == 's')
            flags |= RULES_PF_DOTALL;
        else if (f == 'm')
            flags |= RULES_PF_MULTILINE;
        else {
            perr(p, p->pos, "unknown regex flag '%c' (known: i s m)", (f >= 0x20 && f < 0x7F) ? f : '?');
            return -1;
        }
        p->pos++;
    }
    pat->text = malloc(n + 1);
    if (!pat->text) {
        p->fatal = -ENOMEM;
        return -1;
    }
    memcpy(pat->text, p->line + body, n);
    pat->text[n] = '\0';
    pat->len = n;
    pat->kind = RULES_PAT_REGEX;
    pat->flags = flags;
    pat->loc = loc_at(p, body);
    return 0;
}

static void finish_rule(struct parser *p, int explicit_end)
{
    struct rules_rule *r = &p->cur;
    if (!r->id) { /* `rule` line itself was bad */
        rule_release(r);
        p->in_rule = 0;
        return;
    }
    if (!p->rule_bad && r->npatterns == 0) {
        rules_diag_add(p->diag, &r->loc, "rule %s has no 'match' line", r->id);
        p->errors++;
        p->rule_bad = 1;
    }
    if (!p->rule_bad && rules_set_find(p->set, r->id) >= 0) {
        const struct rules_rule *o = &p->set->rules[rules_set_find(p->set, r->id)];
        rules_diag_add(p->diag, &r->loc, "duplicate rule id %s (first defined at %s:%u)", r->id,
                       o->loc.file, o->loc.line);
        p->errors++;
        p->rule_bad = 1;
    }
    if (!p->rule_bad) {
        if (!r->name && !(r->name = strdup("")))
            p->fatal = -ENOMEM;
        if (!r->tags && !(r->tags = strdup("")))
            p->fatal = -ENOMEM;
        if (!p->fatal) {
            int rc = set_add(p->set, r);
            if (rc == SG_ENOSPC) {
                rules_diag_add(p->diag, &r->loc, "more than %u rules", RULES_MAX_RULES);
                p->errors++;
                p->fatal = SG_ENOSPC;
            } else if (rc) {
                p->fatal = rc;
            }
        }
    }
    (void)explicit_end;
    rule_release(r);
    p->in_rule = 0;
    p->rule_bad = 0;
    p->seen = 0;
}

static int once(struct parser *p, unsigned bit, size_t at, const char *what)
{
    if (p->seen & bit) {
        perr(p, at, "duplicate '%s' in rule %s", what, p->cur.id ? p->cur.id : "?");
        return 0;
    }
    p->seen |= bit;
    return 1;
}

static void parse_match(struct parser *p)
{
    struct rules_rule *r = &p->cur;
    skip_ws(p);
    if (r->npatterns >= RULES_MAX_MATCHES) {
        perr(p, p->pos, "more than %u 'match' lines in one rule", RULES_MAX_MATCHES);
        return;
    }
    struct rules_pattern pat;
    memset(&pat, 0, sizeof pat);
    if (p->pos < p->len && p->line[p->pos] == '/') {
        if (read_regex(p, &pat) != 0)
            return;
    } else if (p->pos < p->len && p->line[p->pos] == '"') {
        size_t start;
        if (read_string(p, &pat.text, &pat.len, &start) != 0)
            return;
        pat.kind = RULES_PAT_LITERAL;
        pat.loc = loc_at(p, start + 1);
        if (pat.len == 0) {
            perr(p, start, "empty literal");
            free(pat.text);
            return;
        }
        /* optional trailing `i` */
        size_t ws;
        size_t wn = read_word(p, &ws);
        if (wn) {
            if (word_is(p, ws, wn, "i"))
                pat.flags |= RULES_PF_CASELESS;
            else {
                p->pos = ws;
            }
        }
    } else {
        perr(p, p->pos, "expected a literal \"...\" or a regex /.../ after 'match'");
        return;
    }
    expect_eol(p);
    struct rules_pattern *np = realloc(r->patterns, (r->npatterns + 1) * sizeof *np);
    if (!np) {
        free(pat.text);
        p->fatal = -ENOMEM;
        return;
    }
    r->patterns = np;
    r->patterns[r->npatterns++] = pat;
}

static void parse_example(struct parser *p)
{
    struct rules_rule *r = &p->cur;
    size_t ws;
    size_t wn = read_word(p, &ws);
    int must;
    if (word_is(p, ws, wn, "match"))
        must = 1;
    else if (word_is(p, ws, wn, "nomatch"))
        must = 0;
    else {
        perr(p, ws, "expected 'match' or 'nomatch' after 'example'");
        return;
    }
    if (r->nexamples >= RULES_MAX_EXAMPLES) {
        perr(p, ws, "more than %u examples in one rule", RULES_MAX_EXAMPLES);
        return;
    }
    struct rules_example ex = {.must_match = must};
    size_t start;
    if (read_string(p, &ex.text, &ex.len, &start) != 0)
        return;
    ex.loc = loc_at(p, start);
    expect_eol(p);
    struct rules_example *ne = realloc(r->examples, (r->nexamples + 1) * sizeof *ne);
    if (!ne) {
        free(ex.text);
        p->fatal = -ENOMEM;
        return;
    }
    r->examples = ne;
    r->examples[r->nexamples++] = ex;
}

static void parse_int(struct parser *p, int *out)
{
    skip_ws(p);
    size_t s = p->pos;
    int neg = 0;
    if (p->pos < p->len && (p->line[p->pos] == '-' || p->line[p->pos] == '+'))
        neg = p->line[p->pos++] == '-';
    long v = 0;
    size_t digits = 0;
    while (p->pos < p->len && p->line[p->pos] >= '0' && p->line[p->pos] <= '9') {
        if (v < 100000)
            v = v * 10 + (p->line[p->pos] - '0');
        p->pos++;
        digits++;
    }
    if (!digits || (p->pos < p->len && is_word_char(p->line[p->pos]))) {
        perr(p, s, "expected an integer score");
        return;
    }
    if (neg)
        v = -v;
    if (v < RULES_SCORE_MIN || v > RULES_SCORE_MAX) {
        perr(p, s, "score %ld out of range [%d, %d]", v, RULES_SCORE_MIN, RULES_SCORE_MAX);
        return;
    }
    *out = (int)v;
    expect_eol(p);
}

static void parse_tags(struct parser *p)
{
    char buf[RULES_MAX_TAGS_BYTES + 1];
    size_t n = 0;
    for (;;) {
        if (at_end(p))
            break;
        size_t ws;
        size_t wn = read_word(p, &ws);
        if (!wn) {
            char tok[32];
            show_token(p, p->pos, tok, sizeof tok);
            perr(p, p->pos, "bad tag '%s' (letters, digits, _ - . : only)", tok);
            return;
        }
        if (n + wn + 1 > RULES_MAX_TAGS_BYTES) {
            perr(p, ws, "tags longer than %u bytes", RULES_MAX_TAGS_BYTES);
            return;
        }
        if (n)
            buf[n++] = ' ';
        memcpy(buf + n, p->line + ws, wn);
        n += wn;
    }
    buf[n] = '\0';
    free(p->cur.tags);
    p->cur.tags = strdup(buf);
    if (!p->cur.tags)
        p->fatal = -ENOMEM;
}

static void parse_keyword_value(struct parser *p, const char *what, const char *const *names,
                                int nnames, int *out)
{
    size_t ws;
    size_t wn = read_word(p, &ws);
    for (int i = 0; i < nnames; i++)
        if (word_is(p, ws, wn, names[i])) {
            *out = i;
            expect_eol(p);
            return;
        }
    char tok[32];
    show_token(p, ws, tok, sizeof tok);
    char known[128] = "";
    for (int i = 0; i < nnames; i++) {
        strcat(known, i ? " | " : "");
        strcat(known, names[i]);
    }
    perr(p, ws, "unknown %s '%s' (expected %s)", what, tok, known);
}

static void parse_line(struct parser *p)
{
    p->pos = 0;
    if (at_end(p))
        return;
    if (memchr(p->line, '\0', p->len)) {
        perr(p, (size_t)((const char *)memchr(p->line, '\0', p->len) - p->line), "NUL byte in line");
        return;
    }
    size_t ks;
    size_t kn = read_word(p, &ks);
    if (!kn) {
        char tok[32];
        show_token(p, p->pos, tok, sizeof tok);
        perr(p, p->pos, "expected a directive, found '%s'", tok);
        return;
    }
    if (word_is(p, ks, kn, "rule")) {
        if (p->in_rule) {
            perr(p, ks, "missing 'end' before this 'rule' (rule %s opened at line %u)",
                 p->cur.id ? p->cur.id : "?", p->cur.loc.line);
            finish_rule(p, 0);
        }
        p->in_rule = 1;
        p->rule_bad = 0;
        p->seen = 0;
        memset(&p->cur, 0, sizeof p->cur);
        p->cur.loc = loc_at(p, ks);
        p->cur.field = RULES_FIELD_TEXT;
        p->cur.score = 0;
        size_t is;
        size_t in = read_word(p, &is);
        if (!in) {
            perr(p, p->pos, "expected a rule id after 'rule'");
            return;
        }
        if (in > RULES_MAX_ID_BYTES) {
            perr(p, is, "rule id longer than %u bytes", RULES_MAX_ID_BYTES);
            return;
        }
        p->cur.id = strndup(p->line + is, in);
        if (!p->cur.id) {
            p->fatal = -ENOMEM;
            return;
        }
        expect_eol(p);
        return;
    }
    if (!p->in_rule) {
        char tok[32];
        show_token(p, ks, tok, sizeof tok);
        perr(p, ks, "'%s' outside a rule block (expected 'rule ID')", tok);
        return;
    }
    if (word_is(p, ks, kn, "end")) {
        expect_eol(p);
        finish_rule(p, 1);
    } else if (word_is(p, ks, kn, "name")) {
        if (!once(p, SEEN_NAME, ks, "name"))
            return;
        char *s;
        size_t n, st;
        if (read_string(p, &s, &n, &st) != 0)
            return;
        if (memchr(s, '\0', n)) {
            perr(p, st, "NUL byte in name");
            free(s);
            return;
        }
        p->cur.name = s;
        expect_eol(p);
    } else if (word_is(p, ks, kn, "field")) {
        static const char *const names[] = {"text", "raw", "sender", "domain"};
        int v = 0;
        if (once(p, SEEN_FIELD, ks, "field")) {
            v = (int)p->cur.field;
            parse_keyword_value(p, "field", names, 4, &v);
            p->cur.field = (enum rules_field)v;
        }
    } else if (word_is(p, ks, kn, "match")) {
        parse_match(p);
    } else if (word_is(p, ks, kn, "score")) {
        if (once(p, SEEN_SCORE, ks, "score"))
            parse_int(p, &p->cur.score);
    } else if (word_is(p, ks, kn, "action")) {
        static const char *const names[] = {"none", "flag", "block"};
        int v = 0;
        if (once(p, SEEN_ACTION, ks, "action")) {
            parse_keyword_value(p, "action", names, 3, &v);
            p->cur.action = (enum rules_action)v;
        }
    } else if (word_is(p, ks, kn, "state")) {
        static const char *const names[] = {"enabled", "shadow", "disabled"};
        int v = 0;
        if (once(p, SEEN_STATE, ks, "state")) {
            parse_keyword_value(p, "state", names, 3, &v);
            p->cur.state = (enum rules_state)v;
        }
    } else if (word_is(p, ks, kn, "tags")) {
        if (once(p, SEEN_TAGS, ks, "tags"))
            parse_tags(p);
    } else if (word_is(p, ks, kn, "example")) {
        parse_example(p);
    } else {
        char tok[32];
        show_token(p, ks, tok, sizeof tok);
        perr(p, ks, "unknown directive '%s' (expected name, field, match, score, action, "
                    "tags, state, example or end)", tok);
    }
}

int rules_parse_buffer(rules_set_t *set, const char *name, const char *buf, size_t len,
                       rules_diag_t *diag)
{
    if (!set || (!buf && len))
        return SG_EINVAL;
    struct parser p;
    memset(&p, 0, sizeof p);
    p.set = set;
    p.diag = diag;
    p.file = set_file(set, name ? name : "<input>");
    if (!p.file)
        return -ENOMEM;
    if (len > RULES_MAX_FILE_BYTES) {
        struct rules_loc l = {p.file, 1, 1};
        rules_diag_add(diag, &l, "file larger than %u bytes", RULES_MAX_FILE_BYTES);
        return SG_ENOSPC;
    }
    size_t off = 0;
    while (off < len && !p.fatal) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - buf) : len;
        p.lineno++;
        p.line = buf + off;
        p.len = end - off;
        if (p.len && p.line[p.len - 1] == '\r')
            p.len--;
        if (p.len > RULES_MAX_LINE_BYTES)
            perr(&p, 0, "line longer than %u bytes", RULES_MAX_LINE_BYTES);
        else
            parse_line(&p);
        off = nl ? end + 1 : len;
    }
    if (p.in_rule && !p.fatal) {
        struct rules_loc l = {p.file, p.lineno ? p.lineno : 1, 1};
        rules_diag_add(diag, &l, "missing 'end' for rule %s (opened at line %u)",
                       p.cur.id ? p.cur.id : "?", p.cur.loc.line);
        p.errors++;
        p.rule_bad = 1;
    }
    if (p.in_rule)
        finish_rule(&p, 0);
    if (p.fatal)
        return p.fatal;
    return p.errors ? SG_EPARSE : 0;
}

int rules_parse_file(rules_set_t *set, const char *path, rules_diag_t *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        rules_diag_add(diag, NULL, "%s: %s", path, strerror(e));
        return -e;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap > RULES_MAX_FILE_BYTES) {
                rules_diag_add(diag, NULL, "%s: file larger than %u bytes", path, RULES_MAX_FILE_BYTES);
                rc = SG_ENOSPC;
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                rc = -EIO;
                rules_diag_add(diag, NULL, "%s: read error", path);
                goto out;
            }
            break;
        }
    }
    rc = rules_parse_buffer(set, path, buf, n, diag);
out:
    free(buf);
    fclose(f);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rules_parse_path(rules_set_t *set, const char *path, rules_diag_t *diag)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        rules_diag_add(diag, NULL, "%s: %s", path, strerror(e));
        return -e;
    }
    if (!S_ISDIR(st.st_mode))
        return rules_parse_file(set, path, diag);
    DIR *d = opendir(path);
    if (!d) {
        int e = errno;
        rules_diag_add(diag, NULL, "%s: %s", path, strerror(e));
        return -e;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".rules") != 0 || de->d_name[0] == '.')
            continue;
        if (n >= RULES_MAX_FILES) {
            rules_diag_add(diag, NULL, "%s: more than %u rule files", path, RULES_MAX_FILES);
            rc = SG_ENOSPC;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
        }
        size_t pl = strlen(path) + l + 2;
        names[n] = malloc(pl);
        if (!names[n]) {
            rc = -ENOMEM;
            break;
        }
        snprintf(names[n], pl, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", de->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (rc != -ENOMEM) {
            int r = rules_parse_file(set, names[i], diag);
            if (r && !rc)
                rc = r;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}
