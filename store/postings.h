/* Posting lists: the (ts, id) entries of one key, packed into one BLOB.
 *
 * The message log finds a sender's rows through message_log_sender_runs
 * (docs/state.md "Sender runs"): one row per sender and transaction of
 * the writer (and per POSTINGS_MAX of its rows), holding the ids and
 * packet times of that sender's rows in the transaction as a posting
 * list, where a key-table entry per row had cost a fifth of the writer's
 * time.  POSTINGS_MAX bounds what a lookup decodes to reach a sender's
 * newest rows.  Senders are few and each sends a lot, the case posting
 * lists are made for; recipients are many and each gets little, and keep
 * their entry per row (message_log_dest).
 *
 * Format, version 1:
 *
 *     list  := 0x01 entry{1..POSTINGS_MAX}
 *     entry := zigzag-varint(id - previous id) zigzag-varint(ts - previous ts)
 *
 * with "previous" (0, 0) for the first entry.  Varints are LEB128: 7 bits
 * a byte, low group first, the high bit set on every byte but the last, at
 * most 10 bytes.  The writer puts a sender's entries in id order, so the id
 * deltas are small and positive and the time deltas small: about 5 bytes
 * an entry against 27 for a key-table entry.  The lists come back from the
 * database, which may be damaged: the reader checks every byte and reports
 * a damaged list, never reads past it.
 *
 * No allocation: the writer encodes into a buffer of POSTINGS_BYTES_MAX,
 * the reader walks the BLOB in place. */
#ifndef SG_STORE_POSTINGS_H
#define SG_STORE_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#define POSTINGS_VERSION 1
#define POSTINGS_MAX 256
#define POSTINGS_VARINT_MAX 10
/* The longest list: the version byte and POSTINGS_MAX entries of two
 * 10-byte varints. */
#define POSTINGS_BYTES_MAX (1 + POSTINGS_MAX * 2 * POSTINGS_VARINT_MAX)

struct posting {
    int64_t ts, id;
};

/* Encoding: postings_begin() on a buffer of POSTINGS_BYTES_MAX bytes, then
 * up to POSTINGS_MAX postings_add(), then postings_len() for the BLOB's
 * length.  Any order of entries encodes; the writer's is id order. */
struct postings_writer {
    unsigned char *p;
    size_t n, len;
    int64_t ts, id; /* the previous entry */
};

void postings_begin(struct postings_writer *w, unsigned char *buf);
/* 0, or -1 when the list holds POSTINGS_MAX entries already (nothing
 * written). */
int postings_add(struct postings_writer *w, int64_t ts, int64_t id);
static inline size_t postings_count(const struct postings_writer *w)
{
    return w->n;
}
static inline size_t postings_len(const struct postings_writer *w)
{
    return w->len;
}

/* Decoding, in place: postings_open() checks the version, then
 * postings_next() returns the entries in the order they were added. */
struct postings_reader {
    const unsigned char *p, *end;
    size_t n;
    int64_t ts, id;
};

/* 0, or -1 for a list that is empty, too short or of another version. */
int postings_open(struct postings_reader *r, const void *blob, size_t len);
/* 1 and the next entry in *out; 0 at the end of the list; -1 for a
 * damaged list (a varint cut short or longer than 10 bytes, more than
 * POSTINGS_MAX entries). */
int postings_next(struct postings_reader *r, struct posting *out);

#endif
