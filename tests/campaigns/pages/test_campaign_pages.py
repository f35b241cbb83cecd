"""The campaign pages: the list and its filters, one campaign with its runs, the
progress partial's polling, and the pause, resume and stop actions."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, CampaignStatus, DeliveryType, RunStatus
from deliveries.models import Delivery, DeliveryStatus
from tests.factories import make_campaign, make_due_deliveries, make_webhook
from webhooks.models import ActivityEntry

LIST = "/admin/campaigns"


def detail(campaign: Campaign) -> str:
    return f"/admin/campaigns/{campaign.pk}"


@pytest.fixture
def webhook(db):
    return make_webhook(name="CRM sync")


@pytest.fixture
def campaigns(webhook):
    now = timezone.now()
    weekly = Campaign.objects.create(
        name="Weekly digest",
        status=CampaignStatus.SCHEDULED,
        delivery_type=DeliveryType.RECURRING,
        recurrence={"every": "weekly", "at": "09:30", "weekday": 0},
        timezone="Europe/Berlin",
        webhook=webhook,
        next_run_at=now + timedelta(days=2),
    )
    CampaignRun.objects.create(
        campaign=weekly,
        occurrence="2025-01-06T08:30",
        status=RunStatus.COMPLETED,
        members=40,
        streamed=40,
        targets=36,
        control=4,
        payloads=1,
        finished_at=now,
    )
    CampaignRun.objects.create(
        campaign=weekly,
        occurrence="2025-01-13T08:30",
        status=RunStatus.COMPLETED,
        members=50,
        streamed=50,
        targets=45,
        control=5,
        payloads=1,
        finished_at=now,
    )
    welcome = Campaign.objects.create(
        name="Welcome",
        status=CampaignStatus.RUNNING,
        delivery_type=DeliveryType.LIVE,
        trigger_event="Signed up",
        webhook=webhook,
    )
    launch = Campaign.objects.create(
        name="Launch announcement",
        delivery_type=DeliveryType.ONE_TIME,
        send_at=now + timedelta(days=5),
    )
    return {"weekly": weekly, "welcome": welcome, "launch": launch}


def running_campaign(webhook, status=CampaignStatus.RUNNING) -> Campaign:
    campaign = make_campaign(webhook, status=status, send_at=timezone.now())
    CampaignRun.objects.create(
        campaign=campaign, occurrence="2025-03-01T10:00", members=200, streamed=50, targets=45
    )
    return campaign


# Access


@pytest.mark.parametrize("path", [LIST, "/admin/campaigns/1", "/admin/campaigns/1/progress"])
def test_anonymous_users_are_sent_to_the_login_page(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert "/login" in response["Location"]


@pytest.mark.parametrize("path", [LIST, "/admin/campaigns/1", "/admin/campaigns/1/progress"])
def test_members_without_the_admin_role_get_403(member_client, path):
    assert member_client.get(path).status_code == 403


@pytest.mark.parametrize("action", ["pause", "resume", "stop"])
def test_members_without_the_admin_role_cannot_act(member_client, webhook, action):
    campaign = running_campaign(webhook)
    assert member_client.post(f"{detail(campaign)}/{action}").status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING


# List


def test_the_list_shows_every_campaign_newest_first_with_its_totals(admin_client, campaigns):
    response = admin_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Launch announcement") < html.index("Welcome") < html.index("Weekly digest")
    weekly = html[html.index(f'id="campaign-{campaigns["weekly"].pk}"') :]
    weekly = weekly[: weekly.index("</tr>")]
    assert "Every Monday at 09:30 (Europe/Berlin)" in weekly
    assert "CRM sync" in weekly
    assert ">81<" in weekly  # 36 + 45 profiles sent
    # Payloads are counted as "Webhooks streamed" now (tests/campaigns/pages/test_campaign_list.py).
    assert "on Signed up" in html
    assert f'href="{detail(campaigns["welcome"])}"' in html


def test_the_list_filters_by_status_type_and_name(admin_client, campaigns):
    html = admin_client.get(LIST, {"status": "running"}).content.decode()
    assert "Welcome" in html and "Weekly digest" not in html and "Launch announcement" not in html
    html = admin_client.get(LIST, {"delivery_type": "recurring"}).content.decode()
    assert "Weekly digest" in html and "Welcome" not in html
    html = admin_client.get(LIST, {"q": "LAUNCH"}).content.decode()
    assert "Launch announcement" in html and "Weekly digest" not in html
    html = admin_client.get(LIST, {"status": "completed"}).content.decode()
    assert "No campaigns match these filters" in html


def test_htmx_filtering_returns_only_the_results(admin_client, campaigns):
    response = admin_client.get(LIST, {"q": "week"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results"')
    assert "Weekly digest" in html and "Welcome" not in html
    assert "HX-Request" in response["Vary"]


def test_an_unknown_filter_value_is_refused_with_422(admin_client, campaigns):
    response = admin_client.get(LIST, {"status": "exploded"})
    assert response.status_code == 422
    assert "These filters can’t be applied" in response.content.decode()


def test_the_empty_list_says_where_campaigns_come_from(admin_client):
    html = admin_client.get(LIST).content.decode()
    assert "No campaigns yet" in html
    assert "segment" in html
    assert "/admin/campaigns/new" in html


def test_the_list_makes_a_fixed_number_of_queries(
    admin_client, webhook, django_assert_max_num_queries
):
    def add(n):
        for i in range(n):
            c = Campaign.objects.create(name=f"C{i}", webhook=webhook)
            CampaignRun.objects.create(campaign=c, occurrence="x", targets=1)

    add(5)
    with django_assert_max_num_queries(8) as five:
        admin_client.get(LIST)
    add(45)
    with django_assert_max_num_queries(len(five.captured_queries)):
        assert admin_client.get(LIST).status_code == 200


# Detail


def test_the_detail_shows_the_overview_and_the_runs(admin_client, campaigns):
    weekly = campaigns["weekly"]
    html = admin_client.get(detail(weekly)).content.decode()
    assert "Every Monday at 09:30 (Europe/Berlin)" in html
    assert "CRM sync" in html
    assert "2025-01-06T08:30" in html and "2025-01-13T08:30" in html
    assert ">36<" in html and ">45<" in html


def test_the_detail_names_the_segment_or_the_ad_hoc_rule(admin_client, campaigns):
    from campaigns.models import Segment

    segment = Segment.objects.create(name="Big buyers", rule={"category": "single_action"})
    launch = campaigns["launch"]
    launch.segment = segment
    launch.save()
    html = admin_client.get(detail(launch)).content.decode()
    assert f'href="/admin/segments/{segment.pk}"' in html and "Big buyers" in html
    launch.segment = None
    launch.rule = {"nonsense": True}
    launch.save()
    assert "Ad-hoc rule" in admin_client.get(detail(launch)).content.decode()


def test_the_detail_escapes_key_values(admin_client, campaigns):
    launch = campaigns["launch"]
    launch.key_values = {"banner": "<script>alert(1)</script>", "<b>": 3}
    launch.save()
    html = admin_client.get(detail(launch)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "&lt;b&gt;" in html


def test_the_detail_of_a_missing_campaign_is_404(admin_client):
    assert admin_client.get("/admin/campaigns/999999").status_code == 404


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [
        (CampaignStatus.SCHEDULED, ["/pause", "/stop"], ["/resume"]),
        (CampaignStatus.RUNNING, ["/pause", "/stop"], ["/resume"]),
        (CampaignStatus.PAUSED, ["/resume", "/stop"], ["/pause"]),
        (CampaignStatus.COMPLETED, [], ["/pause", "/resume", "/stop"]),
        (CampaignStatus.STOPPED, [], ["/pause", "/resume", "/stop"]),
        (CampaignStatus.DRAFT, [], ["/pause", "/resume", "/stop"]),
    ],
)
def test_only_the_actions_that_apply_are_offered(admin_client, webhook, status, shown, hidden):
    campaign = Campaign.objects.create(name="X", status=status, webhook=webhook)
    html = admin_client.get(detail(campaign)).content.decode()
    for action in shown:
        assert f'action="{detail(campaign)}{action}"' in html
    for action in hidden:
        assert f'action="{detail(campaign)}{action}"' not in html
    if "/stop" in shown:
        assert 'data-confirm="Stop “X” for good?' in html


# Progress


def test_the_progress_polls_while_a_run_is_sending(admin_client, webhook):
    campaign = running_campaign(webhook)
    make_due_deliveries(webhook, 3, campaign=campaign, status=DeliveryStatus.SUCCESS)
    make_due_deliveries(webhook, 2, campaign=campaign, status=DeliveryStatus.FAILED)
    make_due_deliveries(webhook, 1, campaign=campaign, status=DeliveryStatus.IN_PROGRESS)
    make_due_deliveries(webhook, 4, campaign=None)  # not this campaign's
    page = admin_client.get(detail(campaign)).content.decode()
    assert 'hx-trigger="every 2s"' in page
    response = admin_client.get(f"{detail(campaign)}/progress", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert 'aria-valuenow="25"' in html  # 50 of 200 streamed
    counts = html[html.index('data-testid="delivery-counts"') :]
    assert "<strong>3</strong></a> delivered" in counts
    assert "<strong>2</strong></a> failed" in counts
    assert "<strong>0</strong></a> pending" in counts
    assert "<strong>1</strong></a> sending" in counts


def test_the_progress_stops_polling_once_no_run_is_sending(admin_client, webhook):
    campaign = running_campaign(webhook)
    campaign.runs.update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    response = admin_client.get(f"{detail(campaign)}/progress", headers={"HX-Request": "true"})
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()
    assert "hx-trigger" not in admin_client.get(detail(campaign)).content.decode()


def test_a_paused_campaign_does_not_poll(admin_client, webhook):
    campaign = running_campaign(webhook, status=CampaignStatus.PAUSED)
    html = admin_client.get(detail(campaign)).content.decode()
    assert "hx-trigger" not in html
    assert "Paused" in html


# Actions


@pytest.mark.parametrize("action", ["pause", "resume", "stop"])
def test_actions_refuse_get(admin_client, webhook, action):
    campaign = running_campaign(webhook)
    assert admin_client.get(f"{detail(campaign)}/{action}").status_code == 405


def test_pause_then_resume_then_stop(admin_client, webhook, monkeypatch):
    from campaigns.sending import tasks

    started = []
    monkeypatch.setattr(tasks.run_occurrence, "delay_on_commit", lambda *args: started.append(args))
    campaign = running_campaign(webhook)

    response = admin_client.post(f"{detail(campaign)}/pause")
    assert response.status_code == 302 and response["Location"] == detail(campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED

    response = admin_client.post(f"{detail(campaign)}/resume", follow=True)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert started == [(campaign.pk, "2025-03-01T10:00")]  # the unfinished run carries on
    assert "resumed" in response.content.decode()

    admin_client.post(f"{detail(campaign)}/stop")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert campaign.runs.get().status == RunStatus.STOPPED
    actions = list(ActivityEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-3:] == ["campaign.paused", "campaign.resumed", "campaign.stopped"]


def test_an_action_that_does_not_apply_changes_nothing(admin_client, webhook):
    campaign = running_campaign(webhook, status=CampaignStatus.COMPLETED)
    for action in ["pause", "resume", "stop"]:
        response = admin_client.post(f"{detail(campaign)}/{action}", follow=True)
        assert response.status_code == 200
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.COMPLETED
    assert "nothing to stop" in response.content.decode()


def test_superusers_count_as_admins(db):
    user = get_user_model().objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(user)
    assert client.get(LIST).status_code == 200


def test_every_delivery_count_opens_a_log_with_that_count(admin_client, webhook):
    import re

    campaign = running_campaign(webhook)
    other = running_campaign(webhook)
    for status, n in [("success", 3), ("failed", 2), ("pending", 4), ("in_progress", 1)]:
        for _ in range(n):
            Delivery.objects.create(
                webhook=webhook, source="campaign", campaign=campaign, status=status
            )
    Delivery.objects.create(webhook=webhook, source="campaign", campaign=other, status="success")

    html = admin_client.get(f"/admin/campaigns/{campaign.pk}/progress").content.decode()
    counts = html[html.index('data-testid="delivery-counts"') :]
    counts = counts[: counts.index("</span>")]
    links = re.findall(r'<a href="([^"]+)"><strong>(\d+)</strong></a>', counts)

    assert [int(n) for _, n in links] == [3, 2, 4, 1]
    for href, n in links:
        log = admin_client.get(href.replace("&amp;", "&")).content.decode()
        assert f'data-testid="log-count">{n}<' in log, href
    everything = re.search(r'<a href="([^"]+)">all in the log</a>', counts).group(1)
    log = admin_client.get(everything.replace("&amp;", "&")).content.decode()
    assert 'data-testid="log-count">10<' in log


def test_a_live_campaign_lists_the_events_that_sent_and_counts_the_rest(admin_client, webhook):
    live = Campaign.objects.create(
        name="Cart reminder",
        status=CampaignStatus.RUNNING,
        delivery_type=DeliveryType.LIVE,
        trigger_event="Added To Cart",
        webhook=webhook,
    )
    for number, members in enumerate([0, 1, 0]):
        CampaignRun.objects.create(
            campaign=live,
            occurrence=f"event:{number}",
            status=RunStatus.COMPLETED,
            members=members,
            streamed=members,
            targets=members,
            payloads=members,
        )
    response = admin_client.get(detail(live))
    html = response.content.decode()
    assert "<strong>3</strong> triggering events" in html
    assert "<strong>1</strong> found the user still in the audience" in html
    assert [run.occurrence for run in response.context["runs"]] == ["event:1"]
    assert 'hx-trigger="every 10s"' in html  # listening: new runs appear by themselves


def test_a_run_due_within_minutes_is_watched_for(admin_client, webhook):
    soon = Campaign.objects.create(
        name="Soon",
        status=CampaignStatus.SCHEDULED,
        webhook=webhook,
        next_run_at=timezone.now() + timedelta(minutes=3),
    )
    assert 'hx-trigger="every 10s"' in admin_client.get(detail(soon)).content.decode()
    Campaign.objects.filter(pk=soon.pk).update(next_run_at=timezone.now() + timedelta(days=2))
    assert "hx-trigger" not in admin_client.get(detail(soon)).content.decode()
