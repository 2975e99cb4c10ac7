from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models

from hitl.states import Tier


class TierPolicy(models.Model):
    """One tier's SLA, approver group, warning points and what a breach does.

    Copied onto each action when it is routed (the whole chain from its tier on), so a later edit
    does not rewrite the rules for actions already waiting.
    """

    class OnBreach(models.TextChoices):
        ESCALATE = "escalate", "escalate to the next tier"
        EXPIRE = "expire", "expire (auto-reject, the agent is told why)"

    tier = models.CharField(max_length=8, choices=Tier.choices, unique=True)
    sla = models.DurationField(help_text="Time a reviewer has to decide, e.g. 04:00:00 for 4 hours.")
    approver_group = models.SlugField(max_length=64, help_text="The reviewer group that decides this tier.")
    warn_at = models.CharField(
        max_length=100, default="50,75,90", blank=True, help_text="Warnings at these percentages of the SLA."
    )
    on_breach = models.CharField(max_length=16, choices=OnBreach.choices, default=OnBreach.ESCALATE)
    escalate_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="When escalating."
    )
    page = models.BooleanField(default=False, help_text="Page the on-call pager on a breach of this tier.")

    class Meta:
        ordering = ["tier"]
        verbose_name, verbose_name_plural = "tier policy", "tier policies"

    def __str__(self):
        return f"{self.tier}: {self.sla} → {self.escalate_to.tier if self.escalate_to else self.on_breach}"

    def warning_fractions(self) -> list[float]:
        return sorted(float(p) / 100 for p in self.warn_at.replace(" ", "").split(",") if p)

    def clean(self):
        errors = {}
        if self.sla is not None and self.sla <= timedelta(0):
            errors["sla"] = "An SLA must be longer than zero."
        try:
            fractions = self.warning_fractions()
        except ValueError:
            fractions = None
            errors["warn_at"] = "Comma-separated percentages, e.g. 50,75,90."
        if fractions and not all(0 < f < 1 for f in fractions):
            errors["warn_at"] = "Each warning must fall inside the SLA: between 0 and 100 (exclusive)."
        if self.on_breach == self.OnBreach.ESCALATE:
            if self.escalate_to_id is None:
                errors["escalate_to"] = "Choose the tier to escalate to, or expire on breach."
            elif self._cycles():
                errors["escalate_to"] = "This makes the escalation chain a cycle."
        if errors:
            raise ValidationError(errors)

    def _cycles(self) -> bool:
        seen, step = {self.pk}, self.escalate_to
        while step is not None:
            if step.pk in seen:
                return True
            seen.add(step.pk)
            step = step.escalate_to if step.on_breach == self.OnBreach.ESCALATE else None
        return False


class BacklogBound(models.Model):
    """The bounds of the waiting queue a lead wants to hear about (one row, made by a migration):
    when the pending items or the oldest one's age pass one, the groups with a `backlog`
    notification route are told once, and again only after the queue was back within bounds."""

    max_pending = models.PositiveIntegerField(
        null=True, blank=True, default=200, help_text="Items waiting for a human; empty for no bound."
    )
    max_oldest_age = models.DurationField(
        null=True,
        blank=True,
        default=timedelta(hours=2),
        help_text="Age of the oldest waiting item, e.g. 02:00:00; empty for no bound.",
    )
    over_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set while the queue is past a bound: when it passed."
    )

    class Meta:
        verbose_name = verbose_name_plural = "backlog bounds"

    def __str__(self):
        pending = self.max_pending if self.max_pending is not None else "no bound"
        age = self.max_oldest_age if self.max_oldest_age is not None else "no bound"
        return f"at most {pending} waiting, oldest at most {age}"


from .notify_models import Notification, NotificationRoute  # noqa: E402, F401  (registers them)
