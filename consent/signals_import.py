"""Filing from signals a holder already publishes (interop.md, "Signals in"): plan from `consent.signals_in`'s lines,
preview (dry run) or file through the ordinary services (work_register, declaration_file: audit events, disputes,
supersession). Filing the same file twice files nothing new."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed, field_error
from domains.selectors import domain_verified_at
from registry.identifiers import InvalidIdentifier, parse_identifier
from registry.models import Identifier, Work
from registry.services import work_register

from .services import declaration_file
from .signals_in import KINDS, SignalRefused, signals_parse
from .vocabulary import AIPREF_LATEST, UnknownVocabulary, validate_jurisdiction

WEB_KINDS = ("robots.txt", "ai.txt", "tdmrep.json")


def _identifier(domain: str, path: str | None) -> str:
    if path is None:
        return f"domain:{domain}"
    if path.endswith("$"):
        return str(parse_identifier(f"url:https://{domain}{path[:-1]}"))
    return str(parse_identifier(f"url-prefix:https://{domain}{path}"))


def _targets(*, holder, domain: str, paths: set) -> dict:
    """path -> (identifier, the holder's work holding it or None, why it cannot be used or None). One query."""
    wanted, targets = {}, {}
    for path in paths:
        try:
            wanted[path] = _identifier(domain, path)
        except InvalidIdentifier as exc:
            targets[path] = (f"{domain}{path}", None, f"path {path!r} is not a valid URL: {exc}")
    pairs = {tuple(i.split(":", 1)) for i in wanted.values()}
    rows = Identifier.objects.filter(valid_until__isnull=True, scheme__in={s for s, _ in pairs},
                                     value__in={v for _, v in pairs}).select_related("work")
    found = {f"{row.scheme}:{row.value}": row.work for row in rows}
    for path, identifier in wanted.items():
        work = found.get(identifier)
        if work is not None and work.holder_id != holder.pk:
            targets[path] = (identifier, None, f"{identifier} is registered to another holder")
        else:
            targets[path] = (identifier, work, None)
    return targets


def _in_force(works) -> set:
    """(work id, purpose, jurisdiction, consent, license_url) of the work-scope declarations in force now."""
    from .models import Declaration

    now = timezone.now()
    rows = Declaration.objects.in_force_at(now).filter(work__in=[w for w in works if w is not None], scope="work")
    return {(r.work_id, r.purpose, r.jurisdiction, r.consent, r.license_url or "") for r in rows}


def _check_inputs(*, holder, kind: str, domain: str | None, work: Work | None, jurisdiction: str, vocabulary_key):
    if kind not in KINDS:
        detail = f"Unknown kind {kind!r}; expected one of: {', '.join(KINDS)}."
        raise ValidationFailed(detail, errors=[field_error("kind", "unknown-kind", detail)])
    try:
        jurisdiction = validate_jurisdiction(jurisdiction)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[field_error("jurisdiction", "unknown-jurisdiction", str(exc))]) \
            from None
    if kind in WEB_KINDS:
        if not domain or not domain_verified_at(holder_id=holder.pk, host=domain, at=timezone.now()):
            raise Conflict(f"{holder.code} has not verified control of {domain!r}: verify the domain first.",
                           code="domain-not-verified")
    elif work is None or work.holder_id != holder.pk:
        raise ValidationFailed("A CAWG assertion is imported for one of the holder's works.",
                               errors=[field_error("work", "required", "The work's id.")])
    return jurisdiction


def signals_import(*, holder, kind: str, content: bytes | str, domain: str | None = None, work: Work | None = None,
                   jurisdiction: str = "*", vocabulary_key: str = AIPREF_LATEST, dry_run: bool = True,
                   actor=None, agent=None, at: datetime | None = None) -> dict:
    """Each line's fate and the declarations it files (or would, with dry_run); counts of what was filed."""
    jurisdiction = _check_inputs(holder=holder, kind=kind, domain=domain, work=work, jurisdiction=jurisdiction,
                                 vocabulary_key=vocabulary_key)
    try:
        lines = signals_parse(kind=kind, content=content, vocabulary_key=vocabulary_key)
    except (SignalRefused, UnknownVocabulary) as exc:
        field = "vocabulary" if isinstance(exc, UnknownVocabulary) else "content"
        raise ValidationFailed(str(exc), errors=[field_error(field, exc.code, str(exc))], code=exc.code) from None
    paths = {s.path for line in lines for s in line.statements}
    targets = ({None: (f"work:{work.work_ref}", work, None)} if kind == "cawg"
               else _targets(holder=holder, domain=domain, paths=paths))
    in_force = _in_force(t[1] for t in targets.values())
    created = {"declarations": 0, "works": 0}
    report = []
    with transaction.atomic():
        for line in lines:
            entry = {"line": line.number, "text": line.text, "ignored": list(line.ignored), "declarations": []}
            for statement in line.statements:
                identifier, target, refused = targets[statement.path]
                if refused:
                    entry["ignored"].append(refused)
                    continue
                planned = {**asdict(statement), "identifier": identifier, "jurisdiction": jurisdiction}
                key = (target.pk if target else None, statement.purpose, jurisdiction, statement.consent,
                       statement.license_url)
                planned["fate"] = "unchanged" if key in in_force else "new"
                if not dry_run and planned["fate"] == "new":
                    if target is None:
                        target = work_register(holder=holder, work_ref=f"site:{identifier.split(':', 1)[1]}"[:200],
                                               title=identifier.split(":", 1)[1], kind="website",
                                               identifiers=[identifier], actor=actor, agent=agent,
                                               at=at).work
                        targets[statement.path] = (identifier, target, None)
                        created["works"] += 1
                    _declaration, made = declaration_file(
                        holder=holder, scope="work", work=target, purpose=statement.purpose,
                        jurisdiction=jurisdiction, consent=statement.consent, license_url=statement.license_url,
                        actor=actor, agent=agent, at=at)
                    created["declarations"] += int(made)
                    in_force.add((target.pk, *key[1:]))
                entry["declarations"].append(planned)
            report.append(entry)
        if dry_run:
            transaction.set_rollback(True)
    return {"dry_run": dry_run, "kind": kind, "domain": domain, "jurisdiction": jurisdiction,
            "vocabulary": vocabulary_key, "works_created": created["works"],
            "declarations_created": created["declarations"], "lines": report}
