/* SMPP v3.4 / v5.0 PDU decoder, expanded from smpp-pdu.def and smpp-tlv.def.
 *
 * The decoder is table-driven: each PDU is a list of (field, max) in wire
 * order, expanded into one straight-line body decoder per PDU
 * (body_decode_NAME) and into the field list the JSON dumper walks, so
 * adding a PDU is one entry in the .def file and the decoder, struct and
 * dumper follow.  Nothing is copied: every string is a view into the
 * caller's buffer. */
#include "smpp.h"
#include "json-writer-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- tables expanded from the .def files -------------------------------- */

enum field_kind { K_CSTR, K_INT1, K_SMLEN, K_SM, K_NDEST, K_NUNS };

static const uint8_t field_kind[SMPP_FID__COUNT] = {
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) [SMPP_FID_##name] = K_##kind,
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
};

static const char *const field_name[SMPP_FID__COUNT] = {
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) [SMPP_FID_##name] = #name,
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
};

/* Offset of each field's member in struct smpp_pdu (a view for CSTR/SM, a
 * uint8_t for the rest). */
static const uint16_t field_off[SMPP_FID__COUNT] = {
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) [SMPP_FID_##name] = offsetof(struct smpp_pdu, name),
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
};

struct field_spec {
    uint8_t fid;
    uint8_t max; /* C-octet string maximum including the NUL; 0 for integers */
};

#define SMPP_PF_SHORT_OK 1u
#define FID_END 0xFFu

/* One field list per PDU, closed by FID_END so that empty bodies are arrays
 * too. */
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags) static const struct field_spec body_##name[] = {
#define SMPP_F(field, max) {SMPP_FID_##field, max},
#define SMPP_PDU_END(name) {FID_END, 0}};
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS

/* Decodes the mandatory fields of one PDU body (generated below from the
 * same table as body_NAME[]). */
typedef int (*body_decode_fn)(const uint8_t *buf, size_t *pos_io, size_t end, struct smpp_pdu *out,
                              struct smpp_error *err, int *rc);

struct pdu_desc {
    uint32_t id;
    uint8_t flags;
    const char *name;
    const struct field_spec *body;
    body_decode_fn decode_body;
};

enum pdu_index {
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags) PDU_IDX_##name,
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS
    PDU_IDX__COUNT
};

#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags)                                                          \
    static int body_decode_##name(const uint8_t *buf, size_t *pos_io, size_t end,          \
                                  struct smpp_pdu *out, struct smpp_error *err, int *rc);
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS

static const struct pdu_desc pdu_descs[PDU_IDX__COUNT] = {
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags) \
    [PDU_IDX_##name] = {id, flags, #name, body_##name, body_decode_##name},
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS
};

static const struct pdu_desc *pdu_desc_find(uint32_t id)
{
    switch (id) {
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags) case id: return &pdu_descs[PDU_IDX_##name];
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS
    default:
        return NULL;
    }
}

const char *smpp_command_name(uint32_t command_id)
{
    const struct pdu_desc *d = pdu_desc_find(command_id);
    return d ? d->name : NULL;
}

enum tlv_type { T_INT1 = 1, T_INT2, T_INT4, T_CSTR, T_OCTETS };

struct tlv_desc {
    const char *name;
    uint8_t type;
};

/* Returns NULL for vendor and unknown tags. */
static const struct tlv_desc *tlv_desc_find(uint16_t tag)
{
    switch (tag) {
#define SMPP_TLV(tag, name, type)                              \
    case tag: {                                                \
        static const struct tlv_desc d_##name = {#name, T_##type}; \
        return &d_##name;                                      \
    }
#include "smpp-tlv.def"
    default:
        return NULL;
    }
}

const char *smpp_tlv_name(uint16_t tag)
{
    const struct tlv_desc *d = tlv_desc_find(tag);
    return d ? d->name : NULL;
}

