#!/usr/bin/env bash
# Proxy links in `smsguard run`'s configuration: two [proxy "NAME"] sections
# (one answering blocks with ESME_RSUBMITFAIL, one with a silent accept),
# no capture at all, node-smpp peers (tests/proxy/load.js as the ESME on
# each link, tests/proxy/smsc.js as the SMSC).  Checks what each ESME got
# back, what the SMSC received (ham once, spam never), the one message log
# both links write to, the summary of each link after SIGTERM, and that a
# bad [proxy] setting stops the start-up with FILE:LINE.
# Env: SMSGUARD, SG_SOURCE, SG_BUILD.  Needs node and npm.
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
here=$(cd "$(dirname "$0")" && pwd)
src=${SG_SOURCE:-$here/..}
. "$here/lib/peers.sh"
sg_need python3
sg_node_smpp "$here"
sg_tmp run-proxy

# A bad setting: refused before anything starts, at its line.
cat > "$tmp/bad.conf" <<EOF
[proxy "a"]
listen = 127.0.0.1:1
upstream = 127.0.0.1:2
block_status = banana
EOF
if "$SMSGUARD" run --config "$tmp/bad.conf" --db "$tmp/bad.db" 2> "$tmp/bad.err"; then
  die "a bad [proxy] setting was accepted"
fi
grep -q "bad.conf:4: \[proxy \"a\"\] block_status banana: not a command_status" "$tmp/bad.err" ||
  { cat "$tmp/bad.err"; die "no FILE:LINE message for the bad setting"; }

sp=$(port); pa=$(port); pb=$(port); api=$(port)
node "$here/proxy/smsc.js" "$sp" "$tmp/smsc.jsonl" >/dev/null 2>&1 & pids+=($!)
wait_port "$sp" || { echo "FAIL: the SMSC did not start"; exit 1; }
cat > "$tmp/run.conf" <<EOF
[proxy "error-mode"]
listen = 127.0.0.1:$pa
upstream = 127.0.0.1:$sp
block_status = 0x45

[proxy "silent-mode"]
listen = 127.0.0.1:$pb
upstream = 127.0.0.1:$sp
block-status = 0        # silent accept with a generated message_id
response_timeout = 5
EOF
cache="${SG_BUILD:-$tmp}/rules-cache"
mkdir -p "$cache"
"$SMSGUARD" run --config "$tmp/run.conf" --db "$tmp/state.db" --rules "$src/rules" --rules-cache "$cache" \
  --listen "127.0.0.1:$api" 2> "$tmp/run.err" & sg=$!; pids+=($sg)
wait_port "$pa" && wait_port "$pb" || { cat "$tmp/run.err"; echo "FAIL: the proxy links did not listen"; exit 1; }

node "$here/proxy/load.js" "127.0.0.1:$pa" 100 200 32 "$tmp/a.jsonl" "$tmp/a.progress" > /dev/null &
la=$!
node "$here/proxy/load.js" "127.0.0.1:$pb" 100 200 32 "$tmp/b.jsonl" "$tmp/b.progress" > /dev/null &
lb=$!
wait "$la" || die "link error-mode: load.js reported a missing, duplicated or unknown response"
wait "$lb" || die "link silent-mode: load.js reported a missing, duplicated or unknown response"
sleep 0.5 # the message-log writer commits about every 100 ms
kill -TERM "$sg"
for _ in $(seq 200); do kill -0 "$sg" 2>/dev/null || break; sleep 0.05; done
kill -0 "$sg" 2>/dev/null && die "smsguard run did not stop on SIGTERM"
wait "$sg" 2>/dev/null || die "smsguard run exited with an error"

python3 - "$tmp" <<'PY' || fail=1
import json, sqlite3, sys
tmp = sys.argv[1]
bad = []
def load(p):
    return [json.loads(l) for l in open(p) if l.strip() and '"summary"' not in l]
smsc = [json.loads(l) for l in open(f'{tmp}/smsc.jsonl')]
submits = [e for e in smsc if e.get('ev') == 'submit']
texts = [e['text'] for e in submits]
for name, path, block in (('error-mode', 'a', 0x45), ('silent-mode', 'b', 0)):
    msgs = load(f'{tmp}/{path}.jsonl')
    if len(msgs) != 100:
        bad.append(f'{name}: {len(msgs)} messages recorded')
    for m in msgs:
        if m['n'] != 1:
            bad.append(f"{name}: message {m['i']} got {m['n']} responses")
        if m['kind'] == 'spam' and m['status'] != block:
            bad.append(f"{name}: spam {m['i']} answered 0x{m['status']:x}, configured 0x{block:x}")
        if m['kind'] == 'ham' and m['status'] != 0:
            bad.append(f"{name}: ham {m['i']} answered 0x{m['status']:x}")
    hams = [m for m in msgs if m['kind'] == 'ham']
    spams = [m for m in msgs if m['kind'] == 'spam']
    if not hams or not spams:
        bad.append(f'{name}: the load has no ham or no spam')
spam_at_smsc = [t for t in texts if 'secure-bank.top' in t]
if spam_at_smsc:
    bad.append(f'{len(spam_at_smsc)} spam submits reached the SMSC')
from collections import Counter
c = Counter(texts)
dups = [t for t, n in c.items() if n > 1]
# both links send "..., ref i" for the same i: a text may come once per link
dups = [t for t in dups if c[t] > 2]
if dups:
    bad.append(f'{len(dups)} texts reached the SMSC more than once per link, e.g. {dups[0]!r}')
hams_expected = sum(1 for p in 'ab' for m in load(f'{tmp}/{p}.jsonl') if m['kind'] == 'ham')
hams_at_smsc = sum(1 for e in submits if 'secure-bank.top' not in e['text'] and 'walrus' not in e['text'])
if hams_at_smsc != hams_expected:
    bad.append(f'{hams_at_smsc} ham submits at the SMSC, {hams_expected} answered OK')
db = sqlite3.connect(f'{tmp}/state.db')
rows = db.execute('SELECT COUNT(*) FROM message_log').fetchone()[0]
if rows != 200:
    bad.append(f'{rows} message-log rows for the 200 messages of both links')
blocked = db.execute("SELECT COUNT(*), SUM(enforced) FROM message_log WHERE action = 'block'").fetchone()
spam_sent = sum(1 for p in 'ab' for m in load(f'{tmp}/{p}.jsonl') if m['kind'] == 'spam')
if blocked[0] < spam_sent or blocked[1] != blocked[0]:
    bad.append(f'message log: {blocked[0]} blocked rows ({blocked[1]} enforced) for {spam_sent} spam')
for b in bad:
    print('FAIL:', b)
print(f'run-proxy: {len(submits)} submits at the SMSC, {rows} message-log rows, {blocked[0]} blocked and enforced')
sys.exit(1 if bad else 0)
PY
for name in error-mode silent-mode; do
  grep -q "proxy \"$name\" listening on 127.0.0.1" "$tmp/run.err" || die "no start line for $name"
  grep -Eq "smsguard run: proxy \"$name\": [0-9]+ links .*100 judged" "$tmp/run.err" || die "no summary for $name after SIGTERM"
done
grep -q "no capture; judging on 2 proxy links" "$tmp/run.err" || die "run did not say it judges on the links only"
[ "$fail" -eq 0 ] || { sed -n '1,40p' "$tmp/run.err"; exit 1; }
echo "run-proxy: ok"
