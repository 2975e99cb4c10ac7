"""The calibration page: how well each agent's confidence is calibrated, for leads and admins."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from hitl.selectors import action_type_keys, agent_names
from reviews.selectors import is_lead

from .api import IsLead
from .metrics import BIAS_MIN_LABELS
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
