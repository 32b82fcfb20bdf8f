/* bench-verdict: verdict_judge() throughput on one core, no capture or
 * decoding: the engine alone, with a rule set, the shipped domain lists, a
 * small whitelist and the texts of a labelled corpus.
 *
 *   bench/bench-verdict [-r RULES_DIR] [-n MESSAGES] [-b VECTOR] [TSV]
 *
 * -b N judges N messages per verdict_judge_batch() call (1 to
 * VERDICT_BATCH_MAX; default 1, verdict_judge()), to show what judging a
 * stage at a time over a vector is worth on the engine alone.
 * Defaults: rules/, 1,000,000 messages, the shared SMS corpus
 * (../shared/data/corpora/sms-spam-collection.train.tsv).  Each message
 * takes the next corpus text; senders cycle over 5,000 numbers plus a
 * verified QIWI OTP every 10th message, recipients over 200,000, packet
 * time advances 1 ms per message, so the volume tables see realistic churn.
 * Prints messages/s and the action counts.
 *
 * Build: part of the tree (each bench/ .c file is a program):
 *   cmake --build build --target bench-verdict && build/bench/bench-verdict
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lists.h"
#include "rules-db.h"
#include "verdict.h"

/* CPU time of this process: the machine may be shared, and one core's
 * throughput is what the target is stated in. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *rules_dir = "rules";
    long n = 1000000, vec = 1;
    int opt;
    while ((opt = getopt(argc, argv, "r:n:b:h")) != -1) {
        switch (opt) {
        case 'r': rules_dir = optarg; break;
        case 'n': n = atol(optarg); break;
        case 'b': vec = atol(optarg); break;
        default:
            fprintf(stderr, "usage: bench-verdict [-r RULES_DIR] [-n MESSAGES] [-b VECTOR] [TSV]\n");
            return 2;
        }
    }
    if (vec < 1 || vec > VERDICT_BATCH_MAX) {
        fprintf(stderr, "bench-verdict: -b takes 1 to %d\n", VERDICT_BATCH_MAX);
        return 2;
    }
    const char *tsv = optind < argc ? argv[optind] : "../shared/data/corpora/sms-spam-collection.train.tsv";

    /* Corpus texts into memory. */
    FILE *f = fopen(tsv, "r");
    if (!f) {
        perror(tsv);
        return 1;
    }
    size_t cap = 8192, nt = 0;
    char **texts = malloc(cap * sizeof *texts);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        char *t = tab + 1;
        t[strcspn(t, "\r\n")] = '\0';
        if (nt == cap)
            texts = realloc(texts, (cap *= 2) * sizeof *texts);
        texts[nt++] = strdup(t);
    }
    fclose(f);
    if (!nt) {
        fprintf(stderr, "%s: no texts\n", tsv);
        return 1;
    }

    char err[512] = "";
    verdict_engine_t *e = verdict_engine_new(NULL, err, sizeof err);
    if (!e) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    rules_diag_t *diag = rules_diag_new(0);
    rules_db_t *db = NULL;
    struct rules_build_info info = {0};
    if (rules_db_load(rules_dir, NULL, &db, diag, &info) != 0) {
        rules_diag_print(diag, stderr);
        return 1;
    }
    rules_diag_free(diag);
    size_t nrules = rules_db_count(db);
    verdict_engine_set_rules(e, db);
    if (verdict_engine_load_domains(e, rules_dir, err, sizeof err) != 0) {
        fprintf(stderr, "domains: %s\n", err);
        return 1;
    }
    lists_t *l = lists_new();
    struct lists_whitelist_entry w = {.id = 1, .sender = "QIWI", .ton = 5, .account = "qiwi_otp",
                                      .provider = "QIWI Bank"};
    lists_add_whitelist(l, &w);
    lists_seal(l);
    verdict_engine_set_lists(e, l);
    verdict_worker_t *wk = verdict_worker_new(e);

    int64_t wall = (int64_t)time(NULL);
    struct sg_endpoint ep = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3}, 40000, 1};
    uint64_t counts[3] = {0};
    static char srcs[VERDICT_BATCH_MAX][24], dsts[VERDICT_BATCH_MAX][24];
    static struct verdict_input ins[VERDICT_BATCH_MAX];
    static struct verdict vs[VERDICT_BATCH_MAX];
    long k = 0;
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < n; i++) {
        struct verdict_input in;
        char *src = srcs[k], *dst = dsts[k];
        memset(&in, 0, sizeof in);
        const char *text = texts[(size_t)i % nt];
        int otp = i % 10 == 0;
        if (otp) {
            in.account = (struct sg_view){(const uint8_t *)"qiwi_otp", 8};
            in.source_addr = (struct sg_view){(const uint8_t *)"QIWI", 4};
            in.source_ton = 5;
            text = "QIWI: kod 4821 dlya oplaty. Nikomu ne soobshchayte ego";
        } else {
            int sl = snprintf(src, sizeof srcs[0], "7900%07ld", (i * 7919) % 5000);
            in.account = (struct sg_view){(const uint8_t *)"agg_mts", 7};
            in.source_addr = (struct sg_view){(const uint8_t *)src, (size_t)sl};
            in.source_ton = 1;
        }
        int dl = snprintf(dst, sizeof dsts[0], "7912%07ld", (i * 104729) % 200000);
        in.dest_addr = (struct sg_view){(const uint8_t *)dst, (size_t)dl};
        in.ts = (sg_time_us)wall * 1000000u + (sg_time_us)i * 1000u;
        in.now = wall;
        in.src_ip = &ep;
        in.text = text;
        in.text_len = strlen(text);
        in.parts = 1;
        ins[k++] = in;
        if (k < vec && i + 1 < n)
            continue;
        if (vec == 1)
            verdict_judge(wk, &ins[0], &vs[0]);
        else
            verdict_judge_batch(wk, ins, vs, (size_t)k);
        for (long j = 0; j < k; j++)
            counts[vs[j].action]++;
        k = 0;
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    printf("rules=%zu (%s) vector=%ld messages=%ld wall=%.3fs cpu=%.3fs rate=%.0f msg/s (cpu time) "
           "allow=%llu flag=%llu block=%llu\n",
           nrules, rules_dir, vec, n, dt, dc, n / dc, (unsigned long long)counts[0],
           (unsigned long long)counts[1], (unsigned long long)counts[2]);
    verdict_worker_free(wk);
    verdict_engine_free(e);
    for (size_t i = 0; i < nt; i++)
        free(texts[i]);
    free(texts);
    return 0;
}
