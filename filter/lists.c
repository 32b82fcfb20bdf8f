/* Operator lists snapshot: see lists.h for the contract.
 *
 * Layout: three vectors of entries (whitelist, blacklist, exceptions), each
 * entry holding its own copies of the strings and its precomputed lookup
 * key, plus four hash indexes built by lists_seal(): whitelist by sender
 * key, look-alike skeleton -> whitelist entry, blacklist by (kind, key),
 * exceptions by (sender key, msisdn).  An index is an open-addressing
 * table of (64-bit hash, entry index) pairs at most half full; several
 * entries may share a key (a sender bound to two accounts, an old cleared
 * entry and a new live one), so a lookup walks the probe sequence to the
 * first empty slot and checks every slot whose hash matches.  With the load
 * factor <= 1/2 the expected probe length is below 2.5 (Knuth, TAOCP 3,
 * §6.4, linear probing).
 */
#include "lists.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "text-norm.h"

#define LISTS_KEY_MAX 256
#define LISTS_SKEL_MAX 64
#define LISTS_MAX_CIDRS 64

struct cidr {
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    uint8_t bits;     /* prefix length over the 128-bit form */
};

struct wl {
    struct lists_whitelist_entry e;
    char *key;
    size_t key_len;
    char skel[LISTS_SKEL_MAX];
    size_t skel_len;
    struct cidr *cidrs;
    unsigned n_cidrs;
};

struct bl {
    struct lists_blacklist_entry e;
    char *key;
    size_t key_len;
};

struct ex {
    struct lists_exception_entry e;
    char *skey;
    size_t skey_len;
    size_t msisdn_len;
};

struct index {
    uint64_t *hash;
    uint32_t *idx; /* entry index + 1; 0 = empty */
    size_t mask;
};

struct lists {
    struct wl *wl;
    size_t n_wl, cap_wl;
    struct bl *bl;
    size_t n_bl, cap_bl, n_bl_cleared;
    struct ex *ex;
    size_t n_ex, cap_ex;
    struct index i_wl, i_skel, i_bl, i_ex;
    size_t n_skel;
    int sealed;
};

/* ---- helpers ------------------------------------------------------------ */

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *dups(const char *s) { return s ? dupn(s, strlen(s)) : NULL; }

static int live(int64_t expires_at, int64_t now)
{
    return expires_at == 0 || expires_at > now;
}

size_t lists_sender_key_span(const char *sender, size_t len, size_t max_len, size_t *skip)
{
    *skip = 0;
    if (len > 1 && sender[0] == '+') {
        size_t i = 1;
        while (i < len && sender[i] >= '0' && sender[i] <= '9')
            i++;
        if (i == len) {
            *skip = 1;
            len--;
        }
    }
    return len < max_len ? len : max_len;
}

size_t lists_sender_key(const char *sender, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t skip;
    len = lists_sender_key_span(sender, len, cap - 1, &skip);
    memcpy(out, sender + skip, len);
    out[len] = '\0';
    return len;
}

/* Blacklist value key: senders as lists_sender_key, domains lower-cased
 * without a trailing dot, fingerprints lower-cased hex, accounts exact. */
static size_t bl_key(enum lists_bl_kind kind, const char *v, size_t len, char *out, size_t cap)
{
    if (kind == LISTS_BL_SENDER)
        return lists_sender_key(v, len, out, cap);
    if (kind == LISTS_BL_DOMAIN)
        while (len && v[len - 1] == '.')
            len--;
    if (len > cap - 1)
        len = cap - 1;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (kind != LISTS_BL_ACCOUNT && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        out[i] = c;
    }
    out[len] = '\0';
    return len;
}

static uint64_t bl_hash(enum lists_bl_kind kind, const char *key, size_t len)
{
    return XXH3_64bits_withSeed(key, len, (uint64_t)kind + 1);
}

static uint64_t ex_hash(const char *skey, size_t sl, const char *msisdn, size_t ml)
{
    return XXH3_64bits_withSeed(msisdn, ml, XXH3_64bits(skey, sl));
}

/* ---- CIDR --------------------------------------------------------------- */

