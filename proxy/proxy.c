/* The inline SMPP proxy (proxy.h, docs/proxy.md). */
#define _GNU_SOURCE /* accept4 */
#include "proxy.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "json-writer.h"
#include "msisdn.h"
#include "proxy-mp.h"
#include "proxy-pdu.h"
#include "smpp-receipt.h"
#include "smpp.h"
#include "sms-udh.h"

enum { SIDE_ESME = 0, SIDE_SMSC = 1 };
#define OTHER(s) ((s) ^ 1)

enum link_state { L_FREE = 0, L_CONNECTING, L_OPEN, L_CLOSING };
enum bind_kind { BIND_NONE = 0, BIND_RX = 1, BIND_TX = 2, BIND_TRX = 3 };

/* Input buffers hold one maximal PDU plus what the next read brings. */
#define IN_CAP (SMPP_MAX_PDU_LEN + 16384u)
/* Room our own answers to a side may need per PDU processed. */
#define OWN_ROOM 1024u
#define LISTEN_TAG UINT64_MAX
#define EPOLL_WAIT_MS 50u
/* Sequence numbers of requests that timed out, per side, so that their
 * late answers are told from answers to nothing (both are dropped). */
#define LATE_RING 16u
/* Room in the SMSC side's pending table beyond the window: a completed
 * held message forwards up to 255 parts at once.  The window itself is
 * enforced by reading (room_for). */
#define PENDING_HEADROOM (PROXY_MP_MAX_PARTS + 1u)

struct buf {
    uint8_t *p;
    size_t off, len, cap; /* valid bytes: [off, len) */
};

struct conn {
    int fd;
    struct buf in, out;
    uint32_t events;      /* registered epoll interest */
    int stalled;          /* not read because the other side is full */
    uint64_t read_us;     /* monotonic time of the last read that brought
                             data: a lower bound on how long what is
                             buffered has waited (judge_budget_us) */
};

struct link {
    enum link_state state;
    struct conn c[2];
    /* sent[s]: requests sent to side s that s has not answered yet. */
    proxy_seqmap_t *sent[2];
    uint32_t own_seq[2];
    char account[17];     /* bind system_id (v3.4 §5.2.1: 16 octets) */
    uint8_t bind_kind;    /* of the pending or accepted bind */
    uint8_t bound;
    uint8_t unbinds_wanted; /* shutdown: unbind_resp still expected */
    uint8_t esme_gone;    /* the ESME's side failed or closed: write nothing more to it */
    /* The SMSC accepted a bind after the proxy had answered it
     * ESME_RBINDFAIL (a timeout): the SMSC holds a session the ESME does
     * not know about.  retiring: an unbind was sent to the SMSC, nothing
     * more passes; retire_now: it was answered (or timed out): close. */
    uint8_t retiring, retire_now;
    uint8_t late_pos[2];
    uint32_t late[2][LATE_RING]; /* timed-out seqs sent to side s (0 = none) */
    uint64_t connect_deadline_ms;
    struct sg_endpoint esme;
    char ip[SG_ENDPOINT_STRLEN];
};

struct proxy {
    struct proxy_config cfg;
    verdict_engine_t *engine;
    verdict_worker_t *worker;
    msglog_t *log;
    int lfd, ep;
    unsigned port;
    struct sockaddr_storage up_addr;
    socklen_t up_len;
    struct link *links;
    uint32_t *free_links; /* stack of free indices */
    unsigned n_free;
    proxy_mp_t *mp;
    /* Judging scratch, allocated once. */
    struct smpp_pdu *pdu, *mp_pdu;
    char *text;
    size_t text_cap;
    jw_t *jw;
    struct verdict verdict;
    uint64_t next_msgid;
    uint32_t msgid_salt;
    struct proxy_stats st;
    uint64_t now_us;          /* monotonic, taken once per loop iteration */
    /* The loop's last stall longer than the judging budget (a tick that
     * took that long, or an epoll_wait that came back that much later than
     * its timeout: the thread was not running): data read in the loop
     * iteration right after it was waiting through it (it would have
     * woken the loop at once), so it counts as read when the stall began.
     * stall_next: set by a tick; stall_now: this iteration is the one
     * after a stall. */
    uint64_t stall_begin_us;
    uint8_t stall_next, stall_now;
    uint64_t test_read_us, test_now_us; /* proxy_clock_for_test() */
    struct verdict vscratch;  /* a verdict the proxy writes (verified, unjudged) */
};

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Now, for the judging budget (a fixed clock in tests). */
static uint64_t clock_us(const proxy_t *p) { return p->test_now_us ? p->test_now_us : mono_us(); }

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_hostport(const char *s, struct sockaddr_storage *out, socklen_t *outlen, int passive)
{
    char host[256];
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
            return SG_EINVAL;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = '\0';
        port = e + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (!c || (size_t)(c - s) >= sizeof host)
            return SG_EINVAL;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = '\0';
        port = c + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0 || !res)
        return SG_EINVAL;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void endpoint_of(const struct sockaddr_storage *ss, struct sg_endpoint *ep)
{
    memset(ep, 0, sizeof *ep);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        ep->addr[10] = ep->addr[11] = 0xff;
        memcpy(ep->addr + 12, &a->sin_addr, 4);
        ep->port = ntohs(a->sin_port);
        ep->is_v4 = 1;
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        memcpy(ep->addr, &a->sin6_addr, 16);
        ep->port = ntohs(a->sin6_port);
    }
}

static size_t buf_free(const struct buf *b) { return b->cap - b->len + b->off; }

/* Room at the end for n bytes, compacting when that makes it. */
static uint8_t *buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->len < n && b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    return b->cap - b->len >= n ? b->p + b->len : NULL;
}

static int buf_append(struct buf *b, const uint8_t *p, size_t n)
{
    uint8_t *d = buf_reserve(b, n);
    if (!d)
        return SG_ENOSPC;
    memcpy(d, p, n);
    b->len += n;
    return 0;
}

void proxy_config_default(struct proxy_config *c)
{
    memset(c, 0, sizeof *c);
    c->block_mode = PROXY_BLOCK_ERROR;
    c->block_status = PROXY_ESME_RSUBMITFAIL;
    c->deliver_block_status = 0;
    c->fail_mode = PROXY_FAIL_OPEN;
    c->enforce = 1;
    c->max_links = 4096;
    c->out_buf = 256u * 1024u;
    c->window = 256;
    c->connect_timeout_ms = 5000;
    c->response_timeout_ms = 5000;
    c->timeout_status = SMPP_ESME_RSYSERR;
    c->judge_budget_us = 0;
    c->mp_mode = PROXY_MP_HOLD;
    c->mp_max_messages = 1024;
    c->mp_max_bytes = 8u << 20;
    c->mp_timeout_s = 30;
    c->msgid_map_max = 65536;
    c->text.dc1_gsm = 1; /* node-smpp and others label GSM octets as IA5 */
}

/* ---- link lifecycle ------------------------------------------------------ */

static uint64_t tag_of(const proxy_t *p, const struct link *l, int side)
{
    return (uint64_t)(l - p->links) << 1 | (uint64_t)side;
}

