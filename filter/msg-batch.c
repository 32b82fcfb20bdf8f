/* A bounded vector of decoder events: see msg-batch.h. */
#include "msg-batch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One queued event.  The endpoints live in the slot, so that the copy's
 * esme/smsc pointers need no arena bytes (and no alignment in it). */
struct msg_batch_event {
    union {
        struct decoder_message m;
        struct decoder_receipt r;
    } u;
    struct sg_endpoint esme, smsc;
    enum msg_batch_kind kind;
};

struct msg_batch {
    /* Hot: read or written by every add. */
    size_t n, max_events, n_messages;
    size_t used, arena_bytes;
    struct msg_batch_event *ev;
    uint8_t *arena;
};

msg_batch_t *msg_batch_new(size_t max_events, size_t arena_bytes)
{
    if (max_events == 0 || arena_bytes == 0 || max_events > SIZE_MAX / sizeof(struct msg_batch_event))
        return NULL;
    msg_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->max_events = max_events;
    b->arena_bytes = arena_bytes;
    b->ev = malloc(max_events * sizeof *b->ev);
    b->arena = malloc(arena_bytes);
    if (!b->ev || !b->arena) {
        msg_batch_free(b);
        return NULL;
    }
    return b;
}

void msg_batch_free(msg_batch_t *b)
{
    if (!b)
        return;
    free(b->ev);
    free(b->arena);
    free(b);
}

void msg_batch_reset(msg_batch_t *b)
{
    b->n = 0;
    b->n_messages = 0;
    b->used = 0;
}

size_t msg_batch_count(const msg_batch_t *b) { return b->n; }
size_t msg_batch_messages(const msg_batch_t *b) { return b->n_messages; }

enum msg_batch_kind msg_batch_kind(const msg_batch_t *b, size_t i)
{
    return i < b->n ? b->ev[i].kind : (enum msg_batch_kind)0;
}

const struct decoder_message *msg_batch_message(const msg_batch_t *b, size_t i)
{
    return i < b->n && b->ev[i].kind == MSG_BATCH_MESSAGE ? &b->ev[i].u.m : NULL;
}

const struct decoder_receipt *msg_batch_receipt(const msg_batch_t *b, size_t i)
{
    return i < b->n && b->ev[i].kind == MSG_BATCH_RECEIPT ? &b->ev[i].u.r : NULL;
}

/* Whether need more bytes fit: 0, SG_ENOSPC (not now) or -EMSGSIZE (never). */
static int room(const msg_batch_t *b, size_t need)
{
    if (need > b->arena_bytes)
        return -EMSGSIZE;
    if (b->n == b->max_events || need > b->arena_bytes - b->used)
        return SG_ENOSPC;
    return 0;
}

/* Copies n bytes (src may be NULL only when n is 0) into the arena, whose
 * room the caller has checked; returns where they went. */
static uint8_t *put(msg_batch_t *b, const void *src, size_t n)
{
    uint8_t *d = b->arena + b->used;
    if (n)
        memcpy(d, src, n);
    b->used += n;
    return d;
}

/* A view re-pointed into the arena; NULL stays NULL. */
static struct sg_view put_view(msg_batch_t *b, struct sg_view v)
{
    if (!v.p)
        return v;
    return (struct sg_view){put(b, v.p, v.len), v.len};
}

static const char *put_str(msg_batch_t *b, const char *s, size_t len_with_nul)
{
    return s ? (const char *)put(b, s, len_with_nul) : NULL;
}

/* The arena bytes a view takes (none when absent). */
static size_t view_bytes(struct sg_view v) { return v.p ? v.len : 0; }

/* The sum of six sizes, or SIZE_MAX (more than any arena) when one of them
 * is SIZE_MAX / 8 or more: below that, six sum without overflow.  One OR
 * and one test instead of an overflow test a term. */
static size_t sum6(size_t a, size_t b, size_t c, size_t d, size_t e, size_t f)
{
    if ((a | b | c | d | e | f) >= SIZE_MAX / 8)
        return SIZE_MAX;
    return a + b + c + d + e + f;
}

/* The endpoints by value into the slot; NULL stays NULL. */
static void put_endpoints(struct msg_batch_event *e, const struct sg_endpoint **esme,
                          const struct sg_endpoint **smsc)
{
    if (*esme) {
        e->esme = **esme;
        *esme = &e->esme;
    }
    if (*smsc) {
        e->smsc = **smsc;
        *smsc = &e->smsc;
    }
}

int msg_batch_add_message(msg_batch_t *b, const struct decoder_message *m)
{
    if (!b || !m)
        return SG_EINVAL;
    size_t account_n = m->account ? strlen(m->account) + 1 : 0;
    size_t msgid_n = m->message_id ? strlen(m->message_id) + 1 : 0;
    size_t text_n = m->text ? m->text_len : 0; /* and a NUL, added below */
    size_t ud_n = m->ud ? m->ud_len : 0;
    size_t need = sum6(account_n, msgid_n, text_n, ud_n, view_bytes(m->source_addr),
                       view_bytes(m->destination_addr));
    int rc = room(b, need == SIZE_MAX ? need : need + (m->text != NULL));
    if (rc != 0)
        return rc;
    struct msg_batch_event *e = &b->ev[b->n];
    /* The struct whole, so that every plain field (and any added later)
     * comes along; then each pointer is re-pointed at its copy. */
    e->u.m = *m;
    e->kind = MSG_BATCH_MESSAGE;
    struct decoder_message *c = &e->u.m;
    put_endpoints(e, &c->esme, &c->smsc);
    c->account = put_str(b, m->account, account_n);
    c->message_id = put_str(b, m->message_id, msgid_n);
    c->source_addr = put_view(b, m->source_addr);
    c->destination_addr = put_view(b, m->destination_addr);
    if (m->text) {
        char *t = (char *)put(b, m->text, m->text_len);
        t[m->text_len] = '\0';
        b->used++;
        c->text = t;
    }
    if (m->ud)
        c->ud = put(b, m->ud, m->ud_len);
    b->n++;
    b->n_messages++;
    return 0;
}

int msg_batch_add_receipt(msg_batch_t *b, const struct decoder_receipt *r)
{
    if (!b || !r)
        return SG_EINVAL;
    size_t msgid_n = r->message_id ? strlen(r->message_id) + 1 : 0;
    size_t need = sum6(msgid_n, view_bytes(r->stat), view_bytes(r->err), view_bytes(r->submit_date),
                       view_bytes(r->done_date), view_bytes(r->sub));
    size_t more = sum6(view_bytes(r->dlvrd), view_bytes(r->source_addr), view_bytes(r->destination_addr), 0, 0, 0);
    int rc = room(b, sum6(need, more, 0, 0, 0, 0));
    if (rc != 0)
        return rc;
    struct msg_batch_event *e = &b->ev[b->n];
    e->u.r = *r;
    e->kind = MSG_BATCH_RECEIPT;
    struct decoder_receipt *c = &e->u.r;
    put_endpoints(e, &c->esme, &c->smsc);
    c->message_id = put_str(b, r->message_id, msgid_n);
    c->stat = put_view(b, r->stat);
    c->err = put_view(b, r->err);
    c->submit_date = put_view(b, r->submit_date);
    c->done_date = put_view(b, r->done_date);
    c->sub = put_view(b, r->sub);
    c->dlvrd = put_view(b, r->dlvrd);
    c->source_addr = put_view(b, r->source_addr);
    c->destination_addr = put_view(b, r->destination_addr);
    b->n++;
    return 0;
}
