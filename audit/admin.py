import uuid

from django.contrib import admin

from hitl.admin import ReadOnlyAdmin
from hitl.states import Tier

from .models import AuditEvent


def choices_filter(field: str, title: str, choices) -> type[admin.SimpleListFilter]:
    """A list filter offering fixed choices, so the change list runs no SELECT DISTINCT over the log."""

    class ChoicesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return choices

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    ChoicesFilter.title = title
    return ChoicesFilter


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log, read-only for everyone: rows are only ever inserted (audit.chain)."""

    list_display = [
        "id", "created_at", "event_type", "actor_type", "actor_label", "action_id", "action_type", "routing_tier",
        "decision", "seq",
    ]  # fmt: skip
    list_filter = [
        choices_filter("event_type", "event type", AuditEvent.Type.choices),
        "actor_type",
        choices_filter("routing_tier", "routing tier", Tier.choices),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["actor_label", "action_type", "request_id"]
    search_help_text = "An action's id (exact), or part of an actor label, action type or request id."
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    fieldsets = [
        (None, {"fields": ["id", "created_at", "event_type", "actor_type", "actor_label", "request_id"]}),
        ("What it concerns", {"fields": ["action", "agent", "reviewer", "action_type", "agent_confidence"]}),
        ("The decision", {"fields": ["routing_tier", "decision", "time_to_decision_seconds"]}),
        ("The change", {"fields": ["modified_action", "before", "after", "data"]}),
        ("Tamper evidence", {"fields": ["seq", "prev_hash", "hash"]}),
    ]
    show_full_result_count = False  # no count(*) of the whole log on every page

    def get_search_results(self, request, queryset, search_term):
        """An action id finds that action's events through the chain's index; anything else, the text."""
        try:
            action_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(action_id=action_id), False
