"""The admin-editable routing policy: settings, ordered rules and the expertise table.

hitl.policy turns these rows into the plain value hitl.routing decides with.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .states import RoutePattern, Tier

PATTERN_FLOORS = [
    (RoutePattern.POST_ACTION, "at least post-action review"),
    (RoutePattern.PRE_ACTION, "pre-action approval"),
]


class RoutingSettings(models.Model):
    """One row: the knobs of the default routing table, and the policy version."""

    blast_high = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1)], help_text="Blast radius at or above this is high (tier2+)."
    )
    blast_tier3 = models.PositiveIntegerField(default=10_000, help_text="Blast radius above this goes to tier3.")
    interrupt_factor = models.FloatField(
        default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Confidence below this × the type's threshold interrupts for expert review (tier2).",
    )
    tier2_confidence = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Confidence below this is reviewed in tier2 or above.",
    )
    sensitive_tags = models.CharField(
        max_length=500, default="vip", blank=True, help_text="Comma-separated entity tags that always wait for a human."
    )
    novelty = models.BooleanField(
        default=True, help_text="An agent's first action of a type, or in a domain, waits for a human."
    )
    approvals_tier1 = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)], help_text="Approvals required in tier1."
    )
    approvals_tier2 = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)], help_text="Approvals required in tier2."
    )
    approvals_tier3 = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="Approvals required in tier3 (four-eyes: two different reviewers).",
    )
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Bumped by every policy change.")

    class Meta:
        verbose_name = verbose_name_plural = "routing settings"

    def __str__(self):
        return f"Routing settings (policy version {self.version})"

    def clean(self):
        if self.blast_tier3 is not None and self.blast_high is not None and self.blast_tier3 < self.blast_high:
            raise ValidationError({"blast_tier3": "Must be at least the high blast radius."})

    def tier_approvals(self) -> dict[str, int]:
        return {Tier.TIER1: self.approvals_tier1, Tier.TIER2: self.approvals_tier2, Tier.TIER3: self.approvals_tier3}

    def tag_set(self) -> frozenset:
        return frozenset(tag.strip() for tag in self.sensitive_tags.split(",") if tag.strip())


class PolicyRule(models.Model):
    """A hard override: when every condition given matches, at least this scrutiny applies."""

    name = models.CharField(max_length=100)
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first; the first group wins.")
    is_active = models.BooleanField(default=True)
    action_type = models.ForeignKey("hitl.ActionType", null=True, blank=True, on_delete=models.CASCADE)
    domain = models.SlugField(max_length=64, blank=True)
    entity_tag = models.CharField(max_length=64, blank=True)
    blast_radius_at_least = models.PositiveIntegerField(null=True, blank=True)
    confidence_below = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    force_pattern = models.CharField(max_length=16, choices=PATTERN_FLOORS, blank=True)
    min_tier = models.CharField(max_length=8, choices=Tier.choices, blank=True)
    reviewer_group = models.SlugField(max_length=64, blank=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return self.name

    def clean(self):
        conditions = [
            self.action_type_id,
            self.domain,
            self.entity_tag,
            self.blast_radius_at_least,
            self.confidence_below,
        ]
        if all(value in (None, "") for value in conditions):
            raise ValidationError("Give at least one condition (action type, domain, tag, blast radius, confidence).")
        if not (self.force_pattern or self.min_tier or self.reviewer_group):
            raise ValidationError("The rule does nothing: force a pattern, a minimum tier or a reviewer group.")
        if self.confidence_below == 0:
            raise ValidationError({"confidence_below": "No confidence is below 0: the rule could never match."})
        if self.action_type_id and self.domain and self.action_type.domain != self.domain:
            actual = self.action_type.domain
            raise ValidationError({"domain": f"That action type is in domain '{actual}': the rule could never match."})


class ExpertiseRoute(models.Model):
    """Which reviewer group has the expertise for an action type, or for a whole domain."""

    action_type = models.OneToOneField("hitl.ActionType", null=True, blank=True, on_delete=models.CASCADE)
    domain = models.SlugField(max_length=64, blank=True)
    reviewer_group = models.SlugField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["domain"], condition=~models.Q(domain=""), name="expertise_one_per_domain"),
            models.CheckConstraint(
                condition=(models.Q(action_type__isnull=False) & models.Q(domain=""))
                | (models.Q(action_type__isnull=True) & ~models.Q(domain="")),
                name="expertise_type_or_domain",
            ),
        ]

    def __str__(self):
        return f"{self.action_type or self.domain} → {self.reviewer_group}"

    def clean(self):
        if bool(self.action_type_id) == bool(self.domain):
            raise ValidationError("Map either an action type or a domain, not both and not neither.")
