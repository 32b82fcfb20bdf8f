#!/usr/bin/env bash
# Admin API lookups under judging load (issue 4): timeline and sender lookups
# per second and their latency (p50, p90, p99) on a message log of at least a
# million rows, first with the daemon idle, then while `smsguard run` judges
# a second capture paced at PACE messages/s (`run --pace`), and whether the
# judging kept that pace (the run's "pace" summary line) and logged every
# message (the "log ... dropped" count).  Prints figures; asserts nothing
# (targets: >= 5,000 lookups/s, p99 < 20 ms, no judging backlog).
#
# usage: bench/bench-api.sh [BUILD_DIR]          (default build)
# env:   PACE (100000) messages/s; FILL (1005000) messages judged into the
#        database first; PACED (1000000) messages in the paced capture;
#        DURATION (8) seconds per wrk run; CONNS (8) connections; THREADS (2)
#        wrk threads; BENCH_API_TMP (/tmp/smsguard-bench-api) keeps the
#        captures and the filled database between runs (about 2.3 GB).
# needs: wrk (Debian `wrk`), sqlite3, python3.  Loopback only.
set -euo pipefail
build=${1:-build}
pace=${PACE:-100000}
fill=${FILL:-1005000}
paced=${PACED:-1000000}
dur=${DURATION:-8}
conns=${CONNS:-8}
threads=${THREADS:-2}
tmp=${BENCH_API_TMP:-/tmp/smsguard-bench-api}
src=$(cd "$(dirname "$0")/.." && pwd)
sg=$build/cmd/smsguard
gen=$build/bench/smsgen
for x in "$sg" "$gen"; do [ -x "$x" ] || { echo "bench-api: no $x (build first)" >&2; exit 1; }; done
for c in wrk sqlite3 python3; do command -v $c >/dev/null || { echo "bench-api: needs $c" >&2; exit 1; }; done
mkdir -p "$tmp"

daemon=
stop_daemon() {
    if [ -n "$daemon" ]; then
        kill -TERM "$daemon" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        daemon=
    fi
}
trap stop_daemon EXIT

# 1. The captures and the filled database (kept: the fill takes about a minute).
[ -f "$tmp/fill-$fill.pcap" ] ||
    "$gen" -o "$tmp/fill-$fill.pcap" --seed 42 --messages "$fill" --sessions 64 --no-truth >/dev/null 2>&1
[ -f "$tmp/paced-$paced.pcap" ] ||
    "$gen" -o "$tmp/paced-$paced.pcap" --seed 43 --messages "$paced" --sessions 64 --no-truth >/dev/null 2>&1
[ -f "$tmp/one.pcap" ] || "$gen" -o "$tmp/one.pcap" --seed 1 --messages 10 --no-truth >/dev/null 2>&1
if [ ! -f "$tmp/fill-$fill.db" ]; then
    rm -f "$tmp/fill-$fill.db.part"*
    t0=$(date +%s)
    "$sg" replay -q -r "$tmp/fill-$fill.pcap" --db "$tmp/fill-$fill.db.part" --rules "$src/rules" \
        2>"$tmp/fill.err" || { cat "$tmp/fill.err" >&2; exit 1; }
    sqlite3 "$tmp/fill-$fill.db.part" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    mv "$tmp/fill-$fill.db.part" "$tmp/fill-$fill.db"
    rm -f "$tmp/fill-$fill.db.part-wal" "$tmp/fill-$fill.db.part-shm"
    echo "fill: $(grep -E '^  log ' "$tmp/fill.err" | sed 's/^ *//') in $(( $(date +%s) - t0 )) s"
fi
db=$tmp/run.db
rm -f "$db" "$db-wal" "$db-shm"
cp "$tmp/fill-$fill.db" "$db"
rows=$(sqlite3 "$db" "SELECT MAX(id) FROM message_log")
echo "database: $rows message_log rows (MAX(id)), $(du -m "$db" | cut -f1) MB"

