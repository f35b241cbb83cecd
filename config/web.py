"""Cross-app plumbing for views: the Admin role check and htmx helpers."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

ADMIN_GROUP = "Admin"


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


def is_admin(user) -> bool:
    """Superusers count as higher than Admin; everyone else needs the Admin group."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=ADMIN_GROUP).exists()


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; logged-in users without the role get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_admin(request.user):
            raise PermissionDenied("This page needs the Admin role.")
        return view(request, *args, **kwargs)

    return wrapper


def is_partial(request: HtmxRequest) -> bool:
    """True when htmx asks for a fragment (not for a boosted or history-restore request)."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request
