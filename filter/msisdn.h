/* Subscriber number normalisation: the written forms people and systems use
 * ("+7 912 345-67-89", "8 (912) 345 67 89", "79123456789", "9123456789")
 * become one key, the international number in digits without '+'
 * ("79123456789"), so exceptions, the timeline and the message log agree.
 *
 * Rules, in order (ITU-T E.164 numbers; the national plan supplies the
 * country code and trunk prefix, default 7 and 8 for Russia):
 *   1. spaces, '-', '.', '(', ')' and '/' are ignored; a leading '+' or "00"
 *      means the rest is already international;
 *   2. a number starting with the trunk prefix and of national length + 1
 *      (11 digits for +7) has the prefix replaced by the country code;
 *   3. a national number (10 digits for +7: length = 11 - len(cc)) gets the
 *      country code in front;
 *   4. anything else that is all digits is kept as given (short codes,
 *      foreign numbers).
 * Letters or other characters: SG_EINVAL.  More than 15 digits (E.164 §6.1):
 * SG_EINVAL.
 */
#ifndef SG_MSISDN_H
#define SG_MSISDN_H

#include <stddef.h>

#include "sg-common.h"

#define MSISDN_MAX 16 /* 15 digits + NUL */

/* country_code NULL = "7", trunk_prefix NULL = "8" ("" = none).
 * Returns the length (> 0) of the number written to out (NUL-terminated),
 * or SG_EINVAL / SG_ENOSPC (< 0, out untouched): test with `< 0`. */
int msisdn_normalise(const char *in, const char *country_code,
                     const char *trunk_prefix, char *out, size_t cap);
/* The same for the bytes in[0..len) read up to the first NUL among them
 * (what msisdn_normalise reads from a NUL-terminated copy), for a caller
 * holding a view (the verdict engine's destination_addr, every message):
 * no copy, and eight digits tested at a time. */
int msisdn_normalise_n(const char *in, size_t len, const char *country_code,
                       const char *trunk_prefix, char *out, size_t cap);

#endif
