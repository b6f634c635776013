"""Answers at dataset scale (sync.md)."""
from django.urls import path

from ..sync_views import ChangesListApi, SnapshotApi, SnapshotFileApi

urlpatterns = [
    path("changes", ChangesListApi.as_view(), name="changes"),
    path("snapshots", SnapshotApi.as_view(), name="snapshots"),
    path("snapshots/<uuid:id>/<slug:name>", SnapshotFileApi.as_view(), name="snapshot-file"),
]
