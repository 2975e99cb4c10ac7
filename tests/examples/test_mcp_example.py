"""examples/mcp_refund_session.py, run as a developer runs it against `make run`: an MCP client
session refunds what a reviewer approved (their edit included) and says why when rejected."""

from hitl.models import Action
from tests.examples.test_examples import EDITED, example, finished, refunds  # noqa: F401


def test_the_mcp_session_refunds_what_the_reviewer_approved(example, reviewer, refunds):  # noqa: F811
    reviewer.decide_when_pending(decision="modify", payload=EDITED, comment="Half.")
    lines = finished(example("mcp_refund_session.py"))
    action = Action.objects.get()
    assert lines[0].startswith("Waiting for a reviewer:") and f"/reviews/{action.id}/" in lines[0]
    assert lines[-1] == "Refunded 25.0 USD on order 881."
    assert (action.final_payload, action.outcome) == (EDITED, "executed")


def test_the_mcp_session_says_why_the_reviewer_rejected(example, reviewer, refunds):  # noqa: F811
    reviewer.decide_when_pending(decision="reject", comment="Refunded last week already.")
    assert finished(example("mcp_refund_session.py"))[-1] == (
        "I could not refund: the request was rejected (Refunded last week already.)."
    )
    assert Action.objects.get().outcome == ""
