"""Words and charts for the lead dashboard's templates."""

from datetime import datetime

from django import template

from escalation import charts

register = template.Library()


@register.filter
def duration(value) -> str:
    """Seconds (or a timedelta) in words: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if value is None or value == "":
        return "–"
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def age(moment: datetime | None, now: datetime) -> str:
    return "–" if moment is None else duration((now - moment).total_seconds())


@register.filter
def percent(value) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


@register.simple_tag
def sla_chart(row) -> charts.Chart:
    return charts.sla_chart(row)


@register.simple_tag
def capacity_chart(capacity) -> charts.Chart:
    return charts.capacity_chart(capacity)
