"""Deciding for ids (domain.md "Deciding", api.md "One result"): the entry points of the lookup path.

- `lookup_many`: a batch; a fixed number of queries whatever its size (batch.py).
- `lookup_one`: one id; ONE prepared statement on PostgreSQL (one_id.py), the batch path elsewhere.
- `work_decisions`: every (purpose, jurisdiction) pair for one work, for the admin (one_work.py).

The modules beside this one each hold one job: sql.py (the statements), rows.py (reading rows fast), request.py
(as_of and the rule that applies), results.py (the result shape and the engine call); the rule book is
consent/rulebook.py, the garbage-collector policy core/gc_policy.py. docs/architecture.md walks the path.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.gc_policy import paused_for_batch

from ..usage import lookups_count
from ..vocabulary import validate_jurisdiction, validate_purpose
from .batch import decide_many
from .one_id import decide_one
from .one_work import work_decisions
from .request import as_of_or_now
from .results import iso_z
from .rows import on_postgresql

__all__ = ["lookup_many", "lookup_one", "work_decisions", "iso_z"]


def lookup_many(*, ids: Sequence[str], purpose: str, jurisdiction: str, as_of: datetime | None = None,
                organisation_id=None) -> list[dict]:
    """Decide `purpose` in `jurisdiction` at `as_of` for every id: one api.md result per id, in input order.

    `organisation_id`: the asking organisation (its API key's), whose licences then decide before public
    declarations (basis `licensed`); None for a public answer (snapshots, signals), which never reads a licence.
    Answers given to an organisation are counted for the holders' statistics (consent.usage, one Redis round trip).

    Unknown purpose or jurisdiction raise (vocabulary.UnknownPurpose / UnknownJurisdiction: the whole request is
    bad); a bad id becomes that entry's `error`. Results of the same work share their nested `work`, `holder` and
    `declaration` dicts: treat them as read-only.
    """
    ids = ids if isinstance(ids, list | tuple) else list(ids)  # read twice: parsing, then answering
    if len(ids) == 1 and on_postgresql():  # a GET, or a batch of one: the one-statement path
        results = [lookup_one(id=ids[0], purpose=purpose, jurisdiction=jurisdiction, as_of=as_of,
                              organisation_id=organisation_id)]
    else:
        with paused_for_batch():
            results = decide_many(ids=ids, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of,
                                  organisation_id=organisation_id)
    if organisation_id is not None:  # an AI developer's key asked (single, batch, Spawning): the holders' statistics
        lookups_count(results, organisation_id=organisation_id)
    return results


def lookup_one(*, id: str, purpose: str, jurisdiction: str, as_of: datetime | None = None,
               organisation_id=None) -> dict:
    """One api.md result for one id (an invalid id gives the `error` entry, as in a batch).

    On PostgreSQL one statement (one_id.py); elsewhere the batch path with one id.
    """
    if not on_postgresql():
        return lookup_many(ids=[id], purpose=purpose, jurisdiction=jurisdiction, as_of=as_of,
                           organisation_id=organisation_id)[0]
    return decide_one(raw=id, purpose=validate_purpose(purpose), jurisdiction=validate_jurisdiction(jurisdiction),
                      at=as_of_or_now(as_of), organisation_id=organisation_id)
