"""Latency of one gated action: the service's round trip against LangGraph's interrupt() and
Command(resume=…) with PostgresSaver on the same PostgreSQL, side by side in one run.

Serves the app as bench/intake.py does (uvicorn, production settings, DEBUG off; one worker here)
and times, in alternating order every round:
  plain      submit a pre-action action, a reviewer approves it through the API, the agent GETs it;
  long-poll  the same, with the agent's GET ?wait=… parked before the decision is sent;
  autonomous a submit the policy approves at once;
  sdk        the long-poll round trip through hitl_client (submit with its Idempotency-Key, wait,
             verify the approval's receipt);
  langgraph  a graph whose node calls interrupt(): invoke until the interrupt, invoke the resume;
  webhook    a pre-action submit with a callback_url, a reviewer's approval, and the signed webhook
             reaching a receiver in this process on loopback, sent by a Celery worker (--pool
             solo) as in production: from the decision's answer (the commit is just before it) to
             the webhook's arrival. Reported as p50 and p99; not part of the ratios.
A round trip excludes the reviewer's thinking: with the long-poll it is the submit plus the time from
sending the decision to the agent's answer. Every request goes over httpx keep-alive connections
(the SDK's own, for the sdk series).
  floor      the stack alone: three requests (and one) to the bare view bench/intake.py compares
             intake with, a single INSERT each, no authentication, validation or transaction.
Goals: round trip <= 1.0 x LangGraph, autonomous submit <= 0.3 x LangGraph. The floor shows how much
of each goal the web stack (uvicorn, Django, a PostgreSQL round trip per request) leaves to the gate.

    make bench            # or: .venv/bin/python bench/roundtrip.py --rounds 150
"""

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

import httpx
import psycopg
from hitl_client import AsyncClient
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import ADMIN_URL, database_url, manage  # noqa: E402
from bench.intake import prepare, server_env, serving  # noqa: E402
from demo import data as demo  # noqa: E402

PARK_SECONDS = 0.05  # given to the long-poll to reach the server and subscribe, outside the timing
APPROVE = json.dumps({"decision": "approve"}).encode()


def bodies(rng: random.Random, seq: int) -> tuple[bytes, bytes]:
    """A submit that waits for a reviewer (an email: irreversible, so pre-action) and one the policy
    approves at once (a reversible preference change, confident)."""
    email = {**demo.proposal(rng, seq), "confidence": 0.95}
    while email["action_type"] != "send_email":
        email = {**demo.proposal(rng, seq), "confidence": 0.95}
    preference = {
        "action_type": "update_preference",
        "payload": {"user_id": f"cust_{seq}", "key": "newsletter", "value": False},
        "summary": "Unsubscribe the customer from the newsletter",
        "reasoning": email["reasoning"],
        "context": email["context"],
        "confidence": 0.99,
        "entity": {"id": f"cust_{seq}", "tags": []},
        "task_id": f"ticket-{seq}",
    }
    return json.dumps(email).encode(), json.dumps(preference).encode()


