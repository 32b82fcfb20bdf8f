/* Text normalisation: see text-norm.h for the pipeline and its guarantees. */
#include "text-norm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* the x86-64 baseline: the fast paths below use it where present */
#endif

#define XXH_INLINE_ALL
#include <xxhash.h>

/* The block pass (norm_text_blocks) takes texts of 16 to BLOCKS_MAX bytes
 * (nearly every SMS: a 255-part one goes through the one pass) and keeps
 * one bit per input byte in each of BM_N masks, sixteen bits an entry,
 * with room for the eight entries it clears past a text's last. */
#define BLOCKS_MAX 4096
enum { BM_L, BM_D, BM_C, BM_S, BM_H, BM_X, BM_A, BM_ST, BM_SG, BM_N };
#define BM_ENTRIES (BLOCKS_MAX / 16 + 16)

struct norm_ctx {
    size_t cap;          /* code points in cp[] and mark[] */
    int32_t *cp;         /* decomposed / composed text */
    int32_t *tmp;        /* second code point buffer (token pass) */
    uint8_t *cls;        /* per code point class, CL_* */
    uint8_t *bytes;      /* input copy with invalid UTF-8 dropped */
    size_t bytes_cap;
    int case_only;       /* the last norm_text only lowered letters: norm_last_case_only */
    uint64_t fp;         /* norm_last_fingerprint */
    uint16_t bm[BM_N][BM_ENTRIES]; /* the block pass's masks */
};

/* Classes of a code point for tokenising. */
enum { CL_OTHER = 0, CL_SPACE = 1, CL_LETTER = 2, CL_DIGIT = 3, CL_FIXED = 4 };

static int cmap_index_init(void);

norm_ctx_t *norm_ctx_new(size_t cap_cp)
{
    /* every path to the confusable tables goes through a context */
    if (cmap_index_init() != 0)
        return NULL;
    norm_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = cap_cp ? cap_cp : NORM_DEFAULT_CAP;
    c->bytes_cap = c->cap * 4;
    c->cp = malloc(c->cap * sizeof *c->cp);
    c->tmp = malloc(c->cap * sizeof *c->tmp);
    c->cls = malloc(c->cap);
    c->bytes = malloc(c->bytes_cap);
    if (!c->cp || !c->tmp || !c->cls || !c->bytes) {
        norm_ctx_free(c);
        return NULL;
    }
    return c;
}

void norm_ctx_free(norm_ctx_t *c)
{
    if (!c)
        return;
    free(c->cp);
    free(c->tmp);
    free(c->cls);
    free(c->bytes);
    free(c);
}

/* ---- confusable tables -------------------------------------------------
 * Chosen from Unicode's confusables.txt (UTS #39), restricted to the lower
 * case forms that survive case folding and to look-alikes seen in Russian
 * and English SMS spam.  Lower-case в н м т к only resemble Latin in upper
 * case (В Н М Т К), but case folding has already erased that, so they are
 * mapped too. */
struct cmap {
    int32_t from, to;
};

