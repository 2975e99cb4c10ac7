import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from django import forms
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Value

from audit.export import MomentField, can_export
from hitl.models import Action
from hitl.payloads import payload_digest
from hitl.policy import policy_current
from hitl.states import Decision, RoutePattern, Status, Tier

from .models import Claim, RejectReason, ReviewerGroup, Verdict

QUEUE_PAGE_SIZE = 50
DEFAULT_WIP_CAP = 5  # for a reviewer in no group (a superuser)


@dataclass(frozen=True)
class ReviewerScope:
    """What one reviewer may see and decide: actions routed to their groups, and every action
    of a tier below their highest tier group (a lead sees tier1, an executive tiers 1 and 2)."""

    everything: bool
    groups: frozenset
    lower_tiers: frozenset
    wip_cap: int = DEFAULT_WIP_CAP  # actions the reviewer may hold at once
    user_id: int | None = None

    def q(self) -> Q:
        if self.everything:
            return Q()
        return Q(reviewer_group__in=self.groups) | Q(route_tier__in=self.lower_tiers)

    def covers(self, action: Action) -> bool:
        return self.covers_route(group=action.reviewer_group, tier=action.route_tier)

    def covers_route(self, *, group: str, tier: str) -> bool:
        return self.everything or group in self.groups or tier in self.lower_tiers


def reviewer_scope(user) -> ReviewerScope:
    """One query: every group, marked with whether `user` is a member."""
    membership = ReviewerGroup.members.through.objects.filter(reviewergroup=OuterRef("pk"), user_id=user.pk)
    groups = list(
        ReviewerGroup.objects.annotate(mine=Exists(membership)).values("key", "kind", "rank", "wip_cap", "mine")
    )
    mine = [g for g in groups if g["mine"]]
    top = max((g["rank"] for g in mine if g["kind"] == ReviewerGroup.Kind.TIER), default=None)
    rank_of = {g["key"]: g["rank"] for g in groups if g["kind"] == ReviewerGroup.Kind.TIER}
    lower = {
        tier
        for tier, group in policy_current().tier_groups.items()
        if top is not None and group in rank_of and rank_of[group] < top
    }
    cap = max((g["wip_cap"] for g in mine), default=DEFAULT_WIP_CAP)
    return ReviewerScope(user.is_superuser, frozenset(g["key"] for g in mine), frozenset(lower), cap, user.pk)


def is_lead(user) -> bool:
    """Whether `user` is of lead rank or above (a tier group above the first), or an admin."""
    if not user.is_authenticated:
        return False
    scope = reviewer_scope(user)
    return scope.everything or bool(scope.lower_tiers)


def user_roles(user) -> dict[str, bool]:
    """What the person does here: reviews (in a reviewer group, or a superuser), audits (may
    export the audit trail), administers (staff). One query for the groups, none when anonymous."""
    if not user.is_authenticated:
        return {"reviewer": False, "auditor": False, "admin": False, "lead": False}
    return {
        "reviewer": user.is_superuser or ReviewerGroup.members.through.objects.filter(user_id=user.pk).exists(),
        "auditor": can_export(user),
        "admin": user.is_staff,
        "lead": is_lead(user),
    }


SORTS = {  # the queue's orders: the key read, its direction, and how a page cursor carries it
    "due": ("due_at", False, datetime.fromisoformat),
    "confidence": ("confidence", False, float),
    "newest": ("created_at", True, datetime.fromisoformat),
    "oldest": ("created_at", False, datetime.fromisoformat),
}


