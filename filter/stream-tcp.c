#include "stream-tcp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "smpp-frame.h"

#if defined(__SSE2__)
#include <emmintrin.h> /* the x86-64 baseline: stream_feed's endpoint compare */
#endif

/* Out-of-order ranges kept per direction.  Real reordering leaves one or two
 * holes; a segment that would need more makes the oldest hole a gap. */
#define DIR_RANGES 8
/* Size of the buffers kept in the table-wide pool: most PDUs that straddle
 * segments (submit_sm with a 160-character text, bursts of responses) fit. */
#define POOL_CHUNK 4096u
#define POOL_MAX 1024u
#define NONE UINT32_MAX

enum dir_state { DS_HUNT = 0, DS_SYNC, DS_DEAD };

struct range {
    uint32_t s, e; /* [s, e) relative to buf[0] */
};

/* One direction.  Bytes before base_seq are consumed (delivered or skipped);
 * buf[0..clen) are the next bytes in order, not yet a whole PDU; r[] hold
 * out-of-order data further on, sorted, disjoint, non-adjacent, s > clen. */
struct dir {
    uint8_t *buf;
    uint32_t cap, clen;
    uint32_t base_seq;
    uint32_t skip;    /* bytes still to discard (rest of a PDU we cannot hold) */
    uint32_t fin_seq;
    uint8_t nr, state, has_seq, fin, closed;
    uint64_t base_off; /* stream offset of buf[0] */
    uint64_t hunted;   /* bytes skipped in the current hunt */
    sg_time_us hole_ts; /* when the first out-of-order range was stored */
    struct range r[DIR_RANGES];
};

struct flow {
    uint64_t hash;
    uint32_t lru_prev, lru_next; /* free list uses lru_next */
    uint8_t in_use, dead;
    uint32_t ports; /* ep[0].port | ep[1].port << 16: flow_dir()'s first test */
    sg_time_us last_ts;
    uint64_t id;
    uint64_t pdus;
    struct sg_endpoint ep[2]; /* ep[0] = source of direction 0 */
    /* What the sink is given for each direction, set once by
     * flow_create(): not built again for every PDU delivered. */
    struct stream_flow_info fi[2];
    struct dir d[2];
};

struct stream_table {
    struct flow *flows;
    uint32_t *slots; /* open addressing, linear probing; flow index + 1, 0 = empty */
    uint32_t mask;
    uint32_t lru_head, lru_tail, free_head;
    uint32_t last; /* flow of the previous segment, NONE after its removal */
    uint32_t unused;  /* flows [unused, max_flows) never handed out */
    uint32_t nflows;
    uint64_t next_id;
    uint64_t seed; /* random, per table: see ep_hash() */
    struct stream_config cfg;
    uint16_t *ports;
    struct stream_sink sink;
    uint8_t **pool;
    uint32_t npool, pool_max;
    int general_only; /* stream_set_general_only(): read by feed_switch() only */
    struct stream_stats st;
};

void stream_config_default(struct stream_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_flows = 131072;
    c->max_buffered_bytes = 256u * 1024 * 1024;
    c->max_flow_buffer = 256u * 1024;
    c->ooo_window = 65536;
    c->idle_timeout_s = 300;
    c->gap_timeout_ms = 2000;
    c->not_smpp_after = 2 * SMPP_MAX_PDU_LEN;
}

