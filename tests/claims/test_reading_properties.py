"""Property tests of the reader: whatever text people put in cells (commas, quotes, newlines, Japanese) comes back
exactly (trimmed), in every supported encoding, and errors point at the line a spreadsheet shows."""
import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims import reading

LIMITS = reading.Limits(max_bytes=10**9, max_rows=10**6, max_field_chars=10_000)
cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Co"), blacklist_characters="\x00\ufeff"), max_size=40)


def _encode(rows, encoding: str, newline: str) -> bytes:
    out = io.StringIO()
    # Quote every cell, as spreadsheets do for any cell with a line break (csv's minimal quoting would leave a lone
    # CR unquoted when the line terminator is LF, which no spreadsheet writes).
    writer = csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_ALL)
    writer.writerow(["holder", "work_ref", "title"])
    writer.writerows(rows)
    text = out.getvalue()
    return text.encode(encoding)  # the utf-16 codec writes its byte-order mark itself


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(titles=st.lists(cell_text, min_size=1, max_size=8), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "utf-16"]))
def test_cells_round_trip_with_spreadsheet_line_numbers(titles, newline, encoding):
    rows = [["studio-kaze", f"KZ-{i}", title] for i, title in enumerate(titles)]
    data = _encode(rows, encoding, newline)

    def opener():
        return io.BytesIO(data)

    scan = reading.scan(opener, size=len(data), limits=LIMITS)
    got = list(reading.data_rows(opener, scan))
    assert [cells[2].strip() for _line, cells in got] == [t.strip() for t in titles]
    # A spreadsheet numbers records, not physical lines (claims-csv.md): the header is row 1 and each record one
    # row, whatever line breaks its quoted cells hold.
    assert [line for line, _cells in got] == list(range(2, 2 + len(titles)))
    assert scan.rows_total == len(titles)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_arbitrary_bytes_either_read_or_fail_with_a_sentence(data):
    def opener():
        return io.BytesIO(data)

    try:
        scan = reading.scan(opener, size=len(data), limits=LIMITS)
    except reading.FileProblem as problem:
        assert str(problem).endswith((".", ")")) and len(str(problem)) > 10
    else:
        assert scan.encoding in ("utf-8", "utf-8-sig", "utf-16", "cp932")
        list(reading.data_rows(opener, scan))
