from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from hitl.admin import ReadOnlyAdmin
from hitl.errors import Conflict, Invalid

from .models import Label, RecalibrationSettings, ThresholdProposal
from .proposals import proposal_decide, proposals_make


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


def _shown(value, key: str) -> str:
    """A replay figure in words: the share as a percentage, per tier or group as `key n` pairs."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{name} {n:g}" for name, n in value.items()) or "none"
    return f"{value:.0%}" if key == "routed_share" else f"{value:g}"


def _chart(replay: dict):
    """Two pairs of bars, now and proposed: routed to people a day, and expected unreviewed errors a
    day, each pair on its own scale (an SVG drawn here: nothing is loaded from elsewhere)."""
    bars, x = [], 10
    for label, key in (("routed a day", "routed_per_day"), ("unreviewed errors a day", "unreviewed_errors_per_day")):
        values = (replay["before"][key] or 0, replay["after"][key] or 0)
        top = max(values) or 1
        for name, value, colour in zip(("now", "proposed"), values, ("#9aa5b1", "#2857c5"), strict=True):
            height, shown = 90 * value / top, f"{value:g}"
            bar = '<rect x="{}" y="{}" width="44" height="{}" fill="{}"><title>{}: {} {}</title></rect>'
            bars.append(format_html(bar, x, round(110 - height, 1), round(height, 1), colour, label, name, shown))
            text = '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>'
            bars.append(format_html(text, x + 22, round(106 - height, 1), shown))
            x += 50
        bars.append(format_html('<text x="{}" y="126" font-size="11" text-anchor="middle">{}</text>', x - 50, label))
        x += 40
    return format_html(
        '<svg viewBox="0 0 {} 132" width="{}" height="132" role="img" aria-label="The replay, now (grey) and '
        'proposed (blue)">{}</svg>',
        x, x, format_html_join("", "{}", ((bar,) for bar in bars)),
    )  # fmt: skip


@admin.register(RecalibrationSettings)
class RecalibrationSettingsAdmin(admin.ModelAdmin):
    """How often thresholds are proposed, from how many verdicts, over how many days (one row)."""

    list_display = ["__str__", "every", "min_labels", "replay_days", "last_run_at"]
    readonly_fields = ["last_run_at"]
    actions = ["propose_now"]

    def has_add_permission(self, request):
        return not RecalibrationSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Propose thresholds now")
    def propose_now(self, request, queryset):
        try:
            made, short = proposals_make()
        except Invalid as problem:
            self.message_user(request, str(problem), messages.ERROR)
            return
        self.message_user(request, f"{len(made)} proposal(s) made: see Threshold proposals.", messages.SUCCESS)
        for key, why in short.items():
            self.message_user(request, f"{key}: {why}.", messages.WARNING)


@admin.register(ThresholdProposal)
class ThresholdProposalAdmin(ReadOnlyAdmin):
    """Proposals are made by the schedule (or `manage.py propose_thresholds`); an admin applies or
    rejects an open one from the list (select it, then the action), audited: applying changes the
    type's threshold like any policy edit. A proposal's page shows its what-if replay."""

    list_display = ["created_at", "action_type", "current_threshold", "proposed_threshold", "labels", "status"]
    list_filter = ["status", "action_type"]
    list_select_related = ["action_type"]
    actions = ["apply", "reject"]
    readonly_fields = ["action_type", "created_at", "status", "current_threshold", "proposed_threshold", "interval",
                       "labels", "capacity", "what_if", "mapping_steps", "decided_by", "decided_at"]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="what-if replay")
    def what_if(self, obj):
        replay = obj.replay
        rows = [
            ("routed to people a day", "routed_per_day"),
            ("share routed", "routed_share"),
            ("pre-action a day", "pre_action_per_day"),
            ("expected unreviewed errors a day (× error cost)", "unreviewed_errors_per_day"),
            ("per tier a day", "by_tier"),
            ("per group a day", "by_group"),
        ]
        body = format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            ((label, _shown(replay["before"][key], key), _shown(replay["after"][key], key)) for label, key in rows),
        )  # fmt: skip
        days = replay["days"]
        span = f"{days:g} days" if days >= 1 else f"{days * 24:.1f} hours"
        return format_html(
            "<p>Over the last {} ({} actions), the product's routing at each threshold; apply or reject it from "
            "the list.</p>{}<table><tr><th></th><th>now ({})</th><th>proposed ({})</th></tr>{}</table>",
            span, replay["actions"], _chart(replay), replay["before"]["threshold"], replay["after"]["threshold"],
            body,
        )  # fmt: skip

    @admin.display(description="confidence → chance right (isotonic, weighted verdicts)")
    def mapping_steps(self, obj):
        return ", ".join(f"≤ {upper:.2f}: {chance:.2f}" for upper, chance in obj.mapping)

    @admin.action(description="Apply the selected proposals (audited; bumps the policy version)")
    def apply(self, request, queryset):
        self._decide(request, queryset, apply=True)

    @admin.action(description="Reject the selected proposals")
    def reject(self, request, queryset):
        self._decide(request, queryset, apply=False)

    def _decide(self, request, queryset, *, apply: bool):
        for proposal in queryset:
            try:
                proposal_decide(proposal_id=proposal.pk, apply=apply, by=request.user)
            except Conflict as problem:
                self.message_user(request, f"{proposal}: {problem}", messages.WARNING)
            else:
                verb = "applied" if apply else "rejected"
                self.message_user(request, f"{proposal.action_type}: proposal {verb}.", messages.SUCCESS)
