"""Licences (api.md "Licences and permission requests")."""
from django.urls import path

from ..routing import by_method
from ..views.licences import LicenceDetailApi, LicenceFileApi, LicenceListApi, LicenceRevokeApi

urlpatterns = [
    path("licences", by_method(get=LicenceListApi, post=LicenceFileApi), name="licences"),
    path("licences/<uuid:id>", LicenceDetailApi.as_view(), name="licence"),
    path("licences/<uuid:id>/revoke", LicenceRevokeApi.as_view(), name="licence-revoke"),
]
