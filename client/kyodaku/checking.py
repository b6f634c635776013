"""`kyodaku check`: ids in batches, bounded concurrency, a resumable state file, and fail-closed rows.

Every id gets a row. An id the registry answered gets its answer; an id in a batch that got no answer after every
retry is written `denied` with basis `unchecked` and the reason (never allowed), and the state file keeps what was
answered, so running the same command again asks only for what is missing.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

# typing.TYPE_CHECKING without importing typing (~5 ms of every command's start): type checkers read this as True
TYPE_CHECKING = False
if TYPE_CHECKING:  # httpx is imported only when the API is asked (an offline check may never ask it)
    from .http import Api

COLUMNS = ("id", "outcome", "basis", "holder", "license_url", "declaration", "disputed", "receipt", "source",
           "reason", "licence")  # `licence`: the licence id of a `licensed` answer (last: older readers index)
BATCH_MAX = 10_000
NO_API = "the local copy cannot answer this id and no API was given"


def row_from_result(result: dict, *, receipt: str = "") -> list:
    if "error" in result:
        error = result["error"]
        code = error.get("code", "error") if isinstance(error, dict) else str(error)
        message = error.get("message", "") if isinstance(error, dict) else ""
        return [result["id"], "denied", code, "", "", "", "", "", "api", message or code, ""]
    holder, declaration, licence = result.get("holder"), result.get("declaration"), result.get("licence")
    return [result["id"], result["outcome"], result["basis"], holder["code"] if holder else "",
            result.get("license_url") or "", declaration["id"] if declaration else "",
            "true" if result.get("disputed") else "false", receipt or result.get("receipt") or "", "api", "",
            licence["id"] if isinstance(licence, dict) and licence.get("id") else ""]


def unchecked_row(raw: str, reason: str) -> list:
    return [raw, "denied", "unchecked", "", "", "", "", "", "", reason, ""]


class Lines(list):
    """A unit's rows already written as CSV lines (the offline path), with how many of them are `unchecked`."""

    def __init__(self, lines=(), *, unchecked: int = 0):
        super().__init__(lines)
        self.unchecked = unchecked


def csv_line(row: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()


def unchecked_count(rows) -> int:
    return rows.unchecked if isinstance(rows, Lines) else sum(1 for row in rows if row[2] == "unchecked")


def as_rows(rows) -> list[list]:
    """Rows as lists of COLUMNS, whichever form they came in."""
    return list(csv.reader(rows)) if isinstance(rows, Lines) else rows


def ask(api: Api, ids: list[str], *, purpose: str, jurisdiction: str, receipts: str,
        batch: str) -> tuple[list[list], dict | None]:
    """(rows, receipt document) for one batch; rows are `unchecked` when the registry gave no answer."""
    from .http import ApiError, Unavailable

    try:
        response = api.lookup(ids, purpose=purpose, jurisdiction=jurisdiction, receipt=receipts)
        results = response["results"]
        if len(results) != len(ids):
            raise Unavailable(f"{len(results)} answers for {len(ids)} ids")
    except (Unavailable, ApiError, ValueError, KeyError) as exc:
        return [unchecked_row(raw, str(exc)) for raw in ids], None
    document = None
    if receipts == "batch":
        document = {"batch_receipt": response.get("batch_receipt"), "results": results}
        rows = [row_from_result(r, receipt=f"batch:{batch}#{i}") for i, r in enumerate(results)]
    else:
        rows = [row_from_result(r) for r in results]
    for row, raw in zip(rows, ids, strict=True):
        row[0] = raw
    return rows, document


class StateFile:
    """`<out>.state.jsonl`: a header naming the question, then one line per batch that was fully answered."""

    def __init__(self, path: str, header: dict, *, restart: bool = False):
        self.path, self.header, self.done = path, header, {}
        if os.path.exists(path) and not restart:
            with open(path, encoding="utf-8") as handle:
                first = handle.readline()
                if not first or json.loads(first) != header:
                    raise SystemExit(f"{path} belongs to another run (other input, question or batch size); "
                                     "use --restart to discard it")
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        break  # a line cut by the interruption: that batch is asked again
                    if "csv" in entry:
                        entry["rows"] = Lines([entry.pop("csv")])
                    self.done[entry["batch"]] = entry
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(header) + "\n")
        self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def record(self, entry: dict) -> None:
        if "asked" in entry:  # the bulk offline path: only the API's lines (check_offline)
            entry = {"batch": entry["batch"], "asked": entry["asked"], "receipts": entry.get("receipts")}
        elif isinstance(entry["rows"], Lines):  # CSV lines: kept as one JSON string, far cheaper than lists
            entry = {"batch": entry["batch"], "csv": "".join(entry["rows"]), "receipts": entry.get("receipts")}
        self.handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.done[entry["batch"]] = entry

    def close(self) -> None:
        self.handle.close()


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_batches(ids: list[str], *, answer: Callable[[int, list[str]], tuple[list[list], list[dict]]],
                state: StateFile | None, batch_size: int, concurrency: int,
                progress: Callable[[int], None] = lambda n: None) -> Iterator[tuple[int, list[list], list[dict]]]:
    """(batch number, rows, receipt documents) for every batch, in order; answered batches go to `state`."""
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    finished: dict[int, tuple] = {}
    for number, entry in (state.done.items() if state else ()):
        finished[number] = (entry["rows"], entry.get("receipts") or [])
        progress(len(entry["rows"]))
    todo = iter(n for n in range(len(batches)) if n not in finished)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        running = {}
        for number in todo:
            running[pool.submit(answer, number, batches[number])] = number
            if len(running) >= concurrency:
                break
        next_out = 0
        while running or next_out < len(batches):
            if running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    number = running.pop(future)
                    rows, document = future.result()
                    finished[number] = (rows, document)
                    progress(len(rows))
                    if state is not None and not unchecked_count(rows):
                        state.record({"batch": number, "rows": rows, "receipts": document})
                    following = next(todo, None)
                    if following is not None:
                        running[pool.submit(answer, following, batches[following])] = following
            while next_out in finished:
                rows, document = finished.pop(next_out)
                yield next_out, rows, document
                next_out += 1


