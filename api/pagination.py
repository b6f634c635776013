"""Cursor pagination (`next`, `previous`, `results`), newest first.

A cursor is opaque to clients but only base64 of `o=..&r=..&p=..`: a forged one must be a 400 problem
(`invalid-cursor`), not DRF's 404 for undecodable ones nor a 500 when its position is not a value of the ordering
field (the database refuses `p=2026` as a time)."""
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound

from core.errors import ValidationFailed, field_error


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("The cursor is not one this API gave out.",
                            errors=[field_error("cursor", "invalid-cursor",
                                                "Use the `next` or `previous` link of a page as it was given.")],
                            code="invalid-cursor")


class CursorPagination(pagination.CursorPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = "-created_at"

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            ordering = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
            field = self._model._meta.get_field(ordering.lstrip("-"))
            try:
                field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise _invalid_cursor() from None
            if "\x00" in cursor.position:  # PostgreSQL refuses NUL in any text it is sent
                raise _invalid_cursor()
        return cursor


class WorkCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class DeclarationCursorPagination(CursorPagination):
    ordering = ("-recorded_at", "-id")
