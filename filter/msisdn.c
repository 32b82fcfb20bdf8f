#include "msisdn.h"

#include <string.h>

/* Length of a national significant number written without trunk prefix.
 * 10 for zone 7 (Russia, Kazakhstan) and zone 1 (NANP), the plans the
 * defaults target; a configurable length can come with the first customer
 * on a variable-length plan. */
#define MSISDN_NATIONAL_LEN 10

/* Digits read at most; a longer input is SG_EINVAL (as is anything over 15). */
#define MSISDN_DIGITS_MAX 31

int msisdn_normalise(const char *in, const char *country_code,
                     const char *trunk_prefix, char *out, size_t cap)
{
    char d[MSISDN_DIGITS_MAX + 1];
    size_t n = 0;
    int international = 0;
    const char *cc = country_code ? country_code : "7";
    const char *tp = trunk_prefix ? trunk_prefix : "8";

    if (!in || !out || cap == 0)
        return SG_EINVAL;
    while (*in == ' ' || *in == '\t')
        in++;
    if (*in == '+') {
        international = 1;
        in++;
    }
    /* Nearly every input is digits only (a destination_addr as sent):
     * the digit test first, the separators only when it fails. */
    for (const char *p = in; *p; p++) {
        char c = *p;
        if ((unsigned char)(c - '0') <= 9) {
            if (n >= MSISDN_DIGITS_MAX)
                return SG_EINVAL;
            d[n++] = c;
        } else if (!(c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' ||
                     c == '\t')) {
            return SG_EINVAL;
        }
    }
    if (n == 0)
        return SG_EINVAL;

    /* The result is prefix + body: no copy into a work buffer. */
    const char *body = d, *prefix = "";
    size_t body_len = n, prefix_len = 0;
    if (!international && n > 2 && d[0] == '0' && d[1] == '0') {
        /* "00" international access prefix */
        body += 2;
        body_len -= 2;
        international = 1;
    }
    if (!international) {
        size_t tp_len = strlen(tp), same = 0;
        if (n == MSISDN_NATIONAL_LEN + tp_len) /* a prefix of a digit or two: no memcmp call */
            while (same < tp_len && d[same] == tp[same])
                same++;
        if (tp_len > 0 && n == MSISDN_NATIONAL_LEN + tp_len && same == tp_len) {
            prefix = cc;
            body += tp_len;
            body_len -= tp_len;
        } else if (n == MSISDN_NATIONAL_LEN) {
            prefix = cc;
        }
        prefix_len = strlen(prefix);
    }
    size_t rl = prefix_len + body_len;
    if (rl > 15)
        return SG_EINVAL;
    if (rl + 1 > cap)
        return SG_ENOSPC;
    for (size_t i = 0; i < prefix_len; i++) /* at most 15 bytes in all: no memcpy calls */
        out[i] = prefix[i];
    for (size_t i = 0; i < body_len; i++)
        out[prefix_len + i] = body[i];
    out[rl] = '\0';
    return (int)rl;
}
