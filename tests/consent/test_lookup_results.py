"""One definition of the api.md result shape (consent.lookup.results.RESULT_KEYS): what the lookup path builds and
what the API's OpenAPI serializer documents are the same keys, in the same order."""
from datetime import UTC, datetime

import pytest

from api.serializers import LookupResultSerializer
from consent.lookup import lookup_many, lookup_one
from consent.lookup.results import RESULT_KEYS
from registry.services import work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_api_serializer_documents_exactly_the_result_keys():
    # the optional fields (receipt, proof) are added by the API when a receipt is asked for
    documented = [name for name, field in LookupResultSerializer().fields.items() if field.required]

    assert documented == list(RESULT_KEYS)


def test_studio_kaze_registered_and_unregistered_answers_have_the_result_keys_in_order(studio_kaze):
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="manga",
                  identifiers=["isbn:978-4-9901661-3-7"], at=T0)
    ask = {"purpose": "train-genai", "jurisdiction": "JP", "as_of": datetime(2026, 6, 1, tzinfo=UTC)}

    answers = lookup_many(ids=["isbn:978-4-9901661-3-7", "isbn:978-0-00-000000-2"], **ask)
    answers.append(lookup_one(id="isbn:978-4-9901661-3-7", **ask))

    assert [a["registered"] for a in answers] == [True, False, True]
    for answer in answers:
        assert tuple(answer) == RESULT_KEYS
