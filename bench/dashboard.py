"""The lead's SLA dashboard at 1,000,000 actions against 10,000, the selected window (the last 7
days) holding the same actions in both.

Builds two PostgreSQL databases (migrated, the demo's types and reviewers, four agents). Both get
the same 10,000 recent actions, drawn by SQL from one seed over the last 7 days: 300 waiting (in
every tier, some past a warning point, 20 claimed), the rest decided or run on their own, each with
what production writes for it: its `submitted` audit event; for a human verdict its `decided`
event, its Verdict and its Label; for 4 % an `escalated` event (the tier it left, its lateness);
for some an `overflowed` one. The large database then gets 990,000 older actions like them, spread
over the year before the window. Then the per-day sums of the labels (manage.py
rebuild_calibration_sums) and the day counts of submissions (calibration.services). The audit
events go through the chain trigger, as in production. A database built by an earlier run with
the same parameters is kept (only migrated): --rebuild builds afresh.

Each round renders the page (the lead leo's session, Django's test client in-process: middleware,
every tile's statements, the templates) for the week window on both databases, alternating which
goes first, several requests each. Prints medians and quartiles, the ratio large/small and the
statements each render ran (they must be the same number). Goal: large / small <= 2.

How the goal is met: every figure is aggregated by PostgreSQL over an indexed column, bounded by
the window or by what waits now (audit events by created_at, labels by decided_at, verdicts by
created_at, the waiting items by the queue's partial indexes), or read from a per-day rollup
(submissions), so a render reads what the window holds, not what the tables hold.

    make bench            # or: .venv/bin/python bench/dashboard.py --rounds 7 --requests 5
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import (  # noqa: E402
    database_url,
    django_setup_pair,
    fresh_database,
    manage,
    quartiles,
    use,
)

RECENT = 10_000  # actions in the window, in both databases
WAITING = 300  # of them, still waiting for a person
DATABASES = {"small": ("hitl_bench_dashboard_small", RECENT), "large": ("hitl_bench_dashboard", 1_000_000)}
BUILD = "dashboard-1"  # bump when the generated data changes: databases of another build are rebuilt
LEAD = "leo"
AGENTS = ("billing-bot", "ops-bot", "support-bot", "trader-bot")
SLA = {"tier1": 14400, "tier2": 3600, "tier3": 900}
GROUP = {"tier1": "team", "tier2": "lead", "tier3": "executive"}

# One row per action: its draws (seeded), then what follows from them. `g` numbers the actions:
# 1..RECENT are the window's, the same in both databases; the rest are older.
FACTS_SQL = """
CREATE TEMP TABLE bench_facts AS
WITH draws AS (
    SELECT g, random() AS r_type, random() AS r_agent, random() AS r_pattern, random() AS r_tier,
        random() AS r_when, random() AS r_wait, random() AS r_verdict, random() AS r_conf, random() AS r_esc
    FROM generate_series(%(first)s, %(last)s) AS g
), placed AS (
    SELECT d.*, t.type_id, t.key, a.agent_id,
        CASE WHEN d.g <= %(recent)s THEN %(anchor)s - d.r_when * interval '7 days'
            ELSE %(anchor)s - interval '7 days' - d.r_when * interval '358 days' END AS created_at,
        CASE WHEN d.g <= %(waiting)s THEN 'pre_action' WHEN d.r_pattern < 0.6 THEN 'pre_action'
            WHEN d.r_pattern < 0.7 THEN 'post_action' ELSE 'autonomous' END AS pattern,
        CASE WHEN d.r_tier < 0.7 THEN 'tier1' WHEN d.r_tier < 0.9 THEN 'tier2' ELSE 'tier3' END AS tier
    FROM draws d
    JOIN bench_types t ON t.n = floor(d.r_type * %(types)s)::int
    JOIN bench_agents a ON a.n = floor(d.r_agent * %(agents)s)::int
)
SELECT p.*, md5('hitl-bench-dashboard-' || p.g)::uuid AS id,
    p.g <= %(waiting)s AS waiting,
    CASE WHEN p.pattern = 'autonomous' THEN '' ELSE p.tier END AS route_tier,
    CASE WHEN p.pattern = 'autonomous' THEN '' ELSE (ARRAY['team', 'lead', 'executive'])[
        CASE p.tier WHEN 'tier1' THEN 1 WHEN 'tier2' THEN 2 ELSE 3 END] END AS route_group,
    CASE p.tier WHEN 'tier1' THEN 14400 WHEN 'tier2' THEN 3600 ELSE 900 END AS sla,
    -- a waiting item has used a share of its SLA; a decided one was decided this long after it came
    CASE WHEN p.g <= %(waiting)s THEN p.r_wait * 1.2 END AS used,
    least(p.created_at + (30 + p.r_wait * 14000) * interval '1 second', %(anchor)s - interval '1 second')
        AS decided_at,
    CASE WHEN p.pattern = 'autonomous' THEN '' WHEN p.r_verdict < 0.75 THEN 'approved'
        WHEN p.r_verdict < 0.9 THEN 'modified' ELSE 'rejected' END AS verdict,
    p.pattern = 'pre_action' AND p.g > %(waiting)s AND p.r_esc < 0.04 AS escalated,
    0.3 + 0.7 * p.r_conf AS confidence
