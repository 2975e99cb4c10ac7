"""`GET /api/v1/calibration`: how well each agent's confidence is calibrated, for leads and admins."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.response import Response

from audit.api import ErrorsAsJSON
from audit.export import can_export
from hitl.api.auth import BearerTokenAuthentication, IsAgent, IsReviewer
from hitl.api.base import APIView
from hitl.api.docs import errors
from hitl.errors import Invalid
from hitl.models import ActionType
from reviews.selectors import is_lead

from .preferences import guidance, preferences
from .selectors import FilterForm, calibration_rows, proposed_thresholds
from .training import KINDS, TrainingFilterForm, training_response


class IsLead(permissions.BasePermission):
    message = "Calibration is for leads and admins: a reviewer of a lead-rank group or above."

    def has_permission(self, request, view):
        return is_lead(request.user)


def _number(help_text: str):
    return serializers.FloatField(allow_null=True, help_text=help_text)


@extend_schema_serializer(
    description="One of the 10 equal-width confidence bins: the labels whose stated confidence falls in it."
)
class BinOut(serializers.Serializer):
    lower = serializers.FloatField(help_text="The bin's lowest confidence (included).")
    upper = serializers.FloatField(help_text="Its highest (excluded; 1.0 belongs to the last bin).")
    n = serializers.IntegerField(help_text="Labels whose stated confidence falls in the bin.")
    mean_confidence = _number("Their mean stated confidence (weighted); null when n is 0.")
    accuracy = _number("The share of them the reviewers found right (weighted); null when n is 0.")


@extend_schema_serializer(
    description="How one action type's (and agent's, grouped by agent) stated confidence compares with what "
    "reviewers found. A label weighs by the inverse of the chance its action was sent to a human."
)
class CalibrationRowOut(serializers.Serializer):
    action_type = serializers.CharField(help_text="The action type's key.")
    agent = serializers.CharField(required=False, help_text="The agent's name: only with `group_by=agent`.")
    n = serializers.IntegerField(help_text="Labels: final human verdicts (expired and cancelled actions have none).")
    ece = _number("Expected calibration error over 10 equal-width bins: the weighted mean |confidence − accuracy|.")
    mce = _number("Maximum calibration error: the largest |confidence − accuracy| of a non-empty bin.")
    brier = _number("Brier score: the weighted mean of (confidence − right)², right being 1 or 0.")
    accuracy = _number("The weighted share of labels that say the agent was right.")
    bins = BinOut(many=True, help_text="The 10 bins; their n add up to the row's n.")
    threshold = serializers.FloatField(help_text="The confidence threshold in force now.")
    modification_rate = _number("Approvals with edits over all verdicts; null without labels.")
    chronic = serializers.BooleanField(
        help_text="Whether more than a fifth of the human verdicts edited the action (chronic): "
        "fix the agent, not the threshold."
    )
    bias = serializers.ChoiceField(
        choices=["over", "under", "none"],
        help_text="`over`: confidence above accuracy beyond sampling noise (a z-test of the mean gap, |z| ≥ 2.58, "
        "30 labels or more); `under`: below; `none` otherwise.",
    )
    proposed_threshold = _number(
        "The open recalibrated threshold an admin may apply (admin, Threshold proposals); null when none is open."
    )

    def to_representation(self, row):
        figures = row.figures
        return {
            "action_type": row.action_type.key,
            **({"agent": row.agent.name if row.agent else None} if self.context.get("by_agent") else {}),
            "n": figures.n,
            "ece": figures.ece,
            "mce": figures.mce,
            "brier": figures.brier,
            "accuracy": figures.accuracy,
            "bins": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "n": b.n,
                    "mean_confidence": b.mean_confidence,
                    "accuracy": b.accuracy,
                }
                for b in figures.bins
            ],  # fmt: skip
            "threshold": row.threshold,
            "modification_rate": figures.modification_rate,
            "chronic": figures.chronic,
            "bias": figures.bias,
            "proposed_threshold": self.context.get("proposed", {}).get(row.action_type.pk),
        }


def _parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, description=description)


class CalibrationView(APIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsReviewer, IsLead]

    @extend_schema(
        operation_id="calibration",
        summary="Calibration of the agents' confidence (leads and admins)",
        description="For each action type (and each agent of it, with `group_by=agent`): how the confidence "
        "agents stated compares with what reviewers decided, from the labels of final human verdicts.",
        parameters=[
            _parameter("action_type", "Only this action type (its key)."),
            _parameter("agent", "Only this agent (its name)."),
            _parameter("domain", "Only action types of this domain."),
            _parameter("from", "Verdicts at or after this moment (ISO 8601 date or date-time; UTC without offset)."),
            _parameter("to", "Verdicts before this moment (excluded)."),
            _parameter("group_by", "`action_type` (the default): a row per type; `agent`: a row per type and agent."),
        ],
        responses={
            200: OpenApiResponse(CalibrationRowOut(many=True), description="One row per action type (and agent)."),
            **errors(
                401,
                described={
                    400: "A filter did not validate, or is not one of these: `fields` names each.",
                    403: "An agent's token, or a reviewer below lead rank.",
                },
            ),
        },
    )
    def get(self, request):
        form = FilterForm(request.query_params)
        if not form.is_valid():
            raise Invalid("Some filters are not valid.", fields=form.errors_by_field())
        filters = form.filters()
        rows = calibration_rows(filters)
        by_agent = filters.group_by == "agent"
        context = {"by_agent": by_agent, "proposed": proposed_thresholds()}
        return Response(CalibrationRowOut(rows, many=True, context=context).data)


class IsAdminOrAuditor(permissions.BasePermission):
    """An admin (staff) or an auditor, logged in by session or HTTP Basic: API tokens, which agents
    and reviewers hold, are refused even when they authenticate."""

    message = (
        "Training data is for admins and auditors, logged in by session or HTTP Basic; API tokens cannot export it."
    )

    def has_permission(self, request, view):
        by_login = isinstance(request.successful_authenticator, (BasicAuthentication, SessionAuthentication))
        return by_login and (request.user.is_staff or can_export(request.user))


TRAINING_ROWS = (
    "One JSON object per line, oldest verdict first. corrections: action_id, action_type, agent, reviewer, "
    "decided_at, verdict (modified, rejected or flagged), summary, reasoning, context, original_payload, "
    "final_payload (the reviewer's, for modified; else null), patch (RFC 6902), comment. preferences (approvals "
    "with edits): action_id, action_type, agent, reviewer, decided_at, prompt {action_type, summary, reasoning, "
    "context}, chosen (the reviewer's payload), rejected (the agent's), comment. The export is audited."
)


class TrainingDataView(APIView):
    authentication_classes = [BasicAuthentication, SessionAuthentication, BearerTokenAuthentication]
    permission_classes = [IsAdminOrAuditor]
    content_negotiation_class = ErrorsAsJSON

    @extend_schema(
        auth=[{"basicAuth": []}, {"cookieAuth": []}],
        operation_id="training_data_export",
        summary="Export reviewers' corrections as training data (admins and auditors)",
        description="Human-corrected examples, or preference pairs, for fine-tuning or prompting an agent, "
        "streamed as JSON lines.",
        parameters=[
            OpenApiParameter("kind", str, enum=list(KINDS), default="corrections"),
            OpenApiParameter("action_type", str, description="An action type's key."),
            OpenApiParameter("agent", str, description="An agent's name."),
            OpenApiParameter("domain", str, description="An action type's domain."),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Verdicts at or after this moment."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Verdicts before this moment."),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description=TRAINING_ROWS),
            **errors(
                described={
                    400: "A parameter did not validate, or is not one of these: `fields` names each.",
                    401: "Not logged in: send HTTP Basic credentials, or log in first.",
                    403: "Neither an admin nor an auditor, or an API token.",
                },
            ),
        },
    )
    def get(self, request):
        form = TrainingFilterForm(request.query_params)
        if not form.is_valid():
            fields = form.errors_by_field()
            raise Invalid(f"The export's parameters did not validate: {', '.join(fields)}.", fields=fields)
        return training_response(form.filters(), form.cleaned_data["kind"], by=request.user)


class IsAdminOrAgent(permissions.BasePermission):
    """An admin (staff) logged in by session or HTTP Basic, or an agent with its token: the guidance
    is for the agents' prompts."""

    message = "Reviewer preferences are for admins (logged in) and agents (their API token)."

    def has_permission(self, request, view):
        if IsAgent().has_permission(request, view):
            return True
        by_login = isinstance(request.successful_authenticator, (BasicAuthentication, SessionAuthentication))
        return by_login and request.user.is_staff


