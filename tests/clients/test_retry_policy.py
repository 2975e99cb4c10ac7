"""The SDK's retry policy, client-side only: an httpx.MockTransport stands in for the network here
(and only here) to count attempts and script failures. The live server tests are in test_gate.py,
test_idempotency.py and test_unavailable.py."""

import asyncio
import json
import time

import httpx
import pytest
from hitl_client import AsyncClient, Client, Conflict, HitlUnavailable, InvalidRequest, RetryPolicy

ACTION = {"id": "5b0f5a52-4a3c-4a57-9a3a-1f2e3d4c5b6a", "status": "pending", "route": {}, "version": 1,
          "decision": None, "final_payload": None}  # fmt: skip
FIELDS = {"action_type": "send_email", "payload": {"to": "a@b.c"}, "summary": "Email", "confidence": 0.8}
FAST = {"backoff_base": 0.001, "backoff_cap": 0.002}


def scripted(*answers):
    """A transport answering each request with the next of `answers` (a status, or an exception to raise)."""
    requests = []

    def handle(request):
        requests.append(request)
        answer = answers[min(len(requests), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer if isinstance(answer, tuple) else (answer, ACTION, {})
        return httpx.Response(status, json=body, headers=headers)

    return handle, requests


def test_every_retry_of_a_submit_carries_the_same_idempotency_key():
    handle, requests = scripted(
        httpx.ConnectError("refused"), 502, (409, {"error": "idempotency_key_in_flight"}, {}), 201
    )
    client = Client("http://hitl.test", "t", transport=httpx.MockTransport(handle), **FAST)
    assert client.submit(**FIELDS).action_id == ACTION["id"]
    keys = {r.headers["Idempotency-Key"] for r in requests}
    assert len(requests) == 4 and len(keys) == 1
    client.submit(**FIELDS)
    assert requests[-1].headers["Idempotency-Key"] not in keys  # a new logical call, a new key


def test_after_the_last_retry_the_client_raises_hitl_unavailable():
    handle, requests = scripted(503)
    client = Client("http://hitl.test", "t", transport=httpx.MockTransport(handle), max_retries=3, **FAST)
    with pytest.raises(HitlUnavailable, match="after 4 attempts") as raised:
        client.submit(**FIELDS)
    assert (raised.value.attempts, raised.value.status, len(requests)) == (4, 503, 4)


def test_a_refusal_is_not_retried_and_names_the_field():
    body = {"error": "invalid_request", "message": "1 field did not validate: confidence.",
            "fields": {"confidence": ["Ensure this value is less than or equal to 1.0."]}}  # fmt: skip
    handle, requests = scripted((400, body, {}))
    client = Client("http://hitl.test", "t", transport=httpx.MockTransport(handle), **FAST)
    with pytest.raises(InvalidRequest) as raised:
        client.submit(**FIELDS)
    assert (raised.value.error, list(raised.value.fields), len(requests)) == ("invalid_request", ["confidence"], 1)


def test_another_conflict_is_an_answer_not_a_retry():
    handle, requests = scripted((409, {"error": "not_pending", "message": "It is approved.", "status": "approved"}, {}))
    client = Client("http://hitl.test", "t", transport=httpx.MockTransport(handle), **FAST)
    with pytest.raises(Conflict) as raised:
        client.cancel(ACTION["id"])
    assert raised.value.body["status"] == "approved"
    assert len(requests) == 2  # the cancel, then a GET to see whether an earlier attempt had cancelled it


def test_retry_after_wins_over_the_backoff_and_is_capped():
    policy = RetryPolicy(backoff_base=100, backoff_cap=100, retry_after_cap=5)
    assert policy.delay(0, httpx.Response(429, headers={"Retry-After": "2"})) == 2
    assert policy.delay(0, httpx.Response(429, headers={"Retry-After": "3600"})) == 5
    plain = RetryPolicy(backoff_base=1, backoff_cap=4)
    delays = [plain.delay(n, None) for n in range(6)]
    assert all(0.5 <= d <= 1 for d in delays[:1]) and all(2 <= d <= 4 for d in delays[2:])


def test_the_async_client_retries_the_same_way():
    handle, requests = scripted(httpx.ReadTimeout("slow"), (429, ACTION, {"Retry-After": "0"}), 201)

    async def submit():
        async with AsyncClient("http://hitl.test", "t", transport=httpx.MockTransport(handle), **FAST) as client:
            return await client.submit(**FIELDS)

    started = time.monotonic()
    assert asyncio.run(submit()).pending
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1 and len(requests) == 3
    assert json.loads(requests[0].content)["payload"] == {"to": "a@b.c"}
    assert time.monotonic() - started < 5
