"""Receipts from the live server: the gate verifies them before running; a receipt or a payload
changed on the way (a proxy in the middle) is refused and the tool does not run."""

import pytest
from hitl_client import Client, ReceiptInvalid, verify_receipt

from hitl.models import Action

from .conftest import FAST

SUMMARY = {"summary": "Email Jane", "confidence": 0.82}


def send_email(to: str, subject: str) -> str:
    return "sent"


def test_an_approval_carries_a_receipt_that_verifies_against_the_published_keys(hitl, reviewer):
    reviewer.decide_when_pending(decision="approve")
    decision = hitl.request_approval(action_type="send_email", payload={"to": "jane@example.com", "subject": "Hi"},
                                     timeout=30, **SUMMARY)  # fmt: skip
    claims = verify_receipt(decision.receipt, action_id=decision.action_id, payload=decision.final_payload,
                            jwks=hitl.receipt_keys())  # fmt: skip
    assert (claims["action_id"], claims["agent"], claims["decision"], claims["approvers"], claims["route"]) == (
        decision.action_id, "support-bot", "approved", ["tina"], "pre_action",
    )  # fmt: skip


def altered_receipt(answer: dict) -> dict:
    if answer.get("receipt"):
        receipt = answer["receipt"]
        answer["receipt"] = receipt[:-3] + ("A" if receipt[-3] != "A" else "B") + receipt[-2:]
    return answer


def altered_payload(answer: dict) -> dict:
    if answer.get("final_payload"):
        answer["final_payload"] = {**answer["final_payload"], "to": "mallory@example.com"}
    return answer


@pytest.mark.parametrize("tamper", [altered_receipt, altered_payload])
def test_a_receipt_or_payload_altered_in_transit_is_refused_and_the_tool_never_runs(
    server_url, agent_and_token, email_type, reviewer, proxy, tamper
):
    calls = []
    middle = proxy([None] + [tamper] * 10)  # the submit passes; every answer after it is altered
    reviewer.decide_when_pending(decision="approve")
    with Client(middle.url, agent_and_token[1], **FAST) as client:
        with pytest.raises(ReceiptInvalid):
            client.gate("send_email", **SUMMARY)(lambda to, subject: calls.append(to))(to="jane@example.com",
                                                                                        subject="Hi")  # fmt: skip
    assert calls == []
    assert (Action.objects.get().status, Action.objects.get().outcome) == ("approved", "")
