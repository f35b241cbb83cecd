"""bench_hosts runs the portal as several hosts in network namespaces, kills one worker
host and cuts another's link mid-send, and proves every delivery settled, none lost and
none sent by two hosts at once (``RUN_HOSTS=1``, as root); and the rules of its verdict,
checked on receipts made up here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deliveries.bench.hosts.receiver import Receipt
from deliveries.bench.hosts.traffic import FaultTimes
from deliveries.bench.hosts.verdict import Suspects, judge, overlaps

ROOT = Path(__file__).resolve().parents[3]
WEB, KILLED, CUT = "10.203.0.11", "10.203.0.21", "10.203.0.22"
SUSPECTS = Suspects(killed=KILLED, cut=CUT, before=10, after=90)


def receipt(delivery_id: int, source: str, arrived: float, took: float = 0.01) -> Receipt:
    return Receipt(f"msg_{delivery_id}", source, 9001, arrived, arrived + took, True)


def test_a_receipt_reads_back_from_its_log_line():
    made = Receipt("msg_7", KILLED, 9002, 100.25, 100.5, False)
    assert Receipt.parse(made.line()) == made


def test_two_hosts_in_flight_at_once_overlap():
    assert overlaps([receipt(1, KILLED, 100.0), receipt(1, CUT, 100.005)])


def test_one_host_after_another_does_not_overlap():
    assert not overlaps([receipt(1, KILLED, 100.0), receipt(1, CUT, 100.02)])


def test_one_host_twice_at_once_is_no_overlap_of_hosts():
    copies = [receipt(1, CUT, 100.0), receipt(1, CUT, 100.005)]
    assert not overlaps(copies)
    assert overlaps(copies, same_host=True)


def test_the_verdict_counts_lost_and_duplicated_and_puts_each_down_to_its_fault():
    rows = [(pk, 1, "success", True) for pk in (1, 2, 3, 4)] + [(5, 2, "failed", False)]
    receipts = [
        receipt(1, CUT, 100),
        receipt(2, KILLED, 150.4),  # written before the kill: never recorded, sent again
        receipt(2, CUT, 190),
        receipt(3, CUT, 205),  # around the cut
        receipt(3, KILLED, 300),
        receipt(4, CUT, 400),  # long after both: nothing explains it
        receipt(4, CUT, 500),
    ]
    faults = FaultTimes(killed_at=150, cut_from=200, cut_until=230)

    verdict = judge(rows, {1, 2, 3}, {1, 2}, 4, receipts, faults, SUSPECTS)

    assert verdict.settled == 4 and verdict.deliveries == 5
    assert verdict.never_received == 1  # delivery 5
    assert verdict.events_missing == 1  # event 3 was accepted and never written
    assert verdict.deliveries_missing == 3  # event 2 has one delivery of four
    assert verdict.lost == 5
    assert verdict.duplicated == 3 and verdict.extra_requests == 3
    assert verdict.duplicates_by_cause == {"kill": 1, "cut": 1, "other": 1}
    assert verdict.unexplained[0].startswith("msg_4: ")
    assert verdict.overlapping == 0 and not verdict.passed


def last_figures(output: str) -> dict[str, str]:
    """The last line's ``name=value`` pairs."""
    return dict(re.findall(r"(\w+)=(\S+)", output.strip().splitlines()[-1]))


@pytest.mark.hosts
@pytest.mark.skipif(
    os.environ.get("RUN_HOSTS") != "1",
    reason="makes Linux network namespaces (root, iproute2) and takes minutes: RUN_HOSTS=1",
)
@pytest.mark.timeout(900)
def test_several_hosts_settle_every_delivery_with_none_lost_or_sent_twice_at_once():
    # The run's own scratch database and Redis database, not the tests'.
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/wp_hosts",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/11",
        "SECRET_KEY": "several-hosts-test-secret-key-0123456789",
    }
    command = [
        sys.executable, "manage.py", "bench_hosts", "--events", "2000",
        "--cut-seconds", "5", "--time-limit", "600",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=700)
    output = done.stdout + done.stderr

    assert done.returncode == 0, output[-5000:]
    figures = last_figures(done.stdout)
    assert figures["lost"] == "0" and figures["overlapping"] == "0", output[-5000:]
    settled, deliveries = figures["settled"].split("/")
    assert settled == deliveries == "4000"
    assert "work1 killed: its " in output and "work2's link up again" in output
    assert "duplicates: " in output and "other 0" in output, output[-5000:]
