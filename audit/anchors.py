"""Signed anchors over the audit log, and retention that prunes whole anchored segments.

Every HITL_AUDIT_ANCHOR_SECONDS a beat task anchors the events written since the last anchor: the
count and the digest (sha256) of their hashes in id order, signed with HMAC under HITL_AUDIT_KEY
together with the previous anchor's signature. The key lives in the settings, not the database,
so someone who can rewrite the table (and re-hash a chain after an edit) cannot sign anchors. To
rotate it, put the old key first in HITL_AUDIT_KEY_FALLBACKS: anchors it signed still verify, new
ones are signed with the new key, and once one is, an anchor after it signed with an older key is
refused, so a retired key that leaked cannot re-sign the newest segments.

An anchor must cover exactly the events that will ever have an id in its range: it first takes a
SHARE lock on the table for an instant, which waits for every transaction that is inserting
events to end; after that, every event with an id at or below the highest one is committed and
no new one can get a lower id. Writers wait for that instant only (bounded by lock_timeout).
"""

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from . import chain
from .models import AuditAnchor
from .services import Type, audit_record

ANCHOR_LOCK = (chain.LOCK_NAMESPACE, 1)  # one anchorer at a time (0 is the global chain's)


def anchor_signature(
    *, previous: str, last_event_id: int, event_count: int, digest: str, key: str | None = None
) -> str:
    """The signature of an anchor's fields, under `key` (default HITL_AUDIT_KEY)."""
    message = f"{previous}|{last_event_id}|{event_count}|{digest}".encode()
    return hmac.new(_derived(settings.HITL_AUDIT_KEY if key is None else key), message, hashlib.sha256).hexdigest()


def audit_keys() -> list[str]:
    """HITL_AUDIT_KEY, then the keys it replaced (HITL_AUDIT_KEY_FALLBACKS), newest first."""
    return [settings.HITL_AUDIT_KEY, *settings.HITL_AUDIT_KEY_FALLBACKS]


def anchor_signer(anchor: AuditAnchor, *, previous: str, keys: list[str]) -> int | None:
    """The index in `keys` of the key that signed `anchor` (which follows the anchor signed
    `previous`), or None when none of them did."""
    fields = {"last_event_id": anchor.last_event_id, "event_count": anchor.event_count, "digest": anchor.digest}
    for index, key in enumerate(keys):
        if hmac.compare_digest(anchor_signature(previous=previous, key=key, **fields), anchor.signature):
            return index
    return None


def _derived(key: str) -> bytes:
    # The label anchors have always been signed under (from when this module was hitl.audit_anchor).
    return hashlib.sha256(b"hitl.audit_anchor:" + key.encode()).digest()


def segment_digest(after_id: int, through_id: int) -> tuple[int, str, int | None]:
    """(count, sha256 of their hashes in id order, first id) of the events with ids in
    (after_id, through_id], read through a server-side cursor. Caller holds a transaction."""
    digest, count, first = hashlib.sha256(), 0, None
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT id, hash FROM {chain.TABLE} WHERE id > %s AND id <= %s ORDER BY id", [after_id, through_id]
        )
        while rows := cursor.fetchmany(5000):
            first = rows[0][0] if first is None else first
            for _, event_hash in rows:
                digest.update(event_hash.encode() + b"\n")
            count += len(rows)
    return count, digest.hexdigest(), first


def audit_anchor() -> AuditAnchor | None:
    """Anchor the events written since the last anchor; None when there are none (or the table
    could not be locked in time: the next run anchors them)."""
    if not chain.installed():
        return None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '2s'")
        try:
            with transaction.atomic():
                cursor.execute(f"LOCK TABLE {chain.TABLE} IN SHARE MODE")
        except OperationalError:  # a writer held it past lock_timeout: the next run anchors
            return None
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {chain.TABLE}")
        (through,) = cursor.fetchone()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", ANCHOR_LOCK)
        last = AuditAnchor.objects.order_by("-id").first()
        after = last.last_event_id if last else 0
        if through <= after:
            return None
        count, digest, _ = segment_digest(after, through)
        previous = last.signature if last else ""
        return AuditAnchor.objects.create(
            last_event_id=through,
            event_count=count,
            digest=digest,
            signature=anchor_signature(previous=previous, last_event_id=through, event_count=count, digest=digest),
        )


def audit_prune(*, now: datetime | None = None) -> int:
    """Delete the events of whole anchored segments older than HITL_AUDIT_RETENTION_DAYS, oldest
    first, each with an `audit_pruned` event saying what went; return how many events went. The
    anchors stay, marked pruned, so the chain of signatures can still be checked."""
    days = settings.HITL_AUDIT_RETENTION_DAYS
    if not days or not chain.installed():
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    pruned = 0
    for anchor in AuditAnchor.objects.filter(pruned_at__isnull=True, created_at__lt=cutoff).order_by("id"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", ANCHOR_LOCK)
            cursor.execute("SELECT set_config('hitl.audit_prune_through', %s, true)", [str(anchor.last_event_id)])
            cursor.execute(f"DELETE FROM {chain.TABLE} WHERE id <= %s", [anchor.last_event_id])
            deleted = cursor.rowcount
            cursor.execute("SELECT set_config('hitl.audit_prune_through', '', true)")
            AuditAnchor.objects.filter(pk=anchor.pk).update(pruned_at=timezone.now())
            audit_record(
                event_type=Type.AUDIT_PRUNED,
                data={
                    "anchor": anchor.pk,
                    "through_event": anchor.last_event_id,
                    "events": deleted,
                    "retention_days": days,
                },
            )
        pruned += deleted
    return pruned
