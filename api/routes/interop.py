"""Interoperability (interop.md): the vocabulary map, signals out and in, domain control."""
from django.urls import path

from ..views.signals import (
    DomainRobotsDetailApi,
    DomainTdmrepDetailApi,
    SignalHeadersDetailApi,
    SignalImportApi,
    WorkCawgDetailApi,
)
from ..views.vocabularies import VocabularyListApi

urlpatterns = [
    path("vocabularies", VocabularyListApi.as_view(), name="vocabularies"),
    path("signals/headers", SignalHeadersDetailApi.as_view(), name="signals-headers"),
    path("signals/import", SignalImportApi.as_view(), name="signals-import"),
    path("signals/<str:domain>/robots.txt", DomainRobotsDetailApi.as_view(), name="signals-robots"),
    path("signals/<str:domain>/tdmrep.json", DomainTdmrepDetailApi.as_view(), name="signals-tdmrep"),
    path("works/<uuid:id>/cawg", WorkCawgDetailApi.as_view(), name="work-cawg"),
]