FROM placed p
"""
ACTIONS_SQL = """
INSERT INTO hitl_action (
    id, agent_id, action_type_id, payload, summary, reasoning, context, confidence, irreversible, blast_radius,
    compliance_risk, entity, task_id, callback_url, status, route_pattern, route_tier, reviewer_group,
    route_threshold, route_reasons, policy_version, due_at, approvals_required, sampled, review_probability,
    version, decision, decided_by_id, decision_comment, decided_at, final_payload, outcome, outcome_detail,
    outcome_at, created_at, updated_at, escalation_path, escalation_step, sla_stage, sla_next_at,
    compensation, compensation_reason
)
SELECT f.id, f.agent_id, f.type_id, '{"to": "jane@example.com"}', 'Email Jane', 'Asked for it.', '{}',
    f.confidence, true, 1, false, '{}', 'task-' || f.g, '',
    CASE WHEN f.waiting THEN 'pending' WHEN f.pattern = 'pre_action' AND f.verdict = 'rejected' THEN 'rejected'
        ELSE 'approved' END,
    f.pattern, f.route_tier, f.route_group, 0.85, '[]', 0,
    CASE WHEN f.waiting THEN %(now)s + f.sla * (1 - f.used) * interval '1 second' END,
    1, false, CASE WHEN f.pattern = 'autonomous' THEN 0.02 ELSE 1.0 END, 2,
    CASE WHEN f.waiting OR f.pattern <> 'pre_action' THEN '' ELSE f.verdict END,
    CASE WHEN f.pattern = 'pre_action' AND NOT f.waiting THEN r.id END, '',
    CASE WHEN f.pattern = 'pre_action' AND NOT f.waiting THEN f.decided_at END,
    NULL, '', NULL, NULL,
    CASE WHEN f.waiting THEN %(now)s - f.sla * f.used * interval '1 second' ELSE f.created_at END, f.decided_at,
    jsonb_build_array(jsonb_build_object('tier', f.tier, 'group', f.route_group, 'sla', f.sla,
        'warn_at', '[0.5, 0.75, 0.9]'::jsonb, 'on_breach', 'escalate', 'page', false)),
    0, CASE WHEN f.waiting THEN 1 + (f.used >= 0.5)::int ELSE 0 END,
    CASE WHEN f.waiting THEN %(now)s + interval '1 day' END, '', ''
