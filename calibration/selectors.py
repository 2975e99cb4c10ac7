"""Reads of calibration: the figures per action type (or per type and agent), summed by SQL.

Whole days come from the per-day sums (BinDay: a row per day, type, domain, agent and bin,
however many labels there are); the part of a day a range cuts (`from` or `to` not at midnight,
UTC) from the labels themselves. Both are the same sums (calibration.sums), which
calibration.metrics finishes into the figures.
"""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, Count, F, Q, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Concat

from audit.export import MomentField
from hitl import routing
from hitl.models import Action, ActionType, Agent
from hitl.policy import policy_current, policy_snapshot
from hitl.routing import COLD_START_IRREVERSIBLE, COLD_START_REVERSIBLE
from hitl.services import risk_facts
from hitl.states import RoutePattern

from . import metrics
from .models import ActionCount, ThresholdProposal
from .recalibration import routing_threshold
from .sums import BIN, COLUMNS, SUMS

GROUPS = ("action_type", "agent")
PARAMETERS = ("action_type", "agent", "domain", "from", "to", "group_by")


@dataclass(frozen=True)
class Filters:
    """Which labels: decided in [since, until), of a type, agent and domain when given."""

    action_type: ActionType | None = None
    agent: Agent | None = None
    domain: str = ""
    since: datetime | None = None
    until: datetime | None = None
    group_by: str = "action_type"


class FilterForm(forms.Form):
    """The calibration's query parameters, for the page and the API alike. All are optional."""

    parameters = PARAMETERS
    read_by = "calibration"

    to = MomentField(required=False, help_text="Verdicts before this moment (excluded).")
    action_type = forms.CharField(required=False, max_length=64, help_text="An action type's key.")
    agent = forms.CharField(required=False, max_length=100, help_text="An agent's name.")
    domain = forms.SlugField(required=False, max_length=64, help_text="An action type's domain.")
    group_by = forms.CharField(required=False, help_text="action_type (the default), or agent: a row per agent too.")

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.unknown = sorted(set(data) - set(self.parameters))

    def clean_action_type(self):
        key = self.cleaned_data["action_type"].strip()
        if not key:
            return None
        found = ActionType.objects.filter(key=key).first()
        if found is None:
            known = ", ".join(ActionType.objects.order_by("key").values_list("key", flat=True)) or "none yet"
            raise ValidationError(f"Unknown action type '{key}'. Known types: {known}.")
        return found

    def clean_agent(self):
        name = self.cleaned_data["agent"].strip()
        if not name:
            return None
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise ValidationError(f"No agent is named '{name}'.")
        return agent

    def clean_group_by(self):
        group = self.cleaned_data["group_by"].strip() or "action_type"
        if group not in GROUPS:
            raise ValidationError(f"Unknown grouping '{group}'. Use one of: {', '.join(GROUPS)}.")
        return group

    def is_valid(self) -> bool:
        return super().is_valid() and not self.unknown

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            self.add_error("from", "Is after `to`: the range runs from `from` (included) to `to` (excluded).")
        return data

    def errors_by_field(self) -> dict[str, list[str]]:
        """Each invalid or unknown parameter, by name, with what is wrong with it."""
        unknown = f"Not a filter of {self.read_by}. Known: {', '.join(self.parameters)}."
        return {
            **{name: list(messages) for name, messages in self.errors.items()},
            **dict.fromkeys(self.unknown, [unknown]),
        }

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            action_type=data.get("action_type"),
            agent=data.get("agent"),
            domain=data.get("domain") or "",
            since=data.get("from"),
            until=data.get("to"),
            group_by=data.get("group_by") or "action_type",
        )


FilterForm.base_fields = {"from": MomentField(required=False, help_text="Verdicts at or after this moment."),
                          **FilterForm.base_fields}  # fmt: skip


@dataclass(frozen=True)
class Row:
    """The figures of one action type (and agent, when grouped by agent)."""

    action_type: ActionType
    agent: Agent | None
    threshold: float
    figures: metrics.Calibration


