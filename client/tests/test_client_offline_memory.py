"""Persona: an AI developer's crawler on a laptop, holding a synced copy whose filter flags many millions of keys
(360 MB at 100 million, docs/sync.md: "small enough to hold 100 million keys in memory on a laptop"). Rule: a bulk
offline check holds the filter's bits once, not the file's bytes and a copy of them: the accelerator reads the
mapped file where it lies, the pure-Python path has rbloom load the file itself; and both give the same answers
on the same filter, the keys it flags handed to the API by both."""
import hashlib
import json
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import httpx
import pytest
from kyodaku import Api, offline
from kyodaku.offline import LocalCopy
from rbloom import Bloom
from test_client_offline_lines import a_copy

from sync.filters import key_hash

linux = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc (Linux)")

FILTER_BYTES = 48 << 20  # large beside the rest of what the check holds (tens of MB would blur the rule)
FLAGGED = [f"doi:10.7777/flagged-{i}" for i in range(200)]  # in the filter, not in the copy: only the API answers

# Runs in a process of its own: ru_maxrss is the process's peak, so it must not include the test runner's.
MEASURE = """
import hashlib, json, sys
from pathlib import Path
from kyodaku.ids import IdUnits
from kyodaku.offline import LocalCopy


def peak() -> int:  # this process's peak RSS, VmHWM: ru_maxrss would start from the test runner's (kept by exec)
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


copy, ids = Path(sys.argv[1]), Path(sys.argv[2])
data = ids.read_bytes()
units = IdUnits(data, str(ids), unit_bytes=1 << 18, unit_ids=100_000)
local = LocalCopy(copy)
before = peak()
index = local._bulk_index()
digest, missing = hashlib.sha256(), []
for number in range(len(units)):  # one unit at a time, its lines hashed and dropped: only the filter stays
    segments, unit_missing, asked, _ = local.bulk_unit(units, number, quote=True)
    for segment in segments:
        digest.update(segment)
    missing += asked
print(json.dumps({"grown": peak() - before, "accelerated": index["accel"] is not None, "csv": digest.hexdigest(),
                  "asked": [raw.decode() for raw in missing]}))
"""


@pytest.fixture(scope="module")
def large_copy(tmp_path_factory) -> tuple[Path, Path]:
    """a_copy with a 48 MB filter about half of whose bits are set (as a full filter's are, so that a key not in it
    is rejected after about two probes anywhere in the file) and FLAGGED added; 120,000 ids the copy does not hold,
    whose probes touch every page of the filter, with FLAGGED among them."""
    local = a_copy(tmp_path_factory.mktemp("memory"))
    bloom = Bloom(int(FILTER_BYTES * 8 / 28.8), 1e-6, key_hash)
    bloom.update(FLAGGED + ["doi:10.5555/a", "domain:kaze.example"])
    data = bloom.save_bytes()
    bits = int.from_bytes(data[8:], "little") | int.from_bytes(random.Random(7).randbytes(len(data) - 8), "little")
    (local.dir / "filter").write_bytes(data[:8] + bits.to_bytes(len(data) - 8, "little"))
    ids = [f"doi:10.9999/unheld-{i}" for i in range(120_000)]
    ids[::600] = FLAGGED
    path = local.dir.parent / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return local.dir, path


def measured(copy: Path, ids: Path, *, pure: bool) -> dict:
    env = {**os.environ, offline.PURE_PYTHON_ENV: "1" if pure else ""}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(copy), str(ids)], env=env, capture_output=True,
                          text=True, check=True, cwd=Path(offline.__file__).parent.parent)
    return json.loads(done.stdout)


@linux
def test_the_pure_path_holds_the_filter_once(large_copy):
    copy, ids = large_copy
    size = (copy / "filter").stat().st_size
    pure = measured(copy, ids, pure=True)
    assert not pure["accelerated"]
    # rbloom's copy of the bits and little else; reading the file into bytes first would be 2 x size
    assert size <= pure["grown"] < size * 1.3, (pure["grown"], size)


@pytest.fixture
def accelerated(monkeypatch):
    """The compiled accelerator with SHA-256 (test_client_offline_accel.py fails a run where it should be built and
    is not), whatever the run forces elsewhere."""
    monkeypatch.delenv(offline.PURE_PYTHON_ENV, raising=False)
    module = offline.compiled()
    if module is None or not module.HAS_SHA256:
        pytest.skip("kyodaku._offline not built, stale, or built without libcrypto")


@linux
def test_the_accelerator_reads_the_mapped_filter_where_it_lies(large_copy, accelerated):
    copy, ids = large_copy
    size = (copy / "filter").stat().st_size
    fast = measured(copy, ids, pure=False)
    assert fast["accelerated"]
    # the mapped file's pages, every one touched by the probes (so the figure is the whole filter, once); the bytes
    # read into Python and the accelerator's copy of them were 2 x size
    assert size * 0.9 <= fast["grown"] < size * 1.3, (fast["grown"], size)
    pure = measured(copy, ids, pure=True)
    assert fast["csv"] == pure["csv"]  # byte for byte, on the same filter
    assert fast["asked"] == pure["asked"] and set(FLAGGED) <= set(fast["asked"])
    assert len(fast["asked"]) < len(FLAGGED) + 5  # and little else: the filter's rate, not every id


def test_an_empty_or_bitless_filter_is_refused_mapped_as_it_was_read(tmp_path, accelerated):
    # mmap cannot map an empty file: map_filter gives b"", which the accelerator refuses as it refused the bytes
    for content in (b"", (19).to_bytes(8, "little")):
        local = a_copy(tmp_path / str(len(content)))
        (local.dir / "filter").write_bytes(content)
        with pytest.raises(ValueError, match="rbloom's bytes are k"):
            LocalCopy(local.dir)._bulk_index()


SNAPSHOT_FILE = 32 << 20


def snapshot_body(attempt: int):
    """The bytes of a 32 MB snapshot file, made as they are sent (never whole in memory here either); the first
    attempt is cut off half way."""
    for i in range(SNAPSHOT_FILE >> 20):
        if attempt == 0 and i == 16:
            raise httpx.ReadError("connection reset")
        yield bytes([i]) * (1 << 20)


def registry_sending_a_large_file():
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        if len(attempts) == 2:  # busy: retried after its Retry-After
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"title": "busy"})
        return httpx.Response(200, content=snapshot_body(len(attempts) - 1))

    return Api("https://registry.example", None, transport=httpx.MockTransport(handler), sleep=lambda s: None), \
        attempts


def test_a_snapshot_file_is_streamed_to_disk_and_a_cut_attempt_starts_again(tmp_path):
    # the same persona's `kyodaku sync`: the filter is written as it arrives, never held whole (httpx's .content
    # held it, and twice while it joined the chunks); an attempt cut short leaves nothing of itself in the file
    api, attempts = registry_sending_a_large_file()
    path = tmp_path / "filter"
    tracemalloc.start()
    try:
        with open(path, "wb") as sink:
            api.download("https://public.example/api/v1/snapshots/1/files/filter", sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert attempts == ["/api/v1/snapshots/1/files/filter"] * 3  # cut, busy, whole: by its path on this registry
    expected = hashlib.sha256(b"".join(bytes([i]) * (1 << 20) for i in range(SNAPSHOT_FILE >> 20))).hexdigest()
    assert path.stat().st_size == SNAPSHOT_FILE
    with open(path, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == expected
    assert peak < SNAPSHOT_FILE / 8, peak  # a few chunks of 1 MB in flight, not the file
