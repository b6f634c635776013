"""`kyodaku sync` and the local copy behind `kyodaku check --offline`.

A copy is a directory: the snapshot's signed manifest, its two files exactly as downloaded (hashes checked), the
keys fetched since from the change feed (`overlay.json`), and `state.json` (the feed position and when it was last
brought up to date). Nothing unverified is ever kept: a file whose hash, size or signature is wrong is refused.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import threading
import time
from collections import deque
from itertools import compress, count, repeat
from operator import is_, itemgetter, methodcaller, not_, sub, xor
from pathlib import Path

from .ids import bulk_verdicts, classify

# typing.TYPE_CHECKING without importing typing (~5 ms of every command's start): type checkers read this as True
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .http import Api

SNAPSHOT_TYPE = "kyodaku-snapshot+jwt"
DEFAULT_BASIS = {"denied": "permission-required", "allowed": "not-reserved"}
FIELDS = ("outcome", "basis", "holder", "declaration", "license_url", "disputed")
INDEX_NAME = "index.marshal"  # the bulk index (LocalCopy.write_index), derived from the answers and the overlay
INDEX_FORMAT = 1
ACCEL_INDEX_NAME = "index.accel"  # the same index as the accelerator's tables: source, sha256, Accel.dumps()
LINE_END = "\r\n"  # csv.writer's (excel dialect), so that fast lines and csv.writer's rows read the same


def csv_field(text: str) -> str:
    """One field exactly as csv.writer (excel dialect, QUOTE_MINIMAL) writes it in a row of several fields."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_tail(found: dict) -> str:
    """Everything of an offline row after its id: `,outcome,basis,holder,license_url,declaration,disputed,receipt,
    source,reason,licence` and the line end, as csv.writer writes `LocalCopy.row`'s list."""
    return "," + ",".join(csv_field(value) for value in (
        found["outcome"], found["basis"], found.get("holder") or "", found.get("license_url") or "",
        found.get("declaration") or "", "true" if found.get("disputed") else "false", "", "offline", "",
        "")) + LINE_END


class StaleCopy(Exception):
    """The local copy is older than allowed, or missing, or must be rebuilt: answer nothing from it."""


class BadSnapshot(Exception):
    """A snapshot file or manifest that does not verify."""


def _scatter(target: list, indexes, values) -> None:
    """target[i] = value for each pair, by a C-level map (deque of length 0 only drains it)."""
    deque(map(target.__setitem__, indexes, values), maxlen=0)


class _KeysAsBytes:
    """`key in` a dict whose keys are the UTF-8 bytes of the keys (the bulk index's), for _domain_key."""

    def __init__(self, mapping: dict):
        self.mapping = mapping

    def __contains__(self, key: str) -> bool:
        return key.encode() in self.mapping


def bloom_hash(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "big", signed=True)


_TOP = 1 << 127


def bloom_hashes(keys: list[bytes]) -> map:
    """bloom_hash of each key (UTF-8 bytes), in bulk: C-level maps over hashlib and int, no Python call per key.
    (x ^ 2**127) - 2**127 reads the unsigned 128 bits x as signed; the first 16 bytes of the digest are its top."""
    digests = map(methodcaller("digest"), map(hashlib.sha256, keys))
    unsigned = map(int.__rshift__, map(int.from_bytes, digests), repeat(128))
    return map(sub, map(xor, unsigned, repeat(_TOP)), repeat(_TOP))


ACCEL_INTERFACE = 3  # kyodaku._offline's INTERFACE that this module speaks to (3: it holds the filter's buffer)
PURE_PYTHON_ENV = "KYODAKU_PURE_PYTHON"  # set (not "0"): the bulk offline path without the compiled accelerator


