"""Who hears of an SLA event, and the record of every notification sent (see escalation.notify)."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models

from hitl.outbound import check_url

__all__ = ["Event", "Channel", "NotificationRoute", "Notification", "email_addresses"]


class Event(models.TextChoices):
    NEW_ITEM = "new_item", "new item"
    WARNING = "warning", "SLA warning"
    ESCALATION = "escalation", "escalation"
    BREACH = "breach", "SLA breach"
    BACKLOG = "backlog", "backlog over its bound"  # of the whole queue, not one action (escalation.backlog)


class Channel(models.TextChoices):
    EMAIL = "email", "email"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "generic webhook"
    INAPP = "inapp", "in-app toast"
    PAGER = "pager", "pager (HITL_PAGER_URL)"  # not routable: set by the tier policy's page flag


ROUTABLE = [(c.value, c.label) for c in Channel if c != Channel.PAGER]


def email_addresses(target: str) -> list[str]:
    return [a for a in re.split(r"[,\s]+", target) if a]


class NotificationRoute(models.Model):
    """One channel a reviewer group's SLA event fires, e.g. team · breach → Slack."""

    reviewer_group = models.SlugField(
        max_length=64, help_text="The group the action waits for (after an escalation: the new one)."
    )
    event = models.CharField(max_length=16, choices=Event.choices)
    channel = models.CharField(max_length=16, choices=ROUTABLE)
    target = models.CharField(
        max_length=2000,
        blank=True,
        help_text="Email: addresses, comma-separated. Slack, webhook: the URL. In-app: empty (the group's reviewers).",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["reviewer_group", "event", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["reviewer_group", "event", "channel", "target"], name="notify_route_once")
        ]

    def __str__(self):
        return f"{self.reviewer_group} · {self.get_event_display()} → {self.get_channel_display()}"

    def secret_fields(self) -> tuple[str, ...]:
        """A Slack or webhook URL is a credential (hitl.redaction): the audit log keeps its host."""
        return ("target",) if self.channel in (Channel.SLACK, Channel.WEBHOOK) else ()

    def clean(self):
        self.target = self.target.strip()
        problem = None
        if self.channel == Channel.EMAIL:
            addresses = email_addresses(self.target)
            bad = []
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    bad.append(address)
            if not addresses:
                problem = "Give at least one email address."
            elif bad:
                problem = f"Not an email address: {', '.join(bad)}."
            else:
                self.target = ", ".join(addresses)
        elif self.channel == Channel.SLACK:
            schemes = ["https", "http"] if settings.DEBUG else ["https"]
            if not _is_url(self.target, schemes):
                problem = "A Slack webhook URL must be an https:// URL (http is allowed only with DEBUG on)."
        elif self.channel == Channel.WEBHOOK:
            if not _is_url(self.target, ["https", "http"]):
                problem = "A webhook URL must be an http:// or https:// URL."
        elif self.channel == Channel.INAPP and self.target:
            problem = "In-app toasts go to the group's reviewers: leave the target empty."
        if problem is None and self.channel in (Channel.SLACK, Channel.WEBHOOK):
            problem = check_url(self.target)  # refused now, not at the first SLA event (hitl.outbound)
        if problem:
            raise ValidationError({"target": problem})


def _is_url(value: str, schemes: list[str]) -> bool:
    try:
        URLValidator(schemes=schemes)(value)
    except ValidationError:
        return False
    return True


class Notification(models.Model):
    """One notification of one SLA event on one channel: recorded with the event, sent after commit.

    The unique key is the event itself (the action, what happened, at which step and stage), so a
    sweep that runs twice records it once; delivery sends a pending row once (escalation.notify).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"  # claimed by a worker until claimed_until
        SENT = "sent"
        FAILED = "failed"

    action = models.ForeignKey(
        "hitl.Action",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
        db_index=False,
        help_text="Empty for a backlog alert, which is about the whole queue.",
    )
    event = models.CharField(max_length=16, choices=Event.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=2000, blank=True)
    escalation_step = models.PositiveSmallIntegerField(help_text="The action's step when the event happened.")
    sla_stage = models.PositiveSmallIntegerField(help_text="The action's stage then: tells its warnings apart.")
    # What the message says: the action as the event left it.
    tier = models.CharField(max_length=8)
    reviewer_group = models.SlugField(max_length=64)
    due_at = models.DateTimeField(null=True)
    text = models.CharField(max_length=300, blank=True, help_text="What a backlog alert says; empty otherwise.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="While sending: when another worker may take over."
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "event", "channel", "target", "escalation_step", "sla_stage"],
                name="notification_once_per_event",
            )
        ]
        indexes = [  # escalation.notify.stranded_ids
            models.Index(
                fields=["created_at"], condition=models.Q(status__in=["pending", "sending"]), name="notification_open"
            )
        ]

    def __str__(self):
        return f"{self.get_event_display()} → {self.get_channel_display()} ({self.status})"
