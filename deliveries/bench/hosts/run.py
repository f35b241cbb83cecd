"""The several-hosts run, start to end: ``run(options, say)`` returns its ``Outcome``.

1. Under a lock (one run at a time), remove what a crashed run left, make and migrate
   the scratch database, delete the rows of earlier runs, purge the broker, and create
   the webhooks (one per receiver port) and an API key.
2. Make the network (``network.py``) and start the forwarder, the receivers, two web
   hosts, two worker hosts, a beat host and a second beat on the second worker host
   (``roles.py``).
3. Post the events through both web servers; when a share of them is in, kill the first
   worker host outright; later, cut the second one's link for a while (``traffic.py``).
4. Wait until every delivery is settled, stop everything, and judge (``verdict.py``).

Whatever happens (an error, Ctrl-C, SIGTERM, the time limit), every process, namespace
and link is removed before it returns or raises.
"""

import fcntl
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from deliveries.bench import processes
from deliveries.bench.hosts import network, portal, report
from deliveries.bench.hosts.network import Host, Network
from deliveries.bench.hosts.receiver import read_log
from deliveries.bench.hosts.report import Outcome
from deliveries.bench.hosts.roles import (
    WEB_PORT,
    Fleet,
    host_environment,
    wait_healthy,
    wait_listening,
    worker_name,
)
from deliveries.bench.hosts.traffic import Faults, Posted, Progress, post_events
from deliveries.bench.hosts.verdict import Suspects, fault_evidence, judge

RECEIVER_PORT = 9001
# The hosts and their last octet: the killed worker host, the one whose link is cut (it
# also runs the second beat), and the rest.
LAYOUT = {"web1": 11, "web2": 12, "work1": 21, "work2": 22, "beat": 31, "recv": 41}
KILLED, CUT, SECOND_BEAT = "work1", "work2", "work2"
# How long a TCP connection may take to recover after its link comes back (the
# retransmission timer has backed off to tens of seconds during the cut).
RECOVERY_SECONDS = 60


@dataclass
class Options:
    events: int = 20_000
    webhooks: int = 2
    clients: int = 4
    web_workers: int = 2
    web_threads: int = 4
    concurrency: int = 2
    kill_at: float = 1 / 3
    cut_at: float = 2 / 3
    cut_seconds: float = 30
    restart_after: float | None = None
    retry_every: int = 10
    max_retries: int = 5
    receiver_delay: float = 0.01
    subnet: str = "10.203.0"
    time_limit: float = 900
    keep: bool = False


class RunTimeout(Exception):
    """The run went past its time limit."""


def layout(subnet: str) -> Network:
    return Network(subnet, tuple(Host(name, f"{subnet}.{n}") for name, n in LAYOUT.items()))


def run(options: Options, say: Callable[[str], None]) -> Outcome:
    """Run it (as root, on PostgreSQL and Redis); raises ``RunTimeout``, or
    ``KeyboardInterrupt`` on Ctrl-C or SIGTERM, after cleaning up."""
    logs = Path(settings.VAR_DIR) / "hosts"
    net = layout(options.subnet)
    with _alone(logs.with_suffix(".lock")), _time_limit(options.time_limit):
        left = network.remove_leftovers()
        if left:
            say(f"removed what an earlier run left: {', '.join(left)}")
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        hooks, raw_key = _prepare(net, options, say)
        fleet = Fleet(_environment(net), logs)
        try:
            network.create(net)
            _start(fleet, net, options, logs, say)
            outcome = _load_and_judge(fleet, net, options, hooks, raw_key, logs, say)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # nothing may cut the cleanup short
            _stop(fleet, net)
        portal.purge_broker()  # the wake-ups no worker took (hundreds, under this load)
        if outcome.verdict.passed and not options.keep:
            portal.clean()
        return outcome


@contextmanager
def _alone(lock_path: Path) -> Iterator[None]:
    """Refuse to run beside another run (it would remove this one's namespaces)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another several-hosts run holds {lock_path}") from None
        yield


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ``RunTimeout`` in this (the main) thread after ``seconds``, and turn SIGTERM
    into ``KeyboardInterrupt``, so either ends the run through its cleanup."""

    def expire(signum, frame):
        raise RunTimeout(f"the run took more than {seconds:g} s")

    previous = {
        signal.SIGALRM: signal.signal(signal.SIGALRM, expire),
        signal.SIGTERM: signal.signal(signal.SIGTERM, signal.default_int_handler),
    }
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _prepare(net: Network, options: Options, say) -> tuple[list[int], str]:
    if portal.ensure_database():
        say("created the database")
    portal.clean()
    portal.purge_broker()
    recv = net.host("recv")
    urls = [f"http://{recv.address}:{RECEIVER_PORT + n}/hook" for n in range(options.webhooks)]
    hooks = portal.create_webhooks(urls, options.retry_every, options.max_retries)
    return hooks, portal.issue_key()


def _environment(net: Network) -> dict[str, str]:
    database_url, broker_url = portal.forwarded_urls(net.gateway)
    webs = [net.host("web1"), net.host("web2")]
    return host_environment(database_url, broker_url, webs, net.host("recv"))


