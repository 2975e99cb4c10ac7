"""Local development and the embedded demo (`make run`): SQLite and embedded Redis by default,
DEBUG off as in production (DEBUG=true turns Django's debug pages on)."""

from .base import *  # noqa: F403

SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
