"""Settings for every environment, read from the environment (django-environ).

``DJANGO_ENV`` picks the defaults:

- ``development`` (default): SQLite and kombu's filesystem transport under ``var/``,
  console SMS, emails kept in the dev outbox; nothing to install but Python.
- ``test``: like development, with in-memory SMS and email backends.
- ``production``: no defaults for secrets or infrastructure; ``SECRET_KEY``,
  ``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL`` must be set, no secret may be
  an example value (.env.example, "change-me"), and ``DEBUG`` is refused.

``DATABASE_URL`` and ``REDIS_URL`` switch any environment to PostgreSQL and Redis.
Every variable is documented in the README.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
import pghistory
from celery.schedules import crontab
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from clinic.proxies import proxy_networks
from config.logs import configure_structlog, json_formatter

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be development, production or test, not {DJANGO_ENV!r}"
    )
PRODUCTION = DJANGO_ENV == "production"
TESTING = DJANGO_ENV == "test"
DEVELOPMENT = DJANGO_ENV == "development"


def _required_in_production(name: str) -> None:
    if PRODUCTION and not env.str(name, default=""):
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")


for _name in (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_BASE_URL",
    "FIELD_ENCRYPTION_KEYS",
    "LOOKUP_HASH_KEY",
):
    _required_in_production(_name)

if not PRODUCTION:
    VAR_DIR.mkdir(exist_ok=True)

# --- Core -------------------------------------------------------------------

SECRET_KEY = env.str(
    "SECRET_KEY",
    default="" if PRODUCTION else "dev-only-insecure-key-do-not-use-in-production-0123456789",
)
# Earlier keys still accepted for signatures (sessions, signed links) while rotating
# SECRET_KEY; new signatures use SECRET_KEY (docs/operations.md, "Key rotation").
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DEBUG", default=DEVELOPMENT)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.admin.ClinicAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "corsheaders",
    "phonenumber_field",
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "knox",
    # The audit trail: row triggers (PostgreSQL) and the event models they fill.
    "pgtrigger",
    "pghistory",
    # The ground every app stands on (it imports none of them): before them.
    "clinic",
    "notifications",
    "intake",
    "scheduling",
]

MIDDLEWARE = [
    "config.middleware.HealthCheckMiddleware",
    "config.metrics.RequestMetricsMiddleware",
    "config.middleware.RequestIdMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # config.middleware.<Name> is Django's (or django-otp's, axes', ours) <Name>, skipped
    # for the anonymous public endpoints (config.middleware.PUBLIC_PATHS): they need no
    # session, user, second factor, idle timeout, lockout or audit context.
    "config.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # a no-op for the (csrf-exempt) API views
    "config.middleware.AuthenticationMiddleware",
    "config.middleware.OTPMiddleware",
    "config.middleware.AuditContextMiddleware",
    "config.middleware.ClinicTimeZoneMiddleware",
    "config.middleware.MessageMiddleware",
    "config.middleware.IdleTimeoutMiddleware",
    "config.middleware.OtpRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the answer of every sign-in attempt (django-axes' rule).
    "config.middleware.AxesMiddleware",
]

# axes looks for its middleware by name; config.middleware.AxesMiddleware is a subclass
# of it that skips only the public endpoints (tests/config/test_lean_public_path.py).
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

ROOT_URLCONF = "config.urls"
ADMIN_URL = env.str("ADMIN_URL", default="admin/")
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
                "config.context_processors.clinic",
                "scheduling.context_processors.inbox",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # The worker and the web process write concurrently: WAL lets readers
            # go on during a write, IMMEDIATE avoids upgrade deadlocks, and the
            # timeout waits out the other writer instead of failing.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
# Optional: marketing's reports read from this database, a streaming replica of
# DATABASE_URL (config.routers); empty, they read the primary like everything else.
REPORTS_DATABASE_URL = env.str("REPORTS_DATABASE_URL", default="")
DATABASE_ROUTERS: list[str] = []
if REPORTS_DATABASE_URL:
    DATABASES["reports"] = env.db_url("REPORTS_DATABASE_URL")
    DATABASES["reports"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["reports"]["CONN_HEALTH_CHECKS"] = True
    # Tests read the replica as the primary's own test database (no replication there).
    DATABASES["reports"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["config.routers.ReportsReplicaRouter"]
    MIDDLEWARE.append("config.routers.ReportsReplicaMiddleware")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttles, idempotency, rate limits) -----------------------------

REDIS_URL = env.str("REDIS_URL", default="")


def _redis_database(url: str, number: int) -> str:
    """``url`` pointed at logical database ``number``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{number}"))


# The cache gets its own logical database, so clearing it never touches the
# broker's queues (REDIS_URL's database).
REDIS_CACHE_URL = env.str(
    "REDIS_CACHE_URL",
    default=_redis_database(REDIS_URL, int(urlsplit(REDIS_URL).path.strip("/") or 0) + 1)
    if REDIS_URL
    else "",
)
if REDIS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "clinic.cache.FailOpenRedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": "clinic",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache"
            if DEVELOPMENT
            else "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": str(VAR_DIR / "cache") if DEVELOPMENT else "clinic",
        }
    }

# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "scheduling:console"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out client before a password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Internationalisation and time -------------------------------------------

LANGUAGE_CODE = "en-us"
# UTC in the database and the API; staff pages switch to the clinic's zone
# (config.middleware.ClinicTimeZoneMiddleware).
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles" if PRODUCTION else VAR_DIR / "static"
if not PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)
# Outside production, serve straight from the apps' static folders (no collectstatic).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security -----------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# The reverse proxies in front of the app (addresses or networks, CIDR): only a
# connection from one of them may say, in X-Forwarded-For, whom it serves
# (clinic.proxies.client_address, read by the throttles, axes and the audit trail).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
proxy_networks(TRUSTED_PROXIES)
if "NUM_PROXIES" in env.ENVIRON:
    raise ImproperlyConfigured(
        "NUM_PROXIES is no longer read: list your proxies' addresses or networks in "
        "TRUSTED_PROXIES (e.g. TRUSTED_PROXIES=172.30.0.0/24) and remove NUM_PROXIES"
    )