class Service:
    """The agent's and the reviewer's keep-alive clients of one server."""

    def __init__(self, port: int, agent_token: str, reviewer_token: str, receiver: "Receiver"):
        base = f"http://127.0.0.1:{port}"
        self.receiver = receiver
        json_type = {"Content-Type": "application/json"}
        self.agent = httpx.AsyncClient(base_url=base, headers={**json_type, "Authorization": f"Bearer {agent_token}"})
        self.reviewer = httpx.AsyncClient(
            base_url=base, headers={**json_type, "Authorization": f"Bearer {reviewer_token}"}
        )
        self.sdk_agent = AsyncClient(base, agent_token)

    async def aclose(self) -> None:
        await self.agent.aclose()
        await self.reviewer.aclose()
        await self.sdk_agent.aclose()

    async def submit(self, body: bytes, expect: str) -> str:
        answer = _expect(await self.agent.post("/api/v1/actions", content=body), 201)
        if answer["status"] != expect:
            raise SystemExit(f"a submit answered {answer['status']}, not {expect}: {answer['route']}")
        return answer["id"]

    async def decide(self, action_id: str) -> None:
        _expect(await self.reviewer.post(f"/api/v1/actions/{action_id}/decision", content=APPROVE), 200)

    async def get(self, action_id: str, wait: int = 0) -> None:
        params = {"wait": wait} if wait else None
        answer = _expect(await self.agent.get(f"/api/v1/actions/{action_id}", params=params), 200)
        if answer["status"] != "approved":
            raise SystemExit(f"the agent saw {answer['status']} after the approval")

    async def plain(self, body: bytes) -> dict[str, float]:
        """Submit, decision, GET: each step's seconds and the round trip's."""
        started = time.perf_counter()
        action_id = await self.submit(body, "pending")
        submitted = time.perf_counter()
        await self.decide(action_id)
        decided = time.perf_counter()
        await self.get(action_id)
        seen = time.perf_counter()
        return {
            "submit": submitted - started,
            "decision": decided - submitted,
            "get": seen - decided,
            "round trip": seen - started,
        }

    async def long_poll(self, body: bytes) -> dict[str, float]:
        """Submit, park GET ?wait=30, send the decision: the submit plus decision-to-answer."""
        started = time.perf_counter()
        action_id = await self.submit(body, "pending")
        submitted = time.perf_counter()
        poll = asyncio.create_task(self.get(action_id, wait=30))
        await asyncio.sleep(PARK_SECONDS)
        if poll.done():
            poll.result()
            raise SystemExit("the long-poll answered before the decision")
        deciding = time.perf_counter()
        await self.decide(action_id)
        decided = time.perf_counter()
        await poll
        seen = time.perf_counter()
        return {
            "submit": submitted - started,
            "decision": decided - deciding,
            "wake-up": seen - decided,
            "round trip": (submitted - started) + (seen - deciding),
        }

    async def sdk(self, body: bytes) -> dict[str, float]:
        """The long-poll round trip as an agent using hitl_client makes it, receipt checked."""
        started = time.perf_counter()
        submitted = await self.sdk_agent.submit(**json.loads(body))
        if not submitted.pending:
            raise SystemExit(f"an SDK submit answered {submitted.status}, not pending")
        after_submit = time.perf_counter()
        waiting = asyncio.create_task(self.sdk_agent.wait(submitted.action_id, timeout=30))
        await asyncio.sleep(PARK_SECONDS)
        deciding = time.perf_counter()
        await self.decide(submitted.action_id)
        decided = time.perf_counter()
        decision = await waiting
        if not decision.approved:
            raise SystemExit(f"the SDK saw {decision.status} after the approval")
        await self.sdk_agent.check_receipt(
            decision, action_type=json.loads(body)["action_type"], action_id=submitted.action_id
        )
        seen = time.perf_counter()
        return {
            "submit": after_submit - started,
            "decision": decided - deciding,
            "wake-up": seen - decided,
            "round trip": (after_submit - started) + (seen - deciding),
        }

    async def webhook(self, body: bytes) -> dict[str, float]:
        """Submit with a callback_url, approve: the decision's answer to the webhook's arrival."""
        action_id = await self.submit(self.receiver.addressed(body), "pending")
        arrived = self.receiver.expect(action_id)
        await self.decide(action_id)
        decided = time.perf_counter()
        return {"delivery": await asyncio.wait_for(arrived, 30) - decided}

    async def floor(self, body: bytes) -> dict[str, float]:
        """What the stack costs before the gate does anything: as many requests as a round trip
        makes, each to the bare view (one INSERT, no authentication, validation or transaction)."""
        started = time.perf_counter()
        _expect(await self.agent.post("/bench/bare", content=body), 201)
        one = time.perf_counter()
        for _ in range(2):
            _expect(await self.agent.post("/bench/bare", content=body), 201)
        return {"one request": one - started, "three requests": time.perf_counter() - started}

    async def autonomous(self, body: bytes) -> dict[str, float]:
        started = time.perf_counter()
        await self.submit(body, "approved")
        return {"submit": time.perf_counter() - started}


class Receiver:
    """The agent's callback endpoint, on loopback in this process: notes when each action's webhook
    arrives (any event) and answers 200."""

    def __init__(self):
        self.waiting: dict[str, asyncio.Future] = {}
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hitl/callback"

    def addressed(self, body: bytes) -> bytes:
        return json.dumps({**json.loads(body), "callback_url": self.url}).encode()

    def expect(self, action_id: str) -> asyncio.Future:
        self.waiting[action_id] = asyncio.get_running_loop().create_future()
        return self.waiting[action_id]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                arrived = time.perf_counter()
                future = self.waiting.pop(json.loads(body)["action"]["id"], None)
                if future is not None and not future.done():
                    future.set_result(arrived)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextmanager
def celery_worker(env):
    """A Celery worker with `env`, as production runs one (solo pool: one task at a time)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hitl", "worker", "--pool", "solo", "--loglevel", "warning"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(10)


def _expect(response: httpx.Response, status: int) -> dict:
    if response.status_code != status:
        request = response.request
        raise SystemExit(f"{request.method} {request.url.path}: {response.status_code} {response.text}")
    return response.json()


class GateState(TypedDict):
    action: dict
    decision: dict


def gate(state: GateState) -> dict:
    """The graph's approval gate: stop for a human, carry on with their answer."""
    return {"decision": interrupt({"action": state["action"]})}


class LangGraphGate:
    """A compiled one-node graph whose node interrupts, checkpointed by PostgresSaver on its own
    database of the same PostgreSQL, over one open connection (as LangGraph's docs set it up)."""

    def __init__(self, db_name: str):
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{db_name}"')
        self.conn = psycopg.connect(database_url(db_name), autocommit=True, prepare_threshold=0, row_factory=dict_row)
        saver = PostgresSaver(self.conn)
        saver.setup()
        graph = StateGraph(GateState)
        graph.add_node("gate", gate)
        graph.add_edge(START, "gate")
        graph.add_edge("gate", END)
        self.graph = graph.compile(checkpointer=saver)

    def close(self) -> None:
        self.conn.close()

    async def round_trip(self, body: bytes) -> dict[str, float]:
        """Invoke until the interrupt, then resume with an approval, on a new thread. Synchronous
        inside (PostgresSaver's way): it holds the loop, which has nothing else to do meanwhile."""
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        started = time.perf_counter()
        paused = self.graph.invoke({"action": json.loads(body)}, config)
        interrupted = time.perf_counter()
        done = self.graph.invoke(Command(resume={"decision": "approve"}), config)
        finished = time.perf_counter()
        if "__interrupt__" not in paused or done["decision"] != {"decision": "approve"}:
            raise SystemExit(f"the graph did not stop and resume: {paused} {done}")
        return {"interrupt": interrupted - started, "resume": finished - interrupted, "round trip": finished - started}


