from django.conf import settings
from django.db.models import Max

from hitl.models import Action

from .models import ReviewerGroup


def reviewer_may_decide(*, user, action: Action) -> bool:
    """A reviewer decides actions routed to a group they belong to; a tier group also covers lower tiers."""
    if user.is_superuser:
        return True
    groups = ReviewerGroup.objects.filter(members=user)
    if groups.filter(key=action.reviewer_group).exists():
        return True
    needed_group = settings.HITL_TIER_GROUPS.get(action.route_tier)
    needed_rank = (
        ReviewerGroup.objects.filter(key=needed_group, kind=ReviewerGroup.Kind.TIER)
        .values_list("rank", flat=True)
        .first()
    )
    if needed_rank is None:
        return False
    my_rank = groups.filter(kind=ReviewerGroup.Kind.TIER).aggregate(top=Max("rank"))["top"]
    return my_rank is not None and my_rank > needed_rank


def group_keys() -> list[str]:
    return list(ReviewerGroup.objects.values_list("key", flat=True))
