"""Content negotiation for the lookup endpoints, which render JSON only.

DRF's negotiation parses the Accept header into media types and ranks them on every request (about 5 % of a
lookup GET's CPU). When the client sends no Accept, `*/*` or `application/json` and no `?format=`, its answer is
always the first renderer with that renderer's own media type, so that is returned at once; anything else is
negotiated as before (an `Accept: text/html` still gets its 406).
"""
from rest_framework.negotiation import DefaultContentNegotiation

PLAIN_ACCEPTS = frozenset({"", "*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in PLAIN_ACCEPTS
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
