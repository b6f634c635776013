"""Consent's filing rules as pure functions (no database): the words a consent may be written in, and when a
filing says the same as the declaration in force. `consent.services` and the bulk claims path both call these."""
from __future__ import annotations

from datetime import datetime

CONSENT_ALIASES = {"grant": "grant", "reserve": "reserve", "opt-in": "grant", "opt-out": "reserve"}


def consent_canonical(text) -> str | None:
    """`grant` or `reserve` for any accepted spelling (case-insensitive), None for anything else."""
    return CONSENT_ALIASES.get(text.strip().lower()) if isinstance(text, str) else None


def same_statement(current, *, consent: str, license_url: str, conditions: str, effective_from: datetime | None,
                   effective_until: datetime | None, at: datetime) -> bool:
    """Whether filing these terms into `current`'s slot at `at` says what `current` already says: then filing
    changes nothing (no new declaration, no supersede). A filing without a start means "from now", which is what
    a current declaration that already applies says."""
    if effective_from is None:
        same_start = current.effective_from <= at
    else:
        same_start = current.effective_from == effective_from
    return (current.consent == consent and current.license_url == license_url and current.conditions == conditions
            and same_start and current.effective_until == effective_until)
