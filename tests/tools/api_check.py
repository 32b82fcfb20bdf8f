#!/usr/bin/env python3
"""Checks the admin API of a running `smsguard run` (started by tests/api.sh).

Environment: API_BASE (http://127.0.0.1:PORT), API_DB (the daemon's SQLite
file, read-only here, to pick subscribers per fate), API_SECOND (a second
capture to replay after the clear), SMSGUARD, and API_TOK_{OPS,CC,PROV,PROV2,
EXPIRED,REVOKED}.  Standard library only.
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse

BASE = os.environ["API_BASE"]
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
T = {k: os.environ["API_TOK_" + k] for k in ("OPS", "CC", "PROV", "PROV2", "EXPIRED", "REVOKED")}
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def req(method, path, tok=None, body=None, raw=None, headers=None, chunked=False):
    """Returns (status, parsed JSON or text, headers)."""
    c = http.client.HTTPConnection(HOST, PORT, timeout=20)
    h = dict(headers or {})
    if tok:
        h["Authorization"] = "Bearer " + tok
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if chunked:
        c.putrequest(method, path)
        for k, v in h.items():
            c.putheader(k, v)
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        step = 8192
        try:
            for i in range(0, len(data), step):
                part = data[i:i + step]
                c.send(b"%x\r\n" % len(part) + part + b"\r\n")
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
    else:
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try:
        doc = json.loads(text) if "json" in hdrs.get("content-type", "") else text
    except ValueError:
        doc = text
    return r.status, doc, hdrs


def q(s):
    return urllib.parse.quote(s, safe="")


def err_field(doc):
    return doc.get("error", {}).get("field") if isinstance(doc, dict) else None


def expect(status, doc, want, what):
    check(status == want, f"{what}: status {status}, want {want}: {str(doc)[:300]}")
    if want >= 400 and isinstance(doc, dict):
        e = doc.get("error", {})
        check(set(e) == {"code", "message", "field"}, f"{what}: error shape {doc}")


# ---- picking subscribers per fate from the daemon's database --------------

def fate_of(row):
    action, status, stat = row["action"], row["smsc_status"], row["receipt_stat"]
    if action == "block":
        return "blocked"
    if status is not None and status > 0:
        return "rejected"
    if stat in ("DELIVRD",):
        return "delivered"
    if stat == "EXPIRED":
        return "expired"
    if stat in ("UNDELIV", "REJECTD", "DELETED"):
        return "undelivered"
    return "accepted"


db = sqlite3.connect("file:" + os.environ["API_DB"] + "?mode=ro", uri=True)
db.row_factory = sqlite3.Row
latest = {}
for row in db.execute("SELECT * FROM message_log ORDER BY ts"):
    latest[row["dest_addr"]] = row
by_fate = {}
for msisdn, row in latest.items():
    by_fate.setdefault(fate_of(row), (msisdn, row))
yoo = db.execute("SELECT dest_addr FROM message_log WHERE source_addr = 'YooMoney' "
                 "AND action = 'block' ORDER BY ts DESC LIMIT 1").fetchone()
check(yoo is not None, "scenario: some YooMoney message was blocked")
db.close()

# ---- health, metrics, console ----------------------------------------------

st, doc, _ = req("GET", "/healthz")
expect(st, doc, 200, "healthz")
check(doc.get("status") == "ok", f"healthz body {doc}")
st, text, h = req("GET", "/metrics")
expect(st, text, 200, "metrics")
check(h.get("content-type", "").startswith("text/plain"), "metrics content type")
lines = [l for l in text.splitlines() if l and not l.startswith("#")]
check(all(l.startswith("smsguard_") for l in lines), "every metric prefixed smsguard_")
for name in ("smsguard_packets_total ", "smsguard_pdus_total ", "smsguard_messages_judged_total ",
             'smsguard_verdicts_total{action="block"} ', 'smsguard_verdict_reasons_total{reason="blacklist"} ',
             'smsguard_drops_total{cause="memcap"} ', 'smsguard_evictions_total{table="flows"} ',
             "smsguard_queue_depth ", 'smsguard_reloads_total{kind="lists",result="ok"} '):
    check(any(l.startswith(name) for l in lines), f"metric {name.strip()} present")
families = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE")]
check(len(families) == len(set(families)), "each metric family declared once")
pk = [l for l in lines if l.startswith("smsguard_packets_total ")]
check(pk and int(pk[0].split()[1]) > 10000, f"packets counted: {pk}")
if os.path.exists(os.path.join(os.environ.get("SG_SOURCE", "."), "admin/console/index.html")):
    st, text, h = req("GET", "/")
    check(st == 200 and "html" in h.get("content-type", ""), f"console index: {st}")
    check("script-src 'self'" in h.get("content-security-policy", ""), "console CSP header")
for bad in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.hidden", "/nope.html"):
    st, _, _ = req("GET", bad)
    check(st == 404, f"static {bad}: {st}")

# ---- authentication and the error order --------------------------------------

st, doc, h = req("GET", "/api/v1/blacklist")
expect(st, doc, 401, "no token")
check(h.get("www-authenticate") == "Bearer", "401 names the scheme")
expect(*req("GET", "/api/v1/blacklist", tok="sgt_" + "0" * 64)[:2], 401, "unknown token")
expect(*req("GET", "/api/v1/blacklist", headers={"Authorization": "Basic b3BzOm9wcw=="})[:2], 401,
       "basic auth")
time.sleep(1.2)  # the 1 s token of api.sh is now expired
expect(*req("GET", "/api/v1/me", tok=T["EXPIRED"])[:2], 401, "expired token")
expect(*req("GET", "/api/v1/me", tok=T["REVOKED"])[:2], 401, "revoked token")
expect(*req("GET", "/api/v1/nope")[:2], 401, "401 before 404")
expect(*req("GET", "/api/v1/nope", tok=T["OPS"])[:2], 404, "unknown route")
st, doc, h = req("PUT", "/api/v1/blacklist", tok=T["OPS"])
expect(st, doc, 405, "wrong method")
check("GET" in h.get("allow", "") and "POST" in h.get("allow", ""), f"Allow header {h.get('allow')}")
expect(*req("POST", "/api/v1/blacklist", tok=T["CC"], raw=b"x" * 100000)[:2], 403,
       "403 before 413")
expect(*req("POST", "/api/v1/blacklist", tok=T["OPS"], raw=b"{" * 100000)[:2], 413,
       "413 from Content-Length before 400")
expect(*req("POST", "/api/v1/blacklist", tok=T["OPS"], raw=b"[" * 100000, chunked=True)[:2], 413,
       "413 on a chunked body past the limit")
expect(*req("GET", "/api/v1/me", tok=T["OPS"])[:2], 200, "me")
st, doc, _ = req("GET", "/api/v1/me", tok=T["PROV"])
check(doc.get("role") == "provider" and doc.get("provider") == "QIWI Bank", f"me provider {doc}")

# Rule hit counters count since the rule set was loaded: look before the
# role checks below reload it.
st, doc, _ = req("GET", "/api/v1/rules", tok=T["OPS"])
check(st == 200 and sum(r["hits"] for r in doc.get("rules", [])) > 0, "rule hit counters")

# ---- roles: every route, every role ---------------------------------------------

ROUTES = [  # method, path, roles allowed
    ("GET", "/api/v1/me", "callcentre ops provider"),
    ("GET", "/api/v1/subscribers/79001234567/timeline", "callcentre ops"),
    ("GET", "/api/v1/senders/QIWI", "callcentre ops provider"),
    ("GET", "/api/v1/blacklist", "callcentre ops"),
    ("POST", "/api/v1/blacklist", "ops"),
    ("POST", "/api/v1/blacklist/999999/clear", "callcentre ops"),
    ("GET", "/api/v1/exceptions", "callcentre ops"),
    ("POST", "/api/v1/exceptions", "callcentre ops"),
    ("DELETE", "/api/v1/exceptions/999999", "callcentre ops"),
    ("GET", "/api/v1/whitelist", "ops"),
    ("POST", "/api/v1/whitelist", "ops"),
    ("DELETE", "/api/v1/whitelist/999999", "ops"),
    ("GET", "/api/v1/whitelist-requests", "ops provider"),
    ("POST", "/api/v1/whitelist-requests", "ops provider"),
    ("POST", "/api/v1/whitelist-requests/999999/approve", "ops"),
    ("POST", "/api/v1/whitelist-requests/999999/reject", "ops"),
    ("GET", "/api/v1/rules", "ops"),
    ("POST", "/api/v1/rules/reload", "ops"),
    ("GET", "/api/v1/audit", "ops"),
    ("GET", "/api/v1/alerts", "ops provider"),
]
for method, path, allowed in ROUTES:
    for role, tk in (("callcentre", T["CC"]), ("ops", T["OPS"]), ("provider", T["PROV"])):
        st, doc, _ = req(method, path, tok=tk, body={} if method != "GET" else None)
        if role in allowed.split():
            check(st not in (401, 403, 404, 405) or (st == 404 and "999999" in path),
                  f"{role} allowed {method} {path}: got {st} {doc}")
        else:
            expect(st, doc, 403, f"{role} refused {method} {path}")

# ---- bad input: JSON, types, unknown fields, query parameters --------------------

for raw, what in ((b"{", "truncated JSON"), (b"[1,2]", "array body"), (b'{"a":1}{', "trailing data"),
                  (b'{"value":"x","value":"y"}', "duplicate key"), (b"\xff\xfe", "not UTF-8")):
    expect(*req("POST", "/api/v1/blacklist", tok=T["OPS"], raw=raw)[:2], 400, what)
st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": 5, "reason": "r"})
expect(st, doc, 400, "wrong type")
check(err_field(doc) == "value", f"wrong type names the field: {doc}")
st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": "x", "reason": "r", "colour": 1})
expect(st, doc, 400, "unknown field")
check(err_field(doc) == "colour", f"unknown field named: {doc}")
st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": "x"})
expect(st, doc, 400, "missing field")
check(err_field(doc) == "reason", f"missing field named: {doc}")
st, doc, _ = req("POST", "/api/v1/exceptions", tok=T["CC"],
                 body={"sender": "S", "msisdn": "not a number", "reason": "r"})
expect(st, doc, 400, "bad msisdn")
check(err_field(doc) == "msisdn", f"bad msisdn named: {doc}")
st, doc, _ = req("POST", "/api/v1/exceptions", tok=T["CC"],
                 body={"sender": "S", "msisdn": "79001234567", "reason": "r", "ttl_hours": "24"})
check(st == 400 and err_field(doc) == "ttl_hours", f"ttl_hours as string: {st} {doc}")
st, doc, _ = req("POST", "/api/v1/exceptions", tok=T["CC"],
                 body={"sender": "S", "msisdn": "79001234567", "reason": "r", "ttl_hours": 10 ** 6})
check(st == 400 and err_field(doc) == "ttl_hours", f"ttl_hours too large: {st} {doc}")
st, doc, _ = req("GET", "/api/v1/blacklist?colour=red", tok=T["OPS"])
check(st == 400 and err_field(doc) == "colour", f"unknown query parameter: {st} {doc}")
st, doc, _ = req("GET", "/api/v1/blacklist?limit=abc", tok=T["OPS"])
check(st == 400 and err_field(doc) == "limit", f"bad limit: {st} {doc}")
st, doc, _ = req("GET", "/api/v1/subscribers/79001234567/timeline?since=yesterday", tok=T["CC"])
check(st == 400 and err_field(doc) == "since", f"bad since: {st} {doc}")
st, doc, _ = req("GET", "/api/v1/me", tok=T["OPS"], raw=b'{"a":1}', headers={"Content-Type": "application/json"})
check(st == 400, f"body on a GET: {st}")
st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": "a\nb", "reason": "r"})
check(st == 400 and err_field(doc) == "value", f"control characters refused: {st} {doc}")

# ---- SQL metacharacters in every parameter -----------------------------------------

SQLI = ["' OR '1'='1", "x'); DROP TABLE blacklist;--", "\" OR 1=1 --", "%' OR 1=1 --", "1; SELECT 1"]
before = req("GET", "/api/v1/blacklist?include_inactive=true", tok=T["OPS"])[1]["entries"]
for s in SQLI:
    for path in ("/api/v1/subscribers/%s/timeline" % q(s), "/api/v1/senders/%s" % q(s),
                 "/api/v1/blacklist/%s/clear" % q(s), "/api/v1/exceptions/%s" % q(s),
                 "/api/v1/whitelist/%s" % q(s), "/api/v1/whitelist-requests/%s/approve" % q(s)):
        method = "GET" if "timeline" in path or "senders" in path else ("DELETE" if "exceptions/" in path or "whitelist/" in path else "POST")
        st, doc, _ = req(method, path, tok=T["OPS"], body={"reason": "r"} if method != "GET" else None)
        check(st in (200, 400, 404), f"SQL in path {method} {path}: {st} {doc}")
    for path, params in (("/api/v1/subscribers/79001234567/timeline", ("sender",)),
                         ("/api/v1/blacklist", ("kind", "value")),
                         ("/api/v1/exceptions", ("sender", "msisdn")),
                         ("/api/v1/whitelist", ("sender",)),
                         ("/api/v1/whitelist-requests", ("state",)),
                         ("/api/v1/audit", ("actor", "action", "object", "ticket", "since")),
                         ("/api/v1/alerts", ("sender",)), ("/api/v1/rules", ("state",))):
        for p in params:
            st, doc, _ = req("GET", f"{path}?{p}={q(s)}", tok=T["OPS"])
            check(st in (200, 400), f"SQL in query {path}?{p}: {st} {doc}")
            if st == 200:
                lists = [v for v in doc.values() if isinstance(v, list)] if isinstance(doc, dict) else []
                check(all(len(v) == 0 for v in lists) or p in ("state",), f"SQL in {p} matched rows: {str(doc)[:200]}")
# Stored literally, read back literally, and nothing else changed.
sq = SQLI[1]
st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": sq, "reason": sq, "ticket": sq[:60]})
expect(st, doc, 201, "SQL text in a body")
check(doc.get("entry", {}).get("value") == sq and doc["entry"]["reason"] == sq, f"stored literally: {doc}")
sq_id = doc.get("entry", {}).get("id")
after = req("GET", "/api/v1/blacklist?include_inactive=true", tok=T["OPS"])[1]["entries"]
check(len(after) == len(before) + 1, f"blacklist grew by one: {len(before)} -> {len(after)}")
st, doc, _ = req("GET", "/api/v1/blacklist?value=" + q(sq), tok=T["OPS"])
check(st == 200 and len(doc["entries"]) == 1, f"SQL text found by value: {doc}")
st, doc, _ = req("POST", "/api/v1/whitelist-requests", tok=T["PROV"],
                 body={"senders": ["QIWI"], "account": sq[:60], "contact": sq, "evidence": sq})
expect(st, doc, 201, "SQL text in a whitelist request")
st, doc, _ = req("POST", "/api/v1/whitelist-requests/%d/reject" % doc["request"]["id"], tok=T["OPS"],
                 body={"reason": sq})
expect(st, doc, 200, "reject with SQL text")

# ---- the call-centre story: wrongly blacklisted payment provider ------------------

cust = yoo["dest_addr"]
written = "+%s %s %s-%s-%s" % (cust[0], cust[1:4], cust[4:7], cust[7:9], cust[9:11])
st, doc, _ = req("GET", "/api/v1/subscribers/%s/timeline?sender=YooMoney" % q(written), tok=T["CC"])
expect(st, doc, 200, "timeline of the customer")
check(doc.get("msisdn") == cust, f"number normalised from '{written}': {doc.get('msisdn')}")
d = doc.get("diagnosis", {})
check(d.get("code") == "blocked_by_filter" and d.get("causes") == [4], f"diagnosis cause 4: {d}")
msgs = doc.get("messages", [])
check(msgs and all(m["fate"] == "blocked" for m in msgs), f"YooMoney codes blocked: {[m['fate'] for m in msgs]}")
check(msgs and msgs[0]["blocked_by"]["type"] == "blacklist", f"blocked by the blacklist: {msgs[:1]}")
check(msgs and "enforced" in msgs[0] and msgs[0]["enforced"] is False, "enforced says judged on a tap")
check(all("#" in (m.get("snippet") or "#") and not any(ch.isdigit() for ch in (m.get("snippet") or ""))
          for m in msgs), "snippets carry no digits of the code")
bl_id = msgs[0]["blocked_by"]["blacklist_id"] if msgs else None
entries = doc.get("blacklist_entries", [])
check(any(e["id"] == bl_id and e["active"] and e["value"] == "YooMoney" for e in entries),
      f"timeline names the blacklist entry: {entries}")
# 8 912 ... and 7912... forms give the same answer.
for form in ("8" + cust[1:], cust, cust[1:]):
    st, d2, _ = req("GET", "/api/v1/subscribers/%s/timeline?sender=YooMoney" % q(form), tok=T["CC"])
    check(st == 200 and d2.get("msisdn") == cust, f"form {form}: {st} {d2.get('msisdn') if isinstance(d2, dict) else d2}")
st, doc, _ = req("GET", "/api/v1/senders/YooMoney", tok=T["CC"])
expect(st, doc, 200, "sender lookup")
check(any(b["id"] == bl_id and b["active"] for b in doc.get("blacklist", [])), f"sender shows the entry: {doc}")
check(doc.get("stats", {}).get("blocked", 0) > 0, f"sender stats: {doc.get('stats')}")

# The agent clears it.
st, doc, _ = req("POST", "/api/v1/blacklist/%d/clear" % bl_id, tok=T["CC"],
                 body={"reason": "payment provider OTP, blacklisted by mistake", "ticket": "CC-4711"})
expect(st, doc, 200, "agent clears the entry")
check(doc.get("entry", {}).get("cleared_by") == "agent-ivan", f"cleared by the agent: {doc}")
expect(*req("POST", "/api/v1/blacklist/%d/clear" % bl_id, tok=T["CC"], body={"reason": "again"})[:2], 409,
       "clearing twice")
expect(*req("POST", "/api/v1/blacklist/999999/clear", tok=T["CC"], body={"reason": "x"})[:2], 404,
       "clearing an unknown id")
st, doc, _ = req("GET", "/api/v1/subscribers/%s/timeline?sender=YooMoney" % cust, tok=T["CC"])
check("cleared" in doc.get("diagnosis", {}).get("summary", ""), f"diagnosis after the clear: {doc.get('diagnosis')}")

# The next messages from YooMoney are allowed: a second capture against the same state.
out = subprocess.run([os.environ["SMSGUARD"], "replay", "-r", os.environ["API_SECOND"], "--db", os.environ["API_DB"]],
                     capture_output=True, text=True, timeout=120)
check(out.returncode == 0, f"replay of the second capture: {out.stderr[-500:]}")
yoo_v = [json.loads(l) for l in out.stdout.splitlines() if '"YooMoney"' in l]
yoo_v = [v for v in yoo_v if v.get("source_addr") == "YooMoney"]
check(len(yoo_v) > 0, "second capture has YooMoney messages")
check(all(not any(r.get("type") == "blacklist" for r in v.get("reasons", [])) for v in yoo_v),
      "no YooMoney verdict names the blacklist any more")
check(sum(v.get("action") == "allow" for v in yoo_v) >= len(yoo_v) * 0.9,
      f"YooMoney allowed: {[v.get('action') for v in yoo_v][:20]}")
# The audit log shows who did it.
st, doc, _ = req("GET", "/api/v1/audit?action=blacklist.clear&object_id=%d" % bl_id, tok=T["OPS"])
expect(st, doc, 200, "audit")
a0 = (doc.get("entries") or [{}])[0]
check(a0.get("actor") == "agent-ivan" and a0.get("ticket") == "CC-4711" and "mistake" in (a0.get("reason") or ""),
      f"audit names the agent, reason and ticket: {a0}")
st, doc, _ = req("GET", "/api/v1/audit?actor=agent-ivan&ticket=CC-4711&limit=5", tok=T["OPS"])
check(st == 200 and len(doc["entries"]) == 1, f"audit filtered by actor and ticket: {doc}")

# ---- every other fate ---------------------------------------------------------------

want = {"rejected": ("rejected_by_smsc", [3]), "undelivered": ("undelivered", [3]),
        "expired": ("expired", [3]), "delivered": ("delivered", []), "accepted": ("pending", [3])}
for fate, (code, causes) in want.items():
    if fate not in by_fate:
        check(fate in ("expired",), f"the capture has a subscriber whose latest message is {fate}")
        continue
    msisdn, row = by_fate[fate]
    st, doc, _ = req("GET", "/api/v1/subscribers/%s/timeline" % msisdn, tok=T["CC"])
    expect(st, doc, 200, f"timeline {fate}")
    d = doc.get("diagnosis", {})
    check(doc["messages"] and doc["messages"][0]["fate"] == fate, f"{fate}: newest fate {doc['messages'][:1]}")
    check(d.get("code") == code and d.get("causes") == causes, f"{fate}: diagnosis {d}")
    if fate == "rejected":
        check(doc["messages"][0]["smsc"]["status"] > 0, f"rejected carries the SMSC status: {doc['messages'][0]['smsc']}")
# Never sent: a number with nothing, and a sender that never wrote to a number.
st, doc, _ = req("GET", "/api/v1/subscribers/79990000000/timeline?sender=QIWI", tok=T["CC"])
d = doc.get("diagnosis", {})
check(st == 200 and d.get("code") == "not_seen" and d.get("causes") == [1, 2] and d.get("nothing_from_sender"),
      f"never sent: {doc}")
check("QIWI" in d.get("summary", ""), "never-sent diagnosis names the sender")
st, doc, _ = req("GET", "/api/v1/subscribers/%s/timeline?sender=NoSuchBank" % cust, tok=T["CC"])
check(doc.get("diagnosis", {}).get("code") == "not_seen" and doc.get("messages") == [], f"sender never wrote: {doc}")
st, doc, _ = req("GET", "/api/v1/subscribers/%s/timeline?until=2000-01-01T00:00:00Z" % cust, tok=T["CC"])
check(st == 200 and doc.get("messages") == [], f"until bounds the window: {st}")
st, doc, _ = req("GET", "/api/v1/subscribers/%s/timeline?since=2000-01-01&limit=1" % cust, tok=T["CC"])
check(st == 200 and len(doc.get("messages", [])) == 1, f"limit: {st}")

# ---- blacklist, exceptions, whitelist -------------------------------------------------

st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": "SpamCo", "reason": "campaign", "ticket": "OPS-1", "ttl_hours": 48})
expect(st, doc, 201, "blacklist add")
check(doc["entry"]["created_by"] == "ops-olga" and doc["entry"]["expires_at"], f"blacklist entry {doc}")
expect(*req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"value": "SpamCo", "reason": "again"})[:2], 409,
       "blacklist duplicate")
st, doc, _ = req("POST", "/api/v1/blacklist", tok=T["OPS"], body={"kind": "planet", "value": "x", "reason": "r"})
check(st == 400 and err_field(doc) == "kind", f"bad kind: {doc}")
st, doc, _ = req("GET", "/api/v1/blacklist?kind=sender&value=SpamCo", tok=T["CC"])
check(st == 200 and len(doc["entries"]) == 1, f"blacklist filtered: {doc}")
st, doc, _ = req("GET", "/api/v1/blacklist?value=YooMoney", tok=T["CC"])
check(st == 200 and doc["entries"] == [], "cleared entries hidden by default")
st, doc, _ = req("GET", "/api/v1/blacklist?value=YooMoney&include_inactive=true", tok=T["CC"])
check(st == 200 and len(doc["entries"]) == 1 and not doc["entries"][0]["active"], "cleared entries on request")

st, doc, _ = req("POST", "/api/v1/exceptions", tok=T["CC"],
                 body={"sender": "Tinkoff", "msisdn": "8 (912) 345-67-89", "ttl_hours": 2, "reason": "customer waits", "ticket": "CC-9"})
expect(st, doc, 201, "exception add")
ex = doc.get("entry", {})
check(ex.get("msisdn") == "79123456789" and ex.get("created_by") == "agent-ivan", f"exception {ex}")
expect(*req("POST", "/api/v1/exceptions", tok=T["CC"],
            body={"sender": "Tinkoff", "msisdn": "79123456789", "reason": "twice"})[:2], 409, "exception duplicate")
st, doc, _ = req("GET", "/api/v1/exceptions?msisdn=%s" % q("+7 912 345 67 89"), tok=T["CC"])
check(st == 200 and [e["id"] for e in doc["entries"]] == [ex.get("id")], f"exceptions by msisdn: {doc}")
expect(*req("DELETE", "/api/v1/exceptions/%d" % ex["id"], tok=T["CC"])[:2], 400, "delete without reason")
st, doc, _ = req("DELETE", "/api/v1/exceptions/%d?reason=done&ticket=CC-9" % ex["id"], tok=T["CC"])
expect(st, doc, 200, "exception delete")
check(doc.get("entry", {}).get("active") is False, f"exception removed: {doc}")
expect(*req("DELETE", "/api/v1/exceptions/%d" % ex["id"], tok=T["CC"], body={"reason": "again"})[:2], 404,
       "exception delete twice")

st, doc, _ = req("POST", "/api/v1/whitelist", tok=T["OPS"],
                 body={"sender": "SBER", "ton": 5, "account": "sber_otp", "source_cidrs": "10.30.0.0/16",
                       "provider": "Sberbank", "reason": "verified by contract", "ticket": "OPS-2"})
expect(st, doc, 201, "whitelist add")
wl = doc.get("entry", {})
check(wl.get("verified_by") == "ops-olga", f"whitelist entry {wl}")
expect(*req("POST", "/api/v1/whitelist", tok=T["OPS"],
            body={"sender": "SBER", "ton": 5, "account": "sber_otp", "reason": "again"})[:2], 409, "whitelist duplicate")
st, doc, _ = req("POST", "/api/v1/whitelist", tok=T["OPS"], body={"sender": "X", "source_cidrs": "10.0.0.0/99", "reason": "r"})
check(st == 400 and err_field(doc) == "source_cidrs", f"bad CIDR: {doc}")
st, doc, _ = req("POST", "/api/v1/whitelist", tok=T["OPS"], body={"sender": "X", "ton": -3, "reason": "r"})
check(st == 400 and err_field(doc) == "ton", f"bad ton: {doc}")
st, doc, _ = req("GET", "/api/v1/whitelist?sender=SBER", tok=T["OPS"])
check(st == 200 and len(doc["entries"]) == 1, f"whitelist by sender: {doc}")
st, doc, _ = req("GET", "/api/v1/senders/5BER", tok=T["CC"])
check(st == 200 and (doc.get("lookalike_of") or {}).get("sender") == "SBER", f"look-alike of SBER: {doc.get('lookalike_of')}")
st, doc, _ = req("GET", "/api/v1/senders/SBER", tok=T["CC"])
check(st == 200 and doc.get("protected") is True and doc.get("lookalike_of") is None, "SBER protected")
st, doc, _ = req("DELETE", "/api/v1/whitelist/%d" % wl["id"], tok=T["OPS"], body={"reason": "contract ended"})
expect(st, doc, 200, "whitelist delete")
expect(*req("DELETE", "/api/v1/whitelist/%d" % wl["id"], tok=T["OPS"], body={"reason": "again"})[:2], 404,
       "whitelist delete twice")

# ---- whitelist requests: providers see their own ---------------------------------------

st, doc, _ = req("POST", "/api/v1/whitelist-requests", tok=T["PROV"],
                 body={"senders": ["QIWI", "7494"], "ton": 5, "account": "qiwi_otp", "source_cidrs": "10.30.1.0/24",
                       "contact": "noc@qiwi.example", "evidence": "contract 2024-17"})
expect(st, doc, 201, "provider files a request")
rq = doc.get("request", {})
check(rq.get("provider") == "QIWI Bank" and rq.get("senders") == ["QIWI", "7494"] and rq.get("state") == "pending",
      f"request {rq}")
st, doc, _ = req("POST", "/api/v1/whitelist-requests", tok=T["PROV"],
                 body={"provider": "Other Pay", "senders": "X", "account": "a"})
check(st == 403 and err_field(doc) == "provider", f"provider files for another: {st} {doc}")
st, doc, _ = req("POST", "/api/v1/whitelist-requests", tok=T["PROV"], body={"senders": ["has space"], "account": "a"})
check(st == 400 and err_field(doc) == "senders", f"bad sender in request: {doc}")
st, doc, _ = req("POST", "/api/v1/whitelist-requests", tok=T["PROV2"], body={"senders": "OtherPay", "account": "other"})
expect(st, doc, 201, "second provider files")
other_id = doc.get("request", {}).get("id")
st, doc, _ = req("GET", "/api/v1/whitelist-requests", tok=T["PROV"])
check(st == 200 and doc["requests"] and all(r["provider"] == "QIWI Bank" for r in doc["requests"]),
      f"provider sees only its own: {[r['provider'] for r in doc.get('requests', [])]}")
st, doc, _ = req("GET", "/api/v1/whitelist-requests?state=pending", tok=T["OPS"])
check(st == 200 and {r["provider"] for r in doc["requests"]} >= {"QIWI Bank", "Other Pay"}, "ops sees all")
st, doc, _ = req("POST", "/api/v1/whitelist-requests/%d/approve" % rq["id"], tok=T["OPS"],
                 body={"reason": "contract checked", "ticket": "OPS-3"})
expect(st, doc, 200, "approve")
check(doc.get("request", {}).get("state") == "approved", f"approved: {doc}")
expect(*req("POST", "/api/v1/whitelist-requests/%d/approve" % rq["id"], tok=T["OPS"], body={})[:2], 409,
       "approve twice")
st, doc, _ = req("GET", "/api/v1/whitelist?sender=7494", tok=T["OPS"])
check(st == 200 and len(doc["entries"]) == 1 and doc["entries"][0]["request_id"] == rq["id"],
      f"approval created the whitelist entry: {doc}")
st, doc, _ = req("POST", "/api/v1/whitelist-requests/%d/reject" % other_id, tok=T["OPS"], body={})
check(st == 400 and err_field(doc) == "reason", f"reject needs a reason: {doc}")
expect(*req("POST", "/api/v1/whitelist-requests/%d/reject" % other_id, tok=T["OPS"], body={"reason": "no contract"})[:2],
       200, "reject")
st, doc, _ = req("GET", "/api/v1/senders/QIWI", tok=T["PROV"])
check(st == 200 and doc.get("protected") and "recent" not in doc, f"provider sees its sender without recipients: {st}")
expect(*req("GET", "/api/v1/senders/YooMoney", tok=T["PROV"])[:2], 403, "provider and another's sender")
st, doc, _ = req("GET", "/api/v1/alerts", tok=T["PROV"])
check(st == 200 and all(a.get("sender") in ("QIWI", "7494") or "wl-" in json.dumps(a.get("reasons"))
                        for a in doc["alerts"] if a["kind"] != "automatic_blacklist"), "provider alerts are its own")
st, doc, _ = req("GET", "/api/v1/alerts?limit=1000", tok=T["OPS"])
kinds = {a["kind"] for a in doc.get("alerts", [])}
check(st == 200 and "lookalike" in kinds, f"alerts include look-alikes: {kinds}")

# ---- rules ---------------------------------------------------------------------------

st, doc, _ = req("GET", "/api/v1/rules", tok=T["OPS"])
expect(st, doc, 200, "rules")
check(doc.get("loaded") and len(doc.get("rules", [])) == doc.get("count"), "rule listing")
check(all({"id", "state", "action", "score", "hits"} <= set(r) for r in doc.get("rules", [])), "rule fields")
st, doc, _ = req("POST", "/api/v1/rules/reload", tok=T["OPS"], body={"reason": "test"})
check(st == 200 and doc.get("reloaded") is True, f"rules reload: {st} {doc}")

# ---- 429 after repeated failures (last: it locks this address out) ------------------------

codes = [req("GET", "/api/v1/me", tok="sgt_bad%d" % i)[0] for i in range(25)]
check(429 in codes and codes[0] == 401, f"repeated failures end in 429: {codes}")
st, doc, h = req("GET", "/api/v1/me", tok=T["OPS"])
expect(st, doc, 429, "address refused while locked out")
check("retry-after" in h, "429 says when to retry")

print(f"api: {checks} checks, {len(failures)} failures")
sys.exit(1 if failures else 0)