static int cidr_parse1(const char *s, size_t n, struct cidr *out)
{
    char buf[64];
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return SG_EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (!slash[1])
            return SG_EINVAL;
        bits = strtol(slash + 1, &end, 10);
        if (*end || bits < 0)
            return SG_EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (strchr(buf, ':')) {
        if (inet_pton(AF_INET6, buf, out->addr) != 1 || bits > 128)
            return SG_EINVAL;
        out->bits = (uint8_t)(bits < 0 ? 128 : bits);
    } else {
        if (inet_pton(AF_INET, buf, out->addr + 12) != 1 || bits > 32)
            return SG_EINVAL;
        out->addr[10] = out->addr[11] = 0xff;
        out->bits = (uint8_t)(96 + (bits < 0 ? 32 : bits));
    }
    /* Clear host bits so that matching is a masked compare. */
    for (unsigned b = out->bits; b < 128; b++)
        out->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
    return 0;
}

/* Parses a comma-separated list into out (may be NULL: validate only).
 * Returns the count or SG_EINVAL. */
static int cidr_parse_list(const char *s, struct cidr *out, unsigned max, size_t *bad_off)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        struct cidr c;
        if (cidr_parse1(p, len, &c) != 0 || (unsigned)n >= max) {
            if (bad_off)
                *bad_off = (size_t)(p - s);
            return SG_EINVAL;
        }
        if (out)
            out[n] = c;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

int lists_cidrs_validate(const char *cidrs, size_t *bad_off)
{
    if (!cidrs)
        return SG_EINVAL;
    return cidr_parse_list(cidrs, NULL, LISTS_MAX_CIDRS, bad_off);
}

static int cidr_match(const struct cidr *c, const uint8_t addr[16])
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return 0;
    if (rest) {
        uint8_t m = (uint8_t)(0xffu << (8 - rest));
        if ((addr[full] & m) != c->addr[full])
            return 0;
    }
    return 1;
}

/* ---- building ----------------------------------------------------------- */

lists_t *lists_new(void)
{
    return calloc(1, sizeof(lists_t));
}

static void index_free(struct index *ix)
{
    free(ix->hash);
    free(ix->idx);
}

void lists_free(lists_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_wl; i++) {
        struct wl *w = &l->wl[i];
        free((char *)w->e.sender);
        free((char *)w->e.account);
        free((char *)w->e.source_cidrs);
        free((char *)w->e.provider);
        free((char *)w->e.verified_by);
        free(w->key);
        free(w->cidrs);
    }
    for (size_t i = 0; i < l->n_bl; i++) {
        struct bl *b = &l->bl[i];
        free((char *)b->e.value);
        free((char *)b->e.reason);
        free((char *)b->e.cleared_by);
        free((char *)b->e.clear_reason);
        free((char *)b->e.clear_ticket);
        free(b->key);
    }
    for (size_t i = 0; i < l->n_ex; i++) {
        struct ex *x = &l->ex[i];
        free((char *)x->e.sender);
        free((char *)x->e.msisdn);
        free((char *)x->e.reason);
        free((char *)x->e.ticket);
        free((char *)x->e.created_by);
        free(x->skey);
    }
    free(l->wl);
    free(l->bl);
    free(l->ex);
    index_free(&l->i_wl);
    index_free(&l->i_skel);
    index_free(&l->i_bl);
    index_free(&l->i_ex);
    free(l);
}

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, nc * elem);
    if (!nv)
        return -ENOMEM;
    memset((char *)nv + *cap * elem, 0, (nc - *cap) * elem);
    *v = nv;
    *cap = nc;
    return 0;
}

int lists_add_whitelist(lists_t *l, const struct lists_whitelist_entry *e)
{
    if (!l || !e || !e->sender || !e->sender[0] || l->sealed)
        return SG_EINVAL;
    struct cidr tmp[LISTS_MAX_CIDRS];
    int nc = 0;
    if (e->source_cidrs && e->source_cidrs[0]) {
        nc = cidr_parse_list(e->source_cidrs, tmp, LISTS_MAX_CIDRS, NULL);
        if (nc < 0)
            return nc;
    }
    if (grow((void **)&l->wl, &l->cap_wl, l->n_wl, sizeof *l->wl) != 0)
        return -ENOMEM;
    struct wl *w = &l->wl[l->n_wl];
    memset(w, 0, sizeof *w);
    w->e = *e;
    char key[LISTS_KEY_MAX];
    w->key_len = lists_sender_key(e->sender, strlen(e->sender), key, sizeof key);
    w->key = dupn(key, w->key_len);
    w->e.sender = dups(e->sender);
    w->e.account = e->account && e->account[0] ? dups(e->account) : NULL;
    w->e.source_cidrs = nc ? dups(e->source_cidrs) : NULL;
    w->e.provider = dups(e->provider);
    w->e.verified_by = dups(e->verified_by);
    if (nc) {
        w->cidrs = malloc((size_t)nc * sizeof *w->cidrs);
        if (w->cidrs)
            memcpy(w->cidrs, tmp, (size_t)nc * sizeof *w->cidrs);
        w->n_cidrs = (unsigned)nc;
    }
    l->n_wl++;
    if (!w->key || !w->e.sender || (nc && !w->cidrs))
        return -ENOMEM; /* lists_free releases the partial entry */
    return 0;
}

