"""Production: PostgreSQL and Redis are required; everything else comes from the environment."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = env("SECRET_KEY")
DEBUG = False
if not DATABASES:  # noqa: F405
    raise RuntimeError("DATABASE_URL must be set in production (PostgreSQL).")
if not REDIS_URL:  # noqa: F405
    raise RuntimeError("REDIS_URL must be set in production (Celery broker and Channels layer).")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
}

# No SECURE_PROXY_SSL_HEADER: Django would believe X-Forwarded-Proto from any client. The ASGI
# server takes the scheme (and the client's address) from the forwarded headers of the proxies in
# HITL_TRUSTED_PROXIES only (deploy/entrypoint.sh), and from no one else.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
