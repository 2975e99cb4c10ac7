"""What a reviewer sees is what is decided: the edits in the form go with Approve, an approval is
of one exact payload (an edit restarts four-eyes), a decision goes through the claim, and no
page shows an action its reader may not open."""

import re
from html import unescape

from audit.models import AuditEvent
from hitl.errors import Conflict
from hitl.models import Action
from hitl.payloads import payload_digest
from reviews.claims import claim_take
from reviews.models import Verdict
from reviews.services import review_decide
from tests.conftest import page_form

from .test_workspace import decide, desk, page  # noqa: F401  (desk: the fixture)

EDITED = {"payload/to": "jane@example.com", "payload/subject": "Your $40 refund", "payload/body": "It is on its way."}


def test_approve_sends_the_edits_in_the_form_and_says_so(client, desk):  # noqa: F811
    people, submit = desk
    action = submit()
    response = decide(client, people["tina"], action, decision="approve", **EDITED)
    assert response.status_code == 302
    done = Action.objects.get(pk=action.pk)
    assert (done.decision, done.final_payload["subject"]) == ("modified", "Your $40 refund")
    assert "Approved with your edits: Email Jane" in client.get("/reviews/").content.decode()
    # An untouched form approves the payload as shown.
    plain = submit("Another email")
    form = {"payload/to": "jane@example.com", "payload/subject": "Your refund", "payload/body": "It is on its way."}
    assert decide(client, people["tina"], plain, decision="approve", **form).status_code == 302
    assert Action.objects.get(pk=plain.pk).decision == "approved"


def test_a_decision_on_a_payload_other_than_the_one_seen_is_refused(client, desk):  # noqa: F811
    people, submit = desk
    action = submit("Wire $1M", compliance_risk=True)
    seen = page_form(action)  # eve opens the page…
    review_decide(  # …ed edits and approves meanwhile (an edit keeps no version of the page valid)
        reviewer=people["ed"], action_id=action.pk, decision="modify",
        payload={"to": "attacker@evil.example", "subject": "Your refund", "body": "It is on its way."},
    )  # fmt: skip
    client.force_login(people["eve"])
    refused = client.post(f"/reviews/{action.pk}/decide", {**seen, "version": page_form(action)["version"],
                                                             "decision": "approve"})  # fmt: skip
    assert refused.status_code == 409 and "The payload changed since you opened this action" in refused.content.decode()
    assert Action.objects.get(pk=action.pk).status == "pending"
    missing = client.post(f"/reviews/{action.pk}/decide", {"version": page_form(action)["version"],
                                                             "decision": "approve"})  # fmt: skip
    assert missing.status_code == 409  # a form that does not say what it showed is refused too


def test_an_edit_after_a_first_approval_restarts_the_count_and_the_action_waits(client, desk):  # noqa: F811
    """The four-eyes bypass: eve approves, ed sends another payload. Two people must approve the
    same bytes, so ed's edit is the first approval of a new count, and eve is told."""
    people, submit = desk
    action = submit("Wire $1M", compliance_risk=True)
    proposal = dict(action.payload)
    first = review_decide(reviewer=people["eve"], action_id=action.pk, decision="approve")
    assert (first.outcome, first.approvals) == ("approval_recorded", 1)
    hostile = {**proposal, "to": "attacker@evil.example"}
    second = review_decide(reviewer=people["ed"], action_id=action.pk, decision="modify", payload=hostile)
    assert (second.outcome, second.approvals, second.action.status) == ("approval_recorded", 1, "pending")
    assert "another reviewer must approve the same payload" in second.message
    recorded = AuditEvent.objects.filter(action=action, event_type="approval_recorded").last()
    assert recorded.data["superseded"] == ["eve"] and recorded.data["payload_sha256"] == payload_digest(hostile)

    html = page(client, people["eve"], action).content.decode()
    assert "a later edit replaced it, so your approval no longer counts" in html
    assert '<strong class="approvals">0 of 2 approvals' not in html  # ed's edit is the first of two
    assert '<strong class="approvals">1 of 2 approvals: ed</strong>' in html
    assert "attacker@evil.example" in html  # she sees exactly what she would approve

    third = review_decide(reviewer=people["eve"], action_id=action.pk, decision="reject", comment="Not him")
    assert third.action.status == "rejected"  # eve refuses the edit: nothing runs
    decided = AuditEvent.objects.get(action=action, event_type="decided")
    assert decided.data["approval_record"] == [
        {"by": "eve", "payload_sha256": payload_digest(proposal), "counted": False},
        {"by": "ed", "payload_sha256": payload_digest(hostile), "counted": True},
    ]


