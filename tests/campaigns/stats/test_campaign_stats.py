"""A campaign's stats page: its figures, each linked figure opening a page with that
count, the errors by reason, profiles reached, goal conversions against the control group,
the empty state, and the page's access rules and queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignStatus
from campaigns.stats import queries
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.stats.rollups import add_attempts
from tests.factories import (
    make_campaign,
    make_due_deliveries,
    make_profile,
    make_profile_event,
    make_profiles,
    make_webhook,
)
from tests.support.figures import linked_figures, shown_count
from tests.support.sending import send_due_batch
from webhooks.models import SystemSettings


def stats(campaign: Campaign) -> str:
    return f"/admin/campaigns/{campaign.pk}/stats"


def audience(campaign: Campaign) -> str:
    return f"/admin/campaigns/{campaign.pk}/stats/audience"


def completed(webhook=None, **overrides) -> Campaign:
    """A one-time campaign published yesterday and sent."""
    fields = {
        "status": CampaignStatus.COMPLETED,
        "published_at": timezone.now() - timedelta(days=1),
    }
    return make_campaign(webhook, **fields | overrides)


def make_run(campaign: Campaign, **counters) -> CampaignRun:
    return CampaignRun.objects.create(
        campaign=campaign, occurrence=f"run-{CampaignRun.objects.count()}", **counters
    )


@pytest.fixture
def sent(transactional_db, receiver):
    """A campaign sent through the engine to a real receiver: successes, 5xx and 4xx
    answers (each retried once), refused connections and invalid URLs; and, to stay out
    of its figures, another campaign's deliveries and event deliveries."""
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 1, 1
    system.save()
    mixed = make_webhook(name="Mixed", url=receiver.url + "/codes/500,404,200")
    campaign = completed(mixed)
    make_run(campaign, members=10, streamed=10, targets=9, control=1, payloads=9)
    make_due_deliveries(mixed, 3, campaign=campaign)
    make_due_deliveries(make_webhook(name="Fine", url=receiver.url + "/ok"), 2, campaign=campaign)
    make_due_deliveries(make_webhook(name="Down", url="http://127.0.0.1:9/x"), 2, campaign=campaign)
    make_due_deliveries(
        make_webhook(name="Broken", url="ftp://example.com/x"), 1, campaign=campaign
    )
    # Neither of these counts for the campaign.
    other = completed(mixed, name="Other")
    make_due_deliveries(make_webhook(name="Other", url=receiver.url + "/ok"), 2, campaign=other)
    make_due_deliveries(make_webhook(name="Events", url="http://127.0.0.1:9/e"), 2, source="event")
    for _ in range(10):  # first tries, then the retries as they fall due
        send_due_batch()
    return campaign


def count_on(client, url: str) -> int:
    """The count a log page shows; for the attempts log, also checked against its rows
    (the count comes from the rollups, the rows from the attempts table)."""
    count, page = shown_count(client, url)
    if "/attempts" in url:
        rows = page[page.index("<tbody>") :] if "<tbody>" in page else ""
        assert rows.count("<tr>") == count, url
    return count


# The figures and their links


THREE_DAYS_AGO = f"?since={(timezone.now() - timedelta(days=3)).date().isoformat()}"


@pytest.mark.parametrize("window", ["", "?range=24h", "?range=7d", "?range=30d", THREE_DAYS_AGO])
def test_each_linked_figure_opens_a_page_with_that_count(admin_client, sent, window):
    page = admin_client.get(stats(sent) + window).content.decode()
    figures = linked_figures(page)
    # streamed, failed, attempts, 4 error kinds, 5 statuses
    assert len(figures) == 12, "\n".join(f"{u} {n}" for u, n in figures)
    assert all(f"campaign={sent.pk}" in url for url, _ in figures)
    assert any("/attempts" in url and "reason=" in url for url, _ in figures)
    assert any("status=" in url and "/attempts" not in url for url, _ in figures)
    for url, figure in figures:
        assert count_on(admin_client, url) == figure, (window, url)


