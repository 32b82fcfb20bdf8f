/* The route table: every route the API serves, with its roles, its body
 * and query parameters and its handler.  docs/openapi.yaml documents the
 * same table; tests/test-admin-routes.c checks that they agree. */
#include <string.h>

#include "admin-int.h"

#define CC ADMIN_R_CALLCENTRE
#define OPS ADMIN_R_OPS
#define PROV ADMIN_R_PROVIDER

static const struct admin_route routes[] = {
    {{"GET", "/api/v1/me", "callcentre,ops,provider"}, ADMIN_R_ANY, 0, NULL, admin_h_me},
    {{"GET", "/api/v1/subscribers/{msisdn}/timeline", "callcentre,ops"}, CC | OPS, 0,
     "since,until,sender,limit", admin_h_timeline},
    {{"GET", "/api/v1/senders/{sender}", "callcentre,ops,provider"}, ADMIN_R_ANY, 0, "since",
     admin_h_sender},
    {{"GET", "/api/v1/blacklist", "callcentre,ops"}, CC | OPS, 0,
     "kind,value,include_inactive,limit", admin_h_blacklist_get},
    {{"POST", "/api/v1/blacklist", "ops"}, OPS, 1, NULL, admin_h_blacklist_post},
    {{"POST", "/api/v1/blacklist/{id}/clear", "callcentre,ops"}, CC | OPS, 1, NULL,
     admin_h_blacklist_clear},
    {{"GET", "/api/v1/exceptions", "callcentre,ops"}, CC | OPS, 0,
     "sender,msisdn,include_inactive,limit", admin_h_exceptions_get},
    {{"POST", "/api/v1/exceptions", "callcentre,ops"}, CC | OPS, 1, NULL,
     admin_h_exceptions_post},
    {{"DELETE", "/api/v1/exceptions/{id}", "callcentre,ops"}, CC | OPS, 1, "reason,ticket",
     admin_h_exceptions_delete},
    {{"GET", "/api/v1/whitelist", "ops"}, OPS, 0, "sender,include_inactive,limit",
     admin_h_whitelist_get},
    {{"POST", "/api/v1/whitelist", "ops"}, OPS, 1, NULL, admin_h_whitelist_post},
    {{"DELETE", "/api/v1/whitelist/{id}", "ops"}, OPS, 1, "reason,ticket",
     admin_h_whitelist_delete},
    {{"GET", "/api/v1/whitelist-requests", "ops,provider"}, OPS | PROV, 0, "state",
     admin_h_wlreq_get},
    {{"POST", "/api/v1/whitelist-requests", "ops,provider"}, OPS | PROV, 1, NULL,
     admin_h_wlreq_post},
    {{"POST", "/api/v1/whitelist-requests/{id}/approve", "ops"}, OPS, 1, NULL,
     admin_h_wlreq_approve},
    {{"POST", "/api/v1/whitelist-requests/{id}/reject", "ops"}, OPS, 1, NULL,
     admin_h_wlreq_reject},
    {{"GET", "/api/v1/rules", "ops"}, OPS, 0, "state", admin_h_rules_get},
    {{"POST", "/api/v1/rules/reload", "ops"}, OPS, 1, NULL, admin_h_rules_reload},
    {{"GET", "/api/v1/audit", "ops"}, OPS, 0,
     "actor,action,object,object_id,ticket,since,until,before_id,limit", admin_h_audit},
    {{"GET", "/api/v1/alerts", "ops,provider"}, OPS | PROV, 0, "since,sender,limit",
     admin_h_alerts},
    {{"GET", "/metrics", "public"}, 0, 0, NULL, admin_h_metrics},
    {{"GET", "/healthz", "public"}, 0, 0, NULL, admin_h_healthz},
};

const struct admin_route_info *admin_route_at(size_t i)
{
    return i < SG_ARRAY_LEN(routes) ? &routes[i].info : NULL;
}

/* Matches path against pattern segment by segment; "{x}" takes one
 * non-empty segment.  Work: O(len(path)). */
static int path_match(const char *pattern, const char *path, struct admin_req *r)
{
    size_t n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            size_t len = se ? (size_t)(se - s) : strlen(s);
            if (!pe || len == 0 || n >= ADMIN_PARAM_MAX)
                return 0;
            if (r) {
                if (len >= ADMIN_PARAM_LEN)
                    return 0; /* longer than any id, sender or number */
                memcpy(r->params[n], s, len);
                r->params[n][len] = '\0';
            }
            n++;
            p = pe + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    if (*p || *s)
        return 0;
    if (r)
        r->n_params = n;
    return 1;
}

const struct admin_route *admin_route_match(const char *method, const char *path,
                                            struct admin_req *r, int *path_known)
{
    *path_known = 0;
    if (r)
        r->allow[0] = '\0';
    for (size_t i = 0; i < SG_ARRAY_LEN(routes); i++) {
        if (!path_match(routes[i].info.path, path, NULL))
            continue;
        if (strcmp(routes[i].info.method, method) == 0) {
            path_match(routes[i].info.path, path, r);
            return &routes[i];
        }
        *path_known = 1;
        if (r && strlen(r->allow) + 8 < sizeof r->allow) {
            if (r->allow[0])
                strcat(r->allow, ", ");
            strcat(r->allow, routes[i].info.method);
        }
    }
    return NULL;
}
