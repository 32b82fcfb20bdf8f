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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "text-norm.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Bumped whenever the meaning of the cached bytes changes (normaliser,
 * flags, file layout): an old cache then simply misses. */
#define CACHE_FORMAT "smsguard-rules-cache-3"
#define CACHE_MAGIC "SGHSDB03"
/* Scan input longer than this is cut (a 255-part message is ~40k chars). */
#define SCAN_MAX_BYTES (NORM_DEFAULT_CAP * 4)
/* Hyperscan multi-compile retries after dropping a failing expression. */
#define MAX_COMPILE_RETRIES 64

enum { KIND_LIT = 0, KIND_RE = 1, NSLOTS = RULES_FIELD_COUNT * 2 };

struct rules_db {
    /* hot: read on every scan */
    hs_database_t *hsdb[NSLOTS];   /* slot = field * 2 + kind */
    const uint32_t *pat_rule;      /* expression id -> rule index */
    _Atomic uint64_t *hits;        /* per rule */
    size_t nrules;
    /* cold */
    uint32_t *pat_rule_own;
    size_t npat;
    rules_set_t *set;
    uint64_t key;
};

struct rules_scratch {
    hs_scratch_t *hs;
    const rules_db_t *db;
    uint32_t *stamp;      /* per rule: scan generation that reported it */
    uint32_t gen;
    norm_ctx_t *norm;
    char *buf;            /* normalised text */
    size_t buf_cap;
    char *clean;          /* raw text with invalid UTF-8 dropped */
};

/* One expression to compile. */
struct expr {
    char *text;           /* owned, NUL-terminated */
    size_t len;
    unsigned hsflags;
    uint32_t id;          /* expression id = index into pat_rule */
    uint32_t rule;
    uint32_t pat;         /* index of the pattern in its rule */
    int slot;
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

/* Turns every pattern of every compiled rule into an expression. */
static int prepare(const rules_set_t *set, int include_disabled, struct exprs *out,
                   rules_diag_t *diag, int *errors)
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
            x.slot = (int)rule->field * 2 + (is_re ? KIND_RE : KIND_LIT);
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
            x.text = malloc(len + 1);
            if (!x.text) {
                rc = -ENOMEM;
                goto out;
            }
            memcpy(x.text, src, len);
            x.text[len] = '\0';
            x.len = len;
            if (rule->field == RULES_FIELD_DOMAIN && !is_re)
                for (size_t i = 0; i < len; i++)
                    if (x.text[i] >= 'A' && x.text[i] <= 'Z')
                        x.text[i] = (char)(x.text[i] | 0x20);
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
        uint64_t h[4] = {x->id, (uint64_t)x->slot, x->hsflags, x->len};
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
                   (x->slot & 1) ? "regex does not compile" : "literal does not compile", msg);
}

/* Compiles one slot's expressions; drops and reports failing ones, retrying
 * (bounded).  *db NULL when the slot has no good expression. */
static int compile_slot(const rules_set_t *set, struct exprs *e, int slot,
                        const hs_platform_info_t *plat, hs_database_t **db, rules_diag_t *diag,
                        int *errors)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        n += e->v[i].slot == slot;
    *db = NULL;
    if (!n)
        return 0;
    const char **txt = malloc(n * sizeof *txt);
    unsigned *flags = malloc(n * sizeof *flags);
    unsigned *ids = malloc(n * sizeof *ids);
    size_t *lens = malloc(n * sizeof *lens);
    struct expr **map = malloc(n * sizeof *map);
    int rc = 0;
    if (!txt || !flags || !ids || !lens || !map) {
        rc = -ENOMEM;
        goto out;
    }
    for (int attempt = 0; attempt <= MAX_COMPILE_RETRIES; attempt++) {
        unsigned m = 0;
        for (size_t i = 0; i < e->n; i++) {
            struct expr *x = &e->v[i];
            if (x->slot != slot || x->bad)
                continue;
            txt[m] = x->text;
            flags[m] = x->hsflags;
            ids[m] = x->id;
            lens[m] = x->len;
            map[m] = x;
            m++;
        }
        if (!m)
            break;
        hs_compile_error_t *err = NULL;
        hs_error_t hr;
        if (slot & 1)
            hr = hs_compile_multi(txt, flags, ids, m, HS_MODE_BLOCK, plat, db, &err);
        else
            hr = hs_compile_lit_multi(txt, flags, ids, lens, m, HS_MODE_BLOCK, plat, db, &err);
        if (hr == HS_SUCCESS)
            break;
        *db = NULL;
        if (err && err->expression >= 0 && (unsigned)err->expression < m) {
            struct expr *x = map[err->expression];
            report_hs_error(set, x, err->message, diag);
            x->bad = 1;
            ++*errors;
            hs_free_compile_error(err);
            continue;
        }
        rules_diag_add(diag, NULL, "%s %s database does not compile: %s",
                       rules_field_name((enum rules_field)(slot / 2)), (slot & 1) ? "regex" : "literal",
                       err ? err->message : "unknown error");
        ++*errors;
        hs_free_compile_error(err);
        break;
    }
