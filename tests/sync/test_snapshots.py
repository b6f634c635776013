"""Snapshots and filters (sync.md, "Snapshots and filters"): an AI developer downloads every registered key's
answer for a pair, checks the signed manifest and the files' hashes, follows the change feed from the snapshot's
cursor, and then answers every id exactly as the API does."""
import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from consent.services import declaration_file, declaration_revoke, rule_set
from receipts import services as receipt_services
from registry.identifiers import domain_chain, parse_identifier, url_host
from registry.lookups import url_scheme_and_rest, url_scheme_twin
from registry.models import Identifier
from registry.services import holder_update, identifier_remove, work_register
from sync.filters import bloom_load
from sync.models import Snapshot
from sync.snapshots import snapshot_build, snapshot_queue

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAIR = {"purpose": "train-genai", "jurisdiction": "JP"}
FIELDS = ("outcome", "basis", "holder", "declaration", "license_url", "disputed")
DEFAULT_BASIS = {"denied": "permission-required", "allowed": "not-reserved"}


@pytest.fixture(autouse=True)
def isolated_files(settings, tmp_path):
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    settings.STORAGES = {**settings.STORAGES, "snapshots": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "snaps")}}}
    settings.KYODAKU_SNAPSHOT_CHUNK = 7  # several chunks even for a small catalogue
    receipt_services._SIGNERS.clear()
    yield
    receipt_services._SIGNERS.clear()


@pytest.fixture
def catalogue(studio_kaze, hoshi_pub):
    """Kaze: 20 books, even ones granted for train-ai in JP; a site under a url-prefix; a domain. Hoshi: a
    catalogue-wide reservation and 5 DOIs."""
    books = []
    for i in range(20):
        work = work_register(holder=studio_kaze.holder, work_ref=f"SK-{i}", title=f"Book {i}",
                             identifiers=[f"doi:10.5555/kaze-{i}"], at=T0).work
        if i % 2 == 0:
            declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai",
                             jurisdiction="JP", consent="grant", license_url="https://kaze.example/l", at=T0)
        books.append(work)
    site = work_register(holder=studio_kaze.holder, work_ref="SK-site", title="Gallery",
                         identifiers=["url-prefix:https://kaze.example/gallery/"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=site, purpose="train-ai", consent="grant", at=T0)
    # A grant through a web identifier counts only with verified control of its host (interop.md).
    from domains.services import domain_claim_create, domain_verify_operator

    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor="test", at=T0)
    work_register(holder=studio_kaze.holder, work_ref="SK-domain", title="Fan site",
                  identifiers=["domain:kaze-fans.example"], at=T0)
    hoshi_reserve, _ = declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai",
                                        consent="reserve", at=T0)
    for i in range(5):
        work_register(holder=hoshi_pub.holder, work_ref=f"HP-{i}", title=f"Manga {i}",
                      identifiers=[f"doi:10.5555/hoshi-{i}"], at=T0)
    return books, hoshi_reserve


def build(**pair) -> Snapshot:
    snapshot = snapshot_queue(**(pair or PAIR))
    return snapshot_build(snapshot_id=snapshot.pk)


def verified_manifest(ai_developer, anonymous) -> dict:
    response = ai_developer.get("/api/v1/snapshots", PAIR)
    assert response.status_code == 200, response.content
    keyset = jwcrypto_jwk.JWKSet.from_json(anonymous.get("/api/v1/keys").content.decode())
    signed = jwcrypto_jws.JWS()
    signed.deserialize(response.json()["manifest"])
    signed.verify(keyset.get_key(signed.jose_header["kid"]), alg="EdDSA")
    assert signed.jose_header["typ"] == "kyodaku-snapshot+jwt"
    return json.loads(signed.payload)


def download(ai_developer, entry) -> bytes:
    response = ai_developer.get(entry["url"].removeprefix("http://testserver"))
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    return data


