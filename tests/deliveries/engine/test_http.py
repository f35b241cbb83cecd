"""The sender's HTTP client: a deadline over the whole request, kept-alive connections
reused, and a connection the receiver closed never used for a request."""

import contextlib
import socket
import threading
import time

import pytest

from deliveries.engine import http
from deliveries.engine.sender import FetchFailed, OutgoingRequest, fetch, send

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """A receiver on 127.0.0.1 that answers each request with ``answer(conn)`` on its own
    thread per connection and counts the connections it accepted."""

    def __init__(self, answer):
        self.answer = answer
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, contextlib.suppress(OSError):  # the client may go first
            while _read_request(conn):
                if not self.answer(conn):
                    return

    def close(self):
        self.sock.close()


def _read_request(conn) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return True


@pytest.fixture
def raw_server():
    servers = []

    def start(answer):
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    import ipaddress

    settings.WEBHOOKS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]


def post(url, timeout=2):
    return send(
        OutgoingRequest(url=url, body=b"{}", headers={}, recorded_headers={}, timeout=timeout)
    )


def test_headers_dripped_a_byte_a_second_end_at_the_deadline(raw_server):
    def drip_headers(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(30):
            conn.sendall(b"X")
            time.sleep(0.2)
        return False

    server = raw_server(drip_headers)
    started = time.monotonic()
    result = post(server.url, timeout=1)
    assert time.monotonic() - started < 1.8
    assert result.failure_reason == "timeout"
    assert result.failure_detail == "no complete response within 1 s"


def test_a_slow_source_fails_the_fetch_at_its_deadline(raw_server):
    def drip_body(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            conn.sendall(b".")
            time.sleep(0.1)
        return False

    server = raw_server(drip_body)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="no complete answer within 1 s"):
        fetch(server.url, timeout=1, max_bytes=1000)
    assert time.monotonic() - started < 1.8


def test_sends_in_a_row_reuse_one_kept_alive_connection(raw_server):
    def ok(conn):
        conn.sendall(OK)
        return True

    server = raw_server(ok)
    results = [post(server.url) for _ in range(5)]
    assert all(result.success for result in results)
    assert server.connections == 1


def test_a_connection_the_receiver_closed_is_not_used_again(raw_server, monkeypatch):
    def once(conn):
        conn.sendall(OK)
        return False  # closes the connection, without saying so in the answer

    monkeypatch.setattr(http, "TRUSTED_IDLE_SECONDS", 0.05)
    server = raw_server(once)
    assert post(server.url).success
    time.sleep(0.2)  # idle longer than a kept-alive connection is trusted unchecked
    assert post(server.url).success
    assert server.connections == 2


def test_an_answer_bigger_than_is_kept_closes_its_connection(raw_server):
    big = b"x" * (200 * 1024)

    def large(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        return True

    server = raw_server(large)
    first, second = post(server.url), post(server.url)
    assert first.success and first.response_body_truncated
    assert second.success
    assert server.connections == 2  # the unread rest of the first never reaches the second


def test_an_answer_that_ends_its_connection_is_read_to_its_end(raw_server):
    def http_1_0(conn):
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n")
        time.sleep(0.1)  # the body in a later packet, after the client closed its side
        conn.sendall(b'{"temp": 21}')
        return False

    server = raw_server(http_1_0)
    assert fetch(server.url, timeout=2, max_bytes=100).body == b'{"temp": 21}'
    result = post(server.url)
    assert result.success and result.response_body == '{"temp": 21}'


def test_https_to_a_receiver_that_speaks_no_tls_is_a_tls_error():
    server = socket.create_server(("127.0.0.1", 0))

    def answer_in_plain_text():
        conn, _ = server.accept()
        with conn:
            conn.sendall(OK)  # where the TLS handshake expects its ServerHello
            conn.recv(65536)

    threading.Thread(target=answer_in_plain_text, daemon=True).start()
    try:
        result = post(f"https://127.0.0.1:{server.getsockname()[1]}/hook")
    finally:
        server.close()
    assert result.failure_reason == "tls_error"
