"""`POST /api/v1/actions/{id}/decision`, for reviewers (session or reviewer token)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from hitl.api.auth import BearerTokenAuthentication, IsReviewer
from hitl.api.base import APIView
from hitl.api.fields import InputSerializer, JSONObjectField, StrictCharField
from hitl.api.serializers import ActionOut, ErrorOut
from hitl.api.views import parse

from .services import VERBS, review_decide


class DecisionIn(InputSerializer):
    decision = serializers.ChoiceField(choices=sorted(VERBS))
    payload = JSONObjectField(required=False, help_text="The edited payload; required for modify.")
    comment = StrictCharField(
        required=False, allow_blank=True, max_length=5000, default="", help_text="Required for reject, unless a reason."
    )
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=64, default="", help_text="A configured reject reason code."
    )
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The action version you reviewed; 409 if it changed since."
    )


class DecisionView(APIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsReviewer]

    @extend_schema(
        operation_id="actions_decide",
        request=DecisionIn,
        responses={200: ActionOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut},
        summary="Approve, modify or reject a pending action (reviewers)",
    )
    def post(self, request, action_id):
        data = parse(DecisionIn, request)
        action = review_decide(reviewer=request.user, action_id=action_id, **data)
        return Response(ActionOut(action).data)
