#!/usr/bin/env bash
# Alerts seen by the inline proxy reach the alert webhook ([alerts]
# webhook_url), as the tap's do (tests/alert-webhook.sh):
#
# 1. `smsguard run --config` with a [proxy "NAME"] link and no capture,
#    node-smpp peers (an inline ESME, tests/proxy/smsc.js as the SMSC) and
#    a receiver on loopback (tests/tools/webhook_receiver.py).  Through the
#    link: a spoofed protected sender (MyBank from another account), the
#    verified MyBank's own message that content rules would block, and ham.
#    The receiver gets exactly the two alerts GET /api/v1/alerts lists, with
#    the same kind, time, message_id, sender, account, action and reasons
#    (type, id, detail), and nothing for the ham.
# 2. `smsguard proxy --config` (standalone) with the same [alerts]: the
#    spoofed sender is posted too.
# Env: SMSGUARD, SG_SOURCE, SG_BUILD.  Needs node and npm.
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
here=$(cd "$(dirname "$0")" && pwd)
src=${SG_SOURCE:-$here/..}
. "$here/lib/peers.sh"
sg_need python3
sg_node_smpp "$here"
sg_tmp alert-webhook-proxy
stop() { # pid: SIGTERM, then wait at most 10 s
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$1" 2>/dev/null && { echo "FAIL: pid $1 did not stop on SIGTERM"; return 1; }
  wait "$1" 2>/dev/null
}

db=$tmp/state.db
"$SMSGUARD" whitelist add --db "$db" --sender MyBank --account bankacct --verified-by test >/dev/null
tok=$("$SMSGUARD" token create --db "$db" --role ops --name ops-test 2>/dev/null)
[ -n "$tok" ] || { echo "FAIL: token create"; exit 1; }

python3 "$src/tests/tools/webhook_receiver.py" "$tmp/hport" "$tmp/got.jsonl" & pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/hport" ] && break; sleep 0.05; done
[ -s "$tmp/hport" ] || { echo "FAIL: the receiver did not start"; exit 1; }
sp=$(port); pl=$(port); api=$(port); ps=$(port)
node "$here/proxy/smsc.js" "$sp" "$tmp/smsc.jsonl" >/dev/null 2>&1 & pids+=($!)
wait_port "$sp" || { echo "FAIL: the SMSC did not start"; exit 1; }
cache="${SG_BUILD:-$tmp}/rules-cache"
mkdir -p "$cache"
cat > "$tmp/run.conf" <<EOF
[alerts]
webhook_url = http://127.0.0.1:$(cat "$tmp/hport")/hook
webhook_timeout = 2s
[paths]
rules = "$src/rules"
rules_cache = "$cache"
[proxy "link"]
listen = 127.0.0.1:$pl
upstream = 127.0.0.1:$sp
EOF

# The ESME: ham, the spoofed sender, the verified sender's phishing-looking
# text; prints the command_status of each.
cat > "$tmp/esme.js" <<'JS'
'use strict';
const smpp = require('smpp');
const [host, port] = process.argv[2].split(':');
const only = process.argv[3] || 'all';
const bind = (system_id) => new Promise((resolve, reject) => {
  const s = smpp.connect({url: `smpp://${host}:${port}`, auto_enquire_link_period: 0});
  s.on('error', reject);
  s.on('connect', () => s.bind_transceiver({system_id, password: 'pw'}, (pdu) =>
    pdu.command_status ? reject(new Error('bind ' + pdu.command_status)) : resolve(s)));
});
const submit = (s, source_addr, short_message) => new Promise((resolve) =>
  s.submit_sm({source_addr, destination_addr: '79161234567', short_message}, (r) => resolve(r.command_status)));
