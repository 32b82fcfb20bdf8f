/* Request input: JSON bodies checked against a field table (unknown
 * fields, types, required, sizes: each error names the field), query
 * parameters, times and ids. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-int.h"

static const char *type_name(enum admin_ftype t)
{
    switch (t) {
    case AF_STR: return "a string";
    case AF_INT: return "an integer";
    case AF_BOOL: return "true or false";
    case AF_STRLIST: return "a string or an array of strings";
    }
    return "?";
}

static int str_ok(const char *s, size_t len, size_t max)
{
    if (max && len > max)
        return 0;
    /* Control characters have no place in a reason, a sender or a ticket,
     * and would make the audit log lie when printed. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return 0;
    return 1;
}

int admin_body_check(struct admin_req *r, const struct admin_field *spec, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(spec[i].name, key) == 0)
                break;
        if (i == n)
            return admin_error(r, 400, "unknown_field", key, "unknown field '%s'", key);
        const struct admin_field *f = &spec[i];
        int ok = 1;
        switch (f->type) {
        case AF_STR:
            ok = json_is_string(v) && str_ok(json_string_value(v), json_string_length(v), f->max);
            if (json_is_string(v) && !ok)
                return admin_error(r, 400, "invalid", key,
                                   "'%s' is longer than %zu bytes or holds control characters",
                                   key, f->max);
            break;
        case AF_INT:
            ok = json_is_integer(v) && json_integer_value(v) >= 0 &&
                 (!f->max || (uint64_t)json_integer_value(v) <= f->max);
            if (json_is_integer(v) && !ok)
                return admin_error(r, 400, "invalid", key, "'%s' must be between 0 and %zu", key,
                                   f->max);
            break;
        case AF_BOOL: ok = json_is_boolean(v); break;
        case AF_STRLIST:
            if (json_is_string(v)) {
                ok = str_ok(json_string_value(v), json_string_length(v), f->max);
            } else if (json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= 64) {
                size_t j;
                json_t *e;
                json_array_foreach(v, j, e) {
                    if (!json_is_string(e) || !str_ok(json_string_value(e), json_string_length(e), 64) ||
                        strchr(json_string_value(e), ',') || json_string_length(e) == 0)
                        ok = 0;
                }
            } else {
                ok = 0;
            }
            break;
        }
        if (!ok)
            return admin_error(r, 400, "wrong_type", key, "'%s' must be %s", key, type_name(f->type));
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_object_get(r->json, spec[i].name);
        if (spec[i].required && (!x || json_is_null(x) ||
                                 (json_is_string(x) && json_string_length(x) == 0)))
            return admin_error(r, 400, "missing_field", spec[i].name, "'%s' is required",
                               spec[i].name);
    }
    return 0;
}

const char *admin_body_str(struct admin_req *r, const char *name)
{
    json_t *v = r->json ? json_object_get(r->json, name) : NULL;
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

int64_t admin_body_int(struct admin_req *r, const char *name, int64_t dflt)
{
    json_t *v = r->json ? json_object_get(r->json, name) : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int admin_body_bool(struct admin_req *r, const char *name, int dflt)
{
    json_t *v = r->json ? json_object_get(r->json, name) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

const char *admin_query(struct admin_req *r, const char *name)
{
    const char *v = NULL;
    if (r->conn) {
        v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    } else {
        /* admin_dispatch_for_test(): the first match, as MHD's lookup. */
        for (size_t i = 0; !v && i < r->n_test_query; i++)
            if (strcmp(r->test_query[2 * i], name) == 0)
                v = r->test_query[2 * i + 1];
    }
    return v && *v ? v : NULL;
}

int admin_query_int(struct admin_req *r, const char *name, int64_t lo, int64_t hi, int64_t dflt,
                    int64_t *out)
{
    const char *v = admin_query(r, name);
    *out = dflt;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi)
        return admin_error(r, 400, "invalid", name, "'%s' must be an integer from %lld to %lld", name,
                           (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int admin_parse_time(const char *s, int64_t *us)
{
    const char *p = s;
    int Y, M, D, h = 0, m = 0, sec = 0;
    int64_t frac_us = 0, off = 0;
    if (!s || !*s)
        return SG_EINVAL;
    int all_digits = 1;
    for (const char *q = s; *q; q++)
        all_digits &= isdigit((unsigned char)*q) != 0;
    if (all_digits && strlen(s) <= 12) { /* epoch seconds */
        *us = strtoll(s, NULL, 10) * 1000000;
        return 0;
    }
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return SG_EINVAL;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m))
            return SG_EINVAL;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return SG_EINVAL;
            if (*p == '.') {
                p++;
                int nd = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 6) {
                        frac_us = frac_us * 10 + (*p - '0');
                        nd++;
                    }
                    p++;
                }
                if (nd == 0)
                    return SG_EINVAL;
                while (nd++ < 6)
                    frac_us *= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return SG_EINVAL;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return SG_EINVAL;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - off;
    *us = t * 1000000 + frac_us;
    return 0;
}

int admin_param_id(struct admin_req *r, size_t i, int64_t *id)
{
    const char *s = r->params[i];
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v <= 0)
        return admin_error(r, 404, "not_found", "id", "no entry with id '%s'", s);
    *id = v;
    return 0;
}

struct store_change admin_change(struct admin_req *r, const char *reason, const char *ticket)
{
    struct store_change c = {.now = 0, .actor = r->tok.name, .reason = reason, .ticket = ticket};
    return c;
}
