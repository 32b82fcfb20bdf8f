/* Bearer tokens and the failed-authentication throttle.
 *
 * Tokens are checked by hash in the store (store_token_check): unknown,
 * revoked and expired tokens all answer 401, indistinguishably.  Every
 * presented-but-wrong token counts against the client address; past
 * auth_fail_limit failures within auth_fail_window_s the address gets 429
 * for every API request until its window ends, so guessing tokens from one
 * address costs at most limit tries a window.  The table is bounded
 * (ADMIN_AUTHFAIL_SLOTS); when full, the slot with the oldest window is
 * reused and the eviction counted (smsguard_api_authfail_evictions_total).
 */
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "admin-int.h"

static int client_addr(struct MHD_Connection *c, uint8_t out[16])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    memset(out, 0, 16);
    if (!ci || !ci->client_addr)
        return -1;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return -1;
    }
    return 0;
}

/* Slot of addr, or NULL; caller holds authfail_mu.  Work: one pass over
 * the table (1024 slots): cheap next to a SQLite lookup, and only the
 * failure path and the throttle check take it. */
static struct admin_authfail *find_slot(admin_t *a, const uint8_t addr[16], int create, int64_t now)
{
    struct admin_authfail *oldest = NULL, *free_slot = NULL;
    for (size_t i = 0; i < ADMIN_AUTHFAIL_SLOTS; i++) {
        struct admin_authfail *s = &a->authfail[i];
        if (!s->used) {
            if (!free_slot)
                free_slot = s;
            continue;
        }
        if (memcmp(s->addr, addr, 16) == 0)
            return s;
        if (!oldest || s->window_start < oldest->window_start)
            oldest = s;
    }
    if (!create)
        return NULL;
    struct admin_authfail *s = free_slot;
    if (!s) {
        s = oldest;
        atomic_fetch_add_explicit(&a->authfail_evictions, 1, memory_order_relaxed);
    }
    memset(s, 0, sizeof *s);
    s->used = 1;
    memcpy(s->addr, addr, 16);
    s->window_start = now;
    return s;
}

int admin_auth_throttled(admin_t *a, struct MHD_Connection *c)
{
    uint8_t addr[16];
    if (client_addr(c, addr) != 0)
        return 0;
    int64_t now = (int64_t)time(NULL);
    int refused = 0;
    pthread_mutex_lock(&a->authfail_mu);
    struct admin_authfail *s = find_slot(a, addr, 0, now);
    if (s) {
        if (now - s->window_start >= (int64_t)a->auth_fail_window_s)
            s->used = 0; /* window over: forgiven */
        else
            refused = s->count >= a->auth_fail_limit;
    }
    pthread_mutex_unlock(&a->authfail_mu);
    return refused;
}

static void note_failure(admin_t *a, struct MHD_Connection *c)
{
    uint8_t addr[16];
    atomic_fetch_add_explicit(&a->auth_failures, 1, memory_order_relaxed);
    if (client_addr(c, addr) != 0)
        return;
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&a->authfail_mu);
    struct admin_authfail *s = find_slot(a, addr, 1, now);
    if (now - s->window_start >= (int64_t)a->auth_fail_window_s) {
        s->window_start = now;
        s->count = 0;
    }
    s->count++;
    pthread_mutex_unlock(&a->authfail_mu);
}

int admin_auth_check(admin_t *a, struct admin_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || !*h)
        return admin_error(r, 401, "unauthorized", NULL,
                           "an Authorization: Bearer token is required");
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        note_failure(a, r->conn);
        return admin_error(r, 401, "unauthorized", NULL, "the Authorization scheme must be Bearer");
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    int rc = SG_ENOTFOUND;
    if (strlen(tok) < STORE_TOKEN_STRLEN) {
        store_t *db = admin_reader_get(a);
        rc = store_token_check(db, tok, (int64_t)time(NULL), &r->tok);
        admin_reader_put(a, db);
    }
    if (rc != 0) {
        note_failure(a, r->conn);
        if (rc != SG_ENOTFOUND)
            return admin_error(r, 500, "store_failed", NULL, "token check failed");
        return admin_error(r, 401, "unauthorized", NULL, "unknown, revoked or expired token");
    }
    r->authed = 1;
    return 0;
}