def compiled():
    """kyodaku._offline (built from client/kyodaku/_offline.c when the client was installed where a C compiler was
    found), or None: not built, or KYODAKU_PURE_PYTHON set (for tests and benchmarks of the pure path, which stays
    the reference)."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from . import _offline
    except ImportError:
        return None
    # an editable install keeps the extension built from an older _offline.c until it is built again (`pip install
    # -e ./client`): one of another interface is not used (the pure path answers, the same bytes)
    return _offline if getattr(_offline, "INTERFACE", 1) == ACCEL_INTERFACE else None


def accelerator(index: dict, filter_data):
    """The compiled accelerator of bulk_unit (kyodaku._offline.Accel) over the bulk index, or None (`compiled`).
    `filter_data` (the filter's bytes, or better its file mapped: `map_filter`) is held by the Accel, not copied."""
    module = compiled()
    if module is None:
        return None
    return module.Accel(index["tails"], index["overlay"], index["prefix_hosts"], index["prefix_any_host"],
                        index["default"], filter_data)


def map_filter(path: Path):
    """The filter file mapped read-only (mmap): its bits in memory once, as the file's pages, which the accelerator
    reads where they lie (docs/client.md, "The filter held once"). Reading the file into bytes and the accelerator
    copying them held it twice: ~720 MB at 100 million flagged keys. The copy's files are replaced, never written
    in place (_write_atomic), so the mapped file cannot shrink under a check. An empty file is b"" (refused as
    before: not a filter)."""
    import mmap

    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # the map outlives the descriptor


class _AccelTails:
    """The bulk index's `tails` (get, in, []) read from the accelerator's table: what the Python path needs for the
    ids the accelerator hands back, when the tables were loaded from ACCEL_INDEX_NAME without the bulk index."""

    def __init__(self, accel):
        self.get = accel.tail

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: bytes) -> bytes:
        tail = self.get(key)
        if tail is None:
            raise KeyError(key)
        return tail


class _LazyFilter:
    """The filter queried by hash (bloom_hashes) for the pure-Python path, loaded by rbloom on first use from the
    file itself (`Bloom.load`: the bits once, in rbloom's memory; never the file's bytes in Python as well). With
    the accelerator the Python path asks the accelerator's filter instead (`filter_flags`), so that the bits are
    not loaded a second time beside the mapped file. Why rbloom and not the mapped file for the pure path: the LCG
    of rbloom's probe in Python, even as C-level maps over the probed keys, was ~8 times rbloom's `in` (545,000
    unstored keys: 1.84 s against 0.22 s), a third more CPU for the pure check."""

    def __init__(self, path: Path):
        self.path, self.bloom = path, None

    def load(self) -> None:
        if self.bloom is None:
            from rbloom import Bloom

            self.bloom = Bloom.load(str(self.path), int)

    def __contains__(self, hashed: int) -> bool:
        self.load()
        return hashed in self.bloom


def filter_flags(index: dict, keys: list[bytes]) -> list:
    """The filter's answer for each key (UTF-8 bytes): the accelerator's probe of the mapped file when it has
    SHA-256 (the same answers as rbloom's, test_client_offline_accel.py), else rbloom's by hash (bloom_hashes)."""
    accel = index["accel"]
    if accel is not None and index["accel_probes"]:
        return list(map(accel.flags, keys))
    return list(map(index["filter"].__contains__, bloom_hashes(keys)))


def copy_dir(root: str | os.PathLike, purpose: str, jurisdiction: str) -> Path:
    return Path(root) / purpose / jurisdiction.upper()


def _write_atomic(path: Path, data: bytes) -> None:
    import tempfile  # here: a check that writes nothing here does not import it (nor shutil, bz2 and lzma with it)

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def fields(result: dict) -> dict:
    return {"outcome": result["outcome"], "basis": result["basis"],
            "holder": result["holder"]["code"] if result.get("holder") else None,
            "declaration": result["declaration"]["id"] if result.get("declaration") else None,
            "license_url": result.get("license_url"), "disputed": bool(result.get("disputed"))}


def verify_snapshot(manifest_jws: str, jwks: dict, files: dict[str, bytes]) -> dict:
    """The manifest's payload, once its signature and every file's sha256 and size check out."""
    return _verified(manifest_jws, jwks, {name: (len(data), hashlib.sha256(data).hexdigest())
                                          for name, data in files.items()})


