/* Compiled content rules: see rules-db.h. */
#include "rules-db.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <hs/hs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "text-norm.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Bumped whenever the meaning of the cached bytes changes (normaliser,
 * flags, file layout): an old cache then simply misses.  4: one database
 * per field, literals compiled as escaped regexes. */
#define CACHE_FORMAT "smsguard-rules-cache-4"
#define CACHE_MAGIC "SGHSDB04"
/* Scan input longer than this is cut (a 255-part message is ~40k chars). */
#define SCAN_MAX_BYTES (NORM_DEFAULT_CAP * 4)
/* Hyperscan multi-compile retries after dropping a failing expression. */
#define MAX_COMPILE_RETRIES 64
/* pat_rule[id]: the rule index, and this bit when the expression is a
 * regex (a literal otherwise). */
#define PAT_REGEX 0x80000000u
_Static_assert(RULES_MAX_RULES < PAT_REGEX, "rule index and PAT_REGEX share pat_rule");
/* subst[field] when every ASCII byte occurs in some literal of the field. */
#define NO_SUBST 0x100

enum { ACCEPT_LIT = 1, ACCEPT_RE = 2, ACCEPT_ALL = 3 };

struct rules_db {
    /* hot: read on every scan */
    hs_database_t *hsdb[RULES_FIELD_COUNT];
    const uint32_t *pat_rule;      /* expression id -> rule index | PAT_REGEX */
    _Atomic uint64_t *hits;        /* per rule */
    size_t nrules;
    /* The field's database holds a HS_FLAG_UTF8 expression (a regex), so
     * its input must be valid UTF-8; literals alone take any bytes. */
    uint8_t utf8[RULES_FIELD_COUNT];
    /* An ASCII byte no literal of the field contains (either case), to
     * stand in for invalid UTF-8 when literals are scanned (see
     * scan_invalid()); NO_SUBST when there is none. */
    uint16_t subst[RULES_FIELD_COUNT];
    /* cold */
    uint32_t *pat_rule_own;
    size_t npat;
    rules_set_t *set;
    uint64_t key;
};

/* Per rule, per scratch: the scan generations in which the rule matched
 * at all and through a literal, and the least end offset of each (valid
 * in that generation). */
struct rule_mark {
    uint32_t gen;
    uint32_t lit_gen;
    uint32_t at, lit_at;
};

struct rules_scratch {
    hs_scratch_t *hs;
    const rules_db_t *db;
    struct rule_mark *mark; /* per rule */
    uint32_t gen;
    /* Rules matched in this scan: all in order of first match, and those
     * matched by a literal in order of first literal match (nrules each). */
    uint32_t *order, *lit_order;
    uint32_t norder, nlit;
    uint64_t *keys;       /* emit_hits' sort keys (nrules) */
    norm_ctx_t *norm;
    char *buf;            /* normalised text */
    size_t buf_cap;
    char *clean;          /* input with invalid UTF-8 dropped (regexes) */
    char *subst;          /* input with invalid UTF-8 bytes replaced (literals) */
};

/* One expression to compile. */
struct expr {
    char *text;           /* owned, NUL-terminated */
    size_t len;
    unsigned hsflags;
    uint32_t id;          /* expression id = index into pat_rule */
    uint32_t rule;
    uint32_t pat;         /* index of the pattern in its rule */
    int field;
    int is_re;
    int bad;
};

struct exprs {
    struct expr *v;
    size_t n, cap;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int exprs_push(struct exprs *e, const struct expr *x)
{
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 256;
        struct expr *nv = realloc(e->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        e->v = nv;
        e->cap = nc;
    }
    e->v[e->n++] = *x;
    return 0;
}

static void exprs_free(struct exprs *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].text);
    free(e->v);
}

static const struct rules_loc *expr_loc(const rules_set_t *set, const struct expr *x)
{
    return &rules_set_rule(set, x->rule)->patterns[x->pat].loc;
}

/* Does the regex use \b or \B (outside a class)?  Escapes are skipped as
 * pairs so "\\b" (a backslash then b) does not count. */
static int has_word_boundary(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '\\') {
            if (s[i + 1] == 'b' || s[i + 1] == 'B')
                return 1;
            i++;
        }
    return 0;
}

/* Is a \b or \B written right next to a non-ASCII character, where it
 * would silently never behave as the writer meant? */
static int boundary_next_to_non_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '\\') {
            if ((s[i + 1] == 'b' || s[i + 1] == 'B') &&
                ((i > 0 && (unsigned char)s[i - 1] >= 0x80) ||
                 (i + 2 < n && (unsigned char)s[i + 2] >= 0x80)))
                return 1;
            i++;
        }
    return 0;
}

/* ---- \d in text regexes ------------------------------------------------
 * Under HS_FLAG_UCP, \d is every Unicode decimal digit (some 680 code
 * points in 68 blocks), and Hyperscan builds that class into every state
 * that reads one: with thousands of rules it dominated the text database
 * (measured at 10,000 synthetic rules: three times its size, six times its
 * compile time, a third more scan instructions per message than [0-9]).
 * But field `text` is norm_text() output, and norm_text makes every
 * decimal digit ASCII (text-norm.h, step 2), so in that text \d and [0-9]
 * match exactly the same characters, \D and [^0-9] too: the rewrite
 * changes no match, only the database.  (Field raw and sender are not
 * normalised: their \d stays Unicode.)  \w and \s are left alone: \w
 * must stay Unicode, and \s gained nothing measurable. */

/* Skips the escape at s[i] == '\\' (a pair, or \Q...\E through its \E,
 * or \cX, three bytes); returns the index past it. */
