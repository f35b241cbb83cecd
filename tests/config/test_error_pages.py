"""The 400, 403, 404 and 500 pages (config/errors.py): the portal's layout, the reason where
one exists, a way back, and nothing internal."""

import pytest
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.template import loader
from django.test import RequestFactory
from django.urls import get_resolver, path
from django.utils.html import escape

from config import errors
from config import urls as portal_urls
from config.keyset import InvalidCursor

LOG = "/admin/webhook-deliveries"
CURSOR_MESSAGE = str(InvalidCursor())


def boom(request):
    raise RuntimeError("password=hunter2 in a traceback")


# The portal's URLs plus one that fails, for the 500 test (``pytest.mark.urls(__name__)``).
urlpatterns = [path("boom", boom), *portal_urls.urlpatterns]
handler400, handler403 = portal_urls.handler400, portal_urls.handler403
handler404, handler500 = portal_urls.handler404, portal_urls.handler500


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False


def in_layout(html: str) -> bool:
    return all(
        part in html
        for part in (
            'class="sidebar"',
            "Webhook Portal",
            "data-error-page",
            'href="/admin/">Back to the dashboard</a>',
            f'href="{LOG}">Delivery log</a>',
        )
    )


def test_the_handlers_are_the_portals():
    resolver = get_resolver()
    assert resolver.resolve_error_handler(400) is errors.bad_request
    assert resolver.resolve_error_handler(403) is errors.permission_denied
    assert resolver.resolve_error_handler(404) is errors.page_not_found
    assert resolver.resolve_error_handler(500) is errors.server_error


def test_a_broken_page_link_is_a_400_with_keysets_message(admin_client):
    response = admin_client.get(LOG, {"status": "failed", "after": "garbage"})
    assert response.status_code == 400
    html = response.content.decode()
    assert escape(CURSOR_MESSAGE) in html
    assert in_layout(html)
    assert "<h1>Bad request</h1>" in html
    assert "alice" in html  # the sidebar's account: the page was rendered with the request
    # The same list without the broken cursor.
    assert 'href="?status=failed">Start from the first page</a>' in html
    assert {"400.html", "error.html", "base.html"} <= {t.name for t in response.templates}


def test_a_broken_before_cursor_is_a_400_too(admin_client):
    response = admin_client.get(LOG, {"before": "W10"})  # base64 of "[]"
    assert response.status_code == 400
    assert escape(CURSOR_MESSAGE) in response.content.decode()
    assert 'href="?">Start from the first page</a>' in response.content.decode()


def test_a_suspicious_request_gets_a_generic_400(client, db):
    """DisallowedHost is a SuspiciousOperation: its message names the host and the setting."""
    response = client.get("/admin/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    html = response.content.decode()
    assert errors.BAD_REQUEST in html
    assert "evil.example" not in html
    assert "ALLOWED_HOSTS" not in html
    assert in_layout(html)


def test_an_unknown_portal_url_is_a_404_in_the_layout(admin_client):
    response = admin_client.get("/admin/no-such-page/<script>alert(1)</script>")
    assert response.status_code == 404
    html = response.content.decode()
    assert in_layout(html)
    assert "<h1>Page not found</h1>" in html
    assert "/admin/no-such-page/&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_an_anonymous_404_renders_without_an_account(client, db):
    response = client.get("/admin/nothing-here")
    assert response.status_code == 404
    html = response.content.decode()
    assert in_layout(html)
    assert "/admin/nothing-here" in html
    assert "Log out" not in html


def test_a_record_that_is_gone_is_a_404_without_the_models_message(admin_client):
    response = admin_client.get(f"{LOG}/424242")
    assert response.status_code == 404
    html = response.content.decode()
    assert in_layout(html)
    assert "matches the given query" not in html


def test_a_member_without_the_admin_role_gets_a_403_with_the_reason(member_client):
    response = member_client.get(LOG)
    assert response.status_code == 403
    html = response.content.decode()
    assert in_layout(html)
    assert "<h1>Access denied</h1>" in html
    assert "This page needs the Admin role." in html
    assert "You are logged in as <strong>bob</strong>" in html
    assert "Portal pages need the <strong>Admin</strong> role" in html  # tests/test_permissions
    assert "Log in as someone else" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_anonymous_users_are_sent_to_log_in_not_shown_a_403(client, db):
    response = client.get(LOG)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


@pytest.mark.parametrize(
    ("handler", "exception", "status", "reason"),
    [
        (errors.bad_request, BadRequest("Pick a date range."), 400, "Pick a date range."),
        (errors.bad_request, BadRequest(), 400, errors.BAD_REQUEST),
        (errors.bad_request, BadRequest("one", "two"), 400, errors.BAD_REQUEST),
        (errors.bad_request, SuspiciousOperation("internal: /etc/x"), 400, errors.BAD_REQUEST),
        (errors.bad_request, ValueError("internal"), 400, errors.BAD_REQUEST),
        (errors.permission_denied, PermissionDenied("Admins only."), 403, "Admins only."),
        (errors.permission_denied, PermissionDenied(), 403, errors.FORBIDDEN),
        (errors.page_not_found, Http404("No Webhook matches the given query."), 404, None),
    ],
)
def test_the_reason_is_the_exceptions_only_when_it_is_meant_for_users(
    handler, exception, status, reason
):
    """A bare request (no user, session or messages) is enough, and needs no database."""
    request = RequestFactory().get("/admin/somewhere")
    response = handler(request, exception)
    assert response.status_code == status
    html = response.content.decode()
    assert in_layout(html)
    assert escape(reason or errors.NOT_FOUND) in html
    assert "internal" not in html
    assert "matches the given query" not in html


def test_the_500_page_renders_without_the_database_or_the_request():
    """No ``db`` fixture: any query here would fail the test."""
    response = errors.server_error(RequestFactory().get("/admin/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert errors.SERVER_ERROR in html
    assert "<h1>Server error</h1>" in html
    assert 'href="/admin/">Back to the dashboard</a>' in html
    assert f'href="{LOG}">Delivery log</a>' in html


@pytest.mark.urls(__name__)
def test_a_failing_view_shows_the_500_page_and_no_details(client):
    client.raise_request_exception = False
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.content.decode()
    assert errors.SERVER_ERROR in html
    assert "hunter2" not in html
    assert "Traceback" not in html
    assert "RuntimeError" not in html


@pytest.mark.parametrize("name", ["400.html", "403.html", "404.html", "500.html"])
def test_each_page_renders_with_an_empty_context(name):
    html = loader.render_to_string(name)
    assert "Back to the dashboard" in html
    assert "Delivery log" in html
    assert 'class="reason">' in html
    assert 'class="reason"></p>' not in html  # a default reason, not an empty one