/* Cyrillic and Greek -> Latin: applied to tokens spelled in Latin. */
static const struct cmap to_latin[] = {
    {0x0430, 'a'}, {0x0432, 'b'}, {0x0435, 'e'}, {0x0451, 'e'}, {0x043A, 'k'},
    {0x043C, 'm'}, {0x043D, 'h'}, {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'},
    {0x0442, 't'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0456, 'i'}, {0x0457, 'i'},
    {0x0458, 'j'}, {0x0455, 's'}, {0x04BB, 'h'}, {0x0501, 'd'}, {0x051B, 'q'},
    {0x051D, 'w'}, {0x04CF, 'l'}, {0x0261, 'g'}, {0x0131, 'i'},
    /* Greek */
    {0x03B1, 'a'}, {0x03B5, 'e'}, {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BD, 'v'},
    {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'},
};

/* Latin -> Cyrillic: applied to tokens spelled in Cyrillic. */
static const struct cmap to_cyrillic[] = {
    {'a', 0x0430}, {'b', 0x0432}, {'c', 0x0441}, {'e', 0x0435}, {'h', 0x043D},
    {'k', 0x043A}, {'m', 0x043C}, {'o', 0x043E}, {'p', 0x0440}, {'t', 0x0442},
    {'x', 0x0445}, {'y', 0x0443}, {0x0451, 0x0435}, /* ё -> е */
};

/* Digits that stand for letters inside a word. */
static const struct cmap digit_latin[] = {{'0', 'o'}, {'1', 'i'}, {'3', 'e'}, {'5', 's'}};
static const struct cmap digit_cyr[] = {{'0', 0x043E}, {'3', 0x0437}, {'4', 0x0447}, {'6', 0x0431}};

/* to_latin for U+0400..U+045F and to_cyrillic for ASCII, indexed: the
 * letters of nearly every word folding looks up.  Filled once from the
 * tables above (first entry wins, as in the search), before the first
 * context exists; 0: no entry. */
static struct {
    uint8_t latin_of[0x60];
    uint16_t cyrillic_of[0x80];
} cmap_index;
static pthread_once_t cmap_index_once = PTHREAD_ONCE_INIT;

static void cmap_index_fill(void)
{
    for (size_t i = SG_ARRAY_LEN(to_latin); i-- > 0;) /* backwards: the first entry wins */
        if (to_latin[i].from >= 0x0400 && to_latin[i].from < 0x0460)
            cmap_index.latin_of[to_latin[i].from - 0x0400] = (uint8_t)to_latin[i].to;
    for (size_t i = SG_ARRAY_LEN(to_cyrillic); i-- > 0;)
        if (to_cyrillic[i].from < 0x80)
            cmap_index.cyrillic_of[to_cyrillic[i].from] = (uint16_t)to_cyrillic[i].to;
}

static int cmap_index_init(void)
{
    return pthread_once(&cmap_index_once, cmap_index_fill);
}

static int32_t cmap_get(const struct cmap *m, size_t n, int32_t c)
{
    /* Range checks and the index first: most code points of any text map
     * to nothing, and this runs for every letter on the packet path. */
    if (m == to_latin) {
        if (c < 0x0131)
            return -1;
        if (c >= 0x0400 && c < 0x0460)
            return cmap_index.latin_of[c - 0x0400] ? cmap_index.latin_of[c - 0x0400] : -1;
    }
    if (m == to_cyrillic) {
        if (c >= 0 && c < 0x80)
            return cmap_index.cyrillic_of[c] ? cmap_index.cyrillic_of[c] : -1;
        if (c != 0x0451)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (m[i].from == c)
            return m[i].to;
    return -1;
}

/* ---- decimal digits -----------------------------------------------------
 * Unicode encodes every decimal digit (general category Nd) in a
 * contiguous run of ten with ascending values 0 to 9 (The Unicode
 * Standard, 4.6 Numeric Value: a promise kept for every script).  So the
 * code point of each run's zero is the whole table: the value of an Nd
 * code point is its distance from the nearest zero at or below it.
 * Generated from utf8proc (Unicode 15.0); tests/test-digit-fold.c checks
 * every code point 0..0x10FFFF against utf8proc_category(), so a utf8proc
 * with a newer Unicode that adds a block fails the test instead of leaving
 * a digit unfolded.  Lookup: a binary search of 68 entries, only for a
 * code point utf8proc already called Nd (rare in SMS). */
static const int32_t nd_zero[] = {
    0x0030,  0x0660,  0x06F0,  0x07C0,  0x0966,  0x09E6,  0x0A66,  0x0AE6,  0x0B66,  0x0BE6,
    0x0C66,  0x0CE6,  0x0D66,  0x0DE6,  0x0E50,  0x0ED0,  0x0F20,  0x1040,  0x1090,  0x17E0,
    0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,  0x1C40,  0x1C50,  0xA620,
    0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,  0xFF10,  0x104A0, 0x10D30, 0x11066,
    0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
    0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8,
    0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950, 0x1FBF0,
};

int norm_digit_value(int32_t c)
{
    if (c < 0x0030 || c > 0x1FBF9)
        return -1;
    size_t lo = 0, hi = SG_ARRAY_LEN(nd_zero); /* the last zero <= c: nd_zero[lo] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (nd_zero[mid] <= c)
            lo = mid;
        else
            hi = mid;
    }
    int32_t d = c - nd_zero[lo];
    return d < 10 ? (int)d : -1;
}

static int is_cyrillic(int32_t c)
{
    return (c >= 0x0400 && c <= 0x052F) || (c >= 0x1C80 && c <= 0x1C8F) ||
           (c >= 0x2DE0 && c <= 0x2DFF) || (c >= 0xA640 && c <= 0xA69F);
}

static int is_latin(int32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0x00C0 && c <= 0x024F) ||
           (c >= 0x1E00 && c <= 0x1EFF);
}

/* Whether a run of `run` digits in a word is a look-alike to fold (step 5):
 * inside a word (letters on both sides), or ending a word of at least two
 * letters and no longer than they are; a word's leading digit only before
 * Cyrillic letters, one digit long ("3айм").  Shared by fold_word and the
 * one pass's check, which must agree. */
static int digit_run_folds(size_t letters_before, int letter_after, size_t run, int cyr)
{
    if (letters_before == 0)
        return cyr && run == 1 && letter_after;
    if (letter_after)
        return 1;
    return letters_before >= 2 && run <= letters_before;
}


/* The script a word is spelled in, from its letters: all of them, and
 * those found only in that script.  A word in one script keeps it; a word
 * mixing scripts takes the one with more letters found only in it, then
 * with more letters, Latin on a tie.  1: Cyrillic, 0: Latin. */
static inline int word_is_cyrillic(size_t cyr_all, size_t lat_all, size_t cyr_only, size_t lat_only)
{
    if (cyr_all && !lat_all)
        return 1;
    if (!cyr_all)
        return 0;
    return cyr_only > lat_only || (cyr_only == lat_only && cyr_all > lat_all);
}
/* Folds the letters and digits at the marked positions of cp[from..to) (one
 * word) to one script, 1:1 in code points.  mark[i] == 1: a letter or digit
 * of the word; 2: a letter of a regex class inside the word (spelled like
 * the word, no vote); 0: regex syntax, untouched. */
static void fold_word(int32_t *cp, const uint8_t *mark, size_t from, size_t to)
{
    size_t cyr_only = 0, lat_only = 0, letters = 0, digits = 0, members = 0;
    size_t cyr_all = 0, lat_all = 0, other = 0;
    for (size_t i = from; i < to; i++) {
        members += mark[i] == 2;
        if (mark[i] != 1)
            continue; /* 2: a class member, spelled like the word, no vote */
        int32_t c = cp[i];
        if (c >= '0' && c <= '9') {
            digits++;
            continue;
        }
        letters++;
        if (c < 0x80)
            lat_all++;
        else if (is_cyrillic(c))
            cyr_all++;
        else if (is_latin(c))
            lat_all++;
        else
            other++;
    }
    if (letters == 0 && members == 0)
        return; /* a number: never touched (amounts, codes, phone numbers) */
    /* Fast path: a plain ASCII word without digits has nothing to fold. */
    if (!digits && !members && !cyr_all && !other) {
        int ascii = 1;
        for (size_t i = from; i < to && ascii; i++)
            ascii = cp[i] < 0x80;
        if (ascii)
            return;
    }
    if (cyr_all && lat_all) /* mixed: count the letters only one script has */
        for (size_t i = from; i < to; i++) {
            int32_t c = cp[i];
            if (mark[i] != 1 || (c >= '0' && c <= '9'))
                continue;
            if (is_cyrillic(c) && cmap_get(to_latin, SG_ARRAY_LEN(to_latin), c) < 0)
                cyr_only++;
            else if (is_latin(c) && cmap_get(to_cyrillic, SG_ARRAY_LEN(to_cyrillic), c) < 0)
                lat_only++;
        }
    /* A word in one script keeps it (only ё -> е and the digits change). */
    int cyr = word_is_cyrillic(cyr_all, lat_all, cyr_only, lat_only);
    /* Digits stand for letters only where a number cannot be meant: a run
     * between letters ("w1n"), a run ending a word of at least as many
     * letters ("fr33"), and in a Cyrillic word a single leading digit
     * ("3айм", Cyrillic З).  A run with a digit that resembles no letter is
     * a number ("box95", "kl341"), and so is a leading run in a Latin word
     * ("150ppm", "1st", "3pm"). */
    size_t i = from;
    size_t letters_before = 0;
    while (i < to) {
        if (!mark[i]) {
            i++;
            continue;
        }
        int32_t c = cp[i];
        if (!(c >= '0' && c <= '9') || mark[i] == 2) {
            int32_t r = cyr ? cmap_get(to_cyrillic, SG_ARRAY_LEN(to_cyrillic), c)
                            : cmap_get(to_latin, SG_ARRAY_LEN(to_latin), c);
            if (r >= 0)
                cp[i] = r;
            letters_before += mark[i] == 1;
            i++;
            continue;
        }
        size_t j = i, run = 0, lookalike = 1;
        while (j < to && (!mark[j] || (mark[j] == 1 && cp[j] >= '0' && cp[j] <= '9'))) {
            if (mark[j]) {
                run++;
                if ((cyr ? cmap_get(digit_cyr, SG_ARRAY_LEN(digit_cyr), cp[j])
                         : cmap_get(digit_latin, SG_ARRAY_LEN(digit_latin), cp[j])) < 0)
                    lookalike = 0;
            }
            j++;
        }
        size_t k = j;
        while (k < to && !mark[k])
            k++;
        int fold = digit_run_folds(letters_before, k < to, run, cyr);
        if (fold && lookalike)
            for (size_t m = i; m < j; m++)
                if (mark[m])
                    cp[m] = cyr ? cmap_get(digit_cyr, SG_ARRAY_LEN(digit_cyr), cp[m])
                                : cmap_get(digit_latin, SG_ARRAY_LEN(digit_latin), cp[m]);
        i = j;
    }
    (void)digits;
}

static uint8_t classify(int32_t c)
{
    if (c == ' ')
        return CL_SPACE;
    if (c >= '0' && c <= '9')
        return CL_DIGIT;
    if (c < 0x80)
        return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? CL_LETTER : (c < 0x21 ? CL_SPACE : CL_OTHER);
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND:
        return CL_LETTER; /* non-ASCII digits: part of words, never folded */
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CL_SPACE;
    default:
        return CL_OTHER;
    }
}

/* Drops invalid UTF-8 from in into c->bytes (at most bytes_cap); returns the
 * length and sets *trunc when the input did not fit. */
static size_t clean_utf8(norm_ctx_t *c, const uint8_t *in, size_t len, int *trunc)
{
    size_t o = 0, i = 0;
    while (i < len) {
        /* ASCII and two-byte sequences (Latin, Greek, Cyrillic) are valid
         * as they stand: copied without a call into utf8proc. */
        if (in[i] < 0x80 && o < c->bytes_cap) {
            c->bytes[o++] = in[i++];
            continue;
        }
        if (in[i] >= 0xC2 && in[i] <= 0xDF && i + 1 < len && (in[i + 1] & 0xC0) == 0x80 &&
            o + 2 <= c->bytes_cap) {
            c->bytes[o++] = in[i++];
            c->bytes[o++] = in[i++];
            continue;
        }
        int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(in + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) {
            i++; /* one bad byte: drop it and resynchronise */
            continue;
        }
        if (o + (size_t)n > c->bytes_cap) {
            *trunc = 1;
            break;
        }
        memcpy(c->bytes + o, in + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
    }
    return o;
}

/* NFKC + case fold + ignorable removal into c->cp; returns the number of
 * code points (>= 0) and sets *trunc when a prefix had to be used. */
/* Case-folded code point of the UTF-8 sequence at p (n bytes left, p[0] >=
 * 0x80) when it is in the fast set: a basic Cyrillic letter (U+0410..U+044F,
 * U+0401, U+0451) or one of the currency signs £ € ₽ (NFKC- and
 * fold-invariant, combining class 0, never part of a composition); else -1.
 * *k gets the sequence length. */
static inline int32_t fast_cp(const uint8_t *p, size_t n, size_t *k)
{
    if (n >= 3 && p[0] == 0xE2 && p[1] == 0x82 && (p[2] == 0xAC || p[2] == 0xBD)) {
        *k = 3;
        return p[2] == 0xAC ? 0x20AC : 0x20BD; /* € ₽ */
    }
    *k = 2;
    if (n < 2)
        return -1;
    if (p[0] == 0xC2 && p[1] == 0xA3)
        return 0x00A3; /* £ */
    if ((p[0] != 0xD0 && p[0] != 0xD1) || (p[1] & 0xC0) != 0x80)
        return -1;
    int32_t cp = ((int32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    if (cp >= 0x0410 && cp <= 0x042F)
        return cp + 0x20; /* А-Я -> а-я */
    if (cp >= 0x0430 && cp <= 0x044F)
        return cp;
    if (cp == 0x0401)
        return 0x0451; /* Ё -> ё */
    if (cp == 0x0451)
        return cp;
    return -1;
}

static size_t nfkc_fold(norm_ctx_t *c, size_t blen, int *trunc, int fast_off)
{
    const utf8proc_option_t opt = UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE |
                                  UTF8PROC_LUMP | UTF8PROC_DECOMPOSE | UTF8PROC_STABLE;
    utf8proc_ssize_t n;
    /* ASCII fast path (most SMS): NFKC is the identity, case folding is
     * tolower, and utf8proc's STRIPCC turns HT LF VT FF CR into a space and
     * drops the other controls.  Same output as the general path (checked
     * by tests/test-text-norm.c), without its three passes. */
    /* The same holds for the basic Cyrillic alphabet (А-я, Ё ё: most of
     * the rest of our SMS) and £ € ₽: none of these decomposes to anything
     * but itself after recomposition, none composes with another, and case
     * folding is a fixed offset.  So a text of ASCII and these only skips
     * utf8proc too (checked against it by tests/test-fastpaths.c). */
    /* The general path cuts a text whose decomposition exceeds the
     * context's capacity (halving it, below), so this one takes only texts
     * whose decomposition fits: dec counts it (й and ё decompose to two
     * code points, everything else here to one), and both paths then give
     * the same output at any length (fuzz-norm-url compares them). */
    size_t k = 0, dec = 0;
    if (!fast_off) {
        while (k < blen) {
            uint8_t b = c->bytes[k];
            dec++;
            if (b < 0x80) {
                k++;
                continue;
            }
            size_t sl;
            int32_t cp = fast_cp(c->bytes + k, blen - k, &sl);
            if (cp < 0)
                break;
            dec += cp == 0x0439 || cp == 0x0451;
            k += sl;
        }
    }
    if (k == blen && dec <= c->cap) {
        size_t o = 0;
        for (size_t i = 0; i < blen && o < c->cap; i++) {
            uint8_t b = c->bytes[i];
            if (b >= 0x80) {
                size_t sl;
                c->cp[o++] = fast_cp(c->bytes + i, blen - i, &sl);
                i += sl - 1;
            } else if (b >= 'A' && b <= 'Z')
                c->cp[o++] = b | 0x20;
            else if (b >= 0x20 && b != 0x7F)
                c->cp[o++] = b;
            else if (b == '\r' && i + 1 < blen && c->bytes[i + 1] == '\n')
                continue; /* CR LF is one line break, as in utf8proc */
            else if (b >= 0x09 && b <= 0x0D)
                c->cp[o++] = ' ';
        }
        if (o == c->cap && blen > o)
            *trunc = 1;
        return o;
    }
    /* Expansion may exceed the buffer: retry on a shorter prefix, cut on a
     * character boundary.  At most a few rounds (each halves the input). */
    for (;;) {
        n = utf8proc_decompose(c->bytes, (utf8proc_ssize_t)blen, c->cp,
                               (utf8proc_ssize_t)c->cap, opt);
        if (n < 0)
            return 0; /* cannot happen on cleaned input; treat as empty */
        if ((size_t)n <= c->cap)
            break;
        *trunc = 1;
        blen /= 2;
        while (blen > 0 && (c->bytes[blen] & 0xC0) == 0x80)
            blen--;
    }
    n = utf8proc_normalize_utf32(c->cp, n, UTF8PROC_COMPOSE | UTF8PROC_STABLE | UTF8PROC_STRIPCC);
    return n < 0 ? 0 : (size_t)n;
}

/* Step 3: drop format/control characters and leftover combining marks,
 * make other white space runs one plain space.  In place; returns new
 * length. */
static size_t strip_and_classify(norm_ctx_t *c, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t cp = c->cp[i];
        uint8_t k;
        if (cp >= 0x0400 && cp <= 0x045F) {
            k = CL_LETTER; /* Cyrillic А..я, Ѐ..џ: all Lu/Ll, the bulk of non-ASCII */
        } else if (cp >= 0x80) {
            utf8proc_category_t cat = utf8proc_category(cp);
            switch (cat) {
            case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CS:
            case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_MN:
            case UTF8PROC_CATEGORY_ME:
                continue; /* zero-width, bidi, strike-through overlays ... */
            default:
                break;
            }
            if (cat == UTF8PROC_CATEGORY_ND) {
                /* Step 2's digit folding (see text-norm.h): every decimal
                 * digit left by NFKC (Arabic-Indic, Devanagari, Thai, ...)
                 * becomes its ASCII digit, before padding and confusable
                 * folding, which then see an ASCII digit.  The fast paths
                 * never meet one: their sets hold no non-ASCII digit. */
                int d = norm_digit_value(cp);
                if (SG_ALWAYS(d >= 0)) { /* a newer Unicode's block: test-digit-fold fails */
                    cp = '0' + d;
                    k = CL_DIGIT;
                } else {
                    k = classify(cp);
                }
            } else {
                k = classify(cp);
            }
        } else {
            if (cp < 0x20 || cp == 0x7F)
                cp = ' ';
            k = classify(cp);
        }
        if (k == CL_SPACE && o > 0 && c->cls[o - 1] == CL_SPACE)
            continue; /* one space per run, so "З  А Й М" pads evenly */
        c->cp[o] = k == CL_SPACE ? ' ' : cp;
        c->cls[o] = k;
        o++;
    }
    return o;
}

/* Step 4: padding collapse.  Finds runs t0 s t1 s t2 ... of single-character
 * tokens (letter or digit, at least two letters overall) separated by the
 * same 1..3-character non-alphanumeric separator s, at least three tokens,
 * and removes the separators.  O(n): each position is visited a bounded
 * number of times.  Result in c->tmp / cls rebuilt; returns new length.
 * fold_runs: also confusable-fold each joined run as one word (step 5 for
 * those words only), for a text whose other words are folded already (the
 * one pass's output: see onepass_collapse). */
static size_t collapse_padding(norm_ctx_t *c, size_t n, int fold_runs)
{
#define ALNUM(i) (c->cls[i] == CL_LETTER || c->cls[i] == CL_DIGIT)
    size_t o = 0, i = 0;
    int32_t *out = c->tmp;
    while (i < n) {
        /* single-character token at i? */
        int single = ALNUM(i) && (i == 0 || !ALNUM(i - 1)) && (i + 1 >= n || !ALNUM(i + 1));
        if (single && i + 1 < n) {
            /* separator after it */
            size_t s = i + 1, sl = 0;
            while (s + sl < n && !ALNUM(s + sl) && sl < 4)
                sl++;
            if (sl >= 1 && sl <= 3 && s + sl < n) {
                /* walk the run */
                size_t count = 1, letters = c->cls[i] == CL_LETTER, j = i, end = i + 1;
                for (;;) {
                    size_t sep = j + 1;
                    size_t nx = sep + sl;
                    if (nx >= n)
                        break;
                    int same = 1;
                    for (size_t k = 0; k < sl; k++)
                        if (ALNUM(sep + k) || c->cp[sep + k] != c->cp[s + k]) {
                            same = 0;
                            break;
                        }
                    if (!same || !ALNUM(nx) || (nx + 1 < n && ALNUM(nx + 1)))
                        break;
                    count++;
                    letters += c->cls[nx] == CL_LETTER;
                    j = nx;
                    end = nx + 1;
                }
                if (count >= 3 && letters >= 2) {
                    size_t from = o;
                    for (size_t k = i; k < end; k += 1 + sl) {
                        out[o] = c->cp[k];
                        c->cls[o] = c->cls[k]; /* o <= k: safe in place */
                        o++;
                    }
                    if (fold_runs) {
                        memset(c->bytes, 1, o - from); /* fold_word's marks: all one word */
                        fold_word(out + from, c->bytes, 0, o - from);
                    }
                    i = end;
                    continue;
                }
            }
        }
        out[o] = c->cp[i];
        c->cls[o] = c->cls[i];
        o++;
        i++;
    }
    c->tmp = c->cp; /* swap the buffers (both cap long) instead of copying */
    c->cp = out;
    return o;
#undef ALNUM
}

/* Step 5 for text: every token (run of letters and digits) is one word. */
static void fold_tokens(norm_ctx_t *c, size_t n)
{
    uint8_t *mark = (uint8_t *)c->tmp; /* tmp is free now; n <= cap bytes */
    for (size_t i = 0; i < n; i++)
        mark[i] = c->cls[i] == CL_LETTER || c->cls[i] == CL_DIGIT;
    size_t i = 0;
    while (i < n) {
        if (!mark[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && mark[j])
            j++;
        fold_word(c->cp, mark, i, j);
        i = j;
    }
}

/* Encodes cp[0..n) as UTF-8 with space runs collapsed and trimmed. */
static int encode_out(const int32_t *cp, size_t n, char *out, size_t cap, size_t *outlen,
                      int collapse_space)
{
    size_t o = 0;
    int rc = 0, pending_space = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];
        if (collapse_space && c == ' ') {
            pending_space = o > 0;
            continue;
        }
        uint8_t buf[8];
        utf8proc_ssize_t k;
        if (c >= 0 && c < 0x80) { /* the common cases inline, the rest via utf8proc */
            buf[0] = (uint8_t)c;
            k = 1;
        } else if (c >= 0x80 && c < 0x800) {
            buf[0] = (uint8_t)(0xC0 | (c >> 6));
            buf[1] = (uint8_t)(0x80 | (c & 0x3F));
            k = 2;
        } else {
            k = utf8proc_encode_char(c, buf);
        }
        if (k <= 0)
            continue;
        size_t need = (size_t)k + (size_t)pending_space;
        if (o + need + 1 > cap) {
            rc = SG_ENOSPC;
            break;
        }
        if (pending_space)
            out[o++] = ' ';
        pending_space = 0;
        for (utf8proc_ssize_t b = 0; b < k; b++) /* 1..4 bytes: no memcpy call */
            out[o++] = (char)buf[b];
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return rc;
}

/* ---- pattern mode ------------------------------------------------------ */

/* Index just past the escape starting at cp[i] == '\\': two code points,
 * or through the closing brace of \x{..} \p{..} \P{..} \N{..} \o{..}. */
static size_t skip_escape(const int32_t *cp, size_t n, size_t i)
{
    i += 2;
    if (i < n && cp[i] == '{' &&
        (cp[i - 1] == 'x' || cp[i - 1] == 'p' || cp[i - 1] == 'P' || cp[i - 1] == 'N' ||
         cp[i - 1] == 'o')) {
        while (i < n && cp[i] != '}')
            i++;
        i++;
    }
    return i;
}

/* Lower-cases the letters of a regex outside escapes and group options,
 * marks the positions that are text (letters and digits outside escapes,
 * classes, counted repeats and group options) and assigns word
 * numbers: a word is broken by white space, `.`, escapes (\s \b \W ...)
 * and literal punctuation, but not by ? * + {m,n} or a group glued to a
 * word, so that /кредит(ы|ов)?/ is one word as "кредитов" is in text, while
 * in a free-standing group /(смс|sms)/ each alternative is a word. */
static size_t pattern_fold(norm_ctx_t *c, size_t n)
{
    int32_t *cp = c->cp;
    uint8_t *mark = c->cls; /* reuse: 1 = foldable text */
    uint32_t *word = (uint32_t *)c->tmp;
    uint32_t w = 1;
    size_t i = 0, depth = 0;
    uint8_t glued_stack[64];
    for (size_t k = 0; k < n; k++) {
        mark[k] = 0;
        word[k] = 0;
    }
    while (i < n) {
        int32_t ch = cp[i];
        if (ch == '\\') {
            i = skip_escape(cp, n, i);
            w++;
            continue;
        }
        if (ch == '[') {
            i++;
            if (i < n && cp[i] == '^')
                i++;
            if (i < n && cp[i] == ']')
                i++;
            size_t open = i;
            while (i < n && cp[i] != ']') {
                if (cp[i] == '\\') {
                    i = skip_escape(cp, n, i); /* escapes keep their case: \p{L}, \D */
                    continue;
                }
                cp[i] = utf8proc_tolower(cp[i]);
                /* a lone letter of a class ([ау], not a range end) is spelled
                 * like the word around it, but does not vote on the script */
                int in_range = (i > open && cp[i - 1] == '-') || (i + 1 < n && cp[i + 1] == '-');
                if (!in_range && classify(cp[i]) == CL_LETTER) {
                    mark[i] = 2;
                    word[i] = w;
                }
                i++;
            }
            i++;
            continue; /* classes join: no word break */
        }
        if (ch == '{') {
            size_t j = i + 1;
            while (j < n && ((cp[j] >= '0' && cp[j] <= '9') || cp[j] == ','))
                j++;
            if (j < n && cp[j] == '}' && j > i + 1) {
                i = j + 1;
                continue;
            }
            w++;
            i++;
            continue;
        }
        if (ch == '(') {
            /* A group glued to a word ("кредит(ы|ов)") continues it; a
             * free-standing one ("(смс|sms)") holds alternative words. */
            int glued = i > 0 && (mark[i - 1] || cp[i - 1] == ']');
            if (depth < SG_ARRAY_LEN(glued_stack))
                glued_stack[depth] = (uint8_t)glued;
            depth++;
            if (!glued)
                w++;
            i++;
            if (i < n && cp[i] == '?') { /* (?: (?i) ...: options are syntax */
                i++;
                while (i < n && cp[i] != ':' && cp[i] != ')' && cp[i] != '(')
                    i++;
            }
            continue;
        }
        if (ch == ')') {
            if (depth)
                depth--;
            i++;
            continue;
        }
        if (ch == '|') {
            int glued = depth && depth <= SG_ARRAY_LEN(glued_stack) && glued_stack[depth - 1];
            if (!glued)
                w++;
            i++;
            continue;
        }
        if (ch == '?' || ch == '*' || ch == '+') {
            i++;
            continue;
        }
        uint8_t k = classify(ch);
        if (k == CL_LETTER || k == CL_DIGIT) {
            cp[i] = utf8proc_tolower(ch);
            mark[i] = 1;
            word[i] = w;
        } else {
            w++;
        }
        i++;
    }
    /* fold each word: positions with the same word number */
    size_t a = 0;
    while (a < n) {
        if (!mark[a]) {
            a++;
            continue;
        }
        uint32_t id = word[a];
        size_t b = a, last = a;
        while (b < n) {
            if (mark[b] && word[b] != id)
                break;
            if (mark[b])
                last = b;
            b++;
        }
        fold_word(cp, mark, a, last + 1);
        a = last + 1;
    }
    return n;
}

/* ---- one pass for the common text ---------------------------------------
 * Most SMS are ASCII, the basic Cyrillic alphabet and £ € ₽ (fast_cp's
 * set), and in most of them confusable folding changes no word but ё -> е
 * and padding collapse joins nothing.  For such a text every step of the
 * pipeline is a per-character map, so one pass writes the output directly
 * from the input bytes; a word that folding does change (digits among
 * letters, Latin mixed with Cyrillic) is folded by fold_word as it ends.
 * Anything else (another character, invalid UTF-8, a run of single-letter
 * tokens that collapse_padding could join, an output buffer shorter than
 * twice the input) returns 0 and the general pipeline takes the text from
 * the start.  Both give the same output: tests/test-fastpaths.c and
 * fuzz-norm-url compare them against NORM_SLOW_PATH.  Where SSE2 is
 * there, the block pass below (norm_text_blocks) tries a text first and
 * this one takes what it refuses. */

enum { TOK_LATIN = 1, TOK_CYR = 2, TOK_DIGIT = 4 };

/* Byte classes of the one pass: one table lookup per byte instead of a
 * chain of range tests.  A letter or digit carries its TOK_* bit, so a
 * word's kinds are the OR of its bytes' classes, and OP_LAT << 5 is the
 * 0x20 that lower-cases an ASCII letter. */
enum {
    OP_HIGH = 0,        /* >= 0x80: a multi-byte character */
    OP_LAT = TOK_LATIN, /* A-Z a-z */
    OP_DIG = TOK_DIGIT, /* 0-9 */
    OP_SPACE = 8,       /* ' ' */
    OP_WS = 16,         /* HT LF VT FF CR: a space, and more than case changed */
    OP_DROP = 32,       /* the other C0 controls and DEL: vanish, joining their neighbours */
    OP_PUNCT = 64,      /* the rest of ASCII: kept, ends a word */
};
#define OPC(b)                                                                                     \
    ((b) >= 0x80                                               ? OP_HIGH                          \
     : (((b) | 0x20) >= 'a' && ((b) | 0x20) <= 'z')            ? OP_LAT                           \
     : ((b) >= '0' && (b) <= '9')                              ? OP_DIG                           \
     : (b) == ' '                                              ? OP_SPACE                         \
     : ((b) >= 0x09 && (b) <= 0x0D)                            ? OP_WS                            \
     : ((b) < 0x20 || (b) == 0x7F)                             ? OP_DROP                          \
                                                               : OP_PUNCT)
#define OPC4(b) OPC(b), OPC((b) + 1), OPC((b) + 2), OPC((b) + 3)
#define OPC16(b) OPC4(b), OPC4((b) + 4), OPC4((b) + 8), OPC4((b) + 12)
#define OPC64(b) OPC16(b), OPC16((b) + 16), OPC16((b) + 32), OPC16((b) + 48)
static const uint8_t op_class[256] = {OPC64(0), OPC64(64), OPC64(128), OPC64(192)};

/* The two-byte sequences D0 80..D1 BF (U+0400..U+047F), indexed by
 * (lead & 1) << 6 | (second & 0x3F): for the letters of the fast set the
 * UTF-8 of the folded letter, first byte low, with CYR_YO for Ё ё (which
 * fold to ё and then, by confusable folding, to е: written as е at once;
 * fold_word treats the two alike); 0 for the rest (Ѐ Ђ і ...: not in the
 * fast set, fast_cp's -1). */
#define CYR_YO 0x10000u
#define CYR_LOWER(cp)                                                                              \
    ((cp) >= 0x410 && (cp) <= 0x42F   ? (cp) + 0x20                                               \
     : (cp) >= 0x430 && (cp) <= 0x44F ? (cp)                                                      \
     : ((cp) == 0x401 || (cp) == 0x451) ? 0x435                                                   \
                                        : 0)
#define CYR_ENC(l)                                                                                 \
    ((l) ? (0xC0u | ((unsigned)(l) >> 6)) | ((0x80u | ((unsigned)(l) & 0x3F)) << 8) : 0u)
#define CYR(x) (CYR_ENC(CYR_LOWER(0x400 + (x))) | ((x) == 0x01 || (x) == 0x51 ? CYR_YO : 0u))
#define CYR4(x) CYR(x), CYR((x) + 1), CYR((x) + 2), CYR((x) + 3)
#define CYR16(x) CYR4(x), CYR4((x) + 4), CYR4((x) + 8), CYR4((x) + 12)
#define CYR64(x) CYR16(x), CYR16((x) + 16), CYR16((x) + 32), CYR16((x) + 48)
static const uint32_t cyr_fold[128] = {CYR64(0), CYR64(64)};

/* The folded UTF-8 of the two-byte letter b, 0x80 | c2 when it is in the
 * fast set (low byte first, CYR_YO for Ё ё), else 0: the basic Cyrillic
 * alphabet, and the Latin-1 letters U+00C0..U+00FF (lead C3) but for
 * × ÷ (not letters) and ß (folds to "ss").  Those are NFKC-stable, compose
 * with nothing in the fast set, and fold upper to lower by + 0x20.
 * c2 is the second byte ^ 0x80 (a continuation byte: c2 <= 0x3F). */
static inline uint32_t fast_letter2(unsigned b, unsigned c2)
{
    if (b - 0xD0 <= 1)
        return cyr_fold[((b & 1) << 6) | c2];
    if (b == 0xC3 && c2 != 0x17 && c2 != 0x37 && c2 != 0x1F)
        return 0xC3u | (0x80u | c2 | (c2 < 0x1F ? 0x20u : 0)) << 8;
    return 0;
}

/* The one pass met three single-character words in a row ("з а й м"):
 * padding collapse (step 4) may join them.  out[0..o) is the text with
 * every other step done, and that is the same for step 4 as the general
 * path's code points: a word of one character is never folded, and
 * folding keeps letters and digits alphanumeric.  So step 4 runs on it,
 * folding each run it joins as one word, and the result is encoded again.
 * Only out[from..to) goes through it: from is the first word of the
 * first run of single-character words that reached three, to the end of
 * the last word counted third or later in such a run.  Every run step 4
 * joins is three or more such words in a row, so none lies outside (the
 * one pass would have counted it), and the bytes outside are final: those
 * after `to` move up by what the collapse removed.  Returns the new
 * length (never more than o). */
static size_t onepass_collapse(norm_ctx_t *c, char *out, size_t from, size_t to, size_t o,
                               size_t cap)
{
    size_t n = 0;
    for (size_t i = from; i < to;) { /* valid UTF-8 of at most three bytes */
        uint8_t b = (uint8_t)out[i];
        int32_t cp;
        uint8_t k;
        if (b < 0x80) {
            /* classify()'s ASCII part, inline: nearly every character */
            cp = b;
            k = b == ' '                               ? CL_SPACE
                : (unsigned)(b - '0') < 10u            ? CL_DIGIT
                : (unsigned)((b | 0x20) - 'a') < 26u   ? CL_LETTER
                : b < 0x21                             ? CL_SPACE
                                                       : CL_OTHER;
            i++;
        } else if (b < 0xE0) {
            cp = ((int32_t)(b & 0x1F) << 6) | ((uint8_t)out[i + 1] & 0x3F);
            /* the two-byte letters the one pass writes: Latin-1 (lead C3)
             * and Cyrillic (D0 D1), all Ll; the rest (£) asks utf8proc */
            k = b == 0xC3 || b == 0xD0 || b == 0xD1 ? CL_LETTER : classify(cp);
            i += 2;
        } else {
            cp = ((int32_t)(b & 0x0F) << 12) | (((uint8_t)out[i + 1] & 0x3F) << 6) |
                 ((uint8_t)out[i + 2] & 0x3F);
            k = classify(cp);
            i += 3;
        }
        c->cp[n] = cp;
        c->cls[n++] = k;
    }
    n = collapse_padding(c, n, 1);
    size_t w = 0;
    char rest0 = out[to]; /* the NUL encode_out writes lands here when w == to - from */
    encode_out(c->cp, n, out + from, cap - from, &w, 1); /* w <= to - from */
    out[to] = rest0;
    memmove(out + from + w, out + to, o - to + 1); /* the rest and the NUL */
    return from + w + (o - to);
}

/* fold_word on the word w[0..n) as the one pass and the block pass write
 * words, and on nothing else: ASCII letters (lower case) and digits, the
 * Latin-1 letters U+00E0..U+00FF (lead C3) and the basic Cyrillic а-я
 * (U+0430..U+044F, lead D0 or D1; ё is е by then).  Writes the folded word
 * to dst (room for 2 * n bytes: a Latin letter may become a two-byte
 * Cyrillic one) and returns its length.
 *
 * fold_word takes code points and a mark per position, and pays for that
 * generality (a decode, a range test per script, a table search per
 * letter): some 500 instructions a word on replay-20k, for the 1 in 5
 * texts with a word to fold.  Here the same rules work on the bytes:
 * within this alphabet is_cyrillic() is "lead D0 or D1", is_latin() the
 * rest of the letters, cmap_get(to_latin) is cmap_index.latin_of (ASCII
 * and Latin-1 map to nothing below U+0131), cmap_get(to_cyrillic) is
 * cmap_index.cyrillic_of for ASCII and nothing for the others (ё, its one
 * entry above ASCII, is not met).  tests/test-fastpaths.c compares the
 * result with NORM_SLOW_PATH (fold_word) on every letter of the alphabet,
 * in words of one script and mixed, with digit runs everywhere. */
static size_t fold_word_bytes(const char *w, size_t n, char *dst)
{
    size_t cyr_only = 0, lat_only = 0, cyr_all = 0, lat_all = 0;
    for (size_t i = 0; i < n;) {
        const uint8_t b = (uint8_t)w[i];
        if (b < 0x80) {
            if (b > '9') { /* a letter, not a digit */
                lat_all++;
                lat_only += !cmap_index.cyrillic_of[b];
            }
            i++;
        } else if (b == 0xC3) { /* Latin-1: no Cyrillic look-alike */
            lat_all++;
            lat_only++;
            i += 2;
        } else { /* D0 or D1: U+0400..U+047F */
            const unsigned cp = ((b & 1u) << 6 | ((uint8_t)w[i + 1] & 0x3Fu));
            cyr_all++;
            cyr_only += cp >= 0x60 || !cmap_index.latin_of[cp];
            i += 2;
        }
    }
    if (cyr_all + lat_all == 0) {
        memcpy(dst, w, n); /* a number: never touched */
        return n;
    }
    int cyr = word_is_cyrillic(cyr_all, lat_all, cyr_only, lat_only);
    size_t o = 0, letters_before = 0;
    for (size_t i = 0; i < n;) {
        const uint8_t b = (uint8_t)w[i];
        if (b > '9') { /* a letter */
            letters_before++;
            if (b < 0x80) {
                const uint16_t r = cyr ? cmap_index.cyrillic_of[b] : 0;
                if (r) {
                    dst[o++] = (char)(0xC0 | (r >> 6));
                    dst[o++] = (char)(0x80 | (r & 0x3F));
                } else {
                    dst[o++] = (char)b;
                }
                i++;
                continue;
            }
            const unsigned cp = ((b & 1u) << 6 | ((uint8_t)w[i + 1] & 0x3Fu));
            const uint8_t r = !cyr && b != 0xC3 && cp < 0x60 ? cmap_index.latin_of[cp] : 0;
            if (r) {
                dst[o++] = (char)r;
            } else {
                dst[o++] = (char)b;
                dst[o++] = w[i + 1];
            }
            i += 2;
            continue;
        }
        /* a run of digits: fold_word's rule (digit_run_folds), the run
         * folded only when every digit resembles a letter */
        size_t j = i;
        int lookalike = 1;
        for (; j < n && (uint8_t)w[j] <= '9'; j++) {
            const char d = w[j]; /* digit_cyr and digit_latin */
            if (cyr ? d != '0' && d != '3' && d != '4' && d != '6'
                    : d != '0' && d != '1' && d != '3' && d != '5')
                lookalike = 0;
        }
        if (lookalike && digit_run_folds(letters_before, j < n, j - i, cyr)) {
            for (; i < j; i++) {
                const int32_t r = cyr ? cmap_get(digit_cyr, SG_ARRAY_LEN(digit_cyr), w[i])
                                      : cmap_get(digit_latin, SG_ARRAY_LEN(digit_latin), w[i]);
                if (r < 0x80) {
                    dst[o++] = (char)r;
                } else {
                    dst[o++] = (char)(0xC0 | (r >> 6));
                    dst[o++] = (char)(0x80 | (r & 0x3F));
                }
            }
        } else {
            for (; i < j; i++)
                dst[o++] = w[i];
        }
    }
    return o;
}

/* Folds the word out[from..o) (ASCII and two-byte letters only) with
 * fold_word_bytes and writes it back; returns its new end, or 0 when the
 * result does not fit in cap (a word is never empty: 0 is no end).
 * *changed is set when the word's bytes changed.  c->tmp is the scratch
 * (4 * c->cap bytes; the word is at most len <= c->cap bytes, its fold
 * twice that). */
static size_t onepass_fold_word(norm_ctx_t *c, char *out, size_t from, size_t o, size_t cap,
                                unsigned *changed)
{
    char *folded = (char *)c->tmp;
    const size_t n = fold_word_bytes(out + from, o - from, folded);
    if (from + n + 1 > cap)
        return 0; /* room for the word and the final NUL */
    *changed |= n != o - from || memcmp(out + from, folded, n) != 0;
    memcpy(out + from, folded, n);
    return from + n;
}

/* 1 when fold_word would leave the word out[from..o) as it is, known
 * without folding it: a word of one script and digits ("427r", "4850р",
 * "12hrs", "KL341", "box95") keeps its letters (a Latin word maps none
 * of its own letters, a Cyrillic one only ё, already е), so only its
 * digit runs could change, and this is fold_word's rule for them: a run
 * with a digit that resembles no letter stays; a leading run stays but
 * for one digit before a Cyrillic word; a run between letters becomes
 * letters; a trailing run does after at least as many letters, two at
 * least.  0: fold it (mixed scripts, or a run that changes). */
static int onepass_fold_noop(const char *out, size_t from, size_t o, unsigned tok)
{
    int cyr;
    if (tok == (TOK_DIGIT | TOK_LATIN))
        cyr = 0;
    else if (tok == (TOK_DIGIT | TOK_CYR))
        cyr = 1;
    else
        return 0;
    size_t letters_before = 0, i = from;
    while (i < o) {
        uint8_t b = (uint8_t)out[i];
        if (b < '0' || b > '9') { /* a letter, one or two bytes */
            letters_before++;
            i += b >= 0x80 ? 2 : 1;
            continue;
        }
        size_t j = i;
        int lookalike = 1;
        for (; j < o && out[j] >= '0' && out[j] <= '9'; j++) {
            char d = out[j]; /* digit_cyr and digit_latin */
            if (cyr ? d != '0' && d != '3' && d != '4' && d != '6'
                    : d != '0' && d != '1' && d != '3' && d != '5')
                lookalike = 0;
        }
        size_t run = j - i;
        int fold = digit_run_folds(letters_before, j < o, run, cyr);
        if (fold && lookalike)
            return 0;
        i = j;
    }
    return 1;
}

/* What the one pass carries from character to character. */
struct onepass {
    size_t o;            /* bytes written */
    size_t ts;           /* where the open word starts in out */
    size_t gap, singles; /* padding: see below */
    unsigned tok;        /* TOK_* of the open word, 0: none */
    unsigned rewritten;  /* more than letter case changed: nonzero */
    int pending_space;   /* a space is owed before the next character */
    int last_space;      /* the last character read was white space */
    int padding;         /* three single characters in a row: onepass_collapse */
    size_t run_from;     /* where the run of single characters counted in singles starts */
    size_t pad_from;     /* run_from when padding was set: collapse starts there */
    size_t pad_to;       /* the end of the last word counted third or more: it ends there */
};

#if defined(__SSE2__)

/* Sixteen bytes of the one pass at once, for the common stretch of text:
 * ASCII letters, digits, printable punctuation, single spaces and basic
 * Cyrillic letters (А-я, without Ё ё), where no word mixes kinds (Latin,
 * Cyrillic, digits), none is a single character and no space is doubled.
 * There every step is the identity but case folding, and the output is
 * the input lower-cased, byte for byte.  The classes are found with SSE2
 * compares, one bit per byte (bit j: in[j]), and the conditions checked
 * on those masks, the one pass's state standing for the bytes before.
 * Returns the bytes consumed (16, or 15 when in[15] starts a two-byte
 * letter), with *st as the character-by-character path leaves it; 0 when
 * the block needs that path (the caller then takes the next sixteen
 * bytes that way).  cap > 2 * len leaves room for the 16-byte store. */
static inline size_t onepass_block16(const uint8_t *in, char *out, struct onepass *st)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)in);
    const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
    /* signed compares: bytes >= 0x80 are negative, below every ASCII class */
    const __m128i is_l = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                       _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i is_d = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                       _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    const __m128i is_s = _mm_cmpeq_epi8(x, _mm_set1_epi8(' '));
    const __m128i is_pr = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(' ')),
                                        _mm_cmplt_epi8(x, _mm_set1_epi8(0x7F)));
    const __m128i is_d0 = _mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xD0));
    const __m128i is_d1 = _mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xD1));
    const __m128i lt90 = _mm_cmplt_epi8(x, _mm_set1_epi8((char)0x90)); /* 80..8F */
    const __m128i lta0 = _mm_cmplt_epi8(x, _mm_set1_epi8((char)0xA0));
    const __m128i ltb0 = _mm_cmplt_epi8(x, _mm_set1_epi8((char)0xB0));
    const __m128i ltc0 = _mm_cmplt_epi8(x, _mm_set1_epi8((char)0xC0)); /* 80..BF */
    const unsigned m_l = (unsigned)_mm_movemask_epi8(is_l);
    const unsigned m_d = (unsigned)_mm_movemask_epi8(is_d);
    const unsigned m_s = (unsigned)_mm_movemask_epi8(is_s);
    const unsigned m_pr = (unsigned)_mm_movemask_epi8(is_pr);
    const unsigned m_d0 = (unsigned)_mm_movemask_epi8(is_d0);
    const unsigned m_d1 = (unsigned)_mm_movemask_epi8(is_d1);
    const unsigned m_80 = (unsigned)_mm_movemask_epi8(lt90);
    const unsigned m_90 = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(lt90, ltc0));
    /* А-я: D0 90..BF, D1 80..8F; lead bits in vl, both bytes in cyr */
    const unsigned vl = (m_d0 & (m_90 >> 1)) | (m_d1 & (m_80 >> 1));
    unsigned cyr = vl | vl << 1;
    size_t n = 16;
    unsigned keep = 0xFFFF; /* the bytes consumed */
    if ((m_pr | m_s | cyr) != 0xFFFF) {
        /* only a lead byte at the end, its second byte in the next block */
        if ((m_pr | m_s | cyr) != 0x7FFF || !((m_d0 | m_d1) & 0x8000))
            return 0;
        n = 15;
        keep = 0x7FFF;
        cyr |= 0x8000; /* a letter follows byte 14 (or the text is not the one pass's) */
    }
    const unsigned alnum = m_l | m_d | cyr;
    unsigned tok = st->tok, carry = 0;
    if (tok) {
        if (tok & (tok - 1))
            return 0; /* the open word mixes kinds: folded as it ends */
        carry = 1;
        if ((alnum & 1) && tok != ((m_l & 1) ? (unsigned)TOK_LATIN : (m_d & 1) ? (unsigned)TOK_DIGIT
                                                                            : (unsigned)TOK_CYR))
            return 0;
    }
    /* neighbours of different kinds: a word to fold */
    if ((m_l & ((m_d | cyr) >> 1)) | (m_d & ((m_l | cyr) >> 1)) | (cyr & ((m_l | m_d) >> 1)))
        return 0;
    if ((m_s & (m_s << 1 | (unsigned)st->last_space)) || (st->o == 0 && (m_s & 1)))
        return 0; /* a doubled or a leading space */
    /* Padding: words of one character ("в", "I") are counted, and three in
     * a row (with at most three characters between neighbours) hand the
     * text to collapse.  Here no two words that end in the block, one
     * after the other, may both be single characters, so the count never
     * reaches three: it is one after a single character, zero after a
     * longer word, and the characters between words (gap) matter only
     * after the block's last word when that is a single character.  The
     * word open before the block, when it ends at byte 0, comes first. */
    const unsigned start = alnum & ~(alnum << 1 | carry);
    const unsigned end = alnum & ~(alnum >> 1) & 0x7FFF; /* what follows byte 15 is unknown */
    const unsigned single = (start & end & (m_l | m_d)) | ((start & vl) << 1 & end);
    const int open_end = carry && !(alnum & 1); /* the open word ends before byte 0 */
    int open_single = 0;
    const size_t open_ts = st->ts; /* st->ts may move to a word opened below */
    if (open_end) {
        size_t tl = st->o - st->ts;
        open_single = tl == 1 || (tl == 2 && (uint8_t)out[st->ts] >= 0x80);
    }
    const int ended = end != 0 || open_end;
    if (st->singles && !ended)
        return 0; /* the gap would need counting */
    if (single | (unsigned)open_single) {
        for (unsigned m = single; m; m &= m - 1) {
            unsigned bit = m & (0 - m), after = end & ~(bit | (bit - 1));
            if (after & (0 - after) & single)
                return 0; /* the next word is a single character too */
        }
        if (open_single && (end & (0 - end) & single))
            return 0;
        /* the count before the first word: a single one adds to it */
        int first_single = open_end ? open_single : (end & (0 - end) & single) != 0;
        if (first_single && st->singles &&
            (st->singles >= 2 || open_end + __builtin_popcount(end) == 1))
            return 0;
    }

    /* lower case: ASCII letters | 0x20; D0 90..9F -> D0 B0..BF (+ 0x20),
     * D0 A0..AF -> D1 80..8F (- 0x20, lead + 1) */
    __m128i y = _mm_or_si128(x, _mm_and_si128(is_l, _mm_set1_epi8(0x20)));
    const __m128i after_d0 = _mm_slli_si128(is_d0, 1);
    const __m128i up1 = _mm_and_si128(after_d0, _mm_andnot_si128(lt90, lta0));
    const __m128i up2 = _mm_and_si128(after_d0, _mm_andnot_si128(lta0, ltb0));
    y = _mm_add_epi8(y, _mm_and_si128(up1, _mm_set1_epi8(0x20)));
    y = _mm_sub_epi8(y, _mm_and_si128(up2, _mm_set1_epi8(0x20)));
    y = _mm_sub_epi8(y, _mm_srli_si128(up2, 1)); /* - (-1) on the lead byte */
    size_t o = st->o;
    if (st->pending_space)
        out[o++] = ' ';
    _mm_storeu_si128((__m128i *)(void *)(out + o), y);

    const unsigned last = 1u << (n - 1);
    if (m_s & last) { /* a trailing space is owed, not written */
        st->o = o + n - 1;
        st->pending_space = st->last_space = 1;
        st->tok = 0;
    } else {
        st->o = o + n;
        st->pending_space = st->last_space = 0;
        if (alnum & last) { /* a word open at the end */
            unsigned s = start & keep;
            if (s) {
                st->ts = o + (size_t)(31 - __builtin_clz(s));
                st->tok = (m_l & last) ? TOK_LATIN : (m_d & last) ? TOK_DIGIT : TOK_CYR;
            } /* else the word open before goes on, same kind */
        } else {
            st->tok = 0;
        }
    }
    if (ended) {
        unsigned lastb = end ? 1u << (31 - __builtin_clz(end)) : 0;
        if (lastb ? (lastb & single) != 0 : open_single) {
            /* the last word was one character: the count is one, and the
             * gap the punctuation and white space runs after it */
            unsigned above = lastb ? keep & ~(lastb | (lastb - 1)) : keep;
            unsigned between = (m_pr & ~(m_l | m_d)) | (m_s & ~(m_s << 1));
            st->singles = 1;
            st->gap = (size_t)__builtin_popcount(between & above);
            /* the word starts at its bit, or a byte before (Cyrillic) */
            st->run_from = !lastb                  ? open_ts
                           : (lastb & (m_l | m_d)) ? o + (size_t)__builtin_ctz(lastb)
                                                   : o + (size_t)__builtin_ctz(lastb) - 1;
        } else {
            st->singles = 0;
        }
    }
    return n;
}
#endif

