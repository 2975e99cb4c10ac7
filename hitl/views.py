from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

from .selectors import actions_recent


@login_required
def home(request):
    """The latest actions, refreshed by htmx polling the partial."""
    template = "hitl/_actions.html" if request.htmx else "hitl/home.html"
    return render(request, template, {"actions": actions_recent(50)})


def healthz(request):
    return JsonResponse({"status": "ok"})


def not_found(request, exception=None):
    """JSON for API clients, the usual page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "not_found", "message": f"Nothing at {request.path}."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "error": "server_error",
                "message": "Something went wrong on our side; it has been logged.",
                "request_id": getattr(request, "id", ""),
            },
            status=500,
        )
    return defaults.server_error(request)
