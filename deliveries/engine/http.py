"""The HTTP client of the sender: keep-alive sessions whose connections pass the outbound
guard, and a hard deadline per request.

``requests`` timeouts apply to each socket operation, so a receiver that drips one byte a
second never trips them. A single watchdog thread instead shuts the socket down when a
request's deadline passes, which ends the blocked read at once.
"""

import contextlib
import heapq
import itertools
import socket
import threading
import time
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from webhooks.destinations import guarded_create_connection

_current = threading.local()


class Deadline:
    """The moment a request must be over; fired by the watchdog if it is not."""

    def __init__(self, seconds: float):
        self.expires = time.monotonic() + seconds
        self.fired = False
        self.finished = False
        self.connection: HTTPConnection | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(self.expires - time.monotonic(), 0.001)

    def fire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.fired = True
            sock = self.connection.sock if self.connection else None
            if sock is not None:
                # The plain-socket method works on TLS sockets too and leaves the TLS object
                # alone; the blocked read in the sending thread then fails at once.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self.connection = None


class _Watchdog:
    def __init__(self):
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline.expires, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="http-deadlines", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                expires, _, deadline = self._heap[0]
                delay = expires - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            if not deadline.finished:
                deadline.fire()


_watchdog = _Watchdog()


@contextmanager
def deadline(seconds: float):
    """Bound every request made inside the block (in this thread) to ``seconds`` in all."""
    current = Deadline(seconds)
    _current.deadline = current
    _watchdog.watch(current)
    try:
        yield current
    finally:
        current.finish()
        _current.deadline = None


class _GuardedMixin:
    """Connect through the outbound guard, and let the current deadline watch us."""

    def _new_conn(self) -> socket.socket:
        try:
            return guarded_create_connection(
                (self._dns_host, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from error
        except OSError as error:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {error}"
            ) from error

    def request(self, *args, **kwargs):
        current = getattr(_current, "deadline", None)
        if current is not None:
            current.connection = self
        return super().request(*args, **kwargs)


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


def new_session() -> requests.Session:
    """A keep-alive session for one sending thread: no redirects are followed by the
    caller, and no proxy or .netrc settings from the environment are picked up."""
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(pool_connections=32, pool_maxsize=4, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def thread_session() -> requests.Session:
    session = getattr(_current, "session", None)
    if session is None:
        session = _current.session = new_session()
    return session