static size_t re_escape_end(const char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return n;
    if (s[i + 1] == 'Q') { /* quoted to the next \E, or to the end */
        for (size_t j = i + 2; j + 1 < n; j++)
            if (s[j] == '\\' && s[j + 1] == 'E')
                return j + 2;
        return n;
    }
    if (s[i + 1] == 'c')
        return i + 3 < n ? i + 3 : n;
    return i + 2;
}

/* Writes the text regex s[0..n) to out (room for 3n + 1 bytes) with \d as
 * [0-9] and \D as [^0-9] outside classes, \d as 0-9 inside one ([\d ]
 * -> [0-9 ], [^\d] -> [^0-9]).  Escapes are read as pairs (\\d is a
 * backslash and a d), \Q...\E and POSIX [:name:] are copied as they are,
 * a ']' first in a class is a member.  Returns the length written, or 0
 * when the regex is left as it is: no \d or \D, a \D inside a class (no
 * class of ASCII-only complement can be written inside one), a \d next
 * to a '-' in a class (a range end: an error either way, left to
 * Hyperscan's message) or extended syntax ((?x) white space and comments,
 * (?#...)), where this reading of the text would be wrong. */
size_t rules_text_ascii_digits(const char *s, size_t n, char *out)
{
    size_t o = 0, changed = 0;
    int incls = 0;
    size_t cls_start = 0; /* index of the first member of the open class */
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '\\') {
            size_t e = re_escape_end(s, n, i);
            char d = i + 1 < n ? s[i + 1] : 0;
            if (d == 'd' || d == 'D') {
                if (incls) {
                    int dash = (i > cls_start + 1 && s[i - 1] == '-') ||
                               (i + 2 < n && s[i + 2] == '-' && i + 3 < n && s[i + 3] != ']');
                    if (d == 'D' || dash)
                        return 0;
                    memcpy(out + o, "0-9", 3);
                    o += 3;
                } else {
                    const char *r = d == 'd' ? "[0-9]" : "[^0-9]";
                    memcpy(out + o, r, strlen(r));
                    o += strlen(r);
                }
                changed++;
            } else {
                memcpy(out + o, s + i, e - i);
                o += e - i;
            }
            i = e;
            continue;
        }
        if (!incls && c == '(' && i + 2 < n && s[i + 1] == '?') {
            /* (?#comment), or options that turn on x */
            size_t j = i + 2;
            if (s[j] == '#')
                return 0;
            for (; j < n && (((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') || s[j] == '-'); j++)
                if (s[j] == 'x')
                    return 0;
        }
        if (!incls && c == '[') {
            incls = 1;
            out[o++] = s[i++];
            if (i < n && s[i] == '^')
                out[o++] = s[i++];
            if (i < n && s[i] == ']') /* a ']' first is a member */
                out[o++] = s[i++];
            cls_start = i;
            continue;
        }
        if (incls && c == '[' && i + 1 < n &&
            (s[i + 1] == ':' || s[i + 1] == '.' || s[i + 1] == '=')) {
            const char *end = NULL; /* [:alpha:], [.x.], [=x=] as a whole */
            for (size_t j = i + 2; j + 1 < n && !end; j++)
                if (s[j] == s[i + 1] && s[j + 1] == ']')
                    end = s + j + 2;
            if (end) {
                memcpy(out + o, s + i, (size_t)(end - (s + i)));
                o += (size_t)(end - (s + i));
                i = (size_t)(end - s);
                continue;
            }
        }
        if (incls && c == ']')
            incls = 0;
        out[o++] = s[i++];
    }
    if (!changed)
        return 0;
    out[o] = '\0';
    return o;
}

/* A literal as a regex that matches exactly its bytes: letters and digits
 * as they are, every other byte as \xHH, so no byte is ever special
 * (metacharacters, '\', NUL, bytes of UTF-8 sequences).  Compiled without
 * HS_FLAG_UTF8, \xHH is one byte, and HS_FLAG_CASELESS folds ASCII only,
 * as hs_compile_lit does.  Returns a new NUL-terminated string or NULL. */
static char *escape_literal(const char *s, size_t n, size_t *outlen)
{
    static const char hex[] = "0123456789abcdef";
    char *o = malloc(n * 4 + 1);
    size_t k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            o[k++] = (char)c;
        } else {
            o[k++] = '\\';
            o[k++] = 'x';
            o[k++] = hex[c >> 4];
            o[k++] = hex[c & 15];
        }
    }
    o[k] = '\0';
    *outlen = k;
    return o;
}

/* Turns every pattern of every compiled rule into an expression, and
 * notes per field which ASCII bytes its literals use (letters in both
 * cases) in used[field][byte]. */