/* The open word ends: folded when it mixes kinds, counted for padding
 * collapse when it is one character.  0 when the fold does not fit. */
static inline int onepass_word_end(norm_ctx_t *c, char *out, size_t cap, struct onepass *st)
{
    unsigned tok = st->tok;
    if (((tok & (TOK_LATIN | TOK_CYR)) && (tok & TOK_DIGIT)) ||
        (tok & (TOK_LATIN | TOK_CYR)) == (TOK_LATIN | TOK_CYR)) {
        /* two kinds: at least two characters, so not a single; rewritten
         * only when folding changed it */
        if (!onepass_fold_noop(out, st->ts, st->o, tok)) {
            size_t o = onepass_fold_word(c, out, st->ts, st->o, cap, &st->rewritten);
            if (!o)
                return 0;
            st->o = o;
        }
        st->singles = 0;
    } else if (st->o - st->ts == 1 || (st->o - st->ts == 2 && (uint8_t)out[st->ts] >= 0x80)) {
        if (st->singles && st->gap <= 3) {
            st->singles++;
        } else {
            st->singles = 1;
            st->run_from = st->ts;
        }
        if (st->singles >= 3) {
            if (!st->padding)
                st->pad_from = st->run_from;
            st->padding = 1;
            st->pad_to = st->o;
        }
    } else {
        st->singles = 0;
    }
    st->gap = 0;
    st->tok = 0;
    return 1;
}

