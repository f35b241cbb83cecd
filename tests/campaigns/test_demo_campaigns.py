"""The demo campaigns of `make run`: one of each delivery type, loaded with the demo
audience, sent to the demo receiver."""

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from campaigns import demo, demo_campaigns
from campaigns.content import template
from campaigns.models import Campaign, CampaignRecipient, LiveTrigger, ProfileEvent
from campaigns.sending import fanout, live, schedule
from deliveries.models import Delivery
from tests.factories import make_profile, make_profile_event
from tests.support.sending import send_due_batch
from webhooks import demo_receiver
from webhooks.models import Webhook

NAMES = [demo_campaigns.WIN_BACK, demo_campaigns.DIGEST, demo_campaigns.CART_REMINDER]


@pytest.fixture
def receiver_port(settings):
    """The demo receiver of `make run`, on a free port."""
    server = demo_receiver.Server(("127.0.0.1", 0), demo_receiver.DemoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.WEBHOOKS_DEMO_RECEIVER_PORT = server.server_address[1]
    yield server.server_address[1]
    server.shutdown()


def load() -> str:
    out = StringIO()
    call_command("load_demo_audience", profiles=400, stdout=out)
    return out.getvalue()


# Committed (transactional_db): on PostgreSQL fan-out reads the members through a second
# connection.
@pytest.fixture
def loaded(transactional_db, receiver_port):
    return load()


def test_loading_twice_creates_each_campaign_once(loaded):
    assert "Demo campaigns: 3 published, the one-time one sent" in loaded
    deliveries = Delivery.objects.count()

    again = load()

    assert "Demo campaigns" not in again
    assert sorted(Campaign.objects.values_list("name", flat=True)) == sorted(NAMES)
    assert Webhook.objects.filter(name=demo_campaigns.WEBHOOK).count() == 1
    assert Delivery.objects.count() == deliveries


def test_an_admins_edit_survives_a_reload_and_a_deleted_one_comes_back(loaded):
    Campaign.objects.filter(name=demo_campaigns.DIGEST).update(batch_size=7)
    Campaign.objects.filter(name=demo_campaigns.CART_REMINDER).delete()

    load()

    assert Campaign.objects.get(name=demo_campaigns.DIGEST).batch_size == 7
    assert Campaign.objects.get(name=demo_campaigns.CART_REMINDER).status == "running"


def test_each_delivery_type_is_published_to_the_demo_receiver(loaded, receiver_port):
    campaigns = {c.name: c for c in Campaign.objects.select_related("webhook")}
    win_back = campaigns[demo_campaigns.WIN_BACK]
    digest = campaigns[demo_campaigns.DIGEST]
    cart = campaigns[demo_campaigns.CART_REMINDER]

    assert (win_back.delivery_type, win_back.status) == ("one_time", "completed")
    assert win_back.published_at and win_back.next_run_at is None
    assert win_back.segment.name == "Dormant users"

    assert (digest.delivery_type, digest.status, digest.body_mode) == (
        "recurring",
        "scheduled",
        "custom",
    )
    berlin = digest.next_run_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.weekday(), berlin.hour, berlin.minute) == (0, 9, 0)
    assert digest.next_run_at - digest.published_at <= timedelta(days=7, hours=1)
    assert template.check(digest.custom_body) == []

    assert (cart.delivery_type, cart.status, cart.trigger_event) == (
        "live",
        "running",
        "Added To Cart",
    )
    assert "Event_properties" in cart.profile_fields

    assert {c.webhook.url for c in campaigns.values()} == {
        f"http://127.0.0.1:{receiver_port}{demo_campaigns.RECEIVER_PATH}"
    }


def test_the_one_time_campaign_was_sent_and_reaches_the_receiver(loaded):
    win_back = Campaign.objects.get(name=demo_campaigns.WIN_BACK)
    run = win_back.runs.get()
    deliveries = list(Delivery.objects.filter(campaign=win_back))

    assert run.status == "completed" and run.targets > 0 and run.control > 0
    assert len(deliveries) == run.payloads == -(-run.targets // 50)
    body = deliveries[0].payload
    assert body["targetId"] == win_back.pk
    assert body["key_values"]["PromoCode"] == "COMEBACK20"
    assert 0 < len(body["profiles"]) <= 50
    assert set(body["profiles"][0]) == {"Email", "Identity", "ProfileData"}
    assert CampaignRecipient.objects.filter(run=run, control=True).count() == run.control

    while send_due_batch():
        pass

    statuses = set(Delivery.objects.filter(campaign=win_back).values_list("status", flat=True))
    assert statuses == {"success"}


def test_the_weekly_digest_renders_its_liquid_body_for_each_batch(loaded):
    digest = Campaign.objects.get(name=demo_campaigns.DIGEST)

    run = fanout.run_occurrence(digest.pk, schedule.occurrence_key(digest.next_run_at))

    assert run.targets > 0
    bodies = [json.loads(d.payload) for d in Delivery.objects.filter(campaign=digest)]
    assert len(bodies) == run.payloads == -(-run.targets // 100)
    assert {(b["digest"], b["campaign"]) for b in bodies} == {("weekly-picks", digest.pk)}
    recipients = [r for b in bodies for r in b["recipients"]]
    assert len(recipients) == run.targets
    assert set(recipients[0]) == {"id", "email", "firstName", "city", "plan"}

    while send_due_batch():
        pass

    statuses = set(Delivery.objects.filter(campaign=digest).values_list("status", flat=True))
    assert statuses == {"success"}


def test_demo_traffic_sets_off_the_live_campaign(loaded):
    cart = Campaign.objects.get(name=demo_campaigns.CART_REMINDER)
    before = ProfileEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    rng = random.Random(7)

    for _ in range(20):
        demo.tick(rng)

    carts = ProfileEvent.objects.filter(pk__gt=before, name="Added To Cart")
    assert carts.exists()
    triggers = LiveTrigger.objects.filter(campaign=cart)
    assert sorted(triggers.values_list("event_id", "due_at")) == sorted(
        (pk, at + timedelta(minutes=2)) for pk, at in carts.values_list("pk", "occurred_at")
    )


@pytest.mark.parametrize(("bought", "reminded"), [(False, True), (True, False)])
def test_the_live_campaign_reminds_only_who_bought_nothing(loaded, bought, reminded):
    cart = Campaign.objects.get(name=demo_campaigns.CART_REMINDER)
    shopper = make_profile(identity="shopper", email="shopper@example.com")
    added = _event(shopper, "Added To Cart", 3, product="Trail Tent", price=199, currency="CAD")
    if bought:
        _event(shopper, "Charged", 2, amount=199, currency="CAD")

    # What the worker does two minutes after the event (the campaign's delay).
    run = live.run(cart.pk, added.pk)

    assert (run.members, run.targets) == (int(reminded), int(reminded))
    sent = list(Delivery.objects.filter(campaign=cart))
    assert len(sent) == int(reminded)
    if reminded:
        entry = sent[0].payload["profiles"][0]
        assert entry["Identity"] == "shopper"
        assert entry["Event_properties"] == {
            "product": "Trail Tent",
            "price": 199,
            "currency": "CAD",
        }


def _event(profile, name: str, minutes_ago: int, **properties) -> ProfileEvent:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return make_profile_event(profile, name, properties=properties, occurred_at=at)
