"""A campaign's payloads to an ordered webhook wait in one line, in their order (a test
send does not); a webhook switched back to any order lets its lines go."""

import pytest

from deliveries.engine import lines, writes
from deliveries.models import Delivery
from tests.factories import make_webhook


def write(webhook, count, source="campaign"):
    payloads = [{"n": n} for n in range(count)]
    return writes.write_payloads(webhook, payloads, source=source, content_type="application/json")


@pytest.mark.parametrize("order", ["endpoint", "key"])
def test_a_campaigns_payloads_go_one_at_a_time_in_their_order(
    db, django_capture_on_commit_callbacks, order
):
    webhook = make_webhook(delivery_order=order)
    with django_capture_on_commit_callbacks(execute=True):
        ids = write(webhook, 4)
    rows = list(Delivery.objects.order_by("id").values_list("id", "line_key", "next_attempt_at"))
    assert [row[0] for row in rows] == ids
    assert {row[1] for row in rows} == {""}
    # The first is due (promoted after the commit); the rest wait behind it.
    assert [row[2] is not None for row in rows] == [True, False, False, False]


def test_a_test_send_and_an_unordered_webhook_are_due_at_once(
    db, django_capture_on_commit_callbacks
):
    ordered, unordered = make_webhook(delivery_order="endpoint"), make_webhook()
    with django_capture_on_commit_callbacks(execute=True):
        write(ordered, 2, source="test")
        write(unordered, 2)
    rows = Delivery.objects.values_list("line_key", "next_attempt_at")
    assert all(line is None and due is not None for line, due in rows)


def test_a_webhook_switched_back_to_any_order_lets_its_lines_go(
    db, django_capture_on_commit_callbacks
):
    webhook = make_webhook(delivery_order="endpoint")
    with django_capture_on_commit_callbacks(execute=True):
        write(webhook, 3)
    webhook.delivery_order = "any"
    webhook.save()

    assert lines.promote_all() == 2  # beat's pass

    rows = Delivery.objects.values_list("line_key", "next_attempt_at")
    assert [due is not None for _, due in rows] == [True] * 3
    assert {line for line, _ in rows} == {None, ""}  # the one sent already keeps its line
