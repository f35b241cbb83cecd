"""Emails to the admins when an endpoint's health changes (see ``health.py``)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from config.web import ADMIN_GROUP
from webhooks.models import Webhook


def recipients() -> list[str]:
    """Active admins (and superusers) with an email address, and ``ALERT_EMAILS``."""
    admins = (
        get_user_model()
        .objects.filter(Q(groups__name=ADMIN_GROUP) | Q(is_superuser=True), is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return sorted(set(admins) | set(settings.ALERT_EMAILS))


def send_health_email(webhook_id: int, subject: str, summary: str) -> int:
    """Email ``summary`` with links to the webhook and its failed deliveries. Returns how
    many messages were sent (none without recipients)."""
    to = recipients()
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    if not to or webhook is None:
        return 0
    base = settings.PORTAL_URL.rstrip("/")
    log = f"{reverse('deliveries:log')}?webhook={webhook.pk}&status=failed"
    body = "\n".join(
        [
            summary,
            "",
            f"Endpoint: {webhook.url}",
            f"Webhook: {base}{webhook.get_absolute_url()}",
            f"Failed deliveries: {base}{log}",
        ]
    )
    return send_mail(f"[Webhooks] {subject}", body, None, to)
