#!/usr/bin/env bash
# A message log that cannot be written is said, not lost in silence:
# `smsguard replay --db` into a database whose message_log refuses every
# row (a trigger that raises, so the writer's INSERTs fail for real, every
# time, with a message we know) must
#   - say ", N failed;" with N the messages on the summary's log line,
#   - print a "log error" line that names the phase and the cause,
#   - exit non-zero, with a message saying the log is incomplete.
# And the same replay into a sound database says ", 0 failed;" and exits 0.
# Env: SMSGUARD, SG_BUILD (bench/smsgen).
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
: "${SG_BUILD:?build folder (bench/smsgen)}"
SG_SOURCE=${SG_SOURCE:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$SG_BUILD/rules-cache"
rules=(--rules "$SG_SOURCE/rules" --rules-cache "$SG_BUILD/rules-cache")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$SG_BUILD/bench/smsgen" -o "$tmp/small.pcap" --seed 5 --messages 300 --no-truth >/dev/null

# The sound database first: it also creates the schema the trigger needs.
rc=0
"$SMSGUARD" replay -q -r "$tmp/small.pcap" --db "$tmp/ok.db" "${rules[@]}" 2> "$tmp/ok.err" || rc=$?
line=$(grep -E '^  log  ' "$tmp/ok.err" || true)
n=$(sed -n 's/^  log  *\([0-9]*\) rows written to .*, 0 dropped, 0 failed; .*/\1/p' <<<"$line")
[ "$rc" -eq 0 ] || bad "sound database: exit status $rc"
[ -n "$n" ] && [ "$n" -gt 0 ] || bad "sound database: log line '$line'"
grep -q '^  log error' "$tmp/ok.err" && bad "sound database: a log error line"

cp "$tmp/ok.db" "$tmp/bad.db"
sqlite3 "$tmp/bad.db" "DELETE FROM message_log; CREATE TRIGGER refuse_rows BEFORE INSERT ON message_log
    BEGIN SELECT RAISE(FAIL, 'msglog-fail.sh refuses this row'); END;"
rc=0
"$SMSGUARD" replay -q -r "$tmp/small.pcap" --db "$tmp/bad.db" "${rules[@]}" 2> "$tmp/bad.err" || rc=$?
line=$(grep -E '^  log  ' "$tmp/bad.err" || true)
failed=$(sed -n 's/^  log  *0 rows written to .*, 0 dropped, \([0-9]*\) failed; .*/\1/p' <<<"$line")
[ "$rc" -ne 0 ] || bad "refusing database: exit status 0"
[ -n "$failed" ] && [ "$failed" -ge "$n" ] || bad "refusing database: log line '$line' (want $n or more failed)"
grep -Eq "^  log error [0-9]+ failed writes; last: message_log INSERT: msglog-fail.sh refuses this row \(SQLITE_CONSTRAINT" "$tmp/bad.err" ||
    bad "refusing database: no log error line naming the cause"
grep -q "message log $tmp/bad.db is incomplete: $failed entries failed to be written" "$tmp/bad.err" ||
    bad "refusing database: no message saying the log is incomplete"
rows=$(sqlite3 "$tmp/bad.db" 'SELECT count(*) FROM message_log')
[ "$rows" = 0 ] || bad "refusing database: $rows rows in the table"

if [ "$fail" -ne 0 ]; then
    echo "--- sound database, stderr:"; cat "$tmp/ok.err"
    echo "--- refusing database, stderr:"; cat "$tmp/bad.err"
    exit 1
fi
echo "msglog-fail: sound: $n rows, exit 0; refusing: $failed failed, exit $rc, cause named"
