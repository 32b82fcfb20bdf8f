/* smsgen: a deterministic generator of SMPP captures with ground truth.
 *
 *   smsgen -o OUT.pcap [--truth OUT.truth.jsonl] [--seed N]
 *          [--pdus N | --messages N] [--sessions N] [--ipv6-share F]
 *          [--vlan-share F] [--segmentation MODE[,MODE...]]...
 *          [--link en10mb|sll2|raw] [--pcapng] [--corpus FILE]
 *
 * Writes a capture of many ESME<->SMSC sessions (binds, enquire_link,
 * submit_sm with single and multipart texts, receipts, data_sm, unbind, FIN,
 * RST) and, beside it, a JSON Lines file that says what a correct decoder
 * must find in it.  docs/generator.md describes both.
 *
 * Independence: this program is the reference the project's decoder is
 * checked against, so it shares no code with filter/: it has its own SMPP
 * encoder, its own GSM 03.38 tables (smsgen-text.h) and its own TCP/IP
 * framing.  It links libpcap only for pcap_dump.
 *
 * Determinism: every choice comes from one xoshiro256** stream seeded by
 * --seed; nothing depends on the clock, addresses or uninitialised memory,
 * so one seed gives byte-identical outputs.
 *
 * Memory is constant whatever the capture size: a fixed table of sessions,
 * one exchange of at most EX_MAX_PDUS PDUs in flight, bounded receipt queues.
 *
 * Build: part of bench/ (cmake --build build --target smsgen).
 */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smsgen-text.h"

#define SG_LEN(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------------ */
/* SMPP v3.4 numbers (§5.1.2.1 command ids, §5.1.3 status, §5.3.2 TLVs). */

#define CMD_GENERIC_NACK 0x80000000u
#define CMD_BIND_TRANSMITTER 0x00000002u
#define CMD_SUBMIT_SM 0x00000004u
#define CMD_DELIVER_SM 0x00000005u
#define CMD_UNBIND 0x00000006u
#define CMD_BIND_TRANSCEIVER 0x00000009u
#define CMD_ENQUIRE_LINK 0x00000015u
#define CMD_DATA_SM 0x00000103u
#define CMD_RESP 0x80000000u

#define ST_OK 0x00u
#define ST_RINVDSTADR 0x0Bu
#define ST_RMSGQFUL 0x14u
#define ST_RTHROTTLED 0x58u

#define TLV_RECEIPTED_MESSAGE_ID 0x001Eu
#define TLV_SAR_MSG_REF_NUM 0x020Cu
#define TLV_SAR_TOTAL_SEGMENTS 0x020Eu
#define TLV_SAR_SEGMENT_SEQNUM 0x020Fu
#define TLV_SC_INTERFACE_VERSION 0x0210u
#define TLV_MESSAGE_PAYLOAD 0x0424u
#define TLV_MESSAGE_STATE 0x0427u
/* Vendor TLV (Indian DLT entity id), carried raw on one account. */
#define TLV_VENDOR_DLT_ENTITY 0x1400u

#define ESM_RECEIPT 0x04u
#define ESM_UDHI 0x40u

#define DC_GSM 0x00u
#define DC_IA5 0x01u /* node-smpp sends unpacked GSM labelled 0x01 */
#define DC_LATIN1 0x03u
#define DC_UCS2 0x08u

/* SMPP v3.4 §5.2.28 message_state values. */
#define MSTATE_DELIVERED 2
#define MSTATE_EXPIRED 3
#define MSTATE_UNDELIVERABLE 5
#define MSTATE_REJECTED 8

