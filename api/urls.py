from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .views.spawning import SpawningUrlsQueryApi

urlpatterns = [
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script from its own URL (?script), so the page needs no inline script (CSP).
    path("v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
         name="docs"),
    path("v1/", include("api.routes.core")),
    path("v1/", include("api.routes.claims")),
    path("v1/", include("api.routes.evidence")),
    path("v1/", include("api.routes.sync")),
    path("v1/", include("api.routes.interop")),
    path("v1/", include("api.routes.permission_requests")),
    path("v1/", include("api.routes.licences")),
    # Spawning's path, so that datadiligence needs only the host changed (interop.md).
    path("v2/query/urls/", SpawningUrlsQueryApi.as_view(), name="spawning-query-urls"),
]
