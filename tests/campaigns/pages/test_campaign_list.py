"""The campaign list's delivery figures (from the rollups, each opening the campaign's
stats page with the same number), its sortable columns and its keyset pages."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, DeliveryType
from deliveries.models import DeliveryAttempt
from deliveries.stats.rollups import add_attempts
from tests.factories import make_due_deliveries, make_webhook

LIST = "/admin/campaigns"


def row(page: str, campaign: Campaign) -> str:
    found = page[page.index(f'id="campaign-{campaign.pk}"') :]
    return found[: found.index("</tr>")]


def cell(page: str, campaign: Campaign, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</td>', row(page, campaign), re.S)
    return found.group(1)


def names(page: str) -> list[str]:
    return re.findall(r"<strong>([^<]+)</strong></a></td>", page)


def attempt(delivery, success=True, code=200, reason="", minutes_ago=0):
    return DeliveryAttempt.objects.create(
        delivery=delivery,
        webhook=delivery.webhook,
        number=1,
        attempted_at=timezone.now() - timedelta(minutes=minutes_ago),
        request_url=delivery.webhook.url,
        success=success,
        response_code=code,
        failure_reason=reason,
        duration_ms=40,
    )


@pytest.fixture
def sent(db):
    """Two campaigns with deliveries and attempts, one never sent."""
    webhook = make_webhook(name="CRM")
    now = timezone.now()
    spring = Campaign.objects.create(name="Spring sale", webhook=webhook, published_at=now)
    digest = Campaign.objects.create(name="Digest", webhook=webhook, published_at=now)
    draft = Campaign.objects.create(name="Draft")
    ok, bad, pending = make_due_deliveries(webhook, 3, campaign=spring)
    [other] = make_due_deliveries(webhook, 1, campaign=digest)
    make_due_deliveries(webhook, 2, source="event")  # no campaign's
    add_attempts(
        [
            attempt(ok),
            attempt(bad, success=False, code=503, reason="http_error", minutes_ago=5),
            attempt(bad, success=False, code=None, reason="timeout"),
            attempt(other),
        ]
    )
    return {"spring": spring, "digest": digest, "draft": draft}


# Figures


def test_each_campaign_shows_its_figures(admin_client, sent):
    page = admin_client.get(LIST).content.decode()
    spring, digest, draft = sent["spring"], sent["digest"], sent["draft"]
    assert ">3</a>" in cell(page, spring, "streamed")  # payloads, whatever their status
    assert ">33.3%</a>" in cell(page, spring, "success-rate")  # 1 of 3 attempts
    assert ">2</a>" in cell(page, spring, "errors")  # failed attempts
    assert ">1</a>" in cell(page, digest, "streamed")
    assert ">100.0%</a>" in cell(page, digest, "success-rate")
    assert ">0<" in cell(page, digest, "errors")
    assert ">0<" in cell(page, draft, "streamed") and "–" in cell(page, draft, "success-rate")


def test_each_figure_opens_the_stats_page_showing_it(admin_client, sent):
    page = admin_client.get(LIST).content.decode()
    for campaign in (sent["spring"], sent["digest"]):
        for testid in ("streamed", "success-rate", "errors"):
            link = re.search(r'href="([^"]+)">([^<]+)</a>', cell(page, campaign, testid))
            if link is None:  # nothing to count: no link
                continue
            url, figure = link.groups()
            assert url.startswith(f"/admin/campaigns/{campaign.pk}/stats")
            stats = admin_client.get(url).content.decode()
            if testid == "streamed":
                assert f'data-testid="streamed">{figure}<' in stats
            elif testid == "success-rate":
                assert re.search(rf'<div class="value \w+">{re.escape(figure)}</div>', stats)
            else:
                assert f"{figure} failed attempt" in stats  # the errors panel's total
                assert url.endswith("#errors-title") and 'id="errors-title"' in stats


def test_the_figures_take_two_queries_whatever_the_rows(
    admin_client, db, django_assert_max_num_queries
):
    webhook = make_webhook()

    def add(n):
        for i in range(n):
            campaign = Campaign.objects.create(name=f"C{i}", webhook=webhook)
            [delivery] = make_due_deliveries(webhook, 1, campaign=campaign)
            add_attempts([attempt(delivery, success=bool(i % 2), code=200 if i % 2 else 500)])

    add(5)
    with django_assert_max_num_queries(8) as five:
        admin_client.get(LIST)
    add(45)
    with django_assert_max_num_queries(len(five.captured_queries)):
        page = admin_client.get(LIST).content.decode()
    assert page.count('data-testid="streamed"><a') == 50


def test_the_figures_never_read_the_attempts_or_deliveries(admin_client, sent):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        admin_client.get(LIST)
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    assert "deliveries_deliveryattempt" not in sql and '"deliveries_delivery"' not in sql


# Sorting


@pytest.fixture
def assorted(db):
    now = timezone.now()
    webhook = make_webhook()
    made = {}
    for name, status, kind, next_run in [
        ("Bravo", CampaignStatus.SCHEDULED, DeliveryType.RECURRING, now + timedelta(days=3)),
        ("alpha", CampaignStatus.DRAFT, DeliveryType.ONE_TIME, None),
        ("Delta", CampaignStatus.RUNNING, DeliveryType.LIVE, None),
        ("Charlie", CampaignStatus.SCHEDULED, DeliveryType.ONE_TIME, now + timedelta(days=1)),
    ]:
        made[name] = Campaign.objects.create(
            name=name, status=status, delivery_type=kind, next_run_at=next_run, webhook=webhook
        )
    return made


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("", ["Charlie", "Delta", "alpha", "Bravo"]),  # newest first
        ("created", ["Bravo", "alpha", "Delta", "Charlie"]),
        ("-created", ["Charlie", "Delta", "alpha", "Bravo"]),
        ("status", ["alpha", "Delta", "Bravo", "Charlie"]),  # draft, running, scheduled ×2
        ("-status", ["Charlie", "Bravo", "Delta", "alpha"]),
        ("type", ["Delta", "alpha", "Charlie", "Bravo"]),  # live, one_time ×2, recurring
        ("next_run", ["Charlie", "Bravo", "alpha", "Delta"]),  # soonest first, none last
        ("-next_run", ["Bravo", "Charlie", "Delta", "alpha"]),  # none last too
    ],
)
def test_the_list_sorts_by_each_column(admin_client, assorted, sort, expected):
    response = admin_client.get(LIST, {"sort": sort} if sort else {})
    assert response.status_code == 200
    assert names(response.content.decode()) == expected


def test_sorting_by_name(admin_client, assorted):
    up = names(admin_client.get(LIST, {"sort": "name"}).content.decode())
    down = names(admin_client.get(LIST, {"sort": "-name"}).content.decode())
    assert sorted(up) == sorted(assorted) and down == list(reversed(up))


def test_the_column_headers_link_to_their_sorts(admin_client, assorted):
    page = admin_client.get(LIST, {"sort": "name", "status": "scheduled"}).content.decode()
    assert 'href="?sort=-name&amp;status=scheduled" hx-get=' in page  # flips the active one
    assert 'href="?sort=next_run&amp;status=scheduled"' in page
    assert 'href="?sort=-created&amp;status=scheduled"' in page
    # The filters keep the sort.
    assert 'name="sort" value="name" form="campaign-filters"' in page
    assert names(page) == ["Bravo", "Charlie"]


def test_an_unknown_sort_is_refused_with_422(admin_client, assorted):
    assert admin_client.get(LIST, {"sort": "revenue"}).status_code == 422


# Keyset pages


@pytest.mark.parametrize("sort", ["-created", "name", "-status", "next_run", "-next_run"])
def test_the_pages_walk_every_campaign_once_and_back(admin_client, db, sort):
    now = timezone.now()
    for i in range(120):
        Campaign.objects.create(
            name=f"Campaign {i:03}",
            status=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED][i % 2],
            next_run_at=now + timedelta(hours=i % 7) if i % 3 else None,
        )
    seen, pages, url = [], [], f"{LIST}?sort={sort}"
    while url:
        page = admin_client.get(url.replace("&amp;", "&")).content.decode()
        pages.append(names(page))
        seen += pages[-1]
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url = LIST + found.group(1) if found else None
    assert [len(p) for p in pages] == [50, 50, 20]
    assert sorted(seen) == sorted(f"Campaign {i:03}" for i in range(120))
    back = re.search(r'rel="prev" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert names(admin_client.get(LIST + back).content.decode()) == pages[1]


def test_a_broken_cursor_is_a_400(admin_client, db):
    assert admin_client.get(LIST, {"after": "garbage"}).status_code == 400


def test_the_count_says_how_many_match(admin_client, assorted):
    page = admin_client.get(LIST, {"status": "scheduled"}).content.decode()
    assert re.search(r"<strong>2</strong> campaigns match the filters", page)
