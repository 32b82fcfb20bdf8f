/* The verdict engine: see verdict.h for objects and threads, and
 * docs/verdict-engine.md for the order of judgement. */
#include "verdict.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "msisdn.h"
#include "rules-db.h"
#include "text-memo.h"
#include "text-norm.h"

/* ---- reference-counted snapshot holders ---------------------------------- */

enum holder_kind { H_LISTS = 0, H_RULES = 1, H_DOMAINS = 2, H_COUNT = 3 };

struct holder {
    atomic_int refs;
    enum holder_kind kind;
    void *a, *b; /* lists | rules db | (bad domains, shorteners) */
};

static struct holder *holder_new(enum holder_kind kind, void *a, void *b)
{
    struct holder *h = malloc(sizeof *h);
    if (!h)
        return NULL;
    atomic_init(&h->refs, 1);
    h->kind = kind;
    h->a = a;
    h->b = b;
    return h;
}

static void holder_put(struct holder *h)
{
    if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    switch (h->kind) {
    case H_LISTS: lists_free(h->a); break;
    case H_RULES: rules_db_free(h->a); break;
    case H_DOMAINS:
        domain_set_free(h->a);
        domain_set_free(h->b);
        break;
    default: break;
    }
    free(h);
}

/* ---- automatic blacklist overlay ------------------------------------------ */

#define OV_WAYS 8

/* Bytes of a volume reason's constant tail buffer (verdict_engine.vol_tail),
 * zero-padded: add_reason_cat copies all of it at once. */
#define VOL_TAIL_CAP 80

struct ov_entry {
    uint64_t h;
    uint64_t seq;      /* event sequence number: retired once drained */
    int64_t created, expires;
    int kind;          /* -1 = empty */
    char value[VERDICT_ID_MAX];
};

/* ---- counters ---------------------------------------------------------------- */

struct counters {
    atomic_uint_fast64_t messages, by_action[3], by_reason[VERDICT_R_COUNT], alerts,
        shadow_hits, autobl_created, autobl_suppressed_grace, autobl_queue_dropped,
        overlay_evictions, overlay_retired, volume_exempt_grace, volume_uncorroborated, lists_swaps, rules_swaps,
        domains_swaps, norm_truncated, rule_hits_dropped, text_memo_hits;
};

#define COUNT(e, field) atomic_fetch_add_explicit(&(e)->c.field, 1, memory_order_relaxed)

/* The volume tables' lock: uncontended (one judging thread, the common
 * case) one exchange to take and one store to give back.  Contended, it
 * spins briefly and then yields, so a holder that lost its CPU gets it
 * back (the section never blocks or allocates). */
static inline void vol_lock(atomic_flag *f)
{
    for (unsigned spins = 0; atomic_flag_test_and_set_explicit(f, memory_order_acquire); spins++) {
        if (spins >= 64)
            sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else
            __builtin_ia32_pause();
#endif
    }
}

static inline void vol_unlock(atomic_flag *f)
{
    atomic_flag_clear_explicit(f, memory_order_release);
}

struct verdict_engine {
    struct verdict_config cfg;

    /* Snapshots: written under swap_mu, read by workers when gen moved. */
    pthread_mutex_t swap_mu;
    struct holder *h[H_COUNT];
    atomic_uint_fast64_t gen;

    /* Held for the volume observations of one message (O(8 + N) work,
     * usually a few hundred instructions) and for reading their stats: a
     * spin lock (vol_lock), not a mutex, whose lock and unlock calls cost
     * 55 instructions a message against 6. */
    atomic_flag vol_busy;
    volume_table_t *v_sender, *v_fp, *v_account;

    /* Overlay and event queue share ov_mu: an automatic entry and its event
     * are created together. */
    pthread_mutex_t ov_mu;
    atomic_uint ov_count;
    struct ov_entry *ov;
    /* The hashes of ov's entries, 0 where a way is empty: a lookup reads
     * its bucket's eight in one cache line, and an entry only on a match
     * (the entries of a bucket span a dozen lines).  Written under ov_mu,
     * read without it: nearly every lookup is a miss, decided by the tags
     * alone, so the judging path takes ov_mu only when a tag matches. */
    _Atomic uint64_t *ov_tag;
    /* Per bucket, 1 while any of its ways holds an entry (written under
     * ov_mu, read without it): every message asks for its sender and its
     * fingerprint, and a bucket without entries, nearly all of them,
     * answers with one byte instead of eight tags. */
    _Atomic unsigned char *ov_used;
    size_t ov_bmask;
    uint64_t ov_seq, drained_seq;
    struct verdict_autobl *q;
    uint64_t *q_seq;
    size_t q_head, q_len, q_cap;

    /* The constant ends of the volume reasons' details (" reached more
     * than 50 distinct recipients in 600 s"), formatted once: a busy sender
     * passes its threshold on every message, and formatting two numbers
     * per message cost more than the rest of its reason. */
    char vol_tail[3][VOL_TAIL_CAP];
    size_t vol_tail_len[3];

    struct counters c;
};

/* What the content stages found in one message of a vector: pure
 * functions of its text and sender and of the worker's snapshots, so they
 * are computed for the whole vector before the stateful stages (lists,
 * volume, the decision) judge its messages one by one, in order. */
#define CONTENT_HITS 256 /* per field and message, as one rules_scan() list */
#define CONTENT_FIELDS 3 /* text, raw, sender: scanned for every message */
struct content {
    int has_text;
    int case_only;      /* normalisation only lowered letter case */
    const char *norm;   /* the normalised text, normlen bytes, in w->norm */
    size_t normlen;
    uint64_t fp;
    /* Each field's hits, uncounted until the message reaches its rules.
     * A field in scan_late is scanned then, counted, instead: its list
     * overflowed (to count the hits past it, as a single scan does), or
     * the message looked bound for the automatic blacklist, which decides
     * before the rules, so it was not scanned ahead. */
    struct rules_hits hits[CONTENT_FIELDS];
    unsigned scan_late;
    /* The keys of the lists and the volume counters, hashed once, so the
     * stateful stage can fetch the next messages' counters ahead. */
    size_t skey_skip, skey_len;   /* the sender's list key: a run of its bytes */
    uint64_t sender_vkey, account_vkey, rcpt_hash;
    size_t rcpt_len;
    char rcpt[MSISDN_MAX + 48];   /* recipient_key() */
    size_t n_urls;
    struct url_hit urls[8];
    /* The text memo (text-memo.h): the text's hash, and whether its
     * findings came from the memo or are to be stored once scanned. */
    uint64_t memo_hash;
    enum { MEMO_NONE, MEMO_FOUND, MEMO_STORE } memo;
};

struct verdict_worker {
    verdict_engine_t *e;
    uint64_t gen;
    struct holder *h[H_COUNT];
    rules_scratch_t *scratch;
    norm_ctx_t *nc;
    /* A vector's normalised texts, one after another (norm_cap bytes: a
     * single text of any length fits when it comes first). */
    char *norm;
    size_t norm_cap;
    /* The content stages' findings for each message of a vector, and the
     * hit lists of its text, raw and sender scans (CONTENT_HITS each). */
    struct content *content;
    uint32_t *content_hits;
    uint32_t hit_idx[256]; /* a domain scan's hits, or a late scan's */
    /* What the lists snapshot in h[H_LISTS] holds, read at each swap: a
     * stage whose list is empty skips its lookup (and the look-alike stage
     * the sender's skeleton, which costs more than the lookup), which is
     * every message of a replay without a database. */
    struct lists_counts lc;
    /* Findings for texts that repeat word for word, emptied with each new
     * rule set (its hits are that set's). */
    text_memo_t *memo;
    int snippet; /* verdict_worker_set_snippet */
    /* h[H_RULES] has a domain database, read at each swap: most rule
     * sets have none, and then no URL costs a call. */
    int scan_domains;
    /* h[H_DOMAINS]'s sets hold entries (likewise): else no lookup per URL */
    int bad_domains, short_domains;
};

/* ---- configuration ---------------------------------------------------------- */

void verdict_config_default(struct verdict_config *c)
{
    memset(c, 0, sizeof *c);
    c->flag_at = RULES_DEFAULT_FLAG_SCORE;
    c->block_at = RULES_DEFAULT_BLOCK_SCORE;
    c->lookalike_score = 0;
    c->trust_unknown_account = 1;
    c->domain_score = 5;
    c->shortener_score = 2;
    c->defanged_url_score = 3;
    c->window_s = 600;
    c->sender_max_recipients = 50;
    c->fingerprint_max_recipients = 100;
    c->account_max_recipients = 2000;
    c->fingerprint_min_len = 40;
    c->volume_action = VERDICT_BLOCK;
    c->account_volume_action = VERDICT_FLAG;
    c->volume_corroborate_score = 3;
    c->auto_blacklist = 1;
    c->auto_blacklist_ttl_s = 86400;
    c->clear_grace_s = 86400;
    c->sender_table_keys = 65536;
    c->fingerprint_table_keys = 65536;
    c->account_table_keys = 1024;
    c->overlay_max = 4096;
    c->autobl_queue_max = 4096;
    c->text_memo_entries = 256;
}