# Articles live on the clinic's website; only those origins may call the public API.
CORS_ALLOWED_ORIGINS = env.list("CTA_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/v1/(leads|events)/$"
CORS_ALLOW_HEADERS = ["content-type", "idempotency-key"]
CORS_ALLOW_METHODS = ["POST", "OPTIONS"]

DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# --- REST framework ---------------------------------------------------------

REST_FRAMEWORK = {
    # Staff pages' session (CSRF-checked), then integrations' API tokens
    # ("Authorization: Token ...", django-rest-knox; no CSRF, no session rules).
    # Session first keeps an anonymous call's answer a 403, as documented.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "clinic.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "lead_submit_ip": env.str("LEAD_THROTTLE_PER_IP", default="20/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

# The OpenAPI document and Swagger UI for anyone, not only signed-in staff.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=DEVELOPMENT)

SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic lead intake and scheduling API",
    "DESCRIPTION": "Public intake of call-to-action requests and the staff callback queue.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ and /api/docs/: staff only, unless API_DOCS_PUBLIC opens them.
    "SERVE_PERMISSIONS": ["clinic.roles.ApiDocsAccess"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files: no CDN, no third-party request.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the appointment's status, shared by the list and the booking answer.
    "ENUM_NAME_OVERRIDES": {
        "AppointmentStatusEnum": "scheduling.models.Appointment.Status",
        "InsuranceVerificationStatusEnum": "intake.models.insurance.VerificationStatus",
    },
    # Each operation's x-server-rules (clinic.openapi) also in its description.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clinic.openapi.describe_server_rules",
    ],
}

# --- Celery -------------------------------------------------------------------

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task unacknowledged for this long is redelivered. Every retry bound
        # and time limit below stays well under it.
        "visibility_timeout": 3600,
        # Lets several deployments (or test runs) share one Redis without
        # taking each other's tasks.
        "global_keyprefix": env.str("CELERY_KEY_PREFIX", default=""),
    }
