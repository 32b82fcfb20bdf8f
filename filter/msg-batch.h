/* A bounded vector of decoder events, copied out of the decoder's sink
 * callbacks so that they outlive them.
 *
 * Why: judging one message at a time, inside the callback, makes the
 * decoder's code and the judge's (normaliser, URL extractor, Hyperscan,
 * lists, volume) evict each other from the instruction cache for every
 * message (~300 L1i misses a message on the 20k benchmark capture).  A
 * front end that queues the events here and hands the messages to
 * verdict_judge_batch() a vector at a time runs each side's code over many
 * messages while it is cached.
 *
 * What a copy holds: the whole struct decoder_message or decoder_receipt,
 * with every pointer and view re-pointed into the batch: account, the
 * address views, text, ud, message_id, the receipt's views and message_id,
 * and the esme/smsc endpoints (copied by value into the event's slot).  A
 * NULL pointer stays NULL; a non-NULL view of length 0 stays non-NULL
 * (pointing into the batch), so "absent" and "empty" read as they did.
 * Strings the decoder NUL-terminates (account, message_id) are copied with
 * their NUL; text is NUL-terminated in the copy as well.  Events keep the
 * order in which they were added (messages and receipts interleaved).
 *
 * Memory: a fixed number of event slots and a fixed arena of bytes, both
 * allocated by msg_batch_new() and never grown: adding costs one struct
 * copy plus the event's bytes (O(event size); about 210 instructions for a
 * message of the benchmark capture), never an allocation.  A
 * full batch refuses the event (SG_ENOSPC): the caller drains it
 * (msg_batch_reset()) and adds the event again.  An event larger than the
 * whole arena can never fit (-EMSGSIZE): the caller handles it directly,
 * from the decoder's memory, after draining what is queued (so that order
 * holds).
 *
 * Ownership and lifetime: the batch owns its copies; the pointers returned
 * by the accessors (and every pointer inside the events) are valid until
 * the next msg_batch_reset() or msg_batch_free().  The originals passed to
 * the add calls are borrowed for the call only.
 *
 * Thread safety: a batch is used by one thread.
 */
#ifndef SG_MSG_BATCH_H
#define SG_MSG_BATCH_H

#include <stddef.h>

#include "decoder.h"

typedef struct msg_batch msg_batch_t;

enum msg_batch_kind {
    MSG_BATCH_MESSAGE = 1,
    MSG_BATCH_RECEIPT = 2,
};

/* A batch of at most max_events events whose bytes (strings, views, text,
 * user data) take at most arena_bytes in all.  Both must be > 0.  NULL on
 * bad arguments or when the memory cannot be allocated. */
msg_batch_t *msg_batch_new(size_t max_events, size_t arena_bytes);
/* NULL is a no-op. */
void msg_batch_free(msg_batch_t *b);

/* Appends a deep copy of m / r.  Returns 0; SG_ENOSPC when the event slots
 * or the arena are full (nothing added: drain, reset and add it again);
 * -EMSGSIZE when the event's bytes exceed the whole arena (it never fits:
 * handle it unbatched); SG_EINVAL for NULL arguments. */
int msg_batch_add_message(msg_batch_t *b, const struct decoder_message *m);
int msg_batch_add_receipt(msg_batch_t *b, const struct decoder_receipt *r);

/* Empties the batch (O(1)); every pointer it handed out becomes invalid. */
void msg_batch_reset(msg_batch_t *b);

/* Events queued, and how many of them are messages (O(1)). */
size_t msg_batch_count(const msg_batch_t *b);
size_t msg_batch_messages(const msg_batch_t *b);

/* Event i (0 <= i < msg_batch_count(), in the order added): its kind (0
 * when i is out of range), and the copy as a message or a receipt (NULL
 * when it is the other kind or i is out of range).  O(1). */
enum msg_batch_kind msg_batch_kind(const msg_batch_t *b, size_t i);
const struct decoder_message *msg_batch_message(const msg_batch_t *b, size_t i);
const struct decoder_receipt *msg_batch_receipt(const msg_batch_t *b, size_t i);

#endif
