"""Strict JSON fields: agents get an error for "0.9" where a number belongs, not a silent cast."""

import copy
import json
from collections.abc import Mapping

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.JSONField):
    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data):
        """The object as sent, once it is sure to serialise and to fit jsonb. One dumps answers
        both for nearly every body; only one with a NUL or a lone surrogate is walked, to name where."""
        if not isinstance(data, dict):
            self.fail("not_object")
        try:
            text = json.dumps(data, ensure_ascii=False, cls=self.encoder)
        except (TypeError, ValueError):
            self.fail("invalid")
        try:
            text.encode()
            storable = "\\u0000" not in text
        except UnicodeEncodeError:
            storable = False
        errors = [] if storable else _unstorable_text(data)  # (a literal backslash-u0000 is fine)
        if errors:
            raise serializers.ValidationError(errors, code="invalid")
        return data


def _unstorable_text(value, limit: int = 10) -> list[str]:
    """Where a key or string in `value` holds a character PostgreSQL's jsonb cannot store (NUL, or
    a lone surrogate): "$.to: Null characters are not allowed.", as CharField words it."""
    errors, stack = [], [("$", value)]
    while stack and len(errors) < limit:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                errors.append(f"{path}: {problem}")
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = _text_problem(key)
                if problem:
                    errors.append(f"{path}: a key: {problem}")
                else:
                    stack.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return errors


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "Null characters are not allowed."
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            return f"Surrogate characters are not allowed: U+{ord(text[exc.start]):X}."
    return None


class NoUnknownFieldsMixin:
    """Refuses fields the serializer does not know, so a typo is an error rather than ignored."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):  # `"entity": false`: the field's error, not a TypeError below
            raise serializers.ValidationError("Must be a JSON object.", code="invalid")
        unknown = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **unknown}) from exc
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class InputSerializer(NoUnknownFieldsMixin, serializers.Serializer):
    """A request body: unknown fields are refused, and each instance binds cheap copies of the
    declared fields.

    DRF deep-copies the declared fields for every instance, and a field's deepcopy runs its
    __init__ again, validators and all: half a millisecond of each submit. A copy of the field's
    state does as well: the copy is bound (name, parent) on its own, and gets its own list of
    validators, dict of error messages and, for a field holding a field (a ListField's child), a
    copy of that field bound to it; a nested serializer binds copies of its own fields when first
    used. So a change to one instance's field reaches no other.
    """

    def get_fields(self):
        return {name: _copied(field) for name, field in self._declared_fields.items()}


def _copied(field):
    """An unbound copy of declared `field`, as DRF's deepcopy would make it."""
    if hasattr(field, "child_relation"):  # a related field's many=True wrapper: DRF's own copy
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    clone.__dict__.pop("fields", None)  # a nested serializer's fields, when the declared one built them
    clone.validators = list(field.validators)
    clone.error_messages = dict(field.error_messages)
    if getattr(field, "child", None) is not None:
        clone.child = _copied(field.child)
        clone.child.parent = clone  # bound as the declared child was, but to the copy
    return clone