static const char *cmd_name(uint32_t id)
{
    switch (id) {
    case CMD_GENERIC_NACK: return "generic_nack";
    case CMD_BIND_TRANSMITTER: return "bind_transmitter";
    case CMD_BIND_TRANSMITTER | CMD_RESP: return "bind_transmitter_resp";
    case CMD_BIND_TRANSCEIVER: return "bind_transceiver";
    case CMD_BIND_TRANSCEIVER | CMD_RESP: return "bind_transceiver_resp";
    case CMD_SUBMIT_SM: return "submit_sm";
    case CMD_SUBMIT_SM | CMD_RESP: return "submit_sm_resp";
    case CMD_DELIVER_SM: return "deliver_sm";
    case CMD_DELIVER_SM | CMD_RESP: return "deliver_sm_resp";
    case CMD_UNBIND: return "unbind";
    case CMD_UNBIND | CMD_RESP: return "unbind_resp";
    case CMD_ENQUIRE_LINK: return "enquire_link";
    case CMD_ENQUIRE_LINK | CMD_RESP: return "enquire_link_resp";
    case CMD_DATA_SM: return "data_sm";
    case CMD_DATA_SM | CMD_RESP: return "data_sm_resp";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* Random numbers: xoshiro256** (Blackman & Vigna), seeded by splitmix64. */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

/* Uniform in [0, n) (Lemire's multiply; the bias is below 2^-32). */
static inline uint32_t rnd(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
static inline uint32_t rnd_range(struct rng *r, uint32_t lo, uint32_t hi) { return lo + rnd(r, hi - lo + 1); }
static inline double rnd_unit(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static inline int chance(struct rng *r, double p) { return rnd_unit(r) < p; }
/* Natural log without libm, so timestamps do not depend on the C library's
 * log(): frexp splits off the exponent exactly, and ln(m) for m in [0.5, 1)
 * is 2 atanh((m-1)/(m+1)), a series in z^2 with |z| <= 1/3 (30 terms leave an
 * error below 1e-15).  Only + - * / on doubles: IEEE 754 gives every
 * platform the same bits. */
static double det_log(double x)
{
    int e;
    double m = frexp(x, &e);
    double z = (m - 1.0) / (m + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + (double)e * 0.69314718055994530942;
}

/* Exponential with the given mean (microseconds), at least 1. */
static inline uint64_t rnd_exp(struct rng *r, double mean)
{
    double u = rnd_unit(r);
    double v = -det_log(1.0 - u) * mean;
    return v < 1.0 ? 1 : (uint64_t)v;
}

/* ------------------------------------------------------------------ */
/* A bounded string builder for the truth lines: no allocation after start. */

struct sbuf {
    char *p;
    size_t len, cap;
};

/* --no-truth: every truth writer returns at once (the counts in the summary
 * on stderr are still kept).  For benchmark captures, where formatting the
 * truth would be most of the work. */
static int truth_off;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("smsgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline void sb_need(struct sbuf *b, size_t n)
{
    if (b->len + n > b->cap)
        die("internal: truth buffer overflow (%zu + %zu > %zu)", b->len, n, b->cap);
}
static inline void sb_mem(struct sbuf *b, const void *s, size_t n)
{
    if (truth_off)
        return;
    sb_need(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
#define sb_lit(b, s) sb_mem((b), (s), sizeof(s) - 1)
static const char dec_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
static inline void sb_u64(struct sbuf *b, uint64_t v)
{
    if (truth_off)
        return;
    sb_need(b, 20);
    if (v < 10) { /* most fields: ton, npi, status, esm_class */
        b->p[b->len++] = (char)('0' + v);
        return;
    }
    char t[24];
    int n = 24;
    while (v >= 100) {
        n -= 2;
        memcpy(t + n, dec_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        n -= 2;
        memcpy(t + n, dec_pairs + 2 * v, 2);
    } else {
        t[--n] = (char)('0' + v);
    }
    memcpy(b->p + b->len, t + n, (size_t)(24 - n));
    b->len += (size_t)(24 - n);
}
static char hex_pairs[512]; /* "000102...ff", filled at start */

static void hex_init(void)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 256; i++) {
        hex_pairs[2 * i] = hx[i >> 4];
        hex_pairs[2 * i + 1] = hx[i & 15];
    }
}

static void sb_hex(struct sbuf *b, const uint8_t *p, size_t n)
{
    if (truth_off)
        return;
    sb_need(b, 2 * n + 2);
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++, o += 2)
        memcpy(o, hex_pairs + 2 * p[i], 2);
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}
/* A JSON string (quotes included); s is UTF-8. */
static void sb_jstr(struct sbuf *b, const char *s, size_t n)
{
    if (truth_off)
        return;
    static const char hx[] = "0123456789abcdef";
    sb_need(b, 6 * n + 2);
    b->p[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        /* Copy the run of bytes that need no escape in one go. */
        size_t j = i;
        while (j < n && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\')
            j++;
        if (j > i) {
            memcpy(b->p + b->len, s + i, j - i);
            b->len += j - i;
            i = j;
            if (i == n)
                break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = (char)c;
        } else if (c < 0x20) {
            memcpy(b->p + b->len, "\\u00", 4);
            b->len += 4;
            b->p[b->len++] = hx[c >> 4];
            b->p[b->len++] = hx[c & 15];
        } else {
            b->p[b->len++] = (char)c;
        }
    }
    b->p[b->len++] = '"';
}
static inline void sb_jcstr(struct sbuf *b, const char *s)
{
    if (s)
        sb_jstr(b, s, strlen(s));
    else
        sb_lit(b, "null");
}
/* ,"key": with the key a string literal, so its length is a constant. */
#define sb_key(b, k) sb_lit((b), ",\"" k "\":")
#define sb_kv_u(b, k, v) do { sb_key((b), k); sb_u64((b), (v)); } while (0)
/* For strings this program made up (addresses, ids, names): they hold no
 * character JSON must escape, so they are quoted without a scan. */
#define sb_kv_s(b, k, v) do { sb_key((b), k); sb_qstr((b), (v)); } while (0)
static inline void sb_qstr(struct sbuf *b, const char *v)
{
    if (truth_off)
        return;
    if (!v) {
        sb_lit(b, "null");
        return;
    }
    size_t n = strlen(v);
    sb_need(b, n + 2);
    b->p[b->len++] = '"';
    memcpy(b->p + b->len, v, n);
    b->len += n;
    b->p[b->len++] = '"';
}

/* ------------------------------------------------------------------ */
/* Options. */

enum {
    SEG_ONE = 1 << 0,      /* one PDU per segment */
    SEG_COALESCE = 1 << 1, /* several PDUs in one segment */
    SEG_SPLIT = 1 << 2,    /* one PDU over many segments */
    SEG_OOO = 1 << 3,      /* adjacent segments swapped */
    SEG_RETRANS = 1 << 4,  /* a segment sent again later */
    SEG_OVERLAP = 1 << 5,  /* a retransmission that overlaps two segments */
    SEG_GAP = 1 << 6,      /* a segment missing from the capture */
    SEG_MIDSTART = 1 << 7, /* flows open at capture start begin mid-PDU */
    SEG_FIN = 1 << 8,      /* sessions end with FIN */
    SEG_RST = 1 << 9,      /* sessions end with RST */
};
static const struct {
    const char *name;
    unsigned bits;
} seg_names[] = {
    {"one", SEG_ONE},         {"coalesce", SEG_COALESCE}, {"split", SEG_SPLIT},
    {"ooo", SEG_OOO},         {"retrans", SEG_RETRANS},   {"overlap", SEG_OVERLAP},
    {"gap", SEG_GAP},         {"midstart", SEG_MIDSTART}, {"fin", SEG_FIN},
    {"rst", SEG_RST},
    /* Everything tshark 4.0 also decodes completely (it does not reassemble
     * a PDU whose first segment holds part of the header: no split). */
    {"clean", SEG_ONE | SEG_COALESCE | SEG_OOO | SEG_RETRANS | SEG_OVERLAP | SEG_FIN | SEG_RST},
    {"all", 0x3FF},
};

enum { LINK_EN10MB, LINK_SLL2, LINK_RAW };

struct opts {
    const char *out, *truth, *corpus;
    uint64_t seed;
    uint64_t pdus, messages;
    unsigned sessions;
    double ipv6_share, vlan_share, open_share, perturb_rate;
    unsigned seg;
    int seg_explicit;
    int link;
    int pcapng;
    int no_truth;
};

/* ------------------------------------------------------------------ */
/* The world: SMSC links, accounts, sessions. */

enum { IDF_HEXU, IDF_HEXL, IDF_DEC };
enum { RS_TEXT_TLV, RS_TEXT, RS_TLV_ONLY };

struct smsc_link {
    const char *system_id; /* the SMSC's name in bind_resp */
    uint8_t v4[4];
    const char *v6;
    uint16_t port;
    uint16_t vlan;
    int id_fmt;       /* message_id in submit_sm_resp */
    int rcpt_fmt;     /* id: in the receipt text (may differ: field notes) */
    int rcpt_style;   /* text and TLVs, text only, TLVs only */
    int rcpt_order;   /* 0 standard field order, 1 stat first, "Text:" */
    int kannel;       /* answers in bursts of up to nine responses */
    double throttle;  /* share of submit_sm_resp with an error */
};

static const struct smsc_link links[] = {
    {"kannel-msk", {10, 20, 0, 10}, "2001:db8:20::10", 2775, 110, IDF_HEXU, IDF_DEC, RS_TEXT_TLV, 0, 1, 0.03},
    {"smsc-spb", {10, 20, 1, 20}, "2001:db8:20:1::20", 9000, 120, IDF_DEC, IDF_DEC, RS_TEXT, 1, 0, 0.02},
    {"smsc-nsk", {10, 20, 2, 30}, "2001:db8:20:2::30", 2345, 130, IDF_HEXL, IDF_HEXL, RS_TLV_ONLY, 0, 0, 0.02},
    {"smsc-ekb", {10, 20, 3, 40}, "2001:db8:20:3::40", 12028, 140, IDF_DEC, IDF_HEXU, RS_TEXT_TLV, 0, 1, 0.04},
};
#define NLINKS ((int)(sizeof links / sizeof links[0]))

enum { PROF_QIWI, PROF_YOO, PROF_TINKOFF, PROF_SBER, PROF_AGG, PROF_NODE, PROF_P2P, PROF_SPAM };
enum { CONCAT_UDH8, CONCAT_UDH16, CONCAT_SAR, CONCAT_PAYLOAD };

struct account {
    const char *system_id, *password, *system_type;
    int profile;
    uint32_t bind_cmd;
    int link;
    int weight;     /* share of sessions */
    int window;     /* most messages per exchange */
    int concat;     /* preferred multipart method */
    int node_habit; /* dc 0x01 for GSM, naive splits, 2-3 submits per segment */
    int dlt;        /* vendor TLV 0x1400 on every submit */
    int latin1;     /* prefers data_coding 3 for Latin text */
};

static const struct account accounts[] = {
    {"qiwi_otp", "Qw1p4ss", "OTP", PROF_QIWI, CMD_BIND_TRANSCEIVER, 0, 10, 3, CONCAT_UDH8, 0, 0, 0},
    {"yoomoney", "yM0ney!", "", PROF_YOO, CMD_BIND_TRANSCEIVER, 1, 6, 2, CONCAT_UDH8, 0, 0, 0},
    {"tinkoff_otp", "tcs2024", "OTP", PROF_TINKOFF, CMD_BIND_TRANSCEIVER, 2, 6, 3, CONCAT_UDH16, 0, 0, 0},
    {"sber_otp", "sb900", "", PROF_SBER, CMD_BIND_TRANSCEIVER, 3, 8, 4, CONCAT_SAR, 0, 0, 0},
    {"agg_bulk1", "bulkpw", "BULK", PROF_AGG, CMD_BIND_TRANSCEIVER, 0, 10, 8, CONCAT_SAR, 0, 1, 0},
    {"agg_bulk2", "nodejs", "", PROF_NODE, CMD_BIND_TRANSCEIVER, 1, 6, 3, CONCAT_UDH8, 1, 0, 0},
    {"mvno_p2p", "p2p", "", PROF_P2P, CMD_BIND_TRANSMITTER, 3, 6, 6, CONCAT_UDH8, 0, 0, 1},
    {"spam_farm7", "123456", "", PROF_SPAM, CMD_BIND_TRANSMITTER, 2, 8, 10, CONCAT_PAYLOAD, 0, 0, 0},
};
#define NACCOUNTS ((int)(sizeof accounts / sizeof accounts[0]))

/* Pending delivery receipt, queued when a submit_sm_resp said ESME_ROK. */
struct pending_rcpt {
    uint64_t idval;       /* the SMSC's message id as a number */
    uint64_t submit_us;
    char resp_id[24];     /* as written in submit_sm_resp */
    char src[24], dst[24];
    uint8_t src_ton, src_npi;
    uint8_t resp_seen;    /* the decoder could have seen the resp */
    char text20[64];      /* first 20 characters, non-GSM as '?' (UTF-8 = ASCII) */
};
#define RCPT_QUEUE 32

struct session {
    int active;
    int acct, link;
    int v6;
    uint16_t vlan;
    uint8_t ip[2][16];    /* [0] client (ESME), [1] server (SMSC) */
    uint16_t port[2];
    uint8_t mac[2][6];
    char ep[2][64];       /* "ip:port" as the truth writes it */
    uint32_t tcpseq[2];   /* next sequence number each side sends */
    uint16_t ipid[2];
    uint32_t seqnum[2];   /* SMPP sequence_number counters (ESME, SMSC) */
    int bound;            /* bind exchange done (or open at start) */
    int bind_seen;        /* the decoder saw the bind: account known */
    int midstart;         /* first client batch starts mid-PDU */
    int handshake;        /* the capture holds the SYN */
    int nbatches[2];
    uint32_t exchanges_left;
    uint16_t udh_ref;
    /* spam campaign run */
    int camp, camp_left;
    uint64_t camp_base;
    uint32_t camp_step;
    struct pending_rcpt rq[RCPT_QUEUE];
    int rq_head, rq_len;
};

/* ------------------------------------------------------------------ */
/* One exchange: a batch of requests from one side and the batch of
 * responses from the other. */

#define EX_MAX_PDUS 48
#define BATCH_MAX (96 * 1024)
#define MAX_PARTS 8
#define EX_MAX_MSGS 16

struct pdu_rec {
    uint32_t start, end;       /* bytes in the batch */
    uint32_t json_off, json_len; /* truth line after "frame":N */
    uint64_t frame;
    uint8_t lost;              /* LOST_* */
    uint32_t command_id, seqnum;
    int msg_last;              /* index of the message this PDU completes, or -1 */
    int msg;                   /* message this PDU is a part of, or -1 */
    int rcpt;                  /* index of the receipt it carries, or -1 */
};

enum { LOST_NO, LOST_GAP, LOST_BEFORE_CAPTURE };

struct batch {
    int dir;                   /* 0 ESME->SMSC, 1 SMSC->ESME */
    uint8_t buf[BATCH_MAX];
    uint32_t len;
    struct pdu_rec pdu[EX_MAX_PDUS];
    int npdu;
};

struct msg_plan {
    uint32_t command_id;
    const char *label, *campaign, *concat;
    char src[24], dst[24];
    uint8_t src_ton, src_npi, dc, registered;
    uint32_t text_off, text_len; /* UTF-8 in ex->text */
    uint32_t ia5_off, ia5_len;   /* the octets read as IA5, when that reading is plausible too */
    int nparts;
    int req_pdu[MAX_PARTS];
    int resp_pdu[MAX_PARTS];   /* -1: no response in this capture */
    uint32_t status[MAX_PARTS];
    char msgid[MAX_PARTS][24];
    uint64_t idval[MAX_PARTS];
    char text20[64];
};

struct rcpt_plan {
    char text_id[24], tlv_id[24], resp_id[24];
    int has_text_id, has_tlv;
    const char *stat, *err;
    int mstate;
    int tied;
};

struct exchange {
    struct batch b[2];       /* [0] requests, [1] responses */
    struct msg_plan msg[EX_MAX_MSGS];
    int nmsg;
    struct rcpt_plan rcpt[EX_MAX_PDUS];
    int nrcpt;
    char text[64 * 1024];
    uint32_t text_len;
    struct sbuf js;          /* pdu truth fragments */
};

/* Corpus lines (ham/spam TAB text), loaded once. */
struct corpus {
    char *data;
    uint32_t *ham, *spam;    /* offsets of NUL-terminated texts */
    size_t nham, nspam;
};

struct gen {
    struct opts o;
    struct rng r;
    pcap_t *pd;
    pcap_dumper_t *dump;
    FILE *pf, *tf;
    int dlt;
    uint64_t now_us;
    uint64_t frame;
    uint64_t budget;         /* PDUs still to write (--pdus) */
    uint64_t st_pdus, st_lost, st_msgs, st_rcpts, st_sessions, st_bytes;
    uint64_t link_ctr[NLINKS];
    int acct_weight_total;
    struct session *sess;
    struct exchange ex;
    struct sbuf line;
    uint8_t pkt[2048];
    uint32_t seen[BATCH_MAX];
    struct corpus corp;
};

/* ------------------------------------------------------------------ */
/* SMPP encoding into a batch. */

static inline void put8(struct batch *b, uint8_t v)
{
    if (b->len + 1 > BATCH_MAX)
        die("internal: batch overflow");
    b->buf[b->len++] = v;
}
static inline void put16(struct batch *b, uint16_t v)
{
    put8(b, (uint8_t)(v >> 8));
    put8(b, (uint8_t)v);
}
static inline void put32(struct batch *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b, (uint16_t)v);
}
static inline void putmem(struct batch *b, const void *p, size_t n)
{
    if (n == 0) /* p may be NULL (an empty short_message) */
        return;
    if (b->len + n > BATCH_MAX)
        die("internal: batch overflow");
    memcpy(b->buf + b->len, p, n);
    b->len += (uint32_t)n;
}
static inline void putcstr(struct batch *b, const char *s) { putmem(b, s, strlen(s) + 1); }
static inline void puttlv(struct batch *b, uint16_t tag, const void *v, uint16_t n)
{
    put16(b, tag);
    put16(b, n);
    putmem(b, v, n);
}

/* Starts a PDU: header with a length patched by pdu_end; starts its truth
 * fragment.  Returns the PDU index. */
static int pdu_begin(struct exchange *ex, struct batch *b, const struct session *s, uint32_t cmd,
                     uint32_t status, uint32_t seqnum)
{
    if (b->npdu >= EX_MAX_PDUS)
        die("internal: too many PDUs in one batch");
    int i = b->npdu++;
    struct pdu_rec *pr = &b->pdu[i];
    memset(pr, 0, sizeof *pr);
    pr->start = b->len;
    pr->command_id = cmd;
    pr->seqnum = seqnum;
    pr->msg_last = pr->msg = pr->rcpt = -1;
    put32(b, 0);
    put32(b, cmd);
    put32(b, status);
    put32(b, seqnum);
    pr->json_off = (uint32_t)ex->js.len;
    struct sbuf *j = &ex->js;
    sb_kv_s(j, "src", s->ep[b->dir]);
    sb_kv_s(j, "dst", s->ep[!b->dir]);
    sb_kv_s(j, "command", cmd_name(cmd));
    sb_kv_u(j, "command_id", cmd);
    sb_lit(j, ",\"command_length\":");
    /* the length is written in pdu_end */
    return i;
}

static void pdu_end(struct exchange *ex, struct batch *b, int i, uint32_t status)
{
    struct pdu_rec *pr = &b->pdu[i];
    pr->end = b->len;
    uint32_t len = pr->end - pr->start;
    uint8_t *h = b->buf + pr->start;
    h[0] = (uint8_t)(len >> 24);
    h[1] = (uint8_t)(len >> 16);
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    (void)status;
    pr->json_len = (uint32_t)ex->js.len - pr->json_off;
}

/* Each builder knows every field before writing, so it writes the
 * command_length into the truth fragment first (sm_body_len and friends) and
 * pdu_end patches the same value into the header. */

struct sm_fields {
    const char *service_type;
    uint8_t src_ton, src_npi;
    const char *src;
    uint8_t dst_ton, dst_npi;
    const char *dst;
    uint8_t esm_class, protocol_id, priority, registered, dc;
    const uint8_t *sm;
    uint32_t sm_len;
    int sar;
    uint16_t sar_ref;
    uint8_t sar_total, sar_seq;
    const uint8_t *payload;
    uint32_t payload_len;
    int has_payload;
    const char *receipted_id;
    int mstate; /* -1: none */
    const uint8_t *vendor;
    uint16_t vendor_len;
};

static uint32_t sm_body_len(uint32_t cmd, const struct sm_fields *f)
{
    uint32_t n = (uint32_t)strlen(f->service_type) + 1 + 2 + (uint32_t)strlen(f->src) + 1 + 2 +
                 (uint32_t)strlen(f->dst) + 1 + 1;
    if (cmd == CMD_DATA_SM) {
        n += 2; /* registered_delivery, data_coding */
    } else {
        n += 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + f->sm_len; /* pid prio sched valid reg repl dc defid len */
    }
    if (f->sar)
        n += 6 + 5 + 5;
    if (f->has_payload)
        n += 4 + f->payload_len;
    if (f->receipted_id)
        n += 4 + (uint32_t)strlen(f->receipted_id) + 1;
    if (f->mstate >= 0)
        n += 5;
    if (f->vendor)
        n += 4u + f->vendor_len;
    return n;
}

/* submit_sm / deliver_sm (v3.4 §4.4.1, §4.6.1) and data_sm (§4.7.1). */
static int put_sm(struct exchange *ex, struct batch *b, const struct session *s, uint32_t cmd,
                  uint32_t seqnum, const struct sm_fields *f)
{
    int i = pdu_begin(ex, b, s, cmd, 0, seqnum);
    struct sbuf *j = &ex->js;
    sb_u64(j, 16 + sm_body_len(cmd, f));
    sb_kv_u(j, "command_status", 0);
    sb_kv_u(j, "sequence_number", seqnum);
    putcstr(b, f->service_type);
    put8(b, f->src_ton);
    put8(b, f->src_npi);
    putcstr(b, f->src);
    put8(b, f->dst_ton);
    put8(b, f->dst_npi);
    putcstr(b, f->dst);
    put8(b, f->esm_class);
    sb_kv_s(j, "service_type", f->service_type);
    sb_kv_u(j, "source_addr_ton", f->src_ton);
    sb_kv_u(j, "source_addr_npi", f->src_npi);
    sb_kv_s(j, "source_addr", f->src);
    sb_kv_u(j, "dest_addr_ton", f->dst_ton);
    sb_kv_u(j, "dest_addr_npi", f->dst_npi);
    sb_kv_s(j, "destination_addr", f->dst);
    sb_kv_u(j, "esm_class", f->esm_class);
    if (cmd == CMD_DATA_SM) {
        put8(b, f->registered);
        put8(b, f->dc);
        sb_kv_u(j, "registered_delivery", f->registered);
        sb_kv_u(j, "data_coding", f->dc);
    } else {
        put8(b, f->protocol_id);
        put8(b, f->priority);
        put8(b, 0); /* schedule_delivery_time "" */
        put8(b, 0); /* validity_period "" */
        put8(b, f->registered);
        put8(b, 0); /* replace_if_present_flag */
        put8(b, f->dc);
        put8(b, 0); /* sm_default_msg_id */
        put8(b, (uint8_t)f->sm_len);
        putmem(b, f->sm, f->sm_len);
        sb_kv_u(j, "protocol_id", f->protocol_id);
        sb_kv_u(j, "priority_flag", f->priority);
        sb_kv_u(j, "registered_delivery", f->registered);
        sb_kv_u(j, "data_coding", f->dc);
        sb_kv_u(j, "sm_length", f->sm_len);
        sb_key(j, "short_message");
        sb_hex(j, f->sm, f->sm_len);
    }
    if (f->sar) {
        uint8_t r[2] = {(uint8_t)(f->sar_ref >> 8), (uint8_t)f->sar_ref};
        puttlv(b, TLV_SAR_MSG_REF_NUM, r, 2);
        puttlv(b, TLV_SAR_TOTAL_SEGMENTS, &f->sar_total, 1);
        puttlv(b, TLV_SAR_SEGMENT_SEQNUM, &f->sar_seq, 1);
        sb_kv_u(j, "sar_msg_ref_num", f->sar_ref);
        sb_kv_u(j, "sar_total_segments", f->sar_total);
        sb_kv_u(j, "sar_segment_seqnum", f->sar_seq);
    }
    if (f->has_payload) {
        puttlv(b, TLV_MESSAGE_PAYLOAD, f->payload, (uint16_t)f->payload_len);
        sb_key(j, "message_payload");
        sb_hex(j, f->payload, f->payload_len);
    }
    if (f->receipted_id) {
        puttlv(b, TLV_RECEIPTED_MESSAGE_ID, f->receipted_id, (uint16_t)(strlen(f->receipted_id) + 1));
        sb_kv_s(j, "receipted_message_id", f->receipted_id);
    }
    if (f->mstate >= 0) {
        uint8_t m = (uint8_t)f->mstate;
        puttlv(b, TLV_MESSAGE_STATE, &m, 1);
        sb_kv_u(j, "message_state", m);
    }
    if (f->vendor) {
        puttlv(b, TLV_VENDOR_DLT_ENTITY, f->vendor, f->vendor_len);
        sb_key(j, "tlv_0x1400");
        sb_hex(j, f->vendor, f->vendor_len);
    }
    sb_lit(j, "}\n");
    pdu_end(ex, b, i, 0);
    return i;
}

/* A response carrying message_id (submit_sm_resp, data_sm_resp,
 * deliver_sm_resp).  With id NULL the body is left out, as SMSCs do on
 * errors (v3.4 §4.4.2: "the body ... is not returned" on error). */
static int put_resp_id(struct exchange *ex, struct batch *b, const struct session *s, uint32_t cmd,
                       uint32_t status, uint32_t seqnum, const char *id)
{
    int i = pdu_begin(ex, b, s, cmd, status, seqnum);
    struct sbuf *j = &ex->js;
    sb_u64(j, 16 + (id ? strlen(id) + 1 : 0));
    sb_kv_u(j, "command_status", status);
    sb_kv_u(j, "sequence_number", seqnum);
    if (id) {
        putcstr(b, id);
        sb_kv_s(j, "message_id", id);
    }
    sb_lit(j, "}\n");
    /* patch status: pdu_begin wrote it already */
    pdu_end(ex, b, i, status);
    return i;
}

static int put_empty(struct exchange *ex, struct batch *b, const struct session *s, uint32_t cmd,
                     uint32_t status, uint32_t seqnum)
{
    int i = pdu_begin(ex, b, s, cmd, status, seqnum);
    struct sbuf *j = &ex->js;
    sb_u64(j, 16);
    sb_kv_u(j, "command_status", status);
    sb_kv_u(j, "sequence_number", seqnum);
    sb_lit(j, "}\n");
    pdu_end(ex, b, i, status);
    return i;
}

/* bind_transmitter / bind_transceiver (v3.4 §4.1.1). */
static int put_bind(struct exchange *ex, struct batch *b, const struct session *s, uint32_t cmd,
                    uint32_t seqnum, const struct account *a)
{
    int i = pdu_begin(ex, b, s, cmd, 0, seqnum);
    struct sbuf *j = &ex->js;
    sb_u64(j, 16 + strlen(a->system_id) + 1 + strlen(a->password) + 1 + strlen(a->system_type) + 1 + 3 + 1);
    sb_kv_u(j, "command_status", 0);
    sb_kv_u(j, "sequence_number", seqnum);
    putcstr(b, a->system_id);
    putcstr(b, a->password);
    putcstr(b, a->system_type);
    put8(b, 0x34); /* interface_version */
    put8(b, 0);    /* addr_ton */
    put8(b, 0);    /* addr_npi */
    put8(b, 0);    /* address_range "" */
    sb_kv_s(j, "system_id", a->system_id);
    sb_kv_s(j, "password", a->password);
    sb_kv_s(j, "system_type", a->system_type);
    sb_kv_u(j, "interface_version", 0x34);
    sb_lit(j, "}\n");
    pdu_end(ex, b, i, 0);
    return i;
}

static int put_bind_resp(struct exchange *ex, struct batch *b, const struct session *s, uint32_t cmd,
                         uint32_t seqnum, const char *sysid, int with_tlv)
{
    int i = pdu_begin(ex, b, s, cmd, 0, seqnum);
    struct sbuf *j = &ex->js;
    sb_u64(j, 16 + strlen(sysid) + 1 + (with_tlv ? 5 : 0));
    sb_kv_u(j, "command_status", 0);
    sb_kv_u(j, "sequence_number", seqnum);
    putcstr(b, sysid);
    sb_kv_s(j, "system_id", sysid);
    if (with_tlv) {
        uint8_t v = 0x34;
        puttlv(b, TLV_SC_INTERFACE_VERSION, &v, 1);
        sb_kv_u(j, "sc_interface_version", 0x34);
    }
    sb_lit(j, "}\n");
    pdu_end(ex, b, i, 0);
    return i;
}

/* ------------------------------------------------------------------ */
/* Packets. */

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* Internet checksum (RFC 1071 §2): the one's-complement sum is byte-order
 * independent, so words are added in host order, four bytes at a time, and
 * the folded result is stored back as it lies in memory. */
static inline uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
    uint32_t w;
    for (; n >= 4; n -= 4, p += 4) {
        memcpy(&w, p, 4);
        sum += w;
    }
    if (n >= 2) {
        uint16_t h;
        memcpy(&h, p, 2);
        sum += h;
        p += 2;
        n -= 2;
    }
    if (n) {
        uint8_t last[2] = {p[0], 0};
        uint16_t h;
        memcpy(&h, last, 2);
        sum += h;
    }
    return sum;
}
/* Folds and complements; the result goes to memory with memcpy. */
static inline uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* One packet: hdr (link, IP, TCP headers) then the payload, written
 * straight from the batch buffer (no copy into a packet buffer). */
static void write_record(struct gen *g, const uint8_t *hdr, uint32_t hlen, const uint8_t *pl, uint32_t plen)
{
    uint32_t len = hlen + plen;
    g->frame++;
    g->st_bytes += len;
    if (g->o.pcapng) {
        /* Enhanced Packet Block (pcapng §4.3), interface 0, µs resolution. */
        uint32_t pad = (4 - (len & 3)) & 3;
        uint32_t blen = 32 + len + pad;
        uint32_t h[7] = {6, blen, 0, (uint32_t)(g->now_us >> 32), (uint32_t)g->now_us, len, len};
        static const uint8_t zero[4];
        fwrite_unlocked(h, 4, 7, g->pf);
        fwrite_unlocked(hdr, 1, hlen, g->pf);
        if (plen)
            fwrite_unlocked(pl, 1, plen, g->pf);
        fwrite_unlocked(zero, 1, pad, g->pf);
        fwrite_unlocked(&blen, 4, 1, g->pf);
        return;
    }
    /* The pcap record header (ts_sec, ts_usec, caplen, len in host order),
     * written directly: pcap_dump() would do the same through locked stdio. */
    uint32_t h[4] = {(uint32_t)(g->now_us / 1000000), (uint32_t)(g->now_us % 1000000), len, len};
    fwrite_unlocked(h, 4, 4, g->pf);
    fwrite_unlocked(hdr, 1, hlen, g->pf);
    if (plen)
        fwrite_unlocked(pl, 1, plen, g->pf);
}

/* One TCP segment from side dir of session s. */
static void emit_tcp(struct gen *g, struct session *s, int dir, uint32_t seq, uint8_t flags,
                     const uint8_t *pl, uint32_t len)
{
    uint8_t *p = g->pkt;
    size_t o = 0;
    uint16_t ethertype = s->v6 ? 0x86DD : 0x0800;
    if (g->o.link == LINK_EN10MB) {
        memcpy(p, s->mac[!dir], 6);
        memcpy(p + 6, s->mac[dir], 6);
        o = 12;
        if (s->vlan) {
            p[o++] = 0x81;
            p[o++] = 0x00;
            p[o++] = (uint8_t)(s->vlan >> 8);
            p[o++] = (uint8_t)s->vlan;
        }
        p[o++] = (uint8_t)(ethertype >> 8);
        p[o++] = (uint8_t)ethertype;
    } else if (g->o.link == LINK_SLL2) {
        /* LINKTYPE_LINUX_SLL2: protocol, reserved, ifindex, ARPHRD_ETHER,
         * packet type (0 to us, 4 outgoing), address length, address[8]. */
        p[0] = (uint8_t)(ethertype >> 8);
        p[1] = (uint8_t)ethertype;
        p[2] = p[3] = 0;
        p[4] = p[5] = p[6] = 0;
        p[7] = 2;
        p[8] = 0;
        p[9] = 1;
        p[10] = dir ? 4 : 0;
        p[11] = 6;
        memcpy(p + 12, s->mac[dir], 6);
        p[18] = p[19] = 0;
        o = 20;
    }
    size_t iph = o;
    size_t tcpoff;
    uint32_t tcplen = 20 + len;
    uint64_t sum = 0;
    /* Pseudo-header tail: zero, protocol, TCP length (RFC 793 §3.1). */
    uint8_t ptail[4] = {0, 6, (uint8_t)(tcplen >> 8), (uint8_t)tcplen};
    if (!s->v6) {
        uint16_t tot = (uint16_t)(20 + tcplen);
        p[o + 0] = 0x45;
        p[o + 1] = 0;
        p[o + 2] = (uint8_t)(tot >> 8);
        p[o + 3] = (uint8_t)tot;
        p[o + 4] = (uint8_t)(s->ipid[dir] >> 8);
        p[o + 5] = (uint8_t)s->ipid[dir];
        s->ipid[dir]++;
        p[o + 6] = 0x40; /* DF */
        p[o + 7] = 0;
        p[o + 8] = dir ? 60 : 64;
        p[o + 9] = 6;
        p[o + 10] = p[o + 11] = 0;
        memcpy(p + o + 12, s->ip[dir] + 12, 4);
        memcpy(p + o + 16, s->ip[!dir] + 12, 4);
        uint16_t c = csum_fold(csum_add(0, p + o, 20));
        memcpy(p + o + 10, &c, 2);
        sum = csum_add(csum_add(0, p + o + 12, 8), ptail, 4);
        tcpoff = o + 20;
    } else {
        p[o + 0] = 0x60;
        p[o + 1] = p[o + 2] = p[o + 3] = 0;
        p[o + 4] = (uint8_t)(tcplen >> 8);
        p[o + 5] = (uint8_t)tcplen;
        p[o + 6] = 6;
        p[o + 7] = dir ? 60 : 64;
        memcpy(p + o + 8, s->ip[dir], 16);
        memcpy(p + o + 24, s->ip[!dir], 16);
        sum = csum_add(csum_add(0, p + o + 8, 32), ptail, 4);
        tcpoff = o + 40;
    }
    (void)iph;
    uint8_t *t = p + tcpoff;
    uint32_t ack = s->tcpseq[!dir];
    t[0] = (uint8_t)(s->port[dir] >> 8);
    t[1] = (uint8_t)s->port[dir];
    t[2] = (uint8_t)(s->port[!dir] >> 8);
    t[3] = (uint8_t)s->port[!dir];
    t[4] = (uint8_t)(seq >> 24);
    t[5] = (uint8_t)(seq >> 16);
    t[6] = (uint8_t)(seq >> 8);
    t[7] = (uint8_t)seq;
    if (flags & TH_ACK) {
        t[8] = (uint8_t)(ack >> 24);
        t[9] = (uint8_t)(ack >> 16);
        t[10] = (uint8_t)(ack >> 8);
        t[11] = (uint8_t)ack;
    } else {
        t[8] = t[9] = t[10] = t[11] = 0;
    }
    t[12] = 5 << 4;
    t[13] = flags;
    t[14] = 0xFA; /* window 64240 */
    t[15] = 0xF0;
    t[16] = t[17] = 0;
    t[18] = t[19] = 0;
    /* 20 header bytes, a multiple of 4: the payload's words line up. */
    uint16_t c = csum_fold(len ? csum_add(csum_add(sum, t, 20), pl, len) : csum_add(sum, t, 20));
    memcpy(t + 16, &c, 2);
    write_record(g, p, (uint32_t)(tcpoff + 20), pl, len);
}

/* ------------------------------------------------------------------ */
/* Segmentation: cut a batch into TCP segments, perturb, emit, and find for
 * each PDU the frame at which a reassembler has all of it. */

struct seg {
    uint32_t s, e;
    uint8_t drop;
};
#define MAX_SEGS 4096

static struct seg segs[MAX_SEGS];

static int mss_of(const struct session *s) { return s->v6 ? 1440 : 1460; }

enum { PERT_NONE, PERT_OOO, PERT_RETRANS, PERT_OVERLAP, PERT_GAP };

static int push_range(int n, uint32_t a, uint32_t e, uint32_t mss)
{
    while (a < e) {
        uint32_t k = e - a > mss ? mss : e - a;
        if (n >= MAX_SEGS - 8)
            die("internal: too many segments");
        segs[n].s = a;
        segs[n].e = a + k;
        segs[n].drop = 0;
        n++;
        a += k;
    }
    return n;
}

/* hint: most PDUs per segment when coalescing (0: the usual 2..9). */
static void transmit(struct gen *g, struct session *s, struct batch *b, int coalesce_hint)
{
    struct rng *r = &g->r;
    int dir = b->dir;
    uint32_t mss = (uint32_t)mss_of(s);
    unsigned seg = g->o.seg;
    int n = 0;
    if (b->npdu == 0)
        return;

    /* Base cutting. */
    int w1 = (seg & SEG_ONE) ? 60 : 0, w2 = (seg & SEG_COALESCE) ? 30 : 0, w3 = (seg & SEG_SPLIT) ? 10 : 0;
    if (coalesce_hint && w2)
        w2 = 200;
    int base = 0;
    if (w1 + w2 + w3 > 0) {
        int x = (int)rnd(r, (uint32_t)(w1 + w2 + w3));
        base = x < w1 ? 0 : x < w1 + w2 ? 1 : 2;
    }
    if (base == 0) {
        for (int i = 0; i < b->npdu; i++)
            n = push_range(n, b->pdu[i].start, b->pdu[i].end, mss);
    } else if (base == 1) {
        int maxg = coalesce_hint ? coalesce_hint : (int)rnd_range(r, 2, 9);
        for (int i = 0; i < b->npdu;) {
            int k = coalesce_hint ? (int)rnd_range(r, 2, (uint32_t)maxg) : maxg;
            int j = i + k < b->npdu ? i + k : b->npdu;
            n = push_range(n, b->pdu[i].start, b->pdu[j - 1].end, mss);
            i = j;
        }
    } else {
        /* Pieces of random size; the first piece often cuts the 16-byte
         * header.  At most ~48 pieces per PDU. */
        uint32_t maxp = (uint32_t[]){1, 3, 7, 16, 100}[rnd(r, 5)];
        for (int i = 0; i < b->npdu; i++) {
            uint32_t a = b->pdu[i].start, e = b->pdu[i].end;
            uint32_t floor_p = (e - a) / 48 + 1;
            while (a < e) {
                uint32_t k = rnd_range(r, 1, maxp);
                if (k < floor_p)
                    k = floor_p;
                if (k > e - a)
                    k = e - a;
                n = push_range(n, a, a + k, mss);
                a += k;
            }
        }
    }

    /* Midstart: the capture begins inside the first PDU of this flow. */
    int pert = PERT_NONE;
    uint32_t cut0 = 0;
    if (s->midstart && dir == 0 && s->nbatches[0] == 0) {
        uint32_t plen = b->pdu[0].end - b->pdu[0].start;
        cut0 = rnd_range(r, 1, plen - 1);
        /* Re-cut: bytes before cut0 are not in the capture. */
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (segs[i].e <= cut0)
                continue;
            segs[m] = segs[i];
            if (segs[m].s < cut0)
                segs[m].s = cut0;
            m++;
        }
        n = m;
    } else if (s->handshake || s->nbatches[dir] > 0) {
        /* Not on the first batch of a flow picked up without its SYN: with
         * no start to anchor it, "out of order" or "retransmitted" there is
         * not defined, for tshark nor for us. */
        double p = g->o.perturb_rate;
        int cand[4], nc = 0;
        if (seg & SEG_OOO) cand[nc++] = PERT_OOO;
        if (seg & SEG_RETRANS) cand[nc++] = PERT_RETRANS;
        if (seg & SEG_OVERLAP) cand[nc++] = PERT_OVERLAP;
        if (seg & SEG_GAP) cand[nc++] = PERT_GAP;
        if (nc && chance(r, p * nc))
            pert = cand[rnd(r, (uint32_t)nc)];
    }
    if ((pert == PERT_OOO || pert == PERT_OVERLAP) && n == 1 && segs[0].e - segs[0].s <= 17 && !(seg & SEG_SPLIT))
        pert = PERT_RETRANS; /* a lone header-sized PDU: cutting it would be split mode */
    if ((pert == PERT_OOO || pert == PERT_OVERLAP) && n == 1 && segs[0].e - segs[0].s >= 2) {
        /* Make room for a swap or an overlap: cut the lone segment, after
         * the 16-byte header when there is room (split mode is the one that
         * cuts headers). */
        uint32_t len0 = segs[0].e - segs[0].s;
        uint32_t mid = segs[0].s + (len0 > 17 ? rnd_range(r, 16, len0 - 1) : rnd_range(r, 1, len0 - 1));
        segs[1].s = mid;
        segs[1].e = segs[0].e;
        segs[1].drop = 0;
        segs[0].e = mid;
        n = 2;
    }
    if (pert == PERT_OOO && n >= 2) {
        int i = (int)rnd(r, (uint32_t)(n - 1));
        struct seg t = segs[i];
        segs[i] = segs[i + 1];
        segs[i + 1] = t;
    } else if (pert == PERT_RETRANS) {
        int i = (int)rnd(r, (uint32_t)n);
        int at = i + 1 + (int)rnd(r, 3);
        if (at > n)
            at = n;
        memmove(&segs[at + 1], &segs[at], (size_t)(n - at) * sizeof segs[0]);
        segs[at] = segs[i];
        n++;
    } else if (pert == PERT_OVERLAP && n >= 2) {
        int i = (int)rnd(r, (uint32_t)(n - 1));
        struct seg o;
        o.s = segs[i].s + (segs[i].e - segs[i].s) / 2;
        o.e = segs[i + 1].s + (segs[i + 1].e - segs[i + 1].s + 1) / 2;
        o.drop = 0;
        if (o.e - o.s > mss)
            o.e = o.s + mss;
        int at = i + 2 + (int)rnd(r, 2);
        if (at > n)
            at = n;
        memmove(&segs[at + 1], &segs[at], (size_t)(n - at) * sizeof segs[0]);
        segs[at] = o;
        n++;
    } else if (pert == PERT_GAP) {
        segs[rnd(r, (uint32_t)n)].drop = 1;
    }

    /* Emit, timing each segment a few microseconds after the previous. */
    uint32_t base_seq = s->tcpseq[dir];
    uint64_t frame_before = g->frame;
    int slow = (pert != PERT_NONE) || cut0;
    if (slow) {
        for (uint32_t k = 0; k < b->len; k++)
            g->seen[k] = UINT32_MAX; /* never seen: lost */
    }
    for (int i = 0; i < n; i++) {
        if (segs[i].drop)
            continue;
        g->now_us += 2 + rnd(r, 40);
        emit_tcp(g, s, dir, base_seq + segs[i].s, TH_ACK | TH_PSH, b->buf + segs[i].s, segs[i].e - segs[i].s);
        if (slow) {
            uint32_t f = (uint32_t)(g->frame - frame_before);
            for (uint32_t k = segs[i].s; k < segs[i].e; k++)
                if (g->seen[k] == UINT32_MAX)
                    g->seen[k] = f;
        } else {
            g->seen[i] = (uint32_t)(g->frame - frame_before); /* by segment */
        }
    }

    /* Completion frames: a PDU is complete when it and everything before it
     * in the batch are present, lost bytes counting as present (the
     * reassembler skips a hole; see docs/generator.md). */
    if (!slow) {
        int si = 0;
        for (int i = 0; i < b->npdu; i++) {
            struct pdu_rec *pr = &b->pdu[i];
            while (segs[si].e < pr->end)
                si++;
            pr->frame = frame_before + g->seen[si];
            pr->lost = 0;
        }
    } else {
        uint64_t cur = frame_before;
        for (int i = 0; i < b->npdu; i++) {
            struct pdu_rec *pr = &b->pdu[i];
            uint32_t mx = 0;
            int lost = 0;
            for (uint32_t k = pr->start; k < pr->end; k++) {
                if (g->seen[k] == UINT32_MAX)
                    lost = 1;
                else if (g->seen[k] > mx)
                    mx = g->seen[k];
            }
            if (frame_before + mx > cur)
                cur = frame_before + mx;
            pr->frame = cur;
            pr->lost = !lost ? LOST_NO : (cut0 && i == 0) ? LOST_BEFORE_CAPTURE : LOST_GAP;
        }
    }
    s->tcpseq[dir] += b->len;
    s->nbatches[dir]++;
}

/* ------------------------------------------------------------------ */
/* Truth writing. */

static void truth_flush_line(struct gen *g)
{
    if (truth_off)
        return;
    fwrite_unlocked(g->line.p, 1, g->line.len, g->tf);
    g->line.len = 0;
}

static void write_pdu_event(struct gen *g, struct exchange *ex, struct pdu_rec *pr, const struct session *s, int dir)
{
    struct sbuf *l = &g->line;
    if (!pr->lost) {
        sb_lit(l, "{\"event\":\"pdu\",\"frame\":");
        sb_u64(l, pr->frame);
        truth_flush_line(g);
        if (!truth_off)
            fwrite_unlocked(ex->js.p + pr->json_off, 1, pr->json_len, g->tf);
        g->st_pdus++;
        return;
    } else {
        sb_lit(l, "{\"event\":\"lost\",\"frame\":");
        sb_u64(l, pr->frame);
        sb_kv_s(l, "src", s->ep[dir]);
        sb_kv_s(l, "dst", s->ep[!dir]);
        sb_kv_s(l, "command", cmd_name(pr->command_id));
        sb_kv_u(l, "command_id", pr->command_id);
        sb_kv_u(l, "sequence_number", pr->seqnum);
        sb_kv_s(l, "reason", pr->lost == LOST_BEFORE_CAPTURE ? "before_capture" : "gap");
        sb_lit(l, "}\n");
        g->st_lost++;
    }
    truth_flush_line(g);
}

static void write_message_event(struct gen *g, struct exchange *ex, struct msg_plan *m, const struct session *s, uint64_t frame)
{
    struct sbuf *l = &g->line;
    struct batch *rq = &ex->b[0], *rs = &ex->b[1];
    int seen = 0;
    for (int k = 0; k < m->nparts; k++)
        seen += !rq->pdu[m->req_pdu[k]].lost;
    sb_lit(l, "{\"event\":\"message\",\"frame\":");
    sb_u64(l, frame);
    sb_kv_s(l, "src", s->ep[0]);
    sb_kv_s(l, "dst", s->ep[1]);
    sb_kv_s(l, "account", s->bind_seen ? accounts[s->acct].system_id : NULL);
    sb_kv_s(l, "command", cmd_name(m->command_id));
    sb_kv_s(l, "source_addr", m->src);
    sb_kv_u(l, "source_addr_ton", m->src_ton);
    sb_kv_u(l, "source_addr_npi", m->src_npi);
    sb_kv_s(l, "destination_addr", m->dst);
    sb_kv_u(l, "data_coding", m->dc);
    sb_key(l, "text");
    sb_jstr(l, ex->text + m->text_off, m->text_len);
    if (m->ia5_len) {
        sb_key(l, "text_ia5");
        sb_jstr(l, ex->text + m->ia5_off, m->ia5_len);
    }
    sb_kv_u(l, "parts", (uint64_t)m->nparts);
    sb_kv_u(l, "parts_seen", (uint64_t)seen);
    sb_key(l, "complete");
    if (seen == m->nparts)
        sb_lit(l, "true");
    else
        sb_lit(l, "false");
    sb_kv_s(l, "concat", m->concat);
    sb_kv_s(l, "label", m->label);
    sb_kv_s(l, "campaign", m->campaign);
    /* Outcome: the response to the last part, when the capture shows it. */
    int last = m->nparts - 1;
    int rp = m->resp_pdu[last];
    int resp_seen = rp >= 0 && !rs->pdu[rp].lost;
    sb_kv_s(l, "message_id", resp_seen && m->status[last] == ST_OK ? m->msgid[last] : NULL);
    sb_key(l, "command_status");
    if (resp_seen)
        sb_u64(l, m->status[last]);
    else
        sb_lit(l, "null");
    if (m->nparts > 1) {
        sb_lit(l, ",\"part_message_ids\":[");
        for (int k = 0; k < m->nparts; k++) {
            int p = m->resp_pdu[k];
            if (k)
                sb_lit(l, ",");
            sb_jcstr(l, p >= 0 && !rs->pdu[p].lost && m->status[k] == ST_OK ? m->msgid[k] : NULL);
        }
        sb_lit(l, "]");
    }
    sb_lit(l, ",\"sequence_numbers\":[");
    for (int k = 0; k < m->nparts; k++) {
        if (k)
            sb_lit(l, ",");
        sb_u64(l, rq->pdu[m->req_pdu[k]].seqnum);
    }
    sb_lit(l, "]}\n");
    truth_flush_line(g);
    g->st_msgs++;
}

static void write_receipt_event(struct gen *g, struct rcpt_plan *rc, const struct session *s, uint64_t frame, uint32_t seqnum)
{
    struct sbuf *l = &g->line;
    sb_lit(l, "{\"event\":\"receipt\",\"frame\":");
    sb_u64(l, frame);
    sb_kv_s(l, "src", s->ep[1]);
    sb_kv_s(l, "dst", s->ep[0]);
    sb_kv_u(l, "sequence_number", seqnum);
    sb_kv_s(l, "message_id", rc->has_text_id ? rc->text_id : rc->tlv_id);
    if (rc->has_tlv)
        sb_kv_s(l, "receipted_message_id", rc->tlv_id);
    sb_kv_s(l, "submit_message_id", rc->resp_id);
    sb_kv_s(l, "stat", rc->stat);
    sb_kv_s(l, "err", rc->err);
    if (rc->has_tlv)
        sb_kv_u(l, "message_state", (uint64_t)rc->mstate);
    sb_key(l, "tied");
    if (rc->tied)
        sb_lit(l, "true}\n");
    else
        sb_lit(l, "false}\n");
    truth_flush_line(g);
    g->st_rcpts++;
}

/* Sends the exchange's requests (from side req_dir), then its responses,
 * and writes the truth for both. */
static void run_exchange(struct gen *g, struct session *s, int req_dir, int hint_req, int hint_resp)
{
    struct exchange *ex = &g->ex;
    struct batch *rq = &ex->b[0], *rs = &ex->b[1];
    rq->dir = req_dir;
    rs->dir = !req_dir;
    transmit(g, s, rq, hint_req);
    if (rs->npdu) {
        /* SMSC latency (or ESME latency for receipts). */
        g->now_us += req_dir == 0 ? 200 + rnd_exp(&g->r, 1500) : 50 + rnd_exp(&g->r, 300);
        transmit(g, s, rs, hint_resp);
    }
    for (int i = 0; i < rq->npdu; i++) {
        struct pdu_rec *pr = &rq->pdu[i];
        write_pdu_event(g, ex, pr, s, rq->dir);
        if (pr->msg_last >= 0)
            write_message_event(g, ex, &ex->msg[pr->msg_last], s, pr->frame);
        if (pr->rcpt >= 0 && !pr->lost)
            write_receipt_event(g, &ex->rcpt[pr->rcpt], s, pr->frame, pr->seqnum);
    }
    for (int i = 0; i < rs->npdu; i++)
        write_pdu_event(g, ex, &rs->pdu[i], s, rs->dir);
    /* Occasionally a pure ACK from the requesting side. */
    if (rs->npdu && chance(&g->r, 0.1)) {
        g->now_us += 20 + rnd(&g->r, 200);
        emit_tcp(g, s, req_dir, s->tcpseq[req_dir], TH_ACK, NULL, 0);
    }
}

/* Empties the exchange; req_dir is the side that sends the requests (the
 * truth fragments name endpoints as the PDUs are built). */
static void ex_reset(struct exchange *ex, int req_dir)
{
    ex->b[0].dir = req_dir;
    ex->b[1].dir = !req_dir;
    ex->b[0].len = ex->b[1].len = 0;
    ex->b[0].npdu = ex->b[1].npdu = 0;
    ex->nmsg = ex->nrcpt = 0;
    ex->text_len = 0;
    ex->js.len = 0;
}

/* ------------------------------------------------------------------ */
/* Content. */

/* Zero-padded decimal of width w (no snprintf: this is per message). */
static inline char *put_dec(char *o, uint64_t v, int w)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < w)
        t[n++] = '0';
    while (n)
        *o++ = t[--n];
    return o;
}

static void fmt_msisdn(char *out, uint64_t n)
{
    out[0] = '7';
    out[1] = '9';
    *put_dec(out + 2, n % 1000000000u, 9) = 0;
}

static uint64_t rnd_subscriber(struct rng *r)
{
    /* Mobile ranges 79[0-9]{9}: operators 7900-7999. */
    return (uint64_t)rnd_range(r, 100000000, 999999999);
}

/* Expands a template into out (UTF-8). */
static size_t expand(struct rng *r, const char *tpl, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = tpl; *p && k + 32 < cap;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (e) {
                size_t n = (size_t)(e - p - 1);
                const char *key = p + 1;
                char t[32];
                t[0] = 0;
#define K(s) (n == sizeof(s) - 1 && memcmp(key, s, n) == 0)
                if (K("c4")) *put_dec(t, rnd(r, 10000), 4) = 0;
                else if (K("c5")) *put_dec(t, rnd(r, 100000), 5) = 0;
                else if (K("c6")) *put_dec(t, rnd(r, 1000000), 6) = 0;
                else if (K("amt")) *put_dec(t, rnd_range(r, 1, 500) * (rnd(r, 2) ? 10 : 1), 1) = 0;
                else if (K("l4")) *put_dec(t, rnd(r, 10000), 4) = 0;
                else if (K("n")) *put_dec(t, rnd_range(r, 10000000, 99999999), 8) = 0;
                else if (K("hh")) *put_dec(t, rnd_range(r, 8, 21), 2) = 0;
                else if (K("mm")) *put_dec(t, rnd(r, 12) * 5, 2) = 0;
                else if (K("dd")) *put_dec(t, rnd_range(r, 1, 28), 2) = 0;
                else if (K("mo")) *put_dec(t, rnd_range(r, 1, 12), 2) = 0;
                else if (K("ph")) { memcpy(t, "8800", 4); *put_dec(t + 4, rnd(r, 10000000), 7) = 0; }
                else if (K("shop")) snprintf(t, sizeof t, "%s", shops[rnd(r, SG_LEN(shops))]);
                else if (K("name")) snprintf(t, sizeof t, "%s", names[rnd(r, SG_LEN(names))]);
                else if (K("tok")) {
                    static const char al[] = "abcdefghijkmnpqrstuvwxyz23456789";
                    int len = (int)rnd_range(r, 5, 8);
                    for (int i = 0; i < len; i++)
                        t[i] = al[rnd(r, 32)];
                    t[len] = 0;
                } else {
                    out[k++] = *p++; /* a literal brace */
                    continue;
                }
#undef K
                size_t tl = strlen(t);
                memcpy(out + k, t, tl);
                k += tl;
                p = e + 1;
                continue;
            }
        }
        out[k++] = *p++;
    }
    out[k] = 0;
    return k;
}

