"""Stateful property tests over the whole API (schemathesis state machine), with the tokens and keys of two
parties on each side: Studio Kaze's and Hoshi Publishing's tokens, two AI developers' API keys.

drf-spectacular's schema has no OpenAPI links, so this test adds them (what a create returns, the next operation
reads, changes, revokes...), and schemathesis chains generated calls along them. Besides the schema checks (no
5xx, documented status codes, content types and bodies), every step proves isolation:
- a resource made with one party's credential is 404 to the other party (holders: works, declarations, claims;
  developers: webhooks), or 400 for parameters bad whoever asks; never 2xx, never 403. API keys may read any
  work, so that pair is not checked;
- a holder's token never files or registers for the other holder (a 2xx there is a failure).
"""
import itertools

import pytest
import schemathesis
import yaml
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from keys.services import api_key_create
from registry.services import work_register

from .conftest import client_for

pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ID = "$response.body#/id"
FIRST = "$response.body#/results/0/id"
# source operationId -> {status: [(target operationId, parameter expression)]}
LINKS = {
    "works_register": {"201": ["works_retrieve", "works_update", "works_cawg"], "200": ["works_retrieve"]},
    "works_list": {"200": [("works_retrieve", FIRST), ("works_update", FIRST)]},
    "declarations_file": {"201": ["declarations_retrieve", "declarations_revoke"], "200": ["declarations_retrieve"]},
    "declarations_list": {"200": [("declarations_retrieve", FIRST), ("declarations_revoke", FIRST)]},
    "claims_submit": {"202": ["claims_status", "claims_errors"]},
    "webhooks_create": {"201": ["webhook_get", "webhook_deliveries", "webhook_enable", "webhook_delete"]},
}
OWNED = {"works_retrieve", "works_update", "works_cawg", "declarations_retrieve", "declarations_revoke",
         "claims_status", "claims_errors", "webhook_get", "webhook_deliveries", "webhook_enable", "webhook_delete"}
CREATES = {"works_register", "declarations_file", "claims_submit", "webhooks_create"}
VALID_BODIES = {
    "works_register": lambda n: {"holder": "?", "work_ref": f"ST-{n}", "title": f"Stateful {n}", "kind": "book",
                                 "identifiers": []},
    "declarations_file": lambda n: {"holder": "?", "scope": "catalogue", "purpose": "train-ai",
                                    "jurisdiction": ["JP", "EU", "*"][n % 3], "consent": ["reserve", "grant"][n % 2]},
}
KEY_PATHS = ("/api/v1/lookup", "/api/v1/changes", "/api/v1/snapshots", "/api/v1/webhooks", "/api/v2/")


def schema_with_links() -> dict:
    raw = yaml.safe_load(Client(HTTP_HOST="localhost").get("/api/v1/schema/").content)
    operations = {op["operationId"]: op for path in raw["paths"].values() for op in path.values()}
    for source, by_status in LINKS.items():
        for status, targets in by_status.items():
            links = operations[source]["responses"][status].setdefault("links", {})
            for target in targets:
                target, expression = target if isinstance(target, tuple) else (target, ID)
                links[f"{target}_from_{source}"] = {"operationId": target, "parameters": {"id": expression}}
    return raw


# Loaded once, at import: the schema view touches no database (and Django's test client, used here, reconnects the
# request signals that the fixture below disconnects).
RAW_SCHEMA = schema_with_links()


