import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .states import Compensation, Decision, Outcome, RoutePattern, Status, Tier

UNIT_INTERVAL = [MinValueValidator(0.0), MaxValueValidator(1.0)]


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class Agent(models.Model):
    """A program that submits actions. Authenticates with ApiTokens; signs webhooks with its secret."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    webhook_secret = models.CharField(max_length=64, default=new_webhook_secret, editable=False)
    # After a rotation the previous secret signs too, until then, so receivers can switch over.
    webhook_secret_previous = models.CharField(max_length=64, blank=True, editable=False)
    webhook_secret_previous_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive agents are refused (401).")
    created_at = models.DateTimeField(auto_now_add=True)

    # DRF treats the authenticated principal as request.user.
    is_authenticated = True

    def __str__(self):
        return self.name


class ApiToken(models.Model):
    """A bearer token for an agent or a reviewer. Only its SHA-256 is stored; the raw token is shown once."""

    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise a token.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(agent__isnull=False, user__isnull=True)
                | models.Q(agent__isnull=True, user__isnull=False),
                name="apitoken_one_owner",
            )
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.agent or self.user})"


class ActionType(models.Model):
    """A kind of action agents may propose, with its risk defaults and payload schema."""

    key = models.SlugField(max_length=64, unique=True, help_text="What agents send as action_type.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    domain = models.SlugField(max_length=64, blank=True, help_text="e.g. finance, clinical, comms")
    irreversible = models.BooleanField(default=False, help_text="Default when the agent does not say.")
    compliance_sensitive = models.BooleanField(default=False, help_text="Default for compliance_risk.")
    payload_schema = models.JSONField(
        null=True, blank=True, help_text="Optional JSON Schema (draft 2020-12) every payload must satisfy."
    )
    threshold = models.FloatField(
        null=True,
        blank=True,
        validators=UNIT_INTERVAL,
        help_text="Confidence threshold; empty means 0.85 if irreversible, else 0.70.",
    )
    reviewer_group = models.SlugField(
        max_length=64, blank=True, help_text="Reviewer group that reviews this type, overriding the tier's group."
    )
    audit_sample_rate = models.FloatField(
        default=0.02,
        validators=UNIT_INTERVAL,
        help_text="Share of the actions that run on their own (autonomous) also sent for a review after they ran, "
        "as a spot check that keeps calibration honest where the agent is confident. 0 turns it off.",
    )
    error_cost = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.01), MaxValueValidator(1000.0)],
        help_text="What an error of this type that nobody reviewed costs, relative to other types (0.01 to 1000): "
        "recalibration sends reviewers the costliest likely errors first.",
    )
    review_window = models.DurationField(
        default=timedelta(hours=4),
        help_text="How long an action that ran before review (post-action) stays in the post-action queue for a "
        "reviewer to confirm or flag (e.g. 04:00:00).",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key


class Action(models.Model):
    """One proposed action. Its status changes only through hitl.services (see hitl.states)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by action_agent_recent below.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="actions", db_index=False)
    action_type = models.ForeignKey(ActionType, on_delete=models.PROTECT, related_name="actions")
    payload = models.JSONField()
    summary = models.CharField(max_length=500)
    reasoning = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(validators=UNIT_INTERVAL)
    irreversible = models.BooleanField()
    blast_radius = models.PositiveIntegerField(default=1)
    compliance_risk = models.BooleanField()
    entity = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=200, blank=True)  # indexed by action_agent_task below
    callback_url = models.URLField(max_length=2000, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices)
    route_pattern = models.CharField(max_length=16, choices=RoutePattern.choices)
    route_tier = models.CharField(max_length=8, choices=Tier.choices, blank=True)
    # Indexed where read: the queue's partial indexes and action_group_recent below.
    reviewer_group = models.SlugField(max_length=64, blank=True, db_index=False)
    route_threshold = models.FloatField()
    route_reasons = models.JSONField(default=list)
    policy_version = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="The SLA deadline while pending; when the review window closes after it ran."
    )
    escalation_path = models.JSONField(
        default=list, blank=True, help_text="The SLA steps in force when routed: tier, group, SLA, warnings, breach."
    )
    escalation_step = models.PositiveSmallIntegerField(default=0, help_text="Index of the current step in the path.")
    sla_stage = models.PositiveSmallIntegerField(default=0, help_text="0: not announced; k: announced, k-1 warnings.")
    sla_next_at = models.DateTimeField(
        null=True, blank=True, help_text="When the SLA sweep next looks at it: announce, warn, escalate, expire, close."
    )
    approvals_required = models.PositiveSmallIntegerField(
        default=1, help_text="Different reviewers who must approve, copied from the policy when routed."
    )
    sampled = models.BooleanField(
        default=False, help_text="An autonomous action picked for a spot check: reviewed after it ran."
    )
    review_probability = models.FloatField(
        null=True,
        blank=True,
        help_text="The probability it was sent to a human: 1 when routed to one, the type's audit sample rate when "
        "it ran on its own. Calibration weighs each label by its inverse.",
    )
    shadow_route = models.JSONField(
        null=True,
        blank=True,
        help_text="Where a threshold tried in shadow (a calibration proposal) would have routed it, recorded beside "
        "the route in force: {proposal, threshold, pattern, tier, reviewer_group}.",
    )
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every state change.")

    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    final_payload = models.JSONField(null=True, blank=True)
    receipt = models.JSONField(
        null=True, blank=True, help_text="The service's signed approval receipt (hitl.receipts), set when approved."
    )

    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    outcome_detail = models.JSONField(null=True, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)

    compensation = models.CharField(max_length=24, choices=Compensation.choices, blank=True)
    compensation_reason = models.TextField(blank=True, help_text="Why the post-action reviewer flagged it.")
    compensation_requested_at = models.DateTimeField(null=True, blank=True)
    compensation_detail = models.JSONField(null=True, blank=True)
    compensation_at = models.DateTimeField(null=True, blank=True, help_text="When the agent reported it.")

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, help_text="Set by every state change.")

    class Meta:
        indexes = [
            models.Index(fields=["status", "due_at"], name="action_status_due"),
            models.Index(fields=["agent", "-created_at"], name="action_agent_recent"),
            models.Index(fields=["agent", "task_id"], name="action_agent_task"),  # the task's other actions
            # A group's items of the day (escalation.capacity). Plain b-trees only: every index is
            # written on each insert and on each sweep step, so none is kept that no query reads.
            models.Index(
                fields=["reviewer_group", "created_at"],
                condition=models.Q(route_pattern=RoutePattern.PRE_ACTION),
                name="action_group_recent",
            ),
            # The reviewer queue (reviews.selectors.queue_page, queue_counts): the waiting actions of
            # one group in one tier, or of one whole tier, in (due_at, id) order. Partial, so they hold
            # only what waits for approval.
            models.Index(
                fields=["reviewer_group", "route_tier", "due_at", "id"],
                condition=models.Q(status=Status.PENDING, route_pattern=RoutePattern.PRE_ACTION),
                name="action_waiting_group_due",
            ),
            models.Index(
                fields=["route_tier", "due_at", "id"],
                condition=models.Q(status=Status.PENDING, route_pattern=RoutePattern.PRE_ACTION),
                name="action_waiting_tier_due",
            ),
            # A threshold proposal's shadow run (calibration.selectors.shadow_comparison).
            models.Index(
                fields=["action_type", "created_at"],
                condition=models.Q(shadow_route__isnull=False),
                name="action_shadowed",
            ),
            # The SLA sweep's work queue.
            models.Index(fields=["sla_next_at"], condition=models.Q(sla_next_at__isnull=False), name="action_sla_next"),
            # The queue's post-action tab: review windows still open (due_at > now), in (due_at, id) order.
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(status=Status.APPROVED)
                & (models.Q(route_pattern=RoutePattern.POST_ACTION) | models.Q(sampled=True)),
                name="action_post_window_due",
            ),
            # Calibration counts what was submitted, a time range at a time (calibration.services):
            # a BRIN index is a few pages, and costs an insert almost nothing.
            BrinIndex(fields=["created_at"], name="action_created_brin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1), name="action_confidence_0_1"
            ),
        ]

    def __str__(self):
        return f"{self.action_type_id}: {self.summary[:60]}"

    @property
    def reviewed_after(self) -> bool:
        """Whether a reviewer looks at it after it ran: post-action review, or an audit sample."""
        return self.route_pattern == RoutePattern.POST_ACTION or self.sampled

    @property
    def step_pages(self) -> bool:
        """Whether the step of its escalation path it is at now pages (tier3 by default)."""
        path = self.escalation_path or []
        return self.escalation_step < len(path) and bool(path[self.escalation_step].get("page"))


