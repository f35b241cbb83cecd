"""Start and stop real processes (Celery workers) from tests."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env_overrides: dict[str, str], *extra_args: str) -> subprocess.Popen:
    env = {**os.environ, **env_overrides}
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-I", "tests.support.tasks", *extra_args,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def stop(process: subprocess.Popen) -> str:
    """Stop ``process`` and return what it printed, for assertion messages."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.stdout.read() if process.stdout else ""


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
