"""Payload validation against an action type's JSON Schema (draft 2020-12)."""

import hashlib
import json
from functools import lru_cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_ERRORS = 10


def schema_problem(schema) -> str | None:
    """Why `schema` is not a usable JSON Schema, or None."""
    if not isinstance(schema, dict):
        return "A payload schema must be a JSON object."
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"Not a valid JSON Schema: {exc.message}"
    return None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER)


def payload_errors(schema, payload) -> list[str]:
    """Messages naming where `payload` breaks `schema`: "$.amount: -5 is less than ... (schema: ...)"."""
    if not schema:
        return []
    validator = _validator(json.dumps(schema, sort_keys=True))
    messages = []
    for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.path))[:MAX_ERRORS]:
        where = error.json_path
        schema_path = "/".join(str(part) for part in error.schema_path)
        messages.append(f"{where}: {error.message} (schema: {schema_path})")
    return messages


def canonical_json(value) -> str:
    """The one serialisation a payload is hashed in: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_digest(payload) -> str:
    """SHA-256 (hex) of the canonical JSON of `payload`: what an approval is an approval of."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()
