"""Local development and the demo (`make run`), and every `manage.py` command in a checkout:
without DATABASE_URL and REDIS_URL, the embedded PostgreSQL and Redis in the data directory
(started if they are not running). DEBUG is off, as in production; DEBUG=true turns Django's
debug pages on."""

from hitl import embedded

from .base import *  # noqa: F403
from .base import DATA_DIR, DATABASE_URL, REDIS_URL, cache_config, database_config, redis_config

if not DATABASE_URL:
    DATABASES = {"default": database_config(embedded.postgres(DATA_DIR))}
if not REDIS_URL:
    CELERY_BROKER_URL, CHANNEL_LAYERS = redis_config(f"unix://{embedded.redis(DATA_DIR)}")
    CACHES = cache_config(f"unix://{embedded.redis(DATA_DIR)}")
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# The demo's and a developer's webhook receivers run on this machine: loopback is let through the
# SSRF guard here (hitl.outbound), never in production unless its environment says so.
HITL_OUTBOUND_ALLOW = env("HITL_OUTBOUND_ALLOW", default="127.0.0.0/8,::1/128")
