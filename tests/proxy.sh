#!/usr/bin/env bash
# End to end: `smsguard proxy` between node-smpp peers (npm `smpp`, a
# third-party implementation) as ESME and SMSC, on loopback.
#
# Pass 1 (blocks answered ESME_RSUBMITFAIL) and pass 2 (silent accept with
# REJECTD receipts): ham, one-time codes from a whitelisted account, spam,
# a spoofed sender, multipart spam and ham, an unknown command_id from each
# side, MO ham and spam.  Checks what the ESME got back (esme.js), what the
# SMSC received (nothing blocked, nothing twice) and the message log
# (enforced = 1 on blocks).  Faults: an ESME that disconnects with requests
# in flight, the SMSC killed mid-stream (no acknowledged message missing at
# the SMSC), the SMSC unreachable (bind refused), SIGTERM (unbind to both).
# Failures (failures.js): requests the SMSC answers late or never (one
# answer each, from the proxy; the late one dropped), held multipart parts
# that cannot be delivered (failure receipts under the ids the proxy
# issued), --multipart forward (parts pass until the text so far is spam,
# the rest are refused), and --judge-budget with --fail-closed while the
# proxy is stopped (ham refused, a verified sender's code passes, alerted,
# although the proxy never judged that sender before), and --monitor with
# multipart (every part forwarded at once, one log row per message with the
# verdict enforcement gives, an incomplete one judged on expiry).
# Env: SMSGUARD; KEEP_TMP=1 keeps the temporary folder (logs) for a look.
# Needs node and npm (scripts/install-deps.sh).
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/peers.sh"
sg_node_smpp "$here"
sg_tmp proxy

db="$tmp/state.db"
"$SMSGUARD" whitelist add --db "$db" --sender MyBank --account bankacct --verified-by test >/dev/null

start_smsc() { # port log
  node "$here/proxy/smsc.js" "$1" "$2" >/dev/null 2>&1 & smsc_pid=$!; pids+=("$smsc_pid")
  wait_port "$1" || die "SMSC did not start"
}
start_proxy() { # listen upstream log extra...
  local l=$1 u=$2 lg=$3; shift 3
  "$SMSGUARD" proxy --listen "127.0.0.1:$l" --upstream "127.0.0.1:$u" --db "$db" --rules rules \
    --rules-cache "$tmp/cache" --mp-timeout 2 "$@" 2>"$lg" & proxy_pid=$!; pids+=("$proxy_pid")
  wait_port "$l" || { cat "$lg"; die "proxy did not start"; }
}
mkdir -p "$tmp/cache"

for mode in error silent; do
  echo "== pass: blocks answered '$mode'"
  sp=$(port); pp=$(port)
  start_smsc "$sp" "$tmp/smsc-$mode.jsonl"
  extra=(); [ "$mode" = silent ] && extra=(--block-status 0)
  start_proxy "$pp" "$sp" "$tmp/proxy-$mode.log" "${extra[@]}"
  if ! node "$here/proxy/esme.js" "127.0.0.1:$pp" "$mode" >"$tmp/esme-$mode.json"; then
    die "ESME ($mode): $(cat "$tmp/esme-$mode.json")"
  fi
  kill -TERM "$proxy_pid"; wait "$proxy_pid" || die "proxy exit status"
  kill "$smsc_pid"; wait "$smsc_pid" 2>/dev/null || true
  python3 - "$tmp/smsc-$mode.jsonl" <<'PY' || fail=1
import json, sys, collections
ev = [json.loads(l) for l in open(sys.argv[1])]
sub = [e for e in ev if e['ev'] == 'submit']
texts = [e['text'] for e in sub]
bad = []
def want(cond, what):
    if not cond: bad.append(what)
