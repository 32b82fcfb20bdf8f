#!/bin/bash
# kill -9 during list changes loses no change that was acknowledged.
#
# A loop of `smsguard blacklist add` / `blacklist clear` runs against a
# fresh database; every acknowledgement printed (an id) is recorded.  The
# loop and the smsguard process in flight are killed with SIGKILL at random
# moments, ROUNDS times.  Afterwards every acknowledged change must be in
# the database with its audit row, and the database must pass
# PRAGMA integrity_check.
#
#   SMSGUARD=build/cmd/smsguard bash tests/store-crash.sh
set -u

SMSGUARD=${SMSGUARD:-build/cmd/smsguard}
ROUNDS=${ROUNDS:-12}
if [ ! -x "$SMSGUARD" ]; then
    echo "store-crash: no smsguard binary at '$SMSGUARD' (set SMSGUARD)" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/store-crash-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/state.db
acked=$tmp/acked
: > "$acked"

# SQL runner for the checks: the sqlite3 shell, else Python's sqlite3.
# A busy timeout, so a check never races a writer that is still exiting.
sql() {
    if command -v sqlite3 >/dev/null 2>&1; then
        sqlite3 -cmd ".timeout 10000" "$db" "$1"
    else
        python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); [print("|".join(map(str,r))) for r in c.execute(sys.argv[2])]' "$db" "$1"
    fi
}

# Job control puts each round's loop in its own process group, so one
# kill reaches the loop, its command substitutions and the smsguard in
# flight.  (Killing by parent pid misses them: once the loop dies they are
# re-parented, survive, and keep writing while the checks run.)
set -m

"$SMSGUARD" blacklist list --db "$db" > /dev/null || { echo "store-crash: cannot create $db" >&2; exit 1; }

for round in $(seq 1 "$ROUNDS"); do
    (
        i=0
        while :; do
            i=$((i + 1))
            v="crash-$round-$i"
            out=$("$SMSGUARD" blacklist add --sender "$v" --reason "r $i" --ticket "T-$round-$i" \
                  --by crash-test --db "$db") || exit 1
            id=$(printf '%s' "$out" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
            echo "add $id $v" >> "$acked"
            if [ $((i % 2)) -eq 0 ]; then
                "$SMSGUARD" blacklist clear --id "$id" --reason "wrong $i" --ticket "C-$round-$i" \
                    --by crash-test --db "$db" > /dev/null || exit 1
                echo "clear $id $v" >> "$acked"
            fi
        done
    ) &
    loop=$!
    # 0.2 .. 0.7 s: tens of changes, then a kill at an arbitrary point.
    sleep "0.$((RANDOM % 6 + 2))"
    kill -9 -- "-$loop" 2>/dev/null
    { wait "$loop"; } 2>/dev/null
    # The group is gone only when its last member is reaped by init.
    for _ in $(seq 1 100); do
        pgrep -g "$loop" > /dev/null 2>&1 || break
        sleep 0.05
    done
done
set +m

n_add=$(grep -c '^add ' "$acked")
n_clear=$(grep -c '^clear ' "$acked")
if [ "$n_add" -lt 20 ]; then
    echo "store-crash: only $n_add acknowledged adds: the loop did not run" >&2
    exit 1
fi

fail=0
check=$(sql "PRAGMA integrity_check")
if [ "$check" != "ok" ]; then
    echo "store-crash: integrity_check: $check" >&2
    fail=1
fi

# One query for all rows, then compare in the shell: fast for thousands.
sql "SELECT b.id, b.value, CASE WHEN b.cleared_at IS NULL THEN 0 ELSE 1 END,
            (SELECT COUNT(*) FROM audit_log a WHERE a.object = 'blacklist' AND a.object_id = b.id AND a.action = 'blacklist.add'),
            (SELECT COUNT(*) FROM audit_log a WHERE a.object = 'blacklist' AND a.object_id = b.id AND a.action = 'blacklist.clear')
     FROM blacklist b" > "$tmp/rows"

declare -A value cleared audit_add audit_clear
while IFS='|' read -r id v c aa ac; do
    value[$id]=$v; cleared[$id]=$c; audit_add[$id]=$aa; audit_clear[$id]=$ac
done < "$tmp/rows"

while read -r op id v; do
    if [ -z "${value[$id]+x}" ]; then
        echo "store-crash: acknowledged $op of id $id ($v) is missing" >&2; fail=1; continue
    fi
    if [ "${value[$id]}" != "$v" ]; then
        echo "store-crash: id $id holds '${value[$id]}', acknowledged '$v'" >&2; fail=1
    fi
    if [ "$op" = add ] && [ "${audit_add[$id]}" != 1 ]; then
        echo "store-crash: id $id: ${audit_add[$id]} blacklist.add audit rows" >&2; fail=1
    fi
    if [ "$op" = clear ]; then
        if [ "${cleared[$id]}" != 1 ]; then
            echo "store-crash: acknowledged clear of id $id is not in the database" >&2; fail=1
        fi
        if [ "${audit_clear[$id]}" != 1 ]; then
            echo "store-crash: id $id: ${audit_clear[$id]} blacklist.clear audit rows" >&2; fail=1
        fi
    fi
done < "$acked"

# No change without its audit row, acknowledged or not (same transaction).
orphans=$(sql "SELECT COUNT(*) FROM blacklist b WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.object_id = b.id AND a.action = 'blacklist.add')
               OR (b.cleared_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.object_id = b.id AND a.action = 'blacklist.clear'))")
if [ "$orphans" != 0 ]; then
    echo "store-crash: $orphans changes without an audit row" >&2; fail=1
fi

total=$(sql "SELECT COUNT(*) FROM blacklist")
echo "store-crash: $ROUNDS kills, $n_add adds and $n_clear clears acknowledged, $total rows present: $([ $fail = 0 ] && echo ok || echo FAILED)"
exit $fail
