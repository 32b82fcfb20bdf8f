#include "decoder.h"

#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bmap.h"
#include "smpp-receipt.h"

/* Bounds of the strings a held message keeps inline; its text lives in the
 * text arena (message_set_text). */
#define ADDR_CAP 66          /* v5.0 allows 65-octet addresses + NUL */
#define ACCOUNT_CAP 17       /* system_id: 16 octets + NUL (v3.4 §5.2.1) */
#define MSGID_CAP 66         /* message_id: 65 octets + NUL (v3.4 §5.2.23) */
#define ORPHAN_SLOT_BITS 16
#define ORPHAN_SLOTS (1u << ORPHAN_SLOT_BITS)  /* orphan_bits, orphan_count */

struct session {
    uint8_t esme_dir_known, esme_dir;
    uint8_t account_known;
    uint8_t link_hash_set;   /* bit dir: link_hash[dir] is set */
    char account[ACCOUNT_CAP];
    uint64_t link_hash[2];   /* link_hash() of the source of direction dir */
};

/* Where a message came from: kept with each request that carries one, so
 * that a multipart message completed later (by its last part, a timeout or
 * an eviction) still knows its origin. */
struct message_origin {
    struct sg_endpoint esme, smsc;
    char account[ACCOUNT_CAP];
    uint32_t command_id;
    uint8_t mobile_originated;
    uint8_t source_ton, source_npi, dest_ton, dest_npi, esm_class;
    uint16_t n_destinations;
};

struct pending_message;

struct pending_request {
    uint32_t command_id;
    sg_time_us ts;
    uint64_t message_uid;  /* 0 until its (multipart) message is complete */
    /* Where that message is held while message_uid is not 0: its response
     * finds it without a lookup.  The entry is that message while its
     * m.uid is message_uid; message_emit() clears m.uid, and every emitted
     * message leaves the table, so a stale pointer reads another uid. */
    struct pending_message *pm;
    uint64_t tie_key;      /* tie key of message_id, when tie_key_ok: computed
                            * when the response came, reused when the
                            * message completes later */
    uint8_t tie_key_ok;
    uint8_t carries_message;
    uint8_t part_seq;      /* 1 for a single message or the first part */
    uint8_t resp_seen;
    uint32_t status;
    char message_id[MSGID_CAP];
    struct message_origin origin;
};

struct pending_message {
    struct decoder_message m;  /* pointers fixed up at emission */
    sg_time_us created;
    unsigned waiting;          /* responses still expected */
    struct sg_endpoint esme, smsc;
    char account[ACCOUNT_CAP];
    char source_addr[ADDR_CAP], destination_addr[ADDR_CAP];
    uint8_t source_len, destination_len; /* their lengths, for emission */
    char message_id[MSGID_CAP];
    uint64_t text_at;          /* arena position of its text (or binary user data) */
    size_t text_len;
    uint32_t slot;             /* in d->messages (bmap_remove_slot) */
};

/* A response whose request has not been seen yet: the request may still
 * be waiting in reassembly behind a hole in its own direction. */
struct orphan_response {
    sg_time_us ts;
    uint64_t tie_key;      /* as pending_request's, computed by the response */
    uint8_t tie_key_ok;
    uint32_t status;
    char message_id[MSGID_CAP];
};

struct decoder {
    struct decoder_config cfg;
    struct decoder_sink sink;
    stream_table_t *stream;
    sms_concat_t *concat;
    bmap_t *sessions, *requests, *messages, *orphans;
    /* Receipt ties: tie key -> (message uid, submit time), the decoder's
     * largest table (a million entries): a bfifo, whose probe cells are a
     * third of a bmap's memory for it (bmap.h). */
    bfifo_t *ties;
    /* The last tie put, not yet in ties (tie_commit): its probe cell, a
     * random line of 16 MiB, is prefetched when the response comes and
     * written when the next put or lookup does, a message or so later,
     * instead of a few hundred instructions later. */
    struct {
        uint64_t key, uid;
        sg_time_us ts;
        bool set;
    } tie_pending;
    /* Which slots (orphan_slot) some orphan response hashes to, one bit
     * each, and how many (orphan_count, touched only when an orphan comes
     * or goes): every request asks whether its response came first, a
     * random probe into a 1 MiB table that is almost always empty there;
     * the bits answer "no" from the cache.  The unanswered responses stay
     * until request_timeout_s, some 800 at a time on decode-1000000, where
     * 4,096 slots (a 16 KiB array of counts, the summary before) sent 18%
     * of the requests (90,361 of 498,660) on to the table, a cache miss
     * each; 65,536 slots send 8.8% (44,202), nearly all of them requests
     * whose response did come first, and their 8 KiB of bits are half the
     * lines the counts were.  The counts (256 KiB) are touched 85,116
     * times there: at slots spread at random that cost more than it saved
     * (orphan_note 1.3-1.7% of the perf samples), hence orphan_slot()'s
     * sixteen sequence numbers to a line (0.2-0.4%). */
    uint64_t orphan_bits[ORPHAN_SLOTS / 64];
    uint32_t *orphan_count;    /* ORPHAN_SLOTS counts */
    char *arena;               /* texts of held messages (message_set_text) */
    size_t arena_size;
    uint64_t arena_head;       /* bytes ever written; position = head % size */
    struct decoder_stats st;
    uint64_t next_uid;
    sg_time_us now, last_expire;
    /* The session last looked up: PDUs come in runs on one flow, and a
     * lookup of the most recent entry of an LRU map changes nothing but
     * costs a hash and a probe.  0: none (flow ids start at 1). */
    uint64_t last_session_flow;
    struct session *last_session;

    /* Scratch for the PDU currently being handled. */
    struct smpp_pdu pdu;
    char *text_buf;
    size_t text_cap;
};

void decoder_config_default(struct decoder_config *c)
{
    memset(c, 0, sizeof *c);
    stream_config_default(&c->stream);
    c->concat.max_messages = 1u << 16;
    c->concat.max_bytes = 64u << 20;
    c->concat.timeout_s = 120;
    c->text.dc0_charset = SMS_CS_GSM;
    c->text.gsm_packing = SMS_GSM_UNPACKED;
    c->msgid_format = DECODER_MSGID_AUTO;
    c->max_sessions = 1u << 16;
    c->max_pending_requests = 1u << 16;
    c->request_timeout_s = 60;
    c->max_pending_messages = 1u << 14;
    c->max_text_bytes = 8u << 20;
    c->response_wait_s = 10;
    c->max_receipt_ties = 1u << 20;
    c->receipt_tie_ttl_s = 3 * 24 * 3600;
}

static const struct decoder_link_config *link_config(const decoder_t *d, const struct sg_endpoint *smsc)
{
    for (unsigned i = 0; i < d->cfg.n_links; i++) {
        const struct decoder_link_config *l = &d->cfg.links[i];
        if (memcmp(l->smsc.addr, smsc->addr, 16) == 0 && (l->smsc.port == 0 || l->smsc.port == smsc->port))
            return l;
    }
    return NULL;
}

static const struct sms_text_opts *text_opts(const decoder_t *d, const struct sg_endpoint *smsc)
{
    const struct decoder_link_config *l = smsc ? link_config(d, smsc) : NULL;
    return l ? &l->text : &d->cfg.text;
}

static void report_error(decoder_t *d, enum decoder_error_kind kind, const struct stream_flow_info *f,
                         uint64_t offset, const char *reason)
{
    if (!d->sink.error)
        return;
    struct decoder_error e = {.kind = kind, .flow = f, .ts = d->now, .offset = offset,
                              .frame = d->st.packets, .reason = reason};
    d->sink.error(d->sink.ctx, &e);
}

/* Returns the length copied.  Addresses and message ids are a few to
 * twenty octets: two overlapping copies of a fixed size, not a copy loop
 * of variable length (GCC's inline memcpy of n octets). */
static inline size_t copy_view(char *dst, size_t cap, struct sg_view v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    const uint8_t *s = v.p;
    if (n >= 8) {
        if (n <= 16) {
            memcpy(dst, s, 8);
            memcpy(dst + n - 8, s + n - 8, 8);
        } else if (n <= 32) {
            memcpy(dst, s, 16);
            memcpy(dst + n - 16, s + n - 16, 16);
        } else {
            memcpy(dst, s, n);
        }
    } else if (n >= 4) {
        memcpy(dst, s, 4);
        memcpy(dst + n - 4, s + n - 4, 4);
    } else if (n) {
        dst[0] = (char)s[0];
        dst[n / 2] = (char)s[n / 2];
        dst[n - 1] = (char)s[n - 1];
    }
    dst[n] = '\0';
    return n;
}