static int prepare(const rules_set_t *set, int include_disabled, struct exprs *out,
                   uint8_t used[RULES_FIELD_COUNT][128], rules_diag_t *diag, int *errors)
{
    norm_ctx_t *nc = norm_ctx_new(RULES_MAX_STRING_BYTES * 2);
    size_t bcap = RULES_MAX_STRING_BYTES * 8 + 16;
    char *buf = malloc(bcap);
    int rc = 0;
    if (!nc || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t r = 0; r < rules_set_count(set); r++) {
        const struct rules_rule *rule = rules_set_rule(set, r);
        if (rule->state == RULES_STATE_DISABLED && !include_disabled)
            continue;
        for (uint32_t k = 0; k < rule->npatterns; k++) {
            const struct rules_pattern *pt = &rule->patterns[k];
            struct expr x = {.rule = (uint32_t)r, .pat = k, .id = (uint32_t)out->n};
            int is_re = pt->kind == RULES_PAT_REGEX;
            x.field = (int)rule->field;
            x.is_re = is_re;
            const char *src = pt->text;
            size_t len = pt->len;
            if (rule->field == RULES_FIELD_TEXT) {
                size_t n = 0;
                int nr = norm_text(nc, pt->text, pt->len, buf, bcap, &n, is_re ? NORM_PATTERN : 0);
                if (nr != 0 || n == 0) {
                    rules_diag_add(diag, &pt->loc, "rule %s: pattern is %s after normalisation",
                                   rule->id, n == 0 ? "empty" : "too long");
                    ++*errors;
                    continue;
                }
                src = buf;
                len = n;
            }
            if (is_re) {
                x.text = malloc(len + 1);
                if (x.text) {
                    memcpy(x.text, src, len);
                    x.text[len] = '\0';
                    x.len = len;
                }
            } else {
                /* domain literals are lower-cased, then matched caselessly */
                if (rule->field == RULES_FIELD_DOMAIN) {
                    if (src != buf) {
                        memcpy(buf, src, len);
                        src = buf;
                    }
                    for (size_t i = 0; i < len; i++)
                        if (buf[i] >= 'A' && buf[i] <= 'Z')
                            buf[i] = (char)(buf[i] | 0x20);
                }
                for (size_t i = 0; i < len; i++) {
                    unsigned char c = (unsigned char)src[i];
                    if (c < 128) {
                        used[rule->field][c] = 1;
                        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
                            used[rule->field][c ^ 0x20] = 1;
                    }
                }
                x.text = escape_literal(src, len, &x.len);
            }
            if (!x.text) {
                rc = -ENOMEM;
                goto out;
            }
            x.hsflags = HS_FLAG_SINGLEMATCH;
            if (pt->flags & RULES_PF_CASELESS || rule->field == RULES_FIELD_DOMAIN)
                x.hsflags |= HS_FLAG_CASELESS;
            if (is_re) {
                /* Hyperscan refuses \b and \B in UCP mode: such a pattern
                 * gets ASCII \w \d \s \b, and may not rely on \b next to
                 * non-ASCII letters (it would never match there). */
                int has_b = has_word_boundary(x.text, x.len);
                if (has_b && boundary_next_to_non_ascii(x.text, x.len)) {
                    rules_diag_add(diag, &pt->loc,
                                   "rule %s: \\b and \\B see only ASCII word characters (a "
                                   "Hyperscan limit); next to Cyrillic write (^|[^\\p{L}\\p{N}]) "
                                   "or ([^\\p{L}\\p{N}]|$) instead", rule->id);
                    ++*errors;
                    free(x.text);
                    continue;
                }
                if (rule->field == RULES_FIELD_TEXT && !has_b) {
                    /* \d -> [0-9]: exact on normalised text, see above.
                     * (With \b, Hyperscan reads \d as ASCII anyway.) */
                    char *t = malloc(x.len * 3 + 1);
                    if (!t) {
                        free(x.text);
                        rc = -ENOMEM;
                        goto out;
                    }
                    size_t tl = rules_text_ascii_digits(x.text, x.len, t);
                    if (tl) {
                        free(x.text);
                        x.text = t;
                        x.len = tl;
                    } else {
                        free(t);
                    }
                }
                x.hsflags |= HS_FLAG_UTF8 | (has_b ? 0 : HS_FLAG_UCP);
                if (pt->flags & RULES_PF_DOTALL)
                    x.hsflags |= HS_FLAG_DOTALL;
                if (pt->flags & RULES_PF_MULTILINE)
                    x.hsflags |= HS_FLAG_MULTILINE;
            }
            if ((rc = exprs_push(out, &x)) != 0) {
                free(x.text);
                goto out;
            }
        }
    }
out:
    norm_ctx_free(nc);
    free(buf);
    return rc;
}

static uint64_t compute_key(const struct exprs *e, const hs_platform_info_t *plat)
{
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, CACHE_FORMAT, sizeof CACHE_FORMAT);
    const char *v = hs_version();
    XXH3_64bits_update(&st, v, strlen(v) + 1);
    uint64_t pv[3] = {plat->tune, plat->cpu_features, 0};
    XXH3_64bits_update(&st, pv, sizeof pv);
    for (size_t i = 0; i < e->n; i++) {
        const struct expr *x = &e->v[i];
        uint64_t h[4] = {x->id, (uint64_t)x->field << 1 | (uint64_t)x->is_re, x->hsflags, x->len};
        XXH3_64bits_update(&st, h, sizeof h);
        XXH3_64bits_update(&st, x->text, x->len);
    }
    return XXH3_64bits_digest(&st);
}

static void report_hs_error(const rules_set_t *set, const struct expr *x, const char *msg,
                            rules_diag_t *diag)
{
    const struct rules_rule *r = rules_set_rule(set, x->rule);
    rules_diag_add(diag, expr_loc(set, x), "rule %s: %s: %s", r->id,
                   x->is_re ? "regex does not compile" : "literal does not compile", msg);
}

/* Compiles one field's expressions, literals and regexes, into one
 * database.  Hyperscan names the first expression that fails: it is
 * reported and dropped, and the rest compiled again, so one run reports
 * several bad rules (bounded by MAX_COMPILE_RETRIES).  When Hyperscan names
 * none (a limit of the whole database) or the retries are spent, each
 * remaining expression is compiled alone to find the failing ones; only
 * when none fails alone is the field's database reported as a whole.
 * *db NULL when the field has no good expression or on error. */