def test_four_eyes_is_two_people_approving_the_same_bytes(desk):  # noqa: F811
    people, submit = desk
    action = submit("Wire $1M", compliance_risk=True)
    edit = {**action.payload, "subject": "Checked"}
    review_decide(reviewer=people["eve"], action_id=action.pk, decision="modify", payload=edit)
    with_conflict = None
    try:
        review_decide(reviewer=people["eve"], action_id=action.pk, decision="approve")
    except Conflict as exc:
        with_conflict = exc.code
    assert with_conflict == "already_approved"
    seen = payload_digest(edit)
    done = review_decide(reviewer=people["ed"], action_id=action.pk, decision="approve", seen_sha256=seen)
    assert (done.outcome, done.action.final_payload) == ("modified", edit)
    decided = AuditEvent.objects.get(action=action, event_type="decided")
    assert decided.data["approvers"] == ["eve", "ed"] and decided.data["payload_sha256"] == payload_digest(edit)
    assert {v.payload_sha256 for v in Verdict.objects.filter(action=action)} == {payload_digest(edit)}


def test_deciding_an_unclaimed_action_claims_it_for_the_decider_and_one_held_by_another_is_refused(desk):  # noqa: F811
    people, submit = desk
    action = submit()
    review_decide(reviewer=people["tina"], action_id=action.pk, decision="approve")
    claimed, decided = AuditEvent.objects.filter(action=action).exclude(event_type="submitted").order_by("seq")
    assert (claimed.event_type, claimed.actor_label, claimed.after) == ("claimed", "tina", {"holder": "tina"})
    assert decided.event_type == "decided" and claimed.seq + 1 == decided.seq  # in the same transaction

    held = submit("Held by tom")
    claim_take(reviewer=people["tom"], action_id=held.pk)
    try:
        review_decide(reviewer=people["tina"], action_id=held.pk, decision="approve")
    except Conflict as exc:
        assert exc.code == "claimed_by_other" and exc.extra["holder"] == "tom"
    else:
        raise AssertionError("a decision on an action another reviewer holds went through")
    assert Action.objects.get(pk=held.pk).status == "pending"


def test_the_same_task_panel_and_track_record_show_only_what_the_reader_may_open(client, desk):  # noqa: F811
    people, submit = desk
    secret = submit("Wire $1M to the treasury", compliance_risk=True)  # tier3, same task ticket-881
    review_decide(reviewer=people["eve"], action_id=secret.pk, decision="reject", comment="no")
    action = submit()  # tier1, ticket-881
    html = page(client, people["tina"], action).content.decode()
    assert "Wire $1M" not in html and str(secret.pk) not in html
    assert "No other actions of this task that you can open." in html
    assert "No reviewed send_email proposals" in html  # the tier3 rejection is not hers to count
    executive = page(client, people["eve"], action).content.decode()
    assert "Wire $1M to the treasury" in executive  # eve may open both


def test_the_edit_changes_nothing_error_shows_once_with_the_field_in_words(client, desk):  # noqa: F811
    people, submit = desk
    action = submit()
    form = {"payload/to": "jane@example.com", "payload/subject": "Your refund", "payload/body": "It is on its way."}
    html = decide(client, people["tina"], action, decision="modify", **form).content.decode()
    assert html.count("The edit changes nothing") == 1
    broken = decide(client, people["tina"], action, decision="approve", **{**form, "payload/to": "nope"})
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", broken.content.decode())).split())
    assert broken.status_code == 400 and "To: 'nope' is not a 'email'" in text  # once on top…
    assert '<span class="errorlist">&#x27;nope&#x27; is not a &#x27;email&#x27;</span>' in broken.content.decode()


def test_an_edit_back_to_an_approved_payload_still_restarts_the_count(desk):  # noqa: F811
    """eve approves A, ed edits it to B and then back to A: eve's first approval was of A, but an edit
    came after it, so she approves A again, and that counts; what runs is the agent's proposal."""
    people, submit = desk
    action = submit("Wire $1M", compliance_risk=True)
    original = dict(action.payload)
    review_decide(reviewer=people["eve"], action_id=action.pk, decision="approve")
    review_decide(reviewer=people["ed"], action_id=action.pk, decision="modify", payload={**original, "subject": "B"})
    back = review_decide(reviewer=people["ed"], action_id=action.pk, decision="modify", payload=original)
    assert (back.outcome, back.approvals) == ("approval_recorded", 1)  # ed's edit back: the first of two
    done = review_decide(reviewer=people["eve"], action_id=action.pk, decision="approve")
    assert (done.outcome, done.action.final_payload) == ("approved", original)
