"""The run's load and its faults: events posted through both web servers from a few
threads, and, when given shares of them have been accepted, one worker host killed and
another's link cut.

Events go one per ``POST /api/v1/events``, each with an idempotency key: a request whose
answer was lost is posted again without making a second event.
"""

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deliveries.bench.throughput import bench_payload, run_threads

# Posts of one event before it counts as refused (each after a fresh connection).
POST_TRIES = 3


class Progress:
    """How many events were accepted so far, for the faults to wait on."""

    def __init__(self):
        self.done = 0
        self.finished = False
        self._changed = threading.Condition()

    def add(self) -> None:
        with self._changed:
            self.done += 1
            self._changed.notify_all()

    def finish(self) -> None:
        with self._changed:
            self.finished = True
            self._changed.notify_all()

    def wait_for(self, count: int, stopping: threading.Event) -> bool:
        """Wait until ``count`` events were accepted; False if the posting ended (or the
        run stopped) first."""
        with self._changed:
            while self.done < count:
                if self.finished or stopping.is_set():
                    return False
                self._changed.wait(timeout=0.2)
        return True


@dataclass
class Posted:
    accepted: set[int] = field(default_factory=set)  # the ids of the events answered 202
    by_server: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # what came back instead, per event
    started: float = 0.0  # time.time()
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


def post_events(
    servers: list[tuple[str, int]],
    raw_key: str,
    count: int,
    clients: int,
    event_type: str,
    token: str,
    progress: Progress,
) -> Posted:
    """Post ``count`` events from ``clients`` threads, thread i to ``servers[i %
    len(servers)]``, each thread on one kept-alive connection. ``token`` makes the
    idempotency keys this run's own."""
    posted = Posted(by_server={f"{host}:{port}": 0 for host, port in servers}, started=time.time())
    numbers = iter(range(count))
    lock = threading.Lock()

    def client(server: tuple[str, int]) -> None:
        poster = _Poster(server, raw_key)
        try:
            while True:
                with lock:
                    n = next(numbers, None)
                if n is None or progress.finished:  # done, or the run is ending
                    return
                body = {
                    "event_type": event_type,
                    "payload": bench_payload(n),
                    "idempotency_key": f"{token}-{n}",
                }
                began = time.perf_counter()
                event_id, problem = poster.post(body)
                with lock:
                    if event_id is None:
                        posted.refused.append(problem)
                        continue
                    posted.accepted.add(event_id)
                    posted.by_server[f"{server[0]}:{server[1]}"] += 1
                    posted.latencies_ms.append((time.perf_counter() - began) * 1000)
                progress.add()
        finally:
            poster.close()

    try:
        posted.seconds = run_threads(
            [lambda i=i: client(servers[i % len(servers)]) for i in range(clients)]
        )
    finally:
        progress.finish()
    return posted


class _Poster:
    """One client's kept-alive connection to one web server."""

    def __init__(self, server: tuple[str, int], raw_key: str):
        self.server = server
        self.headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None

    def post(self, body: dict) -> tuple[int | None, str]:
        """The id of the event ``body`` made (or found by its key), or None and why."""
        problem = ""
        for _ in range(POST_TRIES):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(*self.server, timeout=60)
            try:
                self.connection.request("POST", "/api/v1/events", json.dumps(body), self.headers)
                response = self.connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                problem = f"{type(error).__name__}: {error}"
                self.close()
                continue
            if response.status == 202:
                return json.loads(answer)["id"], ""
            problem = f"{response.status} {answer[:200]!r}"
            if response.status < 500:
                break
        return None, problem

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class FaultTimes:
    """When each fault happened (``time.time()``; 0: not yet)."""

    killed_at: float = 0.0
    killed_processes: int = 0
    restarted_at: float = 0.0
    cut_from: float = 0.0
    cut_until: float = 0.0


class Faults(threading.Thread):
    """Kill a host once ``kill_after`` events are accepted (and start it again
    ``restart_after`` seconds later, if given); cut another's link once ``cut_after`` are,
    for ``cut_seconds``. The link is always connected again, however the run ends.
    ``names`` are the two hosts', for what it says."""

    def __init__(
        self,
        progress: Progress,
        kill_after: int,
        cut_after: int,
        cut_seconds: float,
        kill: Callable[[], int],
        connect: Callable[[bool], None],
        restart: Callable[[], None] | None,
        restart_after: float | None,
        names: tuple[str, str],
        say: Callable[[str], None],
    ):
        super().__init__(name="faults", daemon=True)
        self.killed_name, self.cut_name = names
        self.progress, self.kill_after, self.cut_after = progress, kill_after, cut_after
        self.cut_seconds, self.kill, self.connect = cut_seconds, kill, connect
        self.restart, self.restart_after, self.say = restart, restart_after, say
        self.times = FaultTimes()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.restarting: threading.Timer | None = None

    def run(self) -> None:
        try:
            if self.progress.wait_for(self.kill_after, self.stopping):
                self._kill()
                if self.restart_after is not None:
                    self.restarting = threading.Timer(self.restart_after, self._restart)
                    self.restarting.start()
            if self.progress.wait_for(self.cut_after, self.stopping):
                self._cut()
        except BaseException as error:  # reported by the run, in its own thread
            self.error = error
        finally:
            if self.times.cut_from and not self.times.cut_until:
                self.connect(True)
                self.times.cut_until = time.time()

    def _kill(self) -> None:
        self.times.killed_processes = self.kill()
        self.times.killed_at = time.time()  # every process has its SIGKILL
        self.say(
            f"{self.killed_name} killed: its {self.times.killed_processes} processes SIGKILLed"
        )

    def _cut(self) -> None:
        self.times.cut_from = time.time()
        self.connect(False)
        self.say(f"{self.cut_name}'s link cut for {self.cut_seconds:g} s")
        self.stopping.wait(self.cut_seconds)
        self.connect(True)
        self.times.cut_until = time.time()
        self.say(f"{self.cut_name}'s link up again")

    def _restart(self) -> None:
        if self.stopping.is_set():
            return
        self.restart()
        self.times.restarted_at = time.time()
        self.say(f"{self.killed_name} started again")

    def stop(self) -> None:
        """End early: connect the link again if it is cut, start nothing again, and
        return."""
        self.stopping.set()
        if self.restarting is not None:
            self.restarting.cancel()
            self.restarting.join(timeout=30)
        self.join(timeout=30)
