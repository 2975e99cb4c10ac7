"""The action page and its plain-form decisions: what a reviewer sees, and what each button does."""

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from hitl.models import Action
from hitl.services import action_submit, agent_create
from reviews.claims import claim_take
from reviews.models import RejectReason, ReviewerGroup, Verdict
from tests.conftest import page_form
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def desk(db):
    """Team reviewers tina and tom, lead leo, executives eve and ed, finance fiona; a few actions."""
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    groups["finance"] = ReviewerGroupFactory(key="finance", kind="expertise", rank=0)
    people = {}
    for name, group in (("tina", "team"), ("tom", "team"), ("leo", "lead"), ("eve", "executive"), ("ed", "executive"),
                        ("fiona", "finance")):  # fmt: skip
        people[name] = UserFactory(username=name)
        groups[group].members.add(people[name])
    email = ActionTypeFactory()
    agent, _ = agent_create(name="support-bot")

    def submit(summary="Email Jane confirming her $40 refund", *, action_type=email, **facts):
        fields = {
            "payload": {"to": "jane@example.com", "subject": "Your refund", "body": "It is on its way."},
            "confidence": 0.9,
            "reasoning": "Order 881 is eligible under policy 4.2",
            "context": {"user_request": "Where is my refund?", "documents": [{"title": "Policy 4.2"}]},
            "task_id": "ticket-881",
        }
        fields.update(facts)
        return action_submit(agent=agent, action_type=action_type, summary=summary, **fields)

    return people, submit


def page(client, user, action):
    client.force_login(user)
    return client.get(f"/reviews/{action.pk}/")


def decide(client, user, action, **form):
    client.force_login(user)
    return client.post(f"/reviews/{action.pk}/decide", {**page_form(action), **form})


def test_the_action_page_shows_everything_needed_to_decide(client, desk):
    people, submit = desk
    earlier = submit("Look up order 881", action_type=ActionTypeFactory(key="lookup_order", payload_schema=None),
                     payload={"order": 881})  # fmt: skip
    action = submit()
    response = page(client, people["tina"], action)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Email Jane confirming her $40 refund" in html
    assert '<dt>to</dt><dd><span class="value">jane@example.com</span></dd>' in html  # fields, not raw JSON
    assert "Order 881 is eligible under policy 4.2" in html
    assert "Where is my refund?" in html and "Policy 4.2" in html and "Documents (1)" in html
    assert "threshold 0.85" in html and "irreversible action type" in html
    assert earlier.summary in html and "ticket-881" in html  # the same task's other actions
    assert "No reviewed send_email proposals from this agent yet." in html


def test_the_track_record_counts_the_agents_verdicts_on_this_type(client, desk):
    people, submit = desk
    for verb, comment in (("approve", ""), ("approve", ""), ("reject", "wrong customer")):
        decide(client, people["tina"], submit(), decision=verb, comment=comment)
    html = page(client, people["tina"], submit()).content.decode()
    assert "3 reviewed" in html
    assert "approved <strong>2</strong>" in html and "rejected <strong>1</strong>" in html


def test_a_reviewer_cannot_open_or_decide_an_action_outside_their_queues(client, desk):
    people, submit = desk
    action = submit()
    assert page(client, people["fiona"], action).status_code == 404
    assert decide(client, people["fiona"], action, decision="approve").status_code == 404
    assert Action.objects.get(pk=action.pk).status == "pending"
    assert not Verdict.objects.exists()


def test_approve_with_a_plain_form_post(client, desk):
    people, submit = desk
    action = submit()
    response = decide(client, people["tina"], action, decision="approve")
    assert response.status_code == 302 and response["Location"] == "/reviews/"
    decided = Action.objects.get(pk=action.pk)
    assert (decided.status, decided.decision, decided.decided_by) == ("approved", "approved", people["tina"])
    assert decided.final_payload == action.payload
    assert AuditEvent.objects.filter(action=action, event_type="decided").count() == 1
    assert "Approved: Email Jane" in client.get("/reviews/").content.decode()


def test_modify_through_the_generated_fields_stores_the_edit_and_its_patch(client, desk):
    people, submit = desk
    action = submit()
    response = decide(client, people["tina"], action, decision="modify", **{
        "payload/to": "jane@example.com", "payload/subject": "Your $40 refund", "payload/body": "It is on its way.",
    })  # fmt: skip
    assert response.status_code == 302
    decided = Action.objects.get(pk=action.pk)
    assert decided.decision == "modified"
    assert decided.final_payload == {**action.payload, "subject": "Your $40 refund"}
    verdict = Verdict.objects.get(action=action)
    assert verdict.patch == [{"op": "replace", "path": "/subject", "value": "Your $40 refund"}]
    assert timezone.timedelta(0) < verdict.time_to_decision < timezone.timedelta(minutes=1)
    event = AuditEvent.objects.get(action=action, event_type="decided")
    assert event.modified_action == decided.final_payload and event.data["patch"] == verdict.patch


