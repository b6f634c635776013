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
- rules set or ended: `rule:<jurisdiction>/<purpose>` as the rule names them (`*` for every purpose);
- a holder's verified control of a domain starting or ending (`domain.verify`, `domain.verification-end`): whether
  its grants on url, url-prefix and domain identifiers count depends on it (interop.md): `holder:<code>`, and
  `domain:<domain>` (with KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS, ids under the domain whose answer named another
  holder or none may now match this holder's identifiers, or stop matching them).
Nothing else (mandates, memberships, signing keys, new works without identifiers) changes an answer.

A bulk import's `bundle` event (audit.bundles: one per work and chunk, holding that work's changes) is one entry
of kind `bundle`, with the keys of every answer-changing change it holds, each once: one cursor per audit event, as
everywhere, so paging never splits a bundle.

Private entries, for the two parties only (domain.md "Licences and permission requests"). Asked with an API key of
organisation O (`organisation_id`), the feed also carries the events of licences naming O as licensee
(`licence.file`, `.supersede`, `.revoke`) and of O's own permission requests (`permission_request.open`,
`.accept`, `.decline`, `.withdraw`), read from the same audit rows (their private `after`: `licensee`, or the
request's `organisation`). Their keys: the licensed or asked works' identifier keys (or `holder:<code>` for the
catalogue), plus `licence:<id>` / `permission-request:<id>` (and on accept the licences filed). Another
organisation's private events are simply absent: the cursor is still the audit seq, so "without gaps" means every
entry *this reader may see* up to the cursor is in the pages before it, and no one learns from a jump in
cursors anything a public audit feed (which lists every seq) does not show already. Asked without an
organisation, no private entry is ever included.
"""
from collections.abc import Iterable
from time import monotonic, sleep

from django.db.models import JSONField, Q
from django.db.models.functions import Cast

from audit.bundles import BUNDLE_ACTION, members
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
# A holder's verified control of a domain starting or ending decides whether its grants on web identifiers count
# (and, with KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS, whether they match at all): interop.md.
DOMAIN_ACTIONS = ("domain.verify", "domain.verification-end")
ANSWER_ACTIONS = (IDENTIFIER_ACTIONS + DISPUTE_ACTIONS + DECLARATION_ACTIONS + WORK_ACTIONS + HOLDER_ACTIONS
                  + RULE_ACTIONS + DOMAIN_ACTIONS)
LICENCE_ACTIONS = ("licence.file", "licence.supersede", "licence.revoke")
REQUEST_ACTIONS = ("permission_request.open", "permission_request.accept", "permission_request.decline",
                   "permission_request.withdraw")
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
    if action in DOMAIN_ACTIONS:
        return [f"holder:{codes.get(snap.get('holder'), snap.get('holder'))}", f"domain:{snap.get('domain')}"]
    if action in LICENCE_ACTIONS:
        if snap.get("scope") == "catalogue":
            keys = [f"holder:{codes.get(snap.get('holder'), snap.get('holder'))}"]
        else:
            keys = list(work_keys.get(snap.get("work"), ()))
        return [*keys, f"licence:{snap['_id']}"]
    if action in REQUEST_ACTIONS:
        if snap.get("works"):
            keys = [k for work in snap["works"] for k in work_keys.get(work, ())]
        else:
            keys = [f"holder:{snap.get('holder')}"]
        return [*keys, f"permission-request:{snap['_id']}",
                *(f"licence:{licence}" for licence in snap.get("licences") or ())]
    return []


def _scope(action: str, snap: dict) -> tuple[tuple, tuple] | None:
    """The purposes and jurisdictions a declaration, rule or licence is written for; None: the change concerns
    every pair (a permission request's entry goes to every webhook of its organisation)."""
    if action in DECLARATION_ACTIONS or action in RULE_ACTIONS:
        return (snap.get("purpose"),), (snap.get("jurisdiction"),)
    if action in LICENCE_ACTIONS:
        return tuple(snap.get("purposes") or ()), tuple(snap.get("jurisdictions") or ())
    return None


def _visible_q(organisation_id) -> Q:
    """The audit rows a reader's feed is made of: the public answer-changing ones (bundles of bulk imports among
    them), and with an organisation its own licences' and permission requests' events."""
    condition = Q(action__in=(*ANSWER_ACTIONS, BUNDLE_ACTION))
    if organisation_id is not None:
        org = str(organisation_id)
        condition |= (Q(action__in=LICENCE_ACTIONS, after_doc__licensee=org)
                      | Q(action__in=REQUEST_ACTIONS, after_doc__organisation=org))
    return condition


def _events(organisation_id):
    # Audit documents are canonical text (audit.fields), not jsonb: an organisation's feed reads the private
    # events' `after` as jsonb to pick its own; the public feed never casts anything.
    if organisation_id is None:
        return AuditEvent.objects.all()
    return AuditEvent.objects.annotate(after_doc=Cast("after", output_field=JSONField()))


def _parts(action: str, object_id: str, before, after) -> list[tuple[str, dict, dict | None]]:
    """(action, snapshot, before) of each answer-changing change an event records: the event itself, or each
    member of a bulk import's bundle (audit.bundles) that changes an answer, in order."""
    if action == BUNDLE_ACTION:
        return [part for change in members(after) if change.action in ANSWER_ACTIONS
                for part in _parts(change.action, change.object_id, change.before, change.after)]
    snap = dict(_snapshot(before, after))
    if action in WORK_ACTIONS:
        snap["work_id"] = object_id
    if action in LICENCE_ACTIONS or action in REQUEST_ACTIONS:
        snap["_id"] = object_id
    return [(action, snap, before)]


def _entry_scope(parts) -> list[tuple[tuple, tuple]] | None:
    """The (purposes, jurisdictions) pairs an entry is written for, one per change; None when any of its changes
    concerns every pair."""
    scopes = [_scope(action, snap) for action, snap, _ in parts]
    return None if not scopes or any(scope is None for scope in scopes) else scopes


def _entries(*, after: int, limit: int, head: int,
             organisation_id=None) -> tuple[list[tuple[dict, list | None]], int]:
    rows = list(
        _events(organisation_id).filter(_visible_q(organisation_id), seq__gt=after, seq__lte=head).order_by("seq")
        .values_list("seq", "at", "action", "object_id", "before", "after")[:limit]
    )
    events = [(seq, at, action, _parts(action, object_id, before, after_))
              for seq, at, action, object_id, before, after_ in rows]
    parts = [part for _, _, _, event_parts in events for part in event_parts]
    work_ids = {s.get("work") for a, s, _ in parts if a in DISPUTE_ACTIONS + DECLARATION_ACTIONS + LICENCE_ACTIONS}
    work_ids |= {s["work_id"] for a, s, _ in parts if a in WORK_ACTIONS}
    work_ids |= {w for a, s, _ in parts if a in REQUEST_ACTIONS for w in s.get("works") or ()}
    holder_ids = {s.get("holder") for a, s, _ in parts if a in DECLARATION_ACTIONS + LICENCE_ACTIONS
                  and s.get("scope") == "catalogue"}
    holder_ids |= {s.get("holder") for a, s, _ in parts if a in DOMAIN_ACTIONS}
    codes = ({str(pk): code for pk, code in Holder.objects.filter(id__in=holder_ids).values_list("id", "code")}
             if holder_ids else {})
    work_keys = _work_keys(work_ids)
    times: dict = {}  # a bulk import's events share one time: write it once
    entries = []
    for seq, at, action, event_parts in events:
        # A bundle is one entry (one cursor): the keys of all its answer-changing changes, each named once.
        keys = list(dict.fromkeys(key for part_action, snap, before in event_parts
                                  for key in _entry_keys(part_action, snap, before, work_keys=work_keys,
                                                         codes=codes)))
        entries.append(({"cursor": str(seq), "at": times.get(at) or times.setdefault(at, iso_z(at)), "kind": action,
                         "keys": keys}, _entry_scope(event_parts)))
    # A full page ends at its last entry; a short one has read everything up to the head (events that change no
    # answer included), so the next question starts there.
    next_seq = rows[-1][0] if len(rows) == limit else head
    return entries, max(next_seq, after)


def changes_after(*, after: int, limit: int = DEFAULT_LIMIT, head: int | None = None,
                  organisation_id=None) -> tuple[list[dict], int]:
    """(up to `limit` entries after sequence number `after`, the cursor to ask with next). Five queries at most:
    the head (unless given), the events, the works' keys (two), the holders' codes. With `organisation_id`, that
    organisation's private entries too (module docstring)."""
    head = audit_head()["seq"] if head is None else head
    entries, next_seq = _entries(after=after, limit=limit, head=head, organisation_id=organisation_id)
    return [entry for entry, _ in entries], next_seq


def changes_for_pair(*, purpose: str, jurisdiction: str, after: int, limit: int = DEFAULT_LIMIT,
                     head: int | None = None, organisation_id=None) -> tuple[list[dict], int]:
    """As `changes_after`, without the declarations and rules written for other pairs: those whose purpose is not
    on `purpose`'s chain (or `*`) or whose jurisdiction is not on `jurisdiction`'s chain (J, its region, `*`).
    A bundle's entry is kept when any of its changes is for the pair."""
    head = audit_head()["seq"] if head is None else head
    purposes = {*purpose_chain(purpose), ALL_PURPOSES}
    jurisdictions = set(rulebook().jurisdiction_chain(jurisdiction))
    entries, next_seq = _entries(after=after, limit=limit, head=head, organisation_id=organisation_id)
    return [entry for entry, scopes in entries
            if scopes is None or any(purposes.intersection(p) and jurisdictions.intersection(j) for p, j in scopes)], \
        next_seq


POLL_SECONDS = 0.25  # while a long poll waits: one primary-key read of the chain head per interval


def changes_wait(*, after: str | None, limit: int = DEFAULT_LIMIT, wait: float = 0,
                 organisation_id=None) -> tuple[list[dict], str]:
    """The feed page after cursor `after`; with `wait`, held open up to that many seconds while nothing is new.
    Returns (entries, next cursor as text). An unknown cursor raises UnknownCursor (a 400 problem)."""
    head = audit_head()["seq"]
    seq = cursor_parse(after, head=head)
    deadline = monotonic() + max(0.0, wait)
    while True:
        entries, next_seq = changes_after(after=seq, limit=limit, head=head, organisation_id=organisation_id)
        if entries or monotonic() >= deadline:
            return entries, str(next_seq)
        seq = next_seq  # everything up to the head was read: wait for the head to move
        while head <= seq:
            remaining = deadline - monotonic()
            if remaining <= 0:
                return [], str(seq)
            sleep(min(POLL_SECONDS, remaining))
            head = audit_head()["seq"]
