"""The base classes of every API view: DRF's (and adrf's async one), rendering their responses
before the view returns, and counting every call against the rate limits (hitl.api.throttles)."""

from adrf import views as async_views
from django.http import HttpResponse
from rest_framework import exceptions, views
from rest_framework.response import Response


class CountedWhenRefused:
    """Counts a call refused for its credentials or its permissions against the rate limits too.

    DRF checks throttles after authentication and permissions, so calls with wrong credentials,
    or none, would never be counted: a caller could try tokens or passwords without limit. Here a
    refusal checks the throttles first (a call over the limit then answers 429 rather than
    401/403); every other call is counted once, where DRF counts it.
    """

    def perform_authentication(self, request):
        try:
            super().perform_authentication(request)
        except exceptions.APIException:
            self.check_throttles(request)
            raise

    def permission_denied(self, request, message=None, code=None):
        self.check_throttles(request)
        super().permission_denied(request, message=message, code=code)


class RenderedInView:
    """Renders a DRF Response in the view, and hands Django a plain HttpResponse with the same
    status, headers, cookies and body.

    Under ASGI, Django renders a response that has a render() (every DRF Response) on one more
    trip to a worker thread after the view has returned. For a submit that trip cost 8 % of its
    throughput (bench/intake.py). Rendered here, in the view's own thread, or on the event
    loop for an async view, the response needs no trip. Negotiation and renderers stay DRF's.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if not isinstance(response, Response):
            return response
        response.render()
        rendered = HttpResponse(response.content, status=response.status_code, headers=response.headers)
        rendered.cookies = response.cookies
        return rendered


class APIView(CountedWhenRefused, RenderedInView, views.APIView):
    pass


class AsyncAPIView(CountedWhenRefused, RenderedInView, async_views.APIView):
    # The throttles are sync (cache calls, in the thread that runs the view's checks); adrf's check
    # would also take an empty list of async ones to the event loop and back on every call.
    check_throttles = views.APIView.check_throttles
