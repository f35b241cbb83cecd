"""A real HTTP receiver on 127.0.0.1 for tests, scripted by path.

- ``/codes/500,500,200``: answers 500, then 500, then 200 for every later request.
- ``/drip``: sends a status line and then one byte a second, never finishing.
- ``/redirect``: answers 302 to another path.
- ``/sleep``: answers 200 after 200 ms.
- ``/binary``: answers 200 with bytes that are not UTF-8.
- ``/big``: answers 200 with 100 KiB of text.
- ``/nul-header``: answers 200 with a NUL byte in a header value.
- ``/bad-headers``: answers 200 with headers that are not UTF-8, and 27 KB of them.
- ``/lone-surrogate``: answers 200 with JSON whose string escapes a lone surrogate.
- ``/hang``: never answers (until the client gives up or the receiver stops); the most
  requests it held at once is ``max_hanging``.
- anything else: 200 with a small JSON body.
The most requests it answered at once, whatever their path, is ``max_in_flight``.
Every request is recorded (path, headers, body, monotonic arrival time) in arrival order.
"""

import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    # The sender opens up to DELIVERIES_ENDPOINT_CONCURRENCY connections at once; the
    # default backlog of 5 would refuse some.
    request_queue_size = 128


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0


class Receiver:
    def __init__(self):
        self.requests: list[Received] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.hanging = self.max_hanging = 0
        self.in_flight = self.max_in_flight = 0
        self.server = Server(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        # stop() waits for serve_forever to look at its flag, every poll_interval (0.5 s by
        # default): nearly 50 tests use a receiver.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def _next_index(self, path: str) -> int:
        with self._lock:
            index = self._counts.get(path, 0)
            self._counts[path] = index + 1
            return index

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                try:
                    return self._respond()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def _respond(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers), body, time.monotonic())
                    )
                if self.path.startswith("/codes/"):
                    codes = [int(c) for c in self.path.removeprefix("/codes/").split(",")]
                    code = codes[min(receiver._next_index(self.path), len(codes) - 1)]
                    text = "Internal error: database is locked" if code >= 500 else "ok"
                    return self._answer(code, text.encode(), "text/plain")
                if self.path == "/sleep":
                    time.sleep(0.2)
                    return self._answer(200, b"ok", "text/plain")
                if self.path == "/drip":
                    return self._drip()
                if self.path == "/hang":
                    return self._hang()
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if self.path == "/binary":
                    return self._answer(200, bytes(range(256)), "application/octet-stream")
                if self.path == "/big":
                    return self._answer(200, b"x" * 100 * 1024, "text/plain")
                if self.path == "/nul-header":
                    return self._raw_answer([b"X-Poison: a\x00b"])
                if self.path == "/bad-headers":
                    lines = [b"X-Latin: caf\xe9", b"X-Utf8: caf\xc3\xa9"]
                    lines += [b"X-Filler-%d: %s" % (n, b"y" * 300) for n in range(90)]
                    return self._raw_answer(lines)
                if self.path == "/lone-surrogate":
                    return self._answer(200, b'{"note": "\\ud800"}', "application/json")
                return self._answer(200, b'{"received": true}', "application/json")

            def _answer(self, code, data, content_type):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _raw_answer(self, header_lines):
                """200 with header lines written as raw bytes, as a broken server would."""
                body = b"ok"
                head = [b"HTTP/1.1 200 OK", *header_lines, b"Content-Length: %d" % len(body)]
                self.wfile.write(b"\r\n".join(head) + b"\r\n\r\n" + body)

            def _hang(self):
                with receiver._lock:
                    receiver.hanging += 1
                    receiver.max_hanging = max(receiver.max_hanging, receiver.hanging)
                deadline = time.monotonic() + 60
                while not receiver._stopping.is_set() and time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        break  # the client gave up and closed the connection
                with receiver._lock:
                    receiver.hanging -= 1
                self.close_connection = True

            def _drip(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(1000):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        time.sleep(1)
                except OSError:
                    pass

            def log_message(self, format, *args):
                pass

        return Handler
