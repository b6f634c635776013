"""Rate limits of API keys: `N/s`, `N/min`, `N/hour` or `none`. Pure Python, no Django."""
import re
from dataclasses import dataclass

__all__ = ["Rate", "InvalidRate", "parse_rate"]

_PERIODS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "h": 3600}
_RATE_RE = re.compile(r"^\s*(\d{1,9})\s*/\s*([a-z]+)\s*$")


class InvalidRate(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rate:
    requests: int
    period: int  # seconds

    def __str__(self) -> str:
        unit = {1: "s", 60: "min", 3600: "hour"}[self.period]
        return f"{self.requests}/{unit}"


def parse_rate(text: str) -> Rate | None:
    """The rate written as `N/s`, `N/min` or `N/hour`; None for `none` (no limit)."""
    if not isinstance(text, str):
        raise InvalidRate("A rate is text such as 100/s, 6000/min, 100000/hour or none.")
    if text.strip().lower() == "none":
        return None
    match = _RATE_RE.match(text.lower())
    if match is None or match.group(2) not in _PERIODS:
        raise InvalidRate(f"'{text}' is not a rate: write N/s, N/min, N/hour or none.")
    requests = int(match.group(1))
    if requests < 1:
        raise InvalidRate("A rate allows at least one request per period; use 'none' for no limit.")
    return Rate(requests, _PERIODS[match.group(2)])


def canonical_rate(text: str) -> str:
    rate = parse_rate(text)
    return "none" if rate is None else str(rate)