int lists_add_blacklist(lists_t *l, const struct lists_blacklist_entry *e)
{
    if (!l || !e || !e->value || !e->value[0] || l->sealed ||
        (unsigned)e->kind > LISTS_BL_FINGERPRINT)
        return SG_EINVAL;
    if (grow((void **)&l->bl, &l->cap_bl, l->n_bl, sizeof *l->bl) != 0)
        return -ENOMEM;
    struct bl *b = &l->bl[l->n_bl];
    b->e = *e;
    char key[LISTS_KEY_MAX];
    b->key_len = bl_key(e->kind, e->value, strlen(e->value), key, sizeof key);
    b->key = dupn(key, b->key_len);
    b->e.value = dups(e->value);
    b->e.reason = dups(e->reason);
    b->e.cleared_by = dups(e->cleared_by);
    b->e.clear_reason = dups(e->clear_reason);
    b->e.clear_ticket = dups(e->clear_ticket);
    l->n_bl++;
    if (e->cleared_at)
        l->n_bl_cleared++;
    return b->key && b->e.value ? 0 : -ENOMEM;
}

int lists_add_exception(lists_t *l, const struct lists_exception_entry *e)
{
    if (!l || !e || !e->sender || !e->sender[0] || !e->msisdn || !e->msisdn[0] || l->sealed)
        return SG_EINVAL;
    if (grow((void **)&l->ex, &l->cap_ex, l->n_ex, sizeof *l->ex) != 0)
        return -ENOMEM;
    struct ex *x = &l->ex[l->n_ex];
    x->e = *e;
    char key[LISTS_KEY_MAX];
    x->skey_len = lists_sender_key(e->sender, strlen(e->sender), key, sizeof key);
    x->skey = dupn(key, x->skey_len);
    x->e.sender = dups(e->sender);
    x->e.msisdn = dups(e->msisdn);
    x->msisdn_len = strlen(e->msisdn);
    x->e.reason = dups(e->reason);
    x->e.ticket = dups(e->ticket);
    x->e.created_by = dups(e->created_by);
    l->n_ex++;
    return x->skey && x->e.sender && x->e.msisdn ? 0 : -ENOMEM;
}

static int index_init(struct index *ix, size_t n)
{
    size_t size = 16;
    while (size < n * 2)
        size <<= 1;
    ix->hash = calloc(size, sizeof *ix->hash);
    ix->idx = calloc(size, sizeof *ix->idx);
    ix->mask = size - 1;
    return ix->hash && ix->idx ? 0 : -ENOMEM;
}

static void index_put(struct index *ix, uint64_t h, size_t i)
{
    size_t j = h & ix->mask;
    while (ix->idx[j])
        j = (j + 1) & ix->mask;
    ix->hash[j] = h;
    ix->idx[j] = (uint32_t)i + 1;
}

int lists_seal(lists_t *l)
{
    if (!l || l->sealed)
        return SG_EINVAL;
    if (l->n_wl > UINT32_MAX / 4 || l->n_bl > UINT32_MAX / 4 || l->n_ex > UINT32_MAX / 4)
        return SG_ENOSPC;
    int rc = -ENOMEM;
    norm_ctx_t *nc = NULL;
    if (index_init(&l->i_wl, l->n_wl) || index_init(&l->i_skel, l->n_wl) ||
        index_init(&l->i_bl, l->n_bl) || index_init(&l->i_ex, l->n_ex))
        goto out;
    if (l->n_wl && !(nc = norm_ctx_new(256)))
        goto out;
    for (size_t i = 0; i < l->n_wl; i++) {
        struct wl *w = &l->wl[i];
        index_put(&l->i_wl, XXH3_64bits(w->key, w->key_len), i);
        /* The skeleton of the sender as written: a truncated one (an ID
         * longer than any SMPP address) is still a usable prefix key. */
        size_t sl = 0;
        int r = norm_sender(nc, w->e.sender, strlen(w->e.sender), w->skel, sizeof w->skel, &sl);
        if ((r == 0 || r == SG_ENOSPC) && sl > 0) {
            w->skel_len = sl;
            index_put(&l->i_skel, XXH3_64bits(w->skel, sl), i);
            l->n_skel++;
        }
    }
    for (size_t i = 0; i < l->n_bl; i++)
        index_put(&l->i_bl, bl_hash(l->bl[i].e.kind, l->bl[i].key, l->bl[i].key_len), i);
    for (size_t i = 0; i < l->n_ex; i++) {
        struct ex *x = &l->ex[i];
        index_put(&l->i_ex, ex_hash(x->skey, x->skey_len, x->e.msisdn, x->msisdn_len), i);
    }
    l->sealed = 1;
    rc = 0;
out:
    norm_ctx_free(nc);
    return rc;
}

