/* Checks shared by the fuzz targets.  A failed check aborts, which is how
 * libFuzzer (and the corpus replay in ctest) learns of a finding. */
#ifndef SG_FUZZ_UTIL_H
#define SG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdlib.h>

#include <utf8proc.h>

static inline void check(int ok)
{
    if (!ok)
        abort();
}

/* 1 when s[0..n) is valid UTF-8 by utf8proc's reading, which is the
 * normaliser's promise about its output. */
static inline int valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

#endif
