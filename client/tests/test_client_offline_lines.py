"""Persona: an AI developer's crawler checking millions of ids offline. Rule: the fast offline path (ids read in one
piece, CSV lines rendered once per answer, the state file keeping lines as text) writes exactly the bytes the
row-by-row path writes with csv.writer, asks the API for exactly the same ids, and resumes from its state file."""
import csv
import gzip
import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kyodaku import cli
from kyodaku.checking import COLUMNS, Lines, StateFile, answer_batch, csv_line
from kyodaku.cli import main
from kyodaku.ids import bulk_verdicts, classify, id_lines, read_id_list, read_ids
from kyodaku.offline import INDEX_NAME, LocalCopy, bloom_hash, bloom_hashes
from rbloom import Bloom

from sync.filters import key_hash

ANSWERS = [
    {"key": "doi:10.5555/a", "outcome": "denied", "basis": "reserved", "holder": "hoshi", "declaration": "d-1",
     "license_url": None, "disputed": False},
    {"key": "doi:10.5555/b", "outcome": "allowed", "basis": "granted", "holder": "kaze, \"the\" studio",
     "declaration": "d-2", "license_url": "https://kaze.example/l?a=1,2", "disputed": True},
    {"key": "domain:kaze.example", "outcome": "denied", "basis": "reserved", "holder": "kaze", "declaration": "d-3",
     "license_url": None, "disputed": False},
    {"key": "url-prefix:https://shop.example/books/", "outcome": "allowed", "basis": "granted", "holder": "shop",
     "declaration": "d-4", "license_url": "https://shop.example/l", "disputed": False},
    {"key": "url:http://shop.example/x", "outcome": "denied", "basis": "reserved", "holder": "shop",
     "declaration": "d-5", "license_url": None, "disputed": False},
]
FLAGGED_ABSENT = "doi:10.5555/flagged-but-absent"  # in the filter, not in the answers: only the API may answer
IDS = [
    "doi:10.5555/a", "doi:10.5555/b", "doi:10.5555/unregistered", FLAGGED_ABSENT, "  doi:10.5555/a  ",
    "DOI:10.5555/A", "doi:10.5555/a,b", 'doi:10.5555/"q"', "url:https://kaze.example/p/1",
    "url:https://www.kaze.example/p/1", "https://kaze.example/p/2", "url:https://shop.example/books/1",
    "url:http://shop.example/books/2", "url:https://shop.example/x", "url:https://other.example/a,b",
    "domain:www.kaze.example", "domain:kaze.example", "domain:other.example", "isbn:9784990166137",
    "not an id", "url:https://kaze.example/a//b", "sha256:" + "a" * 64, "domaine:x",
]


def a_copy(tmp_path) -> LocalCopy:
    directory = tmp_path / "copy"
    directory.mkdir(parents=True)
    (directory / "answers").write_bytes(gzip.compress(b"".join(json.dumps(a).encode() + b"\n" for a in ANSWERS)))
    bloom = Bloom(10, 0.01, key_hash)
    bloom.update([a["key"] for a in ANSWERS if a["outcome"] == "denied"] + [FLAGGED_ABSENT])
    bloom.save(str(directory / "filter"))
    files = [{"name": "answers", "count": len(ANSWERS), "sha256": "a" * 64},
             {"name": "filter", "count": 4, "default_outcome": "allowed"}]
    (directory / "manifest.json").write_text(json.dumps({"payload": {"purpose": "tdm", "jurisdiction": "JP",
                                                                     "files": files}}))
    (directory / "state.json").write_text(json.dumps({"cursor": "1", "synced_at": time.time()}))
    (directory / "overlay.json").write_text("{}")
    return LocalCopy(directory)


def test_fast_lines_are_the_bytes_csv_writer_writes_for_each_row(tmp_path):
    local = a_copy(tmp_path)
    lines, missing = local.lines(IDS)
    rows = [local.row(raw) for raw in IDS]
    assert missing == [i for i, row in enumerate(rows) if row is None]
    assert FLAGGED_ABSENT in [IDS[i] for i in missing] and "DOI:10.5555/A" in [IDS[i] for i in missing]
    for line, row in zip(lines, rows, strict=True):
        assert line == (None if row is None else csv_line(row))
        assert line is None or len(next(csv.reader([line]))) == len(COLUMNS)
    answered = [next(csv.reader([line])) for line in lines if line is not None]
    assert {r[0]: r[2] for r in answered}["url:https://www.kaze.example/p/1"] == "reserved"  # nearest domain
    assert {r[0]: r[2] for r in answered}["url:http://shop.example/books/2"] == "granted"  # prefix, either scheme


