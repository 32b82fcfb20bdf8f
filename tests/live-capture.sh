#!/usr/bin/env bash
# Live capture on loopback (needs the right to capture: root in CI).
# 1. smsguard decode -i: SMPP exchanged by two Python peers (a
#    bind_transmitter, a submit_sm with its response, and an unbind) is
#    captured with a BPF filter and decoded.
# 2. smsguard run -i on a quiet link: its tick (reloads, list changes,
#    draining the batch of messages to judge) comes within about timeout_ms
#    (100 ms) without traffic, not after 4096 packets.  A SIGHUP is put in
#    force, a blacklist entry added by the CLI judges the next message, and
#    each of two lone messages gets its verdict, all within a second.
# Env: SMSGUARD, SG_SOURCE (rules), SG_BUILD (rule cache).
set -euo pipefail
: "${SMSGUARD:?}"
SG_SOURCE=${SG_SOURCE:-.}
export SG_SOURCE  # for the Python helpers in tests/tools
SG_BUILD=${SG_BUILD:-$(mktemp -d)}
out=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$SMSGUARD" decode -i lo -c 200 --no-progress "tcp port $port" >"$out/events.jsonl" 2>"$out/summary.txt" &
pid=$!
sleep 1.5  # the capture must be active before the peers talk

python3 - "$port" <<'PY'
import os, socket, struct, sys, threading, time
port = int(sys.argv[1])

sys.path.insert(0, os.path.join(os.environ.get("SG_SOURCE", "."), "tests", "tools"))
from smpp_wire import cstr, listener, pdu, read_pdu

srv = listener(port)

def smsc():
    c, _ = srv.accept()
    for _ in range(3):
        cmd, seq, body = read_pdu(c)
        if cmd == 0x2:
            c.sendall(pdu(0x80000002, seq, cstr("SMSC")))
        elif cmd == 0x4:
            c.sendall(pdu(0x80000004, seq, cstr("5f3a")))
        elif cmd == 0x6:
            c.sendall(pdu(0x80000006, seq))
    c.close()

t = threading.Thread(target=smsc)
t.start()
e = socket.create_connection(("127.0.0.1", port))
e.sendall(pdu(0x2, 1, cstr("live_acct") + cstr("pw") + cstr("") + bytes([0x34, 0, 0]) + cstr("")))
read_pdu(e)
text = "Live capture test".encode()
body = (cstr("") + bytes([5, 0]) + cstr("QIWI") + bytes([1, 1]) + cstr("79123456789") +
        bytes([0, 0, 0]) + cstr("") + cstr("") + bytes([1, 0, 0, 0, len(text)]) + text)
e.sendall(pdu(0x4, 2, body))
read_pdu(e)
e.sendall(pdu(0x6, 3))
read_pdu(e)
e.close()
t.join()
PY

sleep 1.5
kill -INT "$pid"
wait "$pid" || true
pid=

python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
ev = [json.loads(l) for l in open(f"{d}/events.jsonl")]
cmds = [e["command"] for e in ev if e["event"] == "pdu"]
msgs = [e for e in ev if e["event"] == "message"]
sys.path.insert(0, os.path.join(os.environ.get("SG_SOURCE", "."), "tests", "tools"))
from check_tally import check, finish
check(cmds == ["bind_transmitter", "bind_transmitter_resp", "submit_sm", "submit_sm_resp", "unbind", "unbind_resp"],
      f"PDU sequence on the wire: {cmds}")
check(len(msgs) == 1, "one message")
if msgs:
    m = msgs[0]
    check(m["account"] == "live_acct" and m["text"] == "Live capture test" and m["message_id"] == "5f3a",
          f"message decoded from a live capture: {m}")
finish("live-capture")
PY
grep -q "interrupted" "$out/summary.txt"

# 2. run -i on a quiet link.
mkdir -p "$SG_BUILD/rules-cache"
"$SMSGUARD" rules check --cache "$SG_BUILD/rules-cache" "$SG_SOURCE/rules" >/dev/null 2>&1 || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$SMSGUARD" "$port" "$out" "$SG_SOURCE/rules" "$SG_BUILD/rules-cache" <<'PY'
import json, os, select, signal, socket, struct, subprocess, sys, threading, time
smsguard, port, d, rules, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
db, errf = f"{d}/run.db", f"{d}/run.err"
LIMIT = 1.0  # seconds; the tick is due every 100 ms