/* v3.4 §5.1.3 and v5.0 §4.7.6. */
const char *smpp_status_name(uint32_t s)
{
    switch (s) {
    case 0x00: return "ESME_ROK";
    case 0x01: return "ESME_RINVMSGLEN";
    case 0x02: return "ESME_RINVCMDLEN";
    case 0x03: return "ESME_RINVCMDID";
    case 0x04: return "ESME_RINVBNDSTS";
    case 0x05: return "ESME_RALYBND";
    case 0x06: return "ESME_RINVPRTFLG";
    case 0x07: return "ESME_RINVREGDLVFLG";
    case 0x08: return "ESME_RSYSERR";
    case 0x0A: return "ESME_RINVSRCADR";
    case 0x0B: return "ESME_RINVDSTADR";
    case 0x0C: return "ESME_RINVMSGID";
    case 0x0D: return "ESME_RBINDFAIL";
    case 0x0E: return "ESME_RINVPASWD";
    case 0x0F: return "ESME_RINVSYSID";
    case 0x11: return "ESME_RCANCELFAIL";
    case 0x13: return "ESME_RREPLACEFAIL";
    case 0x14: return "ESME_RMSGQFUL";
    case 0x15: return "ESME_RINVSERTYP";
    case 0x33: return "ESME_RINVNUMDESTS";
    case 0x34: return "ESME_RINVDLNAME";
    case 0x40: return "ESME_RINVDESTFLAG";
    case 0x42: return "ESME_RINVSUBREP";
    case 0x43: return "ESME_RINVESMCLASS";
    case 0x44: return "ESME_RCNTSUBDL";
    case 0x45: return "ESME_RSUBMITFAIL";
    case 0x48: return "ESME_RINVSRCTON";
    case 0x49: return "ESME_RINVSRCNPI";
    case 0x50: return "ESME_RINVDSTTON";
    case 0x51: return "ESME_RINVDSTNPI";
    case 0x53: return "ESME_RINVSYSTYP";
    case 0x54: return "ESME_RINVREPFLAG";
    case 0x55: return "ESME_RINVNUMMSGS";
    case 0x58: return "ESME_RTHROTTLED";
    case 0x61: return "ESME_RINVSCHED";
    case 0x62: return "ESME_RINVEXPIRY";
    case 0x63: return "ESME_RINVDFTMSGID";
    case 0x64: return "ESME_RX_T_APPN";
    case 0x65: return "ESME_RX_P_APPN";
    case 0x66: return "ESME_RX_R_APPN";
    case 0x67: return "ESME_RQUERYFAIL";
    case 0xC0: return "ESME_RINVOPTPARSTREAM";
    case 0xC1: return "ESME_ROPTPARNOTALLWD";
    case 0xC2: return "ESME_RINVPARLEN";
    case 0xC3: return "ESME_RMISSINGOPTPARAM";
    case 0xC4: return "ESME_RINVOPTPARAMVAL";
    case 0xFE: return "ESME_RDELIVERYFAILURE";
    case 0xFF: return "ESME_RUNKNOWNERR";
    case 0x100: return "ESME_RSERTYPUNAUTH";
    case 0x101: return "ESME_RPROHIBITED";
    case 0x102: return "ESME_RSERTYPUNAVAIL";
    case 0x103: return "ESME_RSERTYPDENIED";
    case 0x104: return "ESME_RINVDCS";
    case 0x105: return "ESME_RINVSRCADDRSUBUNIT";
    case 0x106: return "ESME_RINVDSTADDRSUBUNIT";
    case 0x107: return "ESME_RINVBCASTFREQINT";
    case 0x108: return "ESME_RINVBCASTALIAS_NAME";
    case 0x109: return "ESME_RINVBCASTAREAFMT";
    case 0x10A: return "ESME_RINVNUMBCAST_AREAS";
    case 0x10B: return "ESME_RINVBCASTCNTTYPE";
    case 0x10C: return "ESME_RINVBCASTMSGCLASS";
    case 0x10D: return "ESME_RBCASTFAIL";
    case 0x10E: return "ESME_RBCASTQUERYFAIL";
    case 0x10F: return "ESME_RBCASTCANCELFAIL";
    case 0x110: return "ESME_RINVBCAST_REP";
    case 0x111: return "ESME_RINVBCASTSRVGRP";
    case 0x112: return "ESME_RINVBCASTCHANIND";
    default: return NULL;
    }
}

const char *smpp_message_state_name(int state)
{
    static const char *const names[] = {
        "SCHEDULED", "ENROUTE", "DELIVERED", "EXPIRED", "DELETED",
        "UNDELIVERABLE", "ACCEPTED", "UNKNOWN", "REJECTED", "SKIPPED",
    };
    return state >= 0 && (size_t)state < SG_ARRAY_LEN(names) ? names[state] : NULL;
}

const struct smpp_tlv *smpp_tlv_find(const struct smpp_pdu *pdu, uint16_t tag)
{
    for (unsigned i = 0; i < pdu->n_tlvs; i++)
        if (pdu->tlvs[i].tag == tag)
            return &pdu->tlvs[i];
    return NULL;
}

/* ---- decoding ------------------------------------------------------------ */

/* Records the first problem only: later ones are usually consequences. */
static void set_err(struct smpp_error *err, int *rc, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void set_err(struct smpp_error *err, int *rc, int code, size_t off, const char *fmt, ...)
{
    if (*rc != 0)
        return;
    *rc = code;
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->buf_, sizeof(err->buf_), fmt, ap);
    va_end(ap);
    err->offset = off;
    err->reason = err->buf_;
}