@extend_schema_serializer(
    description="One pattern in reviewers' edits of an action type: a field and how they change it."
)
class PatternOut(serializers.Serializer):
    action_type = serializers.CharField(help_text="The action type's key.")
    reviewer = serializers.CharField(allow_null=True, help_text="A reviewer's username; null: every reviewer.")
    field = serializers.CharField(source="path", help_text="The field, as a JSON Pointer (e.g. /amount).")
    change = serializers.ChoiceField(
        source="kind", choices=["lowered", "raised", "changed", "added", "removed"], help_text="How it changes."
    )
    support = serializers.IntegerField(help_text="Edits showing it, among those it was learned from.")
    share = serializers.FloatField(help_text="support over the edits it was learned from.")
    median_change = _number("For lowered and raised: the median relative change, e.g. -0.25.")
    agreement = _number("Of the later edits touching the field (held out), the share changing it the same way.")
    checked = serializers.IntegerField(help_text="How many later edits touch the field.")
    text = serializers.CharField(help_text="The pattern in words, for an agent's prompt.")


class PreferencesView(APIView):
    authentication_classes = [BearerTokenAuthentication, BasicAuthentication, SessionAuthentication]
    permission_classes = [IsAdminOrAgent]
    content_negotiation_class = ErrorsAsJSON

    @extend_schema(
        operation_id="preferences",
        summary="What reviewers change in an action type's proposals (admins and agents)",
        description="Patterns in reviewers' edits (approvals with edits), per action type and per reviewer, with "
        "their support and their agreement on later edits. `format=text` gives plain-language guidance an agent "
        "can put in its prompt (every reviewer's patterns).",
        parameters=[
            OpenApiParameter("action_type", str, description="An action type's key; every type when absent."),
            OpenApiParameter("format", str, enum=["json", "text"], default="json"),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(PatternOut(many=True), description="The patterns."),
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="With format=text: the guidance, a line per pattern, for a prompt."
            ),
            **errors(400, described={401: "No credentials.", 403: "Neither an admin nor an agent."}),
        },
    )
    def get(self, request):
        params = request.query_params
        fields = {
            name: [f"Unknown parameter. Known: {', '.join(PREFERENCE_PARAMETERS)}."]
            for name in sorted(set(params) - set(PREFERENCE_PARAMETERS))
        }
        key, fmt = params.get("action_type", "").strip(), params.get("format", "json").strip() or "json"
        if key and not ActionType.objects.filter(key=key).exists():
            fields["action_type"] = [f"Unknown action type '{key}'."]
        if fmt not in ("json", "text"):
            fields["format"] = [f"Unknown format '{fmt}'. Use json or text."]
        if fields:
            raise Invalid(f"The parameters did not validate: {', '.join(fields)}.", fields=fields)
        patterns, _ = preferences(key)
        if fmt == "text":
            response = HttpResponse(guidance(patterns), content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="hitl-guidance{"-" + key if key else ""}.txt"'
            return response
        return Response(PatternOut(patterns, many=True).data)


PREFERENCE_PARAMETERS = ("action_type", "format")
