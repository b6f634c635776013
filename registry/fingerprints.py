"""Content codes of a file (match.md): sha256, iscc, phash, pdq, computed with the libraries the spec names.

Pure Python, no Django: the match API (an uploaded file), holders' fingerprinting and a crawler computing codes
on its own machine (docs/match.md) all call `codes_for_bytes`. Image decoding is bounded before any pixel is
decoded: the header's width x height must be within `max_pixels` (a decompression bomb is refused from its
header), and the whole image is then decoded once (a truncated file fails there). The time of a decode is bounded
by the pixel bound (decoding is linear in pixels); docs/match.md gives the measured worst case.

- ``sha256``: of the bytes as given.
- ``phash``: ``imagehash.phash`` at its default size (8x8 of a 32x32 DCT), 16 hex digits.
- ``pdq``: ``pdqhash.compute`` on the RGB pixels, 64 hex digits in PDQ's canonical order (the 16-bit words from
  the 15th down to the 0th, as ThreatExchange's ``Hash256::format`` writes them).
- ``pdq_dihedral`` (only when asked, for matching): the PDQ codes of the image's eight dihedral transformations
  (``pdqhash.compute_dihedral``: as it is, rotated 90, 180 and 270 degrees, mirrored, flipped, and the two
  transpositions), the first being ``pdq`` itself. A mirrored or rotated copy of a registered image has one of them
  near the registered ``pdq``. Registration keeps ``pdq`` alone: one identifier per file.
- ``iscc``: an ISCC Image-Code (``iscc_core.gen_image_code_v0`` on 32x32 grey pixels, as iscc-sdk prepares
  them, without iscc-sdk's external binaries) or Text-Code (``gen_text_code_v0``) for UTF-8 text.
"""
from __future__ import annotations

import hashlib
import io
import warnings

__all__ = ["ContentError", "codes_for_bytes", "image_codes", "hamming", "DEFAULT_MAX_PIXELS"]

DEFAULT_MAX_PIXELS = 40_000_000  # 40 megapixels: beyond any scan or still a holder registers; a 100 MP file is refused
HASH_SIDE = 1024
_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")


def hamming(a: str, b: str) -> int:
    """Hamming distance of two hex codes of the same length (phash, pdq)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


class ContentError(ValueError):
    """The file cannot be fingerprinted; `detail` says why in a sentence a person can act on."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def _open_image(data: bytes, max_pixels: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ContentError(f"the image has more pixels than the {max_pixels:,} that are decoded") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    width, height = image.size
    if width * height > max_pixels:
        raise ContentError(f"the image is {width}x{height} pixels; at most {max_pixels:,} pixels are decoded")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # an animation: its first frame
    if image.format == "JPEG":
        image.draft("RGB", (HASH_SIDE, HASH_SIDE))  # JPEG decodes at 1/2, 1/4 or 1/8 scale directly: far faster
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError, struct.error... for damaged data
        raise ContentError("the image is damaged or truncated and cannot be decoded") from None
    return image


def _pdq_bits_hex(bits) -> str:
    return format(int("".join("1" if b else "0" for b in bits), 2), "064x")


def _pdq_hex(rgb) -> str:
    import numpy as np
    import pdqhash

    bits, _quality = pdqhash.compute(np.asarray(rgb))
    return _pdq_bits_hex(bits)


def _pdq_dihedral_hex(rgb) -> list[str]:
    """The eight dihedral PDQ codes in one pass (PDQ derives them from one DCT; about the cost of one hash)."""
    import numpy as np
    import pdqhash

    hashes, _quality = pdqhash.compute_dihedral(np.asarray(rgb))
    return [_pdq_bits_hex(bits) for bits in hashes]


def image_codes(image, *, dihedral: bool = False) -> dict:
    """phash, pdq and iscc of a decoded PIL image (and pdq_dihedral when `dihedral`), computed on a copy at most
    HASH_SIDE pixels on its longer side (every hash reduces the image to 64x64 or less anyway; at full size PDQ
    took 15 s for 40 megapixels)."""
    import imagehash
    import iscc_core
    from PIL import Image

    rgb = image.convert("RGB")
    if max(rgb.size) > HASH_SIDE:
        rgb.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    grey = rgb.convert("L").resize((32, 32), resample=3)  # bicubic, as iscc-sdk's image normalisation
    iscc = iscc_core.gen_image_code_v0(list(grey.tobytes()), bits=64)["iscc"]
    if dihedral:
        variants = _pdq_dihedral_hex(rgb)
        return {"phash": str(imagehash.phash(rgb)), "pdq": variants[0], "iscc": iscc, "pdq_dihedral": variants}
    return {"phash": str(imagehash.phash(rgb)), "pdq": _pdq_hex(rgb), "iscc": iscc}


def codes_for_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, dihedral: bool = False) -> dict:
    """The codes of a file's bytes: every code of an image, sha256 and iscc of UTF-8 text; ContentError else.
    `dihedral`: an image's codes also carry `pdq_dihedral` (its eight PDQ variants, for matching)."""
    if not data:
        raise ContentError("the file is empty")
    codes = {"sha256": hashlib.sha256(data).hexdigest()}
    image = _open_image(data, max_pixels)
    if image is not None:
        return {**codes, **image_codes(image, dihedral=dihedral)}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ContentError("the file is neither an image (PNG, JPEG, GIF, WebP, BMP, TIFF) nor UTF-8 text") from None
    if "\x00" in text or not text.strip():
        raise ContentError("the file is neither an image (PNG, JPEG, GIF, WebP, BMP, TIFF) nor UTF-8 text")
    import iscc_core

    return {**codes, "iscc": iscc_core.gen_text_code_v0(text)["iscc"]}
