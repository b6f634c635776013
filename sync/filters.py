"""The snapshot's approximate-membership filter: a Bloom filter (rbloom) of the keys whose outcome differs from
the regime's answer for anything unregistered. A client that needs outcomes only fetches answers for the keys the
filter flags; a key it does not flag certainly has the regime's outcome (no false negatives).

Why Bloom and not a binary fuse filter: a Bloom filter is filled one key at a time, so the build streams; a fuse
filter needs every key's hash in memory at once and about 25 bytes per key more while it is built.

Why a false-positive rate of one in a million by default (`KYODAKU_SNAPSHOT_FILTER_FPR`, 1e-6): every false
positive is an id a client holding the copy must ask the API about (sync.md: "falling back to the API for keys the
filter flags"), and a bulk check meets hundreds of thousands of keys the copy does not hold. At 1 % the client's
check of 1,000,000 ids (bench/client_check.py: 545,000 of them not held) asked 3,220 of them over HTTP: httpx
imported, a client made, a request per unit, a third of the run's wall time; at 1e-6 it expects about 0.5 such
ids, and nearly every check never touches the API. The price is size: -ln(p) / ln(2)^2 bits a key, and rbloom's
k = floor(-log2(p)) hash functions:

| rate | k | bits a key | 10 million keys | 100 million keys |
|---|---|---|---|---|
| 1e-2 | 6 | 9.6 | 12 MB | 120 MB |
| 1e-4 | 13 | 19.2 | 24 MB | 240 MB |
| 1e-6 | 19 | 28.8 | 36 MB | 360 MB |

360 MB for 100 million keys whose outcome is not the regime's still holds in a laptop's memory (sync.md), and a
registry's flagged keys are a part of its keys (the bench's 100,000 keys flag 9,000: a 32 KB filter). Asking is
no slower: a key not in the filter is rejected at its first unset bit, about two probes whatever k is. Building
costs 19 bit writes a key instead of 6, small beside SHA-256 per key (docs/performance.md, "Offline in bulk: no
false positives to ask"). The rate is stated in the manifest; a client works with any.

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
