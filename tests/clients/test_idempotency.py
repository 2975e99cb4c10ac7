"""One logical call makes one action, whatever happens on the way: 20 threads racing with one
Idempotency-Key, an answer lost after the server acted, 429s with Retry-After."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from hitl_client import Client

from hitl.models import Action, IdempotencyKey

from .conftest import FAST, pending_action

EMAIL = {"action_type": "send_email", "payload": {"to": "jane@example.com", "subject": "Your refund"},
         "summary": "Email Jane", "confidence": 0.82}  # fmt: skip


def test_twenty_parallel_calls_with_one_idempotency_key_make_one_action(hitl, reviewer):
    key = str(uuid.uuid4())

    def call(_):
        try:
            return hitl.request_approval(idempotency_key=key, timeout=30, **EMAIL)
        finally:
            connection.close()

    with ThreadPoolExecutor(20) as pool:
        calls = [pool.submit(call, n) for n in range(20)]
        assert reviewer.decide(pending_action().id, decision="approve").status_code == 200
        decisions = [c.result(timeout=60) for c in calls]
    action = Action.objects.get()
    assert {(d.action_id, d.status) for d in decisions} == {(str(action.id), "approved")}
    assert IdempotencyKey.objects.get().key == key


def test_an_answer_lost_after_the_server_acted_is_retried_into_the_same_action(
    server_url, agent_and_token, email_type, proxy
):
    lossy = proxy(["drop", "drop"])  # the server creates the action; the agent never hears back, twice
    with Client(lossy.url, agent_and_token[1], **FAST) as client:
        decision = client.submit(**EMAIL)
    assert [method for method, _, _ in lossy.seen] == ["POST"] * 3
    assert len({headers["Idempotency-Key"] for _, _, headers in lossy.seen}) == 1
    assert Action.objects.get().id == uuid.UUID(decision.action_id) and decision.pending


def test_429_is_retried_after_its_retry_after_with_the_same_key(server_url, agent_and_token, email_type, proxy):
    throttling = proxy([("answer", 429, {"Retry-After": "1"}), ("answer", 429, {"Retry-After": "1"})])
    started = time.monotonic()
    with Client(throttling.url, agent_and_token[1], **FAST) as client:
        decision = client.submit(**EMAIL)
    assert time.monotonic() - started >= 2  # both Retry-After honoured (the backoff alone is 0.2 s at most)
    assert len(throttling.seen) == 3 and len({h["Idempotency-Key"] for _, _, h in throttling.seen}) == 1
    assert Action.objects.get().id == uuid.UUID(decision.action_id)
