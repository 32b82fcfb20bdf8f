/* Text normalisation: see text-norm.h for the pipeline and its guarantees. */
#include "text-norm.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

struct norm_ctx {
    size_t cap;          /* code points in cp[] and mark[] */
    int32_t *cp;         /* decomposed / composed text */
    int32_t *tmp;        /* second code point buffer (token pass) */
    uint8_t *cls;        /* per code point class, CL_* */
    uint8_t *bytes;      /* input copy with invalid UTF-8 dropped */
    size_t bytes_cap;
    int case_only;       /* the last norm_text only lowered letters: norm_last_case_only */
};

/* Classes of a code point for tokenising. */
enum { CL_OTHER = 0, CL_SPACE = 1, CL_LETTER = 2, CL_DIGIT = 3, CL_FIXED = 4 };

norm_ctx_t *norm_ctx_new(size_t cap_cp)
{
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

static int32_t cmap_get(const struct cmap *m, size_t n, int32_t c)
{
    /* Range checks first: most code points of any text map to nothing, and
     * this runs for every letter on the packet path. */
    if (m == to_latin && c < 0x0131)
        return -1;
    if (m == to_cyrillic && c > 'y' && c != 0x0451)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (m[i].from == c)
            return m[i].to;
    return -1;
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
    /* A word in one script keeps it (only ё -> е and the digits change); a
     * word mixing scripts is spelled in the one with more letters found
     * only in it, then with more letters, Latin on a tie. */
    int cyr;
    if (cyr_all && !lat_all)
        cyr = 1;
    else if (!cyr_all)
        cyr = 0;
    else
        cyr = cyr_only > lat_only || (cyr_only == lat_only && cyr_all > lat_all);
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
        int letter_after = k < to;
        int fold;
        if (letters_before == 0)
            fold = cyr && run == 1 && letter_after;
        else if (letter_after)
            fold = 1;
        else
            fold = letters_before >= 2 && run <= letters_before;
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
    size_t k = 0;
    if (!fast_off) {
        while (k < blen) {
            uint8_t b = c->bytes[k];
            if (b < 0x80) {
                k++;
                continue;
            }
            size_t sl;
            if (fast_cp(c->bytes + k, blen - k, &sl) < 0)
                break;
            k += sl;
        }
    }
    if (k == blen) {
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
            switch (utf8proc_category(cp)) {
            case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CS:
            case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_MN:
            case UTF8PROC_CATEGORY_ME:
                continue; /* zero-width, bidi, strike-through overlays ... */
            default:
                break;
            }
            k = classify(cp);
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
 * number of times.  Result in c->tmp / cls rebuilt; returns new length. */
static size_t collapse_padding(norm_ctx_t *c, size_t n)
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
                    for (size_t k = i; k < end; k += 1 + sl) {
                        out[o] = c->cp[k];
                        c->cls[o] = c->cls[k]; /* o <= k: safe in place */
                        o++;
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
 * tokens that collapse_padding could join, an output that does not fit)
 * returns 0 and the general pipeline takes the text from the start.  Both
 * give the same output: tests/test-fastpaths.c and fuzz-norm-url compare
 * them against NORM_SLOW_PATH. */

enum { TOK_LATIN = 1, TOK_CYR = 2, TOK_DIGIT = 4, TOK_YO = 8 };

/* Folds the word out[from..*o) (ASCII and two-byte Cyrillic only) with
 * fold_word and writes it back; 0 when the result does not fit in cap. */
static int onepass_fold_word(norm_ctx_t *c, char *out, size_t from, size_t *o, size_t cap)
{
    size_t n = 0;
    for (size_t i = from; i < *o; i++) {
        uint8_t b = (uint8_t)out[i];
        if (b < 0x80) {
            c->cp[n] = b;
        } else {
            c->cp[n] = ((int32_t)(b & 0x1F) << 6) | ((uint8_t)out[i + 1] & 0x3F);
            i++;
        }
        c->cls[n++] = 1; /* fold_word's mark: every position is part of the word */
    }
    fold_word(c->cp, c->cls, 0, n);
    size_t w = from;
    for (size_t i = 0; i < n; i++) {
        int32_t cp = c->cp[i];
        if (w + 3 > cap)
            return 0; /* room for this character and the final NUL */
        if (cp < 0x80) {
            out[w++] = (char)cp;
        } else {
            out[w++] = (char)(0xC0 | (cp >> 6));
            out[w++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o = w;
    return 1;
}

static int norm_text_onepass(norm_ctx_t *c, const uint8_t *in, size_t len, char *out, size_t cap,
                             size_t *outlen)
{
    if (len > c->cap)
        return 0; /* the general path reports the cut exactly */
    size_t o = 0;
    int pending_space = 0, last_space = 0;
    /* the word being written: where it starts in out, its length in code
     * points, TOK_* of what it holds */
    size_t tok_start = 0, tok_cps = 0;
    unsigned tok = 0;
    /* padding collapse needs three single-character tokens in a row with at
     * most three characters between neighbours: count such runs */
    size_t gap = 0, singles = 0;
    /* more than letter case changed: a word folded, ё, a tab or line break
     * made a space (dropping a control or a space shortens the text) */
    int rewritten = 0;
    for (size_t i = 0; i <= len; i++) {
        int32_t cp;
        unsigned kind; /* TOK_* for a letter or digit, 0 otherwise */
        size_t sl = 1;
        if (i == len) {
            cp = ' ';
            kind = 0;
        } else if (in[i] < 0x80) {
            cp = in[i];
            if (cp >= 'A' && cp <= 'Z')
                cp |= 0x20;
            if (cp >= 'a' && cp <= 'z')
                kind = TOK_LATIN;
            else if (cp >= '0' && cp <= '9')
                kind = TOK_DIGIT;
            else if (cp == ' ')
                kind = 0;
            else if (cp >= 0x09 && cp <= 0x0D)
                cp = ' ', kind = 0, rewritten = 1;
            else if (cp < 0x20 || cp == 0x7F)
                continue; /* other controls vanish without splitting a word */
            else
                kind = 0;
        } else {
            cp = fast_cp(in + i, len - i, &sl);
            if (cp < 0)
                return 0;
            kind = cp >= 0x0430 && cp <= 0x0451 ? (cp == 0x0451 ? TOK_CYR | TOK_YO : TOK_CYR) : 0;
            i += sl - 1;
        }
        if (kind) {
            if (o + 5 > cap)
                return 0; /* a space, a character, the NUL: else the general path cuts */
            if (!tok) {
                if (pending_space)
                    out[o++] = ' ';
                pending_space = last_space = 0;
                tok_start = o;
                tok_cps = 0;
            }
            tok |= kind;
            tok_cps++;
        } else {
            if (tok) { /* a word ends here */
                int letters = (tok & (TOK_LATIN | TOK_CYR)) != 0;
                if ((letters && (tok & TOK_DIGIT)) || (tok & (TOK_LATIN | TOK_CYR)) == (TOK_LATIN | TOK_CYR)) {
                    if (!onepass_fold_word(c, out, tok_start, &o, cap))
                        return 0;
                    rewritten = 1;
                } else if (tok & TOK_YO) {
                    rewritten = 1;
                    for (size_t k = tok_start; k + 1 < o; k++)
                        if ((uint8_t)out[k] == 0xD1 && (uint8_t)out[k + 1] == 0x91)
                            out[k] = (char)0xD0, out[k + 1] = (char)0xB5; /* ё -> е */
                }
                if (tok_cps == 1) {
                    singles = singles && gap <= 3 ? singles + 1 : 1;
                    if (singles >= 3)
                        return 0;
                } else {
                    singles = 0;
                }
                gap = 0;
                tok = 0;
            }
            if (cp == ' ') {
                gap += !last_space;
                last_space = 1;
                pending_space = o > 0;
                continue;
            }
            if (o + 5 > cap)
                return 0;
            gap++;
            last_space = 0;
            if (pending_space)
                out[o++] = ' ';
            pending_space = 0;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xE0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    c->case_only = !rewritten && o == len;
    return 1;
}

int norm_last_case_only(const norm_ctx_t *c)
{
    return c && c->case_only;
}

int norm_text(norm_ctx_t *c, const char *utf8, size_t len, char *out, size_t cap, size_t *outlen,
              unsigned flags)
{
    if (!c || (!utf8 && len) || !out || cap == 0)
        return SG_EINVAL;
    c->case_only = 0;
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
        n = collapse_padding(c, n);
    if (!(flags & NORM_NO_CONFUSABLE))
        fold_tokens(c, n);
    int rc = encode_out(c->cp, n, out, cap, outlen, 1);
    return rc ? rc : (trunc ? SG_ENOSPC : 0);
}

/* The look-alike glyphs of a sender key that holds a letter, folded in
 * place: 0 q -> o, 1 l -> i, 3 -> e, 5 -> s, 8 -> b, "rn" -> m, "vv" -> w.
 * Returns the new length. */
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
        if (i + 1 < n && ch == 'r' && cp[i + 1] == 'n') {
            ch = 'm';
            i++;
        } else if (i + 1 < n && ch == 'v' && cp[i + 1] == 'v') {
            ch = 'w';
            i++;
        }
        cp[w++] = ch;
    }
    return w;
}

/* norm_sender for an ASCII sender ID of at most 64 bytes (nearly all: an
 * SMPP source_addr is at most 21 octets): the same steps without utf8proc
 * and the context's buffers.  Returns 1 with *rc set, or 0 for the general
 * path.  tests/test-text-norm.c compares the two on random IDs. */
static int sender_ascii(const uint8_t *in, size_t len, char *out, size_t cap, size_t *outlen, int *rc)
{
    int32_t k[64];
    size_t n = 0, letters = 0;
    if (len > SG_ARRAY_LEN(k))
        return 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = in[i];
        if (b >= 0x80)
            return 0;
        if (b >= 'A' && b <= 'Z')
            b |= 0x20;
        if (b == '|' || b == '!')
            b = 'i';
        if (b >= 'a' && b <= 'z')
            letters++;
        else if (b < '0' || b > '9')
            continue; /* white space, punctuation, controls: not part of the key */
        k[n++] = b;
    }
    if (letters)
        n = skeleton_fold(k, n);
    size_t o = 0;
    *rc = 0;
    for (; o < n; o++) {
        if (o + 2 > cap) {
            *rc = SG_ENOSPC;
            break;
        }
        out[o] = (char)k[o];
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
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

/* Appends ch to out[*o], a digit only when it starts a run (as '#'). */
static inline void mask_byte(char ch, char *out, size_t *o, int *in_digits)
{
    if (ch >= '0' && ch <= '9') {
        if (*in_digits)
            return;
        *in_digits = 1;
        ch = '#';
    } else {
        *in_digits = 0;
    }
    out[(*o)++] = ch;
}

/* Copies s[*i..len) to out[*o..cap) with every run of ASCII digits written
 * as one '#', until the input or the room ends; *in_digits carries a run
 * from one call to the next.  Eight digit-free bytes move at a time: the
 * bulk of a text. */
static void mask_digits(const char *s, size_t len, size_t *i, char *out, size_t cap, size_t *o,
                        int *in_digits)
{
    size_t ii = *i, oo = *o; /* locals: stores to out could alias *i and *o */
    int run = *in_digits;
    while (ii < len && oo < cap) {
        if (ii + 8 <= len && oo + 8 <= cap) {
            uint64_t w;
            memcpy(&w, s + ii, 8);
            if (!sg_word_has_digit(w)) {
                memcpy(out + oo, &w, 8);
                oo += 8;
                run = 0;
            } else {
                for (size_t k = 0; k < 8; k++)
                    mask_byte(s[ii + k], out, &oo, &run);
            }
            ii += 8;
            continue;
        }
        mask_byte(s[ii++], out, &oo, &run);
    }
    *i = ii;
    *o = oo;
    *in_digits = run;
}

uint64_t norm_fingerprint(const char *s, size_t len)
{
    /* The masked text goes through a stack buffer, so no allocation and no
     * digit of the original ever reaches the hash; a text that fits (nearly
     * all) is hashed in one call, a longer one streamed, which XXH3 defines
     * to give the same value. */
    char buf[1024];
    XXH3_state_t st;
    int streaming = 0, in_digits = 0;
    size_t i = 0, o = 0;
    for (;;) {
        mask_digits(s, len, &i, buf, sizeof buf, &o, &in_digits);
        if (o < sizeof buf)
            break; /* the input ended first */
        if (!streaming) {
            XXH3_INITSTATE(&st);
            XXH3_64bits_reset(&st);
            streaming = 1;
        }
        XXH3_64bits_update(&st, buf, o);
        o = 0;
        if (i >= len)
            break;
    }
    if (!streaming)
        return XXH3_64bits(buf, o);
    if (o)
        XXH3_64bits_update(&st, buf, o);
    return XXH3_64bits_digest(&st);
}

size_t norm_redact_digits(const char *s, size_t len, char *out, size_t cap)
{
    if (!out || cap == 0)
        return 0;
    size_t i = 0, o = 0;
    int in_digits = 0;
    mask_digits(s, len, &i, out, cap - 1, &o, &in_digits);
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
