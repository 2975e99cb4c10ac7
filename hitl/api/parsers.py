"""The API's JSON parser: numbers read as the database will give them back (hitl.jsonb), NaN,
Infinity and numbers out of range refused naming the field, and a body nested too deeply for
Python refused as malformed."""

from django.conf import settings
from rest_framework import exceptions, parsers

from .. import jsonb


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return jsonb.loads(stream.read().decode(encoding))
        except jsonb.Refused as refused:
            raise exceptions.ValidationError(_by_field(refused.problems)) from refused
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc


def _by_field(problems) -> dict[str, list[str]]:
    """{"payload": ["$.n: NaN is not a number JSON allows."]}: by the body's field, the path within it."""
    fields: dict[str, list[str]] = {}
    for where, message in problems:
        if where and isinstance(where[0], str):
            fields.setdefault(where[0], []).append(f"{jsonb.json_path(where[1:])}: {message}")
        else:
            fields.setdefault("body", []).append(f"{jsonb.json_path(where)}: {message}")
    return fields
