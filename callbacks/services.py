"""Signed webhooks to an action's callback_url: recorded when the core announces an event the
agent is told of (hitl.events: a decision, an expiry, an escalation, a compensation request),
sent by callbacks.tasks, retried with backoff.

Recording happens on commit, not in the event's transaction (an outbox): the core announces after
commit and imports no feature app, so nothing of this app runs inside a reviewer's decision or a
sweep batch. The receiver records with one INSERT … SELECT (a sweep's batch of a thousand
escalations costs one statement and one published task) and queues the first attempts. The price
is a window of a few milliseconds after the event's commit in which a process that dies loses that
webhook; the agent still learns the decision by the long-poll it keeps anyway (GET ?wait=), the
source of truth. Once the row exists, delivery is at least once: a lost task is queued again by
beat's sweep. The body is rendered by the first attempt, moments after the event (the action as
`GET /api/v1/actions/{id}` shows it then; its `created_at` is the event's), and stored: every
attempt sends the same id and body, signed anew (Hitl-Signature: t=<unix>,v1=<hex> with the
agent's secret, and a second v1 with the previous one during a rotation's grace period).

Sending (webhook_deliver): a worker claims one attempt with a conditional UPDATE (the attempt
number must be the next one: a duplicate task finds it taken), sends with no transaction open,
then records the answer: delivered on a 2xx; failed for good on a 4xx other than 408/425/429, a
URL the SSRF guard refuses (hitl.outbound), or the last attempt; otherwise due again after
HITL_WEBHOOK_BACKOFF_SECONDS × 2^(attempt - 1), capped. The retry's time lives in the row, and
beat's sweep (webhooks_requeue_due) queues the attempts due: no long countdown sits in the broker.
"""

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta

import httpx
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hitl import outbound
from hitl.api.serializers import ActionOut
from hitl.models import Action, Agent
from hitl.payloads import canonical_json
from hitl.redaction import redacted

from .models import WebhookDelivery

log = logging.getLogger(__name__)

DELIVER_TASK = "callbacks.tasks.deliver_webhooks"
TASK_CHUNK = 20  # deliveries per task: a slow receiver holds up a few, not a whole sweep batch
DUE_BATCH = 500
RETRYABLE_4XX = (408, 425, 429)

# What webhook_deliver did.
DELIVERED, RETRY, FAILED, DONE = "delivered", "retry", "failed", "done"


def on_action_event(sender, *, action_id, event: str, **kwargs) -> None:
    webhooks_record(action_ids=[action_id], event=event)


def on_action_events(sender, *, action_ids, event: str, **kwargs) -> None:
    webhooks_record(action_ids=action_ids, event=event)


def webhooks_record(*, action_ids, event: str) -> list:
    """Record one delivery of `event` for each of these actions that has a callback_url, with one
    INSERT … SELECT, and queue their first attempts (one task, which fans out). Returns their ids."""
    with connection.cursor() as cursor:
        now = timezone.now()
        cursor.execute(RECORD_SQL, {"ids": list(action_ids), "event": event, "now": now, "due": now + _claim_lease()})
        ids = [str(pk) for (pk,) in cursor.fetchall()]
    if ids:
        # robust: a broker that is down loses no row; beat's sweep queues it once `due` passes.
        transaction.on_commit(lambda: _enqueue([(pk, 1) for pk in ids]), robust=True)
    return ids


RECORD_SQL = f"""
INSERT INTO {WebhookDelivery._meta.db_table}
    (id, action_id, event, url, body, status, attempts, next_attempt_at, last_error, created_at)
SELECT gen_random_uuid(), a.id, %(event)s, a.callback_url, '', 'pending', 0, %(due)s, '', %(now)s
FROM {Action._meta.db_table} a
WHERE a.id = ANY(%(ids)s) AND a.callback_url <> ''
RETURNING id
"""


def _body(delivery: WebhookDelivery) -> str:
    """What every attempt of the delivery sends: its id, event and time, and the action as
    `GET /api/v1/actions/{id}` shows it now (rendered at the first attempt, moments after the event)."""
    action = Action.objects.select_related("action_type", "agent", "decided_by").get(pk=delivery.action_id)
    return canonical_json(
        {
            "id": str(delivery.pk),
            "type": delivery.event,
            "created_at": _iso(delivery.created_at),
            "action": ActionOut().to_representation(action),
        }
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _enqueue(attempts: list[tuple[str, int]]) -> None:
    """Queue callbacks.tasks.deliver_webhooks by its name (the tasks module imports this one): one
    message, however many attempts, so that a sweep batch of a thousand escalations publishes one."""
    current_app.send_task(DELIVER_TASK, args=[attempts])


def webhooks_fan_out(attempts: list) -> list:
    """Queue all but the first TASK_CHUNK `attempts` as tasks of TASK_CHUNK each; return the first."""
    for start in range(TASK_CHUNK, len(attempts), TASK_CHUNK):
        _enqueue(attempts[start : start + TASK_CHUNK])
    return attempts[:TASK_CHUNK]


def retry_delay(attempt: int) -> timedelta:
    """How long after failed attempt number `attempt` (1, 2, …) the next one is due."""
    seconds = settings.HITL_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)
    return timedelta(seconds=min(seconds, settings.HITL_WEBHOOK_BACKOFF_MAX_SECONDS))


