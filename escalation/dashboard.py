"""The team lead's SLA dashboard: what each tile shows.

Every figure is aggregated by PostgreSQL, over indexed columns or maintained rollups, in a fixed
number of statements whatever the data: the waiting items through the queue's partial indexes,
SLA events and reviewer activity through the audit log's created_at index, decision times and
verdicts through the labels' decided_at index, verdicts through their created_at index, and
submissions from the per-day counts (calibration). A window's figures cost what the window holds,
not what the tables hold.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.db import connection

from audit.models import AuditEvent
from calibration import selectors as calibration
from hitl.states import RoutePattern, Status, Tier
from reviews import selectors as reviews

from .backlog import Backlog
from .models import BacklogBound
from .selectors import tier_policies

ACTIVE_MINUTES = 15  # a reviewer who did anything in this long counts as active
RECENT_DAYS = 7  # what a routing suggestion is computed from
MAX_CUSTOM_DAYS = 366
WINDOWS = {  # name: (length, chart bucket)
    "day": (timedelta(days=1), "hour"),
    "week": (timedelta(days=7), "day"),
    "month": (timedelta(days=30), "day"),
}
WINDOW_LABELS = {"day": "last 24 hours", "week": "last 7 days", "month": "last 30 days"}
BREACHES = [str(AuditEvent.Type.ESCALATED), str(AuditEvent.Type.EXPIRED)]


@dataclass(frozen=True)
class Window:
    name: str  # day, week, month or custom
    since: datetime
    until: datetime
    bucket: str  # hour or day

    @property
    def label(self) -> str:
        if self.name in WINDOW_LABELS:
            return WINDOW_LABELS[self.name]
        last = self.until - timedelta(days=1)
        return f"{self.since:%Y-%m-%d}" if last == self.since else f"{self.since:%Y-%m-%d} to {last:%Y-%m-%d}"

    @property
    def days(self) -> list[date]:
        first, last = self.since.astimezone(UTC).date(), (self.until - timedelta(microseconds=1)).astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    @property
    def length_days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400

    def starts(self) -> list[datetime]:
        """The start of every chart bucket in the window."""
        step = timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)
        start = self.since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if self.bucket == "day":
            start = start.replace(hour=0)
        starts = []
        while start < self.until:
            starts.append(start)
            start += step
        return starts


class WindowForm(forms.Form):
    """The dashboard's window: the last day, week or month, or whole UTC days from `from` to `to`."""

    window = forms.ChoiceField(
        required=False, choices=[(name, name) for name in (*WINDOWS, "custom")], error_messages={
            "invalid_choice": "Choose day, week, month or custom (not %(value)s).",
        },
    )  # fmt: skip
    to = forms.DateField(required=False, help_text="The last day of a custom window (UTC), e.g. 2026-01-31.")

    def clean(self):
        data = super().clean()
        if data.get("window") != "custom":
            return data
        first, last = data.get("from"), data.get("to")
        if first is None and "from" not in self.errors:
            self.add_error("from", "A custom window needs its first day, e.g. 2026-01-01.")
        if last is None and "to" not in self.errors:
            self.add_error("to", "A custom window needs its last day, e.g. 2026-01-31.")
        if first and last:
            if last < first:
                self.add_error("to", "The last day comes before the first.")
            elif (last - first).days + 1 > MAX_CUSTOM_DAYS:
                self.add_error("to", f"A window spans at most {MAX_CUSTOM_DAYS} days.")
        return data

    def window_at(self, now: datetime) -> Window:
        data = self.cleaned_data
        name = data.get("window") or "day"
        if name == "custom":
            since = datetime.combine(data["from"], time(), UTC)
            return Window(name, since, datetime.combine(data["to"] + timedelta(days=1), time(), UTC), "day")
        length, bucket = WINDOWS[name]
        return Window(name, now - length, now, bucket)

    def errors_by_field(self) -> dict[str, list[str]]:
        return {name: list(messages) for name, messages in self.errors.items()}


WindowForm.base_fields["from"] = forms.DateField(
    required=False, help_text="The first day of a custom window (UTC), e.g. 2026-01-01."
)


# 1. Now


