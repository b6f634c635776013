"""Bulk imports write one `bundle` event per work and chunk (audit.bundles, issue 15 item 2): the chain still
covers every change, and every reader of the log sees the changes inside bundles as it sees events of their own:
`verify_audit`, an object's history (selector and admin page), the change feed, receipts, the public audit feed."""
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from audit.bundles import BUNDLE_ACTION
from audit.chain import content_hash
from audit.models import AuditEvent
from audit.selectors import (
    audit_bundles_holding,
    audit_events_after,
    audit_events_for_object,
    audit_head,
    audit_verify,
)
from audit.services import PendingEvent, audit_record_bulk
from claims.services import claims_submission_create
from consent.lookup import lookup_many
from consent.models import Declaration
from consent.services import declaration_revoke
from receipts.selectors import receipt_verify
from receipts.services import receipts_attach
from registry.models import Identifier, Work
from registry.services import identifier_remove, work_register
from sync.changes import changes_after, changes_for_pair
from tests.audit.test_verify_audit import trigger_disabled

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HEADER = "holder,work_ref,title,identifiers,purpose,jurisdiction,consent,scope\n"
ROWS = ("studio-kaze,SK-1,Kaze,isbn:978-4-9901661-3-7;doi:10.5555/sk-1;url:https://studio-kaze.example/sk-1,"
        "train-ai;search,JP;FR,reserve,work\n"
        "studio-kaze,SK-2,Tani,doi:10.5555/sk-2,tdm,*,grant,work\n"
        "studio-kaze,,,,tdm,BR,reserve,catalogue\n")


