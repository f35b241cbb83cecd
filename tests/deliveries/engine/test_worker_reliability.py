"""Real worker processes, real Redis, a real receiver on 127.0.0.1: nothing is lost."""

import os
import shutil
import signal
import socket
import subprocess
from collections import Counter

import pytest
from django.db.models import Q

from deliveries.engine.emit import emit
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_event_type, make_webhook
from tests.support.processes import kill, stop, wait_for
from webhooks.retry_policy import schedule

pytestmark = pytest.mark.worker

# Succeeded, or failed with no retry left: the sender is done with it.
SETTLED = Q(status="success") | Q(status="failed", next_attempt_at__isnull=True)


def unsettled() -> str:
    """What is not settled, for an assertion message: counts by status and lease."""
    from django.db.models import Count, Max, Min

    rows = (
        Delivery.objects.exclude(SETTLED)
        .values("status", "webhook__health")
        .annotate(n=Count("id"), first=Min("next_attempt_at"), last=Max("next_attempt_at"))
    )
    return f"unsettled: {list(rows)}\n"


def all_terminal(expected: int):
    def check():
        return Delivery.objects.filter(SETTLED).count() == expected

    return check


def test_500_twice_then_200_ends_in_success_after_three_attempts(
    receiver, compressed_retries, start_workers
):
    event_type = make_event_type(name="license.assigned")
    make_webhook(url=receiver.url + "/codes/500,500,200", event_types=[event_type])
    worker = start_workers()
    emit("license.assigned", {"license": "L-1"})
    assert wait_for(all_terminal(1), timeout=30), stop(worker)
    delivery = Delivery.objects.get()
    assert delivery.status == "success"
    attempts = list(delivery.attempts.order_by("attempted_at", "id"))
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.response_code for a in attempts] == [500, 500, 200]
    assert [a.trigger for a in attempts] == ["automatic"] * 3
    assert len(receiver.received()) == 3


def test_a_refusing_receiver_is_retried_on_schedule_then_failed(compressed_retries, start_workers):
    event_type = make_event_type(name="license.assigned")
    make_webhook(url="http://127.0.0.1:9/hooks", event_types=[event_type])
    worker = start_workers()
    emit("license.assigned", {})
    assert wait_for(all_terminal(1), timeout=30), stop(worker)
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.last_failure_reason == "connection_refused"
    attempts = list(delivery.attempts.order_by("number"))
    assert len(attempts) == 4  # the first try and 3 retries
    assert {a.failure_reason for a in attempts} == {"connection_refused"}
    gaps = [
        (b.attempted_at - a.attempted_at).total_seconds()
        for a, b in zip(attempts, attempts[1:], strict=False)
    ]
    for gap, nominal in zip(gaps, schedule(3, 3), strict=True):
        # Jitter shortens a delay by up to 20%; the dispatcher adds up to its interval.
        assert nominal * 0.8 - 0.05 <= gap <= nominal + 1.5, (gaps, schedule(3, 3))


def test_a_slow_drip_receiver_times_out_in_the_worker(receiver, start_workers, transactional_db):
    event_type = make_event_type(name="license.assigned")
    make_webhook(
        url=receiver.url + "/drip", event_types=[event_type], timeout_seconds=2, max_retries=0
    )
    worker = start_workers()
    emit("license.assigned", {})
    assert wait_for(all_terminal(1), timeout=20), stop(worker)
    attempt = DeliveryAttempt.objects.get()
    assert attempt.failure_reason == "timeout"
    assert attempt.duration_ms < 4000


def test_a_killed_worker_loses_nothing(receiver, start_workers, transactional_db, capsys):
    event_type = make_event_type(name="license.assigned")
    make_webhook(url=receiver.url + "/sleep", event_types=[event_type], timeout_seconds=2)
    first = start_workers(name="first")
    for n in range(500):
        emit("license.assigned", {"n": n})
    assert wait_for(lambda: len(receiver.received()) >= 100, timeout=60), stop(first)
    kill(first, signal.SIGKILL)
    assert Delivery.objects.filter(SETTLED).count() < 500, "killed too late"

    second = start_workers(name="second")
    assert wait_for(all_terminal(500), timeout=120), stop(second)
    assert Delivery.objects.filter(status="success").count() == 500
    sent = Counter(r.headers["webhook-id"] for r in receiver.received())
    assert len(sent) == 500  # every delivery reached the receiver
    duplicates = sum(n - 1 for n in sent.values())
    with capsys.disabled():
        print(f"\nat-least-once after SIGKILL: 500 deliveries, {duplicates} duplicate sends")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, so it can be restarted without touching others."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed: apt-get install -y redis-server")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]

    def start():
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=tmp_path)
        assert wait_for(lambda: _listening(port), timeout=10)
        return process

    server = {"process": start(), "port": port, "start": start}
    yield server
    server["process"].terminate()
    server["process"].wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_redis_restart_in_the_middle_loses_nothing(receiver, start_workers, own_redis):
    event_type = make_event_type(name="license.assigned")
    make_webhook(url=receiver.url + "/sleep", event_types=[event_type], timeout_seconds=2)
    broker = f"redis://127.0.0.1:{own_redis['port']}/0"
    worker = start_workers({"CELERY_BROKER_URL": broker})
    for n in range(200):
        emit("license.assigned", {"n": n})
    assert wait_for(lambda: len(receiver.received()) >= 30, timeout=60), stop(worker)

    own_redis["process"].kill()
    own_redis["process"].wait()
    for n in range(200, 300):  # events keep arriving while the broker is down
        emit("license.assigned", {"n": n})
    own_redis["process"] = own_redis["start"]()

    # Now and then kombu's Redis transport crashes the worker's consumer when the
    # connection drops ("Unrecoverable error: ... 'NoneType' object has no attribute
    # 'hostname'") and the worker exits; a process manager starts it again, as here.
    # What must hold either way: no delivery is lost.
    def settled_or_restarted():
        nonlocal worker
        if worker.poll() is not None:
            print("the worker exited when Redis went away; starting another")
            worker = start_workers({"CELERY_BROKER_URL": broker}, name="worker-2")
        return all_terminal(300)()

    settled = wait_for(settled_or_restarted, timeout=120)
    assert settled, unsettled() + stop(worker).split("worker: Warm shutdown")[0][-3000:]
    assert Delivery.objects.filter(status="success").count() == 300
    assert os.path.exists(worker.log_path)
