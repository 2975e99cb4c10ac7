"""SLA sweep cost: one full escalation_sweep() of 100,000 overdue actions against a hand-written SQL
baseline that makes the same change, in the same process, on the same database.

Builds a PostgreSQL database (migrated, so with the default tier policies; the demo reviewer
groups, reviewers and types; no notification routes) and a snapshot of 100,000 pending
pre-action tier1 actions, announced and past their warnings, with the tier1 → tier2 → tier3
chain copied onto each as routing does
(hitl.services.action_prepare), all falling due at one moment. Each round restores the snapshot
(due a few seconds later), waits for that moment and times one full sweep in-process, as the
Celery task runs it (its HITL_SLA_SWEEP_WORKERS connections sharing the backlog); then restores it
again and times the baseline on as many connections: batches of the same size, each one statement
(FOR UPDATE SKIP LOCKED, the UPDATE, the INSERT of the same `escalated` audit events, the moved
actions' claims deleted) in its own transaction. The order alternates round by round. Both results
are checked to be the same change. Prints the medians, their ratio, the SQL statements each sweep
batch ran (asserted to be the same for every batch) and the p95 lateness, commit time minus
due_at: as deployed, where beat's tick falls anywhere in the interval before the deadline, and at
both extremes of that phase.
Goals: sweep <= 3 x baseline; p95 lateness < 2 x HITL_SLA_SWEEP_SECONDS.

    make bench            # or: .venv/bin/python bench/sweep.py --rounds 3 --count 100000
"""

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import database_url, django_setup, fresh_database  # noqa: E402
from demo import data as demo  # noqa: E402
from escalation.transitions import iso_utc  # noqa: E402

DB_NAME = "hitl_bench_sweep"
DB_URL = database_url(DB_NAME)
SNAPSHOT = "bench_sweep_start"
EPOCH = datetime(2030, 1, 1, tzinfo=UTC)  # the snapshot's due moment; each restore shifts it to the near future
SHIFTED = ("due_at", "sla_next_at", "created_at", "updated_at")


# One statement per batch: lock the due rows, move them to their next step, write their audit
# events, drop their claims. Specialised to what the benchmark's rows need (an escalation of a
# pending action from a step with warnings to the next): the fastest honest way to apply it.
BASELINE_SQL = f"""
WITH due AS (
    SELECT a.id, a.route_tier, a.reviewer_group, a.due_at, a.escalation_path -> (a.escalation_step + 1) AS step
    FROM hitl_action a
    WHERE a.sla_next_at <= %(now)s
    ORDER BY a.sla_next_at
    LIMIT %(limit)s
    FOR UPDATE OF a SKIP LOCKED
), moved AS (
    UPDATE hitl_action a SET
        route_tier = due.step ->> 'tier',
        reviewer_group = due.step ->> 'group',
        due_at = %(now)s + make_interval(secs => (due.step ->> 'sla')::float8),
        escalation_step = a.escalation_step + 1,
        sla_stage = 1,
        sla_next_at = %(now)s + make_interval(
            secs => (due.step ->> 'sla')::float8 * coalesce((due.step -> 'warn_at' ->> 0)::float8, 1)
        ),
        version = a.version + 1,
        updated_at = %(now)s
    FROM due
    WHERE a.id = due.id
    RETURNING a.id, a.agent_id, a.action_type_id, a.confidence, a.route_tier, a.reviewer_group, a.due_at,
        due.route_tier AS old_tier, due.reviewer_group AS old_group, due.due_at AS old_due
), released AS (
    DELETE FROM reviews_claim c USING moved WHERE c.action_id = moved.id
)
INSERT INTO hitl_auditevent (
    created_at, event_type, actor_type, actor_label, request_id, action_id, agent_id, reviewer_id, action_type,
    agent_confidence, routing_tier, decision, time_to_decision_seconds, modified_action, before, after, data
)
SELECT %(now)s, 'escalated', 'system', 'system', '', m.id, m.agent_id, NULL, t.key, m.confidence, m.route_tier, '',
    NULL, NULL,
    jsonb_build_object('tier', m.old_tier, 'group', m.old_group, 'due_at', {iso_utc("m.old_due")}),
    jsonb_build_object('tier', m.route_tier, 'group', m.reviewer_group, 'due_at', {iso_utc("m.due_at")}),
    jsonb_build_object('late_seconds', extract(epoch FROM %(now)s - m.old_due)::float8)
FROM moved m JOIN hitl_actiontype t ON t.id = m.action_type_id
"""


# --- data -----------------------------------------------------------------------------------


