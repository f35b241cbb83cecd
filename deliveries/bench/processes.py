"""The processes a sending benchmark runs: the local receiver and Celery workers."""

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def receiver_and_workers(workers: int = 1, concurrency: int = 2, log=None):
    """Start the bench receiver and ``workers`` prefork workers; yield the receiver's
    port; stop them all afterwards (a process slow to stop is killed after 30 s)."""
    port = free_port()
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "deliveries.bench.receiver", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    ]
    env = {**os.environ, "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8"}
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for n in range(workers):
            out = open(logs / f"worker-{n}.log", "w")  # noqa: SIM115 - lives as long as the worker
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
                        f"--hostname=bench{n}@%h",
                    ],  # fmt: skip
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        yield port
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if log:
                    log(f"process {process.pid} did not stop in 30 s; killed")
                process.kill()
                process.wait()
