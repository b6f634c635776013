"""Reading the values spreadsheets write (claims-csv.md, "What spreadsheets write is accepted").

Kinds, purposes and consents are accepted as codes or as the admin shows them in either language (`映画`, `許諾`,
`AI モデルの学習`, `train-ai: AI モデルの学習`): the labels come from the project's own catalogue, so a label the
admin shows is a label the CSV accepts. Dates as ISO 8601 or as Excel writes them (`2026/4/1`,
`2026/04/01 9:00`): a date alone is the start of that day and a time without a zone is in the registry's
TIME_ZONE. Matching ignores case, width (full-width letters and digits) and spaces.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, time
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import translation
from django.utils.dateparse import parse_date, parse_datetime

from consent.labels import CONSENT_VERBS, PURPOSE_NAMES, purpose_label
from consent.models import Consent
from consent.rules import CONSENT_ALIASES
from consent.vocabulary import PURPOSES
from registry.models import WorkKind

LANGUAGES = ("en", "ja")
# Other Japanese words for a kind than the admin's label (claims-csv.md writes 漫画 where the admin shows マンガ).
KIND_SHORT_NAMES = {"漫画": "manga", "コミック": "manga", "本": "book", "楽曲": "music", "音源": "recording",
                    "サイト": "website", "文章": "text"}
# Short Japanese names people write in spreadsheets beside the admin's longer labels.
PURPOSE_SHORT_NAMES = {"AI学習": "train-ai", "生成AI学習": "train-genai", "AI利用": "ai-use", "検索": "search",
                       "テキスト・データマイニング": "tdm", "TDM": "tdm"}
# Dates a declaration may carry: enough for any real statement, and far enough from datetime's own bounds that
# no later arithmetic (a time zone, a day added) can overflow.
MOMENT_YEARS = (1900, 9998)
_EXCEL_MOMENT = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def folded(text: str) -> str:
    """The form values are compared in: NFKC (full-width to ASCII), case-folded, without spaces."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _labels(code_labels, extra: dict | None = None) -> dict[str, str]:
    """folded spelling -> code, from (code, lazy label) pairs rendered in every language."""
    table = {}
    for language in LANGUAGES:
        with translation.override(language):
            for code, label in code_labels():
                table.setdefault(folded(str(label)), code)
    for code, _label in code_labels():
        table[folded(code)] = code
    for spelling, code in (extra or {}).items():
        table.setdefault(folded(spelling), code)
    return table


@lru_cache(maxsize=1)
def kind_spellings() -> dict[str, str]:
    return _labels(lambda: WorkKind.choices, KIND_SHORT_NAMES)


@lru_cache(maxsize=1)
def purpose_spellings() -> dict[str, str]:
    def pairs():
        for code in PURPOSES:
            yield code, PURPOSE_NAMES[code]
            yield code, purpose_label(code)
    return _labels(pairs, PURPOSE_SHORT_NAMES)


@lru_cache(maxsize=1)
def consent_spellings() -> dict[str, str]:
    def pairs():
        yield from Consent.choices
        yield from CONSENT_VERBS.items()
    return _labels(pairs, CONSENT_ALIASES)


@cache
def _already_folded(spellings) -> dict[str, str]:
    """The spellings that are their own folded form: a cell written exactly so (`book`, `train-ai`, `reserve`, as
    nearly every row of a file writes them) is looked up as it is, skipping `folded` (NFKC and case folding, a
    third of these columns' validation). Only such keys: for them `folded(text) == text`, so the answer is the same."""
    table = spellings()
    return {key: code for key, code in table.items() if folded(key) == key}


def _code(spellings, text: str) -> str | None:
    code = _already_folded(spellings).get(text)
    return code if code is not None else spellings().get(folded(text))


def kind_code(text: str) -> str | None:
    return _code(kind_spellings, text)


def purpose_code(text: str) -> str | None:
    return _code(purpose_spellings, text)


def consent_code(text: str) -> str | None:
    return _code(consent_spellings, text)


def parse_moment(value: str) -> datetime:
    """ISO 8601 or Excel's `2026/4/1` / `2026/04/01 9:00`, in UTC; ValueError for anything else or out of range.

    A date alone is the start of that day, a time without a zone is in TIME_ZONE (claims-csv.md)."""
    text = unicodedata.normalize("NFKC", value).strip()
    moment = _excel_moment(text) or parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    try:
        # Stored and audited in UTC, so the audit snapshot equals what the database gives back.
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+09:00 is before the first representable moment
        raise ValueError(value) from None
    if not MOMENT_YEARS[0] <= moment.year <= MOMENT_YEARS[1]:
        raise ValueError(value)
    return moment


def _excel_moment(text: str) -> datetime | None:
    match = _EXCEL_MOMENT.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) if part else 0 for part in match.groups())
    return datetime(year, month, day, hour, minute, second)
