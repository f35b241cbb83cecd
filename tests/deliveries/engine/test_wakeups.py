"""Wake-ups: emits coalesce into one queued drain, a busy drain holds the flag so emits
publish nothing, the drain's last claim clears it so what commits later wakes a new
drain, and a backlog calls for help without piling drains up in the broker."""

import pytest

from deliveries.engine import drain as drain_module
from deliveries.engine import wakeups
from deliveries.engine.drain import drain
from deliveries.engine.shared_redis import client as redis_client
from deliveries.models import Delivery, DeliveryStatus
from tests.factories import make_due_deliveries, make_webhook


@pytest.fixture
def broker():
    """This test process's Redis database, with no wake-up flag and no queued task."""
    from config.celery import app

    redis = redis_client()
    if redis is None:
        pytest.skip("the wake-up flag lives in the broker's Redis")
    queue = app.conf.task_default_queue
    redis.delete(wakeups.FLAG, queue)
    yield redis
    redis.delete(wakeups.FLAG, queue)


def queued(redis) -> int:
    """Tasks waiting in the broker's queue (no worker runs here: every wake-up stays)."""
    from config.celery import app

    return redis.llen(app.conf.task_default_queue)


class Claims:
    """Every claim a drain made: what preceded it ("hold" or "clear"), how many it asked
    for and how many it got; ``after`` runs after each (a test's way to commit mid-drain)."""

    def __init__(self):
        self.made: list[tuple[str, int, int]] = []
        self.before: list[str] = []
        self.after = lambda made: None

    def preceded_by(self) -> set[str]:
        return {before for before, _, _ in self.made}


@pytest.fixture
def claims(monkeypatch, broker):
    seen = Claims()
    real_claim, real_hold, real_clear = drain_module.claim_fair, wakeups.hold, wakeups.clear

    def hold():
        seen.before.append("hold")
        real_hold()

    def clear():
        seen.before.append("clear")
        real_clear()

    def claim_fair(free, endpoints=None):
        claimed = real_claim(free, endpoints)
        before = seen.before.pop() if len(seen.before) == 1 else f"{seen.before}"
        seen.before.clear()
        seen.made.append((before, free, len(claimed.deliveries)))
        seen.after(seen.made)
        return claimed

    monkeypatch.setattr(wakeups, "hold", hold)
    monkeypatch.setattr(wakeups, "clear", clear)
    monkeypatch.setattr(drain_module, "claim_fair", claim_fair)
    return seen


def test_an_emit_wakes_one_drain_and_the_next_emits_coalesce_into_it(broker):
    for _ in range(5):
        wakeups.wake()
    assert queued(broker) == 1


def test_while_a_busy_drain_holds_the_flag_emits_publish_nothing(broker):
    wakeups.hold()
    for _ in range(5):
        wakeups.wake()
    assert queued(broker) == 0
    assert 0 < broker.pttl(wakeups.FLAG) <= wakeups.FLAG_TTL_MS


def test_a_drain_too_busy_to_claim_lets_the_flag_lapse_and_the_next_emit_wakes_help(
    broker,
):
    wakeups.hold()
    wakeups.wake()
    assert queued(broker) == 0
    broker.pexpire(wakeups.FLAG, 1)  # as if the drain had not claimed for FLAG_TTL_MS
    while broker.exists(wakeups.FLAG):
        pass
    wakeups.wake()
    assert queued(broker) == 1


def test_after_the_flag_is_cleared_the_next_emit_wakes_a_drain(broker):
    wakeups.hold()
    wakeups.clear()
    wakeups.wake()
    assert queued(broker) == 1


def test_a_backlog_calls_for_one_drain_while_none_waits_in_the_queue(broker):
    wakeups.hold()  # the flag does not stop a call for help: it is the drain's own
    for _ in range(5):
        wakeups.help_with_backlog()
    assert queued(broker) == 1
    broker.lpop("celery")  # a free worker took it
    wakeups.help_with_backlog()
    wakeups.help_with_backlog()
    assert queued(broker) == 1


def test_without_redis_a_backlog_calls_for_help_at_most_once_a_flag_lifetime(monkeypatch):
    published = []
    monkeypatch.setattr(wakeups, "_redis", lambda: None)
    monkeypatch.setattr(wakeups, "_publish", lambda: published.append(1))
    monkeypatch.setattr(wakeups, "_last_help", -float("inf"))
    for _ in range(5):
        wakeups.help_with_backlog()
    assert len(published) == 1
    wakeups.wake()
    wakeups.wake()  # no flag to coalesce on: every emit publishes, as before
    assert len(published) == 3


