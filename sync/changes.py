"""The change feed (sync.md, "Change feed"), read from the audit log: every change that can alter an answer is
already an audit event with a gapless `seq`, written in the same transaction as the change. A second write path
(a changes table filled beside the audit log) could disagree with it; reading the chain cannot.

A cursor is an audit sequence number, written as a decimal string: stable forever, since events are never
deleted or renumbered. Writers serialise on the chain head's row lock and hold it until they commit, so once the
head reads N every event up to N is committed and visible: a page read up to the head it saw first has no holes.

Each event that can alter an answer becomes one entry naming the keys whose answers may have changed:
- identifiers attached or ended: `scheme:value`;
- disputes opened, resolved or withdrawn: every identifier of the disputed work (an open dispute denies the whole work),
  and the disputed `scheme:value`;
- work-scope declarations filed, superseded, revoked; works updated or moved to another holder: every identifier
  the work ever had, and `ref:<holder>/<work_ref>`;
- catalogue-scope declarations and holder changes (licensing URL, name): `holder:<code>`;
- rules set or ended: `rule:<jurisdiction>/<purpose>` as the rule names them (`*` for every purpose).
Nothing else (mandates, memberships, signing keys, new works without identifiers) changes an answer.
"""
from collections.abc import Iterable
from time import monotonic, sleep

from audit.models import AuditEvent
from audit.selectors import audit_head
from consent.lookup import iso_z
from consent.models import ALL_PURPOSES
from consent.rulebook import rulebook
from consent.vocabulary import purpose_chain
from core.errors import ValidationFailed, field_error
from registry.models import Holder, Identifier, Work

IDENTIFIER_ACTIONS = ("identifier.add", "identifier.end")
DISPUTE_ACTIONS = ("dispute.open", "dispute.resolve", "dispute.withdraw")
DECLARATION_ACTIONS = ("declaration.file", "declaration.supersede", "declaration.revoke")
WORK_ACTIONS = ("work.update",)
HOLDER_ACTIONS = ("holder.update",)
RULE_ACTIONS = ("rule.set", "rule.end")
ANSWER_ACTIONS = (IDENTIFIER_ACTIONS + DISPUTE_ACTIONS + DECLARATION_ACTIONS + WORK_ACTIONS + HOLDER_ACTIONS
                  + RULE_ACTIONS)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class UnknownCursor(ValidationFailed):
    code = "unknown-cursor"


def cursor_parse(text: str | None, *, head: int) -> int:
    """The sequence number a cursor names; `None`, empty or `0`: the beginning. Anything else unknown: 400."""
    if text in (None, "", "0"):
        return 0
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 19):
        raise UnknownCursor(f"{text!r} is not a cursor of this feed.",
                            errors=[field_error("after", "unknown-cursor", "Give a `next` or `cursor` of this feed.")])
    seq = int(text)
    if seq > head:
        raise UnknownCursor(f"Cursor {text} is beyond the end of the feed.",
                            errors=[field_error("after", "unknown-cursor", "Give a `next` or `cursor` of this feed.")])
    return seq


def _snapshot(before, after) -> dict:
    return after if isinstance(after, dict) else before if isinstance(before, dict) else {}