static int compile_field(const rules_set_t *set, struct exprs *e, int field,
                         const hs_platform_info_t *plat, hs_database_t **db, rules_diag_t *diag,
                         int *errors)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        n += e->v[i].field == field;
    *db = NULL;
    if (!n)
        return 0;
    const char **txt = malloc(n * sizeof *txt);
    unsigned *flags = malloc(n * sizeof *flags);
    unsigned *ids = malloc(n * sizeof *ids);
    struct expr **map = malloc(n * sizeof *map);
    int rc = 0;
    if (!txt || !flags || !ids || !map) {
        rc = -ENOMEM;
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        unsigned m = 0;
        for (size_t i = 0; i < e->n; i++) {
            struct expr *x = &e->v[i];
            if (x->field != field || x->bad)
                continue;
            txt[m] = x->text;
            flags[m] = x->hsflags;
            ids[m] = x->id;
            map[m] = x;
            m++;
        }
        if (!m)
            break;
        hs_compile_error_t *err = NULL;
        hs_error_t hr = hs_compile_multi(txt, flags, ids, m, HS_MODE_BLOCK, plat, db, &err);
        if (hr == HS_SUCCESS)
            break;
        *db = NULL;
        if (err && err->expression >= 0 && (unsigned)err->expression < m &&
            attempt < MAX_COMPILE_RETRIES) {
            struct expr *x = map[err->expression];
            report_hs_error(set, x, err->message, diag);
            x->bad = 1;
            ++*errors;
            hs_free_compile_error(err);
            continue;
        }
        unsigned found = 0;
        for (unsigned k = 0; k < m; k++) {
            hs_database_t *one = NULL;
            hs_compile_error_t *e1 = NULL;
            if (hs_compile(txt[k], flags[k], HS_MODE_BLOCK, plat, &one, &e1) == HS_SUCCESS) {
                hs_free_database(one);
                continue;
            }
            report_hs_error(set, map[k], e1 ? e1->message : "unknown error", diag);
            map[k]->bad = 1;
            ++*errors;
            found++;
            hs_free_compile_error(e1);
        }
        if (!found) {
            rules_diag_add(diag, NULL, "%s database does not compile: %s",
                           rules_field_name((enum rules_field)field),
                           err ? err->message : "unknown error");
            ++*errors;
        }
        hs_free_compile_error(err);
        break;
    }
out:
    free(txt);
    free(flags);
    free(ids);
    free(map);
    return rc;
}

/* ---- cache file --------------------------------------------------------
 * Layout: magic[8], key u64, then per field (RULES_FIELD_COUNT times) u64
 * length and the serialised database (length 0: none), in native
 * byte order (the key covers the CPU, so a file never moves between
 * machines of different kinds unnoticed). */

static void cache_path(char *buf, size_t cap, const char *dir, uint64_t key)
{
    snprintf(buf, cap, "%s/rules-%016llx.hsdb", dir, (unsigned long long)key);
}

/* The file is mapped, not read: hs_deserialize_database() copies each
 * database into memory of its own anyway, and reading the file first
 * into a buffer as large (12 MB for 10,000 rules) cost more than the
 * deserialising (17-43 ms against 14 ms on the 2-vCPU VM, most of it the
 * buffer's page faults), the larger part of a restart from the cache. */
static int cache_load(const char *dir, uint64_t key, hs_database_t **db)
{
    char path[4096];
    cache_path(path, sizeof path, dir, key);
    for (int s = 0; s < RULES_FIELD_COUNT; s++)
        db[s] = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    const char *map = MAP_FAILED;
    size_t size = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 16) {
        size = (size_t)st.st_size;
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    close(fd); /* the mapping holds the file */
    if (map == MAP_FAILED)
        return -1;
    int rc = -1;
    uint64_t k, len;
    size_t off = 16;
    memcpy(&k, map + 8, sizeof k);
    if (memcmp(map, CACHE_MAGIC, 8) != 0 || k != key)
        goto out;
    for (int s = 0; s < RULES_FIELD_COUNT; s++) {
        /* A cut or damaged file fails here, never reads past its end. */
        if (size - off < sizeof len)
            goto out;
        memcpy(&len, map + off, sizeof len);
        off += sizeof len;
        if (len > size - off)
            goto out;
        if (len && hs_deserialize_database(map + off, (size_t)len, &db[s]) != HS_SUCCESS) {
            db[s] = NULL;
            goto out;
        }
        off += (size_t)len;
    }
    rc = 0;
out:
    munmap((void *)map, size);
    if (rc)
        for (int s = 0; s < RULES_FIELD_COUNT; s++) {
            hs_free_database(db[s]);
            db[s] = NULL;
        }
    return rc;
}

