from .models import Action, ActionType, Agent, ApiToken
from .policy import policy_snapshot
from .tokens import token_hash


def token_principal(raw: str) -> ApiToken | None:
    """The live token for `raw` with its agent or user loaded, or None (unknown, revoked, inactive)."""
    token = (
        ApiToken.objects.select_related("agent", "user")
        .filter(token_hash=token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    if token.agent is not None and not token.agent.is_active:
        return None
    if token.user is not None and not token.user.is_active:
        return None
    return token


def action_type_by_key(key: str) -> ActionType | None:
    """An active action type, from the cached policy (no query)."""
    return policy_snapshot().action_types.get(key)


def action_type_keys() -> list[str]:
    return sorted(policy_snapshot().action_types)


def _actions():
    return Action.objects.select_related("action_type", "agent", "decided_by")


def action_get(action_id) -> Action | None:
    return _actions().filter(pk=action_id).first()


def action_get_for_agent(*, agent: Agent, action_id) -> Action | None:
    return _actions().filter(pk=action_id, agent=agent).first()


async def action_aget_for_agent(*, agent: Agent, action_id) -> Action | None:
    return await _actions().filter(pk=action_id, agent=agent).afirst()


def actions_recent(limit: int = 50):
    return _actions().order_by("-created_at")[:limit]
