"""POST /api/v1/match (match.md): an AI developer finds a registered work from its content and gets its answer."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from consent.services import declaration_file
from demo.images import image_bytes, procedural_image, transform
from registry.fingerprints import codes_for_bytes
from registry.services import work_register

from .conftest import assert_problem

URL = "/api/v1/match"
ASK = {"purpose": "train-genai", "jurisdiction": "JP"}


@pytest.fixture
def kaze_still(studio_kaze):
    """Studio Kaze's anime still, registered with its codes and reserved for AI training everywhere."""
    image = procedural_image(7)
    codes = codes_for_bytes(image_bytes(image))
    work = work_register(holder=studio_kaze.holder, work_ref="KZ-7", title="Kaze still 7", kind="image",
                         identifiers=[f"{m}:{v}" for m, v in codes.items()]).work
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai", jurisdiction="*",
                     consent="reserve", license_url="https://studio-kaze.example/licensing")
    return work, image, codes


def _upload(client, data: bytes, name="scraped.jpg", **fields):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **ASK, **fields}, format="multipart")


def test_ai_developer_finds_a_work_by_its_exact_sha256_first(ai_developer, kaze_still):
    work, _image, codes = kaze_still
    body = ai_developer.post(URL, {"codes": {"sha256": codes["sha256"], "phash": codes["phash"]}, **ASK},
                             format="json").json()
    assert body["answer"] is None
    best = body["matches"][0]
    assert (best["method"], best["distance"], best["score"]) == ("sha256", 0, 1.0)
    assert best["work"]["id"] == str(work.pk) and best["holder"]["code"] == "studio-kaze"
    assert best["answer"]["outcome"] == "denied" and best["answer"]["basis"] == "reserved"
    assert len(body["matches"]) == 1  # one entry per work, its best method


@pytest.mark.parametrize("name", ["resize-50%", "jpeg-q30", "colour-shift"])
def test_a_transformed_copy_uploaded_as_a_file_is_still_found(ai_developer, kaze_still, name):
    work, image, codes = kaze_still
    response = _upload(ai_developer, image_bytes(transform(image, name), "JPEG", quality=85))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["codes"]["sha256"] != codes["sha256"]
    best = body["matches"][0]
    assert best["work"]["id"] == str(work.pk)
    assert best["method"] in ("iscc", "pdq", "phash") and 0 <= best["distance"] and 0 < best["score"] <= 1
    assert best["answer"]["outcome"] == "denied"


@pytest.mark.parametrize("name", ["hflip", "vflip", "rotate-90", "rotate-180", "hflip-jpeg-q50"])
def test_a_mirrored_or_rotated_copy_uploaded_as_a_file_is_found_through_pdq(ai_developer, kaze_still, name):
    work, image, codes = kaze_still
    data = image_bytes(transform(image, name), "JPEG", quality=85)
    body = _upload(ai_developer, data).json()
    assert len(body["codes"]["pdq_dihedral"]) == 8 and body["codes"]["pdq"] == body["codes"]["pdq_dihedral"][0]
    best = body["matches"][0]
    assert (best["work"]["id"], best["method"]) == (str(work.pk), "pdq")
    assert best["distance"] <= 31 and best["answer"]["outcome"] == "denied"
    # Without the dihedral search the same file finds nothing: a flipped or rotated variant found it.
    plain = _upload(ai_developer, data, dihedral="false").json()
    assert plain["matches"] == [] and "pdq_dihedral" not in plain["codes"]


def test_unrelated_images_are_not_found_in_any_orientation(ai_developer, kaze_still):
    for seed, name in ((8, "hflip"), (9, "rotate-90"), (10, "rotate-180"), (11, "vflip"), (12, "resize-50%")):
        body = _upload(ai_developer, image_bytes(transform(procedural_image(seed), name))).json()
        assert body["matches"] == [] and body["answer"]["registered"] is False, (seed, name)


def test_a_crawler_sends_the_eight_pdq_codes_it_computed_itself(ai_developer, kaze_still):
    work, image, _codes = kaze_still
    mirrored = codes_for_bytes(image_bytes(transform(image, "hflip")), dihedral=True)
    body = ai_developer.post(URL, {"batch": [{"pdq_dihedral": mirrored["pdq_dihedral"]},
                                             {"pdq": mirrored["pdq"]}], **ASK}, format="json").json()
    found, plain = body["results"]
    assert (found["matches"][0]["work"]["id"], found["matches"][0]["method"]) == (str(work.pk), "pdq")
    assert plain["matches"] == []  # the mirrored image's own PDQ alone is far from the registered one


def test_a_file_searched_in_eight_orientations_costs_the_same_queries(ai_developer, kaze_still,
                                                                       django_assert_num_queries):
    _work, image, _codes = kaze_still
    data = image_bytes(transform(image, "rotate-90"))
    _upload(ai_developer, data)  # warm the key cache
    # API key check, then: the candidates of all eight PDQ variants and the other codes in ONE statement (1) and
    # the lookup batch's fixed queries (rule book, match, declarations, disputes).
    with django_assert_num_queries(6):
        assert _upload(ai_developer, data).json()["matches"]


def test_an_unrelated_image_is_not_found_and_the_answer_fails_closed(ai_developer, kaze_still):
    body = _upload(ai_developer, image_bytes(procedural_image(8)), name="other.png").json()
    assert body["matches"] == []
    # The regime's answer for an unregistered work: Japan (art. 30-4) allows training unless reserved.
    assert body["answer"]["registered"] is False and body["answer"]["work"] is None
    assert body["answer"]["jurisdiction"] == "JP"
    gb = ai_developer.post(URL, {"codes": {"phash": "0123456789abcdef"}, "purpose": "train-genai",
                                 "jurisdiction": "GB"}, format="json").json()
    assert gb["matches"] == [] and gb["answer"]["regime"] == "opt-out"


