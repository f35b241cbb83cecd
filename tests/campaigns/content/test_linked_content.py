"""Linked content: sources fetched at send time through the outbound guard, cached per
distinct URL for a run, as ``linked.<name>``; a failing source fails its delivery."""

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from campaigns.content import linked
from campaigns.content.linked import LinkedContent, LinkedContentError, Source, sources_of
from campaigns.content.payload import Recipient
from campaigns.models import Campaign
from campaigns.sending import fanout
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_campaign, make_profile_event, make_profiles, make_webhook
from tests.support.sending import send_due_batch

CITIES = ["Paris", "New York", "Oslo"]


class ContentServer(ThreadingHTTPServer):
    """A linked-content server on 127.0.0.1 that records every GET it answers."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hits(self, prefix: str = "") -> int:
        with self.lock:
            return sum(path.startswith(prefix) for path in self.paths)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with self.server.lock:
            self.server.paths.append(self.path)
        parts = urlsplit(self.path)
        city = parse_qs(parts.query).get("city", [""])[0]
        if parts.path == "/weather" and city != "Atlantis":
            return self._answer(200, json.dumps({"city": city, "temp": len(city)}).encode())
        if parts.path == "/text":
            return self._answer(200, "Sunny ☀".encode(), "text/plain; charset=utf-8")
        if parts.path == "/big":
            return self._answer(200, b"x" * (linked.MAX_BYTES + 1), "text/plain")
        if parts.path == "/not-json":
            return self._answer(200, b"{oops")
        if parts.path == "/slow":
            time.sleep(1.5)
            return self._answer(200, b"{}")
        return self._answer(500, b"down", "text/plain")

    def _answer(self, code, body, content_type="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def source():
    """Reached on 127.0.0.1 because the test settings allow 127.0.0.0/8, for linked content
    as for webhooks (pyproject's pytest env)."""
    server = ContentServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def audience(transactional_db):
    """12 members in three cities (user-01..12); user-07 lives in Atlantis, which the
    weather source does not know."""
    yesterday = timezone.now() - timedelta(days=1)
    for profile in make_profiles(12, properties=_city_of):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)


def _city_of(number: int) -> dict:
    return {"city": "Atlantis" if number == 7 else CITIES[number % 3]}


def linked_campaign(webhook, sources, body, **fields) -> Campaign:
    defaults = {
        "name": "Weather",
        "batch_size": 3,
        "body_mode": "custom",
        "custom_body": body,
        "linked_content": sources,
        "status": "running",
    }
    return make_campaign(webhook, **defaults | fields)


WEATHER_BODY = (
    '{"first": {{ linked.weather.city | json }}, '
    '"temps": [{% for p in profiles %}{{ p.linked.weather.temp }}'
    "{% unless forloop.last %}, {% endunless %}{% endfor %}]}"
)


def weather(source) -> list[dict]:
    return [{"name": "weather", "url": source.url + "/weather?city={{ profile.ProfileData.city }}"}]


def test_each_profile_gets_its_own_linked_content_fetched_once_per_distinct_url(
    audience, source, receiver
):
    sale = linked_campaign(
        make_webhook(url=receiver.url + "/hook"), weather(source), WEATHER_BODY, batch_size=3
    )

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.payloads) == ("completed", 4)
    # Four distinct URLs (three cities and Atlantis) for twelve profiles.
    assert source.hits("/weather") == 4
    assert "/weather?city=New%20York" in source.paths  # the space percent-encoded
    deliveries = list(Delivery.objects.filter(campaign=sale).order_by("pk"))
    first = json.loads(deliveries[0].payload)
    assert first == {"first": "New York", "temps": [8, 4, 5]}  # user-01, 02, 03
    while send_due_batch():
        pass
    assert len(receiver.received("/hook")) == 3


