"""Interoperability (interop.md): the vocabulary map, signals out and in, domain control."""
from django.urls import path

from ..views.signals import DomainRobotsApi, DomainTdmrepApi, SignalHeadersApi, SignalImportApi, WorkCawgApi
from ..views.vocabularies import VocabularyListApi

urlpatterns = [
    path("vocabularies", VocabularyListApi.as_view(), name="vocabularies"),
    path("signals/headers", SignalHeadersApi.as_view(), name="signals-headers"),
    path("signals/import", SignalImportApi.as_view(), name="signals-import"),
    path("signals/<str:domain>/robots.txt", DomainRobotsApi.as_view(), name="signals-robots"),
    path("signals/<str:domain>/tdmrep.json", DomainTdmrepApi.as_view(), name="signals-tdmrep"),
    path("works/<uuid:id>/cawg", WorkCawgApi.as_view(), name="work-cawg"),
]
