"""verify_webhook: a genuine delivery passes once; a wrong secret, an old timestamp, a replay or a
malformed header is refused; both secrets of a rotation verify."""

import hashlib
import hmac
import json
import threading
import time
import uuid

import pytest
from hitl_client import SeenDeliveries, WebhookInvalid, WebhookReplayed, canonical_json, verify_webhook

SECRET = "a" * 64
NEW_SECRET = "b" * 64


def delivery(*secrets, t=None, event_type="action.approved"):
    """A delivery as the service sends it: canonical JSON body, one v1 per secret."""
    delivery_id = str(uuid.uuid4())
    body = canonical_json({
        "id": delivery_id, "type": event_type, "created_at": "2026-12-05T23:00:00Z",
        "action": {"id": str(uuid.uuid4()), "status": "approved"},
    })  # fmt: skip
    t = int(time.time()) if t is None else t
    signatures = ",".join(f"v1={hmac.new(s.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"
                          for s in secrets)  # fmt: skip
    headers = {"Content-Type": "application/json", "Hitl-Delivery": delivery_id, "Hitl-Event": event_type,
               "Hitl-Signature": f"t={t},{signatures}"}  # fmt: skip
    return headers, body


def test_a_genuine_delivery_verifies_and_returns_its_event():
    headers, body = delivery(SECRET)
    event = verify_webhook(SECRET, {k.lower(): v for k, v in headers.items()}, body, seen=set())
    assert (event["type"], event["id"], event["action"]["status"]) == (
        "action.approved", headers["Hitl-Delivery"], "approved",
    )  # fmt: skip


def test_a_wrong_secret_or_an_altered_body_is_refused():
    headers, body = delivery(SECRET)
    with pytest.raises(WebhookInvalid, match="No signature"):
        verify_webhook(NEW_SECRET, headers, body, seen=set())
    tampered = body.replace(b'"approved"}', b'"rejected"}')
    with pytest.raises(WebhookInvalid, match="No signature"):
        verify_webhook(SECRET, headers, tampered, seen=set())


def test_a_timestamp_older_than_the_tolerance_is_refused_even_with_a_good_signature():
    headers, body = delivery(SECRET, t=int(time.time()) - 301)
    with pytest.raises(WebhookInvalid, match="timestamp"):
        verify_webhook(SECRET, headers, body, seen=set())
    headers, body = delivery(SECRET, t=int(time.time()) - 290)
    assert verify_webhook(SECRET, headers, body, seen=set())["type"] == "action.approved"


def test_a_replayed_delivery_id_is_refused_the_second_time():
    seen = SeenDeliveries(size=10)
    headers, body = delivery(SECRET)
    verify_webhook(SECRET, headers, body, seen=seen)
    with pytest.raises(WebhookReplayed):
        verify_webhook(SECRET, headers, body, seen=seen)
    seen.discard(headers["Hitl-Delivery"])  # the receiver failed to handle it and wants the retry
    assert verify_webhook(SECRET, headers, body, seen=seen)["id"] == headers["Hitl-Delivery"]


def test_without_a_store_replays_are_caught_by_the_process_wide_one():
    headers, body = delivery(SECRET)
    verify_webhook(SECRET, headers, body)
    with pytest.raises(WebhookReplayed):
        verify_webhook(SECRET, headers, body)


def test_during_a_rotation_either_secret_verifies_the_doubly_signed_delivery():
    headers, body = delivery(NEW_SECRET, SECRET)
    assert headers["Hitl-Signature"].count("v1=") == 2
    assert verify_webhook(SECRET, headers, body, seen=set())  # a receiver not yet rotated
    assert verify_webhook(NEW_SECRET, headers, body, seen=set())  # a receiver already rotated
    headers, body = delivery(NEW_SECRET)  # after the grace period: the new secret only
    assert verify_webhook([NEW_SECRET, SECRET], headers, body, seen=set())  # a receiver holding both


@pytest.mark.parametrize(
    "signature",
    [None, "", "v1=abc", "t=abc,v1=abc", "t=1", "garbage", "t=1,t=2,v1=abc"],
)
def test_a_missing_or_malformed_signature_header_is_refused(signature):
    headers, body = delivery(SECRET)
    headers.pop("Hitl-Signature")
    if signature is not None:
        headers["Hitl-Signature"] = signature
    with pytest.raises(WebhookInvalid):
        verify_webhook(SECRET, headers, body, seen=set())


def test_a_delivery_header_that_disagrees_with_the_body_is_refused():
    headers, body = delivery(SECRET)
    headers["Hitl-Delivery"] = str(uuid.uuid4())
    with pytest.raises(WebhookInvalid, match="Hitl-Delivery"):
        verify_webhook(SECRET, headers, body, seen=set())
    assert json.loads(body)["id"] != headers["Hitl-Delivery"]


def race(seen, headers, body) -> list:
    """Two threads verify the same delivery at the same moment: what each got."""
    start, results = threading.Barrier(2), []

    def receive():
        start.wait()
        try:
            results.append(verify_webhook(SECRET, headers, body, seen=seen)["id"])
        except WebhookReplayed:
            results.append("replayed")

    threads = [threading.Thread(target=receive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("make_store", [SeenDeliveries, set])
def test_two_threads_verifying_the_same_delivery_at_once_let_exactly_one_through(make_store):
    for _ in range(50):
        headers, body = delivery(SECRET)
        assert sorted(race(make_store(), headers, body)) == sorted([headers["Hitl-Delivery"], "replayed"])
