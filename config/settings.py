"""Settings for the integration registry: one file, read from the environment.

Every setting comes from an environment variable (or a `.env` file beside manage.py, which
`make run` generates for development). Production (`DEBUG=false`) refuses to start without
`SECRET_KEY` and `FIELD_ENCRYPTION_KEYS`, so a missing key can never silently weaken it.
"""

from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from config.env import DEFAULT_ENV_FILE, LiteralEnv, read_env_file

BASE_DIR = Path(__file__).resolve().parent.parent

# Every value is read literally (config/env.py): no `$` references, `.env` comments are
# comments. Variables already in the environment win over the file; ENV_FILE points
# elsewhere (or at /dev/null, to read none).
env = LiteralEnv()
read_env_file(env.str("ENV_FILE", default=str(DEFAULT_ENV_FILE)))

DEBUG = env.bool("DEBUG", default=False)


def _required_in_production(name: str) -> str:
    value: str = env.str(name, default="")
    if not value and not DEBUG:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is false (see README, 'Configuration')."
        )
    return value


SECRET_KEY = _required_in_production("SECRET_KEY") or "insecure-dev-only-key"
# Comma-separated Fernet keys, newest first: new values are encrypted with the first, every
# key is tried on read, so a key can be rotated in without a flag day (see rotate_encryption_keys).
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in _required_in_production("FIELD_ENCRYPTION_KEYS").split(",")
    if key.strip()
]
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is empty: secrets cannot be stored. Run `make env` or see README."
    )
for _position, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    # Refuse to start rather than serve 500s on every secret: a Fernet key is 32 url-safe
    # base64-encoded bytes. The message names the position, never the value.
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS entry {_position} is not a Fernet key (32 url-safe "
            "base64-encoded bytes). Generate one: see README, 'Configuration'."
        ) from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# JSON under the API's paths, Django's page elsewhere.
CSRF_FAILURE_VIEW = "integrations.api.errors.csrf_failure_handler"

INSTALLED_APPS = [
    "polymorphic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "tenants",
    "integrations",
    # Staff login lock-out (see AXES_* below); last, as its documentation asks.
    "axes",
]

