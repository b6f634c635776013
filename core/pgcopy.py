"""PostgreSQL's text COPY format, shared by every bulk writer (the audit log's batches, claims' tables)."""
from __future__ import annotations

__all__ = ["copy_cell", "copy_cell_bytes"]


def copy_cell(value: str | None) -> str:
    """A value as a cell of PostgreSQL's text COPY format: NULL as \\N, backslash, tab, newline and carriage return
    escaped."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def copy_cell_bytes(value: bytes | None) -> bytes:
    """`copy_cell` of UTF-8 bytes (escaping the same four ASCII bytes, which never occur inside a multi-byte
    character)."""
    if value is None:
        return b"\\N"
    if b"\\" in value or b"\t" in value or b"\n" in value or b"\r" in value:
        value = value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return value
