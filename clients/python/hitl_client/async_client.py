"""The asyncio client: Client's methods as coroutines."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Unpack

import httpx

from .base import ACTIONS, RECEIPT_KEYS, REPLAYED, ActionFields, ClientBase, ClientSettings, submit_request, unavailable
from .client import reported
from .errors import Conflict, DecisionTimeout
from .gate import AsyncGatedTool, P, R
from .models import Decision, Outcome
from .retry import answer, retryable


class AsyncClient(ClientBase):
    """Client for asyncio agents: the same methods, awaited, with the same retries and errors."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: Unpack[ClientSettings],
    ):
        super().__init__(base_url, token, **settings)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def submit(self, *, idempotency_key: str | None = None, **fields: Unpack[ActionFields]) -> Decision:
        """See Client.submit."""
        body, headers = submit_request(fields, idempotency_key)
        response = await self._send("POST", ACTIONS, json=body, headers=headers)
        return Decision.from_api(answer(response), replayed=response.status_code == REPLAYED)

    async def request_approval(
        self, *, timeout: float | None = None, idempotency_key: str | None = None, **fields: Unpack[ActionFields]
    ) -> Decision:
        """See Client.request_approval."""
        decision = await self.submit(idempotency_key=idempotency_key, **fields)
        return await self.wait(decision.action_id, timeout=timeout) if decision.pending else decision

    async def get(self, action_id: str) -> Decision:
        return Decision.from_api(await self._call("GET", f"{ACTIONS}/{action_id}"))

    async def wait(self, action_id: str, timeout: float | None = None) -> Decision:
        """See Client.wait."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            decision = await self._poll(action_id, deadline)
            if not decision.pending:
                return decision
            if deadline is not None and time.monotonic() >= deadline:
                raise DecisionTimeout(action_id, timeout or 0)

    async def wait_for_compensation(self, action_id: str, timeout: float) -> Decision | None:
        """See Client.wait_for_compensation."""
        deadline = time.monotonic() + timeout
        decision = await self.get(action_id)
        while not decision.compensation_requested:
            if time.monotonic() >= deadline:
                return None
            started = time.monotonic()
            changed = await self._poll(action_id, deadline, version=decision.version)
            if changed.version == decision.version and time.monotonic() - started < 1:
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # a server that does not hold
            decision = changed
        return decision

    async def cancel(self, action_id: str) -> Decision:
        """See Client.cancel."""
        return await self._settled(
            self._call("POST", f"{ACTIONS}/{action_id}/cancel"), action_id, lambda d: d.status == "cancelled"
        )

    async def report_outcome(self, action_id: str, outcome: Outcome, detail: dict[str, Any] | None = None) -> Decision:
        """See Client.report_outcome."""
        body = {"outcome": outcome, "detail": detail or {}}
        return await self._settled(
            self._call("POST", f"{ACTIONS}/{action_id}/outcome", json=body), action_id,
            lambda d: reported(d, outcome),
        )  # fmt: skip

    async def receipt_keys(self, *, refresh: bool = False) -> dict[str, Any]:
        """See Client.receipt_keys."""
        if not self._pinned and (refresh or not self._jwks["keys"]):
            self._jwks = await self._call("GET", RECEIPT_KEYS)
        return self._jwks

    async def check_receipt(
        self, decision: Decision, *, action_type: str, action_id: str | None = None
    ) -> dict[str, Any]:
        """See Client.check_receipt."""
        if not self._knows_key(decision.receipt):
            await self.receipt_keys(refresh=True)
        return self._verify(decision, action_type, action_id)

    def gate(
        self, action_type: str, *, timeout: float | None = None, **fields: Any
    ) -> Callable[[Callable[P, Awaitable[R]]], AsyncGatedTool[P, R]]:
        """Decorate an (async) tool so that each awaited call waits for approval; see GatedTool."""
        return lambda fn: AsyncGatedTool(self, fn, action_type=action_type, timeout=timeout, fields=fields)

    async def _poll(self, action_id: str, deadline: float | None, *, version: int | None = None) -> Decision:
        remaining = self.long_poll if deadline is None else math.ceil(deadline - time.monotonic())
        wait = min(self.long_poll, max(0, remaining))
        params = {"wait": wait} if version is None else {"wait": wait, "version": version}
        return Decision.from_api(await self._call("GET", f"{ACTIONS}/{action_id}", params=params, wait=wait))

    async def _settled(
        self, call: Awaitable[dict[str, Any]], action_id: str, done: Callable[[Decision], bool]
    ) -> Decision:
        try:
            return Decision.from_api(await call)
        except Conflict:
            current = await self.get(action_id)
            if done(current):
                return current
            raise

    async def _call(self, method: str, path: str, *, wait: int = 0, **request: Any) -> dict[str, Any]:
        return answer(await self._send(method, path, wait=wait, **request))

    async def _send(self, method: str, path: str, *, wait: int = 0, **request: Any) -> httpx.Response:
        """The first answer that is not to be retried (after the retries: HitlUnavailable)."""
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = await self._http.request(method, path, timeout=self._timeout(wait), **request)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and not retryable(response):
                return response
            if attempt >= self.retry.max_retries:
                raise unavailable(method, path, attempt + 1, error, None if response is None else response.status_code)
            await asyncio.sleep(self.retry.delay(attempt, response))
            attempt += 1
