# Shared by the bench/*.sh scripts: sourced, not run.
#
# best_secs N CMD...: runs CMD (stdout and stderr discarded) N times and
# prints the shortest wall time in seconds, 3 decimals.  The best of a few
# runs is the figure least disturbed by a shared machine's other tenants
# (the 2-vCPU VMs these run on swing by 20% from one run to the next); the
# captures stay in the page cache between runs.
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