static int config_check(const struct verdict_config *c, char *err, size_t errcap)
{
#define BAD(...) do { if (err) snprintf(err, errcap, __VA_ARGS__); return SG_EINVAL; } while (0)
    if (c->block_at < c->flag_at)
        BAD("block_at (%d) is below flag_at (%d)", c->block_at, c->flag_at);
    if (c->lookalike_score < 0)
        BAD("lookalike_score must be >= 0 (0 = block)");
    if (c->window_s == 0)
        BAD("window_s must be >= 1");
    if (c->sender_max_recipients > VOLUME_MAX_THRESHOLD ||
        c->fingerprint_max_recipients > VOLUME_MAX_THRESHOLD ||
        c->account_max_recipients > VOLUME_MAX_THRESHOLD)
        BAD("a *_max_recipients exceeds %u", VOLUME_MAX_THRESHOLD);
    if ((unsigned)c->volume_action > VERDICT_BLOCK || (unsigned)c->account_volume_action > VERDICT_BLOCK)
        BAD("volume_action / account_volume_action must be allow, flag or block");
    if (c->auto_blacklist_ttl_s < 0 || c->clear_grace_s < 0)
        BAD("auto_blacklist_ttl_s and clear_grace_s must be >= 0");
    if (c->sender_table_keys == 0 || c->fingerprint_table_keys == 0 || c->account_table_keys == 0 ||
        c->overlay_max == 0 || c->autobl_queue_max == 0)
        BAD("table bounds must be >= 1");
    return 0;
#undef BAD
}

/* ---- engine ----------------------------------------------------------------- */

verdict_engine_t *verdict_engine_new(const struct verdict_config *cfg, char *err, size_t errcap)
{
    struct verdict_config def;
    if (!cfg) {
        verdict_config_default(&def);
        cfg = &def;
    }
    if (config_check(cfg, err, errcap) != 0)
        return NULL;
    verdict_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        goto nomem;
    e->cfg = *cfg;
    pthread_mutex_init(&e->swap_mu, NULL);
    atomic_flag_clear(&e->vol_busy);
    pthread_mutex_init(&e->ov_mu, NULL);
    atomic_init(&e->gen, 1);
    atomic_init(&e->ov_count, 0);
    if (cfg->sender_max_recipients &&
        !(e->v_sender = volume_new(cfg->sender_table_keys, cfg->sender_max_recipients, cfg->window_s)))
        goto nomem;
    if (cfg->fingerprint_max_recipients &&
        !(e->v_fp = volume_new(cfg->fingerprint_table_keys, cfg->fingerprint_max_recipients,
                               cfg->window_s)))
        goto nomem;
    if (cfg->account_max_recipients &&
        !(e->v_account = volume_new(cfg->account_table_keys, cfg->account_max_recipients,
                                    cfg->window_s)))
        goto nomem;
    size_t nb = 1;
    while (nb * OV_WAYS < cfg->overlay_max)
        nb <<= 1;
    e->ov_bmask = nb - 1;
    e->ov = malloc(nb * OV_WAYS * sizeof *e->ov);
    e->ov_tag = aligned_alloc(64, nb * OV_WAYS * sizeof *e->ov_tag);
    e->ov_used = malloc(nb * sizeof *e->ov_used);
    e->q = calloc(cfg->autobl_queue_max, sizeof *e->q);
    e->q_seq = calloc(cfg->autobl_queue_max, sizeof *e->q_seq);
    if (!e->ov || !e->ov_tag || !e->ov_used || !e->q || !e->q_seq)
        goto nomem;
    for (size_t i = 0; i < nb * OV_WAYS; i++) {
        e->ov[i].kind = -1;
        atomic_init(&e->ov_tag[i], 0);
    }
    for (size_t b = 0; b < nb; b++)
        atomic_init(&e->ov_used[b], 0);
    e->q_cap = cfg->autobl_queue_max;
    static const char vol_fmt[] = " reached more than %u distinct recipients in %u s";
    const unsigned vol_max[3] = {cfg->sender_max_recipients, cfg->fingerprint_max_recipients,
                                 cfg->account_max_recipients};
    for (int k = 0; k < 3; k++) {
        int n = snprintf(e->vol_tail[k], sizeof e->vol_tail[k], vol_fmt, vol_max[k], cfg->window_s);
        /* (at most 60 bytes: thresholds up to VOLUME_MAX_THRESHOLD, 32-bit windows) */
        e->vol_tail_len[k] = n <= 0 ? 0 : (size_t)n < VOL_TAIL_CAP ? (size_t)n : VOL_TAIL_CAP - 1;
    }
    return e;
nomem:
    if (err)
        snprintf(err, errcap, "out of memory allocating the engine's tables");
    verdict_engine_free(e);
    return NULL;
}

void verdict_engine_free(verdict_engine_t *e)
{
    if (!e)
        return;
    for (int k = 0; k < H_COUNT; k++)
        holder_put(e->h[k]);
    volume_free(e->v_sender);
    volume_free(e->v_fp);
    volume_free(e->v_account);
    free(e->ov);
    free(e->ov_tag);
    free((void *)e->ov_used);
    free(e->q);
    free(e->q_seq);
    pthread_mutex_destroy(&e->swap_mu);
    pthread_mutex_destroy(&e->ov_mu);
    free(e);
}

const struct verdict_config *verdict_engine_config(const verdict_engine_t *e)
{
    return &e->cfg;
}

static int swap_in(verdict_engine_t *e, enum holder_kind k, void *a, void *b)
{
    struct holder *h = NULL, *old;
    if (a || b) {
        h = holder_new(k, a, b);
        if (!h)
            return -ENOMEM;
    }
    pthread_mutex_lock(&e->swap_mu);
    old = e->h[k];
    e->h[k] = h;
    atomic_fetch_add_explicit(&e->gen, 1, memory_order_release);
    pthread_mutex_unlock(&e->swap_mu);
    holder_put(old); /* frees now only if no worker holds it */
    return 0;
}