/* A C-octet string of at most max octets including the NUL (v3.4 §3.1). */
static inline int get_cstr(const uint8_t *buf, size_t *pos, size_t end, unsigned max, const char *name,
                    struct sg_view *v, struct smpp_error *err, int *rc)
{
    size_t avail = end - *pos;
    /* Empty: how submit_sm and deliver_sm mostly carry service_type,
     * schedule_delivery_time and validity_period (v3.4 §5.2.11, §5.2.15-16:
     * NULL for the defaults).  The same view the search below gives. */
    if (avail && buf[*pos] == 0) {
        v->p = buf + *pos;
        v->len = 0;
        *pos += 1;
        return 0;
    }
    size_t lim = avail < max ? avail : max;
    /* Most strings here are a few octets: eight at a time, then one at a
     * time, beats a memchr call.  (w - 0x01..) & ~w & 0x80.. has its lowest
     * set bit in the first zero octet (a borrow only sets bits above one). */
    const uint8_t *s = buf + *pos, *nul = NULL;
    size_t i = 0;
    for (; i + 8 <= lim; i += 8) {
        uint64_t w = sg_load_le64(s + i);
        uint64_t z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
        if (z) {
            nul = s + i + (size_t)(__builtin_ctzll(z) >> 3);
            break;
        }
    }
    if (!nul)
        for (; i < lim; i++)
            if (s[i] == 0) {
                nul = s + i;
                break;
            }
    if (!nul) {
        if (avail == 0)
            set_err(err, rc, SG_ETRUNC, *pos, "PDU ends before %s", name);
        else
            set_err(err, rc, avail < max ? SG_ETRUNC : SG_EINVAL, *pos, "missing NUL in %s (max %u)",
                    name, max);
        return -1;
    }
    v->p = buf + *pos;
    v->len = (size_t)(nul - (buf + *pos));
    *pos += v->len + 1;
    return 0;
}

static inline int get_u8(const uint8_t *buf, size_t *pos, size_t end, const char *name, uint8_t *v,
                  struct smpp_error *err, int *rc)
{
    if (*pos >= end) {
        set_err(err, rc, SG_ETRUNC, *pos, "PDU ends before %s", name);
        return -1;
    }
    *v = buf[(*pos)++];
    return 0;
}

/* submit_multi destinations (v3.4 §4.5.1.1, §5.2.25). */
static int get_dests(const uint8_t *buf, size_t *pos, size_t end, struct smpp_pdu *out,
                     struct smpp_error *err, int *rc)
{
    /* Bound: number_of_dests <= 255, each entry consumes >= 2 octets. */
    for (unsigned i = 0; i < out->number_of_dests; i++) {
        struct smpp_dest *d = &out->dests[i];
        size_t at = *pos;
        if (get_u8(buf, pos, end, "dest_flag", &d->dest_flag, err, rc))
            return -1;
        if (d->dest_flag == 1) {
            if (get_u8(buf, pos, end, "dest_addr_ton", &d->ton, err, rc) ||
                get_u8(buf, pos, end, "dest_addr_npi", &d->npi, err, rc) ||
                get_cstr(buf, pos, end, 21, "destination_addr", &d->addr, err, rc))
                return -1;
        } else if (d->dest_flag == 2) {
            d->ton = d->npi = 0;
            if (get_cstr(buf, pos, end, 21, "dl_name", &d->addr, err, rc))
                return -1;
        } else {
            set_err(err, rc, SG_EINVAL, at, "dest_flag %u invalid in destination %u", d->dest_flag,
                    i + 1);
            return -1;
        }
        out->n_dests = (uint8_t)(i + 1);
    }
    return 0;
}

/* submit_multi_resp unsuccess_sme entries (v3.4 §4.5.2, §5.2.25). */
static int get_unsuccess(const uint8_t *buf, size_t *pos, size_t end, struct smpp_pdu *out,
                         struct smpp_error *err, int *rc)
{
    for (unsigned i = 0; i < out->no_unsuccess; i++) {
        struct smpp_unsuccess *u = &out->unsuccess[i];
        if (get_u8(buf, pos, end, "dest_addr_ton", &u->ton, err, rc) ||
            get_u8(buf, pos, end, "dest_addr_npi", &u->npi, err, rc) ||
            get_cstr(buf, pos, end, 21, "destination_addr", &u->addr, err, rc))
            return -1;
        if (end - *pos < 4) {
            set_err(err, rc, SG_ETRUNC, *pos, "PDU ends inside error_status_code");
            return -1;
        }
        u->error_status_code = smpp_be32(buf + *pos);
        *pos += 4;
        out->n_unsuccess = (uint8_t)(i + 1);
    }
    return 0;
}

