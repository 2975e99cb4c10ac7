import pytest
from django.db import DataError

from hitl.audit import audit_event
from hitl.db import insert_together
from hitl.models import Action, AuditEvent
from hitl.services import action_prepare


@pytest.mark.django_db(transaction=True)
def test_insert_together_is_all_or_nothing(agent, email_type):
    """Outside any transaction (as in a request), a failing second row leaves no first row behind."""
    action = action_prepare(agent=agent, action_type=email_type, payload={}, summary="s", confidence=0.5)
    broken = audit_event(event_type="x" * 40, action=action)  # longer than the column allows
    with pytest.raises(DataError):
        insert_together(action, broken)
    assert not Action.objects.filter(pk=action.pk).exists()
    assert not AuditEvent.objects.filter(action_type=email_type.key).exists()


def test_insert_together_sets_generated_keys(agent, email_type):
    action = action_prepare(
        agent=agent, action_type=email_type, payload={"to": "a@example.com"}, summary="s", confidence=0.5
    )
    first, second = (
        audit_event(event_type="submitted", action=action),
        audit_event(event_type="submitted", action=action),
    )
    insert_together(action, first, second)
    assert first.pk and second.pk and first.pk != second.pk
    assert list(AuditEvent.objects.filter(action=action).values_list("pk", flat=True)) == sorted([first.pk, second.pk])
    assert Action.objects.get(pk=action.pk).payload == {"to": "a@example.com"}
