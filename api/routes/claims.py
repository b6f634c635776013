"""Bulk claims (api.md, "Bulk claims")."""
from django.urls import path

from ..views.claims import (
    ClaimsExportApi,
    ClaimsSubmissionCreateApi,
    ClaimsSubmissionDetailApi,
    ClaimsSubmissionErrorsApi,
)

urlpatterns = [
    path("claims", ClaimsSubmissionCreateApi.as_view(), name="claims"),
    path("claims/<uuid:id>", ClaimsSubmissionDetailApi.as_view(), name="claims-detail"),
    path("export", ClaimsExportApi.as_view(), name="claims-export"),
    path("claims/<uuid:id>/errors.csv", ClaimsSubmissionErrorsApi.as_view(), name="claims-errors"),
]
