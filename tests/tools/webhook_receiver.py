#!/usr/bin/env python3
"""A tiny HTTP receiver for tests/alert-webhook.sh: listens on 127.0.0.1 on a
free port (written to PORTFILE once it listens), answers the first FAIL
POSTs with 500 (to exercise the sender's retries) and the others with 204,
and appends one JSON line per POST to OUT: {"n": request number, "status":
the answer, "path", "content_type", "body": the body as text}.

    webhook_receiver.py PORTFILE OUT [FAIL]
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

portfile, out = sys.argv[1], sys.argv[2]
fail_first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        count += 1
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        status = 500 if count <= fail_first else 204
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"n": count, "status": status, "path": self.path,
                                "content_type": self.headers.get("Content-Type"),
                                "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