out:
    free(txt);
    free(flags);
    free(ids);
    free(lens);
    free(map);
    return rc;
}

/* ---- cache file --------------------------------------------------------
 * Layout: magic[8], key u64, then NSLOTS times (u64 length, bytes), native
 * byte order (the key covers the CPU, so a file never moves between
 * machines of different kinds unnoticed). */

static void cache_path(char *buf, size_t cap, const char *dir, uint64_t key)
{
    snprintf(buf, cap, "%s/rules-%016llx.hsdb", dir, (unsigned long long)key);
}

static int cache_load(const char *dir, uint64_t key, hs_database_t **db)
{
    char path[4096];
    cache_path(path, sizeof path, dir, key);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int rc = -1;
    char magic[8];
    uint64_t k;
    char *blob = NULL;
    for (int s = 0; s < NSLOTS; s++)
        db[s] = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0 ||
        fread(&k, sizeof k, 1, f) != 1 || k != key)
        goto out;
    for (int s = 0; s < NSLOTS; s++) {
        uint64_t len;
        if (fread(&len, sizeof len, 1, f) != 1 || len > (1ull << 32))
            goto out;
        if (!len)
            continue;
        blob = malloc(len);
        if (!blob || fread(blob, 1, len, f) != len)
            goto out;
        if (hs_deserialize_database(blob, len, &db[s]) != HS_SUCCESS) {
            db[s] = NULL;
            goto out;
        }
        free(blob);
        blob = NULL;
    }
    rc = 0;
out:
    free(blob);
    fclose(f);
    if (rc)
        for (int s = 0; s < NSLOTS; s++) {
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
    for (int s = 0; s < NSLOTS && ok; s++) {
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
    if ((rc = prepare(set, opts->include_disabled, &e, diag, &errors)) != 0)
        goto fail;
    db->npat = e.n;
    db->pat_rule_own = malloc((e.n ? e.n : 1) * sizeof *db->pat_rule_own);
    if (!db->pat_rule_own) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < e.n; i++)
        db->pat_rule_own[i] = e.v[i].rule;
    db->pat_rule = db->pat_rule_own;

    hs_platform_info_t plat;
    if (hs_populate_platform(&plat) != HS_SUCCESS)
        memset(&plat, 0, sizeof plat);
    db->key = compute_key(&e, &plat);

    if (!errors && opts->cache_dir && cache_load(opts->cache_dir, db->key, db->hsdb) == 0) {
        if (info)
            info->from_cache = 1;
    } else {
        for (int s = 0; s < NSLOTS; s++)
            if ((rc = compile_slot(set, &e, s, &plat, &db->hsdb[s], diag, &errors)) != 0)
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
    for (int s = 0; s < NSLOTS; s++)
        hs_free_database(db->hsdb[s]);
    free(db->pat_rule_own);
    free((void *)db->hits);
    rules_set_free(db->set);
    free(db);
}

/* ---- metadata ----------------------------------------------------------- */

size_t rules_db_count(const rules_db_t *db) { return db ? db->nrules : 0; }
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
    s->db = db;
    s->stamp = calloc(db->nrules ? db->nrules : 1, sizeof *s->stamp);
    s->norm = norm_ctx_new(NORM_DEFAULT_CAP);
    s->buf_cap = (size_t)NORM_DEFAULT_CAP * 4 + 16;
    s->buf = malloc(s->buf_cap);
    s->clean = malloc(SCAN_MAX_BYTES + 1);
    if (!s->stamp || !s->norm || !s->buf || !s->clean)
        goto fail;
    for (int k = 0; k < NSLOTS; k++)
        if (db->hsdb[k] && hs_alloc_scratch(db->hsdb[k], &s->hs) != HS_SUCCESS)
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
    free(s->stamp);
    norm_ctx_free(s->norm);
    free(s->buf);
    free(s->clean);
    free(s);
}

