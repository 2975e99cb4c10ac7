"""Idempotency-Key handling for submits: replay the first response, refuse reuse and races.

The view prepares the action (its id and the response it will give are known before any
write), claims the key with that response in one autocommitted INSERT, then creates the action.
While the key's action does not exist yet the key is in flight: a duplicate gets 409. Once it
exists, a retry with the same body gets the stored response (200); another body gets 422. A
failed request releases its key; a key left behind by a crash is taken over after
HITL_IDEMPOTENCY_STALE_AFTER.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .errors import Conflict, Invalid, Unprocessable
from .models import Action, Agent, IdempotencyKey

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # 1 to 255 printable ASCII characters, no spaces
_KEY = re.compile(KEY_PATTERN)


def request_hash(body) -> str:
    """Hash of the parsed body, so whitespace and key order do not make two requests differ."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def key_check(key: str) -> None:
    if not _KEY.match(key):
        raise Invalid(
            "The Idempotency-Key header is not valid.",
            fields={"Idempotency-Key": ["Use 1 to 255 printable ASCII characters without spaces."]},
        )


@dataclass
class Claim:
    key: IdempotencyKey | None = None
    replay: dict | None = None


def key_claim(*, agent: Agent, key: str, body_hash: str, action_id, response: dict) -> Claim:
    """Reserve `key` for the action about to be created, or return the response to replay.

    Raises Unprocessable when the key was used with another body, Conflict while it is in flight.
    """
    key_check(key)
    now = timezone.now()
    claimed = _insert_if_absent(
        agent_id=agent.pk, key=key, body_hash=body_hash, action_id=action_id, response=response, now=now
    )
    if claimed is not None:
        return Claim(key=claimed)
    existing = IdempotencyKey.objects.filter(agent=agent, key=key).first()
    if existing is None:  # the first request failed and released the key a moment ago
        raise Conflict("A request with this Idempotency-Key just failed; retry.", code="idempotency_key_in_flight")
    if existing.request_hash != body_hash:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
            fields={"Idempotency-Key": ["Already used with another body; use a new key for a new action."]},
        )
    if Action.objects.filter(pk=existing.action_id).exists():
        return Claim(replay=existing.response)
    stale = now - settings.HITL_IDEMPOTENCY_STALE_AFTER
    taken_over = IdempotencyKey.objects.filter(pk=existing.pk, action_id=existing.action_id, created_at__lt=stale)
    if taken_over.update(created_at=now, action_id=action_id, response=response):
        return Claim(key=existing)
    raise Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.", code="idempotency_key_in_flight"
    )


def _insert_if_absent(*, agent_id, key, body_hash, action_id, response, now) -> IdempotencyKey | None:
    """One autocommitted INSERT … ON CONFLICT DO NOTHING: the key row, or None if the key exists.

    Raw SQL because the ORM can neither tell whether an ignored-conflict insert happened nor
    insert outside a transaction (which would add BEGIN and COMMIT round trips to every submit).
    """
    meta = IdempotencyKey._meta
    values = {
        "agent": agent_id,
        "key": key,
        "request_hash": body_hash,
        "action_id": action_id,
        "response": response,
        "created_at": now,
    }
    fields = [meta.get_field(name) for name in values]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({placeholders}) "
            "ON CONFLICT (agent_id, key) DO NOTHING RETURNING id",
            params,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return IdempotencyKey(pk=row[0], agent_id=agent_id, key=key, request_hash=body_hash, created_at=now)


def key_release(*, key: IdempotencyKey) -> None:
    """Forget a key whose request failed, so that a retry may use it."""
    IdempotencyKey.objects.filter(pk=key.pk).delete()


def keys_purge() -> int:
    """Delete keys older than HITL_IDEMPOTENCY_TTL (at least 24 h). Returns how many went."""
    cutoff = timezone.now() - settings.HITL_IDEMPOTENCY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
