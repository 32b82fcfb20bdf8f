#!/usr/bin/env bash
# End to end with Debian's Kannel as the ESME (issue 5): bearerbox binds two
# SMPP transceivers (system_id "kannelshop" and the whitelisted "bankacct")
# through `smsguard proxy` to the node-smpp SMSC (tests/proxy/smsc.js);
# messages are injected through smsbox's sendsms HTTP interface:
#
#   ham (with a delivery report)          -> at the SMSC once, "Sent SMS",
#                                            Kannel matches the DLR
#   OTP from MyBank via bankacct          -> at the SMSC once (whitelist)
#   spam                                  -> never at the SMSC, "REJECTED"
#   OTP text from MyBank via kannelshop   -> never at the SMSC (spoofed)
#   spam split by Kannel into 2 parts     -> no part at the SMSC, "REJECTED"
#     (UDH concatenation; each part alone scores below the block threshold,
#     so only judging the joined text stops it)
#   ham split into 2 parts (with a DLR)   -> both parts once, the receipt for
#     the part the proxy answered itself reaches Kannel under the proxy's
#     message_id and Kannel matches it
#
# and the message log: one row per message, blocks with enforced = 1 and
# smsc_status 0x45, allowed rows with the SMSC's message_id and receipt.
# Every wait is bounded and every process is killed on exit; a missing tool
# is a failure, not a skip.  About 10 s with a warm rule cache.
# Env: SMSGUARD, SG_BUILD (rule cache), SG_SOURCE.
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
SG_SOURCE=${SG_SOURCE:-$(pwd)}
SG_BUILD=${SG_BUILD:-$(dirname "$(dirname "$SMSGUARD")")}
here="$SG_SOURCE/tests"
PATH="$PATH:/usr/sbin:/sbin"

. "$here/lib/peers.sh"
sg_need bearerbox "Debian package kannel"
sg_need smsbox "Debian package kannel"
sg_need curl "Debian package curl"
sg_need sqlite3 "Debian package sqlite3"
sg_need python3 "Debian package python3"
sg_node_smpp "$here"
# bearerbox unbinds and drains on TERM; sg_cleanup gives it 3 s.
sg_tmp proxy-kannel
show_logs() {
  for f in proxy.log bearerbox.log access.log smsbox.log smsc.jsonl; do
    [ -f "$tmp/$f" ] && { echo "--- $f (tail)"; tail -n 25 "$tmp/$f"; }
  done
  return 0
}
t0=$SECONDS

# The rule cache shared with tests/sighup.sh: the proxy then starts in
# milliseconds instead of compiling for seconds (files are written by
# rename, so concurrent tests can share it).
cache="$SG_BUILD/rules-cache"
mkdir -p "$cache"
"$SMSGUARD" rules check --cache "$cache" "$SG_SOURCE/rules" >/dev/null 2>&1 ||
  { echo "FAIL: the rule set does not compile"; exit 1; }

db="$tmp/state.db"
"$SMSGUARD" whitelist add --db "$db" --sender MyBank --account bankacct --verified-by test >/dev/null

# The multipart spam: Kannel cuts a GSM 7-bit concatenated message after
# 153 characters (160 less the 6-octet UDH), so the first part ends in
# "Verify your det" and the second starts with "ails at http".
filler="Dear customer, this notice concerns the service agreement you signed with us earlier this year. "
filler="${filler}Read it. "
mp_spam="${filler}Your account has been suspended. Verify your details at http://secure-bank.top"
mp_ham="Hi mum, the bus is late by twenty minutes, I will be home around seven. Please keep some dinner warm for me, and tell dad that I found the book he was looking for. Love you"
# The premise: neither part alone is blocked, the whole is.
printf 'spam\t%s\nham\t%s\nham\t%s\n' "$mp_spam" "${mp_spam:0:153}" "${mp_spam:153}" >"$tmp/premise.tsv"
"$SMSGUARD" rules eval --rules "$SG_SOURCE/rules" --cache "$cache" --show all "$tmp/premise.tsv" >"$tmp/premise.txt" 2>&1 || true
grep -q 'spam caught: 1/1' "$tmp/premise.txt" && grep -q 'ham blocked: 0/2' "$tmp/premise.txt" ||
  { cat "$tmp/premise.txt"; die "multipart premise: the whole must be blocked, each 153-character part allowed"; }

