"""JSON rendered by orjson for the lookup endpoints: the same bytes as DRF's JSONRenderer for their plain data.

A batch answer of 10,000 results is about 6 MB of JSON; DRF's JSONRenderer (the standard library's `json` with a
Python-level encoder) spends most of the HTTP layer's time there. orjson writes compact UTF-8 as DRF does with
COMPACT_JSON and UNICODE_JSON on; anything orjson does not write itself (datetimes, decimals, lazy strings) goes
through DRF's own encoder, so a datetime is still written `...Z` as DRF writes it.
"""
import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
_fallback = JSONEncoder().default


def orjson_bytes(data) -> bytes:
    """`data` as DRF's JSONRenderer writes it (compact, UTF-8, U+2028/U+2029 escaped for JavaScript)."""
    text = orjson.dumps(data, default=_fallback, option=_OPTIONS)
    if b"\xe2\x80\xa8" in text or b"\xe2\x80\xa9" in text:
        text = text.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return text


class OrjsonRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson_bytes(data)
