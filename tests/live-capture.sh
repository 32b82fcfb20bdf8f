#!/usr/bin/env bash
# smsguard decode -i on a live interface: SMPP exchanged over loopback by two
# Python peers (a bind_transmitter, a submit_sm with its response, and an
# unbind) is captured with a BPF filter and decoded.
set -euo pipefail
: "${SMSGUARD:?}"
out=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$SMSGUARD" decode -i lo -c 200 --no-progress "tcp port $port" >"$out/events.jsonl" 2>"$out/summary.txt" &
pid=$!
sleep 1.5  # the capture must be active before the peers talk

python3 - "$port" <<'PY'
import socket, struct, sys, threading, time
port = int(sys.argv[1])

def pdu(cmd, seq, body=b"", status=0):
    return struct.pack(">IIII", 16 + len(body), cmd, status, seq) + body

def cstr(s):
    return s.encode() + b"\0"

def read_pdu(sock):
    hdr = b""
    while len(hdr) < 16:
        hdr += sock.recv(16 - len(hdr))
    n, cmd, status, seq = struct.unpack(">IIII", hdr)
    body = b""
    while len(body) < n - 16:
        body += sock.recv(n - 16 - len(body))
    return cmd, seq, body

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)

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
import json, sys
d = sys.argv[1]
ev = [json.loads(l) for l in open(f"{d}/events.jsonl")]
cmds = [e["command"] for e in ev if e["event"] == "pdu"]
msgs = [e for e in ev if e["event"] == "message"]
ok = bad = 0
def check(c, what):
    global ok, bad
    if c: ok += 1
    else:
        bad += 1; print("FAILED:", what, file=sys.stderr)
check(cmds == ["bind_transmitter", "bind_transmitter_resp", "submit_sm", "submit_sm_resp", "unbind", "unbind_resp"],
      f"PDU sequence on the wire: {cmds}")
check(len(msgs) == 1, "one message")
if msgs:
    m = msgs[0]
    check(m["account"] == "live_acct" and m["text"] == "Live capture test" and m["message_id"] == "5f3a",
          f"message decoded from a live capture: {m}")
print(f"live-capture: {ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
grep -q "interrupted" "$out/summary.txt"
