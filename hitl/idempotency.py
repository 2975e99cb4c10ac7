"""Idempotency-Key handling for submits: replay the first response, refuse reuse and races.

claim → (work in a transaction that calls complete) | release on failure. A key whose work
crashed stays "in flight" until HITL_IDEMPOTENCY_STALE_AFTER, then a retry may take it over.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .errors import Conflict, Invalid, Unprocessable
from .models import Action, Agent, IdempotencyKey

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_hash(body) -> str:
    """Hash of the parsed body, so whitespace and key order do not make two requests differ."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Claim:
    key: IdempotencyKey | None = None
    replay: dict | None = None


def key_claim(*, agent: Agent, key: str, body_hash: str) -> Claim:
    """Reserve `key` for this request, or return the response to replay. Raises on reuse or a race."""
    if not _KEY.match(key):
        raise Invalid(
            "The Idempotency-Key header is not valid.",
            fields={"Idempotency-Key": ["Use 1 to 255 printable ASCII characters without spaces."]},
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            return Claim(
                key=IdempotencyKey.objects.create(agent=agent, key=key, request_hash=body_hash, created_at=now)
            )
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.filter(agent=agent, key=key).first()
    if existing is None:  # the first request failed and released the key a moment ago
        raise Conflict("A request with this Idempotency-Key just failed; retry.", code="idempotency_key_in_flight")
    if existing.request_hash != body_hash:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
            fields={"Idempotency-Key": ["Already used with another body; use a new key for a new action."]},
        )
    if existing.response is not None:
        return Claim(replay=existing.response)
    stale = now - settings.HITL_IDEMPOTENCY_STALE_AFTER
    if IdempotencyKey.objects.filter(pk=existing.pk, response__isnull=True, created_at__lt=stale).update(
        created_at=now
    ):
        existing.created_at = now
        return Claim(key=existing)
    raise Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.", code="idempotency_key_in_flight"
    )


def key_complete(*, key: IdempotencyKey, action: Action, response: dict) -> None:
    """Record the first response. Caller holds the transaction that created `action`."""
    IdempotencyKey.objects.filter(pk=key.pk).update(action=action, response=response)


def key_release(*, key: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=key.pk, response__isnull=True).delete()


def keys_purge() -> int:
    """Delete keys older than HITL_IDEMPOTENCY_TTL (at least 24 h). Returns how many went."""
    cutoff = timezone.now() - settings.HITL_IDEMPOTENCY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