def test_the_figures_count_the_campaign_only(admin_client, sent):
    page = admin_client.get(stats(sent)).content.decode()
    streamed = re.search(r'data-testid="streamed">([\d,]+)<', page).group(1)
    assert streamed == "8"  # payloads of this campaign, whatever became of them
    attempts = Delivery.objects.filter(campaign=sent).values_list("attempt_count", flat=True)
    assert f">{sum(attempts)}</a>" in page  # the attempts card
    assert 'data-testid="control">1<' in page


def test_errors_are_grouped_as_the_seed_names_them(admin_client, sent):
    page = admin_client.get(stats(sent)).content.decode()
    errors = page[page.index('id="errors-title"') :]
    errors = errors[: errors.index("</section>")]
    for label in (
        "Webhook dispatch error",
        "Invalid Webhook URL",
        "HTTP 5xx (server error)",
        "HTTP 4xx (client error)",
        "Connection refused",
    ):
        assert label in errors


def test_a_reason_added_later_is_named_by_its_label_and_linked(admin_client, db):
    """Any reason of FailureReason shows with its label and opens the attempts log
    narrowed to it (template_error is one a campaign's content can fail with)."""
    webhook = make_webhook()
    campaign = completed(webhook)
    make_run(campaign, targets=1, payloads=1)
    [delivery] = make_due_deliveries(webhook, 1, campaign=campaign, status="failed")
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery,
        webhook=webhook,
        number=1,
        request_url=webhook.url,
        failure_reason="template_error",
    )
    add_attempts([attempt])

    page = admin_client.get(stats(campaign)).content.decode()
    assert "Template error" in page
    assert "Payload not built" in page  # its own group: nothing was sent
    [(url, figure)] = [
        (url, n) for url, n in linked_figures(page) if "reason=template_error" in url
    ]
    assert figure == 1
    assert count_on(admin_client, url) == 1


def test_the_page_reads_the_rollups_never_the_attempts(admin_client, sent):
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(stats(sent), {"range": "30d"}).status_code == 200
    tables = " ".join(query["sql"] for query in captured.captured_queries)
    assert "deliveries_deliveryattempt" not in tables
    assert '"deliveries_delivery"' not in tables
    assert "deliveries_attemptrollup" in tables or "deliveries_dailyattemptrollup" in tables


def test_the_page_makes_a_fixed_number_of_queries(
    admin_client, sent, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12) as first:
        admin_client.get(stats(sent))
    make_due_deliveries(sent.webhook, 20, campaign=sent)
    for _ in range(3):
        send_due_batch()
    with django_assert_max_num_queries(len(first.captured_queries)):
        admin_client.get(stats(sent))


# Trend and window


