# Shared by the bench/*.sh scripts: sourced, not run.
# shellcheck shell=bash
#
# best_secs N CMD...: runs CMD (stdout and stderr discarded) N times and
# prints the shortest wall time in seconds, 3 decimals.  The best of a few
# runs is the figure least disturbed by a shared machine's other tenants
# (the 2-vCPU VMs these run on swing by 20% from one run to the next); the
# captures stay in the page cache between runs, where the script pins them
# (pin_captures, below).
best_secs() {
    python3 -c 'import sys, time, subprocess
n = int(sys.argv[1])
best = None
for _ in range(n):
    t = time.monotonic()
    subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = time.monotonic() - t
    best = d if best is None or d < best else best
print("%.3f" % best)' "$@"
}

# pin_captures BUILD_DIR FILE...: holds the files in memory for the rest
# of the script (bench/pin-pages: locked in the page cache, released when
# the script exits), so that every timed run reads memory and none reads
# back from disk pages the kernel has paged out meanwhile (on the VMs
# these run on, a DAMON scheme pages out what looks cold for a minute,
# and a capture read every few seconds does: docs/benchmarks.md).  When
# the lock is refused (no CAP_IPC_LOCK, a small RLIMIT_MEMLOCK) or
# BENCH_PIN=0, says so and goes on unpinned.  Sets the script's EXIT trap
# (to stop the holder): a script with a trap of its own calls this first
# and adds to it.
pin_captures() {
    local build=$1
    shift
    if [ "${BENCH_PIN:-1}" = 0 ]; then
        echo "captures not pinned in memory (BENCH_PIN=0)"
        return 0
    fi
    local ready
    ready=$(mktemp -u "${TMPDIR:-/tmp}/pin-pages.XXXXXX")
    "$build/bench/pin-pages" --ready "$ready" "$@" &
    local pid=$!
    # shellcheck disable=SC2064  # the pid and path are fixed now
    trap "kill $pid 2>/dev/null; rm -f '$ready'" EXIT
    while [ ! -e "$ready" ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
    done
    if [ -e "$ready" ]; then
        echo "captures pinned in memory: $*"
    else
        echo "captures NOT pinned in memory (pin-pages failed, above): runs may read some of them from disk again"
    fi
}
