from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import F
from django.utils import timezone

from audit.services import InAdmin

from . import services
from .logins import lockout_lift
from .models import (
    Action,
    ActionType,
    Agent,
    ApiToken,
    ExpertiseRoute,
    LoginLockout,
    PolicyRule,
    RoutingSettings,
)
from .payloads import schema_problem
from .policy import incomplete_routes, policy_current, policy_invalidate
from .states import Tier


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
    """Agents are added with their first token (shown once) and changed with an audit event each."""

    list_display = ["name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["webhook_secret", "created_at"]
    inlines = [ApiTokenInline]
    actions = ["issue_token", "revoke_tokens"]

    def save_model(self, request, obj, form, change):
        if change:
            services.agent_change(agent=obj, fields=form.changed_data, actor=InAdmin(request.user))
            return
        agent, raw = services.agent_create(name=obj.name, description=obj.description, actor=InAdmin(request.user))
        obj.pk, obj.webhook_secret, obj.created_at, obj._state.adding = (
            agent.pk,
            agent.webhook_secret,
            agent.created_at,
            False,
        )
        if not obj.is_active:
            services.agent_change(agent=obj, fields=["is_active"], actor=InAdmin(request.user))
        self.message_user(
            request, f"Token for {agent.name} (copy it now, it is not shown again): {raw}", messages.WARNING
        )

    @admin.action(description="Issue a new API token (shown once)")
    def issue_token(self, request, queryset):
        for agent in queryset:
            raw = services.token_issue(
                agent=agent, label=f"admin:{request.user.get_username()}", actor=InAdmin(request.user)
            )
            self.message_user(
                request, f"New token for {agent.name} (copy it now, it is not shown again): {raw}", messages.WARNING
            )

    @admin.action(description="Revoke all API tokens")
    def revoke_tokens(self, request, queryset):
        tokens = ApiToken.objects.filter(agent__in=queryset, revoked_at__isnull=True)
        for token in tokens:
            services.token_revoke(token=token, actor=InAdmin(request.user))
        self.message_user(request, f"Revoked {len(tokens)} token(s).")


def group_keys() -> list[str]:
    """The reviewer groups there are, as routing knows them (the reviews app tells the policy)."""
    policy_invalidate()  # as they are now
    return list(policy_current().group_members or {})


class KnownGroupForm(forms.ModelForm):
    """A model form whose optional `reviewer_group` must name an existing reviewer group, picked
    from a list of them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "reviewer_group" in self.fields:
            field = self.fields["reviewer_group"]
            current = self.initial.get("reviewer_group") or ""
            keys = sorted({*group_keys(), *([current] if current else [])})
            blank = [] if field.required else [("", "—")]
            field.widget = forms.Select(choices=blank + [(key, key) for key in keys])

    def clean_reviewer_group(self):
        group = self.cleaned_data["reviewer_group"]
        known = group_keys()
        if group and group not in known:
            raise forms.ValidationError(f"No reviewer group '{group}'. Known groups: {', '.join(known) or 'none yet'}.")
        return group


class PolicyAdmin(admin.ModelAdmin):
    """Every save or delete that changes a policy row bumps the policy version and is audited, with
    the row before and after (many-to-many fields, which admin saves after the row in
    save_related, included). A save that changed nothing writes nothing."""

    def save_model(self, request, obj, form, change):
        # Kept on the form until save_related, which admin calls next with the same form.
        form.policy_before = (
            services.policy_snapshot_of(type(obj).objects.filter(pk=obj.pk).first()) if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, after = form.policy_before, services.policy_snapshot_of(form.instance)
        if before != after:
            services.policy_changed(actor=request.user, subject=form.instance, before=before, after=after)
            for problems in incomplete_routes():
                for problem in problems:
                    self.message_user(request, problem, messages.WARNING)

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
            "error_cost",
            "audit_sample_rate",
            "review_window",
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

    def clean(self):
        """A compliance-sensitive type always waits in tier3: its own reviewer group must be able
        to give tier3's approvals, or nothing of this type could ever be approved by it."""
        data = super().clean()
        group = data.get("reviewer_group")
        if group and data.get("compliance_sensitive"):
            problem = group_too_small(group, Tier.TIER3)
            if problem:
                self.add_error(
                    "reviewer_group",
                    f"{problem} Every {data.get('key') or 'such'} action is compliance-sensitive, so tier3. Add "
                    "members to the group, or leave this empty so that tier3's own group reviews them.",
                )
        return data


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
        "audit_sample_rate",
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


def group_too_small(group: str, tier: str) -> str:
    """Why `group` cannot give `tier`'s approvals (fewer active members), or ""."""
    policy_invalidate()  # the members and approvals as they are now
    policy = policy_current()
    members, needed = (policy.group_members or {}).get(group, 0), policy.tier_approvals.get(tier, 1)
    if members >= needed:
        return ""
    return f"{group} has {members} active member{'' if members == 1 else 's'}; {tier} needs {needed} approvals."


class PolicyRuleForm(KnownGroupForm):
    def clean(self):
        """A rule that sends actions to a group at a tier: the group must be able to give its approvals."""
        data = super().clean()
        group, tier = data.get("reviewer_group"), data.get("min_tier")
        if group and tier:
            problem = group_too_small(group, tier)
            if problem:
                self.add_error("reviewer_group", f"{problem} Add members to it, or pick another group.")
        return data

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
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # Django 6's default, and no warning


@admin.register(LoginLockout)
class LoginLockoutAdmin(admin.ModelAdmin):
    """Failed logins per account and per address, and the lockouts they led to (hitl.logins): an
    admin lifts one with the action (or by deleting its row), audited as theirs."""

    list_display = ["scope", "key", "failures", "window_started_at", "locked_until", "locked_now"]
    list_filter = ["scope"]
    search_fields = ["key"]
    actions = ["lift"]

    def get_queryset(self, request):
        return super().get_queryset(request).order_by(F("locked_until").desc(nulls_last=True), "-window_started_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description="Locked out now")
    def locked_now(self, obj):
        return obj.locked_until is not None and obj.locked_until > timezone.now()

    @admin.action(description="Lift the lockout (and forget the failures)", permissions=["delete"])
    def lift(self, request, queryset):
        lifted = lockout_lift(lockouts=list(queryset), actor=InAdmin(request.user))
        self.message_user(request, f"Lifted {lifted} lockout(s); their failures are forgotten.")

    def delete_model(self, request, obj):
        lockout_lift(lockouts=[obj], actor=InAdmin(request.user))

    def delete_queryset(self, request, queryset):
        lockout_lift(lockouts=list(queryset), actor=InAdmin(request.user))
