"""The one way to write an audit event. Callers hold the transaction of the change they record.

Adding an event type is one line in AuditEvent.Type; every event is chained and hashed by the
database as it is inserted (audit.chain).
"""

from dataclasses import dataclass

from django.utils import timezone

from hitl.db import insert_together
from hitl.request_context import request_id

from .models import AuditEvent

Actor = AuditEvent.Actor
Type = AuditEvent.Type


@dataclass(frozen=True)
class InAdmin:
    """A user acting through Django admin, audited as an admin (`reviewer` still names the user)."""

    user: object


def actor_of(principal) -> tuple[str, str]:
    """(actor_type, label) for an Agent, a reviewer (User), a user InAdmin, or None for the system."""
    from hitl.models import Agent

    if principal is None:
        return Actor.SYSTEM, "system"
    if isinstance(principal, Agent):
        return Actor.AGENT, principal.name
    if isinstance(principal, InAdmin):
        return Actor.ADMIN, principal.user.get_username()
    return Actor.REVIEWER, principal.get_username()


def audit_lock(action_id) -> None:
    """Take the row lock of action `action_id`, which orders the writers of its audit chain, for an
    event whose writer does not change the action itself (a release, a notification); every
    change of an action holds it already. Caller holds the transaction."""
    from hitl.models import Action

    list(Action.objects.select_for_update(no_key=True).filter(pk=action_id).values_list("pk"))


def audit_record(**event) -> AuditEvent:
    """Insert one event (see audit_event) in the caller's transaction, with a statement compiled
    once (hitl.db.insert_together), not on every save."""
    record = audit_event(**event)
    insert_together(record)
    return record


def audit_event(*, event_type: str, actor=None, action=None, agent=None, **fields) -> AuditEvent:
    """Build one unsaved event. `actor` is an Agent, a User or None (system); `fields` are AuditEvent
    columns. Save it with the change it records, in one transaction (audit_record, or
    hitl.db.insert_together for a new action)."""
    actor_type, actor_label = actor_of(actor)
    if actor_type in (Actor.REVIEWER, Actor.ADMIN):
        fields.setdefault("reviewer", actor.user if isinstance(actor, InAdmin) else actor)
    if action is not None:
        fields.setdefault("action_type", action.action_type.key)
        fields.setdefault("agent_confidence", action.confidence)
        fields.setdefault("routing_tier", action.route_tier)
        agent = agent or action.agent
    return AuditEvent(
        created_at=timezone.now(),
        event_type=event_type,
        actor_type=fields.pop("actor_type", actor_type),
        actor_label=actor_label,
        request_id=request_id.get(),
        action=action,
        agent=agent,
        **fields,
    )
