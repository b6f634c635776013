"""Who is calling: AI developers by API key, rights holders by token or session, operators as staff users."""
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from keys.models import APIKey
from keys.selectors import api_key_by_prefix

API_KEY_KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>`. The request's user stays anonymous; `request.auth` is the key."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != API_KEY_KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Api-Key <key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        prefix, dot, _secret = key.partition(".")
        api_key = api_key_by_prefix(prefix) if dot else None
        # One message for unknown, wrong, revoked and expired keys: nothing to probe.
        if (
            api_key is None
            or api_key.revoked
            or (api_key.expiry_date is not None and api_key.expiry_date < timezone.now())
            or not APIKey.objects.key_generator.verify(key, api_key.hashed_key)
        ):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return API_KEY_KEYWORD


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token auth; named here so the schema and WWW-Authenticate say `Token`."""


def api_key_of(request) -> APIKey | None:
    return request.auth if isinstance(request.auth, APIKey) else None


class HasApiKey(permissions.BasePermission):
    message = "This endpoint needs an API key: 'Authorization: Api-Key <key>'."

    def has_permission(self, request, view):
        return api_key_of(request) is not None


class IsHolderUser(permissions.BasePermission):
    """A logged-in user (a holder's member or an operator). API keys are for lookups and reading works only."""

    message = "This endpoint is for rights holders' users and operators (token or session), not API keys."

    def has_permission(self, request, view):
        if api_key_of(request) is not None:
            return False
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


class IsHolderUserOrReadOnlyApiKey(permissions.BasePermission):
    message = "API keys may only read works."

    def has_permission(self, request, view):
        if api_key_of(request) is not None:
            return request.method in permissions.SAFE_METHODS
        return IsHolderUser().has_permission(request, view)
