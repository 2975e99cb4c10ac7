"""The audit log: one row per state change (AuditEvent), chained and hashed by the database as it
is inserted, and the signed checkpoints over them (AuditAnchor). The tables keep the names they
had in the core app."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One state change, written in the same transaction as the change (see audit.services)."""

    class Type(models.TextChoices):
        SUBMITTED = "submitted"
        DECIDED = "decided"
        CANCELLED = "cancelled"
        OUTCOME_REPORTED = "outcome_reported"
        AGENT_CREATED = "agent_created"
        AGENT_CHANGED = "agent_changed"  # edited in admin (name, description, active)
        TOKEN_ISSUED = "token_issued"
        TOKEN_REVOKED = "token_revoked"
        POLICY_CHANGED = "policy_changed"
        CLAIMED = "claimed"
        RELEASED = "released"
        TAKEN_OVER = "taken_over"
        APPROVAL_RECORDED = "approval_recorded"  # one of several approvals required (four-eyes)
        POST_CONFIRMED = "post_confirmed"
        POST_FLAGGED = "post_flagged"
        COMPENSATION_REQUESTED = "compensation_requested"  # a post-action flag asks the agent to undo it
        COMPENSATION_REPORTED = "compensation_reported"  # the agent says it undid it (or could not)
        WARNED = "warned"
        ESCALATED = "escalated"
        EXPIRED = "expired"
        REVIEW_WINDOW_CLOSED = "review_window_closed"
        OVERFLOWED = "overflowed"  # to a fallback group: the routed group was at capacity or unavailable
        REASSIGNED = "reassigned"
        NOTIFICATION_SENT = "notification_sent"
        NOTIFICATION_FAILED = "notification_failed"
        AUDIT_PRUNED = "audit_pruned"  # retention removed whole anchored segments (audit.anchors)
        AUDIT_BROKEN = "audit_broken"  # the daily verify_audit found tampering
        AUDIT_EXPORTED = "audit_exported"  # an auditor downloaded events (the filters in data)
        TRAINING_EXPORTED = "training_exported"  # reviewers' corrections downloaded as training data
        PROPOSAL_SHADOWED = "proposal_shadowed"  # a threshold proposal's routes recorded beside the policy's
        PROPOSAL_REJECTED = "proposal_rejected"  # (an applied one is a policy_changed of its action type)
        LOGIN_LOCKED = "login_locked"  # failed logins locked an account or an address out (hitl.logins)
        LOGIN_UNLOCKED = "login_unlocked"  # an admin lifted a lockout before it ended

    class Actor(models.TextChoices):
        AGENT = "agent"
        REVIEWER = "reviewer"
        SYSTEM = "system"
        ADMIN = "admin"

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    # One of Type, which is not declared as the field's choices: adding an event type is one line
    # in Type, with no migration.
    event_type = models.CharField(max_length=32)
    actor_type = models.CharField(max_length=16, choices=Actor.choices)
    actor_label = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # Indexed by audit_chain_seq below.
    action = models.ForeignKey(
        "hitl.Action", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events", db_index=False
    )
    agent = models.ForeignKey("hitl.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The design article's audit minimum, denormalised so exports need no joins.
    action_type = models.CharField(max_length=64, blank=True)
    agent_confidence = models.FloatField(null=True, blank=True)
    routing_tier = models.CharField(max_length=8, blank=True)
    decision = models.CharField(max_length=16, blank=True)
    time_to_decision_seconds = models.FloatField(null=True, blank=True)
    modified_action = models.JSONField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Tamper evidence (audit.chain), set by a trigger as the row is inserted:
    # the events of one action (or, without one, the global events) form a chain in which each
    # event's hash covers its canonical JSON and the hash of the event before it.
    seq = models.BigIntegerField(null=True, blank=True, editable=False, help_text="Position in its chain, from 1.")
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        db_table = "hitl_auditevent"  # where the core kept it before the audit app
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["action", "seq"], name="audit_chain_seq")]
        # The global chain's last event, found by the chain trigger (the unique index cannot order
        # the rows whose action is NULL).
        indexes = [models.Index(fields=["seq"], condition=models.Q(action__isnull=True), name="audit_global_chain")]
        permissions = [("export_auditevent", "Can export the audit trail")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.event_type} {self.action_id or ''}"


class AuditAnchor(models.Model):
    """A signed checkpoint over every audit event with an id in (the previous anchor's last_event_id,
    last_event_id]: the digest of their hashes, signed (HMAC, HITL_AUDIT_KEY, kept outside the
    database) together with the previous anchor's signature. See audit.anchors."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_event_id = models.BigIntegerField(unique=True)
    event_count = models.PositiveBigIntegerField()
    digest = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)
    pruned_at = models.DateTimeField(null=True, blank=True, help_text="When retention removed its events.")

    class Meta:
        db_table = "hitl_auditanchor"
        ordering = ["id"]

    def __str__(self):
        return f"anchor {self.pk} through event {self.last_event_id}"
