from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from .selectors import actions_recent


@login_required
def home(request):
    """The latest actions, refreshed by htmx polling the partial."""
    template = "hitl/_actions.html" if request.htmx else "hitl/home.html"
    return render(request, template, {"actions": actions_recent(50)})


def healthz(request):
    return JsonResponse({"status": "ok"})