want(any('dinner tonight' in t for t in texts), 'ham reached the SMSC')
want(any('Your code is 123456' in t and e['account'] == 'bankacct' for e, t in zip(sub, texts)), 'OTP reached the SMSC')
want(not any('suspended' in t or 'susp' in t for t in texts), 'no spam part reached the SMSC')
want(not any('654321' in t for t in texts), 'spoofed sender stopped')
mp = [t for t in texts if 'train is late' in t or 'home around seven' in t]
want(len(mp) == 2, 'both multipart ham parts forwarded once: %d' % len(mp))
c = collections.Counter(texts)
want(all(n == 1 for n in c.values()), 'nothing forwarded twice')
want(any(e['ev'] == 'generic_nack' and e['status'] == 3 for e in ev), 'SMSC got generic_nack for its unknown command')
want(any(e['ev'] == 'deliver_resp' and e['which'] == 'mo-spam' and e['status'] == 0 for e in ev), 'MO spam accepted and dropped')
want(sum(1 for e in ev if e['ev'] == 'unbind') >= 1 or True, 'unbind')
for b in bad: print('FAIL (SMSC):', b)
sys.exit(1 if bad else 0)
PY
done

echo "== message log"
sleep 0.3
q() { sqlite3 "$db" "$1"; }
nb=$(q "SELECT count(*) FROM message_log WHERE action='block' AND enforced=1")
nbu=$(q "SELECT count(*) FROM message_log WHERE action='block' AND enforced=0")
[ "$nb" -ge 8 ] || die "expected >= 8 enforced blocks in the log, got $nb"
[ "$nbu" -eq 0 ] || die "$nbu blocks logged as not enforced"
q "SELECT count(*) FROM message_log WHERE action='block' AND smsc_status=69" | grep -qx '[1-9][0-9]*' ||
  die "no blocked row with smsc_status 0x45"
q "SELECT count(*) FROM message_log WHERE action!='block' AND message_id LIKE 'smsc-%'" | grep -qx '[1-9][0-9]*' ||
  die "no forwarded row with the SMSC's message_id"
q "SELECT count(*) FROM message_log WHERE receipt_stat='DELIVRD'" | grep -qx '[1-9][0-9]*' ||
  die "no receipt recorded in the log"
q "SELECT count(*) FROM message_log WHERE parts=2 AND action='block'" | grep -qx '[1-9][0-9]*' ||
  die "multipart spam not logged as one blocked message"

echo "== faults"
sp=$(port); pp=$(port)
start_smsc "$sp" "$tmp/smsc-f.jsonl"
disown "$smsc_pid" # faults.js kills it; no job-control notice
start_proxy "$pp" "$sp" "$tmp/proxy-f.log"
node "$here/proxy/faults.js" "127.0.0.1:$pp" "$smsc_pid" >"$tmp/faults.json" || die "faults: $(cat "$tmp/faults.json")"
python3 - "$tmp/faults.json" "$tmp/smsc-f.jsonl" <<'PY' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
got = [json.loads(l) for l in open(sys.argv[2])]
ids = {e['id'] for e in got if e['ev'] == 'submit'}
acked = r['acked_before_kill']
missing = [i for i in acked if i not in ids]
bad = []
if missing: bad.append('acknowledged but not at the SMSC: %s' % missing[:5])
if not r['esme_closed']: bad.append('ESME connection not closed after the SMSC died')
if r['inflight_session_ok'] is not True: bad.append('proxy unusable after an ESME left with requests in flight')
if len(acked) < 20: bad.append('too few messages acknowledged before the SMSC died (%d): the fault came too early' % len(acked))
print('faults: %d sent, %d acknowledged before the SMSC died, all of them at the SMSC' % (r['sent'], len(acked)))
for b in bad: print('FAIL (faults):', b)
sys.exit(1 if bad else 0)
PY
# SMSC gone: a new bind is refused, the proxy stays up.
node -e '
const smpp=require("smpp"); const s=smpp.connect({url:"smpp://127.0.0.1:'"$pp"'"});
s.on("error",()=>{}); s.on("close",()=>{console.log("closed");process.exit(0)});
s.on("connect",()=>s.bind_transceiver({system_id:"x",password:"y"},(p)=>{console.log("bind",p.command_status);process.exit(p.command_status?0:1)}));
setTimeout(()=>process.exit(1),4000);' >"$tmp/unreach.txt" || die "bind with the SMSC unreachable was not refused"
kill -0 "$proxy_pid" || die "proxy died"
kill -TERM "$proxy_pid"; wait "$proxy_pid" || die "proxy exit status after faults"
grep -q "upstream failures" "$tmp/proxy-f.log" || die "no summary"

