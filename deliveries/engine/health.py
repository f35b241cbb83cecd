"""Endpoint health: a circuit breaker per endpoint, fed by every recorded attempt.

- **healthy**: sent to within its limits. Consecutive failures are counted; once there are
  ``DELIVERIES_FAILURE_THRESHOLD`` of them spanning at least ``DELIVERIES_FAILURE_SPAN``
  seconds, the endpoint is failing.
- **failing**: its due deliveries wait (without using retries). One probe, the longest-due
  delivery, is sent per interval: ``DELIVERIES_PROBE_INTERVAL`` at first, then as long as
  it has been failing (about doubling), up to ``DELIVERIES_PROBE_MAX_INTERVAL``. The first
  success makes it healthy, and its backlog drains within its limits. Failing for
  ``DELIVERIES_DISABLE_AFTER`` disables it.
- **disabled**: nothing is sent until an admin re-enables it (``Webhook.enable``).

Failures of our own (``internal_error``, ``lease_expired``) say nothing of the endpoint and
are not counted. Each change is written to the activity log with the reasons counted, and
admins are emailed (``deliveries.health_email``, after the commit).

Nothing here reads the clock: every decision is taken at the ``now`` the caller passes (when
the results are recorded) and the times the attempts started, so a test drives the breaker
through hours of failing by passing times, without waiting.
"""

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from kombu.exceptions import OperationalError

from deliveries.models import FailureReason
from deliveries.stats.queries import failure_reasons
from webhooks.models import ActivityEntry, Health, Webhook

logger = logging.getLogger(__name__)

NOT_THE_ENDPOINT = {FailureReason.INTERNAL_ERROR, FailureReason.LEASE_EXPIRED}
EMAIL_TASK = "deliveries.health_email"

FIELDS = [
    "health",
    "health_changed_at",
    "consecutive_failures",
    "first_failure_at",
    "next_probe_at",
    "last_failure_reason",
    "last_failure_label",
    "last_failure_at",
]


def observe(results: list[tuple], now: datetime) -> None:
    """Update the health of the endpoints of ``results`` ((delivery, request, result), in
    the order they finished), recorded at ``now``. All successes to a healthy endpoint cost
    one read."""
    outcomes: dict[int, list] = {}
    for delivery, _, result in results:
        if result.failure_reason not in NOT_THE_ENDPOINT:
            outcomes.setdefault(delivery.webhook_id, []).append(result)
    clean = [wid for wid, seen in outcomes.items() if all(r.success for r in seen)]
    if clean:
        troubled = set(
            Webhook.objects.filter(id__in=clean)
            .filter(Q(consecutive_failures__gt=0) | ~Q(health=Health.HEALTHY))
            .values_list("id", flat=True)
        )
        for webhook_id in set(clean) - troubled:
            del outcomes[webhook_id]
    for webhook_id, seen in outcomes.items():
        _update(webhook_id, seen, now)


def _update(webhook_id: int, results: list, now: datetime) -> None:
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if webhook is None:  # deleted meanwhile
            return
        was, changed_at = webhook.health, webhook.health_changed_at
        for result in results:
            if result.success:
                webhook.consecutive_failures, webhook.first_failure_at = 0, None
                if webhook.health == Health.FAILING:
                    _move(webhook, Health.HEALTHY, now)
                    webhook.next_probe_at = None
            else:
                # Results come in the order they finished, not started.
                at = result.started_at or now
                webhook.consecutive_failures += 1
                webhook.first_failure_at = min(webhook.first_failure_at or at, at)
                if webhook.last_failure_at is None or at >= webhook.last_failure_at:
                    webhook.last_failure_reason = result.failure_reason
                    webhook.last_failure_label = failure_label(
                        result.failure_reason, result.response_code
                    )
                    webhook.last_failure_at = at
        if not results[-1].success:
            _after_failure(webhook, now)
        Webhook.objects.filter(pk=webhook.pk).update(
            **{field: getattr(webhook, field) for field in FIELDS}
        )
        if webhook.health != was:
            _announce(webhook, changed_at or now, now)