def calibration_rows(filters: Filters) -> list[Row]:
    """One row per active action type the filters select; grouped by agent, one per type and agent
    that has labels (each type with none as one empty row, or the filter's agent's)."""
    types = [
        t
        for t in policy_snapshot().action_types.values()
        if (filters.action_type is None or t.pk == filters.action_type.pk)
        and (not filters.domain or t.domain == filters.domain)
    ]
    by_agent = filters.group_by == "agent"
    sums: dict[tuple, list[metrics.BinSums]] = {}
    for type_id, agent_id, sums_of_bin in bin_sums(filters, by_agent=by_agent):
        sums.setdefault((type_id, agent_id), []).append(sums_of_bin)
    agents = {a.pk: a for a in Agent.objects.filter(pk__in={agent for _, agent in sums if agent})}
    rows = []
    for action_type in sorted(types, key=lambda t: t.key):
        keys = sorted((k for k in sums if k[0] == action_type.pk), key=lambda k: agents[k[1]].name if k[1] else "")
        if not keys:
            keys = [(action_type.pk, filters.agent.pk if by_agent and filters.agent else None)]
            agents.update({filters.agent.pk: filters.agent} if by_agent and filters.agent else {})
        for key in keys:
            agent = agents.get(key[1])
            rows.append(Row(action_type, agent, threshold_of(action_type), metrics.calibration(sums.get(key, []))))
    return rows


def threshold_of(action_type: ActionType) -> float:
    """The confidence threshold in force now: the type's own, or the cold start's."""
    if action_type.threshold is not None:
        return action_type.threshold
    return COLD_START_IRREVERSIBLE if action_type.irreversible else COLD_START_REVERSIBLE


def bin_sums(filters: Filters, *, by_agent: bool):
    """(action type id, agent id or None, BinSums) for every bin with labels the filters select,
    summed by PostgreSQL: whole days from BinDay, the edges of a range from the labels."""
    whole, edges = _split(filters.since, filters.until)
    agent = ", l.agent_id" if by_agent else ", NULL::bigint"
    where, params = _where(filters)
    parts, values = [], []
    if whole is not None:
        days = [(f"l.day {op} %s", day) for op, day in zip((">=", "<"), whole, strict=True) if day is not None]
        columns = ", ".join(f"sum(l.{c})" for c in COLUMNS)
        parts.append(
            f"SELECT l.action_type_id{agent}, l.bin, {columns} FROM calibration_binday l"
            f" WHERE {' AND '.join([*where, *(sql for sql, _ in days)]) or 'true'} GROUP BY 1, 2, 3"
        )
        values += [*params, *(day for _, day in days)]
    for start, end in edges:
        parts.append(
            f"SELECT l.action_type_id{agent}, {BIN}, {SUMS} FROM calibration_label l"
            f" WHERE {' AND '.join([*where, 'l.decided_at >= %s', 'l.decided_at < %s'])} GROUP BY 1, 2, 3"
        )
        values += [*params, start, end]
    if not parts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), values)
        return [(type_id, agent_id, metrics.BinSums(b, *numbers)) for type_id, agent_id, b, *numbers in cursor]


def _where(filters: Filters) -> tuple[list[str], list]:
    where, params = [], []
    if filters.action_type is not None:
        where.append("l.action_type_id = %s")
        params.append(filters.action_type.pk)
    if filters.agent is not None:
        where.append("l.agent_id = %s")
        params.append(filters.agent.pk)
    if filters.domain:
        where.append("l.domain = %s")
        params.append(filters.domain)
    return where, params


def _split(since: datetime | None, until: datetime | None):
    """The whole days [first, last) in [since, until) (None: open), or None when there are none;
    and the (start, end) moments at its edges that cut a day (UTC)."""
    first = _day_from(since, up=True) if since is not None else None
    last = _day_from(until, up=False) if until is not None else None
    if first is not None and last is not None and first >= last:
        return None, [(since, until)] if since < until else []
    edges = []
    if since is not None and _midnight(first) > since:
        edges.append((since, _midnight(first)))
    if until is not None and until > _midnight(last):
        edges.append((_midnight(last), until))
    return (first, last), edges


