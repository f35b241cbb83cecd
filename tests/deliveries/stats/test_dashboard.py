from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import FailureReason
from deliveries.stats.charts import compact_number, nice_step, trend_chart
from deliveries.stats.figures import TrendPoint
from deliveries.stats.windows import hour_floor
from tests.deliveries.stats.test_rollups import build_attempt, write_attempts
from tests.factories import make_delivery, make_webhook

DASHBOARD = "/admin/"
ATTEMPTS = "/admin/webhook-deliveries/attempts"


def links(response, path="/admin/webhook-deliveries"):
    """The query strings of the links to ``path`` on the page, parsed."""
    html = response.content.decode()
    found = []
    for chunk in html.split('href="')[1:]:
        url = chunk.split('"', 1)[0].replace("&amp;", "&")
        if urlsplit(url).path == path:
            found.append({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})
    return found


@pytest.fixture
def traffic(db):
    """Two webhooks with recent attempts of every kind, and an old one outside 24 h."""
    now = timezone.now()
    billing = make_webhook(name="Billing")
    crm = make_webhook(name="CRM")
    ok = make_delivery(billing, created_at=now - timedelta(minutes=30))
    bad = make_delivery(billing, created_at=now - timedelta(minutes=20), status="failed")
    pending = make_delivery(crm, created_at=now - timedelta(minutes=10), status="pending")
    make_delivery(crm, created_at=now - timedelta(days=3), status="not_triggered")
    # The current hour's bucket, however soon after the hour the test runs.
    recent = now.replace(minute=0, second=0, microsecond=0)
    write_attempts(
        [
            build_attempt(ok, at=recent, duration=80),
            build_attempt(bad, at=recent, success=False, code=503, reason="http_error"),
            build_attempt(bad, at=recent, success=False, code=404, reason="http_error"),
            build_attempt(bad, at=recent, success=False, code=None, reason="timeout"),
            build_attempt(pending, at=recent, success=False, code=None,
                          reason=FailureReason.CONNECTION_REFUSED),
            build_attempt(pending, at=recent, success=False, code=None,
                          reason=FailureReason.INVALID_URL, duration=None),
            build_attempt(pending, at=now - timedelta(days=3), duration=700),
        ]
    )  # fmt: skip
    return billing, crm


def test_anonymous_users_are_sent_to_log_in(client, db):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_members_without_the_admin_role_get_403(member_client):
    assert member_client.get(DASHBOARD).status_code == 403
    webhook = make_webhook()
    assert member_client.get(reverse("stats:webhook", args=[webhook.pk])).status_code == 403


def test_post_is_not_allowed(admin_client):
    assert admin_client.post(DASHBOARD).status_code == 405
    webhook = make_webhook()
    assert admin_client.post(reverse("stats:webhook", args=[webhook.pk])).status_code == 405


def test_the_cards_show_attempt_figures_of_the_window(admin_client, traffic):
    response = admin_client.get(DASHBOARD, {"range": "24h"})
    assert response.status_code == 200
    figures = response.context["figures"]
    assert (figures.total, figures.success_count, figures.failed_count) == (6, 1, 5)
    assert figures.success_percent == "16.7%"
    # Durations: 80 and four of the default 120 ms.
    assert (figures.avg_duration_ms, figures.max_duration_ms) == (112, 120)
    assert figures.p95_duration_ms == 120
    html = response.content.decode()
    assert "Webhooks streamed" in html and "16.7%" in html
    week = admin_client.get(DASHBOARD, {"range": "7d"}).context["figures"]
    assert (week.total, week.max_duration_ms) == (7, 700)


def test_errors_are_grouped_as_the_seeds_do_and_link_to_the_log(admin_client, traffic):
    response = admin_client.get(DASHBOARD, {"range": "24h"})
    groups = {g["label"]: g for g in response.context["errors"]}
    assert list(groups) == ["Webhook dispatch error", "Invalid Webhook URL"]
    dispatch = {k["label"]: k["count"] for k in groups["Webhook dispatch error"]["kinds"]}
    assert dispatch == {
        "HTTP 5xx (server error)": 1,
        "HTTP 4xx (client error)": 1,
        "Timeout": 1,
        "Connection refused": 1,
    }
    assert groups["Webhook dispatch error"]["count"] == 4
    # Errors count attempts: they open the attempts log, narrowed the same way.
    found = links(response, ATTEMPTS)
    failed = {"outcome": "failed", "range": "24h"}
    assert {**failed, "reason": "http_error", "code": "5xx"} in found
    assert {**failed, "reason": "timeout"} in found
    assert {**failed, "reason": "invalid_url"} in found