FROM bench_facts f JOIN bench_reviewers r ON r.reviewer_group = coalesce(nullif(f.route_group, ''), 'team')
"""
LABELS_SQL = """
INSERT INTO calibration_label (
    action_id, action_type_id, domain, agent_id, reviewer_id, confidence, correct, verdict, route_pattern,
    route_tier, policy_version, probability, edit, patch, time_to_decision, decided_at
)
SELECT f.id, f.type_id, '', f.agent_id, r.id, f.confidence, f.verdict = 'approved',
    CASE WHEN f.pattern = 'post_action' THEN CASE WHEN f.verdict = 'approved' THEN 'confirmed' ELSE 'flagged' END
        ELSE f.verdict END,
    f.pattern, f.route_tier, 0, 1.0, NULL, NULL, extract(epoch FROM f.decided_at - f.created_at), f.decided_at
FROM bench_facts f JOIN bench_reviewers r ON r.reviewer_group = f.route_group
WHERE f.pattern <> 'autonomous' AND NOT f.waiting
ORDER BY f.decided_at
"""
VERDICTS_SQL = """
INSERT INTO reviews_verdict (action_id, reviewer_id, kind, payload, patch, payload_sha256, reason_id, comment,
    time_to_decision, created_at)
SELECT f.id, r.id,
    CASE WHEN f.pattern = 'post_action' THEN CASE WHEN f.verdict = 'approved' THEN 'confirm' ELSE 'flag' END
        WHEN f.verdict = 'approved' THEN 'approve' WHEN f.verdict = 'modified' THEN 'modify' ELSE 'reject' END,
    NULL, NULL, '', NULL, '', f.decided_at - f.created_at, f.decided_at
FROM bench_facts f JOIN bench_reviewers r ON r.reviewer_group = f.route_group
WHERE f.pattern <> 'autonomous' AND NOT f.waiting
ORDER BY f.decided_at
"""
# The audit events, in time order, through the chain trigger: submitted, decided, escalated, overflowed.
EVENTS_SQL = """
INSERT INTO hitl_auditevent (created_at, event_type, actor_type, actor_label, request_id, action_id, agent_id,
    reviewer_id, action_type, agent_confidence, routing_tier, decision, time_to_decision_seconds, modified_action,
    before, after, data)
SELECT e.at, e.kind, e.actor_type, e.actor_label, '', f.id, f.agent_id, e.reviewer_id, f.key, f.confidence,
    f.route_tier, e.decision, e.seconds, NULL, e.before, e.after, e.data
