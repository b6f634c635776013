"""Cursor pagination (`next`, `previous`, `results`), newest first."""
from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = "-created_at"


class WorkCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class DeclarationCursorPagination(CursorPagination):
    ordering = ("-recorded_at", "-id")
