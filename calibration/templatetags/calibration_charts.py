"""The reliability diagram, drawn by the server as SVG (templates/calibration/_diagram.html): the
plot's coordinates of each bin's dot, sized by its count, and the links to the actions behind it."""

import math
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from calibration.metrics import BinFigure
from calibration.selectors import Filters, Row

register = template.Library()

LEFT, TOP, SIDE = 46, 16, 250  # the plot's square in the SVG's viewBox, with room for a dot at its edge
RADIUS = (3, 13)  # a dot's radius: from this, plus up to this for the bin with the most verdicts


@dataclass(frozen=True)
class Dot:
    bin: BinFigure
    x: float
    y: float
    diagonal_y: float  # where the diagonal crosses x: the dot sits below it when over-confident
    r: float
    href: str
    label: str


@dataclass(frozen=True)
class Diagram:
    id: str  # unique on the page: for the ids its title, description and table carry
    dots: list[Dot]
    ticks: list[tuple[str, float, float]]  # (text, x, y) of 0, 0.2 … 1 on both axes
    threshold_x: float
    actions_href: str  # every verdict of the row
    # The plot's square, and where its labels go: the ticks' below it and left of it, the axes' titles.
    left: ClassVar = LEFT
    top: ClassVar = TOP
    right: ClassVar = LEFT + SIDE
    bottom: ClassVar = TOP + SIDE
    side: ClassVar = SIDE
    tick_x: ClassVar = LEFT - 6
    tick_y: ClassVar = TOP + SIDE + 16
    middle_x: ClassVar = LEFT + SIDE / 2
    middle_y: ClassVar = TOP + SIDE / 2
    title_y: ClassVar = TOP + SIDE + 34
    view_box: ClassVar = f"0 0 {LEFT + SIDE + 14} {TOP + SIDE + 38}"


def _x(value: float) -> float:
    return round(LEFT + SIDE * value, 1)


def _y(value: float) -> float:
    return round(TOP + SIDE * (1 - value), 1)


def actions_url(row: Row, filters: Filters, lower: float | None = None, upper: float | None = None) -> str:
    """The activity page listing the decided actions behind the row, or one bin of it: confidence
    in [lower, upper), with no upper bound for the last bin (1.0 belongs to it)."""
    query = {"type": row.action_type.key, "decided": 1}
    agent = row.agent or filters.agent
    for name, value in (
        ("agent", agent.name if agent else None),
        ("decided_from", filters.since.isoformat() if filters.since else None),
        ("decided_to", filters.until.isoformat() if filters.until else None),
        ("confidence_from", f"{lower:g}" if lower is not None else None),
        ("confidence_to", f"{upper:g}" if upper is not None and upper < 1 else None),
    ):
        if value is not None:
            query[name] = value
    return f"{reverse('activity')}?{urlencode(query)}"


@register.simple_tag
def diagram(row: Row, filters: Filters) -> Diagram:
    """Where to draw `row`'s non-empty bins: mean stated confidence (x) against accuracy (y), a dot
    the larger the more verdicts it holds (its radius grows with the square root of the count)."""
    most = max((b.n for b in row.figures.bins), default=0)
    dots = [
        Dot(
            bin=b,
            x=_x(b.mean_confidence),
            y=_y(b.accuracy),
            diagonal_y=_y(b.mean_confidence),
            r=round(RADIUS[0] + (RADIUS[1] - RADIUS[0]) * math.sqrt(b.n / most), 1),
            href=actions_url(row, filters, b.lower, b.upper),
            label=f"Confidence {b.lower:g}–{b.upper:g}: {b.n} verdict{'' if b.n == 1 else 's'}, "
            f"mean confidence {b.mean_confidence:.2f}, accuracy {b.accuracy:.0%}",
        )
        for b in row.figures.bins
        if b.n
    ]
    ticks = [(f"{t / 5:g}", _x(t / 5), _y(t / 5)) for t in range(6)]
    key = row.action_type.key if row.agent is None else f"{row.action_type.key}-{row.agent.pk}"
    return Diagram(key, dots, ticks, _x(row.threshold), actions_url(row, filters))


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
