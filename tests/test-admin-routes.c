/* The admin API's route table against docs/openapi.yaml: the routes the
 * server serves (admin_route_at) and the operations the OpenAPI file
 * documents must be the same set, with the same roles (x-roles), so the
 * documentation cannot drift from the server.  Also checks admin_start's
 * refusal of a non-loopback address without TLS, and a start on port 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "testutil.h"

#define MAX_OPS 128

struct op {
    char method[8], path[128], roles[64];
    int seen;
};

static void upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

/* A deliberately small reader for the file's own layout: path keys at
 * indent 2 under "paths:", methods at indent 4, "x-roles:" at indent 6. */
static size_t read_openapi(const char *path, struct op *ops)
{
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return 0;
    char line[512], cur[128] = "", key[128];
    int in_paths = 0;
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != ' ' && line[0] != '#') {
            in_paths = strcmp(line, "paths:") == 0;
            continue;
        }
        if (!in_paths)
            continue;

        if (strncmp(line, "  /", 3) == 0 && sscanf(line + 2, "%127[^:]:", key) == 1) {
            snprintf(cur, sizeof cur, "%s", key);
        } else if (strncmp(line, "    ", 4) == 0 && line[4] != ' ' && cur[0] &&
                   sscanf(line + 4, "%7[a-z]:", key) == 1 &&
                   (!strcmp(key, "get") || !strcmp(key, "post") || !strcmp(key, "delete") ||
                    !strcmp(key, "put") || !strcmp(key, "patch")) && n < MAX_OPS) {
            memcpy(ops[n].method, key, strlen(key) + 1); /* at most "delete" */
            upper(ops[n].method);
            snprintf(ops[n].path, sizeof ops[n].path, "%s", cur);
            ops[n].roles[0] = '\0';
            n++;
        } else if (n && strncmp(line, "      x-roles: ", 15) == 0) {
            const char *v = line + 15;
            char buf[64];
            if (sscanf(v, "\"%63[^\"]\"", buf) == 1 || sscanf(v, "%63s", buf) == 1)
                snprintf(ops[n - 1].roles, sizeof ops[n - 1].roles, "%s", buf);
        }
    }
    fclose(f);
    return n;
}

static void test_routes_match_openapi(void)
{
    static struct op ops[MAX_OPS];
    size_t n = read_openapi(test_source_path("docs/openapi.yaml"), ops);
    CHECK(n > 10);
    size_t served = 0;
    for (size_t i = 0; admin_route_at(i); i++) {
        const struct admin_route_info *r = admin_route_at(i);
        served++;
        int found = 0;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(ops[k].method, r->method) || strcmp(ops[k].path, r->path))
                continue;
            found = 1;
            ops[k].seen++;
            CHECK_MSG(strcmp(ops[k].roles, r->roles) == 0, "%s %s: x-roles \"%s\", server \"%s\"",
                      r->method, r->path, ops[k].roles, r->roles);
        }
        CHECK_MSG(found, "served but not in docs/openapi.yaml: %s %s", r->method, r->path);
    }
    for (size_t k = 0; k < n; k++)
        CHECK_MSG(ops[k].seen == 1, "documented but not served (or twice): %s %s", ops[k].method,
                  ops[k].path);
    CHECK_EQ_INT(served, n);
}

static void test_start_checks(void)
{
    char dir[] = "/tmp/test-admin-XXXXXX", db[64], err[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(db, sizeof db, "%s/s.db", dir);
    struct admin_config c;
    admin_t *a = NULL;
    admin_config_default(&c);
    c.db_path = db;
    c.listen = "0.0.0.0:0";
    CHECK(admin_start(&a, &c, err, sizeof err) != 0 && a == NULL);
    CHECK_MSG(strstr(err, "loopback") != NULL, "%s", err);
    c.listen = "127.0.0.1:notaport";
    CHECK(admin_start(&a, &c, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "--listen") != NULL, "%s", err);
    c.listen = "127.0.0.1:8080";
    c.tls_cert = "/nonexistent.pem";
    CHECK(admin_start(&a, &c, err, sizeof err) != 0);
    c.tls_cert = NULL;
    c.listen = "127.0.0.1:0";
    CHECK_MSG(admin_start(&a, &c, err, sizeof err) == 0, "%s", err);
    CHECK(admin_port(a) > 0);
    CHECK_EQ_INT(admin_lists_changed_take(a), 0);
    CHECK_EQ_INT(admin_rules_reload_take(a), 0);
    admin_stop(a);
    c.listen = "[::1]:0";
    if (admin_start(&a, &c, err, sizeof err) == 0) /* IPv6 may be off in a container */
        admin_stop(a);
    admin_stop(NULL);
    test_remove_db(db);
    rmdir(dir);
}

int main(void)
{
    test_routes_match_openapi();
    test_start_checks();
    return test_summary();
}
