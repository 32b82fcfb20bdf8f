/* bench-proxy: messages/s and added latency of `smsguard proxy`, measured
 * against a direct ESME -> SMSC connection in the same run.
 *
 * Three processes' worth of work, each pinned (sched_setaffinity):
 *   - a trivial SMSC sink (epoll loop threads here) that answers binds and
 *     every submit_sm at once, on as many connections as it is given;
 *   - an ESME load generator: CONNS connections, each bound as a
 *     transmitter and driven by two threads (a paced sender and a reader
 *     that pairs each submit_sm_resp with its send time);
 *   - `smsguard proxy` (a child process) between them, with the rule set
 *     given (bench/gen-rules 1000 for the figures in docs/proxy.md) and
 *     the options after `--` appended to its command line.
 * Phase 1, latency: RATE messages/s for SECONDS, direct then through the
 * proxy: p50 / p99 / max of submit -> response.  Phase 2, throughput: COUNT
 * messages with a window of WINDOW unacknowledged, direct then proxied.
 *
 * CONNS (default 1) splits the load over that many binds, as a carrier's
 * proxy serves many: each connection carries an equal share of RATE and of
 * COUNT with its own WINDOW; the messages are the CONNS = 1 stream dealt
 * round-robin (message j goes to connection j % CONNS, paced at its time
 * in the whole stream), so the proxy sees the same texts, senders and
 * recipients from one account ("bench") whatever CONNS is.  Latencies of
 * every connection are pooled; msg/s is all acknowledged messages over the
 * time from the first send to the last response.
 *
 * Cores: ESME threads on [0, E) (connection c on core c % E), sink threads
 * on [E, E + S) (one epoll loop per core), the proxy on the rest:
 *   - under 3 CPUs: ESME and sink share core 0, the proxy has the last core;
 *   - 3 to 7 CPUs: E = 1, S = 1 (ESME core 0, sink core 1, proxy 2..);
 *   - 8 CPUs or more: E = min(CONNS, ncpu / 4), S = 2 from 4 connections
 *     up, else 1, so the proxy keeps at least half of the machine.
 * A proxy left with one core shares it with its message-log writer, which
 * then runs at SCHED_IDLE (with its other helpers; not its event loops).
 * Exit status 0 only when every message of both phases was acknowledged,
 * direct and through the proxy.
 *
 * usage: bench-proxy SMSGUARD RULES_DIR [RATE] [SECONDS] [COUNT] [WINDOW] [CONNS] [-- PROXY_OPTION...]
 * build: cmake --build build --target bench-proxy gen-rules smsguard
 *        mkdir -p /tmp/r1k && build/bench/gen-rules 1000 > /tmp/r1k/gen.rules
 *        build/bench/bench-proxy build/cmd/smsguard /tmp/r1k 10000 5 200000 256
 *        build/bench/bench-proxy build/cmd/smsguard /tmp/r1k 10000 5 400000 64 8 -- --window 512
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024 /* two threads and a sink connection each */

static int ncpu;

static void pin(int core)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(core % ncpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static void pin_range(int first, int n)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    for (int i = 0; i < n; i++)
        CPU_SET((first + i) % ncpu, &s);
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

/* ---- proxy process and clean-up ----------------------------------------- */

static pid_t proxy_pid;
static char dbdir[] = "/tmp/bench-proxy-XXXXXX";
static int dbdir_made;

static void cleanup(void)
{
    if (proxy_pid > 0) {
        kill(proxy_pid, SIGTERM);
        waitpid(proxy_pid, NULL, 0);
        proxy_pid = 0;
    }
    if (dbdir_made) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dbdir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-proxy: could not remove %s\n", dbdir);
        dbdir_made = 0;
    }
}

/* Fatal: the proxy must not outlive the bench. */
static _Noreturn void die(const char *msg)
{
    fprintf(stderr, "bench-proxy: %s\n", msg);
    cleanup();
    exit(1);
}

/* ---- SMSC sink ---------------------------------------------------------- */

/* One epoll loop per sink core; the first also accepts and deals the
 * connections out round-robin, so CONNS binds (and the proxy's CONNS
 * upstream connections) cost the sink a loop iteration each, not a
 * thread each. */
struct sconn {
    int fd;
    uint32_t events;        /* what epoll waits for: EPOLLIN, or EPOLLOUT while output is stuck */
    uint64_t n;             /* message ids issued */
    size_t off, len, oo, ol;
    uint8_t in[1 << 16], out[1 << 16];
};