def test_a_unit_answered_partly_offline_reads_as_the_row_path_and_counts_its_unchecked(tmp_path):
    local = a_copy(tmp_path)
    fast, _ = answer_batch(None, IDS, number=0, purpose="tdm", jurisdiction="JP", receipts="none", local=local)
    slow, _ = answer_batch(None, IDS, number=0, purpose="tdm", jurisdiction="JP", receipts="single", local=local)
    assert isinstance(fast, Lines) and fast.unchecked == sum(1 for row in slow if row[2] == "unchecked") > 0
    buffer = io.StringIO()
    csv.writer(buffer).writerows(slow)
    assert "".join(fast) == buffer.getvalue()


def test_the_state_file_keeps_offline_lines_and_gives_them_back_on_resume(tmp_path):
    path = str(tmp_path / "out.csv.state.jsonl")
    state = StateFile(path, {"input": "x"})
    state.record({"batch": 0, "rows": Lines(['doi:10.5555/a,denied,reserved,h,,d,false,,offline,,\r\n',
                                             '"a,b",allowed,not-reserved,,,,false,,offline,,\r\n']),
                  "receipts": []})
    state.close()
    again = StateFile(path, {"input": "x"})
    assert "".join(again.done[0]["rows"]) == ('doi:10.5555/a,denied,reserved,h,,d,false,,offline,,\r\n'
                                              '"a,b",allowed,not-reserved,,,,false,,offline,,\r\n')
    again.close()


def test_ids_read_in_one_piece_are_the_ids_read_line_by_line(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_bytes("\ufeffdoi:10.5555/a\r\n# a comment\n\n  url:https://x.example/ \rdoi:b\r\n\tlast".encode())
    assert read_id_list(str(path)) == [raw for _, raw in read_ids(str(path))] == [
        "doi:10.5555/a", "url:https://x.example/", "doi:b", "last"]


# ------------------------------------------------------------------------------------------ the bulk path
# LocalCopy.bulk_lines and `kyodaku check --offline` (checking.check_offline): the same bytes as `lines` and the row
# path, whatever the ids, the number of processes or the unit size; ids.bulk_verdicts and ids.id_lines agree with
# classify and read_ids line by line.
URLISH = st.sampled_from(["url:https://", "url:http://", "url:ftp://", "doi:10.", "doi:", "https://", "domain:",
                          "DOI:10.", "url:https://www.", " doi:10.", "isbn:", "#"])
TEXT = st.text(alphabet="abcz09.-/_~,'\"@:+é\xa0A ", max_size=24)


def expected_bulk(local, ids: list[str]) -> tuple[list[bytes], list[int]]:
    lines, missing = local.lines(ids)
    segments, current = [], []
    for line in lines:
        if line is None:
            segments.append("".join(current).encode())
            current = []
        else:
            current.append(line)
    segments.append("".join(current).encode())
    return segments, missing


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(URLISH, TEXT).map("".join), min_size=1, max_size=30))
def test_bulk_verdicts_agree_with_classify_line_by_line(lines):
    lines = [line.strip() for line in lines if line.strip()] or ["doi:10.1/x"]
    verdicts = bulk_verdicts("\n".join(lines).encode())
    assert len(verdicts) == len(lines)
    for line, (host, doi) in zip(lines, verdicts, strict=True):
        key, found_host = classify(line)
        kept = key == line
        if host:
            assert kept and line.startswith("url:") and found_host == host.decode(), line
        elif doi:
            assert kept and line.startswith("doi:") and found_host is None, line
        else:  # left to classify: nothing its first two branches keep as it is, but a DOI with non-ASCII
            assert not (kept and line[:4] in ("url:", "doi:") and line.isascii()), line


def test_bulk_verdicts_of_named_lines():
    lines = ["doi:10.5555/a", "url:https://kaze.example/p/1", "url:https://a--b.example/x", "url:https://k.example/a//b",
             "url:https://k.example/.x", "url:https://k.example/", "url:https://k.example", "doi:10.1/é", "doi:10.1/A",
             "url:http://Kaze.example/p", "domain:kaze.example"]
    assert bulk_verdicts("\n".join(lines).encode()) == [
        (b"", b"d"), (b"kaze.example", b""), (b"", b""), (b"", b""), (b"", b""), (b"k.example", b""), (b"", b""),
        (b"", b""), (b"", b""), (b"", b""), (b"", b"")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.tuples(URLISH, TEXT).map("".join),
                          st.text(alphabet="ab #\r\n\t\x0b\x1c\ufeffé", max_size=6)), max_size=20),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_ids_read_as_bytes_are_the_ids_read_line_by_line(tmp_path_factory, lines, newline):
    path = tmp_path_factory.mktemp("ids") / "ids.txt"
    path.write_bytes(newline.join(lines).encode())
    expected = [raw.encode() for _, raw in read_ids(str(path))]
    assert id_lines(path.read_bytes(), str(path)) == expected
    assert id_lines(path.read_bytes(), str(path), unit_bytes=3) == expected  # cut into units at line ends


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(IDS + [a["key"] for a in ANSWERS] + ["url:http://shop.example/x",
                                                                                "url:https://kaze.example/a,b"]),
                          st.tuples(URLISH, TEXT).map("".join)), min_size=1, max_size=40))