/* ------------------------------------------------------------------ */
/* Message building: choose the encoding, cut into parts, put the PDUs. */

struct msg_in {
    const char *label, *campaign;
    const char *src;
    uint8_t src_ton, src_npi;
    uint64_t dst;
    char text[2048];
    int use_data_sm;
};

static uint64_t next_msgid(struct gen *g, int link)
{
    g->link_ctr[link] += 1 + rnd(&g->r, 3);
    return g->link_ctr[link];
}

static void fmt_id(char *out, uint64_t v, int fmt)
{
    if (fmt == IDF_DEC) {
        *put_dec(out, v, 1) = 0;
        return;
    }
    const char *hx = fmt == IDF_HEXU ? "0123456789ABCDEF" : "0123456789abcdef";
    char t[20];
    int n = 0;
    do {
        t[n++] = hx[v & 15];
        v >>= 4;
    } while (v);
    while (n < 8)
        t[n++] = '0';
    char *o = out;
    while (n)
        *o++ = t[--n];
    *o = 0;
}

/* Adds one logical message (all its parts) to the exchange: submit_sm (or
 * data_sm) into the request batch, the responses into the response batch.
 * want_resp = 0 leaves the responses out (the capture ends first). */
static void add_message(struct gen *g, struct session *s, const struct msg_in *mi, int want_resp)
{
    struct rng *r = &g->r;
    struct exchange *ex = &g->ex;
    const struct account *a = &accounts[s->acct];
    const struct smsc_link *lk = &links[s->link];
    static uint32_t cps[2048];
    static uint32_t off[2049];
    static uint8_t enc[4200];
    static char utf[8200];

    size_t tl = strlen(mi->text);
    size_t ncp = utf8_to_cps(mi->text, tl, cps, 2000);
    size_t ncp_in = ncp;
    int gsm_ok = 1, latin1_ok = 1, plain = 1; /* plain: no U+FFFD from bad UTF-8 */
    for (size_t i = 0; i < ncp; i++) {
        uint32_t c = cps[i];
        if (c > 0xFF)
            latin1_ok = 0;
        if (c == 0xFFFD)
            plain = 0;
        if (gsm_ok && gsm_code(c) == 0xFFFF)
            gsm_ok = 0;
    }
    int e;
    if (gsm_ok && !(a->latin1 && latin1_ok && chance(r, 0.7)))
        e = TXT_GSM;
    else if (latin1_ok)
        e = TXT_LATIN1;
    else {
        e = TXT_UCS2;
        /* Drop anything outside the BMP (not in our templates; the corpus
         * may have some). */
        size_t m = 0;
        for (size_t i = 0; i < ncp; i++)
            if (text_ucs2_ok(&cps[i], 1))
                cps[m++] = cps[i];
        ncp = m;
    }
    uint8_t dc = e == TXT_GSM ? (a->node_habit ? DC_IA5 : DC_GSM) : e == TXT_LATIN1 ? DC_LATIN1 : DC_UCS2;
    uint32_t single = e == TXT_UCS2 ? 140 : e == TXT_LATIN1 ? 140 : 160;
    int concat = a->concat;
    if (mi->use_data_sm)
        concat = CONCAT_PAYLOAD;
    if (concat == CONCAT_PAYLOAD && !mi->use_data_sm && chance(r, 0.5))
        concat = CONCAT_UDH8;
    if (concat == CONCAT_SAR && chance(r, 0.5))
        concat = CONCAT_UDH8;
    uint32_t cap = e == TXT_UCS2 ? (concat == CONCAT_UDH16 ? 132 : 134)
                                 : e == TXT_LATIN1 ? (concat == CONCAT_UDH16 ? 133 : 134)
                                                   : (concat == CONCAT_UDH16 ? 152 : 153);
    size_t blen = text_encode(e, cps, ncp, enc, off);

    /* Parts: cut at capacity on character boundaries (node-smpp cuts at
     * the byte, even inside a GSM escape: field notes). */
    uint32_t cut[MAX_PARTS + 1];
    int nparts = 1;
    cut[0] = 0;
    if (concat == CONCAT_PAYLOAD || blen <= single) {
        if (blen > 1200) { /* keep payloads under one PDU's worth */
            size_t k = ncp;
            while (k > 0 && off[k] > 1200)
                k--;
            ncp = k;
            blen = off[k];
        }
        cut[1] = (uint32_t)blen;
    } else {
        size_t ci = 0; /* code point index */
        uint32_t pos = 0;
        while (pos < blen && nparts <= MAX_PARTS) {
            uint32_t lim = pos + cap;
            if (lim >= blen) {
                cut[nparts++] = (uint32_t)blen;
                pos = (uint32_t)blen;
                break;
            }
            if (a->node_habit) {
                pos = lim;
            } else {
                while (ci < ncp && off[ci + 1] <= lim)
                    ci++;
                pos = off[ci];
            }
            if (nparts == MAX_PARTS) {
                /* Too long: truncate at the end of the last allowed part. */
                size_t k = ncp;
                while (k > 0 && off[k] > pos)
                    k--;
                ncp = k;
                blen = off[k];
                cut[nparts++] = (uint32_t)blen;
                break;
            }
            cut[nparts++] = pos;
        }
        nparts--;
    }
    if (concat != CONCAT_PAYLOAD && nparts == 1)
        cut[1] = (uint32_t)blen;

    /* Truth text = what was actually sent. */
    size_t ul = 0;
    if (plain && ncp == ncp_in && ncp < 2000) {
        memcpy(utf, mi->text, tl); /* unchanged: the template's UTF-8 as is */
        ul = tl;
    } else {
        for (size_t i = 0; i < ncp; i++)
            ul += utf8_put(cps[i], utf + ul);
    }
    if (ex->text_len + ul > sizeof ex->text)
        die("internal: exchange text overflow");
    if (ex->nmsg >= EX_MAX_MSGS)
        die("internal: too many messages in one exchange");
    struct msg_plan *m = &ex->msg[ex->nmsg];
    int mi_idx = ex->nmsg++;
    memcpy(ex->text + ex->text_len, utf, ul);
    m->text_off = ex->text_len;
    m->text_len = (uint32_t)ul;
    ex->text_len += (uint32_t)ul;
    /* data_coding 1 with unpacked GSM (node-smpp): when every octet is also
     * printable IA5 and some differ between the two tables (@ $ _ Ä Ö Ñ Ü §
     * ¿ ä ö ñ ü à ¤ ¡ and the escapes' codes), nothing in the octets says which
     * was meant; the truth gives the IA5 reading too. */
    m->ia5_len = 0;
    if (dc == DC_IA5) {
        int printable = 1, differs = 0;
        for (size_t i = 0; i < blen; i++) {
            uint8_t c = enc[i];
            if (c < 0x20 || c > 0x7E)
                printable = 0;
            else if (c == 0x24 || c == 0x40 || (c >= 0x5B && c <= 0x60) || c >= 0x7B)
                differs = 1;
        }
        if (printable && differs && ex->text_len + blen <= sizeof ex->text) {
            memcpy(ex->text + ex->text_len, enc, blen);
            m->ia5_off = ex->text_len;
            m->ia5_len = (uint32_t)blen;
            ex->text_len += (uint32_t)blen;
        }
    }
    m->command_id = mi->use_data_sm ? CMD_DATA_SM : CMD_SUBMIT_SM;
    m->label = mi->label;
    m->campaign = mi->campaign;
    m->concat = nparts == 1 ? (concat == CONCAT_PAYLOAD ? "payload" : "none")
                            : concat == CONCAT_UDH8    ? "udh8"
                            : concat == CONCAT_UDH16   ? "udh16"
                                                       : "sar";
    size_t sl = strlen(mi->src);
    if (sl >= sizeof m->src)
        sl = sizeof m->src - 1;
    memcpy(m->src, mi->src, sl);
    m->src[sl] = 0;
    fmt_msisdn(m->dst, mi->dst);
    m->src_ton = mi->src_ton;
    m->src_npi = mi->src_npi;
    m->dc = dc;
    m->registered = (a->profile <= PROF_SBER || a->profile == PROF_AGG || chance(r, 0.3)) ? 1 : 0;
    m->nparts = nparts;
    /* Receipt text: first 20 characters, '?' for what differs from ASCII. */
    {
        size_t k = 0;
        for (size_t i = 0; i < ncp && i < 20; i++) {
            uint32_t c = cps[i];
            int same = (c >= 0x20 && c <= 0x23) || (c >= 0x25 && c <= 0x3F) || (c >= 0x41 && c <= 0x5A) ||
                       (c >= 0x61 && c <= 0x7A);
            m->text20[k++] = same ? (char)c : '?';
        }
        m->text20[k] = 0;
    }

    uint16_t ref = ++s->udh_ref;
    uint8_t partbuf[300];
    for (int k = 0; k < nparts; k++) {
        struct sm_fields f;
        memset(&f, 0, sizeof f);
        f.service_type = "";
        f.src_ton = mi->src_ton;
        f.src_npi = mi->src_npi;
        f.src = m->src;
        f.dst_ton = 1;
        f.dst_npi = 1;
        f.dst = m->dst;
        f.registered = m->registered;
        f.dc = dc;
        f.mstate = -1;
        uint32_t a0 = cut[k], a1 = cut[k + 1];
        if (concat == CONCAT_PAYLOAD || (mi->use_data_sm)) {
            f.has_payload = 1;
            f.payload = enc;
            f.payload_len = (uint32_t)blen;
        } else if (nparts == 1) {
            f.sm = enc;
            f.sm_len = (uint32_t)blen;
        } else if (concat == CONCAT_SAR) {
            f.sm = enc + a0;
            f.sm_len = a1 - a0;
            f.sar = 1;
            f.sar_ref = ref;
            f.sar_total = (uint8_t)nparts;
            f.sar_seq = (uint8_t)(k + 1);
        } else {
            /* TS 23.040 §9.2.3.24.1 (IEI 0x00) and .8 (IEI 0x08). */
            size_t h = 0;
            if (concat == CONCAT_UDH16) {
                partbuf[h++] = 6;
                partbuf[h++] = 0x08;
                partbuf[h++] = 4;
                partbuf[h++] = (uint8_t)(ref >> 8);
                partbuf[h++] = (uint8_t)ref;
            } else {
                partbuf[h++] = 5;
                partbuf[h++] = 0x00;
                partbuf[h++] = 3;
                partbuf[h++] = (uint8_t)ref;
            }
            partbuf[h++] = (uint8_t)nparts;
            partbuf[h++] = (uint8_t)(k + 1);
            memcpy(partbuf + h, enc + a0, a1 - a0);
            f.sm = partbuf;
            f.sm_len = (uint32_t)h + (a1 - a0);
            f.esm_class = ESM_UDHI;
        }
        uint8_t dlt[20];
        if (a->dlt) {
            /* A 17-digit DLT entity id, fixed per account. */
            memcpy(dlt, "1101", 4);
            put_dec((char *)dlt + 4, (uint64_t)s->acct * 7919u + 12345u, 13);
            f.vendor = dlt;
            f.vendor_len = 17;
        }
        uint32_t sq = s->seqnum[0]++;
        int pi = put_sm(ex, &ex->b[0], s, m->command_id, sq, &f);
        ex->b[0].pdu[pi].msg = mi_idx;
        m->req_pdu[k] = pi;
        if (k == nparts - 1)
            ex->b[0].pdu[pi].msg_last = mi_idx;

        /* The SMSC's answer. */
        double thr = lk->throttle * (a->profile == PROF_SPAM ? 3 : 1);
        uint32_t st = ST_OK;
        if (chance(r, thr)) {
            uint32_t x = rnd(r, 10);
            st = x < 6 ? ST_RTHROTTLED : x < 9 ? ST_RMSGQFUL : ST_RINVDSTADR;
        }
        m->status[k] = st;
        m->idval[k] = next_msgid(g, s->link);
        fmt_id(m->msgid[k], m->idval[k], lk->id_fmt);
        m->resp_pdu[k] = -1;
        if (want_resp) {
            const char *id = st == ST_OK ? m->msgid[k] : (chance(r, 0.5) ? "" : NULL);
            m->resp_pdu[k] =
                put_resp_id(ex, &ex->b[1], s, m->command_id | CMD_RESP, st, sq, id);
        }
    }
}

