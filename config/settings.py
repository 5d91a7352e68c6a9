"""NHI Registry settings: one module, configured only through environment variables.

The embedded default (no variables set) is a SQLite file under var/ and a Celery broker
that needs no server, so a newcomer can run everything with nothing installed.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.database import database_config
from config.env import env_bool, env_int, env_json, env_list, env_str, load_dotenv
from registry.rules.policies import Policy, check_delivery_lease, policy_overrides

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")
VAR_DIR = Path(env_str("NHI_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
# Rotating SECRET_KEY: the previous keys, comma separated, still verify sessions and
# signed values until they are removed (docs/OPERATIONS.md, "Rotating SECRET_KEY").
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
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
    # Request counts and latencies for /metrics (django-prometheus), around everything.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files, before anything that would spend a session or a budget on them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "registry.web.middleware.RequestIdMiddleware",
    # A failing database or disk: 503 with Retry-After (with handler500, config/urls.py).
    "registry.web.middleware.ServiceUnavailableMiddleware",
    "registry.web.middleware.UnsafeInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who is acting, for audit events written from model signals (admin changes).
    "registry.runtime.current_request.CurrentRequestMiddleware",
    # The access path a URL names, on every log line of its request.
    "registry.web.middleware.LogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "registry.web.middleware.ContentSecurityPolicyMiddleware",
    "registry.web.middleware.SessionLifetimeMiddleware",
    "registry.web.middleware.PageRateLimitMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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


DATABASES = {"default": database_config(VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2id at OWASP's m=19 MiB, t=2, p=1 (registry/runtime/passwords.py says why): 37 ms
# of CPU per sign-in here instead of PBKDF2's 360 ms. PBKDF2 stays second so hashes made
# before verify; Django re-hashes them with the first at the next successful sign-in.
PASSWORD_HASHERS = [
    "registry.runtime.passwords.InteractiveArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

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
LOGIN_REDIRECT_URL = "registry:my-work"
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
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
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
# ... and the whole of one message (connect, greeting, DATA, QUIT) this one: a server
# that trickles its answers a byte at a time never trips EMAIL_TIMEOUT, this it does.
NHI_SMTP_TOTAL_SECONDS = env_int("NHI_SMTP_TOTAL_SECONDS", 30)
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
# "operations": the metrics' cached figures (registry/web/metrics.py), shared by every
# web process so a scrape of any of them reuses the one computation of the window.
CACHES["operations"] = {
    **CACHES["progress"],
    "LOCATION": REDIS_URL or str(VAR_DIR / "cache" / "operations"),
}
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
# The largest file an import takes (a million-path registry CSV is ~400 MB). Uploads are
# kept in the database (registry/runtime/stored_files.py), so any worker reads them.
NHI_IMPORT_MAX_BYTES = env_int("NHI_IMPORT_MAX_MB", 512) * 1024 * 1024
# Exports (registry/rules/exports.py): a filter selecting more paths than this is
# written by a worker and downloaded from its page, never streamed past the web server's
# timeout. 20,000 rows are ~2 s of work, and took ~19 s on a 2-core machine with a load
# average of 18 (docs/OPERATIONS.md, "Exports"): inside gunicorn's 30 s even then.
NHI_EXPORT_INLINE_MAX_ROWS = env_int("NHI_EXPORT_INLINE_MAX_ROWS", 20_000)
# How long a background export's file is kept (it is a copy of the inventory).
NHI_EXPORT_RETENTION_HOURS = env_int("NHI_EXPORT_RETENTION_HOURS", 24)
# A writing export's worker beats every NHI_EXPORT_HEARTBEAT_SECONDS; one silent for
# NHI_EXPORT_STALE_SECONDS is taken for dead and its run queued again (the periodic
# exports task), up to NHI_EXPORT_MAX_ATTEMPTS claims, then failed with a reason.
NHI_EXPORT_HEARTBEAT_SECONDS = env_int("NHI_EXPORT_HEARTBEAT_SECONDS", 5)
NHI_EXPORT_STALE_SECONDS = env_int("NHI_EXPORT_STALE_SECONDS", 120)
NHI_EXPORT_MAX_ATTEMPTS = env_int("NHI_EXPORT_MAX_ATTEMPTS", 3)
# A running import's worker writes a heartbeat this often; one silent for
# NHI_IMPORT_STALE_SECONDS is taken for dead and its run queued again (the periodic
# imports task), up to NHI_IMPORT_MAX_ATTEMPTS claims, then failed with a reason.
try:  # seconds, fractions allowed (the process tests beat several times a second)
    NHI_IMPORT_HEARTBEAT_SECONDS = float(env_str("NHI_IMPORT_HEARTBEAT_SECONDS", "15"))
except ValueError as _exc:
    raise ImproperlyConfigured(
        "NHI_IMPORT_HEARTBEAT_SECONDS must be a number of seconds."
    ) from _exc
NHI_IMPORT_STALE_SECONDS = env_int("NHI_IMPORT_STALE_SECONDS", 120)
NHI_IMPORT_MAX_ATTEMPTS = env_int("NHI_IMPORT_MAX_ATTEMPTS", 3)
if not 0 < 2 * NHI_IMPORT_HEARTBEAT_SECONDS < NHI_IMPORT_STALE_SECONDS:
    # A live worker must be able to miss a beat without its run being taken from it.
    raise ImproperlyConfigured(
        "NHI_IMPORT_STALE_SECONDS must be more than twice NHI_IMPORT_HEARTBEAT_SECONDS (> 0)."
    )
# An ended import's upload is deleted this long after it ended (its run stays).
NHI_IMPORT_UPLOAD_RETENTION_HOURS = env_int("NHI_IMPORT_UPLOAD_RETENTION_HOURS", 168)
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
# LOG_FORMAT: "json" (the default without DEBUG: one object per line, with request_id,
# actor, path_id, task_id and task on every line) or "text" (the default with DEBUG).
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json").lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured('LOG_FORMAT must be "json" or "text".')
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "registry.runtime.log_context.LogContextFilter"}},
    "formatters": {
        "plain": {
            "()": "registry.runtime.log_redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "registry.runtime.log_redaction.RedactingJsonFormatter"},
        "server": {
            "()": "registry.runtime.log_redaction.RedactingServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        },
        "server": {"class": "logging.StreamHandler", "formatter": "server", "filters": ["context"]},
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
# Operations (registry/web/health.py, registry/web/metrics.py, docs/OPERATIONS.md):
# beat's heartbeat period; /readyz says "not ready" when that heartbeat or the oldest
# due notification is older than these; the metrics' domain figures are computed at
# most once per NHI_METRICS_CACHE_SECONDS; /metrics answers only a bearer of
# NHI_METRICS_TOKEN (unset: only a signed-in security reviewer).
NHI_BEAT_TICK_SECONDS = env_int("NHI_BEAT_TICK_SECONDS", 30)
NHI_READY_BEAT_MAX_AGE_SECONDS = env_int("NHI_READY_BEAT_MAX_AGE_SECONDS", 180)
NHI_READY_DELIVERY_MAX_AGE_SECONDS = env_int("NHI_READY_DELIVERY_MAX_AGE_SECONDS", 900)
NHI_READY_IMPORTS_MAX_AGE_SECONDS = env_int("NHI_READY_IMPORTS_MAX_AGE_SECONDS", 900)
NHI_METRICS_CACHE_SECONDS = env_int("NHI_METRICS_CACHE_SECONDS", 30)
NHI_METRICS_TOKEN = env_str("NHI_METRICS_TOKEN")
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "registry.sweep", "schedule": env_int("NHI_SWEEP_EVERY_SECONDS", 300)},
    "deliver": {"task": "registry.deliver", "schedule": env_int("NHI_DELIVER_EVERY_SECONDS", 60)},
    "imports": {
        "task": "registry.imports_pending",
        "schedule": env_int("NHI_IMPORTS_EVERY_SECONDS", 60),
    },
    "exports": {
        "task": "registry.exports_pending",
        "schedule": env_int("NHI_EXPORTS_EVERY_SECONDS", 60),
    },
    "anchor": {
        "task": "registry.anchor_audit",
        "schedule": env_int("NHI_ANCHOR_EVERY_SECONDS", 3600),
    },
    # Raw leases of just-in-time issuers past Policy.lease_retention_days (rollups stay).
    "leases": {
        "task": "registry.leases_purge",
        "schedule": env_int("NHI_LEASES_PURGE_EVERY_SECONDS", 3600),
    },
    # Beat's heartbeat, run by a worker: /readyz and the metrics read its age. A tick
    # nobody ran in time is dropped, not run late in a burst.
    "beat": {
        "task": "registry.beat_tick",
        "schedule": NHI_BEAT_TICK_SECONDS,
        "options": {"expires": NHI_BEAT_TICK_SECONDS},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The sweep acts only while this process's clock and the database's agree within this
# many seconds (registry/runtime/clock.py): a worker clock set ahead would otherwise
# expire, lapse and date audit events early, for good.
NHI_MAX_CLOCK_SKEW_SECONDS = env_int("NHI_MAX_CLOCK_SKEW_SECONDS", 300)
if NHI_MAX_CLOCK_SKEW_SECONDS < 1:
    raise ImproperlyConfigured("NHI_MAX_CLOCK_SKEW_SECONDS must be at least 1.")

# Webhook targets on internal networks are refused (SSRF) unless listed here, as CIDRs
# (e.g. "10.20.0.0/16,127.0.0.1/32"). Tests use it for their loopback receivers.
NHI_WEBHOOK_ALLOWED_NETWORKS = env_list("NHI_WEBHOOK_ALLOWED_NETWORKS")
# Every outbound HTTP call (chat, event webhooks, SIEM): how long connecting may take,
# and the deadline for the whole exchange (a slow party fails, it never stalls a worker).
NHI_OUTBOUND_CONNECT_SECONDS = env_int("NHI_OUTBOUND_CONNECT_SECONDS", 3)
NHI_OUTBOUND_TOTAL_SECONDS = env_int("NHI_OUTBOUND_TOTAL_SECONDS", 5)
# Notices to people (email, Slack, Teams) wait for the end of the current slot of this
# many seconds, so a burst becomes one digest per recipient; 0 sends at once. Event
# webhooks are never held (registry/rules/policies.delivery_due_at).
NHI_DELIVERY_COALESCE_SECONDS = env_int("NHI_DELIVERY_COALESCE_SECONDS", 60)
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
# A delivery lease shorter than the longest send allowed stops start-up (policies.py).
check_delivery_lease(
    lease_seconds=Policy(**NHI_POLICY).delivery_lease_seconds,
    smtp_total_seconds=NHI_SMTP_TOTAL_SECONDS,
    outbound_total_seconds=NHI_OUTBOUND_TOTAL_SECONDS,
)

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

# --- Identity: OIDC sign-in, CI OIDC tokens, SCIM (issue 17; config/identity_settings.py)
from config.identity_settings import *  # noqa: E402, F403 - one group of settings, kept apart

OIDC_REDIRECT_REQUIRE_HTTPS = not DEBUG and BEHIND_TLS_PROXY
if NHI_OIDC_ISSUER:  # noqa: F405
    AUTHENTICATION_BACKENDS.append("registry.web.oidc.ProviderBackend")
if not NHI_LOCAL_PASSWORDS:  # noqa: F405
    AUTHENTICATION_BACKENDS.remove("django.contrib.auth.backends.ModelBackend")
# First: a CI token is a JWT, which the registry's own token check would refuse as malformed.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "api.authentication.CiOidcTokenAuthentication",
    *REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"],
]
INSTALLED_APPS += ["scim"]  # for its commands: create_scim_token, revoke_scim_token