def test_a_drain_holds_the_flag_before_every_claim_but_its_last(
    transactional_db, receiver, claims, broker, settings
):
    settings.DELIVERIES_SEND_CONCURRENCY = 8  # claims of up to 16: none gets all it asks
    make_due_deliveries(make_webhook(url=receiver.url + "/sleep"), 12)
    woken_while_held = []

    def emit_after(made):
        if made[-1][0] == "hold":
            wakeups.wake()  # an emit's wake-up while the drain is busy
            woken_while_held.append(queued(broker))

    claims.after = emit_after

    assert drain(time_budget=30) == (12, False)
    assert claims.made[0] == ("hold", 16, 12)
    # A claim came up empty and nothing is in flight: the flag is cleared, one last claim.
    assert claims.made[-2][::2] == ("hold", 0) and claims.made[-1] == ("clear", 16, 0)
    assert claims.preceded_by() == {"clear", "hold"}  # one of them before every claim
    assert woken_while_held and set(woken_while_held) == {0}
    assert queued(broker) == 0


def test_a_delivery_committed_while_a_drain_is_busy_is_sent_by_that_drain(
    transactional_db, receiver, claims, broker, settings
):
    settings.DELIVERIES_SEND_CONCURRENCY = 8
    make_due_deliveries(make_webhook(url=receiver.url + "/sleep"), 12)
    late: list[Delivery] = []

    def commit_once_busy(made):
        if made[-1][0] == "hold" and not late:
            # Another endpoint: the drain's list of endpoints must not hide it.
            late.extend(make_due_deliveries(make_webhook(url=receiver.url + "/late"), 1))
            wakeups.wake()  # the emit's on_commit

    claims.after = commit_once_busy

    assert drain(time_budget=30) == (13, False)
    assert late and Delivery.objects.get(pk=late[0].pk).status == DeliveryStatus.SUCCESS
    assert queued(broker) == 0  # nobody else was woken for it


def test_a_delivery_committed_right_after_the_last_claim_wakes_a_new_drain(
    transactional_db, receiver, claims, broker, settings
):
    settings.DELIVERIES_SEND_CONCURRENCY = 8
    make_due_deliveries(make_webhook(url=receiver.url + "/sleep"), 6)
    late: list[Delivery] = []

    def commit_after_last(made):
        if len(made) > 1 and made[-1][::2] == ("clear", 0) and not late:
            late.extend(make_due_deliveries(make_webhook(url=receiver.url + "/late"), 1))
            wakeups.wake()  # the emit's on_commit

    claims.after = commit_after_last

    assert drain(time_budget=30) == (6, False)
    assert late and queued(broker) == 1  # the new drain that will send it
    assert drain(time_budget=30) == (1, False)  # what that drain does
    assert Delivery.objects.get(pk=late[0].pk).status == DeliveryStatus.SUCCESS


def test_a_backlog_wakes_a_bounded_number_of_drains(
    transactional_db, receiver, claims, broker, settings
):
    settings.DELIVERIES_SEND_CONCURRENCY = 4
    make_due_deliveries(make_webhook(url=receiver.url + "/ok"), 200)

    assert drain(time_budget=30) == (200, False)
    full_claims = [free for _, free, got in claims.made if got == free]
    assert len(full_claims) > 10  # each of them asked for help
    assert queued(broker) == 1  # one drain called to help, waiting for a free worker


def test_a_delivery_committed_between_an_empty_claim_and_the_last_is_sent_by_the_drain(
    transactional_db, receiver, claims, broker
):
    late: list[Delivery] = []

    def commit_after_first(made):
        if len(made) == 1:
            assert made[0][::2] == ("hold", 0)
            late.extend(make_due_deliveries(make_webhook(url=receiver.url + "/late"), 1))
            wakeups.wake()  # the flag is held: no drain published

    claims.after = commit_after_first

    assert drain(time_budget=30) == (1, False)
    assert [before for before, _, _ in claims.made] == ["hold", "clear", "hold", "clear"]
    assert Delivery.objects.get(pk=late[0].pk).status == DeliveryStatus.SUCCESS
    assert queued(broker) == 0
