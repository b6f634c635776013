"""django-csp's middleware, with the policy of a plain response built once per process instead of twice per
response.

django-csp (4.0) builds the Content-Security-Policy header and the report-only one from the settings for every
response (about 4 % of a lookup GET's CPU, docs/performance.md). Unless the response was decorated (`@csp_update`
and the like) or the page used the request's nonce, both are the same strings for the process's life: they are
built once (again when a test changes the settings). A decorated response or a nonce goes through django-csp's own
`process_response`; tests/config/test_csp_once.py compares the headers of both on plain, nonce and exempt pages.
"""
from functools import cache

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as _CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")


@cache
def _plain() -> tuple[tuple[str, str, bool, tuple[str, ...]], ...]:
    """(header, policy, exempt attribute, excluded prefixes) of the policy and of the report-only one."""
    return tuple(
        (header, policy, exempt, tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()))
        for header, policy, exempt, setting in (
            (HEADER, build_policy(), "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, build_policy(report_only=True), "_csp_exempt_ro",
             "CONTENT_SECURITY_POLICY_REPORT_ONLY"))
        if policy)


@receiver(setting_changed, dispatch_uid="kyodaku-csp-forget")
def _forget(*, setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _plain.cache_clear()


class CSPMiddleware(_CSPMiddleware):
    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
                getattr(response, name, None) is not None for name in _PER_RESPONSE):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:  # django-csp leaves Django's debug pages alone
            return response
        for header, policy, exempt, prefixes in _plain():
            if header not in response and getattr(response, exempt, False) is False and not (
                    prefixes and request.path_info.startswith(prefixes)):
                response[header] = policy
        # As django-csp: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