else:
    _broker_dir = VAR_DIR / "celery"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        # The exchange table (kombu's default: ./control, in the working tree).
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 45
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = False
# A worker keeps its database connection from one task to the next (Celery's Django
# fixup otherwise closes it before and after every task: a new PostgreSQL backend per
# confirmation, routing batch and delivery). config.celery still drops, around every
# task, a connection that is broken, in a transaction or older than CONN_MAX_AGE
# (Django's close_old_connections, as Django does around a request), and
# CONN_HEALTH_CHECKS reconnects after a PostgreSQL restart.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that loses Redis (a restart, a failover) reconnects in-process, however
# long the outage lasts: the default gives up after 100 tries (about 47 minutes at
# the 30 s cap) and exits. config.celery's Redis transport keeps the reconnect from
# crashing (kombu 5.7); tests/e2e/test_failures.py restarts Redis under a worker.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task in progress when the connection is lost runs to its end (a send is not cut
# off half way); its ack then fails and its message, still in Redis's unacked set,
# comes back after the visibility timeout, to a task that finds the work done.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Publishing must not hang a web request when the broker is down: the
# submission is already durable and the sweep will dispatch it.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Imported by the worker when it starts, after Django's settings: the task metrics and
# the worker's exporter are Celery signal receivers there (the web imports it with its
# middleware).
CELERY_IMPORTS = ["config.metrics"]
CELERY_TASK_ROUTES = {
    # First match wins: a new request's confirmations have their own queue and workers,
    # so they never wait behind routing or any other task.
    "scheduling.tasks.submission_confirm": {"queue": "confirmations"},
    "config.*": {"queue": "default"},
    "notifications.*": {"queue": "notifications"},
    "scheduling.*": {"queue": "scheduling"},
    "intake.*": {"queue": "default"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# /readyz answers 503 with this Retry-After when a dependency is down, and so does
# any request that finds the database unreachable (config.middleware).
READYZ_RETRY_AFTER_SECONDS = env.int("READYZ_RETRY_AFTER_SECONDS", default=10)
# /readyz calls without the metrics token, per client address (config.views): enough
# for a probe every second; past it, 429.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["readyz_ip"] = env.str(
    "READYZ_THROTTLE_PER_IP", default="120/minute"
)
# How often beat runs the sweeps that make good a lost hand-off.
SWEEP_INTERVAL = timedelta(seconds=env.int("SWEEP_INTERVAL_SECONDS", default=60))
CELERY_BEAT_SCHEDULE = {
    "dispatch-unprocessed-submissions": {
        "task": "scheduling.tasks.submissions_sweep",
        "schedule": SWEEP_INTERVAL,
    },
    "redeliver-stuck-messages": {
        "task": "notifications.tasks.messages_sweep",
        "schedule": SWEEP_INTERVAL,
    },
    "escalate-unclaimed-callbacks": {
        "task": "scheduling.tasks.callbacks_escalate",
        "schedule": timedelta(minutes=1),
    },
    "expire-callback-leases": {
        "task": "scheduling.tasks.callback_leases_expire",
        "schedule": timedelta(minutes=1),
    },
    # Open times offered to the waitlist (also kicked when a time opens).
    "offer-times-to-waitlist": {
        "task": "scheduling.tasks.waitlist_offers_make",
        "schedule": timedelta(minutes=5),
    },
    "send-appointment-reminders": {
        "task": "scheduling.tasks.appointment_reminders_send",
        "schedule": timedelta(minutes=5),
    },
    "worker-heartbeat": {
        "task": "config.tasks.worker_heartbeat",
        "schedule": timedelta(seconds=30),
    },
    "prune-idempotency-keys": {
        "task": "intake.tasks.idempotency_keys_prune",
        "schedule": crontab(minute=17),
    },
}
# Unit tests run tasks inline; the end-to-end tests switch this off and use a real worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING)
CELERY_TASK_EAGER_PROPAGATES = TESTING

# --- Messaging ------------------------------------------------------------------

SMS_BACKEND = env.str("SMS_BACKEND", default="locmem" if TESTING else "console")
if PRODUCTION and SMS_BACKEND != "twilio":
    raise ImproperlyConfigured("SMS_BACKEND must be twilio when DJANGO_ENV=production")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# While rotating TWILIO_AUTH_TOKEN: the previous token, still accepted for webhook
# signatures until the new token is promoted to primary in Twilio's Console.
TWILIO_AUTH_TOKEN_FALLBACKS = env.list("TWILIO_AUTH_TOKEN_FALLBACKS", default=[])
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="").rstrip("/")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
if SMS_BACKEND == "twilio":
    if not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
        raise ImproperlyConfigured(
            "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    if not (TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER):
        raise ImproperlyConfigured(
            "SMS_BACKEND=twilio needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER"
        )

if TESTING:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
elif env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif PRODUCTION:
    raise ImproperlyConfigured("EMAIL_URL must be set when DJANGO_ENV=production")
else:
    # Development: every email is a message row shown in /dev/outbox/; the MIME
    # files land in var/mail rather than on the console, so no personal data is logged.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Care Team <care@clinic.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Shown instead of the clinic's name to people who asked us not to mention it.
DISCREET_SENDER_NAME = env.str("DISCREET_SENDER_NAME", default="your care team")
CLINIC_REPLY_TO_EMAIL = env.str("CLINIC_REPLY_TO_EMAIL", default=DEFAULT_FROM_EMAIL)
# Who gets staff alerts by email (delivery failures, escalations).
STAFF_ALERT_EMAILS = env.list("STAFF_ALERT_EMAILS", default=[])
# Follow-up texts wait for the end of quiet hours in the person's time zone.
QUIET_HOURS_START = env.str("QUIET_HOURS_START", default="21:00")
QUIET_HOURS_END = env.str("QUIET_HOURS_END", default="08:00")
# One send rate across all workers (a Twilio long code takes about 1 per second).
SMS_MAX_PER_SECOND = env.int("SMS_MAX_PER_SECOND", default=100 if TESTING else 1)
# That rate is shared by priority (notifications.pacer): each step down from
# confirmations (replies, reminders, the rest) leaves this many seconds of the rate in
# the bucket for the priorities above it.
SMS_PACER_RESERVE_SECONDS = env.float("SMS_PACER_RESERVE_SECONDS", default=0.25)
# The outbox sweep claims due messages in batches of this many and sends each batch's
# texts from this many threads (provider calls are I/O) and its emails over one
# mail server connection.
MESSAGE_DELIVERY_BATCH_SIZE = env.int("MESSAGE_DELIVERY_BATCH_SIZE", default=100)
MESSAGE_DELIVERY_THREADS = env.int("MESSAGE_DELIVERY_THREADS", default=8)
# How long a process keeps the edited message templates it read (admin edits reach every
# worker within this; the process that saves one at once).
MESSAGE_TEMPLATE_CACHE_SECONDS = env.float("MESSAGE_TEMPLATE_CACHE_SECONDS", default=30.0)
# A message left in pending or sending longer than this is dispatched again by the sweep.
MESSAGE_STUCK_AFTER = timedelta(seconds=env.int("MESSAGE_STUCK_AFTER_SECONDS", default=120))
# Transient SMS and email failures (Twilio 429/5xx, network, SMTP) are retried with
# capped exponential backoff and jitter, never sooner than Twilio's Retry-After,
# until the message's budget runs out: then it is failed, staff see it on the callback
# and a failed confirmation text is followed by an email where allowed.
MESSAGE_RETRY_BUDGET_MINUTES = env.int("MESSAGE_RETRY_BUDGET_MINUTES", default=24 * 60)
# Reminders lose their point sooner (a reminder given up at its appointment at the latest).
MESSAGE_RETRY_REMINDER_BUDGET_MINUTES = env.int("MESSAGE_RETRY_REMINDER_BUDGET_MINUTES", default=90)
MESSAGE_RETRY_MAX_DELAY_SECONDS = env.int("MESSAGE_RETRY_MAX_DELAY_SECONDS", default=300)
# Waits up to this are retried by the task itself; longer ones by the outbox sweep.
MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS = env.int(
    "MESSAGE_RETRY_TASK_COUNTDOWN_MAX_SECONDS", default=30
)

# --- Calls: the clinic's phone (bridged calls, instant calls, recordings) -------------

# Like SMS_BACKEND: twilio in production, console (logs call ids, never numbers) in
# development, locmem in tests.
VOICE_BACKEND = env.str(
    "VOICE_BACKEND", default="locmem" if TESTING else "twilio" if PRODUCTION else "console"
)
if VOICE_BACKEND not in {"console", "locmem", "twilio"}:
    raise ImproperlyConfigured("VOICE_BACKEND must be console, locmem or twilio")
if PRODUCTION and VOICE_BACKEND != "twilio":
    raise ImproperlyConfigured("VOICE_BACKEND must be twilio when DJANGO_ENV=production")
# The number a person sees when the clinic calls them (a voice-capable Twilio number).
CLINIC_CALLER_ID = env.str("CLINIC_CALLER_ID", default="")
# Shown instead to people who asked us not to name the clinic: a number whose caller
# name does not name it. Empty: those people are not called through the app.
DISCREET_CALLER_ID = env.str("DISCREET_CALLER_ID", default="")
for _name, _number in (
    ("CLINIC_CALLER_ID", CLINIC_CALLER_ID),
    ("DISCREET_CALLER_ID", DISCREET_CALLER_ID),
):
    if _number and not re.fullmatch(r"\+[1-9]\d{6,14}", _number):
        raise ImproperlyConfigured(f"{_name} must be a phone number in E.164 (+14155550100)")
if DISCREET_CALLER_ID and DISCREET_CALLER_ID == CLINIC_CALLER_ID:
    raise ImproperlyConfigured("DISCREET_CALLER_ID must differ from CLINIC_CALLER_ID")
if VOICE_BACKEND == "twilio":
    if not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
        raise ImproperlyConfigured(
            "VOICE_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    if not CLINIC_CALLER_ID:
        raise ImproperlyConfigured("VOICE_BACKEND=twilio needs CLINIC_CALLER_ID")
# The browser softphone (Twilio Voice JavaScript SDK): an API key and secret that sign
# access tokens, and the TwiML App whose voice URL Twilio asks what a browser call does.
TWILIO_API_KEY = env.str("TWILIO_API_KEY", default="")
TWILIO_API_SECRET = env.str("TWILIO_API_SECRET", default="")
TWILIO_TWIML_APP_SID = env.str("TWILIO_TWIML_APP_SID", default="")
_softphone = (TWILIO_API_KEY, TWILIO_API_SECRET, TWILIO_TWIML_APP_SID)
if any(_softphone) and not all(_softphone):
    raise ImproperlyConfigured(
        "The browser softphone needs all of TWILIO_API_KEY, TWILIO_API_SECRET and "
        "TWILIO_TWIML_APP_SID (or none of them)"
    )
if TWILIO_API_KEY and not TWILIO_API_KEY.startswith("SK"):
    raise ImproperlyConfigured("TWILIO_API_KEY is an API key SID (SK...)")
if TWILIO_TWIML_APP_SID and not TWILIO_TWIML_APP_SID.startswith("AP"):
    raise ImproperlyConfigured("TWILIO_TWIML_APP_SID is a TwiML App SID (AP...)")
# How long an instant call for a new request rings the available coordinators.
INSTANT_CALL_RING_SECONDS = env.int("INSTANT_CALL_RING_SECONDS", default=25)
if not 5 <= INSTANT_CALL_RING_SECONDS <= 120:
    raise ImproperlyConfigured("INSTANT_CALL_RING_SECONDS must be between 5 and 120")
# Record bridged calls (both parties hear a notice first), and delete the recordings
# at Twilio this many days later.
CALL_RECORDING = env.bool("CALL_RECORDING", default=False)
CALL_RECORDING_RETENTION_DAYS = env.int("CALL_RECORDING_RETENTION_DAYS", default=30)
if CALL_RECORDING_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("CALL_RECORDING_RETENTION_DAYS must be at least 1")
# Recordings past their time are deleted at Twilio every hour; recordings whose status
# callback was lost are asked for every ten minutes.
CELERY_BEAT_SCHEDULE["delete-expired-call-recordings"] = {
    "task": "scheduling.tasks.call_recordings_expire",
    "schedule": crontab(minute=23),
}
CELERY_BEAT_SCHEDULE["collect-missing-call-recordings"] = {
    "task": "scheduling.tasks.call_recordings_sweep",
    "schedule": timedelta(minutes=10),
}

# --- Clinic -------------------------------------------------------------------

CLINIC_NAME = env.str("CLINIC_NAME", default="Sterling Institute")
CLINIC_PHONE = env.str("CLINIC_PHONE", default="+14753292686")
# Where consultations in person take place (calendar invitations' LOCATION); empty: none.
CLINIC_ADDRESS = env.str("CLINIC_ADDRESS", default="")
# How a consultation takes place unless the coordinator chooses: in_person, video, phone.
CONSULTATION_DEFAULT_MODALITY = env.str("CONSULTATION_DEFAULT_MODALITY", default="in_person")
# The video service's meeting address, with "{room}" where each appointment's own
# unguessable room name goes (e.g. https://meet.example.org/clinic-{room}); empty: no
# video consultations.
VIDEO_ROOM_URL = env.str("VIDEO_ROOM_URL", default="")
if CONSULTATION_DEFAULT_MODALITY not in ("in_person", "video", "phone"):
    raise ImproperlyConfigured("CONSULTATION_DEFAULT_MODALITY: in_person, video or phone")
if VIDEO_ROOM_URL and "{room}" not in VIDEO_ROOM_URL:
    raise ImproperlyConfigured('VIDEO_ROOM_URL must contain "{room}"')
if CONSULTATION_DEFAULT_MODALITY == "video" and not VIDEO_ROOM_URL:
    raise ImproperlyConfigured("CONSULTATION_DEFAULT_MODALITY=video needs VIDEO_ROOM_URL")
# Calls to an article's tracking number ring this line (default: CLINIC_PHONE).
CLINIC_FORWARD_NUMBER = env.str("CLINIC_FORWARD_NUMBER", default=CLINIC_PHONE)
CALL_FORWARD_RING_SECONDS = env.int("CALL_FORWARD_RING_SECONDS", default=20)
CLINIC_TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="America/New_York")
# How long after a request the clinic promises a call, in open hours.
SPEED_TO_LEAD_MINUTES = env.int("SPEED_TO_LEAD_MINUTES", default=5)
# What a coordinator does with a crisis request, shown on its callback page in order,
# after the step that always comes first: reach the person on the number that request
# gave, before any emergency dispatch (scheduling/_crisis_banner.html).
# Comma-separated, one step per item (a step cannot contain a comma).
CRISIS_PROTOCOL_STEPS = env.list(
    "CRISIS_PROTOCOL_STEPS",
    default=[
        "Ask directly whether they are safe right now and whether they have a plan",
        "If anyone is in immediate danger call 911 with the person's location",
        "Offer the 988 Suicide and Crisis Lifeline (call or text 988) and stay until connected",
        "Tell the on-call supervisor and the on-call clinician at once",
        "Write what was said and done in the call notes before closing",
    ],
)
# Public holidays close the clinic (the `holidays` library): country and subdivision.
CLINIC_HOLIDAYS_COUNTRY = env.str("CLINIC_HOLIDAYS_COUNTRY", default="US")
CLINIC_HOLIDAYS_SUBDIVISION = env.str("CLINIC_HOLIDAYS_SUBDIVISION", default="CT")
# When an unanswered callback is tried again: minutes later, or "next-morning";
# after the last step the lead is closed as unreachable.
CALLBACK_RETRY_SCHEDULE = env.list("CALLBACK_RETRY_SCHEDULE", default=["15", "120", "next-morning"])
# When an unanswered crisis callback is tried again: minutes after each unanswered call,
# open or closed; after the last step a supervisor decides (it is never closed by itself).
CRISIS_RETRY_MINUTES = [
    int(minutes) for minutes in env.list("CRISIS_RETRY_MINUTES", default=["10", "30", "120"])
]
# Unclaimed callbacks past due alert the coordinators, then a supervisor.
ESCALATE_POOL_AFTER = timedelta(minutes=env.int("ESCALATE_POOL_AFTER_MINUTES", default=5))
ESCALATE_SUPERVISOR_AFTER = timedelta(
    minutes=env.int("ESCALATE_SUPERVISOR_AFTER_MINUTES", default=15)
)
# The soonest a consultation may be booked from now.
BOOKING_MIN_NOTICE = timedelta(minutes=env.int("BOOKING_MIN_NOTICE_MINUTES", default=60))
# The waitlist (scheduling.services.waitlist): a coordinator may put a person on it only
# when no consultation time is open within this many days of the earliest day they
# can come; a time that opens is offered by text to the first WAITLIST_OFFER_BATCH
# people waiting (in the order they were added), whose link answers for
# WAITLIST_OFFER_HOURS at most; why the person waits is one of WAITLIST_REASONS.
WAITLIST_AFTER_DAYS = env.int("WAITLIST_AFTER_DAYS", default=14)
WAITLIST_OFFER_BATCH = env.int("WAITLIST_OFFER_BATCH", default=3)
WAITLIST_OFFER_HOURS = env.int("WAITLIST_OFFER_HOURS", default=24)
WAITLIST_REASONS = env.list(
    "WAITLIST_REASONS",
    default=["no-times-soon", "times-that-suit", "clinician-choice", "modality", "other"],
)
# How long a coordinator's claim on a callback lasts unless renewed.
CALLBACK_LEASE_MINUTES = env.int("CALLBACK_LEASE_MINUTES", default=10)
# A submission not handed to a worker after this long is dispatched by the sweep.
SUBMISSION_SWEEP_AFTER = timedelta(seconds=env.int("SUBMISSION_SWEEP_AFTER_SECONDS", default=30))
# How many submissions the batch router claims and routes per transaction.
ROUTING_BATCH_SIZE = env.int("ROUTING_BATCH_SIZE", default=100)
# How long the batch router leaves a new request to its confirmation task (which kicks
# the router once it has confirmed): a batch never holds a row a confirmation waits for.
ROUTING_CONFIRMATION_GRACE = timedelta(
    seconds=env.float("ROUTING_CONFIRMATION_GRACE_SECONDS", default=0 if TESTING else 3)
)
PHONENUMBER_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US")
PHONENUMBER_DB_FORMAT = "E164"
SMS_ALLOWED_COUNTRIES = env.list("SMS_ALLOWED_COUNTRIES", default=["US", "CA"])
CONSENT_TEXT_VERSION = "2026-11-sms-v1"
# What a reader may say they are interested in (the CTA's optional select).
INTAKE_INTERESTS = env.list(
    "INTAKE_INTERESTS",
    default=["depression", "anxiety", "trauma", "ocd", "bipolar", "substance-use", "other"],
)
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
# A pre-admission screening on the callback page (intake.instruments): what brings the
# person (presenting concern) and the level of care the coordinator recommends.
SCREENING_PRESENTING_CONCERNS = env.list(
    "SCREENING_PRESENTING_CONCERNS",
    default=[
        "depression",
        "anxiety",
        "substance-use",
        "alcohol",
        "trauma",
        "bipolar",
        "ocd",
        "eating",
        "psychosis",
        "self-harm",
        "other",
    ],
)
SCREENING_LEVELS_OF_CARE = env.list(
    "SCREENING_LEVELS_OF_CARE",
    default=[
        "outpatient",
        "intensive-outpatient",
        "partial-hospitalization",
        "residential",
        "inpatient-detox",
        "refer-out",
    ],
)

# Insurance and verification of benefits (intake.insurance): the payers a coordinator
# (or the person, on the CTA's "More options") may name, as value=Label pairs; "self_pay"
# is always offered besides them. Plan types and relationships are fixed lists.
INSURANCE_PAYERS = env.dict(
    "INSURANCE_PAYERS",
    default={
        "aetna": "Aetna",
        "anthem": "Anthem",
        "bcbs": "Blue Cross Blue Shield",
        "cigna": "Cigna",
        "humana": "Humana",
        "kaiser": "Kaiser Permanente",
        "unitedhealthcare": "UnitedHealthcare",
        "optum": "Optum",
        "magellan": "Magellan Health",
        "carelon": "Carelon Behavioral Health",
        "ambetter": "Ambetter",
        "molina": "Molina Healthcare",
        "medicare": "Medicare",
        "medicaid": "Medicaid",
        "tricare": "TRICARE",
        "other": "Other",
    },
)

DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="")

