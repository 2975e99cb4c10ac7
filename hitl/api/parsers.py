"""The API's JSON parser: numbers read as the database will give them back (hitl.jsonb), NaN,
Infinity and numbers out of range refused naming the field, and each field nested deeper than
HITL_MAX_JSON_DEPTH or holding more than HITL_MAX_JSON_ITEMS values refused naming it and the limit.

A body nested deeper than Python parses (a RecursionError, near 1,000 levels) is refused with the
same words, naming `body`: such depth is far past the limit, so it is never parsed further."""

from django.conf import settings
from rest_framework import exceptions, parsers

from .. import jsonb


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = jsonb.loads(stream.read().decode(encoding))
        except jsonb.Refused as refused:
            raise exceptions.ValidationError(_by_field(refused.problems)) from refused
        except RecursionError as exc:
            raise exceptions.ValidationError({"body": [jsonb.too_deep(settings.HITL_MAX_JSON_DEPTH)]}) from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        oversized = _oversized(data)
        if oversized:
            raise exceptions.ValidationError(oversized)
        return data


def _by_field(problems) -> dict[str, list[str]]:
    """{"payload": ["$.n: NaN is not a number JSON allows."]}: by the body's field, the path within it."""
    fields: dict[str, list[str]] = {}
    for where, message in problems:
        if where and isinstance(where[0], str):
            fields.setdefault(where[0], []).append(f"{jsonb.json_path(where[1:])}: {message}")
        else:
            fields.setdefault("body", []).append(f"{jsonb.json_path(where)}: {message}")
    return fields


def _oversized(data) -> dict[str, list[str]]:
    """{"context": ["Nested more than 32 levels deep: …"]}: each field of the body on its own (a
    body that is not an object, as `body`)."""
    limits = {"max_depth": settings.HITL_MAX_JSON_DEPTH, "max_items": settings.HITL_MAX_JSON_ITEMS}
    fields = data.items() if isinstance(data, dict) else [("body", data)]
    return {name: [problem] for name, value in fields if (problem := jsonb.oversized(value, **limits))}
