"""Interoperability (interop.md): the vocabulary map, signals out and in, domain control."""
from django.urls import path

from ..views.vocabularies import VocabularyListApi

urlpatterns = [
    path("vocabularies", VocabularyListApi.as_view(), name="vocabularies"),
]