const char *stream_event_name(enum stream_event ev)
{
    switch (ev) {
    case STREAM_EV_GAP: return "gap";
    case STREAM_EV_RESYNC: return "resync";
    case STREAM_EV_NOT_SMPP: return "not-smpp";
    case STREAM_EV_OVERSIZE: return "oversize";
    case STREAM_EV_FIN: return "fin";
    case STREAM_EV_RST: return "rst";
    case STREAM_EV_EVICTED: return "evicted";
    case STREAM_EV_TIMEOUT: return "timeout";
    }
    return "unknown";
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* ---- callbacks ---------------------------------------------------------- */

static void emit(stream_table_t *t, const struct flow *f, int di, sg_time_us ts,
                 enum stream_event ev, uint64_t off, uint64_t bytes, const char *why)
{
    if (!t->sink.event)
        return;
    t->sink.event(t->sink.ctx, &f->fi[di], ts, ev, off, bytes, why);
}

static void deliver(stream_table_t *t, struct flow *f, int di, sg_time_us ts, const uint8_t *p,
                    uint32_t len, uint64_t off)
{
    t->st.pdus++;
    t->st.pdu_bytes += len;
    f->pdus++;
    if (!t->sink.pdu)
        return;
    t->sink.pdu(t->sink.ctx, &f->fi[di], ts, p, len, off);
}

/* ---- buffers: pooled, capped ---------------------------------------------- */

static void charge(stream_table_t *t, int64_t delta)
{
    t->st.buffered_bytes = (uint64_t)((int64_t)t->st.buffered_bytes + delta);
    if (t->st.buffered_bytes > t->st.buffered_peak)
        t->st.buffered_peak = t->st.buffered_bytes;
}

static void dir_release(stream_table_t *t, struct dir *d)
{
    if (!d->buf)
        return;
    if (d->cap == POOL_CHUNK && t->npool < t->pool_max) {
        t->pool[t->npool++] = d->buf; /* stays charged: it is still allocated */
    } else {
        free(d->buf);
        charge(t, -(int64_t)d->cap);
    }
    d->buf = NULL;
    d->cap = 0;
}

/* Makes buf hold at least need bytes.  Fails (SG_ENOSPC) beyond
 * max_flow_buffer or when the memcap would be exceeded (after giving back
 * pooled buffers); the caller counts what it drops.  dir_reserve() is the
 * inline test that almost every call stops at (a PDU split over many small
 * segments asks once per segment); this is the rest. */
static int dir_reserve_grow(stream_table_t *t, struct dir *d, uint32_t need)
{
    if (need > t->cfg.max_flow_buffer)
        return SG_ENOSPC;
    uint32_t first = min_u32(POOL_CHUNK, t->cfg.max_flow_buffer);
    uint32_t ncap = d->cap ? d->cap : first;
    while (ncap < need)
        ncap = ncap > t->cfg.max_flow_buffer / 2 ? t->cfg.max_flow_buffer : ncap * 2;
    if (!d->buf && ncap == POOL_CHUNK && t->npool) {
        d->buf = t->pool[--t->npool];
        d->cap = ncap;
        return 0;
    }
    while (t->st.buffered_bytes - d->cap + ncap > t->cfg.max_buffered_bytes && t->npool) {
        free(t->pool[--t->npool]);
        charge(t, -(int64_t)POOL_CHUNK);
    }
    if (t->st.buffered_bytes - d->cap + ncap > t->cfg.max_buffered_bytes) {
        t->st.memcap_drops++;
        return SG_ENOSPC;
    }
    uint8_t *nb = realloc(d->buf, ncap);
    if (!nb) {
        t->st.memcap_drops++;
        return SG_ENOSPC;
    }
    charge(t, (int64_t)ncap - (int64_t)d->cap);
    d->buf = nb;
    d->cap = ncap;
    return 0;
}

static inline int dir_reserve(stream_table_t *t, struct dir *d, uint32_t need)
{
    return need <= d->cap ? 0 : dir_reserve_grow(t, d, need);
}

/* Copies n bytes: the few bytes a split segment carries (a header sent
 * octet by octet is common enough: most segments of the benchmark
 * captures carry one to five) as two overlapping copies of a fixed size,
 * or three single octets below four (first, middle, last), not a loop of
 * n rounds; memcpy beyond eight. */
static inline void copy_small(uint8_t *dst, const uint8_t *src, uint32_t n)
{
    if (n > 8) {
        memcpy(dst, src, n);
    } else if (n >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/* ---- SMPP framing over a run of in-order bytes ----------------------------- */

static void flow_mark_dead(stream_table_t *t, struct flow *f, int di, sg_time_us ts, uint64_t off);

/* Cheap test that p[0..5] could begin an SMPP header: command_length below
 * 128 KiB and a command_id of the form 0x(00|80)0000xx or 0x(00|80)0001xx. */
static int header_prefilter(const uint8_t *p)
{
    return p[0] == 0 && p[1] <= 1 && (p[4] & 0x7F) == 0 && p[5] == 0 && p[6] <= 1;
}

/* Delivers the PDUs found in p[0..n) (stream offset off0) and returns how
 * many bytes were consumed (delivered, skipped or hunted over).  What is
 * left is one incomplete PDU (length checked), an incomplete header, or up
 * to 15 bytes that may start a header.  Work: O(n). */
static size_t parse_run(stream_table_t *t, struct flow *f, int di, const uint8_t *p, size_t n,
                        uint64_t off0, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    size_t pos = 0;
    while (pos < n && !f->dead) {
        if (d->skip) {
            uint32_t s = (uint32_t)(n - pos < d->skip ? n - pos : d->skip);
            pos += s;
            d->skip -= s;
            continue;
        }
        if (d->state == DS_SYNC) {
            uint32_t len = 0;
            enum smpp_frame_verdict v = smpp_frame_check_loose(p + pos, n - pos, &len);
            if (v == SMPP_FRAME_NEED_MORE)
                break;
            if (v == SMPP_FRAME_OK) {
                if (n - pos >= len) {
                    deliver(t, f, di, ts, p + pos, len, off0 + pos);
                    pos += len;
                    continue;
                }
                if (len > t->cfg.max_flow_buffer) {
                    /* Known boundary, too long to hold: skip it, stay in sync. */
                    t->st.oversize++;
                    emit(t, f, di, ts, STREAM_EV_OVERSIZE, off0 + pos, len,
                         "PDU longer than max_flow_buffer skipped");
                    t->st.partial_dropped += len;
                    d->skip = len;
                    continue;
                }
                break; /* incomplete; the caller buffers it */
            }
            /* Framing lost where a header had to be. */
            if (smpp_command_known(smpp_be32(p + pos + 4)) && smpp_be32(p + pos) > SMPP_MAX_PDU_LEN) {
                t->st.oversize++;
                emit(t, f, di, ts, STREAM_EV_OVERSIZE, off0 + pos, smpp_be32(p + pos),
                     "command_length above SMPP_MAX_PDU_LEN");
            }
            t->st.sync_lost++;
            d->state = DS_HUNT;
            d->hunted = 0;
            continue;
        }
        if (d->state != DS_HUNT)
            break;
        /* Hunt: a strict header, confirmed by the next header when that is
         * in these bytes too. */
        size_t k, found = 0;
        for (k = pos; k + SMPP_HEADER_LEN <= n; k++) {
            uint32_t len, len2;
            if (!header_prefilter(p + k) ||
                smpp_frame_check(p + k, n - k, 1, &len) != SMPP_FRAME_OK)
                continue;
            if (k + len + SMPP_HEADER_LEN <= n &&
                smpp_frame_check(p + k + len, n - k - len, 1, &len2) != SMPP_FRAME_OK)
                continue;
            found = 1;
            break;
        }
        if (found) {
            d->hunted += k - pos;
            t->st.hunt_bytes += k - pos;
            if (d->hunted) {
                t->st.resyncs++;
                emit(t, f, di, ts, STREAM_EV_RESYNC, off0 + k, d->hunted, "SMPP header found");
            }
            d->hunted = 0;
            d->state = DS_SYNC;
            pos = k;
            continue;
        }
        size_t keep = n - pos > SMPP_HEADER_LEN - 1 ? n - (SMPP_HEADER_LEN - 1) : pos;
        d->hunted += keep - pos;
        t->st.hunt_bytes += keep - pos;
        pos = keep;
        if (f->pdus == 0 && d->hunted >= t->cfg.not_smpp_after)
            flow_mark_dead(t, f, di, ts, off0 + pos);
        break;
    }
    return pos;
}

/* Drops c consumed bytes from the front of the buffer. */
static void dir_compact(stream_table_t *t, struct dir *d, uint32_t c)
{
    if (c) {
        uint32_t end = d->nr ? d->r[d->nr - 1].e : d->clen;
        memmove(d->buf, d->buf + c, end - c);
        for (int i = 0; i < d->nr; i++) {
            d->r[i].s -= c;
            d->r[i].e -= c;
        }
        d->clen -= c;
        d->base_seq += c;
        d->base_off += c;
    }
    if (d->clen == 0 && d->nr == 0)
        dir_release(t, d);
}

/* Moves out-of-order ranges that now touch the in-order data into it. */
static void dir_absorb(struct dir *d)
{
    while (d->nr && d->r[0].s <= d->clen) {
        if (d->r[0].e > d->clen)
            d->clen = d->r[0].e;
        memmove(d->r, d->r + 1, (size_t)(d->nr - 1) * sizeof d->r[0]);
        d->nr--;
    }
}

static void dir_process_buf(stream_table_t *t, struct flow *f, int di, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    size_t c = d->clen ? parse_run(t, f, di, d->buf, d->clen, d->base_off, ts) : 0;
    if (f->dead)
        return;
    dir_compact(t, d, (uint32_t)c);
}

/* Gives up on everything before target (relative to buf[0], >= clen): the
 * incomplete data buffered and the bytes never seen.  Framing stays known
 * when the skipped span ends inside the PDU whose header we hold; otherwise
 * the direction hunts.  Then delivers what follows. */
static void dir_skip_to(stream_table_t *t, struct flow *f, int di, uint32_t target, sg_time_us ts,
                        const char *why)
{
    struct dir *d = &f->d[di];
    if (target < d->clen)
        target = d->clen;
    uint32_t hole = target - d->clen;
    t->st.gaps++;
    t->st.gap_bytes += hole;
    emit(t, f, di, ts, STREAM_EV_GAP, d->base_off + d->clen, hole, why);
    uint64_t boundary = UINT64_MAX;
    int counted = 0; /* a pending skip was counted in partial_dropped when set */
    if (d->state == DS_SYNC) {
        if (d->skip) {
            boundary = d->skip;
            counted = 1;
        } else if (d->clen >= SMPP_HEADER_LEN) {
            boundary = smpp_be32(d->buf);
        }
    }
    if (d->state == DS_SYNC)
        t->st.partial_dropped += d->clen;
    else
        t->st.hunt_bytes += d->clen;
    if (boundary != UINT64_MAX && boundary >= target) {
        d->skip = (uint32_t)(boundary - target);
        if (!counted)
            t->st.partial_dropped += d->skip;
    } else {
        d->skip = 0;
        if (d->state == DS_SYNC)
            d->hunted = 0;
        d->state = DS_HUNT;
    }
    /* Ranges wholly before target are lost too; one across it is cut. */
    int k = 0;
    for (int i = 0; i < d->nr; i++) {
        if (d->r[i].e <= target)
            continue;
        struct range r = d->r[i];
        if (r.s < target)
            r.s = target;
        d->r[k++] = r;
    }
    d->nr = (uint8_t)k;
    uint32_t end = d->nr ? d->r[d->nr - 1].e : target;
    for (int i = 0; i < d->nr; i++) {
        d->r[i].s -= target;
        d->r[i].e -= target;
    }
    d->clen = 0;
    d->base_seq += target;
    d->base_off += target;
    d->hole_ts = ts;
    dir_absorb(d);
    /* What dir_process_buf() would do after moving the bytes from target
     * on to buf[0], done where they are: the PDUs now in order are parsed
     * at buf + target, and only what is left after them moves, once.  A
     * hole that times out has a window's worth of segments stored behind
     * it (decode-small.pcap: 20 KB on average), nearly all of them whole
     * PDUs: moving them all first cost 3.7M instructions of its 206M. */
    size_t c = d->clen ? parse_run(t, f, di, d->buf + target, d->clen, d->base_off, ts) : 0;
    if (f->dead)
        return;
    uint32_t left = end - target; /* buffered octets from target on */
    if (left > c)
        memmove(d->buf, d->buf + target + c, left - (uint32_t)c);
    for (int i = 0; i < d->nr; i++) {
        d->r[i].s -= (uint32_t)c;
        d->r[i].e -= (uint32_t)c;
    }
    d->clen -= (uint32_t)c;
    d->base_seq += (uint32_t)c;
    d->base_off += c;
    if (d->clen == 0 && d->nr == 0)
        dir_release(t, d);
}

/* Copies data into buf at s, but only into bytes not already held (the
 * first copy of a byte wins).  The caller reserved s + n. */
static void dir_write_new(stream_table_t *t, struct dir *d, uint32_t s, const uint8_t *data,
                          uint32_t n)
{
    uint32_t e = s + n, at = s, covered = 0;
    for (int i = 0; i <= d->nr && at < e; i++) {
        uint32_t hs = i < d->nr ? d->r[i].s : UINT32_MAX; /* next held range */
        uint32_t he = i < d->nr ? d->r[i].e : UINT32_MAX;
        if (he <= at)
            continue;
        uint32_t stop = hs < e ? hs : e;
        if (stop > at) {
            memcpy(d->buf + at, data + (at - s), stop - at);
            t->st.copied_bytes += stop - at;
            at = stop;
        }
        if (at < e && at >= hs) {
            uint32_t skip_to = he < e ? he : e;
            covered += skip_to - at;
            at = skip_to;
        }
    }
    if (covered) {
        t->st.overlaps++;
        t->st.overlap_bytes += covered;
    }
}

static int ranges_merge(const struct range *r, int nr, uint32_t s, uint32_t e, struct range *out)
{
    int n = 0, placed = 0;
    for (int i = 0; i < nr; i++) {
        if (r[i].e < s) {
            out[n++] = r[i];
        } else if (r[i].s > e) {
            if (!placed) {
                out[n++] = (struct range){s, e};
                placed = 1;
            }
            out[n++] = r[i];
        } else {
            if (r[i].s < s)
                s = r[i].s;
            if (r[i].e > e)
                e = r[i].e;
        }
    }
    if (!placed)
        out[n++] = (struct range){s, e};
    return n;
}

/* Stores an out-of-order segment.  Returns SG_ENOSPC when it would need
 * more than DIR_RANGES ranges (the caller gives up on the oldest hole). */
static int dir_store_ooo(stream_table_t *t, struct dir *d, uint32_t o, const uint8_t *data,
                         uint32_t n, sg_time_us ts)
{
    struct range merged[DIR_RANGES + 1];
    int nm = ranges_merge(d->r, d->nr, o, o + n, merged);
    if (nm > DIR_RANGES)
        return SG_ENOSPC;
    t->st.ooo_segments++;
    if (dir_reserve(t, d, o + n) != 0) {
        t->st.ooo_dropped++;
        return 0;
    }
    if (d->nr == 0)
        d->hole_ts = ts;
    dir_write_new(t, d, o, data, n);
    memcpy(d->r, merged, (size_t)nm * sizeof merged[0]);
    d->nr = (uint8_t)nm;
    return 0;
}

/* In-order bytes at the end of buf that we cannot store (memcap): lost, as
 * if never seen. */
static void dir_drop_inorder(stream_table_t *t, struct flow *f, int di, const uint8_t *data,
                             uint32_t n, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    if (d->clen == 0 && d->nr == 0) {
        /* Straight from the segment: the header, if whole, tells where the
         * next PDU starts. */
        uint32_t len;
        t->st.gaps++;
        t->st.gap_bytes += n;
        emit(t, f, di, ts, STREAM_EV_GAP, d->base_off, n, "memcap: PDU dropped");
        if (d->state == DS_SYNC && smpp_frame_check(data, n, 0, &len) == SMPP_FRAME_OK && len > n) {
            d->skip = len - n;
            t->st.partial_dropped += len;
        } else {
            if (d->state == DS_SYNC)
                d->hunted = 0;
            d->state = DS_HUNT;
        }
        d->base_seq += n;
        d->base_off += n;
        return;
    }
    dir_skip_to(t, f, di, d->clen + n, ts, "memcap: data dropped");
}


/* What a direction at its base keeps of a segment after the PDUs taken
 * from it: the n bytes left (a header cut short, or a PDU not yet whole)
 * buffered, or dropped as an in-order overflow when the buffer cannot
 * hold them.  Returns 0 (tail-called). */
static inline int dir_buffer_rest(stream_table_t *t, struct flow *f, int di, const uint8_t *data, uint32_t n,
                           sg_time_us ts)
{
    struct dir *d = &f->d[di];
    if (!n)
        return 0;
    if (dir_reserve(t, d, n) != 0) {
        dir_drop_inorder(t, f, di, data, n, ts);
        return 0;
    }
    copy_small(d->buf, data, n);
    d->clen = n;
    t->st.copied_bytes += n;
    return 0;
}
/* In-order bytes data[0..n) of a direction with nothing buffered (clen
 * and nr 0): the PDUs parse_run() finds are delivered straight from the
 * segment, no copy, and what is left (an incomplete PDU, a header cut
 * short) is buffered.  Returns 0. */
static int dir_parse_segment(stream_table_t *t, struct flow *f, int di, const uint8_t *data,
                             uint32_t n, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    /* Less than a header in sync is only buffered (parse_run() would stop
     * at once: smpp_frame_check() needs 16 bytes). */
    size_t c = n < SMPP_HEADER_LEN && d->state == DS_SYNC && !d->skip
                   ? 0
                   : parse_run(t, f, di, data, n, d->base_off, ts);
    if (f->dead)
        return 0;
    d->base_seq += (uint32_t)c;
    d->base_off += c;
    return dir_buffer_rest(t, f, di, data + c, n - (uint32_t)c, ts);
}

/* dir_parse_segment() for a direction at a PDU boundary: in sync, nothing
 * to skip, nothing buffered.  Most segments that do not continue a
 * buffered PDU arrive so (replay-20k: 37,000 of its 132,000), and for
 * them parse_run() takes the same branch PDU after PDU; here that branch
 * is the whole loop.  Each PDU whole in the segment is delivered from it;
 * then what is left is buffered when parse_run() would leave it (less
 * than a header, or a good header whose PDU is incomplete and fits
 * max_flow_buffer), and anything else (a header that fails the check, a
 * PDU too long to hold) goes to dir_parse_segment() from there, which
 * parse_run() takes as it would have taken it in place: its work depends
 * on the bytes and the offset only.  The loop tests neither f->dead nor
 * d->state and d->skip again: only parse_run()'s hunt and its oversize
 * branch change them, and a sink may not call back into the table
 * (stream-tcp.h).  Saves the call into parse_run() and its tests per PDU:
 * 2.1M of the 264M instructions of `replay -q` on replay-20k.  Returns 0
 * (tail-called). */
static __attribute__((noinline)) int dir_sync_run(stream_table_t *t, struct flow *f, int di,
                                                  const uint8_t *data, uint32_t n, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    uint32_t pos = 0;
    for (;;) {
        uint32_t rest = n - pos, len;
        if (rest < SMPP_HEADER_LEN)
            break;
        if (smpp_frame_check_loose(data + pos, rest, &len) != SMPP_FRAME_OK ||
            (len > rest && len > t->cfg.max_flow_buffer)) {
            d->base_seq += pos;
            d->base_off += pos;
            return dir_parse_segment(t, f, di, data + pos, rest, ts);
        }
        if (len > rest)
            break;
        deliver(t, f, di, ts, data + pos, len, d->base_off + pos);
        pos += len;
    }
    d->base_seq += pos;
    d->base_off += pos;
    return dir_buffer_rest(t, f, di, data + pos, n - pos, ts);
}

/* Returns 0, always: stream_feed() ends in a tail call to it, which spares
 * its fast path saving and restoring registers for the call. */
static int dir_inorder(stream_table_t *t, struct flow *f, int di, const uint8_t *data, uint32_t n,
                       sg_time_us ts)
{
    struct dir *d = &f->d[di];
    if (d->nr == 0) {
        /* Complete a pending PDU with just the bytes it needs.  In sync
         * with nothing to skip, a buffer of 16 bytes or more holds a header
         * that parse_run() found good and a PDU it found incomplete (it
         * stops there; a longer PDU than max_flow_buffer is skipped, never
         * buffered): until the bytes wanted are all here, parsing again
         * would find the same, so it waits for them (segments of a few
         * bytes each are common: a header written octet by octet).  A
         * shorter buffer is an incomplete header, which smpp_frame_check()
         * only judges once it has 16 bytes. */
        while (d->clen && n && d->state == DS_SYNC && !d->skip) {
            uint32_t pdu_len = d->clen < SMPP_HEADER_LEN ? 0 : smpp_be32(d->buf);
            uint32_t want = pdu_len ? pdu_len - d->clen : SMPP_HEADER_LEN - d->clen;
            uint32_t take = min_u32(want, n);
            if (dir_reserve(t, d, d->clen + take) != 0) {
                dir_drop_inorder(t, f, di, data, take, ts);
                if (f->dead)
                    return 0;
            } else {
                copy_small(d->buf + d->clen, data, take);
                d->clen += take;
                t->st.copied_bytes += take;
                if (take == want) {
                    if (pdu_len) {
                        /* The PDU whose header was checked is whole: what
                         * parse_run() would do with this buffer. */
#ifndef NDEBUG
                        uint32_t chk = 0;
                        assert(smpp_frame_check(d->buf, d->clen, 0, &chk) == SMPP_FRAME_OK &&
                               chk == pdu_len);
#endif
                        deliver(t, f, di, ts, d->buf, pdu_len, d->base_off);
                        if (f->dead)
                            return 0;
                        /* dir_compact(t, d, pdu_len): the buffer held this
                         * PDU and nothing else (no ranges: nr is 0 here). */
                        d->clen = 0;
                        d->base_seq += pdu_len;
                        d->base_off += pdu_len;
                        dir_release(t, d);
                    } else {
                        /* The header is whole.  Of a longer PDU that fits
                         * max_flow_buffer (the common case), parse_run()
                         * would stop at it and leave the buffer as it is;
                         * any other header is parse_run()'s to handle. */
                        uint32_t len;
                        if (smpp_frame_check_loose(d->buf, SMPP_HEADER_LEN, &len) != SMPP_FRAME_OK ||
                            len == SMPP_HEADER_LEN || len > t->cfg.max_flow_buffer) {
                            dir_process_buf(t, f, di, ts);
                            if (f->dead)
                                return 0;
                        }
                    }
                }
            }
            data += take;
            n -= take;
        }
        if (!n)
            return 0;
        if (d->clen == 0)
            return d->state == DS_SYNC && !d->skip ? dir_sync_run(t, f, di, data, n, ts)
                                                   : dir_parse_segment(t, f, di, data, n, ts);
    }
    /* General path: through the buffer, in chunks it can hold. */
    while (n) {
        uint32_t room = t->cfg.max_flow_buffer - d->clen;
        uint32_t take = min_u32(n, room);
        if (SG_NEVER(take == 0) || dir_reserve(t, d, d->clen + take) != 0) {
            dir_drop_inorder(t, f, di, data, take ? take : n, ts);
            if (f->dead || !take)
                return 0;
        } else {
            dir_write_new(t, d, d->clen, data, take);
            d->clen += take;
            dir_absorb(d);
            dir_process_buf(t, f, di, ts);
            if (f->dead)
                return 0;
        }
        data += take;
        n -= take;
    }
    return 0;
}

/* One segment's payload for direction di; seq is the sequence number of
 * data[0]. */
/* Further than any TCP window a captured SMPP link uses (a retransmission
 * is at most a window behind, a loss at most a window ahead): a jump past
 * it is another connection. */
#define SEQ_JUMP (64u << 20)

/* Starts direction di over at seq, hunting for a header: what it held is
 * dropped (counted as at a gap) and its stream offsets go on. */
static void dir_restart(stream_table_t *t, struct flow *f, int di, uint32_t seq, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    t->st.seq_jumps++;
    emit(t, f, di, ts, STREAM_EV_GAP, d->base_off + d->clen, 0,
         "sequence jump: a new connection on the same endpoints");
    if (d->state == DS_SYNC)
        t->st.partial_dropped += d->clen + d->skip;
    else
        t->st.hunt_bytes += d->clen;
    for (int i = 0; i < d->nr; i++)
        t->st.ooo_dropped++;
    d->base_off += d->clen;
    d->base_seq = seq;
    d->clen = 0;
    d->nr = 0;
    d->skip = 0;
    d->hunted = 0;
    d->state = DS_HUNT;
    dir_release(t, d);
}

static void dir_data(stream_table_t *t, struct flow *f, int di, uint32_t seq, const uint8_t *data,
                     size_t len, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    /* The endpoints reused without a captured SYN: behind, the new stream
     * would be taken for retransmissions until the flow expires; ahead,
     * for a hole of gigabytes. */
    int64_t jump = (int32_t)(seq - d->base_seq);
    if (jump < -(int64_t)SEQ_JUMP || jump > (int64_t)d->clen + SEQ_JUMP)
        dir_restart(t, f, di, seq, ts);
    /* Bounded: each round either returns or skips the first hole (nr
     * shrinks) or reaches the segment (it becomes in order). */
    for (int round = 0; round < DIR_RANGES + 2 && len && !f->dead; round++) {
        int64_t off = (int32_t)(seq - d->base_seq); /* RFC 9293 §3.4 modular compare */
        if (off < 0) {
            uint64_t back = (uint64_t)(-off);
            if (back >= len) {
                t->st.retrans_bytes += len;
                return;
            }
            t->st.retrans_bytes += back;
            data += back;
            len -= back;
            seq += (uint32_t)back;
            off = 0;
        }
        if ((uint64_t)off < d->clen) {
            uint64_t dup = d->clen - (uint64_t)off;
            if (dup > len)
                dup = len;
            t->st.retrans_bytes += dup;
            data += dup;
            len -= dup;
            seq += (uint32_t)dup;
            off += (int64_t)dup;
            if (!len)
                return;
        }
        if ((uint64_t)off == d->clen) {
            dir_inorder(t, f, di, data, (uint32_t)len, ts);
            return;
        }
        uint64_t ahead = (uint64_t)off - d->clen;
        if (ahead + len <= t->cfg.ooo_window) {
            if (dir_store_ooo(t, d, (uint32_t)off, data, (uint32_t)len, ts) == 0)
                return;
            /* More holes than we track: the oldest is the least likely to
             * be filled (a capture never sees a lost packet again). */
            dir_skip_to(t, f, di, d->r[0].s, ts, "too many out-of-order holes");
            continue;
        }
        /* Window overflow: the hole will not be filled in time. */
        dir_skip_to(t, f, di, d->nr ? d->r[0].s : (uint32_t)off, ts, "out-of-order window overflow");
    }
}

/* ---- flows: table, LRU ---------------------------------------------------- */

#if !defined(__SSE2__)
/* Endpoints compared as two 64-bit words and the port: this runs for
 * every segment, and a memcmp call costs more than the compare.  (With
 * SSE2, flow_dir() compares both endpoints at once instead.) */
static inline int ep_eq(const struct sg_endpoint *a, const struct sg_endpoint *b)
{
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a->addr, 8);
    memcpy(&a1, a->addr + 8, 8);
    memcpy(&b0, b->addr, 8);
    memcpy(&b1, b->addr + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1) | (uint64_t)(a->port ^ b->port)) == 0;
}
#endif

/* The table's random seed goes in before the finaliser: endpoints are
 * chosen by whoever sends the traffic, and without the seed they cannot
 * pick a set of flows that share one probe chain. */
static inline uint64_t ep_hash(const struct sg_endpoint *e, uint64_t seed)
{
    uint64_t lo, hi;
    memcpy(&lo, e->addr, 8);
    memcpy(&hi, e->addr + 8, 8);
    /* lo is zero for IPv4 (mapped): the address is all in hi, and the
     * port is spread by an odd multiplier rather than shifted onto it. */
    return sg_mix64((hi + (lo ^ e->port) * 0x9e3779b97f4a7c15ULL) ^ seed);
}

/* Both directions hash alike: the sum of the two endpoints' hashes, so no
 * ordering of the pair is needed. */
static uint64_t flow_hash(const stream_table_t *t, const struct sg_endpoint *a,
                          const struct sg_endpoint *b)
{
    return ep_hash(a, t->seed) + ep_hash(b, t->seed);
}

static void lru_unlink(stream_table_t *t, uint32_t i)
{
    struct flow *f = &t->flows[i];
    if (f->lru_prev != NONE)
        t->flows[f->lru_prev].lru_next = f->lru_next;
    else
        t->lru_head = f->lru_next;
    if (f->lru_next != NONE)
        t->flows[f->lru_next].lru_prev = f->lru_prev;
    else
        t->lru_tail = f->lru_prev;
    f->lru_prev = f->lru_next = NONE;
}

static void lru_push(stream_table_t *t, uint32_t i)
{
    struct flow *f = &t->flows[i];
    f->lru_prev = NONE;
    f->lru_next = t->lru_head;
    if (t->lru_head != NONE)
        t->flows[t->lru_head].lru_prev = i;
    t->lru_head = i;
    if (t->lru_tail == NONE)
        t->lru_tail = i;
}

static inline int flow_dir(const struct flow *f, const struct pkt_tcp *s);

/* The flow of segment s (hash h), and in *di its direction; NONE when the
 * table holds none.  The endpoints are compared by flow_dir(), the fast
 * path's test (the ports word, then both addresses at once): about 25
 * instructions fewer a lookup than four ep_eq() calls. */
static uint32_t flow_find(const stream_table_t *t, const struct pkt_tcp *s, uint64_t h, int *di)
{
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        uint32_t v = t->slots[i];
        if (!v)
            return NONE;
        const struct flow *f = &t->flows[v - 1];
        if (f->hash != h)
            continue;
        int d = flow_dir(f, s);
        if (d >= 0) {
            *di = d;
            return v - 1;
        }
    }
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void slot_delete(stream_table_t *t, uint32_t idx)
{
    uint32_t i = (uint32_t)t->flows[idx].hash & t->mask;
    while (t->slots[i] != idx + 1)
        i = (i + 1) & t->mask;
    for (uint32_t j = i;;) {
        j = (j + 1) & t->mask;
        uint32_t v = t->slots[j];
        if (!v)
            break;
        uint32_t k = (uint32_t)t->flows[v - 1].hash & t->mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        t->slots[i] = v;
        i = j;
    }
    t->slots[i] = 0;
}

static void dir_finish(stream_table_t *t, struct flow *f, int di, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    for (int i = 0; i < DIR_RANGES + 1 && d->nr && !f->dead; i++)
        dir_skip_to(t, f, di, d->r[0].s, ts, "flow ended before the hole was filled");
    if (!f->dead && d->clen) {
        if (d->state == DS_SYNC) {
            t->st.partial_dropped += d->clen;
            emit(t, f, di, ts, STREAM_EV_GAP, d->base_off + d->clen, 0, "flow ended inside a PDU");
        } else {
            t->st.hunt_bytes += d->clen;
        }
        d->clen = 0;
    }
    d->nr = 0;
    d->clen = 0;
    dir_release(t, d);
}

static void flow_mark_dead(stream_table_t *t, struct flow *f, int di, sg_time_us ts, uint64_t off)
{
    f->dead = 1;
    t->st.flows_not_smpp++;
    t->st.not_smpp_bytes += f->d[di].hunted;
    emit(t, f, di, ts, STREAM_EV_NOT_SMPP, off, f->d[di].hunted, "no SMPP header found");
    for (int i = 0; i < 2; i++) {
        f->d[i].state = DS_DEAD;
        f->d[i].clen = 0;
        f->d[i].nr = 0;
        dir_release(t, &f->d[i]);
    }
}

/* Ends a flow: what is deliverable is delivered, then ev (if >= 0), then
 * flow_end. */
static void flow_remove(stream_table_t *t, uint32_t idx, int ev, sg_time_us ts)
{
    struct flow *f = &t->flows[idx];
    for (int i = 0; i < 2; i++)
        dir_finish(t, f, i, ts);
    if (ev >= 0)
        emit(t, f, 0, ts, (enum stream_event)ev, f->d[0].base_off + f->d[0].clen, 0,
             ev == STREAM_EV_EVICTED ? "flow table full"
             : ev == STREAM_EV_TIMEOUT ? "idle timeout"
                                       : "reset");
    if (t->sink.flow_end)
        t->sink.flow_end(t->sink.ctx, f->id);
    for (int i = 0; i < 2; i++)
        dir_release(t, &f->d[i]);
    slot_delete(t, idx);
    lru_unlink(t, idx);
    if (t->last == idx)
        t->last = NONE;
    f->in_use = 0;
    f->lru_next = t->free_head;
    t->free_head = idx;
    t->nflows--;
}

static uint32_t flow_create(stream_table_t *t, const struct pkt_tcp *s, uint64_t h, sg_time_us ts)
{
    uint32_t idx;
    struct flow *f;
    if (t->free_head == NONE && t->unused < t->cfg.max_flows) {
        idx = t->unused++;  /* never used: still zero from calloc */
        f = &t->flows[idx];
    } else {
        if (t->free_head == NONE) {
            t->st.flows_evicted++;
            flow_remove(t, t->lru_tail, STREAM_EV_EVICTED, ts);
        }
        idx = t->free_head;
        f = &t->flows[idx];
        t->free_head = f->lru_next;
    }
    memset(f, 0, sizeof *f);
    f->hash = h;
    f->in_use = 1;
    f->id = t->next_id++;
    f->ep[0] = s->src;
    f->ep[1] = s->dst;
    for (int di = 0; di < 2; di++)
        f->fi[di] = (struct stream_flow_info){.flow_id = f->id, .dir = (uint8_t)di,
                                              .src = &f->ep[di], .dst = &f->ep[!di]};
    f->ports = (uint32_t)s->src.port | (uint32_t)s->dst.port << 16;
    f->last_ts = ts;
    uint32_t i = (uint32_t)h & t->mask;
    while (t->slots[i])
        i = (i + 1) & t->mask;
    t->slots[i] = idx + 1;
    f->lru_prev = f->lru_next = NONE;
    lru_push(t, idx);
    t->nflows++;
    t->st.flows_created++;
    return idx;
}

/* ---- public ------------------------------------------------------------- */

/* From getrandom(); should that fail (no entropy yet at boot), the
 * table's address and the time, which the traffic's sender does not see
 * either.  Once per table. */
static uint64_t table_seed(const void *salt)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = ((uint64_t)(uintptr_t)salt ^ (uint64_t)time(NULL)) * 0x9e3779b97f4a7c15ULL;
    return s;
}

