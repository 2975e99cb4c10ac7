"""Production settings plus the bare baseline view, served over plain HTTP on loopback."""

from hitl.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
SECURE_SSL_REDIRECT = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# One token and one address send every request of a benchmark, thousands a second: the rate limits
# still count each call (their cost is measured), with ceilings no run reaches.
HITL_API_RATE_PER_TOKEN = env("HITL_API_RATE_PER_TOKEN", default="100000000/minute")  # noqa: F405
HITL_API_RATE_PER_ADDRESS = env("HITL_API_RATE_PER_ADDRESS", default="100000000/minute")  # noqa: F405
