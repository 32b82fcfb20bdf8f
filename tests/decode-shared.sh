#!/usr/bin/env bash
# smsguard decode on the two real captures in shared/: the events a person
# reading them in Wireshark would expect, and the tshark differential.
set -euo pipefail
: "${SMSGUARD:?}" "${SG_SHARED:?}"
pcaps=$SG_SHARED/data/pcaps
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$SMSGUARD" decode -r "$pcaps/wireshark-sample-smpp.cap" >"$out/ws.jsonl" 2>"$out/ws.err"
"$SMSGUARD" decode -r "$pcaps/node-smpp-loopback.pcapng" >"$out/node.jsonl" 2>"$out/node.err"

python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
def load(name):
    return [json.loads(l) for l in open(f"{d}/{name}.jsonl")]
ok = bad = 0
def check(cond, what):
    global ok, bad
    if cond: ok += 1
    else:
        bad += 1
        print("FAILED:", what)

ws = load("ws")
pdus = [e for e in ws if e["event"] == "pdu"]
check([p["command"] for p in pdus] == ["bind_transmitter", "bind_transmitter_resp", "enquire_link",
      "enquire_link_resp", "submit_sm", "submit_sm_resp", "unbind", "unbind_resp"], "wireshark sample PDU sequence")
msgs = [e for e in ws if e["event"] == "message"]
check(len(msgs) == 1, "one message in the wireshark sample")
m = msgs[0]
check(m["account"] == "abhik", "account from bind_transmitter system_id")
check(m["source_addr"] == "100" and m["destination_addr"] == "1234567890", "addresses")
check(m["text"] == "test" and m["message_id"] == "47c8c77a" and m["command_status"] == 0, "text and response")
check("password" not in pdus[0] and pdus[0].get("password_len") == 8, "bind password never printed")
check(not [e for e in ws if e["event"] == "error"], "no errors on a clean capture")

node = load("node")
msgs = [e for e in node if e["event"] == "message"]
check(len(msgs) == 2, "two messages in the node-smpp capture")
check(msgs[0]["text"] == "WINNER!! Claim your \u00a3900 prize", "GSM octets labelled data_coding 1 (node-smpp)")
check(msgs[1]["text"] == "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440", "UCS-2 Cyrillic")
check(all(m["account"] == "test" for m in msgs), "account from bind_transceiver")
check([m["message_id"] for m in msgs] == ["msg2", "msg3"], "message ids from submit_sm_resp")
print(f"decode-shared: {ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
grep -q "pdus      8 decoded" "$out/ws.err"
grep -q "pdus      10 decoded" "$out/node.err"

for f in "$pcaps"/*; do
  python3 "$SG_SOURCE/tests/tools/tshark_diff.py" "$SMSGUARD" "$f"
done
