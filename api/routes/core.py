"""Lookups, reference data, works and declarations (api.md). Claims and evidence have their own route modules."""
from django.urls import path

from ..views.declarations import DeclarationApi, DeclarationRevokeApi, DeclarationsApi
from ..views.lookup import LookupApi
from ..views.reference import JurisdictionListApi, PurposeListApi
from ..views.works import WorkApi, WorksApi

urlpatterns = [
    path("lookup", LookupApi.as_view(), name="lookup"),
    path("purposes", PurposeListApi.as_view(), name="purposes"),
    path("jurisdictions", JurisdictionListApi.as_view(), name="jurisdictions"),
    path("works", WorksApi.as_view(), name="works"),
    path("works/<uuid:id>", WorkApi.as_view(), name="work"),
    path("declarations", DeclarationsApi.as_view(), name="declarations"),
    path("declarations/<uuid:id>", DeclarationApi.as_view(), name="declaration"),
    path("declarations/<uuid:id>/revoke", DeclarationRevokeApi.as_view(), name="declaration-revoke"),
]
