"""Every URL pattern of the project, walked: who may open it, and with which method.

The walk reads ``get_resolver().url_patterns`` (includes and namespaces too) at
collection, so each pattern is its own test id and a new page is checked the day it is
added. A pattern with arguments needs a recipe in ``ARGUMENTS`` (built from the objects
``world`` makes); without one its tests fail, so nobody adds an unchecked page silently.

Three kinds of URL:

- ``PUBLIC``: the few that answer without a login, each with the reason why;
- the JSON API under /api/v1/: bearer API keys only, so a missing key is 401 whoever is
  logged in, and no CSRF (a session is no credential there);
- everything else is a portal page: anonymous visitors go to the login page, members
  without the Admin role get 403, admins get the page, and a POST without a CSRF token
  is refused with 403. ``POST_ONLY`` names the actions, which answer GET with 405.

Admins only ever GET and POST without a CSRF token here: no valid POST reaches a view,
so no retry or test send goes out.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern
from django.utils import timezone

from campaigns.models import Campaign, Profile, ProfileEvent, Segment
from campaigns.wizard import steps
from deliveries.models import BulkRetry, Delivery, DeliveryAttempt
from tests.factories import (
    make_campaign,
    make_event_type,
    make_profile,
    make_profile_event,
    make_segment,
    make_webhook,
)
from webhooks.models import ActivityEntry, ApiKey, Event, EventType, SystemSettings, Webhook

# What answers without a login, and why. Keyed by URL name (the root has none: its route).
PUBLIC = {
    "/": "redirects to the dashboard, which asks for the login itself",
    "login": "the login page: how anyone becomes logged in",
    "logout": "logging out (POST only) needs no role; it ends whatever session there is",
    "healthz": "load balancers poll it without a session; it answers 'ok' or a masked reason",
    "api:api-root": "ninja's marker for the API's base path: always 404, shows nothing",
}
# What an anonymous GET of each public URL answers (healthz: 503 when Redis is down).
PUBLIC_GET_STATUS = {
    "/": {302},
    "login": {200},
    "logout": {405},
    "healthz": {200, 503},
    "api:api-root": {404},
}

# Under /api/v1/ but portal pages (admin_required through ninja's docs_decorator).
API_ADMIN_PAGES = {"api:openapi-json", "api:openapi-view"}

# Portal actions that change state: POST only, so GET answers 405.
POST_ONLY = {
    "webhooks:enable",
    "webhooks:secret_reveal",
    "webhooks:secret_rotate",
    "webhooks:event_type_delete",
    "portal:api_key_create",
    "portal:api_key_revoke",
    "deliveries:retry",
    "deliveries:skip",
    "campaigns:pause",
    "campaigns:resume",
    "campaigns:stop",
    "campaigns:body_preview",
    "campaigns:test_send",
    "campaigns:publish",
    "campaigns:segment_preview",
    "campaigns:segment_delete",
}


def pk_of(name: str) -> Callable[[SimpleNamespace], dict]:
    return lambda world: {"pk": getattr(world, name).pk}


# The keyword arguments of each pattern that has some, from the objects of ``world``.
ARGUMENTS = {
    "webhooks:edit": pk_of("webhook"),
    "webhooks:enable": pk_of("webhook"),
    "webhooks:delete": pk_of("webhook"),
    "webhooks:secret_reveal": pk_of("webhook"),
    "webhooks:secret_rotate": pk_of("webhook"),
    "webhooks:event_type_edit": pk_of("event_type"),
    "webhooks:event_type_delete": pk_of("event_type"),
    "portal:api_key_revoke": pk_of("api_key"),
    "deliveries:detail": pk_of("delivery"),
    "deliveries:row": pk_of("delivery"),
    "deliveries:retry": pk_of("delivery"),
    "deliveries:skip": pk_of("delivery"),
    "deliveries:bulk_progress": pk_of("bulk_retry"),
    "stats:webhook": pk_of("webhook"),
    "campaigns:detail": pk_of("campaign"),
    "campaigns:progress": pk_of("campaign"),
    "campaigns:pause": pk_of("campaign"),
    "campaigns:resume": pk_of("campaign"),
    "campaigns:stop": pk_of("campaign"),
    "campaigns:stats": pk_of("campaign"),
    "campaigns:stats_audience": pk_of("campaign"),
    "campaigns:step": pk_of("campaign"),  # and each step, from EACH
    "campaigns:audience": pk_of("campaign"),
    "campaigns:held_out": pk_of("campaign"),
    "campaigns:body_preview": pk_of("campaign"),
    "campaigns:test_send": pk_of("campaign"),
    "campaigns:test_result": lambda world: {
        "pk": world.campaign.pk,
        "delivery_pk": world.test_delivery.pk,
    },
    "campaigns:publish": pk_of("campaign"),
    "campaigns:profile": pk_of("profile"),
    "campaigns:segment": pk_of("segment"),
    "campaigns:segment_count": pk_of("segment"),
    "campaigns:segment_delete": pk_of("segment"),
    "api:webhook_stats": lambda world: {"webhook_id": world.webhook.pk},
    "api:segment_members": lambda world: {"segment_id": world.segment.pk},
}
# Patterns walked once for each value of one argument.
EACH = {"campaigns:step": ("step", steps.SLUGS)}


@dataclass(frozen=True)
class Route:
    key: str  # the URL name, or "/<route>" for an unnamed pattern
    route: str  # the whole route, includes' prefixes too
    patterns: tuple  # the pattern objects from the root down to this one


def walk(patterns, namespace: str = "", parents: tuple = ()) -> Iterator[Route]:
    for entry in patterns:
        chain = (*parents, entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry.url_patterns, inner, chain)
        elif isinstance(entry, URLPattern):
            route = "".join(str(pattern) for pattern in chain)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(name or f"/{route}", route, chain)


ROUTES = list(walk(get_resolver().url_patterns))
PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


def parameters(route: Route) -> set[str]:
    return {m["parameter"] for m in PARAMETER.finditer(route.route)}


@dataclass(frozen=True)
class Case:
    route: Route
    fixed: dict  # arguments known at collection (EACH)

    @property
    def id(self) -> str:
        return "/".join([self.route.key, *map(str, self.fixed.values())])

    @property
    def kind(self) -> str:
        if self.route.key in PUBLIC:
            return "public"
        if self.route.key.startswith("api:") and self.route.key not in API_ADMIN_PAGES:
            return "api"
        return "portal"

    def url(self, world: SimpleNamespace) -> str:
        """The path, built from the route (so unnamed and same-named patterns work too)
        and checked to resolve to this very pattern."""
        route = self.route
        if not all(isinstance(pattern, RoutePattern) for pattern in route.patterns):
            pytest.fail(f"{route.key}: a re_path(); give the walker a way to build its URL")
        kwargs = dict(self.fixed)
        if parameters(route) - set(kwargs):
            if route.key not in ARGUMENTS:
                pytest.fail(
                    f"Cannot build a URL for {route.route!r} ({route.key}): add it to "
                    "ARGUMENTS in tests/test_url_permissions.py, and its objects to world."
                )
            kwargs = ARGUMENTS[route.key](world) | kwargs
        converters = {}
        for pattern in route.patterns:
            converters |= pattern.converters

        def fill(match: re.Match) -> str:
            name = match["parameter"]
            return str(converters[name].to_url(kwargs[name]))

        path = "/" + PARAMETER.sub(fill, route.route)
        assert resolve(path).route == route.route, f"{path} reaches another pattern"
        return path


def cases() -> list[Case]:
    found = []
    for route in ROUTES:
        if route.key in EACH:
            name, values = EACH[route.key]
            found += [Case(route, {name: value}) for value in values]
        else:
            found.append(Case(route, {}))
    return found


CASES = cases()
PORTAL = [pytest.param(case, id=case.id) for case in CASES if case.kind == "portal"]
API = [pytest.param(case, id=case.id) for case in CASES if case.kind == "api"]
EVERY_PUBLIC = [pytest.param(case, id=case.id) for case in CASES if case.kind == "public"]
NOT_API = PORTAL + EVERY_PUBLIC


@pytest.fixture
def world(db):
    """One of everything a URL can point at."""
    SystemSettings.load()  # a page's first read would create it, which is no change
    event_type = make_event_type()
    webhook = make_webhook(event_types=[event_type])
    delivery = Delivery.objects.create(webhook=webhook, event_type=event_type, status="failed")
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery, webhook=webhook, number=1, request_url=webhook.url, response_code=500
    )
    profile = make_profile(identity="user-1", email="user-1@example.com")
    make_profile_event(profile, "App Launched", occurred_at=timezone.now() - timedelta(days=1))
    segment = make_segment(
        {
            "category": "single_action",
            "action": {"event": "App Launched"},
            "window": {"kind": "last_days", "days": 7},
        },
        name="Launched lately",
    )
    campaign = make_campaign(webhook, segment=segment)
    test_delivery = Delivery.objects.create(webhook=webhook, source="test", payload={"test": True})
    return SimpleNamespace(
        test_delivery=test_delivery,
        event_type=event_type,
        webhook=webhook,
        delivery=delivery,
        attempt=attempt,
        profile=profile,
        segment=segment,
        campaign=campaign,
        api_key=ApiKey.issue("Reporting")[0],
        bulk_retry=BulkRetry.objects.create(query="status=failed", total=1),
    )


@pytest.fixture
def csrf_client(admin_user):
    """An admin whose POSTs are checked for a CSRF token as a browser's are."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


