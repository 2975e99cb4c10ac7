from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from hitl.admin import ReadOnlyAdmin
from hitl.errors import Conflict, Invalid
from hitl.states import RoutePattern

from .models import Label, RecalibrationSettings, ThresholdProposal
from .proposals import proposal_decide, proposal_shadow, proposals_make, recalibration_settings
from .selectors import shadow_comparison


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

    list_display = [
        "__str__", "every", "min_labels", "replay_days", "label_half_life_days", "shadow_days", "last_run_at"
    ]  # fmt: skip
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


ROUTES = {
    RoutePattern.AUTONOMOUS: "runs on its own",
    RoutePattern.POST_ACTION: "runs, reviewed after",
    RoutePattern.PRE_ACTION: "waits for a person",
}
OUTCOMES = {
    "approved": "approved as is",
    "modified": "modified by the reviewer",
    "rejected": "rejected by the reviewer",
    "confirmed": "confirmed after it ran",
    "flagged": "flagged after it ran",
    "unreviewed:pending": "still waiting",
    "unreviewed:approved": "ran, not reviewed (yet)",
    "unreviewed:rejected": "rejected",
    "unreviewed:expired": "expired unreviewed",
    "unreviewed:cancelled": "cancelled by the agent",
}


def _route(pattern: str, tier: str) -> str:
    return f"{ROUTES.get(pattern, pattern)} ({tier})" if tier else ROUTES.get(pattern, pattern)


@admin.register(ThresholdProposal)
class ThresholdProposalAdmin(ReadOnlyAdmin):
    """Proposals are made by the schedule (or `manage.py propose_thresholds`); an admin applies,
    rejects or runs in shadow an open one from the list (select it, then the action), audited:
    applying changes the type's threshold like any policy edit. A proposal's page shows its what-if
    replay and, once run in shadow, where it routed live actions differently."""

    list_display = ["created_at", "action_type", "current_threshold", "proposed_threshold", "labels", "status",
                    "shadow_until"]  # fmt: skip
    list_filter = ["status", "action_type"]
    list_select_related = ["action_type"]
    actions = ["apply", "reject", "shadow"]
    readonly_fields = ["action_type", "created_at", "status", "current_threshold", "proposed_threshold", "interval",
                       "labels", "capacity", "what_if", "shadow_run", "mapping_steps", "decided_by",
                       "decided_at"]  # fmt: skip
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
        if round(obj.proposed_threshold, 2) == round(obj.current_threshold, 2):
            keep = format_html(
                "<p><strong>This keeps the threshold as it is:</strong> within the reviewers' capacity ({:g} "
                "decisions a day), no other threshold sends them likelier errors. Reject it, or apply it to "
                "record that it was checked.</p>",
                obj.capacity,
            )
        else:
            keep = ""
        return format_html(
            "{}<p>Over the last {} ({} actions), the product's routing at each threshold; apply or reject it from "
            "the list.</p>{}<table><tr><th></th><th>now ({})</th><th>proposed ({})</th></tr>{}</table>",
            keep, span, replay["actions"], _chart(replay), replay["before"]["threshold"],
            replay["after"]["threshold"], body,
        )  # fmt: skip

    @admin.display(description="shadow run")
    def shadow_run(self, obj):
        if obj.shadow_from is None:
            if obj.status != ThresholdProposal.Status.PROPOSED:
                return "Not run in shadow."
            return (
                "Not run in shadow. To see where it would route live actions before you apply it, select it in "
                "the list and choose “Run the selected proposals in shadow” (for "
                f"{recalibration_settings().shadow_days} days: the threshold in force still routes them)."
            )
        found = shadow_comparison(obj)
        running = obj.status == ThresholdProposal.Status.SHADOW and timezone.now() < obj.shadow_until
        end = obj.shadow_until if obj.decided_at is None else min(obj.shadow_until, obj.decided_at)
        state = "running until" if running else "ran until"
        intro = format_html(
            "<p>In shadow from {} ({} {}): {} actions of this type routed by both, {} of them differently.</p>",
            _when(obj.shadow_from), state, _when(end), found.compared, sum(found.differing.values()),
        )  # fmt: skip
        if not found.differing:
            return intro
        tally = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((ROUTES.get(now, now), ROUTES.get(then, then), OUTCOMES.get(outcome, outcome), n)
             for (now, then, outcome), n in sorted(found.differing.items())),
        )  # fmt: skip
        latest = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((_when(a.created_at), a.summary, _route(a.route_pattern, a.route_tier),
              _route(a.shadow_route["pattern"], a.shadow_route["tier"]), OUTCOMES.get(a.verdict, a.verdict))
             for a in found.latest),
        )  # fmt: skip
        return format_html(
            "{}<table><tr><th>the policy in force</th><th>this proposal</th><th>what became of it</th>"
            "<th>actions</th></tr>{}</table><p>The newest {} of them:</p><table><tr><th>submitted</th>"
            "<th>summary</th><th>in force</th><th>proposal</th><th>what became of it</th></tr>{}</table>",
            intro, tally, len(found.latest), latest,
        )  # fmt: skip

    @admin.display(description="confidence → chance right (isotonic, weighted verdicts)")
    def mapping_steps(self, obj):
        return ", ".join(f"≤ {upper:g}: {chance:.2f}" for upper, chance in obj.mapping)

    @admin.action(description="Apply the selected proposals (audited; bumps the policy version)")
    def apply(self, request, queryset):
        self._decide(request, queryset, proposal_decide, "applied", apply=True)

    @admin.action(description="Reject the selected proposals (audited)")
    def reject(self, request, queryset):
        self._decide(request, queryset, proposal_decide, "rejected", apply=False)

    @admin.action(description="Run the selected proposals in shadow (audited; the thresholds in force still route)")
    def shadow(self, request, queryset):
        self._decide(request, queryset, proposal_shadow, "running in shadow")

    def _decide(self, request, queryset, decide, done: str, **how):
        for proposal in queryset:
            try:
                decide(proposal_id=proposal.pk, by=request.user, **how)
            except Conflict as problem:
                self.message_user(request, f"{proposal}: {problem}", messages.WARNING)
            else:
                self.message_user(request, f"{proposal.action_type}: proposal {done}.", messages.SUCCESS)


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
