"""A bar chart as inline SVG, drawn on the server: no script, and readable without colour,
since each series has its own fill pattern, a legend and a text label per bar."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from scheduling.selectors_attention import HourTally

WIDTH, HEIGHT = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 40
# (attribute of HourTally, label, pattern id): stacked from the bottom in this order.
SERIES = [
    ("sent", pgettext_lazy("messages per hour", "Sent"), "pattern-sent"),
    ("retried", pgettext_lazy("messages per hour", "Retried"), "pattern-retried"),
    ("failed", pgettext_lazy("messages per hour", "Failed"), "pattern-failed"),
]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    pattern: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class HourChart:
    width: int
    height: int
    plot_left: int
    plot_bottom: int
    plot_right: int
    top: int
    plot_height: int
    bars: list[Bar]
    hour_titles: list[tuple[float, float, str]]  # x, width, tooltip per hour
    tallies: list[HourTally]
    ticks: list[Tick]
    peak: int
    totals: dict[str, int]
    series: list[tuple[str, str, str]]


def hour_chart(tallies: list[HourTally]) -> HourChart:
    """Geometry of stacked bars, one per hour, scaled to the busiest hour."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(tallies), 1)
    peak = max((t.sent + t.retried + t.failed for t in tallies), default=0)
    scale = plot_height / peak if peak else 0
    bars, titles, ticks = [], [], []
    for index, tally in enumerate(tallies):
        x = LEFT + index * slot
        base = HEIGHT - BOTTOM
        local = timezone.localtime(tally.hour)
        for attr, label, pattern in SERIES:
            value = getattr(tally, attr)
            if not value:
                continue
            height = value * scale
            base -= height
            bars.append(Bar(x + 1, base, slot - 2, height, pattern, f"{label}: {value}"))
        tooltip = _("%(hour)s: sent %(sent)d, retried %(retried)d, failed %(failed)d") % {
            "hour": formats.date_format(local, "DATETIME_FORMAT"),
            "sent": tally.sent,
            "retried": tally.retried,
            "failed": tally.failed,
        }
        titles.append((x, slot, tooltip))
        if local.hour % 6 == 0:
            ticks.append(Tick(x, f"{local:%d %H:00}"))
    totals = {attr: sum(getattr(t, attr) for t in tallies) for attr, _label, _p in SERIES}
    return HourChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_bottom=HEIGHT - BOTTOM,
        plot_right=WIDTH - RIGHT,
        top=TOP,
        plot_height=plot_height,
        bars=bars,
        hour_titles=titles,
        tallies=tallies,
        ticks=ticks,
        peak=peak,
        totals=totals,
        series=SERIES,
    )