def build_snapshot(count: int) -> None:
    """COPY `count` overdue tier1 actions into the snapshot table, as routing would have made them."""
    from escalation.selectors import escalation_chains

    path = list(escalation_chains()["tier1"])  # the default tier policies, from a migration
    assert [s["tier"] for s in path] == ["tier1", "tier2", "tier3"] and path[0]["on_breach"] == "escalate"
    sla = timedelta(seconds=path[0]["sla"])
    with psycopg.connect(DB_URL) as conn:
        # The sweep's own cost, as the baseline's: without the in-app routes a fresh database has.
        conn.execute("DELETE FROM escalation_notificationroute")
        types = dict(conn.execute("SELECT key, id FROM hitl_actiontype").fetchall())
        agents = []
        for name in ("billing-bot", "ops-bot", "support-bot", "trader-bot"):
            (agent_id,) = conn.execute(
                "INSERT INTO hitl_agent (name, description, webhook_secret, webhook_secret_previous, is_active,"
                " created_at) VALUES (%s, '', %s, '', true, %s) RETURNING id",
                [name, secrets.token_hex(32), EPOCH - timedelta(days=60)],
            ).fetchone()
            agents.append(agent_id)
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'hitl_action'"
                " ORDER BY ordinal_position"
            )
        ]
        conn.execute(f"DROP TABLE IF EXISTS {SNAPSHOT}")
        conn.execute(f"CREATE TABLE {SNAPSHOT} (LIKE hitl_action INCLUDING DEFAULTS)")
        rng = random.Random(7)
        path_json = json.dumps(path)
        reasons = json.dumps([{"code": "below_threshold", "message": "confidence is below the 0.85 threshold"}])
        with conn.cursor() as cur, cur.copy(f"COPY {SNAPSHOT} ({', '.join(columns)}) FROM STDIN") as copy_:
            for seq in range(count):
                body = demo.proposal(rng, seq)
                group = "finance" if body["action_type"] in ("issue_refund", "execute_trade") else "team"
                created = EPOCH - sla  # routed tier1 one SLA ago: due now
                row = {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "agent_id": rng.choice(agents),
                    "action_type_id": types[body["action_type"]],
                    "payload": json.dumps(body["payload"]),
                    "summary": body["summary"],
                    "reasoning": body["reasoning"],
                    "context": json.dumps(body["context"]),
                    "confidence": body["confidence"],
                    "irreversible": True,
                    "blast_radius": body["blast_radius"],
                    "compliance_risk": False,
                    "entity": json.dumps(body["entity"]),
                    "task_id": body["task_id"],
                    "callback_url": "https://agent.example.com/hitl/callback",
                    "status": "pending",
                    "route_pattern": "pre_action",
                    "route_tier": "tier1",
                    "reviewer_group": group,
                    "route_threshold": 0.85,
                    "route_reasons": reasons,
                    "policy_version": 0,
                    "due_at": EPOCH,
                    "escalation_path": path_json,
                    "escalation_step": 0,
                    "sla_stage": 1 + len(path[0]["warn_at"]),  # announced, every warning sent
                    "sla_next_at": EPOCH,  # the deadline is what comes next
                    "approvals_required": 1,
                    "sampled": False,
                    "review_probability": 1.0,
                    "version": 1,
                    "decision": "",
                    "decided_by_id": None,
                    "decision_comment": "",
                    "decided_at": None,
                    "final_payload": None,
                    "outcome": "",
                    "outcome_detail": None,
                    "outcome_at": None,
                    "receipt": None,
                    "compensation": "",
                    "compensation_reason": "",
                    "compensation_requested_at": None,
                    "compensation_detail": None,
                    "compensation_at": None,
                    "created_at": created,
                    "updated_at": created,
                }
                copy_.write_row([row[c] for c in columns])


