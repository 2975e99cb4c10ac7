"""When to retry a request and how long to wait: shared by Client and AsyncClient.

Retried: network errors, 5xx, 429 (after its Retry-After), and 409 `idempotency_key_in_flight`
(the first request with this key is still being processed). Everything else is an answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx

from .errors import ERRORS_BY_STATUS, ApiError

IN_FLIGHT = "idempotency_key_in_flight"


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter: attempt n waits between d/2 and d, where
    d = min(backoff_cap, backoff_base × 2ⁿ); a Retry-After header (capped at retry_after_cap) wins."""

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    retry_after_cap: float = 60.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = retry_after(response.headers.get("Retry-After"))
            if after is not None:
                return min(after, self.retry_after_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retryable(response: httpx.Response) -> bool:
    if response.status_code >= 500 or response.status_code == 429:
        return True
    return response.status_code == 409 and _json(response).get("error") == IN_FLIGHT


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; an ApiError (by status) for anything else."""
    if response.is_success:
        return cast(dict[str, Any], response.json())
    body = _json(response) or {"error": f"http_{response.status_code}", "message": response.text[:500]}
    raise ERRORS_BY_STATUS.get(response.status_code, ApiError)(response.status_code, body)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return cast(dict[str, Any], body) if isinstance(body, dict) else {}
