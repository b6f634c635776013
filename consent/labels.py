"""What people read for the consent vocabulary, in the user's language: purposes, outcomes, bases, jurisdictions and
the seeded rules' legal bases. Codes stay the data; these are only their labels in the admin.

Jurisdiction names are stored in English (the seed migration); ISO 3166 names come translated from pycountry's
bundled ISO catalogues (the same data the codes are checked against), `EU` and `*` from the project's catalogue.
A rule's basis is free text an operator may edit: the seeded texts are translated, an edited one is shown as written.
"""
import gettext as gettext_module
from functools import lru_cache

import pycountry
from django.utils.functional import lazy
from django.utils.translation import get_language, gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from .vocabulary import ANY_JURISDICTION, EU, PURPOSES

PURPOSE_NAMES = {
    "tdm": _("text and data mining (any automated processing)"),
    "train-ai": _("training an AI model"),
    "train-genai": _("training a generative AI model"),
    "ai-use": _("input to an AI system at inference time"),
    "search": _("search indexing"),
}
OUTCOME_NAMES = {"allowed": _("allowed"), "denied": _("denied")}
BASIS_NAMES = {
    "granted": _("the holder granted it"),
    "reserved": _("the holder reserved it"),
    "disputed": _("the work is disputed"),
    "permission-required": _("permission is required and none was granted"),
    "not-reserved": _("not reserved (opt-out regime)"),
}
CONSENT_VERBS = {"grant": pgettext_lazy("consent", "grant"), "reserve": pgettext_lazy("consent", "reserve")}
JURISDICTION_NAMES = {ANY_JURISDICTION: _("Everywhere else (default)"), EU: _("European Union")}

# The seed migration's rule bases (consent/migrations/0002), so that the catalogue carries their translations.
SEEDED_BASES = (
    gettext_noop("Protective default: where no rule of its own applies, a use needs the holder's prior permission."),
    gettext_noop("Prior permission generally required, as the Content Overseas Distribution Association's letter "
                 "of 2025-10-28 describes Japan's system."),
    gettext_noop("Directive (EU) 2019/790 Art. 4(3): text and data mining is permitted unless the rightholder has "
                 "reserved it in a machine-readable way."),
    gettext_noop("Reservation honoured as industry practice."),
)


def purpose_label(code: str) -> str:
    """`train-ai: AI モデルの学習`: the code people type in CSV files, then what it means."""
    name = PURPOSE_NAMES.get(code)
    return f"{code}: {name}" if name is not None else code


purpose_label_lazy = lazy(purpose_label, str)
PURPOSE_CHOICES = [(code, purpose_label_lazy(code)) for code in PURPOSES]


@lru_cache(maxsize=8)
def _iso3166(language: str):
    try:
        return gettext_module.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        return gettext_module.NullTranslations()


def jurisdiction_name(code: str, stored_name: str = "") -> str:
    """The jurisdiction's name in the active language; the stored (English) name where none is known."""
    if code in JURISDICTION_NAMES:
        return str(JURISDICTION_NAMES[code])
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if country is None:
        return stored_name or code
    language = (get_language() or "en").split("-")[0]
    if language == "en":
        return stored_name or country.name
    catalogue = _iso3166(language)
    for attribute in ("name", "official_name", "common_name"):
        english = getattr(country, attribute, None)
        if english and catalogue.gettext(english) != english:
            return catalogue.gettext(english)
    return stored_name or country.name


def jurisdiction_label(code: str, stored_name: str = "") -> str:
    """`JP（日本）` / `JP (Japan)`."""
    return gettext("%(code)s (%(name)s)") % {"code": code, "name": jurisdiction_name(code, stored_name)}


def rule_basis_label(basis: str) -> str:
    """A seeded basis in the user's language; an operator's own text as written."""
    return gettext(basis) if basis in SEEDED_BASES else basis


def vocabulary_problem(exc: ValueError, value) -> str:
    """An unknown purpose or jurisdiction, said in the user's language. `consent.vocabulary` is pure Python and
    speaks English; in English its own sentence (with its hints) is kept as it is."""
    from .vocabulary import UnknownJurisdiction, UnknownPurpose

    if (get_language() or "en").startswith("en"):
        return str(exc)
    shown = str(value)[:40]
    if isinstance(exc, UnknownJurisdiction):
        return gettext("Unknown jurisdiction “%(code)s”: use an ISO 3166-1 alpha-2 country code (JP, FR…), EU, "
                       "or * for everywhere.") % {"code": shown}
    if isinstance(exc, UnknownPurpose):
        return gettext("Unknown purpose “%(code)s”: use one of %(purposes)s.") % {
            "code": shown, "purposes": ", ".join(PURPOSES)}
    return str(exc)
