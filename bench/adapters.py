"""Overhead of the framework adapters (hitl_client.langgraph, hitl_client.openai_agents) on an
action the policy approves at once, against a direct hitl_client call, side by side in one run.

Serves the app as bench/roundtrip.py does (uvicorn, production settings, DEBUG off, one worker) and
times, in alternating order every round, one gated call of an `update_preference` tool that the
policy approves at once (submit, receipt check, the tool, the outcome report: two requests):
  direct            hitl_client's gate (Client.gate), called as a function;
  langgraph direct  a LangGraph ToolNode (InMemorySaver) whose tool calls hitl_client's gate;
  langgraph         the same graph with hitl_client.langgraph's gated tool instead;
  async direct      hitl_client's gate for AsyncClient, awaited;
  agents direct     the Agents SDK (Runner.run, a scripted model: a tool call, then an answer) whose
                    function tool calls hitl_client's async gate;
  agents            the same agent with hitl_client.openai_agents' gated tool (its needs_approval
                    submits; the tool runs with the decision it kept).
Ratios per round, then their median and quartiles: each adapter against the same framework calling
hitl_client directly (the adapter's own overhead; goal <= 1.2 x), and against the bare call (what
the framework and the adapter add together to the gate).

    .venv/bin/python bench/adapters.py --rounds 200
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage, function_tool
from hitl_client import AsyncClient, Client
from hitl_client.langgraph import gate as graph_gate
from hitl_client.openai_agents import HitlApprovals
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import prepare, server_env, serving  # noqa: E402

FIELDS = {"summary": "Unsubscribe the customer from the newsletter", "confidence": 0.99}
OFFLINE = RunConfig(tracing_disabled=True)
RAN: list[str] = []


def update_preference(user_id: str, key: str, value: bool) -> str:
    """Set one of a customer's preferences."""
    RAN.append(user_id)
    return f"{key}={value} for {user_id}"


def arguments(seq: int, series: str) -> dict:
    return {"user_id": f"cust_{series}_{seq}", "key": "newsletter", "value": False}


class ToolGraph:
    """START → a ToolNode → END, checkpointed in memory: each call is a new thread whose input is an
    AI message with the one tool call."""

    def __init__(self, langchain_tool):
        graph = StateGraph(MessagesState)
        graph.add_node("tools", ToolNode([langchain_tool]))
        graph.add_edge(START, "tools")
        graph.add_edge("tools", END)
        self.graph = graph.compile(checkpointer=InMemorySaver())

    def __call__(self, args: dict) -> None:
        call = {"name": "update_preference", "args": args, "id": f"call_{uuid.uuid4().hex}"}
        done = self.graph.invoke({"messages": [AIMessage("", tool_calls=[call])]},
                                 {"configurable": {"thread_id": str(uuid.uuid4())}})  # fmt: skip
        if "__interrupt__" in done or done["messages"][-1].status != "success":
            raise SystemExit(f"the graph did not run the tool at once: {done}")


class OneCall(Model):
    """A scripted model: the tool call it is given, then an answer."""

    def __init__(self):
        self.next: dict = {}

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, *, previous_response_id, conversation_id, prompt) -> ModelResponse:  # fmt: skip
        if not any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in input):
            call_id = f"call_{uuid.uuid4().hex}"
            call = ResponseFunctionToolCall(type="function_call", name="update_preference", call_id=call_id,
                                            id=f"fc_{call_id}", arguments=json.dumps(self.next))  # fmt: skip
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text="done", annotations=[])
        message = ResponseOutputMessage(id="msg_1", type="message", role="assistant", status="completed",
                                        content=[text])  # fmt: skip
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError


class AgentRun:
    def __init__(self, function_tool_):
        self.model = OneCall()
        self.agent = Agent(name="prefs", instructions="", model=self.model, tools=[function_tool_])

    async def __call__(self, args: dict) -> None:
        self.model.next = args
        done = await Runner.run(self.agent, "unsubscribe", run_config=OFFLINE)
        if done.interruptions or done.final_output != "done":
            raise SystemExit(f"the run did not run the tool at once: {done.interruptions} {done.final_output}")


