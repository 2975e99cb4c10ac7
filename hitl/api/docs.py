"""What the OpenAPI schema (/api/schema/, /api/docs/) tells an agent's developer beyond the
serializers' fields: the API's description, the error responses and the examples.

Docstrings never reach the schema (SPECTACULAR_SETTINGS["DISABLE_DOCSTRING_DESCRIPTIONS"]): they
are written for this code's maintainers. Everything an agent's developer reads is written here,
in the views' `extend_schema(description=...)`, and in the serializers' help texts.
"""

from datetime import timedelta

from django.conf import settings
from django.utils.functional import lazy
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from .. import receipts
from ..idempotency import KEY_PATTERN
from ..payloads import canonical_json, payload_digest
from .serializers import ErrorOut


def idempotency_retention() -> str:
    """How long Idempotency-Keys are kept (HITL_IDEMPOTENCY_TTL), in words: "48 hours"."""
    hours = settings.HITL_IDEMPOTENCY_TTL / timedelta(hours=1)
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def describe_api(result, generator, request, public):
    """A drf-spectacular postprocessing hook: the API's description, with the settings' figures."""
    result["info"]["description"] = DESCRIPTION.format(
        retention=idempotency_retention(),
        max_kib=settings.HITL_MAX_BODY_BYTES // 1024,
        max_depth=settings.HITL_MAX_JSON_DEPTH,
        max_items=f"{settings.HITL_MAX_JSON_ITEMS:,}",
        max_wait=settings.HITL_LONG_POLL_MAX_SECONDS,
        token_rate=_rate_in_words(settings.HITL_API_RATE_PER_TOKEN),
        address_rate=_rate_in_words(settings.HITL_API_RATE_PER_ADDRESS),
    )
    return result


def _rate_in_words(rate: str) -> str:
    """A rate such as "1200/minute" in words: "1,200 calls a minute"."""
    calls, _, period = rate.partition("/")
    unit = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[period.strip()[:1]]
    return f"{int(calls):,} calls a {unit}"


