from contextlib import nullcontext

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import audit_event
from hitl.db import _statement, insert_rows, insert_together, update_rows
from hitl.models import Action
from hitl.services import action_prepare
from tests.conftest import submit_body


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


def test_insert_together_stores_the_same_rows_whether_or_not_queries_are_logged(agent, email_type):
    """Unlogged, the statement goes out with $n placeholders through a RawCursor; logged (DEBUG, a
    test counting queries), with %s through Django's cursor."""
    stored = []
    for logged in (False, True):
        action = action_prepare(agent=agent, action_type=email_type, payload={"note": "50%s %% off"},
                                summary="100% sure", confidence=0.5)  # fmt: skip
        event = audit_event(event_type="submitted", action=action, after={"status": action.status})
        with CaptureQueriesContext(connection) if logged else nullcontext() as queries:
            insert_together(action, event)
        if logged:
            [query] = queries  # one statement, logged with its values
            assert query["sql"].startswith("WITH i0 AS (INSERT") and "'100% sure'" in query["sql"]
        row = Action.objects.values("payload", "summary", "status", "route_tier", "escalation_path").get(pk=action.pk)
        stored.append((row, AuditEvent.objects.values_list("after", flat=True).get(pk=event.pk)))
    assert stored[0] == stored[1]


def test_statements_are_numbered_once_and_escaped_percents_kept():
    statement = _statement("SELECT %s, '%%', '%%s', %s, '%%%s'")
    assert statement.numbered == "SELECT $1, '%', '%s', $2, '%$3'"


def test_update_rows_writes_the_named_fields_of_every_row_in_one_statement(agent, email_type):
    actions = [
        action_prepare(agent=agent, action_type=email_type, payload={"n": i}, summary=f"s{i}", confidence=0.5)
        for i in range(3)
    ]
    Action.objects.bulk_create(actions)
    for i, action in enumerate(actions):
        action.route_tier, action.sla_next_at, action.escalation_path = "tier2", None, [{"step": i}]
        action.summary = "changed in memory only"
    with CaptureQueriesContext(connection) as queries:
        update_rows(actions, ["route_tier", "sla_next_at", "escalation_path"])
    assert len(queries) == 1
    rows = Action.objects.filter(pk__in=[a.pk for a in actions]).order_by("summary")
    assert [(a.summary, a.route_tier, a.sla_next_at, a.escalation_path) for a in rows] == [
        (f"s{i}", "tier2", None, [{"step": i}]) for i in range(3)
    ]


def test_insert_rows_inserts_every_row_in_one_statement(agent, email_type):
    action = action_prepare(agent=agent, action_type=email_type, payload={}, summary="s", confidence=0.5)
    action.save(force_insert=True)
    events = [audit_event(event_type="warned", action=action, data={"percent_of_sla": p}) for p in (50, 75)]
    with CaptureQueriesContext(connection) as queries:
        insert_rows(events)
    assert len(queries) == 1
    saved = AuditEvent.objects.filter(action=action).order_by("id")
    assert [(e.event_type, e.agent_id, e.action_type, e.data) for e in saved] == [
        ("warned", agent.pk, email_type.key, {"percent_of_sla": 50}),
        ("warned", agent.pk, email_type.key, {"percent_of_sla": 75}),
    ]


def test_a_repeated_submit_statement_is_prepared_on_the_server_and_stores_the_same_rows(api):
    """After five runs on a connection the submit's one statement is prepared: PostgreSQL parses
    and plans it once. What it stores does not change."""
    for i in range(7):
        response = api.post("/api/v1/actions", submit_body(summary=f"submit {i}"), format="json")
        assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = dict(cursor.fetchall())
    runs = [
        count for statement, count in prepared.items() if statement.startswith('WITH i0 AS (INSERT INTO "hitl_action"')
    ]
    assert sum(runs) >= 1  # the submit's statement ran at least once as prepared
    stored = Action.objects.filter(summary__startswith="submit ").order_by("created_at")
    assert [(a.summary, a.payload["to"], a.status) for a in stored] == [
        (f"submit {i}", "jane@example.com", "pending") for i in range(7)
    ]
    assert AuditEvent.objects.filter(action__in=stored, event_type="submitted").count() == 7


def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler(monkeypatch):
    from hitl.settings.base import database_config, env

    def configured():
        return database_config(env.db_url_config("postgres://postgres@127.0.0.1:5432/hitl"))

    monkeypatch.delenv("DB_PREPARED_STATEMENTS", raising=False)
    assert configured()["OPTIONS"]["prepare_threshold"] == 5
    monkeypatch.setenv("DB_PREPARED_STATEMENTS", "off")
    assert configured()["OPTIONS"]["prepare_threshold"] is None
