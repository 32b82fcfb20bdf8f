/* In-memory snapshot of the operator lists the verdict engine consults:
 * verified whitelist, blacklist, exceptions.
 *
 * A snapshot is built once (lists_new, lists_add_*, lists_seal) by whoever
 * owns the state (the SQLite store, a test, a replay without a database) and
 * is then immutable: the engine swaps whole snapshots atomically, so the
 * packet path never takes a lock or waits on the store.  The add functions
 * copy every string; the caller keeps ownership of the records it passes.
 *
 * Times are wall-clock seconds since the epoch (list validity is wall-clock,
 * see the state section of docs/architecture.md); 0 means "none".
 */
#ifndef SG_LISTS_H
#define SG_LISTS_H

#include <stdint.h>

#include "sg-common.h"

typedef struct lists lists_t;

struct lists_whitelist_entry {
    int64_t id;
    const char *sender;       /* address as sent: "QIWI", "7494" */
    int ton;                  /* source_addr_ton, or -1 for any */
    const char *account;      /* SMPP system_id it must arrive from; NULL = any */
    const char *source_cidrs; /* "10.1.0.0/16,2001:db8::/32"; NULL = any */
    const char *provider;
    const char *verified_by;
    int64_t verified_at;
    int64_t expires_at;
};

enum lists_bl_kind {
    LISTS_BL_SENDER = 0,
    LISTS_BL_ACCOUNT = 1,
    LISTS_BL_DOMAIN = 2,
    LISTS_BL_FINGERPRINT = 3, /* hex of the 64-bit content fingerprint */
};

struct lists_blacklist_entry {
    int64_t id;
    enum lists_bl_kind kind;
    const char *value;
    int automatic;            /* created by a volume rule */
    const char *reason;
    int64_t created_at;
    int64_t expires_at;
    int64_t cleared_at;       /* 0 while active */
    const char *cleared_by;
    const char *clear_reason;
    const char *clear_ticket;
};

struct lists_exception_entry {
    int64_t id;
    const char *sender;
    const char *msisdn;       /* normalised subscriber number */
    const char *reason;
    const char *ticket;
    const char *created_by;
    int64_t created_at;
    int64_t expires_at;
};

enum lists_bl_kind_parse_result { LISTS_BL_KIND_UNKNOWN = -1 };
/* "sender", "account", "domain", "fingerprint" <-> enum. */
const char *lists_bl_kind_name(enum lists_bl_kind k);
int lists_bl_kind_parse(const char *s); /* kind or LISTS_BL_KIND_UNKNOWN */

lists_t *lists_new(void);
void lists_free(lists_t *l);
int lists_add_whitelist(lists_t *l, const struct lists_whitelist_entry *e);
int lists_add_blacklist(lists_t *l, const struct lists_blacklist_entry *e);
int lists_add_exception(lists_t *l, const struct lists_exception_entry *e);
/* Builds the lookup indexes; no add after this. */
int lists_seal(lists_t *l);

/* ---- lookups on a sealed snapshot ---------------------------------------
 * All lookups are read-only: any number of threads may call them on one
 * sealed snapshot.  No allocation; each costs one hash probe plus a walk
 * of the entries sharing the key (a handful).  Keys:
 *
 *   - senders (whitelist, blacklist kind sender, exceptions) compare after
 *     lists_sender_key(): a leading '+' of an all-digit address is dropped
 *     ("+7494" == "7494"); alphanumeric IDs compare exactly as sent (a
 *     "qiwi" that is not "QIWI" is a look-alike, judged by the look-alike
 *     index, not an alias);
 *   - blacklist domain values and fingerprints compare lower-cased;
 *   - accounts compare exactly.
 *
 * Entries with expires_at != 0 && expires_at <= now are ignored by every
 * lookup ("now" is wall-clock seconds, passed in so that a snapshot built
 * once stays right as time passes and tests are deterministic).  Blacklist
 * entries with cleared_at != 0 are accepted by lists_add_blacklist and
 * ignored by lists_blacklist_find; lists_blacklist_cleared_within() sees
 * them (the grace period after a clear).
 */

/* Writes the comparison key of a sender into out (cap >= 2); returns its
 * length.  Truncates at cap - 1. */
