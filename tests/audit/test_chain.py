"""The chain's one implementation: canonical JSON, stored text, and the bulk path hashing like audit.chain."""
import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from audit.chain import GENESIS_HASH, canonical_json, canonical_json_bytes, event_hash
from audit.models import AuditEvent, AuditHead
from audit.selectors import audit_verify
from audit.services import (
    HeadMoved,
    PendingEvent,
    audit_bulk_prepare,
    audit_bulk_write,
    audit_record,
    audit_record_bulk,
)
from core.pgcopy import copy_cell, copy_cell_bytes

# What audit events hold: no floats (times are ISO strings). Text includes control characters, quotes,
# backslashes, non-BMP characters and U+2028, which JSON encoders are known to treat differently.
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)


@given(_values)
def test_canonical_json_is_byte_for_byte_what_json_dumps_writes(value):
    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_canonical_json_falls_back_to_json_for_what_orjson_writes_differently():
    assert canonical_json({"big": 2**70, "keys": {1: "a"}}) == '{"big":1180591620717411303424,"keys":{"1":"a"}}'
    assert canonical_json({"when": datetime(2026, 11, 28, tzinfo=UTC)}) == '{"when":"2026-11-28 00:00:00+00:00"}'
    for value in ({"big": 2**70, "keys": {1: "a"}}, {"when": datetime(2026, 11, 28, tzinfo=UTC)}):
        assert canonical_json_bytes(value) == canonical_json(value).encode()


@given(_values)
def test_the_bulk_path_bytes_are_the_text_encoded(value):
    """The bulk path hashes and stores canonical JSON as bytes, escaped for COPY as bytes: the same as the text."""
    text = canonical_json(value)
    assert canonical_json_bytes(value) == text.encode()
    assert copy_cell_bytes(text.encode()) == copy_cell(text).encode()
    assert copy_cell_bytes(None) == copy_cell(None).encode()


@pytest.mark.django_db
def test_event_content_is_stored_as_the_canonical_text_it_was_hashed_from():
    event = audit_record(actor="system", action="rule.set", object_type="rule", object_id="r-1",
                         after={"b": "ベ\n", "a": [1, None, True]})
    with connection.cursor() as cursor:
        cursor.execute("SELECT after FROM audit_auditevent WHERE seq = %s", [event.seq])
        assert cursor.fetchone()[0] == '{"a":[1,null,true],"b":"ベ\\n"}'
    assert AuditEvent.objects.get(seq=event.seq).after == {"a": [1, None, True], "b": "ベ\n"}


@pytest.mark.django_db
def test_bulk_batch_hashes_each_event_exactly_as_audit_chain_does():
    at = datetime(2026, 11, 28, 12, tzinfo=UTC)
    events = [PendingEvent("declaration.file", "declaration", "d-1", None, {"consent": "reserve", "note": "a\tb"}),
              PendingEvent("declaration.supersede", "declaration", "d-0", {"x": "\\"}, {"x": "é"})]
    batch = audit_bulk_prepare(actor="user:7", events=events, at=at, after_seq=41, after_hash="f" * 64)
    salts = [line.split("\t")[8] for line in batch.text.decode().splitlines()]  # the COPY rows' salt column
    assert len(set(salts)) == 2 and all(len(salt) == 32 for salt in salts)
    first = event_hash(seq=42, at=at, actor="user:7", action="declaration.file", object_type="declaration",
                       object_id="d-1", before=None, after=events[0].after, salt=salts[0], prev_hash="f" * 64)
    second = event_hash(seq=43, at=at, actor="user:7", action="declaration.supersede", object_type="declaration",
                        object_id="d-0", before={"x": "\\"}, after={"x": "é"}, salt=salts[1], prev_hash=first)
    assert (batch.seq, batch.hash, batch.count) == (43, second, 2)


@pytest.mark.postgres
@pytest.mark.django_db
def test_bulk_write_appends_a_batch_that_verifies_and_refuses_one_hashed_after_another_head():
    # "note" is no tracked model: verify_audit then has the chain alone to check.
    audit_record(actor="system", action="note.add", object_type="note", object_id="n-1", after={"v": 1})
    head = AuditHead.objects.get()
    at = datetime(2026, 11, 28, 12, tzinfo=UTC)
    events = [PendingEvent("note.add", "note", f"n-{i}", None, {"v": i, "text": "tab\there"}) for i in range(2, 5)]
    stale = audit_bulk_prepare(actor="system", events=events, at=at, after_seq=head.seq - 1, after_hash=GENESIS_HASH)
    with pytest.raises(HeadMoved):
        audit_bulk_write(stale)
    assert audit_record_bulk(actor="system", events=events, at=at) == 3
    assert AuditHead.objects.get().seq == head.seq + 3
    assert AuditEvent.objects.get(object_id="n-3").after == {"v": 3, "text": "tab\there"}
    assert audit_verify() == []


@given(_text)
def test_copy_cell_bytes_escapes_as_copy_cell_does(text):
    assert copy_cell_bytes(text.encode()) == copy_cell(text).encode()
