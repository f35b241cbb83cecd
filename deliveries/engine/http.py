"""The HTTP client of the sender: one urllib3 pool manager per process, whose connections
pass the outbound guard, and a deadline that bounds a whole request.

A socket timeout applies to each read, so a receiver that drips one byte a second never
trips it. Here every phase of a request made inside ``deadline(seconds)`` gets only the
time left: the connection (and TLS handshake) when it is made, the request when it is
written, and each read of the answer, headers and body alike. Past the deadline the next
read fails at once with ``TimeoutError``; no thread watches the clock.

Under py-spy, ``requests``' own layers (preparing the request, merging settings, its
adapter) took more CPU than urllib3's whole send beneath them, so the sender talks to
urllib3 itself: ``pool_manager().urlopen``.
"""

import http.client
import io
import socket
import threading
import time
from contextlib import contextmanager

import certifi
from django.conf import settings
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from webhooks.destinations import guarded_create_connection

_current = threading.local()

# A kept-alive connection used this recently is reused without first asking the socket
# whether the receiver closed it (urllib3 polls it before every reuse, 5 % of the sender's
# CPU). Servers keep idle connections open for seconds (gunicorn 2 s, Node and uvicorn 5 s,
# nginx 75 s), and one that closes sooner says so in its answer (``Connection: close``).
TRUSTED_IDLE_SECONDS = 0.5


class Deadline:
    """The moment a request must be over."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; raises ``TimeoutError`` once there are none."""
        left = self.expires - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self.seconds} s")
        return left

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires


@contextmanager
def deadline(seconds: float):
    """Bound every request made inside the block (in this thread) to ``seconds`` in all;
    yields the ``Deadline``."""
    current = Deadline(seconds)
    _current.deadline = current
    try:
        yield current
    finally:
        _current.deadline = None


def _current_deadline() -> Deadline | None:
    return getattr(_current, "deadline", None)


class _DeadlineReader(io.RawIOBase):
    """A socket's byte stream whose every read waits only for the time the deadline leaves.

    It reads through the socket's own raw file, which keeps the socket open until this
    stream is closed: ``http.client`` closes its connection as soon as an answer says the
    connection ends (HTTP/1.0, ``Connection: close``), before the body is read.
    """

    def __init__(self, sock: socket.socket, limit: Deadline):
        super().__init__()
        self._sock, self._limit = sock, limit
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        self._sock.settimeout(self._limit.remaining())
        return self._raw.readinto(buffer)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What ``http.client.HTTPResponse`` takes from a socket (its ``makefile``), read
    through a ``_DeadlineReader``."""

    def __init__(self, sock: socket.socket, limit: Deadline):
        self._sock, self._limit = sock, limit

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._limit))


class _BoundedResponse(http.client.HTTPResponse):
    """An answer read within the current deadline, if there is one."""

    def __init__(self, sock, *args, **kwargs):
        limit = _current_deadline()
        super().__init__(_DeadlineSocket(sock, limit) if limit else sock, *args, **kwargs)


class _GuardedMixin:
    """Connect through the outbound guard; keep every phase within the current deadline."""

    response_class = _BoundedResponse
    _last_used = 0.0

    def _new_conn(self) -> socket.socket:
        limit = _current_deadline()
        timeout = self.timeout
        if limit and isinstance(timeout, int | float):
            timeout = min(timeout, limit.remaining())
        try:
            sock = guarded_create_connection(
                (self._dns_host, self.port),
                timeout,
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
        if limit:
            sock.settimeout(limit.remaining())  # the TLS handshake, if any, comes next
        return sock

    def request(self, *args, **kwargs):
        limit = _current_deadline()
        if limit and self.sock is not None:  # a kept-alive connection: writing the request
            self.sock.settimeout(limit.remaining())
        self._last_used = time.monotonic()
        return super().request(*args, **kwargs)

    @property
    def is_connected(self) -> bool:
        if self.sock is not None and time.monotonic() - self._last_used < TRUSTED_IDLE_SECONDS:
            return True
        return super().is_connected


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


def new_pool_manager() -> PoolManager:
    """Keep-alive pools of guarded connections: no retries, no proxy from the environment
    (urllib3 reads none), certificates checked against certifi's roots (as ``requests``
    did). Each host keeps up to ``DELIVERIES_SEND_CONCURRENCY`` idle connections."""
    manager = PoolManager(
        num_pools=256,
        maxsize=settings.DELIVERIES_SEND_CONCURRENCY,
        block=False,
        retries=False,
        ca_certs=certifi.where(),
    )
    manager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
    return manager


_manager: PoolManager | None = None
_manager_lock = threading.Lock()


def pool_manager() -> PoolManager:
    """The process's pool manager, made on first use (after any fork), shared by threads."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = new_pool_manager()
    return _manager