static int norm_text_onepass(norm_ctx_t *c, const uint8_t *in, size_t len, char *out, size_t cap,
                             size_t *outlen)
{
    /* An input byte gives at most two output bytes (a Latin letter or a
     * digit folded to Cyrillic), and a space is written only for a white
     * space byte read: with this much room no write below needs a check. */
    if (len > c->cap || cap <= 2 * len)
        return 0; /* the general path reports the cut exactly */
    /* padding collapse needs three single-character tokens in a row with at
     * most three characters between neighbours: gap counts those characters
     * (a run of white space as one), singles the run.  rewritten: a word
     * folded, ё, a tab or line break made a space (dropping a control or a
     * space shortens the text). */
    struct onepass st = {0};
    size_t i = 0;
#if defined(__SSE2__)
    size_t slow_until = 0; /* after a block the SSE2 path refused */
#endif
    while (i < len) {
#if defined(__SSE2__)
        if (i >= slow_until && len - i >= 16) {
            size_t n = onepass_block16(in + i, out, &st);
            if (n) {
                i += n;
                continue;
            }
            slow_until = i + 16;
        }
#endif
        /* one character */
        uint8_t b = in[i];
        unsigned k = op_class[b];
        uint32_t v = 0; /* a two-byte letter: its folded UTF-8 */
        if (k == OP_HIGH) {
            unsigned c2 = i + 1 < len ? in[i + 1] ^ 0x80u : 0xFFu;
            if (c2 <= 0x3F)
                v = fast_letter2(b, c2);
        }
        if ((k & (OP_LAT | OP_DIG)) || v) { /* a letter or digit: the word goes on or starts */
            if (!st.tok) {
                if (st.pending_space)
                    out[st.o++] = ' ';
                st.pending_space = st.last_space = 0;
                st.ts = st.o;
            }
            if (!v) {
                out[st.o++] = (char)(b | (k & OP_LAT) << 5);
                st.tok |= k;
                i++;
            } else {
                out[st.o++] = (char)(v & 0xFF);
                out[st.o++] = (char)((v >> 8) & 0xFF);
                st.rewritten |= v & CYR_YO;
                st.tok |= b == 0xC3 ? TOK_LATIN : TOK_CYR;
                i += 2;
            }
            continue;
        }
        if (k == OP_DROP) {
            i++;
            continue; /* vanishes without ending the word */
        }
        if (st.tok && !onepass_word_end(c, out, cap, &st))
            return 0;
        if (k == OP_SPACE || k == OP_WS) {
            st.rewritten |= k & OP_WS;
            st.gap += !st.last_space;
            st.last_space = 1;
            st.pending_space = st.o > 0;
            i++;
            continue;
        }
        size_t sl = 1; /* punctuation, or one of £ € ₽ */
        if (k == OP_HIGH) {
            if (b == 0xC2 && i + 1 < len && in[i + 1] == 0xA3)
                sl = 2;
            else if (b == 0xE2 && i + 2 < len && in[i + 1] == 0x82 &&
                     (in[i + 2] == 0xAC || in[i + 2] == 0xBD))
                sl = 3;
            else
                return 0; /* another character: the general path's */
        }
        st.gap++;
        st.last_space = 0;
        if (st.pending_space)
            out[st.o++] = ' ';
        st.pending_space = 0;
        for (size_t m = 0; m < sl; m++)
            out[st.o++] = (char)in[i++];
    }
    if (st.tok && !onepass_word_end(c, out, cap, &st))
        return 0;
    out[st.o] = '\0';
    if (st.padding) {
        st.o = onepass_collapse(c, out, st.pad_from, st.pad_to, st.o, cap);
        st.rewritten = 1;
    }
    if (outlen)
        *outlen = st.o;
    c->case_only = !st.rewritten && st.o == len;
    return 1;
}

