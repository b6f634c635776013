"""Answers at dataset scale (sync.md)."""
from django.urls import path

from ..sync_views import ChangesListApi

urlpatterns = [
    path("changes", ChangesListApi.as_view(), name="changes"),
]
