"""How registry rows are written into the audit log, and which of them `verify_audit` checks."""
from audit import snapshots
from audit.snapshots import iso


def holder_snapshot(h) -> dict:
    return {"code": h.code, "name": h.name, "kind": h.kind, "country": h.country,
            "licensing_url": h.licensing_url, "verified": h.verified}


def work_snapshot(w) -> dict:
    return {"holder": str(w.holder_id), "work_ref": w.work_ref, "title": w.title,
            "original_title": w.original_title, "kind": w.kind,
            "filed_by_agent": str(w.filed_by_agent_id) if w.filed_by_agent_id else None}


def identifier_snapshot(i) -> dict:
    return {"work": str(i.work_id), "scheme": i.scheme, "value": i.value,
            "valid_from": iso(i.valid_from), "valid_until": iso(i.valid_until)}


def mandate_snapshot(m) -> dict:
    return {"agent": str(m.agent_id), "principal": str(m.principal_id),
            "valid_from": iso(m.valid_from), "valid_until": iso(m.valid_until)}


def dispute_snapshot(d) -> dict:
    return {"scheme": d.scheme, "value": d.value, "work": str(d.work_id), "holder": str(d.holder_id),
            "claimant": str(d.claimant_id), "claimant_work": str(d.claimant_work_id) if d.claimant_work_id else None,
            "opened_at": iso(d.opened_at), "resolved_at": iso(d.resolved_at), "resolution": d.resolution}


def register() -> None:
    from .models import Dispute, Holder, Identifier, Mandate, Work

    snapshots.register("holder", snapshot=holder_snapshot, current_rows=lambda: Holder.objects.all())
    # A bulk import bundles a work's changes with those of its identifiers (audit.bundles): an identifier belongs
    # to one work for life (moving it ends the row and adds another).
    snapshots.register("work", snapshot=work_snapshot, current_rows=lambda: Work.objects.all(),
                       bundled_by="work", bundle_key=lambda work_id, snapshot: work_id)
    snapshots.register("identifier", snapshot=identifier_snapshot,
                       current_rows=lambda: Identifier.objects.filter(valid_until__isnull=True),
                       bundled_by="work", bundle_key=lambda identifier_id, snapshot: snapshot.get("work"))
    snapshots.register("mandate", snapshot=mandate_snapshot, current_rows=lambda: Mandate.objects.all())
    snapshots.register("dispute", snapshot=dispute_snapshot, current_rows=lambda: Dispute.objects.all())
