"""The reviewer workspace: the live queue, one action's page, claims and verdicts.

Every page works as plain HTML forms; htmx and a little JavaScript add live updates, lease
renewal, the edit diff and keyboard shortcuts on top.
"""

import json
import uuid
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from hitl.errors import Conflict, Invalid, NotFound
from hitl.selectors import action_get, action_type_keys

from . import claims, payload_form, services
from .selectors import (
    POST,
    PRE,
    QueueFilters,
    candidate_payload,
    group_keys,
    live_claim,
    queue_counts,
    queue_page,
    reject_reasons,
    reviewer_scope,
    task_actions,
    track_record,
    verdicts_of,
)
from .timeline import action_timeline


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
        agent=request.GET.get("agent", ""),
    )
    after, error = _cursor(request.GET.get("after", ""))
    scope = reviewer_scope(request.user)
    now = timezone.now()
    rows, more = queue_page(scope=scope, filters=filters, after=after, tab=tab, now=now) if not error else ([], False)
    context = {
        "tab": tab,
        "rows": rows,
        "next_cursor": f"{rows[-1].due_at.isoformat()}|{rows[-1].pk}" if more else "",
        "counts": queue_counts(scope=scope, now=now),
        "filters": filters,
        "action_types": action_type_keys(),
        "error": error,
        "now": now,
    }
    template = "reviews/_queue_rows.html" if request.htmx else "reviews/queue.html"
    return render(request, template, context, status=400 if error else 200)


def _cursor(raw: str):
    """(due_at, id) from the `after` parameter, or an error message for a tampered one."""
    if not raw:
        return None, ""
    due_at, _, action_id = raw.partition("|")
    try:
        return (datetime.fromisoformat(due_at), str(uuid.UUID(action_id))), ""
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
    candidate = candidate_payload(action, verdicts)
    edit_base = candidate
    if form_data is not None and form_data.get("payload_mode") != "json":
        edit_base, _ = payload_form.parse(action.action_type.payload_schema, form_data, candidate)
    context = {
        "action": action,
        "now": now,
        "claim": live_claim(action, now),
        "verdicts": verdicts,
        "candidate": candidate,
        "edited_by_reviewer": candidate is not action.payload,
        "form": payload_form.build(action.action_type.payload_schema, edit_base),
        "payload_json": (form_data or {}).get("payload_json") or _pretty(candidate),
        "payload_mode": (form_data or {}).get("payload_mode", "fields"),
        "reasons": reject_reasons(),
        "record": track_record(agent_id=action.agent_id, action_type_id=action.action_type_id),
        "task": task_actions(action),
        "approved_by_me": any(v.reviewer_id == request.user.pk for v in verdicts),
        "approvals": sum(v.kind in ("approve", "modify") for v in verdicts),
        "values": form_data or {},
        "errors": errors or {},
        "senior": action.route_tier in scope.lower_tiers or scope.everything,
        "groups": group_keys(),
        "timeline": action_timeline(action),
    }
    return render(request, "reviews/detail.html", context, status=status)


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


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
    except (Invalid, Conflict) as exc:
        messages.error(request, exc.message)
        return redirect("reviews:detail", action_id=action_id)
    messages.success(request, f"Reassigned to {request.POST['group']}.")
    return redirect("reviews:queue")


@require_POST
@login_required
def decide(request, action_id):
    """Approve, modify or reject (pre-action), or confirm or flag (post-action), from the form."""
    action, scope = _visible(request, action_id)
    verb = request.POST.get("decision", "")
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1  # a form without its version is refused as stale
    try:
        if verb in services.POST_VERBS:
            services.review_post_action(
                reviewer=request.user,
                action_id=action.pk,
                verdict=verb,
                comment=request.POST.get("comment", ""),
                version=version,
            )
        elif verb in services.VERBS:
            payload = _edited_payload(request, action) if verb == "modify" else None
            decided = services.review_decide(
                reviewer=request.user,
                action_id=action.pk,
                decision=verb,
                payload=payload,
                comment=request.POST.get("comment", ""),
                reason=request.POST.get("reason", ""),
                version=version,
            )
            if decided.status == "pending":
                messages.success(request, f"Your approval is recorded; it needs {decided.approvals_required} in all.")
                return redirect("reviews:queue")
        else:
            raise Invalid("Choose approve, modify or reject.", fields={"decision": ["Unknown decision."]})
    except Invalid as exc:
        return _detail(request, action, scope, form_data=request.POST, errors=_form_errors(exc), status=400)
    except Conflict as exc:
        messages.error(request, exc.message)
        return _detail(request, action_get(action.pk), scope, status=409)
    messages.success(request, f"{_done(verb)}: {action.summary}")
    return redirect("reviews:queue")


def _done(verb: str) -> str:
    return {"approve": "Approved", "modify": "Approved with your edits", "reject": "Rejected"}.get(
        verb, {"confirm": "Confirmed", "flag": "Flagged"}.get(verb, verb)
    )


def _edited_payload(request, action):
    """The payload from the form's fields, or from its JSON editor."""
    if request.POST.get("payload_mode") == "json":
        try:
            payload = json.loads(request.POST.get("payload_json", ""))
        except json.JSONDecodeError as exc:
            raise Invalid(
                "The edited JSON is not valid.",
                fields={"payload_json": [f"{exc.msg} (line {exc.lineno}, column {exc.colno})"]},
            ) from exc
        if not isinstance(payload, dict):
            raise Invalid("The payload must be a JSON object.", fields={"payload_json": ["Expected an object."]})
        return payload
    base = candidate_payload(action, verdicts_of(action))
    payload, errors = payload_form.parse(action.action_type.payload_schema, request.POST, base)
    if errors:
        raise Invalid("Some edited fields are not valid.", fields={path: [msg] for path, msg in errors.items()})
    return payload


def _form_errors(exc: Invalid) -> dict:
    return {"message": exc.message, "fields": exc.fields}


@require_POST
@login_required
def diff(request, action_id):
    """The edit in the form, against what the reviewer is approving (htmx, while typing)."""
    action, _ = _visible(request, action_id)
    base = candidate_payload(action, verdicts_of(action))
    try:
        edited = _edited_payload(request, action)
    except Invalid as exc:
        return render(request, "reviews/_diff.html", {"errors": _form_errors(exc)})
    return render(request, "reviews/_diff.html", {"changes": payload_form.changes(base, edited)})