def _claim_lease() -> timedelta:
    """Longer than any one attempt may take, so a live sender never loses its claim."""
    return timedelta(seconds=settings.HITL_OUTBOUND_TIMEOUT * 2 + 30)


def webhook_deliver(*, delivery_id, attempt: int) -> str:
    """Make attempt number `attempt` of the delivery unless it is no longer that attempt's turn
    (sent, failed, or taken by another worker): DELIVERED, RETRY (failed, due again later), FAILED
    (for good) or DONE (nothing to do)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, attempts=attempt - 1
    ).update(status=WebhookDelivery.Status.SENDING, attempts=attempt, next_attempt_at=now + _claim_lease())
    if not claimed:
        return DONE
    delivery = WebhookDelivery.objects.select_related("action__agent").get(pk=delivery_id)
    if not delivery.body:  # the first attempt: only this claim's holder writes it
        delivery.body = _body(delivery)
        WebhookDelivery.objects.filter(pk=delivery.pk, body="").update(body=delivery.body)
    body = delivery.body.encode()
    code, error, final = None, "", False
    try:
        answer = outbound.post(delivery.url, body=body, headers=webhook_headers(delivery, body, timezone.now()))
    except outbound.Refused as refused:
        error, final = f"Refused: {refused}", True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    else:
        code = answer.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}: {answer.text[:300]}"
            final = 400 <= code < 500 and code not in RETRYABLE_4XX
    if error:
        log.warning("webhook %s (attempt %s) to %s failed: %s", delivery.pk, attempt, redacted(delivery.url), error)
    return _finish(delivery, code=code, error=error, final=final)


def _finish(delivery: WebhookDelivery, *, code: int | None, error: str, final: bool) -> str:
    """Record how the attempt the caller claimed went (only while the claim is still its own)."""
    Status = WebhookDelivery.Status
    now = timezone.now()
    changes = {"last_status_code": code, "last_error": error}
    if not error:
        outcome, changes = (
            DELIVERED,
            {**changes, "status": Status.DELIVERED, "delivered_at": now, "next_attempt_at": None},
        )
    elif final or delivery.attempts >= settings.HITL_WEBHOOK_MAX_ATTEMPTS:
        outcome, changes = FAILED, {**changes, "status": Status.FAILED, "next_attempt_at": None}
    else:
        outcome = RETRY
        changes = {**changes, "status": Status.PENDING, "next_attempt_at": now + retry_delay(delivery.attempts)}
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.SENDING, attempts=delivery.attempts).update(
        **changes
    )
    return outcome if updated else DONE


def webhook_headers(delivery: WebhookDelivery, body: bytes, now: datetime) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "hitl-webhooks/1",
        "Hitl-Delivery": str(delivery.pk),
        "Hitl-Event": delivery.event,
        "Hitl-Signature": signature(delivery.action.agent, body, now),
    }


def signature(agent: Agent, body: bytes, now: datetime) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>` with the agent's secret, then a second v1 with
    the previous secret while its rotation's grace period lasts."""
    t = int(now.timestamp())
    secrets = [agent.webhook_secret]
    if (
        agent.webhook_secret_previous
        and agent.webhook_secret_previous_until
        and agent.webhook_secret_previous_until > now
    ):
        secrets.append(agent.webhook_secret_previous)
    signed = f"{t}.".encode() + body
    return ",".join([f"t={t}", *(f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets)])


def webhooks_requeue_due(*, now: datetime | None = None, batch: int = DUE_BATCH) -> int:
    """Queue the next attempt of the deliveries due at `now`: a retry whose backoff ran out, or an
    attempt whose worker died (its claim lapsed; the last one then fails). Each row is pushed a
    claim's length ahead first, so the next sweep queues it again only if this task is lost.
    Beat runs this every HITL_WEBHOOK_SWEEP_SECONDS."""
    now = now or timezone.now()
    Status = WebhookDelivery.Status
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=[Status.PENDING, Status.SENDING], next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", "status", "attempts")[:batch]
        )
        last = settings.HITL_WEBHOOK_MAX_ATTEMPTS
        lapsed_last = {pk for pk, status, attempts in due if status == Status.SENDING and attempts >= last}
        WebhookDelivery.objects.filter(pk__in=lapsed_last).update(
            status=Status.FAILED,
            next_attempt_at=None,
            last_error="The last attempt did not finish (its worker stopped).",
        )
        again = [(str(pk), attempts + 1) for pk, _, attempts in due if pk not in lapsed_last]
        WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in again]).update(
            status=Status.PENDING, next_attempt_at=now + _claim_lease()
        )
        if again:
            transaction.on_commit(lambda: _enqueue(again), robust=True)
    return len(again)
