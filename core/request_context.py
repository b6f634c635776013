"""The request id (and Celery task id) of the work under way, for every log record it writes (docs/scaling.md, "Logs").

A context variable, so that threads (gunicorn's gthread workers) and the web request, the Celery task it queues
and that task's log records each see their own. Set by config.request_id.RequestIdMiddleware and by the Celery
signals in config/celery.py; read by RequestContextFilter, which the LOGGING handlers carry.
"""
import logging
import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("kyodaku_request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("kyodaku_task_id", default=None)

# An incoming X-Request-ID is kept when it looks like an id (a proxy's, a client's: letters, digits, `-._:`, at
# most 128 characters); anything else (spaces, quotes, control characters, a kilobyte of text) is replaced.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_accept(incoming: str | None) -> str:
    """The incoming id when sane, else a new one (32 hex digits)."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `task_id` (None outside a request or task) to every record passing the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "task_id"):
            record.task_id = task_id_var.get()
        return True
