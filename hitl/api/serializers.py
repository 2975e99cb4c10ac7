from datetime import UTC

from rest_framework import serializers

from ..payloads import payload_errors
from ..selectors import action_type_by_key, action_type_keys
from ..states import Decision, Outcome
from .fields import (
    InputSerializer,
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)


class EntityIn(InputSerializer):
    id = StrictCharField(max_length=200, required=False, allow_blank=True)
    tags = serializers.ListField(child=StrictCharField(max_length=64), max_length=50, required=False)


class ActionSubmitIn(InputSerializer):
    action_type = StrictCharField(max_length=64)
    payload = JSONObjectField()
    summary = StrictCharField(max_length=500)
    reasoning = StrictCharField(required=False, allow_blank=True, max_length=20000, default="")
    context = JSONObjectField(required=False, default=dict)
    confidence = StrictFloatField(min_value=0.0, max_value=1.0)
    irreversible = StrictBooleanField(required=False)
    blast_radius = StrictIntegerField(required=False, min_value=0, default=1)
    compliance_risk = StrictBooleanField(required=False)
    entity = EntityIn(required=False)
    task_id = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    callback_url = serializers.URLField(required=False, allow_blank=True, max_length=2000, default="")

    def validate_action_type(self, key):
        action_type = action_type_by_key(key)
        if action_type is None:
            known = ", ".join(action_type_keys()) or "none are configured yet"
            raise serializers.ValidationError(f"Unknown action type '{key}'. Known types: {known}.")
        return action_type

    def validate_callback_url(self, url):
        if url and not url.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Must be an http or https URL.")
        return url

    def validate(self, attrs):
        errors = payload_errors(attrs["action_type"].payload_schema, attrs["payload"])
        if errors:
            raise serializers.ValidationError({"payload": errors})
        return attrs


class ActionOutcomeIn(InputSerializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    detail = JSONObjectField(required=False, default=dict)


class RouteOut(serializers.Serializer):
    pattern = serializers.CharField(source="route_pattern")
    tier = serializers.CharField(source="route_tier", allow_null=True)
    reviewer_group = serializers.CharField()
    threshold = serializers.FloatField(source="route_threshold")
    reasons = serializers.ListField(child=serializers.CharField())
    reason_codes = serializers.ListField(child=serializers.CharField())
    policy_version = serializers.IntegerField()

    def to_representation(self, action):
        return {
            "pattern": action.route_pattern,
            "tier": action.route_tier or None,
            "reviewer_group": action.reviewer_group,
            "threshold": action.route_threshold,
            "reasons": [reason["message"] for reason in action.route_reasons],
            "reason_codes": [reason["code"] for reason in action.route_reasons],
            "policy_version": action.policy_version,
        }


class DecisionOut(serializers.Serializer):
    decision = serializers.CharField()
    by = serializers.CharField(help_text="Reviewer username, 'policy' or 'system'.")
    comment = serializers.CharField()
    at = serializers.DateTimeField()


class OutcomeOut(serializers.Serializer):
    outcome = serializers.CharField()
    detail = serializers.JSONField()
    at = serializers.DateTimeField()


def _decision(action):
    if not action.decision:
        return None
    if action.decided_by:
        by = action.decided_by.get_username()
    else:
        by = "system" if action.decision == Decision.EXPIRED else "policy"
    return {"decision": action.decision, "by": by, "comment": action.decision_comment, "at": _iso(action.decided_at)}


def _iso(value):
    """ISO 8601 in UTC with a Z, as DRF renders datetimes (without building a field per value)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class ActionOut(serializers.Serializer):
    """What agents (and reviewers) receive for an action."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    action_type = serializers.CharField()
    summary = serializers.CharField()
    task_id = serializers.CharField()
    route = RouteOut()
    due_at = serializers.DateTimeField(allow_null=True)
    decision = DecisionOut(allow_null=True)
    final_payload = serializers.JSONField(allow_null=True)
    outcome = OutcomeOut(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, action):
        return {
            "id": str(action.id),
            "status": action.status,
            "action_type": action.action_type.key,
            "summary": action.summary,
            "task_id": action.task_id,
            "route": RouteOut().to_representation(action),
            "due_at": _iso(action.due_at),
            "decision": _decision(action),
            "final_payload": action.final_payload,
            "outcome": (
                {"outcome": action.outcome, "detail": action.outcome_detail, "at": _iso(action.outcome_at)}
                if action.outcome
                else None
            ),
            "version": action.version,
            "created_at": _iso(action.created_at),
            "updated_at": _iso(action.updated_at),
        }


class PreviewOut(serializers.Serializer):
    """What a submit of the same body would meet now: its status, route and deadline."""

    status = serializers.CharField()
    route = RouteOut()
    due_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, action):
        return {"status": action.status, "route": RouteOut().to_representation(action), "due_at": _iso(action.due_at)}


class ErrorOut(serializers.Serializer):
    error = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
