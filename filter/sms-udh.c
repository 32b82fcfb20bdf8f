/* UDH parsing (TS 23.040 §9.2.3.24); see sms-udh.h. */
#include "sms-udh.h"

#include <stddef.h>
#include <string.h>

/* Everything in *out but ies[], which is valid only up to n_kept: as
 * after a parse of nothing.  The IE array is nine tenths of the struct
 * (16 views), and clearing it, then copying a whole local parse into out,
 * was three passes over 280 octets for every UDH read (half of this
 * function's instructions on a decode of multipart traffic). */
static void clear_head(struct sms_udh *out)
{
    memset(out, 0, offsetof(struct sms_udh, ies));
    out->lang_single = out->lang_locking = -1;
}

/* An error: *out is left as after a parse of nothing (present 0). */
static int fail(struct sms_udh *out, int rc, size_t off, const char *why, size_t *err_offset,
                const char **reason)
{
    clear_head(out);
    if (err_offset)
        *err_offset = off;
    if (reason)
        *reason = why;
    return rc;
}

int sms_udh_parse(const uint8_t *ud, size_t len, struct sms_udh *out, size_t *err_offset,
                  const char **reason)
{
    /* Parsed straight into out: present is set last, and fail() clears
     * what an error left half written. */
    clear_head(out);

    if (!ud || len == 0)
        return fail(out, SG_ETRUNC, 0, "UDHI set but user data is empty", err_offset, reason);
    size_t end = 1 + (size_t)ud[0]; /* the UDHL octet does not count itself */
    if (end > len)
        return fail(out, SG_ETRUNC, 0, "UDH length past end of user data", err_offset, reason);
    out->udhl = (uint16_t)end;

    /* Bound: each IE takes at least 2 octets of a header of at most 255. */
    size_t i = 1;
    while (i < end) {
        if (i + 2 > end)
            return fail(out, SG_EINVAL, i, "IE header overflows UDH", err_offset, reason);
        uint8_t iei = ud[i], iel = ud[i + 1];
        const uint8_t *v = ud + i + 2;
        if (i + 2 + iel > end)
            return fail(out, SG_EINVAL, i + 1, "IE length overflows UDH", err_offset, reason);
        if (out->n_kept < SMS_UDH_MAX_IES)
            out->ies[out->n_kept++] = (struct sms_udh_ie){iei, iel, v};
        out->n_ies++;
        switch (iei) {
        case SMS_IEI_CONCAT8:
        case SMS_IEI_CONCAT16: {
            /* §9.2.3.24.1 / .24.8: ref (1 or 2 octets), total, seq */
            unsigned want = iei == SMS_IEI_CONCAT8 ? 3 : 4;
            if (iel != want)
                return fail(out, SG_EINVAL, i + 1, "concatenation IE has wrong length", err_offset,
                            reason);
            unsigned rb = want - 2;
            uint8_t total = v[rb], seq = v[rb + 1];
            if (total == 0)
                return fail(out, SG_EINVAL, i + 2 + rb, "concatenation total is 0", err_offset,
                            reason);
            if (seq == 0 || seq > total)
                return fail(out, SG_EINVAL, i + 3 + rb, "concatenation seq is 0 or above total",
                            err_offset, reason);
            out->concat = 1;
            out->ref_bits = (uint8_t)(rb * 8);
            out->ref = rb == 1 ? v[0] : (uint16_t)(v[0] << 8 | v[1]);
            out->total = total;
            out->seq = seq;
            break;
        }
        case SMS_IEI_PORT8:
            if (iel == 2) {
                out->has_port = 1;
                out->dst_port = v[0];
                out->src_port = v[1];
            }
            break;
        case SMS_IEI_PORT16:
            if (iel == 4) {
                out->has_port = 1;
                out->dst_port = (uint16_t)(v[0] << 8 | v[1]);
                out->src_port = (uint16_t)(v[2] << 8 | v[3]);
            }
            break;
        case SMS_IEI_LANG_SINGLE:
            if (iel == 1)
                out->lang_single = v[0];
            break;
        case SMS_IEI_LANG_LOCKING:
            if (iel == 1)
                out->lang_locking = v[0];
            break;
        default:
            break;
        }
        i += 2 + (size_t)iel;
    }
    out->present = 1;
    if (reason)
        *reason = NULL;
    return 0;
}
