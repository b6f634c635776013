from django.urls import path

from api.views.evidence import AuditEventsListApi, AuditHeadApi, KeysListApi

urlpatterns = [
    path("keys", KeysListApi.as_view(), name="keys"),
    path("audit/head", AuditHeadApi.as_view(), name="audit-head"),
    path("audit/events", AuditEventsListApi.as_view(), name="audit-events"),
]
