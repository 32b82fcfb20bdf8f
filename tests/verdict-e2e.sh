#!/usr/bin/env bash
# End-to-end verdicts on generated traffic with ground truth (issue 3).
#
# smsgen writes a capture whose truth labels every message ham / otp / spam
# / spoof / lookalike (docs/generator.md).  The state is set up with the
# CLI as an operator would: the payment providers' sender IDs whitelisted,
# each bound to the SMPP account and ESME address range the generator
# gives it.  Then `smsguard replay --db` judges the capture and
# tests/tools/verdict_truth.py joins verdicts to the truth on (source,
# destination, text) and asserts:
#
#   pass 1 (volume rules observing: etc-style config with volume_action =
#   flag and no automatic blacklisting, the way a new deployment starts):
#     every OTP from a verified provider allowed; every spoofed or
#     look-alike protected sender blocked; campaign recall >= 0.95 and every
#     campaign (multipart and look-alike-obfuscated ones included) at least
#     0.80 caught; ham blocked <= 0.5%.
#   pass 2 (bundled defaults): the same protections, recall and ham
#     bound.  Brand senders of the aggregators (Ozon, MTS, ...) cross the
#     default 50 recipients per 10 minutes in this compressed traffic; their
#     volume only flags, since it is not corroborated by content
#     (volume_corroborate_score, docs/configuration.md).
#   pass 3 (a clear): ops blacklist Ozon by mistake and its messages are
#     blocked; the call centre clears the entry; replaying again within the
#     grace period, no Ozon message is blocked by a sender blacklist entry or
#     the volume rule, and no new entry for Ozon appears.
#
# Env: SMSGUARD, SG_BUILD (for bench/smsgen), SG_SHARED (corpus, optional).
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
: "${SG_BUILD:?build folder (bench/smsgen)}"
SG_SHARED=${SG_SHARED:-../shared}
SG_SOURCE=${SG_SOURCE:-.}
smsgen="$SG_BUILD/bench/smsgen"
judge="python3 $SG_SOURCE/tests/tools/verdict_truth.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$SG_BUILD/rules-cache"
cache=(--rules "$SG_SOURCE/rules" --rules-cache "$SG_BUILD/rules-cache")

corpus=()
c="$SG_SHARED/data/corpora/sms-spam-collection.train.tsv"
[ -r "$c" ] && corpus=(--corpus "$c")
"$smsgen" -o "$tmp/gen.pcap" --seed 7 --messages 20000 "${corpus[@]}" >/dev/null

# Whitelist: sender, TON, account, ESME range (smsgen: 10.30.<account+1>.x,
# 2001:db8:30:<account+1>::x).
wl() {
    "$SMSGUARD" whitelist add --db "$tmp/state.db" --sender "$1" --ton "$2" --account "$3" \
        --cidr "10.30.$4.0/24" --cidr "2001:db8:30:$4::/64" --provider "$5" --verified-by verdict-e2e >/dev/null
}
wl QIWI 5 qiwi_otp 1 "QIWI Bank"
wl 7494 3 qiwi_otp 1 "QIWI Bank"
wl YooMoney 5 yoomoney 2 "YooMoney"
wl Tinkoff 5 tinkoff_otp 3 "Tinkoff Bank"
wl SBER 5 sber_otp 4 "Sberbank"
wl 900 3 sber_otp 4 "Sberbank"
cp "$tmp/state.db" "$tmp/defaults.db"

fail=0
echo "== pass 1: volume rules observing (volume_action = flag, auto_blacklist = false)"
cat > "$tmp/observe.conf" <<'CONF'
[verdict]
volume_action = flag
auto_blacklist = false
CONF
"$SMSGUARD" replay --config "$tmp/observe.conf" -r "$tmp/gen.pcap" --db "$tmp/state.db" "${cache[@]}" \
    > "$tmp/v1.jsonl" 2> "$tmp/v1.err" || { cat "$tmp/v1.err"; exit 1; }
grep -E '^  (verdicts|reasons)' "$tmp/v1.err"
$judge "$tmp/gen.truth.jsonl" "$tmp/v1.jsonl" || fail=1

echo "== pass 2: bundled defaults"
"$SMSGUARD" replay -r "$tmp/gen.pcap" --db "$tmp/defaults.db" "${cache[@]}" \
    > "$tmp/v2.jsonl" 2> "$tmp/v2.err" || { cat "$tmp/v2.err"; exit 1; }
grep -E '^  (verdicts|reasons|log)' "$tmp/v2.err"
$judge --show 5 "$tmp/gen.truth.jsonl" "$tmp/v2.jsonl" || fail=1

echo "== pass 3: a wrong manual blacklisting of Ozon, cleared by the call centre, replayed within the grace period"
id=$("$SMSGUARD" blacklist add --db "$tmp/defaults.db" --sender Ozon --reason "complaints (wrong)" \
     --ticket OPS-1 --by ops-ivan | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
if [ -z "$id" ]; then
    echo "FAIL: could not blacklist Ozon"; exit 1
fi
"$SMSGUARD" replay -r "$tmp/gen.pcap" --db "$tmp/defaults.db" "${cache[@]}" > "$tmp/v3a.jsonl" 2> "$tmp/v3a.err" ||
    { cat "$tmp/v3a.err"; exit 1; }
blocked=$(python3 -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) if (v:=json.loads(l))["source_addr"]=="Ozon" and v["action"]=="block"))' "$tmp/v3a.jsonl")
echo "  Ozon while wrongly blacklisted: $blocked messages blocked"
[ "$blocked" -gt 0 ] || { echo "FAIL: the wrong blacklisting blocked nothing"; fail=1; }
"$SMSGUARD" blacklist clear --db "$tmp/defaults.db" --id "$id" --reason "brand sender, complaint checked" \
    --ticket CC-4711 --by cc-olga >/dev/null
"$SMSGUARD" replay -r "$tmp/gen.pcap" --db "$tmp/defaults.db" "${cache[@]}" > "$tmp/v3.jsonl" 2> "$tmp/v3.err" ||
    { cat "$tmp/v3.err"; exit 1; }
python3 - "$tmp/v3.jsonl" "bl-$id" <<'PY' || fail=1
import json, sys
n = bad = 0
for line in open(sys.argv[1], encoding="utf-8"):
    v = json.loads(line)
    if v.get("source_addr") != "Ozon":
        continue
    n += 1
    why = [r for r in v["reasons"] if r["id"] == sys.argv[2] or r["type"] == "volume"
           or (r["type"] == "blacklist" and "sender" in r.get("detail", ""))]
    if v["action"] == "block" and why:
        bad += 1
        if bad <= 5:
            print("  blocked despite the clear:", v["uid"], v["destination_addr"], why)
print(f"  Ozon after the clear: {n} messages, {bad} blocked by the sender entry or volume")
sys.exit(1 if bad or n == 0 else 0)
PY
active=$("$SMSGUARD" blacklist list --db "$tmp/defaults.db" --sender Ozon | grep -c '"cleared_at":null' || true)
if [ "$active" -ne 0 ]; then
    echo "FAIL: $active active blacklist entries for Ozon after the clear (re-blacklisted within grace)"; fail=1
else
    echo "  no active entry for Ozon after the replay"
fi
[ "$fail" -eq 0 ] && echo "verdict-e2e: ok"
exit "$fail"
