"""Ordered delivery (``deliveries/engine/lines.py``) without a worker: which line a new
delivery joins, that only the first of each line is due, and what frees or holds a line
(a recorded result, a head given up, an admin's skip, retry or bulk retry).

Results are recorded as a worker records them (``record.record`` after a claim), with
answers made up here: nothing is sent. Every test runs on PostgreSQL and SQLite but the
concurrent promoters' (PostgreSQL: SQLite has one writer)."""

import importlib
import random
import threading
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from deliveries import engine
from deliveries.engine import emit_many, lines
from deliveries.engine.emit import NewEvent, emit
from deliveries.engine.manual import RetryRefused, retry_failed, skip, start_retry
from deliveries.engine.record import record
from deliveries.engine.sender import AttemptResult, build_request
from deliveries.models import LINE_BUSY, LINE_WAITING, BulkRetry, Delivery
from tests.factories import make_event_type, make_webhook
from tests.support.sending import claim_due
from webhooks.models import MAX_ORDERING_KEY, ActivityEntry, Event, SystemSettings

only_on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL only"
)

OK = {"success": True, "response_code": 200}
ERROR = {"success": False, "response_code": 500, "failure_reason": "http_error"}


# --- line_of: the line a new delivery joins ------------------------------------------------


@pytest.mark.parametrize(
    "payload", [{"data": {"order_id": "A"}}, {}, [1, 2], "text", None, {"data": {"order_id": 1}}]
)
def test_per_endpoint_every_delivery_is_in_the_one_line(payload):
    assert lines.line_of("endpoint", "", payload, "") == ""
    assert lines.line_of("endpoint", "data.order_id", payload, "key") == ""


@pytest.mark.parametrize("path, ordering_key", [("", ""), ("", "k"), ("data.order_id", "k")])
def test_in_any_order_a_delivery_is_in_no_line(path, ordering_key):
    assert lines.line_of("any", path, {"data": {"order_id": "A"}}, ordering_key) is None


@pytest.mark.parametrize(
    "path, payload, key",
    [
        ("data.order_id", {"data": {"order_id": "A-1"}}, "A-1"),
        ("order_id", {"order_id": "A-1", "data": {"order_id": "other"}}, "A-1"),
        ("a.b.c.d", {"a": {"b": {"c": {"d": "deep"}}}}, "deep"),
        # A list is indexed by a number.
        ("items.1.sku", {"items": [{"sku": "first"}, {"sku": "second"}]}, "second"),
        ("0.id", [{"id": "top-level list"}], "top-level list"),
        # Numbers, booleans and documents are keys by their JSON text (keys sorted).
        ("data.order_id", {"data": {"order_id": 42}}, "42"),
        ("data.order_id", {"data": {"order_id": 2.5}}, "2.5"),
        ("data.order_id", {"data": {"order_id": True}}, "true"),
        ("data.order_id", {"data": {"order_id": {"b": 1, "a": [2]}}}, '{"a": [2], "b": 1}'),
        ("data.order_id", {"data": {"order_id": ""}}, ""),
        # Missing, null, or a path that does not fit the document: the line of "".
        ("data.order_id", {"data": {}}, ""),
        ("data.order_id", {}, ""),
        ("data.order_id", {"data": {"order_id": None}}, ""),
        ("data.order_id", {"data": "a string"}, ""),
        ("data.order_id", {"data": ["order_id"]}, ""),
        ("items.2.sku", {"items": [{"sku": "first"}, {"sku": "second"}]}, ""),
        ("items.-1.sku", {"items": [{"sku": "first"}]}, ""),
        ("data.order_id", None, ""),
        ("data.order_id", "text", ""),
    ],
)
def test_per_key_the_key_is_read_at_the_payload_path(path, payload, key):
    assert lines.line_of("key", path, payload, "the event's own key") == key


def test_a_key_read_from_the_payload_is_made_storable():
    nul = lines.line_of("key", "k", {"k": "a\x00b"}, "")
    assert nul == "a\ufffdb"
    surrogate = lines.line_of("key", "k", {"k": "a\ud800b"}, "")
    surrogate.encode()  # UTF-8, as PostgreSQL stores text
    assert "\ud800" not in surrogate and surrogate[0] == "a" and surrogate[-1] == "b"