#if defined(__SSE2__)

/* ---- the whole text sixteen bytes at a time -----------------------------
 * The one pass above decides, character by character or block by block,
 * what each byte does to the state it carries (the open word, the count
 * of single-character words, a pending space), and most of its cost went
 * there: 210 instructions a sixteen-byte block, some 50 a character for
 * the blocks it refused and for every text's last bytes (callgrind,
 * replay-20k).  Yet in nearly every SMS the answer is the same: the
 * output is the input with letters lower-cased, byte for byte.  So this
 * pass first writes exactly that, sixteen bytes per step with no state
 * between steps (a step reads the byte before and the byte after its
 * sixteen, so a two-byte letter split by a step boundary is seen whole
 * from both sides; the text's last step overlaps the one before it), and
 * keeps for every input byte one bit per class: ASCII or Latin-1 letter,
 * digit, basic Cyrillic letter, space, byte >= 0x80, and the other bytes
 * >= 0x80 (X).  Then it asks the masks, 64 bytes per question, whether
 * anything but lower-casing applies:
 *   - a byte outside the one pass's set (controls, tabs and line breaks,
 *     other characters, invalid UTF-8), a leading, trailing or doubled
 *     space: the one pass takes the text (it drops, joins and cuts);
 *   - the X bytes: Latin-1 letters, Ё ё (written е, as the one pass does)
 *     and £ € ₽ are checked and written one character at a time;
 *   - a word that mixes Latin, Cyrillic and digits (neighbouring letters
 *     or digits of two kinds): checked with onepass_fold_noop and, when it
 *     changes, folded in place by fold_word; a fold that changes the
 *     word's length in bytes ("нa", Latin a, becomes one byte longer)
 *     moves the rest of the text (blocks_fold_word);
 *   - three single-character words in a row, whatever lies between them:
 *     padding collapse may join them, and onepass_collapse does it on the
 *     stretch from the first such word to the end of the last one (the
 *     one pass's window, found here without its gap count: a superset of
 *     what it collapses is as good, collapse_padding decides); after a
 *     fold moved words, the one pass takes the text.
 * Every refusal leaves out as scratch and the one pass starts over, so
 * the result is the one pass's for every input (fuzz-norm-url and
 * test-text-norm compare both with NORM_SLOW_PATH).  With
 * NORM_FINGERPRINT the digit mask gives the fingerprint without another
 * pass over the output (blocks_fingerprint).  replay-20k: 1,834
 * instructions a message before, 1,027 after; 1.1% of the texts go on
 * to the one pass. */

static inline uint64_t bm_word(const uint16_t *a, size_t w)
{
    uint64_t v;
    memcpy(&v, a + 4 * w, sizeof v); /* four entries, the first in the low bits (x86) */
    return v;
}

static inline void bm_put(uint16_t *a, size_t w, uint64_t v)
{
    memcpy(a + 4 * w, &v, sizeof v);
}

static inline void bm_set(uint16_t *a, size_t q)
{
    a[q >> 4] = (uint16_t)(a[q >> 4] | 1u << (q & 15));
}

/* fold_word on the word out[from..to) (ASCII and two-byte letters) of
 * the text out[0..o), in place; returns the word's new end.  A letter
 * that changes script may change its width (Latin a, one byte, for
 * Cyrillic а, two): the rest of the text then moves, at most
 * BLOCKS_RESIZE times a text (*resized counts them), so that a text of
 * many such words costs no more than the one pass; 0 past that.
 * *changed is set when a byte changed.  out has room: cap > 2 * len. */
#define BLOCKS_RESIZE 16
static size_t blocks_fold_word(norm_ctx_t *c, char *out, size_t from, size_t to, size_t o,
                               unsigned *resized, unsigned *changed)
{
    char *folded = (char *)c->tmp; /* 4 * c->cap bytes, the word at most len <= c->cap */
    const size_t bytes = fold_word_bytes(out + from, to - from, folded);
    if (bytes != to - from) {
        if (++*resized > BLOCKS_RESIZE)
            return 0;
        memmove(out + from + bytes, out + to, o - to);
        *changed = 1;
    } else if (memcmp(out + from, folded, bytes) != 0) {
        *changed = 1;
        /* The same width: every letter kept its width (a fold maps all
         * its letters one way, to one script), so the digits it made
         * letters lie where they did.  With no move before, out's bytes
         * lie where the input's do, and their bits go from the digit
         * mask: it stays out's, for blocks_fingerprint. */
        if (!*resized)
            for (size_t k = from; k < to; k++)
                if (out[k] >= '0' && out[k] <= '9' && folded[k - from] != out[k])
                    c->bm[BM_D][k >> 4] = (uint16_t)(c->bm[BM_D][k >> 4] & ~(1u << (k & 15)));
    }
    memcpy(out + from, folded, bytes);
    return from + bytes;
}

