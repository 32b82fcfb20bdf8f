/* Fuzz target: the posting-list reader (store/postings.c), which reads
 * BLOBs back from the database, where a damaged file can put any bytes.
 *
 * Invariants (abort on violation, so libFuzzer reports it):
 *   - the reader never reads outside the input (AddressSanitizer) and
 *     never gives more than POSTINGS_MAX entries;
 *   - a list it reads whole re-encodes (postings_add) to a list that
 *     reads back to the same entries, no longer than POSTINGS_BYTES_MAX;
 *   - a damaged list stays damaged: the reader gives nothing after it.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *        cmake --build build-fuzz --target fuzz-postings
 *        build-fuzz/tests/fuzz-postings tests/fuzz/corpus/fuzz-postings
 * The corpus is replayed by ctest (fuzz-postings-corpus). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "postings.h"

static struct posting entries[POSTINGS_MAX];
static unsigned char again[POSTINGS_BYTES_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postings_reader r;
    struct posting p;
    size_t n = 0;
    int got;

    /* An exact-size copy, so that any read past the end is caught. */
    uint8_t *blob = malloc(size ? size : 1);
    check(blob != NULL);
    memcpy(blob, data, size);
    if (postings_open(&r, blob, size) != 0) {
        free(blob);
        return 0;
    }
    while ((got = postings_next(&r, &p)) == 1) {
        check(n < POSTINGS_MAX);
        entries[n++] = p;
    }
    free(blob);
    if (got < 0) {
        check(postings_next(&r, &p) == 0);
        return 0;
    }
    struct postings_writer w;
    postings_begin(&w, again);
    for (size_t i = 0; i < n; i++)
        check(postings_add(&w, entries[i].ts, entries[i].id) == 0);
    check(postings_len(&w) <= POSTINGS_BYTES_MAX && postings_count(&w) == n);
    check(postings_open(&r, again, postings_len(&w)) == 0 || n == 0);
    for (size_t i = 0; n > 0 && i < n; i++)
        check(postings_next(&r, &p) == 1 && p.ts == entries[i].ts && p.id == entries[i].id);
    check(n == 0 || postings_next(&r, &p) == 0);
    return 0;
}
