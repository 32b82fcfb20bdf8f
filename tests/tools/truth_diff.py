#!/usr/bin/env python3
"""Round trip: smsguard decode of a generated capture against the ground
truth smsgen wrote beside it.  Every PDU of the truth must be decoded with the
same fields; no PDU may appear that the truth does not list (lost PDUs are
neither expected nor allowed); every logical message must come out with its
account, addresses, text, part count and completeness; every receipt with
its tie.  usage: truth_diff.py SMSGUARD CAPTURE TRUTH
"""
import collections
import json
import subprocess
import sys

PDU_KEYS = ("command_id", "command_status", "sequence_number", "source_addr", "destination_addr",
            "source_addr_ton", "source_addr_npi", "dest_addr_ton", "dest_addr_npi", "esm_class",
            "data_coding", "short_message", "system_id", "message_id")
MSG_KEYS = ("account", "source_addr", "destination_addr", "text", "parts", "complete", "message_id",
            "command_status")


def handset_text(e):
    """GSM 03.38 has one c-cedilla, 0x09, which Unicode's GSM0338.TXT (and
    smsguard) read as small: the generator writes a capital one into it."""
    t = e.get("text")
    if t and e.get("data_coding") in (0, 1):
        t = t.replace("\u00c7", "\u00e7")
    return t


def main():
    smsguard, capture, truth_path = sys.argv[1:4]
    truth = [json.loads(l) for l in open(truth_path)]
    out = subprocess.run([smsguard, "decode", "-r", capture, "--no-progress"], check=True,
                         capture_output=True, text=True).stdout
    ours = [json.loads(l) for l in out.splitlines()]
    passed = failed = 0
    reports = []

    def compare(kind, key_fn, keys, want_events, got_events):
        nonlocal passed, failed
        got = collections.defaultdict(list)
        for e in got_events:
            got[key_fn(e)].append(e)
        for t in want_events:
            k = key_fn(t)
            if not got.get(k):
                failed += 1
                reports.append("%s missing: %s" % (kind, k))
                continue
            g = got[k].pop(0)
            # A multipart message's id is its first part's (docs/smsguard.1);
            # its status the first error among the parts; the generator records one
            # part's: compare those only for single-part messages.
            skip = {"message_id", "command_status"} if kind == "message" and t.get("parts", 1) > 1 else set()
            if kind == "message" and not t.get("complete", True):
                skip = skip | {"text"}  # the truth holds the text as sent, we the parts seen
            bad = ["%s: want %r got %r" % (f, t[f], g.get(f)) for f in keys
                   if f in t and f not in skip and t[f] != g.get(f)]
            if bad:
                failed += 1
                reports.append("%s %s: %s" % (kind, k, "; ".join(bad)))
            else:
                passed += 1
        for k, rest in got.items():
            for g in rest:
                failed += 1
                reports.append("%s not in truth: %s" % (kind, k))

    pdu_key = lambda e: (e["src"], e["dst"], e["command_id"], e["sequence_number"])
    compare("pdu", pdu_key, PDU_KEYS, [t for t in truth if t["event"] == "pdu"],
            [e for e in ours if e["event"] == "pdu"])
    for t in truth:
        if t["event"] == "message":
            t["text"] = handset_text(t)
    msg_key = lambda e: (e.get("source_addr"), e.get("destination_addr"), e.get("text") if e.get("complete") else None)
    want_msgs = [t for t in truth if t["event"] == "message" and t.get("expected", True) is not False
                 and t.get("parts_seen", 1) > 0]
    compare("message", msg_key, MSG_KEYS, want_msgs, [e for e in ours if e["event"] == "message"])
    # The receipt's id is receipted_message_id when present, else the text's.
    rc_key = lambda e: (e.get("receipted_message_id") or e.get("message_id"), e.get("stat"))
    compare("receipt", rc_key, (), [t for t in truth if t["event"] == "receipt"],
            [e for e in ours if e["event"] == "receipt"])
    for r in reports[:int(__import__("os").environ.get("TRUTH_REPORTS", "25"))]:
        print(r)
    if len(reports) > 25:
        print("... %d more" % (len(reports) - 25))
    print("truth %s: %d passed, %d failed" % (capture.rsplit("/", 1)[-1], passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
