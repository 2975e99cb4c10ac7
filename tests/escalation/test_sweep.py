"""The SLA sweep: announce, warn, escalate and expire on time, once, whatever runs at the same time."""

import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import time_machine
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from escalation import services
from escalation.services import escalation_sweep
from hitl.models import Action
from hitl.services import action_submit, agent_create
from reviews.claims import claim_take
from reviews.models import Claim
from reviews.services import review_decide
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def desk(db):
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    tina = UserFactory(username="tina")
    groups["team"].members.add(tina)
    email = ActionTypeFactory()
    agent, _ = agent_create(name="support-bot")

    def submit(summary="Email Jane", **facts):
        fields = {"payload": {"to": "jane@example.com", "subject": "Hi"}, "confidence": 0.9}
        return action_submit(agent=agent, action_type=email, summary=summary, **{**fields, **facts})

    return tina, submit


def events(action, *types):
    rows = AuditEvent.objects.filter(action=action).order_by("id")
    return list((rows.filter(event_type__in=types) if types else rows).values_list("event_type", flat=True))


def sweep_at(moment, **kwargs):
    with time_machine.travel(moment, tick=False):
        return escalation_sweep(**kwargs)


def test_an_undecided_action_warns_escalates_through_every_tier_and_expires(desk):
    _, submit = desk
    with time_machine.travel(T0, tick=False):
        action = submit()
    assert (action.route_tier, action.due_at) == ("tier1", T0 + timedelta(hours=4))
    assert [step["tier"] for step in action.escalation_path] == ["tier1", "tier2", "tier3"]

    assert sweep_at(T0).announced == 1
    for minutes in (120, 180, 216):  # 50, 75 and 90 % of 4 hours
        assert sweep_at(T0 + timedelta(minutes=minutes)).warned == 1
    assert sweep_at(T0 + timedelta(minutes=239)).warned == 0  # nothing due in between
    first = sweep_at(T0 + timedelta(hours=4, seconds=3))
    assert first.escalated == 1 and first.lateness == [3.0]
    action.refresh_from_db()
    assert (action.route_tier, action.reviewer_group, action.status) == ("tier2", "lead", "pending")
    assert action.due_at == T0 + timedelta(hours=5, seconds=3)

    t1 = action.due_at
    for minutes in (30, 45, 54):
        assert sweep_at(t1 - timedelta(hours=1) + timedelta(minutes=minutes)).warned == 1
    assert sweep_at(t1).escalated == 1
    action.refresh_from_db()
    assert (action.route_tier, action.reviewer_group) == ("tier3", "executive")
    t2 = action.due_at
    assert t2 == t1 + timedelta(minutes=15)
    for minutes in (7.5, 11.25, 13.5):
        assert sweep_at(t1 + timedelta(minutes=minutes)).warned == 1
    assert sweep_at(t2).expired == 1
    action.refresh_from_db()
    assert (action.status, action.decision, action.sla_next_at) == ("expired", "expired", None)
    assert "tier3 SLA" in action.decision_comment
    assert events(action) == ["submitted"] + ["warned"] * 3 + ["escalated"] + ["warned"] * 3 + ["escalated"] + [
        "warned"
    ] * 3 + ["expired"]
    escalations = AuditEvent.objects.filter(action=action, event_type="escalated").order_by("id")
    assert [(e.before["tier"], e.after["tier"]) for e in escalations] == [("tier1", "tier2"), ("tier2", "tier3")]
    assert (escalations[0].before, escalations[0].after, escalations[0].data) == (
        {"tier": "tier1", "group": "team", "due_at": (T0 + timedelta(hours=4)).isoformat()},
        {"tier": "tier2", "group": "lead", "due_at": t1.isoformat()},
        {"late_seconds": 3.0},
    )
    warnings = AuditEvent.objects.filter(action=action, event_type="warned").order_by("id")
    assert [e.data["percent_of_sla"] for e in warnings] == [50, 75, 90] * 3
    expired = AuditEvent.objects.get(action=action, event_type="expired")
    assert (expired.decision, expired.time_to_decision_seconds, expired.actor_type) == (
        "expired",
        (t2 - T0).total_seconds(),
        "system",
    )
    assert expired.before == {"tier": "tier3", "group": "executive", "due_at": t2.isoformat()}
    assert sweep_at(t2 + timedelta(hours=1)).expired == 0  # nothing more is ever due


