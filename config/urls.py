from django.contrib import admin
from django.urls import include, path, re_path

from api.health import healthz, readyz
from api.metrics import metrics
from config.views import admin_alias

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),  # Prometheus, protected (api/metrics.py)
    path("api/", include("api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin lives at `/` (its own site); `/admin/…`, where people and tools look first, answers with a redirect
    # to the same page there (docs/admin.md).
    re_path(r"^admin/(?P<rest>.*)$", admin_alias, name="admin-alias"),
    path("", admin.site.urls),
]
