"""The blocking client."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Unpack

import httpx

from .base import ACTIONS, RECEIPT_KEYS, REPLAYED, ActionFields, ClientBase, ClientSettings, submit_request, unavailable
from .errors import Conflict, DecisionTimeout
from .gate import GatedTool, P, R
from .models import Decision, Outcome
from .retry import answer, retryable


class Client(ClientBase):
    """An agent's connection to the HITL service.

    >>> hitl = Client("https://hitl.example.com", token)
    >>> decision = hitl.request_approval(action_type="send_email", payload={...}, summary="...", confidence=0.8)

    Every method retries network errors, 5xx, 429 (after Retry-After) and an Idempotency-Key in
    flight, then raises HitlUnavailable; the service's refusals raise ApiError subclasses.
    Thread-safe; close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        **settings: Unpack[ClientSettings],
    ):
        super().__init__(base_url, token, **settings)
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, *, idempotency_key: str | None = None, **fields: Unpack[ActionFields]) -> Decision:
        """Submit a proposed action and return its first answer at once (often `pending`).

        One Idempotency-Key (a new uuid4 unless given) serves every retry, so the action is created
        once; pass your own key to make a submit safe across restarts of your agent.
        """
        body, headers = submit_request(fields, idempotency_key)
        response = self._send("POST", ACTIONS, json=body, headers=headers)
        return Decision.from_api(answer(response), replayed=response.status_code == REPLAYED)

    def request_approval(
        self, *, timeout: float | None = None, idempotency_key: str | None = None, **fields: Unpack[ActionFields]
    ) -> Decision:
        """Submit and wait for the decision. Raises DecisionTimeout if it is still pending after
        `timeout` seconds (None: wait until it is decided, expires or is cancelled)."""
        decision = self.submit(idempotency_key=idempotency_key, **fields)
        return self.wait(decision.action_id, timeout=timeout) if decision.pending else decision

    def get(self, action_id: str) -> Decision:
        """The action as it is now."""
        return Decision.from_api(self._call("GET", f"{ACTIONS}/{action_id}"))

    def wait(self, action_id: str, timeout: float | None = None) -> Decision:
        """Long-poll until the action is no longer pending; DecisionTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            decision = self._poll(action_id, deadline)
            if not decision.pending:
                return decision
            if deadline is not None and time.monotonic() >= deadline:
                raise DecisionTimeout(action_id, timeout or 0)

    def wait_for_compensation(self, action_id: str, timeout: float) -> Decision | None:
        """For a post-action route: wait up to `timeout` seconds for a reviewer's flag. Returns the
        action when compensation is requested (undo it, then report "compensated" or
        "compensation_failed"), None if none was requested in that time."""
        deadline = time.monotonic() + timeout
        decision = self.get(action_id)
        while not decision.compensation_requested:
            if time.monotonic() >= deadline:
                return None
            started = time.monotonic()
            changed = self._poll(action_id, deadline, version=decision.version)
            if changed.version == decision.version and time.monotonic() - started < 1:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # a server that does not hold
            decision = changed
        return decision

    def cancel(self, action_id: str) -> Decision:
        """Withdraw a pending action (it ends `cancelled`). Repeating a cancel that went through is not an error."""
        return self._settled(
            lambda: self._call("POST", f"{ACTIONS}/{action_id}/cancel"), action_id, lambda d: d.status == "cancelled"
        )

    def report_outcome(self, action_id: str, outcome: Outcome, detail: dict[str, Any] | None = None) -> Decision:
        """Say what happened when the approved action ran: "executed" or "failed"; after a
        compensation request, "compensated" or "compensation_failed". Repeating a report that went
        through is not an error."""
        body = {"outcome": outcome, "detail": detail or {}}
        return self._settled(
            lambda: self._call("POST", f"{ACTIONS}/{action_id}/outcome", json=body), action_id,
            lambda d: reported(d, outcome),
        )  # fmt: skip

    def receipt_keys(self, *, refresh: bool = False) -> dict[str, Any]:
        """The keys that verify receipts (a JWKS): the pinned ones if given, else the service's,
        fetched once and cached."""
        if not self._pinned and (refresh or not self._jwks["keys"]):
            self._jwks = self._call("GET", RECEIPT_KEYS)
        return self._jwks

    def check_receipt(self, decision: Decision, *, action_type: str, action_id: str | None = None) -> dict[str, Any]:
        """Verify an approval's receipt against `action_type`, `action_id` (default the decision's)
        and its final_payload; returns the claims or raises ReceiptInvalid. Unless pinned, keys are
        fetched once, and again once for an unknown kid."""
        if not self._knows_key(decision.receipt):
            self.receipt_keys(refresh=True)
        return self._verify(decision, action_type, action_id)

    def gate(
        self, action_type: str, *, timeout: float | None = None, **fields: Any
    ) -> Callable[[Callable[P, R]], GatedTool[P, R]]:
        """Decorate a tool so that each call waits for approval; see GatedTool."""
        return lambda fn: GatedTool(self, fn, action_type=action_type, timeout=timeout, fields=fields)

    def _poll(self, action_id: str, deadline: float | None, *, version: int | None = None) -> Decision:
        remaining = self.long_poll if deadline is None else math.ceil(deadline - time.monotonic())
        wait = min(self.long_poll, max(0, remaining))
        params = {"wait": wait} if version is None else {"wait": wait, "version": version}
        return Decision.from_api(self._call("GET", f"{ACTIONS}/{action_id}", params=params, wait=wait))

    def _settled(
        self, call: Callable[[], dict[str, Any]], action_id: str, done: Callable[[Decision], bool]
    ) -> Decision:
        try:
            return Decision.from_api(call())
        except Conflict:
            current = self.get(action_id)
            if done(current):  # an earlier attempt went through
                return current
            raise

    def _call(self, method: str, path: str, *, wait: int = 0, **request: Any) -> dict[str, Any]:
        return answer(self._send(method, path, wait=wait, **request))

    def _send(self, method: str, path: str, *, wait: int = 0, **request: Any) -> httpx.Response:
        """The first answer that is not to be retried (after the retries: HitlUnavailable)."""
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = self._http.request(method, path, timeout=self._timeout(wait), **request)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and not retryable(response):
                return response
            if attempt >= self.retry.max_retries:
                raise unavailable(method, path, attempt + 1, error, None if response is None else response.status_code)
            time.sleep(self.retry.delay(attempt, response))
            attempt += 1


def reported(decision: Decision, outcome: str) -> bool:
    """Whether `outcome` is already recorded on the action."""
    if outcome in ("executed", "failed"):
        return decision.outcome == outcome
    return (decision.compensation or {}).get("status") == outcome
