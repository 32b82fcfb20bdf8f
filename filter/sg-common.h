/* Types and error codes shared by every module of the engine.
 *
 * Errors: functions return int, 0 on success or a negative code: either
 * -errno for a system error or one of the SG_E* codes below (all below
 * -1000 so they never collide with errno values).  sg_strerror() names both.
 */
#ifndef SG_COMMON_H
#define SG_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum {
    SG_OK = 0,
    SG_EINVAL = -1001,    /* malformed input */
    SG_ETRUNC = -1002,    /* input ends before a field does */
    SG_ENOSPC = -1003,    /* a bounded table or buffer is full */
    SG_ENOTSUP = -1004,   /* valid but not handled (e.g. a non-TCP packet) */
    SG_ENOTFOUND = -1005, /* lookup missed */
    SG_EPARSE = -1006,    /* a configuration or rule file does not parse */
    SG_ECOMPILE = -1007,  /* a rule set does not compile */
    SG_EDB = -1008,       /* the store failed */
    SG_EEXIST = -1009,    /* conflicting entry */
    SG_EAGAIN = -1010,    /* incomplete: more input needed */
};

/* Message for an SG_E* code or a -errno value; never NULL. */
const char *sg_strerror(int err);

/* A borrowed view into someone else's bytes (usually the reassembled PDU
 * buffer).  Not NUL-terminated. */
struct sg_view {
    const uint8_t *p;
    size_t len;
};

/* A transport endpoint.  IPv4 addresses are stored as IPv4-mapped IPv6
 * (::ffff:a.b.c.d) so that every table has one key format. */
struct sg_endpoint {
    uint8_t addr[16];
    uint16_t port;
    uint8_t is_v4;
};

/* Writes "a.b.c.d:port" or "[v6]:port" into buf (at least
 * SG_ENDPOINT_STRLEN bytes). */
#define SG_ENDPOINT_STRLEN 56
void sg_endpoint_format(const struct sg_endpoint *ep, char *buf, size_t cap);
/* Writes a as inet_ntop(AF_INET6) does (at most 45 bytes, no NUL); returns
 * the new end. */
char *sg_ipv6_format(const uint8_t a[16], char *o);

/* Parses "10.0.0.1:2775", "10.0.0.1", "[2001:db8::1]:2775" or
 * "2001:db8::1" (port 0: any port).  0 or -1. */
int sg_endpoint_parse(const char *s, struct sg_endpoint *ep);

/* "00" "01" ... "ff": byte b in lower-case hex is sg_hex_pairs[2b],
 * [2b+1], one two-byte copy per byte (JSON hex, fingerprints). */
extern const char sg_hex_pairs[513];

/* Time is carried as microseconds since the Unix epoch (packet time). */
typedef uint64_t sg_time_us;

/* ALWAYS()/NEVER() mark states that cannot happen (SQLite's habit): they
 * assert in debug builds and let release builds recover. */
#ifdef NDEBUG
#define SG_ALWAYS(x) (x)
#define SG_NEVER(x) (x)
#else
#include <assert.h>
#define SG_ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define SG_NEVER(x) ((x) ? (assert(0), 1) : 0)
#endif

#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output
 * bit.  For hash tables keyed by traffic (with a per-table seed mixed in
 * by the caller where keys are chosen by the sender). */
static inline uint64_t sg_mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* Whether any of the eight octets of w is zero, or an ASCII digit
 * (0x30..0x39: high nibble 3, low nibble below 10): for scans that move
 * eight octets at a time while none is.  No carry crosses an octet. */
static inline int sg_word_has_zero(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull;
    return ((w - ones) & ~w & 0x80 * ones) != 0;
}

static inline int sg_word_has_digit(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull;
    return sg_word_has_zero(((w & 0xF0 * ones) ^ 0x30 * ones) |
                            (((w & 0x0F * ones) + 0x06 * ones) & 0x10 * ones));
}

/* Eight octets as one word, the first in the low bits whatever the host's
 * order: for the parsers that compare or scan eight octets at a time. */
static inline uint64_t sg_load_le64(const uint8_t *p)
{
    uint64_t w;
    __builtin_memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

#endif
