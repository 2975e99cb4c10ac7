"""Every API error is JSON naming the problem: {"error": code, "message": text, "fields": {name: [..]}}."""

import math

from rest_framework import exceptions, status
from rest_framework.response import Response

from ..errors import ServiceError
from ..logins import LoginLocked

_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
}


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {name: _messages(value) for name, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value) -> list:
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, inner in value.items() for message in _messages(inner)]
    if isinstance(value, list):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, LoginLocked):  # HTTP Basic for an account or from an address locked out (hitl.logins)
        body = {"error": "login_locked", "message": str(exc), "retry_after": exc.retry_after}
        return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, exceptions.ParseError):
        body = {"error": "malformed_json", "message": str(exc.detail), "fields": {"body": [str(exc.detail)]}}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        fields = _field_errors(exc.detail)
        count = len(fields)
        body = {
            "error": "invalid_request",
            "message": f"{count} field{'s' if count != 1 else ''} did not validate: {', '.join(fields)}.",
            "fields": fields,
        }
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.APIException):
        body = {"error": _CODES.get(type(exc), exc.default_code), "message": str(exc.detail)}
        headers = {}
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            authenticator = context["request"].authenticators[0] if context["request"].authenticators else None
            if authenticator:
                headers["WWW-Authenticate"] = authenticator.authenticate_header(context["request"])
            return Response(body, status=status.HTTP_401_UNAUTHORIZED, headers=headers)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:  # hitl.api.throttles
            body["retry_after"] = math.ceil(exc.wait)
            headers["Retry-After"] = str(body["retry_after"])
        return Response(body, status=exc.status_code, headers=headers)
    return None
