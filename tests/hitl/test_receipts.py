"""Approval receipts: every approved answer carries the service's Ed25519 signature over what was
approved, which anyone verifies with the public keys of GET /api/v1/receipt-keys, and which no
longer verifies once its claims or the payload change."""

import base64
import hashlib
import json
import math

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from rest_framework.test import APIClient

from hitl.models import Action
from hitl.services import agent_create, token_issue
from tests.conftest import bearer_client, page_form, submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict:
    response = APIClient().get("/api/v1/receipt-keys")  # no token
    assert response.status_code == 200
    return response.json()


def verified(receipt: str, keys: dict | None = None) -> dict:
    """The claims of `receipt`, checked as any verifier would (cryptography, the published keys);
    InvalidSignature when it does not verify, ValueError when no published key has its kid."""
    header_b64, claims_b64, signature_b64 = receipt.split(".")
    header = json.loads(b64decode(header_b64))
    assert (header["alg"], header["typ"]) == ("EdDSA", "hitl-receipt+jws")
    [key] = [k for k in (keys or jwks())["keys"] if k["kid"] == header["kid"]]
    public = Ed25519PublicKey.from_public_bytes(b64decode(key["x"]))
    public.verify(b64decode(signature_b64), f"{header_b64}.{claims_b64}".encode())
    return json.loads(b64decode(claims_b64))


def sha256(payload) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@pytest.fixture
def desk(db):
    """Reviewers tina and tom (team), eve and ed (executives, two approvals); the agent's API."""
    people = {}
    for key, rank, names in (("team", 1, ("tina", "tom")), ("lead", 2, ("leo",)), ("executive", 3, ("eve", "ed"))):
        group = ReviewerGroupFactory(key=key, rank=rank)
        for name in names:
            people[name] = UserFactory(username=name)
            group.members.add(people[name])
    ActionTypeFactory()
    ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    agent, token = agent_create(name="support-bot")
    return bearer_client(token), {name: bearer_client(token_issue(user=user)) for name, user in people.items()}


