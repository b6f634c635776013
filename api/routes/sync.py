"""Answers at dataset scale (sync.md)."""
from django.urls import path

from ..views.sync import ChangesListApi, SnapshotApi, SnapshotFileApi
from ..views.webhooks import WebhookApi, WebhookDeliveriesApi, WebhookEnableApi, WebhooksApi

urlpatterns = [
    path("changes", ChangesListApi.as_view(), name="changes"),
    path("snapshots", SnapshotApi.as_view(), name="snapshots"),
    path("snapshots/<uuid:id>/<slug:name>", SnapshotFileApi.as_view(), name="snapshot-file"),
    path("webhooks", WebhooksApi.as_view(), name="webhooks"),
    path("webhooks/<uuid:id>", WebhookApi.as_view(), name="webhook"),
    path("webhooks/<uuid:id>/enable", WebhookEnableApi.as_view(), name="webhook-enable"),
    path("webhooks/<uuid:id>/deliveries", WebhookDeliveriesApi.as_view(), name="webhook-deliveries"),
]