def test_statuses_count_deliveries_created_in_the_window(admin_client, traffic):
    response = admin_client.get(DASHBOARD, {"range": "24h"})
    counts = {s["value"]: s["count"] for s in response.context["statuses"]}
    assert counts == {
        "pending": 1,
        "in_progress": 0,
        "success": 1,
        "failed": 1,
        "not_triggered": 0,
    }
    assert {"status": "not_triggered", "range": "24h"} in links(response)
    week = admin_client.get(DASHBOARD, {"range": "7d"})
    assert {s["value"]: s["count"] for s in week.context["statuses"]}["not_triggered"] == 1


def test_webhooks_are_listed_busiest_first_with_links(admin_client, traffic):
    billing, crm = traffic
    response = admin_client.get(DASHBOARD, {"range": "24h"})
    rows = response.context["webhooks"]
    assert [(r["webhook"].name, r["figures"].total) for r in rows] == [("Billing", 4), ("CRM", 2)]
    found = links(response, ATTEMPTS)
    assert {"webhook": str(billing.pk), "range": "24h"} in found
    assert {"webhook": str(crm.pk), "outcome": "failed", "range": "24h"} in found
    assert reverse("stats:webhook", args=[crm.pk]) in response.content.decode()


def test_webhook_rows_escape_names_and_show_health_and_pauses(admin_client, traffic):
    billing, crm = traffic
    billing.name, billing.url = "<b>Billing</b> & co", "https://example.com/?a=1&b=<2>"
    billing.is_active = False
    billing.save()
    crm.health, crm.health_changed_at = "failing", timezone.now()
    crm.save()
    html = admin_client.get(DASHBOARD, {"range": "24h"}).content.decode()
    table = html.split('id="webhooks-title"', 1)[1]
    assert "&lt;b&gt;Billing&lt;/b&gt; &amp; co" in table
    assert "<b>Billing" not in table
    assert "https://example.com/?a=1&amp;b=&lt;2&gt;" in table
    assert '<span class="badge">Paused</span>' in table
    assert 'data-health="failing"' in table
    assert "Failing since" in table


def test_the_trend_has_a_point_per_period_of_the_window(admin_client, traffic):
    response = admin_client.get(DASHBOARD, {"range": "24h"})
    assert response.context["granularity"] == "hourly"
    points = response.context["points"]
    assert len(points) == 24
    assert (points[-1].delivered, points[-1].failed) == (1, 5)
    week = admin_client.get(DASHBOARD, {"range": "7d", "granularity": "daily"})
    assert 7 <= len(week.context["points"]) <= 8  # the first day may be partial
    assert sum(p.total for p in week.context["points"]) == 7
    month = admin_client.get(DASHBOARD, {"range": "30d", "granularity": "hourly"})
    assert month.context["granularity"] == "daily"  # too many hours to draw
    assert "hourly" not in month.context["granularities"]