static void cache_store(const char *dir, uint64_t key, hs_database_t *const *db)
{
    char path[4096], tmp[4200];
    mkdir(dir, 0755); /* one level; an existing folder is fine */
    cache_path(path, sizeof path, dir, key);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&key, sizeof key, 1, f) == 1;
    for (int s = 0; s < RULES_FIELD_COUNT && ok; s++) {
        char *bytes = NULL;
        size_t len = 0;
        if (db[s] && hs_serialize_database(db[s], &bytes, &len) != HS_SUCCESS) {
            ok = 0;
            break;
        }
        uint64_t l = len;
        ok = fwrite(&l, sizeof l, 1, f) == 1 && (!len || fwrite(bytes, 1, len, f) == len);
        free(bytes);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

/* ---- build -------------------------------------------------------------- */

int rules_db_build(rules_set_t *set, const struct rules_build_opts *opts, rules_db_t **out,
                   rules_diag_t *diag, struct rules_build_info *info)
{
    struct rules_build_opts dflt = {0};
    if (!opts)
        opts = &dflt;
    if (info)
        memset(info, 0, sizeof *info);
    if (!out) {
        rules_set_free(set);
        return SG_EINVAL;
    }
    *out = NULL;
    if (!set)
        return SG_EINVAL;
    double t0 = now_ms();
    struct exprs e = {0};
    uint8_t used[RULES_FIELD_COUNT][128] = {{0}};
    int errors = 0, rc;
    rules_db_t *db = calloc(1, sizeof *db);
    if (!db) {
        rules_set_free(set);
        return -ENOMEM;
    }
    db->set = set;
    db->nrules = rules_set_count(set);
    db->hits = calloc(db->nrules ? db->nrules : 1, sizeof *db->hits);
    if (!db->hits) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = prepare(set, opts->include_disabled, &e, used, diag, &errors)) != 0)
        goto fail;
    db->npat = e.n;
    db->pat_rule_own = malloc((e.n ? e.n : 1) * sizeof *db->pat_rule_own);
    if (!db->pat_rule_own) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < e.n; i++) {
        db->pat_rule_own[i] = e.v[i].rule | (e.v[i].is_re ? PAT_REGEX : 0);
        if (e.v[i].hsflags & HS_FLAG_UTF8)
            db->utf8[e.v[i].field] = 1;
    }
    db->pat_rule = db->pat_rule_own;
    for (int f = 0; f < RULES_FIELD_COUNT; f++) {
        db->subst[f] = NO_SUBST;
        for (unsigned c = 0; c < 128 && db->subst[f] == NO_SUBST; c++)
            if (!used[f][c])
                db->subst[f] = (uint16_t)c;
    }

    hs_platform_info_t plat;
    if (hs_populate_platform(&plat) != HS_SUCCESS)
        memset(&plat, 0, sizeof plat);
    db->key = compute_key(&e, &plat);

    if (!errors && opts->cache_dir && cache_load(opts->cache_dir, db->key, db->hsdb) == 0) {
        if (info)
            info->from_cache = 1;
    } else {
        for (int f = 0; f < RULES_FIELD_COUNT; f++)
            if ((rc = compile_field(set, &e, f, &plat, &db->hsdb[f], diag, &errors)) != 0)
                goto fail;
        if (errors) {
            rc = SG_ECOMPILE;
            goto fail;
        }
        if (opts->cache_dir)
            cache_store(opts->cache_dir, db->key, db->hsdb);
    }
    if (errors) {
        rc = SG_ECOMPILE;
        goto fail;
    }
    if (info) {
        info->build_ms = now_ms() - t0;
        info->key = db->key;
        info->npatterns = e.n;
    }
    exprs_free(&e);
    *out = db;
    return 0;
fail:
    exprs_free(&e);
    rules_db_free(db);
    return rc;
}

int rules_db_load(const char *path, const struct rules_build_opts *opts, rules_db_t **out,
                  rules_diag_t *diag, struct rules_build_info *info)
{
    if (out)
        *out = NULL;
    rules_set_t *set = rules_set_new();
    if (!set)
        return -ENOMEM;
    int prc = rules_parse_path(set, path, diag);
    if (prc == -ENOMEM || prc == SG_ENOSPC || (prc < 0 && prc > -1000)) {
        rules_set_free(set);
        return prc;
    }
    /* Compile what parsed even after parse errors, so one `rules check`
     * run reports the compile errors of the good rules too. */
    rules_db_t *db = NULL;
    struct rules_build_opts o = opts ? *opts : (struct rules_build_opts){0};
    if (prc)
        o.cache_dir = NULL;
    int rc = rules_db_build(set, &o, &db, diag, info);
    if (rc)
        return rc == SG_ECOMPILE && prc ? SG_EPARSE : rc;
    if (prc) {
        rules_db_free(db);
        return prc;
    }
    *out = db;
    return 0;
}

void rules_db_free(rules_db_t *db)
{
    if (!db)
        return;
    for (int f = 0; f < RULES_FIELD_COUNT; f++)
        hs_free_database(db->hsdb[f]);
    free(db->pat_rule_own);
    free((void *)db->hits);
    rules_set_free(db->set);
    free(db);
}

/* ---- metadata ----------------------------------------------------------- */

size_t rules_db_count(const rules_db_t *db) { return db ? db->nrules : 0; }
int rules_db_has_field(const rules_db_t *db, enum rules_field field)
{
    return db && (unsigned)field < RULES_FIELD_COUNT && db->hsdb[field] != NULL;
}
const rules_set_t *rules_db_set(const rules_db_t *db) { return db ? db->set : NULL; }
const struct rules_rule *rules_db_rule(const rules_db_t *db, uint32_t i)
{
    return db ? rules_set_rule(db->set, i) : NULL;
}
const char *rules_db_rule_id(const rules_db_t *db, uint32_t i)
{
    const struct rules_rule *r = rules_db_rule(db, i);
    return r ? r->id : NULL;
}
const char *rules_db_rule_name(const rules_db_t *db, uint32_t i)
{
    const struct rules_rule *r = rules_db_rule(db, i);
    return r ? r->name : NULL;
}
int rules_db_rule_score(const rules_db_t *db, uint32_t i)
{
    const struct rules_rule *r = rules_db_rule(db, i);
    return r ? r->score : 0;
}
enum rules_action rules_db_rule_action(const rules_db_t *db, uint32_t i)
{
    const struct rules_rule *r = rules_db_rule(db, i);
    return r ? r->action : RULES_ACTION_NONE;
}
enum rules_state rules_db_rule_state(const rules_db_t *db, uint32_t i)
{
    const struct rules_rule *r = rules_db_rule(db, i);
    return r ? r->state : RULES_STATE_DISABLED;
}
const char *rules_db_rule_tags(const rules_db_t *db, uint32_t i)
{
    const struct rules_rule *r = rules_db_rule(db, i);
    return r ? r->tags : NULL;
}
uint64_t rules_db_rule_hits(const rules_db_t *db, uint32_t i)
{
    return db && i < db->nrules ? atomic_load_explicit(&db->hits[i], memory_order_relaxed) : 0;
}
void rules_db_key_hex(const rules_db_t *db, char buf[17])
{
    snprintf(buf, 17, "%016llx", (unsigned long long)(db ? db->key : 0));
}