static uint32_t be_n(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* An integer TLV of length 0 or over 4: reported, its value not taken. */
static __attribute__((noinline)) void bad_int_tlv(uint16_t tag, uint16_t len, size_t tlv_off,
                                                  struct smpp_error *err, int *rc)
{
    /* tag is a known integer TLV here, so it has a name; the fallback is
     * for the compiler, which cannot see that */
    const char *name = smpp_tlv_name(tag);
    set_err(err, rc, SG_EINVAL, tlv_off, "TLV %s (0x%04x) length %u invalid for an integer",
            name ? name : "?", tag, len);
}

/* Fills the hot TLVs; tlv_off is the TLV's offset for error reports.  The
 * hot tags are switched on first, their types known here (smpp-tlv.def),
 * so that only the other tags pay for tlv_desc_find's search, to check
 * the length of an integer TLV. */
static void take_tlv(struct smpp_pdu *out, uint16_t tag, uint16_t len, const uint8_t *val,
                     size_t tlv_off, struct smpp_error *err, int *rc)
{
    struct smpp_hot_tlvs *h = &out->tlv;
    int32_t *iv;
    switch (tag) {
    case SMPP_TLV_message_payload: h->message_payload = (struct sg_view){val, len}; return;
    case SMPP_TLV_receipted_message_id: {
        /* v3.4 §5.3.2.12: C-octet string; many SMSCs leave the NUL out. */
        const uint8_t *nul = len ? memchr(val, 0, len) : NULL;
        h->receipted_message_id = (struct sg_view){val, nul ? (size_t)(nul - val) : len};
        return;
    }
    case SMPP_TLV_network_error_code: h->network_error_code = (struct sg_view){val, len}; return;
    case SMPP_TLV_message_state: iv = &h->message_state; break;
    case SMPP_TLV_sar_msg_ref_num: iv = &h->sar_msg_ref_num; break;
    case SMPP_TLV_sar_total_segments: iv = &h->sar_total_segments; break;
    case SMPP_TLV_sar_segment_seqnum: iv = &h->sar_segment_seqnum; break;
    case SMPP_TLV_user_message_reference: iv = &h->user_message_reference; break;
    case SMPP_TLV_source_port: iv = &h->source_port; break;
    case SMPP_TLV_destination_port: iv = &h->destination_port; break;
    case SMPP_TLV_sc_interface_version: iv = &h->sc_interface_version; break;
    case SMPP_TLV_payload_type: iv = &h->payload_type; break;
    case SMPP_TLV_more_messages_to_send: iv = &h->more_messages_to_send; break;
    default: {
        const struct tlv_desc *d = tlv_desc_find(tag);
        if (d && (d->type == T_INT1 || d->type == T_INT2 || d->type == T_INT4) && (len == 0 || len > 4))
            bad_int_tlv(tag, len, tlv_off, err, rc);
        return;
    }
    }
    /* every hot integer TLV is INT1 or INT2 in smpp-tlv.def */
    if (len == 0 || len > 4) {
        bad_int_tlv(tag, len, tlv_off, err, rc);
        return;
    }
    uint32_t u = be_n(val, len);
    *iv = u > INT32_MAX ? INT32_MAX : (int32_t)u;
}

/* One mandatory field.  fid and max are constants in every caller (the
 * generated body decoders below), so the kind switch and the member offset
 * fold away and each body decodes as straight-line code: a loop over the
 * field list cost three table lookups and an indirect jump per field.
 * Returns 0, or -1 with *rc set (the first problem). */
static inline __attribute__((always_inline)) int
decode_field(const uint8_t *buf, size_t *pos, size_t end, unsigned fid, unsigned max,
             struct smpp_pdu *out, uint64_t *present, struct smpp_error *err, int *rc)
{
    uint8_t *member = (uint8_t *)out + field_off[fid];
    switch (field_kind[fid]) {
    case K_CSTR:
        if (get_cstr(buf, pos, end, max, field_name[fid], (struct sg_view *)(void *)member, err, rc))
            return -1;
        break;
    case K_INT1:
    case K_SMLEN:
    case K_NDEST:
    case K_NUNS:
        if (get_u8(buf, pos, end, field_name[fid], member, err, rc))
            return -1;
        break;
    case K_SM: {
        /* v3.4 §5.2.21-22: sm_length octets, 0..254. */
        size_t n = out->sm_length;
        if (n > end - *pos) {
            set_err(err, rc, SG_ETRUNC, *pos - 1, "sm_length %zu exceeds remaining %zu bytes", n,
                    end - *pos);
            return -1;
        }
        if (n > max)
            set_err(err, rc, SG_EINVAL, *pos - 1, "sm_length %zu above %u", n, max);
        out->short_message = (struct sg_view){buf + *pos, n};
        *pos += n;
        break;
    }
    }
    *present |= (uint64_t)1 << fid;
    if (field_kind[fid] == K_NDEST)
        return get_dests(buf, pos, end, out, err, rc);
    if (field_kind[fid] == K_NUNS)
        return get_unsuccess(buf, pos, end, out, err, rc);
    return 0;
}

/* body_decode_NAME: the fields of PDU NAME in wire order.  A body may end
 * at a field boundary when the PDU allows it (v3.4 §4.4.2: body omitted
 * after an error).  present and pos are kept in locals and stored on
 * return: out's views hold size_t members, which may alias them. */
#define SMPP_WANT_PDUS
#define SMPP_PDU(name, id, flags)                                                          \
    static int body_decode_##name(const uint8_t *buf, size_t *pos_io, size_t end,          \
                                  struct smpp_pdu *out, struct smpp_error *err, int *rc)   \
    {                                                                                      \
        const int short_ok = ((flags) & SMPP_PF_SHORT_OK) != 0;                            \
        uint64_t present = 0;                                                              \
        size_t pos = *pos_io;                                                              \
        (void)short_ok;                                                                    \
        (void)buf;                                                                         \
        (void)end;                                                                         \
        (void)err;                                                                         \
        (void)rc;
#define SMPP_F(field, max)                                                                 \
        if (short_ok && pos == end)                                                        \
            goto done;                                                                     \
        if (decode_field(buf, &pos, end, SMPP_FID_##field, max, out, &present, err, rc)) { \
            out->present = present;                                                        \
            return -1;                                                                     \
        }
#define SMPP_PDU_END(name)                                                                 \
        goto done;                                                                         \
    done:                                                                                  \
        out->present = present;                                                            \
        *pos_io = pos;                                                                     \
        return 0;                                                                          \
    }
#include "smpp-pdu.def"
#undef SMPP_WANT_PDUS

/* ---- fast bodies of the common PDUs ---------------------------------------
 *
 * submit_sm, deliver_sm and their responses are nearly all the traffic
 * (97% of the PDUs of decode-small).  Their bodies are decoded here with
 * one bounds check per run of one-octet fields and a sixteen-octet NUL
 * search per C-octet string, instead of a check per field.  A fast body
 * decodes exactly what its body_decode_NAME gives or declines: at the
 * first field it cannot take as the general decoder would without a
 * problem (no NUL within the sixteen octets it looked at, fewer octets
 * left than it wants to read at once, sm_length above 254) it returns -1
 * and the general decoder redoes the body from the start, writing the
 * same members over, so every error and the fields decoded before it are
 * the general decoder's.  tests/test-smpp-fast.c checks the two against
 * each other. */

#define SMPP_FIELD_BIT(f) ((uint64_t)1 << SMPP_FID_##f)

/* A C-octet string of at most max (2..32) octets with its NUL, at *pos:
 * 0 with *v set and *pos past the NUL; -1 to decline. */
static inline int cstr_fast(const uint8_t *buf, size_t *pos, size_t end, unsigned max,
                            struct sg_view *v)
{
    size_t at = *pos, avail = end - at;
    if (avail && buf[at] == 0) { /* empty: the defaults of most of them */
        v->p = buf + at;
        v->len = 0;
        *pos = at + 1;
        return 0;
    }
    size_t n;
#if defined(__SSE2__)
    const __m128i z = _mm_setzero_si128();
    unsigned m;
    if (avail < 16) {
        /* The end of the PDU (a response's message_id): the sixteen
         * octets that end at end, inside the PDU since its header alone
         * is sixteen octets, shifted to start at at. */
        m = (unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(buf + end - 16)), z)) >>
            (16 - avail);
        if (!m)
            return -1;
    } else if (!(m = (unsigned)_mm_movemask_epi8(
                     _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(buf + at)), z)))) {
        if (max <= 16 || avail < 32)
            return -1;
        m = (unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(buf + at + 16)), z))
            << 16;
        if (!m)
            return -1;
    }
    n = (size_t)__builtin_ctz(m);
    if (n >= max)
        return -1;