def verify_snapshot_files(manifest_jws: str, jwks: dict, paths: dict[str, Path]) -> dict:
    """verify_snapshot of files on disk, each hashed as it is read (hashlib.file_digest): never whole in memory."""
    digests = {}
    for name, path in paths.items():
        with open(path, "rb") as handle:
            digests[name] = (os.fstat(handle.fileno()).st_size, hashlib.file_digest(handle, "sha256").hexdigest())
    return _verified(manifest_jws, jwks, digests)


def _verified(manifest_jws: str, jwks: dict, digests: dict[str, tuple[int, str]]) -> dict:
    """The manifest's payload, once its signature checks out and every file's (size, sha256) is the manifest's."""
    from .proofs import BadSignature, jws_verify  # cryptography: imported by sync, not by every offline check

    try:
        _, payload = jws_verify(manifest_jws, jwks, typ=SNAPSHOT_TYPE)
    except BadSignature as exc:
        raise BadSnapshot(f"manifest: {exc}") from None
    for entry in payload["files"]:
        if entry["name"] not in digests:
            raise BadSnapshot(f"{entry['name']}: missing")
        size, sha256 = digests[entry["name"]]
        if size != entry["bytes"] or sha256 != entry["sha256"]:
            raise BadSnapshot(f"{entry['name']}: {size} bytes whose sha256 is not the manifest's "
                              "(truncated or altered)")
    return payload