stream_table_t *stream_new(const struct stream_config *c, const struct stream_sink *sink)
{
    if (!c || c->max_flows == 0 || c->max_flows > (1u << 30))
        return NULL;
    stream_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cfg = *c;
    if (t->cfg.max_flow_buffer < 2 * SMPP_HEADER_LEN)
        t->cfg.max_flow_buffer = 2 * SMPP_HEADER_LEN;
    if (t->cfg.not_smpp_after == 0)
        t->cfg.not_smpp_after = 2 * SMPP_MAX_PDU_LEN;
    if (sink)
        t->sink = *sink;
    uint64_t cap = 16;
    while (cap < 2ull * c->max_flows)
        cap *= 2;
    t->mask = (uint32_t)(cap - 1);
    t->flows = calloc(c->max_flows, sizeof *t->flows);
    t->slots = calloc(cap, sizeof *t->slots);
    t->pool_max = (uint32_t)(c->max_buffered_bytes / POOL_CHUNK / 8);
    if (t->pool_max > POOL_MAX)
        t->pool_max = POOL_MAX;
    t->pool = calloc(t->pool_max ? t->pool_max : 1, sizeof *t->pool);
    if (c->n_ports) {
        t->ports = malloc(c->n_ports * sizeof *t->ports);
        if (t->ports)
            memcpy(t->ports, c->ports, c->n_ports * sizeof *t->ports);
    }
    t->cfg.ports = t->ports;
    if (!t->flows || !t->slots || !t->pool || (c->n_ports && !t->ports)) {
        stream_free(t);
        return NULL;
    }
    /* Flows are handed out from [unused, max_flows) first and recycled
     * through free_head after; no pass over the table at creation, so a
     * large max_flows costs memory only as flows appear. */
    t->free_head = NONE;
    t->unused = 0;
    t->lru_head = t->lru_tail = NONE;
    t->last = NONE;
    t->next_id = 1;
    t->seed = table_seed(t);
    t->st.table_bytes = (uint64_t)c->max_flows * sizeof *t->flows + cap * sizeof *t->slots;
    return t;
}

