"""The processes a sending benchmark runs: the local receiver and Celery workers.

``receiver()`` and ``workers()`` start each on its own, so a benchmark can queue work
before any worker runs; ``receiver_and_workers()`` starts both at once.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings

ROOT = settings.BASE_DIR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def receiver(log: Callable[[str], None] | None = None):
    """Start the bench receiver (``deliveries.bench.receiver``); yield its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "deliveries.bench.receiver", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port)
        yield port
    finally:
        _stop([process], log)


@contextmanager
def workers(count: int = 1, concurrency: int = 2, log: Callable[[str], None] | None = None):
    """Start ``count`` prefork workers of ``concurrency`` children each (their logs go to
    ``var/bench/worker-<n>.log``); yield their hostnames; stop them afterwards."""
    env = {**os.environ, "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8"}
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    started, names = [], []
    try:
        for n in range(count):
            out = open(logs / f"worker-{n}.log", "w")  # noqa: SIM115 - lives as long as the worker
            names.append(f"bench{n}@{socket.gethostname()}")
            started.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        f"--concurrency={concurrency}",
                        "--loglevel=WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        f"--hostname={names[-1]}",
                    ],  # fmt: skip
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        yield names
    finally:
        _stop(started, log)


@contextmanager
def receiver_and_workers(workers_count: int = 1, concurrency: int = 2, log=None):
    """Start the bench receiver and ``workers_count`` prefork workers; yield the
    receiver's port; stop them all afterwards."""
    with receiver(log) as port, workers(workers_count, concurrency, log):
        yield port


def wait_ready(names: list[str], timeout: float = 60) -> None:
    """Return once every worker of ``names`` answers a ping; raise ``TimeoutError``."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    waiting = set(names)
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers not ready in {timeout} s: {sorted(waiting)}")
        for reply in app.control.ping(destination=sorted(waiting), timeout=0.5) or []:
            waiting -= set(reply)


def _wait_listening(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"the bench receiver is not listening on {port} after {timeout} s")


def _stop(processes: list[subprocess.Popen], log) -> None:
    """Terminate ``processes``; one slow to stop is killed after 30 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if log:
                log(f"process {process.pid} did not stop in 30 s; killed")
            process.kill()
            process.wait()
