""" "Webhooks streamed" means one thing on every page: the deliveries (payloads) sent to
an endpoint, each counted once however many attempts it took. The HTTP tries are
"Attempts". Both are followed from every page that shows them to the log page they
open, for a campaign that alone uses its webhook."""

import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.sending import fanout
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from tests.factories import make_campaign, make_profile_event, make_profiles, make_webhook
from tests.support.figures import shown_count
from tests.support.sending import send_due_batch
from webhooks.models import ApiKey, SystemSettings

MEMBERS, BATCH = 20, 6
PAYLOADS = 4  # 20 members in batches of 6: 6, 6, 6, 2
RETRIED = 2  # the receiver answers 500 twice, then 200: two payloads take two tries
ATTEMPTS = PAYLOADS + RETRIED


@pytest.fixture
def campaign(transactional_db, receiver):
    """A campaign-only webhook and the campaign whose one run streamed four payloads
    through the real fan-out and engine, two of them answered 500 first and retried."""
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 1, 1
    system.save()
    yesterday = timezone.now() - timedelta(days=1)
    for profile in make_profiles(MEMBERS, first=0):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)
    sale = make_campaign(
        make_webhook(name="Spring hook", url=receiver.url + "/codes/500,500,200"),
        batch_size=BATCH,
        status="running",
        published_at=timezone.now(),
    )
    run = fanout.run_occurrence(sale.pk, "2026-12-07T09:00Z")
    assert run.payloads == PAYLOADS
    deadline = time.monotonic() + 20
    sent = Delivery.objects.filter(campaign=sale)
    while sent.exclude(status=DeliveryStatus.SUCCESS).exists():  # the retries fall due
        assert time.monotonic() < deadline, list(sent.values_list("status", flat=True))
        if not send_due_batch():
            time.sleep(0.1)
    assert DeliveryAttempt.objects.filter(delivery__campaign=sale).count() == ATTEMPTS
    return sale


def card(page: str, label: str) -> tuple[str, int]:
    """(link, figure) of the one stats card labelled ``label``."""
    found = re.findall(
        rf'<div class="label">{label}</div>\s*<div class="value"><a href="([^"]+)"[^>]*>'
        r"([\d,]+)</a>",
        page,
    )
    assert len(found) == 1, f"{len(found)} cards labelled {label}"
    url, figure = found[0]
    return url.replace("&amp;", "&"), int(figure.replace(",", ""))


def stats_pages(campaign: Campaign) -> dict[str, str]:
    return {
        "dashboard": reverse("stats:dashboard"),
        "webhook stats": reverse("stats:webhook", args=[campaign.webhook_id]),
        "campaign stats": reverse("campaigns:stats", args=[campaign.pk]),
    }


def test_webhooks_streamed_is_one_number_on_every_page_and_its_link(admin_client, campaign):
    for name, url in stats_pages(campaign).items():
        page = admin_client.get(url).content.decode()
        assert page.count(">Webhooks streamed<") == 1, name
        link, figure = card(page, "Webhooks streamed")
        assert figure == PAYLOADS, name
        # It opens the delivery log (one row per delivery), whose count is that figure.
        assert link.startswith(reverse("deliveries:log") + "?"), (name, link)
        assert shown_count(admin_client, link)[0] == PAYLOADS, (name, link)

    # The campaign list: its column has the same figure, and opens the campaign's stats
    # page, which shows it again.
    listing = admin_client.get(reverse("campaigns:list")).content.decode()
    assert listing.count(">Webhooks streamed<") == 1
    row = listing[listing.index(f'id="campaign-{campaign.pk}"') :]
    cell = row[row.index('data-testid="streamed"') :]
    cell = cell[: cell.index("</td>")]
    link, figure = re.search(r'href="([^"]+)">([\d,]+)</a>', cell).groups()
    assert int(figure) == PAYLOADS
    assert card(admin_client.get(link).content.decode(), "Webhooks streamed")[1] == PAYLOADS


def test_attempts_are_labelled_apart_and_open_the_attempts_with_that_count(admin_client, campaign):
    for name, url in stats_pages(campaign).items():
        page = admin_client.get(url).content.decode()
        link, figure = card(page, "Attempts")
        assert figure == ATTEMPTS, name
        assert link.startswith(reverse("deliveries:attempts") + "?"), (name, link)
        assert shown_count(admin_client, link)[0] == ATTEMPTS, (name, link)
    # The dashboard's webhooks table names the column the same way.
    dashboard = admin_client.get(reverse("stats:dashboard")).content.decode()
    table = dashboard[dashboard.index('id="webhooks-title"') :]
    assert ">Attempts</th>" in table and ">Sent<" not in table


def test_the_stats_api_total_is_the_attempts_not_the_webhooks_streamed(
    client, admin_client, campaign
):
    key = ApiKey.issue("figures")[1]
    body = client.get(
        f"/api/v1/workspace/webhooks/{campaign.webhook_id}/stats",
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert (body["total"], body["success_count"], body["failed_count"]) == (
        ATTEMPTS,
        PAYLOADS,
        RETRIED,
    )
    schema = admin_client.get("/api/v1/openapi.json").json()
    total = schema["components"]["schemas"]["WebhookStatsResponse"]["properties"]["total"]
    assert '"Attempts"' in total["description"]
    assert '"Webhooks streamed"' in total["description"]  # says which one it is not
