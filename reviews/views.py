"""The reviewer workspace: the live queue, one action's page, claims and verdicts.

Every page works as plain HTML forms; htmx and a little JavaScript add live updates, lease
renewal, the edit diff and keyboard shortcuts on top.
"""

import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from callbacks.selectors import webhook_deliveries
from hitl.errors import Conflict, Forbidden, Invalid, NotFound
from hitl.selectors import action_get, action_type_keys, actions_recent, agent_names

from . import claims, payload_form, services
from .models import Verdict
from .selectors import (
    POST,
    PRE,
    SORTS,
    ActivityFilterForm,
    QueueFilters,
    approval_needs_confirmation,
    approvals_of,
    group_keys,
    live_claim,
    queue_counts,
    queue_page,
    reject_reasons,
    reviewer_scope,
    task_actions,
    track_record,
    user_roles,
    verdicts_of,
)
from .timeline import action_timeline


@require_GET
@login_required
def landing(request):
    """Where a person lands after logging in: leads (and admins) on the SLA dashboard, reviewers on
    their queue, auditors on the audit trail, anyone else on the activity page (which says they
    review nothing yet)."""
    roles = user_roles(request.user)
    if roles["lead"]:
        return redirect("escalation:dashboard")
    if roles["reviewer"]:
        return redirect("reviews:queue")
    if roles["auditor"]:
        return redirect("audit")
    return redirect("activity")


ACTIVITY_SIZE = 50  # rows the activity page shows


@require_GET
@login_required
def activity(request):
    """The latest actions the viewer may open, newest first, each a link, narrowed by the filters
    (ActivityFilterForm). The page re-reads them whenever the reviewer socket says an action
    changed (static/js/live_region.js)."""
    scope = reviewer_scope(request.user)
    reviewer = scope.everything or bool(scope.groups)
    form = ActivityFilterForm(request.GET)
    actions = []
    if reviewer and form.is_valid():
        actions = list(actions_recent(ACTIVITY_SIZE + 1, visible=scope.q() & form.q()))
    context = {
        "actions": actions[:ACTIVITY_SIZE],
        "more": len(actions) > ACTIVITY_SIZE,
        "reviewer": reviewer,
        "form": form,
    }
    template = "reviews/_activity_rows.html" if request.htmx else "reviews/activity.html"
    return render(request, template, context, status=400 if form.errors else 200)


@require_GET
@login_required
def queue(request):
    """The reviewer's queue of actions waiting for approval, most urgent first; or the tab of
    actions that ran and wait for a post-action review."""
    tab = POST if request.GET.get("tab") == POST else PRE
    filters = QueueFilters(
        tier=request.GET.get("tier", ""),
        group=request.GET.get("group", ""),
        action_type=request.GET.get("type", ""),
        agent=request.GET.get("agent", "").strip(),
        held="me" if request.GET.get("held") == "me" else "",
        sort=request.GET.get("sort", "") if request.GET.get("sort", "") in SORTS else "due",
    )
    after, error = _cursor(filters, request.GET.get("after", ""))
    scope = reviewer_scope(request.user)
    now = timezone.now()
    rows, more = queue_page(scope=scope, filters=filters, after=after, tab=tab, now=now) if not error else ([], False)
    context = {
        "tab": tab,
        "rows": rows,
        "next_cursor": filters.cursor(rows[-1]) if more else "",
        "counts": queue_counts(scope=scope, now=now),
        "filters": filters,
        "sorts": SORT_LABELS,
        "action_types": action_type_keys(),
        # A lead's or an executive's queue holds the tiers below theirs, of any group.
        "groups": group_keys() if scope.everything or scope.lower_tiers else sorted(scope.groups),
        "agents": agent_names(),
        "error": error,
        "now": now,
    }
    template = "reviews/_queue_rows.html" if request.htmx else "reviews/queue.html"
    return render(request, template, context, status=400 if error else 200)


SORT_LABELS = {"due": "most urgent", "confidence": "least confident", "newest": "newest", "oldest": "oldest"}


def _cursor(filters: QueueFilters, raw: str):
    """(sort value, id) from the `after` parameter, or an error message for a tampered one."""
    if not raw:
        return None, ""
    try:
        return filters.parse_cursor(raw), ""
    except ValueError:
        return None, "That page link is not valid; showing nothing. Start again from the first page."