@dataclass
class Waiting:
    """Items waiting for a human at one tier (and group, or all its groups)."""

    tier: str
    group: str
    pending: int = 0
    at_risk: int = 0  # past their step's first warning point
    oldest: datetime | None = None  # when the oldest was submitted
    most_used: float | None = None  # the largest share of its SLA an item has used
    sla: float | None = None  # seconds, for a tier's row

    def add(self, other: "Waiting") -> None:
        self.pending += other.pending
        self.at_risk += other.at_risk
        self.oldest = min(filter(None, (self.oldest, other.oldest)), default=None)
        self.most_used = max(filter(lambda v: v is not None, (self.most_used, other.most_used)), default=None)


@dataclass
class Now:
    tiers: list[Waiting]
    groups: list[Waiting]
    breaches_hour: int
    breaches_day: int
    escalations_hour: int
    escalations_day: int
    expiries_day: int
    holding: list  # reviews.ReviewerLoad of those holding claims
    active: list[str]  # usernames
    sla: dict  # tier: SLA seconds

    @property
    def pending(self) -> int:
        return sum(t.pending for t in self.tiers)

    @property
    def at_risk(self) -> int:
        return sum(t.at_risk for t in self.tiers)

    @property
    def claims(self) -> int:
        return sum(r.holding for r in self.holding)


_WAITING = f"""
    SELECT route_tier, reviewer_group, count(*), count(*) FILTER (WHERE used >= first_warning), min(created_at),
        max(used)
    FROM (
        SELECT route_tier, reviewer_group, created_at,
            1 - extract(epoch FROM due_at - %(now)s) / nullif((escalation_path -> escalation_step ->> 'sla')::float8, 0)
                AS used,
            coalesce((escalation_path -> escalation_step -> 'warn_at' ->> 0)::float8, 1) AS first_warning
        FROM hitl_action WHERE status = '{Status.PENDING}' AND route_pattern = '{RoutePattern.PRE_ACTION}'
    ) waiting
    GROUP BY 1, 2
"""

_BREACHES_RECENT = f"""
    SELECT count(*) FILTER (WHERE created_at >= %(hour)s),
        count(*),
        count(*) FILTER (WHERE created_at >= %(hour)s AND event_type = '{AuditEvent.Type.ESCALATED}'),
        count(*) FILTER (WHERE event_type = '{AuditEvent.Type.ESCALATED}'),
        count(*) FILTER (WHERE event_type = '{AuditEvent.Type.EXPIRED}')
    FROM hitl_auditevent
    WHERE created_at >= %(day)s AND created_at <= %(now)s AND event_type = ANY(%(breaches)s)
"""

_ACTIVE = f"""
    SELECT DISTINCT u.username FROM hitl_auditevent e JOIN auth_user u ON u.id = e.reviewer_id
    WHERE e.created_at >= %(since)s AND e.created_at <= %(now)s AND e.actor_type = '{AuditEvent.Actor.REVIEWER}'
    ORDER BY 1
"""


def now_tile(now: datetime, loads: list) -> Now:
    """What waits now, what breached lately, who holds what and who is at work. `loads` are the
    reviewers' (reviews.reviewer_loads), read once for this tile and the capacity tile."""
    sla = {tier: policy.sla.total_seconds() for tier, policy in tier_policies().items()}
    groups = [Waiting(*row) for row in _rows(_WAITING, now=now)]
    tiers = {tier: Waiting(tier, "", sla=sla.get(tier)) for tier in Tier.values}
    for waiting in groups:
        tiers.setdefault(waiting.tier, Waiting(waiting.tier, "", sla=sla.get(waiting.tier))).add(waiting)
    hour, day, esc_hour, esc_day, expired = _rows(
        _BREACHES_RECENT, now=now, hour=now - timedelta(hours=1), day=now - timedelta(days=1), breaches=BREACHES
    )[0]
    active = [name for (name,) in _rows(_ACTIVE, now=now, since=now - timedelta(minutes=ACTIVE_MINUTES))]
    return Now(
        tiers=list(tiers.values()),
        groups=sorted(groups, key=lambda w: (w.tier, w.group)),
        breaches_hour=hour,
        breaches_day=day,
        escalations_hour=esc_hour,
        escalations_day=esc_day,
        expiries_day=expired,
        holding=[load for load in loads if load.holding],
        active=active,
        sla=sla,
    )


# 2. SLA performance


