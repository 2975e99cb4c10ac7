"""The current request's id, readable anywhere in the request (audit events carry it)."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