def test_a_late_sweep_sends_only_the_latest_due_warning(desk):
    _, submit = desk
    with time_machine.travel(T0, tick=False):
        action = submit(compliance_risk=True)  # tier3: 15 minutes, then expire
    late = sweep_at(T0 + timedelta(minutes=12))  # 50 % and 75 % have passed
    assert (late.announced, late.warned) == (1, 1)
    assert list(AuditEvent.objects.filter(action=action, event_type="warned").values_list("data", flat=True)) == [
        {"percent_of_sla": 75}
    ]
    very_late = sweep_at(T0 + timedelta(hours=2))  # past the deadline: straight to the breach
    assert (very_late.warned, very_late.expired) == (0, 1)


def overdue(submit, n, **facts):
    """`n` tier1 actions, announced, whose deadline has just passed."""
    actions = [submit(f"Email #{i}", **facts) for i in range(n)]
    Action.objects.filter(pk__in=[a.pk for a in actions]).update(
        sla_stage=4, due_at=timezone.now() - timedelta(seconds=1), sla_next_at=timezone.now() - timedelta(seconds=1)
    )
    return actions


def in_threads(*calls):
    barrier, errors = threading.Barrier(len(calls)), []

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_escalate_each_action_exactly_once(desk):
    _, submit = desk
    actions = overdue(submit, 120)
    assert in_threads(lambda: escalation_sweep(batch_size=15), lambda: escalation_sweep(batch_size=15)) == []
    assert set(Action.objects.values_list("route_tier", "escalation_step")) == {("tier2", 1)}
    assert AuditEvent.objects.filter(event_type="escalated").count() == len(actions)
    assert AuditEvent.objects.filter(event_type="escalated").values("action").distinct().count() == len(actions)


@pytest.mark.django_db(transaction=True)
def test_a_backlog_is_shared_by_the_sweeps_connections_and_each_action_moves_once(desk, monkeypatch):
    _, submit = desk
    actions = overdue(submit, 200)
    threads, batch = set(), services._sweep_batch

    def noting(**kwargs):  # which threads (each with its own connection) swept a batch
        taken = batch(**kwargs)
        if taken:
            threads.add(threading.get_ident())
        return taken

    monkeypatch.setattr(services, "_sweep_batch", noting)
    result = escalation_sweep(batch_size=10, workers=3)
    assert (result.escalated, result.batches, len(result.lateness)) == (200, 20, 200)
    assert len(threads) >= 2  # the helpers joined in (how many batches each took is up to timing)
    assert AuditEvent.objects.filter(event_type="escalated").values("action").distinct().count() == len(actions)
    assert AuditEvent.objects.filter(event_type="escalated").count() == len(actions)


@pytest.mark.django_db(transaction=True)
def test_a_helper_that_fails_fails_the_sweep_after_the_others_finish(desk):
    _, submit = desk
    actions = overdue(submit, 40)
    start = timezone.now() - timedelta(minutes=1)
    for i, action in enumerate(actions):
        Action.objects.filter(pk=action.pk).update(sla_next_at=start + timedelta(seconds=i))
    Action.objects.filter(pk=actions[-1].pk).update(escalation_path=[])  # taken last, by whichever connection
    with pytest.raises(DataError, match="has no step"):
        escalation_sweep(batch_size=10, workers=2)
    assert not [thread for thread in threading.enumerate() if thread.name == "sla-sweep-helper"]  # all finished
    # Every batch without the poisoned row committed, whole, and none twice. Which rows shared a
    # batch with it depends on how the two connections' SKIP LOCKED scans interleaved: at least
    # the three other batches' 30 committed, and the poisoned action did not move.
    escalated = AuditEvent.objects.filter(event_type="escalated")
    done = escalated.count()
    assert 30 <= done <= 39 and escalated.values("action").distinct().count() == done
    assert not escalated.filter(action=actions[-1]).exists()
    Action.objects.filter(pk=actions[-1].pk).update(escalation_path=actions[0].escalation_path)
    assert escalation_sweep(batch_size=10).escalated == 40 - done  # the next run finishes the rest
    assert escalated.values("action").distinct().count() == escalated.count() == 40


