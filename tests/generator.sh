#!/usr/bin/env bash
# smsgen (bench/smsgen.c), the ground-truth generator, checked on its own:
#  1. one seed gives byte-identical capture and truth; another seed differs;
#  2. the truth is consistent with itself and with the capture: every line is
#     JSON, frames never go back, pdu + lost lines = --pdus, --messages is
#     exact, the summary matches the lines, capinfos counts the summary's frames;
#  3. tshark, an independent SMPP decoder, finds exactly the truth's PDUs
#     (frame, command_id, sequence_number) in the captures it can follow, on
#     Ethernet+VLAN, Linux SLL2 and raw IP, pcap and pcapng, IPv4 and IPv6.
# Builds nothing: runs "$SG_BUILD/bench/smsgen".
set -euo pipefail
: "${SG_BUILD:?}"
gen=$SG_BUILD/bench/smsgen
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failed=1; }

# 1. Determinism (the default mix: every segmentation case).
"$gen" -o "$out/a.pcap" --seed 42 --pdus 3000 2>/dev/null
"$gen" -o "$out/b.pcap" --seed 42 --pdus 3000 2>/dev/null
"$gen" -o "$out/c.pcap" --seed 43 --pdus 3000 2>/dev/null
if cmp -s "$out/a.pcap" "$out/b.pcap" && cmp -s "$out/a.truth.jsonl" "$out/b.truth.jsonl"; then
  ok "seed 42 twice: byte-identical capture and truth"
else
  bad "seed 42 twice: outputs differ"
fi
if cmp -s "$out/a.pcap" "$out/c.pcap"; then bad "seeds 42 and 43 gave the same capture"; else ok "seeds 42 and 43 differ"; fi
"$gen" -o "$out/n.pcap" --seed 42 --pdus 3000 --no-truth 2>/dev/null
if cmp -s "$out/a.pcap" "$out/n.pcap" && [ ! -e "$out/n.truth.jsonl" ]; then
  ok "--no-truth: same capture, no truth file"
else
  bad "--no-truth changed the capture or wrote a truth file"
fi

# 2. The truth against itself and the capture.
check_truth() {  # truth, capture, expected pdu+lost or "", expected messages or ""
  python3 - "$@" <<'EOF'
import collections, json, subprocess, sys
truth, capture, want_pdus, want_msgs = sys.argv[1:5]
ev = collections.Counter(); last = 0; errs = []
lines = open(truth, encoding="utf-8").read().splitlines()
summary = json.loads(lines[-1])
if json.loads(lines[0]).get("event") != "capture": errs.append("first line is not the capture header")
if summary.get("event") != "summary": errs.append("last line is not the summary")
for i, l in enumerate(lines[1:-1], 2):
    e = json.loads(l)
    ev[e["event"]] += 1
    if e["frame"] < last: errs.append("line %d: frame %d after %d" % (i, e["frame"], last))
    last = e["frame"]
    if e["event"] == "pdu" and e["command_length"] < 16: errs.append("line %d: command_length" % i)
    if e["event"] == "message" and not (1 <= e["parts_seen"] + (e["parts"] - e["parts_seen"]) <= 8):
        errs.append("line %d: parts" % i)
for k, s in (("pdu", "pdus"), ("lost", "lost"), ("message", "messages"), ("receipt", "receipts")):
    if ev[k] != summary[s]: errs.append("%s lines %d, summary %d" % (k, ev[k], summary[s]))
if want_pdus and ev["pdu"] + ev["lost"] != int(want_pdus):
    errs.append("pdu+lost = %d, asked %s" % (ev["pdu"] + ev["lost"], want_pdus))
if want_msgs and ev["message"] != int(want_msgs):
    errs.append("messages = %d, asked %s" % (ev["message"], want_msgs))
if ev["message"] == 0 or ev["pdu"] == 0: errs.append("no messages or no PDUs")
cap = subprocess.run(["capinfos", "-c", "-M", capture], capture_output=True, text=True).stdout
frames = [l.split(":")[1].strip() for l in cap.splitlines() if "Number of packets" in l]
if not frames or int(frames[0]) != summary["frames"]:
    errs.append("capinfos counts %s frames, summary %d" % (frames, summary["frames"]))
for e in errs[:10]: print("  " + e)
print("  %s: %s" % (truth.rsplit("/", 1)[-1], dict(ev)))
sys.exit(1 if errs else 0)
EOF
}
if check_truth "$out/a.truth.jsonl" "$out/a.pcap" 3000 ""; then ok "truth of the default mix"; else bad "truth of the default mix"; fi
"$gen" -o "$out/m.pcap" --seed 5 --messages 400 --segmentation gap,midstart,split 2>/dev/null
if check_truth "$out/m.truth.jsonl" "$out/m.pcap" "" 400; then ok "--messages 400 with gaps"; else bad "--messages 400 with gaps"; fi
# The default mix must lose some PDUs to gaps and capture starts, and say so.
if grep -q '"reason":"gap"' "$out/m.truth.jsonl" && grep -q '"reason":"before_capture"' "$out/m.truth.jsonl"; then
  ok "gaps and mid-PDU starts are marked lost"
else
  bad "no lost PDUs marked in a gap,midstart capture"
fi

# 3. tshark agrees PDU for PDU where it can follow the streams (no split
# headers, no gaps, no mid-PDU starts: --segmentation clean).
tshark_vs_truth() {  # capture truth
  python3 - "$@" <<'EOF'
import collections, json, subprocess, sys
capture, truth = sys.argv[1:3]
out = subprocess.run(["tshark", "-r", capture, "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "smpp",
                      "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
                      "-e", "frame.number", "-e", "smpp.command_id", "-e", "smpp.sequence_number"],
                     capture_output=True, text=True, check=True).stdout
got = collections.Counter()
for line in out.splitlines():
    f, cids, seqs = line.split("\t")
    for c, s in zip(cids.split(","), seqs.split(",")):
        got[(int(f), int(c, 16), int(s))] += 1
want = collections.Counter()
for l in open(truth, encoding="utf-8"):
    e = json.loads(l)
    if e["event"] == "pdu":
        want[(e["frame"], e["command_id"], e["sequence_number"])] += 1
miss, extra = want - got, got - want
print("  %s: truth %d PDUs, tshark %d, missing %d, extra %d %s" % (
    capture.rsplit("/", 1)[-1], sum(want.values()), sum(got.values()), sum(miss.values()),
    sum(extra.values()), sorted(miss)[:3] + sorted(extra)[:3]))
sys.exit(0 if not miss and not extra and want else 1)
EOF
}
"$gen" -o "$out/t1.pcap" --seed 7 --pdus 2000 --segmentation clean --ipv6-share 0.3 --vlan-share 0.5 2>/dev/null
"$gen" -o "$out/t2.pcap" --seed 8 --pdus 400 --segmentation clean --link sll2 2>/dev/null
"$gen" -o "$out/t3.pcapng" --seed 9 --pdus 400 --segmentation clean --link raw --pcapng --ipv6-share 0.5 2>/dev/null
for t in t1.pcap t2.pcap t3.pcapng; do
  if tshark_vs_truth "$out/$t" "$out/${t%%.*}.truth.jsonl"; then ok "tshark agrees on $t"; else bad "tshark disagrees on $t"; fi
done

exit $failed