static void conn_interest(proxy_t *p, struct link *l, int side, uint32_t ev)
{
    struct conn *c = &l->c[side];
    if (c->fd < 0 || c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.u64 = tag_of(p, l, side)};
    if (epoll_ctl(p->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

static void part_failed(proxy_t *p, struct link *l, const struct proxy_pending *pe, const char *stat, int state);
static uint32_t timeout_status(const proxy_t *p, int requester, uint32_t id);

struct close_ctx {
    proxy_t *p;
    struct link *l;
};

/* A held part forwarded to the SMSC that never answered it: the ESME was
 * told it was accepted, and its fate will never be known. */
static void fail_pending_part(void *ctx, uint32_t seq, const struct proxy_pending *v)
{
    struct close_ctx *x = ctx;
    (void)seq;
    if (v->kind == PROXY_PEND_HELD_PART)
        part_failed(x->p, x->l, v, "UNDELIV", SMPP_STATE_UNDELIVERABLE);
}

static void link_close(proxy_t *p, struct link *l)
{
    if (l->state == L_FREE)
        return;
    if (l->state != L_CONNECTING) {
        /* Held multipart parts that were answered ESME_ROK and now cannot
         * be forwarded (still held) or confirmed (forwarded, unanswered)
         * get their failure receipts first: to this link's ESME when it is
         * a transceiver still there (the write below flushes them), else
         * to another receiver bind of the account. */
        struct close_ctx x = {p, l};
        proxy_seqmap_drain(l->sent[SIDE_SMSC], fail_pending_part, &x);
        proxy_mp_drop_link(p->mp, (uint32_t)(l - p->links));
    }
    for (int s = 0; s < 2; s++) {
        struct conn *c = &l->c[s];
        if (c->fd >= 0) {
            /* Best effort: what is already answered should still reach the
             * peer (responses before a close). */
            if (c->out.len > c->out.off && l->state != L_CONNECTING)
                (void)!write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
            epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
        }
        c->in.off = c->in.len = c->out.off = c->out.len = 0;
        proxy_seqmap_drain(l->sent[s], NULL, NULL);
    }
    l->state = L_FREE;
    p->free_links[p->n_free++] = (uint32_t)(l - p->links);
    p->st.links_open--;
}

/* Link buffers are allocated lazily on first use of a slot, once: a
 * thousand idle slots cost no memory until they carry a connection. */
static int link_buffers(struct link *l)
{
    for (int s = 0; s < 2; s++) {
        if (!l->c[s].in.p)
            l->c[s].in.p = malloc(l->c[s].in.cap);
        if (!l->c[s].out.p)
            l->c[s].out.p = malloc(l->c[s].out.cap);
        if (!l->c[s].in.p || !l->c[s].out.p)
            return -1;
    }
    return 0;
}

/* A free slot taken by a new connection (esme_fd, smsc_fd; -1 in tests):
 * everything its previous link left is reset here, in one place. */
static void link_start(struct link *l, enum link_state state, int esme_fd, int smsc_fd)
{
    l->state = state;
    l->c[SIDE_ESME].fd = esme_fd;
    l->c[SIDE_SMSC].fd = smsc_fd;
    l->c[SIDE_ESME].stalled = l->c[SIDE_SMSC].stalled = 0;
    l->c[SIDE_ESME].read_us = l->c[SIDE_SMSC].read_us = 0;
    l->account[0] = '\0';
    l->bind_kind = BIND_NONE;
    l->bound = 0;
    l->unbinds_wanted = 0;
    l->esme_gone = 0;
    l->retiring = l->retire_now = 0;
    memset(l->late, 0, sizeof l->late);
    l->own_seq[0] = l->own_seq[1] = 0;
}

static void accept_all(proxy_t *p)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(p->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (p->n_free == 0) {
            p->st.links_refused++;
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int up = socket(p->up_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (up < 0) {
            p->st.links_refused++;
            close(fd);
            continue;
        }
        setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = connect(up, (struct sockaddr *)&p->up_addr, p->up_len);
        if (rc != 0 && errno != EINPROGRESS) {
            /* Unreachable at once: the ESME's connection closes before it
             * could bind, so nothing is acknowledged. */
            p->st.upstream_failures++;
            close(up);
            close(fd);
            continue;
        }
        struct link *l = &p->links[p->free_links[p->n_free - 1]];
        if (link_buffers(l) != 0) {
            p->st.links_refused++;
            close(up);
            close(fd);
            continue;
        }
        p->n_free--;
        link_start(l, L_CONNECTING, fd, up);
        l->connect_deadline_ms = now_ms() + p->cfg.connect_timeout_ms;
        endpoint_of(&ss, &l->esme);
        sg_endpoint_format(&l->esme, l->ip, sizeof l->ip);
        char *colon = strrchr(l->ip, ':'); /* the address only: ports change per connection */
        if (colon)
            *colon = '\0';
        if (l->ip[0] == '[') {
            memmove(l->ip, l->ip + 1, strlen(l->ip));
            l->ip[strlen(l->ip) - 1] = '\0';
        }
        struct epoll_event e = {.events = 0, .data.u64 = tag_of(p, l, SIDE_ESME)};
        epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &e);
        l->c[SIDE_ESME].events = 0; /* read the ESME once the SMSC answers */
        e.events = EPOLLOUT;
        e.data.u64 = tag_of(p, l, SIDE_SMSC);
        epoll_ctl(p->ep, EPOLL_CTL_ADD, up, &e);
        l->c[SIDE_SMSC].events = EPOLLOUT;
        p->st.links_accepted++;
        p->st.links_open++;
    }
}

/* ---- output ----------------------------------------------------------------- */

static int send_raw(struct link *l, int side, const uint8_t *pdu, size_t len)
{
    return buf_append(&l->c[side].out, pdu, len);
}

static uint8_t *own_space(struct link *l, int side, size_t *cap)
{
    struct buf *b = &l->c[side].out;
    uint8_t *d = buf_reserve(b, OWN_ROOM);
    *cap = d ? b->cap - b->len : 0;
    return d;
}

/* A response the proxy writes itself (room was checked before the PDU
 * that needs it was taken from the input). */
static void send_resp(proxy_t *p, struct link *l, int side, uint32_t req_id, uint32_t status, uint32_t seq,
                      const char *msgid)
{
    size_t cap;
    uint8_t *d = own_space(l, side, &cap);
    int n = d ? proxy_pdu_response(d, cap, req_id, status, seq, msgid) : SG_ENOSPC;
    if (SG_NEVER(n < 0))
        return;
    l->c[side].out.len += (size_t)n;
    if ((req_id | SMPP_RESP_BIT) == SMPP_CMD(generic_nack))
        p->st.generic_nacks++;
}

static void send_own_request(proxy_t *p, struct link *l, int side, uint32_t command_id)
{
    size_t cap;
    uint8_t *d = own_space(l, side, &cap);
    uint32_t seq = proxy_seq_next(&l->own_seq[side]);
    struct proxy_pending pe = {.command_id = command_id, .kind = PROXY_PEND_OWN, .sent_us = p->now_us};
    if (!d || proxy_seqmap_put(l->sent[side], seq, &pe) != 0)
        return;
    l->c[side].out.len += (size_t)proxy_pdu_simple(d, cap, command_id, seq);
}

/* ---- message log --------------------------------------------------------- */

static void cstr_of(char *dst, size_t cap, struct sg_view v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n)
        memcpy(dst, v.p, n);
    dst[n] = '\0';
}

/* Logs a message the proxy judged (or passed unjudged) and hands it to the
 * on_judged hook.  note (may be NULL): the detail of an extra reason
 * {"type":"multipart","id":"incomplete"} for a monitored multipart message
 * judged on the parts that arrived (not a verdict reason: it says what was
 * judged).  Returns the row's message-log id, 0 when not logged. */
static int64_t log_message(proxy_t *p, const struct link *l, const struct smpp_pdu *pdu,
                           const struct verdict *v, unsigned parts, int enforced, const char *note)
{
    if (!p->log && !p->cfg.on_judged)
        return 0;
    char src[MSGLOG_ADDR_MAX + 1];
    int64_t ts = wall_us(), link = 0;
    cstr_of(src, sizeof src, pdu->source_addr);
    if (p->log) {
        char dst_raw[MSGLOG_ADDR_MAX + 1], dst[MSGLOG_ADDR_MAX + 1], fp[17], reasons[MSGLOG_REASONS_MAX];
        struct sg_view d = pdu->command_id == SMPP_CMD(submit_multi) && pdu->n_dests ? pdu->dests[0].addr
                                                                                     : pdu->destination_addr;
        cstr_of(dst_raw, sizeof dst_raw, d);
        const struct verdict_config *vc = verdict_engine_config(p->engine);
        if (msisdn_normalise(dst_raw, vc->country_code, vc->trunk_prefix, dst, sizeof dst) < 0)
            snprintf(dst, sizeof dst, "%s", dst_raw);
        verdict_fingerprint_hex(v->fingerprint, fp);
        /* Too long for the column: shortened as the tap does (details,
         * then the last entries go), never []. */
        const struct verdict_json_note mp_note = {"multipart", "incomplete", note};
        verdict_reasons_json(v, note ? &mp_note : NULL, p->jw, reasons, sizeof reasons);
        struct msglog_row row = {
            .ts_us = ts, .account = l->account, .source_addr = src, .source_ton = pdu->source_addr_ton,
            .dest_addr = dst, .src_ip = l->ip, .action = verdict_action_name(v->action), .score = v->score,
            .reasons = reasons, .fingerprint = fp, .snippet = v->snippet,
            .parts = (int)parts, .enforced = enforced,
        };
        if (msglog_submit(p->log, &row, &link) != 0)
            link = 0;
    }
    if (p->cfg.on_judged) {
        const struct proxy_judged j = {.ts_us = ts, .log_id = link, .sender = src, .account = l->account,
                                       .v = v, .parts = parts, .enforced = enforced};
        p->cfg.on_judged(p->cfg.on_judged_ctx, &j);
    }
    return link;
}

static void make_msgid(proxy_t *p, char out[32])
{
    snprintf(out, 32, "sg%08x%08llx", p->msgid_salt, (unsigned long long)++p->next_msgid);
}

/* A receiver bind of this account that can take a receipt: this link when
 * it binds as transceiver and its ESME is still there (also while it
 * closes: the close flushes it), else another open link of the account. */
static struct link *receiver_for(proxy_t *p, struct link *l)
{
    if (l->bound && l->bind_kind == BIND_TRX && !l->esme_gone)
        return l;
    for (unsigned i = 0; i < p->cfg.max_links; i++) {
        struct link *o = &p->links[i];
        if (o != l && o->state == L_OPEN && o->bound && !o->esme_gone && (o->bind_kind & BIND_RX) &&
            strcmp(o->account, l->account) == 0)
            return o;
    }
    return NULL;
}

/* A receipt of our own (REJECTD for a refused message, UNDELIV for a held
 * one that could not be forwarded) to the account's receiver, about a
 * message from src to dst. */
static void send_receipt_addr(proxy_t *p, struct link *l, struct sg_view src, uint8_t src_ton, uint8_t src_npi,
                              struct sg_view dst, uint8_t dst_ton, uint8_t dst_npi, const char *msgid,
                              const char *stat, int state)
{
    struct link *r = receiver_for(p, l);
    size_t cap;
    uint8_t *d = r ? own_space(r, SIDE_ESME, &cap) : NULL;
    if (!d) {
        p->st.receipts_undeliverable++;
        return;
    }
    uint32_t seq = proxy_seq_next(&r->own_seq[SIDE_ESME]);
    int64_t t = wall_us() / 1000000;
    int n = proxy_pdu_receipt(d, cap, seq, src, src_ton, src_npi, dst, dst_ton, dst_npi, msgid, stat, state, t, t);
    struct proxy_pending pe = {.command_id = SMPP_CMD(deliver_sm), .kind = PROXY_PEND_OWN, .sent_us = p->now_us};
    if (n < 0 || proxy_seqmap_put(r->sent[SIDE_ESME], seq, &pe) != 0) {
        p->st.receipts_undeliverable++;
        return;
    }
    r->c[SIDE_ESME].out.len += (size_t)n;
    p->st.receipts_sent++;
}

static void send_receipt(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, const char *msgid,
                         const char *stat, int state)
{
    send_receipt_addr(p, l, pdu->source_addr, pdu->source_addr_ton, pdu->source_addr_npi, pdu->destination_addr,
                      pdu->dest_addr_ton, pdu->dest_addr_npi, msgid, stat, state);
}

/* A held part answered ESME_ROK with an id we issued that will not be
 * delivered (refused by the SMSC, unanswered, its link closed): a failure
 * receipt under that id when the part asked for receipts (registered_
 * delivery 1 or 2, v3.4 §5.2.17), counted either way. */
static void part_failed(proxy_t *p, struct link *l, const struct proxy_pending *pe, const char *stat, int state)
{
    struct proxy_mp_issued in;
    p->st.mp_parts_failed++;
    if (proxy_mp_issued_info(p->mp, pe->aux, pe->issued_gen, &in) != 0) {
        p->st.receipts_undeliverable++; /* the id ring moved on: nothing to name */
        return;
    }
    if (in.registered_delivery & 0x03)
        send_receipt_addr(p, l, in.src, in.src_ton, in.src_npi, in.dst, in.dst_ton, in.dst_npi, in.issued, stat,
                          state);
}

/* ---- judging ------------------------------------------------------------------ */

/* Text of a decoded PDU into p->text; 1 text, 0 binary.  udh (may be NULL)
 * receives the parsed UDH. */
static int pdu_text(proxy_t *p, const struct smpp_pdu *pdu, const uint8_t *ud, size_t len, unsigned fill,
                    size_t *text_len)
{
    enum sms_charset cs = sms_charset_of(pdu->data_coding, &p->cfg.text);
    size_t n = 0;
    int rc = sms_text_decode(cs, &p->cfg.text, ud, len, fill, p->text, p->text_cap, &n, NULL);
    if (rc == SG_ENOTSUP || rc == SG_EINVAL)
        return 0;
    *text_len = n;
    return 1;
}

/* Whether the sender of a message from the ESME that could not be judged
 * is verified: step 1 of the judgement alone, against the engine's current
 * lists (verdict_engine_is_verified: one lookup, no allocation), so a
 * verified sender's one-time code passes even when the proxy never judged
 * that sender before.  wl_id gets the whitelist entry ("wl-N"). */
static int verified_sender(proxy_t *p, const struct link *l, const struct smpp_pdu *pdu,
                           char wl_id[VERDICT_ID_MAX])
{
    struct sg_view acct = {(const uint8_t *)l->account, strlen(l->account)};
    return verdict_engine_is_verified(p->engine, acct, pdu->source_addr, pdu->source_addr_ton, &l->esme,
                                      wall_us() / 1000000, wl_id);
}

/* Why a message was not judged. */
enum { JUDGED_OK = 0, UNJUDGED_ERROR = 1, UNJUDGED_LATE = 2 };

/* Judges text against the PDU's addresses.  Returns JUDGED_OK, or why it
 * was not judged (p->verdict then says allow): the engine failed, or the
 * message, read from side `from`, had waited past the budget when its
 * turn came (judging it would only make it later: fail_mode decides).
 * timed 0: no budget (nothing waits on this judgement: a monitored
 * multipart message judged on expiry). */
static int judge(proxy_t *p, struct link *l, int from, const struct smpp_pdu *pdu, const char *text,
                 size_t text_len, int binary, unsigned parts, int timed)
{
    uint64_t t0 = 0;
    if (p->cfg.judge_budget_us && timed) {
        t0 = clock_us(p);
        uint64_t rd = l->c[from].read_us;
        if (rd && t0 > rd && t0 - rd > p->cfg.judge_budget_us) {
            p->st.over_budget++;
            return UNJUDGED_LATE;
        }
    }
    struct sg_view d = pdu->command_id == SMPP_CMD(submit_multi) && pdu->n_dests ? pdu->dests[0].addr
                                                                                 : pdu->destination_addr;
    struct verdict_input in = {
        .ts = (sg_time_us)wall_us(), .now = wall_us() / 1000000,
        .account = {(const uint8_t *)l->account, strlen(l->account)},
        .source_addr = pdu->source_addr, .source_ton = pdu->source_addr_ton,
        .source_npi = pdu->source_addr_npi, .dest_addr = d, .src_ip = &l->esme,
        .text = binary ? NULL : text, .text_len = binary ? 0 : text_len, .is_binary = binary,
        .data_coding = pdu->data_coding, .parts = parts,
    };
    p->st.judged++;
    int rc = verdict_judge(p->worker, &in, &p->verdict);
    if (p->cfg.judge_budget_us && timed && clock_us(p) - t0 > p->cfg.judge_budget_us)
        p->st.judge_slow++; /* its verdict still counts: the wait is spent */
    if (rc != 0)
        return UNJUDGED_ERROR;
    return JUDGED_OK;
}

/* The user data of a message PDU after its UDH, the UDH parsed into *udh
 * (udh->present 0 without one). */
static void pdu_ud(const struct smpp_pdu *pdu, struct sms_udh *udh, const uint8_t **ud, size_t *len,
                   unsigned *fill)
{
    struct sg_view m = smpp_pdu_message(pdu);
    *ud = m.p;
    *len = m.len;
    *fill = 0;
    udh->present = 0;
    udh->concat = 0;
    if (smpp_esm_has_udhi(pdu->esm_class) && m.len) {
        size_t off;
        const char *why;
        if (sms_udh_parse(m.p, m.len, udh, &off, &why) == 0 && udh->udhl <= m.len) {
            *ud = m.p + udh->udhl;
            *len = m.len - udh->udhl;
            *fill = sms_udh_fill_bits(udh->udhl);
            /* Unpacked GSM (one septet per octet) has no fill bits. */
            *fill = 0;
        }
    }
}

/* A verified sender's message that could not be judged passes (its
 * one-time codes are never silently lost) and raises an alert: a
 * message-log row whose reasons pair the whitelist entry with a
 * "proxy-unjudged" reason of type rule, the shape the alerts view lists
 * as a verified sender that needs a look (store_alert_messages). */
static int64_t log_verified_unjudged(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, const char *wl_id,
                                     int why, unsigned parts)
{
    struct verdict *v = &p->vscratch;
    memset(v, 0, offsetof(struct verdict, reasons));
    v->action = VERDICT_ALLOW;
    v->decided_by = 0;
    v->alert = 1;
    v->verified = 1;
    v->n_reasons = 2;
    v->n_shadow = 0;
    v->reasons_dropped = 0;
    v->fingerprint = 0;
    v->snippet[0] = '\0';
    v->reasons[0].type = VERDICT_R_WHITELIST;
    snprintf(v->reasons[0].id, sizeof v->reasons[0].id, "%s", wl_id);
    snprintf(v->reasons[0].detail, sizeof v->reasons[0].detail, "verified sender from account %s",
             l->account);
    v->reasons[0].score = 0;
    v->reasons[1].type = VERDICT_R_RULE;
    snprintf(v->reasons[1].id, sizeof v->reasons[1].id, "proxy-unjudged");
    snprintf(v->reasons[1].detail, sizeof v->reasons[1].detail, "not judged (%s): passed because the sender is verified",
             why == UNJUDGED_LATE ? "over the judging budget" : "engine error");
    v->reasons[1].score = 0;
    return log_message(p, l, pdu, v, parts, 0, NULL);
}

/* The answer to a refused submit from the ESME, as the link is configured:
 * block_status, or (silent) ESME_ROK with an id of ours and a REJECTD
 * receipt when one was asked for.  log_link: its message-log row, 0 none. */
static void answer_refused_submit(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, int silent,
                                  int64_t log_link)
{
    uint32_t seq = pdu->sequence_number;
    if (silent) {
        char id[32];
        make_msgid(p, id);
        send_resp(p, l, SIDE_ESME, pdu->command_id, 0, seq, id);
        if (p->log && log_link)
            msglog_update_response(p->log, log_link, id, 0, wall_us());
        if (pdu->registered_delivery & 0x03)
            send_receipt(p, l, pdu, id, "REJECTD", SMPP_STATE_REJECTED);
    } else {
        send_resp(p, l, SIDE_ESME, pdu->command_id, p->cfg.block_status, seq, NULL);
        if (p->log && log_link)
            msglog_update_response(p->log, log_link, NULL, p->cfg.block_status, wall_us());
    }
}

/* What to do with a judged message: 1 forward, 0 it was answered here.
 * unjudged: JUDGED_OK or why not.  quiet: a message that is forwarded is
 * not logged (a forward-mode part that does not complete its message: the
 * last part logs the whole). */
static int act_on_verdict(proxy_t *p, struct link *l, int from, const struct smpp_pdu *pdu, int unjudged,
                          unsigned parts, int quiet, int64_t *log_link)
{
    const struct verdict *v = &p->verdict;
    int block = 0, silent = 0;
    *log_link = 0;
    if (unjudged) {
        char wl[VERDICT_ID_MAX];
        if (from == SIDE_ESME && verified_sender(p, l, pdu, wl)) {
            p->st.verified_unjudged++;
            *log_link = log_verified_unjudged(p, l, pdu, wl, unjudged, parts);
            return 1;
        }
        if (p->cfg.fail_mode == PROXY_FAIL_CLOSED && p->cfg.enforce) {
            /* (monitor never changes traffic: an unjudged message passes) */
            p->st.fail_closed++;
            block = 1; /* never silently: an unjudged message may be an OTP */
        } else {
            p->st.fail_open++;
        }
    } else if (v->action == VERDICT_BLOCK && p->cfg.enforce) {
        block = 1;
        silent = p->cfg.block_mode == PROXY_BLOCK_SILENT;
    }
    if (!unjudged) {
        if (v->action == VERDICT_FLAG)
            p->st.flagged++;
        else if (v->action == VERDICT_ALLOW)
            p->st.allowed++;
        if (block || !quiet)
            *log_link = log_message(p, l, pdu, v, parts, block, NULL);
    }
    if (!block)
        return 1;
    if (from == SIDE_SMSC) {
        /* MO spam: accept and drop (an error makes the SMSC retry). */
        p->st.blocked_deliver++;
        send_resp(p, l, SIDE_SMSC, pdu->command_id, p->cfg.deliver_block_status, pdu->sequence_number, NULL);
        return 0;
    }
    p->st.blocked_submit++;
    answer_refused_submit(p, l, pdu, silent, *log_link);
    return 0;
}

/* ---- multipart ------------------------------------------------------------ */

/* The joined user data of a multipart message as text into p->text (the
 * same decoding for enforcement and monitor: fill 0); 1 text, 0 binary. */
static int joined_text(proxy_t *p, const struct smpp_pdu *pdu, const uint8_t *ud, size_t ud_len, size_t *tl)
{
    *tl = 0;
    if (!ud_len)
        return 0;
    enum sms_charset cs = sms_charset_of(pdu->data_coding, &p->cfg.text);
    size_t n = 0;
    int rc = sms_text_decode(cs, &p->cfg.text, ud, ud_len, 0, p->text, p->text_cap, &n, NULL);
    *tl = n;
    return rc != SG_ENOTSUP && rc != SG_EINVAL;
}

/* A monitored multipart message whose parts stopped coming (expired,
 * evicted, its link closed): its parts all went to the SMSC as they came,
 * so it is judged on what arrived and logged once, marked incomplete (one
 * row per logical message, as enforcement would have written had it
 * completed).  Nothing waits for this judgement: no budget. */
static void mon_incomplete(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, const struct proxy_mp_message *m)
{
    size_t tl = 0;
    int text = joined_text(p, pdu, m->ud, m->ud_len, &tl);
    p->st.mp_mon_incomplete++;
    if (judge(p, l, SIDE_ESME, pdu, p->text, tl, !text, m->total, 0) != JUDGED_OK) {
        p->st.fail_open++;
        return;
    }
    if (p->verdict.action == VERDICT_FLAG)
        p->st.flagged++;
    else if (p->verdict.action == VERDICT_ALLOW)
        p->st.allowed++;
    char note[96];
    snprintf(note, sizeof note, "%u of %u parts arrived (%s); judged on those", m->n_parts, (unsigned)m->total,
             m->reason == PROXY_MP_DONE_EXPIRED ? "expired" : m->reason == PROXY_MP_DONE_LINK_CLOSED ? "link closed"
                                                                                                     : "evicted");
    log_message(p, l, pdu, &p->verdict, m->n_parts, 0, note);
}

/* A multipart message is complete (or timed out): judge the joined text
 * and forward all parts or none.  Called by proxy-mp.c. */
static void mp_complete(void *ctx, const struct proxy_mp_message *m)
{
    proxy_t *p = ctx;
    struct link *l = &p->links[m->link];
    if (!m->complete)
        p->st.mp_parts_failed += m->n_issued;
    if (l->state != L_OPEN && l->state != L_CLOSING)
        return;
    /* Its own decode buffer: an eviction runs this in the middle of another
     * link's PDU, whose decoded form in p->pdu must survive. */
    struct smpp_pdu *pdu = p->mp_pdu;
    /* The last part's PDU carries the addresses and the sequence number
     * still to be answered. */
    if (smpp_decode(m->last_pdu, m->last_len, pdu, NULL) != 0)
        return;
    if (m->monitor) {
        mon_incomplete(p, l, pdu, m);
        return;
    }
    int unjudged = 0;
    if (m->complete) {
        size_t tl = 0;
        int text = 0;
        if (m->ud_len) {
            enum sms_charset cs = sms_charset_of(pdu->data_coding, &p->cfg.text);
            size_t n = 0;
            int rc = sms_text_decode(cs, &p->cfg.text, m->ud, m->ud_len, 0, p->text, p->text_cap, &n, NULL);
            text = rc != SG_ENOTSUP && rc != SG_EINVAL;
            tl = n;
        }
        unjudged = judge(p, l, SIDE_ESME, pdu, p->text, tl, !text, m->total, 1);
    }
    int64_t link = 0;
    int forward = m->complete ? act_on_verdict(p, l, SIDE_ESME, pdu, unjudged, m->total, 0, &link) : 0;
    if (!m->complete) {
        /* Parts missing after the timeout, evicted, or the link closing:
         * nothing can be forwarded whole; the parts answered at once get
         * UNDELIV receipts when receipts were asked for (v3.4 §5.2.17). */
        if (m->reason == PROXY_MP_DONE_EXPIRED)
            p->st.mp_expired++;
        if (pdu->registered_delivery & 0x03)
            for (unsigned i = 0; i < m->n_issued; i++)
                send_receipt(p, l, pdu, m->issued[i], "UNDELIV", SMPP_STATE_UNDELIVERABLE);
        return;
    }
    if (!forward) {
        p->st.mp_blocked++;
        /* The parts answered at once were acknowledged and never
         * forwarded: each gets its REJECTD receipt, in either block mode. */
        if (pdu->registered_delivery & 0x03)
            for (unsigned i = 0; i < m->n_issued; i++)
                send_receipt(p, l, pdu, m->issued[i], "REJECTD", SMPP_STATE_REJECTED);
        return;
    }
    /* Forward the held parts with our own numbers (already answered to the
     * ESME), the last one with the ESME's (its answer passes through). */
    for (unsigned i = 0; i < m->n_parts; i++) {
        const uint8_t *part = m->parts[i];
        size_t len = m->part_len[i];
        int is_last = part == m->last_pdu;
        uint8_t *d = buf_reserve(&l->c[SIDE_SMSC].out, len);
        if (!d)
            break; /* room was reserved for the whole message; cannot happen */
        memcpy(d, part, len);
        struct proxy_pending pe = {.command_id = smpp_be32(part + 4),
                                   .kind = is_last ? PROXY_PEND_JUDGED : PROXY_PEND_HELD_PART,
                                   .log_link = link, .aux = i, .sent_us = p->now_us};
        uint32_t seq = smpp_be32(part + 12);
        if (!is_last) {
            seq = proxy_seq_next(&l->own_seq[SIDE_SMSC]);
            d[12] = (uint8_t)(seq >> 24);
            d[13] = (uint8_t)(seq >> 16);
            d[14] = (uint8_t)(seq >> 8);
            d[15] = (uint8_t)seq;
            pe.aux = proxy_mp_issued_index(p->mp, m, i);
            pe.issued_gen = proxy_mp_issued_gen(p->mp, pe.aux);
        }
        proxy_seqmap_put(l->sent[SIDE_SMSC], seq, &pe);
        l->c[SIDE_SMSC].out.len += len;
    }
    p->st.mp_forwarded++;
}

/* ---- PDU handling ------------------------------------------------------------- */

static int is_bind_resp(uint32_t id)
{
    return id == SMPP_CMD(bind_receiver_resp) || id == SMPP_CMD(bind_transmitter_resp) ||
           id == SMPP_CMD(bind_transceiver_resp);
}

static int is_judged_request(int from, uint32_t id)
{
    if (from == SIDE_ESME)
        return id == SMPP_CMD(submit_sm) || id == SMPP_CMD(submit_multi) || id == SMPP_CMD(data_sm);
    return id == SMPP_CMD(deliver_sm) || id == SMPP_CMD(data_sm);
}

/* Sequence numbers of requests sent to side s that timed out; the oldest
 * record is overwritten (counted: its late answer, if it comes, is then
 * dropped as unmatched). */
static void late_remember(proxy_t *p, struct link *l, int s, uint32_t seq)
{
    uint32_t *slot = &l->late[s][l->late_pos[s]++ % LATE_RING];
    if (*slot)
        p->st.late_records_evicted++;
    *slot = seq;
}

static int late_forget(struct link *l, int s, uint32_t seq)
{
    for (unsigned i = 0; i < LATE_RING; i++)
        if (l->late[s][i] == seq && seq) {
            l->late[s][i] = 0;
            return 1;
        }
    return 0;
}

static void on_response(proxy_t *p, struct link *l, int from, const uint8_t *raw, size_t len)
{
    uint32_t id = smpp_be32(raw + 4), status = smpp_be32(raw + 8), seq = smpp_be32(raw + 12);
    struct proxy_pending pe;
    int known = proxy_seqmap_take(l->sent[from], seq, &pe) == 0;
    if (!known && late_forget(l, from, seq)) {
        /* The request timed out and was answered by us: a second answer
         * would break "exactly one response". */
        p->st.late_responses++;
        if (from == SIDE_SMSC && status == 0 && is_bind_resp(id) && !l->retiring) {
            /* A bind the ESME was told failed (ESME_RBINDFAIL) is bound at
             * the SMSC after all.  Left so, the SMSC would count a session
             * against the account's bind limit and could route MO traffic
             * and receipts to it.  End it as a carrier expects an ESME to
             * (v3.4 §4.2): unbind, then close once answered (or after the
             * response timeout); the ESME, already refused, is closed too. */
            p->st.late_binds_unbound++;
            l->retiring = 1;
            send_own_request(p, l, SIDE_SMSC, SMPP_CMD(unbind));
        }
        return;
    }
    if (known && pe.kind == PROXY_PEND_OWN) {
        if (pe.command_id == SMPP_CMD(unbind) && l->unbinds_wanted)
            l->unbinds_wanted--;
        if (pe.command_id == SMPP_CMD(unbind) && l->retiring)
            l->retire_now = 1;
        return;
    }
    if (!known && proxy_seq_is_own(seq)) {
        /* An answer to a number of ours that the table no longer holds
         * (its link's table was full when the request went): ours all the
         * same, and the other side never sent that number. */
        p->st.malformed++;
        return;
    }
    if (!known) {
        /* An answer to nothing pending (a number never sent, or one whose
         * timeout record was overwritten): the other side has either been
         * answered already or never asked. */
        p->st.unmatched_responses++;
        return;
    }
    if (pe.kind == PROXY_PEND_HELD_PART) {
        /* The SMSC's id for a part we answered ourselves: remember it so
         * its receipts reach the ESME under the id we issued.  A part it
         * refuses was acknowledged to the ESME: a REJECTD receipt says so. */
        if (status == 0 && len > SMPP_HEADER_LEN) {
            /* Unless the id ring has issued that entry again meanwhile. */
            if (proxy_mp_issued_gen(p->mp, pe.aux) == pe.issued_gen) {
                size_t n = strnlen((const char *)raw + SMPP_HEADER_LEN, len - SMPP_HEADER_LEN);
                proxy_mp_map_id(p->mp, pe.aux, (const char *)raw + SMPP_HEADER_LEN, n);
                p->st.msgid_mapped++;
            }
        } else if (status != 0) {
            part_failed(p, l, &pe, "REJECTD", SMPP_STATE_REJECTED);
        }
        return;
    }
    if (pe.kind == PROXY_PEND_JUDGED && p->log && pe.log_link) {
        char msgid[MSGLOG_MSGID_MAX + 1] = "";
        if (len > SMPP_HEADER_LEN) {
            size_t n = strnlen((const char *)raw + SMPP_HEADER_LEN, len - SMPP_HEADER_LEN);
            cstr_of(msgid, sizeof msgid, (struct sg_view){raw + SMPP_HEADER_LEN, n});
        }
        msglog_update_response(p->log, pe.log_link, msgid[0] ? msgid : NULL, status, wall_us());
    }
    if (from == SIDE_SMSC && status == 0 && is_bind_resp(id))
        l->bound = 1;
    send_raw(l, OTHER(from), raw, len);
}

/* A receipt from the SMSC: log it, and put back the id we issued when it
 * reports on a held part (the SMSC only knows its own id). */
static void on_receipt(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, const uint8_t *raw, size_t len)
{
    struct sg_view text = smpp_pdu_message(pdu);
    struct smpp_receipt r;
    memset(&r, 0, sizeof r);
    int parsed = smpp_receipt_parse(text.p, text.len, &r) == 0;
    struct sg_view id = pdu->tlv.receipted_message_id.p ? pdu->tlv.receipted_message_id : r.id;
    if (p->log && id.len) {
        char mid[MSGLOG_MSGID_MAX + 1], stat[MSGLOG_STAT_MAX + 1], err[MSGLOG_STAT_MAX + 1];
        cstr_of(mid, sizeof mid, id);
        cstr_of(stat, sizeof stat, parsed ? r.stat : (struct sg_view){0});
        cstr_of(err, sizeof err, parsed ? r.err : (struct sg_view){0});
        if (!stat[0] && pdu->tlv.message_state >= 0)
            snprintf(stat, sizeof stat, "%s", smpp_message_state_name(pdu->tlv.message_state) ?: "");
        msglog_update_receipt(p->log, mid, l->account, stat, err, wall_us());
    }
    char issued[PROXY_MP_ID_MAX + 1];
    if (id.len && proxy_mp_lookup_id(p->mp, id.p, id.len, issued) == 0) {
        uint8_t *d = buf_reserve(&l->c[SIDE_ESME].out, len + 2 * PROXY_MP_ID_MAX);
        int n = d ? proxy_mp_rewrite_receipt(raw, len, pdu, id, issued, d,
                                             l->c[SIDE_ESME].out.cap - l->c[SIDE_ESME].out.len)
                  : -1;
        if (n > 0) {
            l->c[SIDE_ESME].out.len += (size_t)n;
            return;
        }
        if (n == SG_EINVAL)
            p->st.malformed++; /* forwarded as it came, under the SMSC's id */
    }
    send_raw(l, SIDE_ESME, raw, len);
}

/* A part of a multipart submit in forward mode (--multipart forward): the
 * text so far is judged; allowed, the part goes on at once with the ESME's
 * number (the SMSC answers it); judged spam, it gets the block answer and
 * so does every later part of the message, unjudged.  Parts already
 * forwarded cannot be recalled (counted: mp_fwd_partial).  Only the part
 * that completes an allowed message, or the one that is refused, is
 * logged.  Returns 1 when handled, 0 when the part is not tracked (judge
 * it alone). */
static int mp_forward(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, const struct proxy_mp_part *part,
                      unsigned fill, unsigned total, struct proxy_pending *pe)
{
    struct proxy_mp_fwd f;
    int r = proxy_mp_fwd_add(p->mp, part, now_ms(), &f);
    if (r == PROXY_MP_FWD_REFUSE) {
        p->st.mp_fwd_refused++;
        p->st.blocked_submit++;
        answer_refused_submit(p, l, pdu, p->cfg.block_mode == PROXY_BLOCK_SILENT, 0);
        return 1;
    }
    if (r != PROXY_MP_FWD_JUDGE)
        return 0;
    size_t tl = 0;
    int text = 0;
    if (f.ud_len) {
        enum sms_charset cs = sms_charset_of(pdu->data_coding, &p->cfg.text);
        size_t n = 0;
        int rc = sms_text_decode(cs, &p->cfg.text, f.ud, f.ud_len, fill, p->text, p->text_cap, &n, NULL);
        text = rc != SG_ENOTSUP && rc != SG_EINVAL;
        tl = n;
    }
    int unjudged = judge(p, l, SIDE_ESME, pdu, p->text, tl, !text, total, 1);
    int64_t link = 0;
    int fwd = act_on_verdict(p, l, SIDE_ESME, pdu, unjudged, total, !f.complete, &link);
    proxy_mp_fwd_verdict(p->mp, f.slot, !fwd);
    if (!fwd) {
        p->st.mp_fwd_blocked++;
        if (f.received > 1)
            p->st.mp_fwd_partial++;
        return 1;
    }
    p->st.mp_fwd_parts++;
    pe->kind = link ? PROXY_PEND_JUDGED : PROXY_PEND_PASS;
    pe->log_link = link;
    proxy_seqmap_put(l->sent[SIDE_SMSC], pdu->sequence_number, pe);
    send_raw(l, SIDE_SMSC, part->raw, part->raw_len);
    return 1;
}

/* A part of a multipart submit in monitor mode (--monitor): forwarded at
 * once and unchanged with the ESME's number (the SMSC answers it), never
 * held.  A copy stays in the multipart table; the part that completes the
 * message gets the judgement of the whole text, with the same table, text
 * and addresses as enforcement (hold mode) would use, and the one log row
 * (its SMSC answer updates it).  Returns 1 when handled, 0 when the part
 * is not tracked (judge it alone, as enforcement would). */
static int mp_monitor(proxy_t *p, struct link *l, const struct smpp_pdu *pdu, const struct proxy_mp_part *part,
                      unsigned total, struct proxy_pending *pe)
{
    struct proxy_mp_fwd f;
    int r = proxy_mp_mon_add(p->mp, part, now_ms(), &f);
    if (r != PROXY_MP_MON_TRACKED && r != PROXY_MP_FWD_JUDGE)
        return 0;
    int64_t link = 0;
    if (r == PROXY_MP_FWD_JUDGE) {
        size_t tl = 0;
        int text = joined_text(p, pdu, f.ud, f.ud_len, &tl);
        int unjudged = judge(p, l, SIDE_ESME, pdu, p->text, tl, !text, total, 1);
        (void)act_on_verdict(p, l, SIDE_ESME, pdu, unjudged, total, 0, &link); /* never refuses: monitor */
        p->st.mp_mon_judged++;
    } else {
        p->st.mp_mon_parts++;
    }
    pe->kind = link ? PROXY_PEND_JUDGED : PROXY_PEND_PASS;
    pe->log_link = link;
    proxy_seqmap_put(l->sent[SIDE_SMSC], pdu->sequence_number, pe);
    send_raw(l, SIDE_SMSC, part->raw, part->raw_len);
    return 1;
}

static void on_request(proxy_t *p, struct link *l, int from, const uint8_t *raw, size_t len)
{
    uint32_t id = smpp_be32(raw + 4), seq = smpp_be32(raw + 12);
    struct proxy_pending pe = {.command_id = id, .kind = PROXY_PEND_PASS, .sent_us = p->now_us};
    struct smpp_pdu *pdu = p->pdu;

    if (l->retiring) {
        /* Only the SMSC is read now (retiring): it is answered here, the
         * ESME was refused; unbind ends the link at once. */
        uint32_t st = id == SMPP_CMD(unbind) || id == SMPP_CMD(enquire_link) ? 0 : timeout_status(p, from, id);
        send_resp(p, l, from, id, st, seq, NULL);
        if (id == SMPP_CMD(unbind))
            l->retire_now = 1;
        return;
    }
    if (proxy_seqmap_get(l->sent[OTHER(from)], seq)) {
        /* A number still in flight (v3.4 §5.1.4: unique per request):
         * forwarding it would leave one of the two without an answer, or
         * pair it with the other's.  Refused here, so each gets one. */
        p->st.duplicate_requests++;
        send_resp(p, l, from, id, SMPP_ESME_RSYSERR, seq, NULL);
        return;
    }

    if (from == SIDE_ESME && (id == SMPP_CMD(bind_receiver) || id == SMPP_CMD(bind_transmitter) ||
                              id == SMPP_CMD(bind_transceiver))) {
        /* The bind and its answer pass unchanged; its system_id is the
         * account (v3.4 §4.1). */
        if (smpp_decode(raw, len, pdu, NULL) == 0)
            cstr_of(l->account, sizeof l->account, pdu->system_id);
        l->bind_kind = id == SMPP_CMD(bind_receiver) ? BIND_RX : id == SMPP_CMD(bind_transmitter) ? BIND_TX : BIND_TRX;
    }
    if (!is_judged_request(from, id)) {
        proxy_seqmap_put(l->sent[OTHER(from)], seq, &pe);
        send_raw(l, OTHER(from), raw, len);
        return;
    }
    struct smpp_error err;
    int rc = smpp_decode(raw, len, pdu, &err);
    if (rc != 0) {
        /* A known request with a broken body: answered with its own
         * response and an error (v3.4 §4.3 keeps generic_nack for an
         * unknown command_id or bad length), never forwarded unjudged. */
        p->st.malformed++;
        send_resp(p, l, from, id, rc == SG_ETRUNC ? SMPP_ESME_RINVMSGLEN : SMPP_ESME_RSYSERR, seq, NULL);
        return;
    }
    if (from == SIDE_SMSC && smpp_esm_is_receipt(pdu->esm_class)) {
        proxy_seqmap_put(l->sent[SIDE_ESME], seq, &pe);
        on_receipt(p, l, pdu, raw, len);
        return;
    }
    struct sms_udh udh;
    const uint8_t *ud;
    size_t ud_len;
    unsigned fill;
    pdu_ud(pdu, &udh, &ud, &ud_len, &fill);
    int total = udh.concat ? udh.total : pdu->tlv.sar_total_segments > 0 ? pdu->tlv.sar_total_segments : 1;
    if (from == SIDE_ESME && total > 1) {
        struct proxy_mp_part part = {
            .link = (uint32_t)(l - p->links), .raw = raw, .raw_len = len,
            .src = pdu->source_addr, .dst = pdu->destination_addr,
            .ref = udh.concat ? udh.ref : (uint16_t)pdu->tlv.sar_msg_ref_num,
            .total = (uint8_t)total,
            .seq = udh.concat ? udh.seq : (uint8_t)pdu->tlv.sar_segment_seqnum,
            .ud = ud, .ud_len = ud_len,
            .src_ton = pdu->source_addr_ton, .src_npi = pdu->source_addr_npi,
            .dst_ton = pdu->dest_addr_ton, .dst_npi = pdu->dest_addr_npi,
            .registered_delivery = pdu->registered_delivery,
        };
        if (!p->cfg.enforce) {
            if (mp_monitor(p, l, pdu, &part, (unsigned)total, &pe))
                return;
            goto alone; /* not tracked: judged alone */
        }
        if (p->cfg.mp_mode == PROXY_MP_FORWARD) {
            if (mp_forward(p, l, pdu, &part, fill, (unsigned)total, &pe))
                return;
            goto alone; /* not tracked: judged alone */
        }
        char issued[PROXY_MP_ID_MAX + 1];
        int r = proxy_mp_add(p->mp, &part, issued, now_ms());
        if (r == PROXY_MP_HELD) {
            /* Answered at once so an ESME with a window of one goes on. */
            p->st.mp_held++;
            send_resp(p, l, SIDE_ESME, id, 0, seq, issued);
            return;
        }
        if (r == PROXY_MP_COMPLETED)
            return; /* mp_complete() answered or forwarded the last part */
        /* Cannot hold it (table full, bad part): judge it alone. */
    }
alone:;
    size_t tl = 0;
    int text = pdu_text(p, pdu, ud, ud_len, fill, &tl);
    int unjudged = judge(p, l, from, pdu, p->text, tl, !text, (unsigned)total, 1);
    int64_t link = 0;
    if (!act_on_verdict(p, l, from, pdu, unjudged, (unsigned)total, 0, &link))
        return;
    pe.kind = from == SIDE_ESME ? PROXY_PEND_JUDGED : PROXY_PEND_PASS;
    pe.log_link = link;
    proxy_seqmap_put(l->sent[OTHER(from)], seq, &pe);
    send_raw(l, OTHER(from), raw, len);
}

/* Whether a PDU from side s may be taken now: the other side can take a
 * maximal PDU (a whole held multipart message from the ESME), s can take
 * our answer, and the other side's window is not full. */
static int room_for(const proxy_t *p, const struct link *l, int s)
{
    size_t big = SMPP_MAX_PDU_LEN;
    if (s == SIDE_ESME && proxy_mp_max_message_bytes(p->mp) > big)
        big = proxy_mp_max_message_bytes(p->mp);
    size_t need = big + OWN_ROOM;
    return buf_free(&l->c[OTHER(s)].out) >= need && buf_free(&l->c[s].out) >= 2 * OWN_ROOM &&
           proxy_seqmap_count(l->sent[OTHER(s)]) < p->cfg.window;
}

/* Takes complete PDUs from side s's input.  Returns -1 when the link must
 * close (a length no framing can recover from). */
static int process_input(proxy_t *p, struct link *l, int s)
{
    struct conn *c = &l->c[s];
    c->stalled = 0;
    if (l->retire_now)
        return -1;
    if (l->retiring && s == SIDE_ESME) {
        c->stalled = 1; /* refused already: what it sends now stays unread */
        return 0;
    }
    while (c->in.len - c->in.off >= SMPP_HEADER_LEN) {
        if (l->retire_now)
            return -1;
        if (!room_for(p, l, s)) {
            c->stalled = 1;
            p->st.backpressure_stalls++;
            break;
        }
        const uint8_t *raw = c->in.p + c->in.off;
        uint32_t len = smpp_be32(raw), id = smpp_be32(raw + 4), seq = smpp_be32(raw + 12);
        if (len < SMPP_HEADER_LEN || len > SMPP_MAX_PDU_LEN) {
            /* v3.4 §4.3: generic_nack with ESME_RINVCMDLEN; the stream
             * cannot be re-framed, so the link ends after it. */
            p->st.malformed++;
            send_resp(p, l, s, SMPP_CMD(generic_nack), SMPP_ESME_RINVCMDLEN, seq, NULL);
            return -1;
        }
        if (c->in.len - c->in.off < len)
            break;
        c->in.off += len;
        if (s == SIDE_ESME)
            p->st.pdus_from_esme++;
        else
            p->st.pdus_from_smsc++;
        if (!smpp_command_known(id)) {
            /* v3.4 §4.3: an unknown command_id gets generic_nack
             * ESME_RINVCMDID; the link stays up. */
            p->st.malformed++;
            send_resp(p, l, s, SMPP_CMD(generic_nack), SMPP_ESME_RINVCMDID, seq, NULL);
            continue;
        }
        if (smpp_is_response(id))
            on_response(p, l, s, raw, len);
        else
            on_request(p, l, s, raw, len);
    }
    if (c->in.off == c->in.len)
        c->in.off = c->in.len = 0;
    else if (c->in.off > IN_CAP / 2) {
        memmove(c->in.p, c->in.p + c->in.off, c->in.len - c->in.off);
        c->in.len -= c->in.off;
        c->in.off = 0;
    }
    return 0;
}

/* Writes what is queued to side s.  -1 on a write error. */
static int flush_out(struct link *l, int s)
{
    struct conn *c = &l->c[s];
    while (c->out.len > c->out.off) {
        ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->out.off += (size_t)n;
    }
    if (c->out.off == c->out.len)
        c->out.off = c->out.len = 0;
    return 0;
}

/* Reads side s into its input buffer.  -1 on EOF or error.  Data is
 * stamped with the loop's time, or with the start of a loop stall it
 * waited through (read in the iteration right after one). */
static int fill_in(proxy_t *p, struct link *l, int s)
{
    struct conn *c = &l->c[s];
    for (;;) {
        uint8_t *d = buf_reserve(&c->in, 4096);
        if (!d)
            return 0; /* full: a PDU waits for room on the other side */
        ssize_t n = read(c->fd, d, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->read_us = p->stall_now ? p->stall_begin_us : p->now_us;
            if ((size_t)n < c->in.cap - c->in.len)
                return 0;
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

/* Moves everything that can move on a link and sets its epoll interest.
 * Returns -1 when the link closed. */
static int link_pump(proxy_t *p, struct link *l)
{
    if (l->state != L_OPEN && l->state != L_CLOSING)
        return 0;
    for (int round = 0; round < 2; round++) {
        for (int s = 0; s < 2; s++) {
            if (process_input(p, l, s) != 0) {
                flush_out(l, 0);
                flush_out(l, 1);
                link_close(p, l);
                return -1;
            }
        }
        int fe = flush_out(l, SIDE_ESME), fs = flush_out(l, SIDE_SMSC);
        if (fe != 0 || fs != 0) {
            l->esme_gone |= fe != 0;
            link_close(p, l);
            return -1;
        }
    }
    for (int s = 0; s < 2; s++) {
        struct conn *c = &l->c[s];
        uint32_t ev = 0;
        /* A stalled side is not read until the other side drains. */
        if (!c->stalled && buf_free(&c->in) >= 4096)
            ev |= EPOLLIN;
        if (c->out.len > c->out.off)
            ev |= EPOLLOUT;
        /* A stalled side is woken by the other side's EPOLLOUT. */
        if (l->c[OTHER(s)].stalled && l->c[s].out.len > l->c[s].out.off)
            ev |= EPOLLOUT;
        conn_interest(p, l, s, ev);
    }
    return 0;
}

static void upstream_failed(proxy_t *p, struct link *l)
{
    /* The SMSC cannot be reached: a bind already waiting is refused
     * (ESME_RBINDFAIL), then the ESME's connection closes.  Nothing was
     * acknowledged. */
    p->st.upstream_failures++;
    struct conn *e = &l->c[SIDE_ESME];
    (void)fill_in(p, l, SIDE_ESME);
    if (e->in.len - e->in.off >= SMPP_HEADER_LEN) {
        const uint8_t *raw = e->in.p + e->in.off;
        uint32_t id = smpp_be32(raw + 4);
        if (id == SMPP_CMD(bind_receiver) || id == SMPP_CMD(bind_transmitter) || id == SMPP_CMD(bind_transceiver)) {
            l->state = L_OPEN; /* so link_close writes the answer */
            send_resp(p, l, SIDE_ESME, id, SMPP_ESME_RBINDFAIL, smpp_be32(raw + 12), NULL);
        }
    }
    link_close(p, l);
}

static void on_connected(proxy_t *p, struct link *l)
{
    int err = 0;
    socklen_t sl = sizeof err;
    if (getsockopt(l->c[SIDE_SMSC].fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err != 0) {
        upstream_failed(p, l);
        return;
    }
    l->state = L_OPEN;
    (void)fill_in(p, l, SIDE_ESME);
    link_pump(p, l);
}

static void on_event(proxy_t *p, uint64_t tag, uint32_t ev)
{
    struct link *l = &p->links[tag >> 1];
    int s = (int)(tag & 1);
    if (l->state == L_FREE)
        return;
    if (l->state == L_CONNECTING) {
        if (s == SIDE_SMSC)
            on_connected(p, l);
        else if (ev & (EPOLLHUP | EPOLLERR)) {
            l->esme_gone = 1;
            link_close(p, l); /* the ESME left before the SMSC answered */
        }
        return;
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (fill_in(p, l, s) != 0) {
            if (s == SIDE_ESME)
                l->esme_gone = 1;
            /* One side closed: what it sent is processed and flushed to the
             * other side, then both close.  Requests the other side sent
             * that this one never answered stay unanswered: the peer sees
             * the connection go, never a false success. */
            process_input(p, l, s);
            flush_out(l, OTHER(s));
            link_close(p, l);
            return;
        }
    }
    link_pump(p, l);
}

/* ---- response timeouts -------------------------------------------------------- */

/* What the proxy answers to a request of command id that requester (side)
 * sent and the other side did not answer in time. */
static uint32_t timeout_status(const proxy_t *p, int requester, uint32_t id)
{
    if (requester == SIDE_ESME) {
        if (id == SMPP_CMD(submit_sm) || id == SMPP_CMD(submit_multi) || id == SMPP_CMD(data_sm))
            return p->cfg.timeout_status;
        if (id == SMPP_CMD(bind_receiver) || id == SMPP_CMD(bind_transmitter) || id == SMPP_CMD(bind_transceiver))
            return SMPP_ESME_RBINDFAIL;
        return SMPP_ESME_RSYSERR;
    }
    if (id == SMPP_CMD(deliver_sm) || id == SMPP_CMD(data_sm))
        return PROXY_ESME_RX_T_APPN; /* temporary: the SMSC delivers it again */
    return SMPP_ESME_RSYSERR;
}

/* Requests sent to either side of l and not answered by now_us - timeout:
 * the requester gets the proxy's answer (exactly once: the sequence number
 * is remembered, and a late answer is dropped), held parts a failure
 * receipt, the proxy's own requests are forgotten; each frees its pending
 * slot.  A requester whose output is full is answered on a later tick.
 * Work: O(1) per expired request, plus one look at each table. */
static void expire_pending(proxy_t *p, struct link *l, uint64_t now_us)
{
    uint64_t to = (uint64_t)p->cfg.response_timeout_ms * 1000u;
    for (int s = 0; s < 2; s++) {
        uint32_t seq;
        struct proxy_pending pe;
        while (proxy_seqmap_oldest(l->sent[s], &seq, &pe) == 0 && now_us >= to && pe.sent_us <= now_us - to) {
            int req = OTHER(s);
            if (pe.kind == PROXY_PEND_PASS || pe.kind == PROXY_PEND_JUDGED) {
                if (!buf_reserve(&l->c[req].out, OWN_ROOM))
                    break;
                uint32_t st = timeout_status(p, req, pe.command_id);
                send_resp(p, l, req, pe.command_id, st, seq, NULL);
                if (pe.kind == PROXY_PEND_JUDGED && p->log && pe.log_link)
                    msglog_update_response(p->log, pe.log_link, NULL, st, wall_us());
                p->st.timeout_answers++;
            }
            proxy_seqmap_take(l->sent[s], seq, NULL);
            if (pe.kind == PROXY_PEND_OWN && pe.command_id == SMPP_CMD(unbind) && l->retiring)
                l->retire_now = 1; /* the SMSC does not answer the unbind: close anyway */
            if (pe.kind == PROXY_PEND_HELD_PART)
                part_failed(p, l, &pe, "UNDELIV", SMPP_STATE_UNDELIVERABLE);
            late_remember(p, l, s, seq);
            p->st.timeouts++;
        }
    }
}

/* ---- public -------------------------------------------------------------------- */

static proxy_t *proxy_create(const struct proxy_config *c, verdict_engine_t *engine, msglog_t *log,
                             char *err, size_t errcap, int test_only)
{
    proxy_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    p->cfg = *c;
    p->engine = engine;
    p->log = log;
    p->lfd = p->ep = -1;
    p->msgid_salt = (uint32_t)time(NULL);
    struct sockaddr_storage la;
    socklen_t ll;
    if (!c->listen && !c->upstream && test_only)
        goto tables; /* proxy_new_for_test(): no addresses, no sockets */
    if (!c->listen || parse_hostport(c->listen, &la, &ll, 1) != 0) {
        snprintf(err, errcap, "--listen %s: not ADDR:PORT", c->listen ? c->listen : "(none)");
        goto fail;
    }
    if (!c->upstream || parse_hostport(c->upstream, &p->up_addr, &p->up_len, 0) != 0) {
        snprintf(err, errcap, "--upstream %s: not HOST:PORT (or does not resolve)", c->upstream ? c->upstream : "(none)");
        goto fail;
    }
tables:
    if (c->max_links == 0 || c->window == 0 || c->window > 1000000 || c->response_timeout_ms == 0 ||
        c->out_buf < 2 * (SMS_CONCAT_MAX_JOIN_PROXY + OWN_ROOM)) {
        snprintf(err, errcap, "proxy: max_links, response timeout and window (<= 1000000) must be > 0, out_buf >= %u",
                 2 * (SMS_CONCAT_MAX_JOIN_PROXY + OWN_ROOM));
        goto fail;
    }
    struct proxy_mp_config mc = {.max_messages = c->mp_max_messages, .max_bytes = c->mp_max_bytes,
                                 .timeout_ms = c->mp_timeout_s * 1000u, .id_map_max = c->msgid_map_max,
                                 .salt = p->msgid_salt};
    p->mp = proxy_mp_new(&mc, mp_complete, p);
    p->worker = verdict_worker_new(engine);
    p->pdu = malloc(sizeof *p->pdu);
    p->mp_pdu = malloc(sizeof *p->mp_pdu);
    p->text_cap = SMS_TEXT_DECODE_CAP(SMPP_MAX_PDU_LEN + SMS_CONCAT_MAX_JOIN_PROXY);
    p->text = malloc(p->text_cap);
    p->jw = jw_new(MSGLOG_REASONS_MAX - 1);
    p->links = calloc(c->max_links, sizeof *p->links);
    p->free_links = calloc(c->max_links, sizeof *p->free_links);
    if (!p->mp || !p->worker || !p->pdu || !p->mp_pdu || !p->text || !p->jw || !p->links ||
        !p->free_links) {
        snprintf(err, errcap, "proxy: cannot allocate its tables");
        goto fail;
    }
    /* Link slots and their tables now; a slot's buffers when it first
     * carries a connection (then kept): the message path never allocates,
     * and the memory a proxy can take is bounded by max_links. */
    for (unsigned i = 0; i < c->max_links; i++) {
        struct link *l = &p->links[i];
        for (int s = 0; s < 2; s++) {
            l->c[s].fd = -1;
            l->c[s].in.cap = IN_CAP;
            l->c[s].out.cap = c->out_buf;
            l->sent[s] = proxy_seqmap_new(c->window + (s == SIDE_SMSC ? PENDING_HEADROOM : 0));
            if (!l->sent[s]) {
                snprintf(err, errcap, "proxy: cannot allocate link tables");
                goto fail;
            }
        }
        p->free_links[p->n_free++] = c->max_links - 1 - i;
    }
    if (test_only)
        return p;
    p->lfd = socket(la.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (p->lfd < 0 || setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(p->lfd, (struct sockaddr *)&la, ll) != 0 || listen(p->lfd, 512) != 0) {
        snprintf(err, errcap, "--listen %s: %s", c->listen, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(p->lfd, (struct sockaddr *)&bound, &bl);
    struct sg_endpoint bep;
    endpoint_of(&bound, &bep);
    p->port = bep.port;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
    if (p->ep < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lfd, &e) != 0) {
        snprintf(err, errcap, "epoll: %s", strerror(errno));
        goto fail;
    }
    return p;
fail:
    proxy_free(p);
    return NULL;
}

proxy_t *proxy_new(const struct proxy_config *c, verdict_engine_t *engine, msglog_t *log, char *err,
                   size_t errcap)
{
    return proxy_create(c, engine, log, err, errcap, 0);
}

unsigned proxy_port(const proxy_t *p) { return p->port; }

void proxy_get_stats(const proxy_t *p, struct proxy_stats *out)
{
    *out = p->st;
    proxy_mp_get_stats(p->mp, &out->mp_evicted, &out->msgid_map_evicted);
    out->mp_fwd_expired = proxy_mp_fwd_expired(p->mp);
}

int proxy_run(proxy_t *p, volatile sig_atomic_t *stop, void (*tick)(void *ctx), void *ctx)
{
    struct epoll_event evs[256];
    uint64_t last_tick = now_ms(), stop_at = 0;
    p->now_us = mono_us();
    for (;;) {
        if (*stop && !stop_at) {
            /* Clean shutdown: stop accepting, unbind both sides of every
             * bound link (v3.4 §4.2), give them 2 s to answer. */
            stop_at = now_ms() + 2000;
            epoll_ctl(p->ep, EPOLL_CTL_DEL, p->lfd, NULL);
            for (unsigned i = 0; i < p->cfg.max_links; i++) {
                struct link *l = &p->links[i];
                if (l->state != L_OPEN)
                    continue;
                if (l->bound) {
                    send_own_request(p, l, SIDE_ESME, SMPP_CMD(unbind));
                    send_own_request(p, l, SIDE_SMSC, SMPP_CMD(unbind));
                    l->unbinds_wanted = 2;
                }
                l->state = L_CLOSING;
                link_pump(p, l);
            }
        }
        if (stop_at) {
            int busy = 0;
            for (unsigned i = 0; i < p->cfg.max_links; i++) {
                struct link *l = &p->links[i];
                if (l->state == L_FREE)
                    continue;
                if (l->state == L_CLOSING && l->unbinds_wanted == 0)
                    link_close(p, l);
                else
                    busy = 1;
            }
            if (!busy || now_ms() >= stop_at)
                break;
        }
        uint64_t w0 = p->cfg.judge_budget_us ? mono_us() : 0;
        /* The loop's body (events, judging, a tick: a lists reload from a
         * big store) ran longer than the budget, or the thread was stopped
         * or starved inside it: what arrived meanwhile waited from its
         * start.  (A stop inside epoll_wait is caught after it, below.) */
        if (w0 && w0 - p->now_us > p->cfg.judge_budget_us) {
            p->stall_begin_us = p->now_us;
            p->stall_next = 1;
        }
        int n = epoll_wait(p->ep, evs, (int)SG_ARRAY_LEN(evs), EPOLL_WAIT_MS);
        if (n < 0 && errno != EINTR)
            return -errno;
        p->now_us = mono_us();
        p->stall_now = p->stall_next;
        p->stall_next = 0;
        if (w0 && p->now_us - w0 > EPOLL_WAIT_MS * 1000u + p->cfg.judge_budget_us) {
            p->stall_now = 1;
            p->stall_begin_us = w0 + EPOLL_WAIT_MS * 1000u;
        }
        /* A stop and continue ends epoll_wait with EINTR and no events
         * (signal(7)): the data comes with the next call. */
        if (n < 0 && p->stall_now)
            p->stall_next = 1;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == LISTEN_TAG) {
                accept_all(p);
                continue;
            }
            on_event(p, evs[i].data.u64, evs[i].events);
        }
        uint64_t t = now_ms();
        if (t - last_tick >= 200) {
            last_tick = t;
            for (unsigned i = 0; i < p->cfg.max_links; i++) {
                struct link *l = &p->links[i];
                if (l->state == L_CONNECTING && t >= l->connect_deadline_ms)
                    upstream_failed(p, l);
            }
            proxy_mp_expire(p->mp, t);
            /* Response timeouts, then push out what expiry and timeouts
             * queued (answers, receipts). */
            for (unsigned i = 0; i < p->cfg.max_links; i++) {
                struct link *l = &p->links[i];
                if (l->state == L_OPEN || l->state == L_CLOSING) {
                    expire_pending(p, l, p->now_us);
                    link_pump(p, l);
                }
            }
            if (tick)
                tick(ctx); /* may take long: the body's check above counts it */
        }
    }
    for (unsigned i = 0; i < p->cfg.max_links; i++)
        link_close(p, &p->links[i]);
    return 0;
}

void proxy_free(proxy_t *p)
{
    if (!p)
        return;
    if (p->links) {
        for (unsigned i = 0; i < p->cfg.max_links; i++) {
            struct link *l = &p->links[i];
            if (l->state != L_FREE)
                link_close(p, l);
            for (int s = 0; s < 2; s++) {
                free(l->c[s].in.p);
                free(l->c[s].out.p);
                proxy_seqmap_free(l->sent[s]);
            }
        }
    }
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->ep >= 0)
        close(p->ep);
    proxy_mp_free(p->mp);
    verdict_worker_free(p->worker);
    free(p->pdu);
    free(p->mp_pdu);
    free(p->text);
    jw_free(p->jw);
    free(p->links);
    free(p->free_links);
    free(p);
}

/* ---- testing interface (proxy.h) ------------------------------------------------ */

/* Under AddressSanitizer the input buffer past the bytes fed is poisoned, so
 * a read past what a peer sent is caught although the buffer is larger. */
#if defined(__SANITIZE_ADDRESS__)
#define PROXY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROXY_TEST_ASAN 1
#endif
#endif
#ifdef PROXY_TEST_ASAN
#include <sanitizer/asan_interface.h>
#define TEST_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define TEST_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TEST_POISON(p, n) ((void)(p), (void)(n))
#define TEST_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

proxy_t *proxy_new_for_test(const struct proxy_config *c, verdict_engine_t *engine, msglog_t *log,
                            char *err, size_t errcap)
{
    struct proxy_config t = *c;
    t.listen = t.upstream = NULL;
    return proxy_create(&t, engine, log, err, errcap, 1);
}

int proxy_link_open_for_test(proxy_t *p)
{
    if (p->n_free == 0)
        return SG_ENOSPC;
    struct link *l = &p->links[p->free_links[p->n_free - 1]];
    if (link_buffers(l) != 0)
        return -ENOMEM;
    p->n_free--;
    link_start(l, L_OPEN, -1, -1);
    /* 192.0.2.1 (TEST-NET-1, RFC 5737) as the ESME's address. */
    memset(&l->esme, 0, sizeof l->esme);
    l->esme.addr[10] = l->esme.addr[11] = 0xff;
    l->esme.addr[12] = 192, l->esme.addr[14] = 2, l->esme.addr[15] = 1;
    l->esme.is_v4 = 1;
    snprintf(l->ip, sizeof l->ip, "192.0.2.1");
    p->st.links_accepted++;
    p->st.links_open++;
    return (int)(l - p->links);
}

/* What each side of every open link would be written, handed to out. */
static void test_drain(proxy_t *p, proxy_test_out_fn out, void *ctx)
{
    for (unsigned i = 0; i < p->cfg.max_links; i++) {
        struct link *l = &p->links[i];
        if (l->state == L_FREE)
            continue;
        for (int s = 0; s < 2; s++) {
            struct buf *b = &l->c[s].out;
            if (out && b->len > b->off)
                out(ctx, (int)i, s, b->p + b->off, b->len - b->off);
            b->off = b->len = 0;
        }
    }
}

int proxy_feed_for_test(proxy_t *p, unsigned link, int side, const uint8_t *data, size_t len,
                        size_t *taken, proxy_test_out_fn out, void *ctx)
{
    *taken = 0;
    if (link >= p->cfg.max_links || (side != SIDE_ESME && side != SIDE_SMSC))
        return SG_EINVAL;
    struct link *l = &p->links[link];
    if (l->state != L_OPEN)
        return SG_ENOTFOUND;
    struct buf *in = &l->c[side].in;
    TEST_UNPOISON(in->p, in->cap);
    p->now_us = p->test_read_us ? p->test_read_us : mono_us();
    size_t n = len;
    uint8_t *d = n ? buf_reserve(in, 1) : NULL;
    if (d) {
        if (n > in->cap - in->len)
            n = in->cap - in->len;
        memcpy(d, data, n);
        in->len += n;
        *taken = n;
        l->c[side].read_us = p->now_us;
    }
    TEST_POISON(in->p + in->len, in->cap - in->len);
    /* As link_pump() does after a read, with "write" handing the bytes to
     * out: two rounds over both sides, so what one side's answers unblock
     * is taken too. */
    int rc = 0;
    for (int round = 0; round < 2 && rc == 0; round++) {
        for (int s = 0; s < 2 && rc == 0; s++)
            if (process_input(p, l, s) != 0)
                rc = SG_EINVAL;
        test_drain(p, out, ctx);
    }
    if (rc != 0)
        link_close(p, l);
    return rc;
}

void proxy_expire_for_test(proxy_t *p, uint64_t at_ms, proxy_test_out_fn out, void *ctx)
{
    proxy_mp_expire(p->mp, at_ms);
    p->now_us = at_ms >= UINT64_MAX / 2000u ? UINT64_MAX / 2 : at_ms * 1000u;
    for (unsigned i = 0; i < p->cfg.max_links; i++)
        if (p->links[i].state == L_OPEN)
            expire_pending(p, &p->links[i], p->now_us);
    test_drain(p, out, ctx);
    for (unsigned i = 0; i < p->cfg.max_links; i++)
        if (p->links[i].state == L_OPEN && p->links[i].retire_now)
            link_close(p, &p->links[i]); /* as link_pump() does on the next tick */
    
}

void proxy_clock_for_test(proxy_t *p, uint64_t read_us, uint64_t now_us)
{
    p->test_read_us = read_us;
    p->test_now_us = now_us;
}
