from django.contrib import admin
from django.urls import include, path

from api.health import healthz, readyz
from api.metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),  # Prometheus, protected (api/metrics.py)
    path("api/", include("api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", admin.site.urls),
]
