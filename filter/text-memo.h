/* A bounded memo of what the verdict engine's content stage found in a
 * message text, for texts that come again word for word.
 *
 * Why: bulk traffic repeats its texts exactly.  A campaign, a marketing
 * blast or a service notice goes to thousands of subscribers in the same
 * words (on the benchmark capture about 29% of the messages repeat an
 * earlier text, and a memo of 256 texts finds 19% of them).  What the
 * content stage finds in a text (its normalised form, fingerprint, URLs,
 * and the matches of the text and raw databases: about 4,000
 * instructions for 85 bytes) depends on the text's bytes and the rule set
 * alone, so a repeat can take it from here for a hash, a compare and a
 * copy.  docs/verdict-engine.md ("Text memo") has the figures.
 *
 * What is kept: a text's findings (struct text_memo_value), found by the
 * text's full bytes (a hash picks the slot; the bytes are compared).
 * Texts seen once (a one-time code, a personal message) are never stored:
 * a text is admitted the second time its hash is seen (text_memo_admit),
 * so unique traffic costs a hash and two probes a message and does not
 * evict the campaigns.  Texts longer than TEXT_MEMO_TEXT_MAX, and findings
 * that do not fit a value (more URLs or hits than it holds) are not
 * stored.
 *
 * Exactness: the findings depend on the rule set, so the memo is emptied
 * (text_memo_clear, O(1)) whenever the caller's rule set changes.
 *
 * Memory: fixed at creation (entries slots of about 1.3 KiB, and a filter
 * of 4 hashes a slot), never grown; entries == 0 makes a memo that holds
 * nothing (every find misses, nothing is admitted).
 *
 * Thread safety: one memo per thread (the verdict engine keeps one per
 * worker).
 */
#ifndef SG_TEXT_MEMO_H
#define SG_TEXT_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url-extract.h"

#define TEXT_MEMO_TEXT_MAX 256 /* bytes of a text stored */
#define TEXT_MEMO_NORM_MAX 256 /* bytes of its normalised form, without the NUL */
#define TEXT_MEMO_URLS 2
#define TEXT_MEMO_HITS 4       /* per scanned field */
#define TEXT_MEMO_FIELDS 2     /* the caller's scanned fields: text and raw */
#define TEXT_MEMO_MAX_ENTRIES 65536

/* The content stage's findings for one text. */
struct text_memo_value {
    uint64_t fp;                /* norm fingerprint */
    uint16_t normlen;
    uint8_t case_only;          /* normalisation only lowered letter case */
    uint8_t n_urls;
    uint8_t n_hits[TEXT_MEMO_FIELDS];
    uint32_t hits[TEXT_MEMO_FIELDS][TEXT_MEMO_HITS]; /* rule indices, in scan order */
    struct url_hit urls[TEXT_MEMO_URLS];
    char norm[TEXT_MEMO_NORM_MAX + 1]; /* NUL-terminated */
};

typedef struct text_memo text_memo_t;

/* A memo of `entries` texts (rounded up to a power of two; at most
 * TEXT_MEMO_MAX_ENTRIES; 0: a memo that keeps nothing).  NULL on a bad
 * size or when the memory cannot be allocated. */
text_memo_t *text_memo_new(size_t entries);
/* NULL is a no-op. */
void text_memo_free(text_memo_t *m);

/* Forgets every text and every admission (O(1)). */
void text_memo_clear(text_memo_t *m);

/* The hash that find, admit and store take for text[0..len). */
uint64_t text_memo_hash(const char *text, size_t len);

/* The findings stored for exactly text[0..len) (hash from
 * text_memo_hash), or NULL.  The value stays valid until the next store or
 * clear. */
const struct text_memo_value *text_memo_find(const text_memo_t *m, uint64_t hash, const char *text,
                                             size_t len);

/* For a text find did not find: true when its hash was seen before (the
 * text should be stored once its findings are known); otherwise notes the
 * hash and returns false.  Always false for a text longer than
 * TEXT_MEMO_TEXT_MAX or for a memo of no entries. */
bool text_memo_admit(text_memo_t *m, uint64_t hash, size_t len);

/* Findings to store, as the caller holds them (borrowed for the call). */
struct text_memo_findings {
    uint64_t fp;
    const char *norm;
    size_t normlen;
    bool case_only;
    const struct url_hit *urls;
    size_t n_urls;
    const uint32_t *hits[TEXT_MEMO_FIELDS];
    size_t n_hits[TEXT_MEMO_FIELDS];
};

/* Stores f as the findings of text[0..len), in place of whatever held its
 * slot.  Returns false, storing nothing, for a text longer than
 * TEXT_MEMO_TEXT_MAX, findings larger than a value holds (normalised form,
 * URLs or hits of a field), or a memo of no entries. */
bool text_memo_store(text_memo_t *m, uint64_t hash, const char *text, size_t len,
                     const struct text_memo_findings *f);

#endif