async def measure(service: Service, langgraph: LangGraphGate, rounds: int, warmup: int) -> dict[str, list[dict]]:
    """Every series once per round, in an order that alternates; the warm-up rounds dropped."""
    rng = random.Random(7)
    # (name, a coroutine timing one round on a body, which body: 0 pre-action, 1 autonomous). A
    # new figure, such as webhook delivery latency, is one more series here and its method.
    series = [
        ("plain", service.plain, 0),
        ("long-poll", service.long_poll, 0),
        ("sdk", service.sdk, 0),
        ("autonomous", service.autonomous, 1),
        ("langgraph", langgraph.round_trip, 0),
        ("webhook", service.webhook, 0),
        ("floor", service.floor, 0),
    ]
    await service.submit(bodies(rng, -1)[1], "pending")  # an agent's first action of a type is reviewed
    timings: dict[str, list[dict]] = {name: [] for name, _, _ in series}
    for seq in range(warmup + rounds):
        pair = bodies(rng, seq)
        for name, run, which in series if seq % 2 == 0 else reversed(series):
            result = await run(pair[which])
            if seq >= warmup:
                timings[name].append(result)
    return timings


def spread(values: list[float]) -> str:
    """Median and quartiles, in milliseconds."""
    low, mid, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"median {mid * 1000:6.2f} ms  (quartiles {low * 1000:6.2f}–{high * 1000:6.2f})"


def report(timings: dict[str, list[dict]], args) -> None:
    def steps(name: str, step: str) -> list[float]:
        return [t[step] for t in timings[name]]

    print()
    for name, runs in timings.items():
        for step in runs[0]:
            print(f"{name:11} {step:11} {spread(steps(name, step))}")
    baseline = steps("langgraph", "round trip")
    print()
    for label, name, step, goal in (
        ("pre-action round trip, plain GET / LangGraph", "plain", "round trip", 1.0),
        ("pre-action round trip, long-poll / LangGraph", "long-poll", "round trip", 1.0),
        ("pre-action round trip, SDK / LangGraph", "sdk", "round trip", 1.0),
        ("autonomous submit / LangGraph", "autonomous", "submit", 0.3),
        ("floor: three bare requests / LangGraph", "floor", "three requests", None),
        ("floor: one bare request / LangGraph", "floor", "one request", None),
    ):
        ratios = [ours / theirs for ours, theirs in zip(steps(name, step), baseline, strict=True)]
        low, _, high = statistics.quantiles(ratios, n=4)
        ratio = statistics.median(steps(name, step)) / statistics.median(baseline)
        target = f"  goal <= {goal:.1f}" if goal else ""
        print(f"{label:46} {ratio:.2f}  (per-round quartiles {low:.2f}–{high:.2f}){target}")
    latency = sorted(steps("webhook", "delivery"))
    p99 = latency[min(len(latency) - 1, round(0.99 * (len(latency) - 1)))]
    print(
        f"webhook delivery, decision to receiver: p50 {statistics.median(latency) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms (Celery worker, loopback)"
    )
    print(
        f"setup: uvicorn --workers 1, DEBUG off, httpx keep-alive, {args.rounds} rounds after {args.warmup} "
        "warm-up rounds, series in alternating order; LangGraph's PostgresSaver on the same PostgreSQL"
    )


async def run(port: int, agent_token: str, reviewer_token: str, args) -> dict[str, list[dict]]:
    receiver = Receiver()
    await receiver.start()
    service = Service(port, agent_token, reviewer_token, receiver)
    langgraph = LangGraphGate(args.langgraph_db)
    try:
        return await measure(service, langgraph, args.rounds, args.warmup)
    finally:
        await service.aclose()
        langgraph.close()
        receiver.server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db", default="hitl_bench_roundtrip")
    parser.add_argument("--langgraph-db", default="hitl_bench_langgraph")
    args = parser.parse_args()

    env = {**server_env(args.db), "HITL_OUTBOUND_ALLOW": "127.0.0.0/8"}  # the receiver is on loopback
    agent_token = prepare(env, args.db)
    reviewer_token = manage(
        env, "create_reviewer", "bench-reviewer", "--password", "bench-review-pw", "--groups", "team"
    ).splitlines()[-1]
    with serving(env, workers=1) as (_, port), celery_worker(env):
        timings = asyncio.run(run(port, agent_token, reviewer_token, args))
    report(timings, args)


if __name__ == "__main__":
    main()
