"""Lookups, reference data, works and declarations (api.md). Claims and evidence have their own route modules."""
from django.urls import path

from ..routing import by_method, lean_first
from ..views.declarations import DeclarationDetailApi, DeclarationFileApi, DeclarationListApi, DeclarationRevokeApi
from ..views.fingerprints import WorkFileDetailApi, WorkFileUploadApi
from ..views.lookup import LookupBatchApi, LookupOneApi, lookup_one_lean
from ..views.match import MatchApi
from ..views.reference import JurisdictionListApi, PurposeListApi
from ..views.works import WorkCreateApi, WorkDetailApi, WorkListApi, WorkUpdateApi

urlpatterns = [
    # The plain GET of a crawler takes the lean lane (api.views.lookup.lookup_one_lean); anything else the views.
    path("lookup", lean_first(by_method(get=LookupOneApi, post=LookupBatchApi), lookup_one_lean), name="lookup"),
    path("match", MatchApi.as_view(), name="match"),
    path("purposes", PurposeListApi.as_view(), name="purposes"),
    path("jurisdictions", JurisdictionListApi.as_view(), name="jurisdictions"),
    path("works", by_method(get=WorkListApi, post=WorkCreateApi), name="works"),
    path("works/<uuid:id>", by_method(get=WorkDetailApi, patch=WorkUpdateApi), name="work"),
    path("works/<uuid:id>/files", WorkFileUploadApi.as_view(), name="work-files"),
    path("works/<uuid:id>/files/<uuid:job>", WorkFileDetailApi.as_view(), name="work-file"),
    path("declarations", by_method(get=DeclarationListApi, post=DeclarationFileApi), name="declarations"),
    path("declarations/<uuid:id>", DeclarationDetailApi.as_view(), name="declaration"),
    path("declarations/<uuid:id>/revoke", DeclarationRevokeApi.as_view(), name="declaration-revoke"),
]
