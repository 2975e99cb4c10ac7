"""An edit form generated from an action type's JSON Schema, and the way back from form data.

Strings, numbers, integers, booleans, enums, nested objects, arrays of scalars (one item per
line) and arrays of objects (one fieldset per item, each removable) get their own inputs; any
other part of the schema (oneOf, type lists, no schema at all) gets a JSON text area, validated
when it is parsed. Field names are JSON Pointers under "payload", so any property name is safe.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
from django.conf import settings
from jsonpointer import JsonPointer, JsonPointerException

from hitl import jsonb

ROOT = "payload"
SCALARS = {"string", "number", "integer"}
COMPOSITE = {"oneOf", "anyOf", "allOf", "not", "$ref", "if", "patternProperties"}
MISSING = object()


@dataclass
class Field:
    name: str
    label: str
    kind: str  # string text number integer boolean enum object lines items json
    value: Any = ""
    required: bool = False
    description: str = ""
    options: list = field(default_factory=list)
    children: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The JSON path errors are reported under: "$.items.0.sku"."""
        return _path(self.name)


def _child(name: str, key) -> str:
    return f"{name}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _kind(schema: dict, value) -> str:
    if not isinstance(schema, dict) or COMPOSITE & schema.keys():
        return "json"
    if "enum" in schema:
        return "enum"
    kind = schema.get("type")
    if kind == "string":
        return "text" if _long_text(schema, value) else "string"
    if kind in ("number", "integer", "boolean"):
        return kind
    if kind == "object" and "properties" in schema:
        return "object"
    if kind == "array" and isinstance(schema.get("items"), dict):
        item_kind = _kind(schema["items"], None)
        if item_kind in ("string", "text", "number", "integer"):
            return "lines"
        if item_kind == "object":
            return "items"
    return "json"


def _long_text(schema: dict, value) -> bool:
    """A string edits in a textarea when its schema allows long text (no maxLength, or one over
    200, and no format or pattern such as an email address) or its value is long already."""
    if isinstance(value, str) and (len(value) > 80 or "\n" in value):
        return True
    if "format" in schema or "pattern" in schema:
        return False
    return schema.get("maxLength", 201) > 200


def build(schema: dict | None, value, *, name: str = ROOT, label: str = "payload", required=False) -> Field:
    """The form tree for `value` under `schema`."""
    schema = schema or {}
    kind = _kind(schema, value)
    if name == ROOT and kind != "object":
        kind = "json"
    node = Field(name, schema.get("title") or label, kind, required=required, description=schema.get("description", ""))
    if kind == "object":
        value = value if isinstance(value, dict) else {}
        needed = set(schema.get("required", ()))
        props = schema["properties"]
        for key, sub in props.items():
            node.children.append(
                build(sub, value.get(key, MISSING), name=_child(name, key), label=key, required=key in needed)
            )
        for key in value.keys() - props.keys():
            node.children.append(build({}, value[key], name=_child(name, key), label=key))
    elif kind == "items":
        for i, item in enumerate(value if isinstance(value, list) else []):
            node.children.append(build(schema["items"], item, name=_child(name, i), label=f"{label} #{i + 1}"))
    elif kind == "enum":
        node.options = [
            (str(i), json.dumps(choice) if not isinstance(choice, str) else choice)
            for i, choice in enumerate(schema["enum"])
        ]
        node.value = next((str(i) for i, choice in enumerate(schema["enum"]) if choice == value), "")
    elif kind == "boolean":
        node.value = value is True
    elif kind == "lines":
        node.value = "\n".join(str(item) for item in value) if isinstance(value, list) else ""
    elif kind == "json":
        node.value = "" if value is MISSING else json.dumps(value, indent=2, ensure_ascii=False)
    else:
        node.value = "" if value is MISSING or value is None else str(value)
        node.attrs = {k: schema[k] for k in ("minimum", "maximum", "maxLength", "pattern") if k in schema}
    return node


def parse(schema: dict | None, data, base) -> tuple[Any, dict[str, str]]:
    """The payload the form `data` describes, starting from `base` (what the form showed), and the
    errors by JSON path."""
    errors: dict[str, str] = {}
    value = _parse(schema or {}, data, base, ROOT, errors, root=True)
    return ({} if value is MISSING else value), errors


def from_form(schema: dict | None, data, base) -> tuple[Any, dict[str, str]]:
    """The payload a submitted edit form describes, from its fields, or from its JSON editor when
    the reviewer chose it (`payload_mode` "json"); and the errors by field."""
    if data.get("payload_mode") != "json":
        return parse(schema, data, base)
    try:
        payload = jsonb.loads(data.get("payload_json", ""))
    except jsonb.Refused as refused:
        return base, {"payload_json": f"The edited JSON cannot be stored: {refused}"}
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return base, {"payload_json": f"The edited JSON is not valid: {exc.msg} ({where})."}
    except RecursionError:
        return base, {"payload_json": f"The edited JSON is refused. {jsonb.too_deep(settings.HITL_MAX_JSON_DEPTH)}"}
    if not isinstance(payload, dict):
        return base, {"payload_json": "The payload must be a JSON object."}
    limits = {"max_depth": settings.HITL_MAX_JSON_DEPTH, "max_items": settings.HITL_MAX_JSON_ITEMS}
    if problem := jsonb.oversized(payload, **limits):
        return base, {"payload_json": f"The edited JSON is refused. {problem}"}
    return payload, {}


