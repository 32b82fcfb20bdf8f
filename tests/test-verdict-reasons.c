/* verdict_reasons_json(): the message log's reasons column, shared by the
 * tap (cmd/cmd-judge.c) and the proxy (proxy/proxy.c).  What fits is
 * written whole; what does not loses the later details first, then the last
 * entries, and is never [] while the first type and id fit.  Every output
 * is checked to be a JSON array that jansson reads, with the entries in the
 * verdict's order. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "json-writer.h"
#include "msglog.h"
#include "testutil.h"
#include "verdict.h"

static struct verdict v;

static void add(enum verdict_reason_type t, const char *id, const char *detail)
{
    struct verdict_reason *r = &v.reasons[v.n_reasons++];
    r->type = t;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->detail, sizeof r->detail, "%s", detail);
}

/* Parses out; checks it is an array whose entries are the verdict's (then
 * the note), in order; returns how many entries and (*with_detail) how
 * many of them kept their detail, which must be a prefix. */
static size_t check_shape(const char *out, const struct verdict_json_note *note, size_t *with_detail)
{
    json_error_t e;
    json_t *a = json_loads(out, 0, &e);
    *with_detail = 0;
    CHECK_MSG(a && json_is_array(a), "not a JSON array: %s (%s)", out, e.text);
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return 0;
    }
    size_t n = json_array_size(a), nd = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        int is_note = i >= v.n_reasons;
        CHECK(!is_note || note);
        const char *type = json_string_value(json_object_get(o, "type"));
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *detail = json_string_value(json_object_get(o, "detail"));
        CHECK_EQ_STR(type, is_note ? note->type : verdict_reason_name(v.reasons[i].type));
        CHECK_EQ_STR(id, is_note ? note->id : v.reasons[i].id);
        if (detail) {
            CHECK_MSG(nd == i, "entry %zu has a detail after one without", i);
            CHECK_EQ_STR(detail, is_note ? note->detail : v.reasons[i].detail);
            nd++;
        }
    }
    json_decref(a);
    *with_detail = nd;
    return n;
}

int main(void)
{
    jw_t *w = jw_new(MSGLOG_REASONS_MAX - 1); /* the proxy's scratch */
    char out[MSGLOG_REASONS_MAX];
    size_t nd = 0;
    CHECK(w != NULL);

    /* Fits: written whole, rc 0, the scratch writer comes back reset. */
    memset(&v, 0, sizeof v);
    add(VERDICT_R_WHITELIST, "wl-1", "verified sender MyBank from account bankacct");
    add(VERDICT_R_RULE, "EN-PHISH-001", "text: \"Account suspended\"");
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, w, out, sizeof out), 0);
    CHECK_EQ_STR(out, "[{\"type\":\"whitelist\",\"id\":\"wl-1\",\"detail\":\"verified sender MyBank from "
                      "account bankacct\"},{\"type\":\"rule\",\"id\":\"EN-PHISH-001\",\"detail\":\"text: "
                      "\\\"Account suspended\\\"\"}]");
    CHECK_EQ_INT(jw_len(w), 0);
    CHECK_EQ_INT(check_shape(out, NULL, &nd), 2);

    /* A little too long (three details of 159 bytes, quotes escaped to
     * two): the last reason loses its detail, nothing goes. */
    char d159[VERDICT_DETAIL_MAX];
    memset(d159, 'x', sizeof d159 - 1);
    d159[sizeof d159 - 1] = '\0';
    d159[10] = '"';
    memset(&v, 0, sizeof v);
    add(VERDICT_R_WHITELIST, "wl-7", d159);
    add(VERDICT_R_SPOOFING, "wl-7", d159);
    add(VERDICT_R_RULE, "EN-OTP-LURE", d159);
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, w, out, sizeof out), 1);
    CHECK(strlen(out) < sizeof out);
    CHECK_EQ_INT(check_shape(out, NULL, &nd), 3);
    CHECK_EQ_INT(nd, 2);

    /* Far too long (16 reasons, 63-byte ids, long details): every detail
     * goes, then the last reasons; the first ones (whitelist, spoofing:
     * what the alerts view selects on) stay. */
    char id63[VERDICT_ID_MAX];
    memset(id63, 'r', sizeof id63 - 1);
    id63[sizeof id63 - 1] = '\0';
    memset(&v, 0, sizeof v);
    add(VERDICT_R_WHITELIST, "wl-1", d159);
    add(VERDICT_R_SPOOFING, "wl-1", d159);
    while (v.n_reasons < VERDICT_MAX_REASONS)
        add(VERDICT_R_RULE, id63, d159);
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, w, out, sizeof out), 1);
    CHECK(strlen(out) < sizeof out);
    size_t n = check_shape(out, NULL, &nd);
    CHECK_MSG(n >= 3 && n < VERDICT_MAX_REASONS, "%zu reasons kept", n);
    CHECK_EQ_INT(nd, 0);
    CHECK(strncmp(out, "[{\"type\":\"whitelist\",\"id\":\"wl-1\"},{\"type\":\"spoofing\"", 50) == 0);
    /* As many as fit: one more would not have. */
    CHECK_MSG(strlen(out) + strlen(",{\"type\":\"rule\",\"id\":\"\"}") + strlen(id63) >= sizeof out,
              "%zu bytes: room for another reason", strlen(out));
    CHECK_EQ_INT(jw_len(w), 0);

    /* A note (the proxy's incomplete multipart message) is the last entry:
     * whole when it fits, the first to lose its detail when not. */
    struct verdict_json_note note = {"multipart", "incomplete", "2 of 3 parts arrived (expired); judged on those"};
    memset(&v, 0, sizeof v);
    add(VERDICT_R_RULE, "EN-PHISH-001", "text: Account suspended");
    CHECK_EQ_INT(verdict_reasons_json(&v, &note, w, out, sizeof out), 0);
    CHECK_EQ_INT(check_shape(out, &note, &nd), 2);
    CHECK_EQ_INT(nd, 2);
    memset(&v, 0, sizeof v);
    add(VERDICT_R_WHITELIST, "wl-7", d159);
    add(VERDICT_R_RULE, "EN-OTP-LURE", d159);
    add(VERDICT_R_RULE, "EN-OTP-LURE2", "short");
    CHECK_EQ_INT(verdict_reasons_json(&v, &note, w, out, sizeof out), 1);
    CHECK_EQ_INT(check_shape(out, &note, &nd), 4);
    CHECK_EQ_INT(nd, 3);

    /* No reasons: []; a cap with room only for "[]": [] and shortened. */
    memset(&v, 0, sizeof v);
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, w, out, sizeof out), 0);
    CHECK_EQ_STR(out, "[]");
    add(VERDICT_R_RULE, "R", "d");
    char tiny[3];
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, w, tiny, sizeof tiny), 1);
    CHECK_EQ_STR(tiny, "[]");

    /* Bad arguments. */
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, w, tiny, 2), SG_EINVAL);
    CHECK_EQ_INT(verdict_reasons_json(NULL, NULL, w, out, sizeof out), SG_EINVAL);
    CHECK_EQ_STR(out, "[]");
    CHECK_EQ_INT(verdict_reasons_json(&v, NULL, NULL, out, sizeof out), SG_EINVAL);

    jw_free(w);
    return test_summary();
}
