"""Test settings: the database comes from DATABASE_URL (PostgreSQL in CI).

Tasks run eagerly unless a test starts a real worker."""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-not-secret"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "snapshots": SNAPSHOT_STORAGE,  # noqa: F405  (tests point it at a temporary directory)
}
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default="")
# A test that starts a real Celery worker runs it (and dispatches to it) with TEST_CELERY_EAGER=0.
CELERY_TASK_ALWAYS_EAGER = env.bool("TEST_CELERY_EAGER", default=True)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# Static files are not collected for tests; Django's own finders serve what the browser tests need.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
KYODAKU_WEBHOOK_ALLOW_PRIVATE = True  # tests post to local HTTP servers; the refusal has its own tests
# Generous for the local receivers that answer at once (a loaded CI machine); the timeout's own test sets 0.3 s.
KYODAKU_WEBHOOK_TIMEOUT = 10.0
# A test runs inside one transaction: after a request's deliberate database error (a 409 race, say), a health check
# would find the transaction aborted and close the test's own connection. Long-lived processes keep the check.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
