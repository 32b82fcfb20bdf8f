#include "msisdn.h"

#include <string.h>

/* Length of a national significant number written without trunk prefix.
 * 10 for zone 7 (Russia, Kazakhstan) and zone 1 (NANP), the plans the
 * defaults target; a configurable length can come with the first customer
 * on a variable-length plan. */
#define MSISDN_NATIONAL_LEN 10

int msisdn_normalise(const char *in, const char *country_code,
                     const char *trunk_prefix, char *out, size_t cap)
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
        } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
                   c == '/' || c == '\t') {
            continue;
        } else {
            return SG_EINVAL;
        }
    }
    d[n] = '\0';
    if (n == 0)
        return SG_EINVAL;

    char res[40];
    size_t nl = MSISDN_NATIONAL_LEN;
    if (!international && n > 2 && d[0] == '0' && d[1] == '0') {
        /* "00" international access prefix */
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