DESCRIPTION = """\
Submit each action your agent is about to take, and learn whether it may run now, after a human \
approves it, or not at all.

**Authentication.** Send `Authorization: Bearer <token>` with every request: an agent's token \
(`manage.py create_agent NAME`) for the action endpoints; a reviewer's token (`manage.py \
create_reviewer`) or a reviewer's session for decisions. No token, or an unknown or revoked one, \
is 401; a token of the wrong kind is 403.

**Bodies** are JSON objects (`Content-Type: application/json`) of at most {max_kib} KiB (413 \
beyond, chunked or not). Each field (`payload`, `context`, `detail`, …) may nest objects and arrays \
at most {max_depth} levels deep and hold at most {max_items} values in all, and an integer must fit \
what stores it: beyond, a 400 naming the field and the limit. Unknown fields are refused rather \
than ignored, and types are strict: `"0.9"` is not a number, `1` is not a boolean. A refused \
request stores nothing.

**Rate limits.** Each token may make {token_rate}; calls without valid credentials, {address_rate} \
from each address. Beyond, 429 with `Retry-After` (and `retry_after` in the body): the seconds to \
wait. One agent's calls never use up another's. Too many wrong passwords (HTTP Basic) lock the \
account or the address out for a while: 429 `login_locked`, also with `Retry-After`.

**Routes.** The policy routes each action from its risk: its confidence against the action type's \
threshold, whether it is irreversible, its compliance risk, its blast radius, the entity's tags, \
and whether it is the agent's first action of its type.

- `autonomous`: approved by policy: run `final_payload` now.
- `post_action`: approved by policy: run `final_payload` now; a reviewer looks at it afterwards.
- `pre_action`: `pending` until a reviewer decides. Wait with `GET /api/v1/actions/{{id}}?wait={max_wait}` \
(repeat while `status` is `pending`), then run `final_payload` if `approved` (a reviewer may have \
edited it) and nothing otherwise. `POST /api/v1/actions/preview` tells the route without storing \
anything.

After running an approved action, report `POST /api/v1/actions/{{id}}/outcome`.

**Receipts.** An approved action's answer carries a `receipt`, the service's signature of what it \
approved: a JWS in compact serialization (RFC 7515), `header.claims.signature`, each part \
base64url without padding, signed with EdDSA over Ed25519 (RFC 8037). The header is \
`{{"alg": "EdDSA", "kid": <key id>, "typ": "hitl-receipt+jws"}}`; the claims are `v` (1), \
`action_id`, `agent` (its name), `action_type` (the action type's key), `payload_sha256` (the hex \
SHA-256 of `final_payload` as canonical JSON: keys sorted, no spaces, UTF-8), `decision` (`approved` \
or `modified`), `approvers` (the reviewers' usernames in the order they approved; empty when the \
policy approved it), `route` and \
`iat` (the approval's Unix time). Before running a tool, check the signature over \
`header.claims` with the key of `GET /api/v1/receipt-keys` whose `kid` the header names (fetch \
again once on an unknown `kid`: keys rotate, and old ones stay published), then that `action_id` \
is the action's and `payload_sha256` the hash of the payload you are about to run. Any mismatch: \
do not run it.

**Compensation.** A `post_action` action (and a few `autonomous` ones picked for a spot check) is \
reviewed after it ran, within its action type's review window. A reviewer who flags it asks your \
agent to undo it: the action's `compensation.status` becomes `requested`, with the reviewer's \
`reason`. Wait for that with `GET /api/v1/actions/{{id}}?wait={max_wait}&version=<the version you \
read>`, which answers as soon as the action changes; undo what ran, then report `compensated` or \
`compensation_failed` to `POST /api/v1/actions/{{id}}/outcome`.

**Retries.** Send an `Idempotency-Key` header (1 to 255 printable ASCII characters) with each \
submit. A retry with the same key and body returns the first answer with 200; the same key with \
another body is 422; a retry while the first request is still being processed is 409. Keys are \
kept {retention}.

**Errors** have one shape, whatever the status:

```json
{{"error": "invalid_request",
 "message": "1 field did not validate: confidence.",
 "fields": {{"confidence": ["Ensure this value is less than or equal to 1.0."]}}}}
```

`error` is a stable code to branch on, `message` a sentence for logs and people, and `fields`, \
when particular inputs are at fault, names each (a field, a header, a query parameter, or `body`) \
with its reasons. A 409 may carry more keys that say what won.
"""


class RefusesUnknownFields(OpenApiSerializerExtension):
    """Request bodies say what InputSerializer does: a field it does not know is refused. (Maps the
    serializer as drf-spectacular would, the way its documentation shows for extensions.)"""

    target_class = "hitl.api.fields.InputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


def _idempotency_key_text() -> str:
    return (
        "Makes the submit safe to retry: a retry with the same key and body returns the first answer (200), the "
        "same key with another body is 422, and a retry while the first is in flight is 409. 1 to 255 printable "
        f"ASCII characters without spaces, unique per action; keys are kept {idempotency_retention()}."
    )


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": KEY_PATTERN},
    OpenApiParameter.HEADER,
    description=lazy(_idempotency_key_text, str)(),  # read when the schema is, as the setting is then
)

_ERRORS = {
    400: "A field, header or query parameter did not validate (a field nested too deep or holding too many values "
    "among them), or the body is not a JSON object: `fields` names each with its reasons. Nothing was stored.",
    401: "No token, or an unknown or revoked one, or its owner is inactive.",
    404: "No such action, or not one of yours.",
    413: f"The body is larger than {settings.HITL_MAX_BODY_BYTES // 1024} KiB.",
    415: "The body is not `application/json`.",
}


