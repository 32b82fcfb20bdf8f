#!/usr/bin/env python3
"""Joins `smsguard replay` verdicts to smsgen's ground truth and scores them.

usage: verdict_truth.py TRUTH.jsonl VERDICTS.jsonl [--protected S,S,...]
                        [--min-campaign-recall F] [--max-ham-blocked F]

Messages are joined on (source_addr, destination_addr, text) (text_ia5 too,
see docs/generator.md), several messages with the same key in order.  Only
truth messages with every part seen can be judged on their text; the
others are counted and left out.

Assertions (exit 1 on any failure, listing every failing message):
  * every OTP from a protected (whitelisted) sender is allowed;
  * every spoofed or look-alike protected sender is blocked;
  * campaign recall (spam, spoof and look-alike messages blocked) is at
    least --min-campaign-recall, and every campaign is caught (at least one
    message of it blocked, and its own recall at least --min-each);
  * ham (ham plus OTP from senders that are not protected) blocked is at
    most --max-ham-blocked.
Prints precision and recall of "block" against the spam labels.
"""
import argparse
import collections
import json
import sys


def key_text(s):
    # GSM 0x09: smsgen writes U+00C7, decoders (and handsets) read U+00E7
    # (docs/generator.md); either is right.
    return s.replace("\u00c7", "\u00e7") if s is not None else None


def load(path, event):
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("event") == event:
                yield o


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("truth")
    ap.add_argument("verdicts")
    ap.add_argument("--protected", default="QIWI,7494,YooMoney,Tinkoff,SBER,900")
    ap.add_argument("--min-campaign-recall", type=float, default=0.95)
    ap.add_argument("--min-each", type=float, default=0.80)
    ap.add_argument("--max-ham-blocked", type=float, default=0.005)
    ap.add_argument("--show", type=int, default=15, help="failing messages shown per check")
    a = ap.parse_args()
    protected = set(a.protected.split(","))

    verdicts = collections.defaultdict(list)
    nverd = 0
    for v in load(a.verdicts, "verdict"):
        verdicts[(v.get("source_addr"), v.get("destination_addr"), key_text(v.get("text")))].append(v)
        nverd += 1

    joined, unjoined, incomplete = [], [], 0
    for t in load(a.truth, "message"):
        if not t.get("complete"):
            incomplete += 1
            continue
        v = None
        for text in (t.get("text"), t.get("text_ia5")):
            lst = verdicts.get((t["source_addr"], t["destination_addr"], key_text(text)))
            if lst:
                v = lst.pop(0)
                break
        if v is None:
            unjoined.append(t)
        else:
            joined.append((t, v))

    fail = 0
    def report(title, items):
        nonlocal fail
        if not items:
            return
        fail = 1
        print(f"FAIL: {title}: {len(items)}")
        for t, v in items[:a.show]:
            reasons = ",".join(f"{r['type']}:{r['id']}" for r in v.get("reasons", []))
            print(f"  uid {v.get('uid')} {t.get('account')} {t['source_addr']} -> {t['destination_addr']}"
                  f" [{t['label']}/{t.get('campaign')}] {v['action']} score {v.get('score')} ({reasons}): "
                  f"{t['text'][:90]!r}")

    print(f"verdict-e2e: {nverd} verdicts, {len(joined)} joined to truth, "
          f"{incomplete} truth messages incomplete (not judged), {len(unjoined)} complete but unjoined")
    # A decoder that loses messages would make everything below look better.
    if len(unjoined) > 0.001 * (len(joined) + len(unjoined)) + 2:
        report("complete truth messages without a verdict", [(t, {"action": "-", "reasons": []}) for t in unjoined])

    otp_prot = [(t, v) for t, v in joined if t["label"] == "otp" and t["source_addr"] in protected]
    report("OTP from a verified provider not allowed", [(t, v) for t, v in otp_prot if v["action"] != "allow"])
    print(f"  OTP from verified providers: {sum(v['action'] == 'allow' for t, v in otp_prot)}/{len(otp_prot)} allowed")

    for lab in ("spoof", "lookalike"):
        items = [(t, v) for t, v in joined if t["label"] == lab]
        report(f"{lab} sender not blocked", [(t, v) for t, v in items if v["action"] != "block"])
        print(f"  {lab}: {sum(v['action'] == 'block' for t, v in items)}/{len(items)} blocked")

    bad = [(t, v) for t, v in joined if t["label"] in ("spam", "spoof", "lookalike")]
    good = [(t, v) for t, v in joined if t["label"] in ("ham", "otp")]
    tp = sum(v["action"] == "block" for t, v in bad)
    fp = sum(v["action"] == "block" for t, v in good)
    flagged_bad = sum(v["action"] == "flag" for t, v in bad)
    flagged_good = sum(v["action"] == "flag" for t, v in good)
    recall = tp / len(bad) if bad else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"  block: precision {precision:.4f} recall {recall:.4f} "
          f"(spam {tp}/{len(bad)} blocked, {flagged_bad} flagged; ham {fp}/{len(good)} blocked, {flagged_good} flagged)")

    camps = collections.defaultdict(lambda: [0, 0, 0])
    for t, v in bad:
        c = camps[t.get("campaign") or t["label"]]
        c[0] += 1
        c[1] += v["action"] == "block"
        c[2] += v["action"] == "flag"
    for name in sorted(camps):
        n, b, f = camps[name]
        print(f"    campaign {name:14s} {b:6d}/{n:<6d} blocked ({b / n:.3f}), {f} flagged")
    report(f"campaign recall {recall:.4f} below {a.min_campaign_recall}",
           [(t, v) for t, v in bad if v["action"] != "block"] if recall < a.min_campaign_recall else [])
    weak = [name for name, (n, b, f) in camps.items() if b == 0 or b / n < a.min_each]
    report(f"campaigns caught below {a.min_each}: {','.join(sorted(weak))}",
           [(t, v) for t, v in bad if (t.get("campaign") or t["label"]) in weak and v["action"] != "block"])

    multipart = [(t, v) for t, v in bad if t.get("parts", 1) > 1]
    print(f"  multipart spam: {sum(v['action'] == 'block' for t, v in multipart)}/{len(multipart)} blocked")
    ham_rate = fp / len(good) if good else 0.0
    report(f"ham blocked {ham_rate:.4%} above {a.max_ham_blocked:.2%}",
           [(t, v) for t, v in good if v["action"] == "block"] if ham_rate > a.max_ham_blocked else [])
    if not joined or not otp_prot or not bad:
        print("FAIL: nothing to judge")
        fail = 1
    print("verdict-e2e:", "FAIL" if fail else "ok")
    return fail


if __name__ == "__main__":
    sys.exit(main())
