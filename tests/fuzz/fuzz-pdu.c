/* libFuzzer target: the input is one PDU.  It is decoded (the decoder never
 * trusts command_length against len), dumped as JSON, and its message octets
 * are parsed as receipt text, so every view the decoder hands out is read.
 * The input is copied into an exact-size buffer so an overread past the PDU
 * is caught by AddressSanitizer.
 *
 *   CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz-pdu
 *   ./build-fuzz/tests/fuzz-pdu -max_total_time=600 tests/fuzz/corpus/fuzz-pdu
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"
#include "smpp-receipt.h"
#include "smpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jw_t *w;
    static struct smpp_pdu pdu;
    if (!w)
        w = jw_new(1u << 20);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf || !w) {
        free(buf);
        return 0;
    }
    memcpy(buf, data, size);

    struct smpp_error err = {0};
    int rc = smpp_decode(buf, size, &pdu, &err);
    if (rc != 0 && (!err.reason || err.offset > size))
        abort(); /* every error names a reason and an offset inside the input */
    /* Random inputs rarely carry a matching command_length, which stops the
     * decoder at the header; decode once more with it set to the input size
     * so that mutations reach the body and TLV paths. */
    if (size >= 4) {
        buf[0] = (uint8_t)(size >> 24), buf[1] = (uint8_t)(size >> 16);
        buf[2] = (uint8_t)(size >> 8), buf[3] = (uint8_t)size;
        rc = smpp_decode(buf, size, &pdu, &err);
        if (rc != 0 && (!err.reason || err.offset > size))
            abort();
    }

    jw_reset(w);
    jw_obj_begin(w);
    smpp_pdu_write_json(&pdu, w);
    jw_obj_end(w);
    (void)smpp_command_name(pdu.command_id);
    (void)smpp_status_name(pdu.command_status);

    struct sg_view m = smpp_pdu_message(&pdu);
    struct smpp_receipt r;
    if (m.p && smpp_receipt_parse(m.p, m.len, &r) == 0) {
        int64_t t;
        char id[80];
        (void)smpp_receipt_date(r.submit_date, &t);
        (void)smpp_receipt_date(r.done_date, &t);
        if (r.id.p) {
            (void)smpp_msgid_normalise(r.id, SMPP_MSGID_HEX, id, sizeof(id));
            (void)smpp_msgid_normalise(r.id, SMPP_MSGID_DEC, id, sizeof(id));
        }
    }
    if (pdu.tlv.receipted_message_id.p) {
        char id[80];
        (void)smpp_msgid_normalise(pdu.tlv.receipted_message_id, SMPP_MSGID_AS_IS, id, sizeof(id));
    }
    free(buf);
    return 0;
}
