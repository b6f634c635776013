"""What a lookup is asked, checked before any id is looked at: the time (`as_of`) and the rule that applies.
A failure here fails the whole request (api.md "Errors"); a bad id only fails its own entry."""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from core.errors import ValidationFailed, field_error

from ..engine import RuleBook
from .results import iso_z

__all__ = ["as_of_or_now", "rule_or_error"]


def as_of_or_now(as_of: datetime | None) -> datetime:
    """`as_of`, or now when None; a naive or non-time value is a ValidationFailed on `as_of`."""
    if as_of is None:
        return timezone.now()
    if not isinstance(as_of, datetime) or timezone.is_naive(as_of):
        raise ValidationFailed("as_of must be a time with a zone.",
                               errors=[field_error("as_of", "invalid-date", "Give a time with a zone, e.g. "
                                                   "2026-11-28T12:00:00Z.")])
    return as_of


def rule_or_error(book: RuleBook, jurisdiction: str, purpose: str, at: datetime):
    """The rule for (jurisdiction, purpose) at `at`, or a ValidationFailed on `as_of` (no answer can be given)."""
    try:
        return book.rule_for(jurisdiction, purpose, at)
    except LookupError:
        raise ValidationFailed(
            "No jurisdiction rule applies at that time.",
            errors=[field_error("as_of", "no-rule", f"No rule for {jurisdiction}/{purpose} at {iso_z(at)}.")],
        ) from None
