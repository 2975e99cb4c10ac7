"""The audit log cannot be quietly edited: append-only in PostgreSQL, chained per action, anchored
and signed, checked by verify_audit, pruned only by whole anchored segments."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import ProgrammingError, connection, transaction
from django.test import Client
from django.utils import timezone

from audit import chain as audit_chain
from audit.anchors import anchor_signature, audit_anchor, audit_prune, segment_digest
from audit.models import AuditAnchor, AuditEvent
from audit.tasks import verify_audit_trail
from hitl.models import Action
from hitl.services import action_submit, agent_create, token_issue
from reviews.services import review_decide
from tests.conftest import submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def trail(db):
    """Three actions with a few events each, decided by tina."""
    tina = UserFactory(username="tina")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    kind = ActionTypeFactory()
    agent, _ = agent_create(name="support-bot")
    actions = []
    for i in range(3):
        action = action_submit(
            agent=agent, action_type=kind, payload={"to": "jane@example.com", "subject": f"Hi {i}"},
            summary=f"Email #{i}", confidence=0.8,
        )  # fmt: skip
        review_decide(reviewer=tina, action_id=action.pk, decision="approve")
        actions.append(action)
    return actions


def sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def verify() -> tuple[int, str]:
    """Run `manage.py verify_audit`: (exit status, what it printed)."""
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, err.getvalue()
    return 0, out.getvalue()


def tampering():
    """As a superuser would: with the append-only trigger disabled (rolled back with the test)."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # the test's pending foreign-key checks, before ALTER TABLE
    sql("ALTER TABLE hitl_auditevent DISABLE TRIGGER hitl_audit_append_only")


def events_of(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_each_actions_events_form_a_chain(trail):
    for action in trail:
        events = events_of(action)
        assert [e.seq for e in events] == list(range(1, len(events) + 1)) and len(events) >= 2
        assert events[0].prev_hash == ""
        assert all(e.prev_hash == before.hash for before, e in zip(events, events[1:], strict=False))
        assert all(len(e.hash) == 64 for e in events)
    assert verify() == (0, verify()[1]) and "audit log intact" in verify()[1]


def test_update_delete_and_truncate_are_refused_from_sql_and_from_the_orm(trail):
    event = events_of(trail[0])[0]
    for statement in (
        "UPDATE hitl_auditevent SET decision = 'approved' WHERE id = %s",
        "DELETE FROM hitl_auditevent WHERE id = %s",
    ):
        with pytest.raises(ProgrammingError, match="the audit log is append-only"), transaction.atomic():
            sql(statement, [event.pk])
    with pytest.raises(ProgrammingError, match="TRUNCATE on hitl_auditevent is refused"), transaction.atomic():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql("SET LOCAL hitl.audit_truncate = off")  # as outside the test database
        sql("TRUNCATE hitl_auditevent CASCADE")
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.decision = "rejected"
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).decision == events_of(trail[0])[0].decision
    assert verify()[0] == 0


def test_an_edited_row_is_named(trail):
    target = events_of(trail[1])[1]
    tampering()
    sql("UPDATE hitl_auditevent SET decision = 'rejected' WHERE id = %s", [target.pk])
    status, printed = verify()
    assert status == 1
    assert f"first broken: event #{target.pk}: edited: its content (action {trail[1].pk}, seq 2)" in printed


def test_a_deleted_row_is_named_by_its_gap(trail):
    AuditEvent.objects.create(
        created_at=timezone.now(), event_type="outcome_reported", actor_type="agent", action=trail[0]
    )  # one more event, so that deleting the second leaves a gap whatever the flow wrote
    events = events_of(trail[0])
    tampering()
    sql("DELETE FROM hitl_auditevent WHERE id = %s", [events[1].pk])
    status, printed = verify()
    assert status == 1
    assert (
        f"first broken: event #{events[2].pk}: missing: 1 event(s) of action {trail[0].pk} missing between "
        f"event #{events[0].pk} (seq 1) and this one (seq 3)"
    ) in printed


