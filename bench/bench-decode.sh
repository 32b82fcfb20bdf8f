#!/usr/bin/env bash
# Decode throughput, measured in one run on the same generated capture:
# bare libpcap read loop (the baseline of issue 2's ratio) vs smsguard decode
# with JSON off (-q) and on, pinned to one core; beside it the loop that
# reads every captured byte, and the loop through smsguard's own capture
# module; and smsguard vs tshark on a smaller capture (skipped, and said so,
# where tshark is not installed).
# usage: bench/bench-decode.sh [BUILD_DIR] [PDUS]   (default build, 1000000)
set -euo pipefail
build=${1:-build}
pdus=${2:-1000000}
tmp=${BENCH_TMP:-/tmp/smsguard-bench}
mkdir -p "$tmp"
pin="taskset -c 0"
command -v taskset >/dev/null || pin=""
big=$tmp/decode-$pdus.pcap
[ -f "$big" ] || "$build/bench/smsgen" -o "$big" --seed 42 --pdus "$pdus" --sessions 64 >/dev/null

# Best of three wall-clock runs (bench-lib.sh), with the capture held in
# memory (pin_captures).
. "$(dirname "$0")/bench-lib.sh"
secs() { best_secs "${BENCH_RUNS:-3}" "$@"; }
pin_captures "$build" "$big"

packets=$("$build/bench/pcap-readloop" "$big" | awk '{print $2}')
msgs=$("$build/cmd/smsguard" decode -q -r "$big" 2>&1 | awk '/messages /{print $2}')
# The bare loop: pcap_next_ex and nothing else, what the issue measures against.
t_read=$(secs $pin "$build/bench/pcap-readloop" "$big")
# --touch: the loop also reads every captured byte, the least a decoder must do.
t_touch=$(secs $pin "$build/bench/pcap-readloop" --touch "$big")
# The same loop through smsguard's capture module (its direct pcap reader,
# faster than libpcap's): decode against it is the decoder's own cost.
t_cap=$(secs $pin "$build/bench/pcap-readloop" --touch --capture "$big")
t_q=$(secs $pin "$build/cmd/smsguard" decode -q -r "$big" --no-progress)
t_json=$(secs $pin "$build/cmd/smsguard" decode -r "$big" --no-progress)
python3 - "$pdus" "$packets" "$msgs" "$t_read" "$t_q" "$t_json" "$t_cap" "$t_touch" <<'PY'
import sys
pdus, packets, msgs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t_read, t_q, t_json, t_cap, t_touch = map(float, sys.argv[4:9])
print(f"capture: {pdus} PDUs, {packets} packets, {msgs} messages")
print(f"bare libpcap read loop : {t_read:.3f} s  {packets/t_read:12.0f} packets/s  {msgs/t_read:10.0f} messages/s-equivalent")
print(f"smsguard decode -q     : {t_q:.3f} s  {packets/t_q:12.0f} packets/s  {msgs/t_q:10.0f} messages/s  ratio to read loop {t_read/t_q:.2f}")
print(f"smsguard decode (JSON) : {t_json:.3f} s  {packets/t_json:12.0f} packets/s  {msgs/t_json:10.0f} messages/s  ratio to read loop {t_read/t_json:.2f}")
print(f"read loop, every byte read: {t_touch:.3f} s  {packets/t_touch:12.0f} packets/s;"
      f" decode -q against it: {t_touch/t_q:.2f}")
print(f"read loop, smsguard's capture module: {t_cap:.3f} s  {packets/t_cap:12.0f} packets/s;"
      f" decode -q against it (the decoder's own cost): {t_cap/t_q:.2f}")
PY

if ! command -v tshark >/dev/null; then
    echo "100000-PDU capture: tshark is not installed here: no comparison"
    exit 0
fi
small=$tmp/decode-small.pcap
[ -f "$small" ] || "$build/bench/smsgen" -o "$small" --seed 43 --pdus 100000 --sessions 16 --no-truth >/dev/null
t_sg=$(secs "$build/cmd/smsguard" decode -r "$small" --no-progress)
t_ts=$(secs tshark -r "$small" -o tcp.reassemble_out_of_order:TRUE -Y smpp -T json)
python3 -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'100000-PDU capture: smsguard decode {a:.3f} s, tshark -T json {b:.3f} s: smsguard is {b/a:.0f}x faster')" "$t_sg" "$t_ts"