/* The end of the word that holds byte q (the first byte after it that is
 * no letter or digit, or len) and the OR of its bytes' TOK_* into *tok,
 * from q on. */
static size_t bm_word_end(uint16_t (*m)[BM_ENTRIES], size_t q, size_t len, unsigned *tok)
{
    size_t w = q / 64;
    uint64_t from = ~0ull << (q & 63);
    for (;; w++, from = ~0ull) {
        const uint64_t a = bm_word(m[BM_A], w), stop = ~a & from;
        const uint64_t in = stop ? from & ((stop & (0 - stop)) - 1) : from;
        *tok |= (bm_word(m[BM_L], w) & in ? TOK_LATIN : 0u) | (bm_word(m[BM_C], w) & in ? TOK_CYR : 0u) |
                (bm_word(m[BM_D], w) & in ? TOK_DIGIT : 0u);
        if (stop) {
            size_t e = 64 * w + (size_t)__builtin_ctzll(stop);
            return e < len ? e : len;
        }
    }
}

/* The start of the word that holds byte q (q is a letter or digit). */
static size_t bm_word_start(uint16_t (*m)[BM_ENTRIES], size_t q)
{
    size_t w = q / 64;
    uint64_t below = (2ull << (q & 63)) - 1; /* q and the bytes before it in its word */
    if ((q & 63) == 63)
        below = ~0ull;
    for (;; w--, below = ~0ull) {
        const uint64_t st = bm_word(m[BM_ST], w) & below;
        if (st)
            return 64 * w + 63 - (size_t)__builtin_clzll(st);
    }
}

/* One step of the block pass: the sixteen bytes in[p..p+16) lower-cased
 * into out[p..p+16), their masks into entry b (less the first sh bytes:
 * the text's last step, p = len - 16, overlaps the one before).  *bad
 * gets the bytes outside the set, *anyx the X bytes. */
static inline __attribute__((always_inline)) void blocks_step(const uint8_t *in, size_t len, size_t p, unsigned sh, char *out,
                               uint16_t (*m)[BM_ENTRIES], size_t b, unsigned *bad, unsigned *anyx)
{
    const __m128i k20 = _mm_set1_epi8(0x20);
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(in + p));
    /* signed compares after an add that moves each range to the bottom:
     * bytes >= 0x80 fall in none of these */
    const __m128i is_l = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(x, k20), _mm_set1_epi8(0x80 - 'a')),
                                        _mm_set1_epi8(-128 + 26));
    const __m128i is_d = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x80 - '0')),
                                        _mm_set1_epi8(-128 + 10));
    const __m128i is_pr = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x80 - 0x20)),
                                         _mm_set1_epi8(-128 + 0x5F)); /* ' '..'~' */
    __m128i y = _mm_or_si128(x, _mm_and_si128(is_l, k20));
    const unsigned hi = (unsigned)_mm_movemask_epi8(x);
    unsigned cyr = 0;
    unsigned lead15 = 0; /* byte 15 leads Р-Я, its second byte in the next step */
    if (hi) {
        /* А-я: D0 90..BF and D1 80..8F, seen from the second byte (the
         * byte before it, xp).  A lead is the byte before a second byte:
         * the same mask one byte down, and for byte 15 the text's next
         * byte, read on its own (a load and four compares less a step
         * than seeing leads from the byte after them) */
        const __m128i xp = p ? _mm_loadu_si128((const __m128i *)(const void *)(in + p - 1))
                             : _mm_slli_si128(x, 1);
        const __m128i c90 = _mm_set1_epi8((char)0x90), ca0 = _mm_set1_epi8((char)0xA0);
        const __m128i cb0 = _mm_set1_epi8((char)0xB0), cc0 = _mm_set1_epi8((char)0xC0);
        const __m128i p0 = _mm_cmpeq_epi8(xp, _mm_set1_epi8((char)0xD0));
        const __m128i p1 = _mm_cmpeq_epi8(xp, _mm_set1_epi8((char)0xD1));
        const __m128i x80 = _mm_cmplt_epi8(x, c90), xa0 = _mm_cmplt_epi8(x, ca0); /* 80..8F, 80..9F */
        const __m128i xb0 = _mm_cmplt_epi8(x, cb0), xc0 = _mm_cmplt_epi8(x, cc0); /* 80..AF, 80..BF */
        const __m128i second = _mm_or_si128(_mm_and_si128(p0, _mm_andnot_si128(x80, xc0)),
                                            _mm_and_si128(p1, x80));
        const unsigned sec = (unsigned)_mm_movemask_epi8(second);
        unsigned lead = sec >> 1;
        if (p + 16 < len && (hi & 0x8000)) {
            const unsigned b15 = in[p + 15], b16 = in[p + 16];
            if ((b15 == 0xD0 && b16 - 0x90u < 0x30u) || (b15 == 0xD1 && b16 - 0x80u < 0x10u))
                lead |= 0x8000;
            lead15 = b15 == 0xD0 && b16 - 0xA0u < 0x10u;
        }
        cyr = sec | lead;
        /* А-П: D0 90..9F -> D0 B0..BF; Р-Я: D0 A0..AF -> D1 80..8F, the
         * lead D0 + 1 (the second byte's mask one byte down) */
        const __m128i up = _mm_and_si128(p0, _mm_andnot_si128(x80, xa0));
        const __m128i dn = _mm_and_si128(p0, _mm_andnot_si128(xa0, xb0));
        y = _mm_add_epi8(y, _mm_or_si128(_mm_and_si128(up, k20),
                                         _mm_and_si128(dn, _mm_set1_epi8((char)0xE0))));
        y = _mm_sub_epi8(y, _mm_srli_si128(dn, 1)); /* - (-1) */
    }
    _mm_storeu_si128((__m128i *)(void *)(out + p), y);
    if (lead15)
        out[p + 15] = (char)0xD1;
    *bad |= ~((unsigned)_mm_movemask_epi8(is_pr) | hi) & 0xFFFFu;
    const unsigned xm = (hi & ~cyr) >> sh;
    m[BM_L][b] = (uint16_t)((unsigned)_mm_movemask_epi8(is_l) >> sh);
    m[BM_D][b] = (uint16_t)((unsigned)_mm_movemask_epi8(is_d) >> sh);
    m[BM_C][b] = (uint16_t)(cyr >> sh);
    m[BM_S][b] = (uint16_t)((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, k20)) >> sh);
    m[BM_H][b] = (uint16_t)(hi >> sh);
    m[BM_X][b] = (uint16_t)xm;
    *anyx |= xm;
}

/* norm_fingerprint of out[0..len) when the digit mask BM_D holds its
 * digits: each run's first digit becomes '#', the others are skipped, the
 * stretches between runs are copied sixteen bytes at a time (out has
 * cap > 2 * len bytes, c->bytes 4 * cap: reading and writing past a
 * stretch's end stays in both), and the copy is hashed as
 * norm_fingerprint hashes it; a text with no digit is hashed as it is. */
static uint64_t blocks_fingerprint(norm_ctx_t *c, const char *out, size_t len, size_t nw)
{
    uint16_t(*m)[BM_ENTRIES] = c->bm;
    char *buf = (char *)c->bytes;
    size_t n = 0, i = 0; /* bytes written; the next byte of out to copy */
    uint64_t carry = 0;
    for (size_t w = 0; w < nw; w++) {
        const uint64_t d = bm_word(m[BM_D], w);
        uint64_t rs = d & ~(d << 1 | carry); /* the runs that start in this word */
        carry = d >> 63;
        for (; rs; rs &= rs - 1) {
            const size_t r = 64 * w + (size_t)__builtin_ctzll(rs);
            for (size_t k = 0; k < r - i; k += 16)
                _mm_storeu_si128((__m128i *)(void *)(buf + n + k),
                                 _mm_loadu_si128((const __m128i *)(const void *)(out + i + k)));
            n += r - i;
            buf[n++] = '#';
            /* the run's end: the next byte that is no digit (the entries
             * past the text's are clear) */
            size_t v = w;
            uint64_t nd = ~d & (~0ull << (r & 63));
            while (!nd)
                nd = ~bm_word(m[BM_D], ++v);
            i = 64 * v + (size_t)__builtin_ctzll(nd);
        }
    }
    if (!n)
        return XXH3_64bits(out, len);
    if (i < len) {
        for (size_t k = 0; k < len - i; k += 16)
            _mm_storeu_si128((__m128i *)(void *)(buf + n + k),
                             _mm_loadu_si128((const __m128i *)(const void *)(out + i + k)));
        n += len - i;
    }
    return XXH3_64bits(buf, n);
}

static int norm_text_blocks(norm_ctx_t *c, const uint8_t *in, size_t len, char *out, size_t cap,
                            size_t *outlen, unsigned want_fp)
{
    /* the output is at most the input long; cap > 2 * len as in the one
     * pass (the fallback) and room for sixteen-byte stores */
    if (len < 16 || len > BLOCKS_MAX || len > c->cap || cap <= 2 * len)
        return 0;
    uint16_t(*m)[BM_ENTRIES] = c->bm;
    const size_t nb = (len + 15) / 16, nw = (len + 63) / 64;
    unsigned bad = 0, anyx = 0, rewritten = 0;
    for (size_t b = 0; b + 1 < nb; b++)
        blocks_step(in, len, 16 * b, 0, out, m, b, &bad, &anyx);
    blocks_step(in, len, len - 16, (unsigned)(16 * nb - len), out, m, nb - 1, &bad, &anyx);
    /* the entries after the text's, up to the first of the next 64-bit word */
    _mm_storeu_si128((__m128i *)(void *)(m[BM_L] + nb), _mm_setzero_si128());
    _mm_storeu_si128((__m128i *)(void *)(m[BM_D] + nb), _mm_setzero_si128());
    _mm_storeu_si128((__m128i *)(void *)(m[BM_C] + nb), _mm_setzero_si128());
    _mm_storeu_si128((__m128i *)(void *)(m[BM_S] + nb), _mm_setzero_si128());
    _mm_storeu_si128((__m128i *)(void *)(m[BM_H] + nb), _mm_setzero_si128());
    /* controls, tabs, line breaks, DEL; spaces the one pass drops */
    if (bad || in[0] == ' ' || in[len - 1] == ' ')
        return 0;
    if (anyx) {
        /* the other bytes >= 0x80, a character at a time (fast_letter2's
         * Latin-1 letters, Ё ё, £ € ₽); their second and third bytes are
         * X bits too (no D0 or D1 before them) and are taken with them */
        for (size_t b = 0; b < nb; b++) {
            unsigned xm = m[BM_X][b];
            while (xm) {
                const size_t q = 16 * b + (size_t)__builtin_ctz(xm);
                const unsigned b0 = in[q], b1 = q + 1 < len ? in[q + 1] : 0, c2 = b1 ^ 0x80u;
                size_t take = 2;
                if (b0 == 0xC3 && c2 <= 0x3F && c2 != 0x17 && c2 != 0x37 && c2 != 0x1F) {
                    out[q + 1] = (char)(b1 | (c2 < 0x1F ? 0x20u : 0u)); /* À-Þ -> à-þ */
                    bm_set(m[BM_L], q);
                    bm_set(m[BM_L], q + 1);
                } else if ((b0 == 0xD0 && b1 == 0x81) || (b0 == 0xD1 && b1 == 0x91)) {
                    out[q] = (char)0xD0; /* Ё ё -> ё -> е */
                    out[q + 1] = (char)0xB5;
                    bm_set(m[BM_C], q);
                    bm_set(m[BM_C], q + 1);
                    rewritten = 1;
                } else if (b0 == 0xC2 && b1 == 0xA3) {
                    /* £ */
                } else if (b0 == 0xE2 && b1 == 0x82 && q + 2 < len && (in[q + 2] == 0xAC || in[q + 2] == 0xBD)) {
                    take = 3; /* € ₽ */
                } else {
                    return 0;
                }
                for (size_t k = q + 1; k < q + take; k++)
                    m[BM_X][k >> 4] = (uint16_t)(m[BM_X][k >> 4] & ~(1u << (k & 15)));
                xm = m[BM_X][b] & (0xFFFEu << (q & 15));
            }
        }
    }
    /* Words, 64 bytes at a time; cX: bit 63 of the word before.  A byte
     * of a kind next to one of another kind (mx) is in a word to fold; a
     * word start (st) followed by no letter or digit, or a two-byte
     * letter's start by none two bytes on, is a single character (sg). */
    uint64_t cl = 0, cd = 0, cc = 0, ca = 0, cs = 0, mixed = 0, dbl = 0;
    size_t nsingle = 0;
    for (size_t w = 0; w < nw; w++) {
        const uint64_t l = bm_word(m[BM_L], w), d = bm_word(m[BM_D], w), cy = bm_word(m[BM_C], w);
        const uint64_t s = bm_word(m[BM_S], w), h = bm_word(m[BM_H], w), a = l | d | cy;
        const uint64_t na = (uint64_t)(m[BM_L][4 * w + 4] | m[BM_D][4 * w + 4] | m[BM_C][4 * w + 4]) & 3;
        const uint64_t lp = l << 1 | cl, dp = d << 1 | cd, cp = cy << 1 | cc;
        const uint64_t mx = (l & (dp | cp)) | (d & (lp | cp)) | (cy & (lp | dp));
        const uint64_t st = a & ~(a << 1 | ca);
        const uint64_t sg = st & ((~h & ~(a >> 1 | na << 63)) | (h & ~(a >> 2 | na << 62)));
        bm_put(m[BM_X], w, mx);
        bm_put(m[BM_A], w, a);
        bm_put(m[BM_ST], w, st);
        bm_put(m[BM_SG], w, sg);
        mixed |= mx;
        dbl |= s & (s << 1 | cs);
        for (uint64_t t = sg; t && nsingle < 3; t &= t - 1)
            nsingle++; /* three at least: a run may be there */
        cl = l >> 63;
        cd = d >> 63;
        cc = cy >> 63;
        ca = a >> 63;
        cs = s >> 63;
    }
    bm_put(m[BM_A], nw, 0); /* a word that ends the text ends there (bm_word_end) */
    if (dbl)
        return 0;
    /* o: the output's length; a word's bytes in out lie o - len after
     * its bytes in the input once a fold before it changed a length */
    size_t o = len;
    unsigned resized = 0, folded = 0; /* folds that changed a word's length, its bytes */
    if (mixed) {
        size_t done = 0; /* the end of the last word folded */
        for (size_t w = 0; w < nw; w++) {
            uint64_t mx = bm_word(m[BM_X], w);
            while (mx) {
                const size_t q = 64 * w + (size_t)__builtin_ctzll(mx);
                mx &= mx - 1;
                if (q < done)
                    continue;
                unsigned tok = 0;
                const size_t from = bm_word_start(m, q);
                done = bm_word_end(m, from, len, &tok);
                const size_t ws = from + o - len, we = done + o - len;
                if (!onepass_fold_noop(out, ws, we, tok)) {
                    size_t e = blocks_fold_word(c, out, ws, we, o, &resized, &folded);
                    if (!e)
                        return 0;
                    o = o + e - we;
                }
            }
        }
    }
    rewritten |= folded;
    out[o] = '\0';
    if (nsingle >= 3) {
        /* runs of single-character words: three in a row, the stretch
         * from the first word of the first such run to the end of the
         * last word counted third or later goes to onepass_collapse */
        size_t run = 0, run_from = 0, pad_from = 0, pad_to = 0;
        for (size_t w = 0; w < nw; w++) {
            uint64_t st = bm_word(m[BM_ST], w);
            const uint64_t sg = bm_word(m[BM_SG], w);
            if (!sg) {
                run = st ? 0 : run;
                continue;
            }
            for (; st; st &= st - 1) {
                const uint64_t bit = st & (0 - st);
                if (!(sg & bit)) {
                    run = 0;
                    continue;
                }
                const size_t q = 64 * w + (size_t)__builtin_ctzll(st);
                if (run++ == 0)
                    run_from = q;
                if (run >= 3) {
                    if (!pad_to)
                        pad_from = run_from;
                    pad_to = q + 1 + ((m[BM_H][q >> 4] >> (q & 15)) & 1u); /* one or two bytes */
                }
            }
        }
        if (pad_to) {
            if (resized)
                return 0; /* a fold moved words: the one pass */
            o = onepass_collapse(c, out, pad_from, pad_to, o, cap);
            rewritten |= o != len;
        }
    }
    if (outlen)
        *outlen = o;
    c->case_only = !rewritten && o == len;
    if (want_fp) /* no word moved: the digit mask is out's (blocks_fold_word keeps it) */
        c->fp = !resized && o == len ? blocks_fingerprint(c, out, len, nw) : norm_fingerprint(out, o);
    return 1;
}
#endif