int verdict_engine_set_lists(verdict_engine_t *e, lists_t *l)
{
    if (!e)
        return SG_EINVAL;
    int rc = swap_in(e, H_LISTS, l, NULL);
    if (rc) {
        lists_free(l);
        return rc;
    }
    COUNT(e, lists_swaps);
    /* Retire the automatic entries whose events the front end has drained:
     * the store has them now (so the snapshot blocks them), or an operator
     * cleared them (and the clear must take effect). */
    pthread_mutex_lock(&e->ov_mu);
    for (size_t b = 0; b <= e->ov_bmask; b++) {
        if (!atomic_load_explicit(&e->ov_used[b], memory_order_relaxed))
            continue; /* no entry in any of its ways */
        unsigned used = 0;
        for (size_t i = b * OV_WAYS; i < (b + 1) * OV_WAYS; i++) {
            if (e->ov[i].kind >= 0 && e->ov[i].seq <= e->drained_seq) {
                e->ov[i].kind = -1;
                atomic_store_explicit(&e->ov_tag[i], 0, memory_order_relaxed);
                atomic_fetch_sub(&e->ov_count, 1);
                COUNT(e, overlay_retired);
            }
            used |= e->ov[i].kind >= 0;
        }
        if (!used) /* cleared only with no entry left: a lookup never misses one that is there */
            atomic_store_explicit(&e->ov_used[b], 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&e->ov_mu);
    return 0;
}

int verdict_engine_set_rules(verdict_engine_t *e, rules_db_t *db)
{
    if (!e)
        return SG_EINVAL;
    int rc = swap_in(e, H_RULES, db, NULL);
    if (rc) {
        rules_db_free(db);
        return rc;
    }
    COUNT(e, rules_swaps);
    return 0;
}

int verdict_engine_set_domains(verdict_engine_t *e, domain_set_t *bad, domain_set_t *shorteners)
{
    if (!e)
        return SG_EINVAL;
    int rc = swap_in(e, H_DOMAINS, bad, shorteners);
    if (rc) {
        domain_set_free(bad);
        domain_set_free(shorteners);
        return rc;
    }
    COUNT(e, domains_swaps);
    return 0;
}

static int load_one(const char *dir, const char *name, int score, domain_set_t **out, char *err,
                    size_t errcap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    domain_set_t *s = domain_set_new();
    if (!s)
        return -ENOMEM;
    int rc = domain_set_load(s, path, score, err, errcap);
    if (rc == -ENOENT)
        rc = 0; /* a missing list is an empty one */
    if (rc == 0)
        rc = domain_set_seal(s);
    if (rc) {
        domain_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int verdict_engine_load_domains(verdict_engine_t *e, const char *dir, char *err, size_t errcap)
{
    domain_set_t *bad = NULL, *sh = NULL;
    if (!e || !dir)
        return SG_EINVAL;
    int rc = load_one(dir, "domains.list", e->cfg.domain_score, &bad, err, errcap);
    if (rc == 0)
        rc = load_one(dir, "shorteners.list", e->cfg.shortener_score, &sh, err, errcap);
    if (rc) {
        domain_set_free(bad);
        return rc;
    }
    return verdict_engine_set_domains(e, bad, sh);
}

/* ---- overlay ------------------------------------------------------------------ */

/* An entry's hash from a 64-bit hash of its value the judgement already
 * has (sender: XXH3 of the sender key, the volume key; fingerprint: the
 * fingerprint itself, which its hex value spells), so a lookup hashes no
 * string.  The multiplication keeps the two kinds apart in the tags. */
static uint64_t ov_hash(int kind, uint64_t value_hash)
{
    uint64_t h = (value_hash + 0x5eed0000u + (uint64_t)kind) * 0x9E3779B97F4A7C15ull;
    return h ? h : 1; /* 0 marks an empty way in ov_tag */
}

/* overlay_has: 1 if an unexpired automatic entry for (kind, value) is in
 * the overlay; h = ov_hash(kind, ...) of the value.  overlay_maybe: 0 if
 * it is certainly not (h's bucket holds no entry, or no tag of it is h).
 * The used flags and the tags are read without ov_mu (atomic loads;
 * writers store them under it), and the entry under it only when one
 * matches: a lookup concurrent with an add may miss the new entry, as it
 * would had it taken the mutex just before the add, and an entry present
 * through the lookup is always found.  The used flag is tested inline,
 * the tags out of line: nearly every bucket is empty. */
static __attribute__((noinline)) int overlay_tags(verdict_engine_t *e, uint64_t h)
{
    _Atomic uint64_t *tag = &e->ov_tag[(h & e->ov_bmask) * OV_WAYS];
    /* Relaxed: the entry itself is read under ov_mu.  Unrolled, as a loop
     * of atomic loads is not. */
#define OV_TAG_IS(w) ((unsigned)(atomic_load_explicit(&tag[w], memory_order_relaxed) == h))
    _Static_assert(OV_WAYS == 8, "one OV_TAG_IS per way");
    return OV_TAG_IS(0) | OV_TAG_IS(1) | OV_TAG_IS(2) | OV_TAG_IS(3) | OV_TAG_IS(4) | OV_TAG_IS(5) |
           OV_TAG_IS(6) | OV_TAG_IS(7);
#undef OV_TAG_IS
}

static inline int overlay_maybe(verdict_engine_t *e, uint64_t h)
{
    return atomic_load_explicit(&e->ov_used[h & e->ov_bmask], memory_order_relaxed) && overlay_tags(e, h);
}

/* overlay_has() is overlay_maybe() and, when a tag matched, the check of
 * the entry under ov_mu (overlay_entry): a caller whose value costs
 * something to spell (the fingerprint's hex) asks overlay_maybe() first. */
static __attribute__((noinline)) int overlay_entry(verdict_engine_t *e, int kind, uint64_t h, const char *v,
                                                   size_t n, int64_t now)
{
    size_t first = (h & e->ov_bmask) * OV_WAYS;
    _Atomic uint64_t *tag = &e->ov_tag[first];
    int hit = 0;
    pthread_mutex_lock(&e->ov_mu);
    const struct ov_entry *b = &e->ov[first];
    for (unsigned w = 0; w < OV_WAYS; w++)
        if (atomic_load_explicit(&tag[w], memory_order_relaxed) == h && b[w].kind == kind &&
            strlen(b[w].value) == n && memcmp(b[w].value, v, n) == 0 &&
            (b[w].expires == 0 || b[w].expires > now)) {
            hit = 1;
            break;
        }
    pthread_mutex_unlock(&e->ov_mu);
    return hit;
}

static inline int overlay_has(verdict_engine_t *e, int kind, uint64_t h, const char *v, size_t n, int64_t now)
{
    return overlay_maybe(e, h) && overlay_entry(e, kind, h, v, n, now);
}

/* h: ov_hash(kind, ...) of the value, as for overlay_has. */
static void overlay_add(verdict_engine_t *e, int kind, uint64_t h, const char *v, size_t n, int64_t now,
                        const char *reason)
{
    if (n >= VERDICT_ID_MAX)
        n = VERDICT_ID_MAX - 1;
    int64_t expires = e->cfg.auto_blacklist_ttl_s ? now + e->cfg.auto_blacklist_ttl_s : 0;
    pthread_mutex_lock(&e->ov_mu);
    struct ov_entry *b = &e->ov[(h & e->ov_bmask) * OV_WAYS], *slot = NULL;
    /* Bound: 8 ways.  Prefer an empty or expired way, else evict the one
     * that expires first (it would have lapsed soonest anyway). */
    for (unsigned w = 0; w < OV_WAYS && !slot; w++)
        if (b[w].kind < 0 || (b[w].expires && b[w].expires <= now))
            slot = &b[w];
    if (!slot) {
        slot = &b[0];
        for (unsigned w = 1; w < OV_WAYS; w++)
            if (b[w].expires && (!slot->expires || b[w].expires < slot->expires))
                slot = &b[w];
        COUNT(e, overlay_evictions);
    } else if (slot->kind < 0) {
        atomic_fetch_add(&e->ov_count, 1);
    }
    slot->kind = kind;
    slot->h = h;
    atomic_store_explicit(&e->ov_tag[slot - e->ov], h, memory_order_release);
    atomic_store_explicit(&e->ov_used[(h & e->ov_bmask)], 1, memory_order_relaxed);
    slot->created = now;
    slot->expires = expires;
    slot->seq = ++e->ov_seq;
    memcpy(slot->value, v, n);
    slot->value[n] = '\0';
    if (e->q_len < e->q_cap) {
        size_t i = (e->q_head + e->q_len) % e->q_cap;
        struct verdict_autobl *ev = &e->q[i];
        ev->kind = (enum lists_bl_kind)kind;
        memcpy(ev->value, slot->value, n + 1);
        ev->created_at = now;
        ev->expires_at = expires;
        snprintf(ev->reason, sizeof ev->reason, "%s", reason);
        e->q_seq[i] = slot->seq;
        e->q_len++;
    } else {
        COUNT(e, autobl_queue_dropped);
    }
    pthread_mutex_unlock(&e->ov_mu);
    COUNT(e, autobl_created);
}

size_t verdict_engine_drain_autobl(verdict_engine_t *e, struct verdict_autobl *out, size_t max)
{
    size_t n = 0;
    if (!e || !out)
        return 0;
    pthread_mutex_lock(&e->ov_mu);
    while (n < max && e->q_len) {
        out[n++] = e->q[e->q_head];
        e->drained_seq = e->q_seq[e->q_head];
        e->q_head = (e->q_head + 1) % e->q_cap;
        e->q_len--;
    }
    pthread_mutex_unlock(&e->ov_mu);
    return n;
}

int verdict_engine_with_rules(verdict_engine_t *e, int (*fn)(void *arg, const rules_db_t *db),
                              void *arg)
{
    pthread_mutex_lock(&e->swap_mu);
    struct holder *h = e->h[H_RULES];
    if (h)
        atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&e->swap_mu);
    int rc = fn(arg, h ? h->a : NULL);
    holder_put(h);
    return rc;
}

void verdict_engine_get_stats(verdict_engine_t *e, struct verdict_stats *s)
{
    memset(s, 0, sizeof *s);
#define LD(f) atomic_load_explicit(&e->c.f, memory_order_relaxed)
    s->messages = LD(messages);
    for (int i = 0; i < 3; i++)
        s->by_action[i] = LD(by_action[i]);
    for (int i = 0; i < VERDICT_R_COUNT; i++)
        s->by_reason[i] = LD(by_reason[i]);
    s->alerts = LD(alerts);
    s->shadow_hits = LD(shadow_hits);
    s->autobl_created = LD(autobl_created);
    s->autobl_suppressed_grace = LD(autobl_suppressed_grace);
    s->autobl_queue_dropped = LD(autobl_queue_dropped);
    s->overlay_evictions = LD(overlay_evictions);
    s->overlay_retired = LD(overlay_retired);
    s->volume_exempt_grace = LD(volume_exempt_grace);
    s->volume_uncorroborated = LD(volume_uncorroborated);
    s->lists_swaps = LD(lists_swaps);
    s->rules_swaps = LD(rules_swaps);
    s->domains_swaps = LD(domains_swaps);
    s->norm_truncated = LD(norm_truncated);
    s->rule_hits_dropped = LD(rule_hits_dropped);
    s->text_memo_hits = LD(text_memo_hits);
#undef LD
    vol_lock(&e->vol_busy);
    volume_get_stats(e->v_sender, &s->vol_sender);
    volume_get_stats(e->v_fp, &s->vol_fingerprint);
    volume_get_stats(e->v_account, &s->vol_account);
    vol_unlock(&e->vol_busy);
}

/* ---- workers -------------------------------------------------------------------- */

verdict_worker_t *verdict_worker_new(verdict_engine_t *e)
{
    if (!e)
        return NULL;
    verdict_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->e = e;
    w->snippet = 1;
    w->nc = norm_ctx_new(NORM_DEFAULT_CAP);
    w->norm_cap = (size_t)NORM_DEFAULT_CAP * NORM_MAX_EXPANSION + 16;
    w->norm = malloc(w->norm_cap);
    w->content = calloc(VERDICT_BATCH_MAX, sizeof *w->content);
    w->content_hits = malloc((size_t)VERDICT_BATCH_MAX * CONTENT_FIELDS * CONTENT_HITS *
                             sizeof *w->content_hits);
    w->memo = text_memo_new(e->cfg.text_memo_entries);
    if (!w->nc || !w->norm || !w->content || !w->content_hits || !w->memo) {
        verdict_worker_free(w);
        return NULL;
    }
    return w;
}

void verdict_worker_set_snippet(verdict_worker_t *w, int on)
{
    if (w)
        w->snippet = on != 0;
}

void verdict_worker_free(verdict_worker_t *w)
{
    if (!w)
        return;
    rules_scratch_free(w->scratch);
    for (int k = 0; k < H_COUNT; k++)
        holder_put(w->h[k]);
    norm_ctx_free(w->nc);
    free(w->norm);
    free(w->content);
    free(w->content_hits);
    text_memo_free(w->memo);
    free(w);
}

/* Picks up new snapshots when the generation moved (rare: a reload). */
static void worker_refresh(verdict_worker_t *w)
{
    verdict_engine_t *e = w->e;
    if (atomic_load_explicit(&e->gen, memory_order_acquire) == w->gen)
        return;
    struct holder *old[H_COUNT] = {0};
    pthread_mutex_lock(&e->swap_mu);
    for (int k = 0; k < H_COUNT; k++) {
        if (w->h[k] == e->h[k])
            continue;
        old[k] = w->h[k];
        w->h[k] = e->h[k];
        if (w->h[k])
            atomic_fetch_add_explicit(&w->h[k]->refs, 1, memory_order_relaxed);
    }
    w->gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
    pthread_mutex_unlock(&e->swap_mu);
    lists_counts(w->h[H_LISTS] ? w->h[H_LISTS]->a : NULL, &w->lc);
    if (old[H_RULES] || (w->h[H_RULES] && !w->scratch)) {
        /* Scratch belongs to one db: free it before the old db can go. */
        rules_scratch_free(w->scratch);
        w->scratch = w->h[H_RULES] ? rules_scratch_new(w->h[H_RULES]->a) : NULL;
        text_memo_clear(w->memo); /* its hits were the old set's */
    }
    w->scan_domains = w->h[H_RULES] && rules_db_has_field(w->h[H_RULES]->a, RULES_FIELD_DOMAIN);
    w->bad_domains = w->h[H_DOMAINS] && domain_set_count(w->h[H_DOMAINS]->a) > 0;
    w->short_domains = w->h[H_DOMAINS] && domain_set_count(w->h[H_DOMAINS]->b) > 0;
    for (int k = 0; k < H_COUNT; k++)
        holder_put(old[k]);
}

/* ---- whitelist check alone (verdict.h) ------------------------------------ */

int verdict_engine_is_verified(verdict_engine_t *e, struct sg_view account, struct sg_view sender, int ton,
                               const struct sg_endpoint *src_ip, int64_t now, char wl_id[VERDICT_ID_MAX])
{
    if (wl_id)
        wl_id[0] = '\0';
    if (!e)
        return 0;
    /* A reference to the current lists, so a swap meanwhile cannot free
     * them under the lookup; dropped (and freed, if it was the last) after. */
    pthread_mutex_lock(&e->swap_mu);
    struct holder *h = e->h[H_LISTS];
    if (h)
        atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&e->swap_mu);
    if (!h)
        return 0;
    const char *s = sender.p ? (const char *)sender.p : "";
    size_t sl = sender.p ? sender.len : 0;
    /* As step 1 of verdict_judge(). */
    const struct lists_whitelist_entry *wl = NULL;
    struct lists_origin origin = {(const char *)account.p, account.p ? account.len : 0, src_ip};
    enum lists_wl_result wr = lists_whitelist_check(h->a, s, sl, ton, &origin, now, &wl);
    if (wr == LISTS_WL_UNVERIFIABLE && !e->cfg.trust_unknown_account)
        wr = LISTS_WL_SPOOFED;
    int ok = (wr == LISTS_WL_VERIFIED || wr == LISTS_WL_UNVERIFIABLE) && wl;
    if (ok && wl_id)
        snprintf(wl_id, VERDICT_ID_MAX, "wl-%" PRId64, wl->id);
    holder_put(h);
    return ok;
}

/* ---- judging helpers ------------------------------------------------------------- */

/* vsnprintf for reason details, which use only %s, %u and %d: a reason is
 * written for most messages (a busy sender always passes its recipient
 * threshold), and glibc's printf machinery cost more than the rule match
 * that found it.  Output cut at cap - 1 bytes, always NUL-terminated.  Any
 * other conversion ends the text with "?" and reads no further argument,
 * so a new format can never misread the stack. */
static void detail_vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
    size_t o = 0;
    int stop = 0;
    for (const char *f = fmt; !stop && *f && o + 1 < cap; f++) {
        const char *s;
        char num[24];
        if (*f != '%') { /* a literal run up to the next conversion, at once */
            const char *pct = strchr(f, '%'); /* strcspn's set setup cost more */
            if (!pct)
                pct = f + strlen(f);
            size_t n = (size_t)(pct - f);
            if (n > cap - 1 - o)
                n = cap - 1 - o;
            memcpy(out + o, f, n);
            o += n;
            f = pct - 1;
            continue;
        }
        f++;
        if (*f == 's') {
            s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
        } else if (*f == 'u' || *f == 'd') {
            long long x = *f == 'u' ? (long long)va_arg(ap, unsigned) : va_arg(ap, int);
            unsigned long long m = x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x;
            char *p = num + sizeof num;
            *--p = '\0';
            do
                *--p = (char)('0' + m % 10);
            while (m /= 10);
            if (x < 0)
                *--p = '-';
            s = p;
        } else if (*f == '%') {
            s = "%";
        } else {
            s = "?"; /* an unknown conversion: its argument's type is unknown too */
            stop = 1;
        }
        size_t n = strnlen(s, cap - 1 - o);
        memcpy(out + o, s, n);
        o += n;
    }
    out[o] = '\0';
}