@pytest.fixture
def parties(studio_kaze, hoshi_pub):
    cache.clear()
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="film",
                  identifiers=["isbn:978-4-9901661-3-7"])
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="book",
                  identifiers=["isbn:978-0-306-40615-7"])
    holders = [(p.code, client_for(p.user)._credentials["HTTP_AUTHORIZATION"]) for p in (studio_kaze, hoshi_pub)]
    keys = [(name, f"Api-Key {api_key_create(name=name, rate='none')[1]}") for name in ("crawler-a", "crawler-b")]
    request_started.disconnect(close_old_connections)  # in-process WSGI shares the test's transaction
    request_finished.disconnect(close_old_connections)
    yield {"holders": holders, "keys": keys}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_two_holders_and_two_developers_chain_calls_without_crossing(parties):
    schema = schemathesis.openapi.from_dict(RAW_SCHEMA)
    schema.app = get_wsgi_application()
    owners: dict[str, str] = {}
    crossings: list[str] = []  # calls of one party on the other's resource, each of which had to be a 404

    class Workflow(schema.as_state_machine()):
        def setup(self):
            # Each scenario from the same database state (a savepoint), so that hypothesis can replay and shrink.
            self.savepoint = transaction.savepoint()
            self.owners: dict[str, str] = {}
            self.turn = itertools.count()  # deterministic choices (hypothesis replays scenarios)
            self.callers = {"holders": itertools.cycle(parties["holders"]), "keys": itertools.cycle(parties["keys"])}
            self.party = None

        def teardown(self):
            owners.update(self.owners)
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case):
            op = case.operation.definition.raw["operationId"]
            uses_key = case.operation.path.startswith(KEY_PATHS) or (op in ("works_list", "works_retrieve")
                                                                    and case.method == "GET" and self._odd())
            self.party = next(self.callers["keys" if uses_key else "holders"])  # alternately one and the other
            if not uses_key and op in VALID_BODIES and self._odd():
                # Half the creates get a valid body (generated ones rarely are), so that chains start.
                case.body = VALID_BODIES[op](next(self.turn))
            if isinstance(case.body, dict) and "holder" in case.body and not uses_key:
                # Mostly the caller's own holder (so that creates succeed and chains go on), sometimes the other's.
                mine, other = self.party[0], next(code for code, _ in parties["holders"] if code != self.party[0])
                case.body["holder"] = other if self._odd() and self._odd() else mine
            if case.media_type == "multipart/form-data" and not isinstance(case.body, dict):
                case.body = {}  # schemathesis' WSGI transport cannot encode a non-object multipart body
            if op == "changes_list" and isinstance(case.query, dict) and "wait" in case.query:
                case.query["wait"] = 0
            case.headers = {**(case.headers or {}), "Authorization": self.party[1]}

        def _odd(self) -> bool:
            return next(self.turn) % 2 == 1

        def after_call(self, response, case):
            op = case.operation.definition.raw["operationId"]
            ok = 200 <= response.status_code < 300
            if op in CREATES and isinstance(case.body, dict) and case.body.get("holder") not in (None,
                                                                                                self.party[0]):
                assert not ok, f"{self.party[0]} {op} for {case.body.get('holder')}: {response.status_code}"
            if ok and op in CREATES:
                created = response.json().get("id")
                if created:
                    self.owners[str(created)] = self.party[0]
            identifier = str((case.path_parameters or {}).get("id", ""))
            owner = self.owners.get(identifier)
            if op in OWNED and owner is not None and owner != self.party[0]:
                cross_party_work_read = op in ("works_retrieve", "works_cawg") and self.party in parties["keys"]
                if not cross_party_work_read:
                    crossings.append(op)
                    # 404 (never 403: existence is not revealed); a 400 for bad parameters says nothing either.
                    assert response.status_code in (400, 404), (
                        f"{self.party[0]} reached {owner}'s {op} {identifier}: {response.status_code}")

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    # No shrinking phase: in CI a failure is reported as found (shrinking a stateful run can take many minutes).
    Workflow.run(settings=settings(max_examples=25, stateful_step_count=6, deadline=None, derandomize=True,
                                   phases=[Phase.explicit, Phase.reuse, Phase.generate],
                                   suppress_health_check=list(HealthCheck)))
    # The chains went somewhere: both holders created things (which the other could not reach).
    assert set(owners.values()) >= {"studio-kaze", "hoshi-pub"}, owners
    assert crossings, "no call reached the other party's resource: the isolation check never ran"
