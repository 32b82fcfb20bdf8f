/* Parser for the content rule language (docs/rules.md).
 *
 * A rule file is a sequence of blocks, one directive per line:
 *
 *   rule LOAN-RU-001
 *     name     "Loan offer without refusal (RU)"
 *     field    text                 # text | raw | sender | domain
 *     match    /займ.{0,20}без\s+отказ/
 *     match    "деньги без отказа"  # several match lines: any of them
 *     score    6
 *     action   block                # optional: none | flag | block
 *     tags     loan ru
 *     state    enabled              # enabled | shadow | disabled
 *     example  match    "Займ до 30000 руб без отказа"
 *     example  nomatch  "Займ одобрен? Нет"
 *   end
 *
 * Every error is collected (not just the first) as "file:line:col: message"
 * into a rules_diag; parsing goes on at the next line after an error, and a
 * rule with an error is dropped.  The parser reads hostile input: every
 * string, line and count is bounded (RULES_MAX_*), nothing is read past the
 * buffer, and the work is O(input length).
 *
 * Ownership: a rules_set owns copies of everything it parsed.  Not
 * thread-safe while being built; immutable and shareable once handed to
 * rules_db_build() (which takes it over).
 */
#ifndef SG_RULES_PARSE_H
#define SG_RULES_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sg-common.h"

/* Bounds on hostile input. */
#define RULES_MAX_FILE_BYTES   (16u << 20) /* one rule file */
#define RULES_MAX_LINE_BYTES   65536u
#define RULES_MAX_STRING_BYTES 8192u       /* one pattern, name or example */
#define RULES_MAX_ID_BYTES     64u
#define RULES_MAX_RULES        200000u     /* per rule set */
#define RULES_MAX_MATCHES      1024u       /* match lines per rule */
#define RULES_MAX_EXAMPLES     64u         /* example lines per rule */
#define RULES_MAX_TAGS_BYTES   512u
#define RULES_MAX_FILES        4096u       /* *.rules files in a directory */
#define RULES_SCORE_MIN        (-100)
#define RULES_SCORE_MAX        100

/* Default score thresholds (shared with the verdict engine): the sum of the
 * scores of a message's enabled rule hits decides flag at >= 3, block at
 * >= 5, unless a rule's own action says more. */
#define RULES_DEFAULT_FLAG_SCORE  3
#define RULES_DEFAULT_BLOCK_SCORE 5

enum rules_field {
    RULES_FIELD_TEXT = 0,   /* normalised text (text-norm.h) */
    RULES_FIELD_RAW = 1,    /* decoded text as received (UTF-8) */
    RULES_FIELD_SENDER = 2, /* source address as received */
    RULES_FIELD_DOMAIN = 3, /* each domain found in the text, lower case */
    RULES_FIELD_COUNT = 4,
};

enum rules_action {
    RULES_ACTION_NONE = 0,  /* the score alone decides */
    RULES_ACTION_FLAG = 1,
    RULES_ACTION_BLOCK = 2,
};

enum rules_state {
    RULES_STATE_ENABLED = 0,
    RULES_STATE_SHADOW = 1,   /* matched and counted, never acts or scores */
    RULES_STATE_DISABLED = 2, /* not compiled */
};

enum rules_pattern_kind {
    RULES_PAT_LITERAL = 0,  /* "..." */
    RULES_PAT_REGEX = 1,    /* /.../flags */
};

/* Pattern flags (regex: the letters after the closing slash; literal: a
 * trailing `i`). */
enum {
    RULES_PF_CASELESS = 1u << 0,  /* i */
    RULES_PF_DOTALL = 1u << 1,    /* s */
    RULES_PF_MULTILINE = 1u << 2, /* m */
};

struct rules_loc {
    const char *file; /* owned by the rules_set */
    uint32_t line;    /* 1-based */
    uint32_t col;     /* 1-based byte column */
};

struct rules_pattern {
    enum rules_pattern_kind kind;
    unsigned flags;      /* RULES_PF_* */
    char *text;          /* as written, escapes resolved; NUL-terminated */
    size_t len;          /* may contain NUL bytes for literals (\x00) */
    struct rules_loc loc;/* of the pattern's first character */
};

struct rules_example {
    int must_match;      /* 1: example match, 0: example nomatch */
    char *text;
    size_t len;
    struct rules_loc loc;
};

/* A parsed rule.  Read-only for callers. */
struct rules_rule {
    char *id;            /* unique within the set */
    char *name;          /* "" when absent */
    enum rules_field field;
    enum rules_action action;
    enum rules_state state;
    int score;
    char *tags;          /* space-separated, "" when none */
    struct rules_pattern *patterns;
    uint32_t npatterns;
    struct rules_example *examples;
    uint32_t nexamples;
    struct rules_loc loc; /* of the `rule` keyword */
};

/* ---- diagnostics ------------------------------------------------------ */

typedef struct rules_diag rules_diag_t;

/* A bounded list of messages "file:line:col: message".  At most max
 * messages are kept (0 = 1000); further ones are counted, and the last one
 * kept says how many were dropped. */
rules_diag_t *rules_diag_new(size_t max);
void rules_diag_free(rules_diag_t *d);
/* Adds one message; loc may be NULL (message without location). */
void rules_diag_add(rules_diag_t *d, const struct rules_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t rules_diag_count(const rules_diag_t *d);     /* errors seen, kept or not */
const char *rules_diag_get(const rules_diag_t *d, size_t i); /* i < kept */
size_t rules_diag_kept(const rules_diag_t *d);
void rules_diag_print(const rules_diag_t *d, FILE *f); /* one per line */
void rules_diag_clear(rules_diag_t *d);

/* ---- rule sets -------------------------------------------------------- */

typedef struct rules_set rules_set_t;

rules_set_t *rules_set_new(void);
void rules_set_free(rules_set_t *set);

/* Parses buf[0..len) (need not be NUL-terminated) as file `name` and adds
 * its rules to set.  Errors go to diag (may be NULL).  Returns 0 when the
 * file had no error, SG_EPARSE when it had some (the good rules are still
 * added), SG_ENOSPC when a bound was hit, -ENOMEM. */
int rules_parse_buffer(rules_set_t *set, const char *name, const char *buf, size_t len,
                       rules_diag_t *diag);

/* Parses one file (bounded by RULES_MAX_FILE_BYTES). Same returns, plus
 * -errno when it cannot be read (reported in diag as "file: message"). */
int rules_parse_file(rules_set_t *set, const char *path, rules_diag_t *diag);

/* Parses every *.rules file of dir in name order (a regular file path is
 * parsed alone).  Returns 0 or the first error code met; all errors of all
 * files are in diag. */
int rules_parse_path(rules_set_t *set, const char *dir, rules_diag_t *diag);

size_t rules_set_count(const rules_set_t *set);
const struct rules_rule *rules_set_rule(const rules_set_t *set, size_t i);
/* Index of the rule with this id, or -1. */
long rules_set_find(const rules_set_t *set, const char *id);

/* Names for enums (for messages and JSON); "?" for out-of-range values. */
const char *rules_field_name(enum rules_field f);
const char *rules_action_name(enum rules_action a);
const char *rules_state_name(enum rules_state s);

#endif
