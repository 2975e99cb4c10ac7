from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


class ReviewerGroup(models.Model):
    """A set of reviewers: a tier group (team, lead, executive) or an expertise group (legal, finance…)."""

    class Kind(models.TextChoices):
        TIER = "tier", "Tier (seniority)"
        EXPERTISE = "expertise", "Expertise"

    key = models.SlugField(max_length=64, unique=True, help_text="The name routes and action types refer to.")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    rank = models.PositiveSmallIntegerField(
        default=0,
        help_text="Tier groups only: a higher rank also reviews the tiers below (team 1, lead 2, executive 3).",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="reviewer_groups")
    daily_capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Decisions a day the group can make; empty for no limit."
    )
    fallback = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where new items go while this group is at its daily capacity or has no active member.",
    )
    wip_cap = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1)],
        help_text="Actions one member may hold (claim) at once. A member of several groups gets the largest cap.",
    )

    class Meta:
        ordering = ["kind", "rank", "key"]

    def __str__(self):
        return self.name

    def clean(self):
        seen, group = {self.pk}, self.fallback
        while group is not None:
            if group.pk in seen:
                raise ValidationError({"fallback": "A group cannot overflow to itself, directly or through others."})
            seen.add(group.pk)
            group = group.fallback


class Claim(models.Model):
    """A reviewer's lease on a pending action: others see who holds it until it expires."""

    action = models.OneToOneField("hitl.Action", primary_key=True, on_delete=models.CASCADE, related_name="claim")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims")
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.holder} holds {self.action_id} until {self.expires_at:%H:%M:%S}"


class RejectReason(models.Model):
    """A reason reviewers pick when rejecting, configured in admin; free text can add detail."""

    code = models.SlugField(max_length=64, unique=True, help_text="Stable code stored with the verdict.")
    label = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self):
        return self.label


class Verdict(models.Model):
    """One reviewer's verdict on one action. Several approvals may be needed (four-eyes): each
    approval is of one exact payload (its SHA-256), and an edit restarts the count, so only the
    approvals of the payload since the latest edit count (reviews.selectors.approvals_of). The
    decision service, holding the action's row lock, lets a reviewer approve it once per edit."""

    class Kind(models.TextChoices):
        APPROVE = "approve"
        MODIFY = "modify"
        REJECT = "reject"
        CONFIRM = "confirm", "confirm (post-action)"
        FLAG = "flag", "flag (post-action)"

    id = models.BigAutoField(primary_key=True)
    action = models.ForeignKey("hitl.Action", on_delete=models.PROTECT, related_name="verdicts", db_index=False)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="verdicts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    payload = models.JSONField(null=True, blank=True, help_text="The edited payload, for modify.")
    patch = models.JSONField(
        null=True, blank=True, help_text="The edit as a JSON Patch (RFC 6902) against the original."
    )
    payload_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the canonical JSON of the payload the reviewer saw and approved (or rejected).",
    )
    reason = models.ForeignKey(RejectReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    time_to_decision = models.DurationField(help_text="From submission to this verdict.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], name="verdict_created")]  # the lead dashboard's windows

    def __str__(self):
        return f"{self.reviewer} {self.kind} {self.action_id}"