def _day_from(moment: datetime, *, up: bool) -> date:
    moment = moment.astimezone(UTC)
    day = moment.date()
    return day + timedelta(days=1) if up and moment != _midnight(day) else day


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def routed_shares(filters: Filters) -> dict[int, float | None]:
    """Per action type id: the share of the actions submitted on the filters' days that a policy
    sent to a human (counted a minute behind, by day: calibration.services)."""
    counts = ActionCount.objects.all()
    if filters.since is not None:
        counts = counts.filter(day__gte=filters.since.astimezone(UTC).date())
    if filters.until is not None:
        counts = counts.filter(day__lte=filters.until.astimezone(UTC).date())
    if filters.agent is not None:
        counts = counts.filter(agent=filters.agent)
    totals: dict[int, list[int]] = {}
    for type_id, total, routed in counts.values_list("action_type_id", "total", "routed"):
        pair = totals.setdefault(type_id, [0, 0])
        pair[0] += total
        pair[1] += routed
    return {type_id: (routed / total if total else None) for type_id, (total, routed) in totals.items()}


# The lead dashboard's reads of the labels (escalation.dashboard): each one statement over the
# labels of a time window, found through the decided_at index, so its cost follows the window, not
# the table. `bucket` is "hour" or "day" (UTC).


@dataclass(frozen=True)
class DecisionTimes:
    """Seconds from submission to the final human decision of the pre-action items decided at a tier."""

    n: int
    p50: float | None
    p95: float | None


def decision_times(since: datetime, until: datetime, bucket: str) -> tuple[dict, dict]:
    """Per tier decided at: its DecisionTimes over the window, and per bucket start of the window."""
    sql = """
        SELECT route_tier, date_trunc(%(bucket)s, decided_at AT TIME ZONE 'UTC'), count(*),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY time_to_decision),
            percentile_cont(0.95) WITHIN GROUP (ORDER BY time_to_decision)
        FROM calibration_label
        WHERE decided_at >= %(since)s AND decided_at < %(until)s AND route_pattern = %(pre)s
        GROUP BY GROUPING SETS ((route_tier), (route_tier, 2))
    """
    overall, series = {}, {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"bucket": bucket, "since": since, "until": until, "pre": RoutePattern.PRE_ACTION})
        for tier, start, n, p50, p95 in cursor.fetchall():
            times = DecisionTimes(n, p50, p95)
            if start is None:
                overall[tier] = times
            else:
                series.setdefault(tier, {})[start.replace(tzinfo=UTC)] = times
    return overall, series


@dataclass(frozen=True)
class VerdictMix:
    """The final human verdicts on one action type's (or agent's) actions in a window."""

    name: str
    approved: int
    modified: int
    rejected: int
    confirmed: int
    flagged: int

    @property
    def n(self) -> int:
        return self.approved + self.modified + self.rejected + self.confirmed + self.flagged

    @property
    def modification_rate(self) -> float | None:
        return self.modified / self.n if self.n else None

    @property
    def chronic(self) -> bool:
        """Edited in more than a fifth of its verdicts: the design's signal to fix the agent."""
        rate = self.modification_rate
        return rate is not None and rate > metrics.CHRONIC_RATE


def verdict_mix(since: datetime, until: datetime) -> tuple[list[VerdictMix], list[VerdictMix]]:
    """The verdicts of the window per action type and per agent, each by name."""
    sql = """
        SELECT t.key, g.name, l.verdict, count(*)
        FROM calibration_label l
        JOIN hitl_actiontype t ON t.id = l.action_type_id
        JOIN hitl_agent g ON g.id = l.agent_id
        WHERE l.decided_at >= %(since)s AND l.decided_at < %(until)s
        GROUP BY GROUPING SETS ((t.key, l.verdict), (g.name, l.verdict))
    """
    by_type: dict[str, dict] = {}
    by_agent: dict[str, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "until": until})
        for key, agent, verdict, n in cursor.fetchall():
            target = by_type.setdefault(key, {}) if key is not None else by_agent.setdefault(agent, {})
            target[verdict] = n

    def mixes(counts: dict[str, dict]) -> list[VerdictMix]:
        return [
            VerdictMix(name, *(c.get(v, 0) for v in ("approved", "modified", "rejected", "confirmed", "flagged")))
            for name, c in sorted(counts.items())
        ]

    return mixes(by_type), mixes(by_agent)


