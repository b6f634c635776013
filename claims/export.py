"""A holder's registry out, as a claims CSV (claims-csv.md) that `import_claims` accepts back unchanged: importing
the export creates no work, identifier, declaration or dispute (issue 17, docs/claims.md "Export").

Rows, in order:
- per work (by id): one row per current declaration of the work that has not ended (in force now, or from a later
  start), each carrying the work's fields and its registered identifiers; a work without such a declaration gets
  one row without `purpose`;
- then one `scope=catalogue` row per current catalogue-wide declaration that has not ended (no `work_ref`).

Dates are written as ISO 8601 with their UTC offset, to the microsecond, so that the import recognises each
declaration as the one in force (consent.rules.same_statement) instead of superseding it.

Streamed: works are read in keyset pages of `chunk` rows (two more queries per page: their identifiers, their
declarations); memory stays proportional to a page whatever the registry's size.

CP932 (for spreadsheet software in Japan) lacks characters that UTF-8 has (emoji, some kanji variants, accented
Latin letters, the em dash U+2014): an export in CP932 of a registry holding one is refused before the first byte,
naming each value's row (its work's catalogue number, or the catalogue row) and column, instead of writing `?`
(`claims_export_unencodable`). A few characters CP932 writes as its own look-alike, as Windows does (U+301C WAVE
DASH as 0x8160, read back as U+FF5E): docs/claims.md lists them. UTF-8 holds every character.

Read from a replica (DATABASE_REPLICA_URLS) only when it holds every change to the holder's registry that the primary
had committed when the export began (`claims_export_read_alias`), so a holder exporting right after filing reads
their own writes; otherwise from the primary (docs/scaling.md, "Exports").
"""
from __future__ import annotations

import csv
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent, AuditHead
from consent.models import Declaration
from core.db import PRIMARY, choose_replica
from core.errors import NotFound, ValidationFailed, field_error
from registry.models import Holder, Identifier, Work
from registry.selectors import default_holder_code, holder_ids_visible_to

EXPORT_COLUMNS = ("holder", "work_ref", "title", "original_title", "kind", "identifiers", "purpose", "jurisdiction",
                  "consent", "scope", "effective_from", "effective_until", "license_url", "conditions")
ENCODINGS = {"utf-8": "utf-8", "cp932": "cp932", "shift_jis": "cp932", "sjis": "cp932"}
CHUNK = 2000
# The unencodable values an error lists (all are counted).
UNENCODABLE_LISTED = 20
# A value of ASCII alone encodes in every codec the export offers: only the others are read and tried.
NOT_ASCII = r"[^\x01-\x7f]"
# A replica missing more audited changes than this is not searched for the holder's: the export reads the primary.
REPLICA_MISSING_EVENTS_CHECKED = 5000

logger = logging.getLogger(__name__)


def claims_export_holder(*, user, code: str | None) -> Holder:
    """The holder whose registry `user` exports: `code`, else the user's own. Any of the holders the user sees (its
    own, its principals'; operators: any); another holder is a 404, like one that does not exist."""
    code = code or default_holder_code(user)
    if not code:
        raise ValidationFailed("Name the holder to export.", errors=[
            field_error("holder", "missing-value", "You belong to no holder; name one.")])
    holder = Holder.objects.filter(code=code).first()
    visible = holder_ids_visible_to(user)
    if holder is None or (visible is not None and holder.id not in visible):
        raise NotFound(f"No holder '{code}'.")
    return holder


def claims_export_encoding(value: str | None) -> str:
    """`utf-8` (default) or `cp932` (also `shift_jis`, `sjis`); anything else is a 400."""
    value = (value or "utf-8").strip().lower()
    if value not in ENCODINGS:
        raise ValidationFailed("The export is in utf-8 or cp932.", errors=[
            field_error("encoding", "invalid", "utf-8 or cp932.")])
    return ENCODINGS[value]


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def _not_ended(at) -> Q:
    return Q(superseded_at__isnull=True, revoked_at__isnull=True) & (
        Q(effective_until__isnull=True) | Q(effective_until__gt=at))


_DECLARATION_FIELDS = ("purpose", "jurisdiction", "consent", "scope", "effective_from", "effective_until",
                       "license_url", "conditions")


def _declaration_cells(row: tuple) -> list[str]:
    purpose, jurisdiction, consent, scope, effective_from, effective_until, license_url, conditions = row
    return [purpose, jurisdiction, consent, scope, _when(effective_from), _when(effective_until), license_url,
            conditions]


def _head_seq(alias: str) -> int:
    return AuditHead.objects.using(alias).values_list("seq", flat=True).first() or 0


