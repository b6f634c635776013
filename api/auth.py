"""Who is calling: AI developers by API key, rights holders by token or session, operators as staff users."""
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from keys.models import APIKey
from keys.selectors import api_key_verified, holder_token_by_plain

API_KEY_KEYWORD = "Api-Key"
KEY_FAILED = "Invalid, expired or revoked API key."


def api_key_in_header(request, keywords: tuple[bytes, ...] = (API_KEY_KEYWORD.lower().encode(),)) -> APIKey | None:
    """The usable API key in `request`'s `Authorization: Api-Key <prefix>.<secret>` (or another of `keywords`);
    None when the header names no such scheme (another credential may); AuthenticationFailed for a malformed,
    unknown, wrong, revoked or expired key. For ApiKeyAuthentication and the lean GET (api.views.lookup)."""
    header = authentication.get_authorization_header(request).split()
    if not header or header[0].lower() not in keywords:
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Api-Key <key>'.")
    try:
        key = header[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("Invalid API key.") from None
    api_key = api_key_verified(key)
    if api_key is None:  # one message for unknown, wrong, revoked and expired keys: nothing to probe
        raise exceptions.AuthenticationFailed(KEY_FAILED)
    return api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>`. The request's user stays anonymous; `request.auth` is the key."""

    keywords: tuple[bytes, ...] = (API_KEY_KEYWORD.lower().encode(),)

    def authenticate(self, request):
        api_key = api_key_in_header(request, self.keywords)
        return None if api_key is None else (AnonymousUser(), api_key)

    def authenticate_header(self, request):
        return API_KEY_KEYWORD


class SpawningApiKeyAuthentication(ApiKeyAuthentication):
    """The same keys, also in Spawning's spelling `Authorization: API <key>` (what datadiligence sends)."""

    keywords = (API_KEY_KEYWORD.lower().encode(), b"api")


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <token>`: a holder's user's API token (keys.models.HolderToken), found by its hash.
    `request.auth` is the stored token."""

    def authenticate_credentials(self, key):
        token = holder_token_by_plain(key)
        # One message for unknown, revoked and expired tokens and inactive users: nothing to probe.
        if token is None or not token.usable_at(timezone.now()):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token


def api_key_of(request) -> APIKey | None:
    return request.auth if isinstance(request.auth, APIKey) else None


def organisation_of(request):
    """The id of the asking key's organisation, whose licences decide its lookups; None for anyone else (an
    operator or holder token asking gets the public answer)."""
    api_key = api_key_of(request)
    return None if api_key is None else api_key.organisation_id


ALL_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
KEY_REFUSED = ("An API key is valid here only for lookups, reading works (GET /api/v1/works) and reading a "
               "declaration (GET /api/v1/declarations/{{id}}). {what} is for rights holders' users "
               "('Authorization: Token <token>' or the web admin) and operators.")


def api_key_methods(view) -> frozenset[str]:
    """The HTTP methods for which `view`'s permissions admit an API key (the schema lists the key only there).

    Each permission class says so in `api_key_methods`; one without it admits keys for nothing."""
    methods = ALL_METHODS
    for permission in view.get_permissions():
        methods &= getattr(permission, "api_key_methods", frozenset())
    return methods


class HasApiKey(permissions.BasePermission):
    message = "This endpoint needs an API key: 'Authorization: Api-Key <key>'."
    api_key_methods = ALL_METHODS

    def has_permission(self, request, view):
        return api_key_of(request) is not None


def _user_is_active(request) -> bool:
    return bool(request.user and request.user.is_authenticated and request.user.is_active)


class IsHolderUser(permissions.BasePermission):
    """A logged-in user (a holder's member or an operator). A valid API key is told that it is the wrong
    credential here (403), not that no credentials were given: views list ApiKeyAuthentication last for that."""

    api_key_methods = frozenset()

    def has_permission(self, request, view):
        if api_key_of(request) is not None:
            self.message = KEY_REFUSED.format(what="This endpoint")
            return False
        return _user_is_active(request)


class IsHolderUserOrReadOnlyApiKey(permissions.BasePermission):
    """Holders' users read and write; an API key reads (GET) only."""

    api_key_methods = frozenset(permissions.SAFE_METHODS)

    def has_permission(self, request, view):
        if api_key_of(request) is not None:
            if request.method in permissions.SAFE_METHODS:
                return True
            self.message = KEY_REFUSED.format(what=f"{request.method} on this endpoint")
            return False
        return _user_is_active(request)