@pytest.fixture
def imported(studio_kaze, settings, tmp_path, django_capture_on_commit_callbacks):
    """Studio Kaze's claims file through the real service: SK-1 (3 identifiers, 4 declarations), SK-2 (1 and 1), a
    catalogue-wide reservation. Returns the chain head before the import."""
    settings.MEDIA_ROOT = tmp_path / "media"
    start = audit_head()["seq"]
    upload = SimpleUploadedFile("claims.csv", (HEADER + ROWS).encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        submission = claims_submission_create(user=studio_kaze.user, file=upload)
    submission.refresh_from_db()
    assert submission.status == "done" and submission.rows_failed == 0
    return start


def events_since(start):
    return list(AuditEvent.objects.filter(seq__gt=start).order_by("seq"))


def test_an_import_writes_one_bundle_per_work_and_the_catalogue_declaration_alone(imported):
    events = events_since(imported)
    sk1, sk2 = Work.objects.get(work_ref="SK-1"), Work.objects.get(work_ref="SK-2")
    bundles = [(e.object_type, e.object_id, [(m["action"], m["object_type"]) for m in e.after])
               for e in events if e.action == BUNDLE_ACTION]
    assert bundles == [
        ("work", str(sk1.pk), [("work.register", "work")] + [("identifier.add", "identifier")] * 3
         + [("declaration.file", "declaration")] * 4),
        ("work", str(sk2.pk), [("work.register", "work"), ("identifier.add", "identifier"),
                               ("declaration.file", "declaration")]),
    ]
    # 14 changes in 3 events: the catalogue-wide declaration belongs to no work and keeps an event of its own.
    assert [(e.action, e.object_type) for e in events if e.action != BUNDLE_ACTION] == [
        ("declaration.file", "declaration")]
    assert audit_verify() == []


def test_verify_audit_catches_a_declaration_changed_inside_a_bundle(imported):
    declaration = Declaration.objects.filter(work__work_ref="SK-1", purpose="search", jurisdiction="FR").get()
    with trigger_disabled("consent_declaration", "declaration_append_only") as cursor:
        cursor.execute("UPDATE consent_declaration SET consent = 'grant' WHERE id = %s", [declaration.pk])
    assert [str(p) for p in audit_verify()] == [
        f"declaration {declaration.pk}: row differs from its latest audit event"]


def test_verify_audit_catches_an_identifier_moved_or_deleted_behind_the_services_back(imported):
    isbn = Identifier.objects.get(value="9784990166137")
    doi = Identifier.objects.get(value="10.5555/sk-2")
    sk2 = Work.objects.get(work_ref="SK-2")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_identifier SET work_id = %s WHERE id = %s", [sk2.pk, isbn.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("DELETE FROM registry_identifier WHERE id = %s", [doi.pk])
    problems = {str(p) for p in audit_verify()}
    assert problems == {
        f"identifier {isbn.pk}: row differs from its latest audit event",
        f"identifier {doi.pk}: row is missing, but its latest audit event says it exists",
    }


def test_verify_audit_catches_a_row_only_ever_in_a_bundle_and_its_later_own_event(imported, studio_kaze):
    """The latest change wins whichever kind of event holds it: a service's revocation after the bundle."""
    declaration = Declaration.objects.filter(work__work_ref="SK-2").get()
    declaration_revoke(declaration=declaration, actor=studio_kaze.user)
    assert audit_verify() == []
    # the revocation undone by hand: the row now matches only the bundle
    with trigger_disabled("consent_declaration", "declaration_append_only") as cursor:
        cursor.execute("UPDATE consent_declaration SET revoked_at = NULL, revoked_by_id = NULL WHERE id = %s",
                       [declaration.pk])
    assert [str(p) for p in audit_verify()] == [
        f"declaration {declaration.pk}: row differs from its latest audit event"]


def test_verify_audit_refuses_a_bundle_that_holds_another_works_change(studio_kaze):
    """A bundle is only found through the work it is keyed on: one holding another work's identifier would hide
    that change from every reader, so it is a broken log even with every hash right."""
    kaze = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze").work
    other = work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Tani").work
    stray = {"work": str(other.pk), "scheme": "doi", "value": "10.5555/x", "valid_from": None, "valid_until": None}
    audit_record_bulk(actor="system", at=datetime(2026, 1, 1, tzinfo=UTC), events=[PendingEvent(
        BUNDLE_ACTION, "work", str(kaze.pk), None,
        [{"action": "identifier.add", "object_type": "identifier", "object_id": "i-1", "before": None,
          "after": stray},
         {"action": "identifier.add", "object_type": "identifier", "object_id": "i-2", "before": None,
          "after": {**stray, "work": str(kaze.pk)}}])])
    [problem] = audit_verify()
    assert problem.where == f"event #{audit_head()['seq']}"
    assert f"holds identifier i-1, which is not bundled by work {kaze.pk}" in problem.detail


def test_the_history_of_an_imported_identifier_reads_its_bundled_change_then_its_own(imported, studio_kaze):
    isbn = Identifier.objects.get(value="9784990166137")
    bundle = AuditEvent.objects.get(action=BUNDLE_ACTION, object_id=str(isbn.work_id))
    identifier_remove(identifier=isbn, actor=studio_kaze.user)

    history = audit_events_for_object(object_type="identifier", object_id=isbn.pk)
    assert [(e.seq, e.action, e.bundled) for e in history] == [
        (bundle.seq, "identifier.add", True), (bundle.seq + 3, "identifier.end", False)]
    assert history[0].before is None and history[0].after["value"] == "9784990166137"
    assert history[0].actor == f"user:{studio_kaze.user.pk}"
    assert history[1].after["valid_until"] is not None


def test_the_work_history_page_lists_the_bundled_changes_of_the_work_and_its_identifiers(imported, studio_kaze,
                                                                                       client):
    work = Work.objects.get(work_ref="SK-1")
    client.force_login(studio_kaze.user)
    page = client.get(reverse("admin:registry_work_history", args=[work.pk]))
    assert page.status_code == 200
    events = page.context["audit_events"]
    assert [e.action for e in events] == ["work.register"] + ["identifier.add"] * 3
    assert len({e.seq for e in events}) == 1
    assert "9784990166137" in page.content.decode()


def test_the_declaration_history_page_reads_a_bundled_filing(imported, studio_kaze, client):
    declaration = Declaration.objects.filter(work__work_ref="SK-2").get()
    client.force_login(studio_kaze.user)
    page = client.get(reverse("admin:consent_declaration_history", args=[declaration.pk]))
    assert [e.action for e in page.context["audit_events"]] == ["declaration.file"]


def test_the_change_feed_names_every_key_of_a_bundle_once_in_one_entry(imported):
    entries, next_cursor = changes_after(after=imported, limit=100)
    events = events_since(imported)
    assert [e["cursor"] for e in entries] == [str(e.seq) for e in events]
    assert [(e["kind"], e["keys"]) for e in entries] == [
        # its identifiers as added, then its declarations' keys (every identifier of the work, its ref), each once
        ("bundle", ["isbn:9784990166137", "doi:10.5555/sk-1", "url:https://studio-kaze.example/sk-1",
                    "ref:studio-kaze/SK-1"]),
        ("bundle", ["doi:10.5555/sk-2", "ref:studio-kaze/SK-2"]),
        ("declaration.file", ["holder:studio-kaze"]),
    ]
    assert next_cursor == audit_head()["seq"]
    # Paging one event at a time gives the same entries: a bundle is never split.
    one_by_one, cursor = [], imported
    while True:
        page, cursor = changes_after(after=cursor, limit=1)
        if not page:
            break
        one_by_one += page
    assert one_by_one == entries


def test_a_webhooks_pair_sees_a_bundle_when_any_of_its_declarations_is_for_the_pair(imported):
    def kinds(purpose, jurisdiction):
        return [(e["kind"], e["keys"][-1]) for e in changes_for_pair(purpose=purpose, jurisdiction=jurisdiction,
                                                                     after=imported, limit=100)[0]]
    # Every bundle here adds identifiers (which concern every pair), so both bundles reach every pair; the
    # catalogue reservation is for tdm in BR only.
    assert kinds("search", "FR") == [("bundle", "ref:studio-kaze/SK-1"), ("bundle", "ref:studio-kaze/SK-2")]
    assert kinds("tdm", "BR")[-1] == ("declaration.file", "holder:studio-kaze")


def test_a_bundle_of_declarations_alone_reaches_only_the_pairs_it_names(imported, studio_kaze, settings, tmp_path,
                                                                        django_capture_on_commit_callbacks):
    start = audit_head()["seq"]
    upload = SimpleUploadedFile("claims.csv", (HEADER + "studio-kaze,SK-2,,,train-ai;search,JP,grant,work\n")
                                .encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        claims_submission_create(user=studio_kaze.user, file=upload)
    [bundle] = events_since(start)
    assert bundle.action == BUNDLE_ACTION and len(bundle.after) == 2
    assert [e["kind"] for e in changes_for_pair(purpose="search", jurisdiction="JP", after=start)[0]] == ["bundle"]
    assert changes_for_pair(purpose="tdm", jurisdiction="FR", after=start)[0] == []
    assert audit_verify() == []


def test_the_public_audit_feed_shows_a_bundle_as_one_committed_event_and_nothing_private(imported):
    events = audit_events_after(after=imported, limit=100)
    bundle = AuditEvent.objects.filter(action=BUNDLE_ACTION).order_by("seq").first()
    public = next(e for e in events if e["seq"] == bundle.seq)
    assert public == {
        "seq": bundle.seq, "at": public["at"], "action": "bundle", "object_type": "work",
        "object_id": bundle.object_id, "prev_hash": bundle.prev_hash, "hash": bundle.hash,
        "content_hash": content_hash(actor=bundle.actor, before=None, after=bundle.after, salt=bundle.salt)}
    text = str(events)
    assert "9784990166137" not in text and "reserve" not in text and "user:" not in text


def test_a_receipt_after_an_import_names_the_bundle_at_the_head_and_verifies(imported):
    results = lookup_many(ids=["isbn:978-4-9901661-3-7"], purpose="train-ai", jurisdiction="JP")
    receipts_attach(results)
    payload = receipt_verify(token=results[0]["receipt"]).payload
    head = AuditEvent.objects.order_by("-seq").first()
    assert payload["audit_head"] == {"seq": head.seq, "hash": head.hash}
    assert payload["declaration"] == results[0]["declaration"]["id"] is not None


def test_audit_documents_are_compressed_with_lz4():
    """Bundles are stored out of line (about 3.5 KB a work): lz4 rather than pglz (migration audit.0004)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'audit_auditevent'::regclass "
                       "AND attname IN ('before', 'after') ORDER BY attname")
        assert cursor.fetchall() == [("after", "l"), ("before", "l")]


def test_an_export_replica_check_reads_an_imports_bundles_as_the_importing_holders_changes(imported, studio_kaze,
                                                                                           hoshi_pub):
    """claims.export's read-your-writes check (docs/scaling.md, "Exports") resolves the events a lagging replica
    lacks to their holders: a bundle is keyed on its work, so Studio Kaze's import touches Studio Kaze's export
    and not Hoshi Publishing's."""
    from claims.export import claims_export_touched_by

    # everything the import wrote (the hoshi_pub fixture's own holder event, written after it, left out)
    missing = [(e.object_type, e.object_id) for e in events_since(imported) if e.object_type != "holder"]
    bundles = [(e.object_type, e.object_id) for e in events_since(imported) if e.action == BUNDLE_ACTION]
    assert bundles and all(object_type == "work" for object_type, _ in bundles)
    assert claims_export_touched_by(holder=studio_kaze.holder, events=bundles) is True
    assert claims_export_touched_by(holder=hoshi_pub.holder, events=bundles) is False
    assert claims_export_touched_by(holder=hoshi_pub.holder, events=missing) is False


def _admin_search(client, operator, term: str) -> list[tuple[int, str, str]]:
    client.force_login(operator)
    page = client.get(reverse("admin:audit_auditevent_changelist"), {"q": term})
    assert page.status_code == 200
    return [(e.seq, e.action, e.object_id) for e in page.context["cl"].result_list]


def test_an_operator_searching_the_log_by_an_imported_identifiers_id_finds_its_works_bundle(imported, operator,
                                                                                         client):
    """Rule: a bulk import's change of an identifier is found by the identifier's own id, though the bundle that
    holds it is keyed on its work (the admin's audit log searches object ids)."""
    isbn = Identifier.objects.get(value="9784990166137")
    bundle = AuditEvent.objects.get(action=BUNDLE_ACTION, object_id=str(isbn.work_id))
    assert _admin_search(client, operator, str(isbn.pk)) == [(bundle.seq, BUNDLE_ACTION, str(isbn.work_id))]
    # SK-2's identifier is in SK-2's bundle, not in SK-1's.
    doi = Identifier.objects.get(value="10.5555/sk-2")
    assert [row[2] for row in _admin_search(client, operator, str(doi.pk))] == [str(doi.work_id)]


def test_an_operator_searching_by_a_declarations_id_finds_its_bundle_and_its_own_later_event(imported, operator,
                                                                                          studio_kaze, client):
    declaration = Declaration.objects.filter(work__work_ref="SK-2").get()
    declaration_revoke(declaration=declaration, actor=studio_kaze.user)
    bundle = AuditEvent.objects.get(action=BUNDLE_ACTION, object_id=str(declaration.work_id))
    revoke = AuditEvent.objects.get(object_type="declaration", object_id=str(declaration.pk))
    found = _admin_search(client, operator, f"  {declaration.pk} ")
    assert sorted(found) == [(bundle.seq, BUNDLE_ACTION, str(declaration.work_id)),
                             (revoke.seq, revoke.action, str(declaration.pk))]
    # The catalogue-wide declaration belongs to no work: its own event, no bundle.
    catalogue = Declaration.objects.get(scope="catalogue")
    assert [row[1] for row in _admin_search(client, operator, str(catalogue.pk))] == ["declaration.file"]
    # An id that names nothing, and an actor, find no bundle.
    assert _admin_search(client, operator, "00000000-0000-0000-0000-000000000000") == []
    assert {row[1] for row in _admin_search(client, operator, f"user:{studio_kaze.user.pk}")} >= {BUNDLE_ACTION}


def test_the_bundle_of_an_identifier_whose_row_is_gone_is_found_through_its_own_events(imported, studio_kaze,
                                                                                      django_assert_max_num_queries):
    """A row deleted behind the services' back: its bundle key is read from its own last event (identifier.end),
    in a fixed number of indexed queries (rows of the 3 bundled types, own events, the work's bundles)."""
    isbn = Identifier.objects.get(value="9784990166137")
    bundle = AuditEvent.objects.get(action=BUNDLE_ACTION, object_id=str(isbn.work_id))
    identifier_remove(identifier=isbn, actor=studio_kaze.user)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("DELETE FROM registry_identifier WHERE id = %s", [isbn.pk])
    with django_assert_max_num_queries(5):
        assert audit_bundles_holding(object_id=isbn.pk) == [bundle.seq]
    assert audit_bundles_holding(object_id="not-an-id") == []


def test_a_bundler_fed_its_keys_groups_changes_as_bundled_does():
    """Rule: `Bundler.change` (the claims planner names each change's bundle as it plans it) gives the events
    `bundled` gives for the same changes in the same order, the bundle keys looked up from their snapshots:
    groups in order of first appearance, a change alone in its group and one without a key left as events."""
    from audit.bundles import Bundler, bundle_key, bundled

    changes = [
        ("work.register", "work", "w1", None, {"holder": "h", "title": "One"}),
        ("identifier.add", "identifier", "i1", None, {"work": "w1", "scheme": "isbn", "value": "1"}),
        ("dispute.open", "dispute", "d1", None, {"work": "w2", "scheme": "isbn", "value": "2"}),
        ("identifier.end", "identifier", "i2", {"work": "w2", "valid_until": None}, {"work": "w2", "valid_until": "t"}),
        ("declaration.file", "declaration", "c1", None, {"work": None, "scope": "catalogue"}),
        ("declaration.file", "declaration", "x1", None, {"work": "w1", "purpose": "train-ai"}),
        ("work.register", "work", "w3", None, {"holder": "h", "title": "Three"}),
        ("declaration.file", "declaration", "x3", None, {"work": "w3", "purpose": "search"}),
    ]
    fed = Bundler()
    for action, object_type, object_id, before, after in changes:
        fed.change(bundle_key(object_type, object_id, before, after), action, object_type, object_id, before, after)
    expected = bundled([PendingEvent(*change) for change in changes], make=PendingEvent._make)
    assert fed.events(make=PendingEvent._make) == expected
    assert [e.action for e in expected] == [BUNDLE_ACTION, "dispute.open", "identifier.end", "declaration.file",
                                            BUNDLE_ACTION]
    assert len(fed) == len(changes)
