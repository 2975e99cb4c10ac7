"""Expertise capacity: new items of a group at its daily capacity, or with fewer active members
than the approvals they need, overflow to the group's fallback (audited), so no expert group
becomes the bottleneck and no item waits for approvals nobody can give.

Applied by the SLA sweep when it first announces an item (within one sweep interval of routing),
which keeps intake free of load queries. Two queries per batch, whatever its size.
"""

from datetime import datetime

from django.db.models import Count

from audit.models import AuditEvent
from audit.services import Type, audit_event
from hitl.models import Action
from hitl.states import RoutePattern, Status
from reviews.selectors import GroupLoad, group_loads

MAX_HOPS = 10  # admin validation keeps fallbacks free of cycles; this is a fuse


def overflow_new_items(actions: list[Action], now: datetime) -> list[AuditEvent]:
    """Move each new item (not announced yet) of a full or empty group to a fallback that can take
    it. Caller holds the locks on `actions` and saves them."""
    new = [a for a in actions if a.sla_stage == 0 and a.status == Status.PENDING and a.reviewer_group]
    if not new:
        return []
    groups = group_loads()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    capped = [key for key, g in groups.items() if g.daily_capacity is not None]
    load = dict(
        Action.objects.filter(
            reviewer_group__in=capped, route_pattern=RoutePattern.PRE_ACTION, created_at__gte=midnight
        )
        .exclude(pk__in=[a.pk for a in new])
        .values_list("reviewer_group")
        .annotate(n=Count("id"))
    )
    events = []
    for action in new:
        group, hops = groups.get(action.reviewer_group), 0
        needed = action.approvals_required
        while group is not None and _unavailable(group, load, needed) and group.fallback and hops < MAX_HOPS:
            group, hops = groups.get(group.fallback), hops + 1
        if group is not None and group.key != action.reviewer_group:
            before = {"group": action.reviewer_group, "why": _why(groups[action.reviewer_group], load, needed)}
            action.reviewer_group = group.key
            events.append(
                audit_event(event_type=Type.OVERFLOWED, action=action, before=before, after={"group": group.key})
            )
        if group is not None:
            load[group.key] = load.get(group.key, 0) + 1
    return events


def _unavailable(group: GroupLoad, load: dict, needed: int) -> bool:
    """No active member, fewer than the approvals the item needs, or at its daily capacity."""
    return group.active < max(needed, 1) or (
        group.daily_capacity is not None and load.get(group.key, 0) >= group.daily_capacity
    )


def _why(group: GroupLoad, load: dict, needed: int) -> str:
    if group.active == 0:
        return "no active member"
    if group.active < needed:
        return f"{group.active} active member(s), fewer than the {needed} approvals it needs"
    return f"at its daily capacity of {group.daily_capacity}"
