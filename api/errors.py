"""One exception handler: every error under /api/ becomes application/problem+json (RFC 9457).

Domain errors keep their status, code and field errors; DRF's own errors (authentication, throttling, parsing,
validation, 404/405) are translated; anything unexpected is left to propagate so that it is logged, and the
middleware in api/middleware.py turns the resulting 500 into a problem without a stack trace.
"""
import json
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from consent.vocabulary import UnknownJurisdiction, UnknownPurpose
from core.errors import DomainError

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:kyodaku:problem:"

TITLES = {
    400: "Invalid request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

# DRF exception class -> our problem code
DRF_CODES = [
    (exceptions.NotAuthenticated, "not-authenticated"),
    (exceptions.AuthenticationFailed, "authentication-failed"),
    (exceptions.PermissionDenied, "permission-denied"),
    (exceptions.NotFound, "not-found"),
    (exceptions.MethodNotAllowed, "method-not-allowed"),
    (exceptions.NotAcceptable, "not-acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported-media-type"),
    (exceptions.Throttled, "rate-limited"),
    (exceptions.ParseError, "malformed-request"),
]


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request-too-large"


def problem(status_code: int, detail: str, *, code: str, title: str | None = None, errors=None) -> dict:
    body = {
        "type": TYPE_PREFIX + code,
        "title": title or TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    body["errors"] = list(errors or [])
    return body


def problem_http_response(status_code: int, detail: str, *, code: str, headers=None) -> HttpResponse:
    """A plain Django response, for errors raised outside DRF views (unknown URLs, 500s)."""
    response = HttpResponse(json.dumps(problem(status_code, detail, code=code)), status=status_code,
                            content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten(detail, prefix: str = "") -> list[dict]:
    """DRF's nested validation detail as a flat list of {field, code, detail}; list items as `field[i]`."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out += _flatten(value, f"{prefix}.{name}" if prefix and name else (prefix or name))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) or isinstance(item, str) for item in detail):
            return [_one(prefix, item) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item:  # DRF puts {} for list items without errors
                out += _flatten(item, f"{prefix}[{index}]")
        return out
    return [_one(prefix, detail)]


def _one(field: str, item) -> dict:
    code = getattr(item, "code", None) or "invalid"
    return {"field": field, "code": str(code).replace("_", "-"), "detail": str(item)}


def problem_exception_handler(exc, context):
    response = _problem_response(exc)
    request = context.get("request")
    if response is not None and request is not None:
        # Errors are JSON whatever the view negotiated (a CSV download's 404 must not be rendered as CSV).
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    return response


def problem_rendered(exc) -> HttpResponse | None:
    """`exc` as the finished problem+json response the exception handler's would render to (the same body bytes,
    status and headers), for a view outside DRF (the lean GET, api.views.lookup); None for an unexpected error."""
    drf = _problem_response(exc)
    if drf is None:
        return None
    response = HttpResponse(JSONRenderer().render(drf.data, PROBLEM_CONTENT_TYPE), status=drf.status_code,
                            content_type=PROBLEM_CONTENT_TYPE)
    for name, value in drf.items():
        if name != "Content-Type":
            response[name] = value
    return response


def _problem_response(exc):
    headers = {}
    if isinstance(exc, DomainError):
        body = problem(exc.status, exc.detail, code=exc.code, title=exc.title, errors=exc.errors)
        if getattr(exc, "retry_after", None) is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return Response(body, status=exc.status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, UnknownPurpose | UnknownJurisdiction):
        field = "purpose" if isinstance(exc, UnknownPurpose) else "jurisdiction"
        body = problem(400, str(exc), code=exc.code, errors=[{"field": field, "code": exc.code, "detail": str(exc)}])
        return Response(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, IntegrityError):
        # Two requests raced for the same unique slot (e.g. the same new work_ref): the database kept one.
        body = problem(409, "A concurrent change to the same data won; repeat the request.", code="conflict",
                       title="Conflict")
        return Response(body, status=409, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge("The request body is larger than this server accepts.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # unexpected: propagate, logged by Django, answered as a 500 problem by the middleware

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))

    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        detail = "The request is not valid: " + "; ".join(
            f"{e['field']}: {e['detail']}" if e["field"] else e["detail"] for e in errors[:5]
        )
        body = problem(400, detail, code="invalid", title="Invalid input", errors=errors)
    else:
        code = next((c for cls, c in DRF_CODES if isinstance(exc, cls)), None)
        if code is None:
            code = str(getattr(exc, "default_code", "error")).replace("_", "-")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        body = problem(exc.status_code, str(detail), code=code)
    return Response(body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