def series(client: Client, aclient: AsyncClient) -> list[tuple[str, object]]:
    direct = client.gate("update_preference", **FIELDS)(update_preference)
    adirect = aclient.gate("update_preference", **FIELDS)(update_preference)

    @tool("update_preference")
    def through_sdk(user_id: str, key: str, value: bool) -> str:
        """Set one of a customer's preferences."""
        return direct(user_id=user_id, key=key, value=value)

    @function_tool(name_override="update_preference")
    async def through_async_sdk(user_id: str, key: str, value: bool) -> str:
        """Set one of a customer's preferences."""
        return await adirect(user_id=user_id, key=key, value=value)

    adapted = graph_gate(client, "update_preference", **FIELDS)(update_preference).as_tool()
    approvals = HitlApprovals(aclient)
    return [
        ("direct", lambda args: direct(**args)),
        ("langgraph direct", ToolGraph(through_sdk)),
        ("langgraph", ToolGraph(adapted)),
        ("async direct", lambda args: adirect(**args)),
        ("agents direct", AgentRun(through_async_sdk)),
        ("agents", AgentRun(approvals.tool("update_preference", **FIELDS)(update_preference))),
    ]


async def measure(url: str, token: str, rounds: int, warmup: int) -> dict[str, list[float]]:
    with Client(url, token) as client:
        async with AsyncClient(url, token) as aclient:
            first = client.submit(action_type="update_preference", payload=arguments(-1, "first"), summary="First",
                                  confidence=0.99)  # fmt: skip  # an agent's first action of a type is reviewed
            if not first.pending:
                raise SystemExit(f"the first action was {first.status}, not pending: {first.route}")
            timed = series(client, aclient)
            timings: dict[str, list[float]] = {name: [] for name, _ in timed}
            for seq in range(warmup + rounds):
                for name, call in timed if seq % 2 == 0 else reversed(timed):
                    started = time.perf_counter()
                    done = call(arguments(seq, name.replace(" ", "_")))
                    if asyncio.iscoroutine(done):
                        await done
                    if seq >= warmup:
                        timings[name].append(time.perf_counter() - started)
    if len(RAN) != (warmup + rounds) * len(timed):
        raise SystemExit(f"{len(RAN)} tool runs for {(warmup + rounds) * len(timed)} calls")
    return timings


def spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    low, mid, high = statistics.quantiles(values, n=4)
    return f"median {mid * scale:6.2f}{unit}  (quartiles {low * scale:6.2f}–{high * scale:6.2f})"


def report(timings: dict[str, list[float]], args) -> None:
    print()
    for name, values in timings.items():
        print(f"{name:17} {spread(values, 1000, ' ms')}")
    print()
    for label, ours, theirs, goal in (
        ("langgraph / langgraph direct", "langgraph", "langgraph direct", 1.2),
        ("agents / agents direct", "agents", "agents direct", 1.2),
        ("langgraph / direct", "langgraph", "direct", None),
        ("agents / async direct", "agents", "async direct", None),
        ("langgraph direct / direct", "langgraph direct", "direct", None),
        ("agents direct / async direct", "agents direct", "async direct", None),
    ):
        ratios = [a / b for a, b in zip(timings[ours], timings[theirs], strict=True)]
        target = f"  goal <= {goal:.1f}" if goal else ""
        print(f"{label:30} per-round ratio {spread(ratios)}{target}")
    print(
        f"\nsetup: uvicorn --workers 1, DEBUG off, httpx keep-alive, an update_preference the policy approves "
        f"at once, {args.rounds} rounds after {args.warmup} warm-up rounds, series in alternating order; "
        "LangGraph with InMemorySaver, the Agents SDK with a scripted model and tracing off"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db", default="hitl_bench_adapters")
    args = parser.parse_args()

    env = {**server_env(args.db), "HITL_API_RATE_PER_TOKEN": "1000000/minute"}  # one token, thousands of calls
    token = prepare(env, args.db)
    with serving(env, workers=1) as (_, port):
        timings = asyncio.run(measure(f"http://127.0.0.1:{port}", token, args.rounds, args.warmup))
    report(timings, args)


if __name__ == "__main__":
    main()
