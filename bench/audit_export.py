"""Audit export cost: the full JSON-lines export of 1,000,000 audit events, streamed through the real
view and the production ASGI application, against psycopg's COPY of the same rows, in one process.

Builds a PostgreSQL database (migrated; the demo types, reviewers and the auditor audrey), submits
a few hundred actions through hitl.services.action_submit, then inserts the rest of the events
with INSERT … SELECT generate_series, in batches, so that the chain trigger numbers and hashes
every row as it would in production: a tenth of them global (no action), the others spread over
the actions; claims, decisions (some modified), escalations, warnings, spread over a year, with
their JSON documents.

Each round streams GET /api/v1/audit/events (audrey's session, every event, JSONL) through
hitl.asgi.application, reading each body message as it is sent and discarding it, as a server
writing to a socket would; and the baseline: COPY (SELECT the export's own query: same columns,
same joins, same order) TO STDOUT, read block by block and discarded. The order alternates round
by round. Memory: the process's RSS high-water mark (VmHWM, reset before each run) over its RSS
at the start of the run; and, in one more run of each outside the timed rounds, tracemalloc's
peak of Python allocations. Prints rows, seconds, rows/s, the time to the first byte, peak
memory and the ratio export/baseline. Goal: the export's memory stays flat (a few chunks), not
proportional to the rows.

    make bench            # or: .venv/bin/python bench/audit_export.py --count 1000000 --rounds 3
"""

import argparse
import asyncio
import gc
import os
import random
import secrets
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import database_url, django_setup, fresh_database  # noqa: E402
from demo import data as demo  # noqa: E402

DB_NAME = "hitl_bench_export"
DB_URL = database_url(DB_NAME)
ACTIONS = 400
START = datetime(2025, 1, 1, tzinfo=UTC)
PATH = "/api/v1/audit/events"

# One batch of events: g runs over the batch's numbers. One in a thousand has no action (the global
# chain: a policy change); the others belong to the actions (by g): submissions, claims,
# releases, decisions (a third of them modified), warnings, escalations and notifications, each
# with the JSON documents such an event has. (Few global events: audit.chain's trigger finds
# the global chain's last event by reading all of that chain, which no index orders by seq.)
INSERT_SQL = """
INSERT INTO hitl_auditevent (
    created_at, event_type, actor_type, actor_label, request_id, action_id, agent_id, reviewer_id, action_type,
    agent_confidence, routing_tier, decision, time_to_decision_seconds, modified_action, before, after, data
)
SELECT
    %(start)s + g * interval '31 seconds',
    CASE WHEN glob THEN 'policy_changed' ELSE (ARRAY['submitted', 'claimed', 'released', 'claimed', 'decided',
        'warned', 'escalated', 'notification_sent', 'outcome_reported', 'notification_sent'])[k + 1] END,
    CASE WHEN glob THEN 'admin' WHEN k IN (1, 2, 3, 4) THEN 'reviewer' WHEN k IN (0, 8) THEN 'agent'
        ELSE 'system' END,
    CASE WHEN glob THEN 'admin' WHEN k IN (1, 2, 3, 4) THEN r.username WHEN k IN (0, 8) THEN a.agent_name
        ELSE 'system' END,
    md5(g::text),
    CASE WHEN NOT glob THEN a.id END,
    CASE WHEN NOT glob THEN a.agent_id END,
    CASE WHEN glob THEN %(admin)s WHEN k IN (1, 2, 3, 4) THEN r.id END,
    CASE WHEN glob THEN '' ELSE a.type_key END,
    CASE WHEN NOT glob THEN a.confidence END,
    CASE WHEN glob THEN '' ELSE a.tier END,
    CASE WHEN k = 4 AND NOT glob THEN (ARRAY['approved', 'modified', 'rejected'])[g %% 3 + 1] ELSE '' END,
    CASE WHEN k = 4 AND NOT glob THEN (g %% 14400) + 0.25 END,
    CASE WHEN k = 4 AND NOT glob AND g %% 3 = 1 THEN a.payload || '{"note": "edited by the reviewer"}'::jsonb END,
    CASE WHEN glob THEN jsonb_build_object('threshold', 0.85, 'version', g)
        WHEN k = 4 THEN jsonb_build_object('status', 'pending', 'payload', a.payload)
        WHEN k = 6 THEN jsonb_build_object('tier', 'tier1', 'group', 'team', 'due_at', '2025-06-01T10:00:00Z')
        END,
    CASE WHEN glob THEN jsonb_build_object('threshold', 0.8, 'version', g + 1)
        WHEN k = 0 THEN jsonb_build_object('status', 'pending', 'route', 'pre_action', 'tier', a.tier)
        WHEN k = 4 THEN jsonb_build_object('status', 'approved', 'comment', 'Checked against policy 4.2')
        WHEN k = 6 THEN jsonb_build_object('tier', 'tier2', 'group', 'lead', 'due_at', '2025-06-01T11:00:00Z')
        ELSE '{"status": "pending"}'::jsonb END,
    CASE WHEN glob THEN '{}'::jsonb
        WHEN k = 4 THEN jsonb_build_object('approvers', jsonb_build_array(r.username), 'reason', '',
            'patch', '[{"op": "replace", "path": "/note", "value": "edited"}]'::jsonb)
        WHEN k = 5 THEN jsonb_build_object('stage', 2, 'share', 0.75)
        WHEN k IN (7, 9) THEN jsonb_build_object('channel', 'slack', 'attempt', 1, 'delivery', md5(g::text))
        WHEN k = 8 THEN jsonb_build_object('outcome', 'executed', 'detail', jsonb_build_object('ref', g))
        ELSE '{}'::jsonb END
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
CROSS JOIN LATERAL (SELECT (g %% 10)::int AS k, g %% 1000 = 0 AS glob) AS kind
JOIN bench_actions a ON a.n = g %% %(actions)s
JOIN bench_reviewers r ON r.n = g %% %(reviewers)s
ORDER BY g
"""


