"""Signals in (interop.md, "Signals in"): read what a holder already publishes (robots.txt `Content-Usage` /
`Content-Signal`, Spawning's ai.txt, `tdmrep.json`, a CAWG `cawg.training-mining` assertion) into the statements it
makes, line by line, through the vocabulary map. Pure Python: no database; `consent.signals_import` files them.

Each input line gets a fate: the statements it makes (path, purpose, consent, licence URL), or why it is ignored.
A term with no Kyodaku purpose in the chosen vocabulary is ignored, never guessed; within one path any
reservation wins over a grant for the same purpose.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .vocabulary import AIPREF_LATEST, GRANT, RESERVE, combine_consents, vocabulary

KINDS = ("robots.txt", "ai.txt", "tdmrep.json", "cawg")
MAX_BYTES = 512 * 1024
MAX_RULES = 1000
_TOKEN_VALUE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9._-]*)\s*(?:=\s*\"?([A-Za-z0-9]+)\"?)?\s*(?:;.*)?$")
_PLAIN_PATH = re.compile(r"^/[^*$\s]*\$?$")


class SignalRefused(ValueError):
    """The whole file is refused (too large, binary, too many rules, nothing recognised)."""

    code = "signals-refused"


@dataclass
class Statement:
    path: str | None  # None: the whole host (or the work, for CAWG); "/x/": a url-prefix; "/x$": one URL
    purpose: str
    consent: str
    license_url: str = ""


@dataclass
class Line:
    number: int
    text: str
    statements: list[Statement] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why (parts of) the line say nothing to Kyodaku


def _text(content: bytes | str) -> str:
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise SignalRefused(f"The file is {len(content)} bytes; at most {MAX_BYTES} are read.")
        if b"\x00" in content:
            raise SignalRefused("The file is binary (it contains NUL bytes).")
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SignalRefused(f"The file is not UTF-8 text (byte {exc.start}).") from None
    if len(content.encode()) > MAX_BYTES:
        raise SignalRefused(f"The file is larger than {MAX_BYTES} bytes.")
    if "\x00" in content:
        raise SignalRefused("The file is binary (it contains NUL bytes).")
    return content


def _terms(line: Line, pairs, vocab_key: str, path: str | None, license_url: str = "") -> None:
    vocab = vocabulary(vocab_key)
    read = []
    for token, value in pairs:
        term = vocab.term(token)
        consent = vocab.consent_of(value) if value is not None else None
        if term is None:
            line.ignored.append(f"{token}: not a term of {vocab.version}")
        elif consent is None:
            line.ignored.append(f"{token}={value}: not a value of {vocab.version}")
        else:
            read += [(purpose, consent) for purpose in term.purposes]
    for purpose, consent in combine_consents(read).items():
        line.statements.append(Statement(path, purpose, consent, license_url))


def _dictionary(value: str) -> list[tuple[str, str | None]]:
    pairs = []
    for member in value.split(","):
        match = _TOKEN_VALUE.match(member)
        if match is None:
            pairs.append((member.strip() or "(empty)", None))
        else:
            pairs.append((match.group(1).lower(), match.group(2)))
    return pairs


def _path(raw: str, line: Line) -> tuple[bool, str | None]:
    if not _PLAIN_PATH.match(raw):
        line.ignored.append(f"path {raw!r}: only plain paths (a prefix, or one URL ending in $) can be filed")
        return False, None
    return True, None if raw in ("/", "/*") else raw


def _robots_like(text: str, *, ai_txt: bool, vocab_key: str) -> list[Line]:
    lines, in_star_group, group_has_rules = [], False, False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = Line(number, raw)
        lines.append(line)
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        name, sep, value = content.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep:
            line.ignored.append("not a `name: value` line")
        elif name == "user-agent":
            if group_has_rules:
                in_star_group = False
            in_star_group = in_star_group or value == "*"
            group_has_rules = False
            if value != "*":
                line.ignored.append(f"group for {value!r}: only the `User-Agent: *` group speaks for everyone")
        elif not in_star_group:
            group_has_rules = True
            line.ignored.append("outside the `User-Agent: *` group")
        elif name == "content-usage" and not ai_txt:
            group_has_rules = True
            path = None
            if value.startswith("/"):
                raw_path, _, value = value.partition(" ")
                ok, path = _path(raw_path, line)
                if not ok:
                    continue
            _terms(line, _dictionary(value), vocab_key, path)
        elif name == "content-signal" and not ai_txt:
            group_has_rules = True
            _terms(line, _dictionary(value), "content-signals", None)
        elif ai_txt and name in ("allow", "disallow"):
            group_has_rules = True
            ok, path = _path(value or "/", line)
            if ok:  # Spawning's ai.txt speaks of AI training only
                line.statements.append(Statement(path, "train-ai", GRANT if name == "allow" else RESERVE))
        else:
            group_has_rules = True
            line.ignored.append(f"`{name}` says nothing about AI use")
    return lines


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SignalRefused(f"Not JSON: {exc}") from None


def _tdmrep(text: str) -> list[Line]:
    rules = _json(text)
    if not isinstance(rules, list):
        raise SignalRefused("tdmrep.json must be a JSON array of rules.")
    lines = []
    for number, rule in enumerate(rules, start=1):
        line = Line(number, json.dumps(rule, ensure_ascii=False)[:500])
        lines.append(line)
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            line.ignored.append("a rule is an object with a `location`")
            continue
        location = rule["location"]
        if location in ("/*", "/", "*"):
            path = None
        elif location.endswith("*") and _PLAIN_PATH.match(location[:-1]):
            path = location[:-1]
        elif _PLAIN_PATH.match(location):
            path = location.rstrip("$") + "$"
        else:
            line.ignored.append(f"location {location!r}: only a path prefix (ending in *) or one path can be filed")
            continue
        policy = rule.get("tdm-policy") if isinstance(rule.get("tdm-policy"), str) else ""
        _terms(line, [("tdm-reservation", str(rule.get("tdm-reservation")))], "tdmrep", path, policy)
    return lines


def _cawg(text: str) -> list[Line]:
    assertion = _json(text)
    data = assertion.get("data", assertion) if isinstance(assertion, dict) else None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise SignalRefused("A cawg.training-mining assertion has `entries` (or `data.entries`).")
    lines = []
    for number, (token, entry) in enumerate(entries.items(), start=1):
        line = Line(number, f"{token}: {json.dumps(entry)[:400]}")
        lines.append(line)
        use = entry.get("use") if isinstance(entry, dict) else None
        _terms(line, [(token, use if isinstance(use, str) else None)], "cawg-training-mining-1.1", None)
    return lines


def signals_parse(*, kind: str, content: bytes | str, vocabulary_key: str = AIPREF_LATEST) -> list[Line]:
    """Every line of the file with its fate. Raises SignalRefused for a file that cannot be read at all, that
    has more than MAX_RULES rules, or in which nothing says anything to Kyodaku."""
    if kind not in KINDS:
        raise SignalRefused(f"Unknown kind {kind!r}; expected one of: {', '.join(KINDS)}.")
    vocabulary(vocabulary_key)  # UnknownVocabulary for a bad name
    text = _text(content)
    if kind == "tdmrep.json":
        lines = _tdmrep(text)
    elif kind == "cawg":
        lines = _cawg(text)
    else:
        lines = _robots_like(text, ai_txt=kind == "ai.txt", vocab_key=vocabulary_key)
    rules = sum(1 for line in lines if line.statements or line.ignored)
    if rules > MAX_RULES:
        raise SignalRefused(f"The file has {rules} rules; at most {MAX_RULES} are read. Nothing was filed.")
    if not any(line.statements for line in lines):
        raise SignalRefused("Nothing in this file states an AI-use preference Kyodaku can file.")
    return lines
