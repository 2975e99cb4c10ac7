"""The API's bodies: input serializers to parse, output serializers to render and to document.

Every field carries its description for the OpenAPI schema (help_text); each serializer's
`extend_schema_serializer(description=...)` is its component's.
"""

from datetime import UTC

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from .. import outbound
from ..payloads import payload_errors
from ..routing import AUTONOMOUS, POST_ACTION, PRE_ACTION, TIER_ORDER
from ..selectors import action_type_by_key, action_type_keys
from ..states import Compensation, Decision, Outcome, Status
from .fields import (
    InputSerializer,
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)

BLAST_RADIUS_MAX = 2**31 - 1  # the largest the column holds


@extend_schema_serializer(description="Who or what the action concerns: a customer, an account, a record.")
class EntityIn(InputSerializer):
    id = StrictCharField(
        max_length=200, required=False, allow_blank=True, help_text="Your identifier for it; up to 200 characters."
    )
    tags = serializers.ListField(
        child=StrictCharField(max_length=64),
        max_length=50,
        required=False,
        help_text="Labels of the entity (up to 50, 1 to 64 characters each). A tag the policy counts as "
        "sensitive (`vip` unless configured otherwise) sends the action to a reviewer.",
    )


@extend_schema_serializer(
    description="An action your agent proposes. Unknown fields are refused (400), and types are strict: "
    '`"0.9"` is not a number, `1` is not a boolean.'
)
class ActionSubmitIn(InputSerializer):
    action_type = StrictCharField(
        max_length=64,
        help_text="The key of an action type the operators configured, such as `send_email`. An unknown key is a "
        "400 whose message lists the known ones.",
    )
    payload = JSONObjectField(
        help_text="The arguments your tool would run with, as a JSON object, validated against the action type's "
        "JSON Schema when it has one. A reviewer may edit them: once approved, run the answer's `final_payload`.",
    )
    summary = StrictCharField(
        max_length=500, help_text="What the action does, in one line a reviewer reads first; 1 to 500 characters."
    )
    reasoning = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=20000,
        default="",
        help_text="Why the agent wants to do it, for the reviewer; up to 20,000 characters.",
    )
    context = JSONObjectField(
        required=False,
        default=dict,
        help_text="What a reviewer needs to judge the action, as a JSON object: by convention `user_request`, "
        "`documents`, `conversation` and `tool_calls`. Shown to reviewers; it does not change the route.",
    )
    confidence = StrictFloatField(
        min_value=0.0,
        max_value=1.0,
        help_text="How sure the agent is that the action is right, from 0 to 1. Below the action type's threshold "
        "(calibrated from past reviews; until then 0.85 for irreversible types, 0.70 for others) a reviewer "
        "sees it; below 0.7 × the threshold, a lead (tier2) approves it before it runs (the default policy).",
    )
    irreversible = StrictBooleanField(
        required=False,
        help_text="Whether the action cannot be undone. Defaults to the action type's flag, which is a floor: you "
        "may declare `true` for a reversible type, never `false` for an irreversible one. An irreversible "
        "action is always approved before it runs (`pre_action`).",
    )
    blast_radius = StrictIntegerField(
        required=False,
        min_value=0,
        max_value=BLAST_RADIUS_MAX,
        default=1,
        help_text="How many people, records or accounts the action touches. From 100 (unless configured otherwise) "
        "a lead (tier2) approves it before it runs; above 10,000, an executive (tier3).",
    )
    compliance_risk = StrictBooleanField(
        required=False,
        help_text="Whether the action has legal or regulatory exposure. Defaults to the action type's flag, which "
        "is a floor as for `irreversible`. A compliance risk waits for an executive (tier3).",
    )
    entity = EntityIn(
        required=False,
        help_text="Who or what the action concerns, with its tags; a sensitive tag sends the action to a reviewer.",
    )
    task_id = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=200,
        default="",
        help_text="Your reference for the work this action belongs to (a ticket, a run); up to 200 characters. "
        "Shown to reviewers and returned with the action.",
    )
    callback_url = serializers.URLField(
        required=False,
        allow_blank=True,
        max_length=2000,
        default="",
        help_text="An http or https URL of yours, up to 2,000 characters, that receives a signed webhook (POST) "
        "when the action is decided, modified, rejected, expires, escalates or needs compensating. Its host must "
        "resolve to public addresses only (a private, loopback, link-local or metadata address is a 400).",
    )

    def validate_action_type(self, key):
        action_type = action_type_by_key(key)
        if action_type is None:
            known = ", ".join(action_type_keys()) or "none are configured yet"
            raise serializers.ValidationError(f"Unknown action type '{key}'. Known types: {known}.")
        return action_type

    def validate_callback_url(self, url):
        reason = url and outbound.check_url(url)
        if reason:
            raise serializers.ValidationError(reason)
        return url

    def validate(self, attrs):
        errors = payload_errors(attrs["action_type"].payload_schema, attrs["payload"])
        if errors:
            raise serializers.ValidationError({"payload": errors})
        return attrs


