/* Text normalisation for content matching, sender look-alike detection and
 * content fingerprints.
 *
 * norm_text() turns decoded UTF-8 message text into the form every content
 * rule on field `text` is matched against (docs/rules.md, "Normalised text").
 * The steps, in order:
 *
 *   1. invalid UTF-8 bytes are dropped (a spammer must not split a word with
 *      a stray byte; Hyperscan's UTF-8 mode also needs valid input);
 *   2. Unicode NFKC and full case folding (utf8proc), Cyrillic included:
 *      "ЗАЙМ" -> "займ", full-width "ＦＲＥＥ" -> "free", "ﬁ" -> "fi";
 *      every decimal digit (general category Nd) becomes its ASCII digit:
 *      Arabic-Indic "٤٨٢", Persian "۴۸۲", Devanagari "४८२" -> "482", so
 *      the output holds no digit but 0-9 (rules-db relies on it: `\d` in
 *      a text regex is compiled as [0-9], see docs/rules.md);
 *   3. format and control characters (general category Cf/Cc: zero-width
 *      space/joiners, soft hyphen, bidi marks, BOM) are removed; other
 *      white space (tabs, newlines, NBSP, ...) becomes a space;
 *   4. padding collapse: a run of at least three single-letter tokens with
 *      the same one-to-three-character separator between them is joined:
 *      "з а й м" -> "займ", "w-i-n" -> "win", "f.r.e.e" -> "free";
 *   5. confusable folding, per token (a maximal run of letters and digits):
 *      a token written in one script keeps it; a token mixing Latin and
 *      Cyrillic is spelled in the script with more letters that exist only
 *      in that script (then: more letters; tie: Latin), its look-alike
 *      letters mapped to that script.  So "зaйм" (Latin a) reads "займ",
 *      "frее" (Cyrillic е) reads "free", "3AЙM" reads "займ".  Look-alike
 *      digits inside words become letters ("w1n" -> "win", "fr33" ->
 *      "free", a leading "3" of a Cyrillic word -> "з"), numbers are kept
 *      ("150ppm", "1st", "box95").  ё becomes е.  Rule writers write
 *      natural Russian and English; literals are normalised by this same
 *      function at compile time, regexes with NORM_PATTERN;
 *   6. runs of white space become one space; leading/trailing space goes.
 *
 * The output is always valid UTF-8 and never longer than NORM_MAX_EXPANSION
 * times the input (NFKC of some characters expands).
 *
 * Memory: no allocation per call.  A norm_ctx holds the code point work
 * buffers, sized once at creation; one context per thread (not reentrant).
 * Work bound: O(len) for input up to the context capacity.
 */
#ifndef SG_TEXT_NORM_H
#define SG_TEXT_NORM_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

/* Worst-case growth of output bytes over input bytes: NFKC of a single code
 * point expands to at most 18 code points (U+FDFA), each up to 4 bytes, but
 * only from a 3-byte input; a caller sizing `out` as 4*len + 16 is safe for
 * all text met in practice, and a short buffer is reported, never overrun. */
#define NORM_MAX_EXPANSION 4

/* Default capacity of a context in code points: a 255-part concatenated
 * SMS is at most 255 * 160 = 40,800 characters. */
#define NORM_DEFAULT_CAP 65536

/* Flags for norm_text(). 0 = the full pipeline above. */
enum {
    NORM_NO_PADDING = 1u << 0,   /* skip step 4 */
    NORM_NO_CONFUSABLE = 1u << 1,/* skip step 5 */
    NORM_PATTERN = 1u << 2,      /* input is a Hyperscan regex: see below */
    NORM_SLOW_PATH = 1u << 3,    /* tests only: always through utf8proc (no
                                    ASCII/Cyrillic fast path); same output */
    NORM_FINGERPRINT = 1u << 4,  /* also take the output's norm_fingerprint(),
                                    for norm_last_fingerprint(); same output */
};

typedef struct norm_ctx norm_ctx_t;

/* Creates a context able to normalise texts of up to cap_cp code points
 * (0 = NORM_DEFAULT_CAP).  Returns NULL on allocation failure. */
norm_ctx_t *norm_ctx_new(size_t cap_cp);
void norm_ctx_free(norm_ctx_t *ctx);

/* Normalises utf8[0..len) into out (capacity cap bytes), NUL-terminated;
 * *outlen (may be NULL) gets the length without the NUL.
 * Returns 0, or SG_ENOSPC when the input exceeds the context capacity or
 * out is too small: the output then holds the normalised prefix (still
 * valid UTF-8, NUL-terminated, usable for matching) and *outlen its length.
 * SG_EINVAL only for NULL arguments or cap == 0.
 *
 * NORM_PATTERN: utf8 is a regex for field `text`.  Letters are case-folded
 * and tokens outside escapes (\x, \x{..}, \p{..}), character classes
 * [...] and counted repeats {m,n} are confusable-folded exactly as in text,
 * so a regex meets text spelled the way it was written; no padding
 * collapse, no NFKC, white space kept as written.  Decimal digits become
 * ASCII as in text, in literals, classes and ranges alike ([٠-٩] reads
 * [0-9]); an escaped one (\٣) becomes the plain digit.  */
