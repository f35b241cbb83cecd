"""Send a test webhook: one sample member's payload sent now through the engine, recorded
as a test delivery that the log shows and the campaign's figures never count."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from campaigns.models import Campaign, Profile
from campaigns.sending import fanout
from campaigns.sending.test_send import TestSendRefused, send_test
from deliveries.models import AttemptRollup, Delivery, DeliveryStatusCount
from deliveries.stats import queries
from deliveries.stats.windows import Window
from tests.factories import make_campaign, make_profile, make_profile_event, make_webhook
from tests.support.sending import send_due_batch


@pytest.fixture
def ann(db):
    return make_profile(
        identity="ann", email="ann@example.com", properties={"city": "Oslo", "plan": "gold"}
    )


def sent(campaign: Campaign, profile: Profile, user):
    """Send a test as the page does, and as a worker's drain sends it; the delivery after."""
    delivery = send_test(campaign, profile, user)
    assert delivery.status == "pending" and not delivery.attempts.exists()
    assert send_due_batch() == 1
    delivery.refresh_from_db()
    return delivery


def draft(webhook, **fields) -> Campaign:
    defaults = {
        "body_mode": "custom",
        "custom_body": '{"hello": {{ profile.Identity | json }}, "n": {{ profiles | size }}}',
        "query_params": [["utm", "test"]],
        "batch_size": 50,
    }
    return make_campaign(webhook, **defaults | fields)


def test_the_test_is_sent_now_and_its_request_and_response_are_recorded(receiver, ann, admin_user):
    webhook = make_webhook(
        url=receiver.url + "/hook?token=abc",
        custom_headers=[{"name": "X-Api-Key", "value": "s3cret", "secret": True}],
    )
    campaign = draft(webhook)

    delivery = sent(campaign, ann, admin_user)

    [request] = receiver.received("/hook?token=abc&utm=test")
    assert request.body == b'{"hello": "ann", "n": 1}'
    assert request.headers["X-Api-Key"] == "s3cret"
    StandardWebhook(webhook.secret).verify(request.body, request.headers)
    assert (delivery.source, delivery.campaign_id, delivery.status) == ("test", None, "success")
    attempt = delivery.attempts.get()
    assert attempt.request_url == receiver.url + "/hook?token=abc&utm=test"
    assert attempt.request_body == '{"hello": "ann", "n": 1}'
    assert attempt.request_headers["X-Api-Key"] == "[redacted]"
    assert "webhook-signature" in attempt.request_headers
    assert (attempt.response_code, attempt.response_body) == (200, '{"received": true}')
    assert attempt.response_headers["Content-Type"] == "application/json"
    assert attempt.duration_ms is not None
    assert (attempt.trigger, attempt.triggered_by) == ("manual", admin_user)
    assert delivery.next_attempt_at is None


def test_a_test_stays_out_of_the_campaigns_figures_but_shows_in_the_log(
    receiver, ann, admin_user, admin_client
):
    webhook = make_webhook(url=receiver.url + "/codes/500")
    campaign = draft(webhook)

    delivery = sent(campaign, ann, admin_user)

    assert delivery.status == "failed" and delivery.gave_up  # never retried automatically
    window = Window.covering(timezone.now() - timedelta(hours=1))
    assert queries.attempt_count(window, campaign_id=campaign.pk) == 0
    assert not AttemptRollup.objects.filter(campaign_id=campaign.pk).exists()
    assert not DeliveryStatusCount.objects.filter(campaign_id=campaign.pk).exists()
    # It is the webhook's attempt all the same.
    assert queries.attempt_count(window, webhook_id=webhook.pk) == 1
    log = reverse("deliveries:log")
    tests = admin_client.get(log, {"source": "test"}).content.decode()
    assert f'id="delivery-{delivery.pk}"' in tests
    campaigns = admin_client.get(log, {"campaign": campaign.pk}).content.decode()
    assert f'id="delivery-{delivery.pk}"' not in campaigns
    detail = admin_client.get(delivery.get_absolute_url()).content.decode()
    assert "test send" in detail


def test_the_body_is_the_one_fan_out_would_build(receiver, ann, admin_user):
    campaign = draft(
        make_webhook(url=receiver.url + "/hook"),
        body_mode="profile_variables",
        profile_fields=["Identity", "ProfileData"],
        profile_properties=["city"],
        key_values={"coupon": "SPRING"},
        content_type="text",
    )

    sent(campaign, ann, admin_user)

    [request] = receiver.received("/hook?utm=test")
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert json.loads(request.body) == {
        "targetId": campaign.pk,
        "key_values": {"coupon": "SPRING"},
        "profiles": [{"Identity": "ann", "ProfileData": {"city": "Oslo"}}],
        "test": True,
    }


def test_a_test_send_tells_the_receiver_it_is_a_test_by_a_header_and_a_body_field(
    receiver, ann, admin_user
):
    campaign = draft(
        make_webhook(url=receiver.url + "/hook"),
        body_mode="profile_variables",
        profile_fields=["Identity"],
    )

    delivery = sent(campaign, ann, admin_user)

    [request] = receiver.received("/hook?utm=test")
    assert request.headers["X-Webhook-Test"] == "true"
    assert request.headers["X-Webhook-Event"] == "campaign"
    assert json.loads(request.body)["test"] is True
    assert delivery.attempts.get().request_headers["X-Webhook-Test"] == "true"


