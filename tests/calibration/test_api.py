"""GET /api/v1/calibration, as a lead's script or dashboard calls it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from calibration.models import Label
from hitl.models import ActionType
from hitl.policy import policy_invalidate
from hitl.services import action_submit, agent_create
from tests.audit.audit_flows import EMAIL, decisions_flow, post_action_flow
from tests.conftest import bearer_client

URL = "/api/v1/calibration"
ROW_KEYS = {"action_type", "n", "ece", "mce", "brier", "accuracy", "bins", "threshold", "modification_rate", "chronic",
            "bias", "proposed_threshold"}  # fmt: skip


@pytest.fixture
def decided(scene):
    """Four email verdicts (one right) and two tag verdicts (one right); refunds have none."""
    decisions_flow(scene)
    post_action_flow(scene)
    return scene


def rows_by_type(response):
    assert response.status_code == 200, response.content
    return {row["action_type"]: row for row in response.json()}


def test_a_lead_gets_a_row_per_type_with_exactly_the_documented_fields(decided):
    rows = rows_by_type(decided.token_api("leo").get(URL))

    assert set(rows) == {"send_email", "tag_ticket", "issue_refund"}
    email = rows["send_email"]
    assert set(email) == ROW_KEYS
    assert (email["n"], email["accuracy"], email["modification_rate"], email["chronic"]) == (4, 0.25, 0.5, True)
    assert email["threshold"] == 0.85 and email["proposed_threshold"] is None  # the irreversible cold start
    assert email["bias"] == "none"  # four labels say nothing beyond noise
    assert len(email["bins"]) == 10 and sum(b["n"] for b in email["bins"]) == email["n"]
    assert email["bins"][9] == {"lower": 0.9, "upper": 1.0, "n": 4, "mean_confidence": 0.9, "accuracy": 0.25}
    assert email["ece"] == pytest.approx(0.65) and email["mce"] == pytest.approx(0.65)
    assert email["brier"] == pytest.approx((0.1**2 + 3 * 0.9**2) / 4)
    assert rows["tag_ticket"]["n"] == 2 and rows["tag_ticket"]["threshold"] == 0.7


def test_a_type_without_labels_is_a_row_of_nulls(decided):
    refund = rows_by_type(decided.token_api("leo").get(URL, {"action_type": "issue_refund"}))["issue_refund"]
    assert refund["n"] == 0
    assert [refund[k] for k in ("ece", "mce", "brier", "accuracy", "modification_rate")] == [None] * 5
    assert (refund["chronic"], refund["bias"]) == (False, "none")
    assert all(b["n"] == 0 and b["mean_confidence"] is None and b["accuracy"] is None for b in refund["bins"])


def test_grouped_by_agent_a_row_per_type_and_agent(decided):
    other, _ = agent_create(name="billing-bot")
    action = action_submit(agent=other, action_type=decided.email, summary="Email Jo", payload=EMAIL, confidence=0.75)
    approve = {"decision": "approve", "comment": "fine"}
    assert (
        decided.token_api("tina").post(f"/api/v1/actions/{action.pk}/decision", approve, format="json").status_code
        == 200
    )

    response = decided.token_api("leo").get(URL, {"group_by": "agent"})
    assert response.status_code == 200
    rows = {(row["action_type"], row["agent"]): row for row in response.json()}
    assert rows[("send_email", "support-bot")]["n"] == 4 and rows[("tag_ticket", "support-bot")]["n"] == 2
    mine = rows[("send_email", "billing-bot")]
    assert (mine["n"], mine["accuracy"], mine["bins"][7]["n"]) == (1, 1.0, 1)
    assert rows[("issue_refund", None)]["n"] == 0  # no labels: one empty row for the type
    assert "agent" not in decided.token_api("leo").get(URL).json()[0]


def test_the_filters_select_the_labels(decided):
    lead = decided.token_api("leo")
    assert list(rows_by_type(lead.get(URL, {"action_type": "send_email"}))) == ["send_email"]
    ActionType.objects.filter(key="issue_refund").update(domain="billing")
    policy_invalidate()
    assert list(rows_by_type(lead.get(URL, {"domain": "billing"}))) == ["issue_refund"]
    assert set(rows_by_type(lead.get(URL, {"domain": "comms"}))) == {"send_email", "tag_ticket"}
    assert rows_by_type(lead.get(URL, {"agent": "support-bot"}))["send_email"]["n"] == 4

    now = timezone.now()
    before = (now - timedelta(hours=1)).isoformat()
    assert rows_by_type(lead.get(URL, {"from": before}))["send_email"]["n"] == 4
    assert rows_by_type(lead.get(URL, {"to": before}))["send_email"]["n"] == 0
    Label.objects.filter(verdict="rejected").update(decided_at=now - timedelta(days=3))  # as if decided then
    three_days_ago = (now - timedelta(days=3, hours=1)).date().isoformat()
    two_days_ago = (now - timedelta(days=2)).date().isoformat()
    in_range = lead.get(URL, {"from": three_days_ago, "to": two_days_ago, "action_type": "send_email"})
    assert rows_by_type(in_range)["send_email"]["n"] == 0  # the rollup keeps the day it was decided


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"action_type": "send_fax"}, "action_type"),
        ({"agent": "nobody"}, "agent"),
        ({"group_by": "day"}, "group_by"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(decided, query, field):
    response = decided.token_api("leo").get(URL, query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request" and list(body["fields"]) == [field]
    assert body["fields"][field][0]


def test_the_unknown_action_type_error_lists_the_known_ones(decided):
    fields = decided.token_api("leo").get(URL, {"action_type": "send_fax"}).json()["fields"]
    assert "issue_refund, send_email, tag_ticket" in fields["action_type"][0]


def test_only_leads_and_admins(decided):
    assert decided.api.get(URL).status_code == 403  # the agent's token
    assert decided.token_api("tina").get(URL).status_code == 403  # a team reviewer
    assert APIClient().get(URL).status_code == 401
    assert decided.page("leo").get(URL).status_code == 200  # a lead's session
    assert decided.page("root").get(URL).status_code == 200  # an admin
    assert bearer_client("not-a-token").get(URL).status_code == 401


def test_it_is_in_the_openapi_schema(db):
    schema = APIClient().get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/calibration"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"action_type", "agent", "domain", "from", "to", "group_by"}
    assert set(operation["responses"]) >= {"200", "400", "401", "403"}
