from django import template
from django.conf import settings
from django.template.defaultfilters import linebreaksbr
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from hitl.states import Status
from reviews import payload_form

register = template.Library()

SHOW_ITEMS = 50  # of a list, or members of an object, before "… and N more"
SHOW_VALUES = 1000  # in all, in one value shown; the rest are counted, not shown
SHOW_DEPTH = 8  # levels of objects and lists shown; deeper ones are in the download
SHOW_CHARS = 2000  # of one text, before "… and N more characters"


@register.filter
def shape(value) -> str:
    """ "dict", "list" or "scalar": how `_value.html` renders a JSON value."""
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, list):
        return "list"
    return "scalar"


@register.simple_tag
def json_value(value, download=""):
    """A JSON value as `_value.html` shows it: an object as a list of fields, a list as numbered
    items, scalars as text. However deep or large the value, the page stays small and readable: it
    is shown to SHOW_DEPTH levels, SHOW_ITEMS items of each list or object, SHOW_CHARS characters of
    each text and SHOW_VALUES values in all, with a count of what was left out and a link to
    `download`, the whole value as JSON."""
    shown = _Shown(min(SHOW_DEPTH, settings.HITL_MAX_JSON_DEPTH))
    html = shown.html(value, 1)
    if shown.cut and download:
        html += format_html('<p class="more"><a href="{}" download>Download the full JSON</a></p>', download)
    return mark_safe(html)  # built of escaped parts


class _Shown:
    def __init__(self, max_depth: int):
        self.max_depth, self.budget, self.cut = max_depth, SHOW_VALUES, False

    def html(self, value, depth: int) -> str:
        self.budget -= 1
        if isinstance(value, dict | list):
            if depth > self.max_depth:
                self.cut = True
                noun = "member" if isinstance(value, dict) else "item"
                what = f"{len(value):,} {noun}{'s' if len(value) != 1 else ''}"
                return format_html(
                    '<span class="muted">({}, nested deeper than {} levels)</span>', what, self.max_depth
                )
            if isinstance(value, dict):
                return self._object(value, depth)
            return self._list(value, depth) if value else '<span class="muted">(none)</span>'
        if value is None:
            return '<span class="muted">null</span>'
        if value is True or value is False:
            return "yes" if value else "no"
        text = str(value)
        if len(text) > SHOW_CHARS:
            self.cut = True
            return format_html(
                '<span class="value">{}</span> <span class="more muted">… and {} more characters</span>',
                linebreaksbr(text[:SHOW_CHARS], autoescape=True), f"{len(text) - SHOW_CHARS:,}",
            )  # fmt: skip
        return format_html('<span class="value">{}</span>', linebreaksbr(text, autoescape=True))

    def _object(self, value: dict, depth: int) -> str:
        if not value:
            return '<dl class="fields"><dd class="muted">(empty)</dd></dl>'
        parts = []
        for shown, (key, item) in enumerate(value.items()):
            if shown == SHOW_ITEMS or self.budget <= 0:
                parts.append(self._more(len(value) - shown, "dd"))
                break
            parts.append(f"<dt>{conditional_escape(key)}</dt><dd>{self.html(item, depth + 1)}</dd>")
        return f'<dl class="fields">{"".join(parts)}</dl>'

    def _list(self, value: list, depth: int) -> str:
        parts = []
        for shown, item in enumerate(value):
            if shown == SHOW_ITEMS or self.budget <= 0:
                parts.append(self._more(len(value) - shown, "li"))
                break
            parts.append(f"<li>{self.html(item, depth + 1)}</li>")
        return f'<ol class="items">{"".join(parts)}</ol>'

    def _more(self, left: int, tag: str) -> str:
        self.cut = True
        return f'<{tag} class="more muted">… and {left:,} more</{tag}>'


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
