import os

import anyio
from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError
from mcp.server.stdio import stdio_server

from mcpgate.server import agent_of, build


class Command(BaseCommand):
    help = (
        "Serve the approval tools (request_approval, get_decision, report_outcome, cancel) to an MCP client over "
        "stdio, as the agent whose token is in HITL_TOKEN (or --token). Over HTTP the same tools are at /mcp."
    )

    def add_arguments(self, parser):
        parser.add_argument("--token", help="The agent's API token (default: the HITL_TOKEN environment variable).")

    def handle(self, *args, token=None, **options):
        raw = token or os.environ.get("HITL_TOKEN", "")
        if not raw:
            raise CommandError("Give the agent's token: HITL_TOKEN=<token> or --token <token>.")
        agent = async_to_sync(agent_of)(f"Bearer {raw}")
        if agent is None:
            raise CommandError("That token is not a live agent token (unknown, revoked, or a reviewer's).")
        server = build(agent=agent)

        async def serve():
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(serve)