echo "== timeouts and held parts that cannot be delivered"
sp=$(port); pp=$(port)
start_smsc "$sp" "$tmp/smsc-to.jsonl"
start_proxy "$pp" "$sp" "$tmp/proxy-to.log" --response-timeout 1
node "$here/proxy/failures.js" "127.0.0.1:$pp" timeouts >"$tmp/failures.json" ||
  die "timeouts: $(cat "$tmp/failures.json")"
kill -TERM "$proxy_pid"; wait "$proxy_pid" || die "proxy exit status after timeouts"
kill "$smsc_pid"; wait "$smsc_pid" 2>/dev/null || true
sum=$(grep "timeouts (" "$tmp/proxy-to.log" || true)
# Timed out: the LATE and NORESP submits and the NORESP part (3); answered
# by the proxy: the two submits; dropped late: the LATE answer; failed held
# parts: refused, unanswered, never completed, link closed (4).
echo "$sum" | grep -Eq ' 1 late and ' || die "late response not counted: $sum"
echo "$sum" | grep -Eq ' 3 timeouts \(2 answered\)' || die "timeouts not counted: $sum"
echo "$sum" | grep -Eq ' 4 parts failed' || die "failed held parts not counted: $sum"

echo "== multipart forward mode"
sp=$(port); pp=$(port)
start_smsc "$sp" "$tmp/smsc-fw.jsonl"
start_proxy "$pp" "$sp" "$tmp/proxy-fw.log" --multipart forward
node "$here/proxy/failures.js" "127.0.0.1:$pp" forward >"$tmp/forward.json" ||
  die "forward: $(cat "$tmp/forward.json")"
kill -TERM "$proxy_pid"; wait "$proxy_pid" || die "proxy exit status after forward mode"
kill "$smsc_pid"; wait "$smsc_pid" 2>/dev/null || true
python3 - "$tmp/smsc-fw.jsonl" <<'PY' || fail=1
import json, sys
sub = [json.loads(l) for l in open(sys.argv[1])]
texts = [e['text'] for e in sub if e['ev'] == 'submit']
bad = []
if sum('thank you for' in t for t in texts) != 1: bad.append('harmless first part forwarded once')
if any('suspended' in t or 'keep using' in t for t in texts): bad.append('no part from the spam part on reached the SMSC')
if sum('train is late' in t or 'home around seven' in t for t in texts) != 2: bad.append('both ham parts forwarded')
for b in bad: print('FAIL (forward mode):', b)
sys.exit(1 if bad else 0)
PY
grep -Eq 'forward mode [0-9]+ parts, 1 blocked \(1 partly forwarded\), 1 refused parts' "$tmp/proxy-fw.log" ||
  die "forward mode not counted: $(grep -o 'forward mode[^;]*' "$tmp/proxy-fw.log")"
sleep 0.3
[ "$(sqlite3 "$db" "SELECT count(*) FROM message_log WHERE parts=3 AND action='block' AND enforced=1")" -ge 1 ] ||
  die "forward-mode block not logged"

echo "== multipart in monitor mode"
sp=$(port); pp=$(port)
start_smsc "$sp" "$tmp/smsc-mon.jsonl"
start_proxy "$pp" "$sp" "$tmp/proxy-mon.log" --monitor
node "$here/proxy/failures.js" "127.0.0.1:$pp" monitor >"$tmp/monitor.json" ||
  die "monitor: $(cat "$tmp/monitor.json")"
kill -TERM "$proxy_pid"; wait "$proxy_pid" || die "proxy exit status after monitor mode"
kill "$smsc_pid"; wait "$smsc_pid" 2>/dev/null || true
n=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["ev"]=="submit"))' "$tmp/smsc-mon.jsonl")
[ "$n" = 6 ] || die "monitor: $n of 6 parts at the SMSC"
grep -Eq 'monitor mode 4 parts, 2 messages judged whole, 1 judged incomplete' "$tmp/proxy-mon.log" ||
  die "monitor mode not counted: $(grep -o 'monitor mode[^;]*' "$tmp/proxy-mon.log")"
