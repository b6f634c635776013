import contextlib
import os

from celery import Celery, signals

from core.request_context import request_id_var, task_id_var

# Like WSGI/ASGI: a worker started without DJANGO_SETTINGS_MODULE runs with production settings (which refuse to
# start without their secrets), never with local ones (DEBUG, a public dev secret, eager tasks).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("kyodaku")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["config"])  # config/tasks.py: tasks above every app (the attention digest)


# Logs (docs/scaling.md, "Logs"): the worker logs through Django's LOGGING (JSON lines in production) instead of
# Celery's own format, and each record of a task carries the task's id and the id of the web request that queued
# it (a message header set when the task is sent).
REQUEST_ID_HEADER = "kyodaku_request_id"
_tokens: dict[str, tuple] = {}


@signals.setup_logging.connect
def _logging_from_django(**kwargs):
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def _send_request_id(headers=None, **kwargs):
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers[REQUEST_ID_HEADER] = request_id


@signals.task_prerun.connect
def _task_context_enter(task_id=None, task=None, **kwargs):
    # Sent by a web request: its id from the header. Run eagerly inside the request: that request's id stays.
    request_id = _request_id_of(task.request) if task is not None else None
    tokens = (task_id_var.set(task_id), request_id_var.set(request_id) if request_id else None)
    _tokens[task_id] = tokens


def _request_id_of(request) -> str | None:
    """The header as a worker sees it (an attribute of the request and in its `headers`) or as an eager apply with
    `headers=` passes it (in `headers` only)."""
    value = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER)
    return value if isinstance(value, str) else None


@signals.task_postrun.connect
def _task_context_leave(task_id=None, **kwargs):
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        with contextlib.suppress(ValueError):  # a token from another context (never expected): leave it be
            if tokens[1] is not None:
                request_id_var.reset(tokens[1])
            task_id_var.reset(tokens[0])