def test_an_edit_re_hashed_breaks_the_link_to_the_next_event(trail):
    first, second = events_of(trail[2])[:2]
    tampering()
    sql("UPDATE hitl_auditevent SET actor_label = 'mallory' WHERE id = %s", [first.pk])
    rehash = audit_chain.HASH_SQL.format(canonical=audit_chain.CANONICAL_SQL.format(r="hitl_auditevent"))
    sql(f"UPDATE hitl_auditevent SET hash = {rehash} WHERE id = %s", [first.pk])
    status, printed = verify()
    assert status == 1
    assert f"first broken: event #{second.pk}: inserted: does not link to event #{first.pk}" in printed


def test_anchors_catch_a_whole_chain_rewritten_and_a_last_event_deleted(trail):
    anchor = audit_anchor()
    assert (anchor.event_count, anchor.last_event_id) == (AuditEvent.objects.count(), AuditEvent.objects.last().pk)
    assert audit_anchor() is None  # nothing new since
    assert verify()[0] == 0
    # Rewrite one action's whole chain consistently: every chain check passes; the signed anchor does not.
    events = events_of(trail[0])
    tampering()
    sql("UPDATE hitl_auditevent SET actor_label = 'mallory' WHERE id = %s", [events[0].pk])
    rehash = audit_chain.HASH_SQL.format(canonical=audit_chain.CANONICAL_SQL.format(r="hitl_auditevent"))
    for before, event in zip([None, *events], events, strict=False):
        if before is not None:
            sql("UPDATE hitl_auditevent SET prev_hash = (SELECT hash FROM hitl_auditevent WHERE id = %s) WHERE id = %s",
                [before.pk, event.pk])  # fmt: skip
        sql(f"UPDATE hitl_auditevent SET hash = {rehash} WHERE id = %s", [event.pk])
    status, printed = verify()
    assert status == 1 and ": edited:" not in printed and ": inserted:" not in printed
    first_id = AuditEvent.objects.first().pk
    assert (
        f"first broken: event #{first_id}: anchor: the events with ids {first_id} to {anchor.last_event_id}" in printed
    )


def test_a_forged_anchor_is_caught(trail):
    anchor = audit_anchor()
    AuditAnchor.objects.filter(pk=anchor.pk).update(event_count=anchor.event_count - 1)
    status, printed = verify()
    assert status == 1 and f"anchor {anchor.pk}'s signature is not valid" in printed


def test_a_rotated_key_verifies_its_old_anchors_only_while_it_is_a_fallback(trail, settings):
    settings.HITL_AUDIT_KEY, settings.HITL_AUDIT_KEY_FALLBACKS = "old-key", []
    old = audit_anchor()
    settings.HITL_AUDIT_KEY, settings.HITL_AUDIT_KEY_FALLBACKS = "new-key", ["old-key"]
    assert verify()[0] == 0
    agent_create(name="after-rotation-bot")
    new = audit_anchor()
    assert new.signature == anchor_signature(
        previous=old.signature, last_event_id=new.last_event_id, event_count=new.event_count, digest=new.digest,
        key="new-key",
    )  # fmt: skip
    assert verify()[0] == 0
    settings.HITL_AUDIT_KEY_FALLBACKS = []  # the old key forgotten: what it signed no longer verifies
    status, printed = verify()
    assert (
        status == 1 and f"anchor {old.pk}'s signature is not valid" in printed and "HITL_AUDIT_KEY_FALLBACKS" in printed
    )


def test_a_retired_key_cannot_sign_after_its_successor_has(trail, settings):
    settings.HITL_AUDIT_KEY, settings.HITL_AUDIT_KEY_FALLBACKS = "new-key", ["old-key"]
    first = audit_anchor()
    agent_create(name="later-bot")
    # Someone holding the retired key (it leaked) anchors the newest events with it.
    through = AuditEvent.objects.last().pk
    with transaction.atomic():
        count, digest, _ = segment_digest(first.last_event_id, through)
    forged = AuditAnchor.objects.create(
        last_event_id=through, event_count=count, digest=digest,
        signature=anchor_signature(previous=first.signature, last_event_id=through, event_count=count,
                                   digest=digest, key="old-key"),
    )  # fmt: skip
    status, printed = verify()
    assert status == 1 and f"anchor {forged.pk} is signed with a key older than an earlier anchor's" in printed