/* (flow, direction, sequence_number) packed, not hashed: the maps mix
 * their keys themselves.  Exact while flow ids are below 2^31; past that,
 * two flows 2^31 apart would have to hold requests at the same time, and
 * requests leave the table within request_timeout_s. */
static uint64_t request_key(uint64_t flow_id, unsigned dir, uint32_t seq)
{
    return flow_id << 33 | (uint64_t)dir << 32 | seq;
}

/* Summary slot of an orphan response's request key: flow, direction and
 * sequence number but its four low bits mixed together, then those four
 * bits, so that sixteen consecutive sequence numbers of a session (the
 * requests in flight, the responses that overtake them) share one line
 * of orphan_count.  Not seeded: chosen keys could only make a lookup go
 * on to the table, which is seeded. */
static inline unsigned orphan_slot(uint64_t key)
{
    uint64_t k = key >> 4;
    k ^= k >> 29;
    k *= 0xbf58476d1ce4e5b9ULL;
    return (unsigned)(k >> (64 - ORPHAN_SLOT_BITS + 4)) << 4 | (unsigned)(key & 15);
}

/* Whether an orphan response may be held under key; 0 means certainly not. */
static inline int orphan_maybe(const decoder_t *d, uint64_t key)
{
    unsigned s = orphan_slot(key);
    return (int)(d->orphan_bits[s / 64] >> (s % 64)) & 1;
}

/* Counts an orphan response held (+1) or gone (-1) under key.  A count
 * is at most the orphans held, max_pending_requests: no overflow. */
static void orphan_note(decoder_t *d, uint64_t key, int delta)
{
    unsigned s = orphan_slot(key);
    d->orphan_count[s] += (uint32_t)delta;
    if (d->orphan_count[s])
        d->orphan_bits[s / 64] |= (uint64_t)1 << (s % 64);
    else
        d->orphan_bits[s / 64] &= ~((uint64_t)1 << (s % 64));
}

/* Removes the orphan response held under key, if any; returns 1 if it was. */
static int orphan_drop(decoder_t *d, uint64_t key)
{
    if (!bmap_remove(d->orphans, key))
        return 0;
    orphan_note(d, key, -1);
    return 1;
}

/* The same, asking the summary first: the common case of a request with
 * no early response costs no probe of the table. */
static inline int orphan_remove(decoder_t *d, uint64_t key)
{
    return orphan_maybe(d, key) && orphan_drop(d, key);
}

static void on_orphan_evicted(void *ctx, uint64_t key, void *value)
{
    decoder_t *d = ctx;
    (void)value;
    orphan_note(d, key, -1);
}

/* Whether ud holds a C0 control other than CR and LF; sixteen octets at
 * a time (every data_coding 1 message is scanned whole). */
static int has_c0_but_crlf(const uint8_t *ud, size_t len)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(ud + i));
        __m128i c0 = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
        __m128i crlf = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
        if (_mm_movemask_epi8(_mm_andnot_si128(crlf, c0)))
            return 1;
    }
#endif
    for (; i < len; i++)
        if (ud[i] < 0x20 && ud[i] != '\n' && ud[i] != '\r')
            return 1;
    return 0;
}

/* Decodes user data to UTF-8 into out, cap >= SMS_TEXT_DECODE_CAP(len)
 * octets (so the text is never cut).  Returns 1 with *text_len set, 0 for
 * binary data (no text).  Inlined into its callers: out of line, a call
 * of nine arguments that saved six registers on its way to the next call
 * down, sms_text_decode, cost 40 instructions a message, 0.65% of
 * `decode -q`. */
static inline __attribute__((always_inline)) int decode_text_to(decoder_t *d, uint8_t dc,
                                                                const struct sms_text_opts *o,
                                                                const uint8_t *ud, size_t len,
                                                                unsigned fill_bits, char *out,
                                                                size_t cap, size_t *text_len)
{
    enum sms_charset cs = sms_charset_of(dc, o);
    /* IA5 text has no C0 controls but CR and LF; GSM 03.38 puts @ £ $ ¥ ...
     * there.  A data_coding 1 message that holds them was written by a peer
     * that labels GSM octets as IA5 (node-smpp, field notes), so decode it
     * as GSM rather than print control characters. */
    if (cs == SMS_CS_ASCII && dc == 1 && has_c0_but_crlf(ud, len))
        cs = SMS_CS_GSM;
    unsigned bad = 0;
    size_t n = 0;
    int rc = sms_text_decode(cs, o, ud, len, fill_bits, out, cap, &n, &bad);
    if (rc == SG_ENOTSUP)
        return 0;
    if (bad)
        d->st.text_errors++;
    *text_len = n;
    return 1;
}

/* The same into d->text_buf.  Returns 1 with *text set, 0 for binary
 * data (no text). */
static int decode_text(decoder_t *d, uint8_t dc, const struct sms_text_opts *o, const uint8_t *ud,
                       size_t len, unsigned fill_bits, const char **text, size_t *text_len)
{
    size_t need = SMS_TEXT_DECODE_CAP(len);
    if (need > d->text_cap) {
        char *nb = realloc(d->text_buf, need);
        if (!nb)
            return 0;
        d->text_buf = nb;
        d->text_cap = need;
    }
    if (!decode_text_to(d, dc, o, ud, len, fill_bits, d->text_buf, d->text_cap, text_len))
        return 0;
    *text = d->text_buf;
    return 1;
}

/* ---- messages ---------------------------------------------------------- */


static void message_emit(decoder_t *d, struct pending_message *pm)
{
    struct decoder_message *m = &pm->m;
    m->esme = &pm->esme;
    m->smsc = &pm->smsc;
    m->account = pm->account[0] ? pm->account : NULL;
    m->source_addr = (struct sg_view){(const uint8_t *)pm->source_addr, pm->source_len};
    m->destination_addr = (struct sg_view){(const uint8_t *)pm->destination_addr, pm->destination_len};
    m->message_id = pm->message_id[0] ? pm->message_id : NULL;
    const char *text = d->arena + pm->text_at % d->arena_size;
    if (m->text) {
        m->text = text;
        m->text_len = pm->text_len;
        m->ud = NULL;
        m->ud_len = 0;
    } else {
        m->ud = (const uint8_t *)text;
        m->ud_len = pm->text_len;
    }
    d->st.messages++;
    if (!m->complete)
        d->st.messages_incomplete++;
    if (d->sink.message)
        d->sink.message(d->sink.ctx, m);
    m->uid = 0;  /* leaving the table: see pending_request.pm */
}

static void on_message_evicted(void *ctx, uint64_t key, void *value)
{
    decoder_t *d = ctx;
    (void)key;
    d->st.messages_evicted++;
    message_emit(d, value);
}

/* Records a response on a message: the first error status, and the
 * message_id of the first part (of another part until the first's comes). */
static void message_apply_response(struct pending_message *pm, const struct pending_request *rq)
{
    pm->m.response_seen = true;
    if (rq->status && !pm->m.command_status)
        pm->m.command_status = rq->status;
    if ((rq->part_seq == 1 || !pm->message_id[0]) && rq->message_id[0])
        memcpy(pm->message_id, rq->message_id, sizeof pm->message_id);
}

/* ---- receipt ties ------------------------------------------------------ */

/* One-shot hash of (SMSC endpoint, tag, id) laid out in one buffer: the
 * streaming XXH3 state costs more than the short key itself. */
static uint64_t tie_key(const struct sg_endpoint *smsc, char tag, const char *id, size_t len)
{
    uint8_t k[16 + sizeof smsc->port + 1 + MSGID_CAP];
    if (len > MSGID_CAP)
        len = MSGID_CAP;
    memcpy(k, smsc->addr, 16);
    memcpy(k + 16, &smsc->port, sizeof smsc->port);
    k[16 + sizeof smsc->port] = (uint8_t)tag;
    memcpy(k + 17 + sizeof smsc->port, id, len);
    return XXH3_64bits(k, 17 + sizeof smsc->port + len);
}

/* 0x10 | digit value for 0-9, a-f, A-F; 0 for anything else.  Every
 * message_id of a response and of a receipt goes through parse_numbers. */
static const uint8_t digit_value[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14, ['5'] = 0x15,
    ['6'] = 0x16, ['7'] = 0x17, ['8'] = 0x18, ['9'] = 0x19,
    ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e, ['f'] = 0x1f,
    ['A'] = 0x1a, ['B'] = 0x1b, ['C'] = 0x1c, ['D'] = 0x1d, ['E'] = 0x1e, ['F'] = 0x1f,
};

