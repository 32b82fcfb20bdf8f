#!/usr/bin/env bash
# SIGHUP ten times during a replay still gives exactly one verdict per
# message (issue 3): `smsguard run -r` on a capture that takes a few
# seconds, with a database, gets SIGHUP ten times (each reloads the rule set
# from its cache and the lists, between two packets).  Then:
#   - the verdict lines carry unique uids, and their number equals the
#     messages `smsguard decode` finds in the same capture;
#   - the summary counts ten rule reloads, none refused;
#   - every verdict is in the message log, and the run exits 0 (it would
#     not with entries the log failed to write).
# On a failure it prints the run's whole stderr.
# Env: SMSGUARD, SG_BUILD (bench/smsgen).
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
: "${SG_BUILD:?build folder (bench/smsgen)}"
SG_SOURCE=${SG_SOURCE:-.}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$SG_BUILD/rules-cache"
rules=(--rules "$SG_SOURCE/rules" --rules-cache "$SG_BUILD/rules-cache")

"$SG_BUILD/bench/smsgen" -o "$tmp/big.pcap" --seed 11 --messages 60000 --no-truth >/dev/null
expected=$("$SMSGUARD" decode -r "$tmp/big.pcap" --events message 2>/dev/null | grep -c '"event":"message"')
# Warm the rule cache so the run starts (and each reload runs) in milliseconds.
"$SMSGUARD" rules check --cache "$SG_BUILD/rules-cache" "$SG_SOURCE/rules" >/dev/null 2>&1 || true

"$SMSGUARD" run -r "$tmp/big.pcap" --db "$tmp/x.db" --no-api "${rules[@]}" > "$tmp/verdicts.jsonl" 2> "$tmp/run.err" &
pid=$!
# The SIGHUP handler is installed before the first packet: wait for output
# (SIGHUP's default action would end the process).
for _ in $(seq 200); do
    [ -s "$tmp/verdicts.jsonl" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
# Signals of one kind coalesce while one is pending, so each SIGHUP waits
# until the daemon reports that reload ("N rules from ...") before the next.
sent=0
loads() { grep -c ' rules from ' "$tmp/run.err" || true; }
for _ in $(seq 10); do
    before=$(loads)
    kill -HUP "$pid" 2>/dev/null || break
    sent=$((sent + 1))
    for _ in $(seq 100); do
        [ "$(loads)" -gt "$before" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.03
    done
done
# A non-zero status includes a message log that lost entries (the summary's
# "log error" line says why).
wait "$pid" || { echo "FAIL: smsguard run exited $?; its stderr:"; cat "$tmp/run.err"; pid=; exit 1; }
pid=
grep -E '^  (messages|verdicts|log)' "$tmp/run.err"
fail=0
if [ "$sent" -ne 10 ]; then
    echo "FAIL: the run ended after $sent signals: the capture is too small for this machine"; fail=1
fi
count=$(grep -c '"event":"verdict"' "$tmp/verdicts.jsonl")
uniq=$(grep -o '"uid":[0-9]*' "$tmp/verdicts.jsonl" | sort -u | wc -l)
echo "sighup: $sent SIGHUPs, $count verdicts ($uniq distinct uids), decode found $expected messages"
[ "$count" -eq "$expected" ] || { echo "FAIL: $count verdicts for $expected messages"; fail=1; }
[ "$uniq" -eq "$count" ] || { echo "FAIL: duplicate uids"; fail=1; }
reloads=$(sed -n 's/.* \([0-9]*\) rule reloads (\([0-9]*\) refused).*/\1 \2/p' "$tmp/run.err")
read -r nrel nref <<< "${reloads:-x x}"
[ "$nrel" = "$sent" ] && [ "$nref" = 0 ] || { echo "FAIL: summary says '$reloads' rule reloads/refused, sent $sent"; fail=1; }
logged=$(sqlite3 "$tmp/x.db" 'SELECT count(*) FROM message_log' 2>/dev/null || echo "?")
[ "$logged" = "$count" ] || { echo "FAIL: $logged rows in the message log for $count verdicts"; fail=1; }
if [ "$fail" -ne 0 ]; then
    echo "--- run.err (the reloads, any message-log failure, the summary):"
    cat "$tmp/run.err"
    exit 1
fi
echo "sighup: ok"
