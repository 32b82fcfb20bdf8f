/* The de-facto delivery receipt text (v3.4 Appendix B, "not a
 * specification"): "id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done
 * date:YYMMDDhhmm stat:DDDDDDD err:E text:...".
 *
 * SMSCs differ: field order, key case, missing fields, "submit_date", extra
 * fields, the id decimal where submit_sm_resp gave hex.  The parser takes
 * each "key:" it recognises wherever it is; values run to the next space
 * (text: runs to the end).  Views borrow the input.
 */
#ifndef SG_SMPP_RECEIPT_H
#define SG_SMPP_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

struct smpp_receipt {
    struct sg_view id, sub, dlvrd, submit_date, done_date, stat, err, text;
};

/* Parses receipt text (short_message or message_payload of a receipt).
 * Fields not found are {NULL, 0}.  Returns 0 when at least id or stat was
 * found, else SG_ENOTFOUND.  Work bound: O(len). */
int smpp_receipt_parse(const uint8_t *text, size_t len, struct smpp_receipt *out);

/* "YYMMDDhhmm" or "YYMMDDhhmmss" (UTC assumed; years 00-69 are 20xx,
 * 70-99 19xx) to seconds since the epoch.  Returns 0 or SG_EINVAL. */
int smpp_receipt_date(struct sg_view date, int64_t *unix_seconds);

/* How a link writes message ids, set per SMSC link. */
enum smpp_msgid_format {
    SMPP_MSGID_AS_IS = 0, /* opaque text: lowercased, compared as is */
    SMPP_MSGID_HEX,       /* hexadecimal number */
    SMPP_MSGID_DEC,       /* decimal number */
};

/* Canonical form of a message id so that a submit_sm_resp id and a receipt
 * id match whatever base each used: an id that is a number in base fmt and
 * fits 64 bits becomes its decimal string without leading zeros; anything
 * else (AS_IS, not a number in that base, or longer than 64 bits) becomes its
 * lowercase text.  Writes a NUL-terminated string into out.  Returns its
 * length, or SG_ENOSPC when cap is too small, SG_EINVAL for an empty id. */
int smpp_msgid_normalise(struct sg_view id, enum smpp_msgid_format fmt, char *out, size_t cap);

#endif
