/* Message-log writer throughput: pushes N rows (default 1,000,000) through
 * msglog_submit into a fresh database carrying every message_log index, and
 * reports the rows/s the writer sustained from the first submit to the end
 * of msglog_flush (i.e. committed rows, not queued ones).
 *
 * The producer uses block_when_full, so the figure is the writer's rate, not
 * the ring's: with dropping on, a producer faster than the writer would just
 * count drops.  One receipt update per 10 rows and one response update per
 * row exercise the update paths with their index lookups too (--no-updates
 * turns them off).  The response follows its row at once; the receipt comes
 * --receipt-lag rows later (default 5: usually while the row still waits
 * in the writer, so it is folded into the INSERT; 200000: the row is in an
 * earlier transaction, as with a live SMSC's receipts seconds later, so it
 * goes set-wise).
 *
 * --warmup W first writes W rows (same shapes, flushed) and leaves them
 * out of every figure: the rows, the writer's CPU, the process CPU, the
 * time and the counters are then those of the N rows after them.  The
 * writer's first rows grow SQLite's page cache (cache_size, 256 MB) page
 * by page, and each new page costs the writer a heap extension (mprotect)
 * and page faults that a writer already running never pays again (about
 * 0.25 s of writer CPU per 256 MB on the development VM); W = 1,000,000
 * fills the cache.  The measured rows then go into a log of W rows
 * already, whose larger key tables cost more per row (each transaction
 * rewrites about every leaf of them), so compare runs of the same W.
 *
 * --rate R paces the rows at R per second and lets a full ring drop, as
 * `smsguard run` does: the figure is then the rows dropped at that rate,
 * i.e. whether the ring absorbs the writer's stalls (the commit and
 * checkpoint at the end of a transaction) at a load it sustains on
 * average.
 *
 *   cmake --build build -j2 --target bench-msglog
 *   ./build/bench/bench-msglog [-n ROWS] [-d DB] [--no-updates] [--receipt-lag N]
 *                              [--rate R] [--ring KIB] [--warmup W]
 *                              [--batch-max N] [--batch-window MS]
 * (--ring: the ring's size, msglog_config.queue_capacity, in KiB; 0 = its
 * default, 131072 = 128 MiB; --batch-max, --batch-window: the writer's
 * transaction limits, msglog_config.batch_max and batch_window_ms, 0 = their
 * defaults, 400,000 entries and 1,000 ms)
 *
 * Of the 2.1M entries of the default run, the default ring holds about
 * 950,000: the producer finishes while the ring is still full, and nearly
 * half of the entries are written while msglog_flush waits
 * (docs/state.md "Commits while a flush waits").  --ring 16384 leaves
 * about 120,000 entries to that phase, for the rate of a writer that
 * keeps up with its traffic.
 */
