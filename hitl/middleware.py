import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import MiddlewareNotUsed, RequestDataTooBig
from django.http import JsonResponse
from django.middleware import common
from django.shortcuts import render, resolve_url
from django.utils.deprecation import MiddlewareMixin
from servestatic import middleware as servestatic

from .logins import LoginLocked
from .request_context import request_id

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-ID if sane), echoed back and kept in audit events."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _begin(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        return request_id.set(request.id)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = request.id
        return response

    async def __acall__(self, request):
        token = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = request.id
        return response


class ApiBodyLimitMiddleware:
    """Refuses API bodies over HITL_MAX_BODY_BYTES with 413 before anything parses them."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _too_large(request):
        if not request.path.startswith("/api/") or request.method not in ("POST", "PUT", "PATCH"):
            return None
        limit = settings.HITL_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit or (declared == 0 and _undeclared_length(request) > limit):
            return JsonResponse(
                {
                    "error": "body_too_large",
                    "message": f"The request body is larger than {limit // 1024} KiB.",
                    "fields": {"body": [f"At most {limit} bytes are accepted."]},
                },
                status=413,
            )
        return None

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self._too_large(request) or self.get_response(request)

    async def __acall__(self, request):
        return self._too_large(request) or await self.get_response(request)


def _undeclared_length(request) -> int:
    """The length of a body sent without Content-Length (chunked); past
    DATA_UPLOAD_MAX_MEMORY_SIZE Django stops reading it, and it counts as longer than that."""
    try:
        return len(request.body)
    except RequestDataTooBig:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1


def _is_bearer(request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


# Paths a bearer token opens: the API and the health check. Elsewhere it is no login.
_TOKEN_PATHS = ("/api/", "/healthz")


def _api_call(request) -> bool:
    """A bearer-token call to the API, which needs no session."""
    return _is_bearer(request) and request.path.startswith(_TOKEN_PATHS)


def _token_is_no_login(request, response):
    """A page's answer to a bearer-token request: served as to anyone not logged in, except that
    where it would send them to log in first (login_required's redirect), 401, which a program can
    act on."""
    if not _is_bearer(request) or request.path.startswith(_TOKEN_PATHS) or response.status_code not in (301, 302, 303):
        return response
    where = urlsplit(response.get("Location", ""))
    if where.path != resolve_url(settings.LOGIN_URL) or "next=" not in where.query:
        return response
    message = "An API token opens /api/ only; this page needs a signed-in session."
    return JsonResponse({"error": "not_authenticated", "message": message}, status=401)


class _Inline:
    """Mixed in before a Django middleware whose hooks do no I/O: run them in the event loop.

    Under ASGI, MiddlewareMixin sends every hook through a thread hop (sync_to_async), which
    costs more than the hook itself; these wrappers keep Django's behaviour and drop the hops.
    """

    async def __acall__(self, request):
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class _BrowserOnly:
    """Mixed in before a session-family middleware: bearer-token API calls skip it entirely."""

    def __call__(self, request):
        if _api_call(request):
            return self.get_response(request)
        return super().__call__(request)


class CommonMiddleware(_Inline, common.CommonMiddleware):
    pass


class SessionMiddleware(_BrowserOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_BrowserOnly, auth.AuthenticationMiddleware):
    """Also answers 401 where a page would send a bearer-token request to log in (_token_is_no_login)."""

    def __call__(self, request):
        response = super().__call__(request)
        if self.async_mode:
            return self._token_is_no_login_async(request, response)
        return _token_is_no_login(request, response)

    async def _token_is_no_login_async(self, request, response):
        return _token_is_no_login(request, await response)


class MessageMiddleware(_BrowserOnly, messages.MessageMiddleware):
    pass


_static_files_left_out: ContextVar[bool] = ContextVar("static_files_left_out", default=False)


@contextmanager
def static_files_left_out():
    """Middleware loaded inside this block leaves ServeStatic out (see ServeStaticMiddleware)."""
    token = _static_files_left_out.set(True)
    try:
        yield
    finally:
        _static_files_left_out.reset(token)


class ServeStaticMiddleware(servestatic.ServeStaticMiddleware):
    """ServeStatic, left out of the chain that hitl.asgi loads for requests to sync views: it sends
    every static path through the async chain, and ServeStatic, async only, would otherwise take
    each of those requests from its thread to the event loop and back."""

    def __init__(self, get_response):
        if _static_files_left_out.get():
            raise MiddlewareNotUsed
        super().__init__(get_response)


class ContentSecurityPolicyMiddleware:
    """Sends HITL_CONTENT_SECURITY_POLICY with every response that has no policy of its own. The
    pages satisfy it: their scripts and styles are files under static/, none inline."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _with_policy(response):
        if settings.HITL_CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.HITL_CONTENT_SECURITY_POLICY)
        return response

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self._with_policy(self.get_response(request))

    async def __acall__(self, request):
        return self._with_policy(await self.get_response(request))


class LoginLockedMiddleware(MiddlewareMixin):
    """A login refused because its account or address is locked out (hitl.logins) answers 429 with
    a page saying until when, whichever page asked: the login page, admin's."""

    def process_exception(self, request, exception):
        if not isinstance(exception, LoginLocked):
            return None
        response = render(request, "registration/locked_out.html", {"until": exception.until}, status=429)
        response["Retry-After"] = str(exception.retry_after)
        return response
