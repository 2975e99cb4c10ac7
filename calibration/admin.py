from django.contrib import admin

from hitl.admin import ReadOnlyAdmin

from .models import Label


@admin.register(Label)
class LabelAdmin(ReadOnlyAdmin):
    """The labels, read-only: only a reviewer's verdict writes one (calibration.services)."""

    list_display = ["decided_at", "action_type", "agent", "confidence", "verdict", "correct", "probability", "reviewer"]
    list_filter = ["verdict", "correct", "action_type", "domain", ("decided_at", admin.DateFieldListFilter)]
    list_select_related = ["action_type", "agent", "reviewer"]
    readonly_fields = [field.name for field in Label._meta.fields]
    fieldsets = [
        (None, {"fields": ["action", "decided_at", "reviewer", "verdict", "correct", "time_to_decision"]}),
        ("What the agent said", {"fields": ["action_type", "domain", "agent", "confidence"]}),
        ("How it was routed", {"fields": ["route_pattern", "route_tier", "policy_version", "probability"]}),
        ("The reviewer's edit", {"fields": ["edit", "patch"]}),
    ]
    show_full_result_count = False
