"""Run by tests/core/test_replica.py in a process of its own, with DATABASE_URL on a throwaway primary and
DATABASE_REPLICA_URLS on its streaming replica; prints one JSON object of what it saw. Not a test module."""
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()
from django.test.utils import setup_test_environment  # noqa: E402

setup_test_environment()  # ALLOWED_HOSTS gains "testserver", as under pytest-django

from django.core.files.storage import storages  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from claims.export import claims_export_stream  # noqa: E402
from consent.models import Declaration  # noqa: E402
from consent.services import declaration_file, declaration_revoke  # noqa: E402
from core.db import replica_lag, replica_reads  # noqa: E402
from keys.services import api_key_create, holder_token_create  # noqa: E402
from registry.models import Holder  # noqa: E402
from registry.services import holder_create, holder_user_set, work_register  # noqa: E402
from sync.models import Snapshot  # noqa: E402
from sync.snapshots import snapshot_build  # noqa: E402

ISBN = "isbn:978-4-9901661-3-7"


def _one(alias: str, sql: str):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def caught_up(timeout: float = 60) -> float:
    """Seconds until the replica has replayed everything the primary has written so far."""
    # The insert position: with synchronous_commit off the write position can still be short of the last commit.
    target, start = _one("default", "SELECT pg_current_wal_insert_lsn()::text"), time.monotonic()
    while time.monotonic() - start < timeout:
        if _one("replica1", f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            return time.monotonic() - start
        time.sleep(0.05)
    raise SystemExit("the replica did not catch up")


def lookup(client) -> dict:
    response = client.get("/api/v1/lookup", {"id": ISBN, "purpose": "train-genai", "jurisdiction": "JP"})
    assert response.status_code == 200, response.content
    return response.json()


def head_seq(alias: str) -> int:
    return _one(alias, "SELECT coalesce(max(seq), 0) FROM audit_audithead")


def snapshot(log: list) -> dict:
    """Build a snapshot of (train-genai, JP) now and return the ISBN's line, the cursor and where it read."""
    import gzip
    import logging

    class Seen(logging.Handler):
        def emit(self, record):
            log.append(record.getMessage())

    handler = Seen()
    logging.getLogger("sync.snapshots").addHandler(handler)
    logging.getLogger("sync.snapshots").setLevel(logging.INFO)
    try:
        built = snapshot_build(snapshot_id=Snapshot.objects.create(purpose="train-genai", jurisdiction="JP").pk)
    finally:
        logging.getLogger("sync.snapshots").removeHandler(handler)
    entry = next(f for f in built.files if f["name"] == "answers")
    with storages["snapshots"].open(entry["path"], "rb") as handle:
        lines = [json.loads(line) for line in gzip.decompress(handle.read()).splitlines()]
    line = next(line for line in lines if line["key"] == "isbn:9784990166137")
    return {"basis": line["basis"], "cursor": built.cursor, "read_from": log[-1].rsplit(" ", 1)[-1],
            "primary_head": head_seq("default")}


RESERVATION_ROW = ",train-ai,*,reserve,catalogue,"


def export(code: str) -> dict:
    """Export holder `code`'s registry (claims.export, as the API and the admin stream it): where it read, and
    whether the catalogue-wide reservation is in it."""
    import logging

    seen: list[str] = []

    class Seen(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler, exporter = Seen(), logging.getLogger("claims.export")
    exporter.addHandler(handler)
    exporter.setLevel(logging.INFO)
    try:
        text = b"".join(claims_export_stream(holder=Holder.objects.get(code=code))).decode("utf-8-sig")
    finally:
        exporter.removeHandler(handler)
    return {"read_from": seen[-1].rsplit(" ", 1)[-1], "reserved": RESERVATION_ROW in text,
            "rows": len(text.splitlines())}


def api_export(user) -> dict:
    """The same through GET /api/v1/export with the holder's token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {holder_token_create(user=user)[1]}")
    response = client.get("/api/v1/export", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200, response.content
    return {"reserved": RESERVATION_ROW in b"".join(response.streaming_content).decode("utf-8-sig")}


def main() -> None:
    call_command("migrate", verbosity=0)
    holder = holder_create(code="hoshi-pub", name="Hoshi Publishing", kind="publisher", country="JP")
    work_register(holder=holder, work_ref="HP-100", title="Hoshi no Umi", kind="manga", identifiers=[ISBN])
    declaration, _ = declaration_file(holder=holder, scope="catalogue", purpose="train-ai", jurisdiction="*",
                                      consent="reserve")
    hoshi_editor = holder_user_set(holder=holder, username="hoshi-editor", role="editor")
    # A second holder, all of whose writes are on the replica before it lags
    kaze = holder_create(code="studio-kaze", name="Studio Kaze", kind="studio", country="JP")
    work_register(holder=kaze, work_ref="SK-1", title="Kaze", kind="series", identifiers=["doi:10.5555/kaze-1"])
    declaration_file(holder=kaze, scope="catalogue", purpose="train-ai", jurisdiction="*", consent="reserve")
    _, key = api_key_create(name="Crawler Co", rate="none")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    seen = {"aliases": list(connections.settings)}
    seen["first_catch_up_s"] = caught_up()
    seen["before"] = lookup(client)["basis"]
    seen["export_before"] = export("hoshi-pub")

    _one("replica1", "SELECT pg_wal_replay_pause()::text")  # lag the replica by hand
    declaration_revoke(declaration=declaration)
    seen["primary_revoked"] = _one("default", f"SELECT revoked_at IS NOT NULL FROM consent_declaration "
                                              f"WHERE id = '{declaration.pk}'")
    seen["replica_revoked"] = _one("replica1", f"SELECT revoked_at IS NOT NULL FROM consent_declaration "
                                               f"WHERE id = '{declaration.pk}'")
    seen["replay_paused"] = _one("replica1", "SELECT pg_get_wal_replay_pause_state()") != "not paused"
    seen["during_lag"] = lookup(client)["basis"]
    seen["holder_reads_revoked"] = Declaration.objects.get(pk=declaration.pk).revoked_at is not None
    with replica_reads():
        seen["orm_in_replica_reads_revoked"] = Declaration.objects.get(pk=declaration.pk).revoked_at is not None
    seen["primary_head"], seen["replica_head"] = head_seq("default"), head_seq("replica1")
    seen["lag_paused"] = replica_lag("replica1")
    # Exports during the lag: the holder who revoked reads the primary (their own write); a holder all of whose
    # changes the replica has reads the replica.
    seen["export_own_write"] = export("hoshi-pub")
    seen["api_export_own_write"] = api_export(hoshi_editor)
    seen["export_other_holder"] = export("studio-kaze")
    log: list = []
    # A snapshot build within the bound reads the replica, in one moment: the replica's answers and its audit head
    seen["snapshot_within_bound"] = snapshot(log)
    # Above the bound (the replica's lag is now more than 0 s): lookups and snapshot builds fall back to the primary
    time.sleep(0.2)
    with override_settings(KYODAKU_REPLICA_MAX_LAG=0.1, KYODAKU_REPLICA_LAG_CHECK_SECONDS=0):
        seen["during_lag_above_bound"] = lookup(client)["basis"]
        seen["snapshot_above_bound"] = snapshot(log)
        seen["export_other_holder_above_bound"] = export("studio-kaze")
    _one("replica1", "SELECT pg_wal_replay_resume()::text")
    seen["catch_up_s"] = caught_up()
    seen["lag_caught_up"] = replica_lag("replica1")
    seen["export_caught_up"] = export("hoshi-pub")
    seen["after"] = lookup(client)["basis"]
    seen["replica_revoked_after"] = _one("replica1", f"SELECT revoked_at IS NOT NULL FROM consent_declaration "
                                                     f"WHERE id = '{declaration.pk}'")
    from consent.lookup import lookup_many

    seen["primary_after"] = lookup_many(ids=[ISBN], purpose="train-genai", jurisdiction="JP")[0]["basis"]
    with replica_reads():
        seen["replica_after_direct"] = lookup_many(ids=[ISBN], purpose="train-genai", jurisdiction="JP")[0]["basis"]
    print(json.dumps(seen))


def replica_down() -> None:
    """DATABASE_REPLICA_URLS names a replica nobody answers at: lookups and a snapshot build read the primary."""
    _, key = api_key_create(name="Crawler Two", rate="none")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    from consent.lookup import lookup_many

    seen = {"primary": lookup_many(ids=[ISBN], purpose="train-genai", jurisdiction="JP")[0]["basis"]}
    start = time.monotonic()
    seen["lookups"] = [lookup(client)["basis"] for _ in range(3)]
    seen["lookups_s"] = time.monotonic() - start
    seen["snapshot"] = snapshot([])
    seen["export"] = export("hoshi-pub")
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(replica_down() if sys.argv[1:] == ["down"] else main())
