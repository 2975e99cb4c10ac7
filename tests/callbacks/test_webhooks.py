"""Signed webhooks to an action's callback_url (a local HTTP receiver): sent after a decision, an
escalation and an expiry, signed with the agent's secret (both secrets during a rotation), retried
with the same id after a failure, given up on a refusal; logged in admin and on the action page."""

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from callbacks import services
from callbacks.models import WebhookDelivery
from callbacks.tasks import deliver_webhooks
from escalation.services import escalation_sweep
from hitl.models import Action, Agent
from hitl.services import agent_create
from tests.conftest import bearer_client, page_form, submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


@pytest.fixture
def queued(monkeypatch):
    """The attempts each delivery task is queued with after commit (nothing reaches the broker)."""
    calls = []
    monkeypatch.setattr(services, "_enqueue", calls.append)
    return calls


@pytest.fixture
def pending(api, receiver):
    """Submit through the API an action that waits for a reviewer, with the receiver as its callback_url."""

    def submit(**overrides):
        response = api.post(
            "/api/v1/actions", submit_body(callback_url=receiver.url("/hook"), **overrides), format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "pending"
        return response.json()

    return submit


def deliver(attempts):
    """Run the delivery task here and now."""
    deliver_webhooks.apply(args=[attempts]).get()


def signatures(header: str) -> tuple[int, list[str]]:
    """The spec's Hitl-Signature, read independently of the SDK: t=<unix>,v1=<hex>[,v1=<hex>]."""
    parts = [part.split("=", 1) for part in header.split(",")]
    assert parts[0][0] == "t" and all(key == "v1" for key, _ in parts[1:])
    return int(parts[0][1]), [value for _, value in parts[1:]]


def signed_by(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def decide(reviewer_api, action_id, capture, **body):
    with capture(execute=True):
        response = reviewer_api.post(
            f"/api/v1/actions/{action_id}/decision", {"decision": "approve", **body}, format="json"
        )
    assert response.status_code == 200, response.content
    return response


def test_the_task_is_queued_by_its_registered_name():
    assert services.DELIVER_TASK == deliver_webhooks.name


def test_a_reviewers_decision_reaches_the_callback_url_signed_with_the_action_as_get_shows_it(
    api, pending, reviewer_api, receiver, queued, agent, django_capture_on_commit_callbacks
):
    action = pending()
    assert receiver.requests == [] and WebhookDelivery.objects.count() == 0  # nothing to tell while pending
    decide(reviewer_api, action["id"], django_capture_on_commit_callbacks, comment="fine")
    [attempts] = queued
    [delivery] = WebhookDelivery.objects.all()
    assert attempts == [(str(delivery.pk), 1)]
    deliver(attempts)

    [request] = receiver.requests
    headers, raw = request["headers"], request["body"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Hitl-Delivery"] == str(delivery.pk) and headers["Hitl-Event"] == "action.approved"
    t, [v1] = signatures(headers["Hitl-Signature"])
    assert abs(time.time() - t) < 30
    assert hmac.compare_digest(v1, signed_by(agent.webhook_secret, t, raw))
    event = json.loads(raw)
    assert raw.decode() == json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert (event["id"], event["type"]) == (str(delivery.pk), "action.approved")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", event["created_at"])
    assert event["action"] == api.get(f"/api/v1/actions/{action['id']}").json()
    assert event["action"]["status"] == "approved" and event["action"]["decision"]["comment"] == "fine"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_a_modification_and_a_rejection_are_their_own_events(
    pending, reviewer_api, receiver, queued, django_capture_on_commit_callbacks
):
    modified, rejected = pending(), pending(summary="Another email")
    payload = {"to": "jane@example.com", "subject": "Your refund (edited)", "body": "It is on its way."}
    decide(reviewer_api, modified["id"], django_capture_on_commit_callbacks, decision="modify", payload=payload)
    decide(reviewer_api, rejected["id"], django_capture_on_commit_callbacks, decision="reject", comment="wrong person")
    for attempts in queued:
        deliver(attempts)
    told = {r["json"]["action"]["id"]: (r["headers"]["Hitl-Event"], r["json"]["type"]) for r in receiver.requests}
    assert told == {
        modified["id"]: ("action.modified", "action.modified"),
        rejected["id"]: ("action.rejected", "action.rejected"),
    }
    [to_modified] = [r["json"]["action"] for r in receiver.requests if r["json"]["action"]["id"] == modified["id"]]
    assert to_modified["final_payload"] == payload


def test_an_action_without_a_callback_url_sends_nothing(api, reviewer_api, queued, django_capture_on_commit_callbacks):
    action = api.post("/api/v1/actions", submit_body(callback_url=""), format="json").json()
    decide(reviewer_api, action["id"], django_capture_on_commit_callbacks)
    assert queued == [] and WebhookDelivery.objects.count() == 0


def test_a_failed_attempt_is_retried_with_the_same_id_and_body_after_its_backoff(
    pending, reviewer_api, receiver, queued, settings, django_capture_on_commit_callbacks
):
    settings.HITL_WEBHOOK_BACKOFF_SECONDS = 10
    receiver.statuses = [500]  # then 200
    action = pending()
    decide(reviewer_api, action["id"], django_capture_on_commit_callbacks)
    [first] = queued
    before = timezone.now()
    deliver(first)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: receiver says no"
    assert before + timedelta(seconds=10) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=10)

    assert services.webhooks_requeue_due() == 0  # not due yet
    with django_capture_on_commit_callbacks(execute=True):
        assert services.webhooks_requeue_due(now=delivery.next_attempt_at) == 1
    second = queued[-1]
    assert second == [(str(delivery.pk), 2)]
    deliver(second)
    deliver(second)  # the same attempt queued twice (a sweep that ran again) is made once

    one, two = receiver.requests
    assert one["headers"]["Hitl-Delivery"] == two["headers"]["Hitl-Delivery"] == str(delivery.pk)
    assert one["body"] == two["body"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)


def test_the_backoff_doubles_up_to_its_cap(settings):
    settings.HITL_WEBHOOK_BACKOFF_SECONDS, settings.HITL_WEBHOOK_BACKOFF_MAX_SECONDS = 10, 3600
    delays = [services.retry_delay(n).total_seconds() for n in range(1, 11)]
    assert delays == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]


@pytest.mark.parametrize(("answer", "status"), [(404, "failed"), (410, "failed"), (429, "pending"), (408, "pending")])
def test_a_refusal_ends_the_delivery_but_slow_down_and_timeout_are_retried(
    pending, reviewer_api, receiver, queued, django_capture_on_commit_callbacks, answer, status
):
    receiver.statuses = [answer]
    decide(reviewer_api, pending()["id"], django_capture_on_commit_callbacks)
    deliver(queued[0])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (status, 1, answer)
    assert (delivery.next_attempt_at is None) == (status == "failed")


def test_the_last_attempt_fails_the_delivery(
    pending, reviewer_api, receiver, queued, settings, django_capture_on_commit_callbacks
):
    settings.HITL_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [503, 503, 200]
    decide(reviewer_api, pending()["id"], django_capture_on_commit_callbacks)
    deliver(queued[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.webhooks_requeue_due(now=timezone.now() + timedelta(hours=2))
    deliver(queued[-1])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2) and len(receiver.requests) == 2
    assert services.webhooks_requeue_due(now=timezone.now() + timedelta(days=2)) == 0


def test_a_callback_url_that_turns_private_is_refused_when_sending(
    pending, reviewer_api, receiver, queued, settings, django_capture_on_commit_callbacks
):
    decide(reviewer_api, pending()["id"], django_capture_on_commit_callbacks)
    settings.HITL_OUTBOUND_ALLOW = ""  # the receiver's loopback address is no longer allowed
    deliver(queued[0])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1) and receiver.requests == []
    assert delivery.last_error == "Refused: 127.0.0.1 is a loopback address; only public addresses may be called."


def test_during_a_rotations_grace_period_both_secrets_sign(
    pending, reviewer_api, receiver, queued, agent, django_capture_on_commit_callbacks
):
    old = agent.webhook_secret
    out = StringIO()
    call_command("rotate_webhook_secret", agent.name, "--grace-hours", "1", stdout=out, stderr=StringIO())
    new = Agent.objects.get(pk=agent.pk).webhook_secret
    assert out.getvalue().strip().splitlines()[-1] == f"Webhook secret: {new}" and new != old

    decide(reviewer_api, pending()["id"], django_capture_on_commit_callbacks)
    deliver(queued[0])
    [request] = receiver.requests
    t, v1s = signatures(request["headers"]["Hitl-Signature"])
    assert v1s == [signed_by(new, t, request["body"]), signed_by(old, t, request["body"])]

    Agent.objects.filter(pk=agent.pk).update(webhook_secret_previous_until=timezone.now() - timedelta(seconds=1))
    decide(reviewer_api, pending(summary="After the grace period")["id"], django_capture_on_commit_callbacks)
    deliver(queued[-1])
    t, v1s = signatures(receiver.requests[-1]["headers"]["Hitl-Signature"])
    assert v1s == [signed_by(new, t, receiver.requests[-1]["body"])]


def test_escalations_and_the_expiry_are_sent(pending, receiver, queued, django_capture_on_commit_callbacks):
    action_id = pending()["id"]
    for _ in range(3):  # tier1 → tier2 → tier3 → expired, each sent before the next sweep
        due_at = Action.objects.get(pk=action_id).due_at
        with django_capture_on_commit_callbacks(execute=True):
            escalation_sweep(now=due_at + timedelta(seconds=1))
        deliver(queued[-1])
    told = [(r["headers"]["Hitl-Event"], r["json"]["action"]["status"], r["json"]["action"]["route"]["tier"])
            for r in receiver.requests]  # fmt: skip
    assert told == [
        ("action.escalated", "pending", "tier2"),
        ("action.escalated", "pending", "tier3"),
        ("action.expired", "expired", "tier3"),
    ]
    assert receiver.requests[-1]["json"]["action"]["decision"]["decision"] == "expired"
    assert WebhookDelivery.objects.filter(status="delivered").count() == 3


def test_the_delivery_log_shows_in_admin_and_on_the_action_page(
    client, pending, reviewer_api, receiver, queued, team_reviewer, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    action_id = pending()["id"]
    decide(reviewer_api, action_id, django_capture_on_commit_callbacks)
    deliver(queued[0])
    client.force_login(team_reviewer)
    page = client.get(f"/reviews/{action_id}/").content.decode()
    assert "Webhooks" in page and "action.approved" in page
    assert "1 attempt " in page and "last answer HTTP 500" in page and "next try" in page

    admin = type(team_reviewer).objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    listing = client.get("/admin/callbacks/webhookdelivery/").content.decode()
    assert "action.approved" in listing and "pending" in listing
    delivery = WebhookDelivery.objects.get()
    detail = client.get(f"/admin/callbacks/webhookdelivery/{delivery.pk}/change/")
    assert detail.status_code == 200 and "HTTP 500: receiver says no" in detail.content.decode()
    assert client.post(f"/admin/callbacks/webhookdelivery/{delivery.pk}/delete/").status_code == 403


def test_a_sweep_batch_publishes_one_task_that_fans_out(pending, receiver, queued, django_capture_on_commit_callbacks):
    actions = [pending(summary=f"Email {n}")["id"] for n in range(45)]
    due_at = max(Action.objects.filter(pk__in=actions).values_list("due_at", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        assert escalation_sweep(now=due_at + timedelta(seconds=1)).escalated == 45
    [batch] = queued
    assert len(batch) == 45 and {attempt for _, attempt in batch} == {1}
    deliver(batch)  # makes the first 20, queues the rest in tasks of 20
    assert [len(task) for task in queued[1:]] == [20, 5] and len(receiver.requests) == 20
    for task in queued[1:]:
        deliver(task)
    assert {r["json"]["action"]["id"] for r in receiver.requests} == set(actions)
    assert WebhookDelivery.objects.filter(status="delivered", attempts=1).count() == 45


def test_a_lost_task_is_queued_again_by_beats_sweep(
    pending, reviewer_api, receiver, queued, django_capture_on_commit_callbacks
):
    decide(reviewer_api, pending()["id"], django_capture_on_commit_callbacks)
    queued.clear()  # the broker lost it
    delivery = WebhookDelivery.objects.get()
    assert services.webhooks_requeue_due() == 0  # its task may still be on its way
    with django_capture_on_commit_callbacks(execute=True):
        assert services.webhooks_requeue_due(now=delivery.next_attempt_at) == 1
    assert queued == [[(str(delivery.pk), 1)]]
    deliver(queued[0])
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.get().status == "delivered"


def test_a_post_action_flag_sends_a_compensation_request_and_a_policy_approval_sends_nothing(
    db, client, receiver, queued, django_capture_on_commit_callbacks
):
    tina = UserFactory(username="tina")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    agent_api = bearer_client(agent_create(name="support-bot")[1])
    tag = {
        "action_type": "tag_ticket",
        "payload": {"tag": "urgent"},
        "entity": {},
        "callback_url": receiver.url("/hook"),
    }
    first = agent_api.post("/api/v1/actions", submit_body(**{**tag, "callback_url": ""}), format="json")
    assert first.json()["route"]["pattern"] == "pre_action"  # a novel type for this agent waits for a reviewer
    with django_capture_on_commit_callbacks(execute=True):
        alone = agent_api.post("/api/v1/actions", submit_body(**tag, confidence=0.99), format="json").json()
        ran = agent_api.post("/api/v1/actions", submit_body(**tag, confidence=0.65), format="json").json()
    assert (alone["route"]["pattern"], ran["route"]["pattern"]) == ("autonomous", "post_action")
    assert queued == [] and WebhookDelivery.objects.count() == 0  # the agent had its answer at submit

    client.force_login(tina)
    with django_capture_on_commit_callbacks(execute=True):
        flagged = client.post(
            f"/reviews/{ran['id']}/decide",
            {**page_form(Action(pk=ran["id"])), "decision": "flag", "comment": "Not urgent"},
        )
    assert flagged.status_code in (200, 302)
    [attempts] = queued
    deliver(attempts)
    [request] = receiver.requests
    assert request["headers"]["Hitl-Event"] == request["json"]["type"] == "action.compensation_requested"
    assert request["json"]["action"]["id"] == ran["id"]
    assert request["json"]["action"]["compensation"]["status"] == "requested"
    assert request["json"]["action"]["compensation"]["reason"] == "Not urgent"
