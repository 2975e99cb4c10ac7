"""Errors that services raise and the API renders as JSON: {"error", "message", "fields", ...}."""


class ServiceError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, fields: dict | None = None, code: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.code = code or self.code
        self.extra = extra

    def as_dict(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


class Invalid(ServiceError):
    status = 400
    code = "invalid_request"


class Forbidden(ServiceError):
    """The caller sees the thing but may not do this to it (a reviewer of the action's own tier
    taking over or reassigning it)."""

    status = 403
    code = "permission_denied"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable"
