"""Decision quality: 30 simulated days of agents whose stated confidence is off (one type
over-confident, one under-confident, one drifting mid-way), reviewers with a fixed daily capacity and
an error rate of their own, and three policies on the same stream:

  static        the design's cold-start thresholds (0.70 for these reversible types), never changed;
  recalibrated  this product's: every 7 days (from day 3, once there are verdicts) the threshold
                proposals (calibration.proposals) are made and an admin applies them;
  oracle        knows each action's true chance of being wrong and reviews the riskiest of the day,
                as many as the static policy reviewed that day.

The static and recalibrated runs drive the product itself against a PostgreSQL database of their
own: hitl.services.action_submit routes every action (audit sampling included), reviewers take the
day's routed actions in the order of their deadlines up to the team's capacity, each verdict is
recorded as calibration records one (calibration.services.label_record), and recalibration is
calibration.proposals with its admin decision. An action routed but not reviewed that day counts
as unreviewed, as does every action that ran on its own and was not audit-sampled into a review.

Two scenarios (chance_right): `shifted`, each miscalibrated agent off by a constant, so its errors
are spread thin over every confidence it states and outnumber what the reviewers can see; and
`ranked`, the agents' confidence still orders their errors but is mis-scaled, so they gather below a
point routing was not told about.

Prints, per scenario, policy and seed: unreviewed errors, reviews used and reviews spent on correct
actions; then the median and range over the seeds of recalibrated/static and recalibrated/oracle,
and oracle/static, the best any routing could do with those reviews. Goal: at no more reviews than
static, unreviewed errors <= 0.5 x static and <= 1.2 x oracle. Writes a plot (SVG) per scenario of
the daily unreviewed errors of each policy for the first seed.

    make bench            # or: .venv/bin/python bench/decision_quality.py --seeds 3 --scenario ranked
"""

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import database_url, fresh_database  # noqa: E402

DAYS = 30
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CAPACITY_SHARE = 0.15  # the team reviews 15 % of what agents submit
REVIEWER_ERROR = 0.03  # a reviewer's verdict is wrong this often
SAMPLE_RATE = 0.05  # audit sampling of what runs on its own (admin, per type): what recalibration learns from
RECALIBRATE_ON = {3, 10, 17, 24}  # days on which proposals are made and applied
TYPES = ("draft_reply", "tag_ticket", "close_ticket")
SCENARIOS = ("shifted", "ranked")  # chance_right


def chance_right(key: str, confidence: float, day: int, scenario: str) -> float:
    """The truth the agents do not know: how often an action of this type at this confidence is right.

    `shifted`: each over- or under-confident agent is off by a constant, so an error is about as
    likely at any confidence it states (errors spread thin, more of them than reviewers can see).
    `ranked`: the agents' confidence still orders their errors but is mis-scaled, as with a model
    whose scores rank well and calibrate badly (errors gather below a point nobody told routing),
    and there are fewer errors than reviews (about 10 to 14 % of actions against 15 %): the case
    where reviewing the right actions can catch most of them."""
    if scenario == "shifted":
        if key == "draft_reply":  # over-confident: says 0.8 to 1, right about 6 times in 10
            return max(0.0, confidence - 0.3)
        if key == "tag_ticket":  # under-confident: says 0.5 to 0.9, nearly always right
            return min(1.0, confidence + 0.3)
        return confidence if day < DAYS // 2 else max(0.0, confidence - 0.3)  # calibrated, then drifting
    if key == "draft_reply":  # over-confident: says 0.8 to 1, wrong mostly below 0.85 (a quarter of them)
        return _logistic(confidence, 0.85, 50)
    if key == "tag_ticket":  # under-confident: says 0.5 to 0.9, nearly always right
        return min(1.0, confidence + 0.3)
    # Slightly under-confident, then drifting: from mid-way it is wrong mostly below 0.65.
    return min(1.0, confidence + 0.1) if day < DAYS // 2 else _logistic(confidence, 0.65, 40)


def _logistic(confidence: float, middle: float, steep: float) -> float:
    return 1 / (1 + math.exp(-steep * (confidence - middle)))


def stated(key: str, rng: random.Random) -> float:
    """The confidence the type's agent states."""
    if key == "draft_reply":
        return round(rng.uniform(0.8, 1.0), 3)
    if key == "tag_ticket":
        return round(rng.uniform(0.5, 0.9), 3)
    return round(1 - 0.45 * rng.random() ** 2, 3)  # 0.55 to 1, mostly high


def stream(seed: int, per_day: int, scenario: str) -> list[list[tuple[str, float, bool]]]:
    """Each day's actions: (type, stated confidence, whether it is right), the same for every policy."""
    rng = random.Random(seed)
    days = []
    for day in range(DAYS):
        actions = []
        for _ in range(per_day):
            key = rng.choice(TYPES)
            confidence = stated(key, rng)
            actions.append((key, confidence, rng.random() < chance_right(key, confidence, day, scenario)))
        days.append(actions)
    return days