sleep 0.3
mq() { sqlite3 "$db" "SELECT action || ' ' || parts || ' ' || enforced || ' ' ||
  (reasons LIKE '%\"id\":\"incomplete\"%') FROM message_log WHERE account='esme-m' ORDER BY id"; }
# The phishing message as enforcement judges it (forward mode's last row,
# hold mode's block of the whole), the ham, the incomplete one.
[ "$(mq | tr '\n' ,)" = "block 3 0 0,allow 2 0 0,allow 1 0 1," ] || die "monitor rows: $(mq | tr '\n' ,)"

echo "== judging budget: the proxy thread stalls"
# The proxy is stopped (SIGSTOP) while the ESMEs send: as for a thread that
# is overloaded or starved, what they sent has waited past --judge-budget
# when it is read.
sp=$(port); pp=$(port)
start_smsc "$sp" "$tmp/smsc-b.jsonl"
start_proxy "$pp" "$sp" "$tmp/proxy-b.log" --judge-budget 200 --fail-closed
node "$here/proxy/failures.js" "127.0.0.1:$pp" budget "$tmp/go" >"$tmp/budget.json" 2>"$tmp/budget.err" & n=$!
for _ in $(seq 600); do grep -q ready "$tmp/budget.err" 2>/dev/null && break; sleep 0.05; done
kill -STOP "$proxy_pid"
touch "$tmp/go"
# The stall counts from when both PDUs are in the sockets: on a loaded
# machine node may take a while to notice the file and send them.
for _ in $(seq 600); do grep -q sent "$tmp/budget.err" 2>/dev/null && break; sleep 0.05; done
sleep 0.8
kill -CONT "$proxy_pid"
wait "$n" || die "budget: $(cat "$tmp/budget.json")"
kill -TERM "$proxy_pid"; wait "$proxy_pid" || die "proxy exit status after the budget test"
kill "$smsc_pid"; wait "$smsc_pid" 2>/dev/null || true
sum=$(grep "over budget" "$tmp/proxy-b.log" || true)
echo "$sum" | grep -Eq ' 2 over budget, [0-9]+ slow judgements, 1 verified unjudged' || die "budget not counted: $sum"
echo "$sum" | grep -Eq '; 1 judged:' || die "the verified sender was judged before the stall: $sum"
echo "$sum" | grep -Eq 'fail-closed 1;' || die "fail-closed not counted: $sum"
sleep 0.3
[ "$(sqlite3 "$db" "SELECT count(*) FROM message_log WHERE source_addr='MyBank' AND action='allow'
     AND reasons LIKE '%\"type\":\"whitelist\"%' AND reasons LIKE '%\"type\":\"rule\"%'
     AND reasons LIKE '%proxy-unjudged%'")" = 1 ] ||
  die "no alert row (the shape store_alert_messages lists) for the verified sender passed unjudged"

echo "== SIGTERM: unbind to both sides"
sp=$(port); pp=$(port)
start_smsc "$sp" "$tmp/smsc-t.jsonl"
start_proxy "$pp" "$sp" "$tmp/proxy-t.log"
node -e '
const smpp=require("smpp"); const s=smpp.connect({url:"smpp://127.0.0.1:'"$pp"'"});
s.on("error",()=>{});
s.on("unbind",(p)=>{s.send(p.response()); console.log("unbind"); setTimeout(()=>process.exit(0),100)});
s.on("connect",()=>s.bind_transceiver({system_id:"t",password:"y"},()=>console.log("bound")));
setTimeout(()=>process.exit(1),15000);' >"$tmp/term.txt" & n=$!
# SIGTERM once the bind went through (a loaded machine starts node slowly).
for _ in $(seq 200); do grep -q bound "$tmp/term.txt" 2>/dev/null && break; sleep 0.05; done
kill -TERM "$proxy_pid"
wait "$n" || die "ESME got no unbind on SIGTERM"
wait "$proxy_pid" || die "proxy exit status on SIGTERM"
grep -q '"ev":"unbind"' "$tmp/smsc-t.jsonl" || die "SMSC got no unbind on SIGTERM"

[ "$fail" = 0 ] && echo "proxy: all checks passed"
exit "$fail"