def test_bulk_lines_are_the_lines_of_the_row_path(tmp_path, ids):
    ids = [raw.strip() for raw in ids if raw.strip() and not raw.strip().startswith("#")] or ["doi:10.5555/a"]
    local = a_copy(tmp_path / str(time.monotonic_ns()))
    for quote in (True, False):
        if not quote and any("," in raw or '"' in raw for raw in ids):
            continue
        assert local.bulk_lines([raw.encode() for raw in ids], quote=quote) == expected_bulk(local, ids)


def test_bulk_lines_follow_the_overlay_and_the_filter(tmp_path):
    local = a_copy(tmp_path)
    # the feed removed one stored key (in the filter) and changed another: both as `lines` answers them
    local.overlay = {"doi:10.5555/a": None, "doi:10.5555/b": dict(ANSWERS[0], outcome="allowed", basis="granted")}
    (local.dir / "overlay.json").write_text(json.dumps(local.overlay))
    local._answers = None
    ids = ["doi:10.5555/a", "doi:10.5555/b", FLAGGED_ABSENT, "url:https://www.kaze.example/p/9", "doi:10.5555/zz"]
    segments, missing = local.bulk_lines([raw.encode() for raw in ids])
    assert (segments, missing) == expected_bulk(local, ids)
    assert [ids[i] for i in missing] == [FLAGGED_ABSENT]
    assert b"doi:10.5555/a,allowed,not-reserved," in segments[0]  # removed: the default, not the filter's flag


def test_the_bulk_index_is_kept_beside_the_copy_and_rebuilt_when_the_overlay_changes(tmp_path):
    local = a_copy(tmp_path)
    ids = [b"doi:10.5555/b", b"url:https://www.kaze.example/p/9"]
    first = local.bulk_lines(ids)
    assert (local.dir / INDEX_NAME).exists()
    assert LocalCopy(local.dir).bulk_lines(ids) == first  # read back from the index file
    (local.dir / "overlay.json").write_text(json.dumps({"doi:10.5555/b": None}))
    again = LocalCopy(local.dir).bulk_lines(ids)
    assert b"doi:10.5555/b,allowed,not-reserved," in again[0][0]  # not the stale index's answer


def offline_check(tmp_path, ids: list[str], *args) -> tuple[int, bytes]:
    """`kyodaku check --offline` of `ids` against a_copy, without an API; (exit status, CSV)."""
    root = tmp_path / "copies"
    if not (root / "tdm" / "JP").exists():
        (root / "tdm").mkdir(parents=True)
        a_copy(tmp_path).dir.rename(root / "tdm" / "JP")
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n")
    out = tmp_path / f"answers-{'-'.join(args)}.csv"
    code = main(["check", str(source), "--purpose", "tdm", "--jurisdiction", "JP", "--offline", "--dir",
                 str(root), "--out", str(out), "--quiet", *args])
    return code, out.read_bytes()


def test_the_bulk_check_writes_the_row_paths_csv_with_one_or_two_processes(tmp_path, monkeypatch):
    monkeypatch.delenv("KYODAKU_URL", raising=False)
    monkeypatch.setattr(cli, "OFFLINE_UNIT_BYTES", 100)  # several units, so that two processes share them
    ids = IDS * 5
    code_rows, rows = offline_check(tmp_path, ids, "--receipts", "single", "--restart")  # LocalCopy.row per id
    code_one, one = offline_check(tmp_path, ids, "--processes", "1", "--restart")
    code_two, two = offline_check(tmp_path, ids, "--processes", "2", "--restart")
    assert code_rows == code_one == code_two == 1  # ids only the API can answer are unchecked, never allowed
    assert rows == one == two
    unchecked = [r for r in csv.DictReader(io.StringIO(two.decode())) if r["basis"] == "unchecked"]
    assert {r["id"] for r in unchecked} >= {FLAGGED_ABSENT, "DOI:10.5555/A", "not an id"}


def test_a_resumed_bulk_check_keeps_the_apis_lines_and_answers_the_rest_from_the_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("KYODAKU_URL", raising=False)
    ids = ["doi:10.5555/a", FLAGGED_ABSENT, "doi:10.5555/unregistered"]
    code, _ = offline_check(tmp_path, ids)
    assert code == 1  # no API: the flagged id is unchecked, and the state file is kept for the next run
    state = tmp_path / "answers-.csv.state.jsonl"
    told = f"{FLAGGED_ABSENT},allowed,not-reserved,,,,false,,api,,\r\n"  # what the API said before the break
    with open(state, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"batch": 0, "asked": {"1": told}, "receipts": []}) + "\n")
    code, again = offline_check(tmp_path, ids)
    assert code == 0 and not state.exists()
    assert again.decode().splitlines(keepends=True)[1:] == [
        "doi:10.5555/a,denied,reserved,hoshi,,d-1,false,,offline,,\r\n", told,
        "doi:10.5555/unregistered,allowed,not-reserved,,,,false,,offline,,\r\n"]


