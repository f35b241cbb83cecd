"""Live triggers with a real worker, beat and Redis: a trigger is a row, not a message
waiting in the broker, so a broker outage loses nothing and a delay longer than the
broker's visibility timeout sends once."""

import shutil
import socket
import subprocess
import time

import pytest
from django.utils import timezone

from campaigns.models import LiveTrigger, Profile
from tests.campaigns.sending.test_live import live_campaign
from tests.factories import make_webhook
from tests.support.processes import stop, wait_for
from webhooks.models import ApiKey

pytestmark = pytest.mark.worker

# Beat's dispatcher every second instead of every 15.
FAST_BEAT = {"CAMPAIGNS_DISPATCH_INTERVAL": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, to stop and start again."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed: apt-get install -y redis-server")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
    servers = []

    class Server:
        url = f"redis://127.0.0.1:{port}/0"

        def start(self):
            servers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=tmp_path))
            assert wait_for(lambda: listening(port), timeout=10)

        def stop(self):
            servers[-1].terminate()
            servers[-1].wait(timeout=10)
            assert not listening(port)

    yield Server()
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture
def web_broker(monkeypatch):
    """Point this process's Celery producer (the web side of the events API) at another
    broker. Celery reads CELERY_BROKER_URL from the environment before its settings."""
    from config.celery import app

    def forget_connections():
        # Not closed: kombu shares each URL's pool process-wide, and others use it.
        app._pool = None
        app.amqp._producer_pool = None

    def use(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        forget_connections()

    yield use
    monkeypatch.undo()
    forget_connections()


def post_event(client, key: str):
    return client.post(
        "/api/v1/events",
        {"event_type": "Added To Cart", "identity": "ann", "payload": {"sku": "TENT-2"}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )


def test_an_event_recorded_while_the_broker_is_down_is_sent_once_it_is_back(
    client, receiver, start_workers, private_redis, web_broker, caplog
):
    Profile.objects.create(identity="ann", properties={"country": "Canada"})
    live_campaign(webhook=make_webhook(url=receiver.url + "/rescue"))  # no delay
    _, key = ApiKey.issue("Shop")
    private_redis.start()
    private_redis.stop()
    web_broker(private_redis.url)

    started = time.monotonic()
    response = post_event(client, key)

    assert response.status_code == 202, response.content
    assert time.monotonic() - started < 10
    assert "Could not wake the live dispatcher" in caplog.text  # the wake-up was lost
    assert LiveTrigger.objects.get().status == "pending"  # the trigger was not

    private_redis.start()
    worker = start_workers({"CELERY_BROKER_URL": private_redis.url, **FAST_BEAT})
    assert wait_for(lambda: receiver.received("/rescue"), timeout=60), stop(worker)
    time.sleep(3)  # a second send, if there were one, would come within beat's ticks
    assert len(receiver.received("/rescue")) == 1, stop(worker)
    assert LiveTrigger.objects.get().status == "ran"


def test_a_delay_longer_than_the_visibility_timeout_sends_once_at_its_time(
    client, receiver, start_workers
):
    Profile.objects.create(identity="ann", properties={"country": "Canada"})
    live_campaign(webhook=make_webhook(url=receiver.url + "/rescue"), trigger_delay_minutes=2)
    _, key = ApiKey.issue("Shop")
    # Unacknowledged messages go back to the queue after 5 s: a countdown of 2 minutes
    # would be handed out again and again.
    worker = start_workers({"CELERY_BROKER_VISIBILITY_TIMEOUT": "5", **FAST_BEAT})

    assert post_event(client, key).status_code == 202
    due_at = LiveTrigger.objects.get().due_at

    def seconds_to_due() -> float:
        return (due_at - timezone.now()).total_seconds()

    assert not wait_for(lambda: receiver.received("/rescue"), timeout=seconds_to_due() - 1)
    assert wait_for(lambda: receiver.received("/rescue"), timeout=20), stop(worker)
    arrived = timezone.now()
    time.sleep(10)  # two visibility timeouts: a redelivered copy would send again
    assert len(receiver.received("/rescue")) == 1, stop(worker)
    assert 0 <= (arrived - due_at).total_seconds() < 15
    assert LiveTrigger.objects.get().status == "ran"
