"""An upstream MCP server for the gateway's tests and example: a refund tool with side effects (each
call appended to the file REFUNDS_LOG names) and a harmless lookup."""

import json
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("refunds")


def _log(tool: str, **arguments) -> None:
    with open(os.environ["REFUNDS_LOG"], "a") as log:
        log.write(json.dumps({"tool": tool, **arguments}) + "\n")


@server.tool()
def issue_refund(order_id: str, amount: float, currency: str = "USD") -> str:
    """Refund part or all of an order (moves money)."""
    _log("issue_refund", order_id=order_id, amount=amount, currency=currency)
    return f"refunded {amount} {currency} on order {order_id}"


@server.tool()
def lookup_order(order_id: str) -> str:
    """Read an order (no side effects)."""
    _log("lookup_order", order_id=order_id)
    return f"order {order_id}: 2 items, paid"


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--http":  # streamable HTTP on this port, else stdio
        server.run("streamable-http", port=int(sys.argv[2]))
    else:
        server.run()
