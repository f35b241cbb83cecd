"""Template helpers for the delivery log, written for speed: the log renders 50 rows with
several of these each, and Django's widget templates, ``reverse`` and date filters were
most of its server time."""

from functools import cache, partial
from html import escape

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.forms import ModelChoiceField
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from deliveries.log import rows
from deliveries.stats import rows as stats_rows
from webhooks.models import SystemSettings

register = template.Library()


@register.filter
def approximate(number: int) -> str:
    """An estimate to two significant figures: 16,514 -> "17,000", 1,829,872 -> "1.8 million"."""
    if number >= 1_000_000:
        return f"{number / 1_000_000:.2g} million"
    rounded = int(float(f"{number:.2g}"))
    return intcomma(rounded)


@register.filter
def thousands(number) -> str:
    """``intcomma`` for whole numbers, without its locale lookups: the dashboard shows
    five an endpoint."""
    return f"{number:,}" if isinstance(number, int) else intcomma(number)


@register.simple_tag
def options(bound_field):
    """The <option> elements of a choice field, the current value selected. Values and
    labels (webhook and campaign names) are escaped here: format_html, a call per option
    for the log's hundred, was a tenth of its page's time."""
    current = "" if bound_field.value() is None else str(bound_field.value())
    rows = []
    for value, label in _choices(bound_field.field):
        value = "" if value is None else str(value)
        selected = " selected" if value == current else ""
        rows.append(f'<option value="{escape(value)}"{selected}>{escape(str(label))}</option>')
    return mark_safe("".join(rows))


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
    return rows.clip(text, length)


@cache
def _log_prefix() -> str:
    return reverse("deliveries:log")


@register.simple_tag
def delivery_url(pk: int, action: str = "") -> str:
    """/admin/webhook-deliveries/<pk>[/<action>] without a ``reverse`` per row."""
    return rows.url_of(pk, action, _log_prefix())


@register.simple_tag
def moment(value):
    """A <time> with the absolute time, the full timestamp on hover, and "5 min ago"."""
    return rows.moment(value)


@register.filter
def on_hold(delivery) -> str:
    """Why a delivery not yet tried waits: its endpoint is failing or disabled (or "")."""
    return rows.on_hold(delivery)


@register.simple_tag
def since(value):
    """A <time> saying how long ago ``value`` was (humanize's words), the timestamp on
    hover: the dashboard's "last delivery" of each endpoint, without three filters."""
    return stats_rows.since(value)


# The stats pages' repeated parts, rendered in Python (``deliveries.stats.rows``): a
# dashboard row per webhook, and the trend's bars, hover tips and table rows.
for _render in (
    stats_rows.webhook_row,
    stats_rows.trend_bars,
    stats_rows.trend_tips,
    stats_rows.trend_table,
):
    register.simple_tag(_render)


@register.simple_tag(takes_context=True)
def retry_note(context, delivery) -> str:
    """For a failed delivery, whether the sender tries again (``rows.retry_note``)."""
    return rows.retry_note(delivery, partial(_default_retries, context))


@register.simple_tag(takes_context=True)
def delivery_row(context, delivery, notice=None):
    """One row of the log (``rows.RowRenderer``): one renderer for all the rows of a
    response, kept in its outermost context."""
    renderer = context.get("_row_renderer")
    if renderer is None:
        token = context.get("csrf_token")
        renderer = rows.RowRenderer(
            _log_prefix(), "" if token is None else str(token), partial(_default_retries, context)
        )
        context.dicts[0]["_row_renderer"] = renderer
    return renderer.render(delivery, notice)


@register.simple_tag(takes_context=True)
def attempt_row(context, attempt):
    """One row of the attempts log (``rows.attempt_row``), all of a page's at one time."""
    now = context.get("_rows_now")
    if now is None:
        now = context.dicts[0]["_rows_now"] = timezone.now()
    return rows.attempt_row(attempt, _log_prefix(), now)


def _default_retries(context) -> int:
    """The system's default retries, read once per response. Kept in the outermost
    context: an include gets a render_context of its own."""
    if "_default_retries" not in context:
        context.dicts[0]["_default_retries"] = SystemSettings.load().max_retries
    return context["_default_retries"]