sp=$(port); pp=$(port); admin=$(port); boxp=$(port); http=$(port)
node "$here/proxy/smsc.js" "$sp" "$tmp/smsc.jsonl" >/dev/null 2>&1 & pids+=($!)
wait_port "$sp" || { echo "FAIL: SMSC did not start"; exit 1; }
"$SMSGUARD" proxy --listen "127.0.0.1:$pp" --upstream "127.0.0.1:$sp" --db "$db" \
  --rules "$SG_SOURCE/rules" --rules-cache "$cache" --mp-timeout 10 2>"$tmp/proxy.log" & proxy_pid=$!
pids+=("$proxy_pid")
wait_port "$pp" || { show_logs; echo "FAIL: proxy did not start"; exit 1; }

# Two transceivers through the proxy; each message is routed to one of them
# by sendsms's smsc= (allowed-smsc-id keeps the other from taking it).
smsc_group() { # id system_id
  cat <<EOF
group = smsc
smsc = smpp
smsc-id = $1
allowed-smsc-id = $1
host = 127.0.0.1
port = $pp
transceiver-mode = true
smsc-username = $2
smsc-password = pw
system-type = ""
reconnect-delay = 1
enquire-link-interval = 30

EOF
}
{
  cat <<EOF
group = core
admin-port = $admin
admin-interface = 127.0.0.1
admin-password = adm
admin-allow-ip = "127.0.0.1"
smsbox-port = $boxp
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "$tmp/bearerbox.log"
log-level = 1
access-log = "$tmp/access.log"

EOF
  smsc_group shop kannelshop
  smsc_group bank bankacct
  cat <<EOF
group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $boxp
sendsms-port = $http
sendsms-interface = 127.0.0.1
log-file = "$tmp/smsbox.log"
log-level = 1

group = sendsms-user
username = sg
password = sgpw
default-smsc = shop
max-messages = 4
concatenation = true
EOF
} >"$tmp/kannel.conf"

bearerbox "$tmp/kannel.conf" >"$tmp/bearerbox.out" 2>&1 & pids+=($!)
wait_port "$admin" || { show_logs; echo "FAIL: bearerbox did not start"; exit 1; }
smsbox "$tmp/kannel.conf" >"$tmp/smsbox.out" 2>&1 & pids+=($!)
wait_port "$http" || { show_logs; echo "FAIL: smsbox did not start"; exit 1; }

# Both SMPP links bound through the proxy (bearerbox's status page).
online=0
for _ in $(seq 100); do
  online=$(curl -s --max-time 2 "http://127.0.0.1:$admin/status.txt?password=adm" | grep -c '(online' || true)
  [ "$online" -ge 2 ] && break
  sleep 0.1
done
[ "$online" -ge 2 ] || { show_logs; echo "FAIL: Kannel's SMPP links did not come online through the proxy"; exit 1; }
echo "proxy-kannel: Kannel bound through the proxy after $((SECONDS - t0)) s"

sendsms() { # smsc from text [dlr-url]
  local extra=()
  [ -n "${4:-}" ] && extra=(--data-urlencode dlr-mask=3 --data-urlencode "dlr-url=$4")
  local r
  r=$(curl -s --max-time 5 -G "http://127.0.0.1:$http/cgi-bin/sendsms" \
        --data-urlencode username=sg --data-urlencode password=sgpw --data-urlencode "smsc=$1" \
        --data-urlencode "from=$2" --data-urlencode to=79161234567 --data-urlencode "text=$3" "${extra[@]}") || true
  case "$r" in *"Accepted for delivery"*) ;; *) die "sendsms from $2 not accepted: '$r'";; esac
}
# The DLR URL points at a closed port: smsbox's fetch fails, which is fine;
# bearerbox has matched the receipt by then (access log "Receive DLR").
dlr_url="http://127.0.0.1:9/dlr"
sendsms shop ShopX "See you at dinner tonight, table booked for eight" "$dlr_url"
sendsms bank MyBank "Your code is 123456. Do not share it with anyone."
sendsms shop Promo "Your account has been suspended. Verify your details at http://secure-bank.top"
sendsms shop MyBank "Your code is 654321"
sendsms shop Promo2 "$mp_spam"
sendsms shop Son "$mp_ham" "$dlr_url"

