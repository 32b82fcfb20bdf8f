/* A minimal test harness: CHECK() records a failure with its location and
 * carries on, so one run reports every broken assertion; test_summary()
 * prints the plain "N passed, N failed" line and returns the exit code. */
#ifndef SG_TESTUTIL_H
#define SG_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern int test_passed, test_failed;
void test_fail(const char *file, int line, const char *expr, const char *fmt, ...);

#define CHECK(expr) \
    ((expr) ? (void)test_passed++ : test_fail(__FILE__, __LINE__, #expr, NULL))
#define CHECK_MSG(expr, ...) \
    ((expr) ? (void)test_passed++ : test_fail(__FILE__, __LINE__, #expr, __VA_ARGS__))
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    CHECK_MSG(a_ == b_, "%lld != %lld", a_, b_); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    CHECK_MSG(a_ && b_ && strcmp(a_, b_) == 0, "\"%s\" != \"%s\"", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)

int test_summary(void);

/* Path under the shared data folder ($SG_SHARED, else ../shared). */
const char *test_shared_path(const char *rel);
/* Path under the source tree ($SG_SOURCE, else .). */
const char *test_source_path(const char *rel);
/* Removes an SQLite database and the files beside it (-wal, -shm,
 * -journal) that a connection may leave: a read-only one cannot delete
 * its WAL. */
void test_remove_db(const char *path);
/* The first column of the first row sql gives on the database at path
 * (a connection of its own), or -1. */
int64_t test_sql_int(const char *path, const char *sql);
/* Decodes hex (whitespace ignored) into buf; returns length or -1. */
long test_unhex(const char *hex, uint8_t *buf, size_t cap);

#endif