(async () => {
  const out = {};
  const esme = await bind('esme1');
  if (only === 'all')
    out.ham = await submit(esme, 'ShopX', 'See you at dinner tonight, table booked for eight');
  out.spoof = await submit(esme, 'MyBank', 'Your code is 654321');
  if (only === 'all') {
    const bank = await bind('bankacct');
    out.verified = await submit(bank, 'MyBank',
      'Your account has been suspended. Verify your details at http://secure-bank.top');
    bank.close();
  }
  esme.close();
  console.log(JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
JS

echo "== 1. smsguard run: a [proxy] link posts its alerts"
"$SMSGUARD" run --config "$tmp/run.conf" --db "$db" --listen "127.0.0.1:$api" 2> "$tmp/run.err" & sg=$!; pids+=($sg)
wait_port "$pl" && wait_port "$api" || { cat "$tmp/run.err"; echo "FAIL: the link or the API did not listen"; exit 1; }
node "$tmp/esme.js" "127.0.0.1:$pl" all > "$tmp/esme.json" || { cat "$tmp/run.err"; echo "FAIL: the ESME"; exit 1; }
echo "  ESME got: $(cat "$tmp/esme.json")"
python3 - "$tmp" "http://127.0.0.1:$api" "$tok" <<'PY' || { tail -n 20 "$tmp/run.err"; exit 1; }
import json, sys, time, urllib.request
tmp, base, tok = sys.argv[1:4]
bad = []
def check(ok, what):
    print(("  ok: " if ok else "FAIL: ") + what)
    if not ok:
        bad.append(what)
esme = json.load(open(f"{tmp}/esme.json"))
check(esme == {"ham": 0, "spoof": 0x45, "verified": 0},
      "ham and the verified sender forwarded, the spoofed sender blocked (0x45)")
def alerts():
    rq = urllib.request.Request(base + "/api/v1/alerts?limit=100", headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(rq, timeout=10) as r:
        return [a for a in json.loads(r.read().decode())["alerts"] if "message_id" in a]
def received():
    try:
        return [json.loads(l) for l in open(f"{tmp}/got.jsonl", encoding="utf-8")]
    except FileNotFoundError:
        return []
deadline = time.time() + 15
while time.time() < deadline and (len(alerts()) < 2 or len(received()) < 2):
    time.sleep(0.1)
time.sleep(0.5)  # nothing more should come
api, reqs = alerts(), received()
check(sorted(a["kind"] for a in api) == ["spoofing", "verified_sender_matched"],
      f"the API lists the spoofing and the verified sender's alert: {[a['kind'] for a in api]}")
check(len(reqs) == len(api) and all(r["status"] == 204 and r["path"] == "/hook" and
                                    r["content_type"] == "application/json" for r in reqs),
      f"the receiver got {len(reqs)} POSTs /hook (application/json) for {len(api)} alerts")
bodies = {json.loads(r["body"])["message_id"]: json.loads(r["body"]) for r in reqs}
for a in api:
    b = bodies.get(a["message_id"])
    if not b:
        check(False, f"alert {a['kind']} message {a['message_id']} posted")
        continue
    for k in ("kind", "time", "message_id", "sender", "account", "action", "reasons"):
        check(b.get(k) == a.get(k), f"{a['kind']}: {k} posted = listed ({b.get(k)!r})")
    check(isinstance(b.get("score"), int), f"{a['kind']}: score {b.get('score')!r}")
sp = [a for a in api if a["kind"] == "spoofing"]
check(bool(sp) and sp[0]["sender"] == "MyBank" and sp[0]["account"] == "esme1" and sp[0]["action"] == "block",
      "the spoofing alert: MyBank from account esme1, blocked")
sys.exit(1 if bad else 0)
PY
stop "$sg"
grep -Eq 'smsguard run: proxy "link": [0-9]+ links .*3 judged' "$tmp/run.err" ||
  { cat "$tmp/run.err"; echo "FAIL: no summary for the link"; exit 1; }
grep -Eq '^  webhook   2 alerts posted, 0 failed, 0 dropped' "$tmp/run.err" ||
  { cat "$tmp/run.err"; echo "FAIL: the run's webhook line does not count 2 posted"; exit 1; }

echo "== 2. smsguard proxy --config: the standalone proxy posts its alerts"
: > "$tmp/got.jsonl"
"$SMSGUARD" proxy --config "$tmp/run.conf" --listen "127.0.0.1:$ps" --upstream "127.0.0.1:$sp" --db "$db" \
  2> "$tmp/proxy.err" & pp=$!; pids+=($pp)
wait_port "$ps" || { cat "$tmp/proxy.err"; echo "FAIL: the proxy did not listen"; exit 1; }
node "$tmp/esme.js" "127.0.0.1:$ps" spoof > "$tmp/esme2.json" || { cat "$tmp/proxy.err"; echo "FAIL: the ESME"; exit 1; }
for _ in $(seq 200); do [ -s "$tmp/got.jsonl" ] && break; sleep 0.05; done
stop "$pp"
python3 - "$tmp" "$db" <<'PY' || { cat "$tmp/proxy.err"; exit 1; }
import json, sqlite3, sys
tmp, db = sys.argv[1:3]
reqs = [json.loads(l) for l in open(f"{tmp}/got.jsonl")]
ok = len(reqs) == 1 and json.loads(reqs[0]["body"])["kind"] == "spoofing"
b = json.loads(reqs[0]["body"]) if reqs else {}
row = sqlite3.connect(db).execute("SELECT id, source_addr, account, action FROM message_log "
                                  "ORDER BY id DESC LIMIT 1").fetchone()
ok = ok and (b.get("message_id"), b.get("sender"), b.get("account"), b.get("action")) == row
print(("  ok: " if ok else "FAIL: ") + f"one spoofing alert posted, for message-log row {row}: {b}")
sys.exit(0 if ok else 1)
PY
grep -q "ignored (they are smsguard run's links)" "$tmp/proxy.err" ||
  { cat "$tmp/proxy.err"; echo "FAIL: the [proxy] section was not reported ignored"; exit 1; }
grep -q "webhook 1 alerts posted, 0 failed, 0 dropped" "$tmp/proxy.err" ||
  { cat "$tmp/proxy.err"; echo "FAIL: the proxy's webhook line does not count 1 posted"; exit 1; }
echo "alert-webhook-proxy: ok"
