"""The attempts log's filter form shows the window the page counts (a stats link's
since/until included), so Apply keeps the count; its campaign filter is a choice by name."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.stats import rollups
from tests.factories import make_campaign, make_webhook

ATTEMPTS = reverse("deliveries:attempts")
LOG = reverse("deliveries:log")
TEN = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)


@pytest.fixture
def attempts(db):
    """Attempts at 09:30, 10:15, 10:45 and 11:30 (five hours ago being 10:00), the ones
    from 10:00 to 11:00 by a campaign."""
    webhook = make_webhook(name="Orders")
    campaign = make_campaign(webhook)
    made = []
    for minutes in (-30, 15, 45, 90):
        at = TEN + timedelta(minutes=minutes)
        delivery = Delivery.objects.create(
            webhook=webhook,
            created_at=at,
            status=DeliveryStatus.SUCCESS,
            campaign=campaign if 0 < minutes < 60 else None,
        )
        made.append(
            DeliveryAttempt(
                delivery=delivery,
                webhook_id=webhook.pk,
                number=1,
                attempted_at=at,
                request_url="https://example.com/hook",
                success=True,
                response_code=200,
                duration_ms=100,
            )
        )
    DeliveryAttempt.objects.bulk_create(made)
    rollups.add_attempts(made)
    return campaign


def selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected>', select).group(1)


def input_value(html: str, name: str) -> str:
    return re.search(rf'<input [^>]*name="{name}"[^>]*value="([^"]*)"', html).group(1)


def form_params(html: str) -> dict:
    """What pressing Apply sends for the window."""
    return {
        "range": selected(html, "range"),
        "since": input_value(html, "since"),
        "until": input_value(html, "until"),
    }


def test_a_stats_link_window_is_shown_as_a_custom_window_of_whole_hours(admin_client, attempts):
    since, until = TEN.isoformat(), (TEN + timedelta(hours=1)).isoformat()
    response = admin_client.get(ATTEMPTS, {"since": since, "until": until})
    html = response.content.decode()
    assert response.context["count"] == 2
    local = timezone.localtime(TEN)
    assert form_params(html) == {
        "range": "custom",
        "since": f"{local:%Y-%m-%dT%H:%M}",
        "until": f"{local + timedelta(hours=1):%Y-%m-%dT%H:%M}",
    }


def test_pressing_apply_keeps_the_count_of_a_stats_link(admin_client, attempts):
    since, until = TEN.isoformat(), (TEN + timedelta(hours=1)).isoformat()
    linked = admin_client.get(ATTEMPTS, {"since": since, "until": until})
    applied = admin_client.get(ATTEMPTS, form_params(linked.content.decode()))
    assert applied.context["count"] == linked.context["count"] == 2
    assert applied.context["window"] == linked.context["window"]


def test_a_window_within_hours_shows_the_whole_hours_it_counts(admin_client, attempts):
    since = (TEN + timedelta(minutes=20)).isoformat()
    until = (TEN + timedelta(minutes=40)).isoformat()
    response = admin_client.get(ATTEMPTS, {"since": since, "until": until})
    local = timezone.localtime(TEN)
    assert response.context["count"] == 2  # the rollups count whole hours
    assert form_params(response.content.decode())["since"] == f"{local:%Y-%m-%dT%H:%M}"


def test_without_a_window_the_form_names_the_default_window_it_counts(admin_client, attempts):
    response = admin_client.get(ATTEMPTS)
    assert response.context["window"].hours == 7 * 24
    assert form_params(response.content.decode()) == {"range": "7d", "since": "", "until": ""}


def test_a_named_window_clears_the_dates_it_ignores(admin_client, attempts):
    response = admin_client.get(ATTEMPTS, {"range": "24h", "since": "2020-01-01T00:00"})
    assert response.context["window"].hours == 24
    assert form_params(response.content.decode()) == {"range": "24h", "since": "", "until": ""}


def test_the_campaign_filter_is_a_choice_by_name(admin_client, attempts):
    html = admin_client.get(ATTEMPTS, {"campaign": attempts.pk, "range": "24h"}).content.decode()
    assert f'<option value="{attempts.pk}" selected>Spring sale</option>' in html
    assert 'name="campaign" id="id_campaign" value=' not in html  # no bare id box
    response = admin_client.get(ATTEMPTS, {"campaign": attempts.pk, "range": "24h"})
    assert response.context["count"] == 2
    assert len(response.context["page"].rows) == 2


def test_an_unknown_campaign_is_a_form_error(admin_client, attempts):
    for value in ("999999", "abc", str(10**30)):
        response = admin_client.get(ATTEMPTS, {"campaign": value})
        assert response.status_code == 422, value
        assert "campaign" in response.context["form"].errors


def test_the_log_shows_a_stats_link_window_as_a_custom_range(admin_client, attempts):
    since, until = TEN.isoformat(), (TEN + timedelta(hours=1)).isoformat()
    response = admin_client.get(LOG, {"since": since, "until": until})
    local = timezone.localtime(TEN)
    assert form_params(response.content.decode()) == {
        "range": "custom",
        "since": f"{local:%Y-%m-%dT%H:%M}",
        "until": f"{local + timedelta(hours=1):%Y-%m-%dT%H:%M}",
    }
    assert response.context["count"] == 2


def test_the_log_campaign_filter_is_a_choice_by_name(admin_client, attempts):
    response = admin_client.get(LOG, {"campaign": attempts.pk})
    assert f'<option value="{attempts.pk}" selected>Spring sale</option>' in (
        response.content.decode()
    )
    assert response.context["count"] == 2