def claims_export_touched_by(*, holder: Holder, events: list[tuple[str, str]]) -> bool:
    """Whether any of these audited changes (object type, object id) can change `holder`'s export. Only changes
    to another holder's works, identifiers and declarations are known not to; any other change (an object that
    cannot be found, a kind of event the export does not know) counts as the holder's. At most three queries."""
    ids: dict[str, set[uuid.UUID]] = {"work": set(), "identifier": set(), "declaration": set()}
    for object_type, object_id in events:
        if object_type not in ids:
            return True
        try:
            ids[object_type].add(uuid.UUID(object_id))
        except ValueError:
            return True
    # Whose each object is: a work's holder; an identifier's work's holder; a declaration's filer and its work's
    # holder (a work-scope row on the holder's work is exported whoever filed it).
    owners = {"work": (Work, ("holder_id",)), "identifier": (Identifier, ("work__holder_id",)),
              "declaration": (Declaration, ("holder_id", "work__holder_id"))}
    for object_type, wanted in ids.items():
        if not wanted:
            continue
        model, fields = owners[object_type]
        found = list(model.objects.using(PRIMARY).filter(id__in=wanted).values_list("id", *fields))
        if len(found) < len(wanted) or any(holder.pk in row[1:] for row in found):
            return True
    return False


def claims_export_read_alias(*, holder: Holder) -> str:
    """The database `holder`'s export reads: a read replica within KYODAKU_REPLICA_MAX_LAG (its lag measured now)
    that has replayed every audited change to the holder's registry the primary had committed when asked, else
    the primary. Read-your-writes without a time bound: every write the export reads (works, identifiers,
    declarations) is audited in its own transaction, and the audit chain's head orders them (one writer at a
    time, under the head's lock), so a replica whose head is at the primary's has all of them, and one behind is
    missing exactly the events after its head, which are looked up on the primary. Nothing configured: the
    primary, without a query."""
    alias = choose_replica(fresh=True)
    if alias is None:
        return PRIMARY
    primary_head = _head_seq(PRIMARY)  # first: what the primary had committed when the export began
    replica_head = _head_seq(alias)
    if replica_head >= primary_head:
        return alias
    missing = list(AuditEvent.objects.using(PRIMARY).filter(seq__gt=replica_head, seq__lte=primary_head)
                   .order_by("seq").values_list("object_type", "object_id")[:REPLICA_MISSING_EVENTS_CHECKED + 1])
    if len(missing) > REPLICA_MISSING_EVENTS_CHECKED or claims_export_touched_by(holder=holder, events=missing):
        logger.info("export of %s: %s lacks the holder's latest changes (audit head %s < %s)", holder.code, alias,
                    replica_head, primary_head)
        return PRIMARY
    return alias


def claims_export_rows(*, holder: Holder, chunk: int = CHUNK, at: datetime | None = None,
                       using: str = PRIMARY) -> Iterator[list[str]]:
    """The header, then the holder's rows (see the module's docstring), read from the database `using`. Tuples,
    not model instances: a page of 2,000 works costs three plain queries and no ORM objects."""
    at = at or timezone.now()
    yield list(EXPORT_COLUMNS)
    works = Work.objects.using(using).filter(holder=holder).order_by("id").values_list(
        "id", "work_ref", "title", "original_title", "kind")
    last = None
    while True:
        page = list((works if last is None else works.filter(id__gt=last))[:chunk])
        if not page:
            break
        last = page[-1][0]
        ids = [row[0] for row in page]
        identifiers = defaultdict(list)
        for work_id, scheme, value in (Identifier.objects.using(using).filter(work_id__in=ids, valid_until__isnull=True)
                                       .order_by("work_id", "scheme", "value")
                                       .values_list("work_id", "scheme", "value")):
            identifiers[work_id].append(f"{scheme}:{value}")
        declarations = defaultdict(list)
        for work_id, *fields in (Declaration.objects.using(using).filter(_not_ended(at), work_id__in=ids, scope="work")
                                 .order_by("work_id", "purpose", "jurisdiction")
                                 .values_list("work_id", *_DECLARATION_FIELDS)):
            declarations[work_id].append(fields)
        for work_id, work_ref, title, original_title, kind in page:
            cells = [holder.code, work_ref, title, original_title, kind, ";".join(identifiers.get(work_id, ()))]
            filed = declarations.get(work_id)
            if not filed:
                yield cells + ["", "", "", "work", "", "", "", ""]
            for fields in filed or ():
                yield cells + _declaration_cells(fields)
    for fields in (Declaration.objects.using(using).filter(_not_ended(at), holder=holder, scope="catalogue")
                   .order_by("purpose", "jurisdiction").values_list(*_DECLARATION_FIELDS).iterator(chunk_size=chunk)):
        yield [holder.code, "", "", "", "", ""] + _declaration_cells(fields)


class ExportUnencodable(ValidationFailed):
    """A CP932 export of values CP932 cannot write: `count` of them, the first UNENCODABLE_LISTED in `errors`."""

    code = "unencodable"

    def __init__(self, *, codec: str, count: int, errors: list[dict]):
        first = errors[0]
        super().__init__(
            f"The export cannot be written in {codec}: {count} value(s) hold characters {codec} lacks (the first: "
            f"{first['row']}, column {first['field']}, {first['character']}). Export in utf-8, which holds every "
            "character, or change these values.", errors=errors)
        self.codec, self.count = codec, count