/* ---- scanning ----------------------------------------------------------- */

rules_scratch_t *rules_scratch_new(const rules_db_t *db)
{
    if (!db)
        return NULL;
    rules_scratch_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t nr = db->nrules ? db->nrules : 1;
    s->db = db;
    s->mark = calloc(nr, sizeof *s->mark);
    s->order = malloc(nr * sizeof *s->order);
    s->lit_order = malloc(nr * sizeof *s->lit_order);
    s->keys = malloc(nr * sizeof *s->keys);
    s->norm = norm_ctx_new(NORM_DEFAULT_CAP);
    s->buf_cap = (size_t)NORM_DEFAULT_CAP * 4 + 16;
    s->buf = malloc(s->buf_cap);
    s->clean = malloc(SCAN_MAX_BYTES + 1);
    s->subst = malloc(SCAN_MAX_BYTES + 1);
    if (!s->mark || !s->order || !s->lit_order || !s->keys || !s->norm || !s->buf || !s->clean ||
        !s->subst)
        goto fail;
    for (int f = 0; f < RULES_FIELD_COUNT; f++)
        if (db->hsdb[f] && hs_alloc_scratch(db->hsdb[f], &s->hs) != HS_SUCCESS)
            goto fail;
    return s;
fail:
    rules_scratch_free(s);
    return NULL;
}

void rules_scratch_free(rules_scratch_t *s)
{
    if (!s)
        return;
    hs_free_scratch(s->hs);
    free(s->mark);
    free(s->order);
    free(s->lit_order);
    free(s->keys);
    norm_ctx_free(s->norm);
    free(s->buf);
    free(s->clean);
    free(s->subst);
    free(s);
}

struct scan_ctx {
    const rules_db_t *db;
    rules_scratch_t *s;
    unsigned accept;      /* ACCEPT_*: which expressions count in this pass */
    size_t base;          /* offset of the scanned piece in the field's data */
};

/* Notes each rule once per scan, and separately its first literal match:
 * the hits are reported after the scan, literal-matched rules first (see
 * emit_hits()).  Work: O(1) per match; with HS_FLAG_SINGLEMATCH at most one
 * match per expression per Hyperscan scan. */
static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *arg)
{
    (void)from;
    (void)flags;
    struct scan_ctx *c = arg;
    if (!SG_ALWAYS(id < c->db->npat))
        return 0;
    uint32_t v = c->db->pat_rule[id];
    if (!(c->accept & (v & PAT_REGEX ? ACCEPT_RE : ACCEPT_LIT)))
        return 0;
    rules_scratch_t *s = c->s;
    uint32_t r = v & ~PAT_REGEX;
    struct rule_mark *m = &s->mark[r];
    /* offsets fit: a scan is at most SCAN_MAX_BYTES */
    uint32_t at = (uint32_t)(c->base + to);
    if (m->gen != s->gen) {
        m->gen = s->gen;
        m->at = at;
        s->order[s->norder++] = r;
    } else if (at < m->at) {
        m->at = at;
    }
    if (!(v & PAT_REGEX)) {
        if (m->lit_gen != s->gen) {
            m->lit_gen = s->gen;
            m->lit_at = at;
            s->lit_order[s->nlit++] = r;
        } else if (at < m->lit_at) {
            m->lit_at = at;
        }
    }
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) (rule indexes) by (end offset of first match, rule
 * index): at[] gives the offset (mark[].at or mark[].lit_at, selected by
 * lit).  Hyperscan reports matches that end at one offset in an order of
 * its database's making (and does not promise end-offset order at all):
 * sorted, the reasons of a verdict come in the same order whatever
 * database the same rules were compiled to.  Work: n is the rules matched
 * in one scan, nearly always a few and nearly in order: insertion sort up
 * to 16, qsort beyond. */
static void sort_hits(rules_scratch_t *s, uint32_t *v, uint32_t n, int lit)
{
    if (n < 2)
        return;
    uint64_t *k = s->keys;
    for (uint32_t i = 0; i < n; i++)
        k[i] = (uint64_t)(lit ? s->mark[v[i]].lit_at : s->mark[v[i]].at) << 32 | v[i];
    if (n <= 16) {
        for (uint32_t i = 1; i < n; i++) {
            uint64_t x = k[i];
            uint32_t j = i;
            for (; j > 0 && k[j - 1] > x; j--)
                k[j] = k[j - 1];
            k[j] = x;
        }
    } else {
        qsort(k, n, sizeof *k, key_cmp);
    }
    for (uint32_t i = 0; i < n; i++)
        v[i] = (uint32_t)k[i];
}