def test_htmx_swaps_only_the_trend(admin_client, traffic):
    response = admin_client.get(
        DASHBOARD, {"range": "7d", "granularity": "weekly"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="panel stats-trend" id="stats-trend"')
    assert "<html" not in html and "Errors" not in html
    assert "HX-Request" in response["Vary"]
    assert 'hx-target="#stats-trend"' in html and 'hx-push-url="true"' in html


def test_granularity_links_work_without_javascript(admin_client, traffic):
    html = admin_client.get(DASHBOARD, {"range": "30d"}).content.decode()
    assert 'href="?range=30d&amp;granularity=weekly"' in html
    assert 'hx-get="?range=30d&amp;granularity=weekly"' in html


def test_a_custom_window_takes_dates_and_includes_the_last_day(admin_client, traffic):
    today = timezone.localdate()
    response = admin_client.get(
        DASHBOARD, {"range": "custom", "since": str(today - timedelta(days=3)), "until": str(today)}
    )
    assert response.status_code == 200
    window = response.context["window"]
    assert window.end == hour_floor(
        timezone.make_aware(
            timezone.datetime.combine(today + timedelta(days=1), timezone.datetime.min.time())
        )
    )
    assert response.context["figures"].total == 7
    found = links(response, ATTEMPTS)
    assert {"since": window.start.isoformat(), "until": window.end.isoformat()} in found


@pytest.mark.parametrize(
    "params",
    [
        {"range": "1y"},
        {"since": "last tuesday"},
        {"range": "custom"},
        {"since": "2026-03-05", "until": "2026-03-01"},
        {"since": "2020-01-01", "until": "2026-01-01"},
        {"range": "custom", "since": "2026-01-01", "until": "9999-12-31"},  # overflowed
        {"range": "custom", "since": "0001-01-01", "until": "0001-01-02"},
        {"granularity": "yearly"},
    ],
)
def test_bad_input_answers_422_with_the_reason(admin_client, db, params):
    response = admin_client.get(DASHBOARD, params)
    assert response.status_code == 422
    assert "This stats link is not valid" in response.content.decode()
    partial = admin_client.get(DASHBOARD, params, headers={"HX-Request": "true"})
    assert partial.status_code == 422
    assert 'id="stats-trend"' in partial.content.decode()


def test_the_webhook_page_shows_only_that_webhook(admin_client, traffic):
    billing, crm = traffic
    response = admin_client.get(reverse("stats:webhook", args=[crm.pk]), {"range": "24h"})
    assert response.status_code == 200
    assert response.context["figures"].total == 2
    assert response.context["webhooks"] == []
    counts = {s["value"]: s["count"] for s in response.context["statuses"]}
    assert counts["pending"] == 1 and counts["failed"] == 0
    found = links(response, ATTEMPTS)
    assert {
        "webhook": str(crm.pk),
        "outcome": "failed",
        "reason": "invalid_url",
        "range": "24h",
    } in found
    partial = admin_client.get(
        reverse("stats:webhook", args=[crm.pk]),
        {"range": "24h"},
        headers={"HX-Request": "true"},
    )
    assert sum(p.total for p in partial.context["points"]) == 2


def test_an_unknown_webhook_page_is_404(admin_client, db):
    assert admin_client.get(reverse("stats:webhook", args=[424242])).status_code == 404


def test_an_empty_workspace_renders(admin_client, db):
    response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No attempts in this window yet." in html and "No errors in this window." in html


@pytest.mark.parametrize("webhooks", [2, 20])
def test_the_page_makes_a_fixed_number_of_queries(
    admin_client, db, webhooks, django_assert_max_num_queries
):
    now = timezone.now()
    for n in range(webhooks):
        delivery = make_delivery(make_webhook(), created_at=now)
        write_attempts([build_attempt(delivery, at=now, success=bool(n % 2), code=500 + n % 2)])
    # Session, user, groups, webhook counts, breakdown, statuses, names, trend.
    with django_assert_max_num_queries(9):
        response = admin_client.get(DASHBOARD)
    assert len(response.context["webhooks"]) == webhooks


def test_nice_steps_and_compact_numbers():
    assert [nice_step(n) for n in (0, 3, 8, 10, 37, 100, 950, 4000)] == [
        1, 1, 2, 5, 10, 25, 250, 1000,
    ]  # fmt: skip
    assert [compact_number(n) for n in (0, 999, 1000, 1500, 2_000_000)] == [
        "0", "999", "1k", "1.5k", "2M",
    ]  # fmt: skip


def test_the_chart_scales_bars_to_round_gridlines(settings):
    start = timezone.now()
    points = [
        TrendPoint(start, delivered=30, failed=7),
        TrendPoint(start + timedelta(days=1)),
    ]
    chart = trend_chart(points, "daily")
    assert [line["label"] for line in chart["gridlines"]] == ["0", "10", "20", "30", "40"]
    first, empty = chart["columns"]
    assert float(first.delivered_h) + float(first.failed_h) == pytest.approx(37 / 40 * 234, 0.01)
    assert (empty.delivered, empty.failed, empty.failed_share) == (0, 0, "–")
    assert first.failed_share == "18.9%"
    assert not chart["empty"]
