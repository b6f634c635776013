"""The snapshot's approximate-membership filter: a Bloom filter (rbloom) of the keys whose outcome differs from
the regime's answer for anything unregistered. A client that needs outcomes only fetches answers for the keys the
filter flags; a key it does not flag certainly has the regime's outcome (no false negatives).

Why Bloom and not a binary fuse filter: a Bloom filter is filled one key at a time, so the build streams; a fuse
filter needs every key's hash in memory at once and about 25 bytes per key more while it is built. At the default
1 % false-positive rate a Bloom filter costs 9.6 bits a key: 100 million keys in 120 MB.

The hash is stated so that any client can query the filter: the first 16 bytes of SHA-256 of the key (UTF-8),
read as a big-endian signed 128-bit integer, given to `rbloom.Bloom` as its `hash_func`. The file is rbloom's
`save_bytes` format: the number of hash functions k as an unsigned 64-bit little-endian integer, then the bit array.
"""
import hashlib
from collections.abc import Iterable
from importlib.metadata import version

from rbloom import Bloom

FILTER_KIND = "bloom"
HASH_NAME = "sha256-128"  # the first 16 bytes of SHA-256(key UTF-8), big-endian, signed


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:16], "big", signed=True)


def bloom_build(keys: Iterable[str], *, count: int, false_positive_rate: float, path: str) -> dict:
    """Write a Bloom filter of `keys` (exactly `count` of them) to `path`; returns its stated parameters."""
    bloom = Bloom(max(count, 1), false_positive_rate, key_hash)
    bloom.update(keys)
    bloom.save(path)
    with open(path, "rb") as handle:
        hashes = int.from_bytes(handle.read(8), "little")
    return {"kind": FILTER_KIND, "library": f"rbloom=={version('rbloom')}", "hash": HASH_NAME,
            "hash_functions": hashes, "bits": bloom.size_in_bits, "keys": count,
            "false_positive_rate": false_positive_rate}


def bloom_load(data: bytes) -> Bloom:
    return Bloom.load_bytes(data, key_hash)
