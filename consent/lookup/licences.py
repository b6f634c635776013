"""The asking organisation's licences on the lookup path (domain.md "Licences and permission requests").

One query per batch, only when the request was made for an organisation and matched works: the organisation's
licences in force at T for the works and their holders' catalogues. A single id reads the same rows inside its one
statement (lookup/sql.py, ONE_ID_LICENSED_STATEMENTS), so a licensee's single lookup is one round trip as a
public one is. Nothing here is ever read for a public answer (no organisation), so public answers, snapshots and
feeds cannot depend on a licence.
"""
from __future__ import annotations

import json
from datetime import datetime

from django.db.models import Q

from ..engine import LicenceFact
from ..models import Licence, Scope
from .rows import queryset_rows

__all__ = ["licences_in_force", "licence_facts"]

def licences_in_force(*, organisation_id, work_ids, holder_ids, at: datetime) -> tuple[dict, dict]:
    """({work_id: [LicenceFact]}, {holder_id: [LicenceFact]}) of `organisation_id`'s licences in force at `at`.
    No organisation or no works: no query."""
    if organisation_id is None or not work_ids:
        return {}, {}
    rows = queryset_rows(
        Licence.objects.filter(Q(scope=Scope.WORK, work_id__in=list(work_ids))
                               | Q(scope=Scope.CATALOGUE, holder_id__in=list(holder_ids)),
                               licensee_id=organisation_id)
        .in_force_at(at).order_by()
        .values_list("id", "scope", "work_id", "holder_id", "purposes", "jurisdictions", "license_url",
                     "recorded_at", "superseded_at", "revoked_at", "effective_from", "effective_until"))
    return licence_facts(rows)


def licence_facts(rows) -> tuple[dict, dict]:
    """({work_id: [LicenceFact]}, {holder_id: [LicenceFact]}) from licence rows as the two queries read them."""
    by_work: dict = {}
    by_holder: dict = {}
    for (pk, scope, work_id, holder_id, purposes, jurisdictions, license_url, recorded_at, superseded_at,
         revoked_at, effective_from, effective_until) in rows:
        if isinstance(purposes, str):  # jsonb read raw on PostgreSQL (Django leaves decoding to the field)
            purposes, jurisdictions = json.loads(purposes), json.loads(jurisdictions)
        ends = [t for t in (superseded_at, revoked_at) if t is not None]
        fact = LicenceFact(pk, scope, tuple(purposes), tuple(jurisdictions), license_url or None, recorded_at,
                           min(ends) if ends else None, effective_from, effective_until)
        if scope == Scope.WORK:
            by_work.setdefault(str(work_id), []).append(fact)
        else:
            by_holder.setdefault(str(holder_id), []).append(fact)
    return by_work, by_holder