WATCHED = (
    Webhook, EventType, Event, Delivery, DeliveryAttempt, BulkRetry, Campaign, Segment,
    Profile, ProfileEvent, ApiKey, ActivityEntry, SystemSettings,
)  # fmt: skip


def snapshot() -> dict:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in WATCHED}


def login_redirect(path: str) -> str:
    return f"{reverse(settings.LOGIN_URL)}?next={path}"


def assert_refused_without_a_key(client: Client, path: str) -> None:
    answers = {method: getattr(client, method)(path) for method in ("get", "post")}
    for method, response in answers.items():
        assert response.status_code in (401, 405), f"{method.upper()} {path}"
        if response.status_code == 401:
            assert response["WWW-Authenticate"] == "Bearer"
    assert 401 in {response.status_code for response in answers.values()}, path


def test_every_pattern_is_walked_and_every_list_names_real_patterns():
    keys = [route.key for route in ROUTES]
    assert len(keys) == len(set(keys)), "two patterns share a name: one would go unchecked"
    unbuildable = [
        route.route
        for route in ROUTES
        if parameters(route) - {EACH[route.key][0] if route.key in EACH else None}
        and route.key not in ARGUMENTS
    ]
    assert not unbuildable, f"add these to ARGUMENTS: {unbuildable}"
    known = set(keys)
    for listed in (PUBLIC, PUBLIC_GET_STATUS, API_ADMIN_PAGES, POST_ONLY, ARGUMENTS, EACH):
        assert set(listed) <= known, f"stale entries: {set(listed) - known}"
    assert set(PUBLIC_GET_STATUS) == set(PUBLIC)
    assert len(CASES) == len(PORTAL) + len(API) + len(EVERY_PUBLIC)


