"""The API's rate limits: DRF throttles counting in the shared cache (Redis), so that every web
process sees the same counts.

Each API token, or user logged in by session or HTTP Basic, is counted on its own against
HITL_API_RATE_PER_TOKEN: one agent's flood uses up its own budget, never another's, even from the
same address. Calls with no credentials, or wrong ones, are counted per client address against
HITL_API_RATE_PER_ADDRESS. The address is the connection's (REMOTE_ADDR), which the ASGI server
takes from X-Forwarded-For only when a trusted proxy sent it (HITL_TRUSTED_PROXIES).

Windows are fixed: a rate of 1200/minute allows 1200 calls in each clock minute. A call over the
rate is answered 429 with Retry-After, the seconds until its window ends (hitl.api.errors).
"""

import functools
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from redis import Redis, RedisError
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """(calls, seconds) of a rate written "N/second", "N/minute", "N/hour" or "N/day"."""
    calls, _, period = rate.partition("/")
    return int(calls), PERIODS[period.strip()[:1]]


def count_call(key: str, period: int) -> tuple[int, float]:
    """Count one call under `key` in the current fixed window of `period` seconds; the count in the
    window so far (this call included) and the seconds left in it.

    On Redis, one round trip: INCR and EXPIRE pipelined. (Django's cache API takes three, which
    cost intake a quarter of its throughput in bench/intake.py; this costs less than the bench's
    spread from run to run.) Each window has a key of its own, which outlives the window by one
    more, so no count ever meets an expired key.
    """
    now = time.time()
    window = int(now // period)
    key = f"throttle:{key}:{period}:{window}"
    client = _redis()
    if client is not None:
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(cache.make_key(key))  # the cache's prefix (CHANNEL_PREFIX)
        pipeline.expire(cache.make_key(key), 2 * period)
        count, _ = pipeline.execute()
    else:  # another cache backend: the same count through Django's cache API
        try:
            count = cache.incr(key)
        except ValueError:  # the window's first call
            count = 1 if cache.add(key, 1, timeout=2 * period) else cache.incr(key)
    return count, (window + 1) * period - now


@functools.cache
def _redis() -> Redis | None:
    """A client of the default cache's Redis (settings.CACHES), or None when the cache is not Redis."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return None
    return Redis.from_url(config["LOCATION"], socket_timeout=2, socket_connect_timeout=2)  # an outage: let through


class _RateThrottle(BaseThrottle):
    """Counts the calls of whoever `ident` names against the rate in the setting `rate_setting`.

    When the cache cannot be reached the call is let through (and logged): the limits protect the
    service, and an outage of theirs should not stop agents that are within them."""

    rate_setting = ""
    wait_seconds: float | None = None

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        calls, period = parse_rate(getattr(settings, self.rate_setting))
        try:
            count, left = count_call(ident, period)
        except RedisError:
            log.warning("API rate limits not counted: the cache is unreachable", exc_info=True)
            return True
        if count <= calls:
            return True
        self.wait_seconds = max(1, math.ceil(left))
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


def _principal(request):
    user = request.user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


class PrincipalRateThrottle(_RateThrottle):
    """HITL_API_RATE_PER_TOKEN for each API token, or each user logged in by session or HTTP Basic."""

    rate_setting = "HITL_API_RATE_PER_TOKEN"

    def ident(self, request) -> str | None:
        token_id = getattr(request.auth, "pk", None)
        if token_id is not None:
            return f"token:{token_id}"
        user = _principal(request)  # an agent always comes with its token, counted above
        return None if user is None else f"user:{user.pk}"


class AddressRateThrottle(_RateThrottle):
    """HITL_API_RATE_PER_ADDRESS for each client address, over the calls that carry no valid
    credentials."""

    rate_setting = "HITL_API_RATE_PER_ADDRESS"

    def ident(self, request) -> str | None:
        if request.auth is not None or _principal(request) is not None:
            return None
        return f"address:{request.META.get('REMOTE_ADDR', '')}"
