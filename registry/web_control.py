"""Who has verified control of a web host, as the registry's filing rules need it.

The verifications live in the `domains` app, which builds on the registry; so the registry asks through the reader
that `domains` registers when it loads (`domains.apps`), and never imports it. Without a reader nobody is verified.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

# (holder_ids, hosts, at) -> {(holder id as text, domain)}, and (verified, holder_id, host) -> bool.
_reader: tuple[Callable, Callable] | None = None


def register_reader(*, verified_domains_at: Callable, host_verified: Callable) -> None:
    global _reader
    _reader = (verified_domains_at, host_verified)


def verified_pairs(*, holder_ids: Iterable, hosts: Iterable[str], at: datetime) -> set[tuple[str, str]]:
    """(holder id as text, domain) for every verification in force at `at`; one query."""
    if _reader is None:
        return set()
    return _reader[0](holder_ids=holder_ids, hosts=hosts, at=at)


def controls(verified: set[tuple[str, str]], holder_id, host: str | None) -> bool:
    """Whether `holder_id` controls `host` (or a parent domain), given `verified_pairs`' answer."""
    if _reader is None or not host:
        return False
    return _reader[1](verified, holder_id, host)
