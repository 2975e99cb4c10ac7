"""The delivery log: one row per webhook an action's event calls for (see callbacks.services)."""

import uuid

from django.db import models

from hitl.models import Action


class WebhookDelivery(models.Model):
    """One event sent to an action's callback_url: its id (Hitl-Delivery) and body stay the same on
    every attempt; the row says how the attempts went and when the next one is due."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
        SENDING = "sending"  # a worker holds it until next_attempt_at
        DELIVERED = "delivered"
        FAILED = "failed"  # out of attempts, refused for good (a 4xx), or its URL is refused

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=40)
    url = models.URLField(max_length=2000)
    body = models.TextField(help_text="The canonical JSON sent, the same on every attempt.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Pending: when the next attempt is due. Sending: when the claim of the worker sending it lapses.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's last answer.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["action", "created_at"], name="webhook_of_action"),
            # The beat sweep's question: which open rows are due (few at any time).
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_open_due",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self):
        return f"{self.event} → {self.url} ({self.status})"