def check_ids(api: Api | None, ids: Iterable[str], *, purpose: str, jurisdiction: str, receipts: str = "none",
              batch_size: int = BATCH_MAX, concurrency: int = 4, local=None) -> Iterator[dict]:
    """Library form of `kyodaku check` (no state file): one dict of COLUMNS per id, in order."""
    ids = list(ids)

    def answer(number: int, batch: list[str]):
        return answer_batch(api, batch, number=number, purpose=purpose, jurisdiction=jurisdiction,
                            receipts=receipts, local=local)

    for _, rows, _ in run_batches(ids, answer=answer, state=None, batch_size=batch_size, concurrency=concurrency):
        yield from (dict(zip(COLUMNS, row, strict=True)) for row in as_rows(rows))


def answer_batch(api: Api | None, batch: list[str], *, number: int, purpose: str, jurisdiction: str,
                 receipts: str, local=None) -> tuple[list[list], list[dict]]:
    """Rows for one unit of ids and the batch receipt documents of the requests made for it."""
    # From the local copy where it can answer, the rest from the API.
    if local is None:
        rows, document = ask(api, batch, purpose=purpose, jurisdiction=jurisdiction, receipts=receipts,
                             batch=str(number))
        return rows, [document] if document else []
    if receipts == "single":  # rows as lists: the CSV writer takes each API row's receipt from them
        rows: list = [local.row(raw) for raw in batch]
        missing = [i for i, row in enumerate(rows) if row is None]
    else:  # CSV lines straight from the copy (LocalCopy.lines): no list per id
        rows, missing = local.lines(batch)
    documents = []
    asked_rows: dict[int, list] = {}
    if missing:
        if api is None:
            for i in missing:
                asked_rows[i] = unchecked_row(batch[i], NO_API)
        else:
            for start in range(0, len(missing), BATCH_MAX):  # a local unit may be larger than one request
                chunk = missing[start:start + BATCH_MAX]
                label = str(number) if start == 0 else f"{number}.{start // BATCH_MAX}"
                asked, document = ask(api, [batch[i] for i in chunk], purpose=purpose, jurisdiction=jurisdiction,
                                      receipts=receipts, batch=label)
                asked_rows.update(zip(chunk, asked, strict=True))
                if document:
                    documents.append(document)
    if receipts == "single":
        for i, row in asked_rows.items():
            rows[i] = row
        return rows, documents
    for i, row in asked_rows.items():
        rows[i] = csv_line(row)
    return Lines(rows, unchecked=sum(1 for row in asked_rows.values() if row[2] == "unchecked")), documents


# ----------------------------------------------------------------------------------------- offline, in bulk
_FORKED: tuple | None = None  # (local copy, IdUnits, quote) for the forked processes of offline_units


def _unit_segments(number: int) -> tuple[list[bytes], list[int], list[bytes], int]:
    """One unit's CSV as the bytes between the ids only the API can answer, those ids' indexes in the unit and the
    ids themselves, and how many ids the unit has."""
    local, units, quote = _FORKED
    return local.bulk_unit(units, number, quote=quote)


