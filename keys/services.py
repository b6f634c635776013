"""Issuing and revoking API keys. The plain key exists only in the return value of `api_key_create`."""
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent.vocabulary import UnknownJurisdiction, UnknownPurpose, validate_jurisdiction, validate_purpose
from core.errors import Conflict, ValidationFailed, field_error
from registry.models import Organisation

from .models import APIKey, HolderToken
from .rates import InvalidRate, Rate, canonical_rate, parse_rate
from .selectors import api_key_forget, token_hash

MAX_TOKEN_DAYS = 366 * 2


def api_key_rate_validate(rate: str | None) -> str:
    """The canonical spelling of `rate` ('' keeps the default), or ValidationFailed."""
    if rate is None or rate == "":
        return ""
    try:
        return canonical_rate(rate)
    except InvalidRate as exc:
        raise ValidationFailed(str(exc), errors=[field_error("rate", "invalid-rate", str(exc))]) from None


def api_key_default_purpose_validate(purpose: str | None) -> str:
    """A key's default purpose: '' (train-ai at lookup time) or a purpose code, else ValidationFailed."""
    if not purpose:
        return ""
    try:
        return validate_purpose(purpose)
    except UnknownPurpose as exc:
        raise ValidationFailed(str(exc), errors=[field_error("default_purpose", exc.code, str(exc))]) from None


def api_key_default_jurisdiction_validate(jurisdiction: str | None) -> str:
    """A key's default jurisdiction: '' (none) or a canonical jurisdiction code, else ValidationFailed."""
    if not jurisdiction:
        return ""
    try:
        return validate_jurisdiction(jurisdiction)
    except UnknownJurisdiction as exc:
        raise ValidationFailed(str(exc), errors=[field_error("default_jurisdiction", exc.code, str(exc))]) from None


def organisation_ensure(*, name: str, contact_email: str = "") -> Organisation:
    """The organisation called `name` (created when new; an existing one keeps its contact)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("An organisation needs a name of at most 200 characters.",
                               errors=[field_error("organisation", "invalid", "1 to 200 characters.")])
    organisation, _ = Organisation.objects.get_or_create(name=name, defaults={"contact_email": contact_email})
    return organisation


def api_key_create(*, name: str, rate: str | None = None, expiry_date=None, default_purpose: str | None = None,
                   default_jurisdiction: str | None = None,
                   organisation: Organisation | str | None = None,
                   name_shown_to_holders: bool = False) -> tuple[APIKey, str]:
    """Issue a key for `organisation` (an Organisation or its name; None: the organisation named like the key,
    created when new). Returns (the stored key, the plain key to hand over once).

    `name_shown_to_holders`: the key's owner agrees that rights holders see the organisation's name in their lookup
    statistics (recorded on the organisation; never withdrawn by issuing another key without it)."""
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise ValidationFailed("An API key needs a name of at most 50 characters.",
                               errors=[field_error("name", "invalid", "1 to 50 characters.")])
    rate = api_key_rate_validate(rate)
    default_purpose = api_key_default_purpose_validate(default_purpose)
    default_jurisdiction = api_key_default_jurisdiction_validate(default_jurisdiction)
    if not isinstance(organisation, Organisation):
        organisation = organisation_ensure(name=organisation or name)
    if name_shown_to_holders and not organisation.name_shown_to_holders:
        organisation.name_shown_to_holders = True
        organisation.save(update_fields=["name_shown_to_holders"])
    # Not written to the audit log: its events are public, and a key is not registry data.
    api_key, plain = APIKey.objects.create_key(name=name, rate=rate, expiry_date=expiry_date,
                                                   default_purpose=default_purpose,
                                                   default_jurisdiction=default_jurisdiction,
                                                   organisation=organisation)
    return api_key, plain


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    """Revoke a key for good (the library refuses to un-revoke)."""
    with transaction.atomic():
        api_key = APIKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.revoked:
            raise Conflict("This API key is already revoked.")
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
        api_key_forget(api_key.prefix)
        # Again once committed, in case a request re-cached the old record in between.
        transaction.on_commit(lambda: api_key_forget(api_key.prefix))
    return api_key


def api_key_update(*, api_key: APIKey, **changes) -> APIKey:
    """Change a key's name, rate, expiry or defaults (not its secret, not `revoked`: see api_key_revoke)."""
    unknown = set(changes) - {"name", "rate", "expiry_date", "default_purpose", "default_jurisdiction"}
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))} of an API key.")
    if "rate" in changes:
        changes["rate"] = api_key_rate_validate(changes["rate"])
    if "default_purpose" in changes:
        changes["default_purpose"] = api_key_default_purpose_validate(changes["default_purpose"])
    if "default_jurisdiction" in changes:
        changes["default_jurisdiction"] = api_key_default_jurisdiction_validate(changes["default_jurisdiction"])
    with transaction.atomic():
        APIKey.objects.filter(pk=api_key.pk).update(**changes)
        api_key_forget(api_key.prefix)
        transaction.on_commit(lambda: api_key_forget(api_key.prefix))
    for name, value in changes.items():
        setattr(api_key, name, value)
    return api_key


def api_key_rate(api_key: APIKey) -> Rate | None:
    """The limit that applies to `api_key`: its own, else the default setting. None: no limit."""
    return parse_rate(api_key.rate or settings.KYODAKU_API_KEY_DEFAULT_RATE)


def holder_token_create(*, user, name: str = "", days: int | None = None, rotate: bool = False,
                        now=None) -> tuple[HolderToken, str]:
    """Issue an API token for `user`, valid for `days` (default KYODAKU_HOLDER_TOKEN_DAYS). With `rotate`, the
    user's other tokens are revoked in the same transaction. Returns (the stored token, the plain token to hand
    over once: `<prefix>.<secret>`)."""
    days = settings.KYODAKU_HOLDER_TOKEN_DAYS if days is None else days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationFailed(f"A token is valid for 1 to {MAX_TOKEN_DAYS} days.",
                               errors=[field_error("days", "invalid", f"1 to {MAX_TOKEN_DAYS}.")])
    now = now or timezone.now()
    prefix = secrets.token_hex(4)
    plain = f"{prefix}.{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        if rotate:
            HolderToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
        token = HolderToken.objects.create(user=user, name=(name or "").strip()[:100], prefix=prefix,
                                           key_hash=token_hash(plain), created=now,
                                           expires_at=now + timedelta(days=days))
    return token, plain


def holder_token_revoke(*, token: HolderToken) -> HolderToken:
    """Revoke a token for good (from the next request on)."""
    revoked = HolderToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not revoked:
        raise Conflict("This token is already revoked.")
    token.refresh_from_db(fields=["revoked_at"])
    return token


def holder_token_issue(*, holder, username: str, role: str = "editor", name: str = "", days: int | None = None,
                       rotate: bool = False) -> tuple[object, HolderToken, str, bool]:
    """A new API token for `username`, a user of `holder` (created with `role` if new).
    Returns (user, the stored token, the plain token, whether the user was created).

    An existing user keeps their role; one who belongs to another holder is refused.
    """
    from django.contrib.auth import get_user_model

    from registry.selectors import user_membership
    from registry.services import holder_user_set

    user = get_user_model().objects.filter(username=username).first()
    membership = user_membership(user) if user is not None else None
    if membership is not None and membership.holder_id != holder.pk:
        raise Conflict(f"User '{username}' belongs to another holder.")
    user_created = membership is None
    if user_created:
        user = holder_user_set(holder=holder, username=username, role=role)
    token, plain = holder_token_create(user=user, name=name, days=days, rotate=rotate)
    return user, token, plain, user_created
