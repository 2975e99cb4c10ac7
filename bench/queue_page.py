"""Queue page cost: GET /reviews/ for a team reviewer with 100 and with 100,000 pending actions.

Builds two PostgreSQL databases with the same reviewers, agents, history and post-action
reviews, one with 100 and one with 100,000 pending pre-action actions (most of them in the
reviewer's scope, the rest routed to other tiers and groups, due times spread out, some
claimed). Renders the full queue page and its htmx partial in-process through Django's test
client (middleware, session, queries and templates; no network), alternating between the two
databases round by round, and prints the medians, their ratio and each page's query count.
Goal: large/small <= 1.3.

    make bench            # or: .venv/bin/python bench/queue_page.py --rounds 9 --requests 15
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file's name shadows the standard library's `queue` (psycopg and amqp import it): put the
# repository on the path instead of bench/, before anything imports it.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

import psycopg  # noqa: E402

from bench.databases import database_url, fresh_database, manage  # noqa: E402
from demo import data as demo  # noqa: E402

DATABASES = {"small": ("hitl_bench_queue_small", 100), "large": ("hitl_bench_queue", 100_000)}
REVIEWER = "tina"  # demo reviewer in the `team` tier group: sees tier1 actions routed to `team`
SLA = {"tier1": timedelta(hours=4), "tier2": timedelta(hours=1), "tier3": timedelta(minutes=15)}
# Where pending actions go: (tier, group, weight). Only ("tier1", "team") is in the reviewer's scope.
BUCKETS = [
    ("tier1", "team", 70),
    ("tier1", "finance", 8),
    ("tier2", "lead", 12),
    ("tier2", "finance", 2),
    ("tier3", "executive", 8),
]
FINANCE_TYPES = {"issue_refund", "execute_trade"}
REASONS = {
    "tier1": [{"code": "below_threshold", "message": "confidence is below the 0.85 threshold"}],
    "tier2": [
        {"code": "below_threshold", "message": "confidence is below the 0.85 threshold"},
        {"code": "low_confidence", "message": "confidence is below 0.6: tier2"},
    ],
    "tier3": [{"code": "compliance_risk", "message": "compliance exposure: an executive reviews it first"}],
}
ACTION_COLUMNS = (
    "id agent_id action_type_id payload summary reasoning context confidence irreversible blast_radius "
    "compliance_risk entity task_id callback_url status route_pattern route_tier reviewer_group route_threshold "
    "route_reasons policy_version due_at approvals_required version decision decided_by_id decision_comment "
    "decided_at final_payload outcome outcome_detail outcome_at created_at updated_at "
    "escalation_path escalation_step sla_stage sla_next_at compensation compensation_reason sampled"
).split()


# --- data -----------------------------------------------------------------------------------


class Rows:
    """Builds hitl_action rows from demo proposals, with the ids of one seeded database."""

    def __init__(self, conn: psycopg.Connection, now: datetime):
        self.now = now
        self.types = dict(conn.execute("SELECT key, id FROM hitl_actiontype").fetchall())
        self.users = dict(conn.execute("SELECT username, id FROM auth_user").fetchall())
        self.agents = [row[0] for row in conn.execute("SELECT id FROM hitl_agent ORDER BY name").fetchall()]

    def action(self, rng, seq, *, tier, group, status, pattern, created, due, decision="", decided_by=None):
        finance = group == "finance"
        while True:  # a proposal whose type fits the group: refunds and trades go to finance
            body = demo.proposal(rng, seq)
            if (body["action_type"] in FINANCE_TYPES) == finance or not group:
                break
        decided_at = created + timedelta(minutes=rng.uniform(1, 180)) if decision else None
        return (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            rng.choice(self.agents),
            self.types[body["action_type"]],
            json.dumps(body["payload"]),
            body["summary"],
            body["reasoning"],
            json.dumps(body["context"]),
            body["confidence"],
            True,
            body["blast_radius"],
            tier == "tier3",
            json.dumps(body["entity"]),
            body["task_id"],
            "https://agent.example.com/hitl/callback",
            status,
            pattern,
            tier,
            group,
            0.85,
            json.dumps(REASONS.get(tier, [])),
            0,
            due,
            2 if tier == "tier3" and pattern == "pre_action" else 1,
            1 if status == "pending" else 2,
            decision,
            self.users[decided_by] if decided_by else None,
            "",
            decided_at,
            json.dumps(body["payload"]) if decision in ("approved", "modified") else None,
            "",
            None,
            None,
            created,
            decided_at or created,
            "[]",  # no escalation path: the queue page does not read it, and no sweep runs here
            0,
            1,
            None,
            "",
            "",
            False,
        )

    def pending(self, rng, count):
        """Waiting pre-action actions: created over the last 8 hours, so some are overdue."""
        tiers_groups = [(t, g) for t, g, _ in BUCKETS]
        weights = [w for *_, w in BUCKETS]
        for seq in range(count):
            tier, group = rng.choices(tiers_groups, weights)[0]
            created = self.now - timedelta(seconds=rng.uniform(0, 8 * 3600))
            due = created + SLA[tier]
            yield self.action(
                rng, seq, tier=tier, group=group, status="pending", pattern="pre_action", created=created, due=due
            )

    def history(self, rng):
        """The same decided, autonomous and post-action actions in both databases."""
        rows, open_post = [], []
        for seq in range(10_000):  # decided pre-action approvals, over the last 30 days
            tier, group = rng.choices([(t, g) for t, g, _ in BUCKETS], [w for *_, w in BUCKETS])[0]
            created = self.now - timedelta(days=rng.uniform(1, 30))
            decision = rng.choices(["approved", "modified", "rejected", "expired"], [70, 10, 15, 5])[0]
            status = {"modified": "approved"}.get(decision, decision)
            reviewer = None if decision == "expired" else rng.choice(["tina", "leo", "eve", "fiona"])
            due = created + SLA[tier]
            rows.append(
                self.action(
                    rng,
                    1_000_000 + seq,
                    tier=tier,
                    group=group,
                    status=status,
                    pattern="pre_action",
                    created=created,
                    due=due,
                    decision=decision,
                    decided_by=reviewer,
                )
            )
        for seq in range(10_000):  # approved by policy
            created = self.now - timedelta(days=rng.uniform(0, 30))
            rows.append(
                self.action(
                    rng,
                    2_000_000 + seq,
                    tier="",
                    group="",
                    status="approved",
                    pattern="autonomous",
                    created=created,
                    due=None,
                    decision="approved",
                )
            )
        for seq in range(1_300):  # ran before review: 1,000 windows closed, 300 still open
            group = rng.choice(["team", "team", "team", "finance"])
            created = self.now - timedelta(days=rng.uniform(1, 30) if seq < 1_000 else rng.uniform(0, 0.8))
            due = created + timedelta(hours=24)
            rows.append(
                self.action(
                    rng,
                    3_000_000 + seq,
                    tier="tier1",
                    group=group,
                    status="approved",
                    pattern="post_action",
                    created=created,
                    due=due,
                    decision="approved",
                )
            )
            if seq >= 1_000:
                open_post.append(rows[-1][0])
        return rows, open_post[:60]  # 60 open windows already have a verdict


def prepare(name: str, pending: int, now: datetime, env: dict) -> None:
    """Drop and create `name`, migrate it, seed the demo reviewers and types, bulk-load the actions."""
    fresh_database(name, env)
    with psycopg.connect(database_url(name)) as conn:
        for agent in ("billing-bot", "ops-bot", "support-bot", "trader-bot"):
            conn.execute(
                "INSERT INTO hitl_agent (name, description, webhook_secret, webhook_secret_previous, is_active,"
                " created_at) VALUES (%s, '', %s, '', true, %s)",
                [agent, secrets.token_hex(32), now - timedelta(days=60)],
            )
        rows = Rows(conn, now)
        history, reviewed = rows.history(random.Random(3))
        copy_sql = f"COPY hitl_action ({', '.join(ACTION_COLUMNS)}) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy_sql) as copy_:
            for row in history:
                copy_.write_row(row)
        rng, claims = random.Random(5), []
        with conn.cursor() as cur, cur.copy(copy_sql) as copy_:
            for row in rows.pending(random.Random(7), pending):
                copy_.write_row(row)
                if rng.random() < 0.05:  # claimed; a third of those leases have run out
                    claimed = now - timedelta(minutes=rng.uniform(0, 15))
                    claims.append((row[0], rows.users[rng.choice(["tina", "leo", "eve", "fiona"])], claimed))
        claim_sql = "COPY reviews_claim (action_id, holder_id, claimed_at, expires_at) FROM STDIN"
        with conn.cursor() as cur, cur.copy(claim_sql) as copy_:
            for action_id, holder, claimed in claims:
                copy_.write_row((action_id, holder, claimed, claimed + timedelta(minutes=10)))
        verdict_sql = (
            "COPY reviews_verdict (action_id, reviewer_id, kind, payload_sha256, comment, time_to_decision, created_at)"
            " FROM STDIN"
        )
        with conn.cursor() as cur, cur.copy(verdict_sql) as copy_:
            for action_id in reviewed:
                copy_.write_row((action_id, rows.users["tina"], "confirm", "", "", timedelta(minutes=30), now))
    with psycopg.connect(database_url(name), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # what autovacuum does after a bulk load, done now rather than mid-run


# --- measurement ------------------------------------------------------------------------------


class Switch:
    """Database router: every query goes to the database being measured."""

    alias = "default"

    def db_for_read(self, model, **hints):
        return Switch.alias

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True


def django_setup(static_root: str):
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=database_url(DATABASES["large"][0]),
        STATIC_ROOT=static_root,
    )
    import django
    from django.conf import settings

    small = copy.deepcopy(settings.DATABASES["default"])
    small["NAME"] = DATABASES["small"][0]
    settings.DATABASES["small"] = small
    settings.DATABASE_ROUTERS = [Switch()]
    django.setup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=15, help="requests per page per database per round")
    parser.add_argument("--reuse", action="store_true", help="keep the databases of the last run (only migrate)")
    args = parser.parse_args()

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
    now = datetime.now(UTC)
    for name, pending in DATABASES.values():
        started = time.perf_counter()
        if args.reuse:
            manage({**env, "DATABASE_URL": database_url(name)}, "migrate", "--noinput")
        else:
            prepare(name, pending, now, env)
        with psycopg.connect(database_url(name)) as conn:
            (mine,) = conn.execute(
                "SELECT count(*) FROM hitl_action WHERE status = 'pending' AND reviewer_group = 'team'"
            ).fetchone()
        print(
            f"database {name}: {pending:,} pending actions ({mine:,} in {REVIEWER}'s scope), "
            f"{'reused' if args.reuse else 'built'} in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    try:
        manage(
            {**env, "DATABASE_URL": database_url(DATABASES["large"][0])}, "collectstatic", "--noinput"
        )  # the manifest {% static %} reads
        measure(args, static_root)
    finally:
        shutil.rmtree(static_root, ignore_errors=True)


def measure(args, static_root: str):
    django_setup(static_root)
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    aliases = {"small": "small", "large": "default"}
    clients = {}
    for size, alias in aliases.items():
        Switch.alias = alias
        clients[size] = Client(SERVER_NAME="localhost")
        clients[size].force_login(get_user_model().objects.get(username=REVIEWER))
    pages = {"page": {}, "partial": {"HTTP_HX_REQUEST": "true"}}

    def get(size, page):
        Switch.alias = aliases[size]
        response = clients[size].get("/reviews/", **pages[page])
        assert response.status_code == 200, response.status_code
        return response

    series = [(size, page) for page in pages for size in aliases]
    details = {}
    for size, page in series:
        for _ in range(5):  # warm-up: templates, connection pools, cached policy
            get(size, page)
        with CaptureQueriesContext(connections[aliases[size]]) as queries:
            html = get(size, page).content.decode()
        counts = re.search(r'<p class="counts" id="counts">(.*?)<span', html, re.S)
        details[size, page] = {
            "queries": len(queries),
            "rows": html.count('<tr id="row-'),
            "counts": " ".join(re.sub(r"<[^>]+>", " ", counts.group(1)).split()) if counts else "",
        }

    times = {key: [] for key in series}
    for round_ in range(args.rounds):
        # Alternate the order, so that drift in a shared machine's load favours neither side.
        for key in series if round_ % 2 == 0 else reversed(series):
            for _ in range(args.requests):
                started = time.perf_counter()
                get(*key)
                times[key].append((time.perf_counter() - started) * 1000)
        line = "  ".join(
            f"{page} {statistics.median(times['small', page][-args.requests :]):6.2f}/"
            f"{statistics.median(times['large', page][-args.requests :]):6.2f} ms"
            for page in pages
        )
        print(f"round {round_ + 1}: small/large  {line}", flush=True)

    print()
    for page in pages:
        small, large = (statistics.median(times[size, page]) for size in aliases)
        label = "GET /reviews/" + (" (htmx partial)" if page == "partial" else "")
        print(f"{label}:")
        for size, median in (("small", small), ("large", large)):
            d = details[size, page]
            print(
                f"  {DATABASES[size][1]:>7,} pending: median {median:6.2f} ms  {d['queries']} queries  "
                f"{d['rows']} rows" + (f"  counts: {d['counts']}" if d["counts"] else "")
            )
        rounds = [
            statistics.median(times["large", page][i : i + args.requests])
            / statistics.median(times["small", page][i : i + args.requests])
            for i in range(0, len(times["small", page]), args.requests)
        ]
        print(
            f"  ratio large/small: {large / small:.2f}  (goal <= 1.30; median of the rounds' ratios "
            f"{statistics.median(rounds):.2f})"
        )
    print(
        f"setup: reviewer {REVIEWER} (team, tier1), django.test.Client in-process, bench.settings, PostgreSQL; "
        f"{args.rounds} rounds x {args.requests} requests per page per database, alternating"
    )


if __name__ == "__main__":
    main()