/* Appends one matched rule to hits and, when count, its counter; returns
 * the callback's verdict (nonzero: stop). */
static int emit_one(const rules_db_t *db, uint32_t r, struct rules_hits *hits, rules_hit_fn cb,
                    void *ud, int count)
{
    if (count)
        atomic_fetch_add_explicit(&db->hits[r], 1, memory_order_relaxed);
    if (hits) {
        if (hits->n < hits->cap)
            hits->idx[hits->n++] = r;
        else
            hits->dropped++;
    }
    return cb ? cb(r, ud) != 0 : 0;
}

/* Reports the scan's rules: those a literal matched, in order of their
 * first literal match, then the others in order of their first match;
 * "first" by end offset, ties by rule index (sort_hits).
 * This is the order of the two databases per field that came before (the
 * literal one was scanned first), kept so that verdicts list their
 * reasons, and pick the first forcing one, as they did.  Work: O(rules
 * matched). */
static void emit_hits(const rules_db_t *db, rules_scratch_t *s, struct rules_hits *hits,
                      rules_hit_fn cb, void *ud, int count)
{
    if (!s->norder) /* no match, the common case (nlit <= norder) */
        return;
    sort_hits(s, s->lit_order, s->nlit, 1);
    if (s->nlit != s->norder)
        sort_hits(s, s->order, s->norder, 0);
    for (uint32_t i = 0; i < s->nlit; i++)
        if (emit_one(db, s->lit_order[i], hits, cb, ud, count))
            return;
    if (s->nlit == s->norder)
        return;
    for (uint32_t i = 0; i < s->norder; i++) {
        uint32_t r = s->order[i];
        if (s->mark[r].lit_gen != s->gen && emit_one(db, r, hits, cb, ud, count))
            return;
    }
}

/* Hyperscan's UTF-8 mode must never see invalid UTF-8 (its behaviour is
 * undefined then): valid input, the common case, is scanned in place;
 * other input is scanned as a copy without its invalid sequences. */
static int utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) { /* eight ASCII bytes at a time */
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        if (p[i] >= 0xC2 && p[i] <= 0xDF) { /* two bytes (Cyrillic): no overlong form */
            if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
            continue;
        }
        size_t k;
        uint32_t c;
        if ((p[i] & 0xE0) == 0xC0) {
            k = 2;
            c = p[i] & 0x1F;
        } else if ((p[i] & 0xF0) == 0xE0) {
            k = 3;
            c = p[i] & 0x0F;
        } else if ((p[i] & 0xF8) == 0xF0) {
            k = 4;
            c = p[i] & 0x07;
        } else
            return 0;
        if (i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i + j] & 0x3F);
        }
        if ((k == 2 && c < 0x80) || (k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
            (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

/* Length of the valid UTF-8 sequence at p[i], or 0 when p[i] starts none. */
static size_t utf8_seq(const uint8_t *p, size_t i, size_t n)
{
    size_t k = p[i] < 0x80 ? 1 : (p[i] & 0xE0) == 0xC0 ? 2 : (p[i] & 0xF0) == 0xE0 ? 3
                             : (p[i] & 0xF8) == 0xF0 ? 4 : 0;
    return k && i + k <= n && utf8_valid(p + i, k) ? k : 0;
}

/* The input without its invalid sequences (what regexes see). */
static size_t utf8_clean(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        size_t k = utf8_seq(p, i, n);
        if (k) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else {
            i++;
        }
    }
    return o;
}

/* The input with each byte of an invalid sequence replaced by sub (what
 * literals see): same length, same offsets. */
static void utf8_replace(const uint8_t *p, size_t n, uint8_t *out, uint8_t sub)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(p, i, n);
        if (k) {
            memcpy(out + i, p + i, k);
            i += k;
        } else {
            out[i++] = sub;
        }
    }
}

/* Scans input that is not valid UTF-8 with a database that holds UTF-8
 * expressions, on which Hyperscan's behaviour is undefined.  Two passes
 * over valid copies keep what the two databases per field did before:
 * literals match the bytes as sent, never across an invalid byte (each is
 * replaced by db->subst[field], a byte no literal of the field contains),
 * and regexes see the input without its invalid sequences.  Should every
 * ASCII byte occur in some literal, the literal pass scans the valid runs
 * one by one instead (at most len / 2 + 1 scans).  Rare: text is valid by
 * construction and decoded SMS text nearly always. */
static hs_error_t scan_invalid(const rules_db_t *db, rules_scratch_t *s, enum rules_field field,
                               const char *data, size_t len)
{
    hs_database_t *h = db->hsdb[field];
    const uint8_t *p = (const uint8_t *)data;
    struct scan_ctx c = {db, s, ACCEPT_LIT, 0};
    hs_error_t hr = HS_SUCCESS;
    if (db->subst[field] != NO_SUBST) {
        utf8_replace(p, len, (uint8_t *)s->subst, (uint8_t)db->subst[field]);
        hr = hs_scan(h, s->subst, (unsigned)len, 0, s->hs, on_match, &c);
    } else {
        size_t i = 0, start = 0;
        while (i < len && hr == HS_SUCCESS) {
            size_t k = utf8_seq(p, i, len);
            if (k) {
                i += k;
                continue;
            }
            c.base = start; /* offsets in the field's data */
            if (i > start)
                hr = hs_scan(h, data + start, (unsigned)(i - start), 0, s->hs, on_match, &c);
            start = ++i;
        }
        c.base = start;
        if (hr == HS_SUCCESS && len > start)
            hr = hs_scan(h, data + start, (unsigned)(len - start), 0, s->hs, on_match, &c);
    }
    if (hr != HS_SUCCESS)
        return hr;
    /* offsets in the cleaned copy: at most the original ones, and the
     * same for the same input, which is all the order needs */
    c.accept = ACCEPT_RE;
    c.base = 0;
    size_t n = utf8_clean(p, len, (uint8_t *)s->clean);
    return hs_scan(h, s->clean, (unsigned)n, 0, s->hs, on_match, &c);
}

