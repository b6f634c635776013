"""A rule for `datadiligence` evaluators: URLs are allowed only when Kyodaku answers `allowed` (docs/client.md).

    import datadiligence as dd
    from kyodaku.datadiligence import KyodakuRule
    evaluator = dd.Evaluator()   # or any evaluator with add_rule
    evaluator.add_rule(KyodakuRule(purpose="train-genai", jurisdiction="JP"))

The rule never fails open: a URL the registry did not answer (unreachable, invalid) is not allowed.
"""
from __future__ import annotations

from datadiligence.rules import BulkRule

from .checking import check_ids
from .http import Api


class KyodakuRule(BulkRule):
    def __init__(self, *, purpose: str, jurisdiction: str, api: Api | None = None, local=None,
                 concurrency: int = 4):
        super().__init__()
        self.purpose, self.jurisdiction, self.local, self.concurrency = purpose, jurisdiction, local, concurrency
        self.api = api if api is not None else Api.from_env()

    def is_ready(self) -> bool:
        return True

    def _allowed(self, urls: list[str]) -> list[bool]:
        rows = check_ids(self.api, urls, purpose=self.purpose, jurisdiction=self.jurisdiction, local=self.local,
                         concurrency=self.concurrency)
        return [row["outcome"] == "allowed" for row in rows]

    def is_allowed(self, url: str | None = None, urls: list[str] | None = None, **kwargs):
        """One bool for `url=`, a list for `urls=` (the evaluators' two forms)."""
        if urls is not None:
            return self._allowed(list(urls))
        if url is None:
            raise ValueError("is_allowed needs url= or urls=")
        return self._allowed([url])[0]

    def filter_allowed(self, urls: list[str] | None = None, **kwargs) -> list[str]:
        urls = list(urls or [])
        return [u for u, ok in zip(urls, self._allowed(urls), strict=True) if ok]
