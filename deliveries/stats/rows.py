"""The stats pages' repeated rows as HTML: the dashboard's webhooks and the trend's
columns (bars, hover tips and the table read aloud).

Django's template engine spent most of the dashboard's rendering on these loops (a
lookup, a filter and an escape for each of a dozen values, fifty webhooks and up to 168
columns); here a row is one f-string, as the log's rows are (``deliveries.log.rows``).
Whatever comes from outside (webhook names and URLs) goes through ``escape``, and so
does everything else a template would have escaped; the markup is the templates' own.
The template tags of ``deliveries.templatetags.deliveries`` call these.
"""

from datetime import datetime
from html import escape

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

HEALTH = "webhooks/includes/health.html"


def clip(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters with an ellipsis (the ``clip`` filter)."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


def since(value: datetime) -> SafeString:
    """A <time> saying how long ago ``value`` was (humanize's words), the timestamp on
    hover."""
    local = timezone.localtime(value)
    # Digits, the zone's abbreviation and humanize's words: nothing to escape.
    return mark_safe(
        f'<time datetime="{local.isoformat()}" title="{local:%Y-%m-%d %H:%M:%S %Z}">'
        f"{naturaltime(value)}</time>"
    )


def webhook_row(row: dict) -> SafeString:
    """One row of the dashboard's "By webhook" table (``pages._webhooks`` builds
    ``row``), as ``_webhooks.html`` wrote it."""
    hook, figures = row["webhook"], row["figures"]
    stats_url = escape(row["stats_url"])
    paused = "" if hook.is_active else '<span class="badge">Paused</span>'
    # Rare (an endpoint failing or disabled), and the health badge has its template.
    health = "" if hook.health == "healthy" else get_template(HEALTH).render({"webhook": hook})
    failed = figures.failed_count
    if failed:
        failed_cell = f'<a class="bad" href="{escape(row["failed_url"])}">{failed:,}</a>'
    else:
        failed_cell = "0"
    rate = "bad" if figures.success_rate < 0.95 else "good"
    p95 = figures.p95_duration_ms
    last = figures.last_delivery_at
    return mark_safe(
        f"""
      <tr>
        <td><a href="{stats_url}"><strong>{escape(hook.name)}</strong></a>
          {paused}
          {health}
          <div class="sub mono">{escape(clip(hook.url, 60))}</div></td>
        <td class="num"><a href="{escape(row["log_url"])}">{figures.total:,}</a></td>
        <td class="num">{figures.success_count:,}</td>
        <td class="num">{failed_cell}</td>
        <td class="num"><span class="rate {rate}">{escape(figures.success_percent)}</span></td>
        <td class="num">{figures.avg_duration_ms:,} ms</td>
        <td class="num">{"≤ " if p95 else ""}{p95:,} ms</td>
        <td>{since(last) if last else ""}</td>
        <td class="num"><a class="button small" href="{stats_url}">Stats</a></td>
      </tr>
      """
    )


# --- The trend ------------------------------------------------------------------------
# A column's geometry is numbers formatted in ``charts.trend_chart``, its title a date
# formatted there (month and day names): escaped all the same.


def trend_bars(chart: dict) -> SafeString:
    """The SVG bars of each column: delivered, and failed stacked on it."""
    parts = []
    for col in chart["columns"]:
        x, width = escape(col.x), escape(col.width)
        parts.append("\n      ")
        if col.delivered:
            parts.append(
                f'<rect class="bar delivered" x="{x}" y="{escape(col.delivered_y)}" '
                f'width="{width}" height="{escape(col.delivered_h)}"/>'
            )
        parts.append("\n      ")
        if col.failed:
            parts.append(
                f'<rect class="bar failed" x="{x}" y="{escape(col.failed_y)}" '
                f'width="{width}" height="{escape(col.failed_h)}"/>'
            )
        parts.append("\n      ")
    return mark_safe("".join(parts))


def trend_tips(chart: dict) -> SafeString:
    """The hover area over each column, with its figures."""
    return mark_safe(
        "".join(
            f"""
      <div class="col" tabindex="0" style="left: {escape(col.left)}%; width: {escape(col.slot)}%">
        <div class="tip{" flip" if col.flip else ""}" role="tooltip">
          <div class="tip-title">{escape(col.title)}</div>
          <div class="tip-row"><i class="key delivered"></i><span>Delivered</span><strong>{col.delivered_label}</strong></div>
          <div class="tip-row"><i class="key failed"></i><span>Failed <span class="sub">{escape(col.failed_share)}</span></span><strong>{col.failed_label}</strong></div>
        </div>
      </div>
      """  # noqa: E501
            for col in chart["columns"]
        )
    )


def trend_table(chart: dict) -> SafeString:
    """The rows of the trend's table (read aloud in place of the chart)."""
    return mark_safe(
        "".join(
            f'<tr><th scope="row">{escape(col.title)}</th><td>{col.delivered}</td>'
            f"<td>{col.failed}</td></tr>"
            for col in chart["columns"]
        )
    )
