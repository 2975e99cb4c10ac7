"""The routing policy in force, as a plain value for hitl.routing."""

from django.conf import settings

from .routing import Policy


def policy_current() -> Policy:
    return Policy(version=0, tier_groups=dict(settings.HITL_TIER_GROUPS))
