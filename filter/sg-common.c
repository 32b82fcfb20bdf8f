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

/* Appends the decimal digits of v; returns the new end. */
static char *put_dec(char *o, unsigned v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
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
        inet_ntop(AF_INET6, ep->addr, o, INET6_ADDRSTRLEN);
        o += strlen(o);
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
