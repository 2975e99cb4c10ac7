"""The auditors' page: filter the audit trail, preview the newest matching events, download them."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hitl.models import ActionType

from .export import FORMATS, AuditFilterForm, audit_events, can_export, export_response

PREVIEW_SIZE = 50


def _refused(request):
    """The product's 403 page, for someone who may not export the audit trail."""
    message = "Exporting the audit trail needs the 'Can export the audit trail' permission (the auditors group)."
    return render(request, "403.html", {"exception": message}, status=403)


@require_GET
@login_required
def audit_page(request):
    """The filter form and the newest matching events, a page at a time (`before`: an event id)."""
    if not can_export(request.user):
        return _refused(request)
    form = AuditFilterForm(request.GET)
    before, error = _cursor(request.GET.get("before", ""))
    rows, more = [], False
    if form.is_valid() and not error:
        events = audit_events(form.filters()).select_related("agent", "reviewer").order_by("-id")
        if before is not None:
            events = events.filter(id__lt=before)
        rows = list(events[: PREVIEW_SIZE + 1])
        more, rows = len(rows) > PREVIEW_SIZE, rows[:PREVIEW_SIZE]
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "rows": rows,
        "older": rows[-1].pk if more else None,
        "paged": before is not None,
        "query": query.urlencode(),
        "error": error,
        "formats": list(FORMATS),
        "action_types": ActionType.objects.order_by("key").values_list("key", flat=True),
    }
    return render(request, "audit/export.html", context, status=400 if form.errors or error else 200)


def _cursor(raw: str) -> tuple[int | None, str]:
    if not raw:
        return None, ""
    if not raw.isdigit():
        return None, "That page link is not valid; showing nothing. Start again from the newest events."
    return int(raw), ""


@require_GET
@login_required
def audit_download(request):
    """The matching events as a JSON lines or CSV file, streamed; the page again if a filter is bad."""
    if not can_export(request.user):
        return _refused(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return audit_page(request)
    return export_response(form.filters(), by=request.user)