COMPENSATION_REPORTS = [Compensation.COMPENSATED, Compensation.FAILED]


@extend_schema_serializer(description="What happened when your agent ran an approved action, or, once asked, undid it.")
class ActionOutcomeIn(InputSerializer):
    outcome = serializers.ChoiceField(
        choices=[*Outcome.values, *COMPENSATION_REPORTS],
        help_text="`executed` once the tool ran with `final_payload`; `failed` if running it failed. After a "
        "reviewer flagged what ran (`compensation.status` is `requested`): `compensated` once your agent undid it, "
        "`compensation_failed` if it could not.",
    )
    detail = JSONObjectField(
        required=False,
        default=dict,
        help_text="Anything worth keeping about the run (or the undoing), as a JSON object: the tool's result id, "
        "an error.",
    )


ROUTE_PATTERNS = [AUTONOMOUS, POST_ACTION, PRE_ACTION]
TIERS = [tier for tier in TIER_ORDER if tier]


@extend_schema_serializer(description="How the policy routed the action, and why.")
class RouteOut(serializers.Serializer):
    pattern = serializers.ChoiceField(
        choices=ROUTE_PATTERNS,
        help_text="`autonomous`: approved by policy, run it. `post_action`: approved by policy, run it; a reviewer "
        "looks at it afterwards. `pre_action`: wait until a reviewer decides.",
    )
    tier = serializers.ChoiceField(
        choices=TIERS,
        allow_null=True,
        help_text="Who reviews it: `tier1` a reviewer, `tier2` a lead, `tier3` an executive; null when `autonomous`.",
    )
    reviewer_group = serializers.CharField(
        help_text="The key of the reviewer group whose queue holds it; empty when `autonomous`."
    )
    threshold = serializers.FloatField(help_text="The confidence threshold the action was held against.")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why it took this route, in words, in the order the policy applied."
    )
    reason_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text="The same reasons as stable codes to branch on, such as `irreversible`, `confident`, "
        "`blast_radius_high`, `sensitive_entity`, `novel_action_type`.",
    )
    policy_version = serializers.IntegerField(help_text="The version of the routing policy that decided.")

    def to_representation(self, action):
        # An autonomous action picked for a spot check (an audit sample) is still autonomous to its
        # agent, with no tier: its reasons say it was picked.
        ran_alone = action.route_pattern == AUTONOMOUS
        return {
            "pattern": action.route_pattern,
            "tier": None if ran_alone else action.route_tier or None,
            "reviewer_group": "" if ran_alone else action.reviewer_group,
            "threshold": action.route_threshold,
            "reasons": [reason["message"] for reason in action.route_reasons],
            "reason_codes": [reason["code"] for reason in action.route_reasons],
            "policy_version": action.policy_version,
        }


@extend_schema_serializer(description="The decision on the action.")
class DecisionOut(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=Decision.choices,
        help_text="`approved`, `modified` (approved with the reviewer's edits: run `final_payload`), `rejected`, "
        "or `expired` (nobody decided by the deadline).",
    )
    by = serializers.CharField(
        help_text="The reviewer's username; `policy` for a route that needed no one, `system` for an expiry."
    )
    comment = serializers.CharField(help_text="The reviewer's comment; for a rejection, why.")
    at = serializers.DateTimeField(help_text="When it was decided (UTC).")


@extend_schema_serializer(description="The outcome your agent reported.")
class OutcomeOut(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices, help_text="`executed` or `failed`.")
    detail = serializers.JSONField(help_text="The `detail` object you reported.")
    at = serializers.DateTimeField(help_text="When you reported it (UTC).")


@extend_schema_serializer(
    description="A post-action reviewer flagged what ran: your agent is asked to undo it, then to report."
)
class CompensationOut(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Compensation.values,
        help_text="`requested` until your agent reports, with `POST /api/v1/actions/{id}/outcome`, `compensated` or "
        "`compensation_failed`.",
    )
    reason = serializers.CharField(help_text="The reviewer's reason for the flag.")
    requested_at = serializers.DateTimeField(help_text="When the reviewer flagged it (UTC).")
    reported_at = serializers.DateTimeField(allow_null=True, help_text="When your agent reported (UTC); null before.")
    detail = serializers.JSONField(allow_null=True, help_text="The `detail` object your agent reported; null before.")


def _compensation(action):
    if not action.compensation:
        return None
    return {
        "status": action.compensation,
        "reason": action.compensation_reason,
        "requested_at": _iso(action.compensation_requested_at),
        "reported_at": _iso(action.compensation_at),
        "detail": action.compensation_detail,
    }


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


