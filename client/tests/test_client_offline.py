"""Persona: an AI developer's crawler. Rule: after `kyodaku sync`, changes and another sync, offline answers equal
the API's for every id of a mixed set; a copy older than --max-age is refused; a bad snapshot is refused."""
import csv
import json
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kyodaku import Api, LocalCopy, StaleCopy
from kyodaku.cli import main
from kyodaku.offline import BadSnapshot, verify_snapshot

pytestmark = [pytest.mark.django_db(transaction=True)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAIR = {"purpose": "train-genai", "jurisdiction": "JP"}
MIXED = [
    *(f"doi:10.5555/kaze-{i}" for i in range(12)), *(f"doi:10.5555/hoshi-{i}" for i in range(4)),
    "doi:10.5555/new-1", "doi:10.5555/never", "DOI:10.5555/KAZE-1",
    "url:https://kaze.example/gallery/2026/spring.png", "https://kaze.example/gallery/a?b=c", "url:https://kaze.example/about",
    "url:https://www.kaze-fans.example/thread/1", "domain:cdn.kaze-fans.example", "domain:kaze-fans.example",
    "url-prefix:https://kaze.example/gallery/", "url:https://new-site.example/a", "isbn:9784990166137",
    "isbn:4-9901661-3-2", "not an id", "url:http://kaze.example/gallery/2026/spring.png",
    "url:http://www.kaze-fans.example/thread/1", "url:https://kaze.example/page/1", "url:http://kaze.example/page/1",
    "http://kaze.example/page/2",
]


def world(kaze, hoshi):
    from consent.services import declaration_file
    from registry.services import work_register

    books = []
    for i in range(12):
        work = work_register(holder=kaze.holder, work_ref=f"SK-{i}", title=f"Book {i}",
                             identifiers=[f"doi:10.5555/kaze-{i}"], at=T0).work
        if i % 2 == 0:
            declaration_file(holder=kaze.holder, scope="work", work=work, purpose="train-ai", jurisdiction="JP",
                             consent="grant", license_url="https://kaze.example/l", at=T0)
        books.append(work)
    site = work_register(holder=kaze.holder, work_ref="SK-site", title="Gallery",
                         identifiers=["url-prefix:https://kaze.example/gallery/"], at=T0).work
    declaration_file(holder=kaze.holder, scope="work", work=site, purpose="train-ai", consent="grant", at=T0)
    page = work_register(holder=kaze.holder, work_ref="SK-page", title="Page",
                         identifiers=["url:https://kaze.example/page/1", "url:http://kaze.example/page/2"], at=T0).work
    declaration_file(holder=kaze.holder, scope="work", work=page, purpose="train-genai", consent="grant", at=T0)
    work_register(holder=kaze.holder, work_ref="SK-domain", title="Fans", identifiers=["domain:kaze-fans.example"],
                  at=T0)
    from domains.services import domain_claim_create, domain_verify_operator

    for domain in ("kaze.example", "kaze-fans.example"):  # web grants count only with verified control of the host
        claim, _ = domain_claim_create(holder=kaze.holder, domain=domain)
        domain_verify_operator(claim=claim, note="registrar letter", actor="test")
    reserve, _ = declaration_file(holder=hoshi.holder, scope="catalogue", purpose="train-ai", consent="reserve",
                                  at=T0)
    for i in range(4):
        work_register(holder=hoshi.holder, work_ref=f"HP-{i}", title=f"Manga {i}",
                      identifiers=[f"doi:10.5555/hoshi-{i}"], at=T0)
    return books, reserve


def random_changes(rng, kaze, hoshi, books, reserve):
    from consent.services import declaration_file, declaration_revoke
    from registry.models import Identifier
    from registry.services import holder_update, identifier_remove, work_register

    later = T0 + timedelta(days=1)
    work_register(holder=hoshi.holder, work_ref="HP-new", title="New", identifiers=["doi:10.5555/new-1"], at=later)
    new = work_register(holder=kaze.holder, work_ref="SK-new", title="New",
                        identifiers=["url-prefix:https://new-site.example/"], at=later).work
    declaration_file(holder=kaze.holder, scope="work", work=new, purpose="train-genai", consent="grant", at=later)
    for book in rng.sample(books, 3):
        declaration_file(holder=kaze.holder, scope="work", work=book, purpose="train-ai", jurisdiction="JP",
                         consent=rng.choice(["grant", "reserve"]), at=later)
    victim = rng.choice(range(12))
    identifier_remove(identifier=Identifier.objects.get(value=f"10.5555/kaze-{victim}"), at=later)
    other = rng.choice([i for i in range(12) if i != victim])
    work_register(holder=hoshi.holder, work_ref="HP-claim", title="Claim", identifiers=[f"doi:10.5555/kaze-{other}"],
                  at=later)  # a dispute
    if rng.random() < 0.5:
        declaration_revoke(declaration=reserve, at=later)
    holder_update(holder=kaze.holder, licensing_url=f"https://kaze.example/licensing-{rng.randint(1, 99)}")


def api_answers(api, ids):
    rows = {}
    for result in api.lookup(ids, **PAIR)["results"]:
        if "error" in result:
            continue
        rows[result["id"]] = (result["outcome"], result["basis"], result["holder"]["code"] if result["holder"] else "",
                              result["license_url"] or "", result["declaration"]["id"] if result["declaration"] else "")
    return rows


def offline_answers(path):
    with open(path, newline="") as handle:
        return {r["id"]: (r["outcome"], r["basis"], r["holder"], r["license_url"], r["declaration"])
                for r in csv.DictReader(handle) if r["source"] == "offline"}, path


@pytest.mark.parametrize("seed", [1, 2])
def test_offline_answers_equal_the_api_after_sync_changes_and_sync(registry, api_key, monkeypatch, tmp_path,
                                                                   studio_kaze, hoshi_pub, seed):
    books, reserve = world(studio_kaze, hoshi_pub)
    monkeypatch.setenv("KYODAKU_URL", registry)
    monkeypatch.setenv("KYODAKU_API_KEY", api_key)
    copies = str(tmp_path / "copies")
    assert main(["sync", *flags(), "--dir", copies]) == 0
    random_changes(random.Random(seed), studio_kaze, hoshi_pub, books, reserve)
    assert main(["sync", *flags(), "--dir", copies]) == 0
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(MIXED) + "\n")
    out = str(tmp_path / "answers.csv")
    assert main(["check", str(ids), *flags(), "--offline", "--dir", copies, "--out", out, "--quiet"]) == 0
    offline, _ = offline_answers(out)
    api = Api(registry, api_key)
    expected = api_answers(api, MIXED)
    assert len(offline) >= 20  # most of the set is answered locally; the rest came from the API
    for raw, answer in offline.items():
        assert answer == expected[raw], raw
    with open(out, newline="") as handle:
        rows = {r["id"]: r for r in csv.DictReader(handle)}
    assert set(rows) == set(MIXED) and rows["not an id"]["outcome"] == "denied"
    for raw in ("url:http://kaze.example/page/1", "http://kaze.example/page/2",
                "url:http://kaze.example/gallery/2026/spring.png", "url:http://www.kaze-fans.example/thread/1"):
        assert rows[raw]["source"] == "offline", raw  # http and https are the same URL
    assert rows["url:http://kaze.example/page/1"]["basis"] == "granted"  # a verified web grant, answered offline
    for raw in ("DOI:10.5555/KAZE-1", "https://kaze.example/gallery/a?b=c", "isbn:4-9901661-3-2"):
        assert rows[raw]["source"] == "api"  # spelt otherwise than stored: the registry normalises it
        assert (rows[raw]["outcome"], rows[raw]["basis"]) == expected[raw][:2]


