"""The vocabulary map (interop.md, "Vocabularies"): kept as data, served without a key, the one place every emitter
and importer translates through. Persona: anyone (a crawler operator reading the map before switching to Kyodaku)."""
import pytest

from consent.vocabulary import (
    GRANT,
    PURPOSES,
    RESERVE,
    VOCABULARIES,
    UnknownVocabulary,
    combine_consents,
    purpose_chain,
    vocabulary,
    written_consent,
)

# The contract's table, read literally: vocabulary key -> term -> Kyodaku purposes.
CONTRACT = {
    "aipref-vocab-02": {"all": {"tdm"}, "train-ai": {"train-ai"}, "train-genai": {"train-genai"},
                        "ai-use": {"ai-use"}, "search": {"search"}},
    "aipref-vocab-08": {"train-ai": {"train-genai"}, "search": {"search"}},
    "content-signals": {"ai-train": {"train-ai"}, "ai-input": {"ai-use"}, "search": {"search"}},
    "tdmrep": {"tdm-reservation": {"tdm"}},
    "cawg-training-mining-1.1": {"cawg.data_mining": {"tdm"}, "cawg.ai_training": {"train-ai"},
                                 "cawg.ai_generative_training": {"train-genai"}, "cawg.ai_inference": {"ai-use"}},
    "rsl-1.0": {"all": {"tdm"}, "ai-all": {"train-ai", "ai-use"}, "ai-train": {"train-ai"},
                "ai-input": {"ai-use"}, "ai-index": {"search"}, "search": {"search"}},
}
VALUES = {
    "aipref-vocab-02": {"y": GRANT, "n": RESERVE}, "aipref-vocab-08": {"y": GRANT, "n": RESERVE},
    "content-signals": {"yes": GRANT, "no": RESERVE}, "tdmrep": {"0": GRANT, "1": RESERVE},
    "cawg-training-mining-1.1": {"allowed": GRANT, "notAllowed": RESERVE, "constrained": RESERVE},
    "rsl-1.0": {"permits": GRANT, "prohibits": RESERVE},
}


def test_the_map_is_the_contracts_table():
    assert {v.key: {t.token: set(t.purposes) for t in v.terms} for v in VOCABULARIES} == CONTRACT
    assert {v.key: v.values for v in VOCABULARIES} == VALUES


@pytest.mark.parametrize("vocab", VOCABULARIES, ids=lambda v: v.key)
def test_every_vocabulary_names_its_version_and_writes_back_what_it_reads(vocab):
    assert vocab.version and vocab.source.startswith("https://")
    for consent, value in vocab.written_values.items():
        assert vocab.consent_of(value) == consent
    for term in vocab.terms:
        assert all(p in PURPOSES for p in term.purposes)
        assert set(term.written_from) == {q for p in term.purposes for q in purpose_chain(p)}


def test_latest_aipref_draft_reads_train_ai_as_generative_training_and_says_so():
    latest = vocabulary("aipref-vocab-08")
    assert latest.version == "draft-ietf-aipref-vocab-08"
    assert latest.term("train-ai").purposes == ("train-genai",)
    assert "-02" in latest.term("train-ai").note
    assert latest.term("ai-use") is None and latest.term("all") is None  # not guessed: reported as ignored
    assert vocabulary("aipref-vocab-02").term("train-ai").purposes == ("train-ai",)


def test_unknown_vocabulary_is_an_error():
    with pytest.raises(UnknownVocabulary):
        vocabulary("aipref-vocab-99")


def test_a_reservation_wins_over_a_grant_in_any_order():
    assert combine_consents([("train-ai", GRANT), ("train-ai", RESERVE)]) == {"train-ai": RESERVE}
    assert combine_consents([("train-ai", RESERVE), ("train-ai", GRANT), ("search", GRANT)]) == {
        "train-ai": RESERVE, "search": GRANT}


def test_writing_walks_the_purpose_chain_and_a_split_term_says_nothing():
    rsl = vocabulary("rsl-1.0")
    own = {"train-ai": RESERVE}

    def consent_for(purpose):
        return next((own[p] for p in purpose_chain(purpose) if p in own), None)

    assert written_consent(vocabulary("aipref-vocab-08"), vocabulary("aipref-vocab-08").term("train-ai"),
                           consent_for) == "n"  # train-genai decided by the train-ai reservation
    assert written_consent(rsl, rsl.term("ai-all"), consent_for) is None  # ai-use has no declaration
    own["tdm"] = RESERVE
    assert written_consent(rsl, rsl.term("ai-all"), consent_for) == "prohibits"


def test_vocabularies_endpoint_for_anyone(anonymous, db):
    response = anonymous.get("/api/v1/vocabularies")
    assert response.status_code == 200
    by_key = {v["key"]: v for v in response.json()}
    assert set(by_key) == set(CONTRACT)
    latest = by_key["aipref-vocab-08"]
    assert latest["version"] == "draft-ietf-aipref-vocab-08"
    train = next(t for t in latest["terms"] if t["token"] == "train-ai")
    assert train["purposes"] == ["train-genai"] and train["written_from"] == ["train-genai", "train-ai", "tdm"]
    assert by_key["cawg-training-mining-1.1"]["values"]["constrained"] == "reserve"


def test_purpose_tree_same_as_comes_from_the_map(anonymous, db):
    tree = {p["code"]: p for p in anonymous.get("/api/v1/purposes").json()}
    assert any("ai-input" in s for s in tree["ai-use"]["same_as"])
    assert any("cawg.ai_generative_training" in s for s in tree["train-genai"]["same_as"])
