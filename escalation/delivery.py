"""Sending the notifications escalation.notify recorded (notification_deliver, run by
escalation.tasks.deliver_notifications): a worker claims a row with one conditional UPDATE
(pending → sending, attempts + 1), sends with no transaction open, then marks it sent, or pending
again for a retry with backoff, or failed after the last attempt or a refusal no retry can change
(an HTTP 4xx, an SMTP 5xx, a target the SSRF guard of hitl.outbound refuses), with its audit
event. A row left `sending` by a worker that died is taken over once its claim lapses. A sent or
failed row is never sent again. HTTP goes through hitl.outbound.
"""

import json
import logging
import smtplib
from datetime import timedelta

import httpx
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import Type, audit_lock, audit_record
from hitl import outbound
from hitl.redaction import redacted
from reviews import services as review_services

from .messages import email_body, email_subject, message_of, pager_body, slack_body, toast_text, webhook_body
from .notify_models import Channel, Notification, email_addresses

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300  # well inside the Redis broker's visibility timeout

# What notification_deliver did; the task retries RETRY and BUSY.
SENT, RETRY, FAILED, BUSY, DONE = "sent", "retry", "failed", "busy", "done"


def retry_delay(retries: int) -> int:
    """Seconds before retry number `retries` + 1: HITL_NOTIFY_BACKOFF_SECONDS, doubled each time."""
    return get_exponential_backoff_interval(
        factor=settings.HITL_NOTIFY_BACKOFF_SECONDS, retries=retries, maximum=MAX_BACKOFF_SECONDS, full_jitter=False
    )


def notification_deliver(*, notification_id: int) -> str:
    """Send one notification unless it is sent, failed, or being sent by another worker.

    Returns SENT, RETRY (this attempt failed, more remain), FAILED (the last attempt failed, or
    the receiver refused it for good), BUSY (another worker holds it) or DONE (nothing to do).
    """
    notification = _claim(notification_id)
    if notification is None:
        sending = Notification.objects.filter(pk=notification_id, status=Notification.Status.SENDING).exists()
        return BUSY if sending else DONE
    error, final = None, False
    if notification.channel != Channel.INAPP:  # an in-app toast is published when marked sent
        try:
            SENDERS[notification.channel](notification, message_of(notification))
        except Exception as exc:  # any failure to send is this attempt's: recorded, retried, never left claimed
            error, final = _describe(exc), _permanent(exc)
            expected = isinstance(exc, (httpx.HTTPError, outbound.Refused, smtplib.SMTPException, OSError))
            log.warning("notification %s via %s failed: %s", notification.pk, notification.channel, error,
                        exc_info=not expected)  # fmt: skip
    return _finish(notification, error=error, final=final)


def _permanent(exc: Exception) -> bool:
    """Whether no retry can help: the SSRF guard refused the target, the receiver refused this
    request (a 4xx, except 408 Request Timeout, 425 Too Early and 429 Too Many Requests), or the
    mail server refused every recipient for good (5xx; a 4xx such as greylisting asks for a retry)."""
    if isinstance(exc, outbound.Refused):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return 400 <= status < 500 and status not in (408, 425, 429)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return False


def _claim_lease() -> timedelta:
    """Longer than any one send may take (its timeout), so a live sender never loses its claim."""
    return timedelta(seconds=settings.HITL_NOTIFY_TIMEOUT * 4 + 30)


def _claim(notification_id: int) -> Notification | None:
    """Take the row for this worker with one conditional UPDATE; None if it is not to be sent."""
    now = timezone.now()
    Status = Notification.Status
    claimed = Notification.objects.filter(
        Q(status=Status.PENDING) | Q(status=Status.SENDING, claimed_until__lt=now), pk=notification_id
    ).update(status=Status.SENDING, attempts=F("attempts") + 1, claimed_until=now + _claim_lease())
    if not claimed:
        return None
    return Notification.objects.select_related("action__action_type", "action__agent").get(pk=notification_id)


def _finish(notification: Notification, *, error: str | None, final: bool) -> str:
    """Record how the attempt the caller claimed went, with its audit event, in one transaction;
    a `final` error fails it whatever attempts are left."""
    Status = Notification.Status
    n = notification
    if error is None:
        status, outcome = Status.SENT, SENT
    elif final or n.attempts >= settings.HITL_NOTIFY_MAX_ATTEMPTS:
        status, outcome = Status.FAILED, FAILED
    else:
        status, outcome = Status.PENDING, RETRY
    now = timezone.now()
    changes = {"status": status, "claimed_until": None}
    if error is None:
        changes["sent_at"] = now
    else:
        changes["last_error"] = error
    with transaction.atomic():
        if n.action_id is not None:  # a backlog alert is about no one action
            audit_lock(n.action_id)
        # Only while the claim is still this attempt's (a lapsed claim may have been taken over).
        if not Notification.objects.filter(pk=n.pk, status=Status.SENDING, attempts=n.attempts).update(**changes):
            return DONE
        data = {
            "notification_id": n.pk,
            "event": n.event,
            "channel": n.channel,
            "target": shown_target(n),
            "attempts": n.attempts,
        }
        if status == Status.SENT:
            audit_record(event_type=Type.NOTIFICATION_SENT, action=n.action, data=data)
            if n.channel == Channel.INAPP:
                message = message_of(n)
                review_services.toast_group_on_commit(n.reviewer_group, toast_text(message), message["path"])
        elif status == Status.FAILED:
            audit_record(event_type=Type.NOTIFICATION_FAILED, action=n.action, data={**data, "error": error})
    return outcome


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}: {exc.response.text[:300]}"
    return f"{type(exc).__name__}: {exc}"[:1000]


def shown_target(notification: Notification) -> str:
    """The target as the audit log shows it: a webhook URL's path is often its secret."""
    if notification.channel == Channel.EMAIL:
        return notification.target
    if notification.channel == Channel.INAPP:
        return f"group:{notification.reviewer_group}"
    return redacted(notification.target)


# Senders: each raises on failure.


def send_email(notification: Notification, message: dict) -> None:
    send_mail(
        subject=email_subject(message),
        message=email_body(message),
        from_email=None,
        recipient_list=email_addresses(notification.target),
        connection=get_connection(timeout=settings.HITL_NOTIFY_TIMEOUT),
    )


def _post(notification: Notification, body: dict) -> None:
    """POST through the SSRF guard (hitl.outbound): a target that resolves to a private address fails for good."""
    response = outbound.post(
        notification.target,
        body=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "X-HITL-Notification": str(notification.pk),  # lets a receiver drop a repeat
        },
        timeout=settings.HITL_NOTIFY_TIMEOUT,
    )
    response.raise_for_status()


SENDERS = {
    Channel.EMAIL: send_email,
    Channel.SLACK: lambda n, message: _post(n, slack_body(message)),
    Channel.WEBHOOK: lambda n, message: _post(n, webhook_body(message)),
    Channel.PAGER: lambda n, message: _post(n, pager_body(message)),
}
