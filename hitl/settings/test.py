"""The test suite: real PostgreSQL and Redis (DATABASE_URL, REDIS_URL) with local defaults."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitl")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CHANNEL_PREFIX", f"hitl-test-{os.getpid()}")

from .base import *  # noqa: E402, F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SERVESTATIC_USE_FINDERS = True
STORAGES = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Transactional tests empty the tables between tests with TRUNCATE, which the audit log refuses
# unless the session says it may (hitl.audit_chain). UPDATE and DELETE stay refused.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"]["OPTIONS"]["options"] = "-c hitl.audit_truncate=on"  # noqa: F405