# --- Logging ------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # JSON, redacted (config.logs); see "Logging and privacy" below.
    "formatters": {"json": json_formatter()},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The twilio client logs request parameters (phone numbers) at INFO.
        "twilio": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO; its warnings (failures,
        # lockouts) stay, without usernames (AXES_CLIENT_STR_CALLABLE).
        "axes": {"level": "WARNING"},
    },
}

# --- Intake ---------------------------------------------------------------------

# Public endpoints' throttles, on the shared cache (Redis in production).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {
        # Past the per-phone and per-address limits a submission is still stored and
        # answered like any other, but gets no confirmation (the answer must not tell a
        # stranger that someone else used the number or address).
        "lead_submit_phone": env.str("LEAD_THROTTLE_PER_PHONE", default="5/hour"),
        "lead_submit_email": env.str("LEAD_THROTTLE_PER_EMAIL", default="5/hour"),
        # Per /24 (IPv4) or /56 (IPv6): one host rotating addresses (429).
        "lead_submit_subnet": env.str("LEAD_THROTTLE_PER_SUBNET", default="60/hour"),
        "cta_event_ip": env.str("CTA_EVENT_THROTTLE_PER_IP", default="120/minute"),
        "cta_config_ip": env.str("CTA_CONFIG_THROTTLE_PER_IP", default="120/minute"),
    }
)
# A confirmation email's link (restrict or cancel that request) opens for this long.
REQUEST_LINK_MAX_AGE_DAYS = env.int("REQUEST_LINK_MAX_AGE_DAYS", default=30)
# A booking link (the person picks their own consultation time) opens for this long.
BOOKING_LINK_MAX_AGE_HOURS = env.int("BOOKING_LINK_MAX_AGE_HOURS", default=72)
# The embed reads its configuration (consent text, choices) cross-origin too.
CORS_URLS_REGEX = r"^/api/v1/(leads|events|cta)/$"
CORS_ALLOW_METHODS = ["GET", "POST", "OPTIONS"]
# DRF's JSON parser reads the request stream itself, so Django's
# DATA_UPLOAD_MAX_MEMORY_SIZE does not bound it: the intake parsers enforce this.
INTAKE_MAX_BODY_BYTES = 64 * 1024
# How long browsers and the server keep GET /api/v1/cta/.
CTA_CONFIG_CACHE_SECONDS = env.int("CTA_CONFIG_CACHE_SECONDS", default=300)
# Optional bot check on the form, verified server-side: "", "turnstile" or "hcaptcha".
CAPTCHA_PROVIDER = env.str("CAPTCHA_PROVIDER", default="")
if CAPTCHA_PROVIDER not in {"", "turnstile", "hcaptcha"}:
    raise ImproperlyConfigured("CAPTCHA_PROVIDER must be empty, turnstile or hcaptcha")
