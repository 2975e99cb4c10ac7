"""The gate against a live server: the tool runs only with an approved (and receipt-verified)
payload, the reviewer's edit included; rejection, expiry, a timeout or an unreachable service
never run it; outcomes are reported."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from hitl_client import ActionRejected, AlreadyRan, AsyncClient, Client, DecisionTimeout, HitlUnavailable

from escalation.services import escalation_sweep
from hitl.models import Action
from tests.conftest import free_port
from tests.factories import ActionTypeFactory

from .conftest import FAST, pending_action

SUMMARY = {"summary": lambda **kw: f"Email {kw['to']}: {kw['subject']}", "confidence": 0.82}


class Tool:
    """A send_email tool that records how it was called."""

    def __init__(self):
        self.calls = []

    def __call__(self, to: str, subject: str, body: str = "") -> str:
        self.calls.append({"to": to, "subject": subject, "body": body})
        return f"sent to {to}: {subject}"


def test_an_approved_call_runs_with_its_arguments_and_reports_executed(hitl, reviewer):
    tool = Tool()
    gated = hitl.gate("send_email", **SUMMARY)(tool)
    reviewer.decide_when_pending(decision="approve")
    assert gated("jane@example.com", subject="Your refund") == "sent to jane@example.com: Your refund"
    assert tool.calls == [{"to": "jane@example.com", "subject": "Your refund", "body": ""}]
    action = Action.objects.get()
    assert (action.summary, action.payload, action.status) == (
        "Email jane@example.com: Your refund", {"to": "jane@example.com", "subject": "Your refund", "body": ""},
        "approved",
    )  # fmt: skip
    assert action.outcome == "executed"


def test_a_modified_call_runs_with_the_reviewers_edit(hitl, reviewer):
    tool = Tool()
    edited = {"to": "jane@example.com", "subject": "Your refund for order 881", "body": "Ça arrive ✓"}
    reviewer.decide_when_pending(decision="modify", payload=edited, comment="Mention the order.")
    assert hitl.gate("send_email", **SUMMARY)(tool)(to="jane@example.com", subject="Your refund") == (
        "sent to jane@example.com: Your refund for order 881"
    )
    assert tool.calls == [edited]
    assert Action.objects.get().outcome == "executed"


def test_a_rejected_call_raises_with_the_reviewers_comment_and_never_runs(hitl, reviewer):
    tool = Tool()
    reviewer.decide_when_pending(decision="reject", comment="Wrong customer.")
    with pytest.raises(ActionRejected) as raised:
        hitl.gate("send_email", **SUMMARY)(tool)(to="jane@example.com", subject="Your refund")
    assert (raised.value.status, raised.value.comment) == ("rejected", "Wrong customer.")
    assert raised.value.reason == "Rejected by tina: Wrong customer."
    assert raised.value.action_id == str(Action.objects.get().id)
    assert tool.calls == [] and Action.objects.get().outcome == ""


def test_an_action_nobody_decides_expires_and_the_call_raises_without_running(hitl):
    tool = Tool()
    gated = hitl.gate("send_email", **SUMMARY)(tool)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(gated, to="jane@example.com", subject="Your refund")
        action = pending_action()
        later = timezone.now()
        while Action.objects.get(pk=action.pk).status == "pending":  # through every tier to expiry
            later += timedelta(days=1)
            escalation_sweep(now=later)
        with pytest.raises(ActionRejected) as raised:
            call.result(timeout=30)
    assert raised.value.status == "expired" and "SLA" in raised.value.comment
    assert tool.calls == []


def test_a_call_still_pending_at_its_timeout_raises_is_cancelled_and_never_runs(hitl, reviewer):
    tool = Tool()
    with pytest.raises(DecisionTimeout):
        hitl.gate("send_email", timeout=1, **SUMMARY)(tool)(to="jane@example.com", subject="Your refund")
    action = Action.objects.get()
    assert tool.calls == [] and action.status == "cancelled"
    assert reviewer.decide(action.id, decision="approve").status_code == 409  # a late approval cannot land


def test_an_async_call_still_pending_at_its_timeout_is_cancelled(server_url, agent_and_token, email_type):
    calls = []

    async def agent():
        async with AsyncClient(server_url, agent_and_token[1], **FAST) as client:
            await client.gate("send_email", timeout=1, **SUMMARY)(lambda to, subject: calls.append(to))(
                to="jane@example.com", subject="Hi"
            )

    with pytest.raises(DecisionTimeout):
        asyncio.run(agent())
    assert calls == [] and Action.objects.get().status == "cancelled"


def test_with_the_service_down_the_call_raises_after_its_retries_and_never_runs(db):
    tool = Tool()
    with Client(f"http://127.0.0.1:{free_port()}", "token", max_retries=3, **FAST) as down:
        with pytest.raises(HitlUnavailable, match="after 4 attempts") as raised:
            down.gate("send_email", **SUMMARY)(tool)(to="jane@example.com", subject="Your refund")
    assert raised.value.attempts == 4 and raised.value.status is None
    assert tool.calls == []


def test_a_tool_that_fails_is_reported_failed_and_its_exception_reraised(hitl, reviewer):
    def broken(to: str, subject: str) -> None:
        raise ConnectionError("SMTP refused")

    reviewer.decide_when_pending(decision="approve")
    with pytest.raises(ConnectionError, match="SMTP refused"):
        hitl.gate("send_email", **SUMMARY)(broken)(to="jane@example.com", subject="Your refund")
    action = Action.objects.get()
    assert (action.outcome, action.outcome_detail) == ("failed", {"error": "ConnectionError('SMTP refused')"})


def test_a_parked_call_is_submitted_once_and_resumed_later_by_its_id(hitl, reviewer):
    tool = Tool()
    gated = hitl.gate("send_email", idempotency_key=lambda **kw: f"ticket-881-{kw['to']}", **SUMMARY)(tool)
    parked = gated.submit(to="jane@example.com", subject="Your refund")
    assert parked.pending and tool.calls == []
    again = gated.submit(to="jane@example.com", subject="Your refund")  # a restart before the id was saved
    assert again.action_id == parked.action_id and Action.objects.count() == 1
    assert reviewer.decide(parked.action_id, decision="approve").status_code == 200
    # ... the agent restarts; it kept only the id ...
    assert gated.resume(parked.action_id) == "sent to jane@example.com: Your refund"
    assert len(tool.calls) == 1 and Action.objects.get().outcome == "executed"
    with pytest.raises(AlreadyRan):  # a restarted agent calling again with the same key: not a second email
        gated(to="jane@example.com", subject="Your refund")
    assert len(tool.calls) == 1 and Action.objects.count() == 1


def test_an_async_tool_is_gated_by_the_async_client(server_url, agent_and_token, email_type, reviewer):
    calls = []

    async def send(to: str, subject: str) -> str:
        calls.append((to, subject))
        return "sent"

    async def agent():
        async with AsyncClient(server_url, agent_and_token[1], **FAST) as client:
            return await client.gate("send_email", **SUMMARY)(send)(to="jane@example.com", subject="Hi")

    reviewer.decide_when_pending(decision="modify", payload={"to": "jane@example.com", "subject": "Hello"})
    assert asyncio.run(agent()) == "sent"
    assert calls == [("jane@example.com", "Hello")]
    assert Action.objects.get().outcome == "executed"


def test_a_resumed_action_runs_once_and_a_second_resume_refuses_to_run_it_again(hitl, reviewer):
    tool = Tool()
    gated = hitl.gate("send_email", **SUMMARY)(tool)
    parked = gated.submit(to="jane@example.com", subject="Your refund")
    assert reviewer.decide(parked.action_id, decision="approve").status_code == 200
    assert gated.resume(parked.action_id) == "sent to jane@example.com: Your refund"
    # ... the agent restarts before it forgot the id, and resumes it again ...
    with pytest.raises(AlreadyRan, match="'executed'") as raised:
        gated.resume(parked.action_id)
    assert raised.value.action_id == parked.action_id and raised.value.outcome == "executed"
    assert len(tool.calls) == 1 and Action.objects.get().outcome == "executed"


def test_a_restarted_call_of_an_action_approved_by_policy_finds_it_ran_and_does_not_run_it_again(hitl):
    ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    hitl.submit(action_type="tag_ticket", payload={"tag": "first"}, summary="First", confidence=0.99)  # not novel
    calls = []
    gated = hitl.gate("tag_ticket", summary="Tag the ticket", confidence=0.99,
                      idempotency_key=lambda tag: f"ticket-881-{tag}")(lambda tag: calls.append(tag))  # fmt: skip
    gated(tag="urgent")  # approved by policy at once: it ran
    assert calls == ["urgent"] and Action.objects.get(payload={"tag": "urgent"}).outcome == "executed"
    # ... the agent restarts and makes the same call: the submit replays the first answer ("approved",
    # as it was then); the gate looks at the action now and finds that it ran ...
    with pytest.raises(AlreadyRan, match="'executed'"):
        gated(tag="urgent")
    assert calls == ["urgent"] and Action.objects.filter(payload={"tag": "urgent"}).count() == 1


def test_a_submit_says_whether_its_answer_is_a_replay(hitl):
    body = {"action_type": "send_email", "payload": {"to": "jane@example.com", "subject": "Hi"}, "summary": "Hi",
            "confidence": 0.82}  # fmt: skip
    first, again = (hitl.submit(idempotency_key="ticket-881", **body) for _ in range(2))
    assert (first.replayed, again.replayed) == (False, True) and first.action_id == again.action_id