static int port_wanted(const stream_table_t *t, const struct pkt_tcp *s)
{
    if (!t->cfg.n_ports)
        return 1;
    for (size_t i = 0; i < t->cfg.n_ports; i++)
        if (t->ports[i] == s->src.port || t->ports[i] == s->dst.port)
            return 1;
    return 0;
}

static int dir_data_seen(const struct dir *d) { return d->base_off || d->clen || d->nr; }

static void dir_check_close(stream_table_t *t, struct flow *f, int di, sg_time_us ts)
{
    struct dir *d = &f->d[di];
    if (!d->fin || d->closed || (int32_t)(d->base_seq + d->clen - d->fin_seq) < 0)
        return;
    d->closed = 1;
    uint64_t off = d->base_off + d->clen;
    dir_finish(t, f, di, ts);
    emit(t, f, di, ts, STREAM_EV_FIN, off, 0, "FIN");
}

/* Everything but the common segment: the flow looked up (idx is NONE) or
 * given with its direction, opened, closed, ended; flags, holes, FIN.
 * Kept out of line so that stream_feed() stays a short function. */
static __attribute__((noinline)) int feed_general(stream_table_t *t, const struct pkt_tcp *s,
                                                  sg_time_us ts, uint32_t idx, int di)
{
    if (idx != NONE)
        goto found;
    if (!port_wanted(t, s)) {
        t->st.port_ignored++;
        return SG_ENOTSUP;
    }
again:;
    {
        uint64_t h = flow_hash(t, &s->src, &s->dst);
        idx = flow_find(t, s, h, &di);
        if (idx == NONE) {
            /* Only data or a SYN opens a flow: a stray ACK, FIN or RST does not. */
            if ((s->flags & TH_RST) || (!s->payload_len && !(s->flags & TH_SYN)))
                return 0;
            idx = flow_create(t, s, h, ts);
            di = 0;
        }
        t->last = idx;
    }
found:;
    struct flow *f = &t->flows[idx];
    struct dir *d = &f->d[di];
    if (f->lru_prev != NONE) {
        lru_unlink(t, idx);
        lru_push(t, idx);
    }
    f->last_ts = ts;

    if (f->dead) {
        t->st.not_smpp_bytes += s->payload_len;
        if (s->flags & TH_FIN)
            d->fin = 1;
        if ((s->flags & TH_RST) || (f->d[0].fin && f->d[1].fin)) {
            t->st.flows_closed++;
            flow_remove(t, idx, -1, ts);
        }
        return 0;
    }

    uint32_t seq = s->seq;
    if (s->flags & TH_SYN) {
        seq++; /* the SYN occupies one sequence number */
        if (d->has_seq && dir_data_seen(d) && seq != d->base_seq) {
            /* A new connection reusing the endpoints. */
            t->st.flows_closed++;
            flow_remove(t, idx, -1, ts);
            goto again;
        }
        if (!dir_data_seen(d)) {
            d->base_seq = seq;
            d->has_seq = 1;
            d->state = DS_SYNC;
        }
    } else if (!d->has_seq) {
        d->base_seq = seq; /* picked up mid-stream: hunt for a header */
        d->has_seq = 1;
        d->state = DS_HUNT;
    }

    /* Holes left open too long (a segment that never arrives); most
     * segments find no hole in either direction. */
    for (int i = 0; (f->d[0].nr | f->d[1].nr) && i < 2 && !f->dead; i++) {
        struct dir *x = &f->d[i];
        if (x->nr && ts >= x->hole_ts + (sg_time_us)t->cfg.gap_timeout_ms * 1000u)
            dir_skip_to(t, f, i, x->r[0].s, ts, "hole timed out");
    }
    if (s->payload_len && !f->dead && !d->closed)
        dir_data(t, f, di, seq, s->payload, s->payload_len, ts);
    if (f->dead)
        return 0;

    if (s->flags & TH_RST) {
        t->st.flows_reset++;
        emit(t, f, di, ts, STREAM_EV_RST, d->base_off + d->clen, 0, "RST");
        flow_remove(t, idx, -1, ts);
        return 0;
    }
    if ((s->flags & TH_FIN) && !d->fin) {
        d->fin = 1;
        d->fin_seq = seq + (uint32_t)s->payload_len;
    }
    /* Most segments come before either FIN. */
    if (f->d[0].fin)
        dir_check_close(t, f, 0, ts);
    if (f->d[1].fin)
        dir_check_close(t, f, 1, ts);
    if (f->d[di].closed && (f->d[!di].closed || !f->d[!di].has_seq)) {
        t->st.flows_closed++;
        flow_remove(t, idx, -1, ts);
    }
    return 0;
}