size_t lists_sender_key(const char *sender, size_t len, char *out, size_t cap);
/* The same key without a copy: it is always a run of sender's own bytes,
 * sender + *skip (0, or 1 for the '+' dropped), of the returned length
 * (cut at max_len, as lists_sender_key with cap = max_len + 1).  For the
 * verdict engine, which hashes and compares the key of every message and
 * needs no NUL-terminated copy. */
size_t lists_sender_key_span(const char *sender, size_t len, size_t max_len, size_t *skip);

enum lists_wl_result {
    LISTS_WL_NONE = 0,      /* the sender is not protected */
    LISTS_WL_VERIFIED = 1,  /* protected, and the origin matches an entry */
    LISTS_WL_SPOOFED = 2,   /* protected, and no entry's origin matches */
    LISTS_WL_UNVERIFIABLE = 3, /* protected; an entry would match but it
                                  needs the account, which is unknown (a
                                  capture that began after the bind) */
};

/* The origin a message came from: its bind's system_id (len 0 = unknown)
 * and the ESME's address (NULL = unknown). */
struct lists_origin {
    const char *account;
    size_t account_len;
    const struct sg_endpoint *src;
};

/* Checks sender (+ton: an entry with ton -1 matches any; a message with
 * ton 0 "Unknown" or -1 matches any entry) against the whitelist.  An entry's origin matches when its account (if set) equals
 * the origin's and the source address (if the entry has CIDRs) lies in one
 * of them; an unknown source address never matches a CIDR.  *entry (may
 * be NULL) gets the verified entry, or for SPOOFED/UNVERIFIABLE the first
 * live entry of the sender. */
enum lists_wl_result lists_whitelist_check(const lists_t *l, const char *sender, size_t len,
                                           int ton, const struct lists_origin *o,
                                           int64_t now,
                                           const struct lists_whitelist_entry **entry);

/* Look-alike index: a live whitelist entry whose sender's norm_sender()
 * skeleton equals `skeleton` (as computed by the caller with norm_sender),
 * or NULL.  The caller has already established that the sender itself is
 * not protected. */
const struct lists_whitelist_entry *lists_lookalike_find(const lists_t *l,
                                                         const char *skeleton, size_t len,
                                                         int64_t now);

/* The live (not cleared, not expired) blacklist entry for (kind, value),
 * a manual one in preference to an automatic one, or NULL. */
const struct lists_blacklist_entry *lists_blacklist_find(const lists_t *l,
                                                         enum lists_bl_kind kind,
                                                         const char *value, size_t len,
                                                         int64_t now);

/* How far back a snapshot built from a store keeps cleared blacklist
 * entries (store_load_lists), and so the longest grace period
 * lists_blacklist_cleared_within() can answer for: the engine's
 * clear_grace_s is bounded by it (the configuration refuses more). */
#define LISTS_CLEARED_LOOKBACK_S (7 * 86400)

/* The most recent entry for (kind, value) cleared at or after
 * now - grace_s, or NULL. */
const struct lists_blacklist_entry *lists_blacklist_cleared_within(
    const lists_t *l, enum lists_bl_kind kind, const char *value, size_t len, int64_t now,
    int64_t grace_s);

/* An entry for (kind, value), live or cleared, created or cleared at or
 * after `since` (used by the engine to retire its own in-memory automatic
 * entries once the store has them), or NULL. */
const struct lists_blacklist_entry *lists_blacklist_seen_since(const lists_t *l,
                                                               enum lists_bl_kind kind,
                                                               const char *value, size_t len,
                                                               int64_t since);

/* The live exception for sender to msisdn (already normalised, see
 * msisdn.h), or NULL. */
const struct lists_exception_entry *lists_exception_find(const lists_t *l, const char *sender,
                                                         size_t sender_len, const char *msisdn,
                                                         size_t msisdn_len, int64_t now);

/* Counts of entries as added (cleared blacklist entries included). */
struct lists_counts {
    size_t whitelist, blacklist, blacklist_cleared, exceptions, lookalike_keys;
};
void lists_counts(const lists_t *l, struct lists_counts *out);

/* Parses "10.1.0.0/16,2001:db8::/32" (a bare address = /32 or /128).
 * Returns the number of ranges, or SG_EINVAL with the byte offset of the
 * bad range in *bad_off (may be NULL).  For validating operator input. */
int lists_cidrs_validate(const char *cidrs, size_t *bad_off);

#endif