enum { PARSE_DEC = 1, PARSE_HEX = 2 };

/* Parses id as an unsigned number in base 10 (want & PARSE_DEC: at most
 * 19 digits) and in base 16 (want & PARSE_HEX: at most 16 digits), in one
 * pass; returns the bases it is a number in, with *dec and *hex set for
 * them.  Bounded lengths: neither reading can overflow 64 bits.  The
 * digits are checked once, at the end: every octet's entry must have bit
 * 4 (AND of them all), and for base 10 none may be a-f (entry + 6 reaches
 * bit 5 only for those: OR of them all).  No branch per digit: a receipt's
 * two readings cost about what one cost with a test per digit. */
static inline __attribute__((always_inline)) unsigned parse_numbers(const char *id, size_t len, unsigned want,
                                                                    uint64_t *dec, uint64_t *hex)
{
    if (len == 0 || len > ((want & PARSE_DEC) ? 19u : 16u))
        return 0;
    uint64_t vd = 0, vh = 0;
    unsigned all = 0x10, any_dec = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned x = digit_value[(uint8_t)id[i]];
        all &= x;
        if (want & PARSE_DEC) {
            any_dec |= x + 6;
            vd = vd * 10 + (x & 0xF);
        }
        if (want & PARSE_HEX)
            vh = vh << 4 | (x & 0xF);
    }
    if (!all)
        return 0;
    unsigned r = 0;
    if ((want & PARSE_DEC) && !(any_dec & 0x20)) {
        *dec = vd;
        r |= PARSE_DEC;
    }
    if ((want & PARSE_HEX) && len <= 16) {
        *hex = vh;
        r |= PARSE_HEX;
    }
    return r;
}

static uint64_t tie_key_text(const struct sg_endpoint *smsc, const char *id, size_t len)
{
    char low[MSGID_CAP];
    size_t n = len < sizeof low ? len : sizeof low;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
    return tie_key(smsc, 't', low, n);
}

/* The hash a link's numeric tie keys start from (tie_key_number). */
static uint64_t link_hash(const struct sg_endpoint *smsc)
{
    return tie_key(smsc, 'n', "", 0);
}

/* link_hash() of f->src, the SMSC of a response or a receipt, kept with
 * the flow's session (s, of f): each PDU has its session at hand. */
static inline uint64_t link_hash_src(struct session *s, const struct stream_flow_info *f)
{
    unsigned bit = 1u << f->dir;
    if (!(s->link_hash_set & bit)) {
        s->link_hash[f->dir] = link_hash(f->src);
        s->link_hash_set |= (uint8_t)bit;
    }
    return s->link_hash[f->dir];
}

/* The key of a numeric id v on the link whose link_hash() is lh: v XOR
 * lh, a bijection, so two ids of one link never share a key; keys of
 * different links, and a number's key and a text's (XXH3 of link and
 * text), are equal with the odds of two random 64-bit values.  Hashing
 * the link with the number, as text keys are, cost an XXH3 call of 27
 * octets per key, and every response and receipt asks for one or two.
 * No further mixing: the tie table mixes its keys with its own seed, and
 * it keeps their three low bits, which are v's here, so that ids counting
 * up on a link share cache lines of the table (bfifo_hash()); sg_mix64()
 * here scattered them, a miss per submit and per receipt.  The keys live
 * only in this decoder's tie table. */
static inline uint64_t tie_key_number(uint64_t lh, uint64_t v)
{
    return v ^ lh;
}

static enum decoder_msgid_format msgid_format(const decoder_t *d, const struct sg_endpoint *smsc)
{
    const struct decoder_link_config *l = link_config(d, smsc);
    return l ? l->msgid_format : d->cfg.msgid_format;
}

/* The one key a submit's message_id is remembered under.  Numeric ids are
 * kept as numbers so that a receipt may write them in the other base; a
 * response id that parses as hexadecimal is taken as hexadecimal (a
 * decimal-looking id is then found through the hex reading of the receipt,
 * see tie_probe_start).  One key per submit keeps the table, the largest the
 * decoder has, to one cache miss per message. */
static uint64_t tie_key_of_response(const decoder_t *d, const struct sg_endpoint *smsc, uint64_t lh,
                                    const char *id, size_t len)
{
    enum decoder_msgid_format f = msgid_format(d, smsc);
    uint64_t v;
    if (f == DECODER_MSGID_SAME)
        return tie_key_text(smsc, id, len);
    if (f == DECODER_MSGID_DEC_HEX)
        return parse_numbers(id, len, PARSE_DEC, &v, NULL) ? tie_key_number(lh, v)
                                                           : tie_key_text(smsc, id, len);
    return parse_numbers(id, len, PARSE_HEX, NULL, &v) ? tie_key_number(lh, v)
                                                       : tie_key_text(smsc, id, len);
}

/* parse_numbers(id, len, PARSE_HEX) for an id of 1..16 octets that ends
 * at least sixteen octets into its buffer (a view into a PDU, past the
 * header): the sixteen octets that end with the id are read at once, the
 * octets before it masked off.  A response id of 8 to 10 octets costs a
 * third of the digit-by-digit loop.  Returns 1 with *v set, or 0. */
static inline int parse_hex_tail16(const char *id, size_t len, uint64_t *v)
{
#if defined(__SSE2__)
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(id + len - 16));
    /* signed compares: octets at or above 0x80 are below '0' and 'a' */
    __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(c, _mm_set1_epi8('9' + 1)));
    __m128i l = _mm_or_si128(c, _mm_set1_epi8(0x20));
    __m128i let = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(l, _mm_set1_epi8('f' + 1)));
    unsigned ok = (unsigned)_mm_movemask_epi8(_mm_or_si128(dig, let)) >> (16 - len);
    if (ok != (1u << len) - 1)
        return 0;
    /* nibbles, then each pair of them into an octet, first digit high */
    __m128i nib = _mm_add_epi8(_mm_and_si128(c, _mm_set1_epi8(0x0F)), _mm_and_si128(let, _mm_set1_epi8(9)));
    __m128i pairs = _mm_and_si128(_mm_or_si128(_mm_slli_epi16(nib, 4), _mm_srli_epi16(nib, 8)), _mm_set1_epi16(0xFF));
    uint64_t x = __builtin_bswap64((uint64_t)_mm_cvtsi128_si64(_mm_packus_epi16(pairs, pairs)));
    *v = len == 16 ? x : x & ((1ULL << 4 * len) - 1);
    return 1;
#else
    return parse_numbers(id, len, PARSE_HEX, NULL, v) != 0;
#endif
}

/* parse_numbers(id, len, PARSE_DEC | PARSE_HEX) for an id of 1..16 octets
 * that ends at least sixteen octets into its buffer, read as
 * parse_hex_tail16 reads it, the octets before the id masked off (keep).
 * The decimal reading packs the digits as SIMD atoi does: pairs (x10),
 * fours (x100, pmaddwd), eights (x10000, pmaddwd), then the two halves
 * (x10^8); sixteen digits fit 64 bits.  A receipt's id of 8 to 10 octets,
 * read in both bases, costs a third of the digit-by-digit loop. */
