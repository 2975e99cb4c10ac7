"""Labels, and the sums calibration is read from.

A Label is one human verdict on one action: was the agent right? The reviewers' services write it
with the verdict (calibration.services.label_record). Each also adds itself to its BinDay: one
row per day, action type, domain, agent and confidence bin, holding the weighted sums every
calibration figure is a ratio of (calibration.metrics), so a page reads rows per day, type, agent
and bin, however many labels there are. Submissions are counted per day apart (ActionCount), to show the routed
share.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

BINS = 10  # equal-width confidence bins; confidence 1.0 belongs to the last


class Label(models.Model):
    """Whether the agent was right about one action, as its final human verdict says: approved
    unchanged or confirmed → right; approved with edits, rejected or flagged → wrong."""

    class Verdict(models.TextChoices):
        APPROVED = "approved"
        MODIFIED = "modified"
        REJECTED = "rejected"
        CONFIRMED = "confirmed"  # after it ran (post-action review or audit sample)
        FLAGGED = "flagged"

    id = models.BigAutoField(primary_key=True)
    action = models.OneToOneField("hitl.Action", on_delete=models.PROTECT, related_name="label")
    action_type = models.ForeignKey("hitl.ActionType", on_delete=models.PROTECT, related_name="+")
    domain = models.SlugField(max_length=64, blank=True)
    agent = models.ForeignKey("hitl.Agent", on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confidence = models.FloatField(help_text="What the agent said its chance of being right was.")
    correct = models.BooleanField()
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    route_pattern = models.CharField(max_length=16)
    route_tier = models.CharField(max_length=8, blank=True)
    policy_version = models.PositiveIntegerField()
    probability = models.FloatField(
        help_text="The chance the action was sent to a human (1 when routed; the audit sample rate when it ran "
        "on its own): estimates weigh the label by its inverse."
    )
    edit = models.JSONField(null=True, blank=True, help_text="The reviewer's edited payload, for `modified`.")
    patch = models.JSONField(null=True, blank=True, help_text="The edit as a JSON Patch (RFC 6902).")
    time_to_decision = models.FloatField(help_text="Seconds from submission to the verdict.")
    decided_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["decided_at"], name="label_decided")]

    def __str__(self):
        return f"{self.action_type_id} {self.verdict} at {self.confidence:.2f}"


class BinDay(models.Model):
    """The labels of one day, action type, domain, agent and confidence bin, summed. With w = 1/p
    (p, the label's probability) and y = 1 when right: w, Σw·c, Σw·y, Σw·(c−y)² for the figures;
    Σw², Σw²·(c−y), Σw²·(c−y)² for the bias test's variance; n and the modified ones, unweighted."""

    day = models.DateField()
    action_type = models.ForeignKey("hitl.ActionType", on_delete=models.PROTECT, related_name="+")
    domain = models.SlugField(max_length=64, blank=True)
    agent = models.ForeignKey("hitl.Agent", on_delete=models.PROTECT, related_name="+")
    bin = models.PositiveSmallIntegerField(help_text="1 to 10: confidence in [(bin − 1)/10, bin/10), 1.0 in 10.")
    n = models.PositiveIntegerField(default=0)
    modified = models.PositiveIntegerField(default=0)
    w = models.FloatField(default=0)
    wc = models.FloatField(default=0)
    wy = models.FloatField(default=0)
    wb = models.FloatField(default=0)
    w2 = models.FloatField(default=0)
    w2d = models.FloatField(default=0)
    w2dd = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "action_type", "domain", "agent", "bin"], name="bin_day_once")
        ]

    def __str__(self):
        return f"{self.day} {self.action_type_id} bin {self.bin}: {self.n}"


class ActionCount(models.Model):
    """Actions submitted on one day, per type and agent, and how many a policy sent to a human
    (pre- or post-action; an audit sample is not). Kept by a beat task (calibration.services)."""

    day = models.DateField()
    action_type = models.ForeignKey("hitl.ActionType", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("hitl.Agent", on_delete=models.PROTECT, related_name="+")
    total = models.PositiveIntegerField(default=0)
    routed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "action_type", "agent"], name="action_count_once")]

    def __str__(self):
        return f"{self.day} {self.action_type_id}: {self.routed} of {self.total} routed"


class CountedThrough(models.Model):
    """One row: actions created before `at` are in ActionCount."""

    at = models.DateTimeField()

    def __str__(self):
        return f"actions counted through {self.at:%Y-%m-%d %H:%M:%S}"


class RecalibrationSettings(models.Model):
    """How thresholds are recalibrated (one row, made by a migration; calibration.proposals)."""

    every = models.DurationField(
        default=timedelta(days=7), help_text="How often new threshold proposals are made, e.g. 7 00:00:00 (weekly)."
    )
    min_labels = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(10)],
        help_text="Human verdicts an action type needs before a threshold is proposed for it.",
    )
    replay_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="The recent days of actions a proposal is computed from and replayed on.",
    )
    label_half_life_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="A verdict weighs half as much every this many days, so a drifting agent is fitted on how it "
        "behaves now.",
    )
    shadow_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="How long a proposal run in shadow records its routes beside the policy in force.",
    )
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = verbose_name_plural = "recalibration settings"

    def __str__(self):
        return f"every {self.every}, from {self.min_labels} verdicts, over {self.replay_days} days"


class ThresholdProposal(models.Model):
    """A recalibrated threshold for one action type, with what it would have done: it never applies
    itself; an admin applies or rejects it (audited)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        SHADOW = "shadow"  # its routes are recorded beside the policy in force, until shadow_until
        APPLIED = "applied"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"  # a newer proposal for the type replaced it

    action_type = models.ForeignKey("hitl.ActionType", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    current_threshold = models.FloatField()
    proposed_threshold = models.FloatField()
    interval = models.JSONField(help_text="[low, high]: the proposed threshold's 10th to 90th percentile (bootstrap).")
    labels = models.PositiveIntegerField(help_text="Human verdicts the mapping was fitted on.")
    mapping = models.JSONField(help_text="Confidence to the chance of being right: [upper confidence, chance] steps.")
    capacity = models.FloatField(help_text="Decisions a day the reviewer groups can make (all types together).")
    replay = models.JSONField(
        help_text="Before and after, over the recent days: routed, errors, load per tier and group."
    )
    shadow_from = models.DateTimeField(null=True, blank=True)
    shadow_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action_type}: {self.current_threshold:.2f} → {self.proposed_threshold:.2f} ({self.status})"
