/* SMS text: which character set a data_coding value names, and decoding the
 * user data of a short message (after its UDH) to UTF-8.
 *
 * Sources: SMPP v3.4 §5.2.19 (data_coding values 0-14), 3GPP TS 23.038 §4
 * (SMS data coding scheme groups) and §6.2.1 (GSM 7-bit default alphabet and
 * its extension table), with the character mapping of Unicode's GSM0338.TXT;
 * ISO-8859-5 and ISO-8859-8 from the ISO tables.  See
 * docs/text-and-multipart.md for the choices made where traffic and the
 * specifications disagree.
 *
 * Everything here is pure and reentrant: no state, no allocation.  Work is
 * linear in the input; output is bounded by the caller's capacity.
 */
#ifndef SG_SMS_TEXT_H
#define SG_SMS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

/* SMPP normally carries GSM 03.38 unpacked (one septet per octet); some
 * SMSCs pack septets as on the air interface.  Configured per link. */
enum sms_gsm_packing { SMS_GSM_UNPACKED = 0, SMS_GSM_PACKED = 1 };

enum sms_charset {
    SMS_CS_GSM = 0,     /* GSM 03.38 7-bit default alphabet + extension table */
    SMS_CS_ASCII,       /* IA5 (SMPP data_coding 1) */
    SMS_CS_LATIN1,      /* ISO-8859-1 (data_coding 3) */
    SMS_CS_CYRILLIC,    /* ISO-8859-5 (data_coding 6) */
    SMS_CS_HEBREW,      /* ISO-8859-8 (data_coding 7) */
    SMS_CS_UCS2,        /* UCS-2, decoded as UTF-16BE (data_coding 8) */
    SMS_CS_BINARY,      /* octet data (2, 4, GSM 8-bit groups): show as hex */
    SMS_CS_UNSUPPORTED, /* a text charset we do not decode: JIS (5),
                         * pictogram (9), ISO-2022-JP (10), Kanji (13),
                         * KS C 5601 (14), reserved values */
};

/* How a link interprets data_coding values whose meaning differs between
 * peers.  A zeroed struct is the specification's behaviour. */
struct sms_text_opts {
    /* What data_coding 0 ("SMSC default alphabet") means on this link:
     * SMS_CS_GSM (default), SMS_CS_LATIN1 or SMS_CS_ASCII. */
    uint8_t dc0_charset;
    enum sms_gsm_packing gsm_packing;
    /* Set when the peer sends GSM 03.38 octets labelled data_coding 1
     * (IA5), as node-smpp does; 0 decodes data_coding 1 as ASCII. */
    uint8_t dc1_gsm;
};

/* The charset a data_coding value names (SMPP v3.4 §5.2.19 for 0x00-0x0E,
 * TS 23.038 §4 coding groups for the rest).  o may be NULL (defaults).
 * Inline: every message asks it once or twice on the packet path, and the
 * answer is a few compares (a call cost as much again). */
static inline enum sms_charset sms_charset_of(uint8_t dc, const struct sms_text_opts *o)
{
    /* SMPP v3.4 §5.2.19 gives 0x00-0x0E SMPP meanings that override the
     * TS 23.038 general coding group for those values. */
    switch (dc) {
    case 0x00:
        if (o && o->dc0_charset <= SMS_CS_HEBREW)
            return (enum sms_charset)o->dc0_charset;
        return SMS_CS_GSM;
    case 0x01:
        return o && o->dc1_gsm ? SMS_CS_GSM : SMS_CS_ASCII;
    case 0x02:
    case 0x04:
        return SMS_CS_BINARY;
    case 0x03:
        return SMS_CS_LATIN1;
    case 0x06:
        return SMS_CS_CYRILLIC;
    case 0x07:
        return SMS_CS_HEBREW;
    case 0x08:
        return SMS_CS_UCS2;
    case 0x05: /* JIS X 0208 */
    case 0x09: /* pictogram */
    case 0x0A: /* ISO-2022-JP */
    case 0x0B:
    case 0x0C: /* reserved */
    case 0x0D: /* extended Kanji JIS X 0212 */
    case 0x0E: /* KS C 5601 */
        return SMS_CS_UNSUPPORTED;
    default:
        break;
    }
    if (dc < 0x80) {
        /* TS 23.038 §4 general data coding (00xx) and automatic deletion
         * (01xx) groups: bit 5 = compressed, bits 3-2 = alphabet. */
        if (dc & 0x20)
            return SMS_CS_UNSUPPORTED; /* compressed (TS 23.042) */
        switch ((dc >> 2) & 3) {
        case 0:
            return SMS_CS_GSM;
        case 1:
            return SMS_CS_BINARY;
        case 2:
            return SMS_CS_UCS2;
        default:
            return SMS_CS_UNSUPPORTED;
        }
    }
    if (dc < 0xC0)
        return SMS_CS_UNSUPPORTED; /* reserved coding groups 1000-1011 */
    if (dc < 0xE0)
        return SMS_CS_GSM; /* message waiting: discard / store, GSM 7-bit */
    if (dc < 0xF0)
        return SMS_CS_UCS2; /* message waiting: store, UCS2 */
    /* 1111: data coding / message class; bit 2: 0 GSM 7-bit, 1 8-bit data */
    return (dc & 0x04) ? SMS_CS_BINARY : SMS_CS_GSM;
}