struct scan_ctx {
    const rules_db_t *db;
    rules_scratch_t *s;
    struct rules_hits *hits;
    rules_hit_fn cb;
    void *ud;
};

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *arg)
{
    (void)from;
    (void)to;
    (void)flags;
    struct scan_ctx *c = arg;
    if (!SG_ALWAYS(id < c->db->npat))
        return 0;
    uint32_t r = c->db->pat_rule[id];
    if (c->s->stamp[r] == c->s->gen)
        return 0; /* another pattern of the same rule already reported */
    c->s->stamp[r] = c->s->gen;
    atomic_fetch_add_explicit(&c->db->hits[r], 1, memory_order_relaxed);
    if (c->hits) {
        if (c->hits->n < c->hits->cap)
            c->hits->idx[c->hits->n++] = r;
        else
            c->hits->dropped++;
    }
    return c->cb ? c->cb(r, c->ud) != 0 : 0;
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

static size_t utf8_clean(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        size_t k = p[i] < 0x80 ? 1 : (p[i] & 0xE0) == 0xC0 ? 2 : (p[i] & 0xF0) == 0xE0 ? 3
                                    : (p[i] & 0xF8) == 0xF0 ? 4 : 0;
        if (k && i + k <= n && utf8_valid(p + i, k)) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else {
            i++;
        }
    }
    return o;
}

int rules_scan(const rules_db_t *db, rules_scratch_t *s, enum rules_field field, const char *data,
               size_t len, struct rules_hits *hits, rules_hit_fn cb, void *ud)
{
    if (!db || !s || s->db != db || (unsigned)field >= RULES_FIELD_COUNT || (!data && len))
        return SG_EINVAL;
    if (hits)
        hits->n = hits->dropped = 0;
    if (++s->gen == 0) { /* wrapped: stale stamps could collide */
        memset(s->stamp, 0, (db->nrules ? db->nrules : 1) * sizeof *s->stamp);
        s->gen = 1;
    }
    /* The text field is norm_text() output, valid UTF-8 by its contract
     * (text-norm.h; fuzz-norm-url checks it): validated again only when
     * cut to SCAN_MAX_BYTES, which may split a character, and by the
     * assertion of debug builds. */
    assert(field != RULES_FIELD_TEXT || utf8_valid((const uint8_t *)data, len));
    int known_valid = field == RULES_FIELD_TEXT;
    if (len > SCAN_MAX_BYTES) {
        len = SCAN_MAX_BYTES;
        known_valid = 0;
    }
    struct scan_ctx c = {db, s, hits, cb, ud};
    const char *p = data ? data : "";
    size_t plen = len;
    for (int kind = 0; kind < 2; kind++) {
        hs_database_t *h = db->hsdb[field * 2 + kind];
        if (!h)
            continue;
        if (kind == KIND_RE && p == data && !known_valid && !utf8_valid((const uint8_t *)p, plen)) {
            plen = utf8_clean((const uint8_t *)data, len, (uint8_t *)s->clean);
            p = s->clean;
        }
        hs_error_t hr = hs_scan(h, p, (unsigned)plen, 0, s->hs, on_match, &c);
        if (hr == HS_SCAN_TERMINATED)
            return 0;
        if (hr != HS_SUCCESS)
            return SG_EINVAL;
    }
    return 0;
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