/* What an account sends next. */
static void pick_content(struct gen *g, struct session *s, struct msg_in *mi)
{
    struct rng *r = &g->r;
    const struct account *a = &accounts[s->acct];
    const char *tpl = NULL;
    mi->campaign = NULL;
    mi->text[0] = 0;
    mi->use_data_sm = 0;
    mi->dst = rnd_subscriber(r);
    mi->src_ton = 5; /* alphanumeric */
    mi->src_npi = 0;
    mi->label = "otp";
    switch (a->profile) {
    case PROF_QIWI:
        tpl = tpl_otp_qiwi[rnd(r, SG_LEN(tpl_otp_qiwi))];
        if (chance(r, 0.2)) {
            mi->src = "7494";
            mi->src_ton = 3; /* network specific: short code */
        } else {
            mi->src = "QIWI";
        }
        break;
    case PROF_YOO:
        tpl = tpl_otp_yoo[rnd(r, SG_LEN(tpl_otp_yoo))];
        mi->src = "YooMoney";
        break;
    case PROF_TINKOFF:
        tpl = tpl_otp_tinkoff[rnd(r, SG_LEN(tpl_otp_tinkoff))];
        mi->src = "Tinkoff";
        break;
    case PROF_SBER:
        tpl = tpl_otp_sber[rnd(r, SG_LEN(tpl_otp_sber))];
        if (chance(r, 0.3)) {
            mi->src = "900";
            mi->src_ton = 3;
        } else {
            mi->src = "SBER";
        }
        break;
    case PROF_AGG: {
        uint32_t x = rnd(r, 100);
        if (x < 55) {
            mi->label = "ham";
            tpl = tpl_ham_service[rnd(r, SG_LEN(tpl_ham_service))];
            mi->src = service_senders[rnd(r, SG_LEN(service_senders))];
        } else if (x < 80) {
            mi->label = "otp";
            tpl = tpl_otp_other[rnd(r, SG_LEN(tpl_otp_other))];
            mi->src = rnd(r, 2) ? "Gosuslugi" : "Ozon";
        } else {
            /* Aggregators carry some grey loan traffic too. */
            mi->label = "spam";
            mi->campaign = "loan1";
            tpl = tpl_loan1[rnd(r, SG_LEN(tpl_loan1))];
            mi->src = "Zaim24";
        }
        break;
    }
    case PROF_NODE:
    case PROF_P2P: {
        int from_corpus = g->corp.nham && chance(r, a->profile == PROF_NODE ? 0.8 : 0.4);
        int spam = a->profile == PROF_NODE && chance(r, 0.15);
        if (a->profile == PROF_P2P) {
            static char msisdn[24];
            fmt_msisdn(msisdn, rnd_subscriber(r));
            mi->src = msisdn;
            mi->src_ton = 1;
            mi->src_npi = 1;
        } else {
            mi->src = service_senders[rnd(r, SG_LEN(service_senders))];
        }
        if (spam) {
            mi->label = "spam";
            if (chance(r, 0.25)) {
                /* Escapes, cut naively by node-smpp: parts end inside one. */
                mi->campaign = "promo_esc";
                tpl = tpl_promo_esc[0];
            } else if (g->corp.nspam && from_corpus) {
                mi->campaign = "corpus_spam";
                snprintf(mi->text, sizeof mi->text, "%s", g->corp.data + g->corp.spam[rnd(r, (uint32_t)g->corp.nspam)]);
            } else {
                mi->campaign = "spam_en";
                tpl = tpl_spam_en[rnd(r, SG_LEN(tpl_spam_en))];
            }
        } else {
            mi->label = "ham";
            if (from_corpus)
                snprintf(mi->text, sizeof mi->text, "%s", g->corp.data + g->corp.ham[rnd(r, (uint32_t)g->corp.nham)]);
            else if (a->profile == PROF_P2P)
                tpl = tpl_ham_p2p[rnd(r, SG_LEN(tpl_ham_p2p))];
            else
                tpl = tpl_ham_en[rnd(r, SG_LEN(tpl_ham_en))];
        }
        break;
    }
    case PROF_SPAM:
    default: {
        /* Campaign runs: one text family to a block of recipients. */
        if (s->camp_left <= 0) {
            int tot = 0;
            for (int i = 0; i < CAMP_COUNT; i++)
                tot += campaigns[i].prob;
            int x = (int)rnd(r, (uint32_t)tot), c = 0;
            while (x >= campaigns[c].prob)
                x -= campaigns[c++].prob;
            s->camp = c;
            s->camp_left = (int)rnd_range(r, 20, 300);
            s->camp_base = rnd_subscriber(r);
            s->camp_step = rnd_range(r, 1, 13);
        }
        s->camp_left--;
        s->camp_base += s->camp_step;
        mi->dst = s->camp_base % 1000000000ull;
        const struct campaign *c = &campaigns[s->camp];
        mi->campaign = c->id;
        mi->label = "spam";
        tpl = c->tpl[rnd(r, (uint32_t)c->ntpl)];
        if (s->camp == CAMP_SPAM_EN && g->corp.nspam && chance(r, 0.7)) {
            tpl = NULL;
            mi->campaign = "corpus_spam";
            snprintf(mi->text, sizeof mi->text, "%s", g->corp.data + g->corp.spam[rnd(r, (uint32_t)g->corp.nspam)]);
        }
        uint32_t y = rnd(r, 100);
        if (s->camp == CAMP_PHISH_QIWI || s->camp == CAMP_PHISH_SBER || s->camp == CAMP_PHISH_TINKOFF) {
            const char *brand = s->camp == CAMP_PHISH_QIWI ? "QIWI" : s->camp == CAMP_PHISH_SBER ? "SBER" : "Tinkoff";
            if (y < 40) {
                mi->src = brand; /* spoofed: a protected ID from the wrong account */
                mi->label = "spoof";
            } else if (y < 80) {
                mi->label = "lookalike";
                if (s->camp == CAMP_PHISH_QIWI)
                    mi->src = lookalike_qiwi[rnd(r, SG_LEN(lookalike_qiwi))];
                else if (s->camp == CAMP_PHISH_SBER)
                    mi->src = lookalike_sber[rnd(r, SG_LEN(lookalike_sber))];
                else
                    mi->src = lookalike_tinkoff[rnd(r, SG_LEN(lookalike_tinkoff))];
            } else {
                mi->src = spam_senders[rnd(r, SG_LEN(spam_senders))];
            }
        } else if (y < 5) {
            mi->src = lookalike_yoo[rnd(r, SG_LEN(lookalike_yoo))];
            mi->label = "lookalike";
        } else if (y < 35) {
            /* SIM-box style: a subscriber number as sender. */
            static char msisdn[24];
            fmt_msisdn(msisdn, rnd_subscriber(r));
            mi->src = msisdn;
            mi->src_ton = 1;
            mi->src_npi = 1;
        } else {
            mi->src = spam_senders[rnd(r, SG_LEN(spam_senders))];
        }
        mi->use_data_sm = chance(r, 0.03);
        break;
    }
    }
    if (tpl)
        expand(r, tpl, mi->text, sizeof mi->text);
    if (a->profile != PROF_SPAM && chance(r, 0.01))
        mi->use_data_sm = 1;
}

