"""The portal's error pages (``handler400`` ... ``handler500`` in ``config.urls``).

Each handler picks a reason and renders a page in the portal's layout. A message is shown
only from the exceptions the portal raises for people to read: ``BadRequest`` (a broken
page link, ``config.keyset.InvalidCursor``) and ``PermissionDenied`` (the Admin role).
``SuspiciousOperation`` gets a generic reason: its messages name hosts, headers and limits.
The 404 page names the path asked for; the 500 page says nothing about the failure and
renders without the request, so no context processor (session, user) runs.
"""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.views.decorators.csrf import requires_csrf_token

from config.keyset import InvalidCursor

BAD_REQUEST = "The request could not be handled. Go back and try again, or start over below."
FORBIDDEN = "You don't have permission to open this page."
NOT_FOUND = "It may have been deleted, or purged by the retention policy."
SERVER_ERROR = (
    "Something went wrong on our side while handling this request. Try again in a moment; "
    "if it keeps happening, tell an administrator."
)


def message_for_users(exception: Exception | None, kind: type[Exception]) -> str:
    """The exception's message if it is a ``kind`` raised with a single message, else ""."""
    if not isinstance(exception, kind) or isinstance(exception, SuspiciousOperation):
        return ""
    if len(exception.args) != 1 or not isinstance(exception.args[0], str):
        return ""
    return exception.args[0].strip()


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context = {"reason": message_for_users(exception, BadRequest) or BAD_REQUEST}
    if isinstance(exception, InvalidCursor):
        # The same list without the broken cursor; a relative "?..." link keeps the path.
        query = request.GET.copy()
        for name in ("after", "before"):
            query.pop(name, None)
        context["first_page"] = f"?{query.urlencode()}"
    return render(request, "400.html", context, status=400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = message_for_users(exception, PermissionDenied) or FORBIDDEN
    return render(request, "403.html", {"reason": reason}, status=403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", {"reason": NOT_FOUND, "path": request.path}, status=404)


# The 500 page stands alone with its styles inline (no static files to fail), and it shows
# nothing from the request: the Content-Security-Policy allows its <style> element.
@csp_update({"style-src": [UNSAFE_INLINE]})
def server_error(request: HttpRequest) -> HttpResponse:
    context = {
        "reason": SERVER_ERROR,
        "dashboard_url": url_or("stats:dashboard", "/admin/"),
        "log_url": url_or("deliveries:log", "/admin/webhook-deliveries"),
    }
    return HttpResponse(loader.render_to_string("500.html", context), status=500)


def url_or(name: str, fallback: str) -> str:
    """The named URL, or ``fallback`` if it cannot be reversed: a 500 page must render."""
    try:
        return reverse(name)
    except Exception:
        return fallback