def build_events(count: int) -> None:
    """ACTIONS actions submitted through the service (with their own events), then events up to
    `count`, inserted in batches of 100,000 by SQL that the chain trigger sees row by row."""
    from django.contrib.auth import get_user_model

    from audit.models import AuditEvent
    from hitl.models import ActionType
    from hitl.services import action_submit, agent_create

    rng = random.Random(7)
    types = {t.key: t for t in ActionType.objects.all()}
    agents = [agent_create(name=name)[0] for name in ("billing-bot", "ops-bot", "support-bot", "trader-bot")]
    for seq in range(ACTIONS):
        body = demo.proposal(rng, seq)
        action_submit(agent=rng.choice(agents), action_type=types[body.pop("action_type")], **body)
    users = get_user_model().objects
    reviewers = list(users.filter(reviewer_groups__isnull=False).distinct().values_list("id", "username"))
    admin_id = users.get(username="admin").pk
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_actions AS SELECT (row_number() OVER (ORDER BY a.id) - 1)::int AS n, a.id,"
            " a.agent_id, g.name AS agent_name, t.key AS type_key, a.confidence,"
            " coalesce(nullif(a.route_tier, ''), 'tier1') AS tier, a.payload"
            " FROM hitl_action a JOIN hitl_actiontype t ON t.id = a.action_type_id"
            " JOIN hitl_agent g ON g.id = a.agent_id"
        )
        conn.execute("CREATE TEMP TABLE bench_reviewers (n int, id int, username text)")
        with conn.cursor().copy("COPY bench_reviewers FROM STDIN") as copy:
            for n, (user_id, username) in enumerate(reviewers):
                copy.write_row([n, user_id, username])
        first = AuditEvent.objects.count()
        batch = 100_000
        for low in range(first, count, batch):
            high = min(count, low + batch) - 1
            conn.execute(
                INSERT_SQL,
                {
                    "start": START,
                    "first": low,
                    "last": high,
                    "actions": ACTIONS,
                    "reviewers": len(reviewers),
                    "admin": admin_id,
                },
            )
            print(f"  inserted events up to {high + 1:,}", flush=True)
        conn.execute("VACUUM (ANALYZE) hitl_auditevent")


def session_cookie(username: str) -> bytes:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


# --- measurement ------------------------------------------------------------------------------


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


class Run:
    def __init__(self, seconds: float, first_byte: float, size: int, rows: int, rss_growth: int, traced: int = 0):
        self.seconds, self.first_byte, self.size, self.rows = seconds, first_byte, size, rows
        self.rss_growth = rss_growth  # KiB: the high-water mark during the run over the RSS at its start
        self.traced = traced  # bytes: tracemalloc's peak, in traced runs


