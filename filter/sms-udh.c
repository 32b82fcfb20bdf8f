/* UDH parsing (TS 23.040 §9.2.3.24); see sms-udh.h. */
#include "sms-udh.h"

#include <string.h>

static int fail(int rc, size_t off, const char *why, size_t *err_offset, const char **reason)
{
    if (err_offset)
        *err_offset = off;
    if (reason)
        *reason = why;
    return rc;
}

int sms_udh_parse(const uint8_t *ud, size_t len, struct sms_udh *out, size_t *err_offset,
                  const char **reason)
{
    struct sms_udh u;
    memset(&u, 0, sizeof u);
    u.lang_single = u.lang_locking = -1;
    memset(out, 0, sizeof *out);
    out->lang_single = out->lang_locking = -1;

    if (!ud || len == 0)
        return fail(SG_ETRUNC, 0, "UDHI set but user data is empty", err_offset, reason);
    size_t end = 1 + (size_t)ud[0]; /* the UDHL octet does not count itself */
    if (end > len)
        return fail(SG_ETRUNC, 0, "UDH length past end of user data", err_offset, reason);
    u.udhl = (uint16_t)end;

    /* Bound: each IE takes at least 2 octets of a header of at most 255. */
    size_t i = 1;
    while (i < end) {
        if (i + 2 > end)
            return fail(SG_EINVAL, i, "IE header overflows UDH", err_offset, reason);
        uint8_t iei = ud[i], iel = ud[i + 1];
        const uint8_t *v = ud + i + 2;
        if (i + 2 + iel > end)
            return fail(SG_EINVAL, i + 1, "IE length overflows UDH", err_offset, reason);
        if (u.n_kept < SMS_UDH_MAX_IES)
            u.ies[u.n_kept++] = (struct sms_udh_ie){iei, iel, v};
        u.n_ies++;
        switch (iei) {
        case SMS_IEI_CONCAT8:
        case SMS_IEI_CONCAT16: {
            /* §9.2.3.24.1 / .24.8: ref (1 or 2 octets), total, seq */
            unsigned want = iei == SMS_IEI_CONCAT8 ? 3 : 4;
            if (iel != want)
                return fail(SG_EINVAL, i + 1, "concatenation IE has wrong length", err_offset,
                            reason);
            unsigned rb = want - 2;
            uint8_t total = v[rb], seq = v[rb + 1];
            if (total == 0)
                return fail(SG_EINVAL, i + 2 + rb, "concatenation total is 0", err_offset,
                            reason);
            if (seq == 0 || seq > total)
                return fail(SG_EINVAL, i + 3 + rb, "concatenation seq is 0 or above total",
                            err_offset, reason);
            u.concat = 1;
            u.ref_bits = (uint8_t)(rb * 8);
            u.ref = rb == 1 ? v[0] : (uint16_t)(v[0] << 8 | v[1]);
            u.total = total;
            u.seq = seq;
            break;
        }
        case SMS_IEI_PORT8:
            if (iel == 2) {
                u.has_port = 1;
                u.dst_port = v[0];
                u.src_port = v[1];
            }
            break;
        case SMS_IEI_PORT16:
            if (iel == 4) {
                u.has_port = 1;
                u.dst_port = (uint16_t)(v[0] << 8 | v[1]);
                u.src_port = (uint16_t)(v[2] << 8 | v[3]);
            }
            break;
        case SMS_IEI_LANG_SINGLE:
            if (iel == 1)
                u.lang_single = v[0];
            break;
        case SMS_IEI_LANG_LOCKING:
            if (iel == 1)
                u.lang_locking = v[0];
            break;
        default:
            break;
        }
        i += 2 + (size_t)iel;
    }
    u.present = 1;
    *out = u;
    if (reason)
        *reason = NULL;
    return 0;
}
