"""The MCP server: the approval tools (mcpgate.tools) over stdio (`manage.py mcp_server`, as one
agent) or streamable HTTP (mounted at /mcp in the ASGI app, each request carrying its agent's token
as `Authorization: Bearer …`). Built on the official `mcp` SDK's low-level server, so the tools'
schemas are the API's own (mcpgate.schemas) rather than inferred from Python signatures."""

import asyncio

import mcp_types as types
from asgiref.sync import sync_to_async
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.responses import JSONResponse

from hitl.models import Agent
from hitl.selectors import token_principal

from . import tools

NAME = "hitl-approvals"


def build(*, agent: Agent | None = None) -> Server:
    """The server; with `agent`, every call is that agent's (stdio); else each HTTP request's own."""

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(**tool) for tool in tools.definitions()])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = agent or await _agent_of_request(ctx.request)
        if caller is None:  # the ASGI guard refused it already; an unauthenticated stream never gets here
            return _result(tools.Answer({"error": "not_authenticated"}, "An agent token is required.", error=True))
        return _result(await tools.call(caller, params.name, params.arguments or {}))

    return Server(
        NAME,
        instructions="Gate your actions on a human decision: call request_approval before any action with side "
        "effects, and run it only when the answer says approved, with final_payload.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _result(answer: tools.Answer) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=answer.text)],
        structured_content=answer.data,
        is_error=answer.error,
    )


async def _agent_of_request(request) -> Agent | None:
    if request is None:
        return None
    return await agent_of(request.headers.get("authorization", ""))


async def agent_of(header: str) -> Agent | None:
    """The agent whose live token the `Authorization: Bearer …` header carries, or None."""
    scheme, _, raw = header.partition(" ")
    if scheme != "Bearer" or not raw.strip():
        return None
    token = await sync_to_async(token_principal)(raw.strip())
    return token.agent if token is not None and token.agent_id is not None else None


class HttpEndpoint:
    """The streamable-HTTP transport as an ASGI app (hitl.asgi mounts it at /mcp). Stateless: each
    request stands alone, so any web process may answer it. A request without a live agent token is
    a 401 (a reviewer's token a 403), as on the REST API, before anything MCP runs.

    The SDK's session manager runs for the life of the event loop, started by the first request
    (the ASGI server sends no lifespan events to this project's app)."""

    def __init__(self):
        self.managers: dict[asyncio.AbstractEventLoop, StreamableHTTPSessionManager] = {}
        self._running: set[asyncio.Task] = set()

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        manager = self.managers.get(loop)
        if manager is None:
            manager = StreamableHTTPSessionManager(app=build(), json_response=True, stateless=True)
            self.managers[loop] = manager
            started = asyncio.Event()

            async def serve():
                async with manager.run():
                    started.set()
                    await asyncio.Event().wait()  # until the loop ends

            task = loop.create_task(serve())
            self._running.add(task)
            await started.wait()
        return manager

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if await agent_of(header) is None:
                scheme, _, raw = header.partition(" ")
                token = await sync_to_async(token_principal)(raw.strip()) if scheme == "Bearer" and raw else None
                status, body = (
                    (403, {"error": "permission_denied", "message": "This endpoint needs an agent token."})
                    if token is not None
                    else (401, {"error": "not_authenticated", "message": "Send 'Authorization: Bearer <agent token>'."})
                )
                headers = {"WWW-Authenticate": 'Bearer realm="mcp"'} if status == 401 else {}
                await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)
                return
        await (await self._manager()).handle_request(scope, receive, send)
