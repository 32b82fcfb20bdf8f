#!/usr/bin/env bash
# Judging throughput (issue 3), in one run on the same generated capture of
# at least a million messages, every program pinned to one core:
#   bare libpcap read loop (bench/pcap-readloop; also with --touch, which
#   reads every captured byte, as bench-decode.sh does, and with --capture,
#   through smsguard's own capture module), `smsguard decode -q`,
#   `smsguard replay -q` with 1,000 and with 10,000 synthetic rules
#   (bench/gen-rules), messages/s and the ratio to the read loop;
#   start-up from the rule cache for the 10,000-rule set (the "cache in X ms"
#   replay prints, and the wall time of a replay of one packet);
#   the message-log writer's rows/s (bench/bench-msglog).
# Each time is the best of three runs (BENCH_RUNS=N to change).
# Prints figures; asserts nothing (the targets are in issue 3 and the notes).
#
# usage: bench/bench-replay.sh [BUILD_DIR] [MESSAGES]   (default build, 1000000)
# The capture and rule sets are kept in $BENCH_TMP (/tmp/smsguard-bench).
set -euo pipefail
build=${1:-build}
msgs=${2:-1000000}
tmp=${BENCH_TMP:-/tmp/smsguard-bench}
mkdir -p "$tmp"
pin="taskset -c 0"
command -v taskset >/dev/null || pin=""
sg="$build/cmd/smsguard"
big=$tmp/replay-$msgs.pcap
[ -f "$big" ] || "$build/bench/smsgen" -o "$big" --seed 42 --messages "$msgs" --sessions 64 --no-truth >/dev/null

for n in 1000 10000; do
    d=$tmp/rules-$n
    if [ ! -f "$d/gen.rules" ]; then
        mkdir -p "$d"
        "$build/bench/gen-rules" "$n" > "$d/gen.rules"
    fi
    mkdir -p "$d/.cache"
    # Compile once (or find the cache): the timed runs start from the cache.
    t0=$(date +%s.%N)
    "$sg" rules check --cache "$d/.cache" "$d" > /dev/null 2>&1 || { echo "rules check $d failed" >&2; exit 1; }
    echo "rule set $n: compile or cache check $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)") s"
done

# Every figure is the best of three runs (BENCH_RUNS; bench-lib.sh), with
# the capture held in memory (pin_captures).
. "$(dirname "$0")/bench-lib.sh"
secs() { best_secs "${BENCH_RUNS:-3}" "$@"; }
pin_captures "$build" "$big"

packets=$("$build/bench/pcap-readloop" "$big" | awk '{print $2}')
nmsg=$("$sg" decode -q -r "$big" 2>&1 | awk '/messages /{print $2}')
t_read=$(secs $pin "$build/bench/pcap-readloop" "$big")
# Also the loop that reads every captured byte (bench-decode.sh's baseline),
# printed beside the headline ratio, which stays against the bare loop.
t_touch=$(secs $pin "$build/bench/pcap-readloop" --touch "$big")
# And the bare loop through smsguard's capture module (its direct pcap
# reader): against it, the ratios are the decoder's and judge's own cost.
t_cap=$(secs $pin "$build/bench/pcap-readloop" --capture "$big")
t_dec=$(secs $pin "$sg" decode -q -r "$big")
t_r1k=$(secs $pin "$sg" replay -q -r "$big" --rules "$tmp/rules-1000" --rules-cache "$tmp/rules-1000/.cache")
t_r10k=$(secs $pin "$sg" replay -q -r "$big" --rules "$tmp/rules-10000" --rules-cache "$tmp/rules-10000/.cache")
python3 - "$packets" "$nmsg" "$t_read" "$t_dec" "$t_r1k" "$t_r10k" "$t_touch" "$t_cap" <<'PY'
import sys
packets, msgs = int(sys.argv[1]), int(sys.argv[2])
t_read, t_dec, t1, t10, t_touch, t_cap = map(float, sys.argv[3:9])
print(f"capture: {packets} packets, {msgs} messages")
print(f"bare libpcap read loop      : {t_read:7.3f} s  {msgs/t_read:10.0f} messages/s-equivalent")
print(f"read loop, every byte read  : {t_touch:7.3f} s  {msgs/t_touch:10.0f} messages/s-equivalent")
print(f"read loop, capture module   : {t_cap:7.3f} s  {msgs/t_cap:10.0f} messages/s-equivalent")
for name, t in (("smsguard decode -q", t_dec), ("replay -q, 1,000 rules", t1), ("replay -q, 10,000 rules", t10)):
    print(f"{name:28s}: {t:7.3f} s  {msgs/t:10.0f} messages/s  {100*t_read/t:5.1f}% of the read loop"
          f" ({100*t_touch/t:.1f}% of the byte-reading loop, {100*t_cap/t:.1f}% of the capture-module loop)")
PY

# Start-up from the rule cache, 10,000 rules: what replay reports for the
# load, and the wall time of a whole replay of one packet.
small=$tmp/one.pcap
[ -f "$small" ] || "$build/bench/smsgen" -o "$small" --seed 1 --messages 10 --no-truth >/dev/null
load=$("$sg" replay -r "$small" -c 1 --rules "$tmp/rules-10000" --rules-cache "$tmp/rules-10000/.cache" 2>&1 >/dev/null |
       sed -n 's/.*rules from .*(\(.*\))/\1/p' | head -1)
best=$(best_secs 5 $pin "$sg" replay -q -r "$small" -c 1 --rules "$tmp/rules-10000" --rules-cache "$tmp/rules-10000/.cache")
dbest=$(best_secs 5 $pin "$sg" decode -q -r "$small" -c 1)
echo "start-up, 10,000 rules from the cache: rules load ($load); whole replay of one packet, best of 5: $(python3 -c "import sys; print('%.0f' % (1000*float(sys.argv[1])))" "$best") ms (decode -q of one packet: $(python3 -c "import sys; print('%.0f' % (1000*float(sys.argv[1])))" "$dbest") ms)"

echo "message-log writer (not pinned: the producer and the writer thread each need a core):"
"$build/bench/bench-msglog" -d "$tmp/msglog-bench.db" 2>&1 | sed 's/^/  /'
rm -f "$tmp/msglog-bench.db" "$tmp/msglog-bench.db-wal" "$tmp/msglog-bench.db-shm"
