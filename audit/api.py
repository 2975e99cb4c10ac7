"""`GET /api/v1/audit/events`: the audit trail for auditors, streamed as JSON lines or CSV."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation

from hitl.api.auth import BearerTokenAuthentication
from hitl.api.base import APIView
from hitl.api.docs import errors
from hitl.errors import Invalid

from .export import (
    DEFAULT_FORMAT,
    FORMATS,
    AuditFilterForm,
    AuditFilters,
    can_export,
    export_head,
    export_response,
    unknown_parameters,
)


class IsAuditor(permissions.BasePermission):
    """A user with the export permission (an auditor, or a superuser), logged in by session or HTTP
    Basic. Tokens, which agents and reviewers hold, are refused even when they authenticate."""

    message = (
        "Exporting the audit trail needs a user with the 'Can export the audit trail' permission (the "
        "auditors group), logged in by session or HTTP Basic; API tokens cannot export it."
    )

    def has_permission(self, request, view):
        by_login = isinstance(request.successful_authenticator, (BasicAuthentication, SessionAuthentication))
        return by_login and can_export(request.user)


class ErrorsAsJSON(BaseContentNegotiation):
    """The body of a success is the export, typed by `format`; DRF renders only errors, as JSON.
    (DRF's own negotiation would read `format` as a renderer's name, and Accept: text/csv as 406.)"""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


EXPORTED = "The matching events, oldest first; the export is itself recorded in the audit trail."


def _moment(name, description):
    return OpenApiParameter(name, OpenApiTypes.DATETIME, description=description)


class AuditEventsView(APIView):
    # Basic first: an anonymous caller gets 401 with `WWW-Authenticate: Basic`. Bearer tokens are
    # recognised so that an agent's is refused with 403 (IsAuditor) rather than taken for no login.
    authentication_classes = [BasicAuthentication, SessionAuthentication, BearerTokenAuthentication]
    permission_classes = [IsAuditor]
    content_negotiation_class = ErrorsAsJSON

    @extend_schema(
        auth=[{"basicAuth": []}, {"cookieAuth": []}],  # an API token is refused (403): auditors are people
        operation_id="audit_events_export",
        summary="Export the audit trail (auditors)",
        description="Every matching audit event in id order, streamed: one JSON object per line, or CSV with a "
        "header row. Times without an offset are UTC.",
        parameters=[
            _moment("from", "Events created at or after this moment (ISO 8601)."),
            _moment("to", "Events created before this moment (ISO 8601)."),
            OpenApiParameter("action_type", OpenApiTypes.STR, description="An action type's key."),
            OpenApiParameter("agent", OpenApiTypes.STR, description="An agent's name."),
            OpenApiParameter("reviewer", OpenApiTypes.STR, description="A user's username."),
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), default=DEFAULT_FORMAT),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description=EXPORTED),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=EXPORTED),
            **errors(
                described={
                    400: "A parameter did not validate, or is not one of these: `fields` names each.",
                    401: "Not logged in: send HTTP Basic credentials, or log in first.",
                    403: "Logged in without the export permission, or with an API token.",
                },
            ),
        },
    )
    def get(self, request):
        return export_response(_filters(request), by=request.user)

    def head(self, request):
        """A GET's status and headers, without reading the events or recording an export."""
        return export_head(_filters(request))


def _filters(request) -> AuditFilters:
    form = AuditFilterForm(request.query_params)
    unknown = unknown_parameters(request.query_params)
    if not form.is_valid() or unknown:
        fields = {**{name: list(errors) for name, errors in form.errors.items()}, **unknown}
        raise Invalid(f"The export's parameters did not validate: {', '.join(fields)}.", fields=fields)
    return form.filters()
