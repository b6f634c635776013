"""Persona: an AI developer's crawler checking millions of ids offline, on a machine where the client's compiled
accelerator (kyodaku._offline, client/kyodaku/_offline.c) was built. Rule: with it, `kyodaku check --offline`
writes exactly the bytes the pure-Python bulk path writes (the reference) and asks the API for exactly the same
ids, whatever the ids (stored, unstored, urls under registered domains or url prefixes, malformed, unicode, CRLF,
empty lines, comments, a CSV column), the overlay, the units or the processes; its filter is rbloom's for the
stated hash; repeated runs do not grow the process."""
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kyodaku import offline
from kyodaku.ids import IdUnits
from kyodaku.offline import PURE_PYTHON_ENV, LocalCopy
from rbloom import Bloom
from test_client_offline_lines import ANSWERS, FLAGGED_ABSENT, IDS, TEXT, URLISH, a_copy, offline_check

from sync.filters import key_hash

try:
    from kyodaku import _offline

    if getattr(_offline, "INTERFACE", 1) != offline.ACCEL_INTERFACE:  # built from an older _offline.c
        raise ImportError("kyodaku._offline is stale: build it again (pip install -e ./client)")
except ImportError:  # not built (no C compiler where the client was installed): the pure path is all there is
    _offline = None
    if os.environ.get("REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
        raise  # CI builds it (`make install-dev`): a build that silently failed must not pass as a skip

pytestmark = pytest.mark.skipif(_offline is None, reason="kyodaku._offline not built")


@pytest.fixture(autouse=True)
def _accelerated(monkeypatch):
    """These tests compare the two paths themselves, whether or not the run forces the pure one elsewhere."""
    monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)

OVERLAYS = [
    {},
    {"doi:10.5555/a": None, "doi:10.5555/b": dict(ANSWERS[0], outcome="allowed", basis="granted"),
     "doi:10.5555/unregistered": None},  # removed, changed, and a key the feed says is the default
    {"url-prefix:https://any": dict(ANSWERS[3])},  # a prefix ending inside a host: every url takes the whole rule
    {"domain:www.kaze.example": dict(ANSWERS[0], basis="granted", outcome="allowed"),
     "url:https://new.example/a": dict(ANSWERS[4])},
]
UNICODE = st.text(alphabet="doi:10.5555/aé\xa0\u3000\x1c\t ", max_size=12)
ID = st.one_of(
    st.sampled_from(IDS + [a["key"] for a in ANSWERS] + [
        "url:http://shop.example/x", "url:https://kaze.example/a,b", "url:https://a.b.c.kaze.example/p",
        "url:http://kaze.example/", "url:https://kaze.example", "url:https://-k.example/x", "url:https://k-.example/",
        "url:https://k..example/", "url:https://" + "a" * 64 + ".example/", "url:https://" + "a" * 63 + ".example/",
        "doi:10.5555", "doi:10.5555/", "doi:10./x", "doi:10.1./x", "doi:10.1.2/x/y", 'doi:10.1/"', "doi:11.1/x",
        "url:https://www.kaze.example/~a!$&'()*+,;=:@-._/b", "url:https://kaze.example/%41", "doi:10.1/x y",
        "doi:10.5555/A", "doi:10.1/aB~", "url:https://Kaze.example/p", "url:https://kaze.example/P"]),
    st.tuples(URLISH, TEXT).map("".join),
    st.text(alphabet="ab:/.-,\"#", max_size=8))


def both(local: LocalCopy, units: IdUnits, quote: bool) -> tuple[list, list]:
    """bulk_unit of every unit, with the accelerator and without it."""
    index = local._bulk_index()
    assert index["accel"] is not None
    fast = [local.bulk_unit(units, n, quote=quote) for n in range(len(units))]
    accel, index["accel"] = index["accel"], None
    try:
        pure = [local.bulk_unit(units, n, quote=quote) for n in range(len(units))]
    finally:
        index["accel"] = accel
    return fast, pure


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(ID, st.sampled_from(["", " ", "\t", "  "]), st.sampled_from(["\n", "\r\n", "\r", "\n\n"])),
                min_size=1, max_size=40),
       st.sampled_from(range(len(OVERLAYS))), st.sampled_from([1, 7, 40, 1 << 20]))
