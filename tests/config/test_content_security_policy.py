"""The Content-Security-Policy header (django-csp), and templates that need nothing it
refuses. tests/browser/test_content_security_policy.py walks the pages in Chromium."""

import re
from pathlib import Path

from csp.middleware import CSPMiddleware
from django.conf import settings as django_settings
from django.test import RequestFactory
from django.urls import reverse

from config.errors import server_error

TEMPLATE_DIRS = [Path(django_settings.BASE_DIR) / "templates"] + [
    path
    for app in ("webhooks", "deliveries", "campaigns")
    for path in (Path(django_settings.BASE_DIR) / app).rglob("templates")
]


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_every_page_carries_the_policy(admin_client):
    response = admin_client.get(reverse("deliveries:log"))
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["style-src-attr"] == "'unsafe-inline'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"


def test_the_login_page_carries_the_policy(client):
    response = client.get(reverse("login"))
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_standalone_500_page_may_use_its_own_style_element(settings):
    settings.DEBUG = False  # django-csp leaves Django's debug 500 page alone
    request = RequestFactory().get("/admin/")
    response = CSPMiddleware(server_error)(request)
    policy = directives(response["Content-Security-Policy"])
    assert response.status_code == 500
    assert "'unsafe-inline'" in policy["style-src"]
    assert policy["script-src"] == "'self'"


def templates():
    for directory in TEMPLATE_DIRS:
        yield from directory.rglob("*.html")


def test_no_template_has_an_inline_script():
    inline = [
        f"{path}: {tag}"
        for path in templates()
        for tag in re.findall(r"<script\b[^>]*>", path.read_text())
        if "src=" not in tag and 'type="application/json"' not in tag
    ]
    assert inline == []


def test_no_template_has_an_event_handler_attribute_or_htmx_eval():
    found = [
        f"{path}: {match}"
        for path in templates()
        for match in re.findall(
            # ... and an htmx trigger filter, click[ctrlKey], which htmx runs through eval.
            r"""\son[a-z]+\s*=|\bhx-on\b|hx-vars|js:|hx-trigger="(?:[^"]*,)?\s*[\w:.-]+\[""",
            path.read_text(),
        )
    ]
    assert found == []