@dataclass(frozen=True)
class QueueFilters:
    """What a reviewer narrows their queue to. The agent matches by prefix ("demo" finds
    "demo-agent"); `held` "me" keeps the actions the reviewer holds."""

    tier: str = ""
    group: str = ""
    action_type: str = ""
    agent: str = ""
    held: str = ""
    sort: str = "due"

    def q(self, scope: "ReviewerScope", now: datetime) -> Q:
        q = Q()
        for field, value in (
            ("route_tier", self.tier),
            ("reviewer_group", self.group),
            ("action_type__key", self.action_type),
            ("agent__name__startswith", self.agent),
        ):
            if value:
                q &= Q(**{field: value})
        if self.held == "me":
            q &= Q(Exists(Claim.objects.filter(action=OuterRef("pk"), holder_id=scope.user_id, expires_at__gt=now)))
        return q

    @property
    def order(self) -> tuple[str, bool]:
        key, descending, _ = SORTS.get(self.sort, SORTS["due"])
        return key, descending

    def cursor(self, action: Action) -> str:
        key, _ = self.order
        value = getattr(action, key)
        text = value.isoformat() if isinstance(value, datetime) else repr(value)
        return f"{text}|{action.pk}"

    def parse_cursor(self, raw: str):
        """(value, id) from a page cursor made by `cursor`; ValueError for a tampered one."""
        value, _, action_id = raw.partition("|")
        return SORTS.get(self.sort, SORTS["due"])[2](value), str(uuid.UUID(action_id))


class ActivityFilterForm(forms.Form):
    """What the activity page narrows to, each optional: a type (its key), an agent (its exact
    name), stated confidence in [confidence_from, confidence_to), and `decided`: only actions with
    a final human verdict (the label calibration keeps of it), given in [decided_from, decided_to)
    when set. A calibration bin links here with exactly its labels' filters."""

    type = forms.CharField(required=False, max_length=64)
    agent = forms.CharField(required=False, max_length=100)
    confidence_from = forms.FloatField(required=False, min_value=0, max_value=1)
    confidence_to = forms.FloatField(required=False, min_value=0, max_value=1)
    decided = forms.BooleanField(required=False)
    decided_from = MomentField(required=False)
    decided_to = MomentField(required=False)

    @property
    def filtered(self) -> bool:
        return self.is_valid() and any(value not in (None, "", False) for value in self.cleaned_data.values())

    def q(self) -> Q:
        """The filters of a valid form, over actions."""
        data = self.cleaned_data
        lookups = {
            "action_type__key": data["type"],
            "agent__name": data["agent"].strip(),
            "confidence__gte": data["confidence_from"],
            "confidence__lt": data["confidence_to"],
            "label__decided_at__gte": data["decided_from"],
            "label__decided_at__lt": data["decided_to"],
        }
        q = Q(**{lookup: value for lookup, value in lookups.items() if value not in (None, "")})
        return q & Q(label__isnull=False) if data["decided"] else q


PRE, POST = "pre", "post"  # the queue's tabs: waiting for approval; ran, review window open


def _approved_by(user_id) -> Exists:
    """The reviewer's approval of the payload now waiting: one no later edit has replaced."""
    later_edit = Verdict.objects.filter(
        action=OuterRef(OuterRef("pk")), kind=Verdict.Kind.MODIFY, id__gt=OuterRef("id")
    )
    return Exists(
        Verdict.objects.filter(
            action=OuterRef("pk"), reviewer_id=user_id, kind__in=[Verdict.Kind.APPROVE, Verdict.Kind.MODIFY]
        ).filter(~Exists(later_edit))
    )


def _open(scope: ReviewerScope, tab: str, now: datetime):
    """What waits for the reviewer in `tab`: for approval, less what they approved already; or
    ran, with its review window open and no verdict yet."""
    if tab == POST:
        rows = Action.objects.filter(
            Q(route_pattern=RoutePattern.POST_ACTION) | Q(sampled=True), status=Status.APPROVED, due_at__gt=now
        ).filter(~Exists(Verdict.objects.filter(action=OuterRef("pk"))))
    else:
        rows = Action.objects.filter(status=Status.PENDING, route_pattern=RoutePattern.PRE_ACTION)
        if scope.user_id is not None:
            rows = rows.filter(~_approved_by(scope.user_id))
    return rows.filter(scope.q())


def queue_tab_of(action: Action, now: datetime) -> str | None:
    """Which tab of the queue shows `action` now, if any."""
    if action.status == Status.PENDING and action.route_pattern == RoutePattern.PRE_ACTION:
        return PRE
    if (
        action.status == Status.APPROVED
        and action.reviewed_after
        and action.due_at
        and action.due_at > now
        and not Verdict.objects.filter(action=action).exists()
    ):
        return POST
    return None