#else
    const uint8_t *nul = memchr(buf + at, 0, avail < max ? avail : max);
    if (!nul)
        return -1;
    n = (size_t)(nul - (buf + at));
#endif
    v->p = buf + at;
    v->len = n;
    *pos = at + n + 1;
    return 0;
}

/* submit_sm (v3.4 §4.4.1) and deliver_sm (§4.6.1): the same body. */
static int body_fast_sm(const uint8_t *buf, size_t *pos_io, size_t end, struct smpp_pdu *out)
{
    size_t pos = *pos_io;
    if (cstr_fast(buf, &pos, end, 6, &out->service_type) || end - pos < 2)
        return -1;
    out->source_addr_ton = buf[pos];
    out->source_addr_npi = buf[pos + 1];
    pos += 2;
    if (cstr_fast(buf, &pos, end, 21, &out->source_addr) || end - pos < 2)
        return -1;
    out->dest_addr_ton = buf[pos];
    out->dest_addr_npi = buf[pos + 1];
    pos += 2;
    if (cstr_fast(buf, &pos, end, 21, &out->destination_addr) || end - pos < 3)
        return -1;
    out->esm_class = buf[pos];
    out->protocol_id = buf[pos + 1];
    out->priority_flag = buf[pos + 2];
    pos += 3;
    if (cstr_fast(buf, &pos, end, 17, &out->schedule_delivery_time) ||
        cstr_fast(buf, &pos, end, 17, &out->validity_period) || end - pos < 5)
        return -1;
    out->registered_delivery = buf[pos];
    out->replace_if_present_flag = buf[pos + 1];
    out->data_coding = buf[pos + 2];
    out->sm_default_msg_id = buf[pos + 3];
    size_t n = out->sm_length = buf[pos + 4];
    pos += 5;
    if (n > end - pos || n > 254)
        return -1;
    out->short_message = (struct sg_view){buf + pos, n};
    out->present = SMPP_FIELD_BIT(service_type) | SMPP_FIELD_BIT(source_addr_ton) |
                   SMPP_FIELD_BIT(source_addr_npi) | SMPP_FIELD_BIT(source_addr) |
                   SMPP_FIELD_BIT(dest_addr_ton) | SMPP_FIELD_BIT(dest_addr_npi) |
                   SMPP_FIELD_BIT(destination_addr) | SMPP_FIELD_BIT(esm_class) |
                   SMPP_FIELD_BIT(protocol_id) | SMPP_FIELD_BIT(priority_flag) |
                   SMPP_FIELD_BIT(schedule_delivery_time) | SMPP_FIELD_BIT(validity_period) |
                   SMPP_FIELD_BIT(registered_delivery) | SMPP_FIELD_BIT(replace_if_present_flag) |
                   SMPP_FIELD_BIT(data_coding) | SMPP_FIELD_BIT(sm_default_msg_id) |
                   SMPP_FIELD_BIT(sm_length) | SMPP_FIELD_BIT(short_message);
    *pos_io = pos + n;
    return 0;
}

