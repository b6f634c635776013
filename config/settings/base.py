"""Settings shared by every environment. Everything that differs comes from the environment."""
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

from config.log_format import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The registry's public base URL: the `iss` of receipts and the origin of links in answers.
KYODAKU_BASE_URL = env("KYODAKU_BASE_URL", default="http://127.0.0.1:8000")

# Mail (dispute notices): printed to the console unless EMAIL_URL names a server (smtp+tls://user:pass@host:587).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Kyodaku <kyodaku@localhost>")

INSTALLED_APPS = [
    "config.apps.KyodakuAdminConfig",  # django.contrib.admin with Kyodaku's site as admin.site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from static files: no CDN at run time
    "axes",  # admin login throttle (below)
    "csp",
    "audit",
    "registry",
    "domains",
    "consent",
    "keys",
    "receipts",
    "claims",
    "sync",
    "api",
    "demo",
]

# Django's database sessions, but a cookie value Django could not have issued (a NUL in it, say) is no session
# rather than a query PostgreSQL refuses (core/sessions.py).
SESSION_ENGINE = "core.sessions"

# config.lanes: the classes marked `lanes` are Django's (or ours) for every request but a lookup asked with an API
# key and no cookie, which they pass straight through (docs/architecture.md, "Middleware").
MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",  # first: every response, a redirect or a refusal too, carries the id
    "django.middleware.security.SecurityMiddleware",
    "config.csp_once.CSPMiddleware",  # django-csp's, a plain response's policy built once
    "api.middleware.ProblemJsonMiddleware",  # errors under /api/ that never reach a DRF view: problem+json too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.lanes.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "config.lanes.UserTimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's own class, in every lane: `check --deploy` looks for it by name (security.W003), and for a
    # cookie-less lookup (DRF views are CSRF-exempt) it reads no cookie and does nothing else.
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.lanes.AuthenticationMiddleware",
    "config.lanes.ClaimsUploadGuardMiddleware",  # before the CSRF check reads an upload's body
    "config.lanes.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# A kept connection is checked before a request reuses it, so that a database restart costs the requests made
# while it is down (503) and nothing after; an unreachable server fails a connection attempt within seconds.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
    # Django's backend, its health check asking the kept connection's socket before the server (core.postgresql).
    DATABASES["default"]["ENGINE"] = "core.postgresql"
