"""The MCP gateway: an MCP server in front of an upstream MCP server. Its tools are the upstream's;
a call to a gated one (GatedTool) becomes an action, routed like any other, and reaches the upstream
only once approved, with the approved arguments and after the approval's receipt verifies, exactly
once (GatewayRun). Every other tool passes through. A call still waiting when the bounded wait ends
answers with the action's id, and the gateway's own `await_approval` tool picks it up from there."""

import json
import shlex
from typing import Any

import httpx2
import mcp_types as types
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from hitl_client.receipts import ReceiptInvalid, verify_receipt
from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server

from hitl import receipts, services
from hitl.api import intake
from hitl.api.serializers import ActionSubmitIn
from hitl.errors import NotFound
from hitl.models import Action, Agent
from hitl.states import Decision, Outcome, Status

from . import tools
from .models import GatedTool, GatewayRun, Upstream

AWAIT = "await_approval"


def upstream_client(upstream: Upstream) -> Client:
    """An MCP client of the upstream server, to enter (`async with`) for the gateway's lifetime."""
    if upstream.transport == Upstream.Transport.STDIO:
        command, *args = shlex.split(upstream.command)
        env = {**get_default_environment(), **(upstream.environment or {})}
        return Client(StdioServerParameters(command=command, args=args, env=env))
    headers = {"Authorization": upstream.authorization} if upstream.authorization else {}
    return Client(streamable_http_client(upstream.url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)))


def build(*, agent: Agent, upstream: Upstream, client: Client) -> Server:
    """The gateway's server, for `agent`, in front of `upstream` (reached through the open `client`)."""
    gated = {t.tool: t for t in GatedTool.objects.filter(upstream=upstream).select_related("action_type")}

    async def list_tools(ctx, params) -> types.ListToolsResult:
        listed = (await client.list_tools()).tools
        shown = []
        for tool in listed:
            if tool.name in gated:
                key = gated[tool.name].action_type.key
                note = f" (Runs only once approved: a person may review it first, as `{key}`.)"
                # No output schema: a call that is refused or still waiting answers in words only.
                tool = tool.model_copy(update={"description": (tool.description or "") + note, "output_schema": None})
            shown.append(tool)
        waiting = {
            "type": "object",
            "properties": {"action_id": tools.ACTION_ID, "wait": tools.wait_schema()},
            "required": ["action_id"],
        }
        description = (
            "Wait for the decision on a gated call that answered `pending`, and run it once approved, with the "
            "approved arguments. Returns the tool's result, or why it did not run."
        )
        return types.ListToolsResult(
            tools=[*shown, types.Tool(name=AWAIT, description=description, input_schema=waiting)]
        )

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult | Any:
        arguments = dict(params.arguments or {})
        if params.name == AWAIT:
            return await _await(agent, gated, client, arguments)
        if params.name not in gated:
            return await client.call_tool(params.name, arguments)  # ungated: passes through
        return await _gated_call(agent, gated[params.name], client, arguments)

    return Server(f"hitl-gateway-{upstream.name}", on_list_tools=list_tools, on_call_tool=call_tool)


async def _gated_call(agent: Agent, tool: GatedTool, client: Client, arguments: dict) -> types.CallToolResult:
    def submit():
        data = {
            "action_type": tool.action_type.key,
            "payload": tool.payload_of(arguments),
            "summary": tool.summary_of(arguments),
            "confidence": tool.confidence,
            "context": {"tool_calls": [{"server": tool.upstream.name, "tool": tool.tool, "arguments": arguments}]},
        }
        serializer = ActionSubmitIn(data=data)
        serializer.is_valid(raise_exception=True)
        return intake.submit(agent=agent, data=serializer.validated_data, raw=data, key=None)[0]

    try:
        body = await sync_to_async(submit)()
    except Exception as problem:  # a payload the type's schema refuses: the tool error names the field
        answer = tools.error_answer(problem)
        if answer is None:
            raise
        return _error(answer.text)
    return await _await(agent, {tool.tool: tool}, client, {"action_id": body["id"]})


async def _await(agent: Agent, gated: dict, client: Client, arguments: dict) -> types.CallToolResult:
    try:
        action_id = tools.action_id_of(arguments)
        wait = tools.seconds_of(arguments.get("wait", settings.HITL_MCP_DEFAULT_WAIT_SECONDS))
        action = await intake.action_awaited(agent=agent, action_id=action_id, wait=wait)
    except Exception as problem:
        answer = tools.error_answer(problem)
        if answer is None:
            raise
        return _error(answer.text)
    tool = await sync_to_async(_gated_tool_of)(action, gated)
    if tool is None:
        return _error(f"Action {action.pk} is not a call through this gateway.")
    if action.status == Status.PENDING:
        return _text(
            f"Waiting for a reviewer to approve {tool.tool} (action {action.pk}). Call {AWAIT} with action_id "
            f"{action.pk} to wait for the decision; the tool runs only once approved."
        )
    if action.status != Status.APPROVED:
        reason = action.decision_comment or "no reason given"
        return _error(f"Not run: the call was {action.decision or action.status} ({reason}).")
    return await _run(agent, tool, client, action)


def _gated_tool_of(action: Action, gated: dict) -> GatedTool | None:
    calls = (action.context or {}).get("tool_calls") or [{}]
    tool = gated.get(calls[0].get("tool"))
    return tool if tool is not None and tool.action_type_id == action.action_type_id else None


async def _run(agent: Agent, tool: GatedTool, client: Client, action: Action) -> types.CallToolResult:
    """Call the upstream once, with the approved payload, after its receipt verifies."""
    payload = action.final_payload
    try:
        verify_receipt(action.receipt, action_id=str(action.pk), action_type=tool.action_type.key, payload=payload,
                       jwks=receipts.public_jwks())  # fmt: skip
    except ReceiptInvalid as problem:  # fail closed
        return _error(f"Not run: the approval's receipt does not verify ({problem}).")
    arguments = tool.arguments_of(payload)
    claimed = await sync_to_async(_claim)(action, tool, arguments)
    if claimed is None:
        done = await sync_to_async(GatewayRun.objects.get)(action=action)
        return _text(f"Already run for action {action.pk}: {json.dumps(done.result, default=str)}")
    result = await client.call_tool(tool.tool, arguments)
    outcome = Outcome.FAILED if result.is_error else Outcome.EXECUTED
    await sync_to_async(_finish)(agent, action, claimed, result, outcome)
    if action.decision == Decision.MODIFIED:
        edited = types.TextContent(
            type="text", text=f"A reviewer changed the arguments; it ran with {json.dumps(arguments)}."
        )
        result = result.model_copy(update={"content": [*result.content, edited]})
    return result


def _claim(action: Action, tool: GatedTool, arguments: dict) -> GatewayRun | None:
    try:
        with transaction.atomic():
            return GatewayRun.objects.create(action=action, tool=tool, arguments=arguments)
    except IntegrityError:  # run already (a retry, another session)
        return None


def _finish(agent: Agent, action: Action, run: GatewayRun, result, outcome: str) -> None:
    run.result = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    run.save(update_fields=["result"])
    try:
        services.action_outcome_report(agent=agent, action_id=action.pk, outcome=outcome,
                                       detail={"gateway_run": run.pk})  # fmt: skip
    except NotFound:
        pass


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