def offline_units(units, *, local, processes: int, quote: bool) -> Iterator[tuple]:
    """_unit_segments of every unit of `units` (ids.IdUnits), in order, `processes` units at a time. With the
    compiled accelerator (which answers a unit without the GIL), from that many threads of this process: no process
    to start, and a unit's CSV never crosses a pipe (the parent writes the very bytes the accelerator wrote).
    Without it, from that many forked processes: each splits its own units out of the file's bytes, so the parent
    neither makes the ids nor shares them page by page; the copy's index is loaded once, before the fork."""
    global _FORKED
    index = local._bulk_index()
    several = processes > 1 and len(units) > 1
    if index["accel"] is not None and units.span(0) is not None:
        if not several:
            yield from (local.bulk_unit(units, n, quote=quote) for n in range(len(units)))
            return
        with ThreadPoolExecutor(max_workers=min(processes, len(units))) as pool:
            ahead = deque()  # at most 2 units a thread answered and not yet written: memory stays bounded
            todo = iter(range(len(units)))
            for number in todo:
                ahead.append(pool.submit(local.bulk_unit, units, number, quote=quote))
                if len(ahead) >= 2 * processes:
                    break
            while ahead:
                done = ahead.popleft().result()
                following = next(todo, None)
                if following is not None:
                    ahead.append(pool.submit(local.bulk_unit, units, following, quote=quote))
                yield done
        return
    _FORKED = (local, units, quote)
    try:
        import multiprocessing

        if several and "fork" in multiprocessing.get_all_start_methods():  # not Windows
            # the filter loaded before the fork, so that the processes share its pages instead of each loading it
            index["filter"].load()
            with multiprocessing.get_context("fork").Pool(min(processes, len(units))) as pool:
                yield from pool.imap(_unit_segments, range(len(units)))
        else:
            yield from map(_unit_segments, range(len(units)))
    finally:
        _FORKED = None


class _Asker:
    """The ids of a bulk offline check that only the API can answer, asked from threads of their own while the copy
    answers the next units. The API client (httpx's import with it) is made by the first request's thread, when the
    first such id is found: a check none of whose ids needs the API never imports httpx.

    Without receipts, the ids of several units go in one request (up to BATCH_MAX): a request is sent at once when
    none is in flight, and otherwise when BATCH_MAX ids wait or no more will come (`close`); a request's thread
    takes, when it is free, every id that waits by then. With receipts, each unit's ids are requests of their own
    (the batch receipt and the rows' labels name the unit, and the state file keeps each unit's documents). At most
    `concurrency` requests at once. Every id gets a row: the API's, or `unchecked` (never allowed)."""

    def __init__(self, api: Callable[[], Api | None], *, purpose: str, jurisdiction: str, receipts: str,
                 concurrency: int):
        import threading

        self.api, self.purpose, self.jurisdiction, self.receipts = api, purpose, jurisdiction, receipts
        self.merge, self.concurrency = receipts == "none", concurrency
        self.lock = threading.Lock()
        self.waiting: deque = deque()  # (label, ids, future), in the order the units come
        self.waiting_ids = self.in_flight = self.starting = 0  # starting: threads started that have not run yet
        self.closing = False
        self.pool: ThreadPoolExecutor | None = None

    def ask(self, label: str, ids: list[str]):
        """A future of (rows, receipt document or None) for `ids` (at most BATCH_MAX)."""
        from concurrent.futures import Future

        future = Future()
        with self.lock:
            self.waiting.append((label, ids, future))
            self.waiting_ids += len(ids)
            self._start()
        return future

    def close(self) -> None:
        """No more ids will come: send what waits now, and wait for every request."""
        with self.lock:
            self.closing = True
            self._start()
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def _ready(self, others: int) -> bool:  # with the lock; `others`: requests in flight besides the caller's
        return bool(self.waiting) and (others == 0 or not self.merge or self.closing or
                                       self.waiting_ids >= BATCH_MAX)

    def _start(self) -> None:  # with the lock
        while self.in_flight < self.concurrency and self._ready(self.in_flight) and self._unclaimed():
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=self.concurrency)
            self.in_flight += 1
            self.starting += 1
            self.pool.submit(self._requests)

    def _unclaimed(self) -> bool:  # with the lock: ids wait beyond what the threads started and not yet run take
        if self.merge:  # such a thread takes what waits when it runs, up to BATCH_MAX
            return self.waiting_ids > BATCH_MAX * self.starting
        return len(self.waiting) > self.starting

    def _take(self) -> list:  # with the lock
        items = [self.waiting.popleft()]
        size = len(items[0][1])
        while self.merge and self.waiting and size + len(self.waiting[0][1]) <= BATCH_MAX:
            items.append(self.waiting.popleft())
            size += len(items[-1][1])
        self.waiting_ids -= size
        return items

    def _requests(self) -> None:
        """One thread's requests: while ids wait that it may take."""
        items: list = []
        started = True
        try:
            client = self.api()
            while True:
                with self.lock:
                    if started:
                        self.starting -= 1
                        started = False
                    if not self._ready(self.in_flight - 1):
                        self.in_flight -= 1
                        return
                    items = self._take()
                ids = [raw for _, chunk, _ in items for raw in chunk]
                if client is None:
                    rows, document = [unchecked_row(raw, NO_API) for raw in ids], None
                else:
                    rows, document = ask(client, ids, purpose=self.purpose, jurisdiction=self.jurisdiction,
                                         receipts=self.receipts, batch=items[0][0])
                at = 0
                for _, chunk, future in items:
                    future.set_result((rows[at:at + len(chunk)], document))
                    at += len(chunk)
                items = []
        except BaseException as exc:  # the futures fail (the check stops with the error): none is left waiting
            with self.lock:
                if started:
                    self.starting -= 1
                items += list(self.waiting)
                self.waiting.clear()
                self.waiting_ids = 0
                self.in_flight -= 1
            for _, _, future in items:
                if not future.done():
                    future.set_exception(exc)
            raise


