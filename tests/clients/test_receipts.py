"""Receipt verification (hitl_client.verify_receipt) against receipts signed here with a key of the test's own."""

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hitl_client import Client, Decision, ReceiptInvalid, canonical_json, verify_receipt

from tests.conftest import free_port

ACTION_ID = "5b0f5a52-4a3c-4a57-9a3a-1f2e3d4c5b6a"
PAYLOAD = {"to": "jane@example.com", "subject": "Your refund", "body": "Ünïcode ✓"}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk(key: Ed25519PrivateKey, kid: str) -> dict:
    x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(x), "use": "sig", "alg": "EdDSA"}


def sign(key, *, kid="k1", header=None, **claims) -> str:
    header = header or {"alg": "EdDSA", "kid": kid, "typ": "hitl-receipt+jws"}
    body = {
        "v": 1, "action_id": ACTION_ID, "action_type": "send_email", "agent": "support-bot",
         "decision": "modified", "approvers": ["tina"],
        "payload_sha256": hashlib.sha256(json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"),
                                                  ensure_ascii=False).encode()).hexdigest(),
        "route": "pre_action", "iat": 1_796_000_000, **claims,
    }  # fmt: skip
    signing_input = f"{b64(canonical_json(header))}.{b64(canonical_json(body))}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks(key):
    return {"keys": [jwk(Ed25519PrivateKey.generate(), "old"), jwk(key, "k1")]}


def test_a_receipt_for_this_action_and_payload_verifies_and_returns_its_claims(key, jwks):
    claims = verify_receipt(
        sign(key), action_id=ACTION_ID, action_type="send_email", payload=dict(reversed(PAYLOAD.items())), jwks=jwks
    )
    assert (claims["action_id"], claims["decision"], claims["approvers"]) == (ACTION_ID, "modified", ["tina"])


def test_a_receipt_altered_by_one_byte_anywhere_is_refused(key, jwks):
    receipt = sign(key)
    for i, char in enumerate(receipt):
        for other in {"A", "B", "."} - {char}:
            altered = receipt[:i] + other + receipt[i + 1 :]
            with pytest.raises(ReceiptInvalid):
                verify_receipt(altered, action_id=ACTION_ID, action_type="send_email", payload=PAYLOAD, jwks=jwks)


def test_the_signature_holds_but_another_payload_or_action_is_refused(key, jwks):
    receipt = sign(key)
    with pytest.raises(ReceiptInvalid, match="another payload"):
        verify_receipt(
            receipt,
            action_id=ACTION_ID,
            action_type="send_email",
            payload={**PAYLOAD, "to": "mallory@example.com"},
            jwks=jwks,
        )
    with pytest.raises(ReceiptInvalid, match="is for action"):
        verify_receipt(
            receipt,
            action_id="00000000-0000-0000-0000-000000000000",
            action_type="send_email",
            payload=PAYLOAD,
            jwks=jwks,
        )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda key: None, "no receipt"),
        (lambda key: "not-a-jws", "not a compact JWS"),
        (lambda key: sign(Ed25519PrivateKey.generate()), "does not verify"),  # a forger's key under our kid
        (lambda key: sign(key, kid="unknown"), "unknown key"),
        (lambda key: sign(key, header={"alg": "none", "kid": "k1", "typ": "hitl-receipt+jws"}), "header"),
        (lambda key: sign(key, decision="rejected"), "does not approve"),
        (lambda key: sign(key, v=2), "version"),
        (lambda key: sign(key, action_type="issue_refund"), "action type 'issue_refund'"),
        (lambda key: sign(key, action_type=None), "action type None"),  # a receipt that does not name it
    ],
)
def test_a_forged_unknown_or_non_approving_receipt_is_refused(key, jwks, make, message):
    with pytest.raises(ReceiptInvalid, match=message):
        verify_receipt(make(key), action_id=ACTION_ID, action_type="send_email", payload=PAYLOAD, jwks=jwks)


def test_an_older_key_still_published_verifies_its_receipts(jwks):
    old = Ed25519PrivateKey.generate()
    jwks["keys"].append(jwk(old, "2025"))
    assert (
        verify_receipt(
            sign(old, kid="2025"), action_id=ACTION_ID, action_type="send_email", payload=PAYLOAD, jwks=jwks
        )["v"]
        == 1
    )


def test_a_client_with_pinned_keys_verifies_with_them_and_fetches_nothing(key, jwks):
    decision = Decision.from_api({"id": ACTION_ID, "status": "approved", "final_payload": PAYLOAD,
                                  "receipt": sign(key)})  # fmt: skip
    with Client(f"http://127.0.0.1:{free_port()}", "token", max_retries=0, receipt_keys=jwks) as offline:
        assert offline.check_receipt(decision, action_type="send_email")["action_id"] == ACTION_ID
        assert offline.receipt_keys() == jwks
        unknown = Decision.from_api({**decision.raw, "receipt": sign(key, kid="new")})
        with pytest.raises(ReceiptInvalid, match="unknown key 'new'"):  # refused, not fetched (nothing listens)
            offline.check_receipt(unknown, action_type="send_email")
        with pytest.raises(ReceiptInvalid, match="answered for action"):  # not the action it asked about
            offline.check_receipt(decision, action_type="send_email", action_id=ACTION_ID.replace("5b", "6b"))
    with pytest.raises(ValueError, match="JWKS"):
        Client("http://127.0.0.1", "token", receipt_keys={"keys": []})
