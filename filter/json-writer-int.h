/* Internals of the JSON writer, shared only with the modules that write the
 * decoder's event stream (output-json.c, smpp.c's dumper): the struct and
 * inline fast paths for members whose key is a literal.  Everyone else uses
 * json-writer.h, where the struct stays opaque.
 *
 * Why: `decode` writes about thirty members per PDU, three million keys per
 * 100,000 PDUs.  An out-of-line call per key and per value, each checking
 * the separator state and copying a key of unknown length, was a third of
 * the run.  Here a member ,"key":VALUE is one inline function: one room
 * check, a fixed-size copy of ,"key": (the length is a compile-time
 * constant), the value written in place.
 *
 * The guarantees of json-writer.h hold on every path: a fast path only runs
 * when the room it may touch is already allocated (it never grows the
 * buffer), so the ceiling, the error state and the byte-for-byte output are
 * those of the general functions, which run whenever the check fails.
 * Values passed as "plain" (jw_lit_kplain) are not escaped: only for text
 * the program makes (table names, formatted addresses and times), never for
 * anything read from the wire. */
#ifndef SG_JSON_WRITER_INT_H
#define SG_JSON_WRITER_INT_H

#include "json-writer.h"

#include <time.h>

#define JW_MAX_DEPTH 32

/* A small direct-mapped cache of formatted values (quotes included) for
 * callers that write the same value again and again: output-json.c keeps
 * the endpoints there, each written on every event of its flow.  Keyed by
 * three words the caller chooses; a slot with n == 0 is empty. */
#define JW_MEMO_SLOTS 64
#define JW_MEMO_TEXT 64
struct jw_memo_slot {
    uint64_t key[3];
    uint32_t n;
    char text[JW_MEMO_TEXT];
};

struct jw {
    /* Hot: read by every fast path. */
    char *buf;
    size_t len, cap;
    bool failed;
    bool after_key;
    int depth;
    /* need_comma[d]: the container at depth d already holds a member. */
    bool need_comma[JW_MAX_DEPTH];
    size_t ceiling;
    time_t time_secs;       /* second formatted in time_prefix */
    size_t time_prefix_len;
    char time_prefix[64];   /* "\"YYYY-MM-DDThh:mm:ss." */
    struct jw_memo_slot memo[JW_MEMO_SLOTS];
};

/* "00" "01" ... "99". */
extern const char jw_digits2[201];
/* Writes v (at least 100) in decimal at o; returns the new end.  At most 20
 * bytes. */
char *jw_put_uint_big(char *o, uint64_t v);
/* A string value (escaped) written right after a key written inline. */
void jw_put_escaped_value(jw_t *w, const char *s, size_t n);

/* ,"key": from a literal, and its length. */
#define JW_CK(k) ",\"" k "\":"
#define JW_CKN(k) (sizeof JW_CK(k) - 1)

/* Writes the key ck (",\"key\":", ckn bytes, NUL-terminated) and returns
 * the position after it, with `more` further bytes of room; NULL when the
 * general path must decide (no room, error state, a key after a key).  The
 * comma is dropped for an object's first member by copying from ck + 1:
 * the same ckn bytes (the last one the NUL, overwritten later), advancing
 * one byte less, so the copy keeps its constant size. */
static inline char *jw_key_copy(jw_t *w, const char *ck, size_t ckn, size_t copyn, size_t more)
{
    if (w->len + copyn + more > w->cap || w->failed || w->after_key)
        return NULL;
    char *o = w->buf + w->len;
    bool *nc = &w->need_comma[w->depth];
    size_t skip = !*nc;
    *nc = true;
    memcpy(o, ck + skip, copyn); /* copyn a constant at every call: no library call */
    return o + ckn - skip;
}

static inline char *jw_lit_begin(jw_t *w, const char *ck, size_t ckn, size_t more)
{
    return jw_key_copy(w, ck, ckn, ckn, more);
}

static inline void jw_lit_commit(jw_t *w, char *end) { w->len = (size_t)(end - w->buf); }

/* Decimal v at o (20 bytes of room); returns the new end.  Most numbers in
 * an event are below 100 (TON, NPI, flags, status 0). */
static inline char *jw_put_uint_at(char *o, uint64_t v)
{
    if (v < 10) {
        *o = (char)('0' + v);
        return o + 1;
    }
    if (v < 100) {
        memcpy(o, jw_digits2 + 2 * v, 2);
        return o + 2;
    }
    return jw_put_uint_big(o, v);
}

/* Bytes of a short string: two overlapping words for 4 to 16 bytes. */
static inline void jw_copy_short(char *o, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            o[i] = s[i];
    } else {
        memcpy(o, s, n);
    }
}

static inline void jw_lit_key_(jw_t *w, const char *ck, size_t ckn)
{
    char *o = jw_lit_begin(w, ck, ckn, 0);
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        return;
    }
    jw_lit_commit(w, o);
    w->after_key = true;
}

