from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from hitl.models import Action
from hitl.states import Status

from .models import ReviewerGroup

QUEUE_PAGE_SIZE = 50


@dataclass(frozen=True)
class ReviewerScope:
    """What one reviewer may see and decide: actions routed to their groups, and every action
    of a tier below their highest tier group (a lead sees tier1, an executive tiers 1 and 2)."""

    everything: bool
    groups: frozenset
    lower_tiers: frozenset

    def q(self) -> Q:
        if self.everything:
            return Q()
        return Q(reviewer_group__in=self.groups) | Q(route_tier__in=self.lower_tiers)

    def covers(self, action: Action) -> bool:
        return self.everything or action.reviewer_group in self.groups or action.route_tier in self.lower_tiers


def reviewer_scope(user) -> ReviewerScope:
    """One query: every group, marked with whether `user` is a member."""
    membership = ReviewerGroup.members.through.objects.filter(reviewergroup=OuterRef("pk"), user_id=user.pk)
    groups = list(ReviewerGroup.objects.annotate(mine=Exists(membership)).values("key", "kind", "rank", "mine"))
    mine = [g for g in groups if g["mine"]]
    top = max((g["rank"] for g in mine if g["kind"] == ReviewerGroup.Kind.TIER), default=None)
    rank_of = {g["key"]: g["rank"] for g in groups if g["kind"] == ReviewerGroup.Kind.TIER}
    lower = {
        tier
        for tier, group in settings.HITL_TIER_GROUPS.items()
        if top is not None and group in rank_of and rank_of[group] < top
    }
    return ReviewerScope(user.is_superuser, frozenset(g["key"] for g in mine), frozenset(lower))


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


def _waiting(scope: ReviewerScope):
    return Action.objects.filter(status=Status.PENDING, route_pattern="pre_action").filter(scope.q())


def queue_page(*, scope: ReviewerScope, filters: QueueFilters, after: tuple[datetime, str] | None = None):
    """Most urgent first (due_at, then id), one page, keyset-paginated after `after`."""
    rows = _waiting(scope).filter(filters.q()).select_related("action_type", "agent", "claim__holder")
    if after is not None:
        due_at, action_id = after
        rows = rows.filter(Q(due_at__gt=due_at) | Q(due_at=due_at, id__gt=action_id))
    page = list(rows.order_by("due_at", "id")[: QUEUE_PAGE_SIZE + 1])
    return page[:QUEUE_PAGE_SIZE], len(page) > QUEUE_PAGE_SIZE


def queue_counts(*, scope: ReviewerScope) -> dict[str, int]:
    """Waiting actions per tier in the reviewer's scope, in one query."""
    tiers = list(settings.HITL_TIER_GROUPS)
    return _waiting(scope).aggregate(**{tier: Count("id", filter=Q(route_tier=tier)) for tier in tiers})


def group_keys() -> list[str]:
    return list(ReviewerGroup.objects.values_list("key", flat=True))
