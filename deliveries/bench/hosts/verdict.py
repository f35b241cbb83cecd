"""What the several-hosts run proves, from the database and the receivers' log.

- settled: every delivery succeeded, or failed with no retry left;
- lost: accepted events that were not written, deliveries an event should have and does
  not, and deliveries no receiver ever saw (the receivers answer 200 to everything, so a
  delivery settled without reaching one would be lost);
- duplicated: deliveries received more than once (at-least-once delivery after a host
  dies mid-send), each put down to the fault that explains it, or to nothing;
- overlapping: deliveries sent by two hosts at once: two requests with the same
  ``webhook-id`` from different addresses whose times in flight at the receivers overlap.

Everything here is plain data in, figures out: the run gathers the data.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from deliveries.bench.hosts.receiver import Receipt
from deliveries.bench.hosts.traffic import FaultTimes

# What a killed host wrote to its sockets before it died still reaches the receivers
# (the kernel sends it): for this long after the kill, a request is still the dead host's.
KILL_TAIL = 1.0


@dataclass(frozen=True)
class Suspects:
    """The hosts the faults hit (their addresses) and how far around each fault a
    request counts as caught by it (seconds)."""

    killed: str
    cut: str
    before: float  # a send may have started this long before the fault (the timeout)
    after: float  # and arrive this long after the link is back (TCP retransmission)


@dataclass
class Verdict:
    deliveries: int = 0
    settled: int = 0
    events_refused: int = 0
    events_missing: int = 0
    deliveries_missing: int = 0
    never_received: int = 0
    duplicated: int = 0
    extra_requests: int = 0
    duplicates_by_cause: dict[str, int] = field(default_factory=dict)
    overlapping: int = 0
    overlapping_same_host: int = 0
    unexplained: list[str] = field(default_factory=list)  # a few duplicates, described

    @property
    def lost(self) -> int:
        return self.events_missing + self.deliveries_missing + self.never_received

    @property
    def passed(self) -> bool:
        return (
            not self.lost
            and not self.overlapping
            and not self.events_refused
            and self.settled == self.deliveries
        )


def by_webhook_id(receipts: list[Receipt]) -> dict[str, list[Receipt]]:
    """The receipts of each ``webhook-id``, in order of arrival."""
    grouped: dict[str, list[Receipt]] = defaultdict(list)
    for receipt in sorted(receipts, key=lambda r: r.arrived):
        grouped[receipt.webhook_id].append(receipt)
    return grouped


def overlaps(receipts: list[Receipt], same_host: bool = False) -> bool:
    """Whether two of ``receipts`` (one delivery's, by arrival) were in flight at once,
    from different addresses (or, ``same_host``, from the same one)."""
    for i, first in enumerate(receipts):
        for second in receipts[i + 1 :]:
            if second.arrived >= first.responded:
                break  # later ones arrived later still
            if (first.source == second.source) == same_host:
                return True
    return False


def cause(receipts: list[Receipt], faults: FaultTimes, suspects: Suspects) -> str:
    """Which fault explains a delivery received more than once: ``kill`` (the killed host
    sent it shortly before it died, so it was never recorded), ``cut`` (the cut host sent
    it around the cut), or ``other``."""
    if faults.killed_at:
        start, end = faults.killed_at - suspects.before, faults.killed_at + KILL_TAIL
        for receipt in receipts[:-1]:
            if receipt.source == suspects.killed and start <= receipt.arrived <= end:
                return "kill"
    for receipt in receipts:
        if receipt.source == suspects.cut and faults.cut_from:
            start = faults.cut_from - suspects.before
            if start <= receipt.arrived <= faults.cut_until + suspects.after:
                return "cut"
    return "other"


def judge(
    rows: list[tuple[int, int, str, bool]],
    accepted: set[int],
    written: set[int],
    webhooks: int,
    receipts: list[Receipt],
    faults: FaultTimes,
    suspects: Suspects,
) -> Verdict:
    """The verdict on deliveries ``rows`` (``(id, event id, status, settled)``) of the
    ``accepted`` events, given the events ``written`` and each event's ``webhooks``."""
    verdict = Verdict(deliveries=len(rows), settled=sum(1 for *_, settled in rows if settled))
    verdict.events_missing = len(accepted - written)
    per_event = Counter(event for _, event, _, _ in rows)
    verdict.deliveries_missing = sum(max(0, webhooks - per_event[e]) for e in accepted & written)
    received = by_webhook_id(receipts)
    verdict.never_received = sum(1 for pk, *_ in rows if f"msg_{pk}" not in received)
    causes: Counter = Counter()
    for webhook_id, copies in received.items():
        if overlaps(copies):
            verdict.overlapping += 1
        if overlaps(copies, same_host=True):
            verdict.overlapping_same_host += 1
        if len(copies) > 1:
            verdict.duplicated += 1
            verdict.extra_requests += len(copies) - 1
            why = cause(copies, faults, suspects)
            causes[why] += 1
            if why == "other" and len(verdict.unexplained) < 5:
                verdict.unexplained.append(describe(webhook_id, copies))
    verdict.duplicates_by_cause = {name: causes[name] for name in ("kill", "cut", "other")}
    return verdict


def describe(webhook_id: str, copies: list[Receipt]) -> str:
    """One delivery's receipts on a line: from where, when, for how long."""
    seen = ", ".join(
        f"{r.source} at {r.arrived:.3f} for {(r.responded - r.arrived) * 1000:.0f} ms"
        f"{'' if r.answered else ' (sender gone)'}"
        for r in copies
    )
    return f"{webhook_id}: {seen}"


def fault_evidence(receipts: list[Receipt], faults: FaultTimes, suspects: Suspects) -> list[str]:
    """Lines showing the faults hit hosts at work: what the killed host was sending when
    it died, and that nothing came from the cut host while its link was down."""
    lines = []
    if faults.killed_at:
        mine = [r for r in receipts if r.source == suspects.killed]
        last_second = sum(1 for r in mine if faults.killed_at - 1 <= r.arrived <= faults.killed_at)
        in_flight = sum(1 for r in mine if r.arrived <= faults.killed_at < r.responded)
        lines.append(
            f"the killed host's requests in its last second: {last_second}, in flight "
            f"when it died: {in_flight}"
        )
    if faults.cut_from:
        during = sum(
            1
            for r in receipts
            if r.source == suspects.cut and faults.cut_from + 1 < r.arrived < faults.cut_until
        )
        lines.append(f"the cut host's requests that arrived while its link was down: {during}")
    return lines
