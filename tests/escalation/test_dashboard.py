"""The lead's SLA dashboard: each tile's figures against the same figures computed here, in Python,
from the fixture's own lists, at a fixed clock; who may see it; the window's errors; the tables as
CSV; a query count that does not grow with the data."""

import csv
import io
import itertools
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event
from calibration.models import ActionCount
from calibration.services import label_record
from escalation.dashboard import Window, WindowForm, capacity_tile, dashboard_figures, now_tile, relief, sla_tile
from hitl.db import insert_rows
from hitl.models import Action
from hitl.services import agent_create
from hitl.states import RoutePattern, Status
from reviews.models import Claim, Verdict
from reviews.selectors import reviewer_loads
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WEEK = Window("week", NOW - timedelta(days=7), NOW, "day")
SLA = {"tier1": 4 * 3600.0, "tier2": 3600.0, "tier3": 900.0}
WARN = [0.5, 0.75, 0.9]
seq = itertools.count()


def pcont(values: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    values = sorted(values)
    rank = p * (len(values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


class World:
    """Rows written straight to the tables (the services are tested elsewhere), with their facts kept."""

    def __init__(self, now: datetime = NOW):
        self.now = now
        self.tina, self.leo, self.eve = (UserFactory(username=n) for n in ("tina", "leo", "eve"))
        # The tier groups exist (a migration makes them): their capacities are set here.
        self.team, self.lead, self.executive, self.finance = (
            ReviewerGroupFactory(key=key, kind=kind, rank=rank)
            for key, kind, rank in (("team", "tier", 1), ("lead", "tier", 2), ("executive", "tier", 3),
                                    ("finance", "expertise", 0))
        )  # fmt: skip
        for group, capacity in ((self.team, 40), (self.lead, 20), (self.executive, None), (self.finance, 5)):
            group.daily_capacity = capacity
            group.save()
        self.team.members.add(self.tina)
        self.lead.members.add(self.leo)
        self.executive.members.add(self.eve)
        self.email = ActionTypeFactory(key="send_email", threshold=0.8)
        self.refund = ActionTypeFactory(key="issue_refund", payload_schema=None, irreversible=False, threshold=0.7)
        self.bot, _ = agent_create(name="support-bot")
        self.other, _ = agent_create(name="billing-bot")
        self.waiting: list[dict] = []

    def action(self, *, tier="tier1", group="team", created, status=Status.PENDING, used=None, confidence=0.6,
               pattern=RoutePattern.PRE_ACTION, action_type=None, agent=None, threshold=0.8) -> Action:  # fmt: skip
        sla = SLA[tier]
        due = self.now + timedelta(seconds=sla * (1 - used)) if used is not None else None
        return Action.objects.create(
            agent=agent or self.bot,
            action_type=action_type or self.email,
            payload={"n": next(seq)},
            summary="an action",
            confidence=confidence,
            irreversible=True,
            compliance_risk=False,
            status=status,
            route_pattern=pattern,
            route_tier=tier if pattern != RoutePattern.AUTONOMOUS else "",
            reviewer_group=group if pattern != RoutePattern.AUTONOMOUS else "",
            route_threshold=threshold,
            due_at=due,
            escalation_path=[{"tier": tier, "group": group, "sla": sla, "warn_at": WARN, "on_breach": "escalate"}],
            created_at=created,
        )

    def wait(self, tier, group, *, age, used):
        """A pending item `age` old that has used `used` of its step's SLA."""
        self.waiting.append({"tier": tier, "group": group, "created": self.now - age, "used": used})
        return self.action(tier=tier, group=group, created=self.now - age, used=used)

    def event(self, event_type, at, *, action=None, actor=None, **fields):
        event = audit_event(event_type=event_type, action=action, actor=actor, **fields)
        event.created_at = at
        insert_rows([event])

    def decided(self, *, tier, group="team", submitted, decided, verdict="approved", action_type=None, agent=None,
                reviewer=None, pattern=RoutePattern.PRE_ACTION):  # fmt: skip
        action = self.action(tier=tier, group=group, created=submitted, status=Status.APPROVED, pattern=pattern,
                             action_type=action_type, agent=agent)  # fmt: skip
        label_record(action=action, verdict=verdict, reviewer=reviewer or self.tina, decided_at=decided)
        return action


@pytest.fixture
def world(db):
    return World()


@pytest.fixture
def world_now(db):
    """The world as of the real clock, for the page, which reads at the time it is asked."""
    return World(timezone.now())


def test_now_counts_what_waits_what_breached_who_holds_what_and_who_is_at_work(world):
    world.wait("tier1", "team", age=timedelta(hours=3), used=0.8)  # past the first warning (50 %)
    world.wait("tier1", "team", age=timedelta(minutes=10), used=0.04)
    world.wait("tier1", "finance", age=timedelta(hours=1), used=0.3)
    world.wait("tier2", "lead", age=timedelta(hours=5), used=1.2)  # overdue, the sweep not there yet
    world.wait("tier3", "executive", age=timedelta(minutes=9), used=0.6)
    world.action(created=NOW - timedelta(hours=1), status=Status.APPROVED)  # decided: not waiting
    world.action(created=NOW - timedelta(hours=1), pattern=RoutePattern.POST_ACTION, used=0.1)  # not waiting
    breaches = [  # (kind, minutes ago, tier breached)
        ("escalated", 20, "tier1"), ("escalated", 90, "tier1"), ("expired", 50, "tier3"), ("expired", 23 * 60, "tier3"),
        ("escalated", 25 * 60, "tier2"),  # older than a day
    ]  # fmt: skip
    for kind, minutes, tier in breaches:
        world.event(kind, NOW - timedelta(minutes=minutes), before={"tier": tier}, data={"late_seconds": 5.0})
    world.event("warned", NOW - timedelta(minutes=5))  # not a breach
    item = world.wait("tier1", "team", age=timedelta(minutes=1), used=0.01)
    Claim.objects.create(action=item, holder=world.tina, claimed_at=NOW - timedelta(minutes=4),
                         expires_at=NOW + timedelta(minutes=10))  # fmt: skip
    lapsed = world.wait("tier2", "lead", age=timedelta(minutes=1), used=0.01)
    Claim.objects.create(action=lapsed, holder=world.leo, claimed_at=NOW - timedelta(hours=1),
                         expires_at=NOW - timedelta(minutes=1))  # fmt: skip
    world.event("claimed", NOW - timedelta(minutes=4), action=item, actor=world.tina)
    world.event("decided", NOW - timedelta(minutes=30), action=item, actor=world.eve)  # before the 15 minutes
    world.event("claimed", NOW - timedelta(minutes=14), action=lapsed, actor=world.leo)

    tile = now_tile(NOW, reviewer_loads(WEEK.since, WEEK.until, NOW))

    for tier in ("tier1", "tier2", "tier3"):
        mine = [w for w in world.waiting if w["tier"] == tier]
        row = next(t for t in tile.tiers if t.tier == tier)
        assert row.pending == len(mine)
        assert row.at_risk == sum(w["used"] >= WARN[0] for w in mine)
        assert row.oldest == min(w["created"] for w in mine)
        assert row.most_used == pytest.approx(max(w["used"] for w in mine))
        assert row.sla == SLA[tier]
    groups = {(g.tier, g.group): g.pending for g in tile.groups}
    expected: dict = {}
    for w in world.waiting:
        expected[(w["tier"], w["group"])] = expected.get((w["tier"], w["group"]), 0) + 1
    assert groups == expected
    assert tile.pending == len(world.waiting) == 7 and tile.at_risk == 3
    day = [b for b in breaches if b[1] <= 24 * 60]
    assert tile.breaches_hour == sum(b[1] <= 60 for b in breaches) == 2
    assert tile.breaches_day == len(day) == 4
    assert tile.escalations_hour == 1 and tile.escalations_day == 2 and tile.expiries_day == 2
    assert [(r.username, r.holding) for r in tile.holding] == [("tina", 1)]  # leo's claim lapsed
    assert tile.holding[0].oldest_claim == NOW - timedelta(minutes=4)
    assert tile.active == ["leo", "tina"]


def test_sla_performance_per_tier_and_per_day_against_each_sla(world):
    decisions = {  # tier: [(submitted days ago, seconds to decide)]
        "tier1": [(1, 600), (1, 3600), (2, 5 * 3600), (6, 120), (9, 60)],  # the last before the window
        "tier2": [(3, 1800), (3, 2400)],
    }
    for tier, items in decisions.items():
        for days, seconds in items:
            submitted = NOW - timedelta(days=days)
            world.decided(tier=tier, submitted=submitted, decided=submitted + timedelta(seconds=seconds))
    world.decided(tier="tier1", submitted=NOW - timedelta(days=1), decided=NOW - timedelta(hours=20),
                  pattern=RoutePattern.POST_ACTION, verdict="confirmed")  # post-action: no SLA  # fmt: skip
    # (kind, tier, days ago, late seconds); the last is outside the window
    breaches = [("escalated", "tier1", 2, 30.0), ("escalated", "tier1", 2, 90.0), ("expired", "tier3", 4, 12.0),
                ("escalated", "tier1", 10, 99.0)]  # fmt: skip
    for kind, tier, days, late in breaches:
        world.event(kind, NOW - timedelta(days=days, hours=1), before={"tier": tier}, data={"late_seconds": late})

    rows = {r.tier: r for r in sla_tile(WEEK, SLA)}

    for tier in ("tier1", "tier2", "tier3"):
        row = rows[tier]
        times = [s for d, s in decisions.get(tier, []) if NOW - timedelta(days=d, seconds=-s) >= WEEK.since]
        inside = [b for b in breaches if b[1] == tier and b[2] < 7]
        assert row.decided == len(times)
        assert row.p50 == (pytest.approx(pcont(times, 0.5)) if times else None)
        assert row.p95 == (pytest.approx(pcont(times, 0.95)) if times else None)
        assert row.escalated == sum(b[0] == "escalated" for b in inside)
        assert row.expired == sum(b[0] == "expired" for b in inside)
        ended = len(times) + len(inside)
        assert row.breach_rate == (pytest.approx(len(inside) / ended) if ended else None)
        lates = [b[3] for b in inside]
        assert row.late_mean == (pytest.approx(sum(lates) / len(lates)) if lates else None)
        assert row.late_max == (max(lates) if lates else None)
        assert row.sla == SLA[tier]
        assert len(row.series) == len(WEEK.starts())
    tier1 = rows["tier1"]
    assert (tier1.decided, tier1.escalated, tier1.breach_rate) == (4, 2, pytest.approx(2 / 6))
    assert tier1.p95_over  # 95 % of 5 h and less: over the 4 h SLA
    by_day = {start.date(): point for start, *point in tier1.series}
    day_two = (NOW - timedelta(days=2)).date()
    assert by_day[day_two] == [1, 5 * 3600, 5 * 3600, 2]  # decided, p50, p95, breaches that day
    one = sorted([600, 3600])
    assert by_day[(NOW - timedelta(days=1)).date()] == [
        2,
        pytest.approx(pcont(one, 0.5)),
        pytest.approx(pcont(one, 0.95)),
        0,
    ]
    assert by_day[(NOW - timedelta(days=4)).date()] == [0, None, None, 0]


def test_capacity_per_day_per_group_and_per_reviewer(world):
    counts = {  # day: (type, agent, total, routed)
        date(2026, 3, 9): [(world.email, world.bot, 100, 30), (world.refund, world.other, 50, 10)],
        date(2026, 3, 5): [(world.email, world.bot, 80, 40)],
        date(2026, 2, 20): [(world.email, world.bot, 999, 999)],  # before the window
    }
    for day, rows in counts.items():
        for action_type, agent, total, routed in rows:
            ActionCount.objects.create(day=day, action_type=action_type, agent=agent, total=total, routed=routed)
    for hours_ago, reviewer in ((5, world.tina), (30, world.tina), (50, world.leo)):
        world.decided(tier="tier1", submitted=NOW - timedelta(hours=hours_ago + 1),
                      decided=NOW - timedelta(hours=hours_ago), reviewer=reviewer)  # fmt: skip
    # (who, kind, hours ago): the last is outside the window
    verdicts = [(world.tina, "approve", 2), (world.tina, "reject", 3), (world.tina, "confirm", 4),
                (world.leo, "modify", 1), (world.leo, "approve", 200)]  # fmt: skip
    for reviewer, kind, hours in verdicts:
        action = world.action(created=NOW - timedelta(hours=hours + 1), status=Status.APPROVED)
        Verdict.objects.create(action=action, reviewer=reviewer, kind=kind, time_to_decision=timedelta(hours=1),
                               created_at=NOW - timedelta(hours=hours))  # fmt: skip
    for minutes in (10, 20):  # routed today to finance: the 5 a day cap
        world.action(tier="tier1", group="finance", created=NOW - timedelta(minutes=minutes), used=0.01)
    world.action(tier="tier1", group="finance", created=NOW - timedelta(days=1), used=0.01)  # yesterday's
    for days in (1, 3, 9):  # the last before the window
        world.event("overflowed", NOW - timedelta(days=days), before={"group": "finance", "why": "full"},
                    after={"group": "lead"})  # fmt: skip
    held = world.action(created=NOW - timedelta(minutes=5), used=0.01)
    Claim.objects.create(action=held, holder=world.eve, claimed_at=NOW - timedelta(minutes=3),
                         expires_at=NOW + timedelta(minutes=5))  # fmt: skip

    loads = reviewer_loads(WEEK.since, WEEK.until, NOW)
    tile = capacity_tile(WEEK, NOW, now_tile(NOW, loads).groups, loads)

    assert [day for day, *_ in tile.days] == [(NOW - timedelta(days=7 - i)).date() for i in range(8)]
    per_day = {day: (s, r, d) for day, s, r, d in tile.days}
    assert per_day[date(2026, 3, 9)] == (150, 40, 1)  # decided: tina's of 30 hours ago
    assert per_day[date(2026, 3, 5)] == (80, 40, 0)
    assert per_day[date(2026, 3, 10)] == (0, 0, 1)
    assert tile.submitted_per_day == pytest.approx((150 + 80) / 7)
    assert tile.routed_per_day == pytest.approx(80 / 7)
    assert tile.decided_per_day == pytest.approx(3 / 7)
    assert tile.capacity == 40 + 20 + 5 and tile.uncapped == ["executive"]
    assert tile.routed_share == pytest.approx(80 / 230)
    assert tile.share_that_fits == 1.0 and not tile.over
    groups = {g.key: g for g in tile.groups}
    assert (groups["finance"].routed_today, groups["finance"].overflowed, groups["finance"].pending) == (2, 2, 3)
    assert not groups["finance"].over_capacity
    assert (groups["team"].active, groups["team"].daily_capacity) == (1, 40)
    loads = {r.username: r for r in tile.reviewers}
    assert (loads["tina"].verdicts, loads["tina"].approvals, loads["tina"].rejections, loads["tina"].post_action) == (
        3, 1, 1, 1,
    )  # fmt: skip
    assert (loads["leo"].verdicts, loads["leo"].approvals, loads["leo"].holding) == (1, 1, 0)
    assert (loads["eve"].verdicts, loads["eve"].holding, loads["eve"].wip_cap) == (0, 1, 5)
    assert [r.username for r in tile.reviewers] == ["tina", "leo", "eve"]  # busiest first


def test_quality_mix_per_type_and_agent_with_the_chronic_flag(world):
    verdicts = [  # (type, agent, verdict)
        *[(world.email, world.bot, "approved")] * 6, *[(world.email, world.bot, "modified")] * 2,
        (world.email, world.other, "rejected"), (world.email, world.other, "flagged"),
        *[(world.refund, world.other, "approved")] * 4, (world.refund, world.other, "confirmed"),
    ]  # fmt: skip
    for action_type, agent, verdict in verdicts:
        world.decided(tier="tier1", submitted=NOW - timedelta(days=2), decided=NOW - timedelta(days=1),
                      verdict=verdict, action_type=action_type, agent=agent)  # fmt: skip
    world.decided(tier="tier1", submitted=NOW - timedelta(days=20), decided=NOW - timedelta(days=19),
                  verdict="modified")  # outside the window  # fmt: skip

    figures = dashboard_figures(WEEK, NOW)

    for mixes, key in ((figures.types, lambda v: v[0].key), (figures.agents, lambda v: v[1].name)):
        names = sorted({key(v) for v in verdicts})
        assert [m.name for m in mixes] == names
        for mix in mixes:
            mine = [v[2] for v in verdicts if key(v) == mix.name]
            counts = (mix.approved, mix.modified, mix.rejected, mix.confirmed, mix.flagged)
            assert counts == tuple(mine.count(v) for v in ("approved", "modified", "rejected", "confirmed", "flagged"))
            assert mix.modification_rate == pytest.approx(mine.count("modified") / len(mine))
            assert mix.chronic == (mine.count("modified") / len(mine) > 0.2)
    email = next(m for m in figures.types if m.name == "send_email")
    assert (email.n, email.chronic) == (10, False)  # 2 of 10 edited: 20 % is not above a fifth
    support = next(m for m in figures.agents if m.name == "support-bot")
    assert (support.n, support.modification_rate, support.chronic) == (8, 0.25, True)


def test_relief_names_the_share_that_fits_and_a_threshold_that_routes_about_that_much(world):
    world.team.daily_capacity, world.lead.daily_capacity, world.finance.daily_capacity = 1, None, None
    for group in (world.team, world.lead, world.finance):
        group.save()
    # The last week of send_email, reversible here: 20 actions; routing sends the 8 below its 0.8
    # threshold to a person, and 2 confident ones with compliance exposure whatever their confidence.
    confidences = [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.75] + [0.81, 0.83] + [0.85 + 0.01 * i for i in range(10)]
    for i, c in enumerate(confidences):
        action = world.action(created=NOW - timedelta(days=2, minutes=i), confidence=c, status=Status.APPROVED)
        Action.objects.filter(pk=action.pk).update(irreversible=False, compliance_risk=i in (8, 9))
    ActionCount.objects.create(day=(NOW - timedelta(days=2)).date(), action_type=world.email, agent=world.bot,
                               total=20, routed=10)  # fmt: skip
    ActionCount.objects.create(day=(NOW - timedelta(days=2)).date(), action_type=world.refund, agent=world.bot,
                               total=8, routed=2)  # fmt: skip

    loads = reviewer_loads(WEEK.since, WEEK.until, NOW)
    capacity = capacity_tile(WEEK, NOW, [], loads)
    suggestion = relief(capacity, NOW)

    fits = 1 / ((20 + 8) / 7)  # capacity a day over submissions a day
    assert capacity.over and capacity.share_that_fits == pytest.approx(fits)
    free = sorted(c for i, c in enumerate(confidences) if i not in (8, 9))  # routed by confidence alone
    taken = round(fits * 20) - 2  # the share that fits, less what the rules route anyway
    cut = (free[taken - 1] + free[taken]) / 2
    assert suggestion.action_type == "send_email"
    assert suggestion.routed_share == pytest.approx(10 / 20) and suggestion.forced_share == pytest.approx(2 / 20)
    assert suggestion.fits_share == pytest.approx(fits) and suggestion.threshold == 0.8
    assert suggestion.suggested == pytest.approx(cut, abs=0.001)
    assert suggestion.suggested_share == pytest.approx((2 + taken) / 20)
    assert suggestion.text == (
        f"routing 50% of send_email; at the team's capacity {fits:.0%} fits: lowering its threshold from 0.80 to "
        f"{cut:.2f} would route about {(2 + taken) / 20:.0%}"
    )

    # Every action of the type routed by its rules (irreversible, here): no threshold to suggest.
    Action.objects.filter(action_type=world.email).update(irreversible=True)
    forced = relief(capacity, NOW)
    assert forced.suggested is None and forced.forced_share == 1.0
    assert forced.text.endswith("but 100% of it reaches a person whatever its confidence (irreversible, compliance, "
                                "blast radius or a rule): add reviewers or raise their daily capacity")  # fmt: skip


def test_the_window_form_names_each_bad_field():
    assert WindowForm({"window": "year"}).errors == {"window": ["Choose day, week, month or custom (not year)."]}
    form = WindowForm({"window": "custom", "from": "2026-03-01"})
    assert form.errors == {"to": ["A custom window needs its last day, e.g. 2026-01-31."]}
    assert WindowForm({"window": "custom", "from": "2026-03-09", "to": "2026-03-01"}).errors == {
        "to": ["The last day comes before the first."]
    }
    assert "from" in WindowForm({"window": "custom", "from": "yesterday", "to": "2026-03-01"}).errors
    form = WindowForm({"window": "custom", "from": "2026-03-01", "to": "2026-03-02"})
    assert form.is_valid()
    window = form.window_at(NOW)
    assert (window.since, window.until, window.bucket) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
        "day",
    )
    assert window.label == "2026-03-01 to 2026-03-02"
    form = WindowForm({})
    assert form.is_valid()
    day = form.window_at(NOW)
    assert (day.since, day.bucket, len(day.starts()), day.label) == (
        NOW - timedelta(days=1),
        "hour",
        24,
        "last 24 hours",
    )


# The page, its tables, who may see it


@pytest.fixture
def people(db):
    team = ReviewerGroupFactory(key="team", rank=1)
    lead = ReviewerGroupFactory(key="lead", rank=2)
    tina, leo = UserFactory(username="tina"), UserFactory(username="leo")
    team.members.add(tina)
    lead.members.add(leo)
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    return {"tina": tina, "leo": leo, "admin": admin}


def test_leads_and_admins_see_the_dashboard_and_land_on_it_a_team_reviewer_gets_403(client, people):
    assert client.get("/dashboard/").status_code == 302  # to the login page
    for name in ("leo", "admin"):
        client.force_login(people[name])
        assert client.get("/").url == "/dashboard/"
        page = client.get("/dashboard/")
        assert page.status_code == 200
        assert b"SLA performance, last 24 hours" in page.content and b"Nothing is waiting for a person." in page.content
        assert client.get("/dashboard/waiting.csv").status_code == 200
    client.force_login(people["tina"])
    assert client.get("/").url == "/reviews/"
    refused = client.get("/dashboard/")
    assert refused.status_code == 403 and b"The SLA dashboard is for team leads and admins." in refused.content
    assert client.get("/dashboard/waiting.csv").status_code == 403
    assert b'href="/dashboard/"' not in client.get("/reviews/").content  # not in her navigation


def test_a_bad_window_is_a_400_naming_the_field_and_an_unknown_table_a_404(client, people):
    client.force_login(people["leo"])
    page = client.get("/dashboard/", {"window": "custom", "from": "2026-03-09", "to": "2026-03-01"})
    assert page.status_code == 400 and b"The last day comes before the first." in page.content
    assert b'id="dashboard"' not in page.content  # no figures for a window it could not read
    table = client.get("/dashboard/sla.csv", {"window": "fortnight"})
    assert table.status_code == 400
    assert table.content.decode() == "window: Choose day, week, month or custom (not fortnight).\n"
    assert client.get("/dashboard/everything.csv").status_code == 404


def test_each_table_downloads_as_csv_with_what_the_page_shows(client, people, world_now):
    world_now.wait("tier1", "team", age=timedelta(minutes=30), used=0.6)
    world_now.wait("tier2", "lead", age=timedelta(minutes=5), used=0.1)
    client.force_login(people["leo"])
    response = client.get("/dashboard/waiting.csv", {"window": "week"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="hitl-waiting-week-')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["tier", "group", "pending", "at_risk", "oldest_submitted_at", "most_sla_used"]
    assert [r[:4] for r in rows[1:]] == [["tier1", "team", "1", "1"], ["tier2", "lead", "1", "0"]]
    for table in ("sla", "sla-series", "capacity", "groups", "reviewers", "quality-types", "quality-agents"):
        response = client.get(f"/dashboard/{table}.csv", {"window": "month"})
        assert response.status_code == 200, table
        assert len(list(csv.reader(io.StringIO(response.content.decode())))) >= 1
    series = list(csv.reader(io.StringIO(client.get("/dashboard/sla-series.csv", {"window": "week"}).content.decode())))
    assert len(series) == 1 + 3 * 8  # a row per tier and day of the window (8 days touched)


def _figures_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/dashboard/", {"window": "week"}).status_code == 200
    return len(queries.captured_queries)


def test_the_page_reads_in_the_same_number_of_queries_whatever_the_data(client, people, world_now):
    world = world_now
    now = world.now
    client.force_login(people["admin"])
    _figures_queries(client)  # caches warm (policy, session)

    def grow(k: int):
        for i in range(k):
            world.wait(("tier1", "tier2", "tier3")[i % 3], ("team", "lead", "executive")[i % 3],
                       age=timedelta(minutes=10 + i), used=0.1 * (i % 9))  # fmt: skip
            verdict = ("approved", "modified")[i % 2]
            world.decided(tier="tier1", submitted=now - timedelta(days=i % 6, hours=2),
                          decided=now - timedelta(days=i % 6, hours=1), verdict=verdict)  # fmt: skip
            world.event("escalated", now - timedelta(hours=i), before={"tier": "tier1"}, data={"late_seconds": 1.0})
            world.event("claimed", now - timedelta(minutes=i), actor=people["leo"])

    grow(2)
    few = _figures_queries(client)
    grow(40)
    assert _figures_queries(client) == few


# The backlog alert


def test_the_backlog_alert_fires_once_per_breach_of_the_bound_and_reaches_the_leads(
    world, django_capture_on_commit_callbacks
):
    from escalation.backlog import backlog_check
    from escalation.delivery import SENT, notification_deliver
    from escalation.models import BacklogBound
    from escalation.notify_models import Notification

    BacklogBound.objects.filter(pk=1).update(max_pending=2, max_oldest_age=timedelta(hours=1))
    world.wait("tier1", "team", age=timedelta(minutes=5), used=0.1)
    world.wait("tier1", "team", age=timedelta(minutes=5), used=0.1)
    assert backlog_check(now=NOW) is False  # 2 waiting: at the bound, not past it
    third = world.wait("tier2", "lead", age=timedelta(minutes=5), used=0.1)
    with django_capture_on_commit_callbacks(execute=False):
        assert backlog_check(now=NOW) is True
    assert backlog_check(now=NOW + timedelta(seconds=5)) is False  # still over: told already
    (alert,) = Notification.objects.all()
    assert (alert.action_id, alert.event, alert.channel, alert.reviewer_group) == (None, "backlog", "inapp", "lead")
    assert alert.text == "3 items waiting (bound 2)"
    assert notification_deliver(notification_id=alert.pk) == SENT  # an in-app toast to the leads
    sent = AuditEvent.objects.get(event_type="notification_sent")
    assert sent.action_id is None and sent.data["event"] == "backlog"

    Action.objects.filter(pk=third.pk).update(status=Status.APPROVED)
    assert backlog_check(now=NOW + timedelta(minutes=1)) is False  # back within: the mark clears
    assert BacklogBound.objects.get().over_since is None
    Action.objects.filter(pk=third.pk).update(status=Status.PENDING, created_at=NOW - timedelta(hours=2))
    assert backlog_check(now=NOW + timedelta(minutes=2)) is True  # a new breach: told again
    texts = list(Notification.objects.order_by("pk").values_list("text", flat=True))
    assert texts == [
        "3 items waiting (bound 2)",
        "3 items waiting (bound 2); the oldest waiting 2 h 02 min (bound 1 h 00 min)",
    ]


def test_an_admin_sets_the_backlog_bounds_in_admin_and_the_change_is_audited(client, people):
    client.force_login(people["admin"])
    listing = client.get("/admin/escalation/backlogbound/")
    assert listing.status_code == 200 and b"at most 200 waiting, oldest at most 2:00:00" in listing.content
    assert client.get("/admin/escalation/backlogbound/add/").status_code == 403  # one row: made by a migration
    changed = client.post(
        "/admin/escalation/backlogbound/1/change/", {"max_pending": "50", "max_oldest_age": "00:30:00"}
    )
    assert changed.status_code == 302
    from escalation.models import BacklogBound

    bound = BacklogBound.objects.get()
    assert (bound.max_pending, bound.max_oldest_age) == (50, timedelta(minutes=30))
    event = AuditEvent.objects.get(event_type="policy_changed")
    assert event.after["max_pending"] == 50 and event.before["max_pending"] == 200
