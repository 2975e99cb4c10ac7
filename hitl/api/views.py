"""The agent-facing API (v1). Thin views: parse, call one service, render ActionOut."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from .. import idempotency, services, wakeups
from ..errors import Invalid, NotFound
from ..selectors import action_aget_for_agent
from ..states import Status
from .auth import IsAgent
from .base import APIView, AsyncAPIView
from .serializers import ActionOut, ActionOutcomeIn, ActionSubmitIn, ErrorOut, PreviewOut

ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A retry with the same key and body returns the first response (200). Kept at least 24 h.",
)


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
        request=ActionSubmitIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ActionOut, 200: ActionOut, 413: ErrorOut, 422: ErrorOut, **ERRORS},
        summary="Submit a proposed action",
    )
    def post(self, request):
        data = parse(ActionSubmitIn, request)
        key = request.headers.get("Idempotency-Key")
        if key is None:
            action = services.action_submit(agent=request.user, **data)
            return Response(ActionOut(action).data, status=status.HTTP_201_CREATED)
        action = services.action_prepare(agent=request.user, **data)
        body = ActionOut(action).data
        claim = idempotency.key_claim(
            agent=request.user,
            key=key,
            body_hash=idempotency.request_hash(request.data),
            action_id=action.id,
            response=body,
        )
        if claim.replay is not None:
            return Response(claim.replay, status=status.HTTP_200_OK)
        try:
            services.action_create(action=action)
        except BaseException:
            idempotency.key_release(key=claim.key)
            raise
        return Response(body, status=status.HTTP_201_CREATED)


class ActionPreviewView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_preview",
        request=ActionSubmitIn,
        responses={200: PreviewOut, **ERRORS},
        summary="The route a submit would get, without storing anything",
    )
    def post(self, request):
        action = services.action_prepare(agent=request.user, **parse(ActionSubmitIn, request))
        return Response(PreviewOut(action).data)


class ActionDetailView(AsyncAPIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_retrieve",
        parameters=[
            OpenApiParameter(
                "wait",
                OpenApiTypes.INT,
                description=f"Hold the request until the action leaves pending or this many seconds pass "
                f"(0..{settings.HITL_LONG_POLL_MAX_SECONDS}).",
            )
        ],
        responses={200: ActionOut, **ERRORS},
        summary="Current state of an action (optionally long-poll)",
    )
    async def get(self, request, action_id):
        wait = _wait_seconds(request.query_params.get("wait"))
        action = await action_aget_for_agent(agent=request.user, action_id=action_id)
        if action is None:
            raise NotFound("No action with this id belongs to your agent.")
        if wait and action.status == Status.PENDING:

            async def still_pending():
                nonlocal action
                action = await action_aget_for_agent(agent=request.user, action_id=action_id)
                return action.status == Status.PENDING

            await wakeups.wait_for_change(action_id, timeout=wait, still_pending=still_pending)
            action = await action_aget_for_agent(agent=request.user, action_id=action_id)
        return Response(ActionOut(action).data)


def _wait_seconds(raw) -> int:
    if raw in (None, ""):
        return 0
    limit = settings.HITL_LONG_POLL_MAX_SECONDS
    if not raw.isdigit() or int(raw) > limit:
        raise Invalid(
            "wait is out of range.", fields={"wait": [f"Must be a whole number of seconds from 0 to {limit}."]}
        )
    return int(raw)


class ActionCancelView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_cancel",
        request=None,
        responses={200: ActionOut, **ERRORS},
        summary="Withdraw a pending action",
    )
    def post(self, request, action_id):
        action = services.action_cancel(agent=request.user, action_id=action_id)
        return Response(ActionOut(action).data)


class ActionOutcomeView(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="actions_outcome",
        request=ActionOutcomeIn,
        responses={200: ActionOut, **ERRORS},
        summary="Report whether the approved action was executed",
    )
    def post(self, request, action_id):
        data = parse(ActionOutcomeIn, request)
        action = services.action_outcome_report(agent=request.user, action_id=action_id, **data)
        return Response(ActionOut(action).data)
