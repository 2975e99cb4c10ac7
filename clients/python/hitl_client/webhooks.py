"""Verify the service's webhooks: signature, freshness and replay.

Each delivery is a POST whose body is the canonical JSON of
{"id": <delivery id>, "type": <event>, "created_at": ..., "action": <the action as GET returns it>},
signed in `Hitl-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`; during a
secret's rotation a second `v1=` signed with the previous secret follows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .errors import WebhookInvalid

SIGNATURE_HEADER = "hitl-signature"
DELIVERY_HEADER = "hitl-delivery"


class WebhookReplayed(WebhookInvalid):
    """A delivery id seen before: a replay, or the service's retry of a delivery you already took.
    Answer 2xx so the service stops retrying, and do not act on it again."""


class SeenStore(Protocol):
    """Where verify_webhook remembers delivery ids. `add` records an id atomically and says whether
    it was new (True) or seen before (False), as Redis's SADD or SET NX does for a shared store.
    A plain set also works (verify_webhook adds to it under a lock of its own)."""

    def add(self, delivery_id: str) -> bool | None: ...


class SeenDeliveries:
    """The default store: the last `size` delivery ids of this process, thread-safe."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, delivery_id: object) -> bool:
        with self._lock:
            return delivery_id in self._ids

    def add(self, delivery_id: str) -> bool:
        """Record `delivery_id`; True if it is new, False if it was seen before."""
        with self._lock:
            if delivery_id in self._ids:
                return False
            self._ids[delivery_id] = None
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)
            return True

    def discard(self, delivery_id: str) -> None:
        """Forget an id, so that the service's retry of a delivery you failed to handle is accepted."""
        with self._lock:
            self._ids.pop(delivery_id, None)


_SEEN = SeenDeliveries()
_SET_LOCK = threading.Lock()


def first_seen(store: SeenStore, delivery_id: str) -> bool:
    """Record `delivery_id` in `store` at once; True only if nobody recorded it before."""
    if isinstance(store, set):
        with _SET_LOCK:
            if delivery_id in store:
                return False
            store.add(delivery_id)
            return True
    return store.add(delivery_id) is True


def verify_webhook(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = 300,
    seen: SeenStore | None = None,
) -> dict[str, Any]:
    """Return the event of a genuine, fresh, first-seen delivery; raise WebhookInvalid otherwise.

    `secret` is the agent's webhook secret, or a list of them while you rotate. `headers` is any
    mapping of the request's headers; `body` the raw bytes as received. `seen` remembers delivery
    ids (default: SeenDeliveries for this process); the id is recorded, atomically, only once the
    delivery verifies, so of two concurrent copies exactly one passes. If handling the event then
    fails, `seen.discard(id)` so that the service's retry is processed.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise ValueError("secret must be a non-empty string or a list of them.")
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp, signatures = _parse_signature(lowered.get(SIGNATURE_HEADER))
    if abs(time.time() - timestamp) > tolerance:
        raise WebhookInvalid(f"The webhook's timestamp is more than {tolerance} s away from now.")
    signed = f"{timestamp}.".encode() + body
    expected = [hmac.new(s.encode("utf-8"), signed, hashlib.sha256).hexdigest() for s in secrets]
    if not any(hmac.compare_digest(want, got) for want in expected for got in signatures):
        raise WebhookInvalid("No signature of the webhook matches the secret.")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise WebhookInvalid("The webhook's body is not JSON.") from exc
    if not isinstance(event, dict):
        raise WebhookInvalid("The webhook's body is not a JSON object.")
    delivery_id = event.get("id")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise WebhookInvalid("The webhook's body has no delivery id.")
    if lowered.get(DELIVERY_HEADER, delivery_id) != delivery_id:
        raise WebhookInvalid("The Hitl-Delivery header does not match the body's id.")
    store = _SEEN if seen is None else seen
    if not first_seen(store, delivery_id):
        raise WebhookReplayed(f"Delivery {delivery_id} was seen before.")
    return event


def _parse_signature(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise WebhookInvalid("The Hitl-Signature header is missing.")
    timestamp, signatures = None, []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookInvalid("The Hitl-Signature header is malformed.")
        if name == "t":
            if not value.isdigit() or timestamp is not None:
                raise WebhookInvalid("The Hitl-Signature header's timestamp is malformed.")
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookInvalid("The Hitl-Signature header needs t= and at least one v1=.")
    return timestamp, signatures
