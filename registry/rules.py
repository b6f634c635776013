"""The registry's filing rules as pure functions (no database): what filing a work and claiming an identifier do.

`registry.services` (one work at a time, for the admin and the API) and `claims.merging` (thousands of CSV rows,
planned set-based) both call these, so a rule is written once. Arguments are plain values or any object with the
named attributes (a model instance, or a row the bulk path read with `values()`).
"""
from __future__ import annotations

from enum import Enum

# Longest text a work keeps per field (the model's column sizes).
WORK_TEXT_LIMITS = {"work_ref": 200, "title": 1000, "original_title": 1000}
WORK_TEXT_FIELDS = ("title", "kind", "original_title")


def work_text_too_long(values: dict) -> list[tuple[str, int]]:
    """(field, limit) for every text of `values` (work_ref, title, original_title) over its limit."""
    return [(name, limit) for name, limit in WORK_TEXT_LIMITS.items()
            if values.get(name) and len(values[name]) > limit]


def work_apply_filing(work, *, title: str | None, kind: str | None, original_title: str | None) -> None:
    """Filing an existing work again: every field the filing gives replaces the work's; an empty one changes
    nothing (a later CSV row, or a PATCH, gives only what it means to change)."""
    if title:
        work.title = title
    if kind:
        work.kind = kind
    if original_title:
        work.original_title = original_title


class Claim(Enum):
    """What claiming an identifier for a work does, given who holds it now."""

    HELD = "held"  # the work already has it: nothing
    DISPUTE = "dispute"  # another holder's work has it: the identifier stays, a dispute opens (once per claim)
    MOVE = "move"  # another work of the same holder has it: it ends there and starts here
    ADD = "add"  # nobody has it: it is added


def identifier_claim(*, held_by_work, held_by_holder, work_id, holder_id) -> Claim:
    """`held_by_work` / `held_by_holder`: the work and holder of the identifier's current row (None: unheld).
    Ids are compared as given: pass the same type on both sides (UUIDs, or their text)."""
    if held_by_work is None:
        return Claim.ADD
    if held_by_work == work_id:
        return Claim.HELD
    if held_by_holder != holder_id:
        return Claim.DISPUTE
    return Claim.MOVE


def dispute_stands(earlier, settled_resolutions, *, open_now=None) -> bool:
    """Whether the claimant's latest dispute over the same identifier and work means a new one must not open:
    it is still open, or operators kept the identifier with its holder, or the claimant withdrew it
    (`settled_resolutions`). Only a claim that was decided the other way may be raised again.

    `open_now`: the claimant's open dispute over the same identifier against any work, or None. While it is open
    the claim is pending, even if the identifier has since moved to another work (of its holder or of another
    holder): filing it again opens nothing (domain.md "Disputes"; one open dispute per identifier and claimant,
    the database's `dispute_one_open_per_claim`)."""
    if open_now is not None:
        return True
    return earlier is not None and (earlier.resolved_at is None or earlier.resolution in settled_resolutions)


WEB_SCHEMES = frozenset({"url", "url-prefix", "domain"})
DOMAIN_NOT_VERIFIED = "domain-not-verified"
TOO_MANY_DISPUTES = "too-many-disputes"


def dispute_refusal(*, scheme: str, holder_verified: bool, claimant_verified: bool, claimant_open_disputes: int,
                    cap: int) -> str | None:
    """Why a dispute over another holder's identifier must not open (an error code), or None: it may.

    interop.md "Domain control": a web identifier (`url`, `url-prefix`, `domain`) whose holder has verified
    control of its host cannot be disputed by a claimant without verified control of it too. Operators may cap
    the disputes one claimant has open at once (`cap`; 0: no cap)."""
    if scheme in WEB_SCHEMES and holder_verified and not claimant_verified:
        return DOMAIN_NOT_VERIFIED
    if cap and claimant_open_disputes >= cap:
        return TOO_MANY_DISPUTES
    return None