@dataclass
class TierSla:
    tier: str
    sla: float | None  # seconds
    decided: int = 0
    p50: float | None = None
    p95: float | None = None
    escalated: int = 0
    expired: int = 0
    late_mean: float | None = None  # seconds after the deadline the sweep acted, on average
    late_max: float | None = None
    series: list = field(default_factory=list)  # (bucket start, decided, p50, p95, breaches)

    @property
    def breaches(self) -> int:
        return self.escalated + self.expired

    @property
    def breach_rate(self) -> float | None:
        """Of the deadlines of this tier that ended in the window, the share that passed."""
        ended = self.decided + self.breaches
        return self.breaches / ended if ended else None

    @property
    def p95_over(self) -> bool:
        return self.p95 is not None and self.sla is not None and self.p95 > self.sla


# Per tier breached: every breach (its lateness), per kind, and per bucket; a column the set
# does not group by is null.
_BREACHES_WINDOW = """
    SELECT before ->> 'tier', event_type, date_trunc(%(bucket)s, created_at AT TIME ZONE 'UTC'), count(*),
        avg((data ->> 'late_seconds')::float8), max((data ->> 'late_seconds')::float8)
    FROM hitl_auditevent
    WHERE created_at >= %(since)s AND created_at < %(until)s AND event_type = ANY(%(breaches)s)
    GROUP BY GROUPING SETS ((1), (1, 2), (1, 3))
"""


def sla_tile(window: Window, sla: dict) -> list[TierSla]:
    """Per tier: decision times against its SLA, breaches, their lateness, and a series per bucket."""
    times, times_by_bucket = calibration.decision_times(window.since, window.until, window.bucket)
    tiers = {tier: TierSla(tier, sla.get(tier)) for tier in Tier.values}
    breaches_by_bucket: dict[tuple, int] = {}
    rows = _rows(_BREACHES_WINDOW, bucket=window.bucket, since=window.since, until=window.until, breaches=BREACHES)
    for tier, kind, start, n, late_mean, late_max in rows:
        if not tier:
            continue
        row = tiers.setdefault(tier, TierSla(tier, sla.get(tier)))
        if start is not None:
            breaches_by_bucket[tier, start.replace(tzinfo=UTC)] = n
        elif kind is not None:
            setattr(row, "escalated" if kind == AuditEvent.Type.ESCALATED else "expired", n)
        else:
            row.late_mean, row.late_max = late_mean, late_max
    for tier, row in tiers.items():
        overall = times.get(tier)
        if overall is not None:
            row.decided, row.p50, row.p95 = overall.n, overall.p50, overall.p95
        by_bucket = times_by_bucket.get(tier, {})
        for start in window.starts():
            point = by_bucket.get(start)
            row.series.append(
                (
                    start,
                    point.n if point else 0,
                    point.p50 if point else None,
                    point.p95 if point else None,
                    breaches_by_bucket.get((tier, start), 0),
                )
            )
    return list(tiers.values())


# 3. Capacity


@dataclass
class GroupToday:
    key: str
    name: str
    kind: str
    active: int
    daily_capacity: int | None
    pending: int
    routed_today: int
    overflowed: int  # new items moved to its fallback in the window

    @property
    def over_capacity(self) -> bool:
        return self.daily_capacity is not None and self.routed_today >= self.daily_capacity


@dataclass
class Capacity:
    days: list  # (day, submitted, routed, decided)
    capacity: int | None  # decisions a day the groups with a capacity can make
    uncapped: list[str]  # groups with no capacity set
    submitted_per_day: float
    routed_per_day: float
    decided_per_day: float
    groups: list[GroupToday]
    reviewers: list  # reviews.ReviewerLoad

    @property
    def routed_share(self) -> float | None:
        return self.routed_per_day / self.submitted_per_day if self.submitted_per_day else None

    @property
    def share_that_fits(self) -> float | None:
        """The share of submissions the groups' capacity could review (the design's 100 of 1,000: 10 %)."""
        if self.capacity is None or not self.submitted_per_day:
            return None
        return min(1.0, self.capacity / self.submitted_per_day)

    @property
    def over(self) -> bool:
        return self.capacity is not None and self.routed_per_day > self.capacity


