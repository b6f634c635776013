"""The public audit feed reveals no private fact (api.md, "Evidence"; issue 12, item 4): each event's content hash
is a salted commitment, so an outsider hashing guesses of a mandate or a role learns nothing, while an auditor with
database access opens every commitment; a log written before salting is re-chained and still verifies, and the
hashes older receipts recorded are still recognised."""
import importlib
from datetime import UTC, datetime

import pytest
from django.db import connection

from audit.chain import GENESIS_HASH, content_hash, legacy_content_hash, legacy_event_hash
from audit.models import AuditEvent, AuditHead
from audit.selectors import PUBLIC_FIELDS, audit_event_hash_held, audit_events_after, audit_verify
from registry.models import Mandate
from registry.services import holder_user_set, mandate_create

pytestmark = [pytest.mark.django_db]

salting = importlib.import_module("audit.migrations.0003_salted_commitments")


def feed_by_seq() -> dict[int, dict]:
    return {event["seq"]: event for event in audit_events_after(after=0, limit=1000)}


def test_an_outsider_cannot_confirm_a_guessed_mandate_from_the_public_feed(collective, tsubasa):
    mandate = mandate_create(agent=collective.holder, principal=tsubasa.holder, actor=collective.user)
    event = AuditEvent.objects.get(object_type="mandate", object_id=str(mandate.pk))
    published = feed_by_seq()[event.seq]
    assert set(published) == set(PUBLIC_FIELDS) and "salt" not in published

    # The outsider's best guess is the exact truth (actor, before, after): without the salt it does not match.
    assert legacy_content_hash(actor=event.actor, before=event.before, after=event.after) != published["content_hash"]
    # The auditor, with the row, opens the commitment.
    assert content_hash(actor=event.actor, before=event.before, after=event.after,
                        salt=event.salt) == published["content_hash"]
    assert Mandate.objects.filter(pk=mandate.pk).exists()


def test_every_event_gets_its_own_random_salt(studio_kaze):
    for name in ("aoki", "sato", "ito"):
        holder_user_set(holder=studio_kaze.holder, username=name, role="viewer", actor=studio_kaze.user)
    salts = list(AuditEvent.objects.values_list("salt", flat=True))
    assert all(len(salt) == 32 and int(salt, 16) >= 0 for salt in salts)
    assert len(set(salts)) == len(salts)


def test_a_bulk_batch_draws_salts_by_the_block_yet_never_repeats_one(monkeypatch):
    # A bulk import draws its salts 1,024 at a time (issue 15): a batch longer than a block takes a second block,
    # and no salt is handed out twice, within a block, across blocks or across batches.
    from audit import chain
    from audit.services import PendingEvent, audit_bulk_prepare

    drawn = []
    urandom = chain.os.urandom
    monkeypatch.setattr(chain.os, "urandom", lambda size: drawn.append(size) or urandom(size))
    events = [PendingEvent("note.add", "note", f"n-{i}", None, {"i": i}) for i in range(chain.SALT_BLOCK + 3)]
    salts = []
    for _ in range(2):
        batch = audit_bulk_prepare(actor="system", events=events, at=datetime(2026, 1, 1, tzinfo=UTC), after_seq=0,
                                   after_hash=GENESIS_HASH)
        salts += [line.split("\t")[8] for line in batch.text.decode().splitlines()]
    assert drawn == [chain.SALT_BYTES * chain.SALT_BLOCK] * 4
    assert len(salts) == 2 * len(events) == len(set(salts)) and all(len(salt) == 32 for salt in salts)


def test_the_same_content_twice_gives_two_unrelated_commitments(studio_kaze):
    # A role given, taken away and given again: equal contents must not show as equal hashes in the feed.
    from audit.services import audit_record

    first = audit_record(actor="system", action="note.add", object_type="note", object_id="n", after={"v": 1})
    second = audit_record(actor="system", action="note.add", object_type="note", object_id="n", after={"v": 1})
    feed = feed_by_seq()
    assert feed[first.seq]["content_hash"] != feed[second.seq]["content_hash"]


# ------------------------------------------------------------------------------------ a log from before salts