def test_max_distance_zero_finds_only_the_same_hash(ai_developer, kaze_still):
    _work, _image, codes = kaze_still
    near = format(int(codes["phash"], 16) ^ 1, "016x")
    ask = {"codes": {"phash": near}, **ASK}
    assert ai_developer.post(URL, ask, format="json").json()["matches"][0]["distance"] == 1
    assert ai_developer.post(URL, {**ask, "max_distance": {"phash": 0}}, format="json").json()["matches"] == []


def test_as_of_before_registration_finds_nothing(ai_developer, kaze_still):
    work, _image, codes = kaze_still
    before = (work.created_at.replace(year=work.created_at.year - 1)).isoformat()
    body = ai_developer.post(URL, {"codes": {"pdq": codes["pdq"]}, **ASK, "as_of": before}, format="json").json()
    assert body["matches"] == [] and body["answer"]["registered"] is False


def test_batch_answers_each_code_set_in_order_in_a_fixed_number_of_queries(ai_developer, kaze_still):
    _work, image, codes = kaze_still
    moved = codes_for_bytes(image_bytes(transform(image, "resize-50%")))
    def batch(n):
        sets = [{"phash": format(i, "016x")} for i in range(n)]
        sets[0] = {"pdq": moved["pdq"]}
        return {"batch": sets, **ASK}

    ai_developer.post(URL, batch(1), format="json")  # warm the key cache
    with CaptureQueriesContext(connection) as small:
        assert ai_developer.post(URL, batch(3), format="json").status_code == 200
    with CaptureQueriesContext(connection) as large:
        body = ai_developer.post(URL, batch(1000), format="json").json()
    assert len(large) == len(small)
    results = body["results"]
    assert len(results) == 1000
    assert results[0]["matches"][0]["method"] == "pdq"
    assert all(r["matches"] == [] and r["answer"]["registered"] is False for r in results[1:])


def test_match_query_count_is_pinned(ai_developer, kaze_still, django_assert_num_queries):
    _work, _image, codes = kaze_still
    ai_developer.post(URL, {"codes": {"phash": codes["phash"]}, **ASK}, format="json")  # warm the key cache
    # API key check, then: the candidates (1) and the lookup batch's fixed queries (rule book, match,
    # declarations, disputes).
    with django_assert_num_queries(6):
        ai_developer.post(URL, {"batch": [{"phash": codes["phash"]}, {"pdq": codes["pdq"]}], **ASK},
                          format="json")


def test_a_batch_over_the_limit_is_refused(ai_developer, db):
    response = ai_developer.post(URL, {"batch": [{"phash": "0" * 16}] * 1001, **ASK}, format="json")
    assert_problem(response, 413)


@pytest.mark.parametrize(("body", "field"), [
    ({"codes": {"phash": "xyz"}}, "codes.phash"),
    ({"codes": {"md5": "0" * 32}}, "codes.md5"),
    ({"codes": {}}, "codes"),
    ({}, "codes"),
    ({"codes": {"phash": "0" * 16}, "batch": [{"phash": "0" * 16}]}, "codes"),
    ({"codes": {"phash": "0" * 16}, "max_distance": {"phash": 64}}, "max_distance"),
    ({"codes": {"pdq_dihedral": "0" * 64}}, "codes.pdq_dihedral"),
    ({"codes": {"pdq_dihedral": ["0" * 64] * 9}}, "codes.pdq_dihedral"),
    ({"codes": {"pdq_dihedral": ["0" * 64, "xyz"]}}, "codes.pdq_dihedral[1]"),
])
def test_bad_codes_are_problems_with_the_field_named(ai_developer, db, body, field):
    problem = assert_problem(ai_developer.post(URL, {**body, **ASK}, format="json"), 400)
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem


def test_a_holder_token_or_no_key_cannot_match(anonymous, kaze, db):
    assert anonymous.post(URL, {"codes": {"phash": "0" * 16}, **ASK}, format="json").status_code == 401
    assert kaze.post(URL, {"codes": {"phash": "0" * 16}, **ASK}, format="json").status_code in (401, 403)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header announces width x height with (almost) no pixel data: a decompression bomb's shape."""
    return image_bytes(Image.new("1", (width, height)), "PNG")


@pytest.mark.parametrize(("data", "name"), [
    (_png_header_only(10_000, 10_000), "100-megapixels.png"),
    (image_bytes(procedural_image(3), "JPEG")[:2000], "truncated.jpg"),
    (bytes(range(256)) * 8, "fake.png"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "broken.png"),
])
def test_hostile_files_get_a_clear_problem(ai_developer, db, data, name):
    problem = assert_problem(_upload(ai_developer, data, name=name), 400, "unreadable-content")
    assert problem["errors"][0]["field"] == "file"


def test_a_file_over_the_size_limit_is_refused(ai_developer, db, settings):
    settings.KYODAKU_MATCH_MAX_FILE_BYTES = 1000
    assert_problem(_upload(ai_developer, b"x" * 5000, name="big.txt"), 413)


def test_a_text_file_is_matched_by_its_sha256(ai_developer, hoshi_pub):
    text = "星の海 第一話\n".encode() * 50
    codes = codes_for_bytes(text)
    work = work_register(holder=hoshi_pub.holder, work_ref="HP-T1", title="Hoshi text", kind="text",
                         identifiers=[f"sha256:{codes['sha256']}"]).work
    body = _upload(ai_developer, text, name="page.txt").json()
    assert body["codes"]["iscc"].startswith("ISCC:")
    assert body["matches"][0]["work"]["id"] == str(work.pk)