/* submit_sm_resp and deliver_sm_resp (v3.4 §4.4.2, §4.6.2): a message_id
 * of at most 65 octets, or no body at all after an error. */
static int body_fast_resp(const uint8_t *buf, size_t *pos_io, size_t end, struct smpp_pdu *out)
{
    size_t pos = *pos_io;
    if (pos == end)
        return 0; /* present stays 0 */
    if (cstr_fast(buf, &pos, end, 32, &out->message_id))
        return -1; /* ids of 32 octets and more: the general decoder */
    out->present = SMPP_FIELD_BIT(message_id);
    *pos_io = pos;
    return 0;
}

/* Zeroes out[0 .. offsetof(tlvs)), 344 octets, once per PDU.  GCC makes a
 * memset of that size a `rep stosq` (43 iterations, each counted by
 * callgrind, and a start-up of tens of cycles); unrolled, the same is 19
 * stores of sixteen octets with SSE2 (the x86-64 baseline), the compiler
 * dropping those the -1 defaults below overwrite: about 30 instructions a
 * PDU less (1% of `decode -q`).  Unrolled in the source because a loop
 * left to the compiler is turned back into the memset. */
static inline void clear_head(struct smpp_pdu *out)
{
    enum { HEAD = offsetof(struct smpp_pdu, tlvs) };
#if defined(__SSE2__)
    unsigned char *p = (unsigned char *)out;
    const __m128i z = _mm_setzero_si128();
#pragma GCC unroll 32
    for (size_t i = 0; i + 16 <= HEAD; i += 16)
        _mm_storeu_si128((__m128i *)(void *)(p + i), z);
    memset(p + (HEAD & ~(size_t)15), 0, HEAD & 15);
#else
    memset(out, 0, HEAD);
#endif
}

