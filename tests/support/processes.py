"""Start and stop real processes (Celery workers, Redis) from tests."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env_overrides: dict[str, str], *extra_args: str, log: Path | None = None):
    """A ``celery worker`` in its own process group, logging to ``log`` (a pipe would
    fill up and stall a chatty worker)."""
    env = {**os.environ, **env_overrides}
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-I", "tests.support.tasks", *extra_args,
    ]  # fmt: skip
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    process.log_path = log
    return process


def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Signal the whole process group (a prefork worker and its children)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


def stop(process: subprocess.Popen) -> str:
    """Stop ``process`` and return the end of its log, for assertion messages."""
    if process.poll() is None:
        try:
            kill(process, signal.SIGTERM)
        except subprocess.TimeoutExpired:
            kill(process, signal.SIGKILL)
    log = getattr(process, "log_path", None)
    return log.read_text()[-5000:] if log and log.exists() else ""


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
