"""Production: no default secrets; a missing one stops the process at start."""
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import LOG_LEVEL, env, logging_config

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set (at least 50 characters) in production.")
# Without these, base.py would quietly fall back to what suits a laptop: SQLite, a per-process cache (every gunicorn
# worker its own rate-limit counters), tasks run inside the web request, and receipts issued for 127.0.0.1.
_REQUIRED = {
    "DATABASE_URL": "the PostgreSQL database",
    "REDIS_URL": "the shared cache (API-key rate limits, rule cache)",
    "CELERY_BROKER_URL": "the Celery broker (claims are processed by the worker, not in the web request)",
    "KYODAKU_BASE_URL": "the registry's public URL (the `iss` of receipts)",
}
_missing = [f"{name} ({why})" for name, why in _REQUIRED.items() if not env(name, default="").strip()]
if _missing:
    raise ImproperlyConfigured("Production needs these settings: " + "; ".join(_missing) + ".")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Receipt-signing keys are provisioned (setting or key directory, `manage.py rotate_signing_key`), never improvised.
KYODAKU_SIGNING_KEY_AUTOCREATE = env.bool("KYODAKU_SIGNING_KEY_AUTOCREATE", default=False)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind one proxy (compose publishes the web port on loopback for it): the login throttle takes the client's
# address from the proxy's X-Forwarded-For entry, not from the proxy's own address.
KYODAKU_TRUSTED_PROXY_COUNT = env.int("KYODAKU_TRUSTED_PROXY_COUNT", default=1)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# JSON log lines unless LOG_FORMAT=text (docs/scaling.md, "Logs").
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