class OfflineCopy:
    """What a client keeps: the snapshot's answers by key, brought up to date from the change feed."""

    def __init__(self, ai_developer, manifest: dict, answers: bytes):
        self.api, self.manifest = ai_developer, manifest
        lines = [json.loads(line) for line in gzip.decompress(answers).splitlines()]
        self.answers = {line["key"]: line for line in lines}
        self.default = next(f for f in manifest["files"] if f["name"] == "filter")["default_outcome"]
        self.cursor = manifest["cursor"]

    def follow(self) -> None:
        touched = set()
        while True:
            page = self.api.get("/api/v1/changes", {"after": self.cursor, "limit": 1000}).json()
            for entry in page["results"]:
                for key in entry["keys"]:
                    kind, _, rest = key.partition(":")
                    if kind == "holder":
                        touched |= {k for k, a in self.answers.items() if a["holder"] == rest}
                    elif kind == "rule":
                        assert not rest.startswith(("JP/", "*/")), "a rule change for this pair: rebuild instead"
                    elif kind != "ref":
                        touched.add(key)
            self.cursor = page["next"]
            if not page["results"]:
                break
        results = self.api.post("/api/v1/lookup", {"ids": sorted(touched), **PAIR}, format="json").json()["results"]
        for result in results:
            if result["registered"]:
                self.answers[result["identifier"]] = {"key": result["identifier"], **fields(result)}
            else:
                self.answers.pop(result["identifier"], None)

    def answer(self, raw: str) -> dict:
        parsed = parse_identifier(raw)
        key = f"{parsed.scheme}:{parsed.value}"
        if key in self.answers:
            return {k: self.answers[key][k] for k in FIELDS}
        if parsed.scheme in ("url", "domain"):
            host = url_host(parsed.value) if parsed.scheme == "url" else parsed.value
            if parsed.scheme == "url":  # http and https are the same URL; the asker's own scheme first
                own, rest = url_scheme_and_rest(parsed.value)
                twin = f"url:{url_scheme_twin(parsed.value)}"
                if twin in self.answers:
                    return {k: self.answers[twin][k] for k in FIELDS}
                prefixes = [(len(url_scheme_and_rest(k)[1]), url_scheme_and_rest(k)[0] == f"url-prefix:{own}", k)
                            for k in self.answers if k.startswith("url-prefix:")
                            and rest.startswith(url_scheme_and_rest(k)[1])]
                if prefixes:
                    return {k: self.answers[max(prefixes)[2]][k] for k in FIELDS}
            for domain in domain_chain(host):
                if f"domain:{domain}" in self.answers:
                    return {k: self.answers[f"domain:{domain}"][k] for k in FIELDS}
        return {"outcome": self.default, "basis": DEFAULT_BASIS[self.default], "holder": None, "declaration": None,
                "license_url": None, "disputed": False}


def fields(result: dict) -> dict:
    return {"outcome": result["outcome"], "basis": result["basis"],
            "holder": result["holder"]["code"] if result["holder"] else None,
            "declaration": result["declaration"]["id"] if result["declaration"] else None,
            "license_url": result["license_url"], "disputed": result["disputed"]}


MIXED_IDS = [
    *(f"doi:10.5555/kaze-{i}" for i in range(20)), *(f"doi:10.5555/hoshi-{i}" for i in range(5)),
    "doi:10.5555/new-1", "doi:10.5555/new-2", "doi:10.5555/never",
    "url:https://kaze.example/gallery/2026/spring.png", "url:https://kaze.example/about",
    "url:https://www.kaze-fans.example/thread/1", "domain:cdn.kaze-fans.example", "domain:kaze-fans.example",
    "url-prefix:https://kaze.example/gallery/", "url:https://new-site.example/a", "isbn:9784990166137",
    "url:http://kaze.example/gallery/2026/spring.png", "url:http://new-site.example/a",  # the other scheme
]


def test_ai_developer_snapshot_plus_changes_since_its_cursor_equals_the_api(ai_developer, anonymous, catalogue,
                                                                           studio_kaze, hoshi_pub):
    books, hoshi_reserve = catalogue
    build()
    manifest = verified_manifest(ai_developer, anonymous)
    files = {f["name"]: f for f in manifest["files"]}
    copy = OfflineCopy(ai_developer, manifest, download(ai_developer, files["answers"]))
    assert len(copy.answers) == files["answers"]["count"] == 27
    assert manifest["regime"] == "prior-permission" and copy.default == "denied"

    # After the snapshot: new works, a grant, a removed identifier, a dispute, a revoked catalogue reservation,
    # a new licensing URL, a new url-prefix, and a rule elsewhere.
    later = T0 + timedelta(days=1)
    work_register(holder=hoshi_pub.holder, work_ref="HP-new", title="New", identifiers=["doi:10.5555/new-1"],
                  at=later)
    new2 = work_register(holder=studio_kaze.holder, work_ref="SK-new", title="New",
                         identifiers=["doi:10.5555/new-2", "url-prefix:https://new-site.example/"], at=later).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=new2, purpose="train-genai", consent="grant",
                     at=later)
    declaration_file(holder=studio_kaze.holder, scope="work", work=books[1], purpose="train-ai", consent="grant",
                     at=later)
    identifier_remove(identifier=Identifier.objects.get(value="10.5555/kaze-3"), at=later)
    work_register(holder=hoshi_pub.holder, work_ref="HP-claim", title="Claim", identifiers=["doi:10.5555/kaze-4"],
                  at=later)
    declaration_revoke(declaration=hoshi_reserve, at=later)
    holder_update(holder=studio_kaze.holder, licensing_url="https://kaze.example/new-licensing")
    rule_set(jurisdiction="BR", regime="opt-out", basis="Hypothetical.", at=later)

    copy.follow()
    api = ai_developer.post("/api/v1/lookup", {"ids": MIXED_IDS, **PAIR}, format="json").json()["results"]
    for raw, result in zip(MIXED_IDS, api, strict=True):
        assert copy.answer(raw) == fields(result), raw
    assert {fields(r)["basis"] for r in api} >= {"granted", "disputed", "permission-required"}