@pytest.mark.parametrize("case", PORTAL)
def test_anonymous_visitors_are_sent_to_the_login_page(client, world, case):
    path = case.url(world)
    response = client.get(path)
    if case.route.key in POST_ONLY:
        assert response.status_code == 405
    else:
        assert response.status_code == 302
        assert response.url == login_redirect(path)
    response = client.post(path)  # this client skips CSRF checks: the role check answers
    if response.status_code != 405 or case.route.key in POST_ONLY:  # 405: a GET-only page
        assert response.status_code == 302
        assert response.url == login_redirect(path)


@pytest.mark.parametrize("case", PORTAL)
def test_users_without_the_admin_role_get_403(member_client, world, case):
    path = case.url(world)
    response = member_client.get(path)
    if case.route.key in POST_ONLY:
        assert response.status_code == 405
    else:
        assert response.status_code == 403
        assert "Portal pages need the <strong>Admin</strong> role" in response.content.decode()
    response = member_client.post(path)  # without CSRF checks, as above
    if response.status_code != 405 or case.route.key in POST_ONLY:  # 405: a GET-only page
        assert response.status_code == 403


@pytest.mark.parametrize("case", PORTAL)
def test_admins_open_it_and_a_get_changes_nothing(admin_client, world, case):
    path = case.url(world)
    before = snapshot()
    response = admin_client.get(path)
    if case.route.key in POST_ONLY:
        assert response.status_code == 405
        assert "GET" not in response["Allow"]
    else:
        assert response.status_code == 200, f"{path}: {response.status_code}"
    assert snapshot() == before, f"GET {path} wrote to the database"


@pytest.mark.parametrize("case", NOT_API)
def test_a_post_without_a_csrf_token_is_refused(csrf_client, world, case):
    path = case.url(world)
    before = snapshot()
    response = csrf_client.post(path)
    assert response.status_code == 403, f"{path}: {response.status_code}"
    assert "CSRF" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("case", API)
def test_the_api_wants_a_bearer_key_whoever_is_logged_in(member_client, csrf_client, world, case):
    path = case.url(world)
    assert_refused_without_a_key(Client(), path)
    assert_refused_without_a_key(member_client, path)
    assert_refused_without_a_key(csrf_client, path)  # CSRF-exempt: 401, not 403


@pytest.mark.parametrize("case", EVERY_PUBLIC)
def test_public_urls_answer_as_listed(client, world, case):
    path = case.url(world)
    response = client.get(path)
    assert response.status_code in PUBLIC_GET_STATUS[case.route.key], path
    if case.route.key == "/":
        assert response.url == reverse("stats:dashboard")
    if case.route.key == "healthz":
        assert set(response.json()) == {"database", "broker"}  # and nothing else