def _work_keys(work_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every identifier key a work ever had (ended ones too: answers as of earlier times), and its `ref:` key. Two
    queries whatever the number of works."""
    work_ids = {w for w in work_ids if w}
    if not work_ids:
        return {}
    keys: dict[str, list[str]] = {w: [] for w in work_ids}
    rows = (Identifier.objects.filter(work_id__in=work_ids).order_by("scheme", "value")
            .values_list("work_id", "scheme", "value").distinct())
    for work_id, scheme, value in rows:
        keys[str(work_id)].append(f"{scheme}:{value}")
    for work_id, code, work_ref in Work.objects.filter(id__in=work_ids).values_list("id", "holder__code",
                                                                                    "work_ref"):
        keys[str(work_id)].append(f"ref:{code}/{work_ref}")
    return keys


def _entry_keys(action: str, snap: dict, before: dict | None, *, work_keys: dict, codes: dict) -> list[str]:
    if action in IDENTIFIER_ACTIONS:
        return [f"{snap['scheme']}:{snap['value']}"]
    if action in DISPUTE_ACTIONS:
        own = f"{snap['scheme']}:{snap['value']}"
        return [own, *(k for k in work_keys.get(snap.get("work"), ()) if k != own)]
    if action in DECLARATION_ACTIONS:
        if snap.get("scope") == "catalogue":
            return [f"holder:{codes.get(snap.get('holder'), snap.get('holder'))}"]
        return list(work_keys.get(snap.get("work"), ()))
    if action in WORK_ACTIONS:
        return list(work_keys.get(snap.get("work_id"), ()))
    if action in HOLDER_ACTIONS:
        names = {snap.get("code")} | {(before or {}).get("code")}
        return [f"holder:{code}" for code in sorted(n for n in names if n)]
    if action in RULE_ACTIONS:
        return [f"rule:{snap['jurisdiction']}/{snap['purpose']}"]
    return []


def _scope(action: str, snap: dict) -> tuple[str, str] | None:
    """The (purpose, jurisdiction) a declaration or rule is written for; None: the change concerns every pair."""
    if action in DECLARATION_ACTIONS or action in RULE_ACTIONS:
        return snap.get("purpose"), snap.get("jurisdiction")
    return None


def _entries(*, after: int, limit: int, head: int) -> tuple[list[tuple[dict, tuple | None]], int]:
    rows = list(
        AuditEvent.objects.filter(seq__gt=after, seq__lte=head, action__in=ANSWER_ACTIONS).order_by("seq")
        .values_list("seq", "at", "action", "object_id", "before", "after")[:limit]
    )
    snaps = []
    for seq, at, action, object_id, before, after_ in rows:
        snap = dict(_snapshot(before, after_))
        if action in WORK_ACTIONS:
            snap["work_id"] = object_id
        snaps.append((seq, at, action, snap, before))
    work_ids = {s.get("work") for _, _, a, s, _ in snaps if a in DISPUTE_ACTIONS + DECLARATION_ACTIONS}
    work_ids |= {s["work_id"] for _, _, a, s, _ in snaps if a in WORK_ACTIONS}
    holder_ids = {s.get("holder") for _, _, a, s, _ in snaps if a in DECLARATION_ACTIONS
                  and s.get("scope") == "catalogue"}
    codes = ({str(pk): code for pk, code in Holder.objects.filter(id__in=holder_ids).values_list("id", "code")}
             if holder_ids else {})
    work_keys = _work_keys(work_ids)
    times: dict = {}  # a bulk import's events share one time: write it once
    entries = [
        ({"cursor": str(seq), "at": times.get(at) or times.setdefault(at, iso_z(at)), "kind": action,
          "keys": _entry_keys(action, snap, before, work_keys=work_keys, codes=codes)}, _scope(action, snap))
        for seq, at, action, snap, before in snaps
    ]
    # A full page ends at its last entry; a short one has read everything up to the head (events that change no
    # answer included), so the next question starts there.
    next_seq = rows[-1][0] if len(rows) == limit else head
    return entries, max(next_seq, after)


def changes_after(*, after: int, limit: int = DEFAULT_LIMIT, head: int | None = None) -> tuple[list[dict], int]:
    """(up to `limit` entries after sequence number `after`, the cursor to ask with next). Five queries at most:
    the head (unless given), the events, the works' keys (two), the holders' codes."""
    head = audit_head()["seq"] if head is None else head
    entries, next_seq = _entries(after=after, limit=limit, head=head)
    return [entry for entry, _ in entries], next_seq


def changes_for_pair(*, purpose: str, jurisdiction: str, after: int, limit: int = DEFAULT_LIMIT,
                     head: int | None = None) -> tuple[list[dict], int]:
    """As `changes_after`, without the declarations and rules written for other pairs: those whose purpose is not
    on `purpose`'s chain (or `*`) or whose jurisdiction is not on `jurisdiction`'s chain (J, its region, `*`)."""
    head = audit_head()["seq"] if head is None else head
    purposes = {*purpose_chain(purpose), ALL_PURPOSES}
    jurisdictions = set(rulebook().jurisdiction_chain(jurisdiction))
    entries, next_seq = _entries(after=after, limit=limit, head=head)
    return [entry for entry, scope in entries
            if scope is None or (scope[0] in purposes and scope[1] in jurisdictions)], next_seq


POLL_SECONDS = 0.25  # while a long poll waits: one primary-key read of the chain head per interval


def changes_wait(*, after: str | None, limit: int = DEFAULT_LIMIT, wait: float = 0) -> tuple[list[dict], str]:
    """The feed page after cursor `after`; with `wait`, held open up to that many seconds while nothing is new.
    Returns (entries, next cursor as text). An unknown cursor raises UnknownCursor (a 400 problem)."""
    head = audit_head()["seq"]
    seq = cursor_parse(after, head=head)
    deadline = monotonic() + max(0.0, wait)
    while True:
        entries, next_seq = changes_after(after=seq, limit=limit, head=head)
        if entries or monotonic() >= deadline:
            return entries, str(next_seq)
        seq = next_seq  # everything up to the head was read: wait for the head to move
        while head <= seq:
            remaining = deadline - monotonic()
            if remaining <= 0:
                return [], str(seq)
            sleep(min(POLL_SECONDS, remaining))
            head = audit_head()["seq"]
