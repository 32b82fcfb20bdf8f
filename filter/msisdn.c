#include "msisdn.h"

#include <stdint.h>
#include <string.h>

/* Length of a national significant number written without trunk prefix.
 * 10 for zone 7 (Russia, Kazakhstan) and zone 1 (NANP), the plans the
 * defaults target; a configurable length can come with the first customer
 * on a variable-length plan. */
#define MSISDN_NATIONAL_LEN 10

/* Digits read at most; a longer input is SG_EINVAL (as is anything over 15). */
#define MSISDN_DIGITS_MAX 31

/* strlen for the plan's strings, a digit or two: no call. */
static size_t short_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* All eight bytes of x ASCII digits?  High nibbles all 3, and adding 6
 * to each byte (no carry out of a byte whose high nibble is 3) leaves
 * them 3: low nibbles 0..9. */
static int all_digits8(uint64_t x)
{
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull, three = 0x3030303030303030ull;
    return (x & hi) == three && ((x + 0x0606060606060606ull) & hi) == three;
}

int msisdn_normalise(const char *in, const char *country_code,
                     const char *trunk_prefix, char *out, size_t cap)
{
    if (!in)
        return SG_EINVAL;
    return msisdn_normalise_n(in, strlen(in), country_code, trunk_prefix, out, cap);
}

int msisdn_normalise_n(const char *in, size_t len, const char *country_code,
                       const char *trunk_prefix, char *out, size_t cap)
{
    char d[MSISDN_DIGITS_MAX + 1];
    size_t n = 0, i = 0;
    int international = 0;
    const char *cc = country_code ? country_code : "7";
    const char *tp = trunk_prefix ? trunk_prefix : "8";

    if (!in || !out || cap == 0)
        return SG_EINVAL;
    /* Fast path: 8 to 15 ASCII digits and nothing else: a
     * destination_addr as sent, nearly every call.  The digits are read in
     * place (no copy into d), and the rules below see the same digits the
     * loops would have gathered: no '+', no separator, no NUL among them. */
    const char *digits = d;
    if (len >= 8 && len <= 15) {
        uint64_t x, y; /* the first eight and the last eight, overlapping */
        memcpy(&x, in, 8);
        memcpy(&y, in + len - 8, 8);
        if (all_digits8(x) && all_digits8(y)) {
            digits = in;
            n = len;
            goto rules;
        }
    }
    while (i < len && (in[i] == ' ' || in[i] == '\t'))
        i++;
    if (i < len && in[i] == '+') {
        international = 1;
        i++;
    }
    /* Nearly every input is digits only (a destination_addr as sent):
     * eight digits at a time while they fit, then the digit test first,
     * the separators only when it fails.  A NUL ends the input. */
    for (; len - i >= 8 && n + 8 <= MSISDN_DIGITS_MAX; i += 8, n += 8) {
        uint64_t x;
        memcpy(&x, in + i, 8);
        if (!all_digits8(x))
            break;
        memcpy(d + n, &x, 8);
    }
    for (; i < len && in[i]; i++) {
        char c = in[i];
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

rules:;
    /* The result is prefix + body: no copy into a work buffer. */
    const char *body = digits, *prefix = "";
    size_t body_len = n, prefix_len = 0;
    if (!international && n > 2 && digits[0] == '0' && digits[1] == '0') {
        /* "00" international access prefix */
        body += 2;
        body_len -= 2;
        international = 1;
    }
    if (!international) {
        size_t tp_len = short_len(tp), same = 0;
        if (n == MSISDN_NATIONAL_LEN + tp_len) /* a prefix of a digit or two: no memcmp call */
            while (same < tp_len && digits[same] == tp[same])
                same++;
        if (tp_len > 0 && n == MSISDN_NATIONAL_LEN + tp_len && same == tp_len) {
            prefix = cc;
            body += tp_len;
            body_len -= tp_len;
        } else if (n == MSISDN_NATIONAL_LEN) {
            prefix = cc;
        }
        prefix_len = short_len(prefix);
    }
    size_t rl = prefix_len + body_len;
    if (rl > 15)
        return SG_EINVAL;
    if (rl + 1 > cap)
        return SG_ENOSPC;
    /* At most 15 bytes in all: no memcpy calls.  body may be the caller's
     * in (the fast path): eight or more bytes of it move as two
     * overlapping words, both read before anything is written. */
    if (body_len >= 8) {
        uint64_t a, b;
        memcpy(&a, body, 8);
        memcpy(&b, body + body_len - 8, 8);
        for (size_t k = 0; k < prefix_len; k++)
            out[k] = prefix[k];
        memcpy(out + prefix_len, &a, 8);
        memcpy(out + prefix_len + body_len - 8, &b, 8);
    } else {
        for (size_t k = 0; k < prefix_len; k++)
            out[k] = prefix[k];
        for (size_t k = 0; k < body_len; k++)
            out[prefix_len + k] = body[k];
    }
    out[rl] = '\0';
    return (int)rl;
}