CAPTCHA_SITE_KEY = env.str("CAPTCHA_SITE_KEY", default="")
CAPTCHA_SECRET = env.str("CAPTCHA_SECRET", default="")
if CAPTCHA_PROVIDER and not CAPTCHA_SECRET:
    raise ImproperlyConfigured("CAPTCHA_PROVIDER needs CAPTCHA_SECRET")
# Empty: the provider's own siteverify URL (tests point it at a local fake).
CAPTCHA_VERIFY_URL = env.str("CAPTCHA_VERIFY_URL", default="")
CAPTCHA_TIMEOUT_SECONDS = env.float("CAPTCHA_TIMEOUT_SECONDS", default=3.0)
# manage.py import_articles: how long to wait for a sitemap or feed URL.
ARTICLE_IMPORT_TIMEOUT_SECONDS = env.float("ARTICLE_IMPORT_TIMEOUT_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE["flush-cta-event-counts"] = {
    "task": "intake.tasks.cta_event_counts_flush",
    "schedule": timedelta(minutes=1),
}

# --- Reports ----------------------------------------------------------------------

# Small-cell suppression: counts below REPORT_MIN_CELL show as "<REPORT_MIN_CELL" (for
# counts of people, decided on their perturbed value).
REPORT_MIN_CELL = env.int("REPORT_MIN_CELL", default=5)
if REPORT_MIN_CELL < 1:
    raise ImproperlyConfigured("REPORT_MIN_CELL must be at least 1")
