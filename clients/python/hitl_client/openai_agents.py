"""Gate OpenAI Agents SDK function tools on the HITL service (the optional extra
`hitl-client[openai-agents]`).

`HitlApprovals.tool` makes a FunctionTool whose `needs_approval` asks the service: approved at once
(an autonomous or post-action route) needs no approval and the tool runs; pending stops the run with
an interruption (`result.interruptions`) for that tool call. `resolve` waits for the decisions of
a run's interruptions (long-poll) and approves or rejects them in its RunState — a rejection's
message, which the model reads, carries the reviewer's reason — so that `Runner.run(agent, state)`
continues. The SDK approves a call with the model's arguments; the tool runs with the approved
`final_payload` (the reviewer's edit, if any) once its receipt verifies, and its outcome is reported.

    approvals = HitlApprovals(AsyncClient(url, token))

    @approvals.tool("issue_refund", summary=lambda order_id, amount, **_: f"Refund {amount} on {order_id}",
                    confidence=0.8)
    def issue_refund(order_id: str, amount: float, currency: str) -> str:
        \"\"\"Refund an order.\"\"\"
        ...

    result = await Runner.run(agent, "Refund order 881")
    while result.interruptions:
        result = await Runner.run(agent, await approvals.resolve(result))
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from agents import FunctionTool, RunContextWrapper, RunResult, RunState, ToolApprovalItem, function_tool
from agents.function_schema import function_schema
from agents.tool import ToolErrorFunction, default_tool_error_function
from agents.tool_context import ToolContext
from pydantic import ValidationError

from .async_client import AsyncClient
from .errors import ActionRejected, AlreadyRan, HitlError
from .gate import _Gate, failure, final
from .models import Decision
from .receipts import canonical_json

__all__ = ["GatedFunction", "HitlApprovals"]

logger = logging.getLogger("hitl_client")
REMEMBERED = 10_000  # tool calls whose action (or decision) this process keeps at hand


class HitlApprovals:
    """The HITL service as the approver of an agent's function tools (one per AsyncClient)."""

    def __init__(self, client: AsyncClient):
        if not isinstance(client, AsyncClient):
            raise TypeError("The Agents SDK runs tools in asyncio: give HitlApprovals an AsyncClient.")
        self.client = client
        self.tools: dict[str, GatedFunction] = {}

    def tool(
        self,
        action_type: str,
        *,
        name_override: str | None = None,
        description_override: str | None = None,
        strict_mode: bool = True,
        failure_error_function: ToolErrorFunction | None = default_tool_error_function,
        **fields: Any,
    ) -> Callable[[Callable[..., Any]], FunctionTool]:
        """Decorate a function as a FunctionTool (as `function_tool` does) gated on the service;
        see GatedFunction. `fields` are the submit's other fields, each a value or a callable of
        the arguments, as for `Client.gate` (`summary` and `confidence` are required)."""
        if "idempotency_key" in fields or "timeout" in fields:
            raise TypeError("The Idempotency-Key is derived from the tool call; resolve(timeout=...) bounds the wait.")

        def decorate(fn: Callable[..., Any]) -> FunctionTool:
            gated = GatedFunction(
                self.client, fn, action_type=action_type, fields=fields, name_override=name_override,
                description_override=description_override, strict_mode=strict_mode,
                failure_error_function=failure_error_function,
            )  # fmt: skip
            self.tools[gated.tool.name] = gated
            return gated.tool

        return decorate

    async def resolve(self, run: RunResult | RunState, *, timeout: float | None = None) -> RunState:
        """Wait (long-poll, all at once) for the decision of each interruption of this run that one
        of these tools made; approve the approved ones in the run's state, reject the others with
        the reason (rejected, expired, cancelled) as the message the model reads. Returns the state
        to continue with: `await Runner.run(agent, state)`. Interruptions of other tools are left
        as they are. DecisionTimeout after `timeout` seconds: nothing is approved or rejected, the
        actions stay pending; resolve again later (keep `state.to_json()` meanwhile)."""
        state = run.to_state() if isinstance(run, RunResult) else run
        ours = [
            (item, self.tools[item.tool_name]) for item in state.get_interruptions() if item.tool_name in self.tools
        ]
        decisions = await asyncio.gather(*(gated.decision(item, timeout) for item, gated in ours))
        for (item, gated), decision in zip(ours, decisions, strict=True):
            if decision.approved:
                state.approve(item)
            else:
                gated.known.pop(call_id(item), None)
                state.reject(item, rejection_message=gated.refusal(decision))
        return state

    async def action_ids(self, run: RunResult | RunState) -> dict[str, str]:
        """The action each of this run's interruptions (of these tools) waits for, by tool call id."""
        state = run.to_state() if isinstance(run, RunResult) else run
        items = [item for item in state.get_interruptions() if item.tool_name in self.tools]
        ids = await asyncio.gather(*(self.tools[item.tool_name].action_id(item) for item in items))
        return {call_id(item): action_id for item, action_id in zip(items, ids, strict=True)}


