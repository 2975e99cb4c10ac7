"""The MCP server's request_approval round trip on an action the policy approves at once, against
the same submit through hitl_client, side by side in one run.

Serves the app as bench/roundtrip.py does (uvicorn, production settings, DEBUG off, one worker) and
times, in alternating order every round, the submit of an `update_preference` action the policy
approves at once (confident, reversible):
  sdk   AsyncClient.submit: one POST /api/v1/actions with its Idempotency-Key;
  mcp   an MCP session's call_tool("request_approval") over streamable HTTP at /mcp (the official
        mcp client, one session kept open, as an MCP client holds one).
Prints the MCP call's p50 and p99, and the ratio mcp / sdk per round (median and quartiles).

    make bench            # or: .venv/bin/python bench/mcp_roundtrip.py --rounds 300
"""

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx2
from hitl_client import AsyncClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import prepare, server_env, serving  # noqa: E402

DB = "hitl_bench_mcp"


def body(seq: int, series: str) -> dict:
    return {
        "action_type": "update_preference",
        "payload": {"user_id": f"cust_{series}_{seq}", "key": "newsletter", "value": False},
        "summary": "Unsubscribe the customer from the newsletter",
        "confidence": 0.99,
    }


async def rounds(url: str, token: str, n: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"sdk": [], "mcp": []}
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with AsyncClient(url, token) as sdk, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as mcp:

        async def via_sdk(seq):
            answer = await sdk.submit(**body(seq, "sdk"))
            assert seq < 0 or answer.status == "approved", answer  # the agent's first of the type waits

        async def via_mcp(seq):
            answer = await mcp.call_tool("request_approval", {**body(seq, "mcp"), "wait": 0})
            assert not answer.is_error and (seq < 0 or answer.structured_content["status"] == "approved"), answer

        series = {"sdk": via_sdk, "mcp": via_mcp}
        for seq in range(-20, n):  # the first 20 warm both up, untimed
            order = list(series) if seq % 2 else list(reversed(series))
            for name in order:
                started = time.perf_counter()
                await series[name](seq)
                if seq >= 0:
                    times[name].append(time.perf_counter() - started)
    return times


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    env = server_env(DB)
    token = prepare(env, DB)
    with serving(env, workers=1) as (_, port):
        times = asyncio.run(rounds(f"http://127.0.0.1:{port}", token, args.rounds))
    mcp = sorted(times["mcp"])
    p50, p99 = mcp[len(mcp) // 2], mcp[min(len(mcp) - 1, int(len(mcp) * 0.99))]
    ratios = [m / s for m, s in zip(times["mcp"], times["sdk"], strict=True)]
    q1, q2, q3 = quartiles(ratios)
    print(f"{args.rounds} rounds, an autonomous submit each")
    print(f"sdk submit:              p50 {statistics.median(times['sdk']) * 1000:.1f} ms")
    print(f"mcp request_approval:    p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"mcp / sdk: median {q2:.2f} (quartiles {q1:.2f}-{q3:.2f})")


if __name__ == "__main__":
    main()
