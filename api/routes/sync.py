"""Answers at dataset scale (sync.md)."""
from django.urls import path

from ..views.sync import ChangeListApi, SnapshotFileDownloadApi, SnapshotManifestApi
from ..views.webhooks import WebhookApi, WebhookDeliveryListApi, WebhookEnableApi, WebhooksApi

urlpatterns = [
    path("changes", ChangeListApi.as_view(), name="changes"),
    path("snapshots", SnapshotManifestApi.as_view(), name="snapshots"),
    path("snapshots/<uuid:id>/<slug:name>", SnapshotFileDownloadApi.as_view(), name="snapshot-file"),
    path("webhooks", WebhooksApi.as_view(), name="webhooks"),
    path("webhooks/<uuid:id>", WebhookApi.as_view(), name="webhook"),
    path("webhooks/<uuid:id>/enable", WebhookEnableApi.as_view(), name="webhook-enable"),
    path("webhooks/<uuid:id>/deliveries", WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
]
