"""Rows of the delivery log and of the attempts log, as HTML.

Each log shows 50 rows, and Django's template engine spent over half of the page's time
on them (a lookup, an escape and a node call for each of some thirty values a row); here
a row is one f-string. Whatever comes from outside (names, URLs, notices) goes through
``escape``; the rest is the portal's own text. ``partials/delivery_row.html`` (the row an
htmx retry or poll swaps in) and the log page's loop both render rows here, through the
``delivery_row`` template tag; the attempts log through ``attempt_row``.
"""

from collections.abc import Callable
from datetime import datetime
from html import escape

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from deliveries.line_reads import head_of, is_waiting
from deliveries.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    FailureReason,
    Source,
    Trigger,
)

# While its endpoint is not healthy a due retry waits (deliveries/engine/health.py): a
# time alone would read as a promise the sender does not keep.
ON_HOLD = {
    "failing": "on hold while the endpoint is failing",
    "disabled": "on hold: the endpoint is disabled",
}
URL_LENGTH = 70
# The labels of the choices, escaped once (``get_FOO_display`` builds its map each call);
# a value without a label shows as itself, as there.
STATUSES = {value: escape(str(label)) for value, label in DeliveryStatus.choices}
REASONS = {value: escape(str(label)) for value, label in FailureReason.choices}
TRIGGERS = {value: escape(str(label)) for value, label in Trigger.choices}


def _label(labels: dict[str, str], value: str) -> str:
    return labels.get(value) or escape(str(value))


def url_of(pk: int, action: str, prefix: str) -> str:
    """``<prefix>/<pk>[/<action>]``: a delivery's page or one of its actions."""
    return f"{prefix}/{pk}/{action}" if action else f"{prefix}/{pk}"


