"""The agent-facing API (v1). Thin views: parse, call one service, render ActionOut."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from .. import receipts, services
from ..errors import Invalid
from . import intake
from .auth import IsAgent
from .base import APIView, AsyncAPIView
from .docs import (
    APPROVED_EXAMPLE,
    IDEMPOTENCY_KEY,
    INVALID_EXAMPLE,
    PREVIEW_EXAMPLES,
    SUBMIT_EXAMPLES,
    SUBMITTED_EXAMPLES,
    errors,
)
from .serializers import COMPENSATION_REPORTS, ActionOut, ActionOutcomeIn, ActionSubmitIn, JwksOut, PreviewOut

AGENT_ONLY = "The token is a reviewer's; this endpoint needs an agent's."


def parse(serializer_class, request):
    if not isinstance(request.data, dict):
        raise Invalid("The body must be a JSON object.", fields={"body": ["Expected a JSON object."]})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ActionSubmitView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_submit",
        summary="Submit a proposed action",
        description="Store the action your agent proposes and route it. The answer's `status` says what to do: "
        "`approved`, run `final_payload` now; `pending`, wait for a reviewer with `GET /api/v1/actions/{id}?wait=N`. "
        "Send an `Idempotency-Key` so that a retry after a timeout cannot submit the action twice.",
        request=ActionSubmitIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: OpenApiResponse(ActionOut, description="Stored and routed."),
            200: OpenApiResponse(
                ActionOut,
                description="A retry with the same `Idempotency-Key` and body: the first answer, as it was then.",
            ),
            **errors(
                400,
                401,
                413,
                415,
                described={
                    403: AGENT_ONLY,
                    409: "A request with this `Idempotency-Key` is still being processed, or just failed: retry.",
                    422: "This `Idempotency-Key` was used with another body.",
                },
            ),
        },
        examples=[*SUBMIT_EXAMPLES, *SUBMITTED_EXAMPLES, INVALID_EXAMPLE],
    )
    def post(self, request):
        data = parse(ActionSubmitIn, request)
        body, created = intake.submit(
            agent=request.user, data=data, raw=request.data, key=request.headers.get("Idempotency-Key")
        )
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ActionPreviewView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_preview",
        summary="The route a submit would get, without storing anything",
        description="Validate a submit's body and route it as a submit now would, storing nothing: to check a "
        "body, or to learn whether an action would wait for a reviewer before proposing it.",
        request=ActionSubmitIn,
        responses={
            200: OpenApiResponse(PreviewOut, description="The route a submit of this body would get now."),
            **errors(400, 401, 413, 415, described={403: AGENT_ONLY}),
        },
        examples=[*SUBMIT_EXAMPLES, *PREVIEW_EXAMPLES, INVALID_EXAMPLE],
    )
    def post(self, request):
        action = services.action_prepare(agent=request.user, **parse(ActionSubmitIn, request))
        return Response(PreviewOut(action).data)


class ActionDetailView(AsyncAPIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_retrieve",
        summary="Current state of an action (optionally long-poll)",
        description="Where the action stands. With `wait`, a pending action's answer waits until a reviewer decides "
        "(or the action expires, or you cancel it) or the seconds pass; ask again while `status` is `pending`. "
        "With `wait` and `version`, the answer waits until the action's `version` differs from the one given, "
        "whatever its status: to learn, after it ran, whether a reviewer asks for compensation.",
        parameters=[
            OpenApiParameter(
                "wait",
                {"type": "integer", "minimum": 0, "maximum": settings.HITL_LONG_POLL_MAX_SECONDS},
                description="Hold the answer until the action leaves `pending` (or, with `version`, changes) or this "
                f"many seconds pass (0 to {settings.HITL_LONG_POLL_MAX_SECONDS}; default 0, answer at once).",
            ),
            OpenApiParameter(
                "version",
                {"type": "integer", "minimum": 0},
                description="With `wait`: hold the answer until the action's `version` is no longer this one (the "
                "`version` of the last answer you read).",
            ),
        ],
        responses={
            200: OpenApiResponse(ActionOut, description="The action now."),
            **errors(400, 401, 404, described={403: AGENT_ONLY}),
        },
        examples=[APPROVED_EXAMPLE],
    )
    async def get(self, request, action_id):
        wait = _wait_seconds(request.query_params.get("wait"))
        version = _version(request.query_params.get("version"))
        action = await intake.action_awaited(agent=request.user, action_id=action_id, wait=wait, version=version)
        return Response(ActionOut(action).data)


def _wait_seconds(raw) -> int:
    if raw in (None, ""):
        return 0
    limit = settings.HITL_LONG_POLL_MAX_SECONDS
    if not (raw.isascii() and raw.isdigit()) or int(raw) > limit:
        raise Invalid(
            "wait is out of range.", fields={"wait": [f"Must be a whole number of seconds from 0 to {limit}."]}
        )
    return int(raw)


def _version(raw) -> int | None:
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Invalid(
            "version is not valid.", fields={"version": ["Must be a whole number: the `version` of an answer."]}
        )
    return int(raw)


class ActionCancelView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_cancel",
        summary="Withdraw a pending action",
        description="Withdraw an action that is still `pending`, when your agent no longer needs it: it leaves the "
        "reviewers' queues and ends `cancelled`. No body.",
        request=None,
        responses={
            200: OpenApiResponse(ActionOut, description="Cancelled."),
            **errors(
                401,
                404,
                413,
                described={
                    403: AGENT_ONLY,
                    409: "The action is no longer pending (`status` says what it is): it cannot be cancelled.",
                },
            ),
        },
    )
    def post(self, request, action_id):
        action = services.action_cancel(agent=request.user, action_id=action_id)
        return Response(ActionOut(action).data)


class ActionOutcomeView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_outcome",
        summary="Report whether the approved action was executed, or compensated",
        description="Once your agent has run an approved action (or failed to), say so, once: `executed` or "
        "`failed`. The outcome is kept with the action, in its audit trail and on the reviewers' timeline. When a "
        "post-action reviewer flags what ran, the action's `compensation.status` becomes `requested`: undo what "
        "ran, then report `compensated` (or `compensation_failed`), once.",
        request=ActionOutcomeIn,
        responses={
            200: OpenApiResponse(ActionOut, description="Recorded; the action with its `outcome` or `compensation`."),
            **errors(
                400,
                401,
                404,
                413,
                415,
                described={
                    403: AGENT_ONLY,
                    409: "`executed` or `failed`: the action is not approved, or its outcome was reported already. "
                    "`compensated` or `compensation_failed`: no compensation was requested, or it was reported "
                    "already (`compensation` says what it is).",
                },
            ),
        },
        examples=[
            OpenApiExample(
                "executed",
                value={"outcome": "executed", "detail": {"message_id": "<881.refund@mail.example.com>"}},
                request_only=True,
            )
        ],
    )
    def post(self, request, action_id):
        data = parse(ActionOutcomeIn, request)
        report = (
            services.action_compensation_report
            if data["outcome"] in COMPENSATION_REPORTS
            else services.action_outcome_report
        )
        action = report(agent=request.user, action_id=action_id, **data)
        return Response(ActionOut(action).data)


class ReceiptKeysView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="receipt_keys",
        summary="The public keys that verify approval receipts (JWKS)",
        description="The Ed25519 public keys (RFC 8037 `OKP` keys in a JSON Web Key Set) of every key that may have "
        "signed a `receipt` still held, the signing key first. No authentication. Pick the key whose `kid` is the "
        "receipt header's; on an unknown `kid`, fetch this again once (the service may have rotated its key).",
        auth=[],
        responses={200: OpenApiResponse(JwksOut, description="The keys.")},
    )
    def get(self, request):
        return Response(receipts.public_jwks(), headers={"Cache-Control": "public, max-age=300"})