def _write_unsalted_log(count: int) -> list[str]:
    """Events as the registry wrote them before salting: no salt, the old (guessable) content hash."""
    head, _ = AuditHead.objects.get_or_create(id=1)
    seq, prev, hashes = head.seq, head.hash, []
    at = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(count):
        seq += 1
        fields = dict(seq=seq, at=at, actor="user:1", action="mandate.create", object_type="note",
                      object_id=f"m-{n}", before=None, after={"principal": f"holder-{n}"})
        digest = legacy_event_hash(**fields, prev_hash=prev)
        AuditEvent.objects.create(**fields, salt="", prev_hash=prev, hash=digest)
        hashes.append(digest)
        prev = digest
    AuditHead.objects.filter(id=1).update(seq=seq, hash=prev)
    return hashes


def _salt_the_log():
    from django.apps import apps

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE wants no deferred checks pending
    with connection.schema_editor(atomic=False) as editor:
        salting.salt_the_log(apps, editor)


@pytest.mark.postgres
def test_an_existing_log_is_salted_and_still_verifies(db):
    old_hashes = _write_unsalted_log(4)
    first_old = AuditEvent.objects.filter(salt="").order_by("seq").first().seq
    old_feed = {e["seq"]: e["content_hash"] for e in audit_events_after(after=first_old - 1, limit=10)}

    _salt_the_log()

    assert audit_verify() == []
    migrated = list(AuditEvent.objects.filter(seq__gte=first_old).order_by("seq"))
    assert [e.legacy_hash for e in migrated] == old_hashes
    assert all(len(e.salt) == 32 for e in migrated)
    new_feed = {e["seq"]: e["content_hash"] for e in audit_events_after(after=first_old - 1, limit=10)}
    assert not set(old_feed.values()) & set(new_feed.values())  # the guessable hashes are no longer served
    # A receipt that recorded the old head is still recognised; a made-up hash is not.
    last = migrated[-1]
    assert audit_event_hash_held(seq=last.seq, digest=old_hashes[-1])
    assert audit_event_hash_held(seq=last.seq, digest=last.hash)
    assert not audit_event_hash_held(seq=last.seq, digest="f" * 64)
    assert audit_event_hash_held(seq=0, digest=GENESIS_HASH)
    with pytest.raises(Exception, match="append-only"):  # the trigger is back
        AuditEvent.objects.filter(seq=last.seq).update(salt="0" * 32)


@pytest.mark.postgres
def test_a_rewritten_hash_before_salting_is_caught(db):
    _write_unsalted_log(3)
    _salt_the_log()
    target = AuditEvent.objects.filter(legacy_hash__isnull=False).order_by("seq").last()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET legacy_hash = %s WHERE seq = %s", ["e" * 64, target.seq])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")

    assert str(audit_verify()[0]) == f"event #{target.seq}: its hash before salting does not recompute (rewritten)"


@pytest.mark.postgres
def test_an_ai_developers_receipt_from_before_salting_still_verifies(db, settings, tmp_path):
    from receipts import services as receipt_services
    from receipts.selectors import receipt_verify

    settings.KYODAKU_SIGNING_KEY_DIR, settings.KYODAKU_SIGNING_KEY = tmp_path / "keys", ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    receipt_services._SIGNERS.clear()
    signer = receipt_services.receipt_signer()  # publishing the key is itself an audit event: before the log below
    old_hashes = _write_unsalted_log(3)
    old_head = {"seq": AuditHead.objects.get().seq, "hash": old_hashes[-1]}
    answer = {"id": "isbn:9784990166137", "identifier": "isbn:9784990166137", "purpose": "tdm",
              "jurisdiction": "JP", "as_of": "2026-11-01T00:00:00Z", "outcome": "denied",
              "basis": "permission-required", "declaration": None}
    [token] = receipt_services.receipts_sign([answer], signer=signer, head=old_head, sub="crawler")

    _salt_the_log()

    assert AuditHead.objects.get().hash != old_head["hash"]
    check = receipt_verify(token=token)
    assert check.ok, check.problems
    [forged] = receipt_services.receipts_sign([answer], signer=signer, head={**old_head, "hash": "d" * 64})
    assert "history was rewritten" in " ".join(receipt_verify(token=forged).problems)
    receipt_services._SIGNERS.clear()
