"""Gate LangGraph tools and nodes on the HITL service (the optional extra `hitl-client[langgraph]`).

A gated call inside a graph submits its arguments as the action's payload. Approved at once (an
autonomous or post-action route): the tool runs. Pending: the gate calls `interrupt()` with the
action's id, and the graph parks in its own checkpointer until it is resumed with
`Command(resume=…)` once the decision is in — `wait_for_decisions` (long-poll) or
`resume_from_webhook` build that Command. LangGraph re-runs an interrupted node from its start on
resume; the gate's Idempotency-Key is derived from the thread, the task (its checkpoint namespace,
which carries the task id) and the tool call, so the replay finds the same action, never a second
one. The resumed gate reads the decision from the service (the resume value only wakes it), then,
as `hitl_client`'s gate does, verifies the receipt, runs the tool with the approved `final_payload`
(the reviewer's edit) and reports the outcome — with the tool's result, so that a later replay of
the node returns that result instead of running the tool again.

    @gate(hitl, "issue_refund", summary=lambda order_id, amount, **_: f"Refund {amount} on {order_id}", confidence=0.8)
    def issue_refund(order_id: str, amount: float, currency: str = "USD") -> str:
        \"\"\"Refund an order.\"\"\"
        ...

    tools = ToolNode([issue_refund.as_tool()])  # a rejection is a ToolMessage the model reads
    # or, in a node: issue_refund(order_id="881", amount=40.0)  (a rejection raises ActionRejected)
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Generic

from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool, ToolException
from langchain_core.tools.base import create_schema_from_function
from langgraph.config import get_config
from langgraph.types import Command, Interrupt, interrupt
from pydantic import create_model

from .async_client import AsyncClient
from .client import Client
from .errors import ActionRejected, AlreadyRan, HitlError
from .gate import AsyncGatedTool, GatedTool, P, R, failure, final
from .models import Decision
from .receipts import canonical_json

__all__ = [
    "INTERRUPT_TYPE",
    "AsyncGraphGatedTool",
    "GraphGatedTool",
    "approval_interrupts",
    "await_decisions",
    "gate",
    "resume_from_webhook",
    "wait_for_decisions",
]

INTERRUPT_TYPE = "hitl_approval"  # the `type` of the value the gate's interrupts carry
TOOL_CALL_ID = "hitl_tool_call_id"  # the injected argument that tells a tool call from another
RESULT = "result"  # the key of the tool's result in the "executed" outcome's detail
RECORDED_MAX = 8192  # bytes of canonical JSON: a larger (or non-JSON) result is not recorded


def gate(
    client: Client | AsyncClient, action_type: str, *, key: str | None = None, **fields: Any
) -> Callable[[Callable[P, R]], GraphGatedTool[P, R] | AsyncGraphGatedTool[P, R]]:
    """Decorate a tool so that, called inside a LangGraph graph, it asks the service first; see
    GraphGatedTool. `fields` are the submit's other fields, each a value or a callable of the
    arguments, as for `Client.gate` (`summary` and `confidence` are required); `key` tells apart
    two calls of the same action type in one node (it becomes part of the Idempotency-Key)."""
    if "idempotency_key" in fields or "timeout" in fields:
        raise TypeError(
            "A LangGraph gate derives its Idempotency-Key from the thread and task, and does not wait: "
            "the graph parks instead (resume it with wait_for_decisions, which takes a timeout)."
        )

    def decorate(fn: Callable[P, R]) -> GraphGatedTool[P, R] | AsyncGraphGatedTool[P, R]:
        if isinstance(client, AsyncClient):
            return AsyncGraphGatedTool(client, fn, action_type=action_type, key=key, fields=fields)
        return GraphGatedTool(client, fn, action_type=action_type, key=key, fields=fields)

    return decorate


class _GraphGate(Generic[P, R]):
    """What the blocking and the async graph gates share: the key, the interrupt, the tool."""

    inner: GatedTool[P, R] | AsyncGatedTool[P, R]

    def __init__(self, *, action_type: str, key: str | None):
        self.action_type = action_type
        self.key = key

    @property
    def fn(self) -> Callable[..., Any]:
        return self.inner.fn

    def idempotency_key(self, tool_call_id: str | None) -> str:
        """The same for every run of one task of one thread (and one tool call in it): a replay of
        the node after its interrupt, a retry, or a run after a restart finds the same action."""
        try:
            configurable = get_config().get("configurable") or {}
        except RuntimeError as exc:
            raise HitlError(f"{self.action_type}: a LangGraph gate runs inside a graph's node or tool.") from exc
        thread = configurable.get("thread_id")
        if thread is None:
            raise HitlError(
                f"{self.action_type}: a LangGraph gate needs a checkpointer and a thread: compile the graph "
                'with checkpointer=... and invoke it with config={"configurable": {"thread_id": ...}}.'
            )
        task = configurable.get("checkpoint_ns", "")
        identity = canonical_json([str(thread), task, tool_call_id, self.action_type, self.key])
        return "langgraph-" + hashlib.sha256(identity).hexdigest()

    def request(self, submitted: Decision, fields: Mapping[str, Any]) -> dict[str, Any]:
        """What the interrupt carries: enough to show, and the id to resume by."""
        return {
            "type": INTERRUPT_TYPE,
            "action_id": submitted.action_id,
            "action_type": self.action_type,
            "status": submitted.status,
            "summary": fields.get("summary"),
            "payload": fields.get("payload"),
            "route": submitted.route,
            "due_at": submitted.raw.get("due_at"),
        }

    def tool_schema(self, name: str) -> type:
        """The tool's arguments (the function's), plus the injected tool call id."""
        schema = create_schema_from_function(name, self.fn)
        return create_model(name, __base__=schema, **{TOOL_CALL_ID: (Annotated[str, InjectedToolCallId], ...)})

    def tool_options(self, name: str | None, description: str | None) -> dict[str, Any]:
        tool_name = name or self.fn.__name__
        return {
            "name": tool_name,
            "description": description or inspect.getdoc(self.fn) or f"{tool_name} (asks a human first)",
            "args_schema": self.tool_schema(tool_name),
            "handle_tool_error": True,  # ToolException → a ToolMessage with status "error"
        }


def refusal(no: ActionRejected | AlreadyRan, action_type: str) -> ToolException:
    """What the model reads when the tool did not run."""
    if isinstance(no, ActionRejected):
        return ToolException(f"{action_type} was not run ({no.status}): {no.reason}")
    return ToolException(f"{action_type} was not run again: {no}")


def recorded(result: Any) -> dict[str, Any]:
    """The outcome's detail: the tool's result when it is JSON and small, for replays to return."""
    try:
        if len(canonical_json(result)) <= RECORDED_MAX:
            return {RESULT: result}
    except (TypeError, ValueError):
        pass
    return {}


def replayed(ran: AlreadyRan, decision: Decision) -> Any:
    """What a replay of a call that ran returns: the result its outcome recorded; else AlreadyRan."""
    detail = (decision.raw.get("outcome") or {}).get("detail") or {}
    if decision.outcome == "executed" and RESULT in detail:
        return detail[RESULT]
    raise ran


class GraphGatedTool(_GraphGate[P, R]):
    """A tool that asks the service first, inside a LangGraph graph with a checkpointer.

    Calling it (in a node, or through `as_tool()` in a ToolNode) submits its arguments, with an
    Idempotency-Key derived from the thread, the task and the tool call; then
    - approved at once (autonomous or post-action route): runs it as `hitl_client`'s gate does;
    - pending: `interrupt()`s with {"type": "hitl_approval", "action_id", ...}; resumed (by
      `wait_for_decisions`, `resume_from_webhook`, or any Command(resume=...): the value only wakes
      it), it reads the action from the service: still pending, it parks again; approved, it
      verifies the receipt, runs the tool with the approved `final_payload` (the reviewer's edit)
      and reports the outcome, with the tool's result when it is small JSON;
    - rejected, expired, cancelled: raises ActionRejected (as a tool: the model reads the reason);
    - already run (LangGraph replaying the node after its outcome was reported): returns the
      recorded result without running the tool again, or raises AlreadyRan if none was recorded;
    - unreachable service, bad receipt: raises; the tool does not run.
    """

    def __init__(self, client: Client, fn: Callable[P, R], *, action_type: str, key: str | None, fields: dict):
        super().__init__(action_type=action_type, key=key)
        self.client = client
        self.inner = GatedTool(client, fn, action_type=action_type, timeout=None, fields=fields)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.call(args, kwargs, tool_call_id=None)

    def call(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, tool_call_id: str | None) -> R:
        fields = self.inner.submit_fields(args, kwargs)
        submitted = self.client.submit(idempotency_key=self.idempotency_key(tool_call_id), **fields)
        action_id = submitted.action_id
        decision = final(submitted)
        if decision is None and not submitted.pending:  # a replayed approval by policy: it may have run since
            decision = self.client.get(action_id)
        while decision is None or decision.pending:
            interrupt(self.request(submitted, fields))  # parks; on resume, the value only wakes the gate
            decision = self.client.get(action_id)  # the service's word, as it is now
        return self.run(action_id, decision)

    def run(self, action_id: str, decision: Decision) -> R:
        """GatedTool's run, the result recorded with the outcome (and returned again on a replay)."""
        try:
            payload = self.inner.runnable(decision)
        except AlreadyRan as ran:
            return replayed(ran, decision)
        self.client.check_receipt(decision, action_type=self.action_type, action_id=action_id)
        try:
            result = self.fn(**payload)
        except Exception as exc:
            self.inner._report(decision, "failed", failure(exc))
            raise
        self.inner._report(decision, "executed", recorded(result))
        return result

    def as_tool(self, *, name: str | None = None, description: str | None = None) -> BaseTool:
        """This gate as a LangChain tool (for ToolNode, create_react_agent, bind_tools): its name
        and description are the function's; a rejection becomes a ToolMessage (status "error")
        with the reviewer's reason."""

        def run(**arguments: Any) -> Any:
            tool_call_id = arguments.pop(TOOL_CALL_ID)
            try:
                return self.call((), arguments, tool_call_id=tool_call_id)
            except (ActionRejected, AlreadyRan) as no:
                raise refusal(no, self.action_type) from no

        return StructuredTool(func=run, **self.tool_options(name, description))


class AsyncGraphGatedTool(_GraphGate[P, R]):
    """GraphGatedTool for AsyncClient and async graphs (`ainvoke`): awaiting the call asks first."""

    def __init__(
        self,
        client: AsyncClient,
        fn: Callable[P, Awaitable[R]] | Callable[P, R],
        *,
        action_type: str,
        key: str | None,
        fields: dict,
    ):
        super().__init__(action_type=action_type, key=key)
        self.client = client
        self.inner = AsyncGatedTool(client, fn, action_type=action_type, timeout=None, fields=fields)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.call(args, kwargs, tool_call_id=None)

    async def call(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, tool_call_id: str | None) -> R:
        fields = self.inner.submit_fields(args, kwargs)
        submitted = await self.client.submit(idempotency_key=self.idempotency_key(tool_call_id), **fields)
        action_id = submitted.action_id
        decision = final(submitted)
        if decision is None and not submitted.pending:
            decision = await self.client.get(action_id)
        while decision is None or decision.pending:
            interrupt(self.request(submitted, fields))
            decision = await self.client.get(action_id)
        return await self.run(action_id, decision)

    async def run(self, action_id: str, decision: Decision) -> R:
        """See GraphGatedTool.run."""
        try:
            payload = self.inner.runnable(decision)
        except AlreadyRan as ran:
            return replayed(ran, decision)
        await self.client.check_receipt(decision, action_type=self.action_type, action_id=action_id)
        try:
            result = self.fn(**payload)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            await self.inner._report(decision, "failed", failure(exc))
            raise
        await self.inner._report(decision, "executed", recorded(result))
        return result

    def as_tool(self, *, name: str | None = None, description: str | None = None) -> BaseTool:
        """See GraphGatedTool.as_tool; the tool is async (run the graph with `ainvoke`)."""

        async def run(**arguments: Any) -> Any:
            tool_call_id = arguments.pop(TOOL_CALL_ID)
            try:
                return await self.call((), arguments, tool_call_id=tool_call_id)
            except (ActionRejected, AlreadyRan) as no:
                raise refusal(no, self.action_type) from no

        return StructuredTool(coroutine=run, **self.tool_options(name, description))


Parked = Mapping[str, Any] | Iterable[Interrupt] | Any


def approval_interrupts(parked: Parked) -> list[Interrupt]:
    """The gate's interrupts the graph is parked on, from what `invoke` returned (its
    "__interrupt__"), a StateSnapshot (`graph.get_state(config)`), or the interrupts themselves."""
    if isinstance(parked, Mapping):
        interrupts: Any = parked.get("__interrupt__", ())
    elif hasattr(parked, "interrupts"):
        interrupts = parked.interrupts
    else:
        interrupts = parked
    return [i for i in interrupts if isinstance(i.value, Mapping) and i.value.get("type") == INTERRUPT_TYPE]


def wait_for_decisions(client: Client, parked: Parked, *, timeout: float | None = None) -> Command:
    """Long-poll the service until every action the graph is parked on is decided (or expires, or
    is cancelled); the Command that resumes the graph, each interrupt with its action's answer:

        result = graph.invoke(inputs, config)
        while approval_interrupts(result):
            result = graph.invoke(wait_for_decisions(hitl, result), config)

    DecisionTimeout after `timeout` seconds: the actions stay pending and the graph parked, so call
    again later (to withdraw an action instead, `client.cancel(action_id)`, then resume)."""
    waiting = _waiting(parked)
    return Command(resume={i.id: client.wait(i.value["action_id"], timeout=timeout).raw for i in waiting})


async def await_decisions(client: AsyncClient, parked: Parked, *, timeout: float | None = None) -> Command:
    """wait_for_decisions for AsyncClient: every action is waited for at once."""
    waiting = _waiting(parked)
    decided = await asyncio.gather(*(client.wait(i.value["action_id"], timeout=timeout) for i in waiting))
    return Command(resume={i.id: d.raw for i, d in zip(waiting, decided, strict=True)})


def resume_from_webhook(parked: Parked, action: Mapping[str, Any]) -> Command | None:
    """The Command that hands a webhook's action (`event["action"]`, once `verify_webhook` passed)
    to the interrupt waiting for it; None if no interrupt waits for that action or it is still
    pending (an `action.escalated` event, say). Like any resume value, the action only wakes the
    gate, which reads the decision from the service:

        snapshot = graph.get_state({"configurable": {"thread_id": thread_of[action["id"]]}})
        if (command := resume_from_webhook(snapshot, event["action"])) is not None:
            graph.invoke(command, snapshot.config)
    """
    if action.get("status") == "pending":
        return None
    matching = [i for i in approval_interrupts(parked) if i.value["action_id"] == str(action.get("id"))]
    return Command(resume={i.id: dict(action) for i in matching}) if matching else None


def _waiting(parked: Parked) -> Sequence[Interrupt]:
    waiting = approval_interrupts(parked)
    if not waiting:
        raise ValueError("The graph is not parked on an approval: no interrupt of hitl_client.langgraph's gate.")
    return waiting
