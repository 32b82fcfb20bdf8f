#!/usr/bin/env bash
# Browser test of the call-centre console (issue 4), against the real daemon.
#
# Generated traffic in which a payment provider's sender (QIWI) was wrongly
# blacklisted is judged by `smsguard run -r`, which then keeps serving the
# API and the console on loopback.  Headless Debian chromium, driven by
# playwright-core (tests/console/console.test.mjs), signs in with a
# callcentre token, looks up a subscriber whose codes were blocked, reads
# the diagnosis, clears the blacklisting with a reason and a ticket and
# checks the page, the API and the audit log; sender IDs, reasons and
# evidence that are HTML tags must show as text and fire nothing; an ops
# token approves a whitelist request from the queue.
#
# Needs: node + npm, /usr/bin/chromium (scripts/install-deps.sh installs
# them and runs `npm ci` in tests/console; without node_modules this script
# runs it, which needs the npm registry once).
#
#   SMSGUARD=build/cmd/smsguard SG_BUILD=build bash tests/console.sh
# Screenshots: $SHOT_DIR (default /tmp) smsguard-console-*.png.
set -euo pipefail

SMSGUARD=${SMSGUARD:-build/cmd/smsguard}
SG_BUILD=${SG_BUILD:-build}
SG_SOURCE=${SG_SOURCE:-$(pwd)}
SHOT_DIR=${SHOT_DIR:-/tmp}
here=$SG_SOURCE/tests/console
SENDER=QIWI

fail() { echo "console: $*" >&2; exit 1; }

[ -x "$SMSGUARD" ] || fail "no smsguard binary at '$SMSGUARD' (set SMSGUARD)"
[ -x "$SG_BUILD/bench/smsgen" ] || fail "no generator at $SG_BUILD/bench/smsgen (set SG_BUILD)"
command -v node >/dev/null || fail "node is missing: run scripts/install-deps.sh"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: run scripts/install-deps.sh"
command -v curl >/dev/null || fail "curl is missing"
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    command -v npm >/dev/null || fail "npm is missing: run scripts/install-deps.sh"
    # playwright-core alone never downloads a browser; the variable says so twice.
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
        fail "npm ci in $here failed"
fi

tmp=$(mktemp -d /tmp/console-test-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

db=$tmp/state.db
cap=$tmp/traffic.pcap

sql() {
    if command -v sqlite3 >/dev/null 2>&1; then
        sqlite3 "$db" "$1"
    else
        python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print("|".join(map(str,r))) for r in c.execute(sys.argv[2])]' "$db" "$1"
    fi
}

# ---- state: the wrong blacklisting, hostile strings, tokens ---------------------
"$SG_BUILD/bench/smsgen" -o "$cap" --no-truth --seed 11 --messages 4000 --segmentation clean \
    --open-share 0 >/dev/null || fail "smsgen failed"
"$SMSGUARD" blacklist add --sender "$SENDER" --reason "spam complaints (a mistake: genuine OTP)" \
    --ticket OPS-17 --by night-shift --db "$db" >/dev/null
XSS_SENDER='<img src=x onerror=alert(1)>'
XSS_REASON='<script>alert(2)</script>'
"$SMSGUARD" blacklist add --sender "$XSS_SENDER" --reason "$XSS_REASON" \
    --ticket '"><svg onload=alert(3)>' --by '<b>ops</b>' --db "$db" >/dev/null
agent=$("$SMSGUARD" token create --role callcentre --name agent --db "$db" 2>/dev/null)
ops=$("$SMSGUARD" token create --role ops --name ops1 --db "$db" 2>/dev/null)
provider=$("$SMSGUARD" token create --role provider --name ym --provider yoomoney --db "$db" 2>/dev/null)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ---- the daemon ------------------------------------------------------------------
"$SMSGUARD" run -r "$cap" --db "$db" --listen "127.0.0.1:$port" -q \
    --rules "$SG_SOURCE/rules" --rules-cache "$tmp/rules-cache" --console "$SG_SOURCE/admin/console" \
    >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!

base=http://127.0.0.1:$port
up=0
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/run.err" >&2; fail "smsguard run exited"; }
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.2
done
[ "$up" = 1 ] || { cat "$tmp/run.err" >&2; fail "the API did not come up on $base"; }
# Into a variable, not a pipe: grep -q closing the pipe early would fail curl.
index=$(curl -fsS "$base/") || fail "the console is not served at $base/"
grep -q 'app.js' <<<"$index" || fail "the console page at $base/ does not load app.js"

# The capture is judged in the background: wait until the message log stops
# growing (the daemon keeps serving after the file).
last=-1
for _ in $(seq 1 150); do
    n=$(sql "SELECT COUNT(*) FROM message_log")
    grep -q 'capture done' "$tmp/run.err" && [ "$n" -gt 0 ] && break
    if [ "$n" -gt 0 ] && [ "$n" = "$last" ]; then break; fi
    last=$n
    sleep 0.4
done
[ "$n" -gt 0 ] || fail "nothing was logged"

# The subscriber: one whose codes from the provider's own account were blocked
# (the generator also sends phishing under the same sender ID).
msisdn=$(sql "SELECT dest_addr FROM message_log WHERE source_addr = '$SENDER' AND action = 'block'
              AND account = 'qiwi_otp' AND dest_addr GLOB '79[0-9]*' AND length(dest_addr) = 11
              GROUP BY dest_addr ORDER BY COUNT(*) DESC, dest_addr LIMIT 1")
[ -n "$msisdn" ] || fail "no blocked message from $SENDER in the log"
XSS_EXC_SENDER='<script>alert(4)</script>'
"$SMSGUARD" exception add --sender "$XSS_EXC_SENDER" --msisdn "$msisdn" --ttl-hours 2 \
    --reason '<img src=y onerror=alert(5)>' --ticket T-XSS --by ops-test --db "$db" >/dev/null

# ---- the browser -------------------------------------------------------------------
BASE_URL=$base AGENT_TOKEN=$agent OPS_TOKEN=$ops PROVIDER_TOKEN=$provider MSISDN=$msisdn \
SENDER=$SENDER XSS_SENDER=$XSS_SENDER XSS_REASON=$XSS_REASON XSS_EXC_SENDER=$XSS_EXC_SENDER \
SHOT_DIR=$SHOT_DIR \
    timeout 240 node "$here/console.test.mjs" || { tail -n 20 "$tmp/run.err" >&2; fail "browser test failed"; }

# The clear is in the database the daemon uses, with its audit row.
actor=$(sql "SELECT actor FROM audit_log WHERE action = 'blacklist.clear' AND ticket = 'INC-4242'")
[ "$actor" = agent ] || fail "audit: blacklist.clear by '$actor', want agent"
kill -0 "$pid" 2>/dev/null || fail "smsguard run died during the test"
echo "console: ok"
