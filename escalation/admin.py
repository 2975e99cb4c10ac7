from django.contrib import admin

from hitl.admin import KnownGroupForm, PolicyAdmin, ReadOnlyAdmin
from hitl.redaction import redacted

from .delivery import shown_target
from .models import BacklogBound, Notification, NotificationRoute, TierPolicy


@admin.register(TierPolicy)
class TierPolicyAdmin(PolicyAdmin):
    """A tier's SLA and breach rule are routing policy: a change bumps its version and is audited.
    The model's clean() refuses an SLA that is not positive and an escalation chain that cycles."""

    list_display = ["tier", "sla", "approver_group", "warn_at", "on_breach", "escalate_to", "page"]
    list_select_related = ["escalate_to"]


@admin.register(BacklogBound)
class BacklogBoundAdmin(PolicyAdmin):
    """The queue's bounds (one row, made by a migration): past one, the groups with a `backlog`
    notification route are told once. A change is audited like any policy change."""

    list_display = ["__str__", "max_pending", "max_oldest_age", "over_since"]
    readonly_fields = ["over_since"]

    def has_add_permission(self, request):
        return not BacklogBound.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class NotificationRouteForm(KnownGroupForm):
    class Meta:
        model = NotificationRoute
        fields = ["reviewer_group", "event", "channel", "target", "is_active"]


@admin.register(NotificationRoute)
class NotificationRouteAdmin(PolicyAdmin):
    """Which channels fire for a group's SLA events; the model's clean() checks each target. A change
    is audited like any policy change."""

    form = NotificationRouteForm
    list_display = ["reviewer_group", "event", "channel", "shown_target", "is_active"]
    list_filter = ["reviewer_group", "event", "channel", "is_active"]

    @admin.display(description="target")
    def shown_target(self, obj):
        """A Slack or webhook URL is a credential: the list shows its host (the form, the value)."""
        return redacted(obj.target) if "target" in obj.secret_fields() else obj.target


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action_id", "event", "channel", "shown_target", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "event", "tier"]
    search_fields = ["action__id", "reviewer_group"]
    date_hierarchy = "created_at"
    fields = [
        "action", "event", "channel", "shown_target", "tier", "reviewer_group", "due_at", "escalation_step",
        "sla_stage", "status", "attempts", "last_error", "created_at", "sent_at",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="target")
    def shown_target(self, obj):
        return shown_target(obj)
