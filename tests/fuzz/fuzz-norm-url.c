/* Fuzz target: the normaliser (text-norm.h) and URL extraction
 * (url-extract.h) on hostile message text, as the verdict engine chains
 * them: raw text -> norm_text -> fingerprint, redacted snippet, URLs from
 * the raw and the normalised text -> domain list match on each host and
 * its parents; the first bytes also go through norm_sender as a sender ID.
 *
 * Invariants checked (abort on violation, so libFuzzer reports it):
 *   - norm_text output is NUL-terminated, within its buffer, valid UTF-8;
 *   - every URL span lies inside the text, every host is NUL-terminated,
 *     shorter than URL_HOST_MAX and has no '/' or white space;
 *   - the snippet holds no decimal digit of any script (general category
 *     Nd, decoded as utf8proc decodes), is at most cap-1 bytes, and is
 *     valid UTF-8 whenever the text is;
 *   - norm_sender and a short output buffer never overrun;
 *   - norm_text's fast paths give what NORM_SLOW_PATH gives, with and
 *     without NORM_FINGERPRINT, and the fingerprint that flag keeps is
 *     norm_fingerprint's of the output;
 *   - url_extract gives the hits the extractor before its fast paths gives
 *     (tests/url-extract-ref.h), on the raw and the normalised text;
 *     url_tld_known answers as the reference's list does;
 *   - norm_fingerprint and norm_redact_digits (sixteen bytes at a time)
 *     give what the plain one-character masking loop gives
 *     (tests/digit-mask-ref.h).
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *        cmake --build build-fuzz --target fuzz-norm-url
 *        build-fuzz/tests/fuzz-norm-url tests/fuzz/corpus/fuzz-norm-url
 * The corpus is replayed by ctest (fuzz-norm-url-corpus). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "text-norm.h"
#include "url-extract.h"
#include "../digit-mask-ref.h"
#include "../url-extract-ref.h"
#include "fuzz-util.h"

static norm_ctx_t *ctx;
static domain_set_t *domains;
static char *out, *out_slow;
static size_t out_cap;

static void init(void)
{
    ctx = norm_ctx_new(4096);
    out_cap = 4096 * NORM_MAX_EXPANSION + 16;
    out = malloc(out_cap);
    out_slow = malloc(out_cap);
    domains = domain_set_new();
    domain_set_add(domains, "qiwi-secure.xyz", 5, 1);
    domain_set_add(domains, "bit.ly", 2, 2);
    domain_set_add(domains, "xn--p1ai", 1, 3);
    domain_set_add(domains, "\xd1\x80\xd1\x84", 1, 4);
    domain_set_seal(domains);
}

static void check_urls(const char *t, size_t n)
{
    struct url_hit h[8], r[8];
    size_t k = url_extract(t, n, h, 8);
    check(k <= 8);
    char why[512];
    check(!url_hits_differ(t, n, h, k, r, url_extract_ref(t, n, r, 8), why, sizeof why));
    for (size_t i = 0; i < k; i++) {
        check(h[i].off <= n && h[i].len <= n - h[i].off);
        check(h[i].host_len > 0 && h[i].host_len < URL_HOST_MAX);
        check(h[i].host[h[i].host_len] == '\0' && strlen(h[i].host) == h[i].host_len);
        for (size_t j = 0; j < h[i].host_len; j++)
            check(h[i].host[j] != '/' && (unsigned char)h[i].host[j] > ' ');
        domain_set_match(domains, h[i].host, h[i].host_len);
        for (long off = 0; off >= 0; off = url_next_parent(h[i].host, h[i].host_len, (size_t)off))
            check((size_t)off < h[i].host_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        init();
    const char *t = (const char *)data;
    size_t n = 0;
    int rc = norm_text(ctx, t, size, out, out_cap, &n, 0);
    check(rc == 0 || rc == SG_ENOSPC);
    check(n < out_cap && out[n] == '\0' && valid_utf8(out, n));
    size_t n_slow = 0;
    check(norm_text(ctx, t, size, out_slow, out_cap, &n_slow, NORM_SLOW_PATH) == rc);
    check(n_slow == n && memcmp(out, out_slow, n) == 0);
    /* NORM_FINGERPRINT: the same output, and the fingerprint it keeps
     * (from the block pass's digit masks where it can) is norm_fingerprint's */
    size_t n_fp = 0;
    check(norm_text(ctx, t, size, out_slow, out_cap, &n_fp, NORM_FINGERPRINT) == rc);
    check(n_fp == n && memcmp(out, out_slow, n) == 0);
    check(norm_last_fingerprint(ctx) == norm_fingerprint(out, n));
    {
        char *masked = malloc(n ? n : 1);
        check(masked != NULL);
        check(norm_fingerprint(out, n) == XXH3_64bits(masked, ref_mask_digits(out, n, masked)));
        free(masked);
    }
    check_urls(t, size);
    check_urls(out, n);

    /* a small output buffer: reported, never overrun; and the fast paths
     * give exactly what the general pipeline gives, cut or not */
    char small[24], slow[24];
    size_t sn = 0, sn2 = 0;
    rc = norm_text(ctx, t, size, small, sizeof small, &sn, 0);
    check(sn < sizeof small && small[sn] == '\0');
    check(norm_text(ctx, t, size, slow, sizeof slow, &sn2, NORM_SLOW_PATH) == rc);
    check(sn2 == sn && memcmp(small, slow, sn) == 0);

    char snip[33];
    size_t k = norm_redact_digits(t, size, snip, sizeof snip);
    check(k < sizeof snip && snip[k] == '\0');
    for (size_t i = 0; i < k; i++)
        check(snip[i] < '0' || snip[i] > '9');
    check(ref_no_digit(snip, k));
    int text_valid = valid_utf8(t, size);
    check(!text_valid || valid_utf8(snip, k));
    /* the snippet is the masked text cut at its cap, less a cut character;
     * caps from the first byte, the verdict's 161 among them */
    {
        char *masked = malloc(size ? size : 1), snip2[256];
        check(masked != NULL);
        size_t m = ref_mask_digits(t, size, masked);
        size_t cap = size ? 1 + (uint8_t)t[0] : 161;
        size_t k2 = norm_redact_digits(t, size, snip2, cap);
        size_t cut = m < cap - 1 ? m : cap - 1;
        check(k2 <= cut && cut - k2 < 4 && memcmp(snip2, masked, k2) == 0 && snip2[k2] == '\0');
        check(ref_no_digit(snip2, k2) && (!text_valid || valid_utf8(snip2, k2)));
        free(masked);
    }
    for (size_t i = 0; i <= 9 && i <= size; i++)
        check(url_tld_known(t, i) == ref_tld_known(t, i));

    char skel[64];
    size_t skl = 0;
    rc = norm_sender(ctx, t, size < 32 ? size : 32, skel, sizeof skel, &skl);
    check(rc == 0 || rc == SG_ENOSPC);
    check(skl < sizeof skel && skel[skl] == '\0');
    return 0;
}