/* ------------------------------------------------------------------ */
/* Sessions. */

static void ep_format(const uint8_t *ip, int v6, uint16_t port, char *out)
{
    char a[INET6_ADDRSTRLEN];
    if (v6) {
        inet_ntop(AF_INET6, ip, a, sizeof a);
        snprintf(out, 64, "[%s]:%u", a, port);
    } else {
        inet_ntop(AF_INET, ip + 12, a, sizeof a);
        snprintf(out, 64, "%s:%u", a, port);
    }
}

static void session_init(struct gen *g, struct session *s, int open_at_start)
{
    struct rng *r = &g->r;
    memset(s, 0, sizeof *s);
    s->active = 1;
    int x = (int)rnd(r, (uint32_t)g->acct_weight_total), a = 0;
    while (x >= accounts[a].weight)
        x -= accounts[a++].weight;
    s->acct = a;
    s->link = accounts[a].link;
    const struct smsc_link *lk = &links[s->link];
    s->v6 = chance(r, g->o.ipv6_share);
    s->vlan = (g->o.link == LINK_EN10MB && chance(r, g->o.vlan_share)) ? lk->vlan : 0;
    if (s->v6) {
        inet_pton(AF_INET6, lk->v6, s->ip[1]);
        char c[64];
        snprintf(c, sizeof c, "2001:db8:30:%x::%x", a + 1, rnd_range(r, 1, 4));
        inet_pton(AF_INET6, c, s->ip[0]);
    } else {
        for (int k = 0; k < 2; k++) {
            memset(s->ip[k], 0, 10);
            s->ip[k][10] = s->ip[k][11] = 0xFF;
        }
        memcpy(s->ip[1] + 12, lk->v4, 4);
        s->ip[0][12] = 10;
        s->ip[0][13] = 30;
        s->ip[0][14] = (uint8_t)(a + 1);
        s->ip[0][15] = (uint8_t)rnd_range(r, 1, 4);
    }
    s->port[0] = (uint16_t)rnd_range(r, 32768, 60999);
    s->port[1] = lk->port;
    for (int k = 0; k < 2; k++) {
        s->mac[k][0] = 0x02;
        s->mac[k][1] = (uint8_t)k;
        memcpy(s->mac[k] + 2, s->ip[k] + 12, 4);
        ep_format(s->ip[k], s->v6, s->port[k], s->ep[k]);
    }
    s->tcpseq[0] = (uint32_t)rng_next(r);
    s->tcpseq[1] = (uint32_t)rng_next(r);
    s->ipid[0] = (uint16_t)rng_next(r);
    s->ipid[1] = (uint16_t)rng_next(r);
    s->seqnum[0] = rnd_range(r, 1, 100000);
    s->seqnum[1] = rnd_range(r, 1, 100000);
    s->udh_ref = (uint16_t)rng_next(r);
    s->exchanges_left = chance(r, 0.3) ? rnd_range(r, 5, 40) : rnd_range(r, 100, 3000);
    if (open_at_start) {
        s->bound = 1;
        s->bind_seen = 0;
        s->midstart = (g->o.seg & SEG_MIDSTART) && chance(r, g->o.seg_explicit ? 0.8 : 0.5);
        /* Receipts for messages submitted before the capture began. */
        if (accounts[a].bind_cmd == CMD_BIND_TRANSCEIVER) {
            int n = (int)rnd(r, 4);
            for (int i = 0; i < n; i++) {
                struct pending_rcpt *p = &s->rq[i];
                p->idval = next_msgid(g, s->link);
                fmt_id(p->resp_id, p->idval, lk->id_fmt);
                p->submit_us = g->now_us - rnd_range(r, 1000000, 60000000);
                fmt_msisdn(p->dst, rnd_subscriber(r));
                snprintf(p->src, sizeof p->src, "%s", a == 0 ? "QIWI" : "INFO");
                p->src_ton = 5;
                p->resp_seen = 0;
                snprintf(p->text20, sizeof p->text20, "kod ????");
            }
            s->rq_len = n;
        }
    }
    g->st_sessions++;
}

