"""Property-based tests of the whole API against its own OpenAPI schema (schemathesis).

Every operation is called with generated input, valid and invalid, and real credentials (an API key for lookups
and work searches, a holder's token elsewhere), so requests reach the handlers; a test fails on any 5xx, an
undocumented status code, a wrong content type or a body or header that does not match the schema.
Bounded: the examples and fuzzing phases only (the coverage phase alone would send thousands of requests), at
most EXAMPLES_PER_OPERATION generated cases per operation, a few hundred in all.
"""
import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from consent.services import declaration_file
from keys.services import api_key_create
from registry.services import work_register

from .conftest import client_for

pytestmark = [pytest.mark.schemathesis]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES_PER_OPERATION = 15  # about 20 operations

# Loaded once, in-process (the schema view touches no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
schema.config.phases.coverage.enabled = False


@pytest.fixture
def credentials(studio_kaze, collective, tsubasa):
    cache.clear()
    _, key = api_key_create(name="schemathesis", rate="none")
    token = client_for(studio_kaze.user)._credentials["HTTP_AUTHORIZATION"]
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7"]).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai", consent="reserve")
    # Requests go through WSGI in-process and share the test's transaction: keep Django from closing that
    # connection at the end of each request (the test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"api_key": f"Api-Key {key}", "token": token}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_honours_its_schema(case, credentials):
    if case.media_type == "multipart/form-data" and not isinstance(case.body, dict):
        return  # schemathesis' WSGI transport cannot encode a non-object multipart body (a client-side crash)
    path = case.operation.path
    uses_key = (path.startswith(("/api/v1/lookup", "/api/v1/changes", "/api/v1/snapshots"))
                or (path.startswith("/api/v1/works") and case.method == "GET"))
    if path == "/api/v1/changes" and isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0  # a long poll on a feed with nothing new would hold each case up to 30 s
    case.headers = {**(case.headers or {}), "Authorization": credentials["api_key" if uses_key else "token"]}
    case.call_and_validate(checks=CHECKS)
