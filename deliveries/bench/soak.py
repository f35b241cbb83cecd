"""A soak of the embedded setup: ``make run`` left up with its demo traffic, watched.

``soak(minutes)`` starts ``make run`` in its own process group, logging to
``var/soak/make-run.log``, and every few minutes prints what flowed since the last look
(deliveries written by platform events and by campaigns, attempts that succeeded), whether
the Celery worker is still the process that started, how often a process of ``make run``
was restarted (config.supervise prints each exit), and how many broker messages could not
be decoded. At the end it stops ``make run`` and says whether the run held: the worker
never exited, deliveries and campaign sends were still flowing in the last interval, and
no message was read half-written.
"""

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import requests
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from deliveries.models import Delivery, DeliveryAttempt

# What the log says when something went wrong (kombu's decoding crash, Celery's fatal
# consumer error, config.supervise's restarts, config.file_broker's dropped messages).
PROBLEMS = {
    "decode_errors": re.compile(r"JSONDecodeError|Dropped an undecodable broker message"),
    "unrecoverable": re.compile(r"Unrecoverable error"),
    "restarts": re.compile(r"supervise: .* exited with code"),
    "tracebacks": re.compile(r"Traceback \(most recent call last\)"),
}


@dataclass
class Sample:
    at: datetime
    event_deliveries: int
    campaign_deliveries: int
    successes: int
    worker_pid: int | None
    problems: dict[str, int]

    def line(self, elapsed: timedelta) -> str:
        problems = " ".join(f"{name}={count}" for name, count in self.problems.items())
        return (
            f"{str(elapsed).split('.')[0]:>8}  event deliveries +{self.event_deliveries:<5} "
            f"campaign deliveries +{self.campaign_deliveries:<5} successful attempts "
            f"+{self.successes:<5} worker pid {self.worker_pid}  {problems}"
        )


def soak(minutes: float, every: float, out) -> bool:
    """Run ``make run`` for ``minutes``, print a line every ``every`` seconds and a
    verdict; True when the run held."""
    root = Path(settings.BASE_DIR)
    logs = Path(settings.VAR_DIR) / "soak"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / "make-run.log"
    with open(log_path, "w") as log:
        make = subprocess.Popen(
            ["make", "run"], cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    # Stopped early (SIGTERM or Ctrl-C): stop make run too, not leave it orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _watch(make, log_path, minutes, every, out)
    except KeyboardInterrupt:
        out("Stopped before the end.")
        return False
    finally:
        _stop(make)


def _watch(make: subprocess.Popen, log_path: Path, minutes: float, every: float, out) -> bool:
    port = os.environ.get("WEB_PORT", "8000")
    if not _wait_for_web(f"http://127.0.0.1:{port}/healthz", make, timeout=600):
        out(f"make run did not come up; see {log_path}")
        return False
    started = timezone.now()
    first_pid = _worker_pid(make.pid)
    out(f"make run is up (log: {log_path}); Celery worker pid {first_pid}")
    deadline = time.monotonic() + minutes * 60
    since, sample = started, None
    while time.monotonic() < deadline and make.poll() is None:
        time.sleep(min(every, max(deadline - time.monotonic(), 0)))
        sample = _sample(since, make.pid, log_path)
        out(sample.line(sample.at - started))
        since = sample.at
    if sample is None or make.poll() is not None:
        out(f"make run exited with code {make.returncode}; see {log_path}")
        return False
    checks = {
        "the worker never exited": sample.worker_pid == first_pid
        and sample.problems["restarts"] == 0,
        "platform deliveries flowing at the end": sample.event_deliveries > 0
        and sample.successes > 0,
        "campaign sends flowing at the end": sample.campaign_deliveries > 0,
        "no broker message undecodable": sample.problems["decode_errors"] == 0,
        "no unrecoverable error": sample.problems["unrecoverable"] == 0,
    }
    for check, held in checks.items():
        out(f"{'PASS' if held else 'FAIL'}  {check}")
    return all(checks.values())


def _sample(since: datetime, root: int, log_path: Path) -> Sample:
    close_old_connections()
    now = timezone.now()
    created = Delivery.objects.filter(created_at__gt=since, created_at__lte=now)
    text = log_path.read_text(errors="replace")
    return Sample(
        at=now,
        event_deliveries=created.filter(campaign__isnull=True).count(),
        campaign_deliveries=created.filter(campaign__isnull=False).count(),
        successes=DeliveryAttempt.objects.filter(
            attempted_at__gt=since, attempted_at__lte=now, success=True
        ).count(),
        worker_pid=_worker_pid(root),
        problems={name: len(pattern.findall(text)) for name, pattern in PROBLEMS.items()},
    )


def _wait_for_web(url: str, make: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and make.poll() is None:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(2)
    return False


def _worker_pid(root: int) -> int | None:
    """The main process of the Celery worker under ``make run`` (honcho starts each
    process in a session of its own, so this walks the process tree from ``root``)."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    below = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in below and pid not in below:
                below.add(pid)
                changed = True
    workers = {
        pid
        for pid in below
        if b"worker" in commands.get(pid, [])
        and b"celery" in b" ".join(commands[pid])
        and b"config.supervise" not in commands[pid]
    }
    mains = [pid for pid in workers if parents[pid] not in workers]
    return min(mains) if mains else None


def _stop(make: subprocess.Popen) -> None:
    if make.poll() is not None:
        return
    os.killpg(make.pid, signal.SIGTERM)
    try:
        make.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(make.pid, signal.SIGKILL)
        make.wait()
