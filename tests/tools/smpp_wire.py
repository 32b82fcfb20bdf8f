"""SMPP PDUs on a socket, for the scripted tests that play an ESME or an
SMSC (tests/live-capture.sh): a PDU from its command id, sequence number
and body; a C-octet string; one whole PDU read from a socket."""
import socket
import struct


def pdu(cmd, seq, body=b"", status=0):
    return struct.pack(">IIII", 16 + len(body), cmd, status, seq) + body


def cstr(s):
    return s.encode() + b"\0"


def read_pdu(sock: socket.socket):
    """(command_id, sequence_number, body) of the next PDU on sock."""
    hdr = b""
    while len(hdr) < 16:
        hdr += sock.recv(16 - len(hdr))
    n, cmd, _status, seq = struct.unpack(">IIII", hdr)
    body = b""
    while len(body) < n - 16:
        body += sock.recv(n - 16 - len(body))
    return cmd, seq, body


def listener(port):
    """A socket listening on 127.0.0.1:port for one peer."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    return srv