static inline void jw_lit_kuint_(jw_t *w, const char *ck, size_t ckn, uint64_t v)
{
    char *o = jw_lit_begin(w, ck, ckn, 20);
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_uint(w, v);
        return;
    }
    jw_lit_commit(w, jw_put_uint_at(o, v));
}

static inline void jw_lit_kbool_(jw_t *w, const char *ck, size_t ckn, bool v)
{
    char *o = jw_lit_begin(w, ck, ckn, 5);
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_bool(w, v);
        return;
    }
    memcpy(o, v ? "true" : "fals", 4);
    o[4] = 'e';
    jw_lit_commit(w, o + 4 + !v);
}

static inline void jw_lit_knull_(jw_t *w, const char *ck, size_t ckn)
{
    char *o = jw_lit_begin(w, ck, ckn, 4);
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_null(w);
        return;
    }
    memcpy(o, "null", 4);
    jw_lit_commit(w, o + 4);
}

/* s (n bytes, UTF-8, escaped). */
static inline void jw_lit_kstrn_(jw_t *w, const char *ck, size_t ckn, const char *s, size_t n)
{
    char *o = jw_lit_begin(w, ck, ckn, 0);
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_strn(w, s, n);
        return;
    }
    jw_lit_commit(w, o);
    jw_put_escaped_value(w, s, n);
}

/* s: n bytes the program made that need no escaping (printable ASCII but
 * '"' and '\\'), written between quotes as they are. */
static inline void jw_lit_kplain_(jw_t *w, const char *ck, size_t ckn, const char *s, size_t n)
{
    char *o = n <= 64 ? jw_lit_begin(w, ck, ckn, n + 2) : NULL;
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_strn(w, s, n);
        return;
    }
    *o++ = '"';
    jw_copy_short(o, s, n);
    o += n;
    *o++ = '"';
    jw_lit_commit(w, o);
}

/* A memo slot's text (a whole JSON value): a fixed-size copy of the slot. */
static inline void jw_lit_kmemo_(jw_t *w, const char *ck, size_t ckn, const struct jw_memo_slot *m)
{
    char *o = jw_lit_begin(w, ck, ckn, JW_MEMO_TEXT);
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_raw(w, m->text, m->n);
        return;
    }
    memcpy(o, m->text, JW_MEMO_TEXT);
    jw_lit_commit(w, o + m->n);
}

/* Keys from a table rather than a literal: ck holds ,"key": and its NUL in
 * an array of JW_TAB_KEY + 1 bytes, copied as JW_TAB_KEY bytes. */
#define JW_TAB_KEY 32
static inline char *jw_tab_begin(jw_t *w, const char *ck, size_t ckn, size_t more)
{
    return ckn > JW_TAB_KEY - 1 ? NULL : jw_key_copy(w, ck, ckn, JW_TAB_KEY, more);
}

/* A JSON value the program made (quotes included, n <= JW_TAB_KEY bytes)
 * from a buffer of at least JW_TAB_KEY readable bytes. */
static inline void jw_lit_kraw32_(jw_t *w, const char *ck, size_t ckn, const char *v, size_t n)
{
    char *o = n <= JW_TAB_KEY ? jw_lit_begin(w, ck, ckn, JW_TAB_KEY) : NULL;
    if (!o) {
        jw_keyn(w, ck + 2, ckn - 4);
        jw_raw(w, v, n);
        return;
    }
    memcpy(o, v, JW_TAB_KEY);
    jw_lit_commit(w, o + n);
}

/* k must be a string literal (the macros paste it into ,"k":). */
#define jw_lit_key(w, k) jw_lit_key_((w), JW_CK(k), JW_CKN(k))
#define jw_lit_kuint(w, k, v) jw_lit_kuint_((w), JW_CK(k), JW_CKN(k), (v))
#define jw_lit_kbool(w, k, v) jw_lit_kbool_((w), JW_CK(k), JW_CKN(k), (v))
#define jw_lit_knull(w, k) jw_lit_knull_((w), JW_CK(k), JW_CKN(k))
#define jw_lit_kstrn(w, k, s, n) jw_lit_kstrn_((w), JW_CK(k), JW_CKN(k), (s), (n))
#define jw_lit_kplain(w, k, s, n) jw_lit_kplain_((w), JW_CK(k), JW_CKN(k), (s), (n))
#define jw_lit_khex(w, k, p, n) (jw_lit_key((w), k), jw_hex((w), (p), (n)))
#define jw_lit_kraw32(w, k, v, n) jw_lit_kraw32_((w), JW_CK(k), JW_CKN(k), (v), (n))
#define jw_lit_kmemo(w, k, m) jw_lit_kmemo_((w), JW_CK(k), JW_CKN(k), (m))

static inline struct jw_memo_slot *jw_memo_slot(jw_t *w, uint64_t hash)
{
    return &w->memo[hash % JW_MEMO_SLOTS];
}

#endif
