from django.http import HttpResponse, JsonResponse
from django.views import defaults


def no_favicon(request):
    """Browsers ask for one whatever the page says: no content, rather than a 404 in the log."""
    return HttpResponse(status=204)


def healthz(request):
    return JsonResponse({"status": "ok"})


def bad_request(request, exception=None):
    """A request Django refuses before any view (a Host it does not serve, a body past
    DATA_UPLOAD_MAX_MEMORY_SIZE): JSON for API clients, the product's page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "bad_request", "message": "The request was refused as malformed."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    """JSON for API clients, the product's page for people."""
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