def errors(*statuses: int, described: dict[int, str] | None = None) -> dict:
    """An operation's error responses: ErrorOut under the general words for each of `statuses`,
    and under its own for each status in `described`."""
    responses = {status: OpenApiResponse(ErrorOut, description=_ERRORS[status]) for status in statuses}
    for status, description in (described or {}).items():
        responses[status] = OpenApiResponse(ErrorOut, description=description)
    return dict(sorted(responses.items()))


# The examples: one per route, as the demo's action types (`make run`, hitl/demo.py) answer them.
# send_email is irreversible, so always pre_action; the other routes need a reversible type.
PRE_ACTION_BODY = {
    "action_type": "send_email",
    "payload": {
        "to": "jane@example.com",
        "subject": "Your refund",
        "body": "Hi Jane, your $40 refund for order 881 is on its way.",
    },
    "summary": "Email Jane confirming her $40 refund",
    "reasoning": "User asked for a refund; order 881 is eligible under policy 4.2",
    "context": {"user_request": "Where is my refund?", "documents": [], "conversation": [], "tool_calls": []},
    "confidence": 0.82,
    "irreversible": True,
    "blast_radius": 1,
    "compliance_risk": False,
    "entity": {"id": "cust_42", "tags": ["vip"]},
    "task_id": "ticket-881",
    "callback_url": "https://agent.example.com/hitl/callback",
}
POST_ACTION_BODY = {
    "action_type": "update_preference",
    "payload": {"user_id": "cust_42", "key": "newsletter", "value": False},
    "summary": "Unsubscribe cust_42 from the newsletter",
    "reasoning": "The customer replied 'stop sending me these' to the last newsletter",
    "confidence": 0.64,
    "entity": {"id": "cust_42"},
    "task_id": "ticket-902",
}
AUTONOMOUS_BODY = {
    "action_type": "update_preference",
    "payload": {"user_id": "cust_42", "key": "language", "value": "fr"},
    "summary": "Set cust_42's language to French",
    "reasoning": "The customer asked, in French, for emails in French",
    "confidence": 0.93,
    "entity": {"id": "cust_42"},
    "task_id": "ticket-903",
}

_AT = "2026-11-24T18:15:00Z"


def _receipt(example: dict, *, payload=None, decision="approved", approvers=()) -> str:
    """A receipt as hitl.receipts makes one for a route example (approved by policy unless
    `decision` and `approvers` say otherwise), its signature bytes made up: only the service's key
    makes real ones."""
    header = {"alg": "EdDSA", "kid": "default", "typ": receipts.TYPE}
    claims = {
        "v": 1,
        "action_id": example["id"],
        "agent": "support-bot",
        "action_type": example["body"]["action_type"],
        "payload_sha256": payload_digest(example["body"]["payload"] if payload is None else payload),
        "decision": decision,
        "approvers": list(approvers),
        "route": example["route"]["pattern"],
        "iat": 1795544100,  # _AT
    }
    parts = (canonical_json(header).encode(), canonical_json(claims).encode(), bytes(64))
    return ".".join(receipts.b64url(part) for part in parts)


