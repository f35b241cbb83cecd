"""What the several-hosts run prints: a line per finding, and the figures last.

The hosts' logs (``<logs>/<host>-<role>.log``) say what the beats and workers did: how
often each beat sent the re-dispatch task, how often it ran and how many drains it
started, and how often ``config.supervise`` had to start a worker again.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from deliveries.bench.hosts.receiver import Receipt
from deliveries.bench.hosts.traffic import Posted
from deliveries.bench.hosts.verdict import Verdict
from deliveries.bench.throughput import percentiles

# Beat, each time it sends the re-dispatch task (config/settings.py's schedule).
DISPATCH_SENT = re.compile(r"Sending due task dispatch-due")
# A worker, each time the task runs and finds work (deliveries/engine/drain.py).
DISPATCH_RAN = re.compile(r"Task deliveries\.dispatch_due\[[^\]]+\] received")
DRAINS_STARTED = re.compile(r"dispatch_due: \d+ due, starting (\d+) drains")
RESTARTED = re.compile(r"supervise: .* exited with code")


@dataclass
class Outcome:
    verdict: Verdict
    seconds: float  # from the first event posted until every delivery settled
    lines: list[str] = field(default_factory=list)

    @property
    def deliveries_per_s(self) -> float:
        return self.verdict.deliveries / self.seconds if self.seconds > 0 else 0.0

    def last_line(self) -> str:
        v = self.verdict
        return (
            f"deliveries_per_s={self.deliveries_per_s:.1f} lost={v.lost} "
            f"duplicated={v.duplicated} overlapping={v.overlapping} "
            f"settled={v.settled}/{v.deliveries}"
        )


def posted_line(posted: Posted) -> str:
    p50, p95 = percentiles(posted.latencies_ms)
    rate = len(posted.accepted) / posted.seconds if posted.seconds else 0
    servers = ", ".join(f"{server} {n}" for server, n in posted.by_server.items())
    return (
        f"posted: {len(posted.accepted)} events in {posted.seconds:.1f} s ({rate:.0f}/s, "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms) through {servers}; refused {len(posted.refused)}"
    )


def receivers_line(receipts: list[Receipt], names: dict[str, str]) -> str:
    """How many requests came, from which host, over how long."""
    sources = Counter(names.get(r.source, r.source) for r in receipts)
    span = max(r.arrived for r in receipts) - min(r.arrived for r in receipts) if receipts else 0
    rate = len(receipts) / span if span else 0
    by_host = ", ".join(f"{name} {n}" for name, n in sorted(sources.items()))
    return f"receivers: {len(receipts)} requests over {span:.1f} s ({rate:.0f}/s): {by_host}"


def verdict_lines(verdict: Verdict, accepted: int) -> list[str]:
    v = verdict
    causes = ", ".join(f"{name} {n}" for name, n in v.duplicates_by_cause.items())
    return [
        f"events: {accepted} accepted, {v.events_refused} refused, {v.events_missing} not "
        f"written; deliveries missing {v.deliveries_missing}, never received {v.never_received}",
        f"settled: {v.settled} of {v.deliveries} deliveries",
        f"duplicates: {v.duplicated} deliveries received more than once ({v.extra_requests} "
        f"extra requests), put down to: {causes}",
        *(f"  unexplained: {line}" for line in v.unexplained),
        f"overlapping: {v.overlapping} sent by two hosts at once, "
        f"{v.overlapping_same_host} twice at once by one host",
    ]


def attempts_line(attempts: dict[str, int]) -> str:
    return "attempts: " + " ".join(f"{name}={n}" for name, n in sorted(attempts.items()))


def beats_line(logs: Path, beats: list[str]) -> str:
    """How often each beat (by host) sent the re-dispatch task."""
    sent = [f"{host}'s {len(DISPATCH_SENT.findall(_read(logs, host, 'beat')))}x" for host in beats]
    return f"beats: dispatch-due sent by {', '.join(sent)}"


def workers_line(logs: Path, workers: list[str]) -> str:
    """How often each worker host ran the re-dispatch task, the drains it started for due
    work, and how often its worker was started again."""
    parts = []
    for host in workers:
        text = _read(logs, host, "worker")
        drains = sum(int(n) for n in DRAINS_STARTED.findall(text))
        parts.append(
            f"{host} ran it {len(DISPATCH_RAN.findall(text))}x (starting {drains} drains), "
            f"restarted {len(RESTARTED.findall(text))}x"
        )
    return f"workers: {'; '.join(parts)}"


def _read(logs: Path, host: str, role: str) -> str:
    path = logs / f"{host}-{role}.log"
    return path.read_text(errors="replace") if path.exists() else ""