class Snapshot:
    """Puts the snapshot's actions back in hitl_action, due at a moment a little ahead."""

    def __init__(self):
        self.conn = psycopg.connect(DB_URL, autocommit=True)
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.conn.execute("SET hitl.audit_truncate = on")  # a benchmark database: its audit log is emptied each round
        self.columns = [
            row[0]
            for row in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                [SNAPSHOT],
            )
        ]
        self.lead = 10.0  # seconds from the start of a restore to the due moment; adapted to what restores take

    def restore(self) -> datetime:
        """Empty every table that refers to actions, reload the actions, vacuum; return when they fall due."""
        started = time.monotonic()
        due = datetime.now(UTC) + timedelta(seconds=self.lead)
        shift = due - EPOCH
        select = ", ".join(f"{c} + %(shift)s" if c in SHIFTED else c for c in self.columns)
        self.conn.execute("TRUNCATE hitl_action CASCADE")
        self.conn.execute(
            f"INSERT INTO hitl_action ({', '.join(self.columns)}) SELECT {select} FROM {SNAPSHOT}", {"shift": shift}
        )
        self.conn.execute("VACUUM (ANALYZE) hitl_action")
        self.conn.execute("VACUUM (ANALYZE) hitl_auditevent")
        self.conn.execute("CHECKPOINT")  # neither run pays for the other's dirty pages
        took = time.monotonic() - started
        self.lead = max(self.lead, took * 1.5 + 1)
        return due

    def check(self, count: int, label: str) -> None:
        """That the run moved every action to tier2 exactly once, with one well-formed event each."""
        q = self.conn.execute
        states = q(
            "SELECT route_tier, escalation_step, sla_stage, version, status, count(*),"
            " bool_and(sla_next_at = due_at - interval '30 minutes'), bool_and(updated_at = due_at - interval '1 hour')"
            " FROM hitl_action GROUP BY 1, 2, 3, 4, 5"
        ).fetchall()
        assert states == [("tier2", 1, 1, 2, "pending", count, True, True)], (label, states)
        events = q(
            "SELECT e.event_type, count(*), count(DISTINCT e.action_id),"
            " bool_and(e.after = jsonb_build_object('tier', a.route_tier, 'group', a.reviewer_group,"
            f"   'due_at', {iso_utc('a.due_at')})),"
            " bool_and(e.before ->> 'tier' = 'tier1' AND e.before ?& array['group', 'due_at']),"
            " bool_and((e.data ->> 'late_seconds')::float8 >= 0),"
            " bool_and(e.routing_tier = 'tier2' AND e.actor_type = 'system' AND e.action_type <> ''"
            "   AND e.agent_id = a.agent_id)"
            " FROM hitl_auditevent e JOIN hitl_action a ON a.id = e.action_id GROUP BY 1"
        ).fetchall()
        assert events == [("escalated", count, count, True, True, True, True)], (label, events)


# --- measurement ------------------------------------------------------------------------------


def wait_until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)


class Run:
    def __init__(self, seconds: float, commits: list, queries: list):
        self.seconds = seconds
        self.commits = commits  # (when, rows moved) per committed batch
        self.queries = queries  # SQL statements per batch that moved rows

    def lateness(self, due: datetime) -> list[float]:
        return sorted(t for when, n in self.commits for t in [(when - due).total_seconds()] * n)


def run_sweep(batch_size: int, workers: int) -> Run:
    """One full escalation_sweep(), as the Celery task runs it; notes when each batch committed and
    how many statements it ran, on whichever of the sweep's connections it ran."""
    from django.db import connection
    from django.utils import timezone

    from escalation import services

    original, commits, queries = services._sweep_batch, [], []

    def batch(*, now, batch_size, result):
        counter, moved_before = [0], len(result.lateness)

        def counting(execute, sql, params, many, context):
            counter[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counting):  # this thread's connection
            taken = original(now=now, batch_size=batch_size, result=result)
        if taken:  # committed
            commits.append((timezone.now(), len(result.lateness) - moved_before))
            queries.append(counter[0])
        return taken

    services._sweep_batch = batch
    try:
        started = time.perf_counter()
        result = services.escalation_sweep(batch_size=batch_size, workers=workers)
        seconds = time.perf_counter() - started
    finally:
        services._sweep_batch = original
    assert result.escalated == sum(n for _, n in commits) and result.batches == len(commits), result
    return Run(seconds, commits, queries)


def run_baseline(batch_size: int, workers: int) -> Run:
    """The hand-written statement, batch by batch, each batch its own transaction, on as many
    connections at once as the sweep uses."""
    from django.db import connection, transaction
    from django.utils import timezone

    commits = []

    def drain():
        try:
            while True:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(BASELINE_SQL, {"now": timezone.now(), "limit": batch_size})
                    moved = cursor.rowcount
                if not moved:
                    return
                commits.append((timezone.now(), moved))
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()

    started = time.perf_counter()
    helpers = [threading.Thread(target=drain) for _ in range(workers - 1)]
    for helper in helpers:
        helper.start()
    drain()
    for helper in helpers:
        helper.join()
    return Run(time.perf_counter() - started, commits, [1] * len(commits))