def queue_page(
    *,
    scope: ReviewerScope,
    filters: QueueFilters,
    after: tuple | None = None,
    tab: str = PRE,
    now: datetime,
):
    """One page in the filters' order (most urgent first by default: due_at, then id),
    keyset-paginated after `after` (the last row's sort value and id).

    The pre-action tab is read part by part of the reviewer's scope (a tier below theirs; one of
    their groups within one tier), each part a LIMITed scan in that order, which for the default
    order is an index scan of a partial index in (due_at, id) order (see Action.Meta.indexes); the
    page is the first rows of their union. Its cost follows the page size and the number of
    parts, not how many actions wait. Each row carries its approvals (`with_approvals`).
    """
    key, descending = filters.order
    sign = "-" if descending else ""

    def ordered(rows):
        rows = rows.filter(filters.q(scope, now))
        if after is not None:
            value, action_id = after
            # The first condition bounds the scan; the second skips the ties already shown.
            past, beyond, later_id = ("lte", "lt", "lt") if descending else ("gte", "gt", "gt")
            rows = rows.filter(**{f"{key}__{past}": value}).filter(
                Q(**{f"{key}__{beyond}": value}) | Q(**{f"id__{later_id}": action_id})
            )
        return rows.order_by(f"{sign}{key}", f"{sign}id")

    if tab == PRE:
        tiers = [*Tier.values, ""]
        lower = tiers if scope.everything else [tier for tier in tiers if tier in scope.lower_tiers]
        parts = [Q(route_tier=tier) for tier in lower]
        parts += [
            Q(reviewer_group=g, route_tier=tier) for g in sorted(scope.groups) for tier in tiers if tier not in lower
        ]
        if not parts:
            return [], False
        # Each part is within the scope; without the scope's OR the planner takes the part's index.
        waiting = ordered(_open(replace(scope, everything=True), PRE, now))
        firsts = [waiting.filter(part).values("pk")[: QUEUE_PAGE_SIZE + 1] for part in parts]
        ids = firsts[0].union(*firsts[1:], all=True) if firsts[1:] else firsts[0]
    else:
        ids = ordered(_open(scope, tab, now)).values("pk")[: QUEUE_PAGE_SIZE + 1]
    # The joins run for the page's rows only.
    rows = Action.objects.filter(pk__in=ids).select_related("action_type", "agent", "claim__holder")
    page = with_approvals(list(rows.order_by(f"{sign}{key}", f"{sign}id")[: QUEUE_PAGE_SIZE + 1]))
    return page[:QUEUE_PAGE_SIZE], len(page) > QUEUE_PAGE_SIZE


def with_approvals(actions: list[Action]) -> list[Action]:
    """Set `approvals` (an Approvals) on each action that needs several, in one query."""
    several = [a for a in actions if a.approvals_required > 1]
    verdicts = {}
    for verdict in Verdict.objects.filter(action__in=several).select_related("reviewer").order_by("id"):
        verdicts.setdefault(verdict.action_id, []).append(verdict)
    for action in actions:
        action.approvals = approvals_of(action, verdicts.get(action.pk, [])) if action in several else None
    return actions


def queue_counts(*, scope: ReviewerScope, now: datetime) -> dict:
    """What the reviewer's queue holds, per tier, and their open post-action reviews.

    Each count stops past `cap`, so it costs at most one LIMITed index scan however long the
    queue: a count over the cap is the string "1000+", any other an int. One query (a union of
    the limited parts).
    """
    cap = 1000
    waiting = _open(replace(scope, everything=True), PRE, now)  # narrowed to the scope's part of each tier:
    parts = {}
    for tier in Tier.values:
        part = Q(route_tier=tier)
        if not (scope.everything or tier in scope.lower_tiers):
            part &= Q(reviewer_group__in=scope.groups)
        parts[tier] = waiting.filter(part)
    parts[POST] = _open(scope, POST, now)
    firsts = [rows.annotate(part=Value(key)).values("part")[: cap + 1] for key, rows in parts.items()]
    union = firsts[0].union(*firsts[1:], all=True)
    counts = union.aggregate(**{key: Count("part", filter=Q(part=key)) for key in parts})
    shown = {key: f"{cap}+" if count > cap else count for key, count in counts.items()}
    return {"tiers": {tier: shown[tier] for tier in Tier.values}, POST: shown[POST]}


