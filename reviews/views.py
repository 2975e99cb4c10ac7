import uuid
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from hitl.selectors import action_type_keys

from .selectors import QueueFilters, queue_counts, queue_page, reviewer_scope


@login_required
def queue(request):
    """The reviewer's queue of actions waiting for approval, most urgent first."""
    filters = QueueFilters(
        tier=request.GET.get("tier", ""),
        group=request.GET.get("group", ""),
        action_type=request.GET.get("type", ""),
        agent=request.GET.get("agent", ""),
    )
    after, error = _cursor(request.GET.get("after", ""))
    scope = reviewer_scope(request.user)
    rows, more = queue_page(scope=scope, filters=filters, after=after) if not error else ([], False)
    context = {
        "rows": rows,
        "next_cursor": f"{rows[-1].due_at.isoformat()}|{rows[-1].pk}" if more else "",
        "counts": queue_counts(scope=scope),
        "filters": filters,
        "action_types": action_type_keys(),
        "error": error,
        "now": timezone.now(),
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
