"""End to end: a reviewer's decision reaches the agent's receiver through a real Celery worker, and
beat's sweep brings the retry after the receiver failed once."""

import time

import pytest

from callbacks.models import WebhookDelivery
from tests.conftest import submit_body
from tests.escalation.test_worker import worker_and_beat  # noqa: F401 (a fixture this module uses)


@pytest.fixture
def quick_retries(monkeypatch):
    """Read by the worker and beat the fixture starts: a retry due half a second after a failure."""
    monkeypatch.setenv("HITL_WEBHOOK_BACKOFF_SECONDS", "0.5")
    monkeypatch.setenv("HITL_WEBHOOK_SWEEP_SECONDS", "0.5")


def test_a_decision_is_delivered_by_the_worker_and_retried_by_beat(
    quick_retries,
    worker_and_beat,  # noqa: F811
    receiver,
    api,
    reviewer_api,
):
    receiver.statuses = [500]  # then 200
    action = api.post("/api/v1/actions", submit_body(callback_url=receiver.url("/hook")), format="json").json()
    decided = reviewer_api.post(f"/api/v1/actions/{action['id']}/decision", {"decision": "approve"}, format="json")
    assert decided.status_code == 200
    deadline = time.monotonic() + 30
    while len(receiver.requests) < 2:
        assert worker_and_beat.poll() is None, "the worker stopped"
        assert time.monotonic() < deadline, f"{len(receiver.requests)} of 2 attempts arrived in time"
        time.sleep(0.1)
    first, second = receiver.requests
    assert first["headers"]["Hitl-Delivery"] == second["headers"]["Hitl-Delivery"]
    assert second["json"]["type"] == "action.approved" and second["json"]["action"]["id"] == action["id"]
    deadline = time.monotonic() + 10
    while WebhookDelivery.objects.get().status != "delivered":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert WebhookDelivery.objects.values_list("attempts", "last_status_code").get() == (2, 200)
