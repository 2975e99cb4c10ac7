import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from hitl.models import Action, IdempotencyKey
from hitl.services import agent_create
from hitl.tasks import purge_idempotency_keys
from tests.conftest import bearer_client, submit_body


def in_flight_key(agent, key, body_hash, created_at):
    """A key whose action was never created: its request is running, or crashed."""
    return IdempotencyKey.objects.create(
        agent=agent, key=key, request_hash=body_hash, action_id=uuid.uuid4(), response={}, created_at=created_at
    )


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(api):
    first = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    retry = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert Action.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="submitted").count() == 1


def test_key_order_and_whitespace_do_not_make_a_different_body(api):
    import json

    body = submit_body()
    first = api.post("/api/v1/actions", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    retry = api.generic("POST", "/api/v1/actions", reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_422(api):
    api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    response = api.post("/api/v1/actions", submit_body(confidence=0.5), format="json", HTTP_IDEMPOTENCY_KEY="abc-2")

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert "Idempotency-Key" in response.json()["fields"]
    assert Action.objects.count() == 1


def test_keys_belong_to_one_agent(api):
    _, other_token = agent_create(name="other-bot")
    a = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = bearer_client(other_token).post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_a_request_still_in_flight_is_409(api, agent):
    from hitl.idempotency import request_hash

    in_flight_key(agent, "busy", request_hash(submit_body()), timezone.now())
    response = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_key_in_flight"
    assert not Action.objects.exists()


def test_a_key_abandoned_by_a_crashed_request_is_taken_over(api, agent):
    from hitl.idempotency import request_hash

    long_ago = timezone.now() - timedelta(minutes=5)
    in_flight_key(agent, "crashed", request_hash(submit_body()), long_ago)
    response = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="crashed")
    assert response.status_code == 201
    replay = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="crashed")
    assert replay.status_code == 200 and replay.json()["id"] == response.json()["id"]


def test_a_refused_request_does_not_use_up_its_key(api):
    bad = api.post("/api/v1/actions", submit_body(confidence=7), format="json", HTTP_IDEMPOTENCY_KEY="fix-me")
    good = api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="fix-me")
    assert (bad.status_code, good.status_code) == (400, 201)


def test_keys_are_kept_at_least_24_hours_then_purged(api, agent):
    api.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="recent")
    in_flight_key(agent, "day-old", "x", timezone.now() - timedelta(hours=25))
    in_flight_key(agent, "ancient", "x", timezone.now() - timedelta(days=3))

    assert purge_idempotency_keys() == 1
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"recent", "day-old"}


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_duplicates_make_one_action_and_one_audit_event(email_type):
    _, token = agent_create(name="racer")
    barrier = threading.Barrier(20)
    statuses, bodies = [], []

    def submit():
        client = bearer_client(token)
        barrier.wait()
        response = client.post("/api/v1/actions", submit_body(), format="json", HTTP_IDEMPOTENCY_KEY="same-key")
        statuses.append(response.status_code)
        bodies.append(response.json())
        connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(statuses) == 20
    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 409}
    created_id = next(body["id"] for status, body in zip(statuses, bodies, strict=True) if status == 201)
    assert all(body["id"] == created_id for status, body in zip(statuses, bodies, strict=True) if status == 200)
    assert Action.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="submitted").count() == 1
