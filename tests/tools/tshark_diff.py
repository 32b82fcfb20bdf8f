#!/usr/bin/env python3
"""Differential test: smsguard decode against tshark's SMPP dissector.

Both decode the same capture; every PDU tshark sees must be decoded by
smsguard with the same command, sequence number, status, addresses,
esm_class, data_coding and message octets, and smsguard must not invent
PDUs tshark does not see.  PDUs are matched by (src, dst, command_id,
sequence_number, occurrence), so the order in which the two tools report
PDUs of different flows does not matter.

usage: tshark_diff.py SMSGUARD CAPTURE [--max-report N]
exit 0 when they agree, 1 otherwise; prints "N passed, N failed".
"""
import collections
import json
import subprocess
import sys


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def server_ports(capture):
    """Ports shared by several TCP streams: the SMSCs' listening ports.  tshark's
    SMPP heuristic only fires on a segment that starts with a whole header, so,
    like an operator would, we tell it which ports carry SMPP (found by tshark
    itself, not by smsguard)."""
    out = subprocess.run(["tshark", "-r", capture, "-T", "fields", "-e", "tcp.stream",
                          "-e", "tcp.srcport", "-e", "tcp.dstport"],
                         check=True, capture_output=True, text=True).stdout
    streams = collections.defaultdict(set)
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0]:
            streams[parts[1]].add(parts[0])
            streams[parts[2]].add(parts[0])
    return sorted(p for p, s in streams.items() if len(s) >= 2)


def tshark_pdus(capture):
    decode_as = []
    for port in server_ports(capture):
        decode_as += ["-d", "tcp.port==%s,smpp" % port]
    out = subprocess.run(
        ["tshark", "-r", capture, "-o", "tcp.reassemble_out_of_order:TRUE",
         "-o", "tcp.desegment_tcp_streams:TRUE"] + decode_as + ["-Y", "smpp", "-T", "json",
         "--no-duplicate-keys", "-j", "ip ipv6 tcp smpp"],
        check=True, capture_output=True, text=True).stdout
    pdus = []
    for pkt in json.loads(out or "[]"):
        layers = pkt["_source"]["layers"]
        ip = layers.get("ip") or {}
        ip6 = layers.get("ipv6") or {}
        tcp = layers.get("tcp") or {}
        if isinstance(tcp, list):
            tcp = tcp[0]
        if ip:
            src = "%s:%s" % (as_list(ip.get("ip.src"))[0], as_list(tcp.get("tcp.srcport"))[0])
            dst = "%s:%s" % (as_list(ip.get("ip.dst"))[0], as_list(tcp.get("tcp.dstport"))[0])
        else:
            src = "[%s]:%s" % (as_list(ip6.get("ipv6.src"))[0], as_list(tcp.get("tcp.srcport"))[0])
            dst = "[%s]:%s" % (as_list(ip6.get("ipv6.dst"))[0], as_list(tcp.get("tcp.dstport"))[0])
        for smpp in as_list(layers.get("smpp")):
            # With several PDUs in one frame, --no-duplicate-keys gives one
            # layer object per PDU only when tshark nests them; otherwise the
            # fields are parallel arrays.
            n = len(as_list(smpp.get("smpp.command_id")))
            for i in range(n):
                def field(name, i=i, smpp=smpp):
                    vals = as_list(smpp.get(name))
                    return vals[i] if i < len(vals) else None
                pdus.append((src, dst, field, smpp, n))
    return pdus


def norm_int(v):
    if v is None:
        return None
    return int(v, 16) if str(v).startswith("0x") else int(v)


def tshark_record(src, dst, field, smpp, n):
    cid = norm_int(field("smpp.command_id"))
    rec = {"src": src, "dst": dst, "command_id": cid,
           "sequence_number": norm_int(field("smpp.sequence_number"))}
    status = field("smpp.command_status")
    # tshark omits command_status on requests (field notes); it is 0 there.
    rec["command_status"] = norm_int(status) if status is not None else (None if cid & 0x80000000 else 0)
    if n == 1:
        # Body fields are only unambiguous when the frame holds one PDU
        # (optional fields make parallel arrays misalign otherwise).
        for k in ("source_addr", "destination_addr"):
            v = smpp.get("smpp." + k)
            if v is not None and not isinstance(v, list):
                rec[k] = v
        for k in ("data_coding",):
            v = smpp.get("smpp." + k)
            if v is not None and not isinstance(v, list):
                rec[k] = norm_int(v)
        mode = smpp.get("smpp.esm.submit.msg_mode")
        if mode is not None and not isinstance(mode, list):
            typ = norm_int(smpp.get("smpp.esm.submit.msg_type") or "0")
            feat = norm_int(smpp.get("smpp.esm.submit.features") or "0")
            rec["esm_class"] = norm_int(mode) | (typ << 2) | (feat << 6)
        msg = smpp.get("smpp.message")
        if msg is not None and not isinstance(msg, list):
            rec["short_message"] = msg.replace(":", "").lower()
    return rec


def smsguard_pdus(smsguard, capture):
    out = subprocess.run([smsguard, "decode", "-r", capture, "--events", "pdu,error", "--no-progress"],
                         check=True, capture_output=True, text=True).stdout
    pdus, errors = [], []
    for line in out.splitlines():
        e = json.loads(line)
        if e["event"] == "pdu":
            pdus.append(e)
        else:
            errors.append(e)
    return pdus, errors


def main():
    smsguard, capture = sys.argv[1], sys.argv[2]
    max_report = 20
    theirs = collections.defaultdict(list)
    for src, dst, field, smpp, n in tshark_pdus(capture):
        r = tshark_record(src, dst, field, smpp, n)
        theirs[(r["src"], r["dst"], r["command_id"], r["sequence_number"])].append(r)
    ours_list, _ = smsguard_pdus(smsguard, capture)
    ours = collections.defaultdict(list)
    for e in ours_list:
        ours[(e["src"], e["dst"], e["command_id"], e["sequence_number"])].append(e)

    passed = failed = 0
    reports = []
    for key, recs in theirs.items():
        mine = ours.get(key, [])
        for i, r in enumerate(recs):
            if i >= len(mine):
                failed += 1
                reports.append("missing in smsguard: %s" % (r,))
                continue
            m = mine[i]
            bad = []
            for k, v in r.items():
                if k in ("src", "dst") or v is None:
                    continue
                mv = m.get(k)
                if k == "short_message" and mv is None:
                    mv = m.get("message_payload")
                if k in ("source_addr", "destination_addr") and mv is None:
                    mv = ""
                if mv != v:
                    bad.append("%s: tshark %r, smsguard %r" % (k, v, mv))
            if bad:
                failed += 1
                reports.append("%s: %s" % (key, "; ".join(bad)))
            else:
                passed += 1
        for m in mine[len(recs):]:
            failed += 1
            reports.append("only in smsguard: %s %s" % (key, m.get("command")))
    for key, mine in ours.items():
        if key not in theirs:
            failed += len(mine)
            reports.append("only in smsguard: %s x%d" % (key, len(mine)))
    for r in reports[:max_report]:
        print(r)
    if len(reports) > max_report:
        print("... %d more" % (len(reports) - max_report))
    print("%s: %d passed, %d failed" % (capture.rsplit("/", 1)[-1], passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
