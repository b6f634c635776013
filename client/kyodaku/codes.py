"""Content codes computed on the crawler's machine, so content never leaves it (docs/match.md, docs/client.md).

Optional: `pip install "kyodaku[codes]"` (Pillow, imagehash, pdqhash, numpy). The codes are the registry's
(`registry.fingerprints` on the server; client/tests/test_client_codes.py checks that both give the same codes):
``sha256`` of the bytes; for an image ``phash`` (imagehash.phash) and ``pdq`` (64 hex digits in PDQ's canonical
order), both on a copy at most 1,024 pixels on its longer side. With ``dihedral=True`` also ``pdq_dihedral``: the
PDQ codes of the image's eight dihedral transformations (``pdqhash.compute_dihedral``, the first the image as it
is), with which the registry finds a mirrored or rotated copy of a registered image. Send them with ``Api.match``.
"""
from __future__ import annotations

import hashlib
import io

__all__ = ["codes_for_bytes", "codes_for_file"]

HASH_SIDE = 1024
MAX_PIXELS = 40_000_000


def codes_for_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS, dihedral: bool = False) -> dict:
    """``{"sha256", "phash", "pdq"}`` for an image (and ``"pdq_dihedral"``, eight codes, when `dihedral`),
    ``{"sha256"}`` for anything Pillow cannot read."""
    import imagehash
    import numpy
    import pdqhash
    from PIL import Image, UnidentifiedImageError

    codes = {"sha256": hashlib.sha256(data).hexdigest()}
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels:
            return codes
        if image.format == "JPEG":
            image.draft("RGB", (HASH_SIDE, HASH_SIDE))
        rgb = image.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return codes
    if max(rgb.size) > HASH_SIDE:
        rgb.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    codes["phash"] = str(imagehash.phash(rgb))
    if dihedral:  # one DCT gives all eight; the first is the image as it is
        hashes, _quality = pdqhash.compute_dihedral(numpy.asarray(rgb))
        codes["pdq_dihedral"] = [_hex(bits) for bits in hashes]
        codes["pdq"] = codes["pdq_dihedral"][0]
    else:
        bits, _quality = pdqhash.compute(numpy.asarray(rgb))
        codes["pdq"] = _hex(bits)
    return codes


def _hex(bits) -> str:
    """PDQ's 256 bits as 64 hex digits in its canonical order."""
    return format(int("".join("1" if b else "0" for b in bits), 2), "064x")


def codes_for_file(path, *, dihedral: bool = False) -> dict:
    with open(path, "rb") as f:
        return codes_for_bytes(f.read(), dihedral=dihedral)
