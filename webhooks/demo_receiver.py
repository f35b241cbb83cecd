"""A small HTTP receiver for the demo, on 127.0.0.1, that answers like real endpoints do.

Each path behaves like one kind of customer endpoint, so the demo shows a realistic mix:
mostly 2xx, some 5xx with an error body, a 404, and one that is slow past the timeout.
"""

import contextlib
import json
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    # The sender opens up to DELIVERIES_ENDPOINT_CONCURRENCY connections at once; the
    # default backlog of 5 would refuse some.
    request_queue_size = 128


# path -> (probability of failure, failure code, seconds to sleep on a slow answer)
BEHAVIOURS = {
    "/orders": {"fail_rate": 0.05, "fail_code": 500, "slow_rate": 0.0},
    "/crm": {"fail_rate": 0.0, "fail_code": 500, "slow_rate": 0.0},
    "/billing": {"fail_rate": 0.35, "fail_code": 500, "slow_rate": 0.0},
    "/legacy": {"fail_rate": 1.0, "fail_code": 404, "slow_rate": 0.0},
    "/analytics": {"fail_rate": 0.0, "fail_code": 500, "slow_rate": 0.3},
}
SLOW_SECONDS = 6

TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/handlers/webhooks.py", line 42, in receive
    order = Order.objects.get(external_id=payload["data"]["id"])
KeyError: 'id'
"""


class DemoHandler(BaseHTTPRequestHandler):
    server_version = "DemoReceiver/1.0"
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        behaviour = BEHAVIOURS.get(self.path.split("?")[0])
        if behaviour is None:
            return self._answer(404, {"error": "no such endpoint"})
        if random.random() < behaviour["slow_rate"]:
            time.sleep(SLOW_SECONDS)
        if random.random() < behaviour["fail_rate"]:
            if behaviour["fail_code"] == 500:
                return self._answer(500, TRACEBACK, content_type="text/plain")
            return self._answer(behaviour["fail_code"], {"error": "Not Found"})
        return self._answer(200, {"received": True})

    def _answer(self, code, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        # The sender may have given up on a slow answer already.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, format, *args):
        pass


def serve(port: int) -> None:
    server = Server(("127.0.0.1", port), DemoHandler)
    server.daemon_threads = True
    server.serve_forever()
