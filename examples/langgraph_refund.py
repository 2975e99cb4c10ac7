"""A LangGraph refund agent whose refunds wait for a person, against `make run`.

    python manage.py create_agent my-agent        # prints the webhook secret, then the token
    HITL_TOKEN=<token> python examples/langgraph_refund.py

A scripted planner (no LLM, no network) looks the order up, then asks for the refund; the refund
tool is gated by hitl_client.langgraph, so the graph parks on interrupt() until a reviewer of the
finance queue decides (log in at http://127.0.0.1:8000/reviews/ as fiona / fiona-review). Approved:
the refund runs, with the reviewer's edit if any; rejected: the planner reads why, and says so.

The graph parks in its checkpointer: PostgresSaver when CHECKPOINT_DATABASE_URL is set (a
PostgreSQL URL), else an in-memory one. With PostgreSQL, stop the script while it waits and start
it again with the same `--thread`: it resumes where it stopped, with the same action.
"""

import argparse
import json
import os
import re
import uuid
from contextlib import contextmanager

from hitl_client import Client
from hitl_client.langgraph import approval_interrupts, gate, wait_for_decisions
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

HITL_URL = os.environ.get("HITL_URL", "http://127.0.0.1:8000")
ORDERS = {"881": {"order_id": "881", "total": 40.0, "currency": "USD", "customer": "Jane Doe"}}


@tool
def lookup_order(order_id: str) -> dict:
    """Look an order up: its total, currency and customer."""
    return ORDERS.get(order_id, {})


def issue_refund(order_id: str, amount: float, currency: str = "USD", reason: str = "") -> str:
    """Refund an order to the customer's original payment method."""
    return f"Refunded {amount} {currency} on order {order_id}."  # the payments API call would go here


def planner(state: MessagesState) -> dict:
    """The agent's model, scripted: look the order up, ask for its refund, report the answer."""
    last = state["messages"][-1]
    if isinstance(last, HumanMessage):
        order_id = re.search(r"order (\w+)", last.content).group(1)
        return {"messages": [AIMessage("", tool_calls=[call("lookup_order", order_id=order_id)])]}
    if last.name == "lookup_order":
        order = json.loads(last.content)
        refund = call("issue_refund", order_id=order["order_id"], amount=order["total"], currency=order["currency"],
                      reason="Arrived damaged.")  # fmt: skip
        return {"messages": [AIMessage("", tool_calls=[refund])]}
    said = last.content if last.status == "success" else f"I could not refund: {last.content}"
    return {"messages": [AIMessage(said)]}


def call(name: str, **args) -> dict:
    """A tool call as a model makes one, with an id of its own."""
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:24]}"}


def refund_agent(hitl: Client, checkpointer):
    """The graph: the planner and a ToolNode with the lookup and the gated refund."""
    gated_refund = gate(
        hitl,
        "issue_refund",
        summary=lambda order_id, amount, currency, **_: f"Refund {amount} {currency} for order {order_id}",
        confidence=0.8,
        reasoning="The customer reports the parcel arrived damaged; the order is within the 30-day window.",
    )(issue_refund)
    graph = StateGraph(MessagesState)
    graph.add_node("planner", planner)
    graph.add_node("tools", ToolNode([lookup_order, gated_refund.as_tool()]))
    graph.add_edge(START, "planner")
    graph.add_conditional_edges("planner", tools_condition)
    graph.add_edge("tools", "planner")
    return graph.compile(checkpointer=checkpointer)


@contextmanager
def checkpointer():
    url = os.environ.get("CHECKPOINT_DATABASE_URL")
    if not url:
        yield InMemorySaver()
        return
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        yield saver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thread", default=str(uuid.uuid4()), help="the conversation to start or resume")
    parser.add_argument("--request", default="Order 881 arrived damaged: please refund order 881.")
    args = parser.parse_args()
    config = {"configurable": {"thread_id": args.thread}}
    with Client(HITL_URL, os.environ["HITL_TOKEN"]) as hitl, checkpointer() as saver:
        agent = refund_agent(hitl, saver)
        parked = agent.get_state(config)
        result = parked if approval_interrupts(parked) else agent.invoke({"messages": [args.request]}, config)
        while waiting := approval_interrupts(result):
            for request in waiting:
                print(f"Thread {args.thread} waits for a reviewer: {request.value['summary']} "
                      f"({HITL_URL}/reviews/{request.value['action_id']}/)", flush=True)  # fmt: skip
            result = agent.invoke(wait_for_decisions(hitl, result), config)
        print(result["messages"][-1].content)


if __name__ == "__main__":
    main()
