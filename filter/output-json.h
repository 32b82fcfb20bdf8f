/* JSON Lines rendering of decoder events: the public output format of
 * `smsguard decode` and `smsguard replay` (docs/smsguard.1 lists the keys;
 * they follow tshark's SMPP field names).
 *
 * Each output_json_* function writes the members of one event into an object
 * the caller has opened with jw_obj_begin(), so a front end can add its own
 * members (replay adds the verdict) before closing it.
 */
#ifndef SG_OUTPUT_JSON_H
#define SG_OUTPUT_JSON_H

#include "decoder.h"
#include "json-writer.h"

void output_json_pdu(jw_t *w, const struct decoder_pdu *e);
/* event_name: "message" (decode) or "verdict" (replay, which adds the verdict). */
void output_json_message(jw_t *w, const struct decoder_message *e, const char *event_name);
void output_json_receipt(jw_t *w, const struct decoder_receipt *e);
void output_json_error(jw_t *w, const struct decoder_error *e);

#endif