class LocalCopy:
    def __init__(self, directory: Path):
        self.dir = directory
        self.manifest: dict = json.loads((directory / "manifest.json").read_text())["payload"]
        self.state: dict = json.loads((directory / "state.json").read_text())
        self.overlay: dict = json.loads((directory / "overlay.json").read_text())
        self.default = self.file_entry("filter")["default_outcome"]
        self._answers: dict | None = None
        self._prefix_lengths: list[int] = []
        self._tails: dict[str, str] = {}  # answer key -> csv_tail, filled as keys are met
        self._hosts: dict[str, str | None] = {}  # url host -> the key of its nearest registered domain, or None
        self._filter = _LazyFilter(directory / self.file_entry("filter")["name"])  # the row path's and the bulk's
        self._default_tail = csv_tail({"outcome": self.default, "basis": DEFAULT_BASIS[self.default]})
        self._bulk: dict | None = None  # the bulk path's index (_bulk_index), loaded on first use
        self._python_lock = threading.Lock()  # bulk_unit's threads: the Python path's caches, one at a time

    # ------------------------------------------------------------------------------------------- syncing
    @classmethod
    def sync(cls, api: Api, root, *, purpose: str, jurisdiction: str, wait_building: float = 600.0) -> LocalCopy:
        """Bring the copy under `root` up to date: a new snapshot when there is none (or a rule changed), then
        the change feed from the copy's cursor, re-asking the keys it names."""
        directory = copy_dir(root, purpose, jurisdiction)
        if not (directory / "state.json").exists():
            cls.download(api, directory, purpose=purpose, jurisdiction=jurisdiction, wait_building=wait_building)
        copy = cls(directory)
        if not copy.follow(api):
            copy = cls.download(api, directory, purpose=purpose, jurisdiction=jurisdiction,
                                wait_building=wait_building)
            if not copy.follow(api):
                copy.state["needs_rebuild"] = True
                copy.save_state()
                raise StaleCopy("the rules for this pair changed after the newest snapshot; the registry is "
                                "building a new one: run `kyodaku sync` again later")
        return copy

    @classmethod
    def download(cls, api: Api, directory: Path, *, purpose: str, jurisdiction: str,
                 wait_building: float) -> LocalCopy:
        deadline = time.monotonic() + wait_building
        while True:
            response = api.request("GET", "/api/v1/snapshots", params={"purpose": purpose,
                                                                       "jurisdiction": jurisdiction})
            if response.status_code == 200:
                break
            if time.monotonic() > deadline:
                raise StaleCopy("the registry is still building the first snapshot for this pair")
            api.sleep(min(float(response.headers.get("Retry-After", "5") or 5), 60.0))
        manifest_jws = response.json()["manifest"]
        jwks = api.keys()
        _, unverified = manifest_jws.split(".")[:2]
        import tempfile

        from .proofs import b64url

        # Each file streamed to a temporary file beside the copy and hashed from there, then put in place only once
        # the manifest's signature and every file's size and sha256 check out: nothing unverified is kept, and no
        # file is ever whole in memory (the filter: 360 MB at 100 million flagged keys).
        created = [path for path in (directory, *directory.parents) if not path.exists()]  # the leaf first
        directory.mkdir(parents=True, exist_ok=True)
        received: dict[str, Path] = {}
        temporary: list[Path] = []
        try:
            for entry in json.loads(b64url(unverified))["files"]:
                fd, name = tempfile.mkstemp(dir=directory, prefix=".download.")
                temporary.append(Path(name))
                received[entry["name"]] = temporary[-1]
                with os.fdopen(fd, "wb") as sink:
                    api.download(entry["url"], sink)
            payload = verify_snapshot_files(manifest_jws, jwks, received)
            for name, path in received.items():
                os.replace(path, directory / name)
        except BaseException:
            for path in temporary:
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                for path in created:
                    path.rmdir()  # as before: a refused first snapshot leaves no directory behind
            raise
        _write_atomic(directory / "manifest.json", json.dumps({"jws": manifest_jws, "payload": payload}).encode())
        _write_atomic(directory / "overlay.json", b"{}")
        _write_atomic(directory / "state.json", json.dumps(
            {"cursor": payload["cursor"], "synced_at": time.time(), "needs_rebuild": False}).encode())
        return cls(directory)

    def follow(self, api: Api, *, batch: int = 10_000) -> bool:
        """Apply the change feed from the copy's cursor. False when a rule changed (a new snapshot is needed)."""
        started = time.time()
        touched: set[str] = set()
        holders: set[str] = set()
        cursor = self.state["cursor"]
        while True:
            page = api.get_json("/api/v1/changes", after=cursor, limit=1000)
            for entry in page["results"]:
                for key in entry["keys"]:
                    kind, _, rest = key.partition(":")
                    if kind == "rule":
                        return False  # any rule may change the regime or the chain's answer: start again
                    if kind == "holder":
                        holders.add(rest)
                    elif kind != "ref":
                        touched.add(key)
            cursor = page["next"]
            if not page["results"]:
                break
        if holders:
            touched |= {key for key, answer in self.all_answers().items() if answer["holder"] in holders}
        keys = sorted(touched)
        purpose, jurisdiction = self.manifest["purpose"], self.manifest["jurisdiction"]
        for i in range(0, len(keys), batch):
            results = api.lookup(keys[i:i + batch], purpose=purpose, jurisdiction=jurisdiction)["results"]
            for key, result in zip(keys[i:i + batch], results, strict=True):
                if "error" in result:
                    continue
                self.overlay[result["identifier"] if result.get("registered") else key] = (
                    fields(result) if result.get("registered") else None)
        _write_atomic(self.dir / "overlay.json", json.dumps(self.overlay).encode())
        self.state.update(cursor=cursor, synced_at=started)
        self.save_state()
        self._answers, self._bulk = None, None
        self.write_index()
        return True

    def save_state(self) -> None:
        _write_atomic(self.dir / "state.json", json.dumps(self.state).encode())

    # ------------------------------------------------------------------------------------------ answering
    def file_entry(self, name: str) -> dict:
        return next(f for f in self.manifest["files"] if f["name"] == name)

    def age(self) -> float:
        return time.time() - self.state["synced_at"]

    def require_fresh(self, max_age: float) -> None:
        if self.state.get("needs_rebuild"):
            raise StaleCopy("the local copy waits for a new snapshot (a rule changed): run `kyodaku sync`")
        if self.age() > max_age:
            raise StaleCopy(f"the local copy was last brought up to date {self.age():,.0f} s ago, more than "
                            f"--max-age {max_age:,.0f} s: run `kyodaku sync` first")

    def all_answers(self) -> dict:
        if self._answers is None:
            answers = {}
            import gzip  # here: the bulk check reads its index, not the answers

            data = gzip.decompress((self.dir / self.file_entry("answers")["name"]).read_bytes())
            lines = data.rstrip(b"\n").split(b"\n") if data.strip() else []
            for start in range(0, len(lines), 100_000):  # one json.loads per 100,000 lines: no call per line
                for entry in json.loads(b"[" + b",".join(lines[start:start + 100_000]) + b"]"):
                    answers[entry.pop("key")] = entry
            for key, value in self.overlay.items():
                if value is None:
                    answers.pop(key, None)
                else:
                    answers[key] = value
            self._answers = answers
            self._tails, self._hosts = {}, {}
            self._prefix_lengths = sorted({len(k.partition("://")[2]) for k in answers
                                           if k.startswith("url-prefix:")}, reverse=True)
        return self._answers

    def flagged(self, key: str) -> bool:
        """Whether the snapshot's filter flags `key`: one filter for the row path and the bulk path (the bulk
        index's, the accelerator's mapped file, once the bulk index is loaded), never a second copy of its bits."""
        if self._bulk is not None:
            return filter_flags(self._bulk, [key.encode()])[0]
        return bloom_hash(key) in self._filter

    def answer(self, raw: str) -> dict | None:
        """The answer's FIELDS for `raw`, or None when only the API can answer it (docs/sync.md: a `url:` by its
        key, then its key under the other scheme, then the longest `url-prefix:` compared after `://` (own scheme
        first on a tie), then the nearest `domain:` of its host; a `domain:` by its nearest registered parent).
        An id the copy holds no answer for has the regime's outcome, unless the filter flags its key: then only
        the API answers it (sync.md: "falling back to the API for keys the filter flags")."""
        answers = self.all_answers()
        if raw in answers:  # a key exactly as the registry stores it: its own line, no pattern needed
            return {name: answers[raw].get(name) for name in FIELDS}
        key, host = classify(raw)
        if key is None:
            return None
        found = self._found_key(key, host, answers)
        if found is not None:
            return {name: answers[found].get(name) for name in FIELDS}
        if key not in self.overlay and self.flagged(key):
            return None  # flagged as not the default but absent: ask rather than assume
        return {"outcome": self.default, "basis": DEFAULT_BASIS[self.default], "holder": None, "declaration": None,
                "license_url": None, "disputed": False}

    def _found_key(self, key: str, host: str | None, answers: dict) -> str | None:
        """The key of the registered answer that answers `key`, or None."""
        if key in answers:
            return key
        if host is not None:  # a url
            scheme, _, rest = key[4:].partition("://")
            other = ("url:http://" if scheme == "https" else "url:https://") + rest
            if other in answers:
                return other
            for end in self._prefix_lengths:  # the longest url-prefix first, compared after ://
                if end <= len(rest):
                    for candidate in (f"url-prefix:{scheme}://{rest[:end]}",
                                      f"url-prefix:{'http' if scheme == 'https' else 'https'}://{rest[:end]}"):
                        if candidate in answers:
                            return candidate
            found = self._hosts.get(host, False)  # many urls of one site: its domain walk once
            if found is False:
                if len(self._hosts) > 1_000_000:
                    self._hosts.clear()
                found = self._hosts[host] = self._domain_key(host, answers)
            return found
        if key.startswith("domain:"):
            return self._domain_key(key[7:], answers)
        return None

    @staticmethod
    def _domain_key(host: str, answers: dict) -> str | None:
        """`domain:` of the host or its nearest parent with at least two labels that the copy holds, or None."""
        while "." in host:
            candidate = "domain:" + host
            if candidate in answers:
                return candidate
            host = host.partition(".")[2]
        return None

    def lines(self, batch: list[str]) -> tuple[list, list[int]]:
        """CSV lines, exactly as csv.writer writes `row` for each id, or None where only the API can answer; and
        the indexes of those. The bulk form of `row`: each id matched once, each answer's line end rendered
        once, the filter asked only for keys the copy does not hold."""
        answers, overlay, tails = self.all_answers(), self.overlay, self._tails
        default_tail = self._default_tail
        out: list = []
        missing: list[int] = []
        append = out.append
        for index, raw in enumerate(batch):
            if raw in answers:  # a key exactly as the registry stores it: its own line, no pattern needed
                found = key = raw
            else:
                key, host = classify(raw)
                if key is None:
                    missing.append(index)
                    append(None)
                    continue
                found = self._found_key(key, host, answers)
            if found is not None:
                tail = tails.get(found)
                if tail is None:
                    tail = tails[found] = csv_tail(answers[found])
            elif key not in overlay and self.flagged(key):
                missing.append(index)
                append(None)
                continue
            else:
                tail = default_tail
            if "," in raw or '"' in raw or "\n" in raw or "\r" in raw:
                raw = '"' + raw.replace('"', '""') + '"'
            append(raw + tail)
        return out, missing

    # ------------------------------------------------------------------------------------------ in bulk
    def _index_source(self) -> str:
        """What the bulk index is derived from: the answers file (its sha256, checked when it was downloaded), the
        overlay, and the index's own format. An index of any other source is not used."""
        overlay = (self.dir / "overlay.json").read_bytes()
        return hashlib.sha256(json.dumps([INDEX_FORMAT, self.file_entry("answers")["sha256"],
                                          hashlib.sha256(overlay).hexdigest()]).encode()).hexdigest()

    def write_index(self) -> dict:
        """Build the bulk index (below) from the answers and keep it beside them (`kyodaku sync` does, so that a
        check loads it in one marshal.loads instead of parsing and rendering every answer again)."""
        answers, rendered = self.all_answers(), {}
        direct = {key.encode(): key for key in answers}
        for key in answers:
            if key.startswith("url:"):
                scheme, _, rest = key[4:].partition("://")
                other = ("url:http://" if scheme == "https" else "url:https://") + rest
                if other not in answers and classify(other)[0] == other:
                    direct[other.encode()] = key
        for key in answers:
            rendered[key] = csv_tail(answers[key]).encode()
        prefixes = [key.partition("://")[2] for key in answers if key.startswith("url-prefix:")]
        index = {"source": self._index_source(), "tails": {raw: rendered[key] for raw, key in direct.items()},
                 "prefix_hosts": {rest.partition("/")[0].encode() for rest in prefixes},
                 "prefix_any_host": any("/" not in rest for rest in prefixes),  # a prefix ending inside a host
                 "overlay": {key.encode() for key in self.overlay}}
        try:
            _write_atomic(self.dir / INDEX_NAME, marshal.dumps(index))
            accel = accelerator({**index, "default": self._default_tail.encode()}, None)
            if accel is not None:  # the same tables for the accelerator, loaded by a copy (_bulk_index)
                self._write_accel_index(index["source"], accel)
        except OSError:
            pass  # a copy on a read-only disk: the index is rebuilt by every check instead
        return index

    def _write_accel_index(self, source: str, accel) -> None:
        dump = accel.dumps()
        _write_atomic(self.dir / ACCEL_INDEX_NAME, source.encode() + hashlib.sha256(dump).hexdigest().encode() + dump)

    def _bulk_index(self) -> dict:
        """What bulk_lines needs, kept in INDEX_NAME: each key as bytes (and, for a `url:` key, its other scheme's
        spelling when classify keeps that as it is: the rule's second step) to its answer's CSV tail (csv_tail);
        the hosts of the `url-prefix:` keys; the overlay's keys. Besides it, the filter queried by hash
        (bloom_hashes) and each url host's tail once met."""
        if self._bulk is None:
            index, accel, source = None, None, self._index_source()
            module = compiled()
            filter_data = map_filter(self._filter.path) if module is not None else None  # pure: rbloom's load
            if module is not None:  # the accelerator's tables as sync kept them: no bulk index to load at all
                try:
                    blob = memoryview((self.dir / ACCEL_INDEX_NAME).read_bytes())
                    dump = blob[len(source) + 64:]  # after the source and the dump's sha256 (a damaged file: refused)
                    if blob[:len(source)] == source.encode() and \
                            blob[len(source):len(source) + 64] == hashlib.sha256(dump).hexdigest().encode():
                        accel = module.load(dump, filter_data)
                        if accel.default() != self._default_tail.encode():
                            accel = None  # the regime's answer is the manifest's, not the index's source: rebuilt
                except (OSError, ValueError):
                    accel = None  # missing, of another source or build, or damaged: from the bulk index below
            if accel is not None:
                index = {"tails": _AccelTails(accel), "overlay": accel.keys(0), "prefix_hosts": accel.keys(1),
                         "prefix_any_host": accel.prefix_any_host()}
            else:
                try:
                    index = marshal.loads((self.dir / INDEX_NAME).read_bytes())
                except (OSError, EOFError, ValueError, TypeError):
                    pass
                if not isinstance(index, dict) or index.get("source") != source:
                    index = self.write_index()
                index["default"] = self._default_tail.encode()
                accel = accelerator(index, filter_data)
                if accel is not None:  # a copy synced by a client without the accelerator, or damaged: kept now
                    with contextlib.suppress(OSError):
                        self._write_accel_index(source, accel)
            index.update(hosts={}, default=self._default_tail.encode(), filter=self._filter,
                         accel=accel, accel_probes=bool(module is not None and module.HAS_SHA256))
            self._bulk = index
        return self._bulk

    def bulk_unit(self, units, number: int, *, quote: bool) -> tuple[list[bytes], list[int], list[bytes], int]:
        """bulk_lines of the `number`-th unit of `units` (ids.IdUnits), with the indexes, in the unit, of the ids
        only the API can answer, those ids, and how many ids the unit has. Where the compiled accelerator is
        available (`accelerator`) it reads the unit's bytes and answers every id it is certain of without a Python
        object per id; the ids it hands back take bulk_lines, the reference, and their lines are put back in
        their places."""
        accel, span = self._bulk_index()["accel"], units.span(number)
        if accel is None or span is None:
            ids = units.ids(number)
            segments, missing = self.bulk_lines(ids, quote=quote)
            return segments, missing, [ids[i] for i in missing], len(ids)
        csv, cuts, handed, positions, count = accel.unit(units.data, span[0], span[1], quote)
        view = memoryview(csv)
        if not handed:
            return [view], [], [], count
        with self._python_lock:  # the reference path's caches are filled by one thread at a time
            ids, tails, not_here = self._bulk_parts(handed, quote=quote)
        for j in not_here:
            tails[j] = None
        # the answered lines stay slices of `csv` (no copy), with the lines the Python path wrote between them; cut
        # where only the API can answer
        segments, missing, current, at = [], [], [], 0
        for j, tail in enumerate(tails):
            current.append(view[at:cuts[j]])
            at = cuts[j]
            if tail is None:  # only the API can answer it
                segments.append(current[0] if len(current) == 1 else b"".join(current))
                current = []
                missing.append(positions[j])
            else:
                current += (ids[j], tail)
        current.append(view[at:])
        segments.append(current[0] if len(current) == 1 else b"".join(current))
        return segments, missing, [handed[j] for j in not_here], count

    def bulk_lines(self, ids: list[bytes], *, quote: bool = True) -> tuple[list[bytes], list[int]]:
        """`lines` for ids as bytes (stripped, as ids.id_lines gives them), as the CSV bytes between the ids only
        the API can answer, and the indexes of those: b"".join of `lines`'s lines, encoded, cut where it has None.
        No Python code runs per id that is a stored key: the answers are dict lookups mapped over the ids and each
        line is the id and its answer's tail joined in one b"".join; for the other ids, the spelling is one regex
        pass over their block (ids.bulk_verdicts), a url's nearest domain is looked up once per host, and the
        filter's SHA-256 is computed by C-level maps (bloom_hashes). Ids bulk_verdicts leaves undecided take
        `lines`, one by one. `quote=False` when no id holds a comma or a quote (the caller checked its file)."""
        ids, tails, missing = self._bulk_parts(ids, quote=quote)
        parts: list = [None] * (2 * len(ids))  # id, tail, id, tail, ...: one join, no bytes object per line
        parts[0::2] = ids
        parts[1::2] = tails
        segments, start = [], 0
        for i in missing:
            segments.append(b"".join(parts[start:2 * i]))
            start = 2 * i + 2
        segments.append(b"".join(parts[start:]))
        return segments, missing

    def _bulk_parts(self, ids: list[bytes], *, quote: bool) -> tuple[list[bytes], list[bytes], list[int]]:
        """bulk_lines before its join: each id's line as (id as written, tail), and the indexes of the ids only
        the API can answer (whose two parts are not a line)."""
        index = self._bulk_index()
        tails_of, hosts = index["tails"], index["hosts"]
        tails = list(map(tails_of.get, ids))  # the tail of every stored key
        unstored = list(compress(count(), map(is_, tails, repeat(None))))
        probe: list[int] = []
        slow: list[int] = []
        missing: list[int] = []
        # From here on, index lists and C-level passes over them (compress, map, scatter by list.__setitem__)
        # rather than a Python loop per id: each pass costs tens of nanoseconds an id, a loop's body hundreds.
        if unstored:
            verdicts = bulk_verdicts(b"\n".join([ids[i] for i in unstored]))
            url_hosts = list(map(itemgetter(0), verdicts))
            dois = list(map(itemgetter(1), verdicts))
            probe = list(compress(unstored, dois))
            slow = list(compress(unstored, map(not_, map(bytes.__add__, url_hosts, dois))))  # classify decides
            urls = list(compress(unstored, url_hosts))
            if urls:
                url_hosts = list(compress(url_hosts, url_hosts))
                if index["prefix_any_host"] or not index["prefix_hosts"].isdisjoint(url_hosts):
                    # a url-prefix key may answer these: `lines` walks the whole rule for them
                    prefixed = list(map(index["prefix_hosts"].__contains__, url_hosts))
                    if index["prefix_any_host"]:
                        prefixed = [True] * len(urls)
                    slow = sorted(slow + list(compress(urls, prefixed)))
                    kept = list(map(not_, prefixed))
                    urls, url_hosts = list(compress(urls, kept)), list(compress(url_hosts, kept))
                for host in set(url_hosts).difference(hosts):  # the domain walk, once per host
                    found = self._domain_key(host.decode(), _KeysAsBytes(tails_of))
                    hosts[host] = tails_of[found.encode()] if found else b""
                url_tails = list(map(hosts.__getitem__, url_hosts))
                _scatter(tails, compress(urls, url_tails), compress(url_tails, url_tails))
                probe = sorted(probe + list(compress(urls, map(not_, url_tails))))
        if probe:
            default, overlay = index["default"], index["overlay"]
            if overlay:  # a key the feed changed: the filter is older than the copy's answer (the default)
                changed = list(map(overlay.__contains__, [ids[i] for i in probe]))
                _scatter(tails, compress(probe, changed), repeat(default))
                probe = list(compress(probe, map(not_, changed)))
            flags = filter_flags(index, [ids[i] for i in probe])
            missing = list(compress(probe, flags))  # flagged as not the default but absent: ask, do not assume
            _scatter(tails, compress(probe, map(not_, flags)), repeat(default))
        for i in missing:
            tails[i] = b""
        for i in slow:
            tails[i] = b""
        raws = ids
        if quote:
            ids = [b'"' + raw.replace(b'"', b'""') + b'"' if b"," in raw or b'"' in raw else raw for raw in ids]
        elif slow:
            ids = list(ids)
        if slow:
            texts, not_here = self.lines([raws[i].decode() for i in slow])
            for i, text in zip(slow, texts, strict=True):
                if text is not None:
                    ids[i], tails[i] = b"", text.encode()  # the whole line, quoted by `lines`
            missing = sorted(missing + [slow[j] for j in not_here])
        return ids, tails, missing

    def row(self, raw: str) -> list | None:
        found = self.answer(raw)
        if found is None:
            return None
        return [raw, found["outcome"], found["basis"], found["holder"] or "", found["license_url"] or "",
                found["declaration"] or "", "true" if found["disputed"] else "false", "", "offline", "", ""]