#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msglog.h"
#include "store.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = 1000000;
    const char *db = NULL;
    int updates = 1;
    long lag = 5, warm = 0;
    double rate = 0;
    size_t ring = 0, batch_max = 0;
    unsigned window_ms = 0;
    char tmpdb[] = "/tmp/bench-msglog-XXXXXX";
    static const struct option opts[] = {
        {"rows", required_argument, NULL, 'n'},
        {"db", required_argument, NULL, 'd'},
        {"no-updates", no_argument, NULL, 'U'},
        {"receipt-lag", required_argument, NULL, 'L'},
        {"rate", required_argument, NULL, 'r'},
        {"ring", required_argument, NULL, 'q'},
        {"warmup", required_argument, NULL, 'w'},
        {"batch-max", required_argument, NULL, 'b'},
        {"batch-window", required_argument, NULL, 'W'},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* As the front ends that run the writer (run, replay, proxy) do. */
    if (store_init_process() != 0)
        fprintf(stderr, "bench-msglog: store_init_process failed: SQLite's default page cache\n");
    while ((c = getopt_long(argc, argv, "n:d:UL:r:q:w:b:W:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'd': db = optarg; break;
        case 'U': updates = 0; break;
        case 'L': lag = strtol(optarg, NULL, 10); break;
        case 'r': rate = strtod(optarg, NULL); break;
        case 'q': ring = (size_t)strtoull(optarg, NULL, 10); break;
        case 'w': warm = strtol(optarg, NULL, 10); break;
        case 'b': batch_max = (size_t)strtoull(optarg, NULL, 10); break;
        case 'W': window_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench-msglog [-n ROWS] [-d DB] [--no-updates]"
                            " [--receipt-lag N] [--rate R] [--ring KIB] [--warmup W]"
                            " [--batch-max N] [--batch-window MS]\n");
            return 2;
        }
    }
    char dbpath[256];
    if (!db) {
        if (!mkdtemp(tmpdb)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(dbpath, sizeof dbpath, "%s/msglog.db", tmpdb);
        db = dbpath;
    }

    char err[256];
    struct msglog_config cfg = {.block_when_full = rate <= 0, .queue_capacity = ring,
                                .batch_max = batch_max, .batch_window_ms = window_ms};
    msglog_t *m = msglog_new(db, &cfg, err);
    if (!m) {
        fprintf(stderr, "bench-msglog: %s\n", err);
        return 1;
    }

    /* Realistic shapes: 100,000 subscribers, 2,000 senders, OTP-like text. */
    char dest[16], src[16], snippet[96], fp[17], mid[24], reasons[64];
    double t0 = now_s();
    uint64_t x = 88172645463325252ULL;
    uint64_t refused = 0;
    double cpu0 = 0;
    struct msglog_stats w0; /* the warm-up's share, left out of the figures */
    memset(&w0, 0, sizeof w0);
    for (long i = -warm; i < n; i++) {
        if (i == 0 && warm > 0) {
            if (msglog_flush(m) != 0) {
                fprintf(stderr, "bench-msglog: the warm-up failed\n");
                return 1;
            }
            msglog_get_stats(m, &w0);
            cpu0 = cpu_s();
            t0 = now_s();
        }
        /* Paced: wait until this row's time (checked every 64 rows). */
        while (rate > 0 && i >= 0 && (i & 63) == 0 && now_s() - t0 < i / rate)
            usleep(200);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        snprintf(dest, sizeof dest, "79%09llu", (unsigned long long)(x % 100000) * 7919 % 1000000000);
        snprintf(src, sizeof src, "SENDER%llu", (unsigned long long)(x >> 20) % 2000);
        snprintf(snippet, sizeof snippet, "Your code %06llu. Do not tell anyone. Pay 1500 RUB",
                 (unsigned long long)(x >> 30) % 1000000);
        snprintf(fp, sizeof fp, "%016llx", (unsigned long long)x);
        snprintf(reasons, sizeof reasons, "[{\"type\":\"rule\",\"id\":\"R%llu\"}]",
                 (unsigned long long)(x >> 40) % 1000);
        struct msglog_row row = {
            .ts_us = 1760000000000000LL + (i + warm) * 10,
            .account = "esme_a",
            .source_addr = src,
            .source_ton = 5,
            .dest_addr = dest,
            .src_ip = "10.1.2.3",
            .action = (x & 7) == 0 ? "block" : "allow",
            .score = (int)(x & 15),
            .reasons = reasons,
            .fingerprint = fp,
            .snippet = snippet,
            .parts = 1,
        };
        int64_t link;
        if (msglog_submit(m, &row, &link) != 0) {
            if (rate > 0 && i < 0) { /* warm-up: every row goes in */
                usleep(200);
                i--;
                continue;
            }
            if (rate > 0) { /* dropped (counted by the writer's stats) */
                refused++;
                continue;
            }
            fprintf(stderr, "bench-msglog: submit failed at row %ld\n", i);
            return 1;
        }
        if (updates) {
            long j = i + warm; /* message_ids stay unique across the warm-up */
            snprintf(mid, sizeof mid, "m%ld", j);
            msglog_update_response(m, link, mid, 0, row.ts_us + 500);
            if (j % 10 == 5 && j >= lag) {
                snprintf(mid, sizeof mid, "m%ld", j - lag);
                msglog_update_receipt(m, mid, "esme_a", "DELIVRD", "000", row.ts_us + 2000);
            }
        }
    }
    double t_sub = now_s() - t0;
    int rc = msglog_flush(m);
    double t = now_s() - t0;
    struct msglog_stats st;
    msglog_get_stats(m, &st);
    msglog_free(m);
    double cpu = cpu_s() - cpu0;
    /* Only the measured rows' share (w0 is zero without --warmup). */
    st.writer_cpu_ns -= w0.writer_cpu_ns;
    st.written -= w0.written;
    st.updates -= w0.updates;
    st.folded -= w0.folded;
    st.batches -= w0.batches;
    st.dropped -= w0.dropped;
    st.failed -= w0.failed;
    st.submitted -= w0.submitted;
    st.submitted_bytes -= w0.submitted_bytes;
    /* CPU seconds of both threads: rows per CPU-second is the single-core
     * rate even on a loaded machine where wall time is shared. */
    printf("msglog: writer thread CPU %.2f s: %.0f rows per writer CPU-second; "
           "process CPU %.2f s (both threads)\n",
           st.writer_cpu_ns / 1e9, n / (st.writer_cpu_ns / 1e9), cpu);
    printf("msglog: %ld rows%s in %.2f s (submit loop %.2f s): %.0f rows/s committed; "
           "written=%llu updates=%llu folded=%llu batches=%llu dropped=%llu failed=%llu "
           "flush=%s\n",
           n, updates ? " + 1.1 updates/row" : "", t, t_sub, n / t,
           (unsigned long long)st.written, (unsigned long long)st.updates,
           (unsigned long long)st.folded,
           (unsigned long long)st.batches, (unsigned long long)st.dropped,
           (unsigned long long)st.failed, rc == 0 ? "ok" : "FAILED");
    if (db == dbpath) {
        char p[300];
        const char *sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s%s", dbpath, sfx[i]);
            unlink(p);
        }
        rmdir(tmpdb);
    }
    /* What the entries took in the ring (records of their real size): the
     * mean, for sizing queue_capacity (KiB). */
    if (st.submitted)
        printf("msglog: ring: %llu entries took %llu bytes, %.1f per entry\n",
               (unsigned long long)st.submitted, (unsigned long long)st.submitted_bytes,
               (double)st.submitted_bytes / (double)st.submitted);
    if (rate > 0)
        printf("msglog: paced at %.0f rows/s: %llu of %ld rows refused (ring full), %llu entries dropped\n",
               rate, (unsigned long long)refused, n, (unsigned long long)st.dropped);
    return rc == 0 && st.written + refused == (unsigned long long)n ? 0 : 1;
}