static inline unsigned parse_numbers_tail16(const char *id, size_t len, uint64_t *dec, uint64_t *hex)
{
#if defined(__SSE2__)
    /* loaded at keep_last + len: 16 - len zeros, then len ones */
    static const int8_t keep_last[32] = {0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
                                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(id + len - 16));
    __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(keep_last + len));
    /* signed compares: octets at or above 0x80 are below '0' and 'a' */
    __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(c, _mm_set1_epi8('9' + 1)));
    __m128i l = _mm_or_si128(c, _mm_set1_epi8(0x20));
    __m128i let = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(l, _mm_set1_epi8('f' + 1)));
    unsigned shift = (unsigned)(16 - len);
    unsigned ok = (unsigned)_mm_movemask_epi8(_mm_or_si128(dig, let)) >> shift;
    if (ok != (1u << len) - 1)
        return 0;
    /* nibbles, then each pair of them into an octet, first digit high */
    __m128i nib = _mm_and_si128(_mm_add_epi8(_mm_and_si128(c, _mm_set1_epi8(0x0F)), _mm_and_si128(let, _mm_set1_epi8(9))), keep);
    __m128i pairs = _mm_and_si128(_mm_or_si128(_mm_slli_epi16(nib, 4), _mm_srli_epi16(nib, 8)), _mm_set1_epi16(0xFF));
    *hex = __builtin_bswap64((uint64_t)_mm_cvtsi128_si64(_mm_packus_epi16(pairs, pairs)));
    if ((unsigned)_mm_movemask_epi8(let) >> shift)
        return PARSE_HEX; /* a-f: not decimal */
    __m128i d = _mm_and_si128(_mm_sub_epi8(c, _mm_set1_epi8('0')), keep);
    /* lane k holds digits 2k (low octet, the higher place) and 2k + 1 */
    __m128i d2 = _mm_add_epi16(_mm_mullo_epi16(_mm_and_si128(d, _mm_set1_epi16(0xFF)), _mm_set1_epi16(10)),
                               _mm_srli_epi16(d, 8));
    __m128i d4 = _mm_madd_epi16(d2, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    __m128i d8 = _mm_madd_epi16(_mm_packs_epi32(d4, d4), _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    uint64_t halves = (uint64_t)_mm_cvtsi128_si64(d8); /* first eight digits low */
    *dec = (halves & 0xFFFFFFFFu) * 100000000u + (halves >> 32);
    return PARSE_DEC | PARSE_HEX;
#else
    return parse_numbers(id, len, PARSE_DEC | PARSE_HEX, dec, hex);
#endif
}

/* tie_key_of_response for a message_id view into the response PDU. */
static uint64_t tie_key_of_response_view(const decoder_t *d, const struct sg_endpoint *smsc, uint64_t lh,
                                         const char *id, size_t len)
{
    enum decoder_msgid_format f = msgid_format(d, smsc);
    uint64_t v;
    if (f == DECODER_MSGID_SAME || f == DECODER_MSGID_DEC_HEX || len > 16)
        return tie_key_of_response(d, smsc, lh, id, len);
    return len && parse_hex_tail16(id, len, &v) ? tie_key_number(lh, v) : tie_key_text(smsc, id, len);
}

/* Puts the pending tie into the table.  Every put and every lookup calls
 * it first, so the table sees the same puts in the same order, each before
 * any lookup that follows it, as if none had waited. */
static void tie_commit(decoder_t *d)
{
    if (d->tie_pending.set) {
        d->tie_pending.set = false;
        bfifo_put(d->ties, d->tie_pending.key, d->tie_pending.uid, d->tie_pending.ts);
    }
}

static void tie_insert_key(decoder_t *d, uint64_t key, uint64_t uid, sg_time_us ts)
{
    tie_commit(d);
    bfifo_prefetch(d->ties, key);
    d->tie_pending.key = key;
    d->tie_pending.uid = uid;
    d->tie_pending.ts = ts;
    d->tie_pending.set = true;
}

static void tie_insert(decoder_t *d, const struct sg_endpoint *smsc, const char *id, uint64_t uid, sg_time_us ts)
{
    tie_insert_key(d, tie_key_of_response(d, smsc, link_hash(smsc), id, strlen(id)), uid, ts);
}

/* A receipt's numeric tie keys, computed and their cells prefetched by
 * tie_probe_start, looked up by tie_probe_finish. */
struct tie_probe {
    uint64_t keys[2];
    unsigned n;
};

/* Tries the readings of a receipt's id that the link's format allows:
 * as a decimal number (hex response, decimal receipt), as a hexadecimal
 * number (the same base on both sides), as text.  The numeric keys are
 * computed and their cells prefetched here, before the first lookup: the
 * table is far larger than the cache, and the misses then overlap instead
 * of following one another, and with whatever the caller does before
 * tie_probe_finish.  The text key, needed only when both miss, is not
 * computed before.  id: len octets (its strlen, which the caller has),
 * ending at least sixteen octets into its buffer (for
 * parse_numbers_tail16). */
static void tie_probe_start(const decoder_t *d, const struct sg_endpoint *smsc, uint64_t lh, const char *id,
                            size_t len, struct tie_probe *tp)
{
    enum decoder_msgid_format f = msgid_format(d, smsc);
    uint64_t *keys = tp->keys, v;
    unsigned n = 0;
    if (f == DECODER_MSGID_AUTO) {
        uint64_t h;
        unsigned r = len && len <= 16 ? parse_numbers_tail16(id, len, &v, &h)
                                      : parse_numbers(id, len, PARSE_DEC | PARSE_HEX, &v, &h);
        if (r & PARSE_DEC)
            keys[n++] = tie_key_number(lh, v);
        if (r & PARSE_HEX)
            keys[n++] = tie_key_number(lh, h);
    } else if (f == DECODER_MSGID_HEX_DEC) {
        if (parse_numbers(id, len, PARSE_DEC, &v, NULL))
            keys[n++] = tie_key_number(lh, v);
    } else if (f == DECODER_MSGID_DEC_HEX) {
        if (parse_numbers(id, len, PARSE_HEX, NULL, &v))
            keys[n++] = tie_key_number(lh, v);
    }
    for (unsigned i = 0; i < n; i++)
        bfifo_prefetch(d->ties, keys[i]);
    tp->n = n;
}

/* The lookups of tie_probe_start's keys, then of the text key.  Returns 1
 * with *uid and *submit_ts set. */
static int tie_probe_finish(decoder_t *d, const struct sg_endpoint *smsc, const char *id, size_t len,
                            const struct tie_probe *tp, uint64_t *uid, sg_time_us *submit_ts)
{
    tie_commit(d);
    const uint64_t *t = NULL;
    for (unsigned i = 0; i < tp->n && !t; i++)
        t = bfifo_get(d->ties, tp->keys[i]);
    if (!t)
        t = bfifo_get(d->ties, tie_key_text(smsc, id, len));
    if (!t || d->now > t[1] + (sg_time_us)d->cfg.receipt_tie_ttl_s * 1000000u)
        return 0;
    *uid = t[0];
    *submit_ts = t[1];
    return 1;
}

/* ---- requests and responses ---------------------------------------------- */

static struct pending_message *message_new(decoder_t *d, const struct message_origin *o,
                                           struct sg_view src, struct sg_view dst, uint8_t dc)
{
    uint64_t uid = ++d->next_uid;
    /* Not cleared by the queue (a pending_message is some 480 octets): its
     * members are written here, by the caller (parts, parts_received,
     * complete), by message_set_text() (m.text, text_at, text_len) or by
     * message_emit() (the event's pointers and views, m.ud, m.ud_len). */
    uint32_t slot;
    struct pending_message *pm = bmap_append(d->messages, uid, &slot);
    pm->slot = slot;
    pm->m.uid = uid;
    pm->m.ts = d->now;
    pm->m.last_ts = d->now;
    pm->m.data_coding = dc;
    pm->m.text_len = 0; /* as emitted for binary data */
    pm->m.response_seen = false;
    pm->m.command_status = 0;
    pm->created = d->now;
    pm->waiting = 0;
    pm->message_id[0] = '\0';
    pm->source_len = (uint8_t)copy_view(pm->source_addr, sizeof pm->source_addr, src);
    pm->destination_len = (uint8_t)copy_view(pm->destination_addr, sizeof pm->destination_addr, dst);
    if (o) {
        pm->esme = o->esme;
        pm->smsc = o->smsc;
        memcpy(pm->account, o->account, sizeof pm->account);
        pm->m.command_id = o->command_id;
        pm->m.mobile_originated = o->mobile_originated;
        pm->m.source_addr_ton = o->source_ton;
        pm->m.source_addr_npi = o->source_npi;
        pm->m.dest_addr_ton = o->dest_ton;
        pm->m.dest_addr_npi = o->dest_npi;
        pm->m.esm_class = o->esm_class;
        pm->m.n_destinations = o->n_destinations;
    } else {
        memset(&pm->esme, 0, sizeof pm->esme);
        memset(&pm->smsc, 0, sizeof pm->smsc);
        memset(pm->account, 0, sizeof pm->account);
        pm->m.command_id = 0;
        pm->m.mobile_originated = false;
        pm->m.source_addr_ton = pm->m.source_addr_npi = 0;
        pm->m.dest_addr_ton = pm->m.dest_addr_npi = 0;
        pm->m.esm_class = 0;
        pm->m.n_destinations = 0;
    }
    return pm;
}

/* Copies a held message's text into the text arena, a ring written in
 * message order.  Held messages leave roughly in the order they came, so
 * the ring reclaims space by emitting, early and counted, the oldest held
 * messages whose text the new one would overwrite.  The arena costs the
 * length of the text and nothing more, and it is written sequentially:
 * a fixed slot per message (a kilobyte each) cost a cache miss per line. */
static void message_set_text(decoder_t *d, struct pending_message *pm, uint8_t dc,
                             const struct sms_text_opts *o, const uint8_t *ud, size_t len,
                             unsigned fill_bits)
{
    const char *text;
    size_t n;
    const void *src;
    uint64_t uid = pm->m.uid;
    /* The usual case, decoded in place: the arena has room for the most
     * the text can take (SMS_TEXT_DECODE_CAP) before its end, within the
     * bound below, and no held message's text there, so that the general
     * path would write the text at arena_head and emit nothing early.
     * Decoded in the arena, its copy from d->text_buf is saved. */
    {
        uint64_t head = d->arena_head;
        size_t cap = SMS_TEXT_DECODE_CAP(len);
        uint64_t okey;
        const struct pending_message *oldest = bmap_oldest(d->messages, &okey);
        if (cap <= d->arena_size / 4 && cap <= d->arena_size - (size_t)(head % d->arena_size) &&
            (!oldest || okey == uid || oldest->text_at + d->arena_size >= head + cap) &&
            decode_text_to(d, dc, o, ud, len, fill_bits, d->arena + head % d->arena_size, cap, &n)) {
            pm->m.text = "";
            pm->text_at = head;
            pm->text_len = n;
            d->arena_head = head + n;
            return;
        }
    }
    if (decode_text(d, dc, o, ud, len, fill_bits, &text, &n)) {
        pm->m.text = "";  /* "has text"; pointed into the arena at emission */
        src = text;
    } else {
        pm->m.text = NULL;
        src = ud;
        n = len;
    }
    if (n > d->arena_size / 4) {
        n = d->arena_size / 4;
        /* A text is cut where a character starts (the message's text is
         * UTF-8, decoder.h); src[n] exists, the text being longer. */
        if (pm->m.text)
            while (n > 0 && (((const uint8_t *)src)[n] & 0xC0) == 0x80)
                n--;
        d->st.text_errors++;
    }
    /* A text never wraps: skip to the start of the ring instead. */
    uint64_t at = d->arena_head;
    size_t room = d->arena_size - (size_t)(at % d->arena_size);
    if (n > room)
        at += room;
    uint64_t end = at + n;
    uint64_t key;
    struct pending_message *old;
    /* pm stays where it is: the loop removes only other messages (bmap.h). */
    while ((old = bmap_oldest(d->messages, &key)) != NULL && key != uid &&
           old->text_at + d->arena_size < end) {
        d->st.messages_evicted++;
        message_emit(d, old);
        bmap_remove_slot(d->messages, old->slot);
    }
    if (n)
        memcpy(d->arena + at % d->arena_size, src, n);
    pm->text_at = at;
    pm->text_len = n;
    d->arena_head = end;
}

/* Pairs the message with one of its requests, rq (held under cookie):
 * takes its response if it is already in, else has it wait for it. */
static void message_pair(decoder_t *d, struct pending_message *pm, struct pending_request *rq,
                         uint64_t cookie)
{
    if (rq->resp_seen) {
        message_apply_response(pm, rq);
        if (rq->status == 0 && rq->message_id[0]) {
            if (rq->tie_key_ok)
                tie_insert_key(d, rq->tie_key, pm->m.uid, pm->m.ts);
            else
                tie_insert(d, &rq->origin.smsc, rq->message_id, pm->m.uid, pm->m.ts);
        }
        bmap_remove(d->requests, cookie);
    } else {
        rq->message_uid = pm->m.uid;
        rq->pm = pm;
        pm->waiting++;
    }
}

/* Emits the message at once if every response is already in, else leaves
 * it waiting. */
static void message_paired(decoder_t *d, struct pending_message *pm)
{
    if (pm->waiting == 0) {
        message_emit(d, pm);
        bmap_remove_slot(d->messages, pm->slot);
    }
}

/* Pairs the message with the responses of its requests (cookies). */
static void message_attach(decoder_t *d, struct pending_message *pm, const uint64_t *cookies,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct pending_request *rq = bmap_get(d->requests, cookies[i]);
        if (rq)
            message_pair(d, pm, rq, cookies[i]);
        /* else evicted: its response can no longer be paired */
    }
    message_paired(d, pm);
}