@pytest.mark.django_db(transaction=True)
def test_a_decision_at_the_deadline_and_the_sweep_resolve_to_one_outcome(desk):
    tina, submit = desk

    for _ in range(30):
        (action,) = overdue(submit, 1)
        in_threads(escalation_sweep, partial(review_decide, reviewer=tina, action_id=action.pk, decision="approve"))
        action.refresh_from_db()
        recorded = events(action, "decided", "escalated")
        if action.status == "approved":  # tina first: the sweep found nothing pending to escalate
            assert recorded == ["decided"] and action.route_tier == "tier1"
        else:  # the sweep first: tina no longer sees a tier2 action, so her decision changed nothing
            assert (action.status, action.route_tier, recorded) == ("pending", "tier2", ["escalated"])


@pytest.mark.django_db(transaction=True)
def test_a_sweep_that_fails_halfway_loses_and_doubles_nothing(desk):
    _, submit = desk
    actions = overdue(submit, 30)
    start = timezone.now() - timedelta(minutes=1)
    for i, action in enumerate(actions):  # swept in this order, ten at a time
        Action.objects.filter(pk=action.pk).update(sla_next_at=start + timedelta(seconds=i))
    poison = actions[15]  # a corrupt row in the second batch makes the sweep raise there
    Action.objects.filter(pk=poison.pk).update(escalation_path=[])
    with pytest.raises(DataError, match=f"escalation path of action {poison.pk} has no step"):
        escalation_sweep(batch_size=10, workers=1)
    assert AuditEvent.objects.filter(event_type="escalated").count() == 10  # the first batch committed, whole
    Action.objects.filter(pk=poison.pk).update(escalation_path=actions[0].escalation_path)
    assert escalation_sweep(batch_size=10, workers=1).escalated == 20
    assert AuditEvent.objects.filter(event_type="escalated").values("action").distinct().count() == 30
    assert AuditEvent.objects.filter(event_type="escalated").count() == 30


# A batch of escalations: lock the due rows, apply their transitions (UPDATE and audit INSERT in
# one statement), end their claims (reviews.services), read the notification routes. A sweep also
# runs the empty batch that ends it and the lapsed-claims read.
PER_BATCH, PER_SWEEP = 4, 2


def statements(queries) -> list[str]:
    """The SQL a sweep ran; in a test's transaction each batch's BEGIN and COMMIT are savepoints."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


def test_a_batch_costs_the_same_queries_however_many_rows_it_holds(desk, own_routes_only):
    _, submit = desk
    counts = []
    for n in (3, 40):
        overdue(submit, n)
        with CaptureQueriesContext(connection) as queries:
            assert escalation_sweep(batch_size=100).escalated == n
        counts.append(len(statements(queries)))
    assert counts == [PER_BATCH + PER_SWEEP] * 2

    overdue(submit, 30)
    with CaptureQueriesContext(connection) as queries:
        result = escalation_sweep(batch_size=10)
    assert (result.escalated, result.batches) == (30, 3)
    assert len(statements(queries)) == 3 * PER_BATCH + PER_SWEEP


def test_lapsed_claims_are_released_and_review_windows_close(desk):
    tina, submit = desk
    (held,) = overdue(submit, 1)
    Action.objects.filter(pk=held.pk).update(due_at=timezone.now() + timedelta(hours=1), sla_next_at=None)
    claim_take(reviewer=tina, action_id=held.pk)
    reversible = ActionTypeFactory(key="tag_ticket", irreversible=False, payload_schema=None)
    agent = held.agent
    action_submit(agent=agent, action_type=reversible, payload={}, summary="warm-up", confidence=0.99)
    ran = action_submit(agent=agent, action_type=reversible, payload={}, summary="Tag ticket", confidence=0.65)
    assert ran.route_pattern == "post_action" and ran.sla_next_at == ran.due_at
    later = timezone.now() + timedelta(days=2)
    result = sweep_at(later)
    assert (result.claims_released, result.windows_closed) == (1, 1)
    assert events(held, "released") == ["released"] and events(ran, "review_window_closed") == ["review_window_closed"]
    assert not Claim.objects.filter(action=held).exists()
    assert sweep_at(later).windows_closed == 0  # closed once
