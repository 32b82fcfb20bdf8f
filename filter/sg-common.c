#include "sg-common.h"

#include <arpa/inet.h>
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
