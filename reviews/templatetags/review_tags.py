from django import template

from hitl.states import Status
from reviews import payload_form

register = template.Library()


@register.filter
def shape(value) -> str:
    """ "dict", "list" or "scalar": how `_value.html` renders a JSON value."""
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, list):
        return "list"
    return "scalar"


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def label(key) -> str:
    """Turn a context key into a heading: tool_calls → Tool calls."""
    return str(key).replace("_", " ").capitalize()


@register.filter
def field_label(path) -> str:
    """An edit error's field in words: "$.items.1.sku" → "Items #2 › Sku"; "comment" → "Comment"."""
    path = str(path)
    if path.startswith(("$", "/")):
        return payload_form.field_label(path)
    return path.replace("_", " ").capitalize()


@register.simple_tag
def sla(action, now):
    """How much of its current SLA step a waiting action has used: its percentage, the warning
    points passed (0 to 3, by the tier's warn_at) and whether it is overdue; None when it has no
    SLA (a post-action review window)."""
    path = action.escalation_path or []
    if action.status != Status.PENDING or action.due_at is None or action.escalation_step >= len(path):
        return None
    step = path[action.escalation_step]
    seconds = float(step.get("sla") or 0)
    if seconds <= 0:
        return None
    used = 1 - (action.due_at - now).total_seconds() / seconds
    warn = [float(w) for w in step.get("warn_at", [])]
    return {
        "seconds": seconds,
        "percent": max(0, round(used * 100)),
        "level": sum(used >= w for w in warn),
        "overdue": used >= 1,
        "warn": ",".join(f"{w:g}" for w in warn),
    }


VERDICT_WORDS = {
    "approve": "approved",
    "modify": "approved with edits",
    "reject": "rejected",
    "confirm": "confirmed",
    "flag": "flagged",
}


@register.filter
def verdict_words(kind: str) -> str:
    """A verdict as a sentence reads it: "eve approved with edits"."""
    return VERDICT_WORDS.get(kind, kind)


@register.filter
def text_rows(value) -> int:
    """Rows for a text area that shows `value` whole, from 2 (a short string) to 12."""
    text = str(value)
    return max(2, min(12, sum(len(line) // 70 + 1 for line in text.split("\n"))))