def test_the_filter_flags_every_key_whose_outcome_differs_from_the_regime(ai_developer, anonymous, catalogue,
                                                                        settings):
    build()
    manifest = verified_manifest(ai_developer, anonymous)
    files = {f["name"]: f for f in manifest["files"]}
    answers = [json.loads(line) for line in gzip.decompress(download(ai_developer, files["answers"])).splitlines()]
    bloom = bloom_load(download(ai_developer, files["filter"]))
    flagged = [a["key"] for a in answers if a["outcome"] != "denied"]

    assert len(flagged) == files["filter"]["count"] == 11  # 10 granted books and the gallery
    assert all(key in bloom for key in flagged)
    assert files["filter"]["kind"] == "bloom" and files["filter"]["hash"] == "sha256-128"
    assert files["filter"]["false_positive_rate"] == settings.KYODAKU_SNAPSHOT_FILTER_FPR == 1e-6
    assert files["filter"]["hash_functions"] == 19  # rbloom: floor(-log2(1e-6))
    strangers = [f"doi:10.5555/stranger-{i}" for i in range(2000)]
    assert sum(key in bloom for key in strangers) == 0  # at the default rate, one in a million (and the hash is fixed)


def test_the_manifest_names_cursor_head_regime_and_every_file(ai_developer, anonymous, catalogue):
    snapshot = build(purpose="tdm", jurisdiction="FR")
    response = ai_developer.get("/api/v1/snapshots", {"purpose": "tdm", "jurisdiction": "fr"})
    signed = jwcrypto_jws.JWS()
    signed.deserialize(response.json()["manifest"])
    payload = json.loads(signed.objects["payload"])
    assert payload["regime"] == "opt-out" and payload["jurisdiction"] == "FR"
    assert payload["cursor"] == str(snapshot.cursor) == str(payload["audit_head"]["seq"])
    assert [f["name"] for f in payload["files"]] == ["answers", "filter"]
    assert all({"name", "url", "sha256", "bytes", "count"} <= set(f) for f in payload["files"])


def test_the_first_request_is_202_with_retry_after_while_the_build_waits(ai_developer, catalogue,
                                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as dispatched:
        first = ai_developer.get("/api/v1/snapshots", PAIR)
        again = ai_developer.get("/api/v1/snapshots", PAIR)
    assert first.status_code == again.status_code == 202
    assert first["Retry-After"] == "30"
    assert Snapshot.objects.filter(status="queued").count() == 1  # one build for the burst
    assert len(dispatched) == 1
    dispatched[0]()  # the worker runs the task
    assert ai_developer.get("/api/v1/snapshots", PAIR).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_eager_tasks_build_on_the_first_request(ai_developer, catalogue):
    """`make run` has no broker: the build runs in the request, which answers 200 at once."""
    response = ai_developer.get("/api/v1/snapshots", PAIR)
    assert response.status_code == 200


@pytest.mark.parametrize("params", [{"purpose": "paint", "jurisdiction": "JP"}, {"purpose": "tdm"},
                                    {"purpose": "tdm", "jurisdiction": "XX"}])
def test_bad_snapshot_questions_are_400_problems(ai_developer, params):
    response = ai_developer.get("/api/v1/snapshots", params)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"


def test_snapshots_need_an_api_key_and_unknown_files_are_404(anonymous, ai_developer, catalogue):
    snapshot = build()
    assert anonymous.get("/api/v1/snapshots", PAIR).status_code == 401
    assert anonymous.get(f"/api/v1/snapshots/{snapshot.pk}/answers").status_code == 401
    assert ai_developer.get(f"/api/v1/snapshots/{snapshot.pk}/secrets").status_code == 404


def test_a_build_runs_once_however_often_its_task_is_delivered(catalogue):
    snapshot = snapshot_queue(**PAIR)
    assert snapshot_build(snapshot_id=snapshot.pk) is not None
    assert snapshot_build(snapshot_id=snapshot.pk) is None


def test_a_build_lost_with_its_worker_does_not_hold_the_pair_forever(ai_developer, catalogue, settings,
                                                                     django_capture_on_commit_callbacks):
    lost = snapshot_queue(**PAIR)
    Snapshot.objects.filter(pk=lost.pk).update(status="building", started_at=T0)  # its worker died in 2026-01
    with django_capture_on_commit_callbacks(execute=True):
        response = ai_developer.get("/api/v1/snapshots", PAIR)
    lost.refresh_from_db()
    assert lost.status == "failed" and "abandoned" in lost.error
    assert response.status_code == 202  # a new build was queued (and, eager here, ran after the response)
    assert ai_developer.get("/api/v1/snapshots", PAIR).status_code == 200
