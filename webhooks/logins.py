"""Failed logins and lockouts (django-axes) in the activity log, so an admin sees someone
guessing passwords. The password is never logged; the username typed is."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from webhooks.models import ActivityEntry


def _address(request) -> str:
    # The client's address as django-axes read it (through TRUSTED_PROXY_COUNT proxies).
    if request is None:
        return "unknown"
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR") or "unknown"


@receiver(user_login_failed)
def log_failed_login(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username") or "")[:150]
    ActivityEntry.record("login.failed", f"Failed login for “{username}” from {_address(request)}")


@receiver(user_locked_out)
def log_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    ActivityEntry.record(
        "login.locked",
        f"Logins for “{str(username or '')[:150]}” from {ip_address or _address(request)} "
        f"locked for {settings.AXES_COOLOFF_MINUTES} minutes after "
        f"{settings.AXES_FAILURE_LIMIT} failures",
    )