def test_the_accelerated_units_are_the_pure_units(tmp_path, lines, overlay, unit_bytes):
    local = a_copy(tmp_path / str(os.urandom(6).hex()))
    (local.dir / "overlay.json").write_text(json.dumps(OVERLAYS[overlay]))
    local = LocalCopy(local.dir)
    data = "".join(pad + raw + pad + end for raw, pad, end in lines).encode()
    path = local.dir / "ids.txt"
    path.write_bytes(data)
    units = IdUnits(data, str(path), unit_bytes=unit_bytes, unit_ids=5)
    for quote in (True, False):
        if not quote and (b"," in data or b'"' in data):
            continue
        fast, pure = both(local, units, quote)
        assert fast == pure


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(ID, UNICODE), min_size=1, max_size=30))
def test_bytes_outside_ascii_are_handed_back(tmp_path, ids):
    # IdUnits reads a non-ASCII file as text (no span: the pure path); the C reader itself, given such bytes,
    # hands back every id holding one, and answers the others as the pure path does
    local = a_copy(tmp_path / str(os.urandom(6).hex()))
    data = "\n".join(ids).encode()
    units = IdUnits(b"x\n", str(local.dir / "none"), unit_bytes=1 << 20, unit_ids=5)
    units.data, units.cuts, units.count = data, [0, len(data)], 1  # as if it were ASCII: split by bytes rules
    fast, pure = both(local, units, True)
    assert fast == pure


def test_the_filter_is_rbloom_for_the_stated_hash(tmp_path):
    if not _offline.HAS_SHA256:  # built without OpenSSL's headers: every id the filter decides is handed back
        pytest.skip("kyodaku._offline built without libcrypto")
    bloom = Bloom(2_000, 0.2, key_hash)  # a small, full filter: many keys flagged that were never added
    added = [f"doi:10.1/{i}" for i in range(2_000)]
    bloom.update(added)
    accel = _offline.Accel({}, set(), set(), False, b",d\r\n", bloom.save_bytes())
    keys = added[:500] + [f"url:https://s{i}.example/é{i}" for i in range(3_000)]
    flags = [accel.flags(key.encode()) for key in keys]
    assert flags == [key in bloom for key in keys]
    assert all(flags[:500]) and 0 < sum(flags[500:]) < 3_000


def test_the_check_writes_the_same_csv_with_and_without_the_accelerator(tmp_path, monkeypatch):
    from kyodaku import cli

    monkeypatch.delenv("KYODAKU_URL", raising=False)
    monkeypatch.setattr(cli, "OFFLINE_UNIT_BYTES", 100)
    ids = IDS * 5 + ["", "# a comment", "  doi:10.5555/a\r", "url:https://www.kaze.example/p/2"]
    outs = {}
    for pure in ("", "1"):
        monkeypatch.setenv(PURE_PYTHON_ENV, pure)
        for processes in ("1", "2"):
            code, out = offline_check(tmp_path, ids, "--processes", processes, "--restart")
            outs[pure, processes] = (code, out)
    assert len(set(outs.values())) == 1
    assert outs["", "1"][0] == 1 and f"\r\n{FLAGGED_ABSENT},denied,unchecked,".encode() in outs["", "1"][1]


def test_kyodaku_pure_python_turns_the_accelerator_off(tmp_path, monkeypatch):
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert LocalCopy(a_copy(tmp_path / "a").dir)._bulk_index()["accel"] is None
    monkeypatch.setenv(PURE_PYTHON_ENV, "0")
    assert isinstance(LocalCopy(a_copy(tmp_path / "b").dir)._bulk_index()["accel"], _offline.Accel)


def rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS read from /proc")
def test_repeated_runs_do_not_grow_the_process(tmp_path):
    local = a_copy(tmp_path)
    index = local._bulk_index()
    data = ("\n".join(IDS * 2_000) + "\n").encode()  # 46,000 ids, about a tenth handed back
    units = IdUnits(data, str(tmp_path / "ids"), unit_bytes=1 << 16, unit_ids=5)
    filter_bytes = (local.dir / "filter").read_bytes()

    def run():
        accel = offline.accelerator(index, filter_bytes)  # the tables built and freed each time, too
        for n in range(len(units)):
            accel.unit(units.data, *units.span(n), True)

    run()
    run()
    before = rss_kib()
    for _ in range(20):
        run()
    assert rss_kib() - before < 2_048  # a leak of one object per id would be tens of MB


def test_units_answered_by_threads_at_once_are_the_units_answered_one_by_one(tmp_path):
    # the accelerator answers a unit without the GIL, several threads at once on one Accel, and reuses the memory
    # of a unit's CSV once nothing refers to it: every unit's bytes, kept while later units are answered, must stay
    # what the pure path writes, whatever thread answered it
    from concurrent.futures import ThreadPoolExecutor

    local = a_copy(tmp_path)
    data = ("\n".join(IDS * 300) + "\r\n").encode()  # about a tenth of the ids handed back to the Python path
    units = IdUnits(data, str(tmp_path / "ids"), unit_bytes=1 << 12, unit_ids=5)
    assert len(units) > 20
    fast, pure = both(local, units, True)
    assert fast == pure
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            kept = list(pool.map(lambda n: local.bulk_unit(units, n, quote=True), range(len(units))))
            assert kept == pure
    segments = [bytes(segment) for unit in kept for segment in unit[0]]
    assert segments == [segment for unit in pure for segment in unit[0]]


