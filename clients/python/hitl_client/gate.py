"""Gate a tool on a human decision: the call's arguments are the payload; the tool runs only with
an approved, receipt-verified final_payload, and its outcome is reported."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from .errors import ActionRejected, AlreadyRan, DecisionTimeout, HitlError
from .models import Decision, Outcome

if TYPE_CHECKING:
    from .async_client import AsyncClient
    from .client import Client

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("hitl_client")
UNBINDABLE = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)


class _Gate(Generic[P, R]):
    """What the blocking and the async gated tool share: building the submit, deciding to run."""

    def __init__(self, fn: Callable[..., Any], *, action_type: str, timeout: float | None, fields: dict[str, Any]):
        self.signature = inspect.signature(fn)
        bad = [name for name, p in self.signature.parameters.items() if p.kind in UNBINDABLE]
        if bad:
            raise TypeError(f"A gated tool takes its arguments by name: {fn.__qualname__} has {', '.join(bad)}.")
        self.fn = fn
        self.action_type = action_type
        self.timeout = timeout
        self.fields = fields
        functools.update_wrapper(cast(Any, self), fn)

    def payload(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, defaults included: what the reviewer sees and approves."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        payload: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if self.signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                payload.update(value)
            else:
                payload[name] = value
        return payload

    def submit_fields(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The submit's fields: each gate field given as a callable is called with the payload."""
        payload = self.payload(args, kwargs)
        fields = {name: value(**payload) if callable(value) else value for name, value in self.fields.items()}
        return {"action_type": self.action_type, "payload": payload, **fields}

    @staticmethod
    def runnable(decision: Decision) -> dict[str, Any]:
        """The payload to run; AlreadyRan when it ran (or was flagged) before, ActionRejected when
        the decision does not approve."""
        if decision.outcome or decision.compensation:
            raise AlreadyRan(action_id=decision.action_id, outcome=decision.outcome, compensation=decision.compensation)
        if not decision.approved or not isinstance(decision.final_payload, dict):
            raise ActionRejected(
                action_id=decision.action_id, status=decision.status, comment=decision.comment, reason=decision.reason
            )
        return decision.final_payload


def final(submitted: Decision) -> Decision | None:
    """A submit's answer if it is the action's final word; None if the gate must ask again: still
    pending, or replayed for a repeated Idempotency-Key (the answer as it was then: an approval by
    policy may have run since)."""
    return None if submitted.pending or submitted.replayed else submitted


def failure(exc: BaseException) -> dict[str, Any]:
    return {"error": repr(exc)[:2000]}


class GatedTool(_Gate[P, R]):
    """A tool that asks first. Calling it submits its arguments as the payload and waits; then

    - approved (or modified): verifies the receipt, runs the tool with final_payload (the reviewer's
      edit), reports "executed" (or "failed", re-raising the tool's exception), returns its result;
    - rejected, expired or cancelled: raises ActionRejected; the tool does not run;
    - `timeout` passed: cancels the action (best effort) and raises DecisionTimeout;
    - already run or flagged (an outcome or a compensation on the action): raises AlreadyRan;
    - service unreachable or a bad receipt (not signed by a known key, or for another action, action
      type or payload): raises. In each of these cases the tool does not run.

    For agents that park: `tool.submit(...)` returns the pending Decision at once; later
    `tool.resume(action_id)` waits for it and proceeds as a call would.
    """

    def __init__(self, client: Client, fn: Callable[P, R], **options: Any):
        if inspect.iscoroutinefunction(fn):
            raise TypeError(f"{fn.__qualname__} is async: gate it with an AsyncClient.")
        super().__init__(fn, **options)
        self.client = client

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        submitted = self.client.submit(**self.submit_fields(args, kwargs))
        return self._proceed(submitted.action_id, final(submitted), self.timeout)

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> Decision:
        """Submit the call without waiting; keep the returned action_id to resume it."""
        return self.client.submit(**self.submit_fields(args, kwargs))

    def resume(self, action_id: str, *, timeout: float | None = None) -> R:
        """Wait for a parked action's decision (up to `timeout`, default the gate's) and run it if approved."""
        return self._proceed(str(action_id), None, self.timeout if timeout is None else timeout)

    def _proceed(self, action_id: str, decision: Decision | None, timeout: float | None) -> R:
        """Wait for the decision of `action_id` unless given; on a timeout, withdraw the action."""
        if decision is None:
            try:
                decision = self.client.wait(action_id, timeout=timeout)
            except DecisionTimeout:
                try:
                    self.client.cancel(action_id)
                except HitlError:
                    logger.warning("Could not cancel action %s after its timeout", action_id, exc_info=True)
                raise
        return self._run(action_id, decision)

    def _run(self, action_id: str, decision: Decision) -> R:
        payload = self.runnable(decision)
        self.client.check_receipt(decision, action_type=self.action_type, action_id=action_id)
        try:
            result: R = self.fn(**payload)
        except Exception as exc:
            self._report(decision, "failed", failure(exc))
            raise
        self._report(decision, "executed", {})
        return result

    def _report(self, decision: Decision, outcome: Outcome, detail: dict[str, Any]) -> None:
        try:
            self.client.report_outcome(decision.action_id, outcome, detail)
        except HitlError:  # the tool ran: say so in the log rather than make the agent run it again
            logger.warning("Could not report outcome %r of action %s", outcome, decision.action_id, exc_info=True)


class AsyncGatedTool(_Gate[P, R]):
    """GatedTool for AsyncClient: awaiting the call asks first, then runs the tool (async or not)."""

    def __init__(self, client: AsyncClient, fn: Callable[P, Awaitable[R]] | Callable[P, R], **options: Any):
        super().__init__(fn, **options)
        self.client = client

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        submitted = await self.client.submit(**self.submit_fields(args, kwargs))
        return await self._proceed(submitted.action_id, final(submitted), self.timeout)

    async def submit(self, *args: P.args, **kwargs: P.kwargs) -> Decision:
        """Submit the call without waiting; keep the returned action_id to resume it."""
        return await self.client.submit(**self.submit_fields(args, kwargs))

    async def resume(self, action_id: str, *, timeout: float | None = None) -> R:
        """Wait for a parked action's decision (up to `timeout`, default the gate's) and run it if approved."""
        return await self._proceed(str(action_id), None, self.timeout if timeout is None else timeout)

    async def _proceed(self, action_id: str, decision: Decision | None, timeout: float | None) -> R:
        """See GatedTool._proceed."""
        if decision is None:
            try:
                decision = await self.client.wait(action_id, timeout=timeout)
            except DecisionTimeout:
                try:
                    await self.client.cancel(action_id)
                except HitlError:
                    logger.warning("Could not cancel action %s after its timeout", action_id, exc_info=True)
                raise
        return await self._run(action_id, decision)

    async def _run(self, action_id: str, decision: Decision) -> R:
        payload = self.runnable(decision)
        await self.client.check_receipt(decision, action_type=self.action_type, action_id=action_id)
        try:
            result = self.fn(**payload)
            if inspect.isawaitable(result):
                result = await result
            ran: R = result
        except Exception as exc:
            await self._report(decision, "failed", failure(exc))
            raise
        await self._report(decision, "executed", {})
        return ran

    async def _report(self, decision: Decision, outcome: Outcome, detail: dict[str, Any]) -> None:
        try:
            await self.client.report_outcome(decision.action_id, outcome, detail)
        except HitlError:
            logger.warning("Could not report outcome %r of action %s", outcome, decision.action_id, exc_info=True)
