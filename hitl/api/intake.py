"""What the agent API's views do, for every way an agent reaches it (REST, and MCP in mcpgate):
submit once per Idempotency-Key, and wait for an action to leave `pending` (or to change)."""

import time

from .. import idempotency, services, wakeups
from ..errors import NotFound
from ..models import Action, Agent
from ..selectors import action_aget_for_agent
from ..states import Status
from .serializers import ActionOut


def submit(*, agent: Agent, data: dict, raw: dict, key: str | None) -> tuple[dict, bool]:
    """Route and store the validated submit `data` (`raw`, the body as sent); with an idempotency
    `key`, a retry of the same body gets the first answer. Returns the answer and whether it is new."""
    if key is None:
        return ActionOut(services.action_submit(agent=agent, **data)).data, True
    action = services.action_prepare(agent=agent, **data)
    body = ActionOut(action).data
    claim = idempotency.key_claim(
        agent=agent, key=key, body_hash=idempotency.request_hash(raw), action_id=action.id, response=body
    )
    if claim.replay is not None:
        return claim.replay, False
    try:
        services.action_create(action=action)
    except BaseException:
        idempotency.key_release(key=claim.key)
        raise
    return body, True


async def action_awaited(*, agent: Agent, action_id, wait: float, version: int | None = None) -> Action:
    """The agent's action once it leaves `pending` (with `version`: once its version is another), or
    as it is after `wait` seconds. Holds no thread while it waits. NotFound when it is not theirs."""
    action = await action_aget_for_agent(agent=agent, action_id=action_id)
    if action is None:
        raise NotFound("No action with this id belongs to your agent.")

    def waiting() -> bool:
        return action.status == Status.PENDING if version is None else action.version == version

    async def still_waiting():
        nonlocal action
        action = await action_aget_for_agent(agent=agent, action_id=action_id)
        return waiting()

    deadline = time.monotonic() + wait
    while waiting() and (left := deadline - time.monotonic()) > 0:
        # A wake-up is a hint that the action changed, not necessarily as awaited: read and check again.
        await wakeups.wait_for_change(action_id, timeout=left, still_pending=still_waiting)
        action = await action_aget_for_agent(agent=agent, action_id=action_id)
    return action
