"""The admin app, configured so that `admin.site` (and every `@admin.register`) is Kyodaku's own site."""
from django.contrib.admin.apps import AdminConfig


class KyodakuAdminConfig(AdminConfig):
    default_site = "config.admin_site.KyodakuAdminSite"
