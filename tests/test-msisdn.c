/* msisdn_normalise (msisdn.h) against the implementation before its
 * all-digit fast path (msisdn_ref below, the HEAD 4a7b4d1 code verbatim
 * but for its name): same return value and, on success, same output, on
 * the documented examples, on every trunk prefix and country code case,
 * and on random strings of digits, separators, '+', letters and bytes,
 * with output buffers of every size around the result. */
#include "testutil.h"
#include "msisdn.h"

#include <stdio.h>
#include <stdlib.h>

#define REF_NATIONAL_LEN 10

static int msisdn_ref(const char *in, const char *country_code, const char *trunk_prefix, char *out,
                      size_t cap)
{
    char d[32];
    size_t n = 0;
    int international = 0;
    const char *cc = country_code ? country_code : "7";
    const char *tp = trunk_prefix ? trunk_prefix : "8";
    size_t cc_len = strlen(cc), tp_len = strlen(tp);

    if (!in || !out || cap == 0)
        return SG_EINVAL;
    while (*in == ' ' || *in == '\t')
        in++;
    if (*in == '+') {
        international = 1;
        in++;
    }
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c >= '0' && c <= '9') {
            if (n >= sizeof d - 1)
                return SG_EINVAL;
            d[n++] = c;
        } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' ||
                   c == '\t') {
            continue;
        } else {
            return SG_EINVAL;
        }
    }
    d[n] = '\0';
    if (n == 0)
        return SG_EINVAL;

    char res[40];
    size_t nl = REF_NATIONAL_LEN;
    if (!international && n > 2 && d[0] == '0' && d[1] == '0') {
        memmove(d, d + 2, n - 1);
        n -= 2;
        international = 1;
    }
    if (international) {
        memcpy(res, d, n + 1);
    } else if (tp_len > 0 && n == nl + tp_len && strncmp(d, tp, tp_len) == 0) {
        memcpy(res, cc, cc_len);
        memcpy(res + cc_len, d + tp_len, n - tp_len + 1);
    } else if (n == nl) {
        memcpy(res, cc, cc_len);
        memcpy(res + cc_len, d, n + 1);
    } else {
        memcpy(res, d, n + 1);
    }
    size_t rl = strlen(res);
    if (rl > 15)
        return SG_EINVAL;
    if (rl + 1 > cap)
        return SG_ENOSPC;
    memcpy(out, res, rl + 1);
    return (int)rl;
}

static unsigned compared;

/* Same result for in with every plan and every output size up to 18. */
static void same(const char *in)
{
    static const char *const plans[][2] = {{NULL, NULL}, {"7", "8"}, {"1", ""},  {"44", "0"},
                                           {"380", "0"}, {"7", "89"}, {"", "8"}};
    for (size_t p = 0; p < SG_ARRAY_LEN(plans); p++)
        for (size_t cap = 1; cap <= 18; cap++) {
            char a[32], b[32];
            memset(a, 'x', sizeof a);
            memset(b, 'x', sizeof b);
            int ra = msisdn_normalise(in, plans[p][0], plans[p][1], a, cap);
            int rb = msisdn_ref(in, plans[p][0], plans[p][1], b, cap);
            CHECK_MSG(ra == rb, "\"%s\" cc %s tp %s cap %zu: %d, reference %d", in,
                      plans[p][0] ? plans[p][0] : "-", plans[p][1] ? plans[p][1] : "-", cap, ra, rb);
            if (ra == rb && ra > 0)
                CHECK_MSG(memcmp(a, b, (size_t)ra + 1) == 0, "\"%s\": \"%s\", reference \"%s\"", in,
                          a, b);
            if (ra < 0) /* out untouched on an error */
                CHECK_MSG(a[0] == 'x', "\"%s\": out written on error %d", in, ra);
            /* The view form on an exact-size copy (no NUL after it: the
             * all-digit fast path must read no further, as ASan checks). */
            size_t len = strlen(in);
            char *view = malloc(len ? len : 1);
            CHECK(view != NULL);
            if (view) {
                memcpy(view, in, len);
                memset(b, 'x', sizeof b);
                int rv = msisdn_normalise_n(view, len, plans[p][0], plans[p][1], b, cap);
                CHECK_MSG(rv == ra, "\"%s\" view: %d, string %d", in, rv, ra);
                if (rv == ra && rv > 0)
                    CHECK(memcmp(a, b, (size_t)rv + 1) == 0);
                free(view);
            }
            compared++;
        }
}

int main(void)
{
    static const char *const vectors[] = {
        "+7 912 345-67-89", "89123456789", "79123456789", "(912) 345 67 89", "8 (912) 345-67-89",
        "+79123456789", "0079123456789", "7494", "+44 20 7946 0958", "", "+", "QIWI",
        "7912345678901234", "12ab", "+7 912;1", "00", "000", "001", "9123456789", "8912345678",
        " \t89123456789", "++79123456789", "+ 7912", "0", "123456789012345", "1234567890123456",
        "00123456789012345", "1234567890123456789012345678901", "12345678901234567890123456789012",
        "8-800-555-35-35", "89/12.34(56)78-9", "8 9 1 2 3 4 5 6 7 8 9", "\t\t+\t7",
    };
    for (size_t i = 0; i < SG_ARRAY_LEN(vectors); i++)
        same(vectors[i]);

    static const char alphabet[] = "0123456789012345678901234567890123456789 +-.()/\taZ8\xd0;";
    srand(20261128);
    char buf[40];
    for (int r = 0; r < 40000; r++) {
        size_t n = (size_t)(rand() % 36);
        for (size_t k = 0; k < n; k++)
            buf[k] = alphabet[rand() % (int)(sizeof alphabet - 1)];
        buf[n] = '\0';
        same(buf);
    }
    for (int r = 0; r < 20000; r++) { /* digits only: the destination_addr of nearly every message */
        size_t n = 1 + (size_t)(rand() % 17);
        for (size_t k = 0; k < n; k++)
            buf[k] = (char)('0' + rand() % 10);
        buf[0] = r % 3 == 0 ? '8' : r % 3 == 1 ? '7' : buf[0];
        buf[n] = '\0';
        same(buf);
    }
    printf("msisdn: %u comparisons with the reference\n", compared);
    return test_summary();
}