def test_a_custom_body_test_is_sent_byte_for_byte_and_marked_by_its_header_alone(
    receiver, ann, admin_user
):
    campaign = draft(make_webhook(url=receiver.url + "/hook"))

    sent(campaign, ann, admin_user)

    [request] = receiver.received("/hook?utm=test")
    assert request.body == b'{"hello": "ann", "n": 1}'
    assert request.headers["X-Webhook-Test"] == "true"


def test_a_real_campaign_send_carries_no_test_marker(receiver, ann, admin_user, transactional_db):
    campaign = draft(
        make_webhook(url=receiver.url + "/hook"),
        body_mode="profile_variables",
        profile_fields=["Identity"],
        rule={"category": "user_properties", "profile": [{"property": "city", "op": "exists"}]},
        status="running",
    )

    fanout.run_occurrence(campaign.pk, "manual-1")
    while send_due_batch():
        pass

    [request] = receiver.received("/hook?utm=test")
    assert "X-Webhook-Test" not in request.headers
    assert "test" not in json.loads(request.body)
    assert json.loads(request.body)["profiles"] == [{"Identity": "ann"}]


def test_a_live_campaigns_test_carries_the_members_latest_trigger_event(receiver, ann, admin_user):
    for sku, days in (("OLD", 2), ("NEW", 1)):
        make_profile_event(
            ann,
            "Added To Cart",
            properties={"sku": sku},
            occurred_at=timezone.now() - timedelta(days=days),
        )
    campaign = draft(
        make_webhook(url=receiver.url + "/hook"),
        delivery_type="live",
        trigger_event="Added To Cart",
        custom_body="{{ profile.Event_properties | json }}",
    )

    delivery = sent(campaign, ann, admin_user)

    assert delivery.attempts.get().request_body == '{"sku": "NEW"}'


def test_a_scheduled_campaigns_test_carries_the_latest_event_that_qualifies_the_member(
    receiver, ann, admin_user
):
    for sku, days in (("OLD", 3), ("NEW", 2), ("TOO-CHEAP", 1)):
        make_profile_event(
            ann,
            "Charged",
            properties={"sku": sku, "amount": 5 if sku == "TOO-CHEAP" else 50},
            occurred_at=timezone.now() - timedelta(days=days),
        )
    rule = {
        "category": "single_action",
        "action": {
            "event": "Charged",
            "where": [{"property": "amount", "op": "gte", "value": 10}],
        },
    }
    campaign = draft(
        make_webhook(url=receiver.url + "/hook"),
        rule=rule,
        custom_body="{{ profile.Event_properties | json }}",
    )

    delivery = sent(campaign, ann, admin_user)

    assert json.loads(delivery.attempts.get().request_body) == {"sku": "NEW", "amount": 50}


def test_without_a_webhook_the_test_is_refused(ann, admin_user):
    with pytest.raises(TestSendRefused, match="Choose a webhook first"):
        send_test(draft(None), ann, admin_user)


def test_a_paused_webhook_is_refused(ann, admin_user):
    with pytest.raises(TestSendRefused, match="is paused"):
        send_test(draft(make_webhook(is_active=False)), ann, admin_user)


def test_a_template_that_cannot_render_is_refused_with_its_line(receiver, ann, admin_user):
    campaign = draft(make_webhook(url=receiver.url + "/hook"), custom_body='{"a":\n {{ nope }}}')

    with pytest.raises(TestSendRefused, match=r"line 2: Unknown variable 'nope'") as refused:
        send_test(campaign, ann, admin_user)

    assert "ann" in str(refused.value)
    assert receiver.received() == []


def test_an_unsaved_example_profile_can_be_sent(receiver, admin_user, db):
    campaign = draft(
        make_webhook(url=receiver.url + "/hook"),
        delivery_type="live",
        trigger_event="Added To Cart",
        custom_body="{{ profile.Identity | json }}",
    )

    delivery = sent(campaign, Profile(identity="sample-user"), admin_user)

    assert delivery.attempts.get().request_body == '"sample-user"'


def test_the_page_shows_the_test_sending_then_its_result(receiver, ann, admin_client):
    campaign = draft(make_webhook(url=receiver.url + "/hook"), status="draft")
    posted = admin_client.post(
        reverse("campaigns:test_send", args=[campaign.pk]),
        {
            "content_type": "json",
            "body_mode": "custom",
            "custom_body": campaign.custom_body,
            "profile_fields": ["Email"],
            "properties_scope": "all",
            "batch_size": "50",
        },
        headers={"HX-Request": "true"},
    )
    page = posted.content.decode()
    assert posted.status_code == 200, page
    assert 'data-testid="test-sending"' in page and 'hx-trigger="load delay:500ms"' in page
    delivery = Delivery.objects.get(source="test")
    result = reverse("campaigns:test_result", args=[campaign.pk, delivery.pk])
    assert result in page
    assert 'data-testid="test-sending"' in admin_client.get(result).content.decode()

    send_due_batch()  # what a worker does meanwhile

    page = admin_client.get(result).content.decode()
    assert 'data-testid="test-result"' in page and "HTTP 200" in page and "hx-get" not in page


def test_a_test_to_a_failing_endpoint_is_its_probe_now(receiver, ann, admin_user):
    webhook = make_webhook(
        url=receiver.url + "/hook",
        health="failing",
        next_probe_at=timezone.now() + timedelta(hours=1),
    )
    delivery = sent(draft(webhook), ann, admin_user)
    assert delivery.status == "success"
    webhook.refresh_from_db()
    assert webhook.health == "healthy"


def test_a_disabled_endpoint_is_refused(ann, admin_user):
    with pytest.raises(TestSendRefused, match="disabled after failing"):
        send_test(draft(make_webhook(health="disabled")), ann, admin_user)