def test_a_copy_older_than_max_age_is_refused(registry, api_key, monkeypatch, tmp_path, studio_kaze, hoshi_pub):
    world(studio_kaze, hoshi_pub)
    copies = tmp_path / "copies"
    LocalCopy.sync(Api(registry, api_key), copies, **PAIR)
    state = copies / "train-genai" / "JP" / "state.json"
    data = json.loads(state.read_text())
    data["synced_at"] -= 7200
    state.write_text(json.dumps(data))
    ids = tmp_path / "ids.txt"
    ids.write_text("doi:10.5555/kaze-0\n")
    out = tmp_path / "answers.csv"
    monkeypatch.delenv("KYODAKU_URL", raising=False)
    code = main(["check", str(ids), *flags(), "--offline", "--dir", str(copies), "--max-age", "3600",
                 "--out", str(out), "--quiet"])
    assert code == 3 and not out.exists()
    with pytest.raises(StaleCopy):
        LocalCopy(copies / "train-genai" / "JP").require_fresh(3600)
    assert main(["check", str(ids), *flags(), "--offline", "--dir", str(copies), "--max-age", "9000",
                 "--out", str(out), "--quiet"]) == 0


def test_a_truncated_or_tampered_snapshot_is_refused(registry, api_key, studio_kaze, hoshi_pub, tmp_path):
    world(studio_kaze, hoshi_pub)
    api = Api(registry, api_key)
    manifest = api.get_json("/api/v1/snapshots", **PAIR)["manifest"]
    jwks = api.keys()
    copy = LocalCopy.sync(api, tmp_path, **PAIR)
    files = {name: (copy.dir / name).read_bytes() for name in ("answers", "filter")}
    assert verify_snapshot(manifest, jwks, files)["purpose"] == "train-genai"
    with pytest.raises(BadSnapshot, match="truncated or altered"):
        verify_snapshot(manifest, jwks, {**files, "answers": files["answers"][:-10]})
    flipped = bytearray(files["filter"])
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(BadSnapshot, match="truncated or altered"):
        verify_snapshot(manifest, jwks, {**files, "filter": bytes(flipped)})
    head, payload, signature = manifest.split(".")
    forged = f"{head}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(BadSnapshot, match="manifest"):
        verify_snapshot(forged, jwks, files)


