#!/usr/bin/env bash
# The main job on bundled defaults: installs, builds, generates the sample
# traffic (deterministic), decodes it, and judges it with the default rules
# against a fresh state database in which ops verified QIWI's sender and the
# call centre has one wrong blacklisting to look at.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
sg=build/cmd/smsguard
work=${SMSGUARD_DEMO_DIR:-build/demo}
mkdir -p "$work"
rm -f "$work"/smsguard.db*

echo "== sample traffic (bench/smsgen, seed 1)"
build/bench/smsgen -o "$work/sample.pcap" --seed 1 --messages 2000

echo "== smsguard decode: the first messages"
"$sg" decode -r "$work/sample.pcap" --events message >"$work/decode.jsonl"
head -n 3 "$work/decode.jsonl"

echo "== state: a verified payment provider, and a wrong blacklisting"
"$sg" whitelist add --db "$work/smsguard.db" --sender QIWI --ton 5 --account qiwi_otp \
    --provider "QIWI Bank" --verified-by ops-anna >/dev/null
"$sg" blacklist add --db "$work/smsguard.db" --sender YooMoney --reason "complaints (wrong)" >/dev/null
"$sg" blacklist list --db "$work/smsguard.db"

echo "== smsguard replay: one verdict per message (blocked ones shown)"
"$sg" replay -r "$work/sample.pcap" --db "$work/smsguard.db" >"$work/verdicts.jsonl"
grep '"action":"block"' "$work/verdicts.jsonl" | head -n 3 || true
echo
echo "verdicts: $work/verdicts.jsonl; message log: $work/smsguard.db (sqlite3 $work/smsguard.db 'select * from message_log limit 5')"
