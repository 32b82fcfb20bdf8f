/* bench-proxy: messages/s and added latency of `smsguard proxy`, measured
 * against a direct ESME -> SMSC connection in the same run.
 *
 * Three processes' worth of work, each pinned (sched_setaffinity):
 *   - a trivial SMSC sink (a thread here) that answers binds and every
 *     submit_sm at once;
 *   - an ESME load generator (two threads here: a paced sender and a reader
 *     that pairs each submit_sm_resp with its send time);
 *   - `smsguard proxy` (a child process) between them, with the rule set
 *     given (bench/gen-rules 1000 for the figures in docs/proxy.md).
 * Phase 1, latency: RATE messages/s for SECONDS, direct then through the
 * proxy: p50 / p99 / max of submit -> response.  Phase 2, throughput: COUNT
 * messages with a window of WINDOW unacknowledged, direct then proxied.
 *
 * usage: bench-proxy SMSGUARD RULES_DIR [RATE] [SECONDS] [COUNT] [WINDOW]
 * build: cmake --build build --target bench-proxy gen-rules smsguard
 *        mkdir -p /tmp/r1k && build/bench/gen-rules 1000 > /tmp/r1k/gen.rules
 *        build/bench/bench-proxy build/cmd/smsguard /tmp/r1k 10000 5 200000 256
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ncpu;

static void pin(int core)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(core % ncpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int writen(int fd, const void *b, size_t n)
{
    const uint8_t *p = b;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one PDU into b (cap >= 4096).  Returns its length or -1. */
struct rd { int fd; uint8_t buf[1 << 16]; size_t off, len; };
static int read_pdu(struct rd *r, uint8_t *b, size_t cap)
{
    for (;;) {
        if (r->len - r->off >= 16) {
            uint32_t l = get32(r->buf + r->off);
            if (l < 16 || l > cap)
                return -1;
            if (r->len - r->off >= l) {
                memcpy(b, r->buf + r->off, l);
                r->off += l;
                return (int)l;
            }
        }
        if (r->off) {
            memmove(r->buf, r->buf + r->off, r->len - r->off);
            r->len -= r->off;
            r->off = 0;
        }
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        r->len += (size_t)n;
    }
}

/* ---- SMSC sink ---------------------------------------------------------- */