def test_the_bulk_check_of_a_csv_column_writes_the_row_paths_csv(tmp_path, monkeypatch):
    monkeypatch.delenv("KYODAKU_URL", raising=False)
    source = tmp_path / "items.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:  # a column's ids: "#..." is an id, not a comment
        csv.writer(handle).writerows([["title", "ref"], *[[f"t{i}", raw] for i, raw in enumerate(IDS + ["#x"])]])
    (tmp_path / "copies" / "tdm").mkdir(parents=True)
    a_copy(tmp_path).dir.rename(tmp_path / "copies" / "tdm" / "JP")
    outs = []
    for extra in (["--receipts", "single"], ["--processes", "2"]):
        out = tmp_path / f"answers{len(outs)}.csv"
        main(["check", str(source), "--column", "ref", "--purpose", "tdm", "--jurisdiction", "JP", "--offline",
              "--dir", str(tmp_path / "copies"), "--out", str(out), "--quiet", *extra])
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and b"\r\n#x,denied,unchecked," in outs[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=30))
def test_the_filter_hash_in_bulk_is_the_stated_hash(keys):
    assert list(bloom_hashes([key.encode() for key in keys])) == [key_hash(key) for key in keys] == [
        bloom_hash(key) for key in keys]


def test_a_state_file_of_another_input_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    # the input's sha256 (which names the run) is computed while the first units are answered; a state file of
    # another input is still refused before any row is written, and nothing of the earlier run is touched
    monkeypatch.delenv("KYODAKU_URL", raising=False)
    monkeypatch.setattr(cli, "OFFLINE_UNIT_BYTES", 100)
    code, first = offline_check(tmp_path, IDS * 3, "--processes", "2")
    assert code == 1  # unchecked ids: the state file stays for the next run
    out = tmp_path / "answers---processes-2.csv"
    kept = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith(out.name)}
    assert set(kept) == {out.name, out.name + ".state.jsonl", out.name + ".receipts.jsonl"} or set(kept) == {
        out.name, out.name + ".state.jsonl"}
    with pytest.raises(SystemExit, match="belongs to another run"):
        offline_check(tmp_path, IDS * 4, "--processes", "2")  # another input, the same --out
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith(out.name)} == kept
    code, again = offline_check(tmp_path, IDS * 4, "--processes", "2", "--restart")
    assert code == 1 and first.count(b"\r\n") == 1 + 3 * len(IDS) and again.count(b"\r\n") == 1 + 4 * len(IDS)


def test_an_empty_file_or_one_of_comments_and_blank_lines_writes_the_header_only(tmp_path, monkeypatch):
    monkeypatch.delenv("KYODAKU_URL", raising=False)
    for number, ids in enumerate(([], ["", "# nothing", "   ", "\r"])):
        code, out = offline_check(tmp_path / str(number), ids, "--processes", "2")
        assert code == 0 and out == csv_line(list(COLUMNS)).encode()


def test_a_check_the_copy_answers_entirely_never_imports_httpx(tmp_path, monkeypatch):
    # the API client (and httpx with it) is made only when an id needs the API, by the thread that asks for it
    import os
    import subprocess
    import sys

    import kyodaku

    monkeypatch.delenv("KYODAKU_URL", raising=False)
    offline_check(tmp_path, ["doi:10.5555/a"])  # the copy, under tmp_path/copies
    code = "import sys; from kyodaku.cli import main; c = main(sys.argv[1:]); print(c, 'httpx' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(kyodaku.__file__)),
           "KYODAKU_URL": "http://127.0.0.1:9"}  # nothing listens there: asking it would leave ids unchecked
    for ids, expected in ((["doi:10.5555/a", "doi:10.5555/unregistered", "url:https://kaze.example/p/1"], "0 False"),
                          ([FLAGGED_ABSENT], None)):
        (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
        if expected is None:  # without KYODAKU_URL the flagged id is unchecked, and httpx is not imported either
            env.pop("KYODAKU_URL")
            expected = "1 False"
        done = subprocess.run([sys.executable, "-c", code, "check", str(tmp_path / "ids.txt"), "--purpose", "tdm",
                               "--jurisdiction", "JP", "--offline", "--dir", str(tmp_path / "copies"), "--out",
                               str(tmp_path / "sub.csv"), "--quiet"], env=env, capture_output=True, text=True,
                              check=False)
        assert done.stdout.split("\n")[0] == expected, done.stderr
