#!/bin/bash
# The alert webhook end to end ([alerts] webhook_url, admin/admin-webhook.h).
#
# 1. Generated traffic (bench/smsgen, seed 1) with QIWI verified, judged by
#    `smsguard run -r` configured to post alerts to a receiver on loopback
#    (tests/tools/webhook_receiver.py) that answers its first POST with 500:
#    the receiver gets exactly the alerts GET /api/v1/alerts lists (same
#    kinds, same message ids, look-alikes of QIWI among them), each as one
#    JSON object with the API's fields, Content-Type application/json; the
#    500 was retried; /metrics counts them posted, none failed or dropped.
# 2. A receiver that is not there, a queue of 2: `smsguard replay` judges
#    the whole capture anyway, and its summary counts alerts failed and
#    dropped (never waiting for the network).
#
#   SMSGUARD=build/cmd/smsguard SG_BUILD=build bash tests/alert-webhook.sh
set -u

SMSGUARD=${SMSGUARD:-build/cmd/smsguard}
SG_BUILD=${SG_BUILD:-$(dirname "$(dirname "$SMSGUARD")")}
SG_SOURCE=${SG_SOURCE:-$(pwd)}
SMSGEN=$SG_BUILD/bench/smsgen
for x in "$SMSGUARD" "$SMSGEN"; do
    [ -x "$x" ] || { echo "alert-webhook: no executable at '$x' (set SMSGUARD, SG_BUILD)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/alert-webhook-XXXXXX)
daemon= receiver=
stop() { # pid
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    stop "$daemon"
    stop "$receiver"
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "alert-webhook: FAIL $*" >&2; [ -f "$tmp/daemon.err" ] && tail -n 15 "$tmp/daemon.err" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

db=$tmp/state.db
mkdir -p "$SG_BUILD/rules-cache"
"$SMSGEN" -o "$tmp/c.pcap" --seed 1 --messages 2000 --no-truth 2>/dev/null || fail "smsgen"
"$SMSGUARD" whitelist add --db "$db" --sender QIWI --ton 5 --account qiwi_otp --provider "QIWI Bank" \
    --verified-by ops-anna >/dev/null || fail "whitelist add"
tok=$("$SMSGUARD" token create --db "$db" --role ops --name ops-test 2>/dev/null)
[ -n "$tok" ] || fail "token create"

# 1. A receiver that fails its first POST.
python3 "$SG_SOURCE/tests/tools/webhook_receiver.py" "$tmp/port" "$tmp/got.jsonl" 1 &
receiver=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "receiver did not start"
cat >"$tmp/smsguard.conf" <<EOF
[alerts]
webhook_url = http://127.0.0.1:$(cat "$tmp/port")/hook
webhook_timeout = 2s
webhook_retries = 3
webhook_backoff = 50ms
[paths]
rules = "$SG_SOURCE/rules"
rules_cache = "$SG_BUILD/rules-cache"
EOF
port=$(free_port)
"$SMSGUARD" run -r "$tmp/c.pcap" --db "$db" -q --config "$tmp/smsguard.conf" \
    --listen "127.0.0.1:$port" --console "$SG_SOURCE/admin/console" >/dev/null 2>"$tmp/daemon.err" &
daemon=$!
for _ in $(seq 300); do
    grep -q "serving the API" "$tmp/daemon.err" 2>/dev/null && break
    kill -0 "$daemon" 2>/dev/null || fail "daemon died"
    sleep 0.1
done
grep -q "serving the API" "$tmp/daemon.err" || fail "daemon not ready"

python3 - "$tmp" "http://127.0.0.1:$port" "$tok" <<'PY' || fail "checks (above)"
import json, sys, time, urllib.request
tmp, base, tok = sys.argv[1:4]
bad = []
def check(ok, what):
    print(("  ok: " if ok else "FAIL: ") + what)
    if not ok:
        bad.append(what)
def get(path):
    rq = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(rq, timeout=10) as r:
        return r.read().decode()

api = json.loads(get("/api/v1/alerts?limit=1000"))["alerts"]
want_msgs = {(a["kind"], a["message_id"]) for a in api if "message_id" in a}
want_bl = {a["blacklist_id"] for a in api if a["kind"] == "automatic_blacklist"}
check(len(want_msgs) > 0, f"the API lists {len(want_msgs)} message alerts, {len(want_bl)} automatic entries")

def received():
    try:
        return [json.loads(l) for l in open(f"{tmp}/got.jsonl", encoding="utf-8")]
    except FileNotFoundError:
        return []
deadline = time.time() + 30
while time.time() < deadline:
    reqs = received()
    if len([r for r in reqs if r["status"] == 204]) >= len(want_msgs) + len(want_bl):
        break
    time.sleep(0.2)
time.sleep(0.5)  # nothing more should come
reqs = received()
ok = [r for r in reqs if r["status"] == 204]
check(reqs and reqs[0]["status"] == 500, "the receiver's first answer was 500")
check(len(reqs) == len(ok) + 1, f"{len(reqs)} requests: {len(ok)} delivered + the 500 (retried, not duplicated)")
check(all(r["content_type"] == "application/json" and r["path"] == "/hook" for r in reqs),
      "POST /hook with Content-Type application/json")
bodies = [json.loads(r["body"]) for r in ok]
got_msgs = {(b["kind"], b["message_id"]) for b in bodies if b["kind"] != "automatic_blacklist"}
got_bl = {b["blacklist_id"] for b in bodies if b["kind"] == "automatic_blacklist"}
check(got_msgs == want_msgs, f"message alerts posted = listed ({len(got_msgs)}; "
      f"missing {sorted(want_msgs - got_msgs)[:3]}, extra {sorted(got_msgs - want_msgs)[:3]})")
check(got_bl == want_bl, f"automatic entries posted = listed ({len(got_bl)})")
check(len(bodies) == len(got_msgs) + len(got_bl), "each alert posted once")
msg_keys = {"kind", "time", "message_id", "sender", "account", "action", "score", "reasons"}
check(all(msg_keys <= set(b) for b in bodies if b["kind"] != "automatic_blacklist"),
      "message alerts carry " + ", ".join(sorted(msg_keys)))
by_id = {a["message_id"]: a for a in api if "message_id" in a}
same = all(b["sender"] == by_id[b["message_id"]]["sender"] and b["action"] == by_id[b["message_id"]]["action"]
           and b["time"] == by_id[b["message_id"]]["time"]
           and [(x["type"], x["id"]) for x in b["reasons"]] ==
               [(x["type"], x["id"]) for x in by_id[b["message_id"]]["reasons"]]
           for b in bodies if b.get("message_id") in by_id)
check(same, "sender, action, time and reasons as the API shows them")
la = [b for b in bodies if b["kind"] == "lookalike"]
check(any("QIWI" in x["detail"] for b in la for x in b["reasons"] if x["type"] == "lookalike"),
      f"look-alikes of QIWI posted ({len(la)})")
metrics = get("/metrics")
def metric(line):
    for l in metrics.splitlines():
        if l.startswith(line + " "):
            return int(l.split()[-1])
    return None
check(metric('smsguard_alert_webhook_total{result="posted"}') == len(ok), f"metrics: posted {len(ok)}")
check(metric('smsguard_alert_webhook_total{result="failed"}') == 0, "metrics: failed 0")
check(metric('smsguard_alert_webhook_total{result="dropped"}') == 0, "metrics: dropped 0")
check((metric("smsguard_alert_webhook_retries_total") or 0) >= 1, "metrics: the retry counted")
check(metric("smsguard_alert_webhook_queue_depth") == 0, "metrics: queue empty")
sys.exit(1 if bad else 0)
PY
stop "$daemon"; daemon=
grep -q "^  webhook   " "$tmp/daemon.err" || fail "no webhook line in the summary"

# 2. Nobody listening, a queue of 2: judging goes on, failures and drops
# are counted.
dead=$(free_port)
cat >"$tmp/dead.conf" <<EOF
[alerts]
webhook_url = http://127.0.0.1:$dead/
webhook_timeout = 1s
webhook_queue = 2
webhook_retries = 1
webhook_backoff = 10ms
[paths]
rules = "$SG_SOURCE/rules"
rules_cache = "$SG_BUILD/rules-cache"
EOF
start=$(date +%s)
"$SMSGUARD" replay -r "$tmp/c.pcap" --db "$db" -q --config "$tmp/dead.conf" 2>"$tmp/replay.err" ||
    { cat "$tmp/replay.err" >&2; fail "replay with an unreachable webhook"; }
line=$(grep "^  webhook   " "$tmp/replay.err") || fail "no webhook line in the replay summary"
echo "  $line"
judged=$(sed -n 's/^  verdicts  \([0-9]*\):.*/\1/p' "$tmp/replay.err")
[ "${judged:-0}" -ge 1500 ] || fail "replay judged only '${judged:-}' messages"
read -r posted failed dropped <<<"$(sed -n 's/.* \([0-9]*\) alerts posted, \([0-9]*\) failed, \([0-9]*\) dropped.*/\1 \2 \3/p' <<<"$line")"
[ "${posted:-x}" = 0 ] && [ "${failed:-0}" -ge 1 ] && [ "${dropped:-0}" -ge 1 ] ||
    fail "unreachable receiver: posted '${posted:-}', failed '${failed:-}', dropped '${dropped:-}'"
echo "  ok: unreachable receiver: $judged messages judged, alerts $failed failed and $dropped dropped ($(( $(date +%s) - start )) s)"
echo "alert-webhook: ok"