MIDDLEWARE = [
    # First, so that every secret a request handles can be scrubbed from its error report.
    "integrations.error_reports.SecretsSeenInRequestMiddleware",
    # An id for every request: echoed in X-Request-ID, on every log line, in audit events.
    "config.request_id.RequestIdMiddleware",
    # /healthz and /readyz: answered here, before host checks, HTTPS redirects and sessions.
    "config.health.HealthCheckMiddleware",
    # Whatever Django answers under the API in the end has the JSON error shape.
    "config.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy (below) and Cache-Control: no-store on every answer but /static/.
    "config.csp.CSPMiddleware",
    "config.request_guards.NoStoreMiddleware",
    # A chunked body (no Content-Length) is read where the server de-chunked it, else a 411.
    "config.request_body.TransferEncodedBodyMiddleware",
    # Serves /static/ in production too (after `collectstatic`), so the app is self-contained.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A charset that cannot decode text, or a query or form that fails to decode, is a 400
    # before anything reads them; then a NUL character in the path, query or form is one too.
    "config.request_guards.RefuseUndecodableCharsetMiddleware",
    "config.request_guards.RejectNulCharactersMiddleware",
    # Django's session, authentication and messages middleware, skipped under the API (whose
    # requests carry a token, not a session): config/browser_middleware.py.
    "config.browser_middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.browser_middleware.BrowserAuthenticationMiddleware",
    "config.browser_middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database error in a view is a 503 page (or JSON under the API), not a 500.
    "config.middleware.DatabaseUnavailableMiddleware",
    # Turns a locked-out login into the lock-out page (django-axes; last, as it asks).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default, made fit for a small real deployment: WAL lets reads go on during
    # a write and makes commits cheap; IMMEDIATE takes the write lock when a transaction
    # starts, so two concurrent upserts queue (up to `timeout` s) instead of failing with
    # "database is locked" when a read lock cannot be upgraded.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # Django's backend with a LIKE that folds case beyond ASCII, as PostgreSQL's search does
    # (config/sqlite).
    DATABASES["default"]["ENGINE"] = "config.sqlite"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that costs no round trip (config/postgresql).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    # Fail fast rather than hang: a database that accepts TCP but never answers held a
    # request for 130 s (psycopg's default), and a runaway statement held it for ever.
    # Seconds (0: no statement limit; psycopg's 130 s to connect). Values already given in
    # DATABASE_URL's query string win.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
    _statement_ms = round(env.float("DATABASE_STATEMENT_TIMEOUT", default=30) * 1000)
    if "statement_timeout" not in _options.get("options", ""):
        _options["options"] = (
            f"{_options.get('options', '')} -c statement_timeout={_statement_ms}".strip()
        )
    # Prepared statements: the server parses and plans a statement once per connection
    # instead of on every request. Measured under load (make bench's setup): PostgreSQL's CPU
    # per POST replace 2.8 → 1.4 ms, per GET list 3.1 → 1.3 ms; planning alone was ~1 ms of
    # each request (the polymorphic reads' joins). Django turns both off by default for
    # transaction-mode poolers: set DATABASE_PREPARED_STATEMENTS=false behind PgBouncer < 1.21
    # or any pooler that does not track protocol-level prepared statements.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        _options.setdefault("server_side_binding", True)
        # psycopg's own default: a statement is prepared after 5 runs on a connection, so
        # one-off statements (admin pages, migrations) do not churn its cache of 100.
        _options.setdefault("prepare_threshold", 5)
# Keep each thread's connection for CONN_MAX_AGE seconds (0: a new one per request) instead of
# connecting per request; CONN_HEALTH_CHECKS tests a kept connection before a request reuses
# it, so a database restart costs no failed request (on PostgreSQL without a round trip:
# config/postgresql). Values given in DATABASE_URL win. Off
# with DEBUG: runserver starts a thread per request, which would only pile connections up.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if DEBUG else 60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes watches every login (admin and /accounts/login/) before the model backend checks
# the password: a locked-out user name and address is refused whatever the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# How many versions of each integration's values are kept for rollback (the newest ones). At
# least 1: the current values are always a version (history, rollback, the ETag's number).
INTEGRATION_VERSIONS_KEPT = env.int("INTEGRATION_VERSIONS_KEPT", default=10)
if INTEGRATION_VERSIONS_KEPT < 1:
    raise ImproperlyConfigured("INTEGRATION_VERSIONS_KEPT must be at least 1.")

# --- Verifying credentials against the providers (README: Verifying credentials) -------------
# Where each provider's verification call goes: configuration only, never user input (the one
# choice a record makes, Salesforce's login host, picks between the two login URLs below).
# Tests point them at local fake servers. Seconds: connecting, then waiting for each read.
VERIFY_CONNECT_TIMEOUT = env.float("VERIFY_CONNECT_TIMEOUT", default=5.0)
VERIFY_READ_TIMEOUT = env.float("VERIFY_READ_TIMEOUT", default=10.0)
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
SALESFORCE_TEST_LOGIN_URL = env.str(
    "SALESFORCE_TEST_LOGIN_URL", default="https://test.salesforce.com"
)
TWILIO_API_URL = env.str("TWILIO_API_URL", default="https://api.twilio.com")
SENDGRID_API_URL = env.str("SENDGRID_API_URL", default="https://api.sendgrid.com")
DATASIFT_API_URL = env.str("DATASIFT_API_URL", default="https://api.datasift.com/v1.6")
for _name in (
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_TEST_LOGIN_URL",
    "TWILIO_API_URL",
    "SENDGRID_API_URL",
    "DATASIFT_API_URL",
):
    if not globals()[_name].startswith(("https://", "http://")):
        raise ImproperlyConfigured(f"{_name} must be an http(s):// URL.")
if VERIFY_CONNECT_TIMEOUT <= 0 or VERIFY_READ_TIMEOUT <= 0:
    raise ImproperlyConfigured("VERIFY_CONNECT_TIMEOUT and VERIFY_READ_TIMEOUT must be > 0.")

# The API reads at most this many bytes of a request body; more answers 413.
API_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["integrations.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's negotiation, answering the usual Accept headers (none, */*, JSON) without parsing.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "integrations.api.negotiation.JsonFirstContentNegotiation",
    "EXCEPTION_HANDLER": "integrations.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Requests per token (API_TOKEN_RATE); failed authentications per address are limited by
    # the authentication class itself (API_AUTH_FAILURE_RATE), see tenants/throttling.py.
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.TokenRateThrottle"],
}

# --- Rate limits and lock-outs ---------------------------------------------------------------
# Their counters live in this cache, which every server process must share: Redis in
# production (redis://host:6379/0, Django's RedisCache), a per-process memory cache by default
# (`make run`, tests). `manage.py check --deploy` warns when it is not shared.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["LOCATION"].startswith(("redis://", "rediss://")):
    # Django's RedisCache, one redis-py client per pool instead of one per call (see there).
    CACHES["default"]["BACKEND"] = "config.redis_cache.RedisCache"
    # A Redis that hangs must not hold requests: the limits are then skipped (logged).
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("socket_connect_timeout", 1)
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", 1)
# How many proxies of ours are in front of the app (each appends to X-Forwarded-For): the
# client's address is the one they saw. 0: the peer's address, X-Forwarded-For is ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# DRF rate strings, "<count>/<sec|min|hour|day>"; empty: no limit.
API_TOKEN_RATE = env.str("API_TOKEN_RATE", default="1200/min")
API_AUTH_FAILURE_RATE = env.str("API_AUTH_FAILURE_RATE", default="30/min")
# API tokens are remembered per process while that cache (Redis) says they are current, and
# read from the database again after this many seconds at most; 0: always read (see
# tenants/token_cache.py).
_token_cache_seconds = env.str("API_TOKEN_CACHE_SECONDS", default="15").strip()
if not (_token_cache_seconds.isascii() and _token_cache_seconds.isdigit()) or not (
    0 <= int(_token_cache_seconds) <= 3600
):
    raise ImproperlyConfigured(
        "API_TOKEN_CACHE_SECONDS must be a whole number of seconds from 0 (off) to 3600."
    )
API_TOKEN_CACHE_SECONDS = int(_token_cache_seconds)

# Staff login: after LOGIN_FAILURE_LIMIT failures for one user name from one address, that
# pair is locked out for LOGIN_LOCKOUT_MINUTES (0: until an admin unlocks it, see README).
# The attempts are kept in the database (axes' tables), shared by every process.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
_lockout_minutes = env.float("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes > 0 else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
# Its log lines show the address; the user name stays masked (people type their password
# there by mistake). The admin's "Access attempts" and `manage.py axes_list_attempts` show both.
AXES_SENSITIVE_PARAMETERS = ["username"]
# Its admin pages are ours (tenants/admin_lockouts.py): every action there needs a permission.
AXES_ENABLE_ADMIN = False

# The OpenAPI document at /1.0/openapi.json and its docs at /1.0/docs (integrations/api/openapi.py
# derives the schemas from the provider models). Public: it describes the API, holds no data.
SPECTACULAR_SETTINGS = {
    "TITLE": "Integration registry API",
    "DESCRIPTION": (
        "Per-tenant credentials of third-party integrations. Every error is "
        '`{"error": "<sentence>"}` (plus `fields` for invalid bodies).'
    ),
    "VERSION": "1.0",
    "OAS_VERSION": "3.0.3",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": ["integrations.api.openapi.postprocess"],
    # Swagger UI from the sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# TLS is terminated in front of the app in production; these are off by default so that
# `make run` serves plain HTTP on loopback. Turn them on behind an HTTPS proxy.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# The staff pages, the admin and the API docs load nothing from another site and run no inline
# script (the API docs' one inline script carries the request's nonce:
# templates/drf_spectacular/swagger_ui.html). Styles need no 'unsafe-inline' either: the one
# inline style, django-polymorphic's style="display: none;" on its inline's type menu, is
# allowed by its hash (and static/css/admin.css hides the menu where 'unsafe-hashes' is unknown).
POLYMORPHIC_MENU_STYLE_HASH = "'sha256-biLFinpqYMtWHmXfkA1BPeCY0/fNt46SAZ+BBk5YUog='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.UNSAFE_HASHES, POLYMORPHIC_MENU_STYLE_HASH],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    },
}

# Error reports (error mail, trackers, the DEBUG page) scrub every secret the request handled,
# in every frame, not only in the functions marked sensitive (integrations/error_reports.py).
DEFAULT_EXCEPTION_REPORTER = "integrations.error_reports.ScrubbingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "integrations.error_reports.ScrubbingExceptionReporterFilter"

# One line per event, key=value, each carrying the id of the request it belongs to.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.request_id.RequestIdLogFilter"}},
    "formatters": {"keyvalue": {"()": "config.request_id.KeyValueFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "keyvalue",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO; verification logs its own line per outcome.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