struct sink { int epfd; int core; };
static struct sink sinks[2];
static int n_sinks;
static int sink_lfd;

static void sink_close(struct sink *s, struct sconn *c)
{
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Answers every complete request buffered while the output has room;
 * -1 on a PDU that cannot be framed (the old sink's limit, 4096). */
static int sink_answer(struct sconn *c)
{
    while (c->len - c->off >= 16 && c->ol <= sizeof c->out - 128) {
        const uint8_t *p = c->in + c->off;
        uint32_t l = get32(p);
        if (l < 16 || l > 4096)
            return -1;
        if (c->len - c->off < l)
            break;
        uint32_t id = get32(p + 4), seq = get32(p + 12);
        c->off += l;
        if (id & 0x80000000u)
            continue;
        char mid[24];
        int ml = snprintf(mid, sizeof mid, "%llx", (unsigned long long)++c->n) + 1;
        uint32_t rl = 16 + (id == 4 || (id >= 1 && id <= 9 && id != 6) ? (uint32_t)ml : 0);
        uint8_t *o = c->out + c->ol;
        put32(o, rl);
        put32(o + 4, id | 0x80000000u);
        put32(o + 8, 0);
        put32(o + 12, seq);
        if (rl > 16)
            memcpy(o + 16, mid, (size_t)ml);
        c->ol += rl;
    }
    return 0;
}

static int sink_has_pdu(const struct sconn *c)
{
    return c->len - c->off >= 16 && c->len - c->off >= get32(c->in + c->off);
}

/* Writes what is answered; 1 while some of it is left (the socket is
 * full), -1 on error. */
static int sink_flush(struct sconn *c)
{
    while (c->oo < c->ol) {
        ssize_t w = write(c->fd, c->out + c->oo, c->ol - c->oo);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return 1;
        if (w <= 0)
            return -1;
        c->oo += (size_t)w;
    }
    c->oo = c->ol = 0;
    return 0;
}

/* One read, every complete request answered, one write: what the old
 * thread-per-connection sink did (answer in batches when more input is
 * already buffered, as a busy SMSC does, else at once).  Input is read only
 * while the output is not stuck, so a peer that does not read its answers
 * is pushed back on by TCP. */
static void sink_service(struct sink *s, struct sconn *c)
{
    for (;;) {
        int f = sink_flush(c);
        if (f < 0)
            goto closed;
        if (f > 0)
            break;
        if (!sink_has_pdu(c)) {
            if (c->off) {
                memmove(c->in, c->in + c->off, c->len - c->off);
                c->len -= c->off;
                c->off = 0;
            }
            ssize_t n = read(c->fd, c->in + c->len, sizeof c->in - c->len);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                goto closed;
            if (n < 0)
                break;
            c->len += (size_t)n;
        }
        if (sink_answer(c) < 0)
            goto closed;
        f = sink_flush(c);
        if (f < 0)
            goto closed;
        if (f > 0 || !sink_has_pdu(c))
            break;
        /* The output filled up with requests still buffered: go on. */
    }
    uint32_t want = c->oo < c->ol ? EPOLLOUT : EPOLLIN;
    if (want != c->events) {
        struct epoll_event ev = {.events = want, .data.ptr = c};
        epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->events = want;
    }
    return;
closed:
    sink_close(s, c);
}

static void sink_accept(void)
{
    static unsigned next;
    for (;;) {
        int fd = accept4(sink_lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sconn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        c->n = 0;
        c->off = c->len = c->oo = c->ol = 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        /* Another loop's epoll set may be added to from here: epoll_ctl is
         * thread-safe, and only that loop touches c from now on. */
        if (epoll_ctl(sinks[next++ % (unsigned)n_sinks].epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    pin(s->core);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(s->epfd, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr)
                sink_accept();
            else
                sink_service(s, evs[i].data.ptr);
        }
    }
    return NULL;
}

static void sink_start(int first_core, int n)
{
    n_sinks = n;
    for (int i = 0; i < n; i++) {
        sinks[i].core = first_core + i;
        sinks[i].epfd = epoll_create1(0);
        if (sinks[i].epfd < 0)
            die("epoll_create1 failed");
    }
    fcntl(sink_lfd, F_SETFL, fcntl(sink_lfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(sinks[0].epfd, EPOLL_CTL_ADD, sink_lfd, &ev);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        pthread_create(&t, NULL, sink_main, &sinks[i]);
        pthread_detach(t);
    }
}

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Backlog for CONNS upstream connections arriving together. */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, MAX_CONNS) != 0)
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
        /* A proxy that exited (a bad option) will never listen. */
        if (proxy_pid > 0 && waitpid(proxy_pid, NULL, WNOHANG) == proxy_pid) {
            proxy_pid = 0;
            die("smsguard proxy exited (its message, if any, is above)");
        }
        usleep(25000);
    }
    return -1;
}

/* ---- ESME ------------------------------------------------------------------- */

struct load {
    uint64_t t0;           /* first send, set before the start barrier */
    double rate;           /* per second, all connections; 0 = as fast as the windows allow */
    uint32_t window;       /* per connection */
    unsigned conns;
    pthread_barrier_t start;
};

struct conn {
    int fd, core;
    unsigned index;        /* message i of this connection is message i * conns + index of the stream */
    uint64_t count;        /* messages to send */
    uint64_t *sent_ns;     /* by seq */
    uint32_t *lat_ns;      /* by seq */
    uint64_t acked, errors, last_ns;
    /* The sender sleeps on `wake` when its window stays full, so that many
     * senders sharing a core leave it to the readers (and on SMT machines
     * leave the sibling, maybe a proxy core, alone). */
    uint32_t wake;
    int sleeping, closed;
    struct load *load;
    pthread_t sender, reader;
};

static void conn_wake(struct conn *c)
{
    __atomic_add_fetch(&c->wake, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &c->wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Waits until message i fits in the window; -1 if the reader is gone.
 * Yields first, as the single-connection bench always did (a response is
 * usually microseconds away), then sleeps.  The reader sees `sleeping`
 * after its ack or the sender sees the ack before sleeping (both
 * sequentially consistent), and `wake` moves on every wake-up, so none is
 * lost. */
static int wait_window(struct conn *c, uint64_t i)
{
    uint32_t window = c->load->window;
    for (unsigned spins = 0; i - __atomic_load_n(&c->acked, __ATOMIC_ACQUIRE) >= window; spins++) {
        if (__atomic_load_n(&c->closed, __ATOMIC_ACQUIRE))
            return -1;
        if (spins < 200) {
            sched_yield();
            continue;
        }
        uint32_t w = __atomic_load_n(&c->wake, __ATOMIC_SEQ_CST);
        __atomic_store_n(&c->sleeping, 1, __ATOMIC_SEQ_CST);
        if (i - __atomic_load_n(&c->acked, __ATOMIC_SEQ_CST) >= window &&
            !__atomic_load_n(&c->closed, __ATOMIC_SEQ_CST))
            syscall(SYS_futex, &c->wake, FUTEX_WAIT_PRIVATE, w, NULL, NULL, 0);
        __atomic_store_n(&c->sleeping, 0, __ATOMIC_SEQ_CST);
    }
    return 0;
}

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
    struct conn *c = arg;
    pin(c->core);
    struct rd *rd = calloc(1, sizeof *rd);
    rd->fd = c->fd;
    uint8_t pdu[4096];
    while (__atomic_load_n(&c->acked, __ATOMIC_ACQUIRE) < c->count) {
        if (read_pdu(rd, pdu, sizeof pdu) < 0)
            break;
        uint32_t id = get32(pdu + 4), seq = get32(pdu + 12);
        if (id != 0x80000004u || seq < 2 || seq - 2 >= c->count)
            continue;
        uint64_t t = now_ns();
        c->lat_ns[seq - 2] = (uint32_t)(t - c->sent_ns[seq - 2]);
        c->last_ns = t;
        if (get32(pdu + 8) != 0)
            c->errors++;
        __atomic_add_fetch(&c->acked, 1, __ATOMIC_SEQ_CST);
        if (__atomic_exchange_n(&c->sleeping, 0, __ATOMIC_SEQ_CST))
            conn_wake(c);
    }
    __atomic_store_n(&c->closed, 1, __ATOMIC_SEQ_CST);
    conn_wake(c);
    free(rd);
    return NULL;
}

static void *sender(void *arg)
{
    struct conn *c = arg;
    const struct load *ld = c->load;
    pin(c->core);
    uint8_t b[512];
    pthread_barrier_wait(&c->load->start);
    uint64_t t0 = ld->t0;
    for (uint64_t i = 0; i < c->count; i++) {
        uint64_t j = i * ld->conns + c->index; /* its place in the whole stream */
        if (ld->rate > 0) {
            /* Sleep, not spin: on a small machine the sender shares a core
             * with the reader and the sink, whose wake-ups a spinning
             * sender would delay (and count as latency). */
            uint64_t due = t0 + (uint64_t)((double)j * 1e9 / ld->rate);
            if (now_ns() < due) {
                struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            }
        }
        if (wait_window(c, i) != 0)
            break;
        size_t l = build_submit(b, (uint32_t)(i + 2), j);
        c->sent_ns[i] = now_ns();
        if (writen(c->fd, b, l) != 0)
            break;
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct result { double mps, p50_us, p99_us, max_us; uint64_t errors, acked; };

/* Connects and binds CONNS connections, then sends COUNT messages over
 * them (connection c: every CONNS-th message from c), all starting
 * together. */
static struct result esme_run(uint16_t port, uint64_t count, double rate, uint32_t window, unsigned conns,
                              int core, int n_cores)
{
    struct result res = {0};
    struct load ld = {.rate = rate, .window = window, .conns = conns};
    struct conn *cs = calloc(conns, sizeof *cs);
    pin_range(core, n_cores);
    for (unsigned k = 0; k < conns; k++) {
        struct conn *c = &cs[k];
        c->load = &ld;
        c->index = k;
        c->core = core + (int)(k % (unsigned)n_cores);
        c->count = count / conns + (k < count % conns);
        c->fd = connect_to(port);
        if (c->fd < 0) {
            char m[64];
            snprintf(m, sizeof m, "cannot connect to %u", port);
            die(m);
        }
        /* bind_transmitter "bench" (v3.4 §4.1.1) */
        uint8_t b[512];
        size_t o = 16;
        o += (size_t)sprintf((char *)b + o, "bench") + 1;
        o += (size_t)sprintf((char *)b + o, "pw") + 1;
        b[o++] = 0; b[o++] = 0x34; b[o++] = 0; b[o++] = 0; b[o++] = 0;
        put32(b, (uint32_t)o); put32(b + 4, 2); put32(b + 8, 0); put32(b + 12, 1);
        writen(c->fd, b, o);
        struct rd *rd = calloc(1, sizeof *rd);
        rd->fd = c->fd;
        if (read_pdu(rd, b, sizeof b) < 0 || get32(b + 8) != 0)
            die("bind refused");
        free(rd);
        c->sent_ns = calloc(c->count ? c->count : 1, sizeof *c->sent_ns);
        c->lat_ns = calloc(c->count ? c->count : 1, sizeof *c->lat_ns);
    }
    /* Small stacks: up to 2 * MAX_CONNS threads. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_barrier_init(&ld.start, NULL, conns + 1);
    for (unsigned k = 0; k < conns; k++) {
        pthread_create(&cs[k].reader, &attr, reader, &cs[k]);
        pthread_create(&cs[k].sender, &attr, sender, &cs[k]);
    }
    pthread_attr_destroy(&attr);
    ld.t0 = now_ns();
    pthread_barrier_wait(&ld.start);
    for (unsigned k = 0; k < conns; k++)
        pthread_join(cs[k].sender, NULL);
    uint64_t deadline = now_ns() + 10000000000ull;
    for (;;) {
        uint64_t acked = 0;
        unsigned open = 0; /* readers still reading: none left, nothing more will come */
        for (unsigned k = 0; k < conns; k++) {
            acked += __atomic_load_n(&cs[k].acked, __ATOMIC_ACQUIRE);
            open += !__atomic_load_n(&cs[k].closed, __ATOMIC_ACQUIRE);
        }
        if (acked >= count || !open || now_ns() >= deadline)
            break;
        usleep(100);
    }
    for (unsigned k = 0; k < conns; k++)
        shutdown(cs[k].fd, SHUT_RDWR);
    /* From the first send (microseconds after t0) to the last response. */
    uint64_t t_first = UINT64_MAX, t1 = 0;
    uint32_t *lat = malloc((count ? count : 1) * sizeof *lat);
    uint64_t n = 0;
    for (unsigned k = 0; k < conns; k++) {
        struct conn *c = &cs[k];
        pthread_join(c->reader, NULL);
        close(c->fd);
        res.acked += c->acked;
        res.errors += c->errors;
        if (c->count && c->sent_ns[0] && c->sent_ns[0] < t_first)
            t_first = c->sent_ns[0];
        if (c->last_ns > t1)
            t1 = c->last_ns;
        /* Unanswered messages are 0: left out. */
        for (uint64_t i = 0; i < c->count; i++)
            if (c->lat_ns[i])
                lat[n++] = c->lat_ns[i];
        free(c->sent_ns);
        free(c->lat_ns);
    }
    pthread_barrier_destroy(&ld.start);
    free(cs);
    if (t1 > t_first)
        res.mps = (double)res.acked / ((double)(t1 - t_first) / 1e9);
    qsort(lat, n, sizeof *lat, cmp_u32);
    if (n) {
        res.p50_us = lat[n / 2] / 1000.0;
        res.p99_us = lat[n * 99 / 100] / 1000.0;
        res.max_us = lat[n - 1] / 1000.0;
    }
    free(lat);
    return res;
}

/* CPU seconds of each thread of the proxy process (for the notes: the
 * proxy threads' cost per message, and what the message-log writer takes),
 * every event-loop thread (sg-proxy-N with --threads) on a line. */
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
    long hz = sysconf(_SC_CLK_TCK), total = 0;
    int shown = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        long u, s;
        if (sscanf(line, "%63s %ld %ld", name, &u, &s) == 3 && u + s > 0) {
            printf("  proxy thread %-12s %.2f s CPU\n", name, (double)(u + s) / (double)hz);
            total += u + s;
            shown++;
        }
    }
    pclose(f);
    if (shown > 1)
        printf("  %-25s %.2f s CPU\n", "proxy threads, all", (double)total / (double)hz);
}

static void print(const char *what, const struct result *r)
{
    printf("  %-22s %10.0f msg/s  p50 %8.1f us  p99 %8.1f us  max %9.1f us  (%llu acked, %llu errors)\n", what,
           r->mps, r->p50_us, r->p99_us, r->max_us, (unsigned long long)r->acked, (unsigned long long)r->errors);
}

/* "core 3" or "cores 4-7" */
static const char *cores_str(char *b, size_t cap, int first, int n)
{
    if (n == 1)
        snprintf(b, cap, "core %d", first);
    else
        snprintf(b, cap, "cores %d-%d", first, first + n - 1);
    return b;
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: bench-proxy SMSGUARD RULES_DIR [RATE] [SECONDS] [COUNT] [WINDOW] [CONNS] "
                    "[-- PROXY_OPTION...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    /* Positional arguments up to a literal "--"; what follows is the
     * proxy's. */
    int npos = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            npos = i;
            break;
        }
    if (npos < 3 || npos > 8)
        usage();
    signal(SIGPIPE, SIG_IGN);
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    double rate = npos > 3 ? atof(argv[3]) : 10000;
    double secs = npos > 4 ? atof(argv[4]) : 5;
    uint64_t count = npos > 5 ? strtoull(argv[5], NULL, 10) : 200000;
    uint32_t window = npos > 6 ? (uint32_t)atoi(argv[6]) : 256;
    int conns = npos > 7 ? atoi(argv[7]) : 1;
    if (conns < 1 || conns > MAX_CONNS) {
        fprintf(stderr, "bench-proxy: CONNS must be 1 to %d\n", MAX_CONNS);
        usage();
    }
    /* Two file descriptors a connection here (ESME and sink side). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Cores, the rule in the header comment: the old layout (ESME and sink
     * on core 0 or cores 0 and 1, the proxy after them) up to 7 CPUs; on a
     * bigger machine enough for the load generator and the sink not to be
     * what limits many connections, and at least half for the proxy. */
    int core_esme = 0, n_esme = 1, core_sink, n_sink = 1, core_proxy, n_proxy;
    if (ncpu < 3) {
        core_sink = 0;
        core_proxy = ncpu - 1;
        n_proxy = 1;
    } else {
        if (ncpu >= 8) {
            n_esme = conns < ncpu / 4 ? conns : ncpu / 4;
            n_sink = conns >= 4 ? 2 : 1;
        }
        core_sink = n_esme;
        core_proxy = n_esme + n_sink;
        n_proxy = ncpu - core_proxy;
    }
    uint16_t sport, pport;
    sink_lfd = listen_any(&sport);
    int tmp = listen_any(&pport); /* pick a free port for the proxy */
    close(tmp);
    sink_start(core_sink, n_sink);
    if (!mkdtemp(dbdir))
        return 1;
    dbdir_made = 1;
    char db[300], listen_s[64], up_s[64], cache[300];
    snprintf(db, sizeof db, "%s/state.db", dbdir);
    snprintf(cache, sizeof cache, "%s/cache", dbdir);
    snprintf(listen_s, sizeof listen_s, "127.0.0.1:%u", pport);
    snprintf(up_s, sizeof up_s, "127.0.0.1:%u", sport);
    const char *base[] = {argv[1], "proxy", "--listen", listen_s, "--upstream", up_s, "--rules", argv[2],
                          "--db", db, "--rules-cache", cache};
    size_t nbase = sizeof base / sizeof *base, nextra = npos < argc ? (size_t)(argc - npos - 1) : 0;
    char **pargv = calloc(nbase + nextra + 1, sizeof *pargv);
    for (size_t i = 0; i < nbase; i++)
        pargv[i] = (char *)base[i];
    for (size_t i = 0; i < nextra; i++)
        pargv[nbase + i] = argv[npos + 1 + (int)i];
    char opts[512] = "";
    for (size_t i = 0, o = 0; i < nextra && o < sizeof opts; i++)
        o += (size_t)snprintf(opts + o, sizeof opts - o, "%s%s", i ? " " : "", pargv[nbase + i]);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        /* The proxy's threads (event loops, message-log writer) float over
         * its cores. */
        pin_range(core_proxy, n_proxy);
        execv(argv[1], pargv);
        _exit(127);
    }
    proxy_pid = child;
    int probe = connect_to(pport);
    if (probe < 0)
        die("smsguard proxy does not listen");
    close(probe);
    /* One core for the proxy: the message-log writer thread shares it; give
     * it (and any helper thread, but not the event loops) SCHED_IDLE so its
     * SQLite batches never delay the judging thread (docs/proxy.md: the
     * same advice for deployments). */
    if (n_proxy == 1) {
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "for t in /proc/%d/task/*; do i=${t##*/}; [ $i = %d ] && continue;"
                 " case $(cat $t/comm) in sg-proxy*) continue;; esac; chrt -i -p 0 $i >/dev/null; done",
                 (int)child, (int)child);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-proxy: renice failed\n");
    }
    uint64_t n_lat = (uint64_t)(rate * secs);
    char ce[32], cs[32], cp[32];
    printf("bench-proxy: %d cores; ESME %s, sink %s, proxy %s; rules %s; %d connection%s; proxy options: %s\n", ncpu,
           cores_str(ce, sizeof ce, core_esme, n_esme), cores_str(cs, sizeof cs, core_sink, n_sink),
           cores_str(cp, sizeof cp, core_proxy, n_proxy), argv[2], conns, conns > 1 ? "s" : "",
           nextra ? opts : "none");
    char each[48] = "";
    if (conns > 1)
        snprintf(each, sizeof each, " each, %d connections", conns);
    printf("latency at %.0f msg/s for %.0f s (window %u%s):\n", rate, secs, window, each);
    struct result d1 = esme_run(sport, n_lat, rate, window, (unsigned)conns, core_esme, n_esme);
    print("direct", &d1);
    struct result p1 = esme_run(pport, n_lat, rate, window, (unsigned)conns, core_esme, n_esme);
    print("through proxy", &p1);
    printf("  added                  p50 %+.1f us  p99 %+.1f us\n", p1.p50_us - d1.p50_us, p1.p99_us - d1.p99_us);
    printf("throughput, %llu messages, window %u%s:\n", (unsigned long long)count, window, each);
    struct result d2 = esme_run(sport, count, 0, window, (unsigned)conns, core_esme, n_esme);
    print("direct", &d2);
    struct result p2 = esme_run(pport, count, 0, window, (unsigned)conns, core_esme, n_esme);
    print("through proxy", &p2);
    printf("  proxy / direct         %.1f%%\n", d2.mps > 0 ? 100.0 * p2.mps / d2.mps : 0);
    print_threads(child);
    fflush(stdout);
    cleanup();
    free(pargv);
    return d1.acked == n_lat && p1.acked == n_lat && d2.acked == count && p2.acked == count ? 0 : 1;
}
