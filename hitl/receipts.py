"""Approval receipts: the service's Ed25519 signature over what it approved, which anyone can check
and only the service can make.

A receipt is a JWS in compact serialization (RFC 7515) with EdDSA over Ed25519 (RFC 8037),
`BASE64URL(header).BASE64URL(claims).BASE64URL(signature)` without padding, where header and
claims are canonical JSON (hitl.payloads.canonical_json):

    header = {"alg": "EdDSA", "kid": <key id>, "typ": "hitl-receipt+jws"}
    claims = {"v": 1, "action_id", "agent", "action_type": <the action type's key>,
              "payload_sha256" (of final_payload's canonical JSON),
              "decision": "approved" | "modified", "approvers": [usernames, in approval order;
              [] when the policy approved it], "route", "iat": unix seconds of the approval}

Keys come from the setting HITL_RECEIPT_KEYS, "kid:base64url-32-byte-seed" separated by commas,
the signing key first and older ones after it, still published for verification (rotation:
`manage.py receipt_key` makes a new one to put first). Without it, one key derived from
SECRET_KEY (HKDF-SHA256) under kid "default", so that a fresh install signs. The public keys are
served as a JWKS at GET /api/v1/receipt-keys.
"""

import base64
import binascii
import secrets
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .payloads import canonical_json, payload_digest

TYPE = "hitl-receipt+jws"
DEFAULT_KID = "default"


@dataclass(frozen=True)
class ReceiptKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url without padding; raises ValueError on anything else."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def receipt_keys() -> list[ReceiptKey]:
    """The keys, the signing one first (from the settings as they are now)."""
    return _keys(settings.HITL_RECEIPT_KEYS, settings.SECRET_KEY)


@cache
def _keys(configured: str, secret_key: str) -> list[ReceiptKey]:
    if not configured.strip():
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hitl-receipt-key").derive(
            secret_key.encode()
        )
        return [ReceiptKey(DEFAULT_KID, Ed25519PrivateKey.from_private_bytes(seed))]
    keys = []
    for entry in configured.split(","):
        kid, _, seed = entry.strip().partition(":")
        try:
            raw = b64url_decode(seed)
        except ValueError:
            raw = b""
        if not kid or len(raw) != 32:
            raise ImproperlyConfigured(
                f"HITL_RECEIPT_KEYS: {entry.strip()[:40]!r} is not 'kid:<base64url of a 32-byte seed>' "
                "(make one with manage.py receipt_key)."
            )
        if any(key.kid == kid for key in keys):
            raise ImproperlyConfigured(f"HITL_RECEIPT_KEYS: the key id {kid!r} appears twice.")
        keys.append(ReceiptKey(kid, Ed25519PrivateKey.from_private_bytes(raw)))
    return keys


def key_generate() -> str:
    """A new "kid:seed" entry for HITL_RECEIPT_KEYS."""
    return f"k{secrets.token_hex(4)}:{b64url(secrets.token_bytes(32))}"


def sign(
    *, action_id, agent: str, action_type: str, final_payload, decision: str, approvers: list[str], route: str, at
) -> str:
    """The receipt (a JWS string) of an approval, signed with the newest key."""
    key = receipt_keys()[0]
    header = {"alg": "EdDSA", "kid": key.kid, "typ": TYPE}
    claims = {
        "v": 1,
        "action_id": str(action_id),
        "agent": agent,
        "action_type": action_type,
        "payload_sha256": payload_digest(final_payload),
        "decision": decision,
        "approvers": list(approvers),
        "route": route,
        "iat": int(at.timestamp()),
    }
    signing_input = f"{b64url(canonical_json(header).encode())}.{b64url(canonical_json(claims).encode())}"
    return f"{signing_input}.{b64url(key.private.sign(signing_input.encode('ascii')))}"


def public_jwks() -> dict:
    """Every key that may have signed a receipt still held, as a JWKS (RFC 8037 OKP keys)."""
    return {
        "keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": key.kid, "x": b64url(key.public_raw), "use": "sig", "alg": "EdDSA"}
            for key in receipt_keys()
        ]
    }