def test_htmx_asks_for_the_trend_alone(admin_client, sent):
    response = admin_client.get(
        stats(sent), {"granularity": "weekly"}, headers={"HX-Request": "true"}
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="panel stats-trend" id="stats-trend"')
    assert "per week" in page
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("granularity", ["daily", "weekly", "monthly"])
def test_the_trend_adds_up_to_the_attempts(admin_client, sent, granularity):
    page = admin_client.get(stats(sent), {"granularity": granularity}).content.decode()
    delivered = re.search(r"Delivered <strong>([\d,]+)</strong>", page).group(1)
    failed = re.search(r"Failed <strong>([\d,]+)</strong>", page).group(1)
    attempts = DeliveryAttempt.objects.filter(delivery__campaign=sent)
    assert int(delivered) == attempts.filter(success=True).count()
    assert int(failed) == attempts.filter(success=False).count()


def test_the_whole_campaign_is_the_default_window(admin_client, db):
    webhook = make_webhook()
    campaign = completed(webhook, published_at=timezone.now() - timedelta(days=50))
    make_run(campaign, targets=1, payloads=1)
    page = admin_client.get(stats(campaign)).content.decode()
    assert 'aria-current="true">Whole campaign<' in page
    assert "per day" in page  # 50 days: daily bars


def test_an_invalid_window_is_refused_with_422(admin_client, sent):
    response = admin_client.get(stats(sent), {"since": "2025-02-01", "until": "2025-01-01"})
    assert response.status_code == 422
    assert "This stats link is not valid" in response.content.decode()
    assert admin_client.get(stats(sent), {"range": "2y"}).status_code == 422


# Audience: profiles reached and goal conversions


@pytest.fixture
def audience_data(db):
    """A run 10 days ago: 6 targets in two payloads (one delivered, one failed) and 4
    control members; the goal is Charged within 7 days of the run's start."""
    webhook = make_webhook()
    campaign = completed(webhook, goal_event="Charged", goal_window_days=7, control_percent=40)
    start = timezone.now() - timedelta(days=10)
    run = make_run(campaign, members=10, targets=6, control=4, payloads=2, started_at=start)
    p = make_profiles(10, identity="user-{}", first=0)
    delivered, failed = make_due_deliveries(webhook, 2, campaign=campaign)
    Delivery.objects.filter(pk=delivered.pk).update(status=DeliveryStatus.SUCCESS)
    Delivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED)
    for i in range(6):
        CampaignRecipient.objects.create(
            run=run, profile_id=p[i].pk, delivery_id=(delivered if i < 3 else failed).pk
        )
    for i in range(6, 10):
        CampaignRecipient.objects.create(run=run, profile_id=p[i].pk, control=True)

    def event(profile, name, after):
        make_profile_event(profile, name, occurred_at=start + after)

    event(p[0], "Charged", timedelta(hours=1))  # converts
    event(p[1], "Charged", -timedelta(hours=1))  # before the run: no
    event(p[2], "Charged", timedelta(days=8))  # after the window: no
    event(p[3], "App Launched", timedelta(hours=1))  # another event: no
    event(p[4], "Charged", timedelta(days=1))  # converts (twice: counted once)
    event(p[4], "Charged", timedelta(days=2))
    event(p[6], "Charged", timedelta(hours=2))  # a control member converts
    return campaign


