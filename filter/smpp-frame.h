/* SMPP framing: is this 16-byte header plausibly the start of a PDU?
 *
 * SMPP has no magic number, so a reassembler that picks a stream up mid-way
 * (binds live for days) or after a gap resynchronises by looking for a header
 * that a real peer would send: a sane command_length, a command_id the
 * specification defines (v3.4 §5.1.2.1, v5.0 §4.7.5), and, on requests, a
 * command_status of 0 (v3.4 §5.1.3: "set to NULL" on requests).
 */
#ifndef SG_SMPP_FRAME_H
#define SG_SMPP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define SMPP_HEADER_LEN 16u
/* The largest PDU we accept.  The specification sets no limit; real PDUs stay
 * far below this (message_payload is at most 64 KiB, submit_multi at most 255
 * destinations). */
#define SMPP_MAX_PDU_LEN (70u * 1024u)

#define SMPP_RESP_BIT 0x80000000u

/* True when command_id is defined by SMPP v3.4 or v5.0 (requests, responses,
 * generic_nack). */
int smpp_command_known(uint32_t command_id);

/* Big-endian readers; the caller guarantees 4 (or 2) readable bytes. */
static inline uint32_t smpp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t smpp_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

enum smpp_frame_verdict {
    SMPP_FRAME_OK = 0,       /* plausible header; *pdu_len is its length */
    SMPP_FRAME_NEED_MORE,    /* fewer than 16 bytes available */
    SMPP_FRAME_BAD,          /* not an SMPP header */
};

/* Checks the header at hdr (avail bytes readable).  With strict set (used
 * when hunting for a header after a gap), a request must also carry
 * command_status 0 and the body length must fit the command (e.g.
 * enquire_link has none). */
enum smpp_frame_verdict smpp_frame_check(const uint8_t *hdr, size_t avail, int strict,
                                         uint32_t *pdu_len);

/* The command_ids smpp_command_known() accepts, as bits: id is known when
 * its bits 9-30 are clear and bit (id & 63) of
 * smpp_known_ids[id >> 31][(id >> 6) & 7] is set.  The one list of them
 * (smpp-frame.c); it is public for the inline checks below. */
extern const uint64_t smpp_known_ids[2][8];

/* smpp_command_known(), inline. */
static inline int smpp_command_known_inline(uint32_t id)
{
    return (id & 0x7FFFFE00u) == 0 && (smpp_known_ids[id >> 31][(id >> 6) & 7] >> (id & 63) & 1);
}

/* smpp_frame_check(hdr, avail, 0, pdu_len), inline: the reassembler checks
 * the header of every PDU it delivers, and the call cost more than the
 * check (33 instructions a PDU, 10 inline). */
static inline enum smpp_frame_verdict smpp_frame_check_loose(const uint8_t *hdr, size_t avail,
                                                             uint32_t *pdu_len)
{
    if (avail < SMPP_HEADER_LEN)
        return SMPP_FRAME_NEED_MORE;
    uint32_t len = smpp_be32(hdr);
    if (len < SMPP_HEADER_LEN || len > SMPP_MAX_PDU_LEN || !smpp_command_known_inline(smpp_be32(hdr + 4)))
        return SMPP_FRAME_BAD;
    *pdu_len = len;
    return SMPP_FRAME_OK;
}

#endif