# Counts of people in reports are perturbed by at most this (intake.reports: the cell key
# method, against differencing overlapping reports); 0 gives exact counts, never in
# production.
REPORT_NOISE = env.int("REPORT_NOISE", default=2)
if REPORT_NOISE < 0 or (PRODUCTION and REPORT_NOISE < 1):
    raise ImproperlyConfigured("REPORT_NOISE must be at least 1 in production (default 2)")
# UTM values that are report rows of their own however few people came with them
# (comma-separated); any other value needs REPORT_MIN_CELL people (perturbed count) or
# is "(other)".
REPORT_KNOWN_SOURCES = env.list("REPORT_KNOWN_SOURCES", default=[])
REPORT_KNOWN_MEDIUMS = env.list("REPORT_KNOWN_MEDIUMS", default=[])
REPORT_KNOWN_CAMPAIGNS = env.list("REPORT_KNOWN_CAMPAIGNS", default=[])
CELERY_BEAT_SCHEDULE["sync-funnel-event-counts"] = {
    "task": "intake.tasks.funnel_event_counts_sync",
    "schedule": timedelta(minutes=1),
}
CELERY_BEAT_SCHEDULE["rebuild-funnel-rollups"] = {
    "task": "intake.tasks.funnel_rollups_rebuild",
    "schedule": crontab(hour=3, minute=40),
}

# --- Outbound webhooks (intake.services.webhooks) -----------------------------------