int smpp_decode(const uint8_t *buf, size_t len, struct smpp_pdu *out, struct smpp_error *err)
{
    int rc = 0;

    /* Clear everything before tlvs[]: header, presence, fields, counts and hot
     * TLVs (a few hundred bytes); the big arrays are only valid up to their
     * counts. */
    clear_head(out);
    out->tlv.message_state = out->tlv.sar_msg_ref_num = out->tlv.sar_total_segments = -1;
    out->tlv.sar_segment_seqnum = out->tlv.user_message_reference = -1;
    out->tlv.source_port = out->tlv.destination_port = out->tlv.sc_interface_version = -1;
    out->tlv.payload_type = out->tlv.more_messages_to_send = -1;

    if (len < SMPP_HEADER_LEN) {
        set_err(err, &rc, SG_ETRUNC, len, "PDU of %zu bytes shorter than the 16-byte header", len);
        return rc;
    }
    out->command_length = smpp_be32(buf);
    out->command_id = smpp_be32(buf + 4);
    out->command_status = smpp_be32(buf + 8);
    out->sequence_number = smpp_be32(buf + 12);

    /* v3.4 §3.2: command_length counts the whole PDU, header included. */
    if (out->command_length < SMPP_HEADER_LEN) {
        set_err(err, &rc, SG_EINVAL, 0, "command_length %u below header size", out->command_length);
        return rc;
    }
    size_t end = len;
    if (out->command_length > len)
        set_err(err, &rc, SG_ETRUNC, len, "command_length %u exceeds the %zu bytes available",
                out->command_length, len);
    else if (out->command_length < len) {
        set_err(err, &rc, SG_EINVAL, out->command_length,
                "command_length %u leaves %zu trailing bytes", out->command_length,
                len - out->command_length);
        end = out->command_length;
    }

    size_t pos = SMPP_HEADER_LEN;
    uint32_t id = out->command_id;
    int fast = -1;
#ifndef SMPP_GENERAL_BODIES_ONLY /* tests/test-smpp-fast.c's reference build */
    if (id == SMPP_CMD(submit_sm) || id == SMPP_CMD(deliver_sm))
        fast = body_fast_sm(buf, &pos, end, out);
    else if (id == SMPP_CMD(submit_sm_resp) || id == SMPP_CMD(deliver_sm_resp))
        fast = body_fast_resp(buf, &pos, end, out);
#endif
    if (fast) {
        const struct pdu_desc *d = pdu_desc_find(id);
        if (!d) {
            set_err(err, &rc, SG_EINVAL, 4, "unknown command_id 0x%08x", out->command_id);
            return rc;
        }
        pos = SMPP_HEADER_LEN;
        if (d->decode_body(buf, &pos, end, out, err, &rc))
            return rc;
        if (SMPP_HAS(out, message_state))
            out->tlv.message_state = out->message_state; /* query_sm_resp */
    }

    /* TLVs (v3.4 §3.2.4, §5.3.1): whatever follows the mandatory fields.
     * Bound: each TLV consumes >= 4 octets of the PDU. */
    while (pos < end) {
        if (end - pos < 4) {
            set_err(err, &rc, SG_ETRUNC, pos, "%zu stray bytes after the last field at offset %zu",
                    end - pos, pos);
            break;
        }
        uint16_t tag = smpp_be16(buf + pos);
        uint16_t tlen = smpp_be16(buf + pos + 2);
        if (tlen > end - pos - 4) {
            set_err(err, &rc, SG_ETRUNC, pos, "TLV 0x%04x length %u runs past end of PDU at offset %zu",
                    tag, tlen, pos);
            break;
        }
        if (out->n_tlvs < SMPP_MAX_TLVS)
            out->tlvs[out->n_tlvs++] = (struct smpp_tlv){tag, tlen, buf + pos + 4};
        else
            set_err(err, &rc, SG_EINVAL, pos, "more than %d TLVs", SMPP_MAX_TLVS);
        take_tlv(out, tag, tlen, buf + pos + 4, pos, err, &rc);
        pos += 4u + tlen;
    }
    return rc;
}

/* ---- JSON ----------------------------------------------------------------- */

/* The dumper writes through the writer's inline paths (json-writer-int.h):
 * each member one room check and fixed-size copies.  Its keys and TLV names
 * come from these tables, expanded from the same .def files. */

/* ,"field": for each field. */
static const struct json_key {
    char ck[JW_TAB_KEY + 1];
    uint8_t n;
} json_field_key[SMPP_FID__COUNT] = {
#define SMPP_WANT_FIELDS
#define SMPP_FIELD(name, kind) [SMPP_FID_##name] = {",\"" #name "\":", sizeof(",\"" #name "\":") - 1},
#include "smpp-pdu.def"
#undef SMPP_WANT_FIELDS
};

/* A TLV's name as a JSON string ("\"name\"", program-made, no escaping)
 * and its type; NULL for vendor and unknown tags, as tlv_desc_find. */
struct tlv_json {
    char qname[JW_TAB_KEY + 1];
    uint8_t qn;
    uint8_t type;
};

static const struct tlv_json *tlv_json_find(uint16_t tag)
{
    switch (tag) {
#define SMPP_TLV(tag, name, type)                                                      \
    case tag: {                                                                        \
        static const struct tlv_json j_##name = {"\"" #name "\"", sizeof(#name) + 1, T_##type}; \
        return &j_##name;                                                              \
    }
#include "smpp-tlv.def"
    default:
        return NULL;
    }
}

