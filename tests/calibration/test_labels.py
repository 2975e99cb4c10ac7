"""One label per final human verdict, written with the verdict, through the flows reviewers really
take (the decision API, the page's form, four-eyes, post-action confirm and flag); none for what
no human judged (cancelled, expired, a closed review window, autonomous)."""

import jsonpatch
import pytest

from audit.models import AuditEvent
from calibration.models import Label
from calibration.selectors import Filters, calibration_rows
from tests.audit.audit_flows import (
    EMAIL,
    decisions_flow,
    form_decide,
    fresh,
    intake_flow,
    post_action_flow,
    sweep_flow,
)


def label_of(action) -> Label:
    return Label.objects.select_related("reviewer", "action_type", "agent").get(action_id=action.pk)


def assert_describes(label: Label, action, reviewer) -> None:
    """What every label carries: the action's facts at routing, the reviewer, the time it took."""
    action = fresh(action)
    assert (label.action_type, label.agent, label.domain) == (
        action.action_type,
        action.agent,
        action.action_type.domain,
    )
    assert label.confidence == action.confidence
    assert (label.route_pattern, label.route_tier) == (action.route_pattern, action.route_tier)
    assert label.policy_version == action.policy_version
    assert label.reviewer == reviewer
    assert label.probability == 1.0  # routed: a human saw it for sure
    assert label.time_to_decision == pytest.approx((label.decided_at - action.created_at).total_seconds())
    assert label.time_to_decision >= 0


def test_pre_action_verdicts_through_the_api_and_the_page(scene):
    got = decisions_flow(scene)
    tina, ed = scene.people["tina"], scene.people["ed"]

    approved = label_of(got["approved"])  # the API
    assert (approved.verdict, approved.correct, approved.edit, approved.patch) == ("approved", True, None, None)
    assert_describes(approved, got["approved"], tina)
    assert approved.decided_at == fresh(got["approved"]).decided_at

    modified = label_of(got["modified"])  # the page's form
    action = fresh(got["modified"])
    assert (modified.verdict, modified.correct) == ("modified", False)
    assert modified.edit == action.final_payload == {"to": "jane@example.com", "subject": "Your $40 refund",
                                                     "body": "On its way."}  # fmt: skip
    assert jsonpatch.apply_patch(action.payload, modified.patch) == action.final_payload  # RFC 6902
    assert_describes(modified, got["modified"], tina)

    rejected = label_of(got["rejected"])
    assert (rejected.verdict, rejected.correct, rejected.edit) == ("rejected", False, None)
    assert_describes(rejected, got["rejected"], tina)

    four_eyes = label_of(got["four_eyes"])  # the second approval is the final verdict: eve's edit stands
    assert (four_eyes.verdict, four_eyes.correct, four_eyes.reviewer) == ("modified", False, ed)
    assert four_eyes.edit == {**EMAIL, "subject": "Checked"} and four_eyes.route_tier == "tier3"
    assert Label.objects.count() == 4


def test_a_four_eyes_action_is_labelled_once_at_its_final_verdict(scene):
    action = scene.submit("Wire $1M", compliance_risk=True)
    assert form_decide(scene.page("eve"), action, decision="approve").status_code == 302
    assert not Label.objects.exists()  # one approval of two: no verdict yet

    assert form_decide(scene.page("ed"), action, decision="approve").status_code == 302
    label = label_of(action)
    assert (label.verdict, label.correct, label.reviewer) == ("approved", True, scene.people["ed"])
    assert Label.objects.count() == 1


def test_post_action_confirm_and_flag(scene):
    got = post_action_flow(scene)
    tina = scene.people["tina"]

    confirmed = label_of(got["confirmed"])
    assert (confirmed.verdict, confirmed.correct) == ("confirmed", True)
    assert_describes(confirmed, got["confirmed"], tina)
    assert confirmed.route_pattern == "post_action"

    flagged = label_of(got["flagged"])
    assert (flagged.verdict, flagged.correct) == ("flagged", False)
    assert_describes(flagged, got["flagged"], tina)
    assert Label.objects.count() == 2


def test_no_label_without_a_human_verdict(scene):
    got = intake_flow(scene)  # a cancelled action, a pending one, one that ran on its own
    swept = sweep_flow(scene)  # an expired action, escalations, a review window closed unreviewed
    assert fresh(got["pending"]).status == "cancelled" and fresh(swept["paged"]).status == "expired"
    assert AuditEvent.objects.filter(action=swept["ran"], event_type=AuditEvent.Type.REVIEW_WINDOW_CLOSED).exists()
    assert not Label.objects.exists()
    assert sum(row.figures.n for row in calibration_rows(Filters())) == 0


def test_a_refused_decision_writes_no_label(scene):
    action = scene.submit("Email Jane")
    stale = {"version": fresh(action).version - 1}
    response = scene.page("tina").post(
        f"/reviews/{action.pk}/decide", {"decision": "approve", "payload_sha256": "0" * 64, **stale}
    )
    assert response.status_code in (302, 409)
    assert fresh(action).status == "pending" and not Label.objects.exists()


def test_the_figures_count_each_label(scene):
    decisions_flow(scene)
    post_action_flow(scene)
    rows = {row.action_type.key: row.figures for row in calibration_rows(Filters())}
    assert rows["send_email"].n == 4 and rows["tag_ticket"].n == 2
    assert rows["send_email"].accuracy == pytest.approx(1 / 4)  # approved right; modified ×2, rejected wrong
    assert rows["send_email"].modification_rate == pytest.approx(2 / 4) and rows["send_email"].chronic
    assert rows["tag_ticket"].accuracy == pytest.approx(1 / 2) and rows["issue_refund"].n == 0


def test_admins_read_the_labels_in_django_admin_and_change_none(scene):
    got = decisions_flow(scene)
    root = scene.page("root")
    listing = root.get("/admin/calibration/label/").content.decode()
    assert listing.count('class="field-verdict"') == 4 and "modified" in listing
    label = label_of(got["modified"])
    detail = root.get(f"/admin/calibration/label/{label.pk}/change/").content.decode()
    assert "Your $40 refund" in detail and "replace" in detail  # the edit, and its JSON Patch
    assert root.get("/admin/calibration/label/add/").status_code == 403
    assert root.post(f"/admin/calibration/label/{label.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Label.objects.count() == 4