int norm_last_case_only(const norm_ctx_t *c)
{
    return c && c->case_only;
}

uint64_t norm_last_fingerprint(const norm_ctx_t *c)
{
    return c ? c->fp : 0;
}

uint64_t norm_last(const norm_ctx_t *c, int *case_only)
{
    *case_only = c && c->case_only;
    return c ? c->fp : 0;
}

/* norm_text past the block pass: the one pass, else the general pipeline. */
static int norm_text_rest(norm_ctx_t *c, const char *utf8, size_t len, char *out, size_t cap,
                          size_t *outlen, unsigned flags);

int norm_text(norm_ctx_t *c, const char *utf8, size_t len, char *out, size_t cap, size_t *outlen,
              unsigned flags)
{
    if (!c || (!utf8 && len) || !out || cap == 0)
        return SG_EINVAL;
    c->case_only = 0;
    const unsigned want_fp = flags & NORM_FINGERPRINT;
    flags &= ~(unsigned)NORM_FINGERPRINT;
#if defined(__SSE2__)
    if (flags == 0 && norm_text_blocks(c, (const uint8_t *)utf8, len, out, cap, outlen, want_fp))
        return 0;
#endif
    if (!want_fp)
        return norm_text_rest(c, utf8, len, out, cap, outlen, flags);
    size_t n = 0;
    int rc = norm_text_rest(c, utf8, len, out, cap, &n, flags);
    if (outlen)
        *outlen = n;
    if (rc == 0 || rc == SG_ENOSPC)
        c->fp = norm_fingerprint(out, n);
    return rc;
}

static int norm_text_rest(norm_ctx_t *c, const char *utf8, size_t len, char *out, size_t cap,
                          size_t *outlen, unsigned flags)
{
    if (flags == 0 && norm_text_onepass(c, (const uint8_t *)utf8, len, out, cap, outlen))
        return 0;
    int trunc = 0;
    size_t blen = clean_utf8(c, (const uint8_t *)utf8, len, &trunc);
    size_t n;
    if (flags & NORM_PATTERN) {
        /* decode only: a regex must keep its syntax characters */
        n = 0;
        size_t i = 0;
        while (i < blen && n < c->cap) {
            int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(c->bytes + i, (utf8proc_ssize_t)(blen - i), &cp);
            if (k <= 0)
                break;
            /* Decimal digits become ASCII as in text (step 2), in
             * literals, classes and ranges alike ([٠-٩] is [0-9]); an
             * escaped one (\٣, a literal digit) loses its backslash, as
             * \3 would be a back-reference.  Escapes written in ASCII
             * (\x{0663}, \p{Nd}) are left as written. */
            int d = cp >= 0x80 ? norm_digit_value(cp) : -1;
            if (d >= 0) {
                cp = '0' + d;
                size_t bs = 0; /* backslashes just before: odd, the digit is escaped */
                while (bs < n && c->cp[n - 1 - bs] == '\\')
                    bs++;
                if (bs & 1)
                    n--;
            }
            c->cp[n++] = cp;
            i += (size_t)k;
        }
        if (i < blen)
            trunc = 1;
        if (!(flags & NORM_NO_CONFUSABLE))
            pattern_fold(c, n);
        else
            for (size_t k = 0; k < n; k++)
                c->cp[k] = utf8proc_tolower(c->cp[k]);
        int rc = encode_out(c->cp, n, out, cap, outlen, 0);
        return rc ? rc : (trunc ? SG_ENOSPC : 0);
    }
    n = nfkc_fold(c, blen, &trunc, (flags & NORM_SLOW_PATH) != 0);
    n = strip_and_classify(c, n);
    if (!(flags & NORM_NO_PADDING))
        n = collapse_padding(c, n, 0);
    if (!(flags & NORM_NO_CONFUSABLE))
        fold_tokens(c, n);
    int rc = encode_out(c->cp, n, out, cap, outlen, 1);
    return rc ? rc : (trunc ? SG_ENOSPC : 0);
}

/* The pairs of glyphs that look like one letter: "rn" -> m, "vv" -> w;
 * 0 for any other pair. */
static inline int32_t skeleton_digraph(int32_t ch, int32_t next)
{
    if (ch == 'r' && next == 'n')
        return 'm';
    if (ch == 'v' && next == 'v')
        return 'w';
    return 0;
}

/* The look-alike glyphs of a sender key that holds a letter, folded in
 * place: 0 q -> o, 1 l -> i, 3 -> e, 5 -> s, 8 -> b, and the digraphs of
 * skeleton_digraph.  Returns the new length. */
static size_t skeleton_fold(int32_t *cp, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ch = cp[i];
        switch (ch) {
        case '0': case 'q': ch = 'o'; break;
        case '1': case 'l': ch = 'i'; break;
        case '3': ch = 'e'; break;
        case '5': ch = 's'; break;
        case '8': ch = 'b'; break;
        default: break;
        }
        int32_t d = i + 1 < n ? skeleton_digraph(ch, cp[i + 1]) : 0;
        if (d) {
            ch = d;
            i++;
        }
        cp[w++] = ch;
    }
    return w;
}

/* Sender keys of ASCII bytes: what a byte is before the look-alike fold
 * (letters lower-cased, '|' and '!' read as 'i', digits kept; 0: white
 * space, punctuation, controls, not part of the key), and what the fold
 * makes of a kept byte (0 q -> o, 1 l -> i, 3 -> e, 5 -> s, 8 -> b). */
#define SKC(b)                                                                                     \
    ((b) >= 'A' && (b) <= 'Z'                        ? (b) | 0x20                                  \
     : ((b) >= 'a' && (b) <= 'z') || ((b) >= '0' && (b) <= '9') ? (b)                              \
     : (b) == '|' || (b) == '!'                      ? 'i'                                         \
                                                     : 0)
#define SKF(b)                                                                                     \
    ((b) == '0' || (b) == 'q'   ? 'o'                                                              \
     : (b) == '1' || (b) == 'l' ? 'i'                                                              \
     : (b) == '3'               ? 'e'                                                              \
     : (b) == '5'               ? 's'                                                              \
     : (b) == '8'               ? 'b'                                                              \
                                : (b))
#define SK4(m, b) m(b), m((b) + 1), m((b) + 2), m((b) + 3)
#define SK16(m, b) SK4(m, b), SK4(m, (b) + 4), SK4(m, (b) + 8), SK4(m, (b) + 12)
#define SK128(m)                                                                                   \
    SK16(m, 0), SK16(m, 16), SK16(m, 32), SK16(m, 48), SK16(m, 64), SK16(m, 80), SK16(m, 96),      \
        SK16(m, 112)
/* the key with 0x80 added to 'r' and 'v', the first letters of the
 * digraphs, so one OR over the ID says whether any is there */
#define SKR(b) (SKC(b) | ((SKC(b) | 4) == 'v' ? 0x80 : 0))
static const uint8_t sender_key[128] = {SK128(SKR)};
#define SKKF(b) SKF(SKC(b))
static const uint8_t sender_key_folded[128] = {SK128(SKKF)};

/* norm_sender for an ASCII sender ID of at most 64 bytes (nearly all: an
 * SMPP source_addr is at most 21 octets): the same steps without utf8proc
 * and the context's buffers, one pass of table lookups.  The pass writes
 * the key, and the key folded straight into out, since which of the two
 * is the answer is known only at the end (a letter anywhere folds the
 * digits); the digraphs are looked for only when an 'r' or 'v' is there.
 * Returns 1 with *rc set, or 0 for the general path.
 * tests/test-text-norm.c compares the two on random IDs. */
static int sender_ascii(const uint8_t *in, size_t len, char *out, size_t cap, size_t *outlen, int *rc)
{
    char k[64];
    size_t n = 0;
    unsigned any = 0, high = 0;
    if (len > sizeof k || len >= cap) /* len < cap: no key is cut */
        return 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = in[i];
        high |= b; /* a byte >= 0x80 sends the ID to the general path, below */
        uint8_t m = sender_key[b & 0x7F];
        k[n] = (char)(m & 0x7F);
        out[n] = (char)sender_key_folded[b & 0x7F];
        n += m != 0;
        any |= m; /* letters have 0x40, digits do not; 0x80: 'r' or 'v' */
    }
    if (high & 0x80)
        return 0;
    if (!(any & 0x40)) {
        memcpy(out, k, n);
    } else if (any & 0x80) {
        /* skeleton_fold's digraphs, in place: the fold leaves r, n, v */
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            char ch = out[i];
            int32_t d = i + 1 < n ? skeleton_digraph(ch, out[i + 1]) : 0;
            if (d) {
                ch = (char)d;
                i++;
            }
            out[w++] = ch;
        }
        n = w;
    }
    out[n] = '\0';
    *rc = 0;
    if (outlen)
        *outlen = n;
    return 1;
}

int norm_sender(norm_ctx_t *c, const char *utf8, size_t len, char *out, size_t cap, size_t *outlen)
{
    if (!c || (!utf8 && len) || !out || cap == 0)
        return SG_EINVAL;
    c->case_only = 0;
    int rc;
    if (sender_ascii((const uint8_t *)utf8, len, out, cap, outlen, &rc))
        return rc;
    int trunc = 0;
    size_t blen = clean_utf8(c, (const uint8_t *)utf8, len, &trunc);
    size_t n = nfkc_fold(c, blen, &trunc, 0);
    size_t o = 0, letters = 0;
    /* keep letters and digits; '|' and '!' stand for i/l */
    for (size_t i = 0; i < n; i++) {
        int32_t cp = c->cp[i];
        if (cp == '|' || cp == '!')
            cp = 'i';
        uint8_t k = classify(cp);
        if (k != CL_LETTER && k != CL_DIGIT)
            continue;
        int32_t r = cmap_get(to_latin, SG_ARRAY_LEN(to_latin), cp);
        if (r >= 0)
            cp = r;
        if (k == CL_LETTER)
            letters++;
        c->cp[o++] = cp;
    }
    if (letters)
        o = skeleton_fold(c->cp, o);
    rc = encode_out(c->cp, o, out, cap, outlen, 0);
    return rc ? rc : (trunc ? SG_ENOSPC : 0);
}