static void rcpt_push(struct session *s, const struct pending_rcpt *p)
{
    if (s->rq_len == RCPT_QUEUE) { /* full: the oldest receipt never comes */
        s->rq_head = (s->rq_head + 1) % RCPT_QUEUE;
        s->rq_len--;
    }
    s->rq[(s->rq_head + s->rq_len) % RCPT_QUEUE] = *p;
    s->rq_len++;
}

/* YYMMDDhhmm (UTC) for receipt dates; days to civil date after Howard
 * Hinnant's days_from_civil inverse (public domain), no gmtime per receipt. */
static void yymmddhhmm(uint64_t us, char *out)
{
    uint64_t t = us / 1000000;
    int64_t z = (int64_t)(t / 86400) + 719468;
    uint32_t sod = (uint32_t)(t % 86400);
    int64_t era = z / 146097;
    uint32_t doe = (uint32_t)(z - era * 146097);
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint32_t mp = (5 * doy + 2) / 153;
    uint32_t d = doy - (153 * mp + 2) / 5 + 1;
    uint32_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char *o = out;
    o = put_dec(o, (uint64_t)(y % 100), 2);
    o = put_dec(o, m, 2);
    o = put_dec(o, d, 2);
    o = put_dec(o, sod / 3600, 2);
    o = put_dec(o, sod / 60 % 60, 2);
    *o = 0;
}

