"""The delivery log page: filters, search, sort, keyset pages, htmx and errors."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from config.keyset import encode
from deliveries.models import Delivery
from tests.factories import make_delivery, make_event_type, make_webhook
from webhooks.models import Webhook

LOG = reverse("deliveries:log")


@pytest.fixture
def catalog(db):
    license = make_event_type(name="license.assigned", category="License")
    activation = make_event_type(name="activation.created", category="Activation")
    orders = make_webhook(name="Order Sync", url="https://orders.example.com/h")
    crm = make_webhook(name="CRM Contacts", url="https://crm.example.com/in")
    return {"license": license, "activation": activation, "orders": orders, "crm": crm}


def logged(webhook, event_type, status="success", code=200, minutes_ago=0, reason=""):
    """A delivery tried once, ``minutes_ago``, as the log lists it (no attempt rows)."""
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return make_delivery(
        webhook,
        event_type=event_type,
        status=status,
        last_response_code=code,
        last_failure_reason=reason,
        created_at=at,
        last_attempt_at=at,
        attempt_count=1,
    )


def ids(response):
    return [d.pk for d in response.context["page"].rows]


def test_attempted_at_sorts_by_what_it_shows_across_pages(admin_client, catalog):
    """Rows are ordered by their latest attempt (or creation, when not tried yet), not by
    creation: a delivery retried a minute ago comes before one created later."""
    now = timezone.now()
    made = []
    for n in range(60):
        delivery = logged(catalog["orders"], catalog["license"], minutes_ago=200 - n)
        # Retried at times that do not follow creation order; every 7th never tried.
        attempted = None if n % 7 == 0 else now - timedelta(minutes=(n * 37) % 150)
        Delivery.objects.filter(pk=delivery.pk).update(last_attempt_at=attempted)
        made.append((attempted or delivery.created_at, delivery.pk))
    expected = [pk for _, pk in sorted(made, reverse=True)]
    first = admin_client.get(LOG)
    second = admin_client.get(LOG, {"after": first.context["page"].next_cursor})
    assert ids(first) + ids(second) == expected
    back = admin_client.get(LOG, {"before": second.context["page"].previous_cursor})
    assert ids(back) == ids(first)
    oldest_first = admin_client.get(LOG, {"sort": "time"})
    assert ids(oldest_first) == expected[::-1][:50]


def test_it_lists_deliveries_newest_first_with_every_column(admin_client, catalog):
    old = logged(catalog["orders"], catalog["license"], minutes_ago=10)
    new = logged(catalog["crm"], catalog["activation"], "failed", 500, reason="http_error")
    response = admin_client.get(LOG)
    assert ids(response) == [new.pk, old.pk]
    page = response.content.decode()
    for text in ["Order Sync", "https://orders.example.com/h", "license.assigned", "Failed",
                 "500", "Attempted At", "Retry", "View"]:  # fmt: skip
        assert text in page


def test_status_filter(admin_client, catalog):
    logged(catalog["orders"], catalog["license"])
    failed = logged(catalog["orders"], catalog["license"], "failed", 500)
    assert ids(admin_client.get(LOG, {"status": "failed"})) == [failed.pk]


def test_a_failed_row_says_when_its_retry_is_on_hold_for_its_endpoint(admin_client, catalog):
    """A retry time is only shown while the sender keeps it: the retries of a failing or
    disabled endpoint wait for it (deliveries/engine/health.py), whatever time they had."""
    failed = logged(catalog["orders"], catalog["license"], "failed", 500)
    logged(catalog["orders"], catalog["license"], "failed", 500)  # no retry left
    Delivery.objects.filter(pk=failed.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=3)
    )
    page = admin_client.get(LOG).content.decode()
    assert "retry 1 of 3 at " in page and "on hold" not in page
    for health, text in [
        ("failing", "retry 1 of 3 on hold while the endpoint is failing"),
        ("disabled", "retry 1 of 3 on hold: the endpoint is disabled"),
    ]:
        Webhook.objects.filter(pk=catalog["orders"].pk).update(health=health)
        page = admin_client.get(LOG).content.decode()
        assert text in page and "retry 1 of 3 at " not in page
        assert "gave up after 1 attempt<" in page  # no retry left, nothing to hold
        detail = admin_client.get(reverse("deliveries:detail", args=[failed.pk]))
        assert text in detail.content.decode()
    row = admin_client.get(reverse("deliveries:row", args=[failed.pk])).content.decode()
    assert "retry 1 of 3 on hold: the endpoint is disabled" in row


def test_a_pending_row_says_it_waits_for_its_failing_endpoint(admin_client, catalog):
    waiting = logged(catalog["orders"], catalog["license"], "pending")
    assert "on hold" not in admin_client.get(LOG).content.decode()

    Webhook.objects.filter(pk=catalog["orders"].pk).update(health="failing")

    assert "On hold while the endpoint is failing" in admin_client.get(LOG).content.decode()
    detail = admin_client.get(reverse("deliveries:detail", args=[waiting.pk])).content.decode()
    assert "No attempt yet; it is on hold while the endpoint is failing." in detail


def test_search_matches_webhook_name_url_and_event_type(admin_client, catalog):
    orders = logged(catalog["orders"], catalog["license"])
    crm = logged(catalog["crm"], catalog["activation"])
    assert ids(admin_client.get(LOG, {"q": "order sync"})) == [orders.pk]
    assert ids(admin_client.get(LOG, {"q": "crm.example"})) == [crm.pk]
    assert ids(admin_client.get(LOG, {"q": "activation"})) == [crm.pk]


def test_category_event_type_webhook_and_reason_filters(admin_client, catalog):
    lic = logged(catalog["orders"], catalog["license"], "failed", None, reason="timeout")
    act = logged(catalog["crm"], catalog["activation"])
    assert ids(admin_client.get(LOG, {"category": "License"})) == [lic.pk]
    assert ids(admin_client.get(LOG, {"event_type": catalog["activation"].pk})) == [act.pk]
    assert ids(admin_client.get(LOG, {"webhook": catalog["crm"].pk})) == [act.pk]
    assert ids(admin_client.get(LOG, {"reason": "timeout"})) == [lic.pk]


@pytest.mark.parametrize(
    ("code", "expected"), [("500", [1]), ("5xx", [1, 2]), ("2xx", [0]), ("none", [3])]
)
def test_response_code_filter(admin_client, catalog, code, expected):
    rows = [
        logged(catalog["orders"], catalog["license"], code=c, minutes_ago=i)
        for i, c in enumerate([200, 500, 503, None])
    ]
    assert ids(admin_client.get(LOG, {"code": code})) == [rows[i].pk for i in expected]


def test_time_range_filters(admin_client, catalog):
    recent = logged(catalog["orders"], catalog["license"], minutes_ago=5)
    logged(catalog["orders"], catalog["license"], minutes_ago=3 * 24 * 60)
    assert ids(admin_client.get(LOG, {"range": "1h"})) == [recent.pk]
    assert len(ids(admin_client.get(LOG, {"range": "7d"}))) == 2
    since = (timezone.now() - timedelta(hours=2)).isoformat()
    assert ids(admin_client.get(LOG, {"range": "custom", "since": since})) == [recent.pk]


def test_sort_by_response_code_both_ways(admin_client, catalog):
    rows = {c: logged(catalog["orders"], catalog["license"], code=c) for c in (200, 404, 500)}
    assert ids(admin_client.get(LOG, {"sort": "code"})) == [rows[c].pk for c in (200, 404, 500)]
    assert ids(admin_client.get(LOG, {"sort": "-code"})) == [rows[c].pk for c in (500, 404, 200)]


def test_keyset_pages_walk_forward_and_back_and_ignore_new_arrivals(admin_client, catalog):
    rows = [logged(catalog["orders"], catalog["license"], minutes_ago=i) for i in range(120)]
    first = admin_client.get(LOG)
    assert ids(first) == [r.pk for r in rows[:50]]
    logged(catalog["orders"], catalog["license"])  # arrives while we page
    second = admin_client.get(LOG, {"after": first.context["page"].next_cursor})
    assert ids(second) == [r.pk for r in rows[50:100]]
    third = admin_client.get(LOG, {"after": second.context["page"].next_cursor})
    assert ids(third) == [r.pk for r in rows[100:]]
    assert third.context["page"].next_cursor is None
    back = admin_client.get(LOG, {"before": third.context["page"].previous_cursor})
    assert ids(back) == [r.pk for r in rows[50:100]]


def test_large_counts_are_estimated_instead_of_counted(admin_client, catalog, monkeypatch):
    monkeypatch.setattr("config.counts.COUNT_LIMIT", 3)
    for i in range(5):
        logged(catalog["orders"], catalog["license"], minutes_ago=i)
    response = admin_client.get(LOG)
    assert response.context["estimated"] and response.context["count"] >= 3
    assert 'data-testid="log-count">about ' in response.content.decode()
    exact = admin_client.get(LOG, {"q": "nothing-matches"})
    assert not exact.context["estimated"] and exact.context["count"] == 0


@pytest.mark.parametrize(
    ("number", "text"), [(16514, "17,000"), (1829872, "1.8 million"), (1234, "1,200")]
)
def test_estimates_are_rounded_to_two_figures(number, text):
    from deliveries.templatetags.deliveries import approximate

    assert approximate(number) == text


def test_htmx_gets_only_the_results(admin_client, catalog):
    logged(catalog["orders"], catalog["license"])
    response = admin_client.get(LOG, {"status": "success"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="results"')
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_bad_filters_answer_422_with_the_reason(admin_client, catalog):
    response = admin_client.get(LOG, {"status": "bogus", "code": "abc"})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Select a valid choice" in page
    assert "Use a status code such as 500" in page


def test_a_broken_cursor_is_a_400(admin_client, catalog):
    assert admin_client.get(LOG, {"after": "garbage!!"}).status_code == 400


@pytest.mark.parametrize(
    ("sort", "key"), [("-code", "abc"), ("-code", True), ("-code", 2**70), ("status", 500)]
)
def test_a_forged_cursor_with_a_key_of_the_wrong_type_is_a_400(admin_client, catalog, sort, key):
    logged(catalog["orders"], catalog["license"], "failed", 500)
    forged = encode([key, "2026-11-23T10:00:00+00:00", 5])
    for direction in ("after", "before"):
        response = admin_client.get(LOG, {"sort": sort, direction: forged})
        assert response.status_code == 400, (sort, key, direction)


def test_empty_states(admin_client, catalog):
    assert "No deliveries yet" in admin_client.get(LOG).content.decode()
    logged(catalog["orders"], catalog["license"])
    assert "No deliveries match" in admin_client.get(LOG, {"status": "failed"}).content.decode()


def test_live_mode_polls_the_first_page(admin_client, catalog):
    logged(catalog["orders"], catalog["license"])
    page = admin_client.get(LOG, {"live": "1"}).content.decode()
    assert 'hx-trigger="every 5s"' in page


def test_pagination_links_keep_the_filters(admin_client, catalog):
    for i in range(60):
        logged(catalog["orders"], catalog["license"], "failed", 500, minutes_ago=i)
    response = admin_client.get(LOG, {"status": "failed", "q": "order"})
    link = response.content.decode().split('rel="next" href="')[1].split('"')[0]
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query["status"] == ["failed"] and query["q"] == ["order"] and "after" in query


def test_the_page_takes_a_fixed_number_of_queries(
    admin_client, catalog, django_assert_max_num_queries
):
    for i in range(5):
        logged(catalog["orders"], catalog["license"], minutes_ago=i)
    # 13: the filter form's choices (category, event, webhook, campaign) included.
    with django_assert_max_num_queries(13):
        admin_client.get(LOG, {"q": "order", "category": "License"})
    for i in range(5, 55):
        logged(catalog["crm"], catalog["activation"], minutes_ago=i)
    with django_assert_max_num_queries(13):
        admin_client.get(LOG, {"q": "order", "category": "License"})


def test_non_admins_get_403(member_client):
    assert member_client.get(LOG).status_code == 403


def test_post_is_405(admin_client):
    assert admin_client.post(LOG).status_code == 405
