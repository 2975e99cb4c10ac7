from django import forms
from django.contrib import admin, messages

from reviews.selectors import group_keys

from . import services
from .models import Action, ActionType, Agent, ApiToken, AuditEvent
from .payloads import schema_problem


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    fields = ["prefix", "label", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "label", "created_at", "revoked_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["webhook_secret", "created_at"]
    inlines = [ApiTokenInline]
    actions = ["issue_token", "revoke_tokens"]

    @admin.action(description="Issue a new API token (shown once)")
    def issue_token(self, request, queryset):
        for agent in queryset:
            raw = services.token_issue(agent=agent, label=f"admin:{request.user.get_username()}", actor=request.user)
            self.message_user(
                request, f"New token for {agent.name} (copy it now, it is not shown again): {raw}", messages.WARNING
            )

    @admin.action(description="Revoke all API tokens")
    def revoke_tokens(self, request, queryset):
        tokens = ApiToken.objects.filter(agent__in=queryset, revoked_at__isnull=True)
        for token in tokens:
            services.token_revoke(token=token, actor=request.user)
        self.message_user(request, f"Revoked {len(tokens)} token(s).")


class ActionTypeForm(forms.ModelForm):
    class Meta:
        model = ActionType
        fields = [
            "key",
            "name",
            "description",
            "domain",
            "irreversible",
            "compliance_sensitive",
            "payload_schema",
            "threshold",
            "reviewer_group",
            "is_active",
        ]

    def clean_payload_schema(self):
        schema = self.cleaned_data["payload_schema"]
        if schema is not None:
            problem = schema_problem(schema)
            if problem:
                raise forms.ValidationError(problem)
        return schema

    def clean_reviewer_group(self):
        group = self.cleaned_data["reviewer_group"]
        if group and group not in group_keys():
            raise forms.ValidationError(f"No reviewer group '{group}'. Known groups: {', '.join(group_keys())}.")
        return group


@admin.register(ActionType)
class ActionTypeAdmin(admin.ModelAdmin):
    form = ActionTypeForm
    list_display = [
        "key",
        "name",
        "domain",
        "irreversible",
        "compliance_sensitive",
        "threshold",
        "reviewer_group",
        "is_active",
    ]
    list_filter = ["domain", "irreversible", "compliance_sensitive", "is_active"]
    search_fields = ["key", "name", "description"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    list_display = ["id", "action_type", "agent", "status", "route_pattern", "route_tier", "confidence", "created_at"]
    list_filter = ["status", "route_pattern", "route_tier", "action_type"]
    search_fields = ["id", "summary", "task_id"]
    date_hierarchy = "created_at"
    list_select_related = ["action_type", "agent"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "event_type", "actor_type", "actor_label", "action_id", "decision"]
    list_filter = ["event_type", "actor_type"]
    search_fields = ["action__id", "actor_label", "request_id"]