int norm_text(norm_ctx_t *ctx, const char *utf8, size_t len, char *out, size_t cap,
              size_t *outlen, unsigned flags);

/* 1 when the last norm_text() call on ctx returned its input with only
 * letter case lowered (ASCII, Latin-1 and Cyrillic letters; same bytes
 * otherwise), so any case-insensitive search of the input finds the same
 * in the output: the verdict engine then extracts URLs once, not from
 * both.  0 otherwise, and after norm_sender(); a 0 is always safe. */
int norm_last_case_only(const norm_ctx_t *ctx);

/* norm_fingerprint(out, *outlen) of the last norm_text() call on ctx,
 * when that call had NORM_FINGERPRINT and returned 0 or SG_ENOSPC
 * (unspecified otherwise).  The common text's fast path takes it from the
 * digits it has found as it wrote the output, instead of a second pass
 * over the output; the value is norm_fingerprint()'s, always. */
uint64_t norm_last_fingerprint(const norm_ctx_t *ctx);

/* Both of the above in one call: norm_last_fingerprint(ctx), and
 * norm_last_case_only(ctx) in *case_only. */
uint64_t norm_last(const norm_ctx_t *ctx, int *case_only);

/* Look-alike skeleton of a sender ID (source_addr), a comparison key for
 * telling a sender that merely looks like a protected one: NFKC + case fold,
 * everything but letters and digits removed, Cyrillic/Greek look-alikes to
 * Latin, and, when the ID holds any letter, look-alike glyphs folded to one
 * representative: 0 q -> o, 1 l | -> i, 3 -> e, 5 -> s, 8 -> b, "rn" -> m,
 * "vv" -> w.  "QIWI", "QlWI", "QIWl", "0IWI", "QIW1" and "QІWІ" (Cyrillic
 * І) all give "oiwi" (so the key is not meant to be read).  A purely numeric
 * sender (short code, MSISDN, optional leading '+') keeps its digits:
 * "+7494" -> "7494".  Output NUL-terminated into out (cap bytes; 64 is
 * plenty for an SMPP address, at most 21 octets).
 * Returns 0, SG_ENOSPC (truncated), SG_EINVAL. */
int norm_sender(norm_ctx_t *ctx, const char *utf8, size_t len, char *out, size_t cap,
                size_t *outlen);

/* The value 0..9 of a Unicode decimal digit (general category Nd), -1 for
 * any other code point.  A static table of the first code point of each
 * run of ten (checked against utf8proc over all code points by
 * tests/test-digit-fold.c); O(log 68), no allocation. */
int norm_digit_value(int32_t cp);

/* A digit, for the two functions below, is any Unicode decimal digit
 * (general category Nd): ASCII 0-9, Arabic-Indic ٠-٩, extended
 * Arabic-Indic ۰-۹, Devanagari ०-९, full-width ０-９, Thai, Bengali, ...
 * A run of digits, scripts mixed or not ("12٣٤"), is one run and becomes
 * one '#', whatever the bytes its digits take: a one-time code in any
 * script is neither kept nor measurable.  Only a complete, valid UTF-8
 * encoding is a digit; other bytes, invalid ones included, are copied as
 * they are, so valid UTF-8 in gives valid UTF-8 out.  (Before 2026-11-28
 * only ASCII digits were masked: fingerprints of text with other digits
 * changed then, see docs/verdict-engine.md.) */

/* 64-bit content fingerprint of normalised text (the output of norm_text):
 * XXH3-64 of the text with every run of digits replaced by one '#', so two
 * messages that differ only in a code, an amount or a number share a
 * fingerprint and no digit of a one-time code can be recovered from it.
 * (norm_text has made every decimal digit ASCII by then; the masking
 * still takes any Nd, for text normalised otherwise.)
 * Stateless, no allocation, O(len). */
uint64_t norm_fingerprint(const char *normalised, size_t len);

/* Writes a copy of utf8 (the raw text: no NFKC, so full-width digits too)
 * with every run of digits replaced by one `#` (the redacted snippet
 * stored in the message log): the first cap-1 bytes of the whole text so
 * masked, less a character the cut would split, NUL-terminated.  A digit
 * run that starts before the cut shows as its '#' even where its digits
 * would not have fitted.  Returns the length written.  No allocation;
 * the work stops near the cap. */
size_t norm_redact_digits(const char *utf8, size_t len, char *out, size_t cap);

#endif
