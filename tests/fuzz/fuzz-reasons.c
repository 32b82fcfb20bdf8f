/* Fuzz target: the allocation-free scan of stored verdict reasons
 * (admin/admin-json-scan.c), differential against jansson, which the API
 * used before.  The stored text reaches an answer verbatim when the scan
 * accepts it, so acceptance must mean valid JSON.
 *
 * The input is cut at its first NUL (a database text column read as a C
 * string, as the routes do) and copied into an exact-size buffer.
 * Invariants (abort on violation, so libFuzzer reports it):
 *   - accepted => jansson parses the same text as an array, except for a
 *     number jansson cannot represent (it refuses integers past 64 bits and
 *     reals that overflow; both are valid JSON);
 *   - jansson parses an array nested at most 32 deep => accepted;
 *   - for each object element the scan reports, its "type", "id" and
 *     "detail" decode (admin_json_unescape) to exactly jansson's strings,
 *     and are reported exactly when jansson has a string there.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *        cmake --build build-fuzz --target fuzz-reasons
 *        build-fuzz/tests/fuzz-reasons tests/fuzz/corpus/fuzz-reasons
 * The corpus is replayed by ctest (fuzz-reasons-corpus). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin-int.h"
#include "fuzz-util.h"

#define MAX_REASONS 8

static size_t depth_of(const json_t *v)
{
    size_t d = 0, i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            size_t x = depth_of(e);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e) {
            size_t x = depth_of(e);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    return 0;
}

static void same_field(const json_t *obj, const char *key, const char *raw, size_t raw_len)
{
    const json_t *v = json_object_get(obj, key);
    check((raw != NULL) == json_is_string(v));
    if (!raw)
        return;
    size_t cap = raw_len + 1; /* decoding never grows the text */
    char *out = malloc(cap);
    check(out != NULL);
    size_t n = admin_json_unescape(raw, raw_len, out, cap);
    check(n == json_string_length(v) && memcmp(out, json_string_value(v), n) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    char *text = malloc(len + 1);
    check(text != NULL);
    memcpy(text, data, len);
    text[len] = '\0';

    struct admin_reason r[MAX_REASONS];
    size_t n = 0;
    int ok = admin_reasons_scan(text, len, r, MAX_REASONS, &n) == 0;
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    int jarr = j && json_is_array(j);

    if (ok && !jarr)
        check(!j && (strstr(jerr.text, "too big") || strstr(jerr.text, "overflow")));
    if (jarr && depth_of(j) <= 32)
        check(ok);
    if (ok && jarr) {
        /* The scan reports the object elements in order. */
        size_t k = 0, i;
        json_t *e;
        json_array_foreach(j, i, e) {
            if (!json_is_object(e) || k >= MAX_REASONS)
                continue;
            same_field(e, "type", r[k].type, r[k].type_len);
            same_field(e, "id", r[k].id, r[k].id_len);
            same_field(e, "detail", r[k].detail, r[k].detail_len);
            k++;
        }
        check(k == n);
    }
    json_decref(j);
    free(text);
    return 0;
}