class GatedFunction:
    """One gated function tool: its FunctionTool (`tool`), whose `needs_approval` submits the
    call's arguments (validated, defaults filled in) as the action's payload, with an
    Idempotency-Key derived from the tool call, and whose invocation

    - runs the function with the approved `final_payload` (the reviewer's edit, if any) once the
      receipt verifies, and reports "executed" (or "failed": the model then gets
      `failure_error_function`'s message, or, if None, the exception is raised);
    - returns, without running it, a message the model reads when the action was rejected,
      expired or cancelled, is still pending (the SDK was told to approve it, the service was not),
      or already ran;
    - raises when the service is unreachable or the receipt does not verify: the run fails closed.
    """

    def __init__(
        self,
        client: AsyncClient,
        fn: Callable[..., Any],
        *,
        action_type: str,
        fields: dict[str, Any],
        name_override: str | None,
        description_override: str | None,
        strict_mode: bool,
        failure_error_function: ToolErrorFunction | None,
    ):
        self.client = client
        self.action_type = action_type
        self.fields = fields
        self.failure_error_function = failure_error_function
        naming = {"name_override": name_override, "description_override": description_override}
        self.schema = function_schema(fn, **naming, strict_json_schema=strict_mode)
        self.runner = function_tool(fn, **naming, strict_mode=strict_mode, failure_error_function=None)
        self.tool = FunctionTool(
            name=self.runner.name,
            description=self.runner.description,
            params_json_schema=self.runner.params_json_schema,
            on_invoke_tool=self.invoke,
            strict_json_schema=self.runner.strict_json_schema,
            needs_approval=self.needs_approval,
        )
        self.known: OrderedDict[str, str | Decision] = OrderedDict()  # call id → action id, or its decision

    def payload(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments as the function takes them (validated, defaults filled in), as JSON."""
        return self.schema.params_pydantic_model.model_validate(dict(arguments)).model_dump(mode="json")

    def idempotency_key(self, tool_call_id: str) -> str:
        """The same for one tool call of the model however often it is asked about (a resumed run,
        a restarted process): it finds the same action."""
        identity = canonical_json([self.tool.name, tool_call_id, self.action_type])
        return "openai-agents-" + hashlib.sha256(identity).hexdigest()

    async def submit(self, payload: dict[str, Any], tool_call_id: str) -> Decision:
        fields = {name: value(**payload) if callable(value) else value for name, value in self.fields.items()}
        return await self.client.submit(
            idempotency_key=self.idempotency_key(tool_call_id), action_type=self.action_type, payload=payload,
            **fields,
        )  # fmt: skip

    async def needs_approval(self, context: RunContextWrapper[Any], arguments: dict[str, Any], call: str) -> bool:
        """Ask the service: approved at once (or already decided) needs no approval from the run;
        pending does. Arguments the function refuses need none either: the call is refused."""
        try:
            payload = self.payload(arguments)
        except ValidationError:
            return False
        submitted = await self.submit(payload, call)
        self.remember(call, final(submitted) or submitted.action_id)
        return submitted.pending

    async def action_id(self, item: ToolApprovalItem) -> str:
        """The action an interruption waits for: known, or found again by its Idempotency-Key."""
        known = self.known.get(call_id(item))
        if isinstance(known, Decision):
            return known.action_id
        if known is not None:
            return known
        return (await self.submit(self.payload(json.loads(arguments(item) or "{}")), call_id(item))).action_id

    async def decision(self, item: ToolApprovalItem, timeout: float | None) -> Decision:
        """Wait for the decision of an interruption's action; kept for the tool's run."""
        decision = await self.client.wait(await self.action_id(item), timeout=timeout)
        self.remember(call_id(item), decision)
        return decision

    async def invoke(self, context: ToolContext[Any], arguments: str) -> Any:
        try:
            payload = self.payload(json.loads(arguments or "{}"))
        except (ValidationError, ValueError) as invalid:
            return f"{self.tool.name} was not run: its arguments are invalid: {invalid}"
        known = self.known.pop(context.tool_call_id, None)
        if isinstance(known, Decision):
            decision = known
        elif known is not None:  # pending when asked, or a replayed answer: look at it now
            decision = await self.client.get(known)
        else:  # asked in another process (or never): find the action again by its key, look at it now
            submitted = await self.submit(payload, context.tool_call_id)
            decision = final(submitted) or await self.client.get(submitted.action_id)
        try:
            approved = _Gate.runnable(decision)
        except (ActionRejected, AlreadyRan):
            return self.refusal(decision)
        await self.client.check_receipt(decision, action_type=self.action_type, action_id=decision.action_id)
        try:
            result = await self.runner.on_invoke_tool(context, json.dumps(approved))
        except Exception as exc:
            await self.report(decision, "failed", failure(exc))
            if self.failure_error_function is None:
                raise
            message = self.failure_error_function(context, exc)
            return await message if inspect.isawaitable(message) else message
        await self.report(decision, "executed", {})
        return result

    def refusal(self, decision: Decision) -> str:
        """What the model reads when the tool does not run."""
        if decision.outcome or decision.compensation:
            return f"{self.tool.name} was not run again: action {decision.action_id} already ran."
        if decision.pending:
            return f"{self.tool.name} was not run: action {decision.action_id} still waits for a reviewer."
        return f"{self.tool.name} was not run ({decision.status}): {decision.reason}"

    async def report(self, decision: Decision, outcome: str, detail: dict[str, Any]) -> None:
        try:
            await self.client.report_outcome(decision.action_id, outcome, detail)  # type: ignore[arg-type]
        except HitlError:  # the tool ran: say so in the log rather than make the agent run it again
            logger.warning("Could not report outcome %r of action %s", outcome, decision.action_id, exc_info=True)

    def remember(self, tool_call_id: str, known: str | Decision) -> None:
        self.known[tool_call_id] = known
        self.known.move_to_end(tool_call_id)
        while len(self.known) > REMEMBERED:
            self.known.popitem(last=False)


def call_id(item: ToolApprovalItem) -> str:
    raw = item.raw_item
    return str(raw.get("call_id") if isinstance(raw, Mapping) else getattr(raw, "call_id", ""))


def arguments(item: ToolApprovalItem) -> str | None:
    raw = item.raw_item
    return raw.get("arguments") if isinstance(raw, Mapping) else getattr(raw, "arguments", None)