static int add_reason(struct verdict *v, enum verdict_reason_type t, const char *id, int score,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add_reason(struct verdict *v, enum verdict_reason_type t, const char *id, int score,
                      const char *fmt, ...)
{
    if (v->n_reasons >= VERDICT_MAX_REASONS) {
        v->reasons_dropped++;
        return -1;
    }
    struct verdict_reason *r = &v->reasons[v->n_reasons];
    r->type = t;
    r->score = score;
    size_t idn = id ? strnlen(id, sizeof r->id - 1) : 0; /* as snprintf "%s", cut */
    if (idn)
        memcpy(r->id, id, idn);
    r->id[idn] = '\0';
    va_list ap;
    va_start(ap, fmt);
    detail_vformat(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    return (int)v->n_reasons++;
}

/* add_reason() for a detail that is the concatenation of head, var (at
 * most var_max bytes, up to a NUL, as %s reads a copy cut at var_max),
 * tail and suffix, cut at the detail's capacity: what detail_vformat
 * writes for "head%s<tail>suffix", without scanning a format.  id, head,
 * tail and suffix come with their lengths (no NUL in them).  For the
 * volume reasons, one per message of a busy sender, whose tails are
 * formatted once per engine (vol_tail): tail is such a buffer, all of
 * whose VOL_TAIL_CAP bytes are copied in one go (a constant-size copy is
 * a few moves, a call of memcpy with its length was the larger part of
 * this function), the bytes past tail_len overwritten after. */
static inline int add_reason_cat(struct verdict *v, enum verdict_reason_type t, const char *id,
                                 size_t id_len, const char *head, size_t head_len, const char *var,
                                 size_t var_max, const char tail[VOL_TAIL_CAP], size_t tail_len,
                                 const char *suffix, size_t suffix_len)
{
    if (v->n_reasons >= VERDICT_MAX_REASONS) {
        v->reasons_dropped++;
        return -1;
    }
    struct verdict_reason *r = &v->reasons[v->n_reasons];
    r->type = t;
    r->score = 0;
    _Static_assert(sizeof "volume-fingerprint" <= VERDICT_ID_MAX, "the volume ids fit");
    memcpy(r->id, id, id_len);
    r->id[id_len] = '\0';
    char *out = r->detail;
    const size_t room = sizeof r->detail - 1;
    /* head and the variable part always fit: a short word and a view cut
     * at 39 bytes (vstr's buffers) */
    _Static_assert(sizeof "account " + 40 <= VERDICT_DETAIL_MAX, "head and var fit");
    size_t o = head_len, n;
    memcpy(out, head, head_len);
    n = var ? strnlen(var, var_max) : 0;
    if (n)
        memcpy(out + o, var, n);
    o += n;
    /* the whole tail buffer fits after them: no cut */
    _Static_assert(sizeof "account " - 1 + 39 + VOL_TAIL_CAP <= VERDICT_DETAIL_MAX - 1, "the tail fits");
    memcpy(out + o, tail, VOL_TAIL_CAP);
    o += tail_len;
    if (suffix_len) { /* a verified sender's note: rare */
        n = suffix_len < room - o ? suffix_len : room - o;
        memcpy(out + o, suffix, n);
        o += n;
    }
    out[o] = '\0';
    return (int)v->n_reasons++;
}

void verdict_fingerprint_hex(uint64_t fp, char out[17])
{
    /* Two digits per octet: eight steps, not sixteen (it runs for every
     * message, and for its log row and output again). */
    for (int i = 7; i >= 0; i--) {
        memcpy(out + 2 * i, sg_hex_pairs + 2 * (fp & 0xFF), 2);
        fp >>= 8;
    }
    out[16] = '\0';
}

static enum verdict_action from_score(const struct verdict_config *c, int score)
{
    if (score >= c->block_at)
        return VERDICT_BLOCK;
    if (score >= c->flag_at)
        return VERDICT_FLAG;
    return VERDICT_ALLOW;
}

/* A forced action from a stage: the strongest wins; the first reason to
 * force the strongest is the one that decided. */
struct forced {
    enum verdict_action action;
    int reason;
};

static void force(struct forced *f, enum verdict_action a, int reason)
{
    if (a > f->action) {
        f->action = a;
        f->reason = reason;
    }
}

/* Rules already counted in this message (the domain field is scanned
 * once per URL host, so one rule may hit twice). */
struct rule_acc {
    uint32_t seen[64];
    unsigned n;
    struct rules_hits hits; /* of the last scan, into w->hit_idx */
};

/* Turns the hits of one field's scan into reasons, score and forced
 * actions.  Shadow rules are recorded apart and never act.  Out of line:
 * most scans hit nothing, and scan_field then skips it and its frame. */
static __attribute__((noinline)) void scan_field_hits(verdict_worker_t *w, const rules_db_t *db,
                                                      enum rules_field field,
                                                      const struct rules_hits *hits,
                                                      struct verdict *v, struct forced *forced,
                                                      struct rule_acc *acc)
{
    verdict_engine_t *e = w->e;
    if (hits->dropped)
        COUNT(e, rule_hits_dropped);
    /* Bound: hits.n <= 256 per field, acc <= 64 entries. */
    for (uint32_t i = 0; i < hits->n; i++) {
        uint32_t idx = hits->idx[i];
        int dup = 0;
        for (unsigned j = 0; j < acc->n && !dup; j++)
            dup = acc->seen[j] == idx;
        if (dup)
            continue;
        if (acc->n < SG_ARRAY_LEN(acc->seen))
            acc->seen[acc->n++] = idx;
        const char *rid = rules_db_rule_id(db, idx);
        enum rules_state state = rules_db_rule_state(db, idx);
        if (state == RULES_STATE_SHADOW) {
            COUNT(e, shadow_hits);
            if (v->n_shadow < VERDICT_MAX_SHADOW)
                snprintf(v->shadow[v->n_shadow++], VERDICT_ID_MAX, "%s", rid);
            continue;
        }
        if (state != RULES_STATE_ENABLED)
            continue;
        int score = rules_db_rule_score(db, idx);
        enum rules_action ra = rules_db_rule_action(db, idx);
        int r = add_reason(v, VERDICT_R_RULE, rid, score, "%s: %s", rules_field_name(field),
                           rules_db_rule_name(db, idx));
        v->score += score;
        if (ra == RULES_ACTION_BLOCK)
            force(forced, VERDICT_BLOCK, r);
        else if (ra == RULES_ACTION_FLAG)
            force(forced, VERDICT_FLAG, r);
    }
}

/* Scans one field (three or four times a message); the hits, when there
 * are any, go to scan_field_hits. */
static inline void scan_field(verdict_worker_t *w, const rules_db_t *db, enum rules_field field,
                              const char *data, size_t len, struct verdict *v,
                              struct forced *forced, struct rule_acc *acc)
{
    /* acc->hits: set up once a message; rules_scan clears n and dropped */
    if (rules_scan(db, w->scratch, field, data, len, &acc->hits, NULL, NULL) != 0)
        return;
    if (acc->hits.n | acc->hits.dropped)
        scan_field_hits(w, db, field, &acc->hits, v, forced, acc);
}

/* An alphanumeric sender ID (TON 5, v3.4 §5.2.5, or any letter in it) is a
 * registered brand or service name, not a subscriber's number. */
static int sender_is_alphanumeric(const struct verdict_input *in)
{
    if (in->source_ton == 5)
        return 1;
    for (size_t i = 0; i < in->source_addr.len; i++) {
        uint8_t c = in->source_addr.p[i];
        if (!(c >= '0' && c <= '9') && c != '+')
            return 1;
    }
    return 0;
}

/* Recipient key: the normalised MSISDN, or the digits as sent when it does
 * not normalise (alphanumeric or over-long destination). */
static size_t recipient_key(const verdict_engine_t *e, const struct sg_view *d, char *out, size_t cap)
{
    /* at most 63 bytes of the address, as when it was copied to a
     * 64-byte buffer for msisdn_normalise */
    size_t n = d->len < 63 ? d->len : 63;
    const char *buf = n ? (const char *)d->p : "";
    int r = msisdn_normalise_n(buf, n, e->cfg.country_code, e->cfg.trunk_prefix, out, cap);
    if (r > 0)
        return (size_t)r;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        if (buf[i] >= '0' && buf[i] <= '9')
            out[o++] = buf[i];
    if (o == 0) /* no digit at all: keep it as sent */
        for (size_t i = 0; i < n && o + 1 < cap; i++)
            out[o++] = buf[i];
    out[o] = '\0';
    return o;
}

/* The fingerprint's hex in buf, written on the first call (buf "" before). */
static const char *fp_hex_once(char buf[17], uint64_t fp)
{
    if (!buf[0])
        verdict_fingerprint_hex(fp, buf);
    return buf;
}

/* Copies a view for printing in a detail line, bounded. */
static const char *vstr(const struct sg_view *v, char *buf, size_t cap)
{
    size_t n = v->len < cap - 1 ? v->len : cap - 1;
    if (n)
        memcpy(buf, v->p, n);
    buf[n] = '\0';
    return buf;
}

static void collect_urls(struct content *c, const char *raw, size_t rawlen, const char *norm,
                         size_t normlen, int norm_case_only)
{
    size_t max = SG_ARRAY_LEN(c->urls);
    c->n_urls = url_extract(raw, rawlen, c->urls, max);
    /* The normalised text also yields hosts spelled with look-alike or
     * padded letters ("qіwі-secure.xyz" with Cyrillic і); add the new ones.
     * Host names are lower-cased as extracted, so a text that
     * normalisation only lower-cased holds no new one. */
    if (norm_case_only)
        return;
    struct url_hit more[4];
    size_t m = url_extract(norm, normlen, more, SG_ARRAY_LEN(more));
    for (size_t i = 0; i < m && c->n_urls < max; i++) {
        int dup = 0;
        for (size_t j = 0; j < c->n_urls && !dup; j++)
            dup = c->urls[j].host_len == more[i].host_len &&
                  memcmp(c->urls[j].host, more[i].host, more[i].host_len) == 0;
        if (!dup)
            c->urls[c->n_urls++] = more[i];
    }
}

/* ---- the judgement ----------------------------------------------------------------- */

/* Every field of v as for a message with no reason: allow. */
static void verdict_clear(struct verdict *v)
{
    v->action = VERDICT_ALLOW;
    v->score = 0;
    v->n_reasons = 0;
    v->reasons_dropped = 0;
    v->decided_by = -1;
    v->alert = 0;
    v->verified = 0;
    v->fingerprint = 0;
    v->n_shadow = 0;
    v->snippet[0] = '\0';
}

/* A field the vector's content stage scanned, judged: its hits counted now
 * that the message has reached its rules; a field in scan_late is scanned
 * now, counted, as scan_field() does. */
static inline void take_field(verdict_worker_t *w, const rules_db_t *db, const struct content *c,
                              enum rules_field field, const char *data, size_t len,
                              struct verdict *v, struct forced *forced, struct rule_acc *acc)
{
    if (c->scan_late & 1u << field) {
        scan_field(w, db, field, data, len, v, forced, acc);
        return;
    }
    const struct rules_hits *h = &c->hits[field];
    if (h->n) {
        rules_db_count_hits(db, h->idx, h->n);
        scan_field_hits(w, db, field, h, v, forced, acc);
    }
}

/* Steps 1 to 8 for one message whose content stage is done (c): the
 * stateful part of the judgement, run for a vector's messages in order. */
static void judge_one(verdict_worker_t *w, const struct verdict_input *in, struct verdict *v,
                      const struct content *c)
{
    verdict_clear(v);
    verdict_engine_t *e = w->e;
    const struct verdict_config *cfg = &e->cfg;
    const lists_t *L = w->h[H_LISTS] ? w->h[H_LISTS]->a : NULL;
    const rules_db_t *db = w->h[H_RULES] && w->scratch ? w->h[H_RULES]->a : NULL;
    const domain_set_t *bad = w->h[H_DOMAINS] ? w->h[H_DOMAINS]->a : NULL;
    const domain_set_t *shorteners = w->h[H_DOMAINS] ? w->h[H_DOMAINS]->b : NULL;

    const char *sender = (const char *)in->source_addr.p;
    size_t sender_len = sender ? in->source_addr.len : 0;
    if (!sender)
        sender = "";
    /* Keys (content_keys); their volume counters were fetched ahead. */
    const size_t skey_len = c->skey_len;
    const char *const skey = sender + c->skey_skip;
    const uint64_t sender_vkey = c->sender_vkey, account_vkey = c->account_vkey;
    const int64_t now = in->now;
    const uint32_t now_s = (uint32_t)(in->ts / 1000000u);
    /* Sender and account as printed in a reason, and the fingerprint's
     * hex, are spelled where a reason or a list needs them: most messages
     * need none. */
    char sbuf[40], abuf[40], fphex_buf[17] = "";
#define sender_p vstr(&in->source_addr, sbuf, sizeof sbuf)
/* A string literal as (pointer, length); a view's bytes that vstr would
 * keep in buf. */
#define LIT(s) s, sizeof s - 1
#define VIEW_MAX(len, buf) ((len) < sizeof buf - 1 ? (len) : sizeof buf - 1)
#define account_p vstr(&in->account, abuf, sizeof abuf)
#define fphex fp_hex_once(fphex_buf, v->fingerprint)

    /* Text: normalised once (content_text), used by the fingerprint, the
     * rules, URLs. */
    const char *text = in->text ? in->text : "";
    size_t text_len = in->text ? in->text_len : 0;
    const int has_text = c->has_text;
    const size_t normlen = c->normlen;
    if (has_text) {
        v->fingerprint = c->fp;
        if (w->snippet)
            norm_redact_digits(text, text_len, v->snippet, sizeof v->snippet);
    }

    struct forced forced = {VERDICT_ALLOW, -1};
    int wl_reason = -1;

    /* 1. Verified whitelist and anti-spoofing. */
    const struct lists_whitelist_entry *wl = NULL;
    enum lists_wl_result wr = LISTS_WL_NONE;
    if (w->lc.whitelist) {
        struct lists_origin origin = {(const char *)in->account.p, in->account.p ? in->account.len : 0,
                                      in->src_ip};
        wr = lists_whitelist_check(L, sender, sender_len, in->source_ton, &origin, now, &wl);
    }
    if (wr == LISTS_WL_UNVERIFIABLE && !cfg->trust_unknown_account)
        wr = LISTS_WL_SPOOFED;
    if (wr == LISTS_WL_VERIFIED || wr == LISTS_WL_UNVERIFIABLE) {
        char id[32];
        snprintf(id, sizeof id, "wl-%" PRId64, wl->id);
        v->verified = 1;
        if (wr == LISTS_WL_VERIFIED) {
            wl_reason = add_reason(v, VERDICT_R_WHITELIST, id, 0,
                                   "verified sender %s (%s) from account %s",
                                   wl->sender, wl->provider ? wl->provider : "?",
                                   in->account.len ? account_p : "(any)");
        } else {
            wl_reason = add_reason(v, VERDICT_R_WHITELIST, id, 0,
                                   "protected sender %s (%s): account unknown, origin not verified",
                                   wl->sender, wl->provider ? wl->provider : "?");
            v->alert = 1;
        }
    } else if (wr == LISTS_WL_SPOOFED) {
        char id[32];
        snprintf(id, sizeof id, "wl-%" PRId64, wl->id);
        int r = add_reason(v, VERDICT_R_SPOOFING, id, 0,
                           "protected sender %s (%s) from account %s, bound to %s%s%s",
                           wl->sender, wl->provider ? wl->provider : "?",
                           in->account.len ? account_p : "(unknown)",
                           wl->account ? wl->account : "(any account)",
                           wl->source_cidrs ? " " : "",
                           wl->source_cidrs ? wl->source_cidrs : "");
        force(&forced, VERDICT_BLOCK, r);
        v->alert = 1;
        goto decide;
    } else if (sender_len && w->lc.lookalike_keys) {
        /* 2. Look-alike of a protected sender. */
        char skel[64];
        size_t sl = 0;
        int r = norm_sender(w->nc, sender, sender_len, skel, sizeof skel, &sl);
        const struct lists_whitelist_entry *la =
            (r == 0 || r == SG_ENOSPC) && sl ? lists_lookalike_find(L, skel, sl, now) : NULL;
        if (la) {
            char id[32];
            snprintf(id, sizeof id, "wl-%" PRId64, la->id);
            int score = cfg->lookalike_score;
            int ri = add_reason(v, VERDICT_R_LOOKALIKE, id, score,
                                "sender %s looks like protected %s (%s)", sender_p, la->sender,
                                la->provider ? la->provider : "?");
            v->alert = 1;
            if (score == 0) {
                force(&forced, VERDICT_BLOCK, ri);
                goto decide;
            }
            v->score += score;
        }
    }

    /* 3. Exceptions: one sender to one subscriber. */
    const char *const rcpt = c->rcpt;
    const size_t rcpt_len = c->rcpt_len;
    const uint64_t rcpt_hash = c->rcpt_hash;
    if (!v->verified && w->lc.exceptions) {
        const struct lists_exception_entry *x =
            lists_exception_find(L, sender, sender_len, rcpt, rcpt_len, now);
        if (x) {
            char id[32];
            snprintf(id, sizeof id, "ex-%" PRId64, x->id);
            int r = add_reason(v, VERDICT_R_EXCEPTION, id, 0,
                               "sender %s allowed to this subscriber: %s%s%s", sender_p,
                               x->reason ? x->reason : "", x->ticket ? ", ticket " : "",
                               x->ticket ? x->ticket : "");
            v->action = VERDICT_ALLOW;
            v->decided_by = r;
            v->score = 0;
            goto done;
        }
    }

    /* URLs: from content_text, for the domain blacklist (4) and the
     * domain lists (6). */

    /* 4. Blacklist.  An automatic entry never applies to a verified sender;
     * a manual one does. */
    {
        const struct lists_blacklist_entry *b = NULL;
        const char *what = NULL, *val = NULL;
        char hit_val[URL_HOST_MAX];
        const int bl_live = w->lc.blacklist > w->lc.blacklist_cleared; /* else no find can hit */
        b = bl_live ? lists_blacklist_find(L, LISTS_BL_SENDER, sender, sender_len, now) : NULL;
        if (b && !(b->automatic && v->verified)) {
            what = "sender";
            val = sender_p;
        } else
            b = NULL;
        if (!b && bl_live && in->account.len) {
            b = lists_blacklist_find(L, LISTS_BL_ACCOUNT, (const char *)in->account.p,
                                     in->account.len, now);
            if (b && !(b->automatic && v->verified)) {
                what = "account";
                val = account_p;
            } else
                b = NULL;
        }
        for (size_t u = 0; bl_live && !b && u < c->n_urls; u++) {
            const struct url_hit *h = &c->urls[u];
            for (long off = 0; !b && off >= 0; off = url_next_parent(h->host, h->host_len, (size_t)off)) {
                b = lists_blacklist_find(L, LISTS_BL_DOMAIN, h->host + off, h->host_len - (size_t)off, now);
                if (b && b->automatic && v->verified)
                    b = NULL;
                if (b) {
                    what = "domain";
                    snprintf(hit_val, sizeof hit_val, "%s", h->host + off);
                    val = hit_val;
                }
            }
        }
        if (!b && bl_live && has_text) {
            b = lists_blacklist_find(L, LISTS_BL_FINGERPRINT, fphex, 16, now);
            if (b && !(b->automatic && v->verified)) {
                what = "fingerprint";
                val = fphex;
            } else
                b = NULL;
        }
        if (b) {
            char id[32];
            snprintf(id, sizeof id, "bl-%" PRId64, b->id);
            int r = add_reason(v, VERDICT_R_BLACKLIST, id, 0, "%s %s blacklisted (%s): %s", what,
                               val, b->automatic ? "automatic" : "manual",
                               b->reason ? b->reason : "");
            force(&forced, VERDICT_BLOCK, r);
            goto decide;
        }
        if (!v->verified) {
            int ov = 0;
            if (overlay_has(e, LISTS_BL_SENDER, ov_hash(LISTS_BL_SENDER, sender_vkey), skey, skey_len,
                            now)) {
                what = "sender";
                val = sender_p;
                ov = 1;
            } else if (has_text && overlay_maybe(e, ov_hash(LISTS_BL_FINGERPRINT, v->fingerprint)) &&
                       overlay_has(e, LISTS_BL_FINGERPRINT, ov_hash(LISTS_BL_FINGERPRINT, v->fingerprint),
                                   fphex, 16, now)) {
                what = "fingerprint";
                val = fphex;
                ov = 1;
            }
            if (ov) {
                int r = add_reason(v, VERDICT_R_BLACKLIST, "auto", 0,
                                   "%s %s blacklisted (automatic, pending store)", what, val);
                force(&forced, VERDICT_BLOCK, r);
                goto decide;
            }
        }
    }

    /* 5. Content rules: normalised text, raw text, sender, domains. */
    if (db && has_text) {
        struct rule_acc acc;
        acc.n = 0; /* seen[] is read only below n */
        acc.hits = (struct rules_hits){w->hit_idx, (uint32_t)SG_ARRAY_LEN(w->hit_idx), 0, 0};
        take_field(w, db, c, RULES_FIELD_TEXT, c->norm, normlen, v, &forced, &acc);
        take_field(w, db, c, RULES_FIELD_RAW, text, text_len, v, &forced, &acc);
        if (sender_len)
            take_field(w, db, c, RULES_FIELD_SENDER, sender, sender_len, v, &forced, &acc);
        const size_t n_dom = w->scan_domains ? c->n_urls : 0;
        for (size_t u = 0; u < n_dom; u++)
            scan_field(w, db, RULES_FIELD_DOMAIN, c->urls[u].host, c->urls[u].host_len, v,
                       &forced, &acc);
    }

    /* 6. Domains: lists (domain and parents), shorteners, defanged URLs. */
    {
        int defanged = 0;
        for (size_t u = 0; u < c->n_urls; u++) {
            const struct url_hit *h = &c->urls[u];
            const struct domain_entry *d = w->bad_domains ? domain_set_match(bad, h->host, h->host_len) : NULL;
            if (d) {
                add_reason(v, VERDICT_R_DOMAIN, d->domain, d->score, "URL host %s listed in domains.list:%u",
                           h->host, d->line);
                v->score += d->score;
            } else if (w->short_domains && (d = domain_set_match(shorteners, h->host, h->host_len)) != NULL) {
                add_reason(v, VERDICT_R_DOMAIN, d->domain, d->score, "URL shortener %s", h->host);
                v->score += d->score;
            }
            if (h->flags & (URL_F_DEFANGED | URL_F_USERINFO))
                defanged = 1;
        }
        if (defanged && cfg->defanged_url_score) {
            add_reason(v, VERDICT_R_DOMAIN, "obfuscated-url", cfg->defanged_url_score,
                       "URL written to dodge filters (hxxp, [.] or user@host)");
            v->score += cfg->defanged_url_score;
        }
    }

    /* 7. Volume: distinct recipients per sender, fingerprint, account. */
    {
        int sender_grace = w->lc.blacklist_cleared && cfg->clear_grace_s &&
                           lists_blacklist_cleared_within(L, LISTS_BL_SENDER, sender, sender_len, now,
                                                          cfg->clear_grace_s) != NULL;
        int fp_grace = w->lc.blacklist_cleared && cfg->clear_grace_s && has_text &&
                       lists_blacklist_cleared_within(L, LISTS_BL_FINGERPRINT, fphex, 16, now,
                                                      cfg->clear_grace_s) != NULL;
        int count_fp = has_text && !v->verified && e->v_fp && normlen >= cfg->fingerprint_min_len;
        uint64_t rh = rcpt_hash;
        unsigned n_sender = 0, n_fp = 0, n_acct = 0;
        vol_lock(&e->vol_busy);
        if (e->v_sender && sender_len)
            n_sender = volume_observe(e->v_sender, sender_vkey, rh, now_s);
        if (count_fp)
            n_fp = volume_observe(e->v_fp, v->fingerprint, rh, now_s);
        if (e->v_account && in->account.len)
            n_acct = volume_observe(e->v_account, account_vkey, rh, now_s);
        vol_unlock(&e->vol_busy);

        int t_sender = e->v_sender && n_sender > cfg->sender_max_recipients;
        int t_fp = count_fp && n_fp > cfg->fingerprint_max_recipients;
        int t_acct = e->v_account && n_acct > cfg->account_max_recipients && !v->verified;
        if ((t_sender || t_fp || t_acct) && sender_grace) {
            /* A cleared sender is exempt from volume rules during grace: a
             * clear from the call centre must not be undone by the next
             * burst of traffic. */
            COUNT(e, volume_exempt_grace);
            t_sender = t_fp = t_acct = 0;
        }
        if (t_fp && fp_grace) {
            COUNT(e, volume_exempt_grace);
            t_fp = 0;
        }
        /* What a sender or fingerprint trigger does here (see
         * volume_corroborate_score): full action for numeric senders or when
         * the content already looks like spam, a flag otherwise. */
        int corroborated = cfg->volume_corroborate_score <= 0 || v->score >= cfg->volume_corroborate_score;
        enum verdict_action vol_action = cfg->volume_action;
        if (!corroborated && t_sender && vol_action > VERDICT_FLAG && sender_is_alphanumeric(in)) {
            vol_action = VERDICT_FLAG;
            COUNT(e, volume_uncorroborated);
        }
        /* One text to many recipients is how templates work too (a shop's
         * notices, a greeting): the fingerprint trigger always needs the
         * content to corroborate it. */
        enum verdict_action fp_action = cfg->volume_action;
        if (!corroborated && fp_action > VERDICT_FLAG && t_fp) {
            fp_action = VERDICT_FLAG;
            COUNT(e, volume_uncorroborated);
        }
        if (t_sender) {
            /* "sender %s reached more than %u distinct recipients in %u s%s" */
            static const char verified_note[] = " (verified sender: not acted on)";
            int r = add_reason_cat(v, VERDICT_R_VOLUME, LIT("volume-sender"), LIT("sender "), sender,
                                   VIEW_MAX(sender_len, sbuf), e->vol_tail[0], e->vol_tail_len[0],
                                   verified_note, v->verified ? sizeof verified_note - 1 : 0);
            if (v->verified) {
                v->alert = 1;
            } else {
                force(&forced, vol_action, r);
                if (cfg->auto_blacklist && vol_action == VERDICT_BLOCK) {
                    char why[VERDICT_DETAIL_MAX];
                    snprintf(why, sizeof why, "volume: more than %u recipients in %u s",
                             cfg->sender_max_recipients, cfg->window_s);
                    overlay_add(e, LISTS_BL_SENDER, ov_hash(LISTS_BL_SENDER, sender_vkey), skey, skey_len,
                                now, why);
                    v->alert = 1;
                }
            }
        }
        if (t_fp) {
            int r = add_reason_cat(v, VERDICT_R_VOLUME, LIT("volume-fingerprint"), LIT("text "),
                                   fphex, 16,
                                   e->vol_tail[1], e->vol_tail_len[1], "", 0);
            force(&forced, fp_action, r);
            if (cfg->auto_blacklist && fp_action == VERDICT_BLOCK) {
                char why[VERDICT_DETAIL_MAX];
                snprintf(why, sizeof why, "volume: one text to more than %u recipients in %u s",
                         cfg->fingerprint_max_recipients, cfg->window_s);
                overlay_add(e, LISTS_BL_FINGERPRINT, ov_hash(LISTS_BL_FINGERPRINT, v->fingerprint), fphex,
                                16, now, why);
                v->alert = 1;
            }
        }
        if (t_acct) {
            int r = add_reason_cat(v, VERDICT_R_VOLUME, LIT("volume-account"), LIT("account "),
                                   (const char *)in->account.p, VIEW_MAX(in->account.len, abuf),
                                   e->vol_tail[2], e->vol_tail_len[2], "", 0);
            force(&forced, cfg->account_volume_action, r);
        }
        (void)fp_grace;
    }

decide:
    /* 8. Score and action. */
    {
        enum verdict_action by_score = from_score(cfg, v->score);
        enum verdict_action a = by_score > forced.action ? by_score : forced.action;
        v->decided_by = forced.action >= by_score && forced.action > VERDICT_ALLOW ? forced.reason : -1;
        if (v->verified && a != VERDICT_ALLOW) {
            /* Verified: never blocked by content, domains or volume alone;
             * a manual blacklist entry is the one thing that stops it, and
             * that case left through stage 4 with forced set to block by a
             * blacklist reason. */
            int by_bl = forced.reason >= 0 && v->reasons[forced.reason].type == VERDICT_R_BLACKLIST;
            if (!by_bl) {
                if (a == VERDICT_BLOCK)
                    v->alert = 1;
                a = VERDICT_ALLOW;
                v->decided_by = wl_reason;
            }
        } else if (v->verified) {
            v->decided_by = wl_reason;
        }
        v->action = a;
    }

done:
    COUNT(e, messages);
    atomic_fetch_add_explicit(&e->c.by_action[v->action], 1, memory_order_relaxed);
    {
        unsigned seen = 0;
        for (unsigned i = 0; i < v->n_reasons; i++)
            if (!(seen & (1u << v->reasons[i].type))) {
                seen |= 1u << v->reasons[i].type;
                atomic_fetch_add_explicit(&e->c.by_reason[v->reasons[i].type], 1,
                                          memory_order_relaxed);
            }
    }
    if (v->alert)
        COUNT(e, alerts);
#undef sender_p
#undef account_p
#undef LIT
#undef VIEW_MAX
#undef fphex
}

/* ---- vectors: the content stages, then the rest in order ----------------------- */

/* Where the content stage keeps the hits of message j's field. */
static inline struct rules_hits content_hit_list(verdict_worker_t *w, size_t j, enum rules_field field)
{
    return (struct rules_hits){w->content_hits + (j * CONTENT_FIELDS + field) * CONTENT_HITS,
                               CONTENT_HITS, 0, 0};
}

/* The fields whose hits the text memo keeps, in its order. */
static const enum rules_field memo_fields[TEXT_MEMO_FIELDS] = {RULES_FIELD_TEXT, RULES_FIELD_RAW};

/* The content stage's findings for a text, from the memo: the normalised
 * text into buf (which has room: the caller reserved four times the text),
 * the rest into c, the hits into their lists. */
static void content_from_memo(verdict_worker_t *w, struct content *c, const struct text_memo_value *mv,
                              char *buf)
{
    memcpy(buf, mv->norm, (size_t)mv->normlen + 1);
    c->normlen = mv->normlen;
    c->fp = mv->fp;
    c->case_only = mv->case_only;
    c->n_urls = mv->n_urls;
    memcpy(c->urls, mv->urls, mv->n_urls * sizeof *mv->urls);
    const size_t j = (size_t)(c - w->content);
    for (int k = 0; k < TEXT_MEMO_FIELDS; k++) {
        struct rules_hits *h = &c->hits[memo_fields[k]];
        *h = content_hit_list(w, j, memo_fields[k]);
        memcpy(h->idx, mv->hits[k], mv->n_hits[k] * sizeof *h->idx);
        h->n = mv->n_hits[k];
    }
    c->memo = MEMO_FOUND;
    COUNT(w->e, text_memo_hits);
}

/* Message j's findings into the memo, when the memo admitted its text and
 * its scans are whole (none failed or overflowed, none left for later). */
static void content_to_memo(verdict_worker_t *w, const struct verdict_input *in, size_t j)
{
    const struct content *c = &w->content[j];
    if (c->memo != MEMO_STORE || c->scan_late)
        return;
    struct text_memo_findings f = {
        .fp = c->fp, .norm = c->norm, .normlen = c->normlen, .case_only = c->case_only,
        .urls = c->urls, .n_urls = c->n_urls,
    };
    for (int k = 0; k < TEXT_MEMO_FIELDS; k++) {
        f.hits[k] = c->hits[memo_fields[k]].idx;
        f.n_hits[k] = c->hits[memo_fields[k]].n;
    }
    (void)text_memo_store(w->memo, c->memo_hash, in->text, in->text_len, &f);
}

/* The content stage's first part for one message: the normalised text
 * into buf (cap bytes), its fingerprint, and the URLs of both texts.
 * A text that does not fit a buffer that is not the whole (first) one
 * returns SG_ENOSPC, counting nothing: the caller gives it the whole
 * buffer, so it is normalised, cut or not, exactly as it would be alone. */
static int content_text(verdict_worker_t *w, const struct verdict_input *in, struct content *c,
                        char *buf, size_t cap, int whole)
{
    const char *text = in->text ? in->text : "";
    size_t text_len = in->text ? in->text_len : 0;
    c->has_text = !in->is_binary && text_len > 0;
    c->case_only = 0;
    c->norm = buf;
    c->normlen = 0;
    c->fp = 0;
    c->scan_late = 0;
    c->n_urls = 0;
    c->memo = MEMO_NONE;
    for (int f = 0; f < CONTENT_FIELDS; f++)
        c->hits[f].n = c->hits[f].dropped = 0;
    buf[0] = '\0';
    if (!c->has_text)
        return 0;
    if (w->e->cfg.text_memo_entries && text_len <= TEXT_MEMO_TEXT_MAX) {
        c->memo_hash = text_memo_hash(text, text_len);
        const struct text_memo_value *mv = text_memo_find(w->memo, c->memo_hash, text, text_len);
        if (mv && mv->normlen < cap) {
            content_from_memo(w, c, mv, buf);
            return 0;
        }
        if (text_memo_admit(w->memo, c->memo_hash, text_len))
            c->memo = MEMO_STORE;
    }
    size_t normlen = 0;
    int r = norm_text(w->nc, text, text_len, buf, cap, &normlen, NORM_FINGERPRINT);
    if (r == SG_ENOSPC && !whole)
        return SG_ENOSPC;
    const uint64_t fp = norm_last(w->nc, &c->case_only); /* one call for both */
    c->case_only &= r == 0;
    if (r == SG_ENOSPC)
        COUNT(w->e, norm_truncated);
    else if (r != 0)
        normlen = 0;
    /* taken as the text was written (text-norm.h), or of nothing */
    c->fp = r == 0 || r == SG_ENOSPC ? fp : norm_fingerprint(buf, 0);
    c->normlen = normlen;
    collect_urls(c, text, text_len, buf, normlen, c->case_only);
    return 0;
}

/* The content stage's scans of a vector's messages [from, to), a field at
 * a time: one Hyperscan database, its code and its tables, for all of
 * them in a row (text, raw, sender).  Hits are kept uncounted (take_field
 * counts them). */
static void content_scan(verdict_worker_t *w, const rules_db_t *db, const struct verdict_input *in,
                         size_t from, size_t to)
{
    static const enum rules_field fields[] = {RULES_FIELD_TEXT, RULES_FIELD_RAW, RULES_FIELD_SENDER};
    for (size_t fi = 0; fi < SG_ARRAY_LEN(fields); fi++) {
        const enum rules_field field = fields[fi];
        for (size_t j = from; j < to; j++) {
            struct content *c = &w->content[j];
            const char *data;
            size_t len;
            if (!c->has_text || c->scan_late & 1u << field ||
                (c->memo == MEMO_FOUND && field != RULES_FIELD_SENDER))
                continue;
            if (field == RULES_FIELD_TEXT) {
                data = c->norm;
                len = c->normlen;
            } else if (field == RULES_FIELD_RAW) {
                data = in[j].text;
                len = in[j].text_len;
            } else {
                data = (const char *)in[j].source_addr.p;
                len = data ? in[j].source_addr.len : 0;
                if (!len)
                    continue;
            }
            struct rules_hits *h = &c->hits[field];
            *h = content_hit_list(w, j, field);
            if (rules_scan_uncounted(db, w->scratch, field, data, len, h) != 0) {
                h->n = h->dropped = 0; /* as scan_field: a failed scan adds nothing */
                c->memo = MEMO_NONE;   /* and what it found is not the text's */
            } else if (h->dropped) {
                c->scan_late |= 1u << field;
            }
        }
    }
}

/* The content stage's keys for one message: the sender's list key and the
 * hashes of the volume counters' keys and of the recipient. */
static void content_keys(verdict_worker_t *w, const struct verdict_input *in, struct content *c)
{
    const char *sender = (const char *)in->source_addr.p;
    size_t sender_len = sender ? in->source_addr.len : 0;
    /* The sender's list key (lists.h), a run of its own bytes: at most 63
     * of them, as the 64-byte copy it replaces held */
    c->skey_len = lists_sender_key_span(sender ? sender : "", sender_len, 63, &c->skey_skip);
    c->sender_vkey = XXH3_64bits((sender ? sender : "") + c->skey_skip, c->skey_len);
    c->account_vkey = in->account.len ? XXH3_64bits(in->account.p, in->account.len) : 0;
    c->rcpt_len = recipient_key(w->e, &in->dest_addr, c->rcpt, sizeof c->rcpt);
    c->rcpt_hash = XXH3_64bits(c->rcpt, c->rcpt_len);
}

/* The volume counters a message will observe (step 7), fetched in two
 * steps: the buckets (volume_prefetch) as the vector's content stage
 * reaches it, then, once they have arrived, the recipient sets they point
 * to (volume_prefetch_set), while the message before it is judged.  Hints
 * only: they change nothing. */
static void prefetch_buckets(const verdict_engine_t *e, const struct verdict_input *in,
                             const struct content *c)
{
    if (in->source_addr.p && in->source_addr.len)
        volume_prefetch(e->v_sender, c->sender_vkey);
    if (c->has_text && c->normlen >= e->cfg.fingerprint_min_len)
        volume_prefetch(e->v_fp, c->fp);
    if (in->account.len)
        volume_prefetch(e->v_account, c->account_vkey);
}

static void prefetch_sets(const verdict_engine_t *e, const struct verdict_input *in,
                          const struct content *c)
{
    if (in->source_addr.p && in->source_addr.len)
        volume_prefetch_set(e->v_sender, c->sender_vkey, c->rcpt_hash);
    if (c->has_text && c->normlen >= e->cfg.fingerprint_min_len)
        volume_prefetch_set(e->v_fp, c->fp, c->rcpt_hash);
    if (in->account.len)
        volume_prefetch_set(e->v_account, c->account_vkey, c->rcpt_hash);
}

int verdict_judge(verdict_worker_t *w, const struct verdict_input *in, struct verdict *v)
{
    return verdict_judge_batch(w, in, v, 1);
}

int verdict_judge_batch(verdict_worker_t *w, const struct verdict_input *in, struct verdict *out,
                        size_t n)
{
    if (!out)
        return SG_EINVAL;
    if (!w || !in || n > VERDICT_BATCH_MAX) {
        for (size_t i = 0; i < n; i++)
            verdict_clear(&out[i]);
        return SG_EINVAL;
    }
    worker_refresh(w);
    const rules_db_t *db = w->h[H_RULES] && w->scratch ? w->h[H_RULES]->a : NULL;
    _Static_assert(RULES_FIELD_TEXT < CONTENT_FIELDS && RULES_FIELD_RAW < CONTENT_FIELDS &&
                       RULES_FIELD_SENDER < CONTENT_FIELDS,
                   "content keeps the hits of fields text, raw and sender");
    for (size_t i = 0; i < n;) {
        /* Normalised texts and URLs, the texts one after another in
         * w->norm, each on its own cache lines; the vector ends where the
         * next text might not fit. */
        size_t k = i, used = 0;
        while (k < n) {
            size_t len = in[k].text ? in[k].text_len : 0;
            size_t need = len < (w->norm_cap - 16) / NORM_MAX_EXPANSION
                              ? len * NORM_MAX_EXPANSION + 16 : w->norm_cap;
            if (k > i && w->norm_cap - used < need)
                break;
            struct content *c = &w->content[k];
            if (content_text(w, &in[k], c, w->norm + used, w->norm_cap - used, used == 0) != 0)
                break;
            content_keys(w, &in[k], c);
            prefetch_buckets(w->e, &in[k], c);
            /* A flood the volume rule has blacklisted goes on until the
             * store has the entry: its messages stop at step 4, and
             * scanning them ahead would be wasted (a guess: one that gets
             * to its rules after all is scanned then). */
            if (c->has_text && (overlay_maybe(w->e, ov_hash(LISTS_BL_SENDER, c->sender_vkey)) ||
                                overlay_maybe(w->e, ov_hash(LISTS_BL_FINGERPRINT, c->fp))))
                c->scan_late = (1u << CONTENT_FIELDS) - 1;
            used += (c->normlen + 64) & ~(size_t)63; /* past its NUL */
            used = used < w->norm_cap ? used : w->norm_cap;
            k++;
        }
        /* The first message's volume sets arrive during the scans, each
         * next one's while the one before it is judged. */
        prefetch_sets(w->e, &in[i], &w->content[i]);
        if (db)
            content_scan(w, db, in, i, k);
        for (size_t j = i; j < k; j++)
            content_to_memo(w, &in[j], j);
        /* The stateful stages, message by message in order. */
        for (size_t j = i; j < k; j++) {
            if (j + 1 < k)
                prefetch_sets(w->e, &in[j + 1], &w->content[j + 1]);
            judge_one(w, &in[j], &out[j], &w->content[j]);
        }
        i = k;
    }
    return 0;
}

/* ---- output ----------------------------------------------------------------------- */

static const char *const action_names[] = {"allow", "flag", "block"};
static const char *const reason_names[] = {"whitelist", "spoofing", "lookalike", "exception",
                                           "blacklist", "rule",     "domain",    "volume"};

const char *verdict_action_name(enum verdict_action a)
{
    return (unsigned)a < SG_ARRAY_LEN(action_names) ? action_names[a] : "?";
}

const char *verdict_reason_name(enum verdict_reason_type t)
{
    return (unsigned)t < SG_ARRAY_LEN(reason_names) ? reason_names[t] : "?";
}

/* The first n entries (reasons, then the note), the first with_detail of
 * them with their detail. */
static void reasons_try(jw_t *w, const struct verdict *v, unsigned n_reasons,
                        const struct verdict_json_note *note, unsigned n, unsigned with_detail)
{
    jw_reset(w);
    jw_arr_begin(w);
    for (unsigned i = 0; i < n; i++) {
        int is_note = i >= n_reasons;
        jw_obj_begin(w);
        jw_kstr(w, "type", is_note ? note->type : verdict_reason_name(v->reasons[i].type));
        jw_kstr(w, "id", is_note ? note->id : v->reasons[i].id);
        if (i < with_detail)
            jw_kstr(w, "detail", is_note ? note->detail : v->reasons[i].detail);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

int verdict_reasons_json(const struct verdict *v, const struct verdict_json_note *note, jw_t *scratch,
                         char *out, size_t cap)
{
    if (out && cap >= 3)
        snprintf(out, cap, "[]");
    if (!v || !scratch || !out || cap < 3)
        return SG_EINVAL;
    unsigned nr = v->n_reasons < VERDICT_MAX_REASONS ? v->n_reasons : VERDICT_MAX_REASONS;
    unsigned total = nr + (note ? 1u : 0u), n = total, d = total;
#define REASONS_FIT() (!jw_failed(scratch) && jw_len(scratch) < cap)
    /* Too long for the column: drop details from the end, then entries
     * from the end; a note (a remark, not a reason) goes first. */
    reasons_try(scratch, v, nr, note, n, d);
    int rc = REASONS_FIT() ? 0 : 1;
    while (!REASONS_FIT() && d > 0)
        reasons_try(scratch, v, nr, note, n, --d);
    while (!REASONS_FIT() && n > 0)
        reasons_try(scratch, v, nr, note, --n, 0);
    if (REASONS_FIT()) {
        memcpy(out, jw_data(scratch), jw_len(scratch));
        out[jw_len(scratch)] = '\0';
    }
#undef REASONS_FIT
    jw_reset(scratch);
    return rc;
}

void verdict_write_json(const struct verdict *v, jw_t *w)
{
    jw_kstr(w, "action", verdict_action_name(v->action));
    jw_kint(w, "score", v->score);
    jw_key(w, "reasons");
    jw_arr_begin(w);
    for (unsigned i = 0; i < v->n_reasons; i++) {
        const struct verdict_reason *r = &v->reasons[i];
        jw_obj_begin(w);
        jw_kstr(w, "type", verdict_reason_name(r->type));
        jw_kstr(w, "id", r->id);
        jw_kstr(w, "detail", r->detail);
        if (r->score)
            jw_kint(w, "score", r->score);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_kbool(w, "alert", v->alert != 0);
    char fp[17];
    verdict_fingerprint_hex(v->fingerprint, fp);
    jw_kstr(w, "fingerprint", fp);
    if (v->n_shadow) {
        jw_key(w, "shadow");
        jw_arr_begin(w);
        for (unsigned i = 0; i < v->n_shadow; i++)
            jw_str(w, v->shadow[i]);
        jw_arr_end(w);
    }
}