class FilterFlipped(httpx.HTTPTransport):
    """The registry's answers as sent, but the filter file with one bit flipped on its way."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.rstrip("/").endswith("/filter"):
            return response
        flipped = bytearray(response.read())
        flipped[len(flipped) // 2] ^= 1
        return httpx.Response(response.status_code, content=bytes(flipped))


def test_a_snapshot_altered_in_transit_leaves_nothing_behind(registry, api_key, studio_kaze, hoshi_pub, tmp_path):
    # the files are streamed to disk and checked from there (never whole in memory): refused, no file of them is
    # kept, not even a partial or temporary one, nor the copy's directory
    world(studio_kaze, hoshi_pub)
    with pytest.raises(BadSnapshot, match=r"filter: .* \(truncated or altered\)"):
        LocalCopy.sync(Api(registry, api_key, transport=FilterFlipped()), tmp_path / "copies", **PAIR)
    assert not (tmp_path / "copies").exists()
    copy = LocalCopy.sync(Api(registry, api_key), tmp_path / "copies", **PAIR)  # sent as it is: kept
    names = {path.name for path in copy.dir.iterdir()}
    assert {"answers", "filter", "manifest.json", "overlay.json", "state.json"} <= names
    assert not [name for name in names if name.startswith(".")]  # no temporary file left


def flags():
    return ["--purpose", PAIR["purpose"], "--jurisdiction", PAIR["jurisdiction"]]


def test_ids_only_the_api_answers_go_in_few_requests_across_units(registry, api_key, monkeypatch, tmp_path,
                                                                   studio_kaze, hoshi_pub, capsys):
    """Rule: offline, the ids the copy cannot answer (spelt otherwise than stored, flagged by the filter) are asked
    of the API with the ids of several units in one request (unless batch receipts name each unit), while the
    copy answers the next units; every id's answer is still the API's, in the input's order."""
    from kyodaku import cli
    from kyodaku.http import Api as HttpApi

    world(studio_kaze, hoshi_pub)
    monkeypatch.setenv("KYODAKU_URL", registry)
    monkeypatch.setenv("KYODAKU_API_KEY", api_key)
    copies = str(tmp_path / "copies")
    assert main(["sync", *flags(), "--dir", copies]) == 0
    ids = MIXED * 8
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n")
    monkeypatch.setattr(cli, "OFFLINE_UNIT_BYTES", 600)  # a unit of ~20 ids: 12 units, each with ids to ask
    asked: list[list[str]] = []
    lookup = HttpApi.lookup

    def counted(self, batch, **question):
        asked.append(list(batch))
        return lookup(self, batch, **question)

    monkeypatch.setattr(HttpApi, "lookup", counted)
    out = str(tmp_path / "answers.csv")
    assert main(["check", str(source), *flags(), "--offline", "--dir", copies, "--out", out, "--quiet",
                 "--processes", "2"]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ids
    from_api = [r["id"] for r in rows if r["source"] == "api"]
    units = cli.IdUnits(source.read_bytes(), str(source), unit_bytes=600, unit_ids=cli.OFFLINE_UNIT)
    assert len(units) >= 10
    assert sorted(raw for batch in asked for raw in batch) == sorted(from_api)  # each asked once, no more
    assert len(asked) <= len(units) // 2  # several units' ids to a request, not one request a unit
    expected = api_answers(Api(registry, api_key), MIXED)
    for row in rows:
        if row["id"] in expected:
            assert (row["outcome"], row["basis"], row["holder"], row["license_url"], row["declaration"]) == \
                expected[row["id"]], row["id"]
    asked.clear()
    assert main(["check", str(source), *flags(), "--offline", "--dir", copies, "--out", out, "--quiet",
                 "--receipts", "batch", "--restart"]) == 0  # batch receipts: a request per unit, each verifiable
    assert len(asked) == sum(1 for n in range(len(units)) if {raw.decode() for raw in units.ids(n)} & set(from_api))
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps(Api(registry, api_key).keys()))
    assert main(["verify", out + ".receipts.jsonl", "--jwks", str(jwks), "--iss", registry]) == 0
    assert f"{len(from_api)} of {len(from_api)} verified" in capsys.readouterr().out
