"""Persona: a crawler that keeps content on its own machine. Rules: kyodaku.codes computes the registry's codes
(the same sha256, phash and pdq as the server's registry.fingerprints), and Api.match finds a registered work from
them, resized copy included (docs/match.md)."""
import pytest
from kyodaku.codes import codes_for_bytes
from kyodaku.http import Api

from demo.images import image_bytes, procedural_image, transform
from registry.fingerprints import codes_for_bytes as server_codes


@pytest.mark.parametrize(("seed", "size", "fmt"), [(1, (640, 480), "PNG"), (2, (2400, 1800), "JPEG")])
def test_the_client_computes_the_servers_codes(seed, size, fmt):
    data = image_bytes(procedural_image(seed, size), fmt)
    server = server_codes(data)
    assert codes_for_bytes(data) == {m: server[m] for m in ("sha256", "phash", "pdq")}


def test_the_client_computes_the_servers_eight_pdq_codes_on_request():
    data = image_bytes(procedural_image(3), "JPEG")
    server = server_codes(data, dihedral=True)
    client = codes_for_bytes(data, dihedral=True)
    assert client == {m: server[m] for m in ("sha256", "phash", "pdq", "pdq_dihedral")}
    assert len(client["pdq_dihedral"]) == 8 and client["pdq"] == client["pdq_dihedral"][0]


def test_anything_but_an_image_gets_its_sha256_only():
    assert set(codes_for_bytes(b"plain text")) == {"sha256"}


@pytest.mark.django_db(transaction=True)
def test_a_crawler_finds_a_resized_still_from_codes_alone(registry, api_key, studio_kaze):
    from registry.services import work_register

    image = procedural_image(5)
    registered = server_codes(image_bytes(image))
    work_register(holder=studio_kaze.holder, work_ref="KZ-5", title="Still 5", kind="image",
                  identifiers=[f"phash:{registered['phash']}", f"pdq:{registered['pdq']}"])
    copy = codes_for_bytes(image_bytes(transform(image, "resize-50%"), "JPEG", quality=80))
    api = Api(registry, api_key)
    try:
        [found, unrelated] = api.match([copy, codes_for_bytes(image_bytes(procedural_image(6)))],
                                       purpose="train-genai", jurisdiction="JP")
    finally:
        api.close()
    assert found["matches"][0]["work"]["work_ref"] == "KZ-5"
    assert unrelated["matches"] == [] and unrelated["answer"]["registered"] is False


@pytest.mark.django_db(transaction=True)
def test_a_crawler_finds_a_mirrored_still_with_the_dihedral_codes(registry, api_key, studio_kaze):
    from registry.services import work_register

    image = procedural_image(9)
    registered = server_codes(image_bytes(image))
    work_register(holder=studio_kaze.holder, work_ref="KZ-9", title="Still 9", kind="image",
                  identifiers=[f"pdq:{registered['pdq']}"])
    mirrored = image_bytes(transform(image, "hflip"), "JPEG", quality=80)
    api = Api(registry, api_key)
    try:
        [found, plain] = api.match([codes_for_bytes(mirrored, dihedral=True), codes_for_bytes(mirrored)],
                                   purpose="train-genai", jurisdiction="JP")
    finally:
        api.close()
    assert found["matches"][0]["work"]["work_ref"] == "KZ-9" and found["matches"][0]["method"] == "pdq"
    assert plain["matches"] == []
