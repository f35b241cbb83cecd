"""The trend chart: stacked bars as server-side SVG, with a hover area per column."""

import math
from dataclasses import dataclass

from django.utils import formats, timezone

from deliveries.stats.figures import TrendPoint


def share(part: int, whole: int) -> dict[str, str]:
    """A part of a whole for a meter: its CSS width and its label."""
    fraction = part / whole if whole else 0
    return {"width": f"{fraction * 100:.1f}", "label": f"{fraction:.1%}" if whole else "–"}


WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 32
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 12

LABEL_FORMATS = {
    # (axis label, hover title)
    "hourly": ("H:i", "D, M j, H:i"),
    "daily": ("M j", "D, M j, Y"),
    "weekly": ("M j", r"\W\e\e\k \o\f M j, Y"),
    "monthly": ("M Y", "F Y"),
}


def nice_step(top: int, ticks: int = 4) -> int:
    """A round step (1, 2, 5 times a power of ten, or 25, 250, ...) that gives about
    ``ticks`` gridlines up to ``top``; at least 1."""
    raw = max(top / ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= raw and step == int(step):
            return int(step)
    return int(10 * power)


def compact_number(value: int) -> str:
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def _n(value: float) -> str:
    # SVG coordinates as plain decimals: the template would localise a float.
    return f"{value:.1f}"


def _pct(value: float, whole: float) -> str:
    return f"{value / whole * 100:.3f}"


@dataclass
class Column:
    # SVG bars, in viewBox units.
    x: str
    width: str
    delivered_y: str
    delivered_h: str
    failed_y: str
    failed_h: str
    # The HTML hover area over the column, in percent of the chart box.
    left: str
    slot: str
    flip: bool
    title: str
    delivered: int
    failed: int
    failed_share: str

    # Formatted here: intcomma on every column of a long trend costs more than the chart.
    @property
    def delivered_label(self) -> str:
        return f"{self.delivered:,}"

    @property
    def failed_label(self) -> str:
        return f"{self.failed:,}"


def trend_chart(points: list[TrendPoint], granularity: str) -> dict:
    """Geometry of the trend: stacked bars (delivered under failed) with gridlines and
    axis labels in a WIDTH x HEIGHT SVG viewBox, and one hover area per column placed in
    percent over it, which shows the column's figures."""
    highest = max((point.total for point in points), default=0)
    step = nice_step(highest)
    top = max(step * math.ceil(highest / step), step)
    scale = PLOT_H / top
    baseline = TOP + PLOT_H
    gridlines = [
        {"y": _n(baseline - value * scale), "label": compact_number(value)}
        for value in range(0, top + 1, step)
    ]
    slot = PLOT_W / max(len(points), 1)
    width = min(44.0, max(slot * 0.62, 1.5))
    axis_format, title_format = LABEL_FORMATS[granularity]
    every = math.ceil(len(points) / MAX_X_LABELS) or 1
    columns, labels = [], []
    zone = timezone.get_current_timezone()
    for index, point in enumerate(points):
        start = point.start.astimezone(zone)
        slot_x = LEFT + index * slot
        center = slot_x + slot / 2
        delivered_h = point.delivered * scale
        failed_h = point.failed * scale
        columns.append(
            Column(
                x=_n(center - width / 2),
                width=_n(width),
                delivered_y=_n(baseline - delivered_h),
                delivered_h=_n(delivered_h),
                failed_y=_n(baseline - delivered_h - failed_h),
                failed_h=_n(failed_h),
                left=_pct(slot_x, WIDTH),
                slot=_pct(slot, WIDTH),
                flip=center > WIDTH * 0.7,
                title=formats.date_format(start, title_format),
                delivered=point.delivered,
                failed=point.failed,
                failed_share=share(point.failed, point.total)["label"],
            )
        )
        if index % every == 0:
            labels.append({"x": _n(center), "text": formats.date_format(start, axis_format)})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "y_label_x": LEFT - 10,
        "label_y": HEIGHT - 10,
        "plot_top": _pct(TOP, HEIGHT),
        "plot_height": _pct(PLOT_H, HEIGHT),
        "gridlines": gridlines,
        "columns": columns,
        "labels": labels,
        "delivered": sum(point.delivered for point in points),
        "failed": sum(point.failed for point in points),
        "empty": highest == 0,
    }
