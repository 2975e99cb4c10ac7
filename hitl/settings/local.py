"""Local development and the embedded demo (`make run`): SQLite and embedded Redis by default."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