/* Appends n bytes that fit in d's buffer; returns 0.  Out of line, and
 * stream_feed() ends in a tail call to it: its memcpy call would otherwise
 * make stream_feed() save registers on every segment. */
static __attribute__((noinline)) int dir_append(stream_table_t *t, struct dir *d,
                                                const uint8_t *data, uint32_t n)
{
    uint8_t *dst = d->buf + d->clen;
    d->clen += n;
    t->st.copied_bytes += n;
    copy_small(dst, data, n);
    return 0;
}

/* Direction of segment s on flow f: 0 when it goes from ep[0] to ep[1], 1
 * the other way, -1 when s belongs to another flow.  The ports (one word
 * of the flow) are compared first, which on most links already tells the
 * directions apart; then both addresses at once, with SSE2.  The scalar
 * form held twelve words of the two segments' endpoints in registers,
 * and stream_feed() saved and restored six of them on every segment. */
static inline int flow_dir(const struct flow *f, const struct pkt_tcp *s)
{
    uint32_t sp = (uint32_t)s->src.port | (uint32_t)s->dst.port << 16;
#if defined(__SSE2__)
    __m128i e0 = _mm_loadu_si128((const __m128i *)(const void *)f->ep[0].addr);
    __m128i e1 = _mm_loadu_si128((const __m128i *)(const void *)f->ep[1].addr);
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s->src.addr);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)s->dst.addr);
    if (f->ports == sp &&
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(e0, a), _mm_cmpeq_epi8(e1, b))) == 0xFFFF)
        return 0;
    if (f->ports == (sp >> 16 | sp << 16) &&
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(e0, b), _mm_cmpeq_epi8(e1, a))) == 0xFFFF)
        return 1;