/* ---- lookups ------------------------------------------------------------- */

/* Iterates the entries of index ix whose hash is h: *pos is the probe
 * position (start with SIZE_MAX).  Returns entry index or -1 at the end. */
static long index_next(const struct index *ix, uint64_t h, size_t *pos)
{
    if (!ix->idx)
        return -1;
    size_t j = *pos == SIZE_MAX ? (h & ix->mask) : ((*pos + 1) & ix->mask);
    for (;; j = (j + 1) & ix->mask) {
        uint32_t k = ix->idx[j];
        if (!k) {
            *pos = j;
            return -1;
        }
        if (ix->hash[j] == h) {
            *pos = j;
            return (long)k - 1;
        }
    }
}

static int origin_match(const struct wl *w, const struct lists_origin *o, int *needs_account)
{
    if (w->e.account) {
        if (!o || o->account_len == 0) {
            *needs_account = 1;
            return 0;
        }
        if (strlen(w->e.account) != o->account_len ||
            memcmp(w->e.account, o->account, o->account_len) != 0)
            return 0;
    }
    if (w->n_cidrs) {
        if (!o || !o->src)
            return 0;
        for (unsigned i = 0; i < w->n_cidrs; i++)
            if (cidr_match(&w->cidrs[i], o->src->addr))
                return 1;
        return 0;
    }
    return 1;
}

enum lists_wl_result lists_whitelist_check(const lists_t *l, const char *sender, size_t len,
                                           int ton, const struct lists_origin *o,
                                           int64_t now,
                                           const struct lists_whitelist_entry **entry)
{
    const struct lists_whitelist_entry *first = NULL, *unverifiable = NULL;
    if (entry)
        *entry = NULL;
    if (!l || !l->sealed || !sender)
        return LISTS_WL_NONE;
    char key[LISTS_KEY_MAX];
    size_t kl = lists_sender_key(sender, len, key, sizeof key);
    uint64_t h = XXH3_64bits(key, kl);
    size_t pos = SIZE_MAX;
    /* Bound: the entries of one sender key (a handful of accounts). */
    for (long i; (i = index_next(&l->i_wl, h, &pos)) >= 0;) {
        const struct wl *w = &l->wl[i];
        if (w->key_len != kl || memcmp(w->key, key, kl) != 0 || !live(w->e.expires_at, now))
            continue;
        /* TON 0 is "Unknown" (SMPP v3.4 §5.2.5): some ESMEs send it for
         * every address, so it cannot contradict an entry's TON. */
        if (w->e.ton >= 0 && ton > 0 && w->e.ton != ton)
            continue;
        if (!first)
            first = &w->e;
        int needs_account = 0;
        if (origin_match(w, o, &needs_account)) {
            if (entry)
                *entry = &w->e;
            return LISTS_WL_VERIFIED;
        }
        if (needs_account && !unverifiable) {
            /* The account is unknown; a CIDR bound to the same entry, if
             * any, must still match for the origin to be plausible. */
            struct lists_origin o2 = {w->e.account, strlen(w->e.account), o ? o->src : NULL};
            int dummy = 0;
            if (origin_match(w, &o2, &dummy))
                unverifiable = &w->e;
        }
    }
    if (unverifiable) {
        if (entry)
            *entry = unverifiable;
        return LISTS_WL_UNVERIFIABLE;
    }
    if (first) {
        if (entry)
            *entry = first;
        return LISTS_WL_SPOOFED;
    }
    return LISTS_WL_NONE;
}

const struct lists_whitelist_entry *lists_lookalike_find(const lists_t *l,
                                                         const char *skeleton, size_t len,
                                                         int64_t now)
{
    if (!l || !l->sealed || !skeleton || len == 0)
        return NULL;
    uint64_t h = XXH3_64bits(skeleton, len);
    size_t pos = SIZE_MAX;
    for (long i; (i = index_next(&l->i_skel, h, &pos)) >= 0;) {
        const struct wl *w = &l->wl[i];
        if (w->skel_len == len && memcmp(w->skel, skeleton, len) == 0 &&
            live(w->e.expires_at, now))
            return &w->e;
    }
    return NULL;
}