_ROUTED_TODAY = f"""
    SELECT reviewer_group, count(*) FROM hitl_action
    WHERE route_pattern = '{RoutePattern.PRE_ACTION}' AND reviewer_group = ANY(%(groups)s)
        AND created_at >= %(midnight)s
    GROUP BY 1
"""

_OVERFLOWED = f"""
    SELECT before ->> 'group', count(*) FROM hitl_auditevent
    WHERE created_at >= %(since)s AND created_at < %(until)s AND event_type = '{AuditEvent.Type.OVERFLOWED}'
    GROUP BY 1
"""


def capacity_tile(window: Window, now: datetime, waiting: list[Waiting], loads: list) -> Capacity:
    """Submissions, the share sent to people and the decisions made per day, against the groups'
    capacity; each group's load today and overflow; each reviewer's throughput and claims."""
    submitted = calibration.submissions_per_day(window.days[0], window.days[-1])
    decided = calibration.decisions_per_day(window.since, window.until)
    days = [(day, *submitted.get(day, (0, 0)), decided.get(day, 0)) for day in window.days]
    length = max(window.length_days, 1 / 24)
    groups = reviews.group_capacities()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Per group: the action_group_recent index, (group, created_at), reads today's entries of each.
    routed_today = dict(_rows(_ROUTED_TODAY, midnight=midnight, groups=[g.key for g in groups]))
    overflowed = dict(_rows(_OVERFLOWED, since=window.since, until=window.until))
    pending: dict[str, int] = {}
    for w in waiting:
        pending[w.group] = pending.get(w.group, 0) + w.pending
    capped = [g.daily_capacity for g in groups if g.daily_capacity is not None]
    return Capacity(
        days=days,
        capacity=sum(capped) if capped else None,
        uncapped=[g.key for g in groups if g.daily_capacity is None],
        submitted_per_day=sum(d[1] for d in days) / length,
        routed_per_day=sum(d[2] for d in days) / length,
        decided_per_day=sum(d[3] for d in days) / length,
        groups=[
            GroupToday(
                g.key,
                g.name,
                g.kind,
                g.active,
                g.daily_capacity,
                pending.get(g.key, 0),
                routed_today.get(g.key, 0),
                overflowed.get(g.key, 0),
            )  # fmt: skip
            for g in groups
        ],
        reviewers=loads,
    )


# 5. What would relieve it


def relief(capacity: Capacity, now: datetime) -> calibration.Relief | None:
    """When more is routed than the groups can review: for the type routing the most in the last
    RECENT_DAYS, the share that fits (capacity over submissions) and a threshold that would route
    about that much of it, by the product's own routing over its recent actions
    (calibration.relief_for). None when what is routed fits or no capacity is set."""
    fits = capacity.share_that_fits
    if fits is None or fits >= (capacity.routed_share or 0):
        return None
    busiest = calibration.busiest_routed_type((now - timedelta(days=RECENT_DAYS)).astimezone(UTC).date())
    if busiest is None:
        return None
    return calibration.relief_for(busiest, now - timedelta(days=RECENT_DAYS), now, fits)


def _rows(sql: str, **params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# The whole page


@dataclass
class Figures:
    window: Window
    now: Now
    sla: list[TierSla]
    capacity: Capacity
    types: list  # calibration.VerdictMix per action type
    agents: list  # … and per agent
    bound: BacklogBound | None
    backlog_over: list[str]  # the bounds the queue passes now, in words
    relief: calibration.Relief | None


def dashboard_figures(window: Window, now: datetime) -> Figures:
    """Every tile's figures for `window`, in a fixed number of statements."""
    loads = reviews.reviewer_loads(window.since, window.until, now)
    waiting = now_tile(now, loads)
    capacity = capacity_tile(window, now, waiting.groups, loads)
    types, agents = calibration.verdict_mix(window.since, window.until)
    bound = BacklogBound.objects.first()
    oldest = min((t.oldest for t in waiting.tiers if t.oldest), default=None)
    backlog = Backlog(waiting.pending, now - oldest if oldest else None)
    over = backlog.over(bound) if bound else []
    return Figures(
        window=window,
        now=waiting,
        sla=sla_tile(window, waiting.sla),
        capacity=capacity,
        types=types,
        agents=agents,
        bound=bound,
        backlog_over=over,
        relief=relief(capacity, now) if over or capacity.over else None,
    )
