"""The test suite: real PostgreSQL and Redis. CI sets DATABASE_URL and REDIS_URL to the
machine's; without them, the embedded ones in the data directory's `test/` folder (apart from
`make run`'s, whose Celery queue the tests' worker must not share)."""

import os

os.environ.setdefault("CHANNEL_PREFIX", f"hitl-test-{os.getpid()}")

from hitl import embedded  # noqa: E402

from .base import *  # noqa: E402, F403
from .base import DATA_DIR, DATABASE_URL, REDIS_URL, cache_config, database_config, redis_config  # noqa: E402

if not DATABASE_URL:
    DATABASES = {"default": database_config(embedded.postgres(DATA_DIR / "test"))}
if not REDIS_URL:
    CELERY_BROKER_URL, CHANNEL_LAYERS = redis_config(f"unix://{embedded.redis(DATA_DIR / 'test')}")
    CACHES = cache_config(f"unix://{embedded.redis(DATA_DIR / 'test')}")
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SERVESTATIC_USE_FINDERS = True
STORAGES = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Transactional tests empty the tables between tests with TRUNCATE, which the audit log refuses
# unless the session says it may (audit.chain). UPDATE and DELETE stay refused.
DATABASES["default"]["OPTIONS"]["options"] = "-c hitl.audit_truncate=on"
# The tests' receivers (webhooks, notifications) listen on loopback.
HITL_OUTBOUND_ALLOW = "127.0.0.0/8,::1/128"