static void on_concat_message(void *ctx, const struct sms_message_out *mo)
{
    decoder_t *d = ctx;
    /* The origin is that of any part whose request is still known. */
    const struct message_origin *origin = NULL;
    for (size_t i = 0; i < mo->n_cookies && !origin; i++) {
        struct pending_request *rq = bmap_get(d->requests, mo->cookies[i]);
        if (rq)
            origin = &rq->origin;
    }
    struct message_origin copy;
    if (origin) {
        copy = *origin;  /* message_new may evict the request it points into */
        origin = &copy;
    }
    struct pending_message *pm = message_new(d, origin, mo->src, mo->dst, mo->data_coding);
    pm->m.ts = mo->first_ts;
    pm->m.last_ts = mo->last_ts;
    pm->m.parts = mo->total;
    pm->m.parts_received = mo->received;
    pm->m.complete = mo->complete && !mo->truncated;
    struct sms_text_opts o = *text_opts(d, origin ? &origin->smsc : NULL);
    if (mo->gsm_unpacked)
        o.gsm_packing = SMS_GSM_UNPACKED;
    message_set_text(d, pm, mo->data_coding, &o, mo->ud, mo->ud_len, 0);
    message_attach(d, pm, mo->cookies, mo->n_cookies);
}

/* ---- PDU handling ------------------------------------------------------------ */

/* The session of a flow, created if absent.  Only this function and
 * on_flow_end touch the sessions map, so the entry it returned last is
 * still the most recently used one and still at the same address until
 * on_flow_end forgets it. */
static struct session *session_of(decoder_t *d, uint64_t flow_id)
{
    if (flow_id != d->last_session_flow) {
        d->last_session = bmap_put(d->sessions, flow_id, NULL);
        d->last_session_flow = flow_id;
    }
    return d->last_session;
}

static int is_bind(uint32_t id)
{
    return id == SMPP_CMD(bind_receiver) || id == SMPP_CMD(bind_transmitter) || id == SMPP_CMD(bind_transceiver);
}

/* Which direction of the flow is the ESME's, learnt from the PDUs only one
 * side sends (v3.4 §2.3: binds, submits from the ESME; deliver_sm from the
 * SMSC). */
enum { ROLE_ANY, ROLE_ESME, ROLE_SMSC };

/* Who sends command id, for the ones other than the four of nearly every
 * PDU (learn_roles tests those first). */
static __attribute__((noinline)) int role_of_rare(uint32_t id)
{
    if (is_bind(id) || id == SMPP_CMD(submit_multi) || id == SMPP_CMD(query_sm) ||
        id == SMPP_CMD(replace_sm) || id == SMPP_CMD(cancel_sm))
        return ROLE_ESME;
    if (id == SMPP_CMD(alert_notification) || id == SMPP_CMD(outbind) ||
        (smpp_is_response(id) && is_bind(id & ~SMPP_RESP_BIT)))
        return ROLE_SMSC;
    return ROLE_ANY;
}

static void learn_roles(struct session *s, const struct stream_flow_info *f, uint32_t id)
{
    int role = id == SMPP_CMD(submit_sm) || id == SMPP_CMD(deliver_sm_resp)   ? ROLE_ESME
               : id == SMPP_CMD(submit_sm_resp) || id == SMPP_CMD(deliver_sm) ? ROLE_SMSC
                                                                               : role_of_rare(id);
    int esme_sends = role == ROLE_ESME, smsc_sends = role == ROLE_SMSC;
    if (esme_sends) {
        s->esme_dir = f->dir;
        s->esme_dir_known = 1;
    } else if (smsc_sends) {
        s->esme_dir = (uint8_t)!f->dir;
        s->esme_dir_known = 1;
    }
}

static void fill_origin(decoder_t *d, struct message_origin *o, const struct session *s,
                        const struct stream_flow_info *f, const struct smpp_pdu *p, int mo)
{
    /* Every member set (the account to "" when unknown): no memset of
     * the struct first. */
    o->esme = mo ? *f->dst : *f->src;
    o->smsc = mo ? *f->src : *f->dst;
    if (s && s->account_known)
        memcpy(o->account, s->account, sizeof o->account);
    else
        o->account[0] = '\0';
    o->command_id = p->command_id;
    o->mobile_originated = (uint8_t)mo;
    o->source_ton = p->source_addr_ton;
    o->source_npi = p->source_addr_npi;
    o->dest_ton = p->dest_addr_ton;
    o->dest_npi = p->dest_addr_npi;
    o->esm_class = p->esm_class;
    o->n_destinations = p->command_id == SMPP_CMD(submit_multi) ? p->number_of_dests : 1;
    (void)d;
}