def test_profiles_reached_are_targets_whose_payload_was_delivered(admin_client, audience_data):
    response = admin_client.get(audience(audience_data), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert 'id="reached-card" hx-swap-oob="true"' in page
    assert 'data-testid="reached">3<' in page
    assert "of 6 targeted" in page


def test_goal_conversions_compare_the_targets_with_the_control_group(admin_client, audience_data):
    page = admin_client.get(audience(audience_data), headers={"HX-Request": "true"}).content
    page = page.decode()
    targets = page[page.index('data-testid="targets"') :].split("</tr>")[0]
    control = page[page.index('data-testid="control-group"') :].split("</tr>")[0]
    assert re.findall(r'class="num">(?:<strong>)?([^<]+)<', targets) == ["6", "2", "33.33%"]
    assert re.findall(r'class="num">(?:<strong>)?([^<]+)<', control) == ["4", "1", "25.00%"]
    # (2/6 - 1/4) / (1/4)
    assert "+33.3%" in page[page.index('data-testid="uplift"') :]


def test_audience_figures_count_the_runs_started_in_the_window(admin_client, audience_data):
    runs = queries.audience(queries.runs_in(audience_data))
    found = queries.conversions(audience_data, None, runs)
    assert (found.targets.converted, found.control.converted) == (2, 1)
    page = admin_client.get(
        audience(audience_data), {"range": "7d"}, headers={"HX-Request": "true"}
    )
    page = page.content.decode()
    assert "0 runs started in this window" in page
    assert "No run started in this window" in page
    assert 'data-testid="reached">0<' in page


def test_the_uplift_is_na_without_a_control_group(admin_client, db):
    campaign = completed(make_webhook(), goal_event="Charged")
    run = make_run(campaign, members=1, targets=1)
    profile = make_profile(identity="solo")
    CampaignRecipient.objects.create(run=run, profile_id=profile.pk)
    make_profile_event(profile, "Charged", occurred_at=run.started_at + timedelta(minutes=5))
    page = admin_client.get(audience(campaign), headers={"HX-Request": "true"}).content.decode()
    uplift = page[page.index('data-testid="uplift"') :]
    assert "n/a" in uplift and "no control group" in uplift
    assert "100.00%" in page


def test_without_a_goal_the_panel_says_what_a_goal_is(admin_client, audience_data):
    Campaign.objects.filter(pk=audience_data.pk).update(goal_event="")
    page = admin_client.get(audience(audience_data), headers={"HX-Request": "true"}).content
    assert "This campaign has no goal" in page.decode()


def test_the_page_fetches_the_audience_figures_after_loading(admin_client, audience_data):
    page = admin_client.get(stats(audience_data), {"range": "30d"}).content.decode()
    url = f"{audience(audience_data)}?range=30d"
    assert f'hx-get="{url}" hx-trigger="load"' in page
    assert f'<noscript><p><a class="button small" href="{url}">' in page


def test_without_htmx_the_audience_url_is_the_whole_page_with_them(admin_client, audience_data):
    page = admin_client.get(audience(audience_data)).content.decode()
    assert "<html" in page and 'id="stats-trend"' in page
    assert 'data-testid="reached">3<' in page
    assert "+33.3%" in page
    assert 'hx-trigger="load"' not in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statement_timeout")
def test_a_recipients_query_is_cut_off_after_the_timeout(db):
    def slow():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")

    with pytest.raises(queries.TooSlow):
        queries.bounded(slow, timeout_ms=50)
    with connection.cursor() as cursor:  # the timeout is gone again
        cursor.execute("SELECT pg_sleep(0.1)")


# Empty state and access


def test_a_campaign_not_sent_yet_says_when_it_will(admin_client, db):
    campaign = completed(
        make_webhook(),
        status=CampaignStatus.SCHEDULED,
        published_at=None,
        next_run_at=timezone.now() + timedelta(days=2),
    )
    page = admin_client.get(stats(campaign)).content.decode()
    assert 'data-testid="not-sent"' in page
    assert "Its first run is due" in page
    assert 'id="stats-trend"' not in page
    draft = make_campaign(None, name="Draft")
    assert "is a draft" in admin_client.get(stats(draft)).content.decode()


def test_the_campaign_page_links_to_its_stats(admin_client, db):
    campaign = completed(make_webhook())
    page = admin_client.get(f"/admin/campaigns/{campaign.pk}").content.decode()
    assert f'href="{stats(campaign)}"' in page


PATHS = ["/stats", "/stats/audience"]


@pytest.mark.parametrize("suffix", PATHS)
def test_anonymous_users_are_sent_to_the_login_page(client, db, suffix):
    campaign = completed(make_webhook())
    assert "/login" in client.get(f"/admin/campaigns/{campaign.pk}{suffix}")["Location"]


@pytest.mark.parametrize("suffix", PATHS)
def test_members_without_the_admin_role_get_403(member_client, suffix):
    campaign = completed(make_webhook())
    assert member_client.get(f"/admin/campaigns/{campaign.pk}{suffix}").status_code == 403


@pytest.mark.parametrize("suffix", PATHS)
def test_post_is_refused_and_a_missing_campaign_is_404(admin_client, suffix):
    campaign = completed(make_webhook())
    assert admin_client.post(f"/admin/campaigns/{campaign.pk}{suffix}").status_code == 405
    assert admin_client.get(f"/admin/campaigns/{campaign.pk + 1000}{suffix}").status_code == 404


def test_the_attempts_log_of_a_campaign_finds_its_attempts_in_separate_hours(admin_client, db):
    """It reads only the hours the campaign's rollups name (tests the stretches)."""
    webhook = make_webhook()
    campaign, other = completed(webhook), completed(webhook, name="Other")
    now = timezone.now()
    written = []
    for owner, hours_ago in [(campaign, 5), (other, 3), (campaign, 1), (campaign, 0)]:
        [delivery] = make_due_deliveries(webhook, 1, campaign=owner)
        written.append(
            DeliveryAttempt.objects.create(
                delivery=delivery,
                webhook=webhook,
                number=1,
                attempted_at=now - timedelta(hours=hours_ago),
                request_url=webhook.url,
                success=True,
                response_code=200,
            )
        )
    add_attempts(written)
    url = f"/admin/webhook-deliveries/attempts?campaign={campaign.pk}&range=24h"
    assert count_on(admin_client, url) == 3
    other_url = f"/admin/webhook-deliveries/attempts?campaign={other.pk}&range=24h"
    assert count_on(admin_client, other_url) == 1