# 2. A call-centre token and the paths: 10,000 rows sampled evenly over the
# log; their recipients (in three written forms) for the timeline, their
# senders for the sender lookup (so a sender comes up as often as it sends:
# the brand senders with tens of thousands of messages most of the time).
tok=$("$sg" token create --db "$db" --role callcentre --name bench-api 2>/dev/null)
[ -n "$tok" ] || { echo "bench-api: token create failed" >&2; exit 1; }
step=$(( rows / 10000 > 0 ? rows / 10000 : 1 ))
sqlite3 -separator $'\t' "$db" "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + $step FROM s
    WHERE i + $step <= $rows) SELECT dest_addr, source_addr FROM message_log JOIN s ON id = i" >"$tmp/sample.tsv"
python3 - "$tmp" <<'PY'
import sys, urllib.parse as up
tmp = sys.argv[1]
tl, snd = [], []
for n, line in enumerate(open(f"{tmp}/sample.tsv", encoding="utf-8")):
    dest, _, source = line.rstrip("\n").partition("\t")
    if dest.isdigit() and len(dest) == 11 and dest[0] == "7":
        form = (dest, "+" + dest, "8" + dest[1:])[n % 3]   # 79.., +79.., 89..
        tl.append(f"/api/v1/subscribers/{up.quote(form, safe='')}/timeline")
    if source:
        snd.append(f"/api/v1/senders/{up.quote(source, safe='')}")
open(f"{tmp}/timeline.txt", "w").write("\n".join(tl) + "\n")
open(f"{tmp}/sender.txt", "w").write("\n".join(snd) + "\n")
print(f"paths: {len(tl)} timeline ({len(set(tl))} distinct), {len(snd)} sender ({len(set(snd))} distinct)")
PY

start_daemon() { # capture, extra options...
    local cap=$1; shift
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # A fresh file before the fork: the child's redirection truncates it
    # only once it runs, and the wait below must not read the last run's.
    : >"$tmp/daemon.err"
    "$sg" run -r "$cap" --db "$db" -q --rules "$src/rules" --listen "127.0.0.1:$port" \
        --console "$src/admin/console" "$@" >/dev/null 2>"$tmp/daemon.err" &
    daemon=$!
    for _ in $(seq 600); do
        grep -q "admin API and console on" "$tmp/daemon.err" 2>/dev/null && return 0
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench-api: daemon did not start:" >&2; cat "$tmp/daemon.err" >&2; exit 1
}
lookups() { # label kind
    local out
    out=$(BENCH_API_URLS="$tmp/$2.txt" BENCH_API_TOKEN="$tok" \
        timeout $((dur + 30)) wrk -t "$threads" -c "$conns" -d "${dur}s" --timeout 10s \
        -s "$src/bench/bench-api.lua" "http://127.0.0.1:$port" 2>&1) || true
    local res
    res=$(grep '^RESULT' <<<"$out" || echo "RESULT failed: $(tail -3 <<<"$out" | tr '\n' ' ')")
    printf '%-28s %-9s %s  load %s\n' "$1" "$2" "${res#RESULT }" "$(cut -d' ' -f1 /proc/loadavg)"
}

echo "wrk: $threads threads, $conns connections, ${dur} s per run; $(nproc) CPUs"
# 3. Idle daemon: the API alone.
start_daemon "$tmp/one.pcap"
lookups "idle daemon" timeline
lookups "idle daemon" sender
stop_daemon

# 4. The same lookups while the daemon judges the paced capture.
start_daemon "$tmp/paced-$paced.pcap" --pace "$pace"
lookups "judging at --pace $pace" timeline
lookups "judging at --pace $pace" sender
if grep -q "capture done" "$tmp/daemon.err"; then
    echo "note: the paced capture ended before the lookups did; later lookups ran without judging load"
fi
# Bounded wait for the end of the capture: four times its nominal length
# plus a minute (a backlog), at most 10 minutes.
limit=$(( paced / pace * 4 + 60 )); [ "$limit" -le 600 ] || limit=600
for _ in $(seq $((limit * 10))); do
    grep -q "capture done" "$tmp/daemon.err" && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
done
grep -q "capture done" "$tmp/daemon.err" || echo "note: capture not finished after $limit s; stopping (summary is partial)"
stop_daemon
echo "daemon summary (paced run):"
grep -E '^  (messages|pace|log) ' "$tmp/daemon.err" | sed 's/^/  /'
