"""Every portal page fits a 1280 px laptop window, and the log, a delivery's detail and the
stats pages fit a 390 px phone, with long names and URLs in them (issue 23): no
horizontal scroll of the page itself (a wide table scrolls in its own box), no console
error, no script error and no failed request. A screenshot of each page is saved under
/tmp/width-shots/ to be looked at."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Profile
from campaigns.sending import fanout
from deliveries.engine.emit import emit
from deliveries.models import Delivery
from tests.conftest import PASSWORD
from tests.factories import (
    make_campaign,
    make_event_type,
    make_profile_event,
    make_profiles,
    make_segment,
    make_webhook,
)
from tests.support.sending import send_due_batch
from webhooks.models import ActivityEntry, ApiKey, EventType, SystemSettings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/width-shots")
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Names and URLs as long as the forms allow, without a space to break at.
LONG_NAME = "Quarterly-reconciliation-feed-for-enterprise-accounts-in-northern-europe-and-baltics"
LONG_PATH = "/ingest/" + "v2/tenants/8f14e45fceea167a5a36dedd4bea2543/" * 4 + "events"
LONG_EVENT = "subscription.enterprise_seat_assignment_reconciled_after_manual_review"


@pytest.fixture
def portal(receiver):
    """Webhooks with long names and URLs, deliveries with attempts (successes, 500s and a
    retry), profiles, segments, a sent campaign with a long name and a draft, an API key
    and activity entries."""
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 1, 1
    system.save()
    long_type = make_event_type(name=LONG_EVENT, category="Subscription")
    license = make_event_type(name="license.assigned", category="License")
    long_hook = make_webhook(
        name=LONG_NAME,
        url=receiver.url + LONG_PATH + "?token=" + "c2VjcmV0LXRva2VuLXdpdGgtbm8tc3BhY2Vz" * 3,
        event_types=[long_type, license],
        custom_headers=[{"name": "X-Tenant-" + "Identifier" * 4, "value": "t" * 120}],
    )
    make_webhook(name="Order Sync", url=receiver.url + "/ok", event_types=[license])
    make_webhook(
        name="Billing Service", url=receiver.url + "/codes/500,200", event_types=[long_type]
    )
    for n in range(3):
        emit(LONG_EVENT, {"seat": n, "note": "x" * 300, "account": LONG_NAME})
    emit("license.assigned", {"license_key": "LIC-42", "user": "ada@example.com"})
    for _ in range(4):  # first tries, then the retry as it falls due
        send_due_batch()

    now = timezone.now()
    for profile in make_profiles(
        4,
        identity=LONG_NAME + "-{}",
        first=0,
        email=lambda n: f"someone.with.a.very.long.address.{n}@{LONG_NAME.lower()}.example.com",
        properties={"city": "Oslo", "note": LONG_NAME * 2},
    ):
        make_profile_event(
            profile,
            "App Launched",
            occurred_at=now - timedelta(days=1),
            properties={"screen": LONG_NAME},
        )
    rule = {
        "category": "single_action",
        "action": {"event": "App Launched"},
        "window": {"kind": "last_days", "days": 7},
    }
    segment = make_segment(rule, name=LONG_NAME)
    sent = make_campaign(
        long_hook,
        name=LONG_NAME + "-sent",
        segment=segment,
        goal_event="Charged",
        status="running",
        batch_size=2,
        key_values={"PromoCode": LONG_NAME},
    )
    fanout.run_occurrence(sent.pk, "manual-1")
    for _ in range(2):
        send_due_batch()
    draft = make_campaign(
        long_hook,
        name=LONG_NAME + "-draft",
        rule=rule,
        goal_event="Charged",
        send_at=now + timedelta(days=1),
    )
    ApiKey.issue(LONG_NAME)
    ActivityEntry.record("webhook.updated", f"Updated webhook “{LONG_NAME}” " + LONG_PATH)
    return {
        "webhook": long_hook,
        "event_type": long_type,
        "segment": segment,
        "sent": sent,
        "draft": draft,
        "profile": Profile.objects.order_by("pk").first(),
        "delivery": Delivery.objects.filter(webhook=long_hook).order_by("pk").first(),
    }


def laptop_pages(portal) -> list[str]:
    """Every GET page of the portal."""
    webhook, sent, draft = portal["webhook"], portal["sent"], portal["draft"]
    steps = ["delivery", "webhook", "goal", "who", "what", "overview"]
    return [
        "/admin/",
        *phone_pages(portal),
        "/admin/webhook-deliveries/bulk-retry?status=failed",
        "/admin/webhooks/",
        "/admin/webhooks/new/",
        f"/admin/webhooks/{webhook.pk}/",
        "/admin/webhooks/event-types/",
        f"/admin/webhooks/event-types/{portal['event_type'].pk}/",
        "/admin/settings",
        "/admin/logs",
        "/admin/segments",
        "/admin/segments/new",
        f"/admin/segments/{portal['segment'].pk}",
        "/admin/profiles",
        f"/admin/profiles/{portal['profile'].pk}",
        "/admin/campaigns",
        f"/admin/campaigns/{sent.pk}",
        f"/admin/campaigns/{draft.pk}",
        "/admin/campaigns/new",
        *[f"/admin/campaigns/{draft.pk}/edit/{step}" for step in steps],
        f"/admin/campaigns/{draft.pk}/audience",
        "/api/v1/docs",
    ]


def phone_pages(portal) -> list[str]:
    """The log, a delivery's detail and the stats pages (the attempts log they open
    included)."""
    webhook, sent = portal["webhook"], portal["sent"]
    return [
        "/admin/?range=7d",
        "/admin/webhook-deliveries",
        "/admin/webhook-deliveries/attempts",
        f"/admin/webhook-deliveries/{portal['delivery'].pk}",
        f"/admin/webhooks/{webhook.pk}/stats",
        f"/admin/campaigns/{sent.pk}/stats",
        f"/admin/campaigns/{sent.pk}/stats/audience",
    ]


class Walker:
    """A logged-in page that collects what goes wrong while it walks the portal."""

    def __init__(self, browser, base: str, viewport: dict, username: str):
        self.base, self.viewport = base, viewport
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.visit_no = 0
        self.page.on("console", self.on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("request", self.on_request)
        self.page.on("requestfailed", self.on_request_failed)
        self.page.on("response", self.on_response)
        self.page.goto(f"{base}/admin/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/admin/")

    def on_console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def on_request(self, request):
        setattr(request, "visit_no", self.visit_no)  # noqa: B010

    def on_request_failed(self, request):
        # Leaving a page cancels its polling: not a failure of the page we go to.
        # So is the favicon, which the browser fetches on its own, whenever it likes.
        left_behind = getattr(request, "visit_no", self.visit_no) < self.visit_no
        favicon = "favicon" in request.url.split("?")[0].rsplit("/", 1)[-1]
        if (left_behind or favicon) and "ERR_ABORTED" in (request.failure or ""):
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")

    def on_response(self, response):
        if response.url.startswith(self.base) and response.status >= 400:
            self.problems.append(f"{response.status}: {response.request.method} {response.url}")

    def check(self, path: str) -> list[str]:
        """Open ``path``, save its screenshot and return what is wrong with it."""
        self.visit_no += 1
        self.problems = []
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        wrong = [] if response.status == 200 else [f"status {response.status}"]
        page_width, window_width = self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        if page_width > window_width:
            wrong.append(f"{page_width} px wide in a {window_width} px window")
        name = path.strip("/").replace("/", "_").replace("?", "_") or "dashboard"
        SHOTS.mkdir(exist_ok=True)
        shot = SHOTS / f"{self.viewport['width']}-{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        return [f"{path} at {self.viewport['width']} px: {w}" for w in wrong + self.problems]


def test_every_page_fits_a_1280_pixel_window(browser, live_server, admin_user, portal):
    walker = Walker(browser, live_server.url, LAPTOP, admin_user.username)
    wrong = [problem for path in laptop_pages(portal) for problem in walker.check(path)]
    walker.context.close()
    assert wrong == [], "\n".join(wrong)


def test_the_log_a_delivery_and_the_stats_pages_fit_a_phone(
    browser, live_server, admin_user, portal
):
    walker = Walker(browser, live_server.url, PHONE, admin_user.username)
    wrong = [problem for path in phone_pages(portal) for problem in walker.check(path)]
    walker.context.close()
    assert wrong == [], "\n".join(wrong)


def test_the_walk_has_what_makes_pages_wide(portal):
    """The pages above are only a test of width if the long rows are on them."""
    assert Delivery.objects.filter(webhook=portal["webhook"], attempt_count__gte=1).exists()
    assert Delivery.objects.filter(campaign=portal["sent"]).count() == 2
    assert EventType.objects.filter(name=LONG_EVENT).exists()