def test_retention_prunes_whole_anchored_segments_and_the_log_still_verifies(trail, settings):
    old = audit_anchor()
    agent, _ = agent_create(name="later-bot")
    recent = audit_anchor()
    AuditAnchor.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    settings.HITL_AUDIT_RETENTION_DAYS = 30
    assert audit_prune() == old.event_count
    assert not AuditEvent.objects.filter(pk__lte=old.last_event_id).exists()
    assert (
        AuditEvent.objects.filter(pk__gt=old.last_event_id, pk__lte=recent.last_event_id).count() == recent.event_count
    )
    pruned = AuditEvent.objects.get(event_type="audit_pruned")
    assert pruned.data == {"anchor": old.pk, "through_event": old.last_event_id, "events": old.event_count,
                           "retention_days": 30}  # fmt: skip
    assert AuditAnchor.objects.get(pk=old.pk).pruned_at is not None
    status, printed = verify()
    assert status == 0 and "(1 pruned by retention)" in printed
    assert audit_prune() == 0  # pruned once
    # Outside pruning, deleting is still refused.
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        sql("DELETE FROM hitl_auditevent WHERE id = %s", [pruned.pk])


def test_the_daily_check_mails_the_admins_and_records_the_break(trail, settings):
    settings.ADMINS = [("Security", "security@example.com")]
    assert verify_audit_trail() is True and mail.outbox == []
    target = events_of(trail[0])[0]
    tampering()
    sql("UPDATE hitl_auditevent SET decision = 'rejected' WHERE id = %s", [target.pk])
    assert verify_audit_trail() is False
    (message,) = mail.outbox
    assert message.to == ["security@example.com"] and f"event #{target.pk}: edited" in message.subject
    broken = AuditEvent.objects.get(event_type="audit_broken")
    assert (broken.actor_type, broken.data["first_event"], broken.data["problems"]) == ("system", target.pk, 1)


def test_the_installed_trigger_hashes_the_canonical_json_verification_reads(db):
    (source,) = sql("SELECT prosrc FROM pg_proc WHERE proname = 'hitl_audit_chain'")[0]
    assert audit_chain.CANONICAL_SQL.format(r="NEW") in source


@pytest.mark.django_db(transaction=True)
def test_a_thousand_concurrent_submits_leave_an_intact_log(email_type):
    agent, _ = agent_create(name="busy-bot")
    token = token_issue(agent=agent)
    stop, anchors = threading.Event(), []

    def anchoring():  # anchors taken while submits are running must cover exactly what committed
        while not stop.wait(0.2):
            if (anchor := audit_anchor()) is not None:
                anchors.append(anchor)
        connection.close()

    clients = threading.local()  # one per thread: a test Client loads the middleware when made

    def submit(i):
        if not hasattr(clients, "client"):
            clients.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        body = submit_body(summary=f"Email #{i}", task_id=f"t-{i % 50}")
        response = clients.client.post("/api/v1/actions", body, content_type="application/json")
        connection.close()
        return response.status_code

    anchorer = threading.Thread(target=anchoring)
    anchorer.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(submit, range(1000)))
    stop.set()
    anchorer.join()
    assert statuses.count(201) + statuses.count(200) == 1000, set(statuses)
    assert Action.objects.count() == 1000
    assert AuditEvent.objects.filter(event_type="submitted").count() == 1000
    assert len(anchors) >= 1
    audit_anchor()
    status, printed = verify()
    assert status == 0, printed
    assert AuditEvent.objects.filter(seq=1, action__isnull=False).count() == 1000
