"""Django's database session store, refusing session keys it could never have issued.

Django issues keys of 32 characters from `VALID_KEY_CHARS` (lower-case ASCII letters and digits) but accepts any
cookie value of eight characters or more as a key to look up; PostgreSQL refuses a text parameter holding a NUL, so
a `sessionid` cookie with `%00` in it was a 500 (found by the schemathesis run of the API). A key Django could not
have issued is treated as no session at all, as a too-short one already is: the request goes on anonymous.
"""
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

_ISSUABLE = frozenset(VALID_KEY_CHARS)


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key):
        return bool(super()._validate_session_key(key)) and _ISSUABLE.issuperset(key)