def _visible(request, action_id):
    """The action and the reviewer's scope; 404 unless the scope covers the action."""
    action, scope = action_get(action_id), reviewer_scope(request.user)
    if action is None or not scope.covers(action):
        raise Http404("No action with this id is in your queues.")
    return action, scope


@require_GET
@login_required
def detail(request, action_id):
    """Everything a reviewer needs to decide one action."""
    return _detail(request, *_visible(request, action_id))


def _detail(request, action, scope, *, form_data=None, errors=None, status=200):
    now = timezone.now()
    verdicts = verdicts_of(action)
    approvals = approvals_of(action, verdicts)
    edit_base, edit_changes = approvals.payload, []
    if form_data is not None:  # the reviewer's edits, shown again over the payload waiting now
        edited, invalid = payload_form.from_form(action.action_type.payload_schema, form_data, approvals.payload)
        if form_data.get("payload_mode") != "json":
            edit_base = edited
        if not invalid:
            edit_changes = payload_form.changes(approvals.payload, edited)
    context = {
        "action": action,
        "now": now,
        "claim": live_claim(action, now),
        "verdicts": verdicts,
        "approvals": approvals,
        "approved_by_me": approvals.approved_by(request.user),
        "superseded_mine": any(v.reviewer_id == request.user.pk for v in approvals.superseded),
        "form": payload_form.build(action.action_type.payload_schema, edit_base),
        "edit_changes": edit_changes,
        "editor": next((v.reviewer for v in reversed(verdicts) if v.kind == Verdict.Kind.MODIFY), None),
        "payload_json": (form_data or {}).get("payload_json") or _pretty(approvals.payload),
        "payload_mode": (form_data or {}).get("payload_mode", "fields"),
        "reasons": reject_reasons(),
        "record": track_record(scope=scope, agent_id=action.agent_id, action_type_id=action.action_type_id),
        "task": task_actions(action, scope=scope),
        "values": form_data or {},
        "errors": errors or {},
        "senior": action.route_tier in scope.lower_tiers or scope.everything,
        "groups": group_keys(),
        "timeline": action_timeline(action),
        "confirm": approval_needs_confirmation(action),
        "webhooks": webhook_deliveries(action),
    }
    return render(request, "reviews/detail.html", context, status=status)


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


# The values an action's page may show cut short (review_tags.json_value), each downloadable whole.
_WHOLE_VALUES = {
    "payload": lambda action: approvals_of(action, verdicts_of(action)).payload,  # the one waiting
    "proposed": lambda action: action.payload,
    "context": lambda action: action.context,
    "final_payload": lambda action: action.final_payload,
    "compensation_detail": lambda action: action.compensation_detail,
}