def _start(fleet: Fleet, net: Network, options: Options, logs: Path, say) -> None:
    """Start every process and wait until each is ready."""
    routes = {
        portal.database_target()[1]: portal.database_target(),
        portal.broker_target()[1]: portal.broker_target(),
    }
    forwarder = fleet.forwarder(net.gateway, routes)
    for port in routes:
        wait_listening(net.gateway, port, 30, forwarder)
    recv = net.host("recv")
    ports = [RECEIVER_PORT + n for n in range(options.webhooks)]
    receivers = fleet.receivers(recv, ports, options.receiver_delay, logs / "receivers.log")
    for port in ports:
        wait_listening(recv.address, port, 30, receivers)
    webs = [
        fleet.web(net.host(name), options.web_workers, options.web_threads)
        for name in ("web1", "web2")
    ]
    workers = [net.host(KILLED), net.host(CUT)]
    for host in workers:
        fleet.worker(host, options.concurrency)
    for started in webs:
        wait_healthy(started.host, 120, started)
    processes.wait_ready([worker_name(host) for host in workers], timeout=120)
    fleet.beat(net.host("beat"))
    fleet.beat(net.host(SECOND_BEAT))
    say(
        f"hosts on {net.cidr} (bridge {network.BRIDGE}), each reaching PostgreSQL and Redis "
        f"only through the forwarder on {net.gateway}:{','.join(map(str, routes))}: "
        + "; ".join(_describe(net, options))
    )


def _describe(net: Network, options: Options) -> list[str]:
    roles = {
        "web1": f"gunicorn {options.web_workers}x{options.web_threads}",
        "web2": f"gunicorn {options.web_workers}x{options.web_threads}",
        KILLED: f"worker x{options.concurrency} (killed)",
        CUT: f"worker x{options.concurrency} + second beat (link cut)",
        "beat": "beat",
        "recv": f"{options.webhooks} receivers",
    }
    return [f"{host.name} {host.address} {roles[host.name]}" for host in net.hosts]


def _load_and_judge(
    fleet: Fleet,
    net: Network,
    options: Options,
    hooks: list[int],
    raw_key: str,
    logs: Path,
    say: Callable[[str], None],
) -> Outcome:
    """Post the events with the faults on their marks, wait until every delivery is
    settled, stop the hosts and judge."""
    progress = Progress()
    started = time.time()

    def timed(line: str) -> None:
        say(f"t={time.time() - started:6.1f} s  {line}")

    killed, cut = net.host(KILLED), net.host(CUT)
    faults = Faults(
        progress,
        kill_after=int(options.events * options.kill_at),
        cut_after=int(options.events * options.cut_at),
        cut_seconds=options.cut_seconds,
        kill=lambda: fleet.kill(killed),
        connect=lambda up: network.set_link(cut, up),
        restart=lambda: fleet.restart(killed),
        restart_after=options.restart_after,
        names=(KILLED, CUT),
        say=timed,
    )
    say(
        f"posting {options.events} events ({options.webhooks} webhooks each) from "
        f"{options.clients} threads through web1 and web2; {KILLED} is killed at "
        f"{options.kill_at:.0%} "
        + (
            f"and started again {options.restart_after:g} s later"
            if options.restart_after is not None
            else "and not started again"
        )
        + f", {CUT}'s link cut at {options.cut_at:.0%} for {options.cut_seconds:g} s"
    )
    faults.start()
    try:
        servers = [(net.host(name).address, WEB_PORT) for name in ("web1", "web2")]
        posted = post_events(
            servers, raw_key, options.events, options.clients, portal.EVENT_TYPE,
            uuid.uuid4().hex[:8], progress,
        )  # fmt: skip
        timed(report.posted_line(posted))
        faults.join()
        if faults.error:
            raise faults.error
        settled_at = _wait_settled(hooks, timed)
    finally:
        faults.stop()
    timed("every delivery settled; stopping the hosts")
    _stop(fleet, net)
    return _judge(net, options, hooks, posted, faults, logs, settled_at - posted.started)


def _wait_settled(hooks: list[int], timed) -> float:
    """Poll until no delivery to ``hooks`` waits; the ``time.time()`` it was seen at (the
    run's time limit bounds the wait)."""
    last_said = time.monotonic()
    while left := portal.unsettled(hooks):
        if time.monotonic() - last_said >= 15:
            timed(f"waiting: {left} deliveries not settled")
            last_said = time.monotonic()
        time.sleep(0.5)
    return time.time()


def _judge(
    net: Network,
    options: Options,
    hooks: list[int],
    posted: Posted,
    faults: Faults,
    logs: Path,
    seconds: float,
) -> Outcome:
    """Judge the run from the receivers' log and the database; the outcome with its
    lines."""
    receipts = read_log(logs / "receivers.log")
    suspects = Suspects(
        killed=net.host(KILLED).address,
        cut=net.host(CUT).address,
        before=portal.TIMEOUT,  # a send lasts at most this long
        after=settings.DELIVERIES_LEASE_MARGIN + RECOVERY_SECONDS,
    )
    verdict = judge(
        portal.deliveries(hooks), posted.accepted, portal.written_events(), options.webhooks,
        receipts, faults.times, suspects,
    )  # fmt: skip
    # Every event not accepted, whatever stopped it (an answer, a client's error).
    verdict.events_refused = options.events - len(posted.accepted)
    names = {host.address: host.name for host in net.hosts}
    lines = [
        report.receivers_line(receipts, names),
        *(f"faults: {line}" for line in fault_evidence(receipts, faults.times, suspects)),
        report.attempts_line(portal.attempt_summary(hooks)),
        *report.verdict_lines(verdict, len(posted.accepted)),
        report.beats_line(logs, ["beat", SECOND_BEAT]),
        report.workers_line(logs, [KILLED, CUT]),
        f"time: {seconds:.1f} s from the first event posted to the last delivery settled",
    ]
    return Outcome(verdict, seconds, lines)


def _stop(fleet: Fleet, net: Network) -> None:
    """Stop the hosts, then the receivers (so they log every request), then the
    forwarder; remove the network. Safe to call twice."""
    recv = net.host("recv")
    fleet.stop([host for host in net.hosts if host != recv])
    fleet.stop([recv])
    fleet.stop_root()
    network.remove(net)
