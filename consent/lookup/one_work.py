"""Every (purpose, jurisdiction) answer for one work at once: the admin's work page."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.errors import NotFound
from registry.models import Work
from registry.selectors import work_open_disputes

from ..rulebook import rulebook
from ..vocabulary import purpose_chain, validate_jurisdiction, validate_purpose
from .batch import WORK_FIELDS, declarations_in_force
from .request import as_of_or_now, rule_or_error
from .results import Decider, facts_by_work_and_holder
from .rows import queryset_rows

__all__ = ["work_decisions"]


def work_decisions(*, work: Work, purposes: Sequence[str], jurisdictions: Sequence[str],
                   as_of: datetime | None = None) -> dict[tuple[str, str], dict]:
    """The answer for every (purpose, jurisdiction) pair for one work, as of `as_of`.

    Four queries whatever the number of pairs. A work registered after `as_of` answers as unregistered then.
    """
    purposes = [validate_purpose(p) for p in purposes]
    jurisdictions = [validate_jurisdiction(j) for j in jurisdictions]
    at = as_of_or_now(as_of)
    book = rulebook()
    for purpose in purposes:
        for jurisdiction in jurisdictions:
            rule_or_error(book, jurisdiction, purpose, at)
    rows = queryset_rows(Work.objects.filter(pk=work.pk).order_by().values_list("id", "created_at", *WORK_FIELDS))
    if not rows:
        raise NotFound("No such work.")
    work_id, created_at, *work_row = rows[0]
    identifier = f"ref:{work_row[4]}/{work_row[2]}"
    works = {work_id: work_row} if created_at <= at else {}
    all_purposes = sorted({a for p in purposes for a in purpose_chain(p)})
    all_jurisdictions = sorted({c for j in jurisdictions for c in book.jurisdiction_chain(j)})
    work_ids = list(works)
    rows = declarations_in_force(work_ids=work_ids, holder_ids=[row[3] for row in works.values()],
                                 purposes=all_purposes, jurisdictions=all_jurisdictions, at=at)
    by_work, by_holder = facts_by_work_and_holder(rows)
    disputed = work_open_disputes(work_ids=work_ids, at=at)
    answers = {}
    for purpose in purposes:
        for jurisdiction in jurisdictions:
            decider = Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works,
                              by_work=by_work, by_holder=by_holder, disputed=disputed)
            answers[(purpose, jurisdiction)] = decider.answer(work_id if works else None, identifier, identifier)
    return answers
