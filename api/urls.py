from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/", include("api.routes.core")),
    path("v1/", include("api.routes.claims")),
    path("v1/", include("api.routes.evidence")),
    path("v1/", include("api.routes.interop")),
]
