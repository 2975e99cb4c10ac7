"""Routing cost: route 100,000 varied actions in-process; print µs per route beside the cost of
one json.loads of the same submit body, measured in the same run (the baseline).

    .venv/bin/python bench/routing.py
"""

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo import data as demo  # noqa: E402
from hitl.routing import Policy, RiskFacts, route  # noqa: E402

COUNT = 100_000
ROUNDS = 5


def varied_actions(rng: random.Random) -> tuple[list[RiskFacts], list[str]]:
    facts, bodies = [], []
    for i in range(COUNT):
        body = demo.proposal(rng, i)
        body["blast_radius"] = rng.choice([1, 1, 5, 120, 800, 25_000])
        body["compliance_risk"] = rng.random() < 0.05
        bodies.append(json.dumps(body))
        facts.append(
            RiskFacts(
                action_type=body["action_type"],
                domain="finance",
                confidence=body["confidence"],
                irreversible=rng.random() < 0.5,
                blast_radius=body["blast_radius"],
                compliance_risk=body["compliance_risk"],
                entity_tags=tuple(body["entity"]["tags"]),
                type_threshold=rng.choice([None, None, 0.6, 0.9]),
                novel_type=rng.random() < 0.01,
            )
        )
    return facts, bodies


def per_item_us(function, items) -> float:
    started = time.perf_counter()
    for item in items:
        function(item)
    return (time.perf_counter() - started) / len(items) * 1e6


def main():
    facts, bodies = varied_actions(random.Random(11))
    policy = Policy()
    routes, loads = [], []
    for _ in range(ROUNDS):
        routes.append(per_item_us(lambda f: route(f, policy), facts))
        loads.append(per_item_us(json.loads, bodies))
    patterns = {}
    for f in facts:
        key = route(f, policy).pattern
        patterns[key] = patterns.get(key, 0) + 1
    print(f"route():    median {statistics.median(routes):.2f} µs per action ({COUNT:,} actions × {ROUNDS} rounds)")
    print(f"json.loads: median {statistics.median(loads):.2f} µs per submit body (baseline, same run)")
    print(f"ratio route/json.loads: {statistics.median(r / j for r, j in zip(routes, loads, strict=True)):.2f}")
    print("routes: " + ", ".join(f"{k} {v / COUNT:.0%}" for k, v in sorted(patterns.items())))


if __name__ == "__main__":
    main()
