from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, Value

from hitl.models import Action, Tier
from hitl.policy import policy_current
from hitl.states import Status

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
    return ReviewerScope(user.is_superuser, frozenset(g["key"] for g in mine), frozenset(lower), cap)


def reviewer_may_decide(*, user, action: Action) -> bool:
    return reviewer_scope(user).covers(action)


@dataclass(frozen=True)
class QueueFilters:
    tier: str = ""
    group: str = ""
    action_type: str = ""
    agent: str = ""

    def q(self) -> Q:
        q = Q()
        for field, value in (
            ("route_tier", self.tier),
            ("reviewer_group", self.group),
            ("action_type__key", self.action_type),
            ("agent__name", self.agent),
        ):
            if value:
                q &= Q(**{field: value})
        return q


PRE, POST = "pre", "post"  # the queue's tabs: waiting for approval; ran, review window open


def _open(scope: ReviewerScope, tab: str, now: datetime):
    if tab == POST:
        rows = Action.objects.filter(status=Status.APPROVED, route_pattern="post_action", due_at__gt=now).filter(
            ~Exists(Verdict.objects.filter(action=OuterRef("pk")))
        )
    else:
        rows = Action.objects.filter(status=Status.PENDING, route_pattern="pre_action")
    return rows.filter(scope.q())


def queue_tab_of(action: Action, now: datetime) -> str | None:
    """Which tab of the queue shows `action` now, if any."""
    if action.status == Status.PENDING and action.route_pattern == "pre_action":
        return PRE
    if (
        action.status == Status.APPROVED
        and action.route_pattern == "post_action"
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
    after: tuple[datetime, str] | None = None,
    tab: str = PRE,
    now: datetime,
):
    """Most urgent first (due_at, then id), one page, keyset-paginated after `after`.

    On PostgreSQL the pre-action tab is read part by part of the reviewer's scope (a tier below
    theirs; one of their groups within one tier), each part a LIMITed scan of a partial index in
    (due_at, id) order (see Action.Meta.indexes); the page is the first rows of their union. Its
    cost follows the page size and the number of parts, not how many actions wait.
    """

    def ordered(rows):
        rows = rows.filter(filters.q())
        if after is not None:
            due_at, action_id = after
            # The first condition bounds the index scan; the second skips the ties already shown.
            rows = rows.filter(due_at__gte=due_at).filter(Q(due_at__gt=due_at) | Q(id__gt=action_id))
        return rows.order_by("due_at", "id")

    rows = ordered(_open(scope, tab, now))
    if tab == PRE and connections[rows.db].features.supports_slicing_ordering_in_compound:  # not SQLite
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
        ids = rows.values("pk")[: QUEUE_PAGE_SIZE + 1]
    # The joins run for the page's rows only.
    rows = Action.objects.filter(pk__in=ids).select_related("action_type", "agent", "claim__holder")
    page = list(rows.order_by("due_at", "id")[: QUEUE_PAGE_SIZE + 1])
    return page[:QUEUE_PAGE_SIZE], len(page) > QUEUE_PAGE_SIZE


def queue_counts(*, scope: ReviewerScope, now: datetime) -> dict:
    """Waiting actions per tier in the reviewer's scope, and open post-action reviews.

    Each count stops past `cap`, so it costs at most one LIMITed index scan however long the
    queue: a count over the cap is the string "1000+", any other an int. One query on
    PostgreSQL (a union of the limited parts), one per count elsewhere.
    """
    cap = 1000
    waiting = _open(replace(scope, everything=True), PRE, now)  # narrowed to the scope's part of each tier:
    parts = {}
    for tier in settings.HITL_TIER_GROUPS:
        part = Q(route_tier=tier)
        if not (scope.everything or tier in scope.lower_tiers):
            part &= Q(reviewer_group__in=scope.groups)
        parts[tier] = waiting.filter(part)
    parts[POST] = _open(scope, POST, now)
    if connections[waiting.db].features.supports_slicing_ordering_in_compound:  # not SQLite
        firsts = [rows.annotate(part=Value(key)).values("part")[: cap + 1] for key, rows in parts.items()]
        union = firsts[0].union(*firsts[1:], all=True)
        counts = union.aggregate(**{key: Count("part", filter=Q(part=key)) for key in parts})
    else:
        counts = {key: rows.values("pk")[: cap + 1].count() for key, rows in parts.items()}
    shown = {key: f"{cap}+" if count > cap else count for key, count in counts.items()}
    return {"tiers": {tier: shown[tier] for tier in settings.HITL_TIER_GROUPS}, POST: shown[POST]}


def group_keys() -> list[str]:
    return list(ReviewerGroup.objects.values_list("key", flat=True))


def candidate_payload(action: Action, verdicts: list[Verdict]) -> dict:
    """What approving now would approve: the latest reviewer edit, else the agent's proposal."""
    edits = [v.payload for v in verdicts if v.kind == Verdict.Kind.MODIFY]
    return edits[-1] if edits else action.payload


def verdicts_of(action: Action) -> list[Verdict]:
    return list(Verdict.objects.filter(action=action).select_related("reviewer", "reason"))


def live_claim(action: Action, now: datetime) -> Claim | None:
    return Claim.objects.select_related("holder").filter(action=action, expires_at__gt=now).first()


def reject_reasons():
    return RejectReason.objects.filter(is_active=True)


def track_record(*, agent_id, action_type_id) -> dict[str, int]:
    """How the agent's decided proposals of this type went, in one query."""
    decisions = ("approved", "modified", "rejected", "expired")
    counts = Action.objects.filter(
        agent_id=agent_id, action_type_id=action_type_id, route_pattern="pre_action"
    ).aggregate(**{d: Count("id", filter=Q(decision=d)) for d in decisions})
    counts["decided"] = sum(counts[d] for d in decisions)
    return counts


def task_actions(action: Action, limit: int = 20) -> list[Action]:
    """The agent's other actions in the same task, oldest first."""
    if not action.task_id:
        return []
    return list(
        Action.objects.filter(agent_id=action.agent_id, task_id=action.task_id)
        .exclude(pk=action.pk)
        .select_related("action_type")
        .order_by("created_at")[:limit]
    )
