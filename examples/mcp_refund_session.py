"""An MCP client session that asks before it refunds, against `make run`.

    python manage.py create_agent my-agent        # prints the webhook secret, then the token
    HITL_TOKEN=<token> python examples/mcp_refund_session.py

Any MCP client can gate its own actions on the service's MCP server (http://127.0.0.1:8000/mcp, the
agent's token as Bearer). Here a scripted planner (no LLM, no network beyond the service) decides to
refund order 881, calls the `request_approval` tool, and while the answer is `pending` calls
`get_decision` until a reviewer of the finance queue decides (log in at
http://127.0.0.1:8000/reviews/ as fiona / fiona-review). Approved: the refund runs with the approved
`final_payload` (the reviewer's edit, if any) and `report_outcome` says so; rejected: it says why.
"""

import asyncio
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HITL_URL = os.environ.get("HITL_URL", "http://127.0.0.1:8000")
ORDER = {"order_id": "881", "amount": 40.0, "currency": "USD", "reason": "Arrived damaged."}


def issue_refund(order_id: str, amount: float, currency: str, reason: str = "") -> str:
    """The side effect the approval gates (a payments API call would go here)."""
    return f"Refunded {amount} {currency} on order {order_id}."


def plan() -> dict:
    """The scripted planner: what the agent wants to do, as request_approval's arguments."""
    return {
        "action_type": "issue_refund",
        "payload": ORDER,
        "summary": f"Refund {ORDER['amount']} {ORDER['currency']} for order {ORDER['order_id']}",
        "reasoning": "The customer reports the parcel arrived damaged; the order is within the 30-day window.",
        "confidence": 0.8,
        "wait": 0,
    }


async def main() -> str:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {os.environ['HITL_TOKEN']}"}, timeout=60)
    async with Client(streamable_http_client(f"{HITL_URL}/mcp", http_client=http)) as session:
        answer = await session.call_tool("request_approval", plan())
        if answer.is_error:
            return f"The service refused the request: {answer.content[0].text}"
        action = answer.structured_content
        if action["status"] == "pending":
            print(f"Waiting for a reviewer: {HITL_URL}/reviews/{action['id']}/", flush=True)
        while action["status"] == "pending":
            action = (
                await session.call_tool("get_decision", {"action_id": action["id"], "wait": 20})
            ).structured_content
        if action["status"] != "approved":
            comment = (action.get("decision") or {}).get("comment") or "no reason given"
            return f"I could not refund: the request was {action['status']} ({comment})."
        done = issue_refund(**action["final_payload"])
        await session.call_tool("report_outcome", {"action_id": action["id"], "outcome": "executed",
                                                   "detail": {"result": done}})  # fmt: skip
        return done


if __name__ == "__main__":
    print(asyncio.run(main()))
