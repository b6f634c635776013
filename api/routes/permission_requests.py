"""Permission requests (api.md "Licences and permission requests")."""
from django.urls import path

from ..routing import by_method
from ..views.permission_requests import (
    PermissionRequestAcceptApi,
    PermissionRequestCreateApi,
    PermissionRequestDeclineApi,
    PermissionRequestDetailApi,
    PermissionRequestListApi,
    PermissionRequestWithdrawApi,
)

urlpatterns = [
    path("permission-requests", by_method(get=PermissionRequestListApi, post=PermissionRequestCreateApi),
         name="permission-requests"),
    path("permission-requests/<uuid:id>", PermissionRequestDetailApi.as_view(), name="permission-request"),
    path("permission-requests/<uuid:id>/accept", PermissionRequestAcceptApi.as_view(),
         name="permission-request-accept"),
    path("permission-requests/<uuid:id>/decline", PermissionRequestDeclineApi.as_view(),
         name="permission-request-decline"),
    path("permission-requests/<uuid:id>/withdraw", PermissionRequestWithdrawApi.as_view(),
         name="permission-request-withdraw"),
]