def clip(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters with an ellipsis."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


def ago(moment: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or timezone.now()) - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def moment(value: datetime, now: datetime | None = None) -> SafeString:
    """A <time> with the absolute time, the full timestamp on hover, and "5 min ago"."""
    local = timezone.localtime(value)
    # Digits, month names and the zone's abbreviation only: nothing to escape.
    return mark_safe(
        f'<time datetime="{local.isoformat()}" title="{local:%Y-%m-%d %H:%M:%S %Z}">'
        f'{local:%b %-d, %H:%M:%S}</time><div class="sub">{ago(value, now)}</div>'
    )


def on_hold(delivery: Delivery) -> str:
    """Why a delivery not yet tried waits: its endpoint is failing or disabled (or "")."""
    if delivery.status != DeliveryStatus.PENDING:
        return ""
    return ON_HOLD.get(delivery.webhook.health, "")


def retry_note(delivery: Delivery, default_retries: Callable[[], int]) -> str:
    """For a failed delivery, whether the sender tries again: "retry 2 of 3 at 14:05",
    "retry 2 of 3 on hold while the endpoint is failing" or "gave up after 4 attempts".
    ``default_retries`` gives the system's retries, for a webhook without its own."""
    if delivery.status != DeliveryStatus.FAILED:
        return ""
    if delivery.next_attempt_at is None:
        attempts = delivery.attempt_count
        gave_up = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
        return f"{gave_up}, holding its line" if delivery.holds_line else gave_up
    retries = delivery.webhook.max_retries
    if retries is None:
        retries = default_retries()
    retry = f"retry {delivery.attempt_count} of {retries}"
    if hold := ON_HOLD.get(delivery.webhook.health):
        return f"{retry} {hold}"
    at = timezone.localtime(delivery.next_attempt_at)
    when = f"{at:%H:%M}" if at.date() == timezone.localdate() else f"{at:%b %-d, %H:%M}"
    return f"{retry} at {when}"


def head_state(head: Delivery, default_retries: Callable[[], int]) -> str:
    """What the head of an ordered line is doing, as the rows behind it say it."""
    if head.status == DeliveryStatus.IN_PROGRESS:
        return "being sent"
    if head.status == DeliveryStatus.FAILED:
        return retry_note(head, default_retries)
    if hold := on_hold(head):
        return hold
    return "due now"


class RowRenderer:
    """Renders the rows of one response: what every row shares is worked out once."""

    def __init__(self, prefix: str, csrf_token: str, default_retries: Callable[[], int]):
        self.prefix, self.default_retries = prefix, default_retries
        self.csrf_input = (
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
        )
        self.now = timezone.now()
        self._heads: dict[tuple[int, str], Delivery | None] = {}

    def render(self, delivery: Delivery, notice: str | None = None) -> SafeString:
        pk, status = delivery.pk, delivery.status
        view = url_of(pk, "", self.prefix)
        polled = status == DeliveryStatus.IN_PROGRESS or delivery.manual_waiting
        poll = (
            f' hx-get="{url_of(pk, "row", self.prefix)}" hx-trigger="every 1s" hx-swap="outerHTML"'
            if polled
            else ""
        )
        retry = ""
        if status == DeliveryStatus.FAILED:
            action = url_of(pk, "retry", self.prefix)
            retry = (
                f'\n    <form method="post" action="{action}" hx-post="{action}" '
                'hx-target="closest tr" hx-swap="outerHTML" class="inline">\n      '
                f"{self.csrf_input}"
                '<button type="submit" class="button small" title="Send again now">'
                "↻ Retry</button>\n    </form>"
            )
        webhook = delivery.webhook
        alert = (
            f'\n    <div class="row-notice" role="alert">{escape(notice)}</div>' if notice else ""
        )
        return mark_safe(
            f'<tr id="delivery-{pk}" data-status="{escape(status)}"{poll}>\n'
            f'  <td>\n    <a href="{view}"><strong>{escape(webhook.name)}</strong></a>\n'
            f'    <div class="sub mono">{escape(clip(webhook.url, URL_LENGTH))}</div>\n  </td>\n'
            f"  <td>{self._kind(delivery)}</td>\n"
            f'  <td>\n    <span class="badge {escape(status)}">'
            f"{_label(STATUSES, status)}</span>"
            f"{self._state(delivery)}{alert}\n  </td>\n"
            f'  <td class="mono">{self._response(delivery)}</td>\n'
            f"  <td>{self._attempted(delivery)}</td>\n"
            f'  <td class="num nowrap">{retry}\n    <a class="button small" href="{view}" '
            'title="Request, payload and response">View</a>\n  </td>\n</tr>\n'
        )

    @staticmethod
    def _kind(delivery: Delivery) -> str:
        if delivery.event_type_id is not None and delivery.event_type is not None:
            return f'<span class="chip">{escape(delivery.event_type.name)}</span>'
        if delivery.source == Source.TEST:
            return '<span class="chip">campaign test</span>'
        return '<span class="chip">campaign</span>'

    def _state(self, delivery: Delivery) -> str:
        """The spinner of a send in flight, and the line under the status badge."""
        spinner = (
            '<span class="spinner" aria-label="sending"></span>'
            if delivery.status == DeliveryStatus.IN_PROGRESS
            else ""
        )
        note = '<div class="sub" data-testid="retry-note">{}</div>'
        if waiting := self._waiting(delivery):
            line = note.format(waiting)
        elif delivery.status == DeliveryStatus.FAILED:
            line = note.format(escape(retry_note(delivery, self.default_retries)))
        elif delivery.manual_waiting:
            who = "Test send" if delivery.source == Source.TEST else "Manual retry"
            line = note.format(f"{who} queued, next in line")
        elif hold := on_hold(delivery):
            line = note.format(escape(hold[0].upper() + hold[1:]))
        elif delivery.attempt_count > 1:
            line = f'<div class="sub">{delivery.attempt_count} attempts</div>'
        else:
            line = ""
        return "".join(f"\n    {part}" for part in (spinner, line) if part)

    def _waiting(self, delivery: Delivery) -> str:
        """For a delivery waiting in its ordered line: "waiting behind delivery #123 (retry
        2 of 3 at 14:05)", linked to it (the rows of a line share one lookup)."""
        if not is_waiting(delivery):
            return ""
        line = (delivery.webhook_id, delivery.line_key)
        if line not in self._heads:
            self._heads[line] = head_of(delivery)
        head = self._heads[line]
        if head is None:
            return ""
        head.webhook = delivery.webhook  # the same endpoint
        who = "Manual retry queued, " if delivery.manual_requested_at else ""
        return (
            f'{who}waiting behind <a href="{url_of(head.pk, "", self.prefix)}" '
            f'data-testid="line-head">delivery #{head.pk}</a> '
            f"({escape(head_state(head, self.default_retries))})"
        )

    @staticmethod
    def _response(delivery: Delivery) -> str:
        code = delivery.last_response_code or "—"
        reason = (
            f'<div class="sub">{_label(REASONS, delivery.last_failure_reason)}</div>'
            if delivery.last_failure_reason
            else ""
        )
        return f"{code}{reason}"

    def _attempted(self, delivery: Delivery) -> str:
        if delivery.last_attempt_at is None:
            return '<span class="sub">Not attempted yet</span>'
        return moment(delivery.last_attempt_at, self.now)


def attempt_row(attempt: DeliveryAttempt, prefix: str, now: datetime | None = None) -> SafeString:
    """One row of the attempts log: when, to whom, the outcome, the response, how long,
    why it was sent, and a link to its delivery."""
    webhook = attempt.webhook
    outcome = (
        '<span class="badge success">Delivered</span>'
        if attempt.success
        else '<span class="badge failed">Failed</span>'
    )
    reason = (
        f'<div class="sub">{_label(REASONS, attempt.failure_reason)}</div>'
        if attempt.failure_reason
        else ""
    )
    duration = "—" if attempt.duration_ms is None else f"{attempt.duration_ms:,} ms"
    number = f'<div class="sub">try {attempt.number}</div>' if attempt.number > 1 else ""
    return mark_safe(
        f"<tr>\n  <td>{moment(attempt.attempted_at, now)}</td>\n"
        f"  <td><strong>{escape(webhook.name)}</strong>"
        f'<div class="sub mono">{escape(clip(webhook.url, 60))}</div></td>\n'
        f"  <td>{outcome}</td>\n"
        f'  <td class="mono">{attempt.response_code or "—"}{reason}</td>\n'
        f'  <td class="num">{duration}</td>\n'
        f"  <td>{_label(TRIGGERS, attempt.trigger)}{number}</td>\n"
        f'  <td class="num"><a class="button small" '
        f'href="{url_of(attempt.delivery_id, "", prefix)}">Delivery</a></td>\n</tr>\n'
    )