@dataclass(frozen=True)
class GroupLoad:
    """What overflow needs of a reviewer group (escalation.capacity)."""

    key: str
    active: int  # active members
    daily_capacity: int | None
    fallback: str | None  # the key of the group its new items overflow to


_ACTIVE_MEMBERS = Count("members", filter=Q(members__is_active=True), distinct=True)


def group_loads() -> dict[str, GroupLoad]:
    """Every reviewer group with its active members, daily capacity and fallback, in one query."""
    groups = ReviewerGroup.objects.annotate(active=_ACTIVE_MEMBERS).values_list(
        "key", "active", "daily_capacity", "fallback__key"
    )
    return {key: GroupLoad(key, active, capacity, fallback) for key, active, capacity, fallback in groups}


def routing_groups() -> dict:
    """What routing needs of the reviewer groups (hitl.policy caches it): each group's active
    members, and the group it overflows to."""
    groups = group_loads().values()
    return {
        "group_members": {g.key: g.active for g in groups},
        "group_fallbacks": {g.key: g.fallback for g in groups if g.fallback},
    }


def group_keys() -> list[str]:
    return list(ReviewerGroup.objects.values_list("key", flat=True))


@dataclass(frozen=True)
class Approvals:
    """Where a pending action's approvals stand: what approving it now approves (`payload`, the
    latest reviewer edit, else the agent's proposal, and its SHA-256), who approved exactly that,
    and who approved an earlier version an edit has since replaced (their approvals no longer count)."""

    payload: dict
    sha256: str
    edited: bool  # the payload is not the agent's proposal: a reviewer edited it
    approvers: tuple[Verdict, ...]
    superseded: tuple[Verdict, ...]
    required: int

    def approved_by(self, user) -> bool:
        return any(v.reviewer_id == user.pk for v in self.approvers)


def approvals_of(action: Action, verdicts: list[Verdict]) -> Approvals:
    """Where `verdicts` (in the order they were given) leave the approvals: an edit restarts the
    count, its author's approval the first, so only approvals of the payload since the latest edit
    count (as the queue reads it in SQL: reviews.selectors._approved_by)."""
    verdicts = sorted(verdicts, key=lambda v: v.pk)
    edits = [i for i, v in enumerate(verdicts) if v.kind == Verdict.Kind.MODIFY]
    since = edits[-1] if edits else 0
    payload = verdicts[since].payload if edits else action.payload
    sha256 = payload_digest(payload)
    approving = [(i, v) for i, v in enumerate(verdicts) if v.kind in (Verdict.Kind.APPROVE, Verdict.Kind.MODIFY)]
    counted = [v for i, v in approving if i >= since and v.payload_sha256 == sha256]
    return Approvals(
        payload=payload,
        sha256=sha256,
        edited=payload != action.payload,
        approvers=tuple(counted),
        superseded=tuple(v for _, v in approving if v not in counted),
        required=action.approvals_required,
    )


def post_action_verdicts():
    """Every confirmation or flag of an action that ran before review, oldest first, with its
    action: (action, verdict) pairs, read as they go."""
    verdicts = (
        Verdict.objects.filter(kind__in=[Verdict.Kind.CONFIRM, Verdict.Kind.FLAG])
        .select_related("action__action_type", "reviewer")
        .order_by("id")
    )
    return ((verdict.action, verdict) for verdict in verdicts.iterator(chunk_size=500))


def verdicts_of(action: Action) -> list[Verdict]:
    return list(Verdict.objects.filter(action=action).select_related("reviewer", "reason"))