def with_phase(lateness: list[float], interval: float, steps: int = 50) -> list[float]:
    """Lateness as deployed: beat ticks every `interval` whatever the deadlines, so the sweep starts
    0 to `interval` seconds after the actions fall due, evenly; each phase counted alike."""
    return sorted(late + interval * k / steps for k in range(steps) for late in lateness)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=100_000, help="overdue actions")
    parser.add_argument("--reuse", action="store_true", help="keep the database and snapshot of the last run")
    parser.add_argument("--batch-size", type=int, help="default: escalation.services.BATCH_SIZE")
    parser.add_argument("--workers", type=int, help="connections per sweep; default: HITL_SLA_SWEEP_WORKERS")
    args = parser.parse_args()

    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": DB_URL,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PYTHONPATH": str(ROOT),
    }
    started = time.perf_counter()
    if not args.reuse:
        fresh_database(DB_NAME, {**os.environ, **env})
    django_setup(env)
    from django.conf import settings

    from escalation.services import BATCH_SIZE

    batch_size = args.batch_size or BATCH_SIZE
    workers = args.workers or settings.HITL_SLA_SWEEP_WORKERS
    if not args.reuse:
        build_snapshot(args.count)
    snapshot = Snapshot()
    (count,) = snapshot.conn.execute(f"SELECT count(*) FROM {SNAPSHOT}").fetchone()
    print(f"database {DB_NAME}: {count:,} overdue tier1 actions, built in {time.perf_counter() - started:.1f} s")

    runners = {"sweep": run_sweep, "baseline": run_baseline}
    runs = {name: [] for name in runners}
    for round_ in range(args.rounds):
        # Alternate the order, so that drift in a shared machine's load favours neither side.
        for name in runners if round_ % 2 == 0 else reversed(runners):
            due = snapshot.restore()
            wait_until(due)
            run = runners[name](batch_size, workers)
            snapshot.check(count, name)
            late = run.lateness(due)
            runs[name].append((run, late))
            print(
                f"round {round_ + 1}: {name:<8} {run.seconds:6.2f} s  {len(run.commits)} batches  "
                f"p95 lateness {percentile(late, 0.95):5.2f} s  max {late[-1]:5.2f} s",
                flush=True,
            )

    sweep = statistics.median(run.seconds for run, _ in runs["sweep"])
    base = statistics.median(run.seconds for run, _ in runs["baseline"])
    queries = sorted({q for run, _ in runs["sweep"] for q in run.queries})
    assert len(queries) == 1, f"sweep batches ran different numbers of statements: {queries}"
    p95 = statistics.median(percentile(late, 0.95) for _, late in runs["sweep"])
    base_p95 = statistics.median(percentile(late, 0.95) for _, late in runs["baseline"])
    interval = settings.HITL_SLA_SWEEP_SECONDS
    ratios = [s.seconds / b.seconds for (s, _), (b, _) in zip(runs["sweep"], runs["baseline"], strict=True)]
    print()
    print(f"escalation_sweep():      median {sweep:6.2f} s  ({count / sweep:7,.0f} actions/s)")
    print(f"hand-written SQL:        median {base:6.2f} s  ({count / base:7,.0f} actions/s)")
    print(f"ratio sweep/baseline:    {sweep / base:.2f}  (goal <= 3.00; median of the rounds' ratios "
          f"{statistics.median(ratios):.2f})")  # fmt: skip
    print(f"statements per batch:    {queries[0]} (every batch of {batch_size}; baseline 1)")
    worst = p95 + interval
    phased = statistics.median(percentile(with_phase(late, interval), 0.95) for _, late in runs["sweep"])
    base_phased = statistics.median(percentile(with_phase(late, interval), 0.95) for _, late in runs["baseline"])
    print(
        f"p95 lateness:            {phased:.2f} s with the sweep starting 0 to {interval:.0f} s after the deadline, "
        f"as beat's ticks fall (goal < {2 * interval:.0f} s = 2 x HITL_SLA_SWEEP_SECONDS; baseline "
        f"{base_phased:.2f} s); {p95:.2f} s starting at the deadline, {worst:.2f} s starting a whole interval "
        f"after it (baseline {base_p95:.2f} s and {base_p95 + interval:.2f} s)"
    )
    verdict = "met" if sweep / base <= 3 else "NOT met"
    print(f"goal sweep <= 3 x baseline: {verdict}; p95 lateness goal: {'met' if phased < 2 * interval else 'NOT met'}")
    print(
        f"setup: {count:,} pending tier1 actions due at once, escalating to tier2; batches of {batch_size}, "
        f"{workers} connections at once for both; "
        f"baseline = one statement per batch (FOR UPDATE SKIP LOCKED + UPDATE + audit INSERT + claims DELETE), "
        f"its own transaction each; in-process, bench.settings, PostgreSQL; {args.rounds} rounds, alternating; "
        f"no notification routes configured; wake-ups and queue pushes published to Redis after each commit"
    )


if __name__ == "__main__":
    main()