def test_a_unit_s_csv_is_a_read_only_buffer_that_outlives_its_accel(tmp_path):
    local = a_copy(tmp_path)
    index = local._bulk_index()
    accel = offline.accelerator(index, (local.dir / "filter").read_bytes())
    data = b"doi:10.5555/a\ndoi:10.5555/unregistered\n"
    csv, cuts, handed, positions, count = accel.unit(data, 0, len(data), True)
    del accel, index["accel"]
    view = memoryview(csv)
    assert view.readonly and len(csv) == len(view) and count == 2 and handed == [] and cuts == positions == []
    assert bytes(view).startswith(b"doi:10.5555/a,denied,reserved,hoshi,")
    with pytest.raises(TypeError):
        view[0] = 0


def test_the_tables_sync_keeps_answer_as_the_pure_path_and_a_damaged_file_is_not_used(tmp_path, monkeypatch):
    # `kyodaku sync` (write_index) keeps the accelerator's tables in index.accel, after the index's source and the
    # dump's sha256; a check loads them without the bulk index. Loaded so, the check writes the pure path's bytes;
    # a file of another source, damaged or cut short is not used (the tables are built from the bulk index again,
    # the same answers) and is written again
    local = a_copy(tmp_path)
    (local.dir / "overlay.json").write_text(json.dumps(OVERLAYS[1]))
    local = LocalCopy(local.dir)
    local.write_index()
    path = local.dir / offline.ACCEL_INDEX_NAME
    good = path.read_bytes()
    data = ("\n".join(IDS * 40 + ["url:https://a.b.kaze.example/x", "url:http://new.example/a"]) + "\n").encode()
    units = IdUnits(data, str(tmp_path / "ids"), unit_bytes=1 << 9, unit_ids=5)

    def run(env: str) -> tuple[list, bool]:
        monkeypatch.setenv(PURE_PYTHON_ENV, env)
        copy = LocalCopy(local.dir)
        index = copy._bulk_index()
        out = [copy.bulk_unit(units, n, quote=True) for n in range(len(units))]
        return [(b"".join(s), m, r, c) for s, m, r, c in out], isinstance(index["tails"], offline._AccelTails)

    pure, _ = run("1")
    assert run("") == (pure, True)
    for damaged in (good[:64] + b"0" * 64 + good[128:], b"f" * 64 + good[64:], good[:-9],
                    good[:200] + bytes([good[200] ^ 1]) + good[201:]):
        path.write_bytes(damaged)
        assert run("") == (pure, False)
        assert path.read_bytes() == good  # written again from the bulk index
    with pytest.raises(ValueError):
        _offline.load(good[128:-8], None)


def test_an_extension_of_another_interface_is_not_used(tmp_path, monkeypatch):
    # an editable install keeps an extension built from an older _offline.c: the pure path answers instead
    monkeypatch.setattr(_offline, "INTERFACE", offline.ACCEL_INTERFACE - 1)
    assert offline.compiled() is None
    assert LocalCopy(a_copy(tmp_path).dir)._bulk_index()["accel"] is None


def test_tables_kept_under_another_regime_are_not_used(tmp_path, monkeypatch):
    # the default answer is the manifest's regime, not part of what the index is derived from (the answers and the
    # overlay): a new snapshot whose answers file is byte for byte the old one's, under the other regime, must not
    # be answered with the tables' old default
    local = a_copy(tmp_path)
    local.write_index()
    manifest = json.loads((local.dir / "manifest.json").read_text())
    manifest["payload"]["files"][1]["default_outcome"] = "denied"
    (local.dir / "manifest.json").write_text(json.dumps(manifest))
    data = b"doi:10.5555/unregistered\n"
    units = IdUnits(data, str(tmp_path / "ids"), unit_bytes=1 << 9, unit_ids=5)
    copy = LocalCopy(local.dir)
    segments, missing, _, count = copy.bulk_unit(units, 0, quote=True)
    assert b"".join(segments) == b"doi:10.5555/unregistered,denied,permission-required,,,,false,,offline,,\r\n"
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    pure = LocalCopy(local.dir).bulk_unit(units, 0, quote=True)
    assert (b"".join(pure[0]), pure[1], pure[3]) == (b"".join(segments), missing, count)
