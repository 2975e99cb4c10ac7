"""Post-action compensation end to end: an action that ran is flagged by its reviewer, the agent
learns it (GET, long-poll on its version), undoes it and reports, once; every step audited."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from audit.models import AuditEvent
from hitl import events
from hitl.models import Action
from hitl.services import agent_create
from reviews.services import review_post_action
from tests.conftest import bearer_client, page_form, submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory
from tests.hitl.test_long_poll import run

TAG = {"action_type": "tag_ticket", "payload": {"tag": "urgent"}, "entity": {}, "callback_url": ""}


@pytest.fixture
def scene(db):
    """Team reviewer tina, a reversible type, and an agent that used it once (so it is not novel)."""
    tina = UserFactory(username="tina")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    _, token = agent_create(name="support-bot")
    api = bearer_client(token)
    assert api.post("/api/v1/actions", submit_body(**TAG, confidence=0.99), format="json").status_code == 201
    return api, tina, token


def ran(api) -> dict:
    """A post-action submit: approved at once."""
    answer = api.post("/api/v1/actions", submit_body(**TAG, confidence=0.65), format="json").json()
    assert (answer["status"], answer["route"]["pattern"], answer["compensation"]) == ("approved", "post_action", None)
    return answer


def flag(client, reviewer, action_id, comment="Wrong ticket: 881 is not urgent"):
    client.force_login(reviewer)
    return client.post(
        f"/reviews/{action_id}/decide", {**page_form(Action(pk=action_id)), "decision": "flag", "comment": comment}
    )


def report(api, action_id, outcome, **detail):
    return api.post(f"/api/v1/actions/{action_id}/outcome", {"outcome": outcome, "detail": detail}, format="json")


def test_a_flag_asks_the_agent_to_compensate_and_it_reports_once(scene, client, django_capture_on_commit_callbacks):
    api, tina, _ = scene
    action = ran(api)
    assert report(api, action["id"], "executed", tag_id=7).status_code == 200
    told = []

    def receiver(sender, action_id, event, **kwargs):
        told.append((str(action_id), event))

    events.action_event.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert flag(client, tina, action["id"]).status_code == 302
    finally:
        events.action_event.disconnect(receiver)
    assert told == [(action["id"], "action.compensation_requested")]

    now = api.get(f"/api/v1/actions/{action['id']}").json()
    assert now["compensation"]["status"] == "requested"
    assert now["compensation"]["reason"] == "Wrong ticket: 881 is not urgent"
    assert now["compensation"]["requested_at"] and now["compensation"]["reported_at"] is None
    assert now["version"] > action["version"] and now["outcome"]["outcome"] == "executed"
    page = client.get(f"/reviews/{action['id']}/").content.decode()
    assert "Compensation requested</strong>: Wrong ticket: 881 is not urgent" in page

    done = report(api, action["id"], "compensated", tag_removed=True)
    assert done.status_code == 200, done.content
    assert done.json()["compensation"]["status"] == "compensated"
    assert done.json()["compensation"]["detail"] == {"tag_removed": True}
    assert done.json()["compensation"]["reported_at"]
    again = report(api, action["id"], "compensation_failed")
    assert again.status_code == 409
    assert again.json()["error"] == "compensation_already_reported"
    assert again.json()["message"] == "Compensation was already reported: compensated."

    types = list(AuditEvent.objects.filter(action_id=action["id"]).order_by("seq").values_list("event_type", flat=True))
    assert types == ["submitted", "outcome_reported", "post_flagged", "compensation_requested", "compensation_reported"]
    reported = AuditEvent.objects.get(action_id=action["id"], event_type="compensation_reported")
    assert reported.actor_type == "agent" and reported.after == {
        "compensation": "compensated",
        "detail": {"tag_removed": True},
    }
    page = client.get(f"/reviews/{action['id']}/").content.decode()
    assert "Compensated</strong>" in page and "Compensation reported" in page and "tag_removed" in page


def test_a_failed_compensation_is_shown_with_its_detail(scene, client):
    api, tina, _ = scene
    action = ran(api)
    flag(client, tina, action["id"])
    failed = report(api, action["id"], "compensation_failed", error="ticket already closed")
    assert failed.status_code == 200 and failed.json()["compensation"]["status"] == "compensation_failed"
    page = client.get(f"/reviews/{action['id']}/").content.decode()
    assert "Compensation failed</strong>" in page and "ticket already closed" in page


def test_a_compensation_report_without_a_request_is_409_naming_the_state(scene, client):
    api, tina, _ = scene
    action = ran(api)
    refused = report(api, action["id"], "compensated")
    assert refused.status_code == 409
    assert refused.json()["error"] == "compensation_not_requested"
    assert refused.json()["message"] == "No compensation was requested for this action."
    client.force_login(tina)
    client.post(f"/reviews/{action['id']}/decide", {**page_form(Action(pk=action["id"])), "decision": "confirm"})
    assert report(api, action["id"], "compensated").status_code == 409  # confirmed: nothing to undo
    assert Action.objects.get(pk=action["id"]).compensation == ""
    assert not AuditEvent.objects.filter(action_id=action["id"], event_type__startswith="compensation").exists()
    # executed / failed are as they were, and a bad outcome names the field.
    assert report(api, action["id"], "executed").status_code == 200
    assert report(api, action["id"], "undone").json()["fields"].keys() == {"outcome"}


def test_a_pending_action_cannot_be_flagged_or_compensated(scene, client):
    api, tina, _ = scene
    waiting = api.post("/api/v1/actions", submit_body(**TAG, confidence=0.99, irreversible=True), format="json")
    action_id = waiting.json()["id"]
    assert waiting.json()["status"] == "pending"
    assert flag(client, tina, action_id).status_code == 409
    assert report(api, action_id, "compensated").json()["error"] == "compensation_not_requested"


def test_a_flag_after_the_types_review_window_is_refused(scene, client):
    from datetime import timedelta

    from hitl.models import ActionType
    from hitl.policy import policy_invalidate

    api, tina, _ = scene
    first = Action.objects.get(pk=ran(api)["id"])
    assert first.due_at - first.created_at == timedelta(hours=4)  # the default
    ActionType.objects.filter(key="tag_ticket").update(review_window=timedelta(minutes=30))
    policy_invalidate()  # as an admin's change does
    action = ran(api)
    stored = Action.objects.get(pk=action["id"])
    assert stored.due_at - stored.created_at == timedelta(minutes=30)
    Action.objects.filter(pk=stored.pk).update(due_at=stored.created_at)  # the window has run out
    assert flag(client, tina, action["id"]).status_code == 409
    assert api.get(f"/api/v1/actions/{action['id']}").json()["compensation"] is None


def flag_and_close(**verdict):
    try:
        return review_post_action(**verdict)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_on_the_version_wakes_when_compensation_is_requested(scene):
    api, tina, token = scene
    action = ran(api)
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/actions/{action['id']}?wait=30&version={action['version']}"

    async def scenario():
        poll = asyncio.create_task(AsyncClient().get(url, headers=auth))
        await asyncio.sleep(1.5)
        assert not poll.done(), "the poll returned before the action changed"
        flagging = sync_to_async(flag_and_close, thread_sensitive=False)
        await flagging(reviewer=tina, action_id=action["id"], verdict="flag", comment="Wrong ticket")
        flagged = time.monotonic()
        response = await poll
        return response, time.monotonic() - flagged

    response, waited = run(scenario)
    assert response.status_code == 200 and waited < 1.0
    assert response.json()["compensation"]["status"] == "requested"
    assert response.json()["version"] == action["version"] + 1
    # A version the action no longer holds is answered at once; one that is not a number is a 400 naming it.
    started = time.monotonic()
    assert bearer_client(token).get(url).json()["version"] == action["version"] + 1
    assert time.monotonic() - started < 1.0
    for bad_version in ("two", "-1", "²"):
        bad = bearer_client(token).get(f"/api/v1/actions/{action['id']}", {"wait": 1, "version": bad_version})
        assert bad.status_code == 400 and bad.json()["fields"].keys() == {"version"}, bad_version