# Read replicas (docs/scaling.md): comma-separated database URLs; lookups read from one of them (core.db), holders
# and writes use the primary. In tests a replica mirrors the test database.
DATABASE_REPLICA_ALIASES = []
for _n, _url in enumerate(u for u in env.list("DATABASE_REPLICA_URLS", default=[]) if u):
    _alias = f"replica{_n + 1}"
    DATABASES[_alias] = {**env.db_url_config(_url), "ATOMIC_REQUESTS": False, "CONN_HEALTH_CHECKS": True,
                         "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
                         "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})), "TEST": {"MIRROR": "default"}}
    if DATABASES[_alias]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES[_alias]["ENGINE"] = "core.postgresql"
    DATABASE_REPLICA_ALIASES.append(_alias)
DATABASE_ROUTERS = ["core.db.ReplicaRouter"]
# A replica further behind the primary than this many seconds is not read (lookups and snapshot builds then read
# another replica or the primary): the bound replica lag adds to an answer's staleness (docs/scaling.md).
KYODAKU_REPLICA_MAX_LAG = env.float("KYODAKU_REPLICA_MAX_LAG", default=10.0)
# Lookups reuse a replica's measured lag for this long (per process); snapshot builds always measure afresh.
KYODAKU_REPLICA_LAG_CHECK_SECONDS = env.float("KYODAKU_REPLICA_LAG_CHECK_SECONDS", default=1.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Redis down: the cache misses instead of failing requests (config/cache.py); a hung Redis costs at most the
    # socket timeouts below.
    CACHES = {"default": {
        "BACKEND": "config.cache.ResilientRedisCache", "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
                    "socket_timeout": env.float("REDIS_TIMEOUT", default=0.5)},
    }}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The admin login (operators and holders' users) is throttled by django-axes: after KYODAKU_LOGIN_FAILURE_LIMIT
# failed attempts for one username from one client address, that pair is refused for KYODAKU_LOGIN_COOLOFF_MINUTES
# (every further try restarts the wait). The pair, not the username alone, so that an outsider cannot lock a holder
# out of their own account from elsewhere. Attempts are kept in the database (AccessAttempt, visible to operators).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("KYODAKU_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("KYODAKU_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.login_throttle.locked_out"
AXES_CLIENT_IP_CALLABLE = "config.login_throttle.client_ip"
# How many proxies in front of the web process append to X-Forwarded-For: the client is the address that many
# hops from the right (never the left-most, which the client writes itself). 0: REMOTE_ADDR.
KYODAKU_TRUSTED_PROXY_COUNT = env.int("KYODAKU_TRUSTED_PROXY_COUNT", default=0)

# Content-Security-Policy (django-csp) for every page, the admin's above all: scripts and styles only from this
# origin or inline with the response's nonce (`request.csp_nonce`), nothing framed, no plugins, forms post here only.
# `data:` images: the admin's and Swagger UI's icons are inline SVGs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
FORMAT_MODULE_PATH = ["config.formats"]  # Django's date formats with the time zone named
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
KYODAKU_SNAPSHOT_ROOT = Path(env("KYODAKU_SNAPSHOT_ROOT", default=str(BASE_DIR / "var" / "snapshots")))
# Snapshots and filters are written through Django's storage API under the "snapshots" alias: a local directory
# by default; any django-storages backend in production (docs/sync.md, "Storage").
SNAPSHOT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(KYODAKU_SNAPSHOT_ROOT)}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "snapshots": SNAPSHOT_STORAGE,
}
KYODAKU_SNAPSHOT_FILTER_FPR = env.float("KYODAKU_SNAPSHOT_FILTER_FPR", default=1e-6)
KYODAKU_SNAPSHOT_CHUNK = env.int("KYODAKU_SNAPSHOT_CHUNK", default=5000)
KYODAKU_SNAPSHOT_MAX_AGE = env.int("KYODAKU_SNAPSHOT_MAX_AGE", default=24 * 3600)
KYODAKU_WEBHOOK_TIMEOUT = env.float("KYODAKU_WEBHOOK_TIMEOUT", default=5.0)
# Private, loopback and link-local webhook targets (and plain http) are refused; only test settings allow them.
KYODAKU_WEBHOOK_ALLOW_PRIVATE = False  # not from the environment: a deployment cannot open this by mistake
# Pairs the beat task keeps fresh even before anyone asked ("train-genai/JP,tdm/EU"); asked-for pairs are kept too.
KYODAKU_SNAPSHOT_PAIRS = env.list("KYODAKU_SNAPSHOT_PAIRS", default=[])

# Celery: with no broker configured, tasks run eagerly in the calling process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=6 * 3600 - 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_IGNORE_RESULT = True
# `celery -A config beat` (docker-compose's `beat` service) re-checks verified domains, refreshes stale snapshots
# and sends webhook messages.
# Lookup statistics (consent.usage): the counters' Redis; empty: the default cache's Redis, else in-process.
KYODAKU_USAGE_REDIS_URL = env("KYODAKU_USAGE_REDIS_URL", default="")

