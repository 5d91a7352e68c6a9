"""NHI Registry settings: one module, configured only through environment variables.

The embedded default (no variables set) is a SQLite file under var/ and a Celery broker
that needs no server, so a newcomer can run everything with nothing installed.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_json, env_list, env_str, load_dotenv
from registry.rules.policies import policy_overrides

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")
VAR_DIR = Path(env_str("NHI_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
BASE_URL = env_str("BASE_URL", "http://127.0.0.1:8000").rstrip("/")

_WEAK_KEY_MIN_LENGTH = 50
_WEAK_KEY_MIN_UNIQUE = 5


def _refuse_unsafe_production_settings() -> None:
    """Stop start-up, with a message saying what to set, when production settings are unsafe."""
    if DEBUG:
        return
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off it is required: set SECRET_KEY to a random "
            "value of at least 50 characters, for example the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'."
        )
    if (
        len(SECRET_KEY) < _WEAK_KEY_MIN_LENGTH
        or len(set(SECRET_KEY)) < _WEAK_KEY_MIN_UNIQUE
        or SECRET_KEY.startswith("django-insecure")
    ):
        raise ImproperlyConfigured(
            "SECRET_KEY is weak: with DEBUG off it must be at least 50 characters with at least "
            "5 distinct characters and must not start with 'django-insecure'."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is empty. With DEBUG off set it to the host names this app is served "
            "under, comma separated (for example ALLOWED_HOSTS=nhi.example.com)."
        )


_refuse_unsafe_production_settings()
if DEBUG:
    SECRET_KEY = SECRET_KEY or "django-insecure-development-only-key-never-use-in-production"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "registry",
    "workers",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files, before anything that would spend a session or a budget on them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "registry.web.middleware.RequestIdMiddleware",
    "registry.web.middleware.UnsafeInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who is acting, for audit events written from model signals (admin changes).
    "registry.runtime.current_request.CurrentRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "registry.web.middleware.ContentSecurityPolicyMiddleware",
    "registry.web.middleware.SessionLifetimeMiddleware",
    "registry.web.middleware.PageRateLimitMiddleware",
    # Last, as django-axes requires: answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Sign-in throttling (django-axes): after NHI_LOGIN_FAILURE_LIMIT failures for one
# account, or from one source address, that account or address is refused for
# NHI_LOGIN_LOCKOUT_MINUTES, before any password is hashed; attempts during the pause
# are refused without being counted again. Security unlocks from the admin (Axes >
# Access attempts) or with `manage.py axes_reset_username <name>` / `axes_reset_ip`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("NHI_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("NHI_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "registry.runtime.current_request.source_address"
# What axes keeps: the name redacted like the audit's (a pasted token is never kept),
# and none of the form's values.
AXES_USERNAME_CALLABLE = "registry.services.security.sign_in_username"
AXES_SENSITIVE_PARAMETERS = ["username", "password", "csrfmiddlewaretoken"]
AXES_LOCKOUT_CALLABLE = "registry.web.views.sign_in.locked_out"
AXES_VERBOSE = False  # our own security events record sign-ins (registry/web/account_signals.py)
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_DISABLE_ACCESS_LOG = True

# Sessions end NHI_SESSION_HOURS after sign-in whatever happens, and after
# NHI_SESSION_IDLE_MINUTES without a request (registry.web.middleware.SessionLifetimeMiddleware).
SESSION_COOKIE_AGE = env_int("NHI_SESSION_HOURS", 8) * 3600
NHI_SESSION_IDLE_SECONDS = env_int("NHI_SESSION_IDLE_MINUTES", 60) * 60

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
                "registry.web.context_processors.navigation",
            ],
        },
    },
]


def _database_config() -> dict[str, Any]:
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "nhi-registry.sqlite3"),
            # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at
            # BEGIN so two writers queue (busy timeout) instead of failing at their first write.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
            },
        }
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    )
    if config["ENGINE"] not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL.")
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise scans it at start-up
# In development WhiteNoise serves straight from static/ (nothing to collect).
WHITENOISE_USE_FINDERS = DEBUG
# WhiteNoise serves the collected files from the app itself (no separate web server
# needed), under content-hashed names cached for a year. With DEBUG, Django's own
# storage serves them straight from static/ (nothing to collect).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "registry:path-list"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
# Production runs behind a TLS proxy (BEHIND_TLS_PROXY=1, docs/OPERATIONS.md): then
# plain http is redirected to https (except the container's own health probe), browsers
# are told to use https only (HSTS, a year unless SECURE_HSTS_SECONDS says otherwise),
# and cookies are never sent over http. SECURE_COOKIES covers TLS terminated elsewhere.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SESSION_COOKIE_SECURE = not DEBUG and (BEHIND_TLS_PROXY or env_bool("SECURE_COOKIES", True))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    # Clean `check --deploy` by default; an estate with plain-http subdomains turns
    # these off (docs/OPERATIONS.md).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Every SMTP step (connect, each command) has this deadline: a slow mail server fails
# its own digest (retried later), it does not hold a worker.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "NHI Registry <nhi-registry@localhost>")

REDIS_URL = env_str("REDIS_URL")

# "progress": how far a running import has got, written by the worker and read by the
# web process (so not per-process memory): Redis when there is one, else files under var/.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "progress": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache" / "progress"),
        }
    ),
}
# "ratelimit": the request budgets (registry/runtime/rate_limits.py), shared by every process.
CACHES["ratelimit"] = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache" / "ratelimit"),
    }
)
# Requests per minute, pages and API together: per person (their session and personal
# tokens), per team (all its integration tokens), per address for anonymous callers.
NHI_RATE_PER_PERSON = env_int("NHI_RATE_PER_PERSON", 600)
NHI_RATE_PER_TEAM = env_int("NHI_RATE_PER_TEAM", 1200)
NHI_RATE_ANONYMOUS = env_int("NHI_RATE_ANONYMOUS", 120)
# Owner suggestions for unowned imported paths: a JSON list of rules, first match wins,
# e.g. [{"team": "payments", "name_prefix": "billing-"}, {"team": "data",
# "namespace": "analytics*"}, {"team": "payments", "repository": "acme/pay*"},
# {"team": "growth", "created_by": "gha-growth-*"}, {"team": "data", "steward": "dataplat"}]
# (patterns are shell-style; see registry/rules/owner_suggestions.py).
NHI_OWNER_RULES = env_json("NHI_OWNER_RULES", [])
# Uploaded import files wait here for the worker (named by their run's id).
NHI_IMPORT_DIR = Path(env_str("NHI_IMPORT_DIR", str(VAR_DIR / "imports")))
# The largest file an import takes (a million-path registry CSV is ~400 MB).
NHI_IMPORT_MAX_BYTES = env_int("NHI_IMPORT_MAX_MB", 512) * 1024 * 1024
# Audit anchors (registry/audit/anchors.py): the Ed25519 key that signs the chain head
# lives in a file, never in the database; signed heads go to an append-only directory
# and, when set, to a SIEM webhook (plain JSON, Standard Webhooks signature).
NHI_AUDIT_SIGNING_KEY_FILE = env_str("NHI_AUDIT_SIGNING_KEY_FILE")
NHI_AUDIT_ANCHOR_DIR = Path(env_str("NHI_AUDIT_ANCHOR_DIR", str(VAR_DIR / "anchors")))
NHI_AUDIT_ANCHOR_WEBHOOK_URL = env_str("NHI_AUDIT_ANCHOR_WEBHOOK_URL")
NHI_AUDIT_ANCHOR_WEBHOOK_SECRET = env_str("NHI_AUDIT_ANCHOR_WEBHOOK_SECRET")
# GitHub secret-scanning alerts (POST /api/v1/incidents/github/): the secret entered in
# GitHub's webhook settings, which signs each delivery. Unset: the endpoint answers 503.
NHI_GITHUB_WEBHOOK_SECRET = env_str("NHI_GITHUB_WEBHOOK_SECRET")

# Every line is redacted as written (message, arguments, traceback) by the detector that
# guards the inputs. Django's own "django" logger goes through the root handler (its
# default console and mail_admins handlers would write unredacted), and runserver's
# request log ("django.server") gets a redacting handler of its own.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "registry.runtime.log_redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "server": {
            "()": "registry.runtime.log_redaction.RedactingServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "server": {"class": "logging.StreamHandler", "formatter": "server"},
    },
    "loggers": {
        "django": {"handlers": [], "level": env_str("LOG_LEVEL", "INFO"), "propagate": True},
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
        # Every failed sign-in is already a security event; axes' own lines only when
        # something is wrong (a lockout is a WARNING, with the user name masked).
        "axes": {"handlers": [], "level": "WARNING", "propagate": True},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Celery. The broker carries only "wake up and look" messages: the work itself (the
# outbox, due paths) lives in the database, so a lost message delays, never loses.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _BROKER_DIR = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Fail fast when Redis is down: a web request that kicks the worker must not hang.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_IGNORE_RESULT = True
# Every task has a deadline (workers/tasks.py sets longer ones for imports): the soft
# limit raises inside the task so it can stop cleanly, the hard one kills it. Work is
# claimed in the database, so an interrupted task leaves nothing half-done for good:
# leases expire and the next run picks it up.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("NHI_TASK_SOFT_SECONDS", 300)
CELERY_TASK_TIME_LIMIT = env_int("NHI_TASK_HARD_SECONDS", 360)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "registry.sweep", "schedule": env_int("NHI_SWEEP_EVERY_SECONDS", 300)},
    "deliver": {"task": "registry.deliver", "schedule": env_int("NHI_DELIVER_EVERY_SECONDS", 60)},
    "imports": {
        "task": "registry.imports_pending",
        "schedule": env_int("NHI_IMPORTS_EVERY_SECONDS", 60),
    },
    "anchor": {
        "task": "registry.anchor_audit",
        "schedule": env_int("NHI_ANCHOR_EVERY_SECONDS", 3600),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Webhook targets on internal networks are refused (SSRF) unless listed here, as CIDRs
# (e.g. "10.20.0.0/16,127.0.0.1/32"). Tests use it for their loopback receivers.
NHI_WEBHOOK_ALLOWED_NETWORKS = env_list("NHI_WEBHOOK_ALLOWED_NETWORKS")
# Every outbound HTTP call (chat, event webhooks, SIEM): how long connecting may take,
# and the deadline for the whole exchange (a slow party fails, it never stalls a worker).
NHI_OUTBOUND_CONNECT_SECONDS = env_int("NHI_OUTBOUND_CONNECT_SECONDS", 3)
NHI_OUTBOUND_TOTAL_SECONDS = env_int("NHI_OUTBOUND_TOTAL_SECONDS", 5)
# What sends a digest on a channel; the team page's test-send button calls it directly.
NHI_CHANNEL_SENDER = "workers.channels.send"

# Review, reminder, escalation and delivery policy (registry/rules/policies.py): any of
# the Policy's keys, overridden by NHI_POLICY, a JSON object such as
# {"review_interval_days": {"critical": 14, "high": 60, "medium": 180, "low": 365},
#  "reminder_offsets_days": [14, 7, 1]}. Checked here: an unknown key or a wrong type
# stops start-up with ImproperlyConfigured naming the key. The three delivery variables,
# when set, win over the same keys in NHI_POLICY.
_DELIVERY_POLICY_KEYS = (
    "delivery_lease_seconds",
    "delivery_backoff_base_seconds",
    "delivery_max_attempts",
)
NHI_POLICY = {
    **policy_overrides(env_json("NHI_POLICY", {})),
    **policy_overrides(
        {
            key: value
            for key in _DELIVERY_POLICY_KEYS
            if (value := env_int(f"NHI_{key.upper()}", 0))
        },
        source="NHI_DELIVERY_*",
    ),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.RegistryAccess"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.RegistryCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerCallerRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NHI Registry API",
    "DESCRIPTION": "Who owns each non-human identity, why it exists and when it goes away.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the vendored drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AccessPathKindEnum": "registry.models.AccessPath.Kind",
        "TeamKindEnum": "registry.models.Team.Kind",
        "PathStatusEnum": "registry.rules.status.Status",
        "PathStateEnum": "registry.models.AccessPath.State",
        # Claims and exceptions share one set of choices: pending, approved, rejected.
        "DecisionStatusEnum": "registry.models.Claim.Status",
        "TransferStatusEnum": "registry.models.Transfer.Status",
        "NotificationStatusEnum": "registry.models.Notification.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.every_operation_may_refuse_input",
    ],
}