def live_claim(action: Action, now: datetime) -> Claim | None:
    return Claim.objects.select_related("holder").filter(action=action, expires_at__gt=now).first()


def reject_reasons():
    return RejectReason.objects.filter(is_active=True)


def track_record(*, scope: ReviewerScope, agent_id, action_type_id) -> dict[str, int]:
    """How the agent's decided proposals of this type that the reviewer may open went, in one query."""
    decisions = Decision.values
    counts = (
        Action.objects.filter(agent_id=agent_id, action_type_id=action_type_id, route_pattern=RoutePattern.PRE_ACTION)
        .filter(scope.q())
        .aggregate(**{d: Count("id", filter=Q(decision=d)) for d in decisions})
    )
    counts["decided"] = sum(counts[d] for d in decisions)
    return counts


def task_actions(action: Action, *, scope: ReviewerScope, limit: int = 20) -> list[Action]:
    """The agent's other actions in the same task that the reviewer may open, oldest first."""
    if not action.task_id:
        return []
    return list(
        Action.objects.filter(agent_id=action.agent_id, task_id=action.task_id)
        .filter(scope.q())
        .exclude(pk=action.pk)
        .select_related("action_type")
        .order_by("created_at")[:limit]
    )


def approval_needs_confirmation(action: Action) -> list[str]:
    """Why approving `action` by one keystroke asks the reviewer to confirm: irreversible, tier2 or
    above, or a high blast radius. Empty when one keystroke may approve it."""
    why = []
    if action.irreversible:
        why.append("it cannot be undone")
    if action.route_tier in (Tier.TIER2, Tier.TIER3):
        why.append(f"it is a {action.route_tier} action")
    if action.blast_radius >= policy_current().blast_high:
        why.append(f"it affects {action.blast_radius:,} people or records")
    return why


# The lead dashboard's reads (escalation.dashboard).


@dataclass(frozen=True)
class ReviewerLoad:
    """One reviewer's verdicts in a window and the claims they hold now."""

    username: str
    verdicts: int
    approvals: int  # approve and modify
    rejections: int
    post_action: int  # confirm and flag
    holding: int
    oldest_claim: datetime | None
    wip_cap: int


def reviewer_loads(since: datetime, until: datetime, now: datetime) -> list[ReviewerLoad]:
    """Every reviewer who gave a verdict in the window or holds a claim now, busiest first: one
    statement (verdicts through their created_at index, live claims through expires_at)."""
    sql = """
        WITH done AS (
            SELECT reviewer_id AS user_id, count(*) AS verdicts,
                count(*) FILTER (WHERE kind IN ('approve', 'modify')) AS approvals,
                count(*) FILTER (WHERE kind = 'reject') AS rejections,
                count(*) FILTER (WHERE kind IN ('confirm', 'flag')) AS post_action
            FROM reviews_verdict WHERE created_at >= %(since)s AND created_at < %(until)s GROUP BY 1
        ), held AS (
            SELECT holder_id AS user_id, count(*) AS holding, min(claimed_at) AS oldest
            FROM reviews_claim WHERE expires_at > %(now)s GROUP BY 1
        )
        SELECT u.username, coalesce(d.verdicts, 0), coalesce(d.approvals, 0), coalesce(d.rejections, 0),
            coalesce(d.post_action, 0), coalesce(h.holding, 0), h.oldest,
            coalesce((SELECT max(g.wip_cap) FROM reviews_reviewergroup g
                JOIN reviews_reviewergroup_members m ON m.reviewergroup_id = g.id WHERE m.user_id = u.id), %(cap)s)
        FROM done d FULL JOIN held h USING (user_id) JOIN auth_user u ON u.id = user_id
        ORDER BY 2 DESC, 6 DESC, 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "until": until, "now": now, "cap": DEFAULT_WIP_CAP})
        return [ReviewerLoad(*row) for row in cursor.fetchall()]


def group_capacities() -> list[ReviewerGroup]:
    """Every reviewer group with `active` (its active members), in the groups' order."""
    return list(ReviewerGroup.objects.annotate(active=_ACTIVE_MEMBERS))