_ROUTE_EXAMPLES = [
    {
        "summary": "pre_action: an irreversible email waits for a reviewer",
        "description": "`send_email` is irreversible, so it is approved before it runs; the customer's `vip` tag "
        "and the agent's first `send_email` are reasons too.",
        "body": PRE_ACTION_BODY,
        "id": "5d1e3619-aaf7-461b-8881-ebf2fdab84fa",
        "due_at": "2026-11-24T22:15:00Z",
        "route": {
            "pattern": "pre_action",
            "tier": "tier1",
            "reviewer_group": "team",
            "threshold": 0.85,
            "reasons": [
                "irreversible action type: approved before it runs",
                "sensitive entity (vip)",
                "first send_email from this agent",
                "reviewed by team: tier1's reviewer group",
            ],
            "reason_codes": ["irreversible", "sensitive_entity", "novel_action_type", "reviewer_group"],
            "policy_version": 1,
        },
    },
    {
        "summary": "post_action: a reversible change below the threshold runs, then is reviewed",
        "description": "Confidence 0.64 is below the 0.70 threshold of a reversible type, but not far below: "
        "approved by policy, reviewed afterwards. (An agent's first `update_preference` waits for a reviewer.)",
        "body": POST_ACTION_BODY,
        "id": "0b8f1a52-7d3e-4c21-9a6b-3f5e2d1c8a47",
        "due_at": "2026-11-25T18:15:00Z",
        "route": {
            "pattern": "post_action",
            "tier": "tier1",
            "reviewer_group": "team",
            "threshold": 0.7,
            "reasons": [
                "confidence 0.64 is below threshold 0.70: reviewed after it runs",
                "reviewed by team: tier1's reviewer group",
            ],
            "reason_codes": ["below_threshold", "reviewer_group"],
            "policy_version": 1,
        },
    },
    {
        "summary": "autonomous: a confident reversible change runs",
        "description": "Confidence 0.93 meets the threshold of a reversible type the agent has used before.",
        "body": AUTONOMOUS_BODY,
        "id": "ceb2f846-a27f-4740-b83c-50669629aaf0",
        "due_at": None,
        "route": {
            "pattern": "autonomous",
            "tier": None,
            "reviewer_group": "",
            "threshold": 0.7,
            "reasons": ["confidence 0.93 meets threshold 0.70"],
            "reason_codes": ["confident"],
            "policy_version": 1,
        },
    },
]


def _answer(example: dict) -> dict:
    """ActionOut for a route example's body, as a submit gets it."""
    body, waits = example["body"], example["route"]["pattern"] == "pre_action"
    return {
        "id": example["id"],
        "status": "pending" if waits else "approved",
        "action_type": body["action_type"],
        "summary": body["summary"],
        "task_id": body["task_id"],
        "route": example["route"],
        "due_at": example["due_at"],
        "decision": None if waits else {"decision": "approved", "by": "policy", "comment": "", "at": _AT},
        "final_payload": None if waits else body["payload"],
        "receipt": None if waits else _receipt(example),
        "outcome": None,
        "compensation": None,
        "version": 1,
        "created_at": _AT,
        "updated_at": _AT,
    }


SUBMIT_EXAMPLES = [
    OpenApiExample(e["summary"], value=e["body"], description=e["description"], request_only=True)
    for e in _ROUTE_EXAMPLES
]
SUBMITTED_EXAMPLES = [
    OpenApiExample(e["summary"], value=_answer(e), response_only=True, status_codes=["201", "200"])
    for e in _ROUTE_EXAMPLES
]
PREVIEW_EXAMPLES = [
    OpenApiExample(
        e["summary"],
        value={key: _answer(e)[key] for key in ("status", "route", "due_at")},
        response_only=True,
        status_codes=["200"],
    )
    for e in _ROUTE_EXAMPLES
]
_EDITED = {**PRE_ACTION_BODY["payload"], "subject": "Your refund for order 881"}
APPROVED_EXAMPLE = OpenApiExample(
    "approved by a reviewer, with edits",
    value={
        **_answer(_ROUTE_EXAMPLES[0]),
        "status": "approved",
        "decision": {"decision": "modified", "by": "tina", "comment": "Mention the order number.", "at": _AT},
        "final_payload": _EDITED,
        "receipt": _receipt(_ROUTE_EXAMPLES[0], payload=_EDITED, decision="modified", approvers=["tina"]),
        "version": 2,
    },
    response_only=True,
    status_codes=["200"],
)
INVALID_EXAMPLE = OpenApiExample(
    "a field that did not validate",
    value={
        "error": "invalid_request",
        "message": "2 fields did not validate: confidence, entity.",
        "fields": {
            "confidence": ["Ensure this value is less than or equal to 1.0."],
            "entity": ["Must be a JSON object."],
        },
    },
    response_only=True,
    status_codes=["400"],
)
