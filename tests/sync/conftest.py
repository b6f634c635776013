"""Clients for the sync tests: the AI developer persona by API key (tests/api/conftest.py)."""
from tests.api.conftest import ai_developer, anonymous  # noqa: F401  (fixtures)
