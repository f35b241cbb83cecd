"""Template helpers for the delivery log, written for speed: the log renders 50 rows with
several of these each, and Django's widget templates, ``reverse`` and date filters were
most of its server time."""

from functools import cache

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.forms import ModelChoiceField
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def approximate(number: int) -> str:
    """An estimate to two significant figures: 16,514 -> "17,000", 1,829,872 -> "1.8 million"."""
    if number >= 1_000_000:
        return f"{number / 1_000_000:.2g} million"
    rounded = int(float(f"{number:.2g}"))
    return intcomma(rounded)


@register.simple_tag
def options(bound_field):
    """The <option> elements of a choice field, the current value selected."""
    current = "" if bound_field.value() is None else str(bound_field.value())
    rows = []
    for value, label in _choices(bound_field.field):
        value = "" if value is None else str(value)
        rows.append((value, " selected" if value == current else "", label))
    return format_html_join("", '<option value="{}"{}>{}</option>', rows)


def _choices(field):
    """A field's choices; a model's in one plain query. Django's ``ModelChoiceIterator``
    walks ``queryset.iterator()``, a server-side cursor on PostgreSQL: three round trips
    per select, and every column of every row, for a list of names."""
    if not isinstance(field, ModelChoiceField):
        return field.choices
    empty = [] if field.empty_label is None else [("", field.empty_label)]
    return empty + [(obj.pk, field.label_from_instance(obj)) for obj in list(field.queryset)]


@register.filter
def clip(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters with an ellipsis: ``truncatechars`` for
    short one-line values such as URLs, without its per-character Unicode walk."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


@cache
def _log_prefix() -> str:
    return reverse("deliveries:log")


@register.simple_tag
def delivery_url(pk: int, action: str = "") -> str:
    """/admin/webhook-deliveries/<pk>[/<action>] without a ``reverse`` per row."""
    return f"{_log_prefix()}/{pk}/{action}" if action else f"{_log_prefix()}/{pk}"


def ago(moment, now=None) -> str:
    seconds = int(((now or timezone.now()) - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@register.simple_tag
def moment(value):
    """A <time> with the absolute time, the full timestamp on hover, and "5 min ago"."""
    local = timezone.localtime(value)
    # Digits, month names and the zone's abbreviation only: nothing to escape (a log page
    # shows 50 of these, and format_html's escaping was most of their time).
    return mark_safe(
        f'<time datetime="{local.isoformat()}" title="{local:%Y-%m-%d %H:%M:%S %Z}">'
        f'{local:%b %-d, %H:%M:%S}</time><div class="sub">{ago(value)}</div>'
    )


# While its endpoint is not healthy a due retry waits (deliveries/engine/health.py): a
# time alone would read as a promise the sender does not keep.
ON_HOLD = {
    "failing": "on hold while the endpoint is failing",
    "disabled": "on hold: the endpoint is disabled",
}


@register.filter
def on_hold(delivery) -> str:
    """Why a delivery not yet tried waits: its endpoint is failing or disabled (or "")."""
    if delivery.status != "pending":
        return ""
    return ON_HOLD.get(delivery.webhook.health, "")


@register.simple_tag(takes_context=True)
def retry_note(context, delivery) -> str:
    """For a failed delivery, whether the sender tries again: "retry 2 of 3 at 14:05",
    "retry 2 of 3 on hold while the endpoint is failing" or "gave up after 4 attempts".
    The system's default retries are read once per page."""
    if delivery.status != "failed":
        return ""
    if delivery.next_attempt_at is None:
        attempts = delivery.attempt_count
        return f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
    retries = delivery.webhook.max_retries
    if retries is None:
        # Kept in the outermost context: each row is its own include, and an include gets
        # a render_context of its own, so a cache there was a query per row.
        if "_default_retries" not in context:
            from webhooks.models import SystemSettings

            context.dicts[0]["_default_retries"] = SystemSettings.load().max_retries
        retries = context["_default_retries"]
    retry = f"retry {delivery.attempt_count} of {retries}"
    if hold := ON_HOLD.get(delivery.webhook.health):
        return f"{retry} {hold}"
    at = timezone.localtime(delivery.next_attempt_at)
    when = f"{at:%H:%M}" if at.date() == timezone.localdate() else f"{at:%b %-d, %H:%M}"
    return f"{retry} at {when}"
