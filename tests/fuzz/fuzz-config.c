/* Fuzz target: the configuration file parser (filter/config.h) on hostile
 * files.  The file is outside input to a daemon started by scripts and
 * orchestration, so it must fail cleanly with a location, never crash.
 *
 * Invariants checked (abort on violation, so libFuzzer reports it):
 *   - the return value is 0, SG_EPARSE or SG_EINVAL, and an error text
 *     appears exactly when the parse failed;
 *   - every error line is "<input>:LINE: message" with 1 <= LINE <= the
 *     input's line count, and holds no control byte (messages quote input
 *     through a sanitiser);
 *   - the values applied respect their ranges: what config_format() writes
 *     parses back cleanly (unless block_at < flag_at, the one cross-field
 *     rule) and formats to the same text (a fixed point).
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DSMSGUARD_FUZZ=ON -DSMSGUARD_SANITIZE=ON
 *        cmake --build build-fuzz --target fuzz-config
 *        build-fuzz/tests/fuzz-config tests/fuzz/corpus/fuzz-config
 * The corpus is replayed by ctest (fuzz-config-corpus). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config c, c2;
    static char err[16384], f1[1 << 18], f2[1 << 18]; /* 8 proxies of 24 escaped settings fit */
    if (size > CONFIG_MAX_BYTES)
        return 0;
    config_default(&c);
    int rc = config_parse(&c, "<input>", (const char *)data, size, err, sizeof err);
    check(rc == 0 || rc == SG_EPARSE);
    check((rc == 0) == (err[0] == '\0'));
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (const char *p = err; *p;) {
        check(strncmp(p, "<input>:", 8) == 0);
        char *end;
        unsigned long line = strtoul(p + 8, &end, 10);
        check(end != p + 8 && line >= 1 && line <= lines && end[0] == ':' && end[1] == ' ');
        const char *nl = strchr(p, '\n');
        check(nl != NULL);
        for (const char *q = p; q < nl; q++)
            check((unsigned char)*q >= 0x20 && *q != 0x7f);
        p = nl + 1;
    }
    size_t n1 = config_format(&c, f1, sizeof f1);
    check(n1 < sizeof f1);
    config_default(&c2);
    int rc2 = config_parse(&c2, "<format>", f1, n1, err, sizeof err);
    if (c.verdict.block_at >= c.verdict.flag_at) {
        check(rc2 == 0);
        size_t n2 = config_format(&c2, f2, sizeof f2);
        check(n1 == n2 && memcmp(f1, f2, n1) == 0);
    }
    return 0;
}
