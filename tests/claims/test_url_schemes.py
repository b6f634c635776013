"""The claims path and the scheme rule (issue 19): what a holder files by CSV under one scheme is found under the
other, in the batch and the one-id look-ups, with the terms of the deciding declaration."""
import pytest

from consent.lookup import lookup_many, lookup_one

from .conftest import HEADER
from .helpers import csv_text

pytestmark = [pytest.mark.django_db]


def answers(identifier: str, *, purpose: str, jurisdiction: str) -> list[dict]:
    batch = lookup_many(ids=[identifier, "isbn:9780306406157"], purpose=purpose, jurisdiction=jurisdiction)[0]
    return [batch, lookup_one(id=identifier, purpose=purpose, jurisdiction=jurisdiction)]


def test_tsubasa_files_https_forms_by_csv_and_http_copies_are_caught(tsubasa, submit):
    submission = submit(tsubasa, csv_text(
        HEADER + ",conditions",
        "tsubasa-anime,TB-0100,Skyward Engineers,,series,url-prefix:https://tsubasa-anime.example/skyward/,tdm,EU,"
        "reserve,work,",
        "tsubasa-anime,TB-0101,Skyward Engineers: Episode 1,,episode,url:http://tsubasa-anime.example/skyward/ep1,"
        "ai-use,*,grant,work,Retrieval with a link back only",
    ))
    assert submission.status == "done", submission.error
    # the grant through a web identifier counts only with verified control of its host (interop.md)
    from domains.services import domain_claim_create, domain_verify_operator

    claim, _ = domain_claim_create(holder=tsubasa.holder, domain="tsubasa-anime.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor="test")
    for answer in answers("url:http://tsubasa-anime.example/skyward/ep2", purpose="train-genai", jurisdiction="FR"):
        assert (answer["outcome"], answer["basis"], answer["work"]["work_ref"]) == ("denied", "reserved", "TB-0100")
    for answer in answers("url:https://tsubasa-anime.example/skyward/ep1", purpose="ai-use", jurisdiction="FR"):
        assert (answer["outcome"], answer["basis"], answer["work"]["work_ref"]) == ("allowed", "granted", "TB-0101")
        assert answer["declaration"]["conditions"] == "Retrieval with a link back only"
