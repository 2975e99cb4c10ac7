"""Words and charts for the lead dashboard's templates."""

from datetime import datetime

from django import template

from escalation import charts
from escalation.messages import duration_words

register = template.Library()


@register.filter
def duration(value) -> str:
    """Seconds (or a timedelta) in words (escalation.messages.duration_words); a dash for none."""
    if value is None or value == "":
        return "–"
    return duration_words(value.total_seconds() if hasattr(value, "total_seconds") else float(value))


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
