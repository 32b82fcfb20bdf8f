/* libFuzzer target: the admin API's request handling without HTTP
 * (admin_dispatch_for_test): route matching and path parameters, the
 * allowed-query check, query values (msisdn forms, since/until, limits,
 * states, kinds), JSON bodies of every POST and DELETE route (unknown
 * fields, wrong types, huge numbers, deep nesting), and the handlers
 * against a real SQLite store.
 *
 * Input: one or more requests separated by a line "%%".  A request is
 *   ROLE METHOD TARGET\n
 *   BODY (the rest, may be empty)
 * ROLE is ops, cc or prov (anything else: callcentre), TARGET a path with
 * an optional ?query.  The requests of one input share a store, so that an
 * input can add, list, clear and delete; each input starts from an empty
 * store (a template copied into place), so a finding replays alone.
 * Each body is copied into an exact-size heap buffer.  Oracle: every /api/
 * answer is valid JSON, and the status is one the API documents.
 *
 *   CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz-api
 *   ./build-fuzz/tests/fuzz-api -max_total_time=600 tests/fuzz/corpus/fuzz-api
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "store.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (1u << 20)
#define MAX_REQUESTS 16

static char dir[256], db[300], tmpl[300];
static verdict_engine_t *engine;
static char *out;
static int verbose; /* FUZZ_API_VERBOSE=1: print each request and answer */

static void cleanup(void)
{
    char p[320];
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s%s", tmpl, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = a && b ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, a)) > 0)
        if (fwrite(buf, 1, n, b) != n)
            rc = -1;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        rc = -1;
    return rc;
}

static void setup(void)
{
    /* tmpfs when there is one: the store syncs every change. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/fuzz-api-XXXXXX", base);
    char errbuf[STORE_ERRBUF_SIZE];
    store_t *s = NULL;
    if (!mkdtemp(dir))
        abort();
    snprintf(db, sizeof db, "%s/state.db", dir);
    snprintf(tmpl, sizeof tmpl, "%s/template.db", dir);
    atexit(cleanup);
    /* The empty schema once; each input starts from a copy of it. */
    if (store_open(&s, tmpl, STORE_OPEN_CREATE, errbuf) != 0) {
        fprintf(stderr, "fuzz-api: %s\n", errbuf);
        abort();
    }
    store_close(s);
    char err[256];
    engine = verdict_engine_new(NULL, err, sizeof err);
    out = malloc(OUT_CAP);
    verbose = getenv("FUZZ_API_VERBOSE") != NULL;
    if (!engine || !out)
        abort();
}

static int status_known(int st)
{
    static const int ok[] = {200, 201, 204, 400, 403, 404, 405, 409, 413, 422, 500, 503, 504};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (st == ok[i])
            return 1;
    return 0;
}

static void one_request(admin_t *a, const uint8_t *req, size_t len)
{
    const uint8_t *nl = memchr(req, '\n', len);
    size_t hl = nl ? (size_t)(nl - req) : len;
    char line[2048];
    if (hl >= sizeof line || memchr(req, '\0', hl))
        return;
    memcpy(line, req, hl);
    line[hl] = '\0';
    char *save = NULL;
    char *role_s = strtok_r(line, " ", &save), *method = strtok_r(NULL, " ", &save),
         *target = strtok_r(NULL, " ", &save);
    if (!role_s || !method || !target)
        return;
    int role = strcmp(role_s, "ops") == 0    ? STORE_ROLE_OPS
               : strcmp(role_s, "prov") == 0 ? STORE_ROLE_PROVIDER
                                             : STORE_ROLE_CALLCENTRE;
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    size_t bl = nl ? len - hl - 1 : 0;
    char *body = malloc(bl ? bl : 1);
    if (!body)
        return;
    if (bl)
        memcpy(body, nl + 1, bl);
    int st = admin_dispatch_for_test(a, method, target, q, body, bl, role, out, OUT_CAP);
    free(body);
    if (verbose)
        fprintf(stderr, "%d %s %s%s%s -> %.300s\n", st, method, target, q ? "?" : "", q ? q : "", out);
    if (!status_known(st)) {
        fprintf(stderr, "fuzz-api: status %d for %s %s\n", st, method, target);
        abort();
    }
    if (strncmp(target, "/api/", 5) == 0 && strlen(out) < OUT_CAP - 1) {
        json_error_t e;
        json_t *j = json_loads(out, JSON_DECODE_ANY, &e);
        if (!j) {
            fprintf(stderr, "fuzz-api: %s %s answered invalid JSON (%s): %.200s\n", method, target,
                    e.text, out);
            abort();
        }
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!engine)
        setup();
    char p[320];
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
    if (copy_file(tmpl, db) != 0)
        abort();
    struct admin_config c;
    admin_config_default(&c);
    c.db_path = db;
    c.engine = engine;
    c.body_max = 4096;
    c.reload_timeout_ms = 1; /* nobody answers reloads here: 504 at once */
    char err[256];
    admin_t *a = NULL;
    if (admin_new_for_test(&a, &c, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz-api: %s\n", err);
        abort();
    }
    size_t off = 0;
    for (int n = 0; off < size && n < MAX_REQUESTS; n++) {
        const uint8_t *end = NULL;
        for (size_t i = off; i + 4 <= size; i++)
            if (memcmp(data + i, "\n%%\n", 4) == 0) {
                end = data + i;
                break;
            }
        size_t len = end ? (size_t)(end - (data + off)) : size - off;
        one_request(a, data + off, len);
        off += len + (end ? 4 : 0);
    }
    admin_stop(a);
    return 0;
}
