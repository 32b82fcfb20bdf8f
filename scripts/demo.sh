#!/usr/bin/env bash
# The main job on bundled defaults: installs, builds, generates the sample
# traffic (deterministic), then runs the daemon on it with the default rules,
# the admin API and the call-centre console on localhost.  The state database
# holds a verified payment provider (QIWI, bound to its SMPP account) and a
# wrong blacklisting of another one (YooMoney): open the console, look up a
# subscriber whose YooMoney codes were blocked, and clear it.
# Stop with Ctrl-C.  SMSGUARD_DEMO_LISTEN changes the address (default
# 127.0.0.1:8080); SMSGUARD_DEMO_DIR the working folder (default build/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
sg=build/cmd/smsguard
work=${SMSGUARD_DEMO_DIR:-build/demo}
listen=${SMSGUARD_DEMO_LISTEN:-127.0.0.1:8080}
db=$work/smsguard.db
mkdir -p "$work"
rm -f "$db" "$db"-wal "$db"-shm

echo "== sample traffic (bench/smsgen, seed 1): $work/sample.pcap"
build/bench/smsgen -o "$work/sample.pcap" --seed 1 --messages 2000 --open-share 0

echo "== state: QIWI verified on its account; YooMoney blacklisted by mistake"
"$sg" whitelist add --db "$db" --sender QIWI --ton 5 --account qiwi_otp \
    --provider "QIWI Bank" --verified-by ops-anna >/dev/null
"$sg" blacklist add --db "$db" --sender YooMoney --reason "complaints (wrong)" \
    --ticket OPS-17 --by ops-boris >/dev/null
token=$("$sg" token create --db "$db" --role callcentre --name demo-agent | sed -n 's/.*\(sgt_[0-9a-f]*\).*/\1/p')
ops=$("$sg" token create --db "$db" --role ops --name demo-ops | sed -n 's/.*\(sgt_[0-9a-f]*\).*/\1/p')

victim=$("$sg" decode -r "$work/sample.pcap" --events message 2>/dev/null |
         python3 -c 'import json,sys
hits = [e["destination_addr"] for e in map(json.loads, sys.stdin) if e.get("source_addr") == "YooMoney"]
print(hits[0] if hits else "")')

cat <<MSG

== smsguard run: judging the sample, then serving the console
   console:          http://$listen/
   sign-in token:    $token   (call-centre agent)
   ops token:        $ops
   try a subscriber: ${victim:-any number from the timeline}  (YooMoney codes blocked by the wrong blacklisting)
   verdicts:         $work/verdicts.jsonl
   Ctrl-C stops the daemon.

MSG
exec "$sg" run -r "$work/sample.pcap" --db "$db" --listen "$listen" >"$work/verdicts.jsonl"