#else
    if (f->ports == sp && ep_eq(&f->ep[0], &s->src) && ep_eq(&f->ep[1], &s->dst))
        return 0;
    if (f->ports == (sp >> 16 | sp << 16) && ep_eq(&f->ep[0], &s->dst) && ep_eq(&f->ep[1], &s->src))
        return 1;
#endif
    return -1;
}

/* In-order data of a segment stream_feed() or feed_hole() accepted: what
 * feed_general() would do with it is dir_inorder(). */
static inline __attribute__((always_inline)) int feed_inorder(stream_table_t *t, struct flow *f,
                                                              struct dir *d, int di,
                                                              const struct pkt_tcp *s, uint32_t n,
                                                              sg_time_us ts)
{
    f->last_ts = ts;
    if (d->state == DS_SYNC && !d->skip) {
        /* At a PDU boundary: what dir_inorder() would do is
         * dir_sync_run(). */
        if (!d->clen)
            return dir_sync_run(t, f, di, s->payload, n, ts);
        /* Still short of the header or of the PDU it announces (checked,
         * see dir_inorder()), and the buffer has room: appending is all
         * dir_inorder() would do. */
        uint32_t want =
            (d->clen < SMPP_HEADER_LEN ? SMPP_HEADER_LEN : smpp_be32(d->buf)) - d->clen;
        if (n < want && d->clen + n <= d->cap)
            return dir_append(t, d, s->payload, n);
    }
    return dir_inorder(t, f, di, s->payload, n, ts);
}