/* Walks the blacklist entries of (kind, value); fn decides. */
#define BL_WALK(l, kind, value, len, body)                                          \
    do {                                                                            \
        char key_[LISTS_KEY_MAX];                                                   \
        size_t kl_ = bl_key(kind, value, len, key_, sizeof key_);                   \
        uint64_t h_ = bl_hash(kind, key_, kl_);                                     \
        size_t pos_ = SIZE_MAX;                                                     \
        for (long i_; (i_ = index_next(&(l)->i_bl, h_, &pos_)) >= 0;) {             \
            const struct bl *b = &(l)->bl[i_];                                      \
            if (b->e.kind != (kind) || b->key_len != kl_ || memcmp(b->key, key_, kl_)) \
                continue;                                                           \
            body                                                                    \
        }                                                                           \
    } while (0)

const struct lists_blacklist_entry *lists_blacklist_find(const lists_t *l,
                                                         enum lists_bl_kind kind,
                                                         const char *value, size_t len,
                                                         int64_t now)
{
    const struct lists_blacklist_entry *best = NULL;
    if (!l || !l->sealed || !value || len == 0)
        return NULL;
    BL_WALK(l, kind, value, len, {
        if (b->e.cleared_at || !live(b->e.expires_at, now))
            continue;
        if (!b->e.automatic)
            return &b->e;
        if (!best)
            best = &b->e;
    });
    return best;
}

const struct lists_blacklist_entry *lists_blacklist_cleared_within(
    const lists_t *l, enum lists_bl_kind kind, const char *value, size_t len, int64_t now,
    int64_t grace_s)
{
    const struct lists_blacklist_entry *best = NULL;
    if (!l || !l->sealed || !value || len == 0)
        return NULL;
    BL_WALK(l, kind, value, len, {
        if (b->e.cleared_at && b->e.cleared_at >= now - grace_s &&
            (!best || b->e.cleared_at > best->cleared_at))
            best = &b->e;
    });
    return best;
}

const struct lists_blacklist_entry *lists_blacklist_seen_since(const lists_t *l,
                                                               enum lists_bl_kind kind,
                                                               const char *value, size_t len,
                                                               int64_t since)
{
    if (!l || !l->sealed || !value || len == 0)
        return NULL;
    BL_WALK(l, kind, value, len, {
        if (b->e.created_at >= since || (b->e.cleared_at && b->e.cleared_at >= since))
            return &b->e;
    });
    return NULL;
}

const struct lists_exception_entry *lists_exception_find(const lists_t *l, const char *sender,
                                                         size_t sender_len, const char *msisdn,
                                                         size_t msisdn_len, int64_t now)
{
    if (!l || !l->sealed || !sender || !msisdn || l->n_ex == 0)
        return NULL;
    char key[LISTS_KEY_MAX];
    size_t kl = lists_sender_key(sender, sender_len, key, sizeof key);
    uint64_t h = ex_hash(key, kl, msisdn, msisdn_len);
    size_t pos = SIZE_MAX;
    for (long i; (i = index_next(&l->i_ex, h, &pos)) >= 0;) {
        const struct ex *x = &l->ex[i];
        if (x->skey_len == kl && memcmp(x->skey, key, kl) == 0 &&
            x->msisdn_len == msisdn_len && memcmp(x->e.msisdn, msisdn, msisdn_len) == 0 &&
            live(x->e.expires_at, now))
            return &x->e;
    }
    return NULL;
}

void lists_counts(const lists_t *l, struct lists_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return;
    out->whitelist = l->n_wl;
    out->blacklist = l->n_bl;
    out->blacklist_cleared = l->n_bl_cleared;
    out->exceptions = l->n_ex;
    out->lookalike_keys = l->n_skel;
}

static const char *const bl_kind_names[] = {"sender", "account", "domain", "fingerprint"};

const char *lists_bl_kind_name(enum lists_bl_kind k)
{
    return (unsigned)k < SG_ARRAY_LEN(bl_kind_names) ? bl_kind_names[k] : "?";
}

int lists_bl_kind_parse(const char *s)
{
    for (size_t i = 0; s && i < SG_ARRAY_LEN(bl_kind_names); i++)
        if (strcmp(s, bl_kind_names[i]) == 0)
            return (int)i;
    return LISTS_BL_KIND_UNKNOWN;
}