CELERY_BEAT_SCHEDULE = {
    "domains-recheck": {"task": "domains.tasks.domain_claims_recheck", "schedule": 3600.0},
    "snapshots-refresh": {"task": "sync.snapshots_refresh",
                          "schedule": env.int("KYODAKU_SNAPSHOT_REFRESH_SECONDS", default=3600)},
    # The lookup counters (Redis) into the holders' daily statistics (consent.usage; idempotent).
    "lookup-counts-flush": {"task": "consent.tasks.lookup_counts_flush",
                            "schedule": env.int("KYODAKU_USAGE_FLUSH_SECONDS", default=300)},
    # Failed uploads, lapsed domain verifications, mandates about to end: mailed once a day (config.attention).
    "attention-digest": {"task": "config.attention_digest", "schedule": 86400.0},
    "webhooks-dispatch": {"task": "sync.webhooks_dispatch",
                          "schedule": env.int("KYODAKU_WEBHOOK_DISPATCH_SECONDS", default=10)},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "api.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Kyodaku API",
    "DESCRIPTION": "Consent registry for AI training and use: rights holders declare, AI developers ask.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # One view per operation, several operations per URL (api/routing.py).
    "DEFAULT_GENERATOR_CLASS": "api.schema.OperationSchemaGenerator",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Kyodaku's own settings (each can be set in the environment).
KYODAKU_LOOKUP_BATCH_MAX = env.int("KYODAKU_LOOKUP_BATCH_MAX", default=10_000)
# Content matching (docs/match.md): code sets per POST /api/v1/match, the largest file it fingerprints, and the
# most pixels an image may have before it is decoded (a bound on decoding time and memory).
KYODAKU_MATCH_BATCH_MAX = env.int("KYODAKU_MATCH_BATCH_MAX", default=1_000)
KYODAKU_MATCH_MAX_FILE_BYTES = env.int("KYODAKU_MATCH_MAX_FILE_BYTES", default=20 * 1024 * 1024)
KYODAKU_MATCH_MAX_PIXELS = env.int("KYODAKU_MATCH_MAX_PIXELS", default=40_000_000)
# Files a holder uploads for its works to be fingerprinted (docs/match.md "Fingerprints from files").
KYODAKU_FINGERPRINT_MAX_FILE_BYTES = env.int("KYODAKU_FINGERPRINT_MAX_FILE_BYTES", default=20 * 1024 * 1024)
# Seconds a client may reuse a GET lookup's answer without revalidating (Cache-Control max-age): the bound on how
# long a revocation can go unseen by a client that caches. 0: revalidate every time (ETag / 304 still work).
KYODAKU_LOOKUP_MAX_AGE = env.int("KYODAKU_LOOKUP_MAX_AGE", default=30)
# The plain GET /api/v1/lookup answered outside DRF's per-request machinery (api.views.lookup.lookup_one_lean), by
# the same functions and with the same bytes; false: every GET goes through the DRF view.
KYODAKU_LEAN_GET = env.bool("KYODAKU_LEAN_GET", default=True)
# That GET answered before Django's handler and middleware chain (config.wsgi_lane), by the same functions and with
# the same bytes; false: Django's handler answers every request.
KYODAKU_WSGI_LANE = env.bool("KYODAKU_WSGI_LANE", default=True)
# Days a holder's API token is valid (`create_holder_token --days` and the admin may choose otherwise).
KYODAKU_HOLDER_TOKEN_DAYS = env.int("KYODAKU_HOLDER_TOKEN_DAYS", default=90)
KYODAKU_API_KEY_DEFAULT_RATE = env("KYODAKU_API_KEY_DEFAULT_RATE", default="100/s")
# Seconds a web process reuses an API key it has verified (keys.selectors.api_key_verified): a key revoked in
# another process is refused within this bound (docs/security.md). 0: read and check the key on every request.
KYODAKU_API_KEY_LOCAL_SECONDS = env.float("KYODAKU_API_KEY_LOCAL_SECONDS", default=5.0)
# Domain control checks (interop.md): seconds per network operation, bytes read, hours between re-checks.
KYODAKU_DOMAIN_CHECK_TIMEOUT = env.float("KYODAKU_DOMAIN_CHECK_TIMEOUT", default=3.0)
KYODAKU_DOMAIN_CHECK_MAX_BYTES = env.int("KYODAKU_DOMAIN_CHECK_MAX_BYTES", default=4096)
KYODAKU_DOMAIN_RECHECK_HOURS = env.int("KYODAKU_DOMAIN_RECHECK_HOURS", default=24)
# At most this many disputes open at once per claimant (0: no cap); a claim over it is refused (too-many-disputes).
KYODAKU_MAX_OPEN_DISPUTES_PER_CLAIMANT = env.int("KYODAKU_MAX_OPEN_DISPUTES_PER_CLAIMANT", default=0)
# Permission requests (docs/licences.md): at most this many open at once per organisation (0: no cap; over it 409
# too-many-open-requests), and at most this many filed per period per organisation ("N/second|minute|hour|day";
# over it 429 with Retry-After; "none": no rate).
KYODAKU_MAX_OPEN_PERMISSION_REQUESTS = env.int("KYODAKU_MAX_OPEN_PERMISSION_REQUESTS", default=100)
KYODAKU_PERMISSION_REQUEST_RATE = env("KYODAKU_PERMISSION_REQUEST_RATE", default="20/hour")
# True: a url, url-prefix or domain identifier counts in lookups only while its holder has verified control of the
# host (or a parent domain) at the answer's time; an unverified one is no match at all (interop.md, the optional
# setting; docs/interop.md "Requiring verification for every web claim"). Off by default, as the contract says.
KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS = env.bool("KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS", default=False)
# Test hooks, never set in production: private addresses allowed, another port than 443, an extra CA file.
KYODAKU_DOMAIN_CHECK_ALLOW_PRIVATE = False
KYODAKU_DOMAIN_CHECK_PORT = 443
KYODAKU_DOMAIN_CHECK_CA_FILE = ""
KYODAKU_CLAIMS_MAX_FILE_BYTES = env.int("KYODAKU_CLAIMS_MAX_FILE_BYTES", default=512 * 1024 * 1024)
KYODAKU_CLAIMS_MAX_ROWS = env.int("KYODAKU_CLAIMS_MAX_ROWS", default=5_000_000)
KYODAKU_CLAIMS_MAX_FIELD_CHARS = env.int("KYODAKU_CLAIMS_MAX_FIELD_CHARS", default=10_000)
KYODAKU_CLAIMS_MAX_COLUMNS = env.int("KYODAKU_CLAIMS_MAX_COLUMNS", default=100)
KYODAKU_CLAIMS_MAX_STALLED_RUNS = env.int("KYODAKU_CLAIMS_MAX_STALLED_RUNS", default=3)
KYODAKU_CLAIMS_MAX_REPORT_CHARS = env.int("KYODAKU_CLAIMS_MAX_REPORT_CHARS", default=20_000_000)
KYODAKU_CLAIMS_MAX_QUEUED_PER_HOLDER = env.int("KYODAKU_CLAIMS_MAX_QUEUED_PER_HOLDER", default=5)
KYODAKU_CLAIMS_CHUNK_ROWS = env.int("KYODAKU_CLAIMS_CHUNK_ROWS", default=2_500)
# Imports of at least this many rows (left to do) are read, validated and planned in a second process
# (claims.planner), beside the worker's process that writes them; smaller ones, and dry runs, in the worker's.
# Negative (the default): always in the worker's, on its planning thread; the second process was slower on this
# project's 2-core machine (docs/performance.md, "planning in a second process").
KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS = env.int("KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS", default=-1)
KYODAKU_CLAIMS_KEEP_FILES = env.bool("KYODAKU_CLAIMS_KEEP_FILES", default=False)
KYODAKU_SIGNING_KEY_DIR = Path(env("KYODAKU_SIGNING_KEY_DIR", default=str(BASE_DIR / "var" / "signing-keys")))
# The active receipt-signing key as a PKCS#8 PEM (Ed25519); when empty, keys live as files in the directory above.
KYODAKU_SIGNING_KEY = env("KYODAKU_SIGNING_KEY", default="")
# Create a signing key on first use when none exists (dev and test); production turns this off.
KYODAKU_SIGNING_KEY_AUTOCREATE = env.bool("KYODAKU_SIGNING_KEY_AUTOCREATE", default=True)

# Large batch bodies (10,000 ids) must fit; the claims upload streams to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=4 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Logs (docs/scaling.md): `text` lines locally, one JSON object per line in production (LOG_FORMAT=json); each record
# carries the request id (X-Request-ID) and, in the worker, the Celery task id.
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# One access line per response (logger `kyodaku.access`, config/request_id.py), with the request id; the web server
# (config/serve.py) writes none of its own.
KYODAKU_ACCESS_LOG = env.bool("KYODAKU_ACCESS_LOG", default=True)

# Prometheus metrics at /metrics (docs/scaling.md, "Metrics"): for `Authorization: Bearer <token>` or an operator's
# session. Unset: no endpoint (404) and no django-prometheus middleware, so nothing is counted per request but the
# registry's own lookup counters.
KYODAKU_METRICS_TOKEN = env("KYODAKU_METRICS_TOKEN", default="")
if KYODAKU_METRICS_TOKEN:
    MIDDLEWARE = [MIDDLEWARE[0], "django_prometheus.middleware.PrometheusBeforeMiddleware", *MIDDLEWARE[1:],
                  "django_prometheus.middleware.PrometheusAfterMiddleware"]