/* Appends n bytes at buf[off], the end of d's last out-of-order range,
 * which the caller checked they fit; returns 0.  Out of line for the
 * reason dir_append() is. */
static __attribute__((noinline)) int dir_ooo_append(stream_table_t *t, struct dir *d, uint32_t off,
                                                    const uint8_t *data, uint32_t n)
{
    t->st.ooo_segments++;
    t->st.copied_bytes += n;
    d->r[d->nr - 1].e = off + n;
    memcpy(d->buf + off, data, n);
    return 0;
}

/* The segments stream_feed()'s fast path leaves to feed_general() while a
 * hole waits in either direction of the flow.  A segment the capture lost
 * leaves a hole for gap_timeout_ms, and until then everything its
 * direction sends is stored behind it, one segment after the other, while
 * the other direction goes on in order: in decode-small.pcap (371 losses)
 * that was a third of all segments, and through feed_general() each paid
 * the flow's checks, ranges_merge() and dir_write_new()'s walk over the
 * ranges.  Two shapes are taken here, the flow otherwise as the fast path
 * wants it (data, no flag but ACK/PSH, alive, no FIN, first in the LRU
 * list: stream_feed() checked all that) and no hole due yet
 * (feed_general() would skip it first):
 *  - in order in a direction without a hole: dir_inorder(), all that
 *    feed_general() would do;
 *  - the bytes right after the direction's last out-of-order range, within
 *    the window and the buffer: dir_store_ooo() would merge them into that
 *    range (the count of ranges stays) and copy them whole (no range lies
 *    past them), which is what is done here.
 * Anything else goes to feed_general(), as before.  tests/test-stream-tcp.c
 * compares the two on streams with holes (test_hole_differential). */
