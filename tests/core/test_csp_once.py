"""The CSP middleware (config.csp_once) sets exactly the headers django-csp's own would, for a plain API answer,
an admin page that used its nonce, a response decorated with its own policy, an exempt one and Django's debug 404:
the policy built once per process is the one django-csp builds per response."""
import pytest
from csp.decorators import csp_exempt, csp_update
from csp.middleware import CSPMiddleware as DjangoCSP
from django.http import HttpResponse
from django.test import RequestFactory

from config.csp_once import CSPMiddleware


def _views():
    def plain(request):
        return HttpResponse("{}", content_type="application/json")

    def with_nonce(request):
        return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")

    @csp_update({"img-src": ["https://cdn.example"]})
    def decorated(request):
        return HttpResponse("<img>")

    @csp_exempt()
    def exempt(request):
        return HttpResponse("raw")

    def missing(request):
        return HttpResponse(status=404)

    return {"plain": plain, "with_nonce": with_nonce, "decorated": decorated, "exempt": exempt, "missing": missing}


@pytest.mark.parametrize("name", ["plain", "with_nonce", "decorated", "exempt", "missing"])
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("report_only", [None, {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/r"}}])
def test_operator_pages_and_api_answers_get_django_csps_headers(settings, name, debug, report_only):
    settings.DEBUG = debug
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = report_only
    headers = []
    for middleware_class in (CSPMiddleware, DjangoCSP):
        request = RequestFactory().get("/api/v1/lookup")
        response = middleware_class(_views()[name])(request)
        nonce = getattr(request, "_csp_nonce", None)
        headers.append({k: v.replace(nonce, "NONCE") if nonce else v for k, v in response.items()})
    assert headers[0] == headers[1]
    if name == "plain" and not debug:
        assert "Content-Security-Policy" in headers[0]


def test_a_nonce_asked_for_after_the_header_is_written_is_an_error():
    from csp.exceptions import CSPNonceError

    request = RequestFactory().get("/")
    CSPMiddleware(lambda r: HttpResponse("ok"))(request)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