static int scan(const rules_db_t *db, rules_scratch_t *s, enum rules_field field, const char *data,
                size_t len, struct rules_hits *hits, rules_hit_fn cb, void *ud, int count)
{
    if (!db || !s || s->db != db || (unsigned)field >= RULES_FIELD_COUNT || (!data && len))
        return SG_EINVAL;
    if (hits)
        hits->n = hits->dropped = 0;
    hs_database_t *h = db->hsdb[field];
    if (!h)
        return 0;
    if (++s->gen == 0) { /* wrapped: stale marks could collide */
        memset(s->mark, 0, (db->nrules ? db->nrules : 1) * sizeof *s->mark);
        s->gen = 1;
    }
    s->norder = s->nlit = 0;
    /* The text field is norm_text() output, valid UTF-8 by its contract
     * (text-norm.h; fuzz-norm-url checks it): validated again only when
     * cut to SCAN_MAX_BYTES, which may split a character, and by the
     * assertion of debug builds.  A database without UTF-8 expressions
     * (literals only) takes any bytes: nothing to validate. */
    assert(field != RULES_FIELD_TEXT || utf8_valid((const uint8_t *)data, len));
    int known_valid = field == RULES_FIELD_TEXT || !db->utf8[field];
    if (len > SCAN_MAX_BYTES) {
        len = SCAN_MAX_BYTES;
        known_valid = !db->utf8[field];
    }
    const char *p = data ? data : "";
    hs_error_t hr;
    if (known_valid || utf8_valid((const uint8_t *)p, len)) {
        struct scan_ctx c = {db, s, ACCEPT_ALL, 0};
        hr = hs_scan(h, p, (unsigned)len, 0, s->hs, on_match, &c);
    } else {
        hr = scan_invalid(db, s, field, p, len);
    }
    if (hr != HS_SUCCESS)
        return SG_EINVAL;
    emit_hits(db, s, hits, cb, ud, count);
    return 0;
}

int rules_scan(const rules_db_t *db, rules_scratch_t *s, enum rules_field field, const char *data,
               size_t len, struct rules_hits *hits, rules_hit_fn cb, void *ud)
{
    return scan(db, s, field, data, len, hits, cb, ud, 1);
}

int rules_scan_uncounted(const rules_db_t *db, rules_scratch_t *s, enum rules_field field,
                         const char *data, size_t len, struct rules_hits *hits)
{
    return scan(db, s, field, data, len, hits, NULL, NULL, 0);
}

void rules_db_count_hits(const rules_db_t *db, const uint32_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (SG_ALWAYS(idx[i] < db->nrules))
            atomic_fetch_add_explicit(&db->hits[idx[i]], 1, memory_order_relaxed);
}

int rules_match_message(const rules_db_t *db, rules_scratch_t *s, const char *text, size_t len,
                        const char *sender, size_t sender_len, struct rules_hits *hits,
                        const char **norm, size_t *normlen)
{
    if (!db || !s || !hits)
        return SG_EINVAL;
    size_t n = 0;
    int rc = norm_text(s->norm, text ? text : "", text ? len : 0, s->buf, s->buf_cap, &n, 0);
    if (rc && rc != SG_ENOSPC)
        return rc;
    if (norm)
        *norm = s->buf;
    if (normlen)
        *normlen = n;
    /* Each field scan appends to a window of the caller's array. */
    struct rules_hits part;
    uint32_t total = 0, dropped = 0;
    const struct {
        enum rules_field f;
        const char *p;
        size_t l;
    } scans[3] = {
        {RULES_FIELD_TEXT, s->buf, n},
        {RULES_FIELD_RAW, text ? text : "", text ? len : 0},
        {RULES_FIELD_SENDER, sender, sender_len},
    };
    for (int k = 0; k < 3; k++) {
        if (!scans[k].p)
            continue;
        part.idx = hits->idx + total;
        part.cap = hits->cap - total;
        if ((rc = rules_scan(db, s, scans[k].f, scans[k].p, scans[k].l, &part, NULL, NULL)) != 0)
            return rc;
        /* a rule has one field, so windows never repeat a rule */
        total += part.n;
        dropped += part.dropped;
    }
    hits->n = total;
    hits->dropped = dropped;
    return 0;
}

enum rules_action rules_db_decide(const rules_db_t *db, const struct rules_hits *hits, int flag_at,
                                  int block_at, int *score)
{
    int sum = 0;
    enum rules_action act = RULES_ACTION_NONE;
    for (uint32_t i = 0; db && hits && i < hits->n; i++) {
        const struct rules_rule *r = rules_db_rule(db, hits->idx[i]);
        if (!r || r->state != RULES_STATE_ENABLED)
            continue;
        sum += r->score;
        if (r->action > act)
            act = r->action;
    }
    enum rules_action by_score = sum >= block_at ? RULES_ACTION_BLOCK
                                 : sum >= flag_at ? RULES_ACTION_FLAG
                                                  : RULES_ACTION_NONE;
    if (by_score > act)
        act = by_score;
    if (score)
        *score = sum;
    return act;
}
