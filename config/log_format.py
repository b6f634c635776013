"""LOGGING for every process (web, Celery worker, management commands): text or JSON lines, with the request id
and the Celery task id on each record (core.request_context). docs/scaling.md, "Logs"."""

# Fields of every JSON record: these, then whatever a call adds with `extra=`; request_id and task_id are null
# outside a request or a task.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [request=%(request_id)s task=%(task_id)s] %(message)s"


def json_formatter():
    """One JSON object per record: time, level, logger, message, request_id, task_id, then any `extra=` fields;
    an exception's traceback as `exc_info`. Written by orjson (python-json-logger's OrjsonFormatter: compact, UTF-8
    text unescaped): a fifth less CPU per line than the standard library's encoder, and every response writes one
    (the access line, config/request_id.py; docs/performance.md)."""
    from pythonjsonlogger.orjson import OrjsonFormatter

    return OrjsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def logging_config(*, log_format: str, level: str) -> dict:
    if log_format not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be json or text, not {log_format!r}.")
    formatters = {
        "json": {"()": "config.log_format.json_formatter"},
        "text": {"format": TEXT_FORMAT},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "core.request_context.RequestContextFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format,
                                 "filters": ["request_context"]}},
        "root": {"handlers": ["console"], "level": level},
    }
