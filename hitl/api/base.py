"""The base classes of every API view: DRF's (and adrf's async one), rendering their responses
before the view returns."""

from adrf import views as async_views
from django.http import HttpResponse
from rest_framework import views
from rest_framework.response import Response


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


class APIView(RenderedInView, views.APIView):
    pass


class AsyncAPIView(RenderedInView, async_views.APIView):
    pass
