from django import forms
from django.contrib import admin, messages

from reviews.selectors import group_keys

from . import services
from .models import Action, ActionType, Agent, ApiToken, AuditEvent, ExpertiseRoute, PolicyRule, RoutingSettings
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


class KnownGroupForm(forms.ModelForm):
    """A model form whose optional `reviewer_group` must name an existing reviewer group."""

    def clean_reviewer_group(self):
        group = self.cleaned_data["reviewer_group"]
        known = group_keys()
        if group and group not in known:
            raise forms.ValidationError(f"No reviewer group '{group}'. Known groups: {', '.join(known) or 'none yet'}.")
        return group


class PolicyAdmin(admin.ModelAdmin):
    """Every save or delete is a policy change: it bumps the policy version and is audited."""

    def save_model(self, request, obj, form, change):
        before = services.policy_snapshot_of(type(obj).objects.filter(pk=obj.pk).first()) if change else None
        super().save_model(request, obj, form, change)
        services.policy_changed(actor=request.user, subject=obj, before=before, after=services.policy_snapshot_of(obj))

    def delete_model(self, request, obj):
        before = services.policy_snapshot_of(obj)
        super().delete_model(request, obj)
        services.policy_changed(actor=request.user, subject=obj, before=before, after=None)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class ActionTypeForm(KnownGroupForm):
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


@admin.register(ActionType)
class ActionTypeAdmin(PolicyAdmin):
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


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(PolicyAdmin):
    list_display = ["__str__", "blast_high", "blast_tier3", "interrupt_factor", "sensitive_tags", "novelty"]
    readonly_fields = ["version"]

    def has_add_permission(self, request):
        return not RoutingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class PolicyRuleForm(KnownGroupForm):
    class Meta:
        model = PolicyRule
        fields = [
            "name", "priority", "is_active", "action_type", "domain", "entity_tag", "blast_radius_at_least",
            "confidence_below", "force_pattern", "min_tier", "reviewer_group",
        ]  # fmt: skip


@admin.register(PolicyRule)
class PolicyRuleAdmin(PolicyAdmin):
    form = PolicyRuleForm
    list_display = ["priority", "name", "is_active", "force_pattern", "min_tier", "reviewer_group"]
    list_display_links = ["name"]
    list_filter = ["is_active", "force_pattern", "min_tier"]


class ExpertiseRouteForm(KnownGroupForm):
    class Meta:
        model = ExpertiseRoute
        fields = ["action_type", "domain", "reviewer_group"]


@admin.register(ExpertiseRoute)
class ExpertiseRouteAdmin(PolicyAdmin):
    form = ExpertiseRouteForm
    list_display = ["__str__", "action_type", "domain", "reviewer_group"]


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
