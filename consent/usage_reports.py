"""Reads of the lookup statistics (consent.usage writes them): the figures of the holders' dashboard.

Scoped by `holder_ids` (a holder's users: its own and its principals'; None: operators, the whole registry).
A fixed number of queries whatever the period or the registry's size, each an aggregate over the daily tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from .models import LookupCount, LookupOrganisationCount

PERIODS = (7, 30, 90, 365)
DEFAULT_PERIOD = 30
TOP = 10
OUTCOMES = ("allowed", "denied")


@dataclass
class LookupReport:
    since: date
    until: date
    days: list[date]
    total: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_day: dict[str, list[int]] = field(default_factory=dict)  # outcome -> one figure per day of `days`
    by_purpose: list[dict] = field(default_factory=list)  # {purpose, allowed, denied, total}
    by_jurisdiction: list[dict] = field(default_factory=list)  # {jurisdiction, allowed, denied, total}
    top_works: list[dict] = field(default_factory=list)  # {work_id, title, work_ref, holder, total, denied}
    pointed_to_licence: int = 0
    organisations: list[dict] = field(default_factory=list)  # {name (None: not shown), total, denied}


def report_period(days: int | str | None, *, today: date | None = None) -> tuple[date, date]:
    """The last `days` UTC days up to today (one of PERIODS; anything else: DEFAULT_PERIOD)."""
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = DEFAULT_PERIOD
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    until = today or timezone.now().date()
    return until - timedelta(days=days - 1), until


def _scoped(queryset, holder_ids, since, until):
    queryset = queryset.filter(day__gte=since, day__lte=until)
    return queryset if holder_ids is None else queryset.filter(holder_id__in=holder_ids)


def _split(rows, key):
    """[{key, outcome, n}] → [{key, allowed, denied, total}] ordered by total, largest first."""
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row[key], {key: row[key], "allowed": 0, "denied": 0, "total": 0})
        entry[row["outcome"]] = entry.get(row["outcome"], 0) + row["n"]
        entry["total"] += row["n"]
    return sorted(out.values(), key=lambda e: (-e["total"], e[key]))


def lookup_report(*, holder_ids, since: date, until: date, names_for_all: bool = False) -> LookupReport:
    """The dashboard's figures for `since`..`until` (UTC days, inclusive). `names_for_all` (operators): every
    organisation by name; otherwise only those that agreed, the others together as one row whose name is None."""
    counts = _scoped(LookupCount.objects.all(), holder_ids, since, until)
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    report = LookupReport(since=since, until=until, days=days)

    index = {day: i for i, day in enumerate(days)}
    report.by_day = {outcome: [0] * len(days) for outcome in OUTCOMES}
    for row in counts.values("day", "outcome").annotate(n=Sum("count")).order_by():
        series = report.by_day.setdefault(row["outcome"], [0] * len(days))
        series[index[row["day"]]] += row["n"]
        report.by_outcome[row["outcome"]] = report.by_outcome.get(row["outcome"], 0) + row["n"]
    report.total = sum(report.by_outcome.values())

    report.by_purpose = _split(counts.values("purpose", "outcome").annotate(n=Sum("count")).order_by(), "purpose")
    report.by_jurisdiction = _split(
        counts.values("jurisdiction", "outcome").annotate(n=Sum("count")).order_by(), "jurisdiction")
    report.pointed_to_licence = counts.filter(pointed_to_licence=True).aggregate(n=Sum("count"))["n"] or 0

    top = (counts.values("work_id", "work__title", "work__work_ref", "holder__code")
           .annotate(total=Sum("count"), denied=Sum("count", filter=Q(outcome="denied")))
           .order_by("-total", "work_id")[:TOP])
    report.top_works = [{"work_id": r["work_id"], "title": r["work__title"], "work_ref": r["work__work_ref"],
                         "holder": r["holder__code"], "total": r["total"], "denied": r["denied"] or 0} for r in top]

    orgs = _scoped(LookupOrganisationCount.objects.all(), holder_ids, since, until)
    named, hidden = [], {"name": None, "total": 0, "denied": 0}
    rows = (orgs.values("organisation_id", "organisation__name", "organisation__name_shown_to_holders")
            .annotate(total=Sum("count"), denied=Sum("count", filter=Q(outcome="denied"))).order_by("-total"))
    for row in rows:
        if names_for_all or row["organisation__name_shown_to_holders"]:
            named.append({"name": row["organisation__name"], "total": row["total"], "denied": row["denied"] or 0})
        else:
            hidden["total"] += row["total"]
            hidden["denied"] += row["denied"] or 0
    report.organisations = named[:TOP] + ([hidden] if hidden["total"] else [])
    return report


def lookup_report_rows(*, holder_ids, since: date, until: date):
    """The CSV download's rows: one per (day, purpose, jurisdiction, outcome, pointed_to_licence), summed over
    works, in order; an iterator (the database streams it)."""
    counts = _scoped(LookupCount.objects.all(), holder_ids, since, until)
    return (counts.values_list("day", "purpose", "jurisdiction", "outcome", "pointed_to_licence")
            .annotate(n=Sum("count")).order_by("day", "purpose", "jurisdiction", "outcome", "pointed_to_licence")
            .iterator(chunk_size=2000))
