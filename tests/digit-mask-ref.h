/* The digit masking of norm_fingerprint and norm_redact_digits
 * (filter/text-norm.h) written the plain way, one character at a time
 * straight from utf8proc: the reference that tests/test-text-norm.c and
 * fuzz-norm-url compare the sixteen-byte paths against.  A digit is a
 * complete, valid UTF-8 encoding of a general category Nd code point; each
 * run of digits, scripts mixed, becomes one '#'; every other byte, invalid
 * ones included, is copied.  Do not optimise it; change it only together
 * with the documented behaviour.  Header-only (static) so a test and a
 * fuzz target can each include it. */
#ifndef SG_TEST_DIGIT_MASK_REF_H
#define SG_TEST_DIGIT_MASK_REF_H

#include <stddef.h>
#include <stdint.h>

#include <utf8proc.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* Length of the digit encoded at s[i..n), 0 when none is. */
static size_t ref_digit_len(const char *s, size_t i, size_t n)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    return k > 0 && utf8proc_category(cp) == UTF8PROC_CATEGORY_ND ? (size_t)k : 0;
}

/* Writes s[0..n) masked into m (room for n bytes); returns the length. */
static size_t ref_mask_digits(const char *s, size_t n, char *m)
{
    size_t o = 0;
    int run = 0;
    for (size_t i = 0; i < n;) {
        size_t k = ref_digit_len(s, i, n);
        if (k) {
            if (!run)
                m[o++] = '#';
            run = 1;
            i += k;
        } else {
            m[o++] = s[i++];
            run = 0;
        }
    }
    return o;
}

/* 1 when s[0..n) holds no digit that decodes (a cut or stray byte aside):
 * what a snippet must keep to. */
static int ref_no_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ref_digit_len(s, i, n))
            return 0;
    return 1;
}

#pragma GCC diagnostic pop

#endif