def test_a_long_key_is_cut_to_200_characters():
    long = "é" * 150 + "x" * 150
    assert lines.line_of("key", "k", {"k": long}, "") == long[:MAX_ORDERING_KEY]
    assert lines.line_of("key", "", {}, long) == long[:MAX_ORDERING_KEY]
    assert MAX_ORDERING_KEY == 200
    # A number's text is cut the same way.
    assert lines.line_of("key", "k", {"k": [1] * 150}, "") == str([1] * 150)[:200]


def test_without_a_path_the_key_is_the_events_ordering_key():
    payload = {"data": {"order_id": "from the payload"}}
    assert lines.line_of("key", "", payload, "given") == "given"
    assert lines.line_of("key", "", payload, "") == ""
    assert lines.line_of("key", "", payload, None) == ""
    assert lines.line_of("key", "", payload, "a\x00b") == "a\ufffdb"


# --- Helpers for the database tests ----------------------------------------------------------


@pytest.fixture(autouse=True)
def woken(monkeypatch):
    """The wake-ups that would have been published (nothing reaches the broker)."""
    calls = []
    for name in ("emit", "manual", "lines"):
        # importlib: ``deliveries.engine.emit`` the attribute is the function, not the module.
        module = importlib.import_module(f"deliveries.engine.{name}")
        monkeypatch.setattr(module, "wake", lambda: calls.append(1))
    return calls


@pytest.fixture
def kind(db):
    return make_event_type(name="order.updated", category="Orders")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what waits for the commit (promotions) as it exits: the
    test's own transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def ordered(kind, order="key", path="data.order_id", **fields):
    return make_webhook(event_types=[kind], delivery_order=order, ordering_key_path=path, **fields)


def emit_keys(*keys) -> list[list[int]]:
    """Emit one event per key (None: no order_id), in order; each one's deliveries' ids."""
    events = [
        emit("order.updated", {"data": {} if key is None else {"order_id": key}, "n": n})[0]
        for n, key in enumerate(keys)
    ]
    return [list(Delivery.objects.filter(event=e).values_list("id", flat=True)) for e in events]


def ids_of(webhook, *keys) -> list[int]:
    """Emit one event per key and return ``webhook``'s delivery of each, in order."""
    emit_keys(*keys)
    return list(
        Delivery.objects.filter(webhook=webhook).order_by("-id").values_list("id", flat=True)
    )[: len(keys)][::-1]


def due(webhook=None) -> list[int]:
    queryset = Delivery.objects.due()
    if webhook is not None:
        queryset = queryset.filter(webhook=webhook)
    return sorted(queryset.values_list("id", flat=True))


def busy_by_line(webhook=None) -> dict[str, list[int]]:
    queryset = Delivery.objects.filter(LINE_BUSY)
    if webhook is not None:
        queryset = queryset.filter(webhook=webhook)
    found = defaultdict(list)
    for pk, key in queryset.order_by("id").values_list("id", "line_key"):
        found[key].append(pk)
    return dict(found)


def waiting(webhook) -> list[int]:
    return sorted(
        Delivery.objects.filter(LINE_WAITING, webhook=webhook).values_list("id", flat=True)
    )


def send_due(answer=OK, limit=100) -> list[int]:
    """Claim what is due and record ``answer`` for each, as a worker would; the ids."""
    claimed = claim_due(limit)
    results = [
        (d, build_request(d), AttemptResult(started_at=timezone.now(), **answer)) for d in claimed
    ]
    if results:
        record(results, SystemSettings.load())
    return sorted(d.pk for d in claimed)


def state(pk) -> Delivery:
    return Delivery.objects.get(pk=pk)


