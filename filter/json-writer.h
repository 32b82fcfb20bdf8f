/* A streaming JSON writer into a caller-owned, growable buffer with a hard
 * ceiling (curl's dynbuf habit).
 *
 * Why not jansson here: jansson builds a tree of heap nodes per document,
 * which on the decode path means several allocations per PDU.  Output is
 * write-only and shaped by code, so a writer that appends to one reused buffer
 * costs nothing per event.  jansson is used where JSON is *parsed* (API
 * bodies, configuration).
 *
 * Usage: jw_reset(); jw_obj_begin(); jw_key_str("event", "pdu"); ...;
 * jw_obj_end(); then jw_data()/jw_len(), or jw_flush_line(w, FILE*).
 * Commas are inserted automatically.  Strings are escaped as JSON requires;
 * invalid UTF-8 is replaced by U+FFFD so the output is always valid JSON.
 *
 * The event writers on the decode path (output-json.c, smpp.c) use the
 * inline members of json-writer-int.h instead, with the same output and
 * guarantees; the struct stays private to those three files.
 */
#ifndef SG_JSON_WRITER_H
#define SG_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct jw jw_t;

/* ceiling: the largest document the writer will build; past it the writer
 * enters an error state (jw_failed) and further calls are no-ops. */
jw_t *jw_new(size_t ceiling);
void jw_free(jw_t *w);
void jw_reset(jw_t *w);
bool jw_failed(const jw_t *w);
const char *jw_data(const jw_t *w);
size_t jw_len(const jw_t *w);
/* Writes the document and a newline to f and resets the writer.  Returns 0
 * or -errno. */
int jw_flush_line(jw_t *w, FILE *f);

void jw_obj_begin(jw_t *w);
void jw_obj_end(jw_t *w);
void jw_arr_begin(jw_t *w);
void jw_arr_end(jw_t *w);
/* A key inside an object; the next value call supplies its value.  Keys are
 * identifiers written in the code ("source_addr"), never data, so they are
 * copied without escaping. */
void jw_keyn(jw_t *w, const char *key, size_t n);
/* Inline so that a literal key's strlen folds to a constant. */
static inline void jw_key(jw_t *w, const char *key) { jw_keyn(w, key, strlen(key)); }

void jw_str(jw_t *w, const char *s);
void jw_strn(jw_t *w, const char *s, size_t n);   /* UTF-8, escaped */
void jw_hex(jw_t *w, const uint8_t *p, size_t n); /* "0a1b..." */
void jw_uint(jw_t *w, uint64_t v);
void jw_int(jw_t *w, int64_t v);
void jw_double(jw_t *w, double v);
void jw_bool(jw_t *w, bool v);
void jw_null(jw_t *w);
/* Appends an already-serialised JSON value verbatim. */
void jw_raw(jw_t *w, const char *json, size_t n);
/* RFC 3339 UTC with microseconds: "2026-11-27T19:38:03.123456Z". */
void jw_time_us(jw_t *w, uint64_t us_since_epoch);

/* Shorthands for key + value. */
static inline void jw_kstr(jw_t *w, const char *key, const char *s) { jw_key(w, key); jw_str(w, s); }
static inline void jw_kstrn(jw_t *w, const char *key, const char *s, size_t n) { jw_key(w, key); jw_strn(w, s, n); }
static inline void jw_kuint(jw_t *w, const char *key, uint64_t v) { jw_key(w, key); jw_uint(w, v); }
static inline void jw_kint(jw_t *w, const char *key, int64_t v) { jw_key(w, key); jw_int(w, v); }
static inline void jw_kbool(jw_t *w, const char *key, bool v) { jw_key(w, key); jw_bool(w, v); }
static inline void jw_khex(jw_t *w, const char *key, const uint8_t *p, size_t n) { jw_key(w, key); jw_hex(w, p, n); }

#endif
