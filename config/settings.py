"""Settings for the webhook portal.

This module is the only reader of ``os.environ``. Every value comes from the environment
through the small helpers below, which turn bad values into ``ImproperlyConfigured``.
With nothing set, the portal runs on its embedded default: an SQLite file and a Celery
broker on local files under ``var/``.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None
    if number <= 0:
        raise ImproperlyConfigured(f"{name} must be positive, not {number}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP network") from None
    return networks


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (or set DEBUG=true for a "
            "local development run)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_htmx",
    # The API docs page with django-ninja's own copy of Swagger UI (its pinned version,
    # served from our static files): without it, ninja loads Swagger UI from a CDN.
    "ninja",
    "template_partials",
    "axes",
    "csp",
    "webhooks",
    "deliveries",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: answers a locked-out login with its lockout page.
    "axes.middleware.AxesMiddleware",
]

# Repeated failed logins: after AXES_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for AXES_COOLOFF_MINUTES (django-axes; each failure and
# each lockout is in the activity log, see webhooks/logins.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Proxies in front of the web servers that append the client's address to X-Forwarded-For
# (a load balancer: 1). The lockout counts per client address, read through exactly this
# many proxies (config/client_ip.py); 0 ignores the header and uses REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip_address"

if not DEBUG:
    # Serves collected static files in production; in development runserver does.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

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
            ],
        },
    },
]

# Database: DATABASE_URL, or an SQLite file under var/ for the embedded setup.
if not env("DATABASE_URL"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool: each process keeps a few warm connections instead of
    # reconnecting on every request or task.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = (
        {"min_size": 1, "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1)}
        if env_bool("DATABASE_POOL", True)
        else False
    )
    # Statements are prepared only where the code asks (the emit's, run on every event):
    # Django's default (None) turns preparing off altogether, and a threshold past any
    # count keeps psycopg from preparing the rest by itself, for PgBouncer's sake.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2**31 - 1
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one file: WAL lets readers proceed while
    # one process writes, and IMMEDIATE transactions wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The user events' covering index (INCLUDE) serves PostgreSQL's index-only scans; SQLite
# builds it without the included column, which is all it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "stats:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# What `collectstatic` writes and whitenoise serves (with DEBUG off) on each web host.
STATIC_ROOT = Path(env("STATIC_ROOT") or VAR_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Email (endpoint health alerts): Django's settings, from the environment. Without an SMTP
# host the console backend prints each message (as `make run` shows).
EMAIL_HOST = env("EMAIL_HOST", "")
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "webhooks@localhost")
# The portal's address, for links in emails.
PORTAL_URL = env("PORTAL_URL", f"http://127.0.0.1:{env('WEB_PORT', '8000')}")
# Who hears about endpoint health besides the admins with an email address.
ALERT_EMAILS = env_list("ALERT_EMAILS")

# HTTPS: on by default whenever DEBUG is off, so `check --deploy` is clean.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe over plain HTTP: no redirect for the health check.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and stylesheets only from our static files,
# so no inline <script>, no onclick= and no eval (htmx trigger filters, hx-on) run. Style
# attributes stay allowed: the charts, meters and progress bars are drawn with server-side
# widths (style="width: 42%"); they cannot run script or, with the fetch directives below,
# load anything from elsewhere. <style> elements are refused (htmx's indicator styles are
# off in base.html and live in portal.css); the standalone 500 page allows its own.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        # Swagger UI (/api/v1/docs) draws some icons from data: URLs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Celery: Redis in production and tests; by default a broker on local files that a
# separate worker process reads, so `make run` needs no server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or "filesystem://"
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR") or VAR_DIR / "broker")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's own filesystem transport reads half-written files and kills the worker
    # (config/file_broker.py says how); ours writes and claims by rename.
    CELERY_BROKER_TRANSPORT = "config.file_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "polling_interval": 0.2,
    }
    # Remote control (pidbox) broadcasts through shared files and nobody uses it here.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
else:
    # A message not acknowledged within this time is handed to another worker. Tests set
    # it short to show that no delayed work waits in the broker.
    CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", 600, minimum=1)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Webhooks: defaults of the delivery engine.
WEBHOOKS_DEFAULT_TIMEOUT = env_int("WEBHOOKS_DEFAULT_TIMEOUT", 10, minimum=1)
# Networks the outbound destination guard lets through although they are private or
# loopback (e.g. "127.0.0.0/8" for the demo receiver and the tests).
WEBHOOKS_ALLOWED_NETWORKS = env_networks("WEBHOOKS_ALLOWED_NETWORKS")
# Where the demo receiver of `make run` listens.
WEBHOOKS_DEMO_RECEIVER_PORT = env_int("WEBHOOKS_DEMO_RECEIVER_PORT", 8765, minimum=1)

DELIVERIES_RETENTION_DAYS = env_int("DELIVERIES_RETENTION_DAYS", 30, minimum=1)
# The sender: deliveries claimed per batch, concurrent sends per worker process, attempts
# written per database round trip, and how long one drain task keeps claiming batches.
DELIVERIES_BATCH_SIZE = env_int("DELIVERIES_BATCH_SIZE", 100, minimum=1)
DELIVERIES_SEND_CONCURRENCY = env_int("DELIVERIES_SEND_CONCURRENCY", 32, minimum=1)
DELIVERIES_RECORD_BATCH = env_int("DELIVERIES_RECORD_BATCH", 50, minimum=1)
DELIVERIES_DRAIN_SECONDS = env_int("DELIVERIES_DRAIN_SECONDS", 30, minimum=1)
DELIVERIES_MAX_DRAINS = env_int("DELIVERIES_MAX_DRAINS", 8, minimum=1)
DELIVERIES_PURGE_BATCH = env_int("DELIVERIES_PURGE_BATCH", 2000, minimum=1)
# How long past its timeout an in-progress delivery waits before another worker takes it.
DELIVERIES_LEASE_MARGIN = env_float("DELIVERIES_LEASE_MARGIN", 30.0)
# How often beat re-dispatches due retries and deliveries whose lease ran out.
DELIVERIES_DISPATCH_INTERVAL = env_float("DELIVERIES_DISPATCH_INTERVAL", 5.0)
# Fair share: concurrent sends to one endpoint across all workers (a webhook may set its
# own). Keep it below DELIVERIES_SEND_CONCURRENCY, so an endpoint that never answers
# cannot hold every sending thread of a worker.
DELIVERIES_ENDPOINT_CONCURRENCY = env_int("DELIVERIES_ENDPOINT_CONCURRENCY", 20, minimum=1)
# Endpoint health: after this many consecutive failures spanning at least this many
# seconds an endpoint is failing; its deliveries wait while one probe per interval
# (doubling up to the maximum) tests it; failing this long (default 5 days) disables it.
DELIVERIES_FAILURE_THRESHOLD = env_int("DELIVERIES_FAILURE_THRESHOLD", 5, minimum=1)
DELIVERIES_FAILURE_SPAN = env_float("DELIVERIES_FAILURE_SPAN", 60.0)
DELIVERIES_PROBE_INTERVAL = env_float("DELIVERIES_PROBE_INTERVAL", 30.0)
DELIVERIES_PROBE_MAX_INTERVAL = env_float("DELIVERIES_PROBE_MAX_INTERVAL", 3600.0)
DELIVERIES_DISABLE_AFTER = env_float("DELIVERIES_DISABLE_AFTER", 5 * 24 * 3600.0)

# How often beat looks for scheduled campaign occurrences that are due.
CAMPAIGNS_DISPATCH_INTERVAL = env_float("CAMPAIGNS_DISPATCH_INTERVAL", 15.0)

CELERY_BEAT_SCHEDULE = {
    "dispatch-due": {"task": "deliveries.dispatch_due", "schedule": DELIVERIES_DISPATCH_INTERVAL},
    "purge-expired": {"task": "deliveries.purge_expired", "schedule": 3600.0},
    "prepare-partitions": {"task": "deliveries.prepare_partitions", "schedule": 3600.0},
    "compact-rollups": {"task": "deliveries.compact_rollups", "schedule": 300.0},
    "finish-bulk-retries": {"task": "deliveries.finish_bulk_retries", "schedule": 10.0},
    "campaigns-due": {"task": "campaigns.dispatch_due", "schedule": CAMPAIGNS_DISPATCH_INTERVAL},
    "campaigns-purge-triggers": {"task": "campaigns.purge_triggers", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
