"""Django admin phrases whose Japanese Kyodaku words differently.

Django's own catalogue puts spaces around the model's name (「変更する 作品 を選択」); the project's catalogue
(LOCALE_PATHS, consulted first) carries better Japanese for the same message ids. They are listed here so that
makemessages keeps them in locale/ja (it drops message ids no source file uses).
"""
from django.utils.translation import gettext_noop

OVERRIDDEN = (
    gettext_noop("Select %s to change"),
    gettext_noop("Select %s to view"),
    gettext_noop("Add %s"),
    gettext_noop("Add %(name)s"),
    gettext_noop("Change %s"),
    gettext_noop("View %s"),
    gettext_noop("Select all %(total_count)s %(module_name)s"),
    gettext_noop("The {name} “{obj}” was added successfully."),
    gettext_noop("The {name} “{obj}” was changed successfully."),
    gettext_noop("Added {name} “{object}”."),
    gettext_noop("Changed {fields} for {name} “{object}”."),
)