/* ,"field":v for a field whose key is in json_field_key. */
static inline void json_field_uint(jw_t *w, unsigned fid, uint64_t v)
{
    const struct json_key *k = &json_field_key[fid];
    char *o = jw_tab_begin(w, k->ck, k->n, 20);
    if (!o) {
        jw_keyn(w, k->ck + 2, k->n - 4u);
        jw_uint(w, v);
        return;
    }
    jw_lit_commit(w, jw_put_uint_at(o, v));
}

static inline void json_field_key_only(jw_t *w, unsigned fid)
{
    const struct json_key *k = &json_field_key[fid];
    char *o = jw_tab_begin(w, k->ck, k->n, 0);
    if (!o) {
        jw_keyn(w, k->ck + 2, k->n - 4u);
        return;
    }
    jw_lit_commit(w, o);
    w->after_key = true;
}

void smpp_pdu_write_json(const struct smpp_pdu *pdu, jw_t *w)
{
    /* command_id, command_status and sequence_number belong to the caller's
     * event header (output-json.c writes them); writing them here too would
     * duplicate keys. */
    jw_lit_kuint(w, "command_length", pdu->command_length);

    const struct pdu_desc *d = pdu_desc_find(pdu->command_id);
    for (const struct field_spec *f = d ? d->body : NULL; f && f->fid != FID_END; f++) {
        unsigned fid = f->fid;
        if (!(pdu->present >> fid & 1u))
            continue;
        const uint8_t *member = (const uint8_t *)pdu + field_off[fid];
        const struct sg_view *v = (const struct sg_view *)(const void *)member;
        switch (field_kind[fid]) {
        case K_CSTR:
            if (fid == SMPP_FID_password) {
                jw_lit_kuint(w, "password_len", v->len); /* never log credentials */
            } else {
                json_field_key_only(w, fid);
                jw_put_escaped_value(w, (const char *)v->p, v->len);
            }
            break;
        case K_SM:
            json_field_key_only(w, fid);
            jw_hex(w, v->p, v->len);
            break;
        case K_INT1:
        case K_SMLEN:
            json_field_uint(w, fid, *member);
            break;
        case K_NDEST:
            json_field_uint(w, fid, *member);
            jw_lit_key(w, "dests");
            jw_arr_begin(w);
            for (unsigned i = 0; i < pdu->n_dests; i++) {
                const struct smpp_dest *dd = &pdu->dests[i];
                jw_obj_begin(w);
                jw_lit_kuint(w, "dest_flag", dd->dest_flag);
                if (dd->dest_flag == 1) {
                    jw_lit_kuint(w, "dest_addr_ton", dd->ton);
                    jw_lit_kuint(w, "dest_addr_npi", dd->npi);
                    jw_lit_kstrn(w, "destination_addr", (const char *)dd->addr.p, dd->addr.len);
                } else {
                    jw_lit_kstrn(w, "dl_name", (const char *)dd->addr.p, dd->addr.len);
                }
                jw_obj_end(w);
            }
            jw_arr_end(w);
            break;
        case K_NUNS:
            json_field_uint(w, fid, *member);
            jw_lit_key(w, "unsuccess_sme");
            jw_arr_begin(w);
            for (unsigned i = 0; i < pdu->n_unsuccess; i++) {
                const struct smpp_unsuccess *u = &pdu->unsuccess[i];
                jw_obj_begin(w);
                jw_lit_kuint(w, "dest_addr_ton", u->ton);
                jw_lit_kuint(w, "dest_addr_npi", u->npi);
                jw_lit_kstrn(w, "destination_addr", (const char *)u->addr.p, u->addr.len);
                jw_lit_kuint(w, "error_status_code", u->error_status_code);
                jw_obj_end(w);
            }
            jw_arr_end(w);
            break;
        }
    }

    if (pdu->n_tlvs == 0)
        return;
    jw_lit_key(w, "tlvs");
    jw_arr_begin(w);
    for (unsigned i = 0; i < pdu->n_tlvs; i++) {
        const struct smpp_tlv *t = &pdu->tlvs[i];
        const struct tlv_json *td = tlv_json_find(t->tag);
        jw_obj_begin(w);
        jw_lit_kuint(w, "tag", t->tag);
        if (td)
            jw_lit_kraw32(w, "name", td->qname, td->qn);
        else
            jw_lit_knull(w, "name");
        jw_lit_kuint(w, "len", t->len);
        if (td && (td->type == T_INT1 || td->type == T_INT2 || td->type == T_INT4) && t->len >= 1 &&
            t->len <= 4) {
            jw_lit_kuint(w, "value", be_n(t->value, t->len));
        } else if (td && td->type == T_CSTR) {
            const uint8_t *nul = t->len ? memchr(t->value, 0, t->len) : NULL;
            jw_lit_kstrn(w, "value", (const char *)t->value, nul ? (size_t)(nul - t->value) : t->len);
        } else {
            jw_lit_khex(w, "value", t->value, t->len);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
}