def submit(api, **overrides):
    response = api.post("/api/v1/actions", submit_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def decide(reviewer_api, action, **decision):
    response = reviewer_api.post(f"/api/v1/actions/{action['id']}/decision", decision, format="json")
    assert response.status_code == 200, response.content
    return response.json()


TAG = {"action_type": "tag_ticket", "payload": {"tag": "urgent"}, "entity": {}, "callback_url": ""}


def test_approved_by_policy_autonomous_and_post_action_carry_a_receipt_without_approvers(desk):
    api, _ = desk
    submit(api, **TAG, confidence=0.99)  # the agent's first tag_ticket waits; the next ones do not
    ran = submit(api, **TAG, confidence=0.99)
    reviewed_after = submit(api, **TAG, confidence=0.65)
    for answer, route in ((ran, "autonomous"), (reviewed_after, "post_action")):
        assert (answer["status"], answer["route"]["pattern"]) == ("approved", route)
        claims = verified(answer["receipt"])
        assert claims == {
            "v": 1,
            "action_id": answer["id"],
            "agent": "support-bot",
            "action_type": "tag_ticket",
            "payload_sha256": sha256({"tag": "urgent"}),
            "decision": "approved",
            "approvers": [],
            "route": route,
            "iat": claims["iat"],
        }
        assert Action.objects.get(pk=answer["id"]).receipt == answer["receipt"]
        assert api.get(f"/api/v1/actions/{answer['id']}").json()["receipt"] == answer["receipt"]


def test_pending_and_rejected_actions_have_none(desk):
    api, reviewers = desk
    action = submit(api)
    assert action["status"] == "pending" and action["receipt"] is None
    rejected = decide(reviewers["tina"], action, decision="reject", comment="wrong customer")
    assert rejected["status"] == "rejected" and rejected["receipt"] is None


def test_a_reviewers_approval_names_them_and_a_modification_binds_the_edited_payload(desk):
    api, reviewers = desk
    approved = decide(reviewers["tina"], submit(api), decision="approve")
    claims = verified(approved["receipt"])
    assert (claims["decision"], claims["approvers"], claims["route"]) == ("approved", ["tina"], "pre_action")
    assert claims["action_type"] == submit_body()["action_type"]  # a receipt is not reusable for another tool
    assert claims["payload_sha256"] == sha256(submit_body()["payload"])

    edited = {"to": "jane@example.com", "subject": "Your refund for order 881", "body": "It is on its way."}
    modified = decide(reviewers["tom"], submit(api), decision="modify", payload=edited)
    claims = verified(modified["receipt"])
    assert modified["final_payload"] == edited
    assert (claims["decision"], claims["approvers"]) == ("modified", ["tom"])
    assert claims["payload_sha256"] == sha256(edited) != sha256(submit_body()["payload"])
    assert claims["action_id"] == modified["id"]


def test_four_eyes_names_both_approvers_in_order(desk):
    api, reviewers = desk
    action = submit(api, compliance_risk=True)  # tier3: two executives approve
    first = decide(reviewers["ed"], action, decision="approve")
    assert first["status"] == "pending" and first["receipt"] is None
    second = decide(reviewers["eve"], action, decision="approve")
    assert second["status"] == "approved"
    assert verified(second["receipt"])["approvers"] == ["ed", "eve"]


def test_a_receipt_altered_anywhere_does_not_verify(desk):
    api, reviewers = desk
    receipt = decide(reviewers["tina"], submit(api), decision="approve")["receipt"]
    header, claims_b64, signature = receipt.split(".")
    claims = json.loads(b64decode(claims_b64))
    forged_claims = {**claims, "payload_sha256": sha256({"to": "mallory@example.com"})}
    forged = f"{header}.{b64encode(json.dumps(forged_claims, sort_keys=True, separators=(',', ':')).encode())}"
    with pytest.raises(InvalidSignature):
        verified(f"{forged}.{signature}")
    with pytest.raises(InvalidSignature):  # one byte of the signature
        raw = bytearray(b64decode(signature))
        raw[0] ^= 1
        verified(f"{header}.{claims_b64}.{b64encode(bytes(raw))}")
    # The receipt is of the approved payload: an agent about to run another one sees the mismatch.
    assert verified(receipt)["payload_sha256"] != sha256({**submit_body()["payload"], "to": "mallory@example.com"})


def test_the_keys_endpoint_needs_no_token_and_lists_every_key(settings, db):
    published = jwks()
    [key] = published["keys"]
    assert {k: key[k] for k in ("kty", "crv", "kid", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": "default",
        "use": "sig",
        "alg": "EdDSA",
    }
    assert len(b64decode(key["x"])) == 32


def new_key() -> str:
    from io import StringIO

    out = StringIO()
    call_command("receipt_key", stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


def test_a_rotated_key_signs_while_receipts_of_the_old_one_still_verify(desk, settings):
    api, reviewers = desk
    old, new = new_key(), new_key()
    old_kid, new_kid = old.split(":")[0], new.split(":")[0]
    assert old_kid != new_kid and len(b64decode(old.split(":")[1])) == 32
    settings.HITL_RECEIPT_KEYS = old
    before = decide(reviewers["tina"], submit(api), decision="approve")["receipt"]
    settings.HITL_RECEIPT_KEYS = f"{new},{old}"  # the new key first; the old one stays published
    after = decide(reviewers["tina"], submit(api), decision="approve")["receipt"]
    published = jwks()
    assert [k["kid"] for k in published["keys"]] == [new_kid, old_kid]
    assert json.loads(b64decode(before.split(".")[0]))["kid"] == old_kid
    assert json.loads(b64decode(after.split(".")[0]))["kid"] == new_kid
    assert verified(before, published)["approvers"] == verified(after, published)["approvers"] == ["tina"]
    settings.HITL_RECEIPT_KEYS = new  # the old key retired: its receipts no longer verify
    with pytest.raises(ValueError):
        verified(before)


def test_a_malformed_key_setting_stops_the_start_naming_it(settings, db):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.HITL_RECEIPT_KEYS = "k1:tooshort"
    with pytest.raises(SystemCheckError, match=r"hitl\.E001.*HITL_RECEIPT_KEYS: 'k1:tooshort'"):
        call_command("check")
    settings.HITL_RECEIPT_KEYS = "k1:tooshort,k1:tooshort"
    with pytest.raises(SystemCheckError, match="HITL_RECEIPT_KEYS"):
        call_command("check")


# Numbers as the agent or reviewer wrote them, and as PostgreSQL's jsonb gives them back.
HUGE = 123456789012345678901234567890
NUMBERS = f'{{"tag": "urgent", "big": 1e16, "zero": -0.0, "small": 1.5e-7, "one": 1.0, "huge": {HUGE}}}'
STORED = {"tag": "urgent", "big": 10**16, "zero": 0.0, "small": 1.5e-7, "one": 1.0, "huge": HUGE}


def served(api, action_id) -> dict:
    """The action as GET answers it, its receipt checked against the final_payload it serves."""
    answer = api.get(f"/api/v1/actions/{action_id}").json()
    assert answer["status"] == "approved"
    assert verified(answer["receipt"])["payload_sha256"] == sha256(answer["final_payload"])
    return answer


def assert_stored_as_jsonb_keeps_it(payload):
    assert payload == STORED
    assert [type(payload[key]) for key in ("big", "zero", "one", "huge")] == [int, float, float, int]
    assert math.copysign(1, payload["zero"]) == 1  # jsonb has no negative zero


def raw_post(api, url, body: str):
    return api.post(url, body, content_type="application/json")


def test_a_receipt_verifies_against_the_payload_served_whatever_numbers_were_submitted(desk):
    api, _ = desk
    submit(api, **TAG, confidence=0.99)  # the agent's first tag_ticket waits; the next ones do not
    for confidence, route in ((0.99, "autonomous"), (0.65, "post_action")):
        body = json.dumps({**submit_body(**TAG, confidence=confidence), "payload": "@"}).replace('"@"', NUMBERS)
        answer = raw_post(api, "/api/v1/actions", body)
        assert answer.status_code == 201, answer.content
        got = served(api, answer.json()["id"])
        assert got["route"]["pattern"] == route
        assert got["final_payload"] == answer.json()["final_payload"]
        assert_stored_as_jsonb_keeps_it(got["final_payload"])


def test_a_reviewers_edit_with_such_numbers_verifies_through_the_api_and_the_page(desk, client):
    api, reviewers = desk
    edited = raw_post(
        reviewers["tina"],
        f"/api/v1/actions/{submit(api, **TAG, confidence=0.99)['id']}/decision",  # novel: waits
        f'{{"decision": "modify", "payload": {NUMBERS}}}',
    )
    assert edited.status_code == 200, edited.content
    assert_stored_as_jsonb_keeps_it(served(api, edited.json()["id"])["final_payload"])

    action = Action.objects.get(pk=submit(api, **TAG, confidence=0.3)["id"])  # low confidence: waits
    assert (action.status, action.reviewer_group) == ("pending", "lead")
    client.force_login(UserFactory(username="leo"))
    page = {**page_form(action), "decision": "modify", "payload_mode": "json", "payload_json": NUMBERS}
    assert client.post(f"/reviews/{action.pk}/decide", page).status_code == 302
    assert_stored_as_jsonb_keeps_it(served(api, action.pk)["final_payload"])

    ActionTypeFactory(key="refund", irreversible=True, payload_schema={"type": "object", "properties": {
        "amount": {"type": "number"}}})  # fmt: skip
    action = Action.objects.get(pk=submit(api, action_type="refund", payload={"amount": 40}, entity={})["id"])
    form = {**page_form(action), "decision": "modify", "payload/amount": "1e16"}
    assert client.post(f"/reviews/{action.pk}/decide", form).status_code == 302
    assert served(api, action.pk)["final_payload"] == {"amount": 10**16}


def test_nan_infinity_and_numbers_jsonb_cannot_hold_are_refused_naming_the_field(desk):
    api, reviewers = desk
    body = json.dumps(submit_body(payload={"tag": "@"}, entity={}))
    for literal, problem in (
        ("NaN", "NaN is not a number JSON allows."),
        ("-Infinity", "-Infinity is not a number JSON allows."),
        ("1e-99999", "1e-99999 is too large or too precise to store."),
        ("1e99999", "1e99999 is too large or too precise to store."),
        ("9" * 5000, "999999999999…99999999 is too large or too precise to store."),
    ):
        refused = raw_post(api, "/api/v1/actions", body.replace('"@"', f"[1, {literal}]"))
        assert refused.status_code == 400, refused.content
        assert refused.json()["fields"] == {"payload": [f"$.tag[1]: {problem}"]}
    assert not Action.objects.exists()
    action = submit(api)
    refused = raw_post(reviewers["tina"], f"/api/v1/actions/{action['id']}/decision",
                       '{"decision": "modify", "payload": {"amount": NaN}}')  # fmt: skip
    assert refused.status_code == 400 and refused.json()["fields"] == {
        "payload": ["$.amount: NaN is not a number JSON allows."]
    }
