"""The API personas' clients (tests/api/conftest.py), shared by the interoperability tests."""
from tests.api.conftest import (  # noqa: F401 (fixtures)
    ai_developer,
    anonymous,
    assert_problem,
    hoshi,
    jaa,
    kaze,
    staff,
    viewer,
)
