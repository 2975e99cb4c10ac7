"""API tokens: random, shown once, stored as SHA-256 (they carry 256 bits, so no slow hash is needed)."""

import hashlib
import secrets

TOKEN_PREFIX = "hitl_"


def token_generate() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_prefix(raw: str) -> str:
    return raw[: len(TOKEN_PREFIX) + 6]
