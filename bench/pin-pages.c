/* pin-pages: holds files in the page cache while benchmarks read them.
 *
 *   pin-pages --ready PATH FILE...
 *
 * Maps each FILE and locks the map in memory (mlock), which reads in what
 * the page cache lacks; then creates PATH (empty) to say so and waits,
 * holding the lock, until it is killed or its parent exits.  Exits 1,
 * without creating PATH, when a file cannot be opened, mapped or locked
 * (mlock needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK as large as the files).
 *
 * Why: the benchmarks compare programs that read the same capture, and
 * their figures are meant to be CPU work, with the capture in the page
 * cache.  On the VMs they run on, a DAMON scheme pages out memory that
 * looks cold for a minute (kdamond, "pageout", 128 MiB/s), and a capture
 * read once every few seconds looks cold to it: runs then read parts of
 * it from disk again, in page faults and readahead, more of them the
 * longer a run (docs/benchmarks.md, thirteenth session).  A locked page
 * is never paged out, so every program reads memory.
 *
 * Build: part of bench/ (cmake --build build --target pin-pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int pin(const char *path)
{
    const char *what = NULL; /* set when the failure is not errno's */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto fail;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0) {
        if (st.st_size == 0) /* nothing to hold, and mmap refuses a length of 0 */
            what = "empty";
        else
            map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    }
    int err = errno;
    close(fd); /* a map keeps the file */
    errno = err;
    if (map == MAP_FAILED || mlock(map, (size_t)st.st_size) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "pin-pages: %s: cannot hold it in memory: %s\n", path, what ? what : strerror(errno));
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "--ready") != 0) {
        fprintf(stderr, "usage: pin-pages --ready PATH FILE...\n");
        return 2;
    }
    /* Gone with the script that started it, however that one ends. */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        return 1;
    for (int i = 3; i < argc; i++)
        if (pin(argv[i]) != 0)
            return 1;
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "pin-pages: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    close(fd);
    for (;;)
        pause(); /* SIGTERM (default action) ends it; the locks go with it */
}
