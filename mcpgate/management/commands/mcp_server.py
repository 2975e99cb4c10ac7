import os

import anyio
from asgiref.sync import async_to_sync, sync_to_async
from django.core.management.base import BaseCommand, CommandError
from mcp.server.stdio import stdio_server

from mcpgate import gateway as gateways
from mcpgate.models import Upstream
from mcpgate.server import agent_of, build


class Command(BaseCommand):
    help = (
        "Serve the approval tools (request_approval, get_decision, report_outcome, cancel) to an MCP client over "
        "stdio, as the agent whose token is in HITL_TOKEN (or --token); over HTTP the same tools are at /mcp. "
        "With --gateway NAME, serve instead the tools of that upstream MCP server (admin: MCP upstreams), the gated "
        "ones running only once approved."
    )

    def add_arguments(self, parser):
        parser.add_argument("--token", help="The agent's API token (default: the HITL_TOKEN environment variable).")
        parser.add_argument("--gateway", metavar="NAME", help="Front this upstream MCP server as a gateway.")

    def handle(self, *args, token=None, gateway=None, **options):
        raw = token or os.environ.get("HITL_TOKEN", "")
        if not raw:
            raise CommandError("Give the agent's token: HITL_TOKEN=<token> or --token <token>.")
        agent = async_to_sync(agent_of)(f"Bearer {raw}")
        if agent is None:
            raise CommandError("That token is not a live agent token (unknown, revoked, or a reviewer's).")
        upstream = None
        if gateway is not None:
            upstream = Upstream.objects.filter(name=gateway, is_active=True).first()
            if upstream is None:
                known = ", ".join(Upstream.objects.filter(is_active=True).values_list("name", flat=True)) or "none"
                raise CommandError(f"No active MCP upstream named {gateway!r} (known: {known}).")

        async def serve():
            if upstream is None:
                server = build(agent=agent)
                async with stdio_server() as (read, write):
                    await server.run(read, write, server.create_initialization_options())
                return
            async with gateways.upstream_client(upstream) as client:
                server = await sync_to_async(gateways.build)(agent=agent, upstream=upstream, client=client)
                async with stdio_server() as (read, write):
                    await server.run(read, write, server.create_initialization_options())

        anyio.run(serve)