# --- one policy in a process of its own, on a database of its own --------------------------------


def run_product(policy: str, seed: int, per_day: int, scenario: str) -> dict:
    import time_machine
    from django.contrib.auth import get_user_model

    from calibration.models import RecalibrationSettings
    from calibration.proposals import proposal_decide, proposals_make
    from calibration.services import label_record
    from hitl.models import Action, ActionType
    from hitl.services import action_submit, agent_create
    from hitl.states import RoutePattern
    from reviews.models import ReviewerGroup

    capacity = round(per_day * CAPACITY_SHARE)
    ReviewerGroup.objects.update(daily_capacity=None)
    team = ReviewerGroup.objects.get(key="team")
    team.daily_capacity = capacity
    team.save()
    # A first proposal after 3 days: from 20 verdicts a type (an admin setting), on the last 7 days.
    RecalibrationSettings.objects.update_or_create(pk=1, defaults={"min_labels": 20, "replay_days": 7})
    reviewer = get_user_model().objects.get(username="tina")
    admin = get_user_model().objects.get(username="admin")
    types = {
        key: ActionType.objects.create(key=key, name=key, irreversible=False, audit_sample_rate=SAMPLE_RATE)
        for key in TYPES
    }  # fmt: skip
    agent, _ = agent_create(name=f"sim-{policy}")
    rng = random.Random(seed * 7 + 1)
    daily, totals = [], {"unreviewed_errors": 0, "reviews": 0, "reviews_on_correct": 0, "routed": 0}
    for day, actions in enumerate(stream(seed, per_day, scenario)):
        if policy == "recalibrated" and day in RECALIBRATE_ON:
            with time_machine.travel(START + timedelta(days=day), tick=False):
                made, short = proposals_make()
                for proposal in made:
                    proposal_decide(proposal_id=proposal.pk, apply=True, by=admin)
                for action_type in types.values():  # the intake reads the type's threshold from it
                    action_type.refresh_from_db()
                print(f"day {day}: " + ", ".join(f"{p.action_type.key} {p.current_threshold:.2f}->"
                      f"{p.proposed_threshold:.2f}" for p in made), file=sys.stderr)  # fmt: skip
        submitted = []
        for n, (key, confidence, right) in enumerate(actions):
            with time_machine.travel(START + timedelta(days=day, seconds=30 * n), tick=False):
                action = action_submit(agent=agent, action_type=types[key], payload={"n": n}, summary=key,
                                       confidence=confidence)  # fmt: skip
            routed = action.route_pattern != RoutePattern.AUTONOMOUS or action.sampled
            submitted.append((action, right, routed))
        queue = sorted((s for s in submitted if s[2]), key=lambda s: (s[0].due_at or s[0].created_at, str(s[0].pk)))
        reviewed = {s[0].pk for s in queue[:capacity]}
        errors = 0
        for action, right, _routed in submitted:
            if action.pk in reviewed:
                said_right = right if rng.random() >= REVIEWER_ERROR else not right
                decided = action.created_at + timedelta(minutes=30)
                label_record(action=Action.objects.select_related("action_type").get(pk=action.pk),
                             verdict="approved" if said_right else "rejected", reviewer=reviewer,
                             decided_at=decided)  # fmt: skip
                totals["reviews_on_correct"] += right
            elif not right:
                errors += 1
        totals["reviews"] += len(reviewed)
        totals["routed"] += len(queue)
        totals["unreviewed_errors"] += errors
        daily.append({"errors": errors, "reviews": len(reviewed)})
    return {"policy": policy, "seed": seed, **totals, "daily": daily}


def run_oracle(seed: int, reviews_per_day: list[int], per_day: int, scenario: str) -> dict:
    """Reviews the day's riskiest actions by their true chance of being wrong, as many as given."""
    daily, totals = [], {"unreviewed_errors": 0, "reviews": 0, "reviews_on_correct": 0, "routed": 0}
    for day, actions in enumerate(stream(seed, per_day, scenario)):
        risk = sorted(
            range(len(actions)), key=lambda i: -(1 - chance_right(actions[i][0], actions[i][1], day, scenario))
        )
        reviewed = set(risk[: reviews_per_day[day]])
        errors = sum(1 for i, (_, _, right) in enumerate(actions) if not right and i not in reviewed)
        totals["reviews_on_correct"] += sum(actions[i][2] for i in reviewed)
        totals["reviews"] += len(reviewed)
        totals["routed"] += len(reviewed)
        totals["unreviewed_errors"] += errors
        daily.append({"errors": errors, "reviews": len(reviewed)})
    return {"policy": "oracle", "seed": seed, **totals, "daily": daily}


def worker(args) -> None:
    os.environ["DATABASE_URL"] = database_url(args.db)
    import django

    django.setup()
    print(json.dumps(run_product(args.policy, args.seed, args.per_day, args.scenario)))


# --- the orchestration -----------------------------------------------------------------------------


