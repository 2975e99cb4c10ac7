"""Approval receipts: check that the service approved exactly this payload for this action.

A receipt is a compact JWS (RFC 7515), EdDSA over Ed25519 (RFC 8037):
`BASE64URL(header).BASE64URL(claims).BASE64URL(signature)`, no padding, where

    header = {"alg": "EdDSA", "kid": "<key id>", "typ": "hitl-receipt+jws"}
    claims = {"v": 1, "action_id": "<uuid>", "action_type": "<the action type's key>",
              "agent": "<agent name>", "payload_sha256": "<hex SHA-256 of the canonical JSON of final_payload>",
              "decision": "approved" | "modified", "approvers": ["<username>", ...],
              "route": "autonomous" | "post_action" | "pre_action", "iat": <unix seconds>}

Canonical JSON: sorted keys, no spaces, UTF-8 (json.dumps(v, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)). The public keys are a JWKS at GET /api/v1/receipt-keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ReceiptInvalid

ALGORITHM = "EdDSA"
TYPE = "hitl-receipt+jws"
APPROVING = ("approved", "modified")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def canonical_json(value: Any) -> bytes:
    """The bytes the service hashes and signs: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_sha256(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: exactly one encoding per byte string, so that no
    character of a receipt can change without changing what it decodes to."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ReceiptInvalid("The receipt is not base64url.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ReceiptInvalid("The receipt is not base64url.") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise ReceiptInvalid("The receipt is not canonical base64url.")
    return raw


def receipt_header(receipt: str) -> dict[str, Any]:
    """The receipt's header (unverified): its `kid` says which key to fetch."""
    if not isinstance(receipt, str) or receipt.count(".") != 2:
        raise ReceiptInvalid("The receipt is missing or not a compact JWS.")
    return _json_object(b64url_decode(receipt.split(".", 1)[0]), "header")


def verify_receipt(
    receipt: str | None, *, action_id: str, action_type: str, payload: Any, jwks: Mapping[str, Any]
) -> dict[str, Any]:
    """Check `receipt` against the JWKS `jwks` ({"keys": [...]}) and return its claims.

    Raises ReceiptInvalid unless it is signed by one of the keys (EdDSA), names `action_id` and
    `action_type` (the tool's), and its payload_sha256 is that of `payload` (the payload about to
    run) with an approving decision.
    """
    if receipt is None:
        raise ReceiptInvalid("The approval carries no receipt.")
    header = receipt_header(receipt)
    if header.get("alg") != ALGORITHM or header.get("typ") != TYPE:
        raise ReceiptInvalid(f"The receipt's header is not an {ALGORITHM} {TYPE}: {header}.")
    key = _public_key(jwks, header.get("kid"))
    header_b64, claims_b64, signature_b64 = receipt.split(".")
    try:
        key.verify(b64url_decode(signature_b64), f"{header_b64}.{claims_b64}".encode("ascii"))
    except InvalidSignature as exc:
        raise ReceiptInvalid("The receipt's signature does not verify.") from exc
    claims = _json_object(b64url_decode(claims_b64), "claims")
    if claims.get("v") != 1:
        raise ReceiptInvalid(f"Unknown receipt version {claims.get('v')!r}.")
    if claims.get("action_id") != str(action_id):
        raise ReceiptInvalid(f"The receipt is for action {claims.get('action_id')!r}, not {action_id}.")
    if claims.get("action_type") != action_type:
        raise ReceiptInvalid(f"The receipt approves action type {claims.get('action_type')!r}, not {action_type!r}.")
    if claims.get("payload_sha256") != payload_sha256(payload):
        raise ReceiptInvalid("The receipt was issued for another payload than the one about to run.")
    if claims.get("decision") not in APPROVING:
        raise ReceiptInvalid(f"The receipt's decision {claims.get('decision')!r} does not approve.")
    return claims


def jwks_kids(jwks: Mapping[str, Any]) -> set[Any]:
    return {key.get("kid") for key in jwks.get("keys", []) if isinstance(key, Mapping)}


def _public_key(jwks: Mapping[str, Any], kid: Any) -> Ed25519PublicKey:
    for jwk in jwks.get("keys", []):
        if isinstance(jwk, Mapping) and jwk.get("kid") == kid:
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
                raise ReceiptInvalid(f"Key {kid!r} is not an Ed25519 key.")
            try:
                return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
            except ValueError as exc:
                raise ReceiptInvalid(f"Key {kid!r} is not an Ed25519 key.") from exc
    raise ReceiptInvalid(f"The receipt is signed with an unknown key {kid!r}.")


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReceiptInvalid(f"The receipt's {part} is not JSON.") from exc
    if not isinstance(value, dict):
        raise ReceiptInvalid(f"The receipt's {part} is not a JSON object.")
    return value
