"""Answers in the shape of Spawning's "Do Not Train" API (interop.md, "Spawning-compatible lookup").

A thin translation of the batch lookup: every URL line becomes a `url:` identifier for `lookup_many` (the one
batch path, so the cost is its fixed number of queries), and each answer becomes Spawning's
`{"url", "optOut", "optIn"}`, plus Kyodaku's `verified` (whether the holder of the matched web identifier had
verified control of its host; null when no work matched): an extra member Spawning's clients ignore. Lines that
are not absolute http(s) URLs never reach the lookup: they answer `optOut: true` with an `error` (fail closed).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from .lookup import lookup_many
from .vocabulary import validate_jurisdiction, validate_purpose

DEFAULT_PURPOSE = "train-ai"
_HTTP_URL = re.compile(r"^https?://", re.IGNORECASE)


def spawning_lines(body: str) -> list[str]:
    """The request body's lines, exactly as datadiligence writes them (`"\\n".join(urls)`): N newlines are N + 1
    lines, so an empty URL anywhere, last included, keeps its place. A `\\r` before a newline is dropped."""
    return [line[:-1] if line.endswith("\r") else line for line in body.split("\n")]


def _refused(line: str, code: str, detail: str) -> dict:
    return {"url": line, "optOut": True, "optIn": False, "error": {"code": code, "detail": detail}}


_OPT_IN = frozenset({"granted", "licensed"})


def spawning_answers(*, lines: Sequence[str], purpose: str, jurisdiction: str,
                     as_of: datetime | None = None, organisation_id=None) -> list[dict]:
    """One Spawning entry per line, in order. `optOut` is Kyodaku's `denied`, `optIn` its basis `granted` (or
    `licensed`: a licence to the asking key's organisation, `organisation_id`)."""
    purpose = validate_purpose(purpose)
    jurisdiction = validate_jurisdiction(jurisdiction)
    entries: list[dict | None] = [None] * len(lines)
    ids: list[str] = []
    positions: list[int] = []
    for position, line in enumerate(lines):
        url = line.strip()
        if not url:
            entries[position] = _refused(line, "empty-line", "An empty line is not a URL.")
        elif not _HTTP_URL.match(url):
            entries[position] = _refused(line, "invalid-identifier", "Not an absolute http(s) URL.")
        else:
            ids.append("url:" + url)
            positions.append(position)
    if ids:
        results = lookup_many(ids=ids, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of,
                              organisation_id=organisation_id)
        for position, result in zip(positions, results, strict=True):
            line = lines[position]
            error = result.get("error")
            if error is not None:
                entries[position] = _refused(line, error["code"], error["detail"])
            else:
                entries[position] = {"url": line, "optOut": result["outcome"] == "denied",
                                     "optIn": result["basis"] in _OPT_IN, "verified": result["verified"]}
    return entries
