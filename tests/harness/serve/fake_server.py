"""A stand-in server for the fault tests: ``python fake_server.py PORT DELAY_MS [unhealthy]``.

One request at a time (no threads), each ``POST`` answered after ``DELAY_MS`` of sleep: a
server that falls behind when offered more than 1000 / DELAY_MS requests a second. With
``unhealthy`` its ``/health`` answers 503 for ever.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    delay_s = 0.0
    unhealthy = False

    def do_GET(self) -> None:
        self._reply(503 if self.unhealthy else 200, b'{"status": "ok"}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(self.delay_s)
        self._reply(200, json.dumps({"prediction": [0], "confidence": [1.0],
                                     "outputs": [[0.0]]}).encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(HTTPServer):
    request_queue_size = 256  # the open loop's connections wait in the backlog, not refused


if __name__ == "__main__":
    Handler.delay_s = float(sys.argv[2]) / 1000
    Handler.unhealthy = len(sys.argv) > 3
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