def decisions_per_day(since: datetime, until: datetime) -> dict[date, int]:
    """Final human verdicts (four-eyes counts once) per UTC day of the window."""
    sql = """
        SELECT (decided_at AT TIME ZONE 'UTC')::date, count(*) FROM calibration_label
        WHERE decided_at >= %(since)s AND decided_at < %(until)s GROUP BY 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "until": until})
        return dict(cursor.fetchall())


def submissions_per_day(first: date, last: date) -> dict[date, tuple[int, int]]:
    """(submitted, sent to a human) per day from `first` to `last`, counted a minute behind
    (calibration.services.actions_count_catch_up)."""
    rows = (
        ActionCount.objects.filter(day__gte=first, day__lte=last)
        .values_list("day")
        .annotate(total=Sum("total"), routed=Sum("routed"))
    )
    return {day: (total, routed) for day, total, routed in rows}


def proposed_thresholds() -> dict[int, float]:
    """Per action type id, the threshold of its newest open proposal (calibration.proposals), in
    shadow or not, if any."""
    open_ = (ThresholdProposal.Status.PROPOSED, ThresholdProposal.Status.SHADOW)
    return dict(
        ThresholdProposal.objects.filter(status__in=open_)
        .order_by("created_at", "id")
        .values_list("action_type_id", "proposed_threshold")
    )


@dataclass(frozen=True)
class ShadowComparison:
    """A proposal's shadow run: how many actions both routed, and those they routed differently."""

    compared: int
    # (route in force, proposal's route, the human verdict or what became of it) -> actions
    differing: dict[tuple[str, str, str], int]
    latest: list  # the newest differing actions, with .verdict (as in `differing`) and .shadow_route


def shadow_comparison(proposal: ThresholdProposal, *, latest: int = 25) -> ShadowComparison:
    """What a proposal run in shadow would have changed: the actions of its type whose intake
    recorded its route (Action.shadow_route), and where that differs from the policy's. A route
    differs by pattern (run on its own, after review, before review) or, both waiting, by tier."""
    recorded = Action.objects.filter(
        action_type_id=proposal.action_type_id,
        created_at__gte=proposal.shadow_from,
        shadow_route__isnull=False,
        shadow_route__proposal=proposal.pk,
    ).alias(shadow_pattern=KT("shadow_route__pattern"), shadow_tier=KT("shadow_route__tier"))
    differ = ~Q(shadow_pattern=F("route_pattern")) | ~Q(shadow_tier=F("route_tier"))
    differing = recorded.filter(differ).annotate(
        verdict=Coalesce("label__verdict", Concat(Value("unreviewed:"), "status"), output_field=CharField())
    )
    tally = {
        (row["route_pattern"], row["shadow"], row["verdict"]): row["n"]
        for row in differing.annotate(shadow=KT("shadow_route__pattern"))
        .values("route_pattern", "shadow", "verdict")
        .annotate(n=Count("id"))
    }
    newest = list(
        differing.select_related("agent")
        .only("id", "created_at", "summary", "route_pattern", "route_tier", "status", "shadow_route", "agent__name")
        .order_by("-created_at")[:latest]
    )
    return ShadowComparison(compared=recorded.count(), differing=tally, latest=newest)


# Routing's risk facts of recent actions: for threshold proposals (calibration.proposals) and the
# lead dashboard's relief (relief_for).

_RECENT_FACTS = """
    SELECT action_type_id, created_at, confidence, irreversible, blast_radius, compliance_risk,
        coalesce(ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(entity -> 'tags')
            WHEN 'array' THEN entity -> 'tags' ELSE '[]' END)), '{}')
    FROM hitl_action
    WHERE action_type_id = ANY(%(types)s) AND created_at >= %(since)s AND created_at < %(until)s
"""


