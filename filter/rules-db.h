/* Compiled content rules: Hyperscan databases, one per scanned field, with a
 * disk cache, per-thread scratch, scan API, rule metadata and hit counters.
 *
 * Build:  rules_set_t (rules-parse.h) -> rules_db_build() -> rules_db_t.
 *   Per field (text, raw, sender, domain) one Hyperscan database, compiled
 *   with hs_compile_multi, holds the field's literals and regexes, so a
 *   field costs one scan.  A literal is compiled as a regex that escapes
 *   every byte but letters and digits (\xHH), without HS_FLAG_UTF8, so it
 *   matches exactly its bytes (HS_FLAG_CASELESS, for `i` and for field
 *   domain, folds ASCII only, as hs_compile_lit did).  Regexes get
 *   HS_FLAG_UTF8 (and HS_FLAG_UCP unless they use \b or \B).  Every
 *   expression gets HS_FLAG_SINGLEMATCH.  Patterns for field `text` are
 *   normalised first with norm_text() (literals: the full pipeline; regexes:
 *   NORM_PATTERN), so rule writers write natural text.  Every Hyperscan
 *   compile error is mapped back to its rule and reported as
 *   "file:line:col: rule ID: message" (when Hyperscan cannot name the
 *   expression, each is compiled alone to find it).
 *
 * Cache: with a cache directory, the serialised databases are stored in
 *   <dir>/rules-<key>.hsdb where key = XXH3-64 of (cache format version,
 *   hs_version(), hs_populate_platform() result, and every compiled
 *   expression with its flags and id).  A restart with unchanged rules loads
 *   the databases instead of compiling them.  A corrupt or foreign cache
 *   file is ignored (and overwritten); writes are atomic (temp + rename).
 *
 * Threads: a rules_db is immutable after build, except the hit counters
 *   (relaxed atomics), so any number of threads may scan it, each with its
 *   own rules_scratch (Hyperscan's rule: one scratch per thread, allocated
 *   once).  To reload, build a new db, make new scratch for it, swap, then
 *   free the old db once no thread uses it.
 *
 * Hot path: rules_scan() / rules_match_message() allocate nothing.
 */
#ifndef SG_RULES_DB_H
#define SG_RULES_DB_H

#include <stddef.h>
#include <stdint.h>

#include "rules-parse.h"
#include "sg-common.h"

typedef struct rules_db rules_db_t;
typedef struct rules_scratch rules_scratch_t;

struct rules_build_opts {
    const char *cache_dir;   /* NULL: no cache */
    int include_disabled;    /* compile disabled rules too (for `rules test`) */
};

struct rules_build_info {
    int from_cache;          /* 1 when the databases were loaded from cache */
    double build_ms;         /* wall time of the compile or the cache load */
    uint64_t key;            /* cache key */
    size_t npatterns;        /* expressions compiled */
};

/* Compiles set into *out.  Takes ownership of set in every case (freed on
 * failure).  opts and info may be NULL.  Returns 0, SG_ECOMPILE (details in
 * diag; *out NULL), -ENOMEM.  A cache that cannot be read or written is
 * skipped (the databases are compiled; the build still succeeds). */
int rules_db_build(rules_set_t *set, const struct rules_build_opts *opts, rules_db_t **out,
                   rules_diag_t *diag, struct rules_build_info *info);

/* Convenience: parse path (a directory of *.rules or one file) and build. */
int rules_db_load(const char *path, const struct rules_build_opts *opts, rules_db_t **out,
                  rules_diag_t *diag, struct rules_build_info *info);

void rules_db_free(rules_db_t *db);

/* ---- metadata --------------------------------------------------------- */

size_t rules_db_count(const rules_db_t *db);
/* 1 when some rule's expression is compiled for field, so rules_scan()
 * of it may report hits; 0 when it never can (also for db NULL). */
int rules_db_has_field(const rules_db_t *db, enum rules_field field);
const rules_set_t *rules_db_set(const rules_db_t *db);
const struct rules_rule *rules_db_rule(const rules_db_t *db, uint32_t idx);
const char *rules_db_rule_id(const rules_db_t *db, uint32_t idx);
const char *rules_db_rule_name(const rules_db_t *db, uint32_t idx);
int rules_db_rule_score(const rules_db_t *db, uint32_t idx);
enum rules_action rules_db_rule_action(const rules_db_t *db, uint32_t idx);
enum rules_state rules_db_rule_state(const rules_db_t *db, uint32_t idx);
const char *rules_db_rule_tags(const rules_db_t *db, uint32_t idx);
/* Hits counted by rules_scan since build (relaxed atomic). */
uint64_t rules_db_rule_hits(const rules_db_t *db, uint32_t idx);
/* Hex key of the cache (16 chars + NUL into buf[17]). */
void rules_db_key_hex(const rules_db_t *db, char buf[17]);