/* Short name ("gsm", "ucs2", ...) for logs and JSON; never NULL. */
const char *sms_charset_name(enum sms_charset cs);

/* Decodes user data (after the UDH) to UTF-8.
 *   cs, o:      the charset (from sms_charset_of) and the link options (the
 *               packing applies to SMS_CS_GSM only; o may be NULL).
 *   fill_bits:  packed GSM only: the padding bits before the first septet
 *               (sms_udh_fill_bits() of the UDH length, 0 without a UDH).
 *   out, cap:   output buffer; always NUL-terminated when cap > 0.
 *   *outlen:    bytes written, excluding the NUL (may be NULL).
 *   *bad:       incremented once per U+FFFD written, whether made here or
 *               sent as such (may be NULL).
 * Invalid input (octets > 0x7F in GSM or ASCII, unmapped ISO-8859 codes,
 * unpaired surrogates, a trailing odd UCS-2 octet, a dangling or unknown GSM
 * escape, U+0000) becomes U+FFFD: the output never holds an embedded NUL, so
 * strlen(out) == *outlen.
 * Returns 0; SG_ENOSPC when the output was cut at a character boundary to
 * fit cap; SG_ENOTSUP for SMS_CS_BINARY and SMS_CS_UNSUPPORTED (out is the
 * empty string: the caller shows hex); SG_EINVAL for fill_bits > 6. */
int sms_text_decode(enum sms_charset cs, const struct sms_text_opts *o, const uint8_t *ud,
                    size_t len, unsigned fill_bits, char *out, size_t cap, size_t *outlen,
                    unsigned *bad);

/* Output capacity (with the NUL) that always suffices for sms_text_decode of
 * len octets: 3 UTF-8 bytes per input octet covers every charset (a GSM
 * septet packs 8 per 7 octets and yields at most 3 bytes; an escape pair
 * yields at most 3; a UTF-16 unit at most 3, a pair 4). */
#define SMS_TEXT_DECODE_CAP(len) ((size_t)(len) * 7u / 2u + 4u)

/* Unpacks GSM 7-bit septets packed LSB-first (TS 23.038 §6.1.2.1.1), after
 * fill_bits (0..6) padding bits, into one septet per octet.  When the last
 * septet exactly fills the last octet's top 7 bits and is CR (the padding
 * §6.1.2.3.1 prescribes) or 0x00 (the zero padding most encoders use) it is
 * padding, not text, and is dropped.  At most (len*8 - fill_bits)/7 septets.
 * Returns 0, SG_ENOSPC (output cut at cap) or SG_EINVAL (fill_bits > 6). */
int sms_gsm_unpack(const uint8_t *in, size_t len, unsigned fill_bits, uint8_t *septets,
                   size_t cap, size_t *n);

/* Packs septets (each < 0x80) after fill_bits zero bits; spare bits in the
 * last octet are zero.  Returns 0, SG_ENOSPC or SG_EINVAL. */
int sms_gsm_pack(const uint8_t *septets, size_t n, unsigned fill_bits, uint8_t *out, size_t cap,
                 size_t *outlen);

/* Encodes UTF-8 as unpacked GSM septets with 0x1B escapes for the extension
 * table.  SG_EINVAL when the text is not valid UTF-8 or holds a character
 * GSM 03.38 cannot represent (*outlen is then the offset of the offending
 * UTF-8 sequence); SG_ENOSPC when cap is too small.  For tests and the
 * traffic generator. */
int sms_gsm_encode(const char *utf8, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/* Encodes UTF-8 as UTF-16BE, with surrogate pairs above U+FFFF.  SG_EINVAL
 * on invalid UTF-8, SG_ENOSPC when cap is too small. */
int sms_ucs2_encode(const char *utf8, size_t len, uint8_t *out, size_t cap, size_t *outlen);

#endif
