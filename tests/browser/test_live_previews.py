"""Live previews (the segment builder's count, a campaign's ad-hoc audience step and its
body preview) that fire again while an earlier request is still out: the newer one wins,
and the console stays clean (issue 23: htmx logged htmx:sendAbort and
htmx:afterRequest as errors each time it aborted the older request)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import make_campaign, make_profile_event, make_profiles, make_webhook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAUNCHED = {
    "category": "single_action",
    "action": {"event": "App Launched"},
    "window": {"kind": "last_days", "days": 7},
}


@pytest.fixture
def launched():
    """Three profiles who launched the app yesterday."""
    yesterday = timezone.now() - timedelta(days=1)
    for profile in make_profiles(
        3, identity="user-{}", first=0, email=lambda n: f"u{n}@example.com"
    ):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)


@pytest.fixture
def draft(launched):
    return make_campaign(
        make_webhook(name="Promo receiver"),
        name="Spring promo",
        rule=LAUNCHED,
        goal_event="Charged",
        send_at=timezone.now() + timedelta(days=1),
    )


@pytest.fixture
def watched(admin_page):
    """The logged-in page with its console errors and script errors collected, and the
    first request to a path held until the test releases it."""
    page = admin_page
    page.problems = []
    page.on(
        "console",
        lambda m: m.type == "error" and page.problems.append(f"{page.url}: {m.text}"),
    )
    page.on("pageerror", lambda error: page.problems.append(f"{page.url}: {error}"))
    # A request the browser cancels (ERR_ABORTED: the favicon of a page being left, say)
    # is not a failure; the aborted previews this test is about show up as console errors.
    page.on(
        "requestfailed",
        lambda r: (
            "ERR_ABORTED" not in (r.failure or "")
            and page.problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    return page


def hold_first(page, path: str) -> list:
    """Hold the next request to ``path`` (it stays in flight) until the test calls
    ``continue_()`` on the route this returns in its list; later ones go through."""
    held = []

    def handler(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(f"**{path}", handler)
    return held


def overlap(page, path: str, fire) -> None:
    """Fire a preview, and fire it again while the first request is still out."""
    held = hold_first(page, path)
    fire()
    page.wait_for_function("() => document.querySelector('.htmx-request') !== null")
    # The route handler runs on this side once the browser reports the request, which on
    # a busy machine comes a little after htmx marks it in flight: wait for it.
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    fire()
    page.wait_for_timeout(300)  # past the trigger's delay: the second is issued or queued
    held[0].continue_()
    page.wait_for_load_state("networkidle")


REFRESH = "() => htmx.trigger(document.body, 'refresh-preview')"


def test_a_segment_preview_that_replaces_an_earlier_one_logs_no_error(
    watched, live_server, launched
):
    page = watched
    page.goto(f"{live_server.url}/admin/segments/new")
    page.wait_for_load_state("networkidle")
    page.fill("#id_action0_event", "App Launched")
    expect(page.get_by_test_id("preview-count")).to_have_text("3")
    overlap(page, "/admin/segments/preview", lambda: page.evaluate(REFRESH))
    expect(page.get_by_test_id("preview-count")).to_have_text("3")
    assert page.problems == []


def test_the_ad_hoc_audience_preview_replacing_an_earlier_one_logs_no_error(
    watched, live_server, draft
):
    page = watched
    page.goto(f"{live_server.url}/admin/campaigns/{draft.pk}/audience")
    page.wait_for_load_state("networkidle")
    overlap(page, "/admin/segments/preview", lambda: page.evaluate(REFRESH))
    expect(page.get_by_test_id("preview-count")).to_have_text("3")
    assert page.problems == []


def test_a_body_preview_replacing_an_earlier_one_logs_no_error(watched, live_server, draft):
    page = watched
    page.goto(f"{live_server.url}/admin/campaigns/{draft.pk}/edit/what")
    page.wait_for_load_state("networkidle")
    change = "() => document.querySelector('#what-form').dispatchEvent(new Event('change'))"
    overlap(page, f"/admin/campaigns/{draft.pk}/body-preview", lambda: page.evaluate(change))
    expect(page.locator("#body-preview")).not_to_contain_text("Rendering…")
    assert page.problems == []
