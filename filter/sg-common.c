#include "sg-common.h"

#include <arpa/inet.h>
#include <stdio.h>
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

void sg_endpoint_format(const struct sg_endpoint *ep, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ep->is_v4) {
        inet_ntop(AF_INET, ep->addr + 12, ip, sizeof ip);
        snprintf(buf, cap, "%s:%u", ip, ep->port);
    } else {
        inet_ntop(AF_INET6, ep->addr, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%u", ip, ep->port);
    }
}