# Six results and two receipts in bearerbox's access log, within 20 s.
for _ in $(seq 200); do
  n=$(grep -c 'Sen[dt] SMS\|Receive DLR' "$tmp/access.log" 2>/dev/null || true)
  [ "${n:-0}" -ge 8 ] && break
  sleep 0.1
done
sleep 0.3 # anything late (a duplicate) would show up now

# Stop the ESME first (it unbinds), then the proxy, whose summary and final
# message-log flush come on SIGTERM.
kannel=("${pids[@]:2}")
for p in "${kannel[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${kannel[@]}"; do
  for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
kill -TERM "$proxy_pid"
for _ in $(seq 50); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$proxy_pid" 2>/dev/null && { die "proxy still running 5 s after SIGTERM"; kill -KILL "$proxy_pid"; }
wait "$proxy_pid" || die "proxy exit status"

export MP_SPAM="$mp_spam" MP_HAM="$mp_ham"
timeout 20 python3 - "$tmp/access.log" "$tmp/smsc.jsonl" "$db" <<'PY' || fail=1
import collections, json, os, re, sqlite3, sys
access, smsc_log, db = sys.argv[1:4]
bad = []
def want(cond, what):
    if not cond: bad.append(what)

# Kannel's side: one result per message, as the proxy answered it.
lines = open(access, encoding='utf-8', errors='replace').read().splitlines()
def result(frm, text):
    got = []
    for l in lines:
        m = re.search(r'^\S+ \S+ ((?:\w+ )?Sen[dt] SMS|Receive DLR) \[SMSC:(\w*)\].*?\[FID:([^\]]*)\].*?\[from:([^\]]*)\].*?\[msg:\d+:(.*)\] \[udh:', l)
        if m and m.group(1) != 'Receive DLR' and m.group(4) == frm and m.group(5) == text:
            got.append((m.group(1), m.group(2), m.group(3)))
    return got
def dlrs(fid):
    return [l for l in lines if 'Receive DLR' in l and '[FID:%s]' % fid in l]
exp = [('ShopX', 'See you at dinner tonight, table booked for eight', 'Sent SMS', 'shop'),
       ('MyBank', 'Your code is 123456. Do not share it with anyone.', 'Sent SMS', 'bank'),
       ('Promo', 'Your account has been suspended. Verify your details at http://secure-bank.top', 'REJECTED Send SMS', 'shop'),
       ('MyBank', 'Your code is 654321', 'REJECTED Send SMS', 'shop'),
       ('Promo2', os.environ['MP_SPAM'], 'REJECTED Send SMS', 'shop'),
       ('Son', os.environ['MP_HAM'], 'Sent SMS', 'shop')]
fids = {}
for frm, text, status, smsc in exp:
    r = result(frm, text)
    want(len(r) == 1 and r[0][0] == status and r[0][1] == smsc,
         'Kannel access log: %s %r... expected one "%s" via %s, got %s' % (frm, text[:30], status, smsc, r))
    if r: fids[frm] = r[0][2]
want(fids.get('ShopX', '').startswith('smsc-'), 'ham: Kannel has the SMSC message_id: %r' % fids.get('ShopX'))
want(fids.get('Son', '').startswith('sg'), 'multipart ham: Kannel has the id the proxy issued for part 1: %r' % fids.get('Son'))
for who in ('ShopX', 'Son'):
    d = dlrs(fids.get(who, '?'))
    want(len(d) == 1 and 'stat:DELIVRD' in d[0], 'Kannel matched one DELIVRD receipt for %s (%s): %d' % (who, fids.get(who), len(d)))

