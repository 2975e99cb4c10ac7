"""What Client and AsyncClient share: settings, headers, request bodies and the receipt key cache."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, NotRequired, Required, TypedDict

import httpx

from . import __version__
from .errors import HitlUnavailable, ReceiptInvalid
from .models import Decision
from .receipts import jwks_kids, receipt_header, verify_receipt
from .retry import RetryPolicy

ACTIONS = "/api/v1/actions"
RECEIPT_KEYS = "/api/v1/receipt-keys"
REPLAYED = 200  # a submit's status when the Idempotency-Key was seen before (201: created now)


class ActionFields(TypedDict, total=False):
    """A proposed action, as POST /api/v1/actions takes it (see the service's API docs)."""

    action_type: Required[str]
    payload: Required[dict[str, Any]]
    summary: Required[str]
    confidence: Required[float]
    reasoning: NotRequired[str]
    context: NotRequired[dict[str, Any]]
    irreversible: NotRequired[bool]
    blast_radius: NotRequired[int]
    compliance_risk: NotRequired[bool]
    entity: NotRequired[dict[str, Any]]
    task_id: NotRequired[str]
    callback_url: NotRequired[str]


class ClientSettings(TypedDict, total=False):
    """Optional settings of Client and AsyncClient (see ClientBase)."""

    timeout: float
    max_retries: int
    backoff_base: float
    backoff_cap: float
    retry_after_cap: float
    long_poll: int
    receipt_keys: Mapping[str, Any]


class ClientBase:
    """Settings of a client. `timeout` bounds each request (a long-poll gets its wait on top);
    `max_retries`, `backoff_base` and `backoff_cap` shape the retries (see RetryPolicy).
    `receipt_keys` pins the keys that verify receipts (a JWKS): only those are used, none fetched."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        retry_after_cap: float = 60.0,
        long_poll: int = 60,
        receipt_keys: Mapping[str, Any] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = RetryPolicy(
            max_retries=max_retries, backoff_base=backoff_base, backoff_cap=backoff_cap, retry_after_cap=retry_after_cap
        )
        self.long_poll = long_poll
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"hitl-client/{__version__}",
        }
        self._jwks: dict[str, Any] = {"keys": []}
        self._pinned = receipt_keys is not None
        if receipt_keys is not None:
            if not isinstance(receipt_keys.get("keys"), list) or not receipt_keys["keys"]:
                raise ValueError('receipt_keys must be a JWKS: {"keys": [<at least one key>]}.')
            self._jwks = {"keys": list(receipt_keys["keys"])}

    def _timeout(self, wait: int = 0) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=self.timeout + wait)

    def _verify(self, decision: Decision, action_type: str, action_id: str | None) -> dict[str, Any]:
        """The receipt's claims, bound to `action_id` (default the decision's own) and `action_type`."""
        action_id = decision.action_id if action_id is None else str(action_id)
        if decision.action_id != action_id:
            raise ReceiptInvalid(f"The service answered for action {decision.action_id}, not {action_id}.")
        return verify_receipt(decision.receipt, action_id=action_id, action_type=action_type,
                              payload=decision.final_payload, jwks=self._jwks)  # fmt: skip

    def _knows_key(self, receipt: str | None) -> bool:
        """Whether a fetch of the keys is pointless: pinned keys, a cached kid, or a receipt with no
        readable kid (verification refuses it)."""
        if self._pinned:
            return True
        try:
            return receipt_header(receipt or "").get("kid") in jwks_kids(self._jwks)
        except ReceiptInvalid:
            return True


def submit_request(fields: ActionFields, idempotency_key: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The body (without the fields left out) and headers of a submit, with a fresh key unless given."""
    body = {name: value for name, value in fields.items() if value is not None}
    return body, {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


def unavailable(
    method: str, path: str, attempts: int, error: BaseException | None, status: int | None
) -> HitlUnavailable:
    last = f"{type(error).__name__}: {error}" if error is not None else f"HTTP {status}"
    return HitlUnavailable(
        f"{method} {path}: no answer from the HITL service after {attempts} attempts (last: {last}).",
        attempts=attempts, last_error=error, status=status,
    )  # fmt: skip
