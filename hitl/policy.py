"""The policy in force — active action types and routing settings — cached in each process.

Loaded once, then reloaded when older than HITL_POLICY_MAX_AGE seconds, and at once in the
process that saved a change; so an admin's edit reaches every process within seconds, without
a restart and without a query per submitted action.
"""

import time
from dataclasses import dataclass

from django.conf import settings

from .models import ActionType
from .routing import Policy


@dataclass(frozen=True)
class Snapshot:
    action_types: dict[str, ActionType]
    policy: Policy
    loaded_at: float


_snapshot: Snapshot | None = None


def policy_snapshot() -> Snapshot:
    snapshot = _snapshot
    if snapshot is None or time.monotonic() - snapshot.loaded_at > settings.HITL_POLICY_MAX_AGE:
        snapshot = _load()
    return snapshot


def policy_current() -> Policy:
    return policy_snapshot().policy


def policy_invalidate(**signal_kwargs) -> None:
    global _snapshot
    _snapshot = None


def _load() -> Snapshot:
    global _snapshot
    _snapshot = Snapshot(
        action_types={t.key: t for t in ActionType.objects.filter(is_active=True)},
        policy=Policy(tier_groups=dict(settings.HITL_TIER_GROUPS)),
        loaded_at=time.monotonic(),
    )
    return _snapshot