static inline char *cpy(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

/* ------------------------------------------------------------------ */
/* Exchanges. */

static void do_handshake(struct gen *g, struct session *s)
{
    /* SYN, SYN/ACK, ACK: sequence numbers consume one each way. */
    uint32_t isn0 = s->tcpseq[0], isn1 = s->tcpseq[1];
    (void)isn1;
    g->now_us += 10;
    s->handshake = 1;
    emit_tcp(g, s, 0, isn0, TH_SYN, NULL, 0);
    s->tcpseq[0]++;
    g->now_us += 100 + rnd(&g->r, 400);
    emit_tcp(g, s, 1, s->tcpseq[1], TH_SYN | TH_ACK, NULL, 0);
    s->tcpseq[1]++;
    g->now_us += 50 + rnd(&g->r, 100);
    emit_tcp(g, s, 0, s->tcpseq[0], TH_ACK, NULL, 0);
}

static void do_bind(struct gen *g, struct session *s, int want_resp)
{
    struct exchange *ex = &g->ex;
    const struct account *a = &accounts[s->acct];
    ex_reset(ex, 0);
    do_handshake(g, s);
    uint32_t sq = s->seqnum[0]++;
    put_bind(ex, &ex->b[0], s, a->bind_cmd, sq, a);
    if (want_resp)
        put_bind_resp(ex, &ex->b[1], s, a->bind_cmd | CMD_RESP, sq, links[s->link].system_id, s->link != 1);
    run_exchange(g, s, 0, 0, 0);
    s->bound = 1;
    s->bind_seen = !ex->b[0].pdu[0].lost;
}

static void do_enquire(struct gen *g, struct session *s, int want_resp)
{
    struct exchange *ex = &g->ex;
    int from = want_resp && chance(&g->r, 0.3) ? 1 : 0; /* SMSCs probe too */
    ex_reset(ex, from);
    uint32_t sq = s->seqnum[from]++;
    put_empty(ex, &ex->b[0], s, CMD_ENQUIRE_LINK, 0, sq);
    if (want_resp)
        put_empty(ex, &ex->b[1], s, CMD_ENQUIRE_LINK | CMD_RESP, 0, sq);
    run_exchange(g, s, from, 0, 0);
}

static void do_submits(struct gen *g, struct session *s, uint64_t budget)
{
    struct exchange *ex = &g->ex;
    const struct account *a = &accounts[s->acct];
    const struct smsc_link *lk = &links[s->link];
    ex_reset(ex, 0);
    int nmsg = (int)rnd_range(&g->r, 1, (uint32_t)a->window);
    if (g->o.messages && (uint64_t)nmsg > g->o.messages - g->st_msgs)
        nmsg = (int)(g->o.messages - g->st_msgs); /* --messages is exact */
    uint64_t left = budget;
    for (int i = 0; i < nmsg && left >= 1 && ex->b[0].npdu + MAX_PARTS <= EX_MAX_PDUS; i++) {
        struct msg_in mi;
        pick_content(g, s, &mi);
        int before = ex->b[0].npdu;
        uint32_t text_before = ex->text_len;
        uint32_t js_before = (uint32_t)ex->js.len;
        uint32_t len0 = ex->b[0].len, len1 = ex->b[1].len;
        int n1 = ex->b[1].npdu;
        int want_resp = left >= 2;
        add_message(g, s, &mi, want_resp);
        int parts = ex->b[0].npdu - before;
        uint64_t cost = (uint64_t)parts * (want_resp ? 2 : 1);
        if (cost > left) {
            /* Over budget: take it back and stop here. */
            ex->b[0].npdu = before;
            ex->b[1].npdu = n1;
            ex->b[0].len = len0;
            ex->b[1].len = len1;
            ex->text_len = text_before;
            ex->js.len = js_before;
            ex->nmsg--;
            break;
        }
        left -= cost;
    }
    if (ex->nmsg == 0) {
        /* Budget too small for any message: a lone enquire_link. */
        do_enquire(g, s, budget >= 2);
        return;
    }
    int hint_req = a->node_habit ? 3 : 0;
    int hint_resp = lk->kannel ? 9 : 0;
    run_exchange(g, s, 0, hint_req, hint_resp);

    /* Queue receipts for accepted parts that asked for one. */
    for (int mi = 0; mi < ex->nmsg; mi++) {
        struct msg_plan *m = &ex->msg[mi];
        if (!m->registered || accounts[s->acct].bind_cmd != CMD_BIND_TRANSCEIVER)
            continue;
        for (int k = 0; k < m->nparts; k++) {
            if (m->status[k] != ST_OK || m->resp_pdu[k] < 0 || !chance(&g->r, 0.9))
                continue;
            struct pending_rcpt p;
            memset(&p, 0, sizeof p);
            p.idval = m->idval[k];
            p.submit_us = g->now_us;
            memcpy(p.resp_id, m->msgid[k], sizeof p.resp_id);
            memcpy(p.src, m->src, sizeof p.src);
            memcpy(p.dst, m->dst, sizeof p.dst);
            p.src_ton = m->src_ton;
            p.src_npi = m->src_npi;
            p.resp_seen = !ex->b[1].pdu[m->resp_pdu[k]].lost;
            memcpy(p.text20, m->text20, sizeof p.text20);
            rcpt_push(s, &p);
        }
    }
}

static void do_receipts(struct gen *g, struct session *s, uint64_t budget)
{
    struct exchange *ex = &g->ex;
    struct rng *r = &g->r;
    const struct smsc_link *lk = &links[s->link];
    ex_reset(ex, 1);
    int n = (int)rnd_range(r, 1, 9);
    if (n > s->rq_len)
        n = s->rq_len;
    int want_resp = budget >= 2;
    if ((uint64_t)n * (want_resp ? 2 : 1) > budget)
        n = (int)(budget / (want_resp ? 2 : 1));
    static const char *const stats[] = {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"};
    static const int mstates[] = {MSTATE_DELIVERED, MSTATE_UNDELIVERABLE, MSTATE_EXPIRED, MSTATE_REJECTED};
    static const char *const errs[] = {"001", "011", "069", "254"};
    for (int i = 0; i < n; i++) {
        struct pending_rcpt *p = &s->rq[s->rq_head];
        s->rq_head = (s->rq_head + 1) % RCPT_QUEUE;
        s->rq_len--;
        uint32_t x = rnd(r, 100);
        int st = x < 85 ? 0 : x < 92 ? 1 : x < 97 ? 2 : 3;
        struct rcpt_plan *rc = &ex->rcpt[ex->nrcpt];
        int ri = ex->nrcpt++;
        rc->stat = stats[st];
        rc->err = st == 0 ? "000" : errs[rnd(r, 4)];
        rc->mstate = mstates[st];
        rc->tied = p->resp_seen;
        memcpy(rc->resp_id, p->resp_id, sizeof rc->resp_id);
        fmt_id(rc->text_id, p->idval, lk->rcpt_fmt);
        fmt_id(rc->tlv_id, p->idval, lk->id_fmt);
        rc->has_text_id = lk->rcpt_style != RS_TLV_ONLY;
        rc->has_tlv = lk->rcpt_style != RS_TEXT;
        char sd[16], dd[16], txt[300];
        yymmddhhmm(p->submit_us, sd);
        yymmddhhmm(g->now_us, dd);
        const char *dl = st == 0 ? "001" : "000";
        /* SMPP v3.4 Appendix B receipt format; RS_TLV_ONLY SMSCs leave the
         * id: out, some write "Text:" (field notes). */
        char *o = txt;
        if (lk->rcpt_style != RS_TLV_ONLY) {
            o = cpy(o, "id:");
            o = cpy(o, rc->text_id);
            o = cpy(o, " ");
        }
        o = cpy(o, "sub:001 dlvrd:");
        o = cpy(o, dl);
        o = cpy(o, " submit date:");
        o = cpy(o, sd);
        o = cpy(o, " done date:");
        o = cpy(o, dd);
        o = cpy(o, " stat:");
        o = cpy(o, rc->stat);
        o = cpy(o, " err:");
        o = cpy(o, rc->err);
        o = cpy(o, lk->rcpt_order == 1 ? " Text:" : " text:");
        o = cpy(o, p->text20);
        *o = 0;
        struct sm_fields f;
        memset(&f, 0, sizeof f);
        f.service_type = "";
        f.src_ton = 1;
        f.src_npi = 1;
        f.src = p->dst;
        f.dst_ton = p->src_ton;
        f.dst_npi = p->src_npi;
        f.dst = p->src;
        f.esm_class = ESM_RECEIPT;
        f.dc = DC_GSM;
        f.sm = (const uint8_t *)txt;
        f.sm_len = (uint32_t)strlen(txt);
        f.mstate = rc->has_tlv ? rc->mstate : -1;
        f.receipted_id = rc->has_tlv ? rc->tlv_id : NULL;
        uint32_t sq = s->seqnum[1]++;
        int pi = put_sm(ex, &ex->b[0], s, CMD_DELIVER_SM, sq, &f);
        ex->b[0].pdu[pi].rcpt = ri;
        if (want_resp)
            put_resp_id(ex, &ex->b[1], s, CMD_DELIVER_SM | CMD_RESP, 0, sq, "");
    }
    if (ex->b[0].npdu == 0)
        return;
    run_exchange(g, s, 1, lk->kannel ? 9 : 0, 0);
}

static void do_close(struct gen *g, struct session *s, uint64_t budget)
{
    struct exchange *ex = &g->ex;
    struct rng *r = &g->r;
    unsigned seg = g->o.seg;
    int unbind = budget >= 2 && chance(r, 0.8);
    if (unbind) {
        ex_reset(ex, 0);
        uint32_t sq = s->seqnum[0]++;
        put_empty(ex, &ex->b[0], s, CMD_UNBIND, 0, sq);
        put_empty(ex, &ex->b[1], s, CMD_UNBIND | CMD_RESP, 0, sq);
        run_exchange(g, s, 0, 0, 0);
    }
    int fin = (seg & SEG_FIN) && (!(seg & SEG_RST) || chance(r, 0.75));
    int rst = !fin && (seg & SEG_RST);
    if (fin) {
        g->now_us += 100 + rnd(r, 500);
        emit_tcp(g, s, 0, s->tcpseq[0], TH_FIN | TH_ACK, NULL, 0);
        s->tcpseq[0]++;
        g->now_us += 100 + rnd(r, 500);
        emit_tcp(g, s, 1, s->tcpseq[1], TH_FIN | TH_ACK, NULL, 0);
        s->tcpseq[1]++;
        g->now_us += 50 + rnd(r, 100);
        emit_tcp(g, s, 0, s->tcpseq[0], TH_ACK, NULL, 0);
    } else if (rst) {
        int side = (int)rnd(r, 2);
        g->now_us += 100 + rnd(r, 500);
        emit_tcp(g, s, side, s->tcpseq[side], TH_RST | TH_ACK, NULL, 0);
    }
    s->active = 0;
}

/* One step of the world: one session does one exchange. */
static void step(struct gen *g)
{
    struct rng *r = &g->r;
    unsigned i = rnd(r, g->o.sessions);
    struct session *s = &g->sess[i];
    if (!s->active)
        session_init(g, s, 0);
    g->now_us += rnd_exp(r, 400);
    uint64_t budget = g->budget;
    if (!s->bound) {
        if (budget >= 2) {
            do_bind(g, s, 1);
            return;
        }
        s->bound = 1; /* the capture ends before the bind */
    }
    if (s->exchanges_left == 0 && budget >= 2) {
        do_close(g, s, budget);
        return;
    }
    if (s->exchanges_left)
        s->exchanges_left--;
    uint32_t x = rnd(r, 1000);
    if (x < 40) {
        do_enquire(g, s, budget >= 2);
    } else if (s->rq_len > 0 && x < 400) {
        do_receipts(g, s, budget);
    } else {
        do_submits(g, s, budget);
    }
}

/* ------------------------------------------------------------------ */

static void corpus_load(struct corpus *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0)
        die("%s: cannot seek", path);
    long n = ftell(f);
    if (n < 0 || n > (64l << 20))
        die("%s: unreasonable size", path);
    rewind(f);
    c->data = malloc((size_t)n + 1);
    if (!c->data || fread(c->data, 1, (size_t)n, f) != (size_t)n)
        die("%s: read failed", path);
    fclose(f);
    c->data[n] = 0;
    size_t lines = 1;
    for (long i = 0; i < n; i++)
        lines += c->data[i] == '\n';
    c->ham = malloc(lines * sizeof *c->ham);
    c->spam = malloc(lines * sizeof *c->spam);
    if (!c->ham || !c->spam)
        die("out of memory");
    char *p = c->data, *end = c->data + n;
    size_t lineno = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        *nl = 0;
        lineno++;
        if (nl > p && nl[-1] == '\r')
            nl[-1] = 0;
        char *tab = strchr(p, '\t');
        if (tab && tab[1]) {
            *tab = 0;
            uint32_t o = (uint32_t)(tab + 1 - c->data);
            if (strcmp(p, "ham") == 0)
                c->ham[c->nham++] = o;
            else if (strcmp(p, "spam") == 0)
                c->spam[c->nspam++] = o;
            else
                die("%s:%zu: label must be ham or spam", path, lineno);
        } else if (*p) {
            die("%s:%zu: expected LABEL<TAB>TEXT", path, lineno);
        }
        p = nl + 1;
    }
}

