"""A stand-in for a paging service's events endpoint, for scripts/demo: takes each POSTed JSON
event (at most 64 KiB), appends it as one line to the file named on the command line, answers
202 Accepted, and says nothing else.

    python3 scripts/page_receiver.py PORT FILE
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIMIT = 64 * 1024


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > LIMIT:
            self.send_response(413)
            self.end_headers()
            return
        try:
            event = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(json.dumps(event) + "\n")
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "success"}')

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
