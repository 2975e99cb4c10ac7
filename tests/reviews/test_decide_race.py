"""Reviewers deciding the same action at once, on real PostgreSQL with real threads.

Each race starts its callers behind a threading.Barrier so they reach `review_decide` (and its
SELECT … FOR UPDATE) together; each thread closes its own database connection when it ends.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from hitl.errors import Conflict
from hitl.models import Action
from hitl.services import action_submit, agent_create
from reviews.claims import claim_release, claim_take
from reviews.models import Claim, Verdict
from reviews.services import review_decide
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

VERDICT_STATUS = {"approve": "approved", "reject": "rejected"}


def race(*calls):
    """Run each zero-argument callable in its own thread, released together by a barrier.

    Returns one (value, error) pair per call, in the order given."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            outcomes[index] = (call(), None)
        except BaseException as exc:  # noqa: BLE001 - the caller asserts on what each thread raised
            outcomes[index] = (None, exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a deciding thread hung"
    return outcomes


def deciding(reviewer, action_id, verdict, **kwargs):
    comment = kwargs.pop("comment", f"{reviewer.get_username()} says no" if verdict == "reject" else "")
    return lambda: (
        review_decide(reviewer=reviewer, action_id=action_id, decision=verdict, comment=comment, **kwargs).action
    )


def events(action, kind):
    return AuditEvent.objects.filter(action=action, event_type=kind)


def conflict_code(error):
    assert isinstance(error, Conflict), repr(error)
    return error.code


@pytest.fixture
def scene(transactional_db):
    """Two team reviewers (tier1, one approval) and two executives (tier3, four-eyes)."""
    team = ReviewerGroupFactory(key="team", rank=1)
    ReviewerGroupFactory(key="lead", rank=2)
    executive = ReviewerGroupFactory(key="executive", rank=3)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    team.members.add(alice, bob)
    erin, ed = UserFactory(username="erin"), UserFactory(username="ed")
    executive.members.add(erin, ed)
    action_type = ActionTypeFactory(payload_schema=None)  # irreversible: always waits for a human
    agent, _ = agent_create(name="race-bot")

    def new_action(*, four_eyes=False, n=0):
        action = action_submit(
            agent=agent,
            action_type=action_type,
            payload={"n": n},
            summary="race",
            confidence=0.95,
            compliance_risk=four_eyes,  # compliance exposure routes to tier3, which needs two approvals
        )
        assert action.status == "pending" and action.route_pattern == "pre_action"
        expected = ("tier3", "executive", 2) if four_eyes else ("tier1", "team", 1)
        assert (action.route_tier, action.reviewer_group, action.approvals_required) == expected
        return action

    return {"alice": alice, "bob": bob, "erin": erin, "ed": ed, "new_action": new_action}


def test_two_reviewers_deciding_at_once_leave_exactly_one_winner(scene):
    alice, bob, new_action = scene["alice"], scene["bob"], scene["new_action"]
    for round_ in range(100):
        action = new_action(n=round_)
        # Alternate who approves, so each reviewer wins with each verdict over the rounds.
        plan = [(alice, "approve"), (bob, "reject")] if round_ % 2 == 0 else [(alice, "reject"), (bob, "approve")]
        outcomes = race(*(deciding(reviewer, action.pk, verdict) for reviewer, verdict in plan))

        won = [i for i, (value, error) in enumerate(outcomes) if error is None]
        assert len(won) == 1, (round_, outcomes)
        (w,) = won
        winner, verdict = plan[w]
        returned, _ = outcomes[w]
        _, error = outcomes[1 - w]
        status = VERDICT_STATUS[verdict]

        assert isinstance(returned, Action) and returned.pk == action.pk
        assert returned.status == status and returned.decided_by == winner

        assert conflict_code(error) == "already_decided", (round_, error.message)
        assert error.extra["winner"]["status"] == status and error.extra["winner"]["decision"] == status
        assert error.extra["winner"]["by"] == winner.username, (round_, error.extra)
        assert f"by {winner.username}" in error.message

        action.refresh_from_db()
        assert action.status == status and action.decision == status and action.decided_by == winner
        assert action.version == 2
        verdict_row = Verdict.objects.get(action=action)
        assert verdict_row.reviewer == winner and verdict_row.kind == verdict
        decided = events(action, "decided").get()
        assert decided.reviewer == winner and decided.decision == status
        assert not events(action, "approval_recorded").exists()
        if verdict == "reject":
            assert action.final_payload is None and action.decision_comment == f"{winner.username} says no"
        else:
            assert action.final_payload == {"n": round_}


def test_two_executives_approving_a_four_eyes_action_at_once_approve_it_once(scene):
    erin, ed, new_action = scene["erin"], scene["ed"], scene["new_action"]
    for round_ in range(30):
        action = new_action(four_eyes=True, n=round_)
        outcomes = race(deciding(erin, action.pk, "approve"), deciding(ed, action.pk, "approve"))

        assert [error for _, error in outcomes] == [None, None], (round_, outcomes)
        statuses = sorted(value.status for value, _ in outcomes)
        assert statuses == ["approved", "pending"], (round_, statuses)
        action.refresh_from_db()
        assert action.status == "approved" and action.decision == "approved" and action.version == 3
        verdicts = list(Verdict.objects.filter(action=action))
        assert sorted(v.reviewer.username for v in verdicts) == ["ed", "erin"]
        assert all(v.kind == "approve" for v in verdicts)
        recorded, decided = events(action, "approval_recorded").get(), events(action, "decided").get()
        first, second = verdicts  # ordered by id: the order the locks were granted
        assert recorded.reviewer == first.reviewer and recorded.data["approvals"] == 1
        assert decided.reviewer == second.reviewer == action.decided_by
        assert sorted(decided.data["approvers"]) == ["ed", "erin"]
        assert action.final_payload == {"n": round_}


def test_an_approval_and_a_rejection_of_a_four_eyes_action_at_once_end_consistently(scene):
    erin, ed, new_action = scene["erin"], scene["ed"], scene["new_action"]
    orders = set()
    for round_ in range(30):
        action = new_action(four_eyes=True, n=round_)
        (approved, approve_error), (rejected, reject_error) = race(
            deciding(erin, action.pk, "approve"), deciding(ed, action.pk, "reject")
        )

        # A rejection ends a pending action whenever it runs: it never loses.
        assert reject_error is None, (round_, reject_error)
        assert rejected.status == "rejected" and rejected.decided_by == ed
        action.refresh_from_db()
        assert action.status == "rejected" and action.decision == "rejected" and action.decided_by == ed
        assert events(action, "decided").get().reviewer == ed
        verdicts = list(Verdict.objects.filter(action=action))
        if approve_error is None:  # the approval ran first and was recorded; the rejection ended it
            orders.add("approve first")
            assert approved.status == "pending" and approved.version == 2
            assert [(v.reviewer.username, v.kind) for v in verdicts] == [("erin", "approve"), ("ed", "reject")]
            assert events(action, "approval_recorded").get().reviewer == erin
            assert action.version == 3
        else:  # the rejection ran first: the approval comes too late
            orders.add("reject first")
            assert conflict_code(approve_error) == "already_decided"
            assert approve_error.extra["winner"]["status"] == "rejected"
            assert approve_error.extra["winner"]["by"] == "ed", approve_error.extra
            assert [(v.reviewer.username, v.kind) for v in verdicts] == [("ed", "reject")]
            assert not events(action, "approval_recorded").exists()
            assert action.version == 2
        assert action.final_payload is None
    assert orders  # which orders occurred depends on scheduling; each one was checked


def test_a_loser_that_waited_on_the_lock_is_told_who_won(scene):
    """Deterministic: bob's decision waits on the action's row lock while alice decides."""
    alice, bob = scene["alice"], scene["bob"]
    action = scene["new_action"]()
    outcome = []

    def bob_rejects():
        try:
            outcome.append(deciding(bob, action.pk, "reject")())
        except Exception as exc:  # noqa: BLE001 - asserted below
            outcome.append(exc)
        finally:
            connection.close()

    waiting = threading.Thread(target=bob_rejects)
    with transaction.atomic():  # alice's transaction: lock the row first, so bob has to wait
        Action.objects.select_for_update().get(pk=action.pk)
        waiting.start()
        _wait_until_a_backend_waits_on_a_lock()
        assert review_decide(reviewer=alice, action_id=action.pk, decision="approve").action.status == "approved"
    waiting.join(timeout=30)
    assert not waiting.is_alive()

    (error,) = outcome
    assert conflict_code(error) == "already_decided"
    assert error.extra["winner"]["status"] == "approved" and error.extra["winner"]["decision"] == "approved"
    action.refresh_from_db()
    assert action.status == "approved" and action.decided_by == alice
    assert Verdict.objects.get(action=action).reviewer == alice and events(action, "decided").count() == 1
    assert error.extra["winner"]["by"] == "alice" and "by alice" in error.message


def _wait_until_a_backend_waits_on_a_lock(timeout=10.0):
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # the view is a snapshot per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the other decision never waited on the row lock")


def test_the_same_reviewer_cannot_approve_a_four_eyes_action_twice(scene):
    erin, ed = scene["erin"], scene["ed"]
    action = scene["new_action"](four_eyes=True)
    first = review_decide(reviewer=erin, action_id=action.pk, decision="approve").action
    assert first.status == "pending" and first.version == 2

    with pytest.raises(Conflict) as refused:
        review_decide(reviewer=erin, action_id=action.pk, decision="approve")
    assert refused.value.code == "already_approved"
    action.refresh_from_db()
    assert action.status == "pending" and action.version == 2
    assert Verdict.objects.filter(action=action).count() == 1
    assert events(action, "approval_recorded").count() == 1 and not events(action, "decided").exists()

    assert review_decide(reviewer=ed, action_id=action.pk, decision="approve").action.status == "approved"


def test_the_same_reviewer_approving_a_four_eyes_action_twice_at_once_counts_once(scene):
    erin = scene["erin"]
    for round_ in range(10):
        action = scene["new_action"](four_eyes=True, n=round_)
        outcomes = race(deciding(erin, action.pk, "approve"), deciding(erin, action.pk, "approve"))

        errors = [error for _, error in outcomes if error is not None]
        assert len(errors) == 1 and conflict_code(errors[0]) == "already_approved", (round_, outcomes)
        action.refresh_from_db()
        assert action.status == "pending" and action.version == 2
        assert Verdict.objects.filter(action=action).count() == 1
        assert events(action, "approval_recorded").count() == 1 and not events(action, "decided").exists()


def test_a_decision_on_an_action_another_reviewer_holds_is_refused(scene):
    alice, bob = scene["alice"], scene["bob"]
    action = scene["new_action"]()
    claim_take(reviewer=alice, action_id=action.pk)

    with pytest.raises(Conflict) as refused:
        review_decide(reviewer=bob, action_id=action.pk, decision="reject", comment="not yours")
    assert refused.value.code == "claimed_by_other" and refused.value.extra["holder"] == "alice"
    assert "alice" in refused.value.message
    action.refresh_from_db()
    assert action.status == "pending" and action.version == 1 and action.decided_by is None
    assert not Verdict.objects.filter(action=action).exists()
    assert not events(action, "decided").exists()
    assert Claim.objects.get(action=action).holder == alice

    # The holder may decide, and the claim goes with the decision.
    assert review_decide(reviewer=alice, action_id=action.pk, decision="approve").action.status == "approved"
    assert not Claim.objects.filter(action=action).exists()


def test_a_claim_and_another_reviewers_decision_at_once_never_both_succeed(scene):
    alice, bob = scene["alice"], scene["bob"]
    for round_ in range(20):
        action = scene["new_action"](n=round_)
        (claim, claim_error), (decided, decide_error) = race(
            lambda action_id=action.pk: claim_take(reviewer=alice, action_id=action_id),
            deciding(bob, action.pk, "approve"),
        )
        action.refresh_from_db()
        if decide_error is None:  # the decision came first: nothing is left to claim
            assert conflict_code(claim_error) == "not_pending"
            assert decided.status == action.status == "approved" and action.decided_by == bob
            assert Verdict.objects.filter(action=action).count() == 1
            assert not Claim.objects.filter(action=action).exists()
        else:  # the claim came first: bob is refused and nothing changed
            assert claim_error is None and claim.holder == alice
            assert conflict_code(decide_error) == "claimed_by_other" and decide_error.extra["holder"] == "alice"
            assert action.status == "pending" and action.version == 1
            assert not Verdict.objects.filter(action=action).exists()
            assert not events(action, "decided").exists()
            claim_release(reviewer=alice, action_id=action.pk)  # else five won claims reach her WIP cap


def test_a_stale_version_is_refused_and_changes_nothing(scene):
    alice = scene["alice"]
    action = scene["new_action"]()

    with pytest.raises(Conflict) as refused:
        review_decide(reviewer=alice, action_id=action.pk, decision="approve", version=action.version - 1)
    assert refused.value.code == "stale_version" and refused.value.extra["version"] == action.version
    action.refresh_from_db()
    assert action.status == "pending" and action.version == 1
    assert not Verdict.objects.filter(action=action).exists() and not events(action, "decided").exists()

    assert review_decide(reviewer=alice, action_id=action.pk, decision="approve", version=1).action.status == "approved"


def test_a_form_opened_before_another_executives_approval_is_stale(scene):
    erin, ed = scene["erin"], scene["ed"]
    action = scene["new_action"](four_eyes=True)
    opened_at = action.version  # erin opens the action…
    review_decide(reviewer=ed, action_id=action.pk, decision="approve", version=opened_at)  # …ed approves meanwhile

    with pytest.raises(Conflict) as refused:
        review_decide(reviewer=erin, action_id=action.pk, decision="reject", comment="no", version=opened_at)
    assert refused.value.code == "stale_version" and refused.value.extra["version"] == opened_at + 1
    action.refresh_from_db()
    assert action.status == "pending" and action.version == opened_at + 1
    assert [(v.reviewer.username, v.kind) for v in Verdict.objects.filter(action=action)] == [("ed", "approve")]
    assert not events(action, "decided").exists()

    # Looking again (the current version), erin's approval completes the four eyes.
    done = review_decide(reviewer=erin, action_id=action.pk, decision="approve", version=action.version).action
    assert done.status == "approved" and events(action, "decided").get().reviewer == erin


def test_two_reviewers_with_the_same_version_at_once_the_loser_is_told_it_was_decided(scene):
    alice, bob = scene["alice"], scene["bob"]
    for round_ in range(20):
        action = scene["new_action"](n=round_)
        outcomes = race(deciding(alice, action.pk, "approve", version=1), deciding(bob, action.pk, "reject", version=1))
        errors = [error for _, error in outcomes if error is not None]
        assert len(errors) == 1, (round_, outcomes)
        # The loser finds the action decided (checked before its version).
        assert conflict_code(errors[0]) == "already_decided"
        assert events(action, "decided").count() == 1 and Verdict.objects.filter(action=action).count() == 1
