"""The calibration page: how well each agent's confidence is calibrated, for leads and admins."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from hitl.selectors import action_type_keys, agent_names
from reviews.selectors import is_lead

from .api import IsLead
from .metrics import BIAS_MIN_LABELS
from .preferences import preferences
from .selectors import FilterForm, Filters, calibration_rows, routed_shares


@require_GET
@login_required
@vary_on_headers("HX-Request")
def page(request):
    """A reliability diagram and the figures of each action type (and agent), with the API's
    filters. The page re-reads its charts every 15 s (htmx: the `_charts.html` partial)."""
    if not is_lead(request.user):
        raise PermissionDenied(IsLead.message)
    form = FilterForm(request.GET)
    filters, rows, shares, errors = Filters(), [], {}, {}
    if form.is_valid():
        filters = form.filters()
        rows, shares = calibration_rows(filters), routed_shares(filters)
    else:
        errors = form.errors_by_field()
    toggle = request.GET.copy()
    toggle.pop("group_by", None)
    context = {
        "form": form,
        "errors": errors,
        "bias_min": BIAS_MIN_LABELS,
        "filters": filters,
        "rows": [(row, shares.get(row.action_type.pk)) for row in rows],
        "action_types": action_type_keys(),
        "agents": agent_names(),
        "toggle": toggle.urlencode(),
    }
    template = "calibration/_charts.html" if request.htmx else "calibration/page.html"
    return render(request, template, context, status=400 if errors else 200)


@require_GET
@login_required
def preferences_page(request):
    """For admins: what reviewers change in each action type's proposals (calibration.preferences),
    with the plain-language guidance to download for an agent's prompt."""
    if not request.user.is_staff:
        raise PermissionDenied("Reviewer preferences are for admins.")
    patterns, candidates = preferences()
    types = sorted({p.action_type for p in patterns} | {c.action_type for c in candidates})
    context = {
        "types": [
            {
                "key": key,
                "patterns": [p for p in patterns if p.action_type == key and p.reviewer is None],
                "by_reviewer": [p for p in patterns if p.action_type == key and p.reviewer is not None],
                "candidates": [c for c in candidates if c.action_type == key],
            }
            for key in types
        ],
        "min_support": settings.HITL_PREFERENCE_MIN_SUPPORT,
    }
    return render(request, "calibration/preferences.html", context)
