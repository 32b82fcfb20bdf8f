/* Posting lists; see postings.h for the format. */
#include "postings.h"

/* Zigzag: small magnitudes of either sign become small unsigned numbers
 * (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...), so that a time going backwards a
 * little (packets out of order) costs a byte, not ten.  Deltas are taken
 * in unsigned arithmetic: any two int64_t differ by a wrapped uint64_t
 * that adds back exactly. */
static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* Reads a varint from *pp (before end); -1 if it is cut short by end or
 * does not fit 64 bits (a tenth byte above 1, or an eleventh).  Most id
 * deltas are one byte: that case first, without the loop. */
static inline int get_varint(const unsigned char **pp, const unsigned char *end, uint64_t *out)
{
    const unsigned char *p = *pp;
    uint64_t v = 0;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    for (int i = 0; i < POSTINGS_VARINT_MAX; i++) {
        if (p == end)
            return -1;
        unsigned char b = *p++;
        if (i == POSTINGS_VARINT_MAX - 1 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

void postings_begin(struct postings_writer *w, unsigned char *buf)
{
    buf[0] = POSTINGS_VERSION;
    *w = (struct postings_writer){.p = buf + 1, .len = 1};
}

int postings_add(struct postings_writer *w, int64_t ts, int64_t id)
{
    if (w->n >= POSTINGS_MAX)
        return -1;
    unsigned char *start = w->p;
    w->p = put_varint(w->p, zigzag((uint64_t)id - (uint64_t)w->id));
    w->p = put_varint(w->p, zigzag((uint64_t)ts - (uint64_t)w->ts));
    w->len += (size_t)(w->p - start);
    w->ts = ts;
    w->id = id;
    w->n++;
    return 0;
}

int postings_open(struct postings_reader *r, const void *blob, size_t len)
{
    const unsigned char *b = blob;
    /* The version byte and at least one entry of two one-byte varints. */
    if (!b || len < 3 || b[0] != POSTINGS_VERSION)
        return -1;
    *r = (struct postings_reader){.p = b + 1, .end = b + len};
    return 0;
}

int postings_next(struct postings_reader *r, struct posting *out)
{
    uint64_t did, dts;
    if (r->p == r->end)
        return 0;
    if (r->n >= POSTINGS_MAX || get_varint(&r->p, r->end, &did) != 0 ||
        get_varint(&r->p, r->end, &dts) != 0) {
        r->p = r->end; /* damaged: nothing more comes out of it */
        return -1;
    }
    r->id = (int64_t)((uint64_t)r->id + unzigzag(did));
    r->ts = (int64_t)((uint64_t)r->ts + unzigzag(dts));
    r->n++;
    out->id = r->id;
    out->ts = r->ts;
    return 1;
}
