import json

from django import template

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
def as_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def label(key) -> str:
    """Turn a context key into a heading: tool_calls → Tool calls."""
    return str(key).replace("_", " ").capitalize()
