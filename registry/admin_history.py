"""The audit log as people read it on an object's History page: who (a user name, not `user:1`), what (a sentence
in the user's language, not `work.register`), and each field that changed with its label, before and after.

The log itself stays as recorded (stable ids and codes, hash-chained); this is only its reading in the admin.
"""
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.formats import localize
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

ACTION_NAMES = {
    "holder.create": _("holder created"),
    "holder.update": _("holder changed"),
    "membership.set": _("user's role set"),
    "mandate.create": _("mandate created"),
    "mandate.end": _("mandate ended"),
    "work.register": _("work registered"),
    "work.update": _("work changed"),
    "identifier.add": _("identifier registered"),
    "identifier.end": _("identifier removed"),
    "declaration.file": _("declaration filed"),
    "declaration.supersede": _("declaration superseded"),
    "declaration.revoke": _("declaration revoked"),
    "dispute.open": _("dispute opened"),
    "dispute.resolve": _("dispute resolved"),
    "dispute.withdraw": _("dispute withdrawn"),
    "rule.set": _("rule set"),
    "rule.end": _("rule ended"),
}
OBJECT_MODELS = {
    "holder": "registry.Holder", "membership": "registry.Membership", "mandate": "registry.Mandate",
    "work": "registry.Work", "identifier": "registry.Identifier", "dispute": "registry.Dispute",
    "declaration": "consent.Declaration", "rule": "consent.Rule",
}


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class ReadableEvent:
    seq: int
    at: datetime
    actor: str
    action: str
    action_label: str
    object_label: str
    changes: list[Change] = field(default_factory=list)


def _field_labels(object_type: str) -> dict[str, tuple[str, dict, type | None]]:
    """field name -> (its label, its choices' labels, the model it points to if it is a foreign key)."""
    label = OBJECT_MODELS.get(object_type)
    if label is None:
        return {}
    model = apps.get_model(label)
    return {f.name: (str(f.verbose_name), {str(k): v for k, v in (f.choices or ())},
                     f.related_model if f.many_to_one or f.one_to_one else None)
            for f in model._meta.get_fields() if hasattr(f, "verbose_name")}


def _names_of_references(events, labels_by_type) -> dict[str, str]:
    """The names of the rows the events' foreign keys point at (holders, works, users): one query per model."""
    wanted: dict[type, set] = {}
    for event in events:
        labels = labels_by_type[event.object_type]
        for snapshot in (event.before or {}, event.after or {}):
            for key, value in snapshot.items():
                related = labels.get(key, (None, None, None))[2]
                if related is not None and isinstance(value, (str, int)) and str(value):
                    wanted.setdefault(related, set()).add(str(value))
    names = {}
    for model, ids in wanted.items():
        field = model._meta.pk
        valid = set()
        for pk in ids:
            try:
                valid.add(field.to_python(pk))
            except ValidationError:
                continue
        names.update({str(pk): str(obj) for pk, obj in model._default_manager.in_bulk(valid).items()})
    return names


def _shown(value, choices=None) -> str:
    if choices and str(value) in choices:
        return str(choices[str(value)])
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        moment = parse_datetime(value)
        if moment is not None:
            return localize(localtime(moment))
    if isinstance(value, (list, dict)):
        return ", ".join(map(str, value)) if isinstance(value, list) else ", ".join(f"{k}: {v}" for k, v in
                                                                                    value.items())
    return str(value)


def _actor_names(events) -> dict[str, str]:
    ids = {event.actor.split(":", 1)[1] for event in events if event.actor.startswith("user:")}
    ids = {pk for pk in ids if pk.isdigit()}
    users = get_user_model().objects.filter(pk__in=ids).values_list("pk", "username") if ids else []
    return {f"user:{pk}": username for pk, username in users}


def readable_events(events) -> list[ReadableEvent]:
    """The events, each with its actor's name, a sentence for its action and the fields it changed."""
    names = _actor_names(events)
    labels_by_type = {event.object_type: _field_labels(event.object_type) for event in events}
    references = _names_of_references(events, labels_by_type)
    readable = []
    for event in events:
        labels = labels_by_type[event.object_type]
        before, after = event.before or {}, event.after or {}
        changes = []
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key):
                continue
            name, choices, related = labels.get(key, (key, {}, None))
            shown = references if related is not None else choices
            changes.append(Change(name, _shown(before.get(key), shown), _shown(after.get(key), shown)))
        actor = names.get(event.actor) or (gettext("the system") if event.actor == "system" else event.actor)
        readable.append(ReadableEvent(
            seq=event.seq, at=event.at, actor=actor, action=event.action,
            action_label=str(ACTION_NAMES.get(event.action, event.action)),
            object_label=_object_label(event.object_type), changes=changes))
    return readable


def _object_label(object_type: str) -> str:
    label = OBJECT_MODELS.get(object_type)
    return str(apps.get_model(label)._meta.verbose_name) if label else object_type