def test_an_edit_that_breaks_the_schema_is_refused_with_the_field_and_changes_nothing(client, desk):
    people, submit = desk
    action = submit()
    response = decide(client, people["tina"], action, decision="modify", **{
        "payload/to": "not an email", "payload/subject": "Your refund", "payload/body": "",
    })  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 400
    assert "<br>To: &#x27;not an email&#x27; is not a &#x27;email&#x27;" in html  # the field, in words
    assert 'value="not an email"' in html  # the reviewer's edit is kept in the form
    assert Action.objects.get(pk=action.pk).status == "pending"
    assert not Verdict.objects.exists()


def test_a_number_field_that_is_not_a_number_is_refused(client, desk):
    people, submit = desk
    schema = {"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}}}
    refund = ActionTypeFactory(key="issue_refund", payload_schema=schema)
    action = submit("Refund $40", action_type=refund, payload={"amount": 40})
    response = decide(client, people["tina"], action, decision="modify", **{"payload/amount": "forty"})
    assert response.status_code == 400 and "Enter a number." in response.content.decode()
    response = decide(client, people["tina"], action, decision="modify", **{"payload/amount": "-1"})
    assert response.status_code == 400 and "less than the minimum" in response.content.decode()
    assert decide(client, people["tina"], action, decision="modify", **{"payload/amount": "35.5"}).status_code == 302
    assert Action.objects.get(pk=action.pk).final_payload == {"amount": 35.5}


def test_the_json_editor_is_the_fallback_for_a_type_without_a_field_schema(client, desk):
    people, submit = desk
    free = ActionTypeFactory(key="run_script", payload_schema=None)
    action = submit("Run cleanup", action_type=free, payload={"script": "cleanup.sh", "args": ["--dry-run"]})
    html = page(client, people["tina"], action).content.decode()
    assert 'name="payload_json"' in html and "cleanup.sh" in html
    bad = decide(client, people["tina"], action, decision="modify", payload_mode="json", payload_json="{oops")
    assert bad.status_code == 400 and "The edited JSON is not valid:" in bad.content.decode()
    good = decide(client, people["tina"], action, decision="modify", payload_mode="json",
                  payload_json='{"script": "cleanup.sh", "args": []}')  # fmt: skip
    assert good.status_code == 302
    assert Action.objects.get(pk=action.pk).final_payload == {"script": "cleanup.sh", "args": []}


def test_reject_needs_a_reason_and_takes_a_configured_one(client, desk):
    people, submit = desk
    RejectReason.objects.create(code="wrong_recipient", label="Wrong recipient")
    action = submit()
    refused = decide(client, people["tina"], action, decision="reject", comment="  ")
    assert refused.status_code == 400 and "A rejection needs a reason." in refused.content.decode()
    assert Action.objects.get(pk=action.pk).status == "pending"
    assert "Wrong recipient" in page(client, people["tina"], action).content.decode()
    assert decide(client, people["tina"], action, decision="reject", reason="wrong_recipient").status_code == 302
    rejected = Action.objects.get(pk=action.pk)
    assert (rejected.status, rejected.decision_comment) == ("rejected", "Wrong recipient")
    assert Verdict.objects.get(action=action).reason.code == "wrong_recipient"


def test_a_second_decision_is_told_which_decision_won(client, desk):
    people, submit = desk
    action = submit()
    decide(client, people["tina"], action, decision="approve")
    response = decide(client, people["tom"], action, decision="reject", comment="no", version=1)
    assert response.status_code == 409
    assert "This action is already approved by tina." in response.content.decode()
    assert Action.objects.get(pk=action.pk).status == "approved"


def test_a_tampered_form_changes_nothing(client, desk):
    people, submit = desk
    action, other = submit(), submit("Another email")
    stale = decide(client, people["tina"], action, decision="approve", version=action.version + 7)
    assert stale.status_code == 409 and "changed since you opened it" in stale.content.decode()
    no_version = decide(client, people["tina"], action, decision="approve", version="x")
    assert no_version.status_code == 409
    outside = submit("Refund", action_type=ActionTypeFactory(key="issue_refund", payload_schema=None,
                                                             reviewer_group="finance"), payload={})  # fmt: skip
    assert decide(client, people["tina"], outside, decision="approve").status_code == 404
    unknown = decide(client, people["tina"], other, decision="delete-everything")
    assert unknown.status_code == 400
    assert set(Action.objects.values_list("status", flat=True)) == {"pending"}
    assert not Verdict.objects.exists()


def test_claims_show_who_holds_an_action_and_block_others(client, desk):
    people, submit = desk
    action = submit()
    client.force_login(people["tina"])
    assert client.post(f"/reviews/{action.pk}/claim").status_code == 302
    assert "You hold this action" in page(client, people["tina"], action).content.decode()
    assert "Held by <strong>tina</strong>" in page(client, people["tom"], action).content.decode()
    assert "tina" in client.get("/reviews/").content.decode()
    refused = client.post(f"/reviews/{action.pk}/claim", follow=True)
    assert "tina is reviewing this action" in refused.content.decode()
    blocked = decide(client, people["tom"], action, decision="approve")
    assert blocked.status_code == 409 and "tina is reviewing this action" in blocked.content.decode()
    assert Action.objects.get(pk=action.pk).status == "pending"


def test_a_lead_takes_over_and_the_holder_can_release(client, desk):
    people, submit = desk
    action, second = submit(), submit("Second email")
    claim_take(reviewer=people["tina"], action_id=action.pk)
    client.force_login(people["tom"])
    assert "Take over" not in page(client, people["tom"], action).content.decode()
    assert client.post(f"/reviews/{action.pk}/take-over").status_code == 403  # tom sees it, but is not senior to it
    assert "Take over" in page(client, people["leo"], action).content.decode()
    client.post(f"/reviews/{action.pk}/take-over")
    assert "You hold this action" in page(client, people["leo"], action).content.decode()
    taken = AuditEvent.objects.get(action=action, event_type="taken_over")
    assert (taken.actor_label, taken.before) == ("leo", {"holder": "tina"})
    claim_take(reviewer=people["tina"], action_id=second.pk)
    client.force_login(people["tina"])
    assert client.post(f"/reviews/{second.pk}/release").status_code == 302
    assert "Nobody holds this action." in page(client, people["tina"], second).content.decode()
    assert client.post(f"/reviews/{second.pk}/release", {"beacon": "1"}).status_code == 204


def test_next_opens_the_most_urgent_action_nobody_holds(client, desk):
    people, submit = desk
    later, sooner = submit("Four hours"), submit("Fifteen minutes", compliance_risk=True)
    claim_take(reviewer=people["leo"], action_id=later.pk)  # leo holds tier1 "Four hours"
    client.force_login(people["eve"])
    response = client.post("/reviews/next")
    assert response["Location"] == f"/reviews/{sooner.pk}/"
    assert client.post("/reviews/next")["Location"] == f"/reviews/{sooner.pk}/"  # hers to resume
    skipped = client.post("/reviews/next", {"skip": str(sooner.pk)}, follow=True).content.decode()
    assert "Nothing is waiting for you right now." in skipped
    assert "Nobody holds this action." in page(client, people["eve"], sooner).content.decode()


def test_four_eyes_needs_two_different_approvers(client, desk):
    people, submit = desk
    action = submit("Wire $1M", compliance_risk=True)  # tier3: two approvals by default
    assert action.approvals_required == 2
    first = decide(client, people["eve"], action, decision="modify", **{
        "payload/to": "jane@example.com", "payload/subject": "Checked", "payload/body": "It is on its way.",
    })  # fmt: skip
    assert first.status_code == 302
    assert Action.objects.get(pk=action.pk).status == "pending"
    again = decide(client, people["eve"], action, decision="approve")
    assert "You approved this payload already" in again.content.decode()
    html = page(client, people["ed"], action).content.decode()
    assert '<strong class="approvals">1 of 2 approvals: eve</strong>' in html and "Checked" in html
    stale = decide(client, people["ed"], action, decision="approve", version=action.version)  # opened before eve's
    assert stale.status_code == 409
    assert decide(client, people["ed"], action, decision="approve").status_code == 302
    done = Action.objects.get(pk=action.pk)
    assert (done.status, done.decision, done.decided_by) == ("approved", "modified", people["ed"])
    assert done.final_payload["subject"] == "Checked"
    events = list(AuditEvent.objects.filter(action=action).values_list("event_type", flat=True))
    assert events == ["submitted", "claimed", "approval_recorded", "claimed", "decided"]  # each through the claim


def test_any_rejection_ends_a_four_eyes_action(client, desk):
    people, submit = desk
    action = submit("Wire $1M", compliance_risk=True)
    decide(client, people["eve"], action, decision="approve")
    decide(client, people["ed"], action, decision="reject", comment="not authorised")
    assert Action.objects.get(pk=action.pk).status == "rejected"


def test_the_diff_shows_the_edit_before_it_is_sent(client, desk):
    people, submit = desk
    action = submit()
    client.force_login(people["tina"])
    form = {"payload/to": "jane@example.com", "payload/subject": "Your $40 refund", "payload/body": "It is on its way."}
    html = client.post(f"/reviews/{action.pk}/diff", form, HTTP_HX_REQUEST="true").content.decode()
    assert '<th scope="row">Subject</th>' in html  # the field in words, the values as they read
    assert '<del><span class="value">Your refund</span></del>' in html
    assert '<ins><span class="value">Your $40 refund</span></ins>' in html
    assert "Approve with your edits (1 change)" in html  # what the Approve button will now send
    bad = client.post(f"/reviews/{action.pk}/diff", {"payload_mode": "json", "payload_json": "[1,"}).content.decode()
    assert "The edited JSON is not valid:" in bad


def test_post_action_reviews_have_their_own_tab(client, desk):
    people, submit = desk
    reversible = ActionTypeFactory(key="tag_ticket", irreversible=False, payload_schema=None)
    submit("Warm-up", action_type=reversible, payload={}, confidence=0.99)  # not novel any more
    ran = submit("Tag ticket 881 urgent", action_type=reversible, payload={"tag": "urgent"}, confidence=0.65)
    assert (ran.status, ran.route_pattern) == ("approved", "post_action")
    client.force_login(people["tina"])
    assert "Tag ticket 881 urgent" in client.get("/reviews/?tab=post").content.decode()
    assert "Tag ticket 881 urgent" not in client.get("/reviews/").content.decode()
    flag = decide(client, people["tina"], ran, decision="flag")
    assert flag.status_code == 400 and "A flag needs a reason." in flag.content.decode()
    assert decide(client, people["tina"], ran, decision="confirm").status_code == 302
    assert f'id="row-{ran.pk}"' not in client.get("/reviews/?tab=post").content.decode()
    assert AuditEvent.objects.filter(action=ran, event_type="post_confirmed").count() == 1
    again = decide(client, people["tom"], ran, decision="flag", comment="wrong tag")
    assert again.status_code == 409 and "tina already confirmed this action." in again.content.decode()


def test_a_reviewer_holds_no_more_than_the_groups_wip_cap(client, desk):
    people, submit = desk
    ReviewerGroup.objects.filter(key="team").update(wip_cap=1)
    first, second = submit("First"), submit("Second")
    client.force_login(people["tina"])
    assert client.post("/reviews/next")["Location"] == f"/reviews/{first.pk}/"
    refused = client.post(f"/reviews/{second.pk}/claim", follow=True).content.decode()
    assert "You hold 1 action, your limit; decide or release one first." in refused
    assert client.post("/reviews/next")["Location"] == f"/reviews/{first.pk}/"  # resumes hers
    decide(client, people["tina"], first, decision="approve")
    assert client.post("/reviews/next")["Location"] == f"/reviews/{second.pk}/"


def test_a_lead_reassigns_an_action_to_another_group(client, desk):
    people, submit = desk
    action = submit()
    client.force_login(people["tom"])
    assert client.post(f"/reviews/{action.pk}/reassign", {"group": "finance"}).status_code == 403  # not senior
    assert "Reassign" in page(client, people["leo"], action).content.decode()
    unknown = client.post(f"/reviews/{action.pk}/reassign", {"group": "nobody"}, follow=True)
    assert "Unknown reviewer group" in unknown.content.decode()
    assert client.post(f"/reviews/{action.pk}/reassign", {"group": "finance"}).status_code == 302
    moved = Action.objects.get(pk=action.pk)
    assert moved.reviewer_group == "finance" and moved.version == action.version + 1
    event = AuditEvent.objects.get(action=action, event_type="reassigned")
    assert (event.actor_label, event.before, event.after) == ("leo", {"group": "team"}, {"group": "finance"})
    assert page(client, people["fiona"], action).status_code == 200  # finance sees it now


def test_admin_refuses_a_group_that_overflows_to_itself(admin_client, desk):
    team = ReviewerGroup.objects.get(key="team")
    lead = ReviewerGroup.objects.get(key="lead")
    ReviewerGroup.objects.filter(pk=lead.pk).update(fallback=team)
    form = {"key": "team", "name": "Team", "kind": "tier", "rank": "1", "wip_cap": "5", "members": []}
    for fallback in (team.pk, lead.pk):  # itself; itself through lead
        response = admin_client.post(f"/admin/reviews/reviewergroup/{team.pk}/change/", {**form, "fallback": fallback})
        assert response.status_code == 200
        assert "A group cannot overflow to itself" in response.content.decode()
    assert ReviewerGroup.objects.get(pk=team.pk).fallback is None