# Where a lead's stage changes are sent (the clinic's EMR or CRM), comma-separated. An
# entry written "covered+https://..." is a covered system (under a business associate
# agreement): its events also carry the lead's latest screening scores and bands. Every
# other endpoint gets ids and stages only.
WEBHOOK_COVERED_PREFIX = "covered+"
WEBHOOK_ENDPOINTS = []
for _entry in env.list("WEBHOOK_URLS", default=[]):
    _covered = _entry.startswith(WEBHOOK_COVERED_PREFIX)
    _url = _entry.removeprefix(WEBHOOK_COVERED_PREFIX) if _covered else _entry
    _parts = urlsplit(_url)
    if _parts.scheme not in {"http", "https"} or not _parts.hostname:
        raise ImproperlyConfigured("WEBHOOK_URLS: every entry must be an http(s) URL")
    if PRODUCTION and _parts.scheme != "https":
        raise ImproperlyConfigured("WEBHOOK_URLS must use https when DJANGO_ENV=production")
    if _parts.username or _parts.password:
        raise ImproperlyConfigured("WEBHOOK_URLS: no credentials in the URL (WEBHOOK_SECRET)")
    if len(_url) > 500:
        raise ImproperlyConfigured("WEBHOOK_URLS: an entry is longer than 500 characters")
    WEBHOOK_ENDPOINTS.append({"url": _url, "covered": _covered})
# The key of the HMAC-SHA256 signature of every request (X-Clinic-Signature).
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")
if WEBHOOK_ENDPOINTS and len(WEBHOOK_SECRET) < 32:
    raise ImproperlyConfigured("WEBHOOK_URLS needs a WEBHOOK_SECRET of at least 32 characters")
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Tries per event and endpoint; the wait doubles from WEBHOOK_RETRY_BASE_SECONDS after
# each failed one, up to WEBHOOK_RETRY_MAX_SECONDS (12 tries: about a day).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=12)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_RETRY_MAX_SECONDS = env.int("WEBHOOK_RETRY_MAX_SECONDS", default=6 * 3600)
if WEBHOOK_MAX_ATTEMPTS < 1 or WEBHOOK_RETRY_BASE_SECONDS < 1 or WEBHOOK_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured(
        "WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_BASE_SECONDS and WEBHOOK_TIMEOUT_SECONDS "
        "must be positive"
    )
CELERY_BEAT_SCHEDULE["redeliver-due-webhooks"] = {
    "task": "intake.tasks.webhooks_sweep",
    "schedule": SWEEP_INTERVAL,
}

# --- Logging and privacy ----------------------------------------------------------

# Every log line is one JSON object with the request id (X-Request-ID, also carried
# into Celery tasks) and no personal data: config.logs redacts personal keys and
# masks phone numbers, email addresses and signed-link tokens in any text.
# LOG_FORMAT=console renders the same redacted events for humans (development).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or console")
LOGGING["formatters"]["json"] = json_formatter(console=LOG_FORMAT == "console")
configure_structlog()

# --- Staff sign-in (clinic.signin) -------------------------------------------------

# django-axes: failures are counted per username AND client address together, so a
# stranger cannot lock a coordinator out from elsewhere (per username alone), and
# one typo-prone colleague cannot lock out a whole clinic behind one NAT address
# (per address alone). Password spraying across usernames is answered by the
# password rules above and by the second factor.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_COOLOFF_MINUTES = env.int("LOGIN_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
if AXES_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be positive")
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A locked-out client that keeps trying does not push its cool-off further out:
# the page promises a time, and keeps it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "clinic.signin.views.locked_out"
# The same client address as the API throttles (NUM_PROXIES), and no username or
# address in log lines.
AXES_CLIENT_IP_CALLABLE = "clinic.signin.services.signin_client_ip"
AXES_CLIENT_STR_CALLABLE = "clinic.signin.services.signin_client_str"
AXES_VERBOSE = False
# Staff in a personal-data role (coordinator, supervisor, admin) must pass a TOTP
# second factor. Only a development machine may switch it off.
OTP_REQUIRED = env.bool("OTP_REQUIRED", default=True)
if not OTP_REQUIRED and not DEVELOPMENT:
    raise ImproperlyConfigured("OTP_REQUIRED may be false only when DJANGO_ENV=development")
OTP_TOTP_ISSUER = CLINIC_NAME
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# How many one-time backup codes a user gets on enrolment.
OTP_BACKUP_CODES = 10
# A signed-in session left alone this long is signed out. Background requests
# (the console's queue polling, lease renewal) do not count as activity.
IDLE_TIMEOUT_MINUTES = env.int("IDLE_TIMEOUT_MINUTES", default=30)
if IDLE_TIMEOUT_MINUTES < 1:
    raise ImproperlyConfigured("IDLE_TIMEOUT_MINUTES must be at least 1")
# API tokens for integrations (django-rest-knox): hashed at rest, made by an admin.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS) if API_TOKEN_TTL_DAYS > 0 else None,
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "clinic_",
}

# --- Privacy: encryption at rest, lookup hashes, retention ---------------------------


def _derived_from_secret_key(purpose: str) -> bytes:
    """Development and test only: a stable key for ``purpose`` derived from SECRET_KEY."""
    return hmac.new(SECRET_KEY.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


# Fernet keys, comma-separated: the first encrypts, all decrypt (clinic.crypto). Rotate by
# putting a new key first, running manage.py rotate_encryption_keys, then dropping the old.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS",
    default=[]
    if PRODUCTION
    else [base64.urlsafe_b64encode(_derived_from_secret_key("clinic.field-encryption")).decode()],
)
try:
    for _key in FIELD_ENCRYPTION_KEYS:
        Fernet(_key)
except ValueError:
    raise ImproperlyConfigured(
        'FIELD_ENCRYPTION_KEYS must be Fernet keys: python -c "from cryptography.fernet '
        'import Fernet; print(Fernet.generate_key().decode())"'
    ) from None
