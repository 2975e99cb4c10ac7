from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions, permissions

from ..models import Agent
from ..selectors import token_principal


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`: request.user is the Agent or the reviewer, request.auth the token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme != self.keyword or not raw.strip():
            raise exceptions.AuthenticationFailed("Use the header 'Authorization: Bearer <token>'.")
        token = token_principal(raw.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("The token is unknown, revoked, or its owner is inactive.")
        return (token.agent or token.user, token)

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class IsAgent(permissions.BasePermission):
    message = "This endpoint needs an agent token."

    def has_permission(self, request, view):
        return getattr(request.auth, "agent_id", None) is not None


class IsReviewer(permissions.BasePermission):
    message = "This endpoint needs a reviewer (a user's session or a reviewer token)."

    def has_permission(self, request, view):
        user = request.user
        return user is not None and not isinstance(user, Agent) and user.is_authenticated


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema (and the docs' Authorize button) about bearer tokens."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")