class IdempotencyKey(models.Model):
    """What an agent's Idempotency-Key bought: the request's hash and the first response.

    The key row is inserted (with the response the request will give) before the action's
    transaction; until that action exists the key is in flight, so a concurrent duplicate gets
    409 and a later retry replays the response.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+", db_index=False)  # see unique
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    action_id = models.UUIDField(help_text="The action this key created, once its transaction commits.")
    response = models.JSONField(help_text="The first response, replayed to retries once the action exists.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="idempotency_agent_key")]

    def __str__(self):
        return f"{self.agent_id}:{self.key}"


class LoginLockout(models.Model):
    """The failed logins of one account (a username as typed, case-folded) or from one client
    address in the current window, and the lockout they led to (hitl.logins). Lifting it deletes
    the row."""

    class Scope(models.TextChoices):
        ACCOUNT = "account"
        ADDRESS = "address"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    key = models.CharField(max_length=150, help_text="The username as typed (case-folded), or the address.")
    failures = models.PositiveIntegerField(help_text="Failed logins since the window started.")
    window_started_at = models.DateTimeField(db_index=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="login_lockout_scope_key")]

    def __str__(self):
        return f"{self.scope} {self.key}"


from .policy_models import ExpertiseRoute, PolicyRule, RoutingSettings  # noqa: E402, F401  (registers them)