# The HMAC key of the phone and email lookup hashes. Never change it: every stored hash
# (opt-outs of anonymised people among them) would stop matching.
LOOKUP_HASH_KEY = env.str(
    "LOOKUP_HASH_KEY",
    default="" if PRODUCTION else _derived_from_secret_key("clinic.lookup-hash").hex(),
)
# Leads closed without admission are anonymised this many days after closing.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=365)
if RETENTION_DAYS < 1:
    raise ImproperlyConfigured("RETENTION_DAYS must be at least 1")
# Rows per transaction in anonymisation and key rotation.
PRIVACY_BATCH_SIZE = env.int("PRIVACY_BATCH_SIZE", default=200)
CELERY_BEAT_SCHEDULE["anonymise-expired-leads"] = {
    "task": "intake.tasks.leads_retention_anonymise",
    "schedule": crontab(hour=4, minute=10),
}
# --- Metrics (Prometheus) ----------------------------------------------------------

# GET /metrics with "Authorization: Bearer <METRICS_TOKEN>" (Prometheus), or as a
# signed-in admin. Empty: admins only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Where gunicorn's and Celery's processes write their samples so that one scrape
# sums them (prometheus_client's multiprocess mode); emptied when gunicorn or the
# worker starts. One directory per service and host; it must be in the process
# environment, not only in .env, since gunicorn's master reads it (gunicorn.conf.py).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# The Celery worker serves its task metrics on this port (0: off; needs the directory).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDRESS = env.str("WORKER_METRICS_ADDRESS", default="127.0.0.1")
# How long a scrape's database, cache and broker readings are reused.
METRICS_STATE_CACHE_SECONDS = env.int("METRICS_STATE_CACHE_SECONDS", default=15)

# --- Content-Security-Policy (django-csp) ---------------------------------------------

# Every page: our own scripts, styles and images only, no inline script or style
# (htmx, console.js and cta.js are local static files), never framed. The API
# docs page relaxes style-src for Swagger UI (config.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
    },
}

# --- Audit trail (django-pghistory; docs/audit.md) -------------------------------------

# Every event row carries its own context (who, role, request id, from where, route or
# task) as JSON, instead of pghistory's shared context table that each statement
# updates: the event tables only ever receive INSERTs.
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()
# UPDATE and DELETE on event tables are refused by a trigger (pgtrigger.Protect).
PGHISTORY_APPEND_ONLY = True
# The statement's own time, not its transaction's: the trail is one ordered timeline.
PGHISTORY_CREATED_AT_FUNCTION = "CLOCK_TIMESTAMP()"
# How many events an audit trail page shows (newest first), before narrowing by date.
AUDIT_TRAIL_PAGE_SIZE = env.int("AUDIT_TRAIL_PAGE_SIZE", default=500)
# A list page (queue, board, appointments) records a lead's read once per user and page
# in this window; detail pages, the API and exports record every read.
AUDIT_LIST_READ_WINDOW_SECONDS = env.int("AUDIT_LIST_READ_WINDOW_SECONDS", default=900)

# --- Production refuses DEBUG and example secrets ---------------------------------------

# Values published in .env.example (and the development default key) that do not say
# "change-me" themselves; every other example secret does. A secret that is either is
# public, so production refuses to start with it, naming the setting, never the value.
_EXAMPLE_SECRETS = frozenset(
    {
        # .env.example's FIELD_ENCRYPTION_KEYS: a valid Fernet key, base64 of "change-me-...".
        "Y2hhbmdlLW1lLWdlbmVyYXRlLWEtZmVybmV0LWtleSE=",
        "dev-only-insecure-key-do-not-use-in-production-0123456789",
    }
)
_PLACEHOLDER = re.compile(r"change[-_ ]?me", re.IGNORECASE)


def _is_example_secret(value: str) -> bool:
    if value in _EXAMPLE_SECRETS or _PLACEHOLDER.search(value):
        return True
    try:  # a base64 key (Fernet) whose bytes read as a placeholder
        decoded = base64.urlsafe_b64decode(value.encode() + b"==").decode("utf-8")
    except ValueError:
        return False
    return bool(_PLACEHOLDER.search(decoded))


def _url_password(name: str) -> list[str]:
    try:
        password = urlsplit(env.str(name, default="")).password
    except ValueError:
        return []
    return [password] if password else []


if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be false when DJANGO_ENV=production")
    _secrets = {
        "SECRET_KEY": [SECRET_KEY],
        "SECRET_KEY_FALLBACKS": SECRET_KEY_FALLBACKS,
        "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEYS,
        "LOOKUP_HASH_KEY": [LOOKUP_HASH_KEY],
        "TWILIO_AUTH_TOKEN": [TWILIO_AUTH_TOKEN],
        "TWILIO_AUTH_TOKEN_FALLBACKS": TWILIO_AUTH_TOKEN_FALLBACKS,
        "TWILIO_API_SECRET": [TWILIO_API_SECRET],
        "METRICS_TOKEN": [METRICS_TOKEN],
        "CAPTCHA_SECRET": [CAPTCHA_SECRET],
        "WEBHOOK_SECRET": [WEBHOOK_SECRET],
        # POSTGRES_PASSWORD reaches the settings inside DATABASE_URL (docker-compose.yml).
        "DATABASE_URL": _url_password("DATABASE_URL"),
        "REPORTS_DATABASE_URL": _url_password("REPORTS_DATABASE_URL"),
        "EMAIL_URL": _url_password("EMAIL_URL"),
    }
    for _name, _values in _secrets.items():
        if any(_value and _is_example_secret(_value) for _value in _values):
            raise ImproperlyConfigured(
                f"{_name} is an example value (.env.example or a change-me placeholder): "
                "set a real secret when DJANGO_ENV=production"
            )