static int sink_lfd;
static void *sink_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct rd *r = calloc(1, sizeof *r);
    r->fd = fd;
    uint8_t pdu[4096], out[1 << 16];
    size_t ol = 0;
    uint64_t n = 0;
    for (;;) {
        int l = read_pdu(r, pdu, sizeof pdu);
        if (l < 0)
            break;
        uint32_t id = get32(pdu + 4), seq = get32(pdu + 12);
        if (id & 0x80000000u)
            continue;
        char mid[24];
        int ml = snprintf(mid, sizeof mid, "%llx", (unsigned long long)++n) + 1;
        uint32_t len = 16 + (id == 4 || (id >= 1 && id <= 9 && id != 6) ? (uint32_t)ml : 0);
        put32(out + ol, len);
        put32(out + ol + 4, id | 0x80000000u);
        put32(out + ol + 8, 0);
        put32(out + ol + 12, seq);
        if (len > 16)
            memcpy(out + ol + 16, mid, (size_t)ml);
        ol += len;
        /* Answer in batches when more input is already buffered (as a busy
         * SMSC does), else at once. */
        if (r->len - r->off < 16 || ol > sizeof out - 128) {
            if (writen(fd, out, ol) != 0)
                break;
            ol = 0;
        }
    }
    close(fd);
    free(r);
    return NULL;
}
static void *sink_main(void *arg)
{
    pin((int)(intptr_t)arg);
    for (;;) {
        int fd = accept(sink_lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0)
        return -1;
    socklen_t sl = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &sl);
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_to(uint16_t port)
{
    for (int i = 0; i < 400; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        close(fd);
        usleep(25000);
    }
    return -1;
}

/* ---- ESME ------------------------------------------------------------------- */

struct run {
    int fd;
    uint64_t count;        /* messages to send */
    double rate;           /* per second; 0 = as fast as the window allows */
    uint32_t window;
    uint64_t *sent_ns;     /* by seq */
    uint32_t *lat_ns;      /* by seq */
    volatile uint64_t acked, errors;
    int core;
};

/* Ham built from words, so that no volume rule sees one text or one
 * sender going to many recipients (65,536 texts, 100,000 senders): what a
 * busy aggregator link looks like, all of it allowed. */
static const char *words[16] = {
    "lunch", "tomorrow", "meeting", "parcel", "birthday", "family", "dinner", "train",
    "office", "weekend", "doctor", "school", "garden", "coffee", "holiday", "concert",
};

static size_t build_submit(uint8_t *b, uint32_t seq, uint64_t i)
{
    size_t o = 16;
    b[o++] = 0;
    b[o++] = 5; b[o++] = 0;
    o += (size_t)sprintf((char *)b + o, "S%05u", (unsigned)(i % 100000)) + 1;
    b[o++] = 1; b[o++] = 1;
    o += (size_t)sprintf((char *)b + o, "7916%07llu", (unsigned long long)(i % 10000000)) + 1;
    b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 0;
    b[o++] = 3; /* latin-1 */
    b[o++] = 0;
    char t[200];
    int tl = snprintf(t, sizeof t, "Hi, about the %s and the %s: see you at the %s after the %s, ok?",
                      words[i & 15], words[(i >> 4) & 15], words[(i >> 8) & 15], words[(i >> 12) & 15]);
    b[o++] = (uint8_t)tl;
    memcpy(b + o, t, (size_t)tl);
    o += (size_t)tl;
    put32(b, (uint32_t)o);
    put32(b + 4, 4);
    put32(b + 8, 0);
    put32(b + 12, seq);
    return o;
}

static void *reader(void *arg)
{
    struct run *r = arg;
    pin(r->core);
    struct rd *rd = calloc(1, sizeof *rd);
    rd->fd = r->fd;
    uint8_t pdu[4096];
    while (r->acked < r->count) {
        if (read_pdu(rd, pdu, sizeof pdu) < 0)
            break;
        uint32_t id = get32(pdu + 4), seq = get32(pdu + 12);
        if (id != 0x80000004u || seq < 2 || seq - 2 >= r->count)
            continue;
        uint64_t t = now_ns();
        r->lat_ns[seq - 2] = (uint32_t)(t - r->sent_ns[seq - 2]);
        if (get32(pdu + 8) != 0)
            r->errors++;
        __atomic_add_fetch(&r->acked, 1, __ATOMIC_RELEASE);
    }
    free(rd);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct result { double mps, p50_us, p99_us, max_us; uint64_t errors, acked; };

static struct result esme_run(uint16_t port, uint64_t count, double rate, uint32_t window, int core)
{
    struct result res = {0};
    struct run r = {.count = count, .rate = rate, .window = window, .core = core};
    r.fd = connect_to(port);
    if (r.fd < 0) {
        fprintf(stderr, "bench-proxy: cannot connect to %u\n", port);
        exit(1);
    }
    pin(core);
    /* bind_transmitter "bench" (v3.4 §4.1.1) */
    uint8_t b[512];
    size_t o = 16;
    o += (size_t)sprintf((char *)b + o, "bench") + 1;
    o += (size_t)sprintf((char *)b + o, "pw") + 1;
    b[o++] = 0; b[o++] = 0x34; b[o++] = 0; b[o++] = 0; b[o++] = 0;
    put32(b, (uint32_t)o); put32(b + 4, 2); put32(b + 8, 0); put32(b + 12, 1);
    writen(r.fd, b, o);
    struct rd *rd = calloc(1, sizeof *rd);
    rd->fd = r.fd;
    if (read_pdu(rd, b, sizeof b) < 0 || get32(b + 8) != 0) {
        fprintf(stderr, "bench-proxy: bind refused\n");
        exit(1);
    }
    free(rd);
    r.sent_ns = calloc(count, sizeof *r.sent_ns);
    r.lat_ns = calloc(count, sizeof *r.lat_ns);
    pthread_t rt;
    pthread_create(&rt, NULL, reader, &r);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        if (rate > 0) {
            /* Sleep, not spin: on a small machine the sender shares a core
             * with the reader and the sink, whose wake-ups a spinning
             * sender would delay (and count as latency). */
            uint64_t due = t0 + (uint64_t)((double)i * 1e9 / rate);
            if (now_ns() < due) {
                struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            }
        }
        while (i - __atomic_load_n(&r.acked, __ATOMIC_ACQUIRE) >= window)
            sched_yield();
        size_t l = build_submit(b, (uint32_t)(i + 2), i);
        r.sent_ns[i] = now_ns();
        if (writen(r.fd, b, l) != 0)
            break;
    }
    uint64_t deadline = now_ns() + 10000000000ull;
    while (__atomic_load_n(&r.acked, __ATOMIC_ACQUIRE) < count && now_ns() < deadline)
        usleep(100);
    uint64_t t1 = now_ns();
    shutdown(r.fd, SHUT_RDWR);
    pthread_join(rt, NULL);
    close(r.fd);
    res.acked = r.acked;
    res.errors = r.errors;
    res.mps = (double)r.acked / ((double)(t1 - t0) / 1e9);
    qsort(r.lat_ns, count, sizeof *r.lat_ns, cmp_u32);
    /* Unanswered messages sort first as 0: skip them. */
    uint64_t skip = count - r.acked, n = r.acked;
    if (n) {
        res.p50_us = r.lat_ns[skip + n / 2] / 1000.0;
        res.p99_us = r.lat_ns[skip + n * 99 / 100] / 1000.0;
        res.max_us = r.lat_ns[count - 1] / 1000.0;
    }
    free(r.sent_ns);
    free(r.lat_ns);
    return res;
}

/* CPU seconds of each thread of the proxy process (for the notes: the
 * proxy thread's cost per message, and what the message-log writer takes). */
static void print_threads(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "for t in %s/*; do echo \"$(cat $t/comm) $(cut -d' ' -f14,15 $t/stat)\"; done", path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char line[256];
    long hz = sysconf(_SC_CLK_TCK);
    while (fgets(line, sizeof line, f)) {
        char name[64];
        long u, s;
        if (sscanf(line, "%63s %ld %ld", name, &u, &s) == 3 && u + s > 0)
            printf("  proxy thread %-12s %.2f s CPU\n", name, (double)(u + s) / (double)hz);
    }
    pclose(f);
}

static void print(const char *what, const struct result *r)
{
    printf("  %-22s %10.0f msg/s  p50 %8.1f us  p99 %8.1f us  max %9.1f us  (%llu acked, %llu errors)\n", what,
           r->mps, r->p50_us, r->p99_us, r->max_us, (unsigned long long)r->acked, (unsigned long long)r->errors);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-proxy SMSGUARD RULES_DIR [RATE] [SECONDS] [COUNT] [WINDOW]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    double rate = argc > 3 ? atof(argv[3]) : 10000;
    double secs = argc > 4 ? atof(argv[4]) : 5;
    uint64_t count = argc > 5 ? strtoull(argv[5], NULL, 10) : 200000;
    uint32_t window = argc > 6 ? (uint32_t)atoi(argv[6]) : 256;
    /* Cores: ESME and sink share one, the proxy has its own (its message
     * log writer thread the next one when there is one). */
    int core_esme = 0, core_proxy = ncpu > 2 ? 2 : 1;
    uint16_t sport, pport;
    sink_lfd = listen_any(&sport);
    int tmp = listen_any(&pport); /* pick a free port for the proxy */
    close(tmp);
    pthread_t st;
    pthread_create(&st, NULL, sink_main, (void *)(intptr_t)(ncpu > 2 ? 1 : 0));
    char dbdir[] = "/tmp/bench-proxy-XXXXXX";
    if (!mkdtemp(dbdir))
        return 1;
    char db[300], listen_s[64], up_s[64], cache[300];
    snprintf(db, sizeof db, "%s/state.db", dbdir);
    snprintf(cache, sizeof cache, "%s/cache", dbdir);
    snprintf(listen_s, sizeof listen_s, "127.0.0.1:%u", pport);
    snprintf(up_s, sizeof up_s, "127.0.0.1:%u", sport);
    pid_t child = fork();
    if (child == 0) {
        pin(core_proxy);
        if (ncpu > 3) { /* the proxy thread and its log writer: two cores */
            cpu_set_t s;
            CPU_ZERO(&s);
            CPU_SET(core_proxy, &s);
            CPU_SET(core_proxy + 1, &s);
            sched_setaffinity(0, sizeof s, &s);
        }
        execl(argv[1], argv[1], "proxy", "--listen", listen_s, "--upstream", up_s, "--rules", argv[2], "--db", db,
              "--rules-cache", cache, (char *)NULL);
        _exit(127);
    }
    /* Two cores or three: the message-log writer thread shares the proxy's
     * core; give it SCHED_IDLE so its SQLite batches never delay
     * the judging thread (docs/proxy.md: the same advice for deployments). */
    close(connect_to(pport));
    if (ncpu <= 3) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "for t in /proc/%d/task/*; do t=${t##*/}; [ $t = %d ] || chrt -i -p 0 $t >/dev/null; done",
                 (int)child, (int)child);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-proxy: renice failed\n");
    }
    uint64_t n_lat = (uint64_t)(rate * secs);
    printf("bench-proxy: %d cores; ESME core %d, sink core %d, proxy core %d%s; rules %s\n", ncpu, core_esme,
           ncpu > 2 ? 1 : 0, core_proxy, ncpu > 3 ? "+1" : "", argv[2]);
    printf("latency at %.0f msg/s for %.0f s (window %u):\n", rate, secs, window);
    struct result d1 = esme_run(sport, n_lat, rate, window, core_esme);
    print("direct", &d1);
    struct result p1 = esme_run(pport, n_lat, rate, window, core_esme);
    print("through proxy", &p1);
    printf("  added                  p50 %+.1f us  p99 %+.1f us\n", p1.p50_us - d1.p50_us, p1.p99_us - d1.p99_us);
    printf("throughput, %llu messages, window %u:\n", (unsigned long long)count, window);
    struct result d2 = esme_run(sport, count, 0, window, core_esme);
    print("direct", &d2);
    struct result p2 = esme_run(pport, count, 0, window, core_esme);
    print("through proxy", &p2);
    printf("  proxy / direct         %.1f%%\n", d2.mps > 0 ? 100.0 * p2.mps / d2.mps : 0);
    print_threads(child);
    kill(child, SIGTERM);
    int status;
    waitpid(child, &status, 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dbdir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-proxy: could not remove %s\n", dbdir);
    return p1.acked == n_lat && p2.acked == count ? 0 : 1;
}
