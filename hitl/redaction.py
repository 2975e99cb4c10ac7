"""Secrets shown where they must not be kept: a webhook URL (its path is often the secret), a
routing key or a token becomes its host and a fingerprint, enough to tell two apart and to match one
you hold, never enough to use it. For the audit log's snapshots, the logs and admin lists."""

import hashlib

import httpx


def fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def redacted(secret):
    """`https://hooks.slack.com/… (sha256:…)` for a URL, `… (sha256:…)` for anything else, each value
    of a {name: secret} object so (its names shown); empty stays empty."""
    if isinstance(secret, dict):
        return {name: redacted(str(value)) for name, value in secret.items()}
    if not secret:
        return secret
    try:
        url = httpx.URL(secret)
    except httpx.InvalidURL:
        url = None
    if url is not None and url.scheme in ("http", "https") and url.host:
        return f"{url.scheme}://{url.host}/… ({fingerprint(secret)})"
    return f"… ({fingerprint(secret)})"
