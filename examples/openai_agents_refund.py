"""An OpenAI Agents SDK refund agent whose refunds wait for a person, against `make run`.

    python manage.py create_agent my-agent        # prints the webhook secret, then the token
    HITL_TOKEN=<token> python examples/openai_agents_refund.py

A scripted model (no LLM, no network: a subclass of the SDK's Model) looks the order up, then asks
for the refund. The refund tool is gated by hitl_client.openai_agents: its needs_approval asks the
service, so the run stops with an interruption until a reviewer of the finance queue decides (log
in at http://127.0.0.1:8000/reviews/ as fiona / fiona-review); `resolve` then approves or rejects
the run's state and the run continues. Approved: the refund runs with what the reviewer approved
(their edit, if any); rejected: the model reads why, and says so.

With `--state FILE` the stopped run is kept in FILE (RunState JSON) while it waits: stop the script
and start it again with the same `--state`, and it resumes the same run, with the same action.
"""

import argparse
import asyncio
import json
import os
import re
import uuid
from pathlib import Path

from agents import Agent, Model, ModelResponse, RunConfig, Runner, RunState, Usage, function_tool
from hitl_client import AsyncClient
from hitl_client.openai_agents import HitlApprovals
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

HITL_URL = os.environ.get("HITL_URL", "http://127.0.0.1:8000")
OFFLINE = RunConfig(tracing_disabled=True)  # no trace export: nothing leaves this machine but the service's calls
ORDERS = {"881": {"order_id": "881", "total": 40.0, "currency": "USD", "customer": "Jane Doe"}}


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up: its total, currency and customer."""
    return json.dumps(ORDERS.get(order_id, {}))


def issue_refund(order_id: str, amount: float, currency: str, reason: str) -> str:
    """Refund an order to the customer's original payment method."""
    return f"Refunded {amount} {currency} on order {order_id}."  # the payments API call would go here


class ScriptedPlanner(Model):
    """The agent's model, scripted: look the order up, ask for its refund, report the answer."""

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, *, previous_response_id, conversation_id, prompt) -> ModelResponse:  # fmt: skip
        input = [{"role": "user", "content": input}] if isinstance(input, str) else input
        outputs = {i["call_id"]: i["output"] for i in input if i.get("type") == "function_call_output"}
        calls = {i["call_id"]: i["name"] for i in input if i.get("type") == "function_call"}
        answered = {calls[call_id]: output for call_id, output in outputs.items()}
        if "issue_refund" in answered:
            said = answered["issue_refund"]
            return reply(said if said.startswith("Refunded") else f"I could not refund: {said}")
        if "lookup_order" in answered:
            order = json.loads(answered["lookup_order"])
            return tool_call("issue_refund", order_id=order["order_id"], amount=order["total"],
                             currency=order["currency"], reason="Arrived damaged.")  # fmt: skip
        request = next(i["content"] for i in input if i.get("role") == "user")
        return tool_call("lookup_order", order_id=re.search(r"order (\w+)", request).group(1))

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("The scripted planner does not stream.")


def tool_call(name: str, **arguments) -> ModelResponse:
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    call = ResponseFunctionToolCall(type="function_call", name=name, call_id=call_id, id=f"fc_{call_id}",
                                    arguments=json.dumps(arguments))  # fmt: skip
    return ModelResponse(output=[call], usage=Usage(), response_id=None)


def reply(text: str) -> ModelResponse:
    content = [ResponseOutputText(type="output_text", text=text, annotations=[])]
    message = ResponseOutputMessage(id=f"msg_{uuid.uuid4().hex[:24]}", type="message", role="assistant",
                                    status="completed", content=content)  # fmt: skip
    return ModelResponse(output=[message], usage=Usage(), response_id=None)


def refund_agent(hitl: AsyncClient) -> tuple[HitlApprovals, Agent]:
    approvals = HitlApprovals(hitl)
    gated_refund = approvals.tool(
        "issue_refund",
        summary=lambda order_id, amount, currency, **_: f"Refund {amount} {currency} for order {order_id}",
        confidence=0.8,
        reasoning="The customer reports the parcel arrived damaged; the order is within the 30-day window.",
    )(issue_refund)
    agent = Agent(name="Refunds", instructions="Refund damaged orders.", model=ScriptedPlanner(),
                  tools=[lookup_order, gated_refund])  # fmt: skip
    return approvals, agent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, help="keep the stopped run here, to resume it after a restart")
    parser.add_argument("--request", default="Order 881 arrived damaged: please refund order 881.")
    args = parser.parse_args()
    async with AsyncClient(HITL_URL, os.environ["HITL_TOKEN"]) as hitl:
        approvals, agent = refund_agent(hitl)
        if args.state and args.state.exists():
            run = await RunState.from_string(agent, args.state.read_text())
        else:
            run = await Runner.run(agent, args.request, run_config=OFFLINE)
        while waiting := await approvals.action_ids(run):
            if args.state:
                args.state.write_text((run if isinstance(run, RunState) else run.to_state()).to_string())
            for action_id in waiting.values():
                print(f"Waiting for a reviewer: {HITL_URL}/reviews/{action_id}/", flush=True)
            run = await Runner.run(agent, await approvals.resolve(run), run_config=OFFLINE)
        if args.state:
            args.state.unlink(missing_ok=True)
        print(run.final_output)


if __name__ == "__main__":
    asyncio.run(main())