def _after_failure(webhook: Webhook, now: datetime) -> None:
    if webhook.health == Health.HEALTHY:
        span = (webhook.last_failure_at - webhook.first_failure_at).total_seconds()
        if (
            webhook.consecutive_failures >= settings.DELIVERIES_FAILURE_THRESHOLD
            and span >= settings.DELIVERIES_FAILURE_SPAN
        ):
            _move(webhook, Health.FAILING, now)
            webhook.next_probe_at = now + probe_interval(webhook, now)
    elif webhook.health == Health.FAILING:
        failing_for = (now - webhook.health_changed_at).total_seconds()
        if failing_for >= settings.DELIVERIES_DISABLE_AFTER:
            _move(webhook, Health.DISABLED, now)
            webhook.next_probe_at = None
        else:
            webhook.next_probe_at = now + probe_interval(webhook, now)


def _move(webhook: Webhook, health: str, now: datetime) -> None:
    webhook.health, webhook.health_changed_at = health, now


def probe_now(webhook_id: int, now: datetime) -> None:
    """Make a failing endpoint's next probe due at ``now``: an admin asked for a send to it
    (a Retry or a test), which goes first in its line and so is the probe."""
    Webhook.objects.filter(pk=webhook_id, health=Health.FAILING, next_probe_at__gt=now).update(
        next_probe_at=now
    )


def probe_interval(webhook: Webhook, now: datetime) -> timedelta:
    """The wait before the next probe: as long as the endpoint has been failing, within
    ``DELIVERIES_PROBE_INTERVAL`` and ``DELIVERIES_PROBE_MAX_INTERVAL`` (so it about
    doubles with each failed probe)."""
    failing_for = (now - (webhook.health_changed_at or now)).total_seconds()
    seconds = min(
        max(failing_for, settings.DELIVERIES_PROBE_INTERVAL),
        settings.DELIVERIES_PROBE_MAX_INTERVAL,
    )
    return timedelta(seconds=seconds)


def failure_label(reason: str, code: int | None) -> str:
    if reason == FailureReason.HTTP_ERROR and code:
        return f"HTTP {code}"
    return FailureReason(reason).label if reason in FailureReason.values else reason


def reasons_text(webhook: Webhook, since: datetime) -> str:
    """``Connection refused ×412 (last at 14:05:09 UTC), HTTP 5xx ×3 (...)``."""
    counted = failure_reasons(webhook.pk, since)
    return ", ".join(
        f"{kind.label} ×{count}" + (f" (last at {format_moment(last)})" if last else "")
        for kind, count, last in counted[:5]
    )


def _announce(webhook: Webhook, failing_since: datetime, now: datetime) -> None:
    """Write the change to the activity log and email the admins after the commit."""
    since = webhook.first_failure_at or now
    if webhook.health == Health.FAILING:
        subject = f"Webhook “{webhook.name}” is failing"
        summary = (
            f"{subject}: {webhook.consecutive_failures} failures in a row since "
            f"{format_moment(since)}. Its deliveries wait; a probe tests it after "
            f"{int(probe_interval(webhook, now).total_seconds())} s, then less often "
            "the longer it fails."
        )
    elif webhook.health == Health.DISABLED:
        subject = f"Webhook “{webhook.name}” was disabled"
        summary = (
            f"{subject} after failing since {format_moment(failing_since)}; "
            "nothing is sent to it until it is re-enabled, and its deliveries wait."
        )
    else:
        subject = f"Webhook “{webhook.name}” recovered"
        summary = f"{subject}: a delivery succeeded, and the deliveries that waited are sent."
    reasons = reasons_text(webhook, since) if webhook.health != Health.HEALTHY else ""
    if reasons:
        summary += f" Failures: {reasons}."
    ActivityEntry.record(f"webhook.{webhook.health}", summary[:500])
    transaction.on_commit(lambda: _email(webhook.pk, subject, summary))


def format_moment(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _email(webhook_id: int, subject: str, summary: str) -> None:
    try:
        current_app.tasks[EMAIL_TASK].delay(webhook_id, subject, summary)
    except (OperationalError, OSError) as error:
        logger.warning("Could not queue the health email for webhook %s: %s", webhook_id, error)
