/* User Data Header (3GPP TS 23.040 §9.2.3.24), found at the start of
 * short_message (or message_payload) when esm_class has the UDHI bit
 * (SMPP v3.4 §5.2.12, 0x40).
 *
 * The parse is pure and reentrant; struct sms_udh holds views into the
 * caller's buffer, valid while that buffer is.  Work is bounded by the UDH
 * length octet (at most 255 octets, so at most 127 IEs).
 */
#ifndef SG_SMS_UDH_H
#define SG_SMS_UDH_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

#define SMS_ESM_UDHI 0x40u

/* Information element identifiers we interpret (TS 23.040 §9.2.3.24). */
#define SMS_IEI_CONCAT8 0x00u      /* concatenated SM, 8-bit reference */
#define SMS_IEI_PORT8 0x04u        /* application port addressing, 8-bit */
#define SMS_IEI_PORT16 0x05u       /* application port addressing, 16-bit */
#define SMS_IEI_CONCAT16 0x08u     /* concatenated SM, 16-bit reference */
#define SMS_IEI_LANG_SINGLE 0x24u  /* national language single shift */
#define SMS_IEI_LANG_LOCKING 0x25u /* national language locking shift */

/* IEs kept as views; further ones are counted in n_ies only. */
#define SMS_UDH_MAX_IES 16

struct sms_udh_ie {
    uint8_t iei;
    uint8_t len;
    const uint8_t *data; /* view into the parsed buffer */
};

struct sms_udh {
    uint8_t present;   /* 1 after a successful parse */
    uint16_t udhl;     /* total UDH octets including the length octet (1..256:
                        * uint16_t because a UDHL octet of 255 makes 256) */
    uint8_t concat;    /* 1 if IEI 0x00 or 0x08 was found */
    uint8_t ref_bits;  /* 8 or 16 */
    uint16_t ref;
    uint8_t total, seq;
    uint8_t has_port;  /* IEI 0x04 / 0x05: application ports (WAP push, vCard...) */
    uint16_t dst_port, src_port;
    int16_t lang_single, lang_locking; /* national language ids (IEI 0x24/0x25), -1 absent */
    uint8_t n_ies;     /* IEs in the header (all, including those above) */
    uint8_t n_kept;    /* IEs stored in ies[] (at most SMS_UDH_MAX_IES) */
    struct sms_udh_ie ies[SMS_UDH_MAX_IES];
};

/* Parses the UDH at the start of ud (len octets).  On success returns 0 and
 * fills *out (ies[] up to n_kept; entries past it are left as they were);
 * the user data after the header starts at ud + out->udhl.  On error *out
 * is as after a parse of nothing: present 0, n_ies 0, languages -1.
 * Errors (with *err_offset, the octet offset of the fault in ud, and
 * *reason, a static string; both may be NULL):
 *   SG_ETRUNC  empty input, or the UDH length octet points past the end;
 *   SG_EINVAL  an IE overflows the header, a concatenation IE has the wrong
 *              length, total 0, seq 0 or seq > total (§9.2.3.24.1: such an
 *              IE "shall be ignored"; we report it, the caller decides).
 * When a concatenation or port IE repeats, the last one counts
 * (§9.2.3.24: "the last occurrence of the IE shall be used"). */
int sms_udh_parse(const uint8_t *ud, size_t len, struct sms_udh *out, size_t *err_offset,
                  const char **reason);

/* Fill bits before the first septet of packed GSM text after a UDH of udhl
 * octets (length octet included), TS 23.040 §9.2.3.24. */
static inline unsigned sms_udh_fill_bits(size_t udhl)
{
    return (unsigned)((7 - (udhl * 8) % 7) % 7);
}

#endif