# The SMSC's side: allowed messages once, blocked ones never.
ev = [json.loads(l) for l in open(smsc_log)]
binds = sorted(e['account'] for e in ev if e['ev'] == 'bind')
want(binds == ['bankacct', 'kannelshop'], 'SMSC binds: %s' % binds)
sub = [e for e in ev if e['ev'] == 'submit']
c = collections.Counter((e['account'], e['src'], e['text']) for e in sub)
want(c[('kannelshop', 'ShopX', 'See you at dinner tonight, table booked for eight')] == 1, 'ham at the SMSC once')
want(c[('bankacct', 'MyBank', 'Your code is 123456. Do not share it with anyone.')] == 1, 'OTP at the SMSC once, from bankacct')
want(not any(e['src'] in ('Promo', 'Promo2') for e in sub), 'no spam part at the SMSC')
want(not any('654321' in e['text'] for e in sub), 'spoofed OTP not at the SMSC')
son = [e['text'] for e in sub if e['src'] == 'Son']
want(len(son) == 2 and ''.join(son) == os.environ['MP_HAM'], 'multipart ham: both parts once, in order: %d parts' % len(son))
want(all(n == 1 for n in c.values()), 'nothing at the SMSC twice')
want(len(sub) == 4, 'submits at the SMSC: %d, expected 4' % len(sub))

# The message log: one row per message; blocks really stopped.
q = sqlite3.connect(db).execute
rows = q('SELECT source_addr, account, action, enforced, parts, message_id, smsc_status, receipt_stat '
         'FROM message_log ORDER BY id').fetchall()
want(len(rows) == 6, 'message log rows: %d, expected 6: %s' % (len(rows), rows))
by = collections.defaultdict(list)
for r in rows: by[(r[0], r[1])].append(r)
def row(src, acct):
    r = by.get((src, acct), [])
    want(len(r) == 1, 'one log row for %s/%s: %d' % (src, acct, len(r)))
    return r[0] if r else (None,) * 8
for src, acct, parts in (('Promo', 'kannelshop', 1), ('MyBank', 'kannelshop', 1), ('Promo2', 'kannelshop', 2)):
    r = row(src, acct)
    want(r[2] == 'block' and r[3] == 1 and r[4] == parts and r[6] == 0x45,
         '%s: block, enforced, %d part(s), smsc_status 0x45: %s' % (src, parts, r))
for src, acct, parts, rcpt in (('ShopX', 'kannelshop', 1, 'DELIVRD'), ('MyBank', 'bankacct', 1, None), ('Son', 'kannelshop', 2, None)):
    r = row(src, acct)
    want(r[2] != 'block' and r[3] == 0 and r[4] == parts and (r[5] or '').startswith('smsc-') and r[6] == 0,
         '%s: forwarded, SMSC id and status 0: %s' % (src, r))
    if rcpt: want(r[7] == rcpt, '%s: receipt %s in the log: %s' % (src, rcpt, r))
want(fids.get('ShopX') == row('ShopX', 'kannelshop')[5], 'ham: the log has the id Kannel got')
for b in bad: print('FAIL:', b)
sys.exit(1 if bad else 0)
PY
grep -q 'SMSC returned error code 0x00000045' "$tmp/bearerbox.log" ||
  die "bearerbox did not log the proxy's ESME_RSUBMITFAIL answers"
echo "proxy-kannel: $(tail -n 1 "$tmp/proxy.log")"
grep -q '3 submits and 0 delivers blocked' "$tmp/proxy.log" || die "proxy summary: $(tail -n 1 "$tmp/proxy.log")"
[ "$fail" = 0 ] || show_logs
echo "proxy-kannel: $((SECONDS - t0)) s"
[ "$fail" = 0 ] && echo "proxy-kannel: all checks passed"
exit "$fail"
