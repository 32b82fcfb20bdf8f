/* URLs and bare domains in SMS text, and domain lists matched on a domain
 * and its parents.
 *
 * url_extract() finds, in one left-to-right pass over the text:
 *
 *   - scheme URLs: http:// https:// and the defanged spellings spammers use
 *     to slip past naive filters (hxxp://, hxxps://, h**p://, "http ://");
 *   - "www." hosts without a scheme;
 *   - bare host names "name.tld" or "name.tld/path" whose last label is in
 *     a built-in TLD list (so "e.g." or "1.50" or "file.txt" are not
 *     domains, while "qiwi-secure.xyz/login" is).
 *
 * Obfuscated dots "[.]", "(.)", "{.}" inside a host read as ".".  A user
 * part ("http://qiwi.ru@evil.xyz/") is skipped: the host is what follows
 * the last '@' of the authority, which is where the browser goes.  Host
 * names are lower-cased (ASCII) and copied into the hit; labels may hold
 * UTF-8 (IDN such as "сбербанк.рф"), kept as written; punycode ("xn--")
 * labels are kept as written too, no IDNA conversion.
 *
 * Work bound: O(len) plus O(URL_HOST_MAX) per candidate; no allocation.
 * Reentrant: no state.
 *
 * domain_set is an immutable-after-load hash set of domains with a score
 * (rules/domains.list, rules/shorteners.list).  domain_set_match() looks up
 * the domain, then each parent ("a.b.evil.xyz" -> "b.evil.xyz" ->
 * "evil.xyz" -> "xyz"), and returns the most specific entry.  A set is
 * built once and then only read: any number of threads may match
 * concurrently; it never changes after domain_set_seal() (the verdict
 * engine swaps whole sets on reload).
 */
#ifndef SG_URL_EXTRACT_H
#define SG_URL_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "sg-common.h"

/* Longest host name kept (RFC 1035 §2.3.4: 253 octets; UTF-8 labels may be
 * longer in bytes, they are cut on a label boundary never mid-character). */
#define URL_HOST_MAX 256

enum {
    URL_F_SCHEME = 1u << 0,     /* had http(s):// */
    URL_F_DEFANGED = 1u << 1,   /* hxxp, [.] and the like: a spam signal */
    URL_F_USERINFO = 1u << 2,   /* "trusted.com@real-host": a phishing signal */
    URL_F_IP = 1u << 3,         /* host is an IPv4 literal */
};

struct url_hit {
    size_t off, len;            /* the URL's span in the input text */
    unsigned flags;             /* URL_F_* */
    size_t host_len;
    char host[URL_HOST_MAX];    /* lower-case, NUL-terminated, no trailing dot */
};

/* Extracts up to max hits from text[0..len) into out; returns the number
 * found (further URLs past max are not reported: callers size max for the
 * work they want to do per message, 8 is plenty for SMS).  Duplicate hosts
 * are reported once. */
size_t url_extract(const char *text, size_t len, struct url_hit *out, size_t max);

/* 1 if the last label (lower-case ASCII or UTF-8, without dot) is a TLD the
 * extractor accepts for bare host names. */
int url_tld_known(const char *tld, size_t len);

/* Parent walk: the offset in host of the next parent domain after `off`
 * (the byte after the next '.'), or -1 when there is none.  Start at 0. */
long url_next_parent(const char *host, size_t len, size_t off);

typedef struct domain_set domain_set_t;

struct domain_entry {
    const char *domain;          /* as loaded, lower-case */
    int score;
    unsigned line;               /* line in the file it came from, 0 = added */
};

domain_set_t *domain_set_new(void);
void domain_set_free(domain_set_t *s);
/* Adds one domain (copied, lower-cased, a trailing dot removed).  A
 * duplicate keeps the higher score.  SG_EINVAL for an empty or over-long
 * name or one with white space, SG_ENOSPC past DOMAIN_SET_MAX entries. */
#define DOMAIN_SET_MAX (1u << 22)
int domain_set_add(domain_set_t *s, const char *domain, int score, unsigned line);
/* Loads a list file: one "domain [score]" per line, '#' starts a comment,
 * blank lines ignored; a line without a score gets default_score.  On a
 * bad line returns SG_EPARSE with "path:line: message" in err. */
int domain_set_load(domain_set_t *s, const char *path, int default_score, char *err,
                    size_t errcap);
/* Freezes the set (no add after this). */
int domain_set_seal(domain_set_t *s);
size_t domain_set_count(const domain_set_t *s);
/* Most specific entry matching host or one of its parents, or NULL.
 * host need not be NUL-terminated; compared case-sensitively (callers pass
 * url_hit.host, already lower-case). */
const struct domain_entry *domain_set_match(const domain_set_t *s, const char *host,
                                            size_t len);

#endif
