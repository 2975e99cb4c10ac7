"""Request JSON read as PostgreSQL's jsonb will give it back, so that what the service hashes and
signs (a receipt's payload_sha256) is what every later answer serves from the database.

jsonb keeps a number as `numeric` and prints it in plain decimal notation, which Python reads as an
int when it has no digits after the point and as a float otherwise: 1e16 comes back as
10000000000000000, -0.0 as 0.0, 1.0 stays 1.0. `loads` reads numbers that way up front, and refuses
NaN, Infinity and numbers jsonb or Python cannot hold, naming where they are. `oversized` says
when a value nests deeper or holds more than the service takes in (HITL_MAX_JSON_DEPTH, _ITEMS).
"""

import json
import math
import sys
from decimal import Decimal, InvalidOperation

MAX_SCALE = 16383  # numeric's most digits after the point
MAX_DIGITS = sys.int_info.default_max_str_digits  # the longest int Python prints


class Refused(ValueError):
    """Numbers jsonb cannot store: `problems` is a list of (where: the keys and indexes leading to
    it, message)."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__(" ".join(f"{json_path(where)}: {message}" for where, message in problems))


def json_path(where) -> str:
    """("items", 0, "sku") as "$.items[0].sku"."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where)


def number(text: str) -> int | float:
    """A number written with a point or an exponent, as jsonb gives it back; ValueError when it is
    not a finite number jsonb and Python can hold."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text} is not a number")
    scale = -value.as_tuple().exponent
    if scale <= 0:  # numeric prints no point: an int
        if value and value.adjusted() >= MAX_DIGITS:
            raise ValueError(f"{text} is out of range")
        return int(value)
    result = float(value) + 0.0  # numeric has no negative zero
    if scale > MAX_SCALE or math.isinf(result):
        raise ValueError(f"{text} is out of range")
    return result


class _Bad(str):
    """Where a refused number was, until `loads` names its path."""


def loads(text: str | bytes):
    """json.loads with numbers as jsonb keeps them; Refused naming each NaN, Infinity or number out
    of range; json.JSONDecodeError when `text` is not JSON."""
    refused = []

    def bad(literal: str) -> _Bad:
        refused.append(literal)
        return _Bad(literal)

    def floating(literal: str):
        try:
            return number(literal)
        except ValueError:
            return bad(literal)

    def integer(literal: str):
        try:
            return int(literal)
        except ValueError:  # longer than Python reads
            return bad(literal)

    value = json.loads(text, parse_float=floating, parse_int=integer, parse_constant=bad)
    if refused:
        raise Refused(list(_problems(value, ())))
    return value


def _problems(value, where: tuple):
    if isinstance(value, _Bad):
        finite = value not in ("NaN", "Infinity", "-Infinity")
        shown = value if len(value) <= 24 else f"{value[:12]}…{value[-8:]}"
        yield where, f"{shown} is {'too large or too precise to store' if finite else 'not a number JSON allows'}."
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _problems(inner, (*where, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _problems(inner, (*where, i))


def too_deep(max_depth: int) -> str:
    return f"Nested more than {max_depth} levels deep: at most {max_depth} levels of objects and arrays are accepted."


def oversized(value, *, max_depth: int, max_items: int) -> str | None:
    """Why `value` is too deep or too large to take in, or None: it nests objects and arrays more
    than `max_depth` levels deep (itself the first), or holds more than `max_items` values (the
    members and items at every depth). Walks without recursion and stops at the first excess."""
    items, stack = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > max_depth:
            return too_deep(max_depth)
        items += len(children)
        if items > max_items:
            return f"Holds more than {max_items:,} values: at most {max_items:,} are accepted."
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return None
