"""Request ids and JSON logs (docs/scaling.md, "Logs"): every response carries X-Request-ID, every log record of
the request carries the same id, a Celery task's records carry its task id and the id of the request that sent it."""
import io
import json
import logging
import re

import pytest
from celery import signals

from config.celery import REQUEST_ID_HEADER, app
from config.log_format import json_formatter, logging_config
from core.request_context import RequestContextFilter, request_id_var

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_records():
    """The JSON lines a production handler would write, from the root logger, as parsed objects."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_crawler_without_a_request_id_gets_one_made_for_it(db, anonymous):
    response = anonymous.get("/healthz")
    assert GENERATED.fullmatch(response["X-Request-ID"])
    assert anonymous.get("/healthz")["X-Request-ID"] != response["X-Request-ID"]


def test_a_proxys_sane_request_id_is_echoed_on_answers_and_problems(db, anonymous):
    for request_id in ("0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "req_42.edge:fra1", "a" * 128):
        assert anonymous.get("/healthz", HTTP_X_REQUEST_ID=request_id)["X-Request-ID"] == request_id
    problem = anonymous.get("/api/v1/lookup", HTTP_X_REQUEST_ID="trace-7")  # 401 problem+json
    assert problem.status_code == 401
    assert problem["X-Request-ID"] == "trace-7"


@pytest.mark.parametrize("incoming", ["", "two words", 'quote"d', "a" * 129, "-leading-dash", "é-accent",
                                      "line\nbreak", "semi;colon"])
def test_an_insane_incoming_request_id_is_replaced(db, anonymous, incoming):
    response = anonymous.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert GENERATED.fullmatch(response["X-Request-ID"])


def test_every_log_record_of_a_request_carries_its_id_as_json(db, anonymous, json_records):
    response = anonymous.get("/metrics", HTTP_X_REQUEST_ID="probe-404")  # Django logs the 404 (django.request)
    assert response.status_code == 404
    records = [r for r in json_records() if r["logger"] == "django.request"]
    assert records and all(r["request_id"] == "probe-404" for r in records)
    assert records[0]["level"] == "WARNING" and "/metrics" in records[0]["message"]
    assert request_id_var.get() is None  # nothing leaks into the next request


def test_the_json_formatter_writes_one_object_per_record_with_the_standard_fields(json_records):
    log = logging.getLogger("kyodaku.test")
    log.info("imported %s rows", 1000, extra={"submission": "abc", "rows": 1000})
    try:
        raise ValueError("boom \"quoted\"\nsecond line")
    except ValueError:
        log.exception("it failed")
    first, second = json_records()
    assert first["message"] == "imported 1000 rows" and first["level"] == "INFO" and first["logger"] == "kyodaku.test"
    assert first["submission"] == "abc" and first["rows"] == 1000
    assert first["request_id"] is None and first["task_id"] is None
    assert "time" in first
    assert "ValueError" in second["exc_info"]


def test_log_format_setting_chooses_json_or_text_and_refuses_anything_else():
    assert logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    assert logging_config(log_format="text", level="INFO")["handlers"]["console"]["formatter"] == "text"
    with pytest.raises(ValueError):
        logging_config(log_format="yaml", level="INFO")


@app.task(name="tests.log_probe")
def log_probe():
    logging.getLogger("kyodaku.test.task").warning("inside the task")


def test_a_task_sent_from_a_request_logs_with_its_task_id_and_the_requests_id(json_records):
    # Sending: the request's id goes into the message headers.
    headers = {}
    token = request_id_var.set("web-req-1")
    try:
        signals.before_task_publish.send(sender="tests.log_probe", body=(), exchange="", routing_key="celery",
                                         headers=headers, properties={}, declare=[], retry_policy=None)
    finally:
        request_id_var.reset(token)
    assert headers == {REQUEST_ID_HEADER: "web-req-1"}
    # Running (here eagerly, outside any request): the task's records carry both ids, and nothing stays behind.
    result = log_probe.apply(headers=headers, task_id="task-1")
    assert result.successful()
    (record,) = [r for r in json_records() if r["logger"] == "kyodaku.test.task"]
    assert (record["task_id"], record["request_id"]) == ("task-1", "web-req-1")
    assert request_id_var.get() is None


def test_a_task_run_eagerly_inside_a_request_keeps_that_requests_id(json_records):
    token = request_id_var.set("web-req-2")
    try:
        log_probe.apply(task_id="task-2")
    finally:
        request_id_var.reset(token)
    (record,) = [r for r in json_records() if r["logger"] == "kyodaku.test.task"]
    assert (record["task_id"], record["request_id"]) == ("task-2", "web-req-2")


@pytest.mark.redis
def test_a_task_sent_through_the_real_broker_carries_the_requests_id_in_its_headers(monkeypatch):
    import redis

    from tests.conftest import redis_url

    broker = redis.Redis.from_url(redis_url())
    broker.delete("celery")
    app.conf.task_always_eager  # noqa: B018 - loads the configuration, so the overrides below stick
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
    monkeypatch.setattr(app.conf, "CELERY_BROKER_URL", redis_url())
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    token = request_id_var.set("web-req-3")
    try:
        sent = log_probe.delay()
    finally:
        request_id_var.reset(token)
    try:
        (raw,) = broker.lrange("celery", 0, -1)
        headers = json.loads(raw)["headers"]
        assert (headers["id"], headers[REQUEST_ID_HEADER]) == (sent.id, "web-req-3")
    finally:
        broker.delete("celery")


def test_every_response_has_one_access_line_with_its_request_id(db, anonymous, json_records, settings):
    """Rule (docs/scaling.md, "Logs"): the access log is Django's, so its lines carry the request id whatever server
    runs the application; answers Django gives itself (a 401 problem, a 404) have theirs too."""
    anonymous.get("/healthz", HTTP_X_REQUEST_ID="probe-ok", HTTP_USER_AGENT="crawler/1.0")
    anonymous.get("/api/v1/lookup?id=isbn:978-4-9901661-3-7", HTTP_X_REQUEST_ID="probe-401")
    lines = {r["request_id"]: r for r in json_records() if r["logger"] == "kyodaku.access"}
    ok, refused = lines["probe-ok"], lines["probe-401"]
    assert (ok["method"], ok["path"], ok["status"], ok["user_agent"]) == ("GET", "/healthz", 200, "crawler/1.0")
    assert ok["bytes"] == len(b'{"status": "ok"}') and ok["duration_ms"] >= 0
    assert ok["message"].startswith('127.0.0.1 "GET /healthz HTTP/1.1" 200 16 ')
    assert (refused["status"], refused["path"]) == (401, "/api/v1/lookup")
    assert '"GET /api/v1/lookup?id=isbn:978-4-9901661-3-7 HTTP/1.1" 401' in refused["message"]

    settings.KYODAKU_ACCESS_LOG = False
    anonymous.get("/healthz", HTTP_X_REQUEST_ID="probe-quiet")
    assert "probe-quiet" not in {r["request_id"] for r in json_records() if r["logger"] == "kyodaku.access"}


@pytest.fixture
def production_root():
    """The root logger as LOGGING makes it under LOG_FORMAT=json (one StreamHandler, the request-context filter, the
    JSON formatter), writing to a string; `alone()` sets aside pytest's capture handlers (added around each test)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.setLevel(logging.INFO)

    def alone():
        root.handlers[:] = [handler]

    try:
        yield root, stream, alone
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_an_operators_access_line_written_directly_is_the_line_logging_writes(db, anonymous, production_root):
    """Rule (docs/performance.md, "the access line and the request signals"): with the production handler alone,
    the access line skips logging's machinery and is byte for byte what logging writes (but for the time); with any
    other handler beside it (here a second one), logging writes it, to both."""
    from config import request_id

    root, stream, alone = production_root
    alone()
    assert request_id._direct_handler() is root.handlers[0]
    anonymous.get("/healthz", HTTP_X_REQUEST_ID="probe-direct", HTTP_USER_AGENT="crawler/1.0")
    direct = [line for line in stream.getvalue().splitlines() if '"kyodaku.access"' in line]
    assert len(direct) == 1

    second = io.StringIO()
    other = logging.StreamHandler(second)
    other.setFormatter(json_formatter())
    other.addFilter(RequestContextFilter())
    root.addHandler(other)
    assert request_id._direct_handler() is None
    stream.seek(0)
    stream.truncate()
    anonymous.get("/healthz", HTTP_X_REQUEST_ID="probe-direct", HTTP_USER_AGENT="crawler/1.0")
    by_logging = [line for line in stream.getvalue().splitlines() if '"kyodaku.access"' in line]
    assert len(by_logging) == 1 and by_logging == [line for line in second.getvalue().splitlines()
                                                   if '"kyodaku.access"' in line]

    def without_clock(line):
        record = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", record.pop("time"))
        record.pop("duration_ms")
        record["message"] = re.sub(r" [0-9.]+ms ", " ", record["message"])
        return record, re.sub(r'"time":"[^"]*"|"duration_ms":[0-9.]+| [0-9.]+ms ', "", line)

    assert without_clock(direct[0]) == without_clock(by_logging[0])
    assert json.loads(direct[0])["request_id"] == "probe-direct"


def test_the_access_line_goes_through_logging_when_the_formatter_is_not_the_projects(production_root):
    """Rule: the direct line is only for the project's own JSON formatter; the text format (or a formatter changed
    in any field) is written by logging."""
    from config import request_id

    root, _, alone = production_root
    alone()
    root.handlers[0].setFormatter(logging.Formatter(logging_config(log_format="text", level="INFO")
                                                    ["formatters"]["text"]["format"]))
    assert request_id._direct_handler() is None
    changed = json_formatter()
    changed.prefix = "access: "
    root.handlers[0].setFormatter(changed)
    assert request_id._direct_handler() is None
    root.handlers[0].setFormatter(json_formatter())
    assert request_id._direct_handler() is root.handlers[0]
    logging.getLogger("kyodaku.access").setLevel(logging.WARNING)
    try:
        assert request_id._direct_handler() is None
    finally:
        logging.getLogger("kyodaku.access").setLevel(logging.NOTSET)
