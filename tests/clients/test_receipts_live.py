"""Receipts from the live server: the gate verifies them before running; a receipt or a payload
changed on the way (a proxy in the middle) is refused and the tool does not run."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hitl_client import Client, ReceiptInvalid, verify_receipt

from hitl.models import Action
from hitl.receipts import public_jwks
from tests.factories import ActionTypeFactory

from .conftest import FAST
from .test_receipts import jwk

SUMMARY = {"summary": "Email Jane", "confidence": 0.82}


def send_email(to: str, subject: str) -> str:
    return "sent"


def test_an_approval_carries_a_receipt_that_verifies_against_the_published_keys(hitl, reviewer):
    reviewer.decide_when_pending(decision="approve")
    decision = hitl.request_approval(action_type="send_email", payload={"to": "jane@example.com", "subject": "Hi"},
                                     timeout=30, **SUMMARY)  # fmt: skip
    claims = verify_receipt(decision.receipt, action_id=decision.action_id, action_type="send_email",
                            payload=decision.final_payload, jwks=hitl.receipt_keys())  # fmt: skip
    assert (claims["action_id"], claims["action_type"], claims["agent"], claims["decision"], claims["approvers"],
            claims["route"]) == (
        decision.action_id, "send_email", "support-bot", "approved", ["tina"], "pre_action",
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


def test_a_tool_of_another_action_type_refuses_to_resume_an_approved_send_email(hitl, reviewer):
    """A send_email approval is no licence for a refund: resuming its id through the refund tool fails."""
    ActionTypeFactory(key="issue_refund", name="Issue refund", payload_schema=None)
    refunds = []
    issue_refund = hitl.gate("issue_refund", **SUMMARY)(lambda **payload: refunds.append(payload))
    send = hitl.gate("send_email", **SUMMARY)(send_email)
    parked = send.submit(to="jane@example.com", subject="Hi")
    assert reviewer.decide(parked.action_id, decision="approve").status_code == 200
    with pytest.raises(ReceiptInvalid, match="action type 'send_email', not 'issue_refund'"):
        issue_refund.resume(parked.action_id)
    assert refunds == [] and Action.objects.get().outcome == ""
    assert send.resume(parked.action_id) == "sent"  # its own tool still runs it


@pytest.mark.parametrize(
    "pinned, refused",
    [
        (lambda kid: {"keys": [jwk(Ed25519PrivateKey.generate(), kid)]}, "does not verify"),  # the kid, another key
        (lambda kid: {"keys": [jwk(Ed25519PrivateKey.generate(), "mine")]}, "unknown key"),
        (lambda kid: public_jwks(), None),  # the service's own keys, pinned
    ],
)
def test_pinned_receipt_keys_are_the_only_ones_used_and_never_fetched(
    server_url, agent_and_token, email_type, reviewer, proxy, pinned, refused
):
    calls = []
    middle = proxy([])
    reviewer.decide_when_pending(decision="approve")
    keys = pinned(public_jwks()["keys"][0]["kid"])
    with Client(middle.url, agent_and_token[1], receipt_keys=keys, **FAST) as client:
        gated = client.gate("send_email", **SUMMARY)(lambda to, subject: calls.append(to))
        if refused:
            with pytest.raises(ReceiptInvalid, match=refused):
                gated(to="jane@example.com", subject="Hi")
        else:
            gated(to="jane@example.com", subject="Hi")
    assert calls == ([] if refused else ["jane@example.com"])
    assert [path for _, path, _ in middle.seen if "receipt-keys" in path] == []
