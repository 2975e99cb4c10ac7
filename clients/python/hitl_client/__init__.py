"""hitl_client: the agent SDK of the HITL approval service.

Gate a tool on a human decision, park and resume actions, report outcomes and compensations,
verify approval receipts and webhooks. Depends on httpx and cryptography; nothing of the server.
"""

__version__ = "0.1.0"

from .async_client import AsyncClient  # noqa: E402
from .client import Client  # noqa: E402
from .errors import (  # noqa: E402
    ActionRejected,
    AlreadyRan,
    ApiError,
    Conflict,
    DecisionTimeout,
    HitlError,
    HitlUnavailable,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ReceiptInvalid,
    Unprocessable,
    WebhookInvalid,
)
from .gate import AsyncGatedTool, GatedTool  # noqa: E402
from .models import Decision, Outcome  # noqa: E402
from .receipts import canonical_json, payload_sha256, verify_receipt  # noqa: E402
from .retry import RetryPolicy  # noqa: E402
from .webhooks import SeenDeliveries, WebhookReplayed, verify_webhook  # noqa: E402

__all__ = [
    "ActionRejected",
    "AlreadyRan",
    "ApiError",
    "AsyncClient",
    "AsyncGatedTool",
    "Client",
    "Conflict",
    "Decision",
    "DecisionTimeout",
    "GatedTool",
    "HitlError",
    "HitlUnavailable",
    "InvalidRequest",
    "NotAuthenticated",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "ReceiptInvalid",
    "RetryPolicy",
    "SeenDeliveries",
    "Unprocessable",
    "WebhookInvalid",
    "WebhookReplayed",
    "canonical_json",
    "payload_sha256",
    "verify_receipt",
    "verify_webhook",
]
