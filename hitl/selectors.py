import time

from django.conf import settings
from django.db.models import Exists

from .models import Action, ActionType, Agent, ApiToken
from .policy import policy_snapshot
from .tokens import token_hash

_token_cache: dict[str, tuple[float, ApiToken]] = {}
_TOKEN_CACHE_LIMIT = 10_000


def token_principal(raw: str) -> ApiToken | None:
    """The live token for `raw` with its agent or user loaded, or None (unknown, revoked, inactive).

    A live token is remembered for HITL_AUTH_CACHE_SECONDS, so steady traffic costs no query per
    request; revoking through hitl.services forgets it in this process at once, and every other
    process stops accepting it within that many seconds.
    """
    digest = token_hash(raw)
    now = time.monotonic()
    cached = _token_cache.get(digest)
    if cached is not None and now - cached[0] < settings.HITL_AUTH_CACHE_SECONDS:
        return cached[1]
    token = ApiToken.objects.select_related("agent", "user").filter(token_hash=digest, revoked_at__isnull=True).first()
    owner = None if token is None else (token.agent or token.user)
    if owner is None or not owner.is_active:
        _token_cache.pop(digest, None)
        return None
    if len(_token_cache) >= _TOKEN_CACHE_LIMIT:
        _token_cache.clear()
    _token_cache[digest] = (now, token)
    return token


def token_forget(digest: str | None = None) -> None:
    """Drop one cached token (by hash), or all of them."""
    if digest is None:
        _token_cache.clear()
    else:
        _token_cache.pop(digest, None)


def action_type_by_key(key: str) -> ActionType | None:
    """An active action type, from the cached policy (no query)."""
    return policy_snapshot().action_types.get(key)


def action_type_keys() -> list[str]:
    return sorted(policy_snapshot().action_types)


def _actions():
    return Action.objects.select_related("action_type", "agent", "decided_by")


def action_get(action_id) -> Action | None:
    return _actions().filter(pk=action_id).first()


async def action_aget_for_agent(*, agent: Agent, action_id) -> Action | None:
    return await _actions().filter(pk=action_id, agent=agent).afirst()


def actions_recent(limit: int = 50, *, visible=None):
    """The newest actions, only those matching `visible` (a Q: what the viewer may open) when given."""
    rows = _actions()
    if visible is not None:
        rows = rows.filter(visible)
    return rows.order_by("-created_at")[:limit]


def agent_names(limit: int = 200) -> list[str]:
    return list(Agent.objects.filter(is_active=True).order_by("name").values_list("name", flat=True)[:limit])


_seen: set[tuple] = set()


def agent_novelty(*, agent: Agent, action_type: ActionType) -> tuple[bool, bool]:
    """(first time this agent proposes this type, first time it acts in this type's domain).

    What an agent has done stays done, so each process remembers it and asks the database only
    until both are known.
    """
    type_key, domain_key = (agent.pk, "type", action_type.pk), (agent.pk, "domain", action_type.domain)
    if type_key in _seen and domain_key in _seen:
        return False, False
    mine = Action.objects.filter(agent=agent)
    flags = (
        Agent.objects.filter(pk=agent.pk)
        .values(
            type_seen=Exists(mine.filter(action_type=action_type)),
            domain_seen=Exists(mine.filter(action_type__domain=action_type.domain)),
        )
        .get()
    )
    for key, seen in ((type_key, flags["type_seen"]), (domain_key, flags["domain_seen"])):
        if seen:
            _seen.add(key)
    return not flags["type_seen"], not flags["domain_seen"]


def novelty_remember(*, agent: Agent, action_type: ActionType) -> None:
    """Note that the agent has now proposed this type (called once its action is stored)."""
    _seen.update({(agent.pk, "type", action_type.pk), (agent.pk, "domain", action_type.domain)})


def novelty_forget() -> None:
    _seen.clear()