static void handle_receipt(decoder_t *d, const struct stream_flow_info *f, struct session *s, const struct smpp_pdu *p,
                           const uint8_t *ud, size_t ud_len)
{
    /* The id, behind sixteen octets that tie_probe_start may read with it
     * (zeros, so that nothing it reads is undefined). */
    char id_buf[16 + MSGID_CAP];
    char *id = id_buf + 16;
    memset(id_buf, 0, 16);
    size_t id_len = 0; /* strlen(id): neither view holds a NUL */
    id[0] = '\0';
    /* An id in receipted_message_id is known before the text is read: its
     * tie cells load while smpp_receipt_parse runs. */
    struct tie_probe tp;
    uint64_t lh = link_hash_src(s, f);
    if (p->tlv.receipted_message_id.len) {
        id_len = copy_view(id, MSGID_CAP, p->tlv.receipted_message_id);
        if (id[0])
            tie_probe_start(d, f->src, lh, id, id_len, &tp);
    }
    struct smpp_receipt r; /* cleared by smpp_receipt_parse(), found fields or not */
    int have_text = smpp_receipt_parse(ud, ud_len, &r) == 0;
    if (!p->tlv.receipted_message_id.len && have_text && r.id.len) {
        id_len = copy_view(id, MSGID_CAP, r.id);
        if (id[0])
            tie_probe_start(d, f->src, lh, id, id_len, &tp);
    }
    struct decoder_receipt e = {
        .ts = d->now, .esme = f->dst, .smsc = f->src,
        .message_id = id[0] ? id : NULL,
        .stat = r.stat, .err = r.err, .submit_date = r.submit_date, .done_date = r.done_date,
        .sub = r.sub, .dlvrd = r.dlvrd,
        .message_state = p->tlv.message_state,
        .source_addr = p->source_addr, .destination_addr = p->destination_addr,
    };
    if (id[0] && tie_probe_finish(d, f->src, id, id_len, &tp, &e.message_uid, &e.submit_ts)) {
        e.tied = true;
        d->st.receipts_tied++;
    }
    d->st.receipts++;
    if (d->sink.receipt)
        d->sink.receipt(d->sink.ctx, &e);
}

