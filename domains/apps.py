from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DomainsConfig(AppConfig):
    name = "domains"
    verbose_name = _("Domain control")

    def ready(self):
        from registry.web_control import register_reader

        from .selectors import host_verified, verified_domains_at

        register_reader(verified_domains_at=verified_domains_at, host_verified=host_verified)
