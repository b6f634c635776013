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


def form_data(response) -> dict:
    """The POST body a browser would send for an admin change form as rendered: every field's current value,
    the inlines' management forms included. Tests then change what they mean to change."""
    data = {}

    def add(form):
        for name, field in form.fields.items():
            if field.disabled:
                continue
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            if isinstance(value, (list, tuple)):
                data[form.add_prefix(name)] = [str(v) for v in value]
                continue
            data[form.add_prefix(name)] = str(value)

    context = response.context
    add(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = str(value)
        for form in formset.initial_forms:
            add(form)
    return data
