from django.urls import path

from api.views.evidence import AuditEventListApi, AuditHeadDetailApi, KeyListApi

urlpatterns = [
    path("keys", KeyListApi.as_view(), name="keys"),
    path("audit/head", AuditHeadDetailApi.as_view(), name="audit-head"),
    path("audit/events", AuditEventListApi.as_view(), name="audit-events"),
]