static void usage(FILE *f)
{
    fputs("usage: smsgen -o OUT.pcap [options]\n"
          "  --truth FILE          ground truth (default OUT with .truth.jsonl)\n"
          "  --no-truth            write no ground truth (benchmark captures)\n"
          "  --seed N              random seed (default 1)\n"
          "  --pdus N              SMPP PDUs to write (default 10000)\n"
          "  --messages N          stop after N messages instead\n"
          "  --sessions N          concurrent ESME sessions (default 16)\n"
          "  --ipv6-share F        share of sessions over IPv6 (default 0.2)\n"
          "  --vlan-share F        share of sessions with an 802.1Q tag (default 0.3)\n"
          "  --open-share F        share of first sessions already bound (default 0.7)\n"
          "  --segmentation LIST   comma list of: one coalesce split ooo retrans overlap\n"
          "                        gap midstart fin rst, or clean / all (default all)\n"
          "  --perturb-rate F      chance per batch of each selected perturbation\n"
          "  --link en10mb|sll2|raw  link layer (default en10mb)\n"
          "  --pcapng              write pcapng instead of pcap\n"
          "  --corpus FILE         ham/spam TSV used for English texts\n",
          f);
}

static double parse_share(const char *opt, const char *v)
{
    char *e;
    double d = strtod(v, &e);
    if (*e || d < 0 || d > 1)
        die("%s: expected a number in [0,1], got '%s'", opt, v);
    return d;
}
static uint64_t parse_u64(const char *opt, const char *v)
{
    char *e;
    errno = 0;
    unsigned long long x = strtoull(v, &e, 10);
    if (*e || errno || v[0] == '-' || !v[0])
        die("%s: expected a non-negative integer, got '%s'", opt, v);
    return x;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->sessions = 16;
    o->ipv6_share = 0.2;
    o->vlan_share = 0.3;
    o->open_share = 0.7;
    o->perturb_rate = -1;
    o->link = LINK_EN10MB;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) die("%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEEDV(); o->out = v; }
        else if (!strcmp(a, "--truth")) { NEEDV(); o->truth = v; }
        else if (!strcmp(a, "--seed")) { NEEDV(); o->seed = parse_u64(a, v); }
        else if (!strcmp(a, "--pdus")) { NEEDV(); o->pdus = parse_u64(a, v); }
        else if (!strcmp(a, "--messages")) { NEEDV(); o->messages = parse_u64(a, v); }
        else if (!strcmp(a, "--sessions")) {
            NEEDV();
            uint64_t n = parse_u64(a, v);
            if (n < 1 || n > 10000) /* ~7 KB each (receipt queues) */
                die("--sessions: expected 1..10000");
            o->sessions = (unsigned)n;
        }
        else if (!strcmp(a, "--ipv6-share")) { NEEDV(); o->ipv6_share = parse_share(a, v); }
        else if (!strcmp(a, "--vlan-share")) { NEEDV(); o->vlan_share = parse_share(a, v); }
        else if (!strcmp(a, "--open-share")) { NEEDV(); o->open_share = parse_share(a, v); }
        else if (!strcmp(a, "--perturb-rate")) { NEEDV(); o->perturb_rate = parse_share(a, v); }
        else if (!strcmp(a, "--corpus")) { NEEDV(); o->corpus = v; }
        else if (!strcmp(a, "--pcapng")) { o->pcapng = 1; }
        else if (!strcmp(a, "--no-truth")) { o->no_truth = 1; }
        else if (!strcmp(a, "--link")) {
            NEEDV();
            if (!strcmp(v, "en10mb") || !strcmp(v, "ether")) o->link = LINK_EN10MB;
            else if (!strcmp(v, "sll2")) o->link = LINK_SLL2;
            else if (!strcmp(v, "raw")) o->link = LINK_RAW;
            else die("--link: expected en10mb, sll2 or raw, got '%s'", v);
        }
        else if (!strcmp(a, "--segmentation")) {
            NEEDV();
            /* Several words may follow: take them while they name modes. */
            for (;;) {
                char buf[256];
                snprintf(buf, sizeof buf, "%s", v);
                for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                    size_t k;
                    for (k = 0; k < SG_LEN(seg_names); k++)
                        if (!strcmp(w, seg_names[k].name))
                            break;
                    if (k == SG_LEN(seg_names))
                        die("--segmentation: unknown mode '%s'", w);
                    o->seg |= seg_names[k].bits;
                }
                o->seg_explicit = 1;
                if (i + 1 < argc && argv[i + 1][0] != '-') {
                    v = argv[++i];
                    continue;
                }
                break;
            }
        }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        else { usage(stderr); die("unknown argument '%s'", a); }
#undef NEEDV
    }
    if (!o->out) {
        usage(stderr);
        die("-o OUT.pcap is required");
    }
    if (o->pdus && o->messages)
        die("--pdus and --messages exclude each other");
    if (!o->pdus && !o->messages)
        o->pdus = 10000;
    if (!o->seg)
        o->seg = 0x3FF;
    if (o->perturb_rate < 0)
        o->perturb_rate = o->seg_explicit ? 0.05 : 0.006;
}

int main(int argc, char **argv)
{
    static struct gen G;
    struct gen *g = &G;
    parse_args(&g->o, argc, argv);
    gsm_tables_init();
    hex_init();
    rng_seed(&g->r, g->o.seed);

    char truth_path[4096];
    if (g->o.truth) {
        snprintf(truth_path, sizeof truth_path, "%s", g->o.truth);
    } else {
        size_t n = strlen(g->o.out);
        const char *dot = strrchr(g->o.out, '.');
        const char *sl = strrchr(g->o.out, '/');
        if (dot && (!sl || dot > sl) && (!strcmp(dot, ".pcap") || !strcmp(dot, ".pcapng")))
            n = (size_t)(dot - g->o.out);
        if (n + 16 > sizeof truth_path)
            die("output path too long");
        memcpy(truth_path, g->o.out, n);
        strcpy(truth_path + n, ".truth.jsonl");
    }

    if (g->o.corpus)
        corpus_load(&g->corp, g->o.corpus);
    g->dlt = g->o.link == LINK_EN10MB ? DLT_EN10MB : g->o.link == LINK_SLL2 ? DLT_LINUX_SLL2 : DLT_RAW;

    g->pf = fopen(g->o.out, "wb");
    if (!g->pf)
        die("%s: %s", g->o.out, strerror(errno));
    static char pbuf[1 << 20], tbuf[1 << 20];
    setvbuf(g->pf, pbuf, _IOFBF, sizeof pbuf);
    if (g->o.pcapng) {
        /* Section Header Block and one Interface Description Block
         * (pcapng §4.1, §4.2); if_tsresol default: microseconds. */
        uint32_t shb[7] = {0x0A0D0D0A, 28, 0x1A2B3C4D, 0x00000001, 0xFFFFFFFF, 0xFFFFFFFF, 28};
        int lt = g->o.link == LINK_EN10MB ? 1 : g->o.link == LINK_SLL2 ? 276 : 101;
        uint32_t idb[5] = {1, 20, (uint32_t)lt, 65535, 20};
        fwrite(shb, 4, 7, g->pf);
        fwrite(idb, 4, 5, g->pf);
    } else {
        g->pd = pcap_open_dead(g->dlt, 65535);
        if (!g->pd)
            die("pcap_open_dead failed");
        g->dump = pcap_dump_fopen(g->pd, g->pf);
        if (!g->dump)
            die("pcap_dump_fopen: %s", pcap_geterr(g->pd));
    }
    truth_off = g->o.no_truth;
    if (!truth_off) {
        g->tf = fopen(truth_path, "wb");
        if (!g->tf)
            die("%s: %s", truth_path, strerror(errno));
        setvbuf(g->tf, tbuf, _IOFBF, sizeof tbuf);
    }

    static char jsbuf[1 << 20], linebuf[1 << 18];
    g->ex.js.p = jsbuf;
    g->ex.js.cap = sizeof jsbuf;
    g->line.p = linebuf;
    g->line.cap = sizeof linebuf;

    for (int a = 0; a < NACCOUNTS; a++)
        g->acct_weight_total += accounts[a].weight;
    for (int l = 0; l < NLINKS; l++)
        g->link_ctr[l] = 1000000000ull + (rng_next(&g->r) % 2000000000ull);
    /* 2024-03-01 plus up to a day, seeded. */
    g->now_us = (1709251200ull + rnd(&g->r, 86400)) * 1000000ull + rnd(&g->r, 1000000);

    {
        struct sbuf *l = &g->line;
        sb_lit(l, "{\"event\":\"capture\",\"generator\":\"smsgen\",\"format\":1");
        sb_kv_u(l, "seed", g->o.seed);
        sb_kv_u(l, "linktype", (uint64_t)(g->o.link == LINK_EN10MB ? 1 : g->o.link == LINK_SLL2 ? 276 : 101));
        sb_kv_s(l, "file_format", g->o.pcapng ? "pcapng" : "pcap");
        sb_lit(l, ",\"segmentation\":[");
        int first = 1;
        for (size_t k = 0; k < 10; k++)
            if (g->o.seg & seg_names[k].bits) {
                if (!first)
                    sb_lit(l, ",");
                sb_jcstr(l, seg_names[k].name);
                first = 0;
            }
        sb_lit(l, "]}\n");
        truth_flush_line(g);
    }

    g->sess = calloc(g->o.sessions, sizeof *g->sess);
    if (!g->sess)
        die("out of memory");
    for (unsigned i = 0; i < g->o.sessions; i++)
        session_init(g, &g->sess[i], chance(&g->r, g->o.open_share));

    g->budget = g->o.pdus ? g->o.pdus : UINT64_MAX;
    for (;;) {
        if (g->o.pdus) {
            uint64_t done = g->st_pdus + g->st_lost;
            if (done >= g->o.pdus)
                break;
            g->budget = g->o.pdus - done;
        } else if (g->st_msgs >= g->o.messages) {
            break;
        }
        step(g);
    }

    {
        struct sbuf *l = &g->line;
        sb_lit(l, "{\"event\":\"summary\"");
        sb_kv_u(l, "frames", g->frame);
        sb_kv_u(l, "pdus", g->st_pdus);
        sb_kv_u(l, "lost", g->st_lost);
        sb_kv_u(l, "messages", g->st_msgs);
        sb_kv_u(l, "receipts", g->st_rcpts);
        sb_kv_u(l, "sessions", g->st_sessions);
        sb_kv_u(l, "bytes", g->st_bytes);
        sb_lit(l, "}\n");
        truth_flush_line(g);
    }
    if (g->dump) {
        pcap_dump_flush(g->dump);
        pcap_dump_close(g->dump); /* closes g->pf */
        pcap_close(g->pd);
    } else if (fclose(g->pf) != 0) {
        die("%s: %s", g->o.out, strerror(errno));
    }
    if (g->tf && (ferror(g->tf) || fclose(g->tf) != 0))
        die("%s: write failed", truth_path);
    fprintf(stderr, "smsgen: %" PRIu64 " frames, %" PRIu64 " PDUs (%" PRIu64 " lost), %" PRIu64
                    " messages, %" PRIu64 " receipts, %" PRIu64 " sessions\n",
            g->frame, g->st_pdus, g->st_lost, g->st_msgs, g->st_rcpts, g->st_sessions);
    free(g->sess);
    free(g->corp.data);
    free(g->corp.ham);
    free(g->corp.spam);
    return 0;
}
