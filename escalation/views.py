"""The team lead's SLA dashboard (escalation.dashboard): the page, its live partial and its tables as CSV."""

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from reviews.selectors import is_lead

from .dashboard import RECENT_DAYS, WINDOW_LABELS, WindowForm, dashboard_figures
from .tables import TABLES

NOT_A_LEAD = "The SLA dashboard is for team leads and admins."
WINDOW_TABS = [(name, label.capitalize()) for name, label in WINDOW_LABELS.items()]


@require_GET
@login_required
@vary_on_headers("HX-Request")
def dashboard(request):
    """Every tile for the window chosen (the last day by default). The page re-reads its tiles
    when the reviewer socket says an action changed, and every 30 s (static/js/live_region.js)."""
    if not is_lead(request.user):
        raise PermissionDenied(NOT_A_LEAD)
    form = WindowForm(request.GET)
    context = {"form": form, "query": request.GET.urlencode(), "windows": WINDOW_TABS}
    if not form.is_valid():
        context["errors"] = form.errors_by_field()
        return render(request, "escalation/dashboard.html", context, status=400)
    now = timezone.now()
    figures = dashboard_figures(form.window_at(now), now)
    context.update(
        d=figures,
        now=now,
        window_label=figures.window.label,
        relief_days=RECENT_DAYS,
        mix_tables=[("Per action type", figures.types, "Action type"), ("Per agent", figures.agents, "Agent")],
    )
    template = "escalation/_tiles.html" if request.htmx else "escalation/dashboard.html"
    return render(request, template, context)


@require_GET
@login_required
def dashboard_table(request, table: str):
    """One of the dashboard's tables, for the same window, as CSV."""
    if not is_lead(request.user):
        raise PermissionDenied(NOT_A_LEAD)
    if table not in TABLES:
        raise Http404(f"No table '{table}'. Tables: {', '.join(TABLES)}.")
    form = WindowForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors_by_field().items())
        return HttpResponse(problems + "\n", status=400, content_type="text/plain; charset=utf-8")
    now = timezone.now()
    window = form.window_at(now)
    header, rows = TABLES[table].rows(dashboard_figures(window, now))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="hitl-{table}-{window.name}-{now:%Y%m%dT%H%M}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
