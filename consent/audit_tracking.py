"""How consent rows are written into the audit log, and which of them `verify_audit` checks."""
from audit import snapshots
from audit.snapshots import iso


def declaration_snapshot(d) -> dict:
    return {"holder": str(d.holder_id), "scope": d.scope, "work": str(d.work_id) if d.work_id else None,
            "purpose": d.purpose, "jurisdiction": d.jurisdiction, "consent": d.consent,
            "license_url": d.license_url, "conditions": d.conditions,
            "effective_from": iso(d.effective_from), "effective_until": iso(d.effective_until),
            "recorded_at": iso(d.recorded_at),
            "filed_by_agent": str(d.filed_by_agent_id) if d.filed_by_agent_id else None,
            "superseded_at": iso(d.superseded_at),
            "superseded_by": str(d.superseded_by_id) if d.superseded_by_id else None,
            "revoked_at": iso(d.revoked_at)}


def rule_snapshot(r) -> dict:
    return {"jurisdiction": r.jurisdiction_id, "purpose": r.purpose, "regime": r.regime, "basis": r.basis,
            "valid_from": iso(r.valid_from), "valid_until": iso(r.valid_until)}


def licence_snapshot(x) -> dict:
    """A licence as its audit events record it: private content (committed to with a salt; the public feed shows
    only `licence.file` / `.supersede` / `.revoke` and the licence's id, never whom it names)."""
    return {"holder": str(x.holder_id), "licensee": str(x.licensee_id), "scope": x.scope,
            "work": str(x.work_id) if x.work_id else None, "purposes": list(x.purposes),
            "jurisdictions": list(x.jurisdictions), "license_url": x.license_url, "conditions": x.conditions,
            "effective_from": iso(x.effective_from), "effective_until": iso(x.effective_until),
            "recorded_at": iso(x.recorded_at), "superseded_at": iso(x.superseded_at),
            "superseded_by": str(x.superseded_by_id) if x.superseded_by_id else None,
            "revoked_at": iso(x.revoked_at)}


def register() -> None:
    from .models import Declaration, Licence, PermissionRequest, Rule
    from .request_services import request_snapshot

    # A work-scope declaration's changes go into its work's bundle in a bulk import (audit.bundles); a
    # catalogue-wide one belongs to no work and keeps events of its own.
    snapshots.register("declaration", snapshot=declaration_snapshot, current_rows=lambda: Declaration.objects.all(),
                       bundled_by="work", bundle_key=lambda declaration_id, snapshot: snapshot.get("work"))
    snapshots.register("licence", snapshot=licence_snapshot, current_rows=lambda: Licence.objects.all())
    snapshots.register("rule", snapshot=rule_snapshot, current_rows=lambda: Rule.objects.all())
    snapshots.register("permission_request", snapshot=request_snapshot,
                       current_rows=lambda: PermissionRequest.objects.all(),
                       rows=lambda: PermissionRequest.objects.select_related("holder").prefetch_related(
                           "works", "licences"))
