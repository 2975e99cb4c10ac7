"""Strict JSON fields: agents get an error for "0.9" where a number belongs, not a silent cast."""

import copy

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


class JSONObjectField(serializers.JSONField):
    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        return super().to_internal_value(data)


class NoUnknownFieldsMixin:
    """Refuses fields the serializer does not know, so a typo is an error rather than ignored."""

    def to_internal_value(self, data):
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
    __init__ again, validators and all: half a millisecond of each submit. For a field that holds
    no other field a shallow copy does as well: the copy is bound (name, parent) on its own, and
    gets its own list of validators and dict of error messages, so a change to one instance's
    field reaches no other. Fields holding fields (nested serializers, ListField, DictField) are
    still deep-copied.
    """

    def get_fields(self):
        return {name: _copied(field) for name, field in self._declared_fields.items()}


def _copied(field):
    if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") or hasattr(field, "child_relation"):
        return copy.deepcopy(field)
    clone = copy.copy(field)
    clone.validators = list(field.validators)
    clone.error_messages = dict(field.error_messages)
    return clone