def plot(results: list[dict], path: Path) -> None:
    """An SVG line chart of the daily unreviewed errors per policy."""
    width, height, left, bottom = 640, 260, 40, 230
    top = max(d["errors"] for r in results for d in r["daily"]) or 1
    colours = {"static": "#b7791f", "recalibrated": "#2857c5", "oracle": "#2f855a"}
    lines = []
    for r in results:
        points = " ".join(
            f"{left + (width - left - 10) * i / (DAYS - 1):.1f},{bottom - (bottom - 20) * d['errors'] / top:.1f}"
            for i, d in enumerate(r["daily"])
        )
        lines.append(f'<polyline fill="none" stroke="{colours[r["policy"]]}" stroke-width="2" points="{points}"/>')
        lines.append(f'<text x="{width - 120}" y="{20 + 16 * len(lines) // 2}" fill="{colours[r["policy"]]}" '
                     f'font-size="12">{r["policy"]}</text>')  # fmt: skip
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" font-family="sans-serif">'
        f'<text x="{left}" y="14" font-size="12">unreviewed errors per day (0 to {top}), days 1 to {DAYS}</text>'
        f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#999"/>{"".join(lines)}</svg>'
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--plot", default=str(ROOT / "var" / "decision_quality.svg"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--policy", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument(
        "--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="how the agents are miscalibrated"
    )
    args = parser.parse_args()
    if args.worker:
        args.scenario = args.scenario[0]
        return worker(args)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-decision-quality-" + "x" * 40,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PYTHONPATH": str(ROOT),
    }
    for scenario in args.scenario:
        compare(scenario, args, env)


def compare(scenario: str, args, env: dict) -> None:
    """The three policies on the scenario's stream, for each seed; the ratios and the plot."""
    print(f"scenario {scenario}", flush=True)
    results = []
    for seed in range(1, args.seeds + 1):
        for policy in ("static", "recalibrated"):
            db = f"hitl_bench_decisions_{policy}"
            fresh_database(db, env)
            done = subprocess.run(
                [sys.executable, __file__, "--worker", "--policy", policy, "--seed", str(seed), "--db", db,
                 "--per-day", str(args.per_day), "--scenario", scenario],
                env=env, capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            if done.returncode:
                sys.exit(f"{policy} seed {seed} failed:\n{done.stderr[-3000:]}")
            for line in done.stderr.splitlines():
                if line.startswith("day "):
                    print(f"  seed {seed} {policy}: recalibrated on {line}", flush=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        static = next(r for r in results if r["policy"] == "static" and r["seed"] == seed)
        results.append(run_oracle(seed, [d["reviews"] for d in static["daily"]], args.per_day, scenario))
        for r in results[-3:]:
            print(f"seed {seed} {r['policy']:13} unreviewed errors {r['unreviewed_errors']:5}  reviews "
                  f"{r['reviews']:5}  on correct actions {r['reviews_on_correct']:5}  routed {r['routed']:5}",
                  flush=True)  # fmt: skip
    by = {(r["policy"], r["seed"]): r for r in results}
    seeds = range(1, args.seeds + 1)
    vs_static = [by["recalibrated", s]["unreviewed_errors"] / by["static", s]["unreviewed_errors"] for s in seeds]
    vs_oracle = [by["recalibrated", s]["unreviewed_errors"] / by["oracle", s]["unreviewed_errors"] for s in seeds]
    reviews = [by["recalibrated", s]["reviews"] - by["static", s]["reviews"] for s in seeds]
    bound = [by["oracle", s]["unreviewed_errors"] / by["static", s]["unreviewed_errors"] for s in seeds]
    print()
    print(f"scenario {scenario}: {args.seeds} seeds, {DAYS} days, {args.per_day} actions a day, capacity "
          f"{CAPACITY_SHARE:.0%} of them, reviewer error {REVIEWER_ERROR:.0%}")  # fmt: skip
    print(f"recalibrated / static unreviewed errors: median {statistics.median(vs_static):.2f} "
          f"(range {min(vs_static):.2f}-{max(vs_static):.2f})  goal <= 0.50")  # fmt: skip
    print(f"recalibrated / oracle unreviewed errors: median {statistics.median(vs_oracle):.2f} "
          f"(range {min(vs_oracle):.2f}-{max(vs_oracle):.2f})  goal <= 1.20")  # fmt: skip
    print(f"reviews, recalibrated - static: {reviews} (goal: no more)")
    print(f"oracle / static (the best any routing could do here): median {statistics.median(bound):.2f} "
          f"(range {min(bound):.2f}-{max(bound):.2f})")  # fmt: skip
    path = Path(args.plot.replace(".svg", f"_{scenario}.svg"))
    path.parent.mkdir(parents=True, exist_ok=True)
    plot([by[p, 1] for p in ("static", "recalibrated", "oracle")], path)
    print(f"plot: {path}\n", flush=True)


if __name__ == "__main__":
    main()