def measured(run_body, traced: bool = False) -> Run:
    """Run `run_body() -> (first_byte, size, rows)` and note its time and memory."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current RSS
    start_rss = rss_kib("VmRSS")
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    first_byte, size, rows = run_body()
    seconds = time.perf_counter() - started
    peak = 0
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return Run(seconds, first_byte - started, size, rows, rss_kib("VmHWM") - start_rss, peak)


def export_body(cookie: bytes, query: bytes = b""):
    """GET the export through the production ASGI application; read and discard each body message."""
    from hitl.asgi import application

    async def call():
        state = {"first": None, "size": 0, "rows": 0, "status": None}
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif body := message.get("body"):
                if state["first"] is None:
                    state["first"] = time.perf_counter()
                state["size"] += len(body)
                state["rows"] += body.count(b"\n")

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": PATH, "raw_path": PATH.encode(), "query_string": query, "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie)],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        await application(scope, receive, send)
        assert state["status"] == 200, state
        return state["first"], state["size"], state["rows"]

    return lambda: asyncio.run(call())


def export_sql() -> str:
    """The SQL the export runs, unfiltered: its columns, joins and order."""
    from audit.export import AuditFilters, _export_rows, audit_events

    sql, params = _export_rows(audit_events(AuditFilters())).query.sql_with_params()
    assert not params, params
    return sql


def copy_body(sql: str):
    """COPY (the export's SELECT) TO STDOUT over one connection; read and discard each block."""

    def run():
        first, size, rows = None, 0, 0
        with psycopg.connect(DB_URL) as conn, conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            with cur.copy(f"COPY ({sql}) TO STDOUT") as copy:
                for block in copy:
                    if first is None:
                        first = time.perf_counter()
                    size += len(block)
                    rows += bytes(block).count(b"\n")
        return first, size, rows

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="audit events in the database")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run")
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
    if not args.reuse:
        build_events(args.count)
    from audit.models import AuditEvent

    count = AuditEvent.objects.count()
    print(f"database {DB_NAME}: {count:,} audit events, built in {time.perf_counter() - started:.1f} s", flush=True)

    cookie = session_cookie("audrey")
    sql = export_sql()
    export, baseline = export_body(cookie), copy_body(sql)
    export_body(cookie, b"to=2025-01-02")()  # warm-up: imports, the URL resolver, connection pool
    runners = {"export": export, "COPY": baseline}
    runs = {name: [] for name in runners}
    for round_ in range(args.rounds):
        # Alternate the order, so that drift in a shared machine's load favours neither side.
        for name in runners if round_ % 2 == 0 else reversed(runners):
            count = AuditEvent.objects.count()  # each export adds its own record, after the rows it holds
            run = measured(runners[name])
            assert run.rows == count, (name, run.rows, count)
            runs[name].append(run)
            print(
                f"round {round_ + 1}: {name:<6} {run.seconds:6.2f} s  {count / run.seconds:9,.0f} rows/s  "
                f"first byte {run.first_byte:5.3f} s  {run.size / 2**20:6.0f} MiB  "
                f"peak RSS +{run.rss_growth / 1024:5.1f} MiB",
                flush=True,
            )
    traced = {name: measured(runner, traced=True) for name, runner in runners.items()}

    def median(name, attribute):
        return statistics.median(getattr(run, attribute) for run in runs[name])

    export_s, copy_s = median("export", "seconds"), median("COPY", "seconds")
    print()
    for name, label in (("export", "GET /api/v1/audit/events (JSONL)"), ("COPY", "COPY (same SELECT) TO STDOUT")):
        seconds = median(name, "seconds")
        print(
            f"{label:<34} {count:,} rows  median {seconds:6.2f} s  ({count / seconds:9,.0f} rows/s)  "
            f"first byte {median(name, 'first_byte'):5.3f} s  body {runs[name][0].size / 2**20:,.0f} MiB  "
            f"peak RSS +{median(name, 'rss_growth') / 1024:.1f} MiB  tracemalloc peak "
            f"{traced[name].traced / 2**20:.1f} MiB"
        )
    ratios = [e.seconds / c.seconds for e, c in zip(runs["export"], runs["COPY"], strict=True)]
    print(
        f"ratio export/baseline: {export_s / copy_s:.2f}  (median of the rounds' ratios "
        f"{statistics.median(ratios):.2f})"
    )
    print(
        f"setup: in-process, bench.settings, PostgreSQL; export through hitl.asgi.application with audrey's "
        f"session, body messages read and discarded; baseline psycopg COPY of the export's own SELECT, blocks "
        f"discarded; {args.rounds} rounds, alternating; peak RSS = VmHWM (reset per run) over VmRSS at the start; "
        f"tracemalloc from one extra run of each"
    )


if __name__ == "__main__":
    main()