/* ---- scanning --------------------------------------------------------- */

/* One scratch per thread per db.  Holds Hyperscan scratch, a norm_ctx and
 * buffers for rules_match_message().  NULL on failure. */
rules_scratch_t *rules_scratch_new(const rules_db_t *db);
void rules_scratch_free(rules_scratch_t *s);

/* A bounded list of matched rule indices, filled by the scan functions.
 * Each rule appears at most once per scan call (several patterns of one
 * rule are de-duplicated).  `cap` entries of idx are caller-provided. */
struct rules_hits {
    uint32_t *idx;
    uint32_t cap;
    uint32_t n;       /* entries written (<= cap) */
    uint32_t dropped; /* hits beyond cap, counted */
};

/* Optional per-hit callback; return nonzero to stop scanning. */
typedef int (*rules_hit_fn)(uint32_t rule_idx, void *ud);

/* Scans data[0..len) (at most 4 * NORM_DEFAULT_CAP bytes of it) with the
 * database of `field`, appending each matched rule to hits (may be NULL)
 * and calling cb (may be NULL; nonzero stops the reporting).  Hits come
 * in this order: rules a literal matched, by their first literal match,
 * then the others, by their first match; "first" by the least end
 * offset, ties by rule index (Hyperscan's own order of matches that end
 * together depends on how the database was built), so the same rules
 * report in the same order whatever database they were compiled to (the
 * price: a sort of the rules matched, about 9 instructions a message).
 * For field text the data must already be norm_text() output, which is
 * valid UTF-8: it is not checked again.  Other fields are checked when their database holds a regex
 * (Hyperscan's UTF-8 mode must see valid UTF-8); input that is not valid
 * is matched as it always was: literals against the bytes as sent (never
 * across an invalid byte), regexes against the text without its invalid
 * sequences.  Disabled rules never match; shadow rules do (the caller
 * ignores them when scoring).  Counts each hit in the rule's counter.
 * Returns 0, or SG_EINVAL on a Hyperscan error.  Work: one Hyperscan block
 * scan, O(len); input that is not valid UTF-8, in a field with regexes:
 * two, of copies (more, one per valid run, in the unlikely case that the
 * field's literals use every ASCII byte). */
int rules_scan(const rules_db_t *db, rules_scratch_t *s, enum rules_field field,
               const char *data, size_t len, struct rules_hits *hits, rules_hit_fn cb,
               void *ud);

/* rules_scan() without counting the hits in the rules' counters, for a
 * caller that scans before it knows whether it will use the hits
 * (verdict_judge_batch() scans a whole vector first, and the lists may
 * decide a message before its rules): it counts the hits it uses with
 * rules_db_count_hits().  A hit past hits->cap is only counted in
 * hits->dropped, so a caller that must count it scans again with
 * rules_scan(). */
int rules_scan_uncounted(const rules_db_t *db, rules_scratch_t *s, enum rules_field field,
                         const char *data, size_t len, struct rules_hits *hits);
/* Adds one to the hit counter of each rule idx[0..n) (rule indices of this
 * db, as a scan reports them).  Any thread. */
void rules_db_count_hits(const rules_db_t *db, const uint32_t *idx, size_t n);

/* Normalises text into the scratch's buffer and scans fields text and raw
 * (and sender when sender is non-NULL) into hits.  *norm / *normlen (may
 * be NULL) receive the normalised text, valid until the next call with s.
 * Returns 0 or a negative code. */
int rules_match_message(const rules_db_t *db, rules_scratch_t *s, const char *text,
                        size_t len, const char *sender, size_t sender_len,
                        struct rules_hits *hits, const char **norm, size_t *normlen);

/* Sums the scores of the enabled (not shadow) rules in hits and returns the
 * resulting action: the strongest of each hit rule's own action and the
 * thresholds (flag_at, block_at; pass RULES_DEFAULT_*).  *score may be NULL. */
enum rules_action rules_db_decide(const rules_db_t *db, const struct rules_hits *hits,
                                  int flag_at, int block_at, int *score);

/* The rewrite a regex on field `text` gets before it is compiled (exact
 * there, as norm_text() leaves only ASCII digits; see rules-db.c, "\d in
 * text regexes", and docs/rules.md): re[0..n) to out, which has room for
 * 3n + 1 bytes, with \d as [0-9] and \D as [^0-9], and \d inside a
 * class as 0-9.  Returns the length written (NUL-terminated), or 0 when
 * the regex is to be compiled as written (no \d, or a \D in a class).
 * Exposed for tests/test-digit-fold.c. */
size_t rules_text_ascii_digits(const char *re, size_t n, char *out);

#endif