@extend_schema_serializer(description="An action and where it stands.")
class ActionOut(serializers.Serializer):
    id = serializers.UUIDField(help_text="The action's id, for the other endpoints.")
    status = serializers.ChoiceField(
        choices=Status.choices,
        help_text="`pending` until decided; then `approved` (run `final_payload`), `rejected` (do not run it), "
        "`expired` (nobody decided in time: do not run it) or `cancelled` (you withdrew it).",
    )
    action_type = serializers.CharField(help_text="The action type's key.")
    summary = serializers.CharField(help_text="The summary you submitted.")
    task_id = serializers.CharField(help_text="The `task_id` you submitted; empty if none.")
    route = RouteOut(help_text="How the policy routed the action, and why.")
    due_at = serializers.DateTimeField(
        allow_null=True,
        help_text="`pre_action`: the deadline of its current reviewers, after which it escalates to the next tier or, "
        "at the end of its escalation path, expires. `post_action`: when its review window closes. Null when "
        "`autonomous`.",
    )
    decision = DecisionOut(allow_null=True, help_text="Null while pending or cancelled.")
    final_payload = serializers.JSONField(
        allow_null=True,
        help_text="What to run once approved: your payload, or the reviewer's edit of it. Null unless approved.",
    )
    receipt = serializers.CharField(
        allow_null=True,
        help_text="Once approved, the service's signed approval receipt: a JWS (compact serialization, EdDSA over "
        "Ed25519) whose claims bind the action id, the agent, the action type, the SHA-256 of the canonical "
        "`final_payload`, the decision, the approvers and the time. Verify it with the public keys of "
        "`GET /api/v1/receipt-keys` before running the tool. Null unless approved.",
    )
    outcome = OutcomeOut(allow_null=True, help_text="Null until you report one.")
    compensation = CompensationOut(
        allow_null=True,
        help_text="Null unless a post-action reviewer flagged what ran and asked your agent to undo it.",
    )
    version = serializers.IntegerField(
        help_text="Goes up by one with every change to the action; `GET ?wait=N&version=V` waits for a new one."
    )
    created_at = serializers.DateTimeField(help_text="When it was submitted (UTC).")
    updated_at = serializers.DateTimeField(help_text="When it last changed (UTC).")

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
            "receipt": action.receipt,
            "outcome": (
                {"outcome": action.outcome, "detail": action.outcome_detail, "at": _iso(action.outcome_at)}
                if action.outcome
                else None
            ),
            "compensation": _compensation(action),
            "version": action.version,
            "created_at": _iso(action.created_at),
            "updated_at": _iso(action.updated_at),
        }


@extend_schema_serializer(description="What a submit of the same body would meet now: its status, route and deadline.")
class PreviewOut(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[Status.PENDING, Status.APPROVED],
        help_text="`approved` if it would run without waiting, `pending` if it would wait for a reviewer.",
    )
    route = RouteOut(help_text="How the policy would route it, and why.")
    due_at = serializers.DateTimeField(allow_null=True, help_text="The deadline a submit now would get.")

    def to_representation(self, action):
        return {"status": action.status, "route": RouteOut().to_representation(action), "due_at": _iso(action.due_at)}


@extend_schema_serializer(
    description="Every error, whatever its status. A 409 may carry more keys that say what won, such as `status`."
)
class ErrorOut(serializers.Serializer):
    error = serializers.CharField(
        help_text="A stable code to branch on: `invalid_request`, `malformed_json`, `not_authenticated`, "
        "`permission_denied`, `not_found`, `method_not_allowed`, `unsupported_media_type`, `body_too_large`, "
        "`bad_request` (refused before it was read, such as a `Host` the service does not answer for), "
        "`unprocessable`, or a conflict's own (`not_pending`, `already_decided`, `idempotency_key_in_flight`, "
        "`idempotency_key_reused`, `compensation_not_requested`, `compensation_already_reported`, …)."
    )
    message = serializers.CharField(help_text="What went wrong, in a sentence for logs and people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="When particular inputs are at fault: each one's name (a field, a header such as "
        "`Idempotency-Key`, a query parameter, or `body`) with its reasons. A nested field's reasons start "
        'with its path, such as `"$.to: …"` for a payload or `"tags: …"` for `entity`.',
    )


@extend_schema_serializer(description="An Ed25519 public key (RFC 8037), as a JSON Web Key.")
class JwkOut(serializers.Serializer):
    kty = serializers.ChoiceField(choices=["OKP"], help_text="Always `OKP`.")
    crv = serializers.ChoiceField(choices=["Ed25519"], help_text="Always `Ed25519`.")
    kid = serializers.CharField(help_text="The key id, as a receipt's header names it.")
    x = serializers.CharField(help_text="The raw 32-byte public key, base64url without padding.")
    use = serializers.ChoiceField(choices=["sig"], help_text="Always `sig`.")
    alg = serializers.ChoiceField(choices=["EdDSA"], help_text="Always `EdDSA`.")


@extend_schema_serializer(description="The public keys that verify approval receipts (a JSON Web Key Set).")
class JwksOut(serializers.Serializer):
    keys = JwkOut(many=True, help_text="Every key that may have signed a receipt still held, the signing key first.")