def at_once(threads: int, function) -> list:
    """Call ``function`` from ``threads`` threads at the same moment (each with its own
    database session); their results, once all are done."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(function())
        except Exception as error:  # noqa: BLE001 - raised below
            errors.append(error)
        finally:
            connections.close_all()

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --- Emit: a new delivery waits in its line --------------------------------------------------


def test_an_emit_leaves_every_delivery_waiting_and_the_commit_makes_each_lines_first_due(
    kind, committed, woken
):
    webhook = ordered(kind)
    with committed():
        ids = [i for [i] in emit_keys("A", "B", "A", None, "B", "A", None)]
        # Before the commit: all waiting in their lines, none due, nobody woken.
        rows = Delivery.objects.filter(webhook=webhook).order_by("id")
        assert [(d.line_key, d.status, d.next_attempt_at) for d in rows] == [
            ("A", "pending", None),
            ("B", "pending", None),
            ("A", "pending", None),
            ("", "pending", None),
            ("B", "pending", None),
            ("A", "pending", None),
            ("", "pending", None),
        ]
        assert woken == []
    a1, b1, a2, none1, b2, a3, none2 = ids
    assert due(webhook) == [a1, b1, none1]
    assert busy_by_line(webhook) == {"A": [a1], "B": [b1], "": [none1]}
    assert waiting(webhook) == [a2, b2, a3, none2]
    assert woken  # the promoted deliveries are sent at once


def test_emit_many_to_a_webhook_ordered_per_endpoint_makes_one_line(kind, committed):
    webhook = ordered(kind, order="endpoint", path="")
    with committed():
        emit_many(
            [NewEvent("order.updated", {"data": {"order_id": k}}) for k in ("A", "B", "C")]
            + [NewEvent("order.updated", {}, ordering_key="K")]
        )
    ids = sorted(Delivery.objects.filter(webhook=webhook).values_list("id", flat=True))
    assert set(Delivery.objects.values_list("line_key", flat=True)) == {""}
    assert due(webhook) == ids[:1]
    assert waiting(webhook) == ids[1:]


def test_a_batch_of_events_joins_its_lines_in_order(kind, committed):
    webhook = ordered(kind)
    keys = [random.Random(7).choice("ABC") for _ in range(30)]
    with committed():
        emit_many([NewEvent("order.updated", {"data": {"order_id": k}}) for k in keys])
    rows = list(Delivery.objects.filter(webhook=webhook).order_by("id"))
    assert [d.line_key for d in rows] == keys  # ids in the batch's order
    firsts = sorted(next(d.pk for d in rows if d.line_key == k) for k in set(keys))
    assert due(webhook) == firsts


def test_a_batch_joins_its_lines_in_emit_order_whatever_its_idempotency_keys(kind, committed):
    webhook, _, other = ordered(kind), make_webhook(event_types=[kind]), ordered(kind)
    # Idempotency keys that sort against the emit order (events are inserted in key order),
    # some events without one; enough of them for any plan of the one statement.
    count = 600
    keys = [f"key-{count - n:04}" if n % 3 else "" for n in range(count)]
    events = [
        NewEvent("order.updated", {"data": {"order_id": "AB"[n % 2]}, "n": n}, idempotency_key=key)
        for n, key in enumerate(keys)
    ]
    with committed():
        results = emit_many(events)
    for hook in (webhook, other):
        rows = Delivery.objects.filter(webhook=hook).order_by("id")
        assert list(rows.values_list("event_id", flat=True)) == [r.id for r in results]
        assert list(rows.values_list("event__payload__n", flat=True)) == list(range(count))
        assert due(hook) == list(rows.values_list("id", flat=True)[:2])


def test_without_a_path_the_events_ordering_key_is_the_line_stored_cleaned(kind, committed):
    webhook = ordered(kind, path="")
    long = "L" * 300
    with committed():
        events = [
            emit("order.updated", {"data": {"order_id": "ignored"}}, ordering_key=key)[0]
            for key in ("a\x00b", "a\ud800b", long, None, "a\x00b")
        ]
    got = [
        (
            e.ordering_key,
            Event.objects.get(pk=e.pk).ordering_key,
            Delivery.objects.get(event=e).line_key,
        )
        for e in events
    ]
    nul, surrogate, cut, none, nul_again = got
    assert nul == ("a\ufffdb",) * 3
    assert surrogate[0] == surrogate[1] == surrogate[2] and "\ud800" not in surrogate[0]
    assert cut == ("L" * 200,) * 3
    assert none == ("",) * 3
    assert nul_again == nul
    # One line each; the NUL key's second event waits behind its first.
    firsts = [Delivery.objects.get(event=e).pk for e in events[:4]]
    assert due(webhook) == sorted(firsts)
    assert waiting(webhook) == [Delivery.objects.get(event=events[4]).pk]


def test_a_new_event_waits_behind_a_busy_head_and_goes_once_the_head_is_sent(kind, committed):
    webhook = ordered(kind)
    with committed():
        [a1] = ids_of(webhook, "A")
    [claimed] = claim_due(10)
    assert claimed.pk == a1
    with committed():
        [a2] = ids_of(webhook, "A")
    assert waiting(webhook) == [a2] and due(webhook) == []
    record(
        [(claimed, build_request(claimed), AttemptResult(started_at=timezone.now(), **OK))],
        SystemSettings.load(),
    )
    assert state(a1).status == "success"
    assert due(webhook) == [a2]


def test_one_event_to_ordered_and_unordered_webhooks(kind, committed):
    by_key, unordered = ordered(kind), make_webhook(event_types=[kind])
    by_endpoint = ordered(kind, order="endpoint", path="")
    with committed():
        emit_keys("A", "A")
        assert len(due(unordered)) == 2  # due at once, before the commit
        assert due(by_key) == due(by_endpoint) == []
    assert len(due(by_key)) == len(due(by_endpoint)) == 1
    assert set(Delivery.objects.filter(webhook=unordered).values_list("line_key", flat=True)) == {
        None
    }


# --- promote: exactly one busy delivery per line ---------------------------------------------


def test_promote_makes_one_delivery_of_each_line_due_however_often_it_runs(kind, committed):
    webhook, other = ordered(kind), ordered(kind, order="endpoint", path="")
    # Written without their after-commit promotion: every line has only waiting deliveries.
    emit_keys("A", "B", "A", "C", "B", "A")
    assert busy_by_line() == {}
    lines_of = {(webhook.pk, k) for k in "ABC"} | {(other.pk, "")}

    assert lines.promote(lines_of) == 4
    assert lines.promote(lines_of) == 0
    assert lines.promote(webhooks=[webhook.pk, other.pk]) == 0
    assert lines.promote_all() == 0
    assert {k: len(v) for k, v in busy_by_line(webhook).items()} == {"A": 1, "B": 1, "C": 1}
    assert len(busy_by_line(other)[""]) == 1
    # Each line's first by id.
    for key, [head] in busy_by_line(webhook).items():
        first = Delivery.objects.filter(webhook=webhook, line_key=key).order_by("id").first()
        assert head == first.pk
    # A line nobody asked about is left alone; promote_all finds every line.
    with committed():
        emit("order.updated", {"data": {"order_id": "D"}})
    Delivery.objects.filter(line_key="D").update(next_attempt_at=None)  # as if unpromoted
    assert lines.promote([(webhook.pk, "A")]) == 0
    assert "D" not in busy_by_line(webhook)
    assert lines.promote_all() == 1
    assert len(busy_by_line(webhook)["D"]) == 1


def test_promote_of_a_line_with_nothing_waiting_does_nothing(kind):
    webhook = ordered(kind)
    assert lines.promote([(webhook.pk, "A"), (webhook.pk + 1000, "")]) == 0
    assert lines.promote() == 0
    assert lines.promote_all() == 0


@only_on_postgresql
def test_concurrent_promoters_make_exactly_one_delivery_of_each_line_busy(transactional_db):
    kind = make_event_type(name="order.updated", category="Orders")
    webhooks = [ordered(kind) for _ in range(3)]
    keys = [f"k{n}" for n in range(8)]
    rounds, threads = 4, 6
    # Written without their after-commit promotion (transaction=True: emit commits at once).
    all_lines = [(w.pk, k) for w in webhooks for k in keys]
    emit_many(
        [NewEvent("order.updated", {"data": {"order_id": k}}) for _ in range(rounds) for k in keys]
    )
    Delivery.objects.update(next_attempt_at=None)
    for round_ in range(rounds):
        promoted = at_once(threads, lambda: lines.promote(random.sample(all_lines, len(all_lines))))
        assert sum(promoted) == len(all_lines), (round_, promoted)
        busy = Delivery.objects.filter(LINE_BUSY)
        per_line = defaultdict(list)
        for pk, webhook_id, key in busy.values_list("id", "webhook_id", "line_key"):
            per_line[webhook_id, key].append(pk)
        assert {line: len(pks) for line, pks in per_line.items()} == dict.fromkeys(all_lines, 1)
        # The busy one is its line's round-th delivery; then it is done.
        for (webhook_id, key), [pk] in per_line.items():
            in_line = Delivery.objects.filter(webhook_id=webhook_id, line_key=key).order_by("id")
            assert pk == list(in_line.values_list("id", flat=True))[round_]
        busy.update(status="success", next_attempt_at=None)
    assert lines.promote_all() == 0
    assert Delivery.objects.exclude(status="success").count() == 0


# --- Recorded results: what frees a line, what holds it ---------------------------------------


def test_a_heads_success_frees_the_next_in_its_line_and_no_other(kind, committed):
    webhook = ordered(kind)
    with committed():
        a1, b1, a2, a3, b2 = ids_of(webhook, "A", "B", "A", "A", "B")
    sent = []
    while claimed := send_due(OK):
        sent.append(claimed)
    assert sent == [[a1, b1], [a2, b2], [a3]]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"success"}
    assert busy_by_line(webhook) == {} and waiting(webhook) == []


def test_a_retrying_head_keeps_its_line(kind, committed):
    webhook = ordered(kind, max_retries=3, retry_window_seconds=3600)
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    assert send_due(ERROR) == [a1]
    head = state(a1)
    assert head.status == "failed" and head.next_attempt_at > timezone.now()
    assert not head.holds_line
    assert waiting(webhook) == [a2]
    assert lines.promote_all() == 0
    assert send_due(OK) == []  # its retry is not due yet; the next waits
    Delivery.objects.filter(pk=a1).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert send_due(OK) == [a1]
    assert due(webhook) == [a2]


def test_a_head_given_up_under_skip_frees_the_next(kind, committed):
    webhook = ordered(kind, max_retries=0, when_head_given_up="skip")
    with committed():
        a1, a2, a3 = ids_of(webhook, "A", "A", "A")
    assert send_due(ERROR) == [a1]
    head = state(a1)
    assert (head.status, head.next_attempt_at, head.holds_line) == ("failed", None, False)
    assert due(webhook) == [a2]
    assert send_due(OK) == [a2]
    assert due(webhook) == [a3]


def test_a_head_given_up_under_hold_holds_its_line(kind, committed):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    with committed():
        a1, b1, a2, b2 = ids_of(webhook, "A", "B", "A", "B")
    assert send_due(ERROR, limit=1) == [a1]
    head = state(a1)
    assert (head.status, head.next_attempt_at, head.holds_line) == ("failed", None, True)
    assert waiting(webhook) == [a2, b2]
    assert lines.promote_all() == 0
    assert engine.head_of(state(a2)).pk == a1
    count, in_all, summaries = engine.waiting_lines(webhook)
    assert (count, in_all) == (2, 2)
    [summary_a] = [summary for summary in summaries if summary.key == "A"]
    assert (summary_a.waiting, summary_a.head.pk) == (1, a1)
    # The other line goes on.
    assert send_due(OK) == [b1]
    assert due(webhook) == [b2]
    assert send_due(OK) == [b2]
    assert waiting(webhook) == [a2] and state(a1).holds_line


@pytest.mark.parametrize("when", ["skip", "hold"])
def test_a_lease_run_out_with_no_retry_left_is_a_head_given_up(kind, committed, when):
    webhook = ordered(kind, max_retries=0, when_head_given_up=when)
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    # Its worker died mid-send: its one attempt is spent and its lease ran out.
    gone = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk=a1).update(
        status="in_progress", attempt_count=1, next_attempt_at=gone
    )
    assert claim_due(10) == []
    head = state(a1)
    assert head.status == "failed" and head.last_failure_reason == "lease_expired"
    assert head.holds_line == (when == "hold")
    assert due(webhook) == ([] if when == "hold" else [a2])


# --- Skip ----------------------------------------------------------------------------------


def test_skip_of_a_held_head_releases_its_line(kind, committed, admin_user, woken):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    with committed():
        a1, a2, a3 = ids_of(webhook, "A", "A", "A")
    send_due(ERROR)
    woken.clear()
    with committed():
        skip(state(a1), admin_user)
        assert due(webhook) == []  # the next goes after the commit
    head = state(a1)
    assert (head.status, head.next_attempt_at, head.holds_line) == ("failed", None, False)
    assert due(webhook) == [a2] and woken
    entry = ActivityEntry.objects.get(action="retry.skip")
    assert entry.actor == admin_user and f"#{a1}" in entry.summary
    assert send_due(OK) == [a2]
    assert due(webhook) == [a3]


def test_skip_of_a_retrying_head_gives_it_up_and_frees_the_next(kind, committed, admin_user):
    webhook = ordered(kind, max_retries=3, retry_window_seconds=3600)
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    send_due(ERROR)
    assert state(a1).next_attempt_at is not None
    with committed():
        skip(state(a1), admin_user)
    head = state(a1)
    assert (head.status, head.next_attempt_at, head.holds_line) == ("failed", None, False)
    assert due(webhook) == [a2]


def test_skip_refuses_what_is_not_a_lines_head(kind, committed, admin_user):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    unordered = make_webhook(event_types=[kind], max_retries=3)
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    [plain] = Delivery.objects.filter(webhook=unordered).values_list("id", flat=True)[:1]
    with pytest.raises(RetryRefused, match="Only the first delivery"):
        skip(state(a2), admin_user)  # waiting behind a1
    with pytest.raises(RetryRefused, match="Only the first delivery"):
        skip(state(plain), admin_user)  # in no line
    claim_due(10)  # a1 is being sent
    with pytest.raises(RetryRefused, match="being sent"):
        skip(state(a1), admin_user)
    assert state(a2).next_attempt_at is None and state(a1).status == "in_progress"
    assert not ActivityEntry.objects.filter(action="retry.skip").exists()


def test_skip_of_a_head_that_changed_meanwhile_is_refused(kind, committed, admin_user):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    send_due(ERROR)
    seen = state(a1)
    with committed():
        start_retry(state(a1), admin_user)  # another admin retried it meanwhile
    with pytest.raises(RetryRefused, match="changed meanwhile"):
        skip(seen, admin_user)
    assert waiting(webhook) == [a2]


# --- An admin's retry and bulk retry -----------------------------------------------------------


@pytest.mark.parametrize("head_is", ["due", "retrying", "held"])
def test_a_retry_of_a_delivery_waiting_in_its_line_is_refused_naming_its_head(
    kind, committed, admin_user, head_is
):
    webhook = ordered(
        kind,
        max_retries=0 if head_is == "held" else 3,
        retry_window_seconds=3600,
        when_head_given_up="hold",
    )
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    if head_is != "due":
        send_due(ERROR)
    with pytest.raises(RetryRefused, match=f"behind delivery #{a1}:"):
        start_retry(state(a2), admin_user)
    assert state(a2).manual_requested_at is None and waiting(webhook) == [a2]


def test_a_retry_of_the_held_head_sends_it_and_releases_the_line_when_it_succeeds(
    kind, committed, admin_user
):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    send_due(ERROR)
    with committed():
        start_retry(state(a1), admin_user)
    head = state(a1)
    assert head.status == "pending" and head.manual_requested_by == admin_user
    assert due(webhook) == [a1] and waiting(webhook) == [a2]
    assert send_due(OK) == [a1]
    head = state(a1)
    assert (head.status, head.holds_line) == ("success", False)
    assert head.attempts.order_by("number").last().trigger == "manual"
    assert due(webhook) == [a2]


def test_a_failed_retry_of_the_held_head_holds_the_line_again(kind, committed, admin_user):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    send_due(ERROR)
    with committed():
        start_retry(state(a1), admin_user)
    assert send_due(ERROR) == [a1]
    head = state(a1)
    assert (head.status, head.next_attempt_at, head.holds_line) == ("failed", None, True)
    assert waiting(webhook) == [a2] and lines.promote_all() == 0


def test_a_replay_of_a_sent_delivery_takes_its_turn_in_the_line(kind, committed, admin_user):
    webhook = ordered(kind)
    with committed():
        a1, a2 = ids_of(webhook, "A", "A")
    send_due(OK)  # a1 sent, a2 due
    with committed():
        start_retry(state(a1), admin_user, replay=True)
    assert state(a1).next_attempt_at is None  # waits behind a2, which is busy
    assert due(webhook) == [a2]
    assert send_due(OK) == [a2]
    assert send_due(OK) == [a1]
    assert busy_by_line(webhook) == {}


def test_a_bulk_retry_puts_an_ordered_webhooks_failures_back_in_their_order(
    kind, committed, admin_user, woken
):
    webhook = ordered(kind, max_retries=0, when_head_given_up="skip")
    unordered = make_webhook(event_types=[kind], max_retries=0)
    with committed():
        ids = ids_of(webhook, "A", "B", "A", "A", "B")
    a1, b1, a2, a3, b2 = ids
    plain = sorted(Delivery.objects.filter(webhook=unordered).values_list("id", flat=True))
    while send_due(ERROR):  # each given up frees the next: all 10 fail for good
        pass
    assert set(Delivery.objects.values_list("status", "next_attempt_at")) == {("failed", None)}
    job = BulkRetry.objects.create(created_by=admin_user)
    shuffled = random.Random(3).sample(ids + plain, len(ids + plain))
    woken.clear()
    with committed():
        assert retry_failed(shuffled, admin_user, job.pk) == 10
        assert due(webhook) == []  # the lines' first go after the commit
        assert due(unordered) == plain  # the others at once
    assert due(webhook) == [a1, b1] and woken
    assert waiting(webhook) == [a2, a3, b2]
    rows = Delivery.objects.filter(pk__in=ids)
    assert {(d.status, d.bulk_retry_id, d.manual_requested_by_id) for d in rows} == {
        ("pending", job.pk, admin_user.pk)
    }
    sent = []
    while claimed := send_due(OK):
        sent.append([pk for pk in claimed if pk in ids])
    assert sent == [[a1, b1], [a2, b2], [a3]]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"success"}


def test_a_bulk_retry_sends_a_held_head_now_and_its_line_follows(kind, committed, admin_user):
    webhook = ordered(kind, max_retries=0, when_head_given_up="hold")
    with committed():
        a1, a2, a3 = ids_of(webhook, "A", "A", "A")
    send_due(ERROR)
    job = BulkRetry.objects.create(created_by=admin_user)
    with committed():
        assert retry_failed([a1, a2, a3], admin_user, job.pk) == 1  # a2, a3 never failed
    assert due(webhook) == [a1]
    assert send_due(OK) == [a1]
    assert send_due(OK) == [a2]
    assert send_due(OK) == [a3]


def test_a_bulk_retry_of_a_line_that_is_busy_waits_behind_its_head(kind, committed, admin_user):
    webhook = ordered(kind, max_retries=0, when_head_given_up="skip")
    with committed():
        a1, a2, a3 = ids_of(webhook, "A", "A", "A")
    assert send_due(ERROR) == [a1]  # given up; a2 is due
    job = BulkRetry.objects.create(created_by=admin_user)
    with committed():
        assert retry_failed([a1], admin_user, job.pk) == 1
    assert due(webhook) == [a2] and waiting(webhook) == [a1, a3]
    assert send_due(OK) == [a2]
    assert send_due(OK) == [a1]  # first by id of those waiting
    assert send_due(OK) == [a3]


# --- Paused and unordered webhooks ---------------------------------------------------------


def test_a_paused_ordered_webhooks_deliveries_stay_not_triggered_with_no_line(
    kind, committed, woken
):
    paused = ordered(kind, is_active=False, when_head_given_up="hold")
    active = ordered(kind)
    with committed():
        emit_keys("A", "A", "B")
    rows = Delivery.objects.filter(webhook=paused)
    assert {(d.status, d.next_attempt_at, d.line_key, d.holds_line) for d in rows} == {
        ("not_triggered", None, None, False)
    }
    assert lines.promote_all() == 0
    assert lines.promote(webhooks=[paused.pk]) == 0
    assert due(paused) == [] and busy_by_line(paused) == {} and waiting(paused) == []
    assert set(rows.values_list("status", flat=True)) == {"not_triggered"}
    assert len(due(active)) == 2  # the active one's lines A and B as ever
    # Only a paused webhook's deliveries: no line joined, nobody woken.
    active.delete()
    woken.clear()
    with committed():
        emit_keys("C")
    assert woken == [] and due() == []


def test_an_unordered_webhooks_deliveries_are_in_no_line_and_due_at_once(kind, committed):
    # Its order fields are set, but it sends in any order: they mean nothing.
    webhook = make_webhook(
        event_types=[kind],
        delivery_order="any",
        ordering_key_path="data.order_id",
        when_head_given_up="hold",
        max_retries=0,
    )
    emit_keys("A", "A", "A")  # no commit needed
    rows = list(Delivery.objects.filter(webhook=webhook).order_by("id"))
    assert {(d.line_key, d.holds_line, d.status) for d in rows} == {(None, False, "pending")}
    assert due(webhook) == [d.pk for d in rows]
    assert send_due(ERROR) == [d.pk for d in rows]  # all three at once
    assert set(Delivery.objects.values_list("status", "next_attempt_at", "holds_line")) == {
        ("failed", None, False)
    }
    assert lines.promote_all() == 0