def _path(name: str) -> str:
    return "$" + name[len(ROOT) :].replace("/", ".")


def _parse(schema, data, base, name, errors, *, root=False, required=False):
    kind = _kind(schema, base)
    if root and kind != "object":
        kind = "json"
    raw = data.get(name)
    if kind == "object":
        absent = base is MISSING
        base = base if isinstance(base, dict) else {}
        props = schema["properties"]
        needed = set(schema.get("required", ()))
        out = {}
        for key, sub in props.items():
            got = _parse(sub, data, base.get(key, MISSING), _child(name, key), errors, required=key in needed)
            if got is not MISSING:
                out[key] = got
        for key in base.keys() - props.keys():
            got = _parse({}, data, base[key], _child(name, key), errors)
            if got is not MISSING:
                out[key] = got
        return MISSING if absent and not out and not root else out
    if kind == "items":
        if base is MISSING:
            return MISSING
        items = []
        for i, item in enumerate(base if isinstance(base, list) else []):
            child = _child(name, i)
            if data.get(f"{child}/__remove"):
                continue
            items.append(_parse(schema["items"], data, item, child, errors))
        return items
    if kind == "boolean":
        return MISSING if base is MISSING and not raw else bool(raw)
    if raw is None:  # not in the form: keep what was there
        return base
    if kind == "enum":
        if raw == "" and not required:
            return MISSING
        try:
            return schema["enum"][int(raw)]
        except (ValueError, IndexError):
            errors[_path(name)] = "Pick one of the listed values."
            return base
    if kind == "lines":
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        if not lines and base is MISSING:
            return MISSING
        item_kind = schema["items"].get("type")
        out = []
        for line in lines:
            got = _scalar(item_kind, line)
            if got is MISSING:
                errors[_path(name)] = f"{line!r} is not a valid {item_kind}."
                return base
            out.append(got)
        return out
    if kind == "json":
        if not raw.strip():
            return MISSING
        try:
            return jsonb.loads(raw)
        except jsonb.Refused as refused:
            errors[_path(name)] = f"Cannot be stored: {refused}"
            return base
        except json.JSONDecodeError as exc:
            errors[_path(name)] = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            return base
    raw = raw.replace("\r\n", "\n")
    if raw == "" and (base is MISSING or kind != "string") and not required:
        return MISSING
    got = _scalar(kind if kind != "text" else "string", raw)
    if got is MISSING:
        errors[_path(name)] = "Enter a whole number." if kind == "integer" else "Enter a number."
        return base
    return got


def _scalar(kind: str, raw: str):
    if kind == "string":
        return raw
    try:
        number = int(raw)
    except ValueError:
        if kind == "integer":
            return MISSING
        try:
            number = jsonb.number(raw.strip())  # as the database will give it back: 1e16 is 10000000000000000
        except ValueError:
            return MISSING
    return number


VERBS = {"add": "Added", "remove": "Removed", "replace": "Changed", "move": "Moved", "copy": "Copied"}


@dataclass(frozen=True)
class Change:
    op: str
    path: str
    before: Any
    after: Any

    @property
    def label(self) -> str:
        """The changed field in words: "/items/1/unit_price" → "Items #2 › Unit price"."""
        return field_label(self.path)

    @property
    def verb(self) -> str:
        return VERBS.get(self.op, self.op)


def field_label(path: str) -> str:
    """A JSON Pointer ("/items/1/sku") or JSON path ("$.items.1.sku") in words: "Items #2 › Sku"."""
    if path.startswith("$"):
        parts = [part for part in path[1:].split(".") if part]
    else:
        parts = [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]
    words = []
    for part in parts:
        if part.isdigit():
            words.append(f"#{int(part) + 1}")
        elif part == "-":
            words.append("(new item)")
        else:
            words.append(part.replace("_", " ").capitalize())
    return " › ".join(words).replace(" › #", " #") or "The whole payload"


def changes(original, edited) -> list[Change]:
    """The edit as readable JSON Patch operations, each with the value it replaces."""
    out = []
    for op in jsonpatch.make_patch(original, edited).patch:
        try:
            before = JsonPointer(op["path"]).resolve(original) if op["op"] in ("replace", "remove") else None
        except JsonPointerException:
            before = None
        out.append(Change(op["op"], op["path"], before, op.get("value")))
    return out