static __attribute__((noinline)) int feed_hole(stream_table_t *t, const struct pkt_tcp *s,
                                               sg_time_us ts, struct flow *f, int di)
{
    uint32_t idx = t->last; /* f's index */
    struct dir *d = &f->d[di];
    uint32_t n = (uint32_t)s->payload_len;
    sg_time_us gto = (sg_time_us)t->cfg.gap_timeout_ms * 1000u;
    if ((f->d[0].nr && ts >= f->d[0].hole_ts + gto) || (f->d[1].nr && ts >= f->d[1].hole_ts + gto))
        return feed_general(t, s, ts, idx, di);
    uint32_t off = s->seq - d->base_seq;
    if (!d->nr) {
        if (off != d->clen)
            return feed_general(t, s, ts, idx, di);
        return feed_inorder(t, f, d, di, s, n, ts);
    }
    /* dir_data()'s tests in its order: no sequence jump (off as a signed
     * distance), past the in-order bytes (every range is), within the
     * window; then dir_reserve() must not need to grow the buffer. */
    struct range *last = &d->r[d->nr - 1];
    int64_t jump = (int32_t)off;
    if (off != last->e || jump < 0 || jump > (int64_t)d->clen + SEQ_JUMP ||
        (uint64_t)(off - d->clen) + n > t->cfg.ooo_window || (uint64_t)off + n > d->cap)
        return feed_general(t, s, ts, idx, di);
    f->last_ts = ts;
    return dir_ooo_append(t, d, off, s->payload, n);
}

/* The common segment on flow f (index idx, t->last), direction di: data,
 * in order, no flag but ACK/PSH, no hole and no FIN in either direction,
 * the flow alive and first in the LRU list.  All that feed_general()
 * would do then is dir_inorder(); holes go to feed_hole(), the rest to
 * feed_general(). */
static inline __attribute__((always_inline)) int feed_flow(stream_table_t *t,
                                                           const struct pkt_tcp *s, sg_time_us ts,
                                                           uint32_t idx, struct flow *f, int di)
{
    struct dir *d = di ? &f->d[1] : &f->d[0];
    uint32_t n = (uint32_t)s->payload_len;
    if ((s->flags & (TH_SYN | TH_RST | TH_FIN)) || !n || f->dead || !d->has_seq ||
        (f->d[0].fin | f->d[1].fin) || f->lru_prev != NONE)
        return feed_general(t, s, ts, idx, di);
    if (f->d[0].nr | f->d[1].nr)
        return feed_hole(t, s, ts, f, di);
    if (s->seq != d->base_seq + d->clen)
        return feed_general(t, s, ts, idx, di);
    return feed_inorder(t, f, d, di, s, n, ts);
}

/* Another flow than the previous segment's: the lookup feed_general()
 * starts with (port filter, hash, probe) and, for a flow found, what it
 * does next (the flow made the previous one, first in the LRU list); then
 * the segment takes feed_flow() as on the previous segment's flow.  A
 * flow that takes turns with others (several binds on one link) no longer
 * sends every segment through feed_general().  Without a flow (or when the
 * port filter says no) feed_general() decides from scratch. */
static __attribute__((noinline)) int feed_switch(stream_table_t *t, const struct pkt_tcp *s,
                                                 sg_time_us ts)
{
    int di;
    uint32_t idx = port_wanted(t, s) && !t->general_only
                       ? flow_find(t, s, flow_hash(t, &s->src, &s->dst), &di)
                       : NONE;
    if (idx == NONE)
        return feed_general(t, s, ts, NONE, 0);
    t->last = idx;
    struct flow *f = &t->flows[idx];
    if (f->lru_prev != NONE) {
        lru_unlink(t, idx);
        lru_push(t, idx);
    }
    return feed_flow(t, s, ts, idx, f, di);
}

int stream_feed(stream_table_t *t, const struct pkt_tcp *s, sg_time_us ts)
{
    t->st.segments++;
    t->st.bytes += s->payload_len;
    /* Segments come in runs on one flow (a PDU split over segments, a
     * burst of responses): the previous segment's flow is tried before the
     * port filter, the hash and the probe.  The table holds one flow per
     * pair of endpoints (flow_create() runs only when flow_find() found
     * none), so this finds the flow the lookup would, and a flow exists
     * only for ports that passed port_wanted(). */
    uint32_t idx = t->last;
    if (idx == NONE)
        return feed_switch(t, s, ts);
    struct flow *f = &t->flows[idx];
    int di = flow_dir(f, s);
    if (di < 0)
        return feed_switch(t, s, ts);
    return feed_flow(t, s, ts, idx, f, di);
}

void stream_expire(stream_table_t *t, sg_time_us now)
{
    sg_time_us idle = (sg_time_us)t->cfg.idle_timeout_s * 1000000u;
    while (t->lru_tail != NONE) {
        struct flow *f = &t->flows[t->lru_tail];
        if (f->last_ts + idle > now)
            break;
        t->st.flows_timed_out++;
        flow_remove(t, t->lru_tail, STREAM_EV_TIMEOUT, now);
    }
}

void stream_flush(stream_table_t *t)
{
    while (t->lru_tail != NONE) {
        struct flow *f = &t->flows[t->lru_tail];
        flow_remove(t, t->lru_tail, -1, f->last_ts);
    }
}

void stream_set_general_only(stream_table_t *t, int on) { t->general_only = on != 0; }

void stream_get_stats(const stream_table_t *t, struct stream_stats *s)
{
    *s = t->st;
    s->flows_active = t->nflows;
}

void stream_free(stream_table_t *t)
{
    if (!t)
        return;
    if (t->flows) {
        /* Flows past unused were never handed out. */
        for (uint32_t i = 0; i < t->unused; i++)
            if (t->flows[i].in_use)
                for (int k = 0; k < 2; k++)
                    free(t->flows[i].d[k].buf);
    }
    for (uint32_t i = 0; i < t->npool; i++)
        free(t->pool[i]);
    free(t->pool);
    free(t->flows);
    free(t->slots);
    free(t->ports);
    free(t);
}