static inline int is_ascii_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* ---- digit masking (fingerprint and snippet) --------------------------
 *
 * A digit is any Unicode decimal digit (general category Nd, read from
 * utf8proc so it follows the Unicode version everything else here uses):
 * ASCII, and a one-time code written in Arabic-Indic ٤٨٢٩١٥, Devanagari
 * ४८२९१५, full-width ４８２ (raw text: NFKC makes these ASCII in normalised
 * text), Thai, Bengali, ...  A run of digits, scripts mixed or not, becomes
 * one '#', however many bytes its digits take, so neither the snippet nor
 * the hashed text keeps a digit or the length of a code.
 *
 * Only ASCII digits are met often.  Every other Nd code point is encoded
 * from a lead byte nd_lead() takes: D9 DB DF (U+0640-067F, 06C0-06FF,
 * 07C0-07FF: Arabic-Indic, extended Arabic-Indic, NKo), E0 E1 EA EF
 * (U+0800-1FFF, A000-AFFF, F000-FFFF) or F0 (U+10000-3FFFF), all from D9
 * up.  A sixteen-byte step with no byte from D9 up takes the ASCII path of
 * old, so ASCII, Latin-1 and Cyrillic text (leads C2..D1) pay three vector
 * instructions more per step (callgrind, replay-20k: +52 instructions per
 * message, +0.33% in all); a step with such a byte is decoded one code
 * point at a time (typographic punctuation E2, CJK, emoji and Arabic
 * letters come this way too: correct, slower).  test-text-norm checks
 * every code point against utf8proc, so a new Nd block behind another
 * lead byte fails the test rather than leaking.
 *
 * Invalid UTF-8 is kept byte for byte as before: only a complete, valid
 * encoding of a digit is a digit (utf8proc_iterate), and the '#' that
 * replaces a run sits between the bytes before and after it, so masking
 * never joins bytes into a new character: valid input gives valid output. */

/* A byte that may lead the encoding of a non-ASCII Nd code point (a
 * superset: DD, and the non-digits behind each lead, are sorted out by
 * decoding). */
static inline int nd_lead(unsigned char c)
{
    return (c | 0x06) == 0xDF || (c | 0x01) == 0xE1 || c == 0xEA || c == 0xEF || c == 0xF0;
}

/* Length of the valid encoding of a non-ASCII Nd code point at s[i..to),
 * 0 when there is none.  s[i] is a lead byte (nd_lead). */
static size_t nd_len(const char *s, size_t i, size_t to)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(to - i), &cp);
    return k > 1 && utf8proc_category(cp) == UTF8PROC_CATEGORY_ND ? (size_t)k : 0;
}

/* Whether the character that ends just before s[at] is a digit (at > 0):
 * where a piece of a text masked in turn starts inside a run.  Pieces
 * start on character boundaries, so a multi-byte digit ends at `at`. */
static unsigned digit_before(const char *s, size_t at)
{
    if (is_ascii_digit(s[at - 1]))
        return 1;
    size_t b = 1; /* back over up to three continuation bytes to the lead */
    while (b < 4 && b < at && ((unsigned char)s[at - b] & 0xC0) == 0x80)
        b++;
    return b > 1 && nd_lead((unsigned char)s[at - b]) && nd_len(s, at - b, at) == b;
}

/* Moves a piece end `to` back to the lead of the character it falls in,
 * by at most three bytes, so that no valid character is split between two
 * pieces.  A continuation byte at `to` that no lead within reach claims
 * (stray bytes, invalid text) is a boundary as good as any. */
static size_t piece_end(const char *s, size_t to, size_t len)
{
    if (to >= len || ((unsigned char)s[to] & 0xC0) != 0x80)
        return to;
    for (size_t b = 1; b <= 3 && b <= to; b++) {
        unsigned char c = (unsigned char)s[to - b];
        if ((c & 0xC0) != 0x80) /* the nearest lead: is `to` within its length? */
            return (size_t)(c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1) > b ? to - b : to;
    }
    return to;
}

/* The one-code-point-at-a-time masking: s[*pi..) up to `stop`, a character
 * that starts before stop finished within `to`; *prev in and out: whether
 * the last character was a digit.  Writes at most the bytes it reads. */
static size_t mask_cps(const char *s, size_t *pi, size_t stop, size_t to, char *out, unsigned *prev)
{
    size_t i = *pi, o = 0;
    unsigned run = *prev;
    while (i < stop) {
        size_t k = is_ascii_digit(s[i]) ? 1 : nd_lead((unsigned char)s[i]) ? nd_len(s, i, to) : 0;
        if (k) {
            if (!run)
                out[o++] = '#';
            run = 1;
            i += k;
        } else {
            out[o++] = s[i++]; /* other bytes one by one: continuation bytes are no lead */
            run = 0;
        }
    }
    *pi = i;
    *prev = run;
    return o;
}

#if defined(__SSE2__)
/* 0xFF in each byte of x that is an ASCII digit: the add moves '0'..'9'
 * to the bottom of the signed range, so one compare tests both bounds. */
static inline __m128i digit_bytes16(__m128i x)
{
    return _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
                          _mm_set1_epi8((char)(-128 + 10)));
}

/* 0xFF in each byte of x from D9 up: every byte nd_lead takes is one, and
 * no byte of ASCII, Latin-1 or basic Cyrillic text (leads C2..D1 and
 * continuation bytes) is, so such text stays on the sixteen-byte path. */
static inline __m128i lead_bytes16(__m128i x)
{
    return _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8((char)0xD9)), x);
}

/* One sixteen-byte step of mask_span, for a step that holds an ASCII digit
 * or is the last one: x the input bytes, dv/d its digit bytes as a vector
 * and as bits, valid the bits of the bytes to write (the others were
 * written by an earlier step, or lie past the input), prev the bit of the
 * first byte to write when the character before it is a digit.  Returns
 * the bytes written to out.
 * Each run's first digit becomes '#', the digits that continue a run
 * are dropped: the stretches kept between them are stored one after the
 * other, one sixteen-byte store each (SMS text has a couple of runs). */
static inline size_t mask_step(__m128i x, __m128i dv, unsigned d, unsigned valid, unsigned prev,
                               char *out)
{
    unsigned keep = valid & ~(d & (d << 1 | prev));
    __m128i first = _mm_andnot_si128(_mm_slli_si128(dv, 1), dv);
    __m128i m = _mm_or_si128(_mm_andnot_si128(first, x), _mm_and_si128(first, _mm_set1_epi8('#')));
    if (keep == 0xFFFF) {
        _mm_storeu_si128((__m128i *)(void *)out, m);
        return 16;
    }
    /* 32 bytes: a stretch is reloaded from any of the first sixteen */
    _Alignas(16) char tmp[32];
    _mm_store_si128((__m128i *)(void *)tmp, m);
    _mm_store_si128((__m128i *)(void *)(tmp + 16), _mm_setzero_si128());
    size_t n = 0;
    while (keep) { /* at most eight stretches: each is followed by a dropped byte */
        unsigned a = (unsigned)__builtin_ctz(keep);
        unsigned l = (unsigned)__builtin_ctz(~(keep >> a)); /* keep < 0x10000: at most 16 */
        _mm_storeu_si128((__m128i *)(void *)(out + n),
                         _mm_loadu_si128((const __m128i *)(const void *)(tmp + a)));
        n += l;
        keep &= ~0u << (a + l);
    }
    return n;
}
#endif

/* Writes s[from..to) to out with every run of digits as one '#' (a run
 * that continues from before s[from] writes nothing here: pieces of one
 * text masked in turn give the text masked whole; from and to lie on
 * character boundaries, see piece_end).  Returns the bytes written, at
 * most to - from; out must have room for to - from + 16 bytes, as sixteen
 * are stored at a time.  Work: one step per sixteen input bytes, and one
 * store per stretch kept between ASCII digit runs; a step with a byte
 * that may lead a non-ASCII digit, one utf8proc lookup per such byte. */
static size_t mask_span(const char *s, size_t from, size_t to, char *out)
{
    size_t i = from, o = 0;
    unsigned prev = from > 0 && digit_before(s, from);
#if defined(__SSE2__)
    while (to - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i dv = digit_bytes16(x);
        /* one test for both: a step with neither an ASCII digit nor a
         * byte that may lead another digit is copied (most of a text) */
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(dv, lead_bytes16(x)));
        if (!m) {
            _mm_storeu_si128((__m128i *)(void *)(out + o), x);
            o += 16;
            prev = 0;
            i += 16;
            continue;
        }
        unsigned d = (unsigned)_mm_movemask_epi8(dv);
        if (m != d) { /* maybe a non-ASCII digit: this step by code point */
            o += mask_cps(s, &i, i + 16, to, out + o, &prev);
            continue;
        }
        o += mask_step(x, dv, d, 0xFFFF, prev, out + o);
        prev = d >> 15;
        i += 16;
    }
    if (i < to) {
        size_t rest = to - i;
        __m128i x;
        unsigned valid;
        if (to >= 16) {
            /* the sixteen bytes that end at `to`, those before i masked
             * off; prev moves to the bit of s[i] */
            x = _mm_loadu_si128((const __m128i *)(const void *)(s + to - 16));
            valid = 0xFFFFu << (16 - rest) & 0xFFFFu;
            prev <<= 16 - rest;
        } else { /* a text shorter than sixteen bytes: a padded copy */
            _Alignas(16) char pad[16] = {0};
            memcpy(pad, s + i, rest);
            x = _mm_load_si128((const __m128i *)(const void *)pad);
            valid = (1u << rest) - 1;
        }
        if ((unsigned)_mm_movemask_epi8(lead_bytes16(x)) & valid) {
            prev = prev != 0;
            o += mask_cps(s, &i, to, to, out + o, &prev);
        } else {
            __m128i dv = digit_bytes16(x);
            o += mask_step(x, dv, (unsigned)_mm_movemask_epi8(dv), valid, prev, out + o);
        }
    }
#else
    o = mask_cps(s, &i, to, to, out, &prev);
#endif
    return o;
}

/* The input bytes norm_fingerprint masks per step; its buffer has
 * mask_span's sixteen bytes of slack on top. */
#define FP_CHUNK 1024

uint64_t norm_fingerprint(const char *s, size_t len)
{
    /* The masked text goes through a stack buffer, so no allocation and no
     * digit of the original ever reaches the hash; a text that fits (nearly
     * all) is hashed in one call, a longer one streamed a piece at a time,
     * which XXH3 defines to give the same value. */
    char buf[FP_CHUNK + 16];
    if (len <= FP_CHUNK)
        return XXH3_64bits(buf, mask_span(s, 0, len, buf));
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    for (size_t i = 0, to; i < len; i = to) {
        to = len - i > FP_CHUNK ? piece_end(s, i + FP_CHUNK, len) : len;
        XXH3_64bits_update(&st, buf, mask_span(s, i, to, buf));
    }
    return XXH3_64bits_digest(&st);
}

size_t norm_redact_digits(const char *s, size_t len, char *out, size_t cap)
{
    if (!out || cap == 0)
        return 0;
    /* The input is masked a piece at a time, each piece no longer than the
     * room left (masking never lengthens), so the work stops at the cap:
     * a long text is not masked past what the snippet keeps.  A piece is
     * written straight into out while out has mask_span's slack after it,
     * the last few bytes before the cap through a small staging buffer.
     * Pieces end on character boundaries (piece_end); the last one may
     * reach three bytes past the room, so a multi-byte digit that would
     * not fit in clear still shows as its '#', and its masked bytes are
     * cut at the room, as the whole text masked and cut would be. */
    size_t room = cap - 1, i = 0, o = 0;
    while (i < len && o < room) {
        size_t left = room - o, k;
        if (left >= 32) {
            k = len - i < left - 16 ? len : piece_end(s, i + left - 16, len);
            o += mask_span(s, i, k, out + o);
        } else {
            char stage[32 + 3 + 16];
            k = len - i < left + 3 ? len : piece_end(s, i + left + 3, len);
            size_t n = mask_span(s, i, k, stage);
            n = n < left ? n : left;
            memcpy(out + o, stage, n);
            o += n;
        }
        i = k;
    }
    /* do not end inside a multi-byte character */
    if (o > 0 && ((unsigned char)out[o - 1] & 0x80)) {
        size_t k = o;
        while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
            k--;
        /* k-1 is the lead byte (if any) */
        if (k > 0) {
            unsigned char lead = (unsigned char)out[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (o - (k - 1) < need)
                o = k - 1;
        }
    }
    out[o] = '\0';
    return o;
}
