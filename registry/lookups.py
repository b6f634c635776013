"""Helpers every look-up shares: the `any_of` lookup (a whole list as ONE array parameter on PostgreSQL, registered
in RegistryConfig.ready) and the scheme rule for URLs.

They live at the bottom of the dependency chain (registry) so that registry's own selectors and every app above
them (consent's batch and one-id decision paths, and so every answer built on them) share them.
"""
from django.db.models import Field, ForeignObject, Lookup

# domain.md: for `url` matching (exact `url`, then the longest `url-prefix`) `http` and `https` are the same URL:
# `http://h/p` matches what was registered as `https://h/p` and the other way round; where both forms are
# registered, the one with the asker's own scheme wins. Hosts stay exact (`www.h` is another host). Values here are
# already normalised (lower-case scheme), so the twin is the same text under the other scheme.
_TWIN_SCHEME = {"http": "https", "https": "http"}


def url_scheme_and_rest(value: str) -> tuple[str, str]:
    """A normalised url / url-prefix value as (scheme, the rest after `://`): what scheme-blind matching compares."""
    scheme, _, rest = value.partition("://")
    return scheme, rest


def url_scheme_twin(value: str) -> str:
    """The same normalised URL under the other scheme (`http` <-> `https`)."""
    scheme, rest = url_scheme_and_rest(value)
    return f"{_TWIN_SCHEME.get(scheme, scheme)}://{rest}"


def pg_array_literal(values) -> str:
    """PostgreSQL array input syntax, every element quoted: `{"a","b\\"c"}`."""
    values = [v if type(v) is str else str(v) for v in values]
    everything = "".join(values)
    if "\\" in everything or '"' in everything:  # rare: escape element by element
        values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(values) + '"}' if values else "{}"


class AnyOf(Lookup):
    """`field__any_of=[...]`: on PostgreSQL `field = ANY(%s::type[])` with the whole list as ONE parameter.

    `__in` with 10,000 values costs more than the query itself: Django prepares every value and psycopg splices
    10,000 placeholders into the SQL (and dumps a list parameter element by element in Python). Values must
    already be in the column's form (str, UUID or its text). Other databases get a plain IN list.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            db_type = self.lhs.output_field.db_type(connection)
            # Never varchar(n)[]: casting to it would silently truncate a longer value into a false match.
            element = "text" if db_type.startswith(("varchar", "char")) else db_type
            return f"{lhs} = ANY(%s::{element}[])", [*lhs_params, pg_array_literal(values)]
        if not values:
            return "1 = 0", list(lhs_params)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=False) for v in values]  # e.g. SQLite's uuid hex
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    """Make `__any_of` available on every field. Idempotent."""
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # foreign keys keep a lookup registry of their own
