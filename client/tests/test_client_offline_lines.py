"""Persona: an AI developer's crawler checking millions of ids offline. Rule: the fast offline path (ids read in one
piece, CSV lines rendered once per answer, the state file keeping lines as text) writes exactly the bytes the
row-by-row path writes with csv.writer, asks the API for exactly the same ids, and resumes from its state file."""
import csv
import gzip
import io
import json
import time

from kyodaku.checking import COLUMNS, Lines, StateFile, answer_batch, csv_line
from kyodaku.ids import read_id_list, read_ids
from kyodaku.offline import LocalCopy
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
    directory.mkdir()
    (directory / "answers").write_bytes(gzip.compress(b"".join(json.dumps(a).encode() + b"\n" for a in ANSWERS)))
    bloom = Bloom(10, 0.01, key_hash)
    bloom.update([a["key"] for a in ANSWERS if a["outcome"] == "denied"] + [FLAGGED_ABSENT])
    bloom.save(str(directory / "filter"))
    files = [{"name": "answers", "count": len(ANSWERS)}, {"name": "filter", "count": 4, "default_outcome": "allowed"}]
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