static int same_endpoint(const struct sg_endpoint *a, const struct sg_endpoint *b)
{
    return a->port == b->port && memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

/* Whether a message request travels from the SMSC to the ESME (mobile
 * originated): deliver_sm always, data_sm when it goes against the
 * session's ESME direction.  The SMSC end, whose link settings decode the
 * text, is then the source.  One test for the message and its PDU event,
 * so that both decode the text alike. */
static int is_mobile_originated(uint32_t command_id, const struct session *s,
                                const struct stream_flow_info *f)
{
    return command_id == SMPP_CMD(deliver_sm) ||
           (command_id == SMPP_CMD(data_sm) && s && s->esme_dir_known && s->esme_dir != f->dir);
}

/* A request that carries a short message: submit_sm, submit_multi, data_sm
 * and deliver_sm (v3.4 §4.4-4.7). */
static void handle_message_request(decoder_t *d, const struct stream_flow_info *f,
                                   const struct smpp_pdu *p, struct session *s)
{
    int mo = is_mobile_originated(p->command_id, s, f);
    const struct sg_endpoint *smsc = mo ? f->src : f->dst;
    const struct sms_text_opts *o = text_opts(d, smsc);

    /* message_payload replaces short_message when present (v3.4 §5.3.2.32). */
    const uint8_t *ud = p->short_message.p;
    size_t ud_len = p->short_message.len;
    if (p->tlv.message_payload.p) {
        ud = p->tlv.message_payload.p;
        ud_len = p->tlv.message_payload.len;
    }
    struct sms_udh udh;
    /* Read only when has_udh: sms_udh_parse fills it then. */
    int has_udh = 0;
    if (smpp_esm_has_udhi(p->esm_class) && ud_len > 0) {
        size_t off = 0;
        const char *why = NULL;
        if (sms_udh_parse(ud, ud_len, &udh, &off, &why) == 0) {
            has_udh = 1;
        } else {
            d->st.udh_errors++;
            report_error(d, DECODER_ERR_UDH, f, off, why ? why : "bad user data header");
        }
    }
    const uint8_t *body = has_udh ? ud + udh.udhl : ud;
    size_t body_len = has_udh ? ud_len - udh.udhl : ud_len;
    unsigned fill = has_udh ? sms_udh_fill_bits(udh.udhl) : 0;

    if (smpp_esm_is_receipt(p->esm_class)) {
        handle_receipt(d, f, s, p, body, body_len);
        /* Its deliver_sm_resp still pairs, as a request without a message. */
        uint64_t rkey = request_key(f->flow_id, f->dir, p->sequence_number);
        if (!orphan_remove(d, rkey)) {
            struct pending_request *rrq = bmap_put(d->requests, rkey, NULL);
            rrq->command_id = p->command_id;
            rrq->ts = d->now;
        }
        return;
    }

    /* Track the request for its response. */
    uint64_t key = request_key(f->flow_id, f->dir, p->sequence_number);
    int created;
    /* Not cleared by the map: a new entry gets the members that are read
     * before a response writes them as bmap_put() would have left them;
     * the origin is written whole below.  An entry already there keeps
     * what it had, as with bmap_put(). */
    struct pending_request *rq = bmap_put_raw(d->requests, key, &created, NULL);
    if (created) {
        rq->message_uid = 0;
        rq->tie_key = 0;
        rq->tie_key_ok = 0;
        rq->resp_seen = 0;
        rq->status = 0;
        rq->message_id[0] = '\0';
    }
    rq->command_id = p->command_id;
    rq->ts = d->now;
    rq->carries_message = 1;
    rq->part_seq = 1;
    fill_origin(d, &rq->origin, s, f, p, mo);
    struct orphan_response *early = orphan_maybe(d, key) ? bmap_get(d->orphans, key) : NULL;
    if (early) {
        rq->resp_seen = 1;
        rq->status = early->status;
        memcpy(rq->message_id, early->message_id, sizeof rq->message_id);
        /* The response came on this flow's other direction: from f->dst.
         * Its key holds if that is the request's SMSC, as in
         * handle_response. */
        rq->tie_key = early->tie_key;
        rq->tie_key_ok = (uint8_t)(early->tie_key_ok && same_endpoint(&rq->origin.smsc, f->dst));
        orphan_drop(d, key);
    }

    /* Concatenation: UDH IEI 0x00/0x08 or the SAR TLVs (v3.4 §5.3.2.22-24).
     * The part is built only for multipart messages: zeroing it for every
     * message cost 8 instructions each. */
    int multipart = 0;
    uint16_t ref = 0;
    uint8_t total = 0, seq = 0;
    if (has_udh && udh.concat && udh.total > 1) {
        multipart = 1;
        ref = udh.ref;
        total = udh.total;
        seq = udh.seq;
    } else if (p->tlv.sar_msg_ref_num >= 0 && p->tlv.sar_total_segments > 1 && p->tlv.sar_segment_seqnum >= 1) {
        multipart = 1;
        ref = (uint16_t)p->tlv.sar_msg_ref_num;
        total = (uint8_t)p->tlv.sar_total_segments;
        seq = (uint8_t)p->tlv.sar_segment_seqnum;
    }
    if (multipart) {
        struct sms_part part = {.ref = ref, .total = total, .seq = seq};
        uint64_t scope[2] = {f->flow_id, f->dir};
        part.link = XXH3_64bits(scope, sizeof scope);
        part.src = p->source_addr;
        part.dst = p->destination_addr;
        part.data_coding = p->data_coding;
        part.gsm_packed = o->gsm_packing == SMS_GSM_PACKED &&
                          sms_charset_of(p->data_coding, o) == SMS_CS_GSM;
        part.ud = body;
        part.ud_len = body_len;
        part.fill_bits = fill;
        part.ts = d->now;
        part.cookie = key;
        rq->part_seq = part.seq;
        sms_concat_add(d->concat, &part);  /* may complete: on_concat_message */
        return;
    }
    /* rq stays valid down to message_pair: only the messages map changes
     * in between, and bmap values do not move (bmap.h); so no copy of its
     * origin and no second lookup of it. */
    struct pending_message *pm = message_new(d, &rq->origin, p->source_addr, p->destination_addr,
                                             p->data_coding);
    pm->m.parts = 1;
    pm->m.parts_received = 1;
    pm->m.complete = true;
    message_set_text(d, pm, p->data_coding, o, body, body_len, fill);
    message_pair(d, pm, rq, key);
    message_paired(d, pm);
}

static void handle_response(decoder_t *d, const struct stream_flow_info *f, struct session *s,
                            const struct smpp_pdu *p)
{
    uint64_t key = request_key(f->flow_id, (unsigned)!f->dir, p->sequence_number);
    /* An accepted submit_sm_resp ties its message to the id the SMSC (the
     * sender of this response) gave it.  The tie key is computed now and
     * its cell prefetched, so that the tie table's cache miss overlaps the
     * request lookup below instead of following it. */
    uint64_t tkey = 0;
    int have_tkey = 0;
    if (p->command_status == 0 && p->message_id.len) {
        /* A C-octet string view holds no NUL (smpp_decode stops at it), so
         * the key is computed from the view itself, cut as copy_view cuts
         * it into rq->message_id below: the same octets, without a copy. */
        size_t n = p->message_id.len < MSGID_CAP - 1 ? p->message_id.len : MSGID_CAP - 1;
        tkey = tie_key_of_response_view(d, f->src, link_hash_src(s, f), (const char *)p->message_id.p, n);
        bfifo_prefetch(d->ties, tkey);
        have_tkey = 1;
    }
    uint32_t rslot; /* rq's: removed below without a second probe for key */
    struct pending_request *rq = bmap_get_slot(d->requests, key, &rslot);
    if (!rq) {
        /* Its request may arrive later (held behind a hole in the other
         * direction); keep the answer for it, bounded. */
        int created;
        /* Every member written below: not cleared by the map. */
        struct orphan_response *o = bmap_put_raw(d->orphans, key, &created, NULL);
        if (created)
            orphan_note(d, key, 1);
        o->ts = d->now;
        o->status = p->command_status;
        copy_view(o->message_id, sizeof o->message_id, p->message_id);
        /* Kept for the request, which reuses it if it went to this
         * response's sender (handle_message_request): 7,192 of
         * decode-small's responses overtake their submit. */
        o->tie_key = tkey;
        o->tie_key_ok = (uint8_t)have_tkey;
        return;
    }
    if (!rq->carries_message) {
        bmap_remove_slot(d->requests, rslot);
        return;
    }
    rq->resp_seen = 1;
    rq->status = p->command_status;
    if (p->message_id.len)
        copy_view(rq->message_id, sizeof rq->message_id, p->message_id);
    /* rq->message_id holds the octets keyed above when this response
     * carried one; the key holds if the request went to the sender of the
     * response (a submit, not a deliver_sm). */
    if (have_tkey && !same_endpoint(&rq->origin.smsc, f->src))
        have_tkey = 0;
    rq->tie_key = tkey;
    rq->tie_key_ok = (uint8_t)have_tkey;
    if (rq->message_uid == 0)
        return;  /* multipart still incomplete: message_attach reads it later */
    struct pending_message *pm = rq->pm->m.uid == rq->message_uid ? rq->pm : NULL;
    if (pm) {
        message_apply_response(pm, rq);
        if (rq->status == 0 && rq->message_id[0]) {
            if (have_tkey)
                tie_insert_key(d, tkey, pm->m.uid, pm->m.ts);
            else
                tie_insert(d, &rq->origin.smsc, rq->message_id, pm->m.uid, pm->m.ts);
        }
        if (pm->waiting > 0 && --pm->waiting == 0) {
            message_emit(d, pm);
            bmap_remove_slot(d->messages, pm->slot);
        }
    } else if (rq->status == 0 && rq->message_id[0]) {
        /* The message was already emitted (waited too long): still tie it. */
        if (have_tkey)
            tie_insert_key(d, tkey, rq->message_uid, rq->ts);
        else
            tie_insert(d, &rq->origin.smsc, rq->message_id, rq->message_uid, rq->ts);
    }
    bmap_remove_slot(d->requests, rslot);
}

static void on_pdu(void *ctx, const struct stream_flow_info *f, sg_time_us ts, const uint8_t *buf,
                   size_t len, uint64_t offset)
{
    decoder_t *d = ctx;
    struct smpp_pdu *p = &d->pdu;
    struct smpp_error err; /* smpp_decode sets offset and reason with its error */
    err.offset = 0;
    err.reason = NULL;
    d->now = ts;
    int rc = smpp_decode(buf, len, p, &err);
    if (rc != 0) {
        d->st.pdu_errors++;
        report_error(d, DECODER_ERR_PDU, f, offset + err.offset, err.reason ? err.reason : sg_strerror(rc));
        if (rc == SG_ETRUNC && len < SMPP_HEADER_LEN)
            return;
        /* The header is valid: responses still pair, binds still name the
         * account; a broken body carries no message. */
    }
    d->st.pdus++;
    uint32_t id = p->command_id;
    struct session *s = session_of(d, f->flow_id);
    learn_roles(s, f, id);

    if (d->sink.pdu) {
        struct decoder_pdu e = {.flow = f, .ts = ts, .offset = offset, .raw = buf, .raw_len = len, .pdu = p};
        struct sms_udh udh;
        if (rc == 0 && (p->short_message.len || p->tlv.message_payload.p)) {
            const uint8_t *ud = p->tlv.message_payload.p ? p->tlv.message_payload.p : p->short_message.p;
            size_t ud_len = p->tlv.message_payload.p ? p->tlv.message_payload.len : p->short_message.len;
            unsigned fill = 0;
            if (smpp_esm_has_udhi(p->esm_class)) {
                size_t off;
                const char *why;
                if (sms_udh_parse(ud, ud_len, &udh, &off, &why) == 0) {
                    e.udh = &udh;
                    ud += udh.udhl;
                    ud_len -= udh.udhl;
                    fill = sms_udh_fill_bits(udh.udhl);
                }
            }
            const struct sg_endpoint *smsc = is_mobile_originated(id, s, f) ? f->src : f->dst;
            if (!decode_text(d, p->data_coding, text_opts(d, smsc), ud, ud_len, fill, &e.text, &e.text_len))
                e.text_binary = true;
        }
        d->sink.pdu(d->sink.ctx, &e);
    }
    if (rc != 0)
        return;

    /* The message requests first: they and the responses are nearly every
     * PDU, and the bind tests below cannot match them. */
    if (id == SMPP_CMD(submit_sm) || id == SMPP_CMD(submit_multi) || id == SMPP_CMD(deliver_sm) ||
        id == SMPP_CMD(data_sm)) {
        handle_message_request(d, f, p, s);
    } else if (smpp_is_response(id)) {
        if (p->command_status != 0 && is_bind(id & ~SMPP_RESP_BIT))
            s->account_known = 0;  /* the bind failed: this session has no account */
        /* Responses, and generic_nack, which answers a request the peer
         * could not parse (v3.4 §4.3), pair by sequence number. */
        handle_response(d, f, s, p);
    } else {
        if (is_bind(id)) {
            copy_view(s->account, sizeof s->account, p->system_id);
            s->account_known = p->system_id.len > 0;
        }
        uint64_t key = request_key(f->flow_id, f->dir, p->sequence_number);
        if (!orphan_remove(d, key)) {
            struct pending_request *rq = bmap_put(d->requests, key, NULL);
            rq->command_id = id;
            rq->ts = ts;
        }
    }
}

static void on_stream_event(void *ctx, const struct stream_flow_info *f, sg_time_us ts,
                            enum stream_event ev, uint64_t offset, uint64_t bytes, const char *reason)
{
    decoder_t *d = ctx;
    const char *why;
    switch (ev) {
    case STREAM_EV_GAP: why = "gap in TCP stream: bytes never captured"; break;
    case STREAM_EV_NOT_SMPP: why = "stream does not frame as SMPP: ignored"; break;
    case STREAM_EV_OVERSIZE: why = "PDU longer than the per-flow buffer: skipped"; break;
    default: return; /* resyncs, FIN, RST, timeouts are flow life, counted in the stream stats */
    }
    d->now = ts;
    (void)bytes;
    report_error(d, DECODER_ERR_STREAM, f, offset, reason ? reason : why);
}

static void on_flow_end(void *ctx, uint64_t flow_id)
{
    decoder_t *d = ctx;
    if (flow_id == d->last_session_flow)
        d->last_session_flow = 0;
    bmap_remove(d->sessions, flow_id);
}

decoder_t *decoder_new(const struct decoder_config *c, const struct decoder_sink *sink)
{
    decoder_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = *c;
    if (sink)
        d->sink = *sink;
    struct stream_sink ss = {.ctx = d, .pdu = on_pdu, .event = on_stream_event, .flow_end = on_flow_end};
    struct sms_concat_sink cs = {.ctx = d, .message = on_concat_message};
    d->stream = stream_new(&c->stream, &ss);
    d->concat = sms_concat_new(&c->concat, &cs);
    d->sessions = bmap_new(c->max_sessions, sizeof(struct session), BMAP_LRU, NULL, NULL);
    d->requests = bmap_new(c->max_pending_requests, sizeof(struct pending_request), BMAP_FIFO, NULL, NULL);
    /* Held messages are found through their requests (pending_request.pm)
     * and by age, never by uid: a queue, without a probe table. */
    d->messages = bmap_new_queue(c->max_pending_messages, sizeof(struct pending_message), on_message_evicted, d);
    d->ties = bfifo_new(c->max_receipt_ties);
    d->orphans = bmap_new(c->max_pending_requests, sizeof(struct orphan_response), BMAP_FIFO, on_orphan_evicted, d);
    d->arena_size = c->max_text_bytes < (64u << 10) ? (64u << 10) : c->max_text_bytes;
    d->arena = malloc(d->arena_size);
    d->text_cap = 4096;
    d->text_buf = malloc(d->text_cap);
    d->orphan_count = calloc(ORPHAN_SLOTS, sizeof *d->orphan_count);
    if (!d->stream || !d->concat || !d->sessions || !d->requests || !d->messages || !d->ties || !d->orphans || !d->arena || !d->text_buf ||
        !d->orphan_count) {
        decoder_free(d);
        return NULL;
    }
    return d;
}

void decoder_free(decoder_t *d)
{
    if (!d)
        return;
    stream_free(d->stream);
    sms_concat_free(d->concat);
    bmap_free(d->sessions);
    bmap_free(d->requests);
    bmap_free(d->messages);
    bfifo_free(d->ties);
    bmap_free(d->orphans);
    free(d->orphan_count);
    free(d->text_buf);
    free(d->arena);
    free(d);
}

/* Gives up on what waited too long in packet time: messages whose
 * responses never came, requests never answered.  Runs once per second of
 * packet time; each pass stops at the first entry still young, so its
 * cost is proportional to what expires.  Out of line: inlined, its loops
 * made decoder_feed() save six registers on every packet. */
static __attribute__((noinline)) void expire(decoder_t *d)
{
    sg_time_us now = d->now;
    uint64_t key;
    struct pending_message *pm;
    sg_time_us wait = (sg_time_us)d->cfg.response_wait_s * 1000000u;
    while ((pm = bmap_oldest(d->messages, NULL)) != NULL && pm->created + wait < now) {
        message_emit(d, pm);
        bmap_remove_slot(d->messages, pm->slot);
    }
    struct pending_request *rq;
    sg_time_us rto = (sg_time_us)d->cfg.request_timeout_s * 1000000u;
    while ((rq = bmap_oldest(d->requests, &key)) != NULL && rq->ts + rto < now) {
        if (!rq->resp_seen)
            d->st.requests_unanswered++;
        bmap_remove(d->requests, key);
    }
    struct orphan_response *o;
    while ((o = bmap_oldest(d->orphans, &key)) != NULL && o->ts + rto < now) {
        d->st.responses_unmatched++;
        orphan_drop(d, key);
    }
    stream_expire(d->stream, now);
    sms_concat_expire(d->concat, now);
}

int decoder_feed(decoder_t *d, const struct capture_pkt *pkt)
{
    struct pkt_tcp seg;
    d->st.packets++;  /* also the 1-based number of the frame (report_error) */
    if (pkt->ts > d->now)
        d->now = pkt->ts;
    int rc = pkt_decode(pkt->dlt, pkt->data, pkt->caplen, &seg);
    if (rc == 0) {
        stream_feed(d->stream, &seg, pkt->ts);
    } else if (rc == SG_ENOTSUP) {
        d->st.non_tcp++;
    } else {
        d->st.packet_errors++;
        report_error(d, DECODER_ERR_PACKET, NULL, 0, seg.reason ? seg.reason : sg_strerror(rc));
    }
    if (d->now >= d->last_expire + 1000000u) {
        d->last_expire = d->now;
        expire(d);
    }
    return 0;
}

static void emit_all_messages(decoder_t *d)
{
    struct pending_message *pm;
    while ((pm = bmap_oldest(d->messages, NULL)) != NULL) {
        message_emit(d, pm);
        bmap_remove_slot(d->messages, pm->slot);
    }
}

void decoder_flush(decoder_t *d)
{
    stream_flush(d->stream);
    d->st.responses_unmatched += bmap_count(d->orphans);
    while (bmap_oldest(d->orphans, NULL)) {
        uint64_t key;
        bmap_oldest(d->orphans, &key);
        orphan_drop(d, key);
    }
    sms_concat_flush(d->concat);
    emit_all_messages(d);
    uint64_t key;
    struct pending_request *rq;
    while ((rq = bmap_oldest(d->requests, &key)) != NULL) {
        if (!rq->resp_seen)
            d->st.requests_unanswered++;
        bmap_remove(d->requests, key);
    }
    tie_commit(d); /* last: what was emitted above may have put one */
}

void decoder_get_stats(const decoder_t *d, struct decoder_stats *s)
{
    *s = d->st;
    /* Evictions of the tables that need no other action are counted by
     * the tables themselves; an evicted early response was never matched. */
    s->sessions_evicted = bmap_evictions(d->sessions);
    s->requests_evicted = bmap_evictions(d->requests);
    s->ties_evicted = bfifo_evictions(d->ties);
    /* The pending tie evicts the oldest when it goes in, if its key is
     * new and the table full. */
    if (d->tie_pending.set && !bfifo_get(d->ties, d->tie_pending.key) &&
        bfifo_count(d->ties) == d->cfg.max_receipt_ties)
        s->ties_evicted++;
    s->responses_unmatched += bmap_evictions(d->orphans);
    stream_get_stats(d->stream, &s->stream);
    sms_concat_get_stats(d->concat, &s->concat);
}

void decoder_stats_write_json(const struct decoder_stats *s, jw_t *w)
{
    jw_kuint(w, "packets", s->packets);
    jw_kuint(w, "packet_errors", s->packet_errors);
    jw_kuint(w, "non_tcp", s->non_tcp);
    jw_kuint(w, "pdus", s->pdus);
    jw_kuint(w, "pdu_errors", s->pdu_errors);
    jw_kuint(w, "messages", s->messages);
    jw_kuint(w, "messages_incomplete", s->messages_incomplete);
    jw_kuint(w, "receipts", s->receipts);
    jw_kuint(w, "receipts_tied", s->receipts_tied);
    jw_kuint(w, "requests_unanswered", s->requests_unanswered);
    jw_kuint(w, "responses_unmatched", s->responses_unmatched);
    jw_kuint(w, "udh_errors", s->udh_errors);
    jw_kuint(w, "text_errors", s->text_errors);
    jw_key(w, "evicted");
    jw_obj_begin(w);
    jw_kuint(w, "sessions", s->sessions_evicted);
    jw_kuint(w, "requests", s->requests_evicted);
    jw_kuint(w, "messages", s->messages_evicted);
    jw_kuint(w, "receipt_ties", s->ties_evicted);
    jw_kuint(w, "flows", s->stream.flows_evicted);
    jw_kuint(w, "multipart", s->concat.evicted_count);
    jw_obj_end(w);
    jw_key(w, "stream");
    jw_obj_begin(w);
    jw_kuint(w, "segments", s->stream.segments);
    jw_kuint(w, "bytes", s->stream.bytes);
    jw_kuint(w, "flows_created", s->stream.flows_created);
    jw_kuint(w, "flows_timed_out", s->stream.flows_timed_out);
    jw_kuint(w, "gaps", s->stream.gaps);
    jw_kuint(w, "gap_bytes", s->stream.gap_bytes);
    jw_kuint(w, "resyncs", s->stream.resyncs);
    jw_kuint(w, "sequence_jumps", s->stream.seq_jumps);
    jw_kuint(w, "retransmitted_bytes", s->stream.retrans_bytes);
    jw_kuint(w, "out_of_order_segments", s->stream.ooo_segments);
    jw_kuint(w, "memcap_drops", s->stream.memcap_drops);
    jw_kuint(w, "not_smpp_bytes", s->stream.not_smpp_bytes);
    jw_obj_end(w);
    jw_key(w, "multipart");
    jw_obj_begin(w);
    jw_kuint(w, "parts", s->concat.parts);
    jw_kuint(w, "complete", s->concat.messages_complete);
    jw_kuint(w, "incomplete", s->concat.messages_incomplete);
    jw_kuint(w, "duplicates", s->concat.duplicates);
    jw_kuint(w, "timed_out", s->concat.timed_out);
    jw_obj_end(w);
}