sys.path.insert(0, os.path.join(os.environ.get("SG_SOURCE", "."), "tests", "tools"))
from smpp_wire import cstr, listener, pdu, read_pdu

srv = listener(port)

def smsc():
    c, _ = srv.accept()
    ids = 0
    while True:
        cmd, seq, body = read_pdu(c)
        if cmd == 0x2:
            c.sendall(pdu(0x80000002, seq, cstr("SMSC")))
        elif cmd == 0x4:
            ids += 1
            c.sendall(pdu(0x80000004, seq, cstr(f"a{ids}")))
        elif cmd == 0x6:
            c.sendall(pdu(0x80000006, seq))
            break
    c.close()

# stdout on a terminal, so that each verdict line is written as it is made.
master, slave = os.openpty()
proc = subprocess.Popen([smsguard, "run", "-i", "lo", "--db", db, "--no-api", "--rules", rules,
                         "--rules-cache", cache, f"tcp port {port}"],
                        stdout=slave, stderr=open(errf, "w"))
os.close(slave)
buf = b""
def verdict(timeout):
    """The next verdict line within timeout seconds, or None."""
    global buf
    end = time.monotonic() + timeout
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            return None
        try:
            buf += os.read(master, 65536)
        except OSError:
            return None
    line, buf = buf.split(b"\n", 1)
    return json.loads(line.strip(b"\r"))

def loads():
    return open(errf).read().count(" rules from ")

def wait_for(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()

from check_tally import check, finish

try:
    check(wait_for(lambda: loads() >= 1, 60), "the daemon loads its rules")
    time.sleep(1.5)  # the capture must be active; the link stays quiet
    t0 = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    reloaded = wait_for(lambda: loads() >= 2, 3)
    dt = time.monotonic() - t0
    print(f"live-capture: SIGHUP on a quiet link put in force after {dt * 1e3:.0f} ms")
    check(reloaded and dt < LIMIT, f"SIGHUP reload on a quiet link: {dt:.2f} s")

    r = subprocess.run([smsguard, "blacklist", "add", "--sender", "SpamLive", "--reason", "live test",
                        "--db", db], capture_output=True, text=True)
    check(r.returncode == 0, f"blacklist add: {r.stderr}")
    time.sleep(1.5)  # the daemon polls data_version once a second, in its tick

    t = threading.Thread(target=smsc)
    t.start()
    e = socket.create_connection(("127.0.0.1", port))
    e.sendall(pdu(0x2, 1, cstr("live_acct") + cstr("pw") + cstr("") + bytes([0x34, 0, 0]) + cstr("")))
    read_pdu(e)
    def submit(seq, sender, text):
        text = text.encode()
        body = (cstr("") + bytes([5, 0]) + cstr(sender) + bytes([1, 1]) + cstr("79123456789") +
                bytes([0, 0, 0]) + cstr("") + cstr("") + bytes([1, 0, 0, 0, len(text)]) + text)
        t0 = time.monotonic()
        e.sendall(pdu(0x4, seq, body))
        read_pdu(e)
        v = verdict(3)
        return v, time.monotonic() - t0
    for seq, sender, want in ((2, "SpamLive", "block"), (3, "QIWI", None)):
        time.sleep(1.0)  # a lone message on a silent link
        v, dt = submit(seq, sender, f"Live message {seq}")
        print(f"live-capture: verdict for a lone message after {dt * 1e3:.0f} ms")
        check(v is not None and dt < LIMIT, f"verdict for message {seq} within {LIMIT} s: {dt:.2f} s")
        if v is not None:
            check(v.get("source_addr") == sender, f"verdict for {sender}: {v}")
            if want:
                check(v.get("action") == want, f"the CLI's blacklist entry judges {sender}: {v}")
    e.sendall(pdu(0x6, 4))
    read_pdu(e)
    e.close()
    t.join()
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
err = open(errf).read()
check(" 1 rule reloads (0 refused)" in err and " 0 list reloads" not in err,
      f"summary counts the SIGHUP and the list change:\n{err}")
finish("live-capture run -i")
PY
