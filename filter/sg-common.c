#include "sg-common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *sg_strerror(int err)
{
    switch (err) {
    case SG_OK: return "success";
    case SG_EINVAL: return "malformed input";
    case SG_ETRUNC: return "truncated input";
    case SG_ENOSPC: return "bounded table or buffer full";
    case SG_ENOTSUP: return "not supported";
    case SG_ENOTFOUND: return "not found";
    case SG_EPARSE: return "parse error";
    case SG_ECOMPILE: return "rule set does not compile";
    case SG_EDB: return "database error";
    case SG_EEXIST: return "conflicting entry";
    case SG_EAGAIN: return "more input needed";
    default:
        if (err < 0 && err > -1000)
            return strerror(-err);
        return "unknown error";
    }
}

/* Appends the decimal digits of v; returns the new end.  Two digits per
 * division: every event prints two or three endpoints. */
static char *put_dec(char *o, unsigned v)
{
    static const char d2[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[10], *e = tmp + sizeof tmp, *b = e;
    while (v >= 100) {
        unsigned r = v % 100 * 2;
        v /= 100;
        *--b = d2[r + 1];
        *--b = d2[r];
    }
    if (v >= 10) {
        *--b = d2[v * 2 + 1];
        *--b = d2[v * 2];
    } else {
        *--b = (char)('0' + v);
    }
    while (b < e)
        *o++ = *b++;
    return o;
}

/* What glibc's inet_ntop(AF_INET6) writes (RFC 5952 with its IPv4 forms),
 * without the eight sprintf("%x") calls it makes: an IPv6 endpoint in every
 * PDU event made inet_ntop an eighth of `decode`.  Tested against inet_ntop
 * in tests/test-json-writer.c. */
char *sg_ipv6_format(const uint8_t a[16], char *o)
{
    static const char hexd[] = "0123456789abcdef";
    unsigned words[8];
    for (int i = 0; i < 8; i++)
        words[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    /* The first longest run of two or more zero words becomes "::". */
    int best = -1, best_len = 0, cur = -1;
    for (int i = 0; i <= 8; i++) {
        if (i < 8 && words[i] == 0) {
            if (cur < 0)
                cur = i;
        } else if (cur >= 0) {
            if (i - cur > best_len) {
                best = cur;
                best_len = i - cur;
            }
            cur = -1;
        }
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *o++ = ':';
            continue;
        }
        if (i != 0)
            *o++ = ':';
        /* IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d). */
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            for (int k = 0; k < 4; k++) {
                o = put_dec(o, a[12 + k]);
                if (k < 3)
                    *o++ = '.';
            }
            return o;
        }
        unsigned v = words[i];
        if (v >= 0x1000) *o++ = hexd[v >> 12];
        if (v >= 0x100) *o++ = hexd[(v >> 8) & 15];
        if (v >= 0x10) *o++ = hexd[(v >> 4) & 15];
        *o++ = hexd[v & 15];
    }
    if (best >= 0 && best + best_len == 8)
        *o++ = ':';
    return o;
}

void sg_endpoint_format(const struct sg_endpoint *ep, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    char tmp[INET6_ADDRSTRLEN + 10];
    char *o = tmp;
    if (ep->is_v4) {
        /* Every PDU event prints two endpoints: no printf on that path. */
        for (int i = 0; i < 4; i++) {
            o = put_dec(o, ep->addr[12 + i]);
            *o++ = i < 3 ? '.' : ':';
        }
    } else {
        *o++ = '[';
        o = sg_ipv6_format(ep->addr, o);
        *o++ = ']';
        *o++ = ':';
    }
    o = put_dec(o, ep->port);
    size_t n = (size_t)(o - tmp);
    if (n > cap - 1)
        n = cap - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
}

/* "10.0.0.1:2775", "10.0.0.1", "[2001:db8::1]:2775", "2001:db8::1";
 * port 0 = any port (as --link on the command line). */
int sg_endpoint_parse(const char *s, struct sg_endpoint *ep)
{
    char host[64];
    const char *port = NULL;
    memset(ep, 0, sizeof *ep);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (size_t)(close - s - 1) >= sizeof host)
            return -1;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return -1;
        if (inet_pton(AF_INET6, host, ep->addr) != 1)
            return -1;
    } else if (strchr(s, ':') && strchr(s, ':') != strrchr(s, ':')) {
        if (strlen(s) >= sizeof host || inet_pton(AF_INET6, s, ep->addr) != 1)
            return -1;
    } else {
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (n >= sizeof host)
            return -1;
        memcpy(host, s, n);
        host[n] = '\0';
        if (colon)
            port = colon + 1;
        uint8_t v4[4];
        if (inet_pton(AF_INET, host, v4) != 1)
            return -1;
        ep->addr[10] = ep->addr[11] = 0xFF;
        memcpy(ep->addr + 12, v4, 4);
        ep->is_v4 = 1;
    }
    if (port) {
        if (!isdigit((unsigned char)*port))
            return -1;
        char *end;
        errno = 0;
        unsigned long p = strtoul(port, &end, 10);
        if (errno || *end || p == 0 || p > 65535)
            return -1;
        ep->port = (uint16_t)p;
    }
    return 0;
}

const char sg_hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
