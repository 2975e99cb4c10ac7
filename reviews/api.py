"""`POST /api/v1/actions/{id}/decision`, for reviewers (session or reviewer token)."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from hitl.api.auth import BearerTokenAuthentication, IsReviewer
from hitl.api.base import APIView
from hitl.api.docs import APPROVED_EXAMPLE, errors
from hitl.api.fields import InputSerializer, JSONObjectField, StrictCharField
from hitl.api.serializers import ActionOut
from hitl.api.views import parse

from .services import VERBS, review_decide

VERSION_MAX = 2**31 - 1  # the largest the column holds


@extend_schema_serializer(description="A reviewer's decision on a pending action.")
class DecisionIn(InputSerializer):
    decision = serializers.ChoiceField(
        choices=sorted(VERBS),
        help_text="`approve` it as it is, `modify` it (approve with an edited `payload`), or `reject` it.",
    )
    payload = JSONObjectField(
        required=False,
        help_text="The payload you approve, edited: required for modify. With approve, a payload that differs "
        "from the one waiting makes it an approval with edits.",
    )
    payload_sha256 = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=64,
        default="",
        help_text="SHA-256 of the canonical JSON (sorted keys, no spaces) of the payload you reviewed; "
        "409 stale_payload if the payload waiting is another.",
    )
    comment = StrictCharField(
        required=False, allow_blank=True, max_length=5000, default="", help_text="Required for reject, unless a reason."
    )
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=64, default="", help_text="A configured reject reason code."
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=VERSION_MAX,
        help_text="The action version you reviewed; 409 if it changed since.",
    )


class DecisionView(APIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsReviewer]

    @extend_schema(
        operation_id="actions_decide",
        request=DecisionIn,
        responses={
            200: OpenApiResponse(ActionOut, description="Decided; the action as the agent now sees it."),
            **errors(
                400,
                401,
                413,
                415,
                described={
                    403: "The token is an agent's; deciding needs a reviewer's token or session.",
                    404: "No action with this id is in your queues.",
                    409: "Someone decided first (the body says who and how), or the action changed since you "
                    "reviewed it (`version`, `payload_sha256`).",
                },
            ),
        },
        summary="Approve, modify or reject a pending action (reviewers)",
        description="For reviewers, with a reviewer's token or a logged-in session: decide a pending action in one "
        "of your queues. The agent waiting on it learns the decision at once.",
        examples=[
            OpenApiExample(
                "modify",
                value={
                    "decision": "modify",
                    "payload": {
                        "to": "jane@example.com",
                        "subject": "Your refund for order 881",
                        "body": "Hi Jane, your $40 refund for order 881 is on its way.",
                    },
                    "comment": "Mention the order number.",
                },
                request_only=True,
            ),
            OpenApiExample("reject", value={"decision": "reject", "comment": "Wrong customer."}, request_only=True),
            APPROVED_EXAMPLE,
        ],
    )
    def post(self, request, action_id):
        data = parse(DecisionIn, request)
        seen = data.pop("payload_sha256")
        decided = review_decide(reviewer=request.user, action_id=action_id, seen_sha256=seen, **data)
        return Response(ActionOut(decided.action).data)
