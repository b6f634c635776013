"""The api.md result of a lookup ("One result"): one definition of its shape, built from the engine's answer.

A result is a plain dict (the batch path builds tens of thousands per call; dicts are what the JSON renderer writes
fastest). `RESULT_KEYS` is its key order; the API's OpenAPI serializer (api/serializers.py) documents the same keys,
and tests/consent/test_lookup_results.py pins both to this one list.
"""
from __future__ import annotations

from datetime import UTC, datetime

from ..engine import DeclarationFact, RuleBook, decide
from ..models import Scope

__all__ = ["RESULT_KEYS", "iso_z", "licence_json", "facts_by_work_and_holder", "Decider"]

RESULT_KEYS = ("id", "identifier", "registered", "work", "holder", "verified", "purpose", "jurisdiction", "as_of",
               "outcome", "basis", "regime", "declaration", "licence",
               "license_url", "disputed", "unverified_grant_ignored")


def iso_z(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as api.md writes times."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def licence_json(fact) -> dict:
    """The api.md `licence` of a licensed answer (only ever in the licensee's own answers)."""
    return {"id": str(fact.id), "scope": fact.scope, "purposes": list(fact.purposes),
            "jurisdictions": list(fact.jurisdictions), "effective_from": iso_z(fact.effective_from),
            "effective_until": iso_z(fact.effective_until), "license_url": fact.license_url}


def facts_by_work_and_holder(rows) -> tuple[dict, dict]:
    """Declaration rows (sql.DECLARATIONS_SQL's columns) as engine facts: ({work_id: [fact]}, {holder_id: [fact]}).
    A declaration ends at the earlier of its supersession and its revocation."""
    by_work: dict = {}
    by_holder: dict = {}
    for (pk, scope, work_id, holder_id, purpose, jurisdiction, consent, license_url, recorded_at, superseded_at,
         revoked_at, effective_from, effective_until, conditions) in rows:
        if superseded_at is None:
            ended = revoked_at
        elif revoked_at is None or superseded_at < revoked_at:
            ended = superseded_at
        else:
            ended = revoked_at
        fact = DeclarationFact(pk, scope, purpose, jurisdiction, consent, license_url or None, recorded_at, ended,
                               effective_from, effective_until, conditions or None)
        if scope == Scope.WORK:
            by_work.setdefault(work_id, []).append(fact)
        else:
            by_holder.setdefault(holder_id, []).append(fact)
    return by_work, by_holder


def _declaration_json(fact: DeclarationFact, iso: dict) -> dict:
    """The api.md `declaration` of a result, with its own terms (`license_url`, `conditions`: a grant's conditions
    must reach the developer); `iso` caches the text of times, which declarations often share."""
    start, end = fact.effective_from, fact.effective_until
    start_text = iso.get(start)
    if start_text is None:
        start_text = iso[start] = iso_z(start)
    end_text = None
    if end is not None:
        end_text = iso.get(end)
        if end_text is None:
            end_text = iso[end] = iso_z(end)
    return {
        "id": fact.id, "scope": fact.scope, "purpose": fact.purpose, "jurisdiction": fact.jurisdiction,
        "consent": fact.consent, "effective_from": start_text, "effective_until": end_text,
        "license_url": fact.license_url, "conditions": fact.conditions,
    }


class Decider:
    """Decides works for one (purpose, jurisdiction, as_of) and builds each one's result template once.

    `works` is {work_id: (title, kind, work_ref, holder_id, code, name, licensing_url)}; `by_work` / `by_holder`
    come from facts_by_work_and_holder; `disputed` is the set of work ids with a dispute open at `at`;
    `licences` is the asking organisation's ({work_id: [LicenceFact]}, {holder_id: [LicenceFact]}) from
    licences.licences_in_force, empty for a public answer. A template
    has `id` and `identifier` None: the caller copies it and fills them per id.
    """

    def __init__(self, *, purpose: str, jurisdiction: str, at: datetime, book: RuleBook, works: dict,
                 by_work: dict, by_holder: dict, disputed: set, licences: tuple[dict, dict] = ({}, {})):
        self.purpose, self.jurisdiction, self.at, self.book = purpose, jurisdiction, at, book
        self.licences_by_work, self.licences_by_holder = licences
        self.works, self.by_work, self.by_holder, self.disputed = works, by_work, by_holder, disputed
        self.as_of_text = iso_z(at)
        self._templates: dict = {}
        self._declaration_json: dict = {}
        self._iso: dict = {}
        self._unregistered: dict | None = None

    def unregistered(self) -> dict:
        if self._unregistered is None:
            answer = decide(purpose=self.purpose, jurisdiction=self.jurisdiction, as_of=self.at, rules=self.book,
                            registered=False)
            self._unregistered = {
                "id": None, "identifier": None, "registered": False, "work": None, "holder": None,
                "verified": None, "purpose": self.purpose, "jurisdiction": self.jurisdiction, "as_of": self.as_of_text,
                "outcome": answer.outcome, "basis": answer.basis, "regime": answer.regime, "declaration": None,
                "licence": None, "license_url": answer.license_url, "disputed": False,
                "unverified_grant_ignored": False,
            }
        return self._unregistered

    def template(self, work_id, verified: bool | None = None) -> dict:
        """`verified`: None when the work was not matched through a web identifier (grants count); else whether
        its holder had verified control of the matched host at T (grants count only if so, interop.md)."""
        key = (work_id, verified)
        template = self._templates.get(key)
        if template is not None:
            return template
        title, kind, work_ref, holder_id, code, name, licensing_url = self.works[work_id]
        work_decls = self.by_work.get(work_id)
        holder_decls = self.by_holder.get(holder_id)
        if work_decls and holder_decls:
            declarations = work_decls + holder_decls
        else:
            declarations = work_decls or holder_decls or ()
        disputed = work_id in self.disputed
        licences = ()
        if self.licences_by_work or self.licences_by_holder:
            licences = self.licences_by_work.get(work_id, []) + self.licences_by_holder.get(holder_id, [])
        answer = decide(purpose=self.purpose, jurisdiction=self.jurisdiction, as_of=self.at, rules=self.book,
                        registered=True, disputed=disputed, declarations=declarations,
                        holder_license_url=licensing_url or None, grants_count=verified is not False,
                        licences=licences)
        fact = answer.declaration
        if fact is None:
            declaration = None
        else:
            declaration = self._declaration_json.get(fact.id)
            if declaration is None:
                declaration = self._declaration_json[fact.id] = _declaration_json(fact, self._iso)
        template = self._templates[key] = {
            "id": None, "identifier": None, "registered": True,
            "work": {"id": work_id, "title": title, "kind": kind, "work_ref": work_ref},
            "holder": {"id": holder_id, "code": code, "name": name}, "verified": verified,
            "purpose": self.purpose, "jurisdiction": self.jurisdiction, "as_of": self.as_of_text,
            "outcome": answer.outcome, "basis": answer.basis, "regime": answer.regime, "declaration": declaration,
            "licence": None if answer.licence is None else licence_json(answer.licence),
            "license_url": answer.license_url, "disputed": disputed,
            "unverified_grant_ignored": answer.grant_ignored,
        }
        return template

    def answer(self, work_id, raw: str, identifier: str, verified: bool | None = None) -> dict:
        """The result for one id: `work_id` None when it matched no work."""
        result = (self.unregistered() if work_id is None else self.template(work_id, verified)).copy()
        result["id"] = raw
        result["identifier"] = identifier
        return result
