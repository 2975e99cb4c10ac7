"""What the SDK raises. Every exception is a HitlError; none of them means "go ahead"."""

from __future__ import annotations

from typing import Any


class HitlError(Exception):
    """Base of everything hitl_client raises."""


class HitlUnavailable(HitlError):
    """No answer from the service after every retry (network errors, 5xx, 429, a key in flight).

    The action may or may not exist; retrying the same logical call with the same Idempotency-Key
    cannot create a second one.
    """

    def __init__(
        self, message: str, *, attempts: int, last_error: BaseException | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error
        self.status = status


class ApiError(HitlError):
    """The service refused the request (4xx): its `error` code, `message` and per-field `fields`."""

    def __init__(self, status: int, body: dict[str, Any]):
        self.status = status
        self.body = body
        self.error: str = str(body.get("error", "unknown"))
        self.message: str = str(body.get("message", ""))
        self.fields: dict[str, list[str]] = body.get("fields") or {}
        super().__init__(f"{status} {self.error}: {self.message}" + (f" {self.fields}" if self.fields else ""))


class InvalidRequest(ApiError):
    """400: a field is wrong; `fields` names it."""


class NotAuthenticated(ApiError):
    """401: the token is missing or wrong."""


class PermissionDenied(ApiError):
    """403: the token may not do this (a reviewer's token on an agent endpoint, for one)."""


class NotFound(ApiError):
    """404: no such action for this agent."""


class Conflict(ApiError):
    """409: the action is in another state (`body` says which)."""


class Unprocessable(ApiError):
    """422: for one, an Idempotency-Key reused with another body."""


ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
}


class DecisionTimeout(HitlError):
    """The action was still pending when the caller's timeout passed. The tool did not run (a
    gated tool also cancels the action, best effort, so that a late approval cannot stay open)."""

    def __init__(self, action_id: str, timeout: float):
        super().__init__(f"Action {action_id} was still pending after {timeout:g} s.")
        self.action_id = action_id
        self.timeout = timeout


class ActionRejected(HitlError):
    """The action must not run: rejected by a reviewer, expired, or cancelled."""

    def __init__(self, *, action_id: str, status: str, comment: str, reason: str):
        super().__init__(reason)
        self.action_id = action_id
        self.status = status
        self.comment = comment
        self.reason = reason


class AlreadyRan(HitlError):
    """The action already ran (an outcome is reported) or was flagged for compensation: the gate
    does not run it again. The tool did not run."""

    def __init__(self, *, action_id: str, outcome: str | None, compensation: dict[str, Any] | None):
        said = f"outcome {outcome!r} reported" if outcome else f"compensation {(compensation or {}).get('status')!r}"
        super().__init__(f"Action {action_id} already ran ({said}): not running it again.")
        self.action_id = action_id
        self.outcome = outcome
        self.compensation = compensation


class ReceiptInvalid(HitlError):
    """An approval's receipt is missing, malformed, signed by an unknown key, or does not match the
    action and the payload about to run. The tool did not run."""


class WebhookInvalid(HitlError):
    """A webhook's signature, timestamp or delivery id does not pass: ignore the request."""
