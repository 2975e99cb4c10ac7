"""Post-action through the SDK: the gate runs a post-action call at once; a reviewer's flag reaches
wait_for_compensation; the agent reports the compensation, once."""

import threading

import pytest
from hitl_client import Conflict

from hitl.models import Action
from reviews.services import review_post_action
from tests.factories import ActionTypeFactory

TAG = {"summary": lambda **kw: f"Tag ticket {kw['tag']}", "confidence": 0.65}


@pytest.fixture
def tag_ticket(hitl, team_reviewer):
    """A reversible type the agent has used once (so it is not novel): the next hesitant call is post-action."""
    ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    hitl.submit(action_type="tag_ticket", payload={"tag": "first"}, summary="First", confidence=0.99)
    return hitl.gate("tag_ticket", **TAG)(lambda tag: f"tagged {tag}")


def test_a_flag_reaches_the_waiting_agent_which_reports_its_compensation(hitl, tag_ticket, team_reviewer):
    assert tag_ticket(tag="urgent") == "tagged urgent"  # approved at once: it ran
    action = Action.objects.get(payload={"tag": "urgent"})
    assert (action.route_pattern, action.outcome) == ("post_action", "executed")
    assert hitl.wait_for_compensation(str(action.id), timeout=1) is None  # nobody flagged it yet

    flagged = []
    waiter = threading.Thread(target=lambda: flagged.append(hitl.wait_for_compensation(str(action.id), timeout=30)))
    waiter.start()
    review_post_action(reviewer=team_reviewer, action_id=action.id, verdict="flag", comment="Not urgent.")
    waiter.join(timeout=35)
    assert flagged[0].compensation_requested and flagged[0].compensation["reason"] == "Not urgent."

    done = hitl.report_outcome(str(action.id), "compensated", {"tag_removed": True})
    assert done.compensation["status"] == "compensated"
    assert hitl.report_outcome(str(action.id), "compensated").compensation["status"] == "compensated"  # a retry
    with pytest.raises(Conflict):
        hitl.report_outcome(str(action.id), "compensation_failed")
    assert Action.objects.get(pk=action.pk).compensation == "compensated"


def test_a_compensation_report_nobody_asked_for_is_refused_naming_the_state(hitl, tag_ticket):
    tag_ticket(tag="urgent")
    action = Action.objects.get(payload={"tag": "urgent"})
    with pytest.raises(Conflict) as raised:
        hitl.report_outcome(str(action.id), "compensated")
    assert raised.value.error == "compensation_not_requested"
