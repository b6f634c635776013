"""Reading rows for the lookup path: tuples, uuids as text, timestamps with psycopg's C loader.

On PostgreSQL the rows are read through a cursor that loads timestamptz with psycopg's C loader (Django's own
timestamptz loader is pure Python: most of the cost of reading 10,000 declarations). Never model instances.
"""
from __future__ import annotations

import uuid

from django.core.exceptions import EmptyResultSet
from django.db import connections

from core.db import read_alias

__all__ = ["on_postgresql", "queryset_rows", "sql_rows"]


def on_postgresql() -> bool:
    """Whether the default database is PostgreSQL (the hand-written SQL of sql.py), else the ORM forms."""
    return connections[read_alias()].vendor == "postgresql"


def queryset_rows(queryset) -> list[tuple]:
    """A values_list queryset's rows, with every UUID as its text: the batch path's hot read (ORM form)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return [tuple(str(v) if isinstance(v, uuid.UUID) else v for v in row) for row in queryset]
    from psycopg.types.datetime import TimestamptzLoader
    from psycopg.types.string import TextLoader

    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return []
    with connection.cursor() as cursor:
        adapters = cursor.cursor.adapters
        adapters.register_loader("uuid", TextLoader)
        adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


def sql_rows(sql: str, params) -> list[tuple]:
    """Rows of a raw SQL statement on PostgreSQL (Django's cursor), timestamps with psycopg's C loader.

    The batch path's raw statements cast uuids to text in SQL, and send each list as one array literal
    (`registry.lookups.pg_array_literal`), so neither Django nor psycopg walks the lists element by element.
    """
    from psycopg.types.datetime import TimestamptzLoader

    with connections[read_alias()].cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()