def test_a_failing_source_fails_only_the_deliveries_that_needed_it(audience, source):
    sale = linked_campaign(make_webhook(), weather(source), WEATHER_BODY, batch_size=3)

    fanout.run_occurrence(sale.pk, "manual-1")

    deliveries = list(Delivery.objects.filter(campaign=sale).order_by("pk"))
    assert [d.last_failure_reason for d in deliveries] == ["", "", "linked_content_error", ""]
    assert deliveries[2].status == "failed" and deliveries[2].payload is None
    detail = DeliveryAttempt.objects.get(delivery=deliveries[2]).failure_detail
    assert "“weather”" in detail and "city=Atlantis" in detail and "HTTP 500" in detail
    assert source.hits("/weather?city=Atlantis") == 1  # the failure is cached for the run


def test_a_refused_destination_is_never_connected_to(audience, source, settings):
    settings.WEBHOOKS_ALLOWED_NETWORKS = []
    sale = linked_campaign(make_webhook(), weather(source), WEATHER_BODY)

    fanout.run_occurrence(sale.pk, "manual-1")

    assert source.hits() == 0
    reasons = set(Delivery.objects.filter(campaign=sale).values_list("last_failure_reason"))
    assert reasons == {("linked_content_error",)}
    assert "private or reserved" in DeliveryAttempt.objects.first().failure_detail


def test_a_source_failing_again_and_again_is_given_up_for_the_run(source, monkeypatch, db):
    monkeypatch.setattr(linked, "FAILURE_STREAK", 3)
    content = LinkedContent([Source("w", source.url + "/down/{{ profile.Identity }}")], 1, {})

    for number in range(5):
        with pytest.raises(LinkedContentError):
            content.for_recipient(Recipient(identity=f"u{number}"))

    assert source.hits("/down/") == 3


def test_text_answers_are_text_and_oversized_or_broken_ones_fail(source, db):
    content = LinkedContent(
        [
            Source("text", source.url + "/text"),
            Source("big", source.url + "/big"),
            Source("broken", source.url + "/not-json"),
        ],
        1,
        {},
    )
    errors: list[str] = []

    values = content.for_recipient(Recipient(identity="ann"), errors)

    assert values == {"text": "Sunny ☀"}
    assert "larger than 256 KiB" in errors[0]
    assert "not valid JSON" in errors[1]


def test_a_slow_source_times_out(source, monkeypatch, db):
    monkeypatch.setattr(linked, "TIMEOUT", 0.3)
    content = LinkedContent([Source("slow", source.url + "/slow")], 1, {})

    started = time.monotonic()
    with pytest.raises(LinkedContentError, match="within 0.3 s"):
        content.for_recipient(Recipient(identity="ann"))
    assert time.monotonic() - started < 1.2


def test_the_cache_keeps_the_most_recent_urls_only(source, monkeypatch, db):
    monkeypatch.setattr(linked, "CACHE_ENTRIES", 2)
    content = LinkedContent(
        [Source("w", source.url + "/weather?city={{ profile.Identity }}")], 1, {}
    )

    for name in ["a", "b", "a", "c", "a", "b"]:
        content.for_recipient(Recipient(identity=name))

    # a, b, (a cached), c evicts b, (a cached), b again.
    assert content.fetches == source.hits() == 4


def test_a_url_template_error_names_its_source(db):
    content = LinkedContent([Source("w", "https://x.test/{{ nope }}")], 1, {})

    with pytest.raises(LinkedContentError, match="“w”: its URL template failed"):
        content.for_recipient(Recipient(identity="ann"))


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("x", "must be a list"),
        ([{"url": "https://x.test"}], "source 1 has no name"),
        ([{"name": "w", "url": ""}], "“w” has no URL"),
        ([{"name": "w", "url": "https://a"}, {"name": "w", "url": "https://b"}], "Two"),
    ],
)
def test_badly_declared_sources_are_refused(declared, message):
    with pytest.raises(LinkedContentError, match=message):
        sources_of(declared)


def test_a_template_that_cannot_render_asks_no_source(audience, source):
    sale = linked_campaign(make_webhook(), weather(source), '{"t": {{ linked.weather.temp | }}}')

    fanout.run_occurrence(sale.pk, "manual-1")

    assert source.hits() == 0
    reasons = set(Delivery.objects.filter(campaign=sale).values_list("last_failure_reason"))
    assert reasons == {("template_error",)}
    assert DeliveryAttempt.objects.first().failure_detail.startswith("line 1:")
