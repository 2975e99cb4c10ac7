"""The dashboard's charts, drawn by the server as SVG: the geometry here, the markup in
templates/escalation/_chart.html. Pure functions of the tiles' figures."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 30  # margins for the axes' labels
X_LABELS = 6  # at most this many dates under the x axis


@dataclass
class Chart:
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM
    y_ticks: list = field(default_factory=list)  # (y, text)
    x_labels: list = field(default_factory=list)  # (x, text)
    bars: list = field(default_factory=list)  # (css class, x, y, width, height, title)
    lines: list = field(default_factory=list)  # (css class, "x,y x,y …", label)
    dots: list = field(default_factory=list)  # (css class, x, y, title) where a line has one point alone
    limit: tuple | None = None  # (y, label): the SLA or the capacity line
    legend: list = field(default_factory=list)  # (css class, label)

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def plot_width(self) -> int:
        return self.right - self.left

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top

    @property
    def middle(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    @property
    def empty(self) -> bool:
        return not self.bars and not self.lines and not self.dots


def _nice_max(value: float) -> float:
    """A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1
    power = 1
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _time_axis(value: float) -> tuple[float, float]:
    for top, step in TIME_AXES:
        if value * 1.05 <= top:
            return top, step
    return _nice_max(value), _nice_max(value) / 4


def _frame(chart: Chart, starts: list, top_value: float, tick_text, *, time_axis: bool = False) -> tuple:
    """The scales of `chart`: the width of a bucket's slot, and y of a value."""
    n = max(len(starts), 1)
    slot = (chart.right - chart.left) / n
    y_max, step = _time_axis(top_value) if time_axis else (_nice_max(top_value), _nice_max(top_value) / 4)

    def y_of(value: float) -> float:
        return round(chart.bottom - (chart.bottom - chart.top) * min(value, y_max) / y_max, 1)

    chart.y_ticks = [(y_of(step * k), tick_text(step * k)) for k in range(int(round(y_max / step)) + 1)]
    every = max(1, -(-n // X_LABELS))
    hourly = len(starts) > 1 and (starts[1] - starts[0]).total_seconds() < 86400
    chart.x_labels = [
        (round(chart.left + slot * (i + 0.5), 1), start.strftime("%H:%M" if hourly else "%b %d"))
        for i, start in enumerate(starts)
        if i % every == 0
    ]
    return slot, y_of


# Time axes: (top, step) in seconds, the first whose top holds the highest value wins.
TIME_AXES = [
    (60, 15), (120, 30), (300, 60), (600, 120), (1200, 300), (1800, 600), (3600, 900), (7200, 1800),
    (14400, 3600), (21600, 3600), (43200, 10800), (86400, 21600), (172800, 43200), (604800, 86400),
]  # fmt: skip


def minutes(seconds: float) -> str:
    if seconds >= 3600 and seconds % 1800 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def sla_chart(row) -> Chart:
    """One tier over the window: time to decision p50 and p95 per bucket against the SLA (lines),
    and the breaches per bucket (bars on their own scale, the count in each bar's title)."""
    chart = Chart(
        title=f"{row.tier}: time to decision and breaches",
        description=f"Median and 95th percentile time to decision per bucket against the {row.tier} SLA "
        f"of {minutes(row.sla) if row.sla else 'none'}; red bars are breaches (escalations and expiries).",
        legend=[("line-p50", "median"), ("line-p95", "95th percentile"), ("bar-breach", "breaches"), ("limit", "SLA")],
    )
    starts = [point[0] for point in row.series]
    highest = max([p for point in row.series for p in point[2:4] if p is not None] + [row.sla or 0])
    slot, y_of = _frame(chart, starts, highest, minutes, time_axis=True)
    if row.sla:
        chart.limit = (y_of(row.sla), f"SLA {minutes(row.sla)}")
    most_breaches = max([point[4] for point in row.series] + [1])
    band = (chart.bottom - chart.top) * 0.3  # breaches use the lowest 30 % of the plot
    for i, (start, *_, breaches) in enumerate(row.series):
        if breaches:
            height = round(band * breaches / most_breaches, 1)
            x = round(chart.left + slot * i + slot * 0.2, 1)
            title = f"{start:%Y-%m-%d %H:%M}: {breaches} breach{'es' if breaches != 1 else ''}"
            chart.bars.append(("bar-breach", x, round(chart.bottom - height, 1), round(slot * 0.6, 1), height, title))
    for css, index, label in (("line-p50", 2, "median"), ("line-p95", 3, "95th percentile")):
        _add_line(chart, row.series, index, css, label, slot, y_of)
    return chart


def _add_line(chart: Chart, series: list, index: int, css: str, label: str, slot: float, y_of) -> None:
    """A polyline through the buckets that have a value; a gap where one has none."""
    run: list = []
    runs = [run]
    for i, point in enumerate(series):
        value = point[index]
        if value is None:
            run = []
            runs.append(run)
            continue
        run.append((round(chart.left + slot * (i + 0.5), 1), y_of(value), f"{point[0]:%Y-%m-%d %H:%M}: {label} "
                    f"{minutes(value)} over {point[1]} decision{'s' if point[1] != 1 else ''}"))  # fmt: skip
    for run in runs:
        if len(run) == 1:
            chart.dots.append((css, *run[0]))
        elif run:
            chart.lines.append((css, " ".join(f"{x},{y}" for x, y, _ in run), label))
            chart.dots.extend((css, x, y, title) for x, y, title in run)


def capacity_chart(capacity) -> Chart:
    """Per day: actions submitted, those sent to a person, and the decisions made, against the
    groups' daily capacity (the line)."""
    chart = Chart(
        title="Submitted, routed to people and decided per day",
        description="Per day, three bars: actions submitted, those routed to a person, and decisions made; "
        + (
            f"the line is the groups' capacity of {capacity.capacity} decisions a day."
            if capacity.capacity is not None
            else "no group has a daily capacity set."
        ),
        legend=[
            ("bar-submitted", "submitted"),
            ("bar-routed", "routed to people"),
            ("bar-decided", "decided"),
            ("limit", "capacity"),
        ],  # fmt: skip
    )
    starts = [datetime.combine(day, time(), UTC) for day, *_ in capacity.days]
    highest = max([max(s, r, d) for _, s, r, d in capacity.days] + [capacity.capacity or 0, 1])
    slot, y_of = _frame(chart, starts, highest, lambda v: f"{v:,.0f}")
    if capacity.capacity is not None:
        chart.limit = (y_of(capacity.capacity), f"capacity {capacity.capacity:,} a day")
    width = slot * 0.8 / 3
    for i, (day, submitted, routed, decided) in enumerate(capacity.days):
        for k, (css, value, what) in enumerate(
            (
                ("bar-submitted", submitted, "submitted"),
                ("bar-routed", routed, "routed to people"),
                ("bar-decided", decided, "decided"),
            )  # fmt: skip
        ):
            y = y_of(value)
            chart.bars.append(
                (
                    css,
                    round(chart.left + slot * (i + 0.1) + width * k, 1),
                    y,
                    round(width, 1),
                    round(chart.bottom - y, 1),
                    f"{day:%Y-%m-%d}: {value:,} {what}",
                )  # fmt: skip
            )
    return chart
