"""Answers at dataset scale (sync.md)."""
from django.urls import path

from ..routing import by_method
from ..views.sync import ChangeListApi, SnapshotFileDownloadApi, SnapshotManifestApi
from ..views.webhooks import (
    WebhookCreateApi,
    WebhookDeleteApi,
    WebhookDeliveryListApi,
    WebhookDetailApi,
    WebhookEnableApi,
    WebhookListApi,
)

urlpatterns = [
    path("changes", ChangeListApi.as_view(), name="changes"),
    path("snapshots", SnapshotManifestApi.as_view(), name="snapshots"),
    path("snapshots/<uuid:id>/<slug:name>", SnapshotFileDownloadApi.as_view(), name="snapshot-file"),
    path("webhooks", by_method(get=WebhookListApi, post=WebhookCreateApi), name="webhooks"),
    path("webhooks/<uuid:id>", by_method(get=WebhookDetailApi, delete=WebhookDeleteApi), name="webhook"),
    path("webhooks/<uuid:id>/enable", WebhookEnableApi.as_view(), name="webhook-enable"),
    path("webhooks/<uuid:id>/deliveries", WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
]