@require_GET
@login_required
def value_json(request, action_id, part):
    """One value of an action's page, whole, as a JSON download, for whoever may open the page."""
    action, _ = _visible(request, action_id)
    if part not in _WHOLE_VALUES:
        raise Http404("An action has no such value.")
    response = JsonResponse(_WHOLE_VALUES[part](action), safe=False, json_dumps_params={"ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="action-{action.pk}-{part}.json"'
    return response


@require_POST
@login_required
def take_next(request):
    """Claim the most urgent action nobody holds and open it. From an action's page, that action is
    skipped and given back."""
    try:
        skipping = [uuid.UUID(request.POST["skip"])] if request.POST.get("skip") else []
    except ValueError:
        skipping = []
    for action_id in skipping:
        claims.claim_release(reviewer=request.user, action_id=action_id)
    try:
        claim = claims.claim_next(reviewer=request.user, passing_over=skipping)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("reviews:queue")
    if claim is None:
        messages.info(request, "Nothing is waiting for you right now.")
        return redirect("reviews:queue")
    return redirect("reviews:detail", action_id=claim.action_id)


@require_POST
@login_required
def claim(request, action_id):
    """Claim, or renew one's lease (the open page renews it while it stays open)."""
    try:
        held = claims.claim_take(reviewer=request.user, action_id=action_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Conflict as exc:
        if request.htmx:
            return render(request, "reviews/_claim.html", _claim_context(request, action_id), status=409)
        messages.error(request, exc.message)
        return redirect("reviews:detail", action_id=action_id)
    if request.htmx:
        return render(request, "reviews/_claim.html", {"claim": held, "action": held.action, "user": request.user})
    return redirect("reviews:detail", action_id=action_id)


def _claim_context(request, action_id):
    action, _ = _visible(request, action_id)
    return {"claim": live_claim(action, timezone.now()), "action": action, "user": request.user}


@require_POST
@login_required
def release(request, action_id):
    """Give the action back (also sent by the page when the reviewer leaves it)."""
    _visible(request, action_id)
    claims.claim_release(reviewer=request.user, action_id=action_id)
    if request.POST.get("beacon"):
        return HttpResponse(status=204)
    messages.info(request, "Released; it is back in the queue for others.")
    return redirect("reviews:queue")


@require_POST
@login_required
def take_over(request, action_id):
    """A lead takes over another reviewer's claim (audited)."""
    try:
        claims.claim_take_over(lead=request.user, action_id=action_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("reviews:detail", action_id=action_id)


@require_POST
@login_required
def reassign(request, action_id):
    """A lead sends the action to another group."""
    try:
        services.review_reassign(lead=request.user, action_id=action_id, group_key=request.POST.get("group", ""))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except (Invalid, Conflict) as exc:
        messages.error(request, exc.message)
        return redirect("reviews:detail", action_id=action_id)
    messages.success(request, f"Reassigned to {request.POST['group']}.")
    return redirect("reviews:queue")


@require_POST
@login_required
def decide(request, action_id):
    """Approve (with the form's edits, if any) or reject a waiting action, or confirm or flag one
    that ran: exactly what the page showed, or a refusal shown on it."""
    action, scope = _visible(request, action_id)
    verb = request.POST.get("decision", "")
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1  # a form without its version is refused as stale
    try:
        if verb in services.POST_VERBS:
            decided = services.review_post_action(
                reviewer=request.user,
                action_id=action.pk,
                verdict=verb,
                comment=request.POST.get("comment", ""),
                version=version,
            )
        elif verb in services.VERBS:
            decided = services.review_decide(
                reviewer=request.user,
                action_id=action.pk,
                decision=verb,
                form=request.POST,
                seen_sha256=request.POST.get("payload_sha256", "") or "-",  # a form without it is stale too
                comment=request.POST.get("comment", ""),
                reason=request.POST.get("reason", ""),
                version=version,
            )
        else:
            raise Invalid("Choose approve or reject.", fields={"decision": ["Unknown decision."]})
    except Invalid as exc:
        return _detail(request, action, scope, form_data=request.POST, errors=_form_errors(exc), status=400)
    except Conflict as exc:
        # The action as it is now, with the reviewer's edits kept in the form: nothing they typed is lost.
        messages.error(request, exc.message)
        kept = request.POST if verb in services.VERBS and _edits_in(request.POST) else None
        return _detail(request, action_get(action.pk), scope, form_data=kept, status=409)
    messages.success(request, decided.message)
    queue = reverse("reviews:queue")
    return redirect(f"{queue}?tab={POST}" if verb in services.POST_VERBS else queue)


def _edits_in(form) -> bool:
    return any(name.startswith("payload") for name in form)


def _form_errors(exc: Invalid) -> dict:
    """The refusal as the page shows it: a schema error about a field of the payload
    ("$.to: 'x' is not a 'email' (schema: …)") is filed under that field, so it reads "To: …"
    and shows beside its input."""
    fields = {}
    for name, reasons in exc.fields.items():
        for message in reasons:
            where, colon, what = message.partition(": ")
            if name == "payload" and colon and where.startswith("$."):
                fields.setdefault(where, []).append(what.split(" (schema: ")[0])
            else:
                fields.setdefault(name, []).append(message)
    return {"message": exc.message, "fields": fields}


@require_POST
@login_required
def diff(request, action_id):
    """The edit in the form against the payload waiting for approval (htmx, while typing), and
    what the Approve button will send."""
    action, _ = _visible(request, action_id)
    waiting = approvals_of(action, verdicts_of(action)).payload
    edited, errors = payload_form.from_form(action.action_type.payload_schema, request.POST, waiting)
    if errors:
        invalid = {"message": "Some edits are not valid.", "fields": {path: [msg] for path, msg in errors.items()}}
        return render(request, "reviews/_diff.html", {"errors": invalid})
    context = {"changes": payload_form.changes(waiting, edited), "live": True, "oob": True}
    return render(request, "reviews/_diff.html", context)
