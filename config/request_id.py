"""X-Request-ID: kept from the request when sane (a proxy's or a client's), else made here; echoed on every response
and put in every log record written while the request is served (core.request_context). The first middleware, so
that even a redirect or a refused request carries it.

The id stays set until the response is finished (Django's `request_finished`), not only while the middleware runs:
Django logs a 4xx or 5xx answer (`django.request`) after the whole middleware chain has returned."""
from django.core.signals import request_finished
from django.dispatch import receiver

from core.request_context import request_id_accept, request_id_var

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="kyodaku-request-id-clear")
def _request_id_clear(**kwargs):
    request_id_var.set(None)