def _unencodable(codec: str, row: str, column: str, value: str) -> dict | None:
    try:
        value.encode(codec)
    except UnicodeEncodeError as exc:
        char = value[exc.start]
        return {**field_error(column, "unencodable", f"{row}: {column} holds {char!r} (U+{ord(char):04X}), which "
                              f"{codec} cannot encode."), "row": row, "character": f"{char} (U+{ord(char):04X})"}
    return None


def claims_export_unencodable(*, holder: Holder, codec: str, at: datetime | None = None,
                              using: str = PRIMARY) -> tuple[int, list[dict]]:
    """(how many, the first UNENCODABLE_LISTED) of the values of `holder`'s export that `codec` cannot encode, each
    as a field error naming its row (the work's catalogue number, or `catalogue <purpose> <jurisdiction>`), its
    column and the first character it lacks. Reads only the text columns, and of them only values that are not
    plain ASCII (filtered by the database): three queries whatever the registry's size."""
    at = at or timezone.now()
    found: list[dict] = []
    count = 0

    def check(row: str, column: str, value: str) -> None:
        nonlocal count
        problem = _unencodable(codec, row, column, value) if value else None
        if problem is not None:
            count += 1
            if len(found) < UNENCODABLE_LISTED:
                found.append(problem)

    check(holder.code, "holder", holder.code)
    text = ("work_ref", "title", "original_title")
    works = (Work.objects.using(using).filter(holder=holder)
             .filter(Q(work_ref__regex=NOT_ASCII) | Q(title__regex=NOT_ASCII) | Q(original_title__regex=NOT_ASCII))
             .order_by("id").values_list(*text))
    for values in works.iterator(chunk_size=CHUNK):
        for column, value in zip(text, values, strict=True):
            check(values[0], column, value)
    for work_ref, scheme, value in (Identifier.objects.using(using)
                                    .filter(work__holder=holder, valid_until__isnull=True, value__regex=NOT_ASCII)
                                    .order_by("work_id", "scheme", "value")
                                    .values_list("work__work_ref", "scheme", "value").iterator(chunk_size=CHUNK)):
        check(work_ref, "identifiers", f"{scheme}:{value}")
    declarations = (Declaration.objects.using(using)
                    .filter(_not_ended(at), Q(scope="work", work__holder=holder) | Q(scope="catalogue", holder=holder))
                    .filter(Q(license_url__regex=NOT_ASCII) | Q(conditions__regex=NOT_ASCII))
                    .order_by("scope", "work_id", "purpose", "jurisdiction")
                    .values_list("work__work_ref", "purpose", "jurisdiction", "license_url", "conditions"))
    for work_ref, purpose, jurisdiction, license_url, conditions in declarations.iterator(chunk_size=CHUNK):
        row = work_ref or f"catalogue {purpose} {jurisdiction}"
        check(row, "license_url", license_url)
        check(row, "conditions", conditions)
    return count, found


class _Line:
    def write(self, text):
        return text


def claims_export_stream(*, holder: Holder, encoding: str = "utf-8", chunk: int = CHUNK) -> Iterator[bytes]:
    """The export as encoded bytes, a few hundred rows per piece: UTF-8 with a byte-order mark (what spreadsheet
    programs need to read it as UTF-8), or CP932. Called before the response starts: it chooses the database, and
    for CP932 raises ExportUnencodable (a 400) when a value holds a character CP932 lacks, so that nothing is
    written as `?`; every page is then read from that database (`using`, not a context variable: a streamed
    response's pieces may be produced outside the view's context). A value changed between the check and its page
    to one CP932 lacks ends the stream with an error rather than a `?`."""
    codec = ENCODINGS[encoding]
    using = claims_export_read_alias(holder=holder)
    logger.info("export of %s read from %s", holder.code, using)
    at = timezone.now()
    if codec != "utf-8":
        count, problems = claims_export_unencodable(holder=holder, codec=codec, at=at, using=using)
        if count:
            raise ExportUnencodable(codec=codec, count=count, errors=problems)
    return _encoded(holder=holder, codec=codec, chunk=chunk, at=at, using=using)


def _encoded(*, holder: Holder, codec: str, chunk: int, at: datetime, using: str) -> Iterator[bytes]:
    writer = csv.writer(_Line(), lineterminator="\r\n")
    buffer: list[str] = ["\ufeff"] if codec == "utf-8" else []
    for row in claims_export_rows(holder=holder, chunk=chunk, at=at, using=using):
        buffer.append(writer.writerow(row))
        if len(buffer) >= 500:
            yield "".join(buffer).encode(codec)
            buffer = []
    if buffer:
        yield "".join(buffer).encode(codec)


def claims_export_filename(holder: Holder, encoding: str) -> str:
    return f"{holder.code}-claims-{timezone.now().date().isoformat()}{'-cp932' if encoding != 'utf-8' else ''}.csv"
