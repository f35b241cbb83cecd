"""Custom Liquid bodies at fan-out: rendered per batch when the delivery is written, sent
as rendered; a batch whose template fails is one failed delivery, counted in the stats."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.sending import fanout, live
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.stats import queries
from deliveries.stats.windows import Window
from tests.factories import (
    make_campaign,
    make_profile,
    make_profile_event,
    make_profiles,
    make_webhook,
)
from tests.support.sending import send_due_batch

BATCH_BODY = """{"campaign": {{ targetId }}, "coupon": {{ key_values.coupon | json }},
 "first": {{ profile.Identity | json }},
 "ids": [{% for p in profiles %}{{ p.Identity | json }}{% unless forloop.last %}, {% endunless %}{% endfor %}]}"""  # noqa: E501


@pytest.fixture
def audience(transactional_db):
    """20 members (user-01..20) who launched the app. Committed: on PostgreSQL the
    members are read by a second connection."""
    yesterday = timezone.now() - timedelta(days=1)
    for profile in make_profiles(
        20, email=lambda n: f"user{n}@example.com", properties=_properties_of
    ):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)


def _properties_of(number: int) -> dict:
    properties = {"city": f"City {number}", "divisor": 1, "nickname": f"nick{number}"}
    if number == 5:
        properties["nickname"] = 'say "hi"'  # breaks a body that quotes it by hand
    if number == 13:
        properties["divisor"] = 0
    return properties


def custom_campaign(webhook, **fields) -> Campaign:
    defaults = {
        "name": "Custom",
        "batch_size": 6,
        "body_mode": "custom",
        "custom_body": BATCH_BODY,
        "key_values": {"coupon": "SPRING"},
        "status": "running",
    }
    return make_campaign(webhook, **defaults | fields)


def send_everything():
    while send_due_batch():
        pass


def test_each_batch_is_rendered_once_and_sent_exactly_as_rendered(audience, receiver):
    sale = custom_campaign(make_webhook(url=receiver.url + "/campaign?token=abc"))

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.targets, run.payloads) == ("completed", 20, 4)
    deliveries = list(Delivery.objects.filter(campaign=sale).order_by("pk"))
    bodies = [json.loads(d.payload) for d in deliveries]  # stored as the rendered text
    assert [len(b["ids"]) for b in bodies] == [6, 6, 6, 2]
    assert bodies[1] == {
        "campaign": sale.pk,
        "coupon": "SPRING",
        "first": "user-07",
        "ids": [f"user-{n:02}" for n in range(7, 13)],
    }
    assert CampaignRecipient.objects.filter(run=run, delivery_id=deliveries[3].pk).count() == 2

    send_everything()
    received = receiver.received("/campaign?token=abc")
    assert sorted(r.body for r in received) == sorted(d.payload.encode() for d in deliveries)
    assert {r.headers["Content-Type"] for r in received} == {"application/json"}
    attempt = DeliveryAttempt.objects.get(delivery=deliveries[0])
    assert attempt.request_body == deliveries[0].payload


def test_query_pairs_and_plain_text_go_out_with_each_delivery(audience, receiver):
    sale = custom_campaign(
        make_webhook(url=receiver.url + "/campaign?token=abc"),
        batch_size=10,
        content_type="text",
        custom_body="Hello {{ profile.Identity }} from {{ profile.ProfileData.city }}!\n",
        query_params=[["utm", "spring sale"], ["a", "1&2"]],
    )

    fanout.run_occurrence(sale.pk, "manual-1")
    # An edit after the run changes nothing of what its deliveries send.
    Campaign.objects.filter(pk=sale.pk).update(query_params=[], content_type="json")
    send_everything()

    received = receiver.received("/campaign?token=abc&utm=spring+sale&a=1%262")
    assert sorted(r.body for r in received) == [
        b"Hello user-01 from City 1!\n",
        b"Hello user-11 from City 11!\n",
    ]
    assert {r.headers["Content-Type"] for r in received} == {"text/plain; charset=utf-8"}


def test_a_failing_batch_fails_its_delivery_only_and_is_counted_like_a_failed_attempt(
    audience, receiver
):
    body = (
        '{"name": "{{ profile.ProfileData.nickname }}",\n'
        ' "ratio": {{ 10 | divided_by: profile.ProfileData.divisor }}}'
    )
    sale = custom_campaign(
        make_webhook(url=receiver.url + "/campaign"), batch_size=4, custom_body=body
    )

    run = fanout.run_occurrence(sale.pk, "manual-1")
    send_everything()

    assert (run.status, run.targets, run.payloads) == ("completed", 20, 5)
    deliveries = list(Delivery.objects.filter(campaign=sale).order_by("pk"))
    assert [d.status for d in deliveries] == ["success", "failed", "success", "failed", "success"]
    assert len(receiver.received("/campaign")) == 3
    # user-05's nickname has quotes: the rendered body is not JSON.
    not_json, divided_by_zero = (deliveries[1], deliveries[3])
    for delivery in (not_json, divided_by_zero):
        assert (delivery.last_failure_reason, delivery.payload) == ("template_error", None)
        assert delivery.next_attempt_at is None and delivery.attempt_count == 1
    attempt = DeliveryAttempt.objects.get(delivery=not_json)
    assert "not valid JSON" in attempt.failure_detail
    assert attempt.request_url == receiver.url + "/campaign" and attempt.request_body == ""
    detail = DeliveryAttempt.objects.get(delivery=divided_by_zero).failure_detail
    assert detail.startswith("line 2:") and "divide" in detail.lower()
    assert CampaignRecipient.objects.filter(delivery_id=not_json.pk).count() == 4

    # The campaign's stats (rollups) and the log filtered by reason show the same count.
    window = Window.covering(timezone.now() - timedelta(hours=1))
    counted = queries.attempt_count(window, campaign_id=sale.pk, failure_reason="template_error")
    logged = Delivery.objects.filter(campaign=sale, last_failure_reason="template_error").count()
    assert counted == logged == 2
    assert queries.attempt_count(window, campaign_id=sale.pk, success=True) == 3


def test_an_unknown_variable_fails_every_batch_but_the_run_completes(audience):
    sale = custom_campaign(make_webhook(), custom_body='{"x": {{ profil.Email | json }}}')

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.payloads) == ("completed", 4)
    reasons = set(Delivery.objects.filter(campaign=sale).values_list("last_failure_reason"))
    assert reasons == {("template_error",)}
    assert "Unknown variable 'profil'" in DeliveryAttempt.objects.first().failure_detail


def test_a_live_custom_body_sees_the_events_properties(db):
    profile = make_profile(identity="ann", properties={"country": "Canada"})
    event = make_profile_event(profile, "Added To Cart", properties={"sku": "TENT-2"})
    campaign = custom_campaign(
        make_webhook(),
        rule={
            "category": "user_properties",
            "profile": [{"property": "country", "op": "eq", "value": "Canada"}],
        },
        delivery_type="live",
        trigger_event="Added To Cart",
        content_type="text",
        custom_body="{{ profile.Identity }} left {{ profile.Event_properties.sku }}",
        query_params=[["src", "live"]],
    )

    live.run(campaign.pk, event.pk)

    delivery = Delivery.objects.get(campaign=campaign)
    assert delivery.payload == "ann left TENT-2"
    assert (delivery.content_type, delivery.query) == ("text/plain; charset=utf-8", "src=live")


def test_a_live_send_whose_template_fails_is_a_failed_delivery(db):
    profile = make_profile(identity="ann", properties={"country": "Canada"})
    event = make_profile_event(profile, "Added To Cart")
    campaign = custom_campaign(
        make_webhook(),
        rule={
            "category": "user_properties",
            "profile": [{"property": "country", "op": "eq", "value": "Canada"}],
        },
        delivery_type="live",
        trigger_event="Added To Cart",
        custom_body="{{ nope }}",
    )

    run = live.run(campaign.pk, event.pk)

    delivery = Delivery.objects.get(campaign=campaign)
    assert (run.payloads, delivery.status, delivery.last_failure_reason) == (
        1,
        "failed",
        "template_error",
    )
    assert DeliveryAttempt.objects.get(delivery=delivery).failure_reason == "template_error"
