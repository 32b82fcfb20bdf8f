#!/usr/bin/env bash
# What each stage of `smsguard replay -q` costs, measured by turning it off
# through the configuration on the same binary: the volume counters (all,
# then each), the text memo, and sender and fingerprint tables of 4,096
# keys (how much the size of the tables costs, apart from their work).
# Runs are alternated round by round on one core, so that the drift of a
# shared VM (20% from minute to minute on the 2-vCPU machines) falls on
# every variant alike; prints each variant's median CPU time (user+sys)
# and the median over rounds of its ratio to the run with everything on,
# the baseline measured in the same rounds.  Asserts nothing.
#
# usage: bench/bench-stages.sh [BUILD_DIR] [MESSAGES] [ROUNDS]   (build, 1000000, 8)
# The capture and rule set are bench-replay.sh's, in $BENCH_TMP
# (/tmp/smsguard-bench), made here when missing.
set -euo pipefail
build=${1:-build}
msgs=${2:-1000000}
rounds=${3:-8}
tmp=${BENCH_TMP:-/tmp/smsguard-bench}
mkdir -p "$tmp"
sg="$build/cmd/smsguard"
pin="taskset -c 0"
command -v taskset >/dev/null || pin=""
big=$tmp/replay-$msgs.pcap
[ -f "$big" ] || "$build/bench/smsgen" -o "$big" --seed 42 --messages "$msgs" --sessions 64 --no-truth >/dev/null
rules=$tmp/rules-1000
if [ ! -f "$rules/gen.rules" ]; then
    mkdir -p "$rules"
    "$build/bench/gen-rules" 1000 > "$rules/gen.rules"
fi
mkdir -p "$rules/.cache"
"$sg" rules check --cache "$rules/.cache" "$rules" >/dev/null
# The capture held in memory for the rounds (bench-lib.sh).
. "$(dirname "$0")/bench-lib.sh"
pin_captures "$build" "$big"

confs=$tmp/stages
mkdir -p "$confs"
variant() { # NAME then the [verdict] lines
    local name=$1
    shift
    printf '[verdict]\n' > "$confs/$name.conf"
    printf '%s\n' "$@" >> "$confs/$name.conf"
}
variant all-on
variant no-volume "sender_max_recipients = 0" "fingerprint_max_recipients = 0" "account_max_recipients = 0"
variant no-fingerprint-volume "fingerprint_max_recipients = 0"
variant no-sender-volume "sender_max_recipients = 0"
variant no-account-volume "account_max_recipients = 0"
variant no-text-memo "text_memo_entries = 0"
variant small-tables "sender_table_keys = 4096" "fingerprint_table_keys = 4096"

python3 - "$rounds" "$confs" $pin "$sg" replay -q -r "$big" --rules "$rules" --rules-cache "$rules/.cache" <<'PY'
import os, statistics, subprocess, sys
rounds, confs, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
names = ["all-on", "no-volume", "no-fingerprint-volume", "no-sender-volume", "no-account-volume",
         "no-text-memo", "small-tables"]
cpu = {n: [] for n in names}
for _ in range(rounds):
    for n in names:
        before = os.times()
        subprocess.run(cmd + ["--config", os.path.join(confs, n + ".conf")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after = os.times()
        cpu[n].append(after.children_user - before.children_user +
                      after.children_system - before.children_system)
print(f"replay -q, 1,000 rules, {rounds} alternated rounds; CPU time (user+sys) of each variant")
for n in names:
    ratio = statistics.median(v / b for v, b in zip(cpu[n], cpu["all-on"]))
    print(f"  {n:22s} median {statistics.median(cpu[n]):6.3f} s   ratio to all-on {ratio:.3f}")
PY