def recent_facts(types, since, until) -> tuple[dict[int, list[routing.RiskFacts]], object]:
    """Each type's actions created in [since, until) as routing's risk facts (the type's threshold
    and group as they stand), and when the earliest of them was created."""
    by_key = {t.pk: t for t in types}
    found: dict[int, list] = {}
    earliest = None
    with connection.cursor() as cursor:
        cursor.execute(_RECENT_FACTS, {"types": [t.pk for t in types], "since": since, "until": until})
        for type_id, created_at, *row in cursor.fetchall():
            found.setdefault(type_id, []).append(_facts(by_key[type_id], row))
            earliest = created_at if earliest is None else min(earliest, created_at)
    return found, earliest


def _facts(action_type: ActionType, row) -> routing.RiskFacts:
    confidence, irreversible, blast_radius, compliance_risk, tags = row
    return risk_facts(
        action_type,
        confidence=confidence,
        irreversible=irreversible,
        blast_radius=blast_radius,
        compliance_risk=compliance_risk,
        entity_tags=tuple(tags),
    )


@dataclass(frozen=True)
class Relief:
    """What routing one action type differently would do, from its recent actions."""

    action_type: str
    submitted: int
    routed_share: float
    fits_share: float
    threshold: float  # in force
    forced_share: float  # routed whatever the confidence (irreversible, compliance, blast radius, rules)
    suggested: float | None  # a threshold that would route about `suggested_share`
    suggested_share: float | None

    @property
    def text(self) -> str:
        head = (
            f"routing {self.routed_share:.0%} of {self.action_type}; at the team's capacity {self.fits_share:.0%} fits"
        )
        if self.suggested is None:
            return (
                f"{head}, but {self.forced_share:.0%} of it reaches a person whatever its confidence "
                "(irreversible, compliance, blast radius or a rule): add reviewers or raise their daily capacity"
            )
        if self.suggested == self.threshold:
            return f"{head}: its threshold routes about that much already"
        verb = "lowering" if self.suggested < self.threshold else "raising"
        return (
            f"{head}: {verb} its threshold from {self.threshold:.2f} to {self.suggested:.2f} would route about "
            f"{self.suggested_share:.0%}"
        )


def busiest_routed_type(first: date) -> ActionType | None:
    """The action type the policy sent to people most often since day `first` (the per-day counts)."""
    busiest = (
        ActionCount.objects.filter(day__gte=first)
        .values("action_type")
        .annotate(routed=Sum("routed"))
        .filter(routed__gt=0)
        .order_by("-routed", "action_type")
        .values_list("action_type", flat=True)
        .first()
    )
    return None if busiest is None else ActionType.objects.get(pk=busiest)


def relief_for(action_type: ActionType, since: datetime, until: datetime, fits_share: float) -> Relief | None:
    """For one type's actions created in [since, until): the share routing sends to a person now,
    the share its rules send whatever the confidence, and a threshold that would route about
    `fits_share`, by the product's own routing (hitl.routing.route with the policy in force)."""
    facts = recent_facts([action_type], since, until)[0].get(action_type.pk, [])
    if not facts:
        return None
    policy = policy_current()
    current = threshold_of(action_type)
    routed = sum(routing.route(f, policy).pattern != RoutePattern.AUTONOMOUS for f in facts)
    forced = [routing.route(replace(f, type_threshold=0.0), policy).pattern != RoutePattern.AUTONOMOUS for f in facts]
    free = sorted(f.confidence for f, sent in zip(facts, forced, strict=True) if not sent)
    n, wanted = len(facts), round(fits_share * len(facts)) - sum(forced)
    suggested = suggested_share = None
    if wanted >= 0 and free:  # below its threshold an action is routed (routing's confidence rule)
        suggested = routing_threshold(free[: min(wanted, len(free))], free, current)
        suggested_share = (sum(forced) + sum(c < suggested for c in free)) / n
    return Relief(action_type.key, n, routed / n, fits_share, current, sum(forced) / n, suggested, suggested_share)