class _Unit:
    """A unit of the bulk check whose API lines are being asked: done() and result() as a future's."""

    def __init__(self, number: int, segments: list, missing: list[int], asked: list, chunks: list,
                 documents: list[dict]):
        self.number, self.segments, self.missing, self.asked = number, segments, missing, asked
        self.chunks, self.documents = chunks, documents

    def done(self) -> bool:
        return all(future.done() for _, future in self.chunks)

    def result(self):
        unchecked = 0
        for chunk, future in self.chunks:
            rows, document = future.result()
            if document:
                self.documents.append(document)
            for j, row in zip(chunk, rows, strict=True):
                self.asked[j] = csv_line(row)
                unchecked += row[2] == "unchecked"
        entry = None
        if self.chunks and not unchecked:
            entry = {"batch": self.number, "asked": dict(zip(map(str, self.missing), self.asked, strict=True)),
                     "receipts": self.documents}
        out = [self.segments[0]]
        for line, segment in zip(self.asked, self.segments[1:], strict=True):
            out.append(line.encode())
            out.append(segment)
        return out, self.documents, unchecked, entry


def check_offline(units, *, local, api: Callable[[], Api | None], purpose: str, jurisdiction: str,
                  receipts: str, state: StateFile | Callable[[], StateFile], processes: int, concurrency: int,
                  quote: bool) -> Iterator[tuple[list[bytes], list[dict], int, int]]:
    """`kyodaku check --offline` in bulk: (CSV bytes, receipt documents, ids unchecked, ids) for every unit of
    `units` (ids.IdUnits), in order.
    The copy answers what it can (LocalCopy.bulk_unit, from `processes` threads or processes); the rest is asked
    of the API (`api()` gives it, or None when there is none: those ids are `unchecked`) by _Asker, from up to
    `concurrency` threads while the next units are answered, the ids of several units in one request. The state
    file keeps, per unit, only the API's lines: a resumed run answers again from the copy (as fast as reading the
    lines back would be) and asks only for what it was not told. `state` may be a callable that opens it: called
    once, when the first unit is answered (the input's sha256 that names the run may be computed meanwhile),
    before anything of it is used."""
    if callable(state):
        opener, state = state, None
    asker = _Asker(api, purpose=purpose, jurisdiction=jurisdiction, receipts=receipts, concurrency=concurrency)

    def unit(number: int, segments: list, missing: list[int], raws: list[bytes]) -> _Unit:
        raws = [raw.decode() for raw in raws]
        earlier = state.done.get(number, {})
        kept = earlier.get("asked", {})
        asked = [kept.get(str(i)) for i in missing]
        todo = [j for j, line in enumerate(asked) if line is None]
        documents: list[dict] = list(earlier.get("receipts") or []) if kept else []
        chunks = []
        for start in range(0, len(todo), BATCH_MAX):
            chunk = todo[start:start + BATCH_MAX]
            label = str(number) if start == 0 else f"{number}.{start // BATCH_MAX}"
            chunks.append((chunk, asker.ask(label, [raws[j] for j in chunk])))
        return _Unit(number, segments, missing, asked, chunks, documents)

    def result(future, count: int):
        out, documents, unchecked, entry = future.result()
        if entry is not None:
            state.record(entry)
        return out, documents, unchecked, count

    answered = offline_units(units, local=local, processes=processes, quote=quote)
    try:
        pending: deque = deque()
        for number, (segments, missing, raws, count) in enumerate(answered):
            if state is None:  # here, in this thread, before any unit is finished (unit() reads it)
                state = opener()
            if missing:
                pending.append((unit(number, segments, missing, raws), count))
            else:
                pending.append((_Done((segments, [], 0, None)), count))
            while pending and pending[0][0].done():
                yield result(*pending.popleft())
        asker.close()
        while pending:
            yield result(*pending.popleft())
    finally:
        asker.close()


class _Done:
    """A unit with nothing to ask: a finished future's two methods."""

    def __init__(self, value):
        self.value = value

    def done(self) -> bool:
        return True

    def result(self):
        return self.value
