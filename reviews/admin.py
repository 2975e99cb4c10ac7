from django.contrib import admin

from hitl.admin import PolicyAdmin, ReadOnlyAdmin

from .models import RejectReason, ReviewerGroup, Verdict


@admin.register(ReviewerGroup)
class ReviewerGroupAdmin(PolicyAdmin):
    list_display = ["key", "name", "kind", "rank", "daily_capacity", "wip_cap", "fallback"]
    list_filter = ["kind"]
    filter_horizontal = ["members"]


@admin.register(RejectReason)
class RejectReasonAdmin(PolicyAdmin):
    list_display = ["label", "code", "position", "is_active"]
    list_editable = ["position", "is_active"]
    prepopulated_fields = {"code": ["label"]}


@admin.register(Verdict)
class VerdictAdmin(ReadOnlyAdmin):
    """Read-only: verdicts are written by the decision service, with their audit events."""

    list_display = ["created_at", "action", "reviewer", "kind", "reason", "time_to_decision"]
    list_filter = ["kind"]
    list_select_related = ["action", "reviewer", "reason"]