FROM bench_facts f JOIN bench_reviewers r ON r.reviewer_group = coalesce(nullif(f.route_group, ''), 'team')
CROSS JOIN LATERAL (VALUES
    ('submitted', f.created_at, 'agent', 'agent', NULL::int, '', NULL::float8, NULL::jsonb,
        jsonb_build_object('status', 'pending', 'tier', f.route_tier), '{}'::jsonb, true),
    ('decided', f.decided_at, 'reviewer', r.username, r.id, f.verdict,
        extract(epoch FROM f.decided_at - f.created_at), NULL, jsonb_build_object('status', f.verdict), '{}',
        f.pattern = 'pre_action' AND NOT f.waiting),
    ('escalated', f.created_at + f.sla * interval '1 second', 'system', 'system', NULL, '', NULL,
        jsonb_build_object('tier', f.tier, 'group', f.route_group), '{}'::jsonb,
        jsonb_build_object('late_seconds', 1 + f.r_wait * 20), f.escalated),
    ('overflowed', f.created_at + interval '2 seconds', 'system', 'system', NULL, '', NULL,
        jsonb_build_object('group', 'team', 'why', 'at its daily capacity of 2000'),
        jsonb_build_object('group', 'lead'), '{}'::jsonb, f.escalated AND f.r_verdict < 0.25)
) AS e (kind, at, actor_type, actor_label, reviewer_id, decision, seconds, before, after, data, happened)
WHERE e.happened AND e.at < %(now)s
ORDER BY e.at
"""
CLAIMS_SQL = """
INSERT INTO reviews_claim (action_id, holder_id, claimed_at, expires_at)
SELECT f.id, r.id, %(now)s - interval '3 minutes', %(now)s + interval '1 day'
FROM bench_facts f JOIN bench_reviewers r ON r.reviewer_group = f.route_group
WHERE f.waiting AND f.g %% 15 = 0
"""
COUNT_ACTIONS = "from calibration.services import actions_count_catch_up; actions_count_catch_up()"


def built(name: str, count: int) -> datetime | None:
    """The anchor of database `name` when an earlier run built it with these parameters, else None."""
    try:
        with psycopg.connect(database_url(name)) as conn:
            row = conn.execute(
                "SELECT anchor FROM bench_dashboard_build WHERE build = %s AND actions = %s", [BUILD, count]
            ).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def prepare(name: str, count: int, anchor: datetime, env: dict) -> None:
    fresh_database(name, env)
    with psycopg.connect(database_url(name), cursor_factory=psycopg.ClientCursor, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE bench_agents (n int, agent_id bigint)")
        for n, agent in enumerate(AGENTS):
            (agent_id,) = conn.execute(
                "INSERT INTO hitl_agent (name, description, webhook_secret, webhook_secret_previous, is_active,"
                " created_at) VALUES (%s, '', %s, '', true, %s) RETURNING id",
                [agent, secrets.token_hex(32), anchor - timedelta(days=400)],
            ).fetchone()
            conn.execute("INSERT INTO bench_agents VALUES (%s, %s)", [n, agent_id])
        conn.execute(
            "CREATE TEMP TABLE bench_types AS SELECT (row_number() OVER (ORDER BY key) - 1)::int AS n, id AS type_id,"
            " key FROM hitl_actiontype"
        )
        (types,) = conn.execute("SELECT count(*) FROM bench_types").fetchone()
        conn.execute("CREATE TEMP TABLE bench_reviewers (reviewer_group text, id int, username text)")
        for group, username in (("team", "tina"), ("lead", "leo"), ("executive", "eve"), ("finance", "fiona")):
            conn.execute(
                "INSERT INTO bench_reviewers SELECT %s, id, username FROM auth_user WHERE username = %s",
                [group, username],
            )
        params = {"anchor": anchor, "now": anchor, "recent": RECENT, "waiting": WAITING, "types": types,
                  "agents": len(AGENTS)}  # fmt: skip
        # The older actions first, then the window's (the same draws in both databases, from one
        # seed), so that the audit chain runs mostly in time order.
        batch = 200_000
        batches = [(first, min(count, first + batch - 1)) for first in range(RECENT + 1, count + 1, batch)]
        for first, last in [*batches, (1, RECENT)]:
            conn.execute("DROP TABLE IF EXISTS bench_facts")
            conn.execute("SELECT setseed(%s)", [0.42 if first == 1 else first / (count + 1)])
            conn.execute(FACTS_SQL, {**params, "first": first, "last": last})
            for sql in (ACTIONS_SQL, LABELS_SQL, VERDICTS_SQL, EVENTS_SQL, CLAIMS_SQL):
                conn.execute(sql, params)
            print(f"  {name}: actions {first:,} to {last:,}", flush=True)
        conn.execute("CREATE TABLE bench_dashboard_build (build text, actions int, anchor timestamptz)")
        conn.execute("INSERT INTO bench_dashboard_build VALUES (%s, %s, %s)", [BUILD, count, anchor])
    env = {**env, "DATABASE_URL": database_url(name)}
    manage(env, "rebuild_calibration_sums")
    manage(env, "shell", "-c", COUNT_ACTIONS)
    with psycopg.connect(database_url(name), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def describe(name: str, since: datetime) -> str:
    with psycopg.connect(database_url(name)) as conn:
        actions, recent, waiting, events, labels = conn.execute(
            "SELECT (SELECT count(*) FROM hitl_action), (SELECT count(*) FROM hitl_action WHERE created_at >= %s),"
            " (SELECT count(*) FROM hitl_action WHERE status = 'pending'), (SELECT count(*) FROM hitl_auditevent),"
            " (SELECT count(*) FROM calibration_label)",
            [since],
        ).fetchone()
    return (
        f"{actions:,} actions ({recent:,} in the window, {waiting:,} waiting), {events:,} audit events, "
        f"{labels:,} labels"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=5, help="renders per database per round")
    parser.add_argument("--actions", type=int, default=DATABASES["large"][1], help="actions in the large database")
    parser.add_argument("--rebuild", action="store_true", help="build the databases afresh even if already built")
    args = parser.parse_args()
    DATABASES["large"] = (DATABASES["large"][0], args.actions)
    static_root = tempfile.mkdtemp(prefix="hitl-bench-static-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "STATIC_ROOT": static_root,
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update({k: env[k] for k in ("SECRET_KEY", "REDIS_URL")})
    anchors = {}
    for size, (name, count) in DATABASES.items():
        started = time.perf_counter()
        anchor = None if args.rebuild else built(name, count)
        reused = anchor is not None
        if reused:
            manage({**env, "DATABASE_URL": database_url(name)}, "migrate", "--noinput")
        else:
            anchor = anchors.get("small") or datetime.now(UTC).replace(second=0, microsecond=0)
            prepare(name, count, anchor, env)
        anchors[size] = anchor
        print(f"database {name}: {describe(name, anchor - timedelta(days=7))}; "
              f"{'reused' if reused else 'built'} in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    if anchors["small"] != anchors["large"]:
        sys.exit("The two databases were built at different times: run again with --rebuild.")
    try:
        manage({**env, "DATABASE_URL": database_url(DATABASES["large"][0])}, "collectstatic", "--noinput")
        measure(args, static_root, anchors["large"])
    finally:
        shutil.rmtree(static_root, ignore_errors=True)


def measure(args, static_root: str, anchor: datetime):
    django_setup_pair(DATABASES["large"][0], DATABASES["small"][0], static_root)
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for size in ("small", "large"):
        use(size)
        clients[size] = Client(SERVER_NAME="localhost")
        clients[size].force_login(get_user_model().objects.get(username=LEAD))

    def render(size: str) -> bytes:
        use(size)
        response = clients[size].get("/dashboard/", {"window": "week"})
        assert response.status_code == 200, (response.status_code, response.content[:300])
        return response.content

    # The clock stands at the databases' anchor: both windows hold the same 10,000 actions.
    with mock.patch("django.utils.timezone.now", return_value=anchor):
        counts = {}
        for size in ("small", "large"):
            render(size)  # warm-up: imports, templates, pool, policy cache
            with CaptureQueriesContext(connections["default"]) as captured:
                page = render(size)
            counts[size] = len(captured)
            print(f"{size}: {counts[size]} statements, {len(page):,} bytes", flush=True)
        if counts["small"] != counts["large"]:
            sys.exit(f"the statements differ: {counts}")
        times = {"small": [], "large": []}
        ratios = []
        for round_ in range(args.rounds):
            for size in ("small", "large") if round_ % 2 == 0 else ("large", "small"):
                for _ in range(args.requests):
                    started = time.perf_counter()
                    render(size)
                    times[size].append((time.perf_counter() - started) * 1000)
            last = {size: statistics.median(times[size][-args.requests :]) for size in times}
            ratios.append(last["large"] / last["small"])
            print(f"round {round_ + 1}: small {last['small']:7.1f} ms, large {last['large']:7.1f} ms", flush=True)
    print()
    print(f"dashboard page, last 7 days, at {RECENT:,} actions:      {quartiles(times['small'])}")
    print(f"dashboard page, last 7 days, at {args.actions:,} actions: {quartiles(times['large'])}")
    ratio = statistics.median(times["large"]) / statistics.median(times["small"])
    print(f"ratio large/small: {ratio:.2f}  (median of per-round ratios {statistics.median(ratios):.2f}; goal <= 2)")
    print(f"statements per render: {counts['small']} at either size")


if __name__ == "__main__":
    main()
