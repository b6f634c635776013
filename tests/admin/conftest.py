"""Helpers for the admin's tests: works and declarations made through the services, as the admin itself makes them."""
import pytest

from consent.services import declaration_file
from registry.services import work_register


@pytest.fixture
def make_work():
    def make(holder, work_ref, title="A work", identifiers=(), kind="book", original_title=""):
        return work_register(holder=holder, work_ref=work_ref, title=title, kind=kind, identifiers=identifiers,
                             original_title=original_title).work

    return make


@pytest.fixture
def reserve():
    def file(work, purpose="train-ai", jurisdiction="*", consent="reserve"):
        return declaration_file(holder=work.holder, work=work, purpose=purpose, jurisdiction=jurisdiction,
                                consent=consent)[0]

    return file


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user
