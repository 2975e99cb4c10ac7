from django.conf import settings
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

    class Meta:
        ordering = ["kind", "rank", "key"]

    def __str__(self):
        return self.name


class Claim(models.Model):
    """A reviewer's lease on a pending action: others see who holds it until it expires."""

    action = models.OneToOneField("hitl.Action", primary_key=True, on_delete=models.CASCADE, related_name="claim")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims")
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.holder} holds {self.action_id} until {self.expires_at:%H:%M:%S}"
