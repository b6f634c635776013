"""PostgreSQL's text COPY format, shared by every bulk writer (the audit log's batches, claims' tables)."""
from __future__ import annotations

__all__ = ["copy_cell"]


def copy_cell(value: str | None) -> str:
    """A value as a cell of PostgreSQL's text COPY format: NULL as \\N, backslash, tab, newline and carriage return
    escaped."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value
