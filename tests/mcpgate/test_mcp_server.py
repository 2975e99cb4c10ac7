"""The MCP server with the official `mcp` client: over streamable HTTP against the running app (the
agent's token as `Authorization: Bearer`), and over stdio (`manage.py mcp_server`). Approve,
approve with edits, reject, bad arguments named by field, and who may connect."""

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from hitl.models import Action
from hitl.services import agent_create, token_issue
from tests.clients.refunds import expire
from tests.conftest import database_url
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "It is on its way."}


@pytest.fixture
def world(server_url):
    team = ReviewerGroupFactory(key="team", rank=1)
    ReviewerGroupFactory(key="lead", rank=2)
    tina = UserFactory(username="tina")
    team.members.add(tina)
    ActionTypeFactory()  # send_email: irreversible, waits for the team
    ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    agent, token = agent_create(name="support-bot")
    return server_url, token, token_issue(user=tina, label="tests")


def over_http(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(f"{url}/mcp", http_client=http))


def decide_when_pending(url: str, reviewer_token: str, **decision) -> threading.Thread:
    """A reviewer deciding through the REST API, once an action waits."""

    def run():
        try:
            decide()
        finally:
            connection.close()  # this thread's, back to the pool

    def decide():
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            waiting = Action.objects.filter(status="pending").first()
            if waiting is not None:
                httpx.post(f"{url}/api/v1/actions/{waiting.pk}/decision", json=decision, timeout=10,
                           headers={"Authorization": f"Bearer {reviewer_token}"}).raise_for_status()  # fmt: skip
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def email(**overrides) -> dict:
    return {"action_type": "send_email", "payload": dict(EMAIL), "summary": "Email Jane about her refund",
            "confidence": 0.9, **overrides}  # fmt: skip


def test_the_tools_and_their_schemas_come_from_the_rest_api(world):
    url, token, _ = world

    async def scenario():
        async with over_http(url, token) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(listed) == {"request_approval", "get_decision", "report_outcome", "cancel"}
            submit = listed["request_approval"].input_schema
            assert {"action_type", "payload", "summary", "confidence", "wait", "idempotency_key"} <= set(
                submit["properties"]
            )
            assert set(submit["required"]) >= {"action_type", "payload", "summary", "confidence"}
            # The REST API's own help text and limits, written once in the serializer.
            assert (
                submit["properties"]["confidence"]["maximum"] == 1
                and "How sure the agent is" in (submit["properties"]["confidence"]["description"])
            )
            assert listed["report_outcome"].input_schema["required"] == ["outcome", "action_id"]

    asyncio.run(scenario())


def test_approve_with_edits_then_report_the_outcome(world):
    url, token, reviewer = world
    edited = {**EMAIL, "subject": "Your refund of $40"}

    async def scenario():
        async with over_http(url, token) as client:
            waiting = await client.call_tool("request_approval", {**email(), "wait": 0})
            assert not waiting.is_error and waiting.structured_content["status"] == "pending"
            action_id = waiting.structured_content["id"]
            assert "Call get_decision" in waiting.content[0].text
            reviewing = decide_when_pending(url, reviewer, decision="modify", payload=edited, comment="Say how much")
            decided = await client.call_tool("get_decision", {"action_id": action_id, "wait": 20})
            await asyncio.to_thread(reviewing.join)
            assert decided.structured_content["status"] == "approved"
            assert decided.structured_content["final_payload"] == edited  # run the reviewer's version
            assert decided.content[0].text.startswith("Approved: run the tool with final_payload")
            done = await client.call_tool("report_outcome", {"action_id": action_id, "outcome": "executed"})
            assert done.structured_content["outcome"]["outcome"] == "executed"
            again = await client.call_tool("report_outcome", {"action_id": action_id, "outcome": "executed"})
            assert again.is_error and "already" in again.content[0].text

    asyncio.run(scenario())


def test_a_rejection_is_an_answer_the_model_reads_and_waiting_is_bounded(world):
    url, token, reviewer = world

    async def scenario():
        async with over_http(url, token) as client:
            reviewing = decide_when_pending(url, reviewer, decision="reject", reason="", comment="Wrong customer")
            rejected = await client.call_tool("request_approval", {**email(), "wait": 20})
            await asyncio.to_thread(reviewing.join)
            assert not rejected.is_error and rejected.structured_content["status"] == "rejected"
            assert "Rejected: do not run it. The reviewer said: Wrong customer" in rejected.content[0].text
            started = time.monotonic()
            pending = await client.call_tool("request_approval", {**email(summary="Another"), "wait": 1})
            assert pending.structured_content["status"] == "pending" and time.monotonic() - started < 10
            cancelled = await client.call_tool("cancel", {"action_id": pending.structured_content["id"]})
            assert cancelled.structured_content["status"] == "cancelled"
            autonomous = await client.call_tool(
                "request_approval", {"action_type": "tag_ticket", "payload": {"tag": "refund"}, "summary": "Tag it",
                                     "confidence": 0.99, "wait": 0},
            )  # fmt: skip
            assert autonomous.structured_content["status"] in ("approved", "pending")

    asyncio.run(scenario())


def test_bad_arguments_are_a_tool_error_naming_the_field_and_nothing_is_stored(world):
    url, token, _ = world

    async def scenario():
        async with over_http(url, token) as client:
            bad = await client.call_tool("request_approval", {**email(confidence=2), "wait": 0})
            assert bad.is_error and "confidence" in bad.content[0].text
            assert bad.structured_content["fields"]["confidence"]
            schema = await client.call_tool(
                "request_approval", {**email(payload={"to": "jane@example.com"}), "wait": 0}
            )
            assert schema.is_error and "payload" in schema.content[0].text
            unknown = await client.call_tool("get_decision", {"action_id": "not-an-id"})
            assert unknown.is_error and "action_id" in unknown.content[0].text
            too_long = await client.call_tool("request_approval", {**email(), "wait": 3600})
            assert too_long.is_error and "wait" in too_long.content[0].text

    asyncio.run(scenario())
    assert not Action.objects.exists()


def test_only_an_agent_token_opens_the_endpoint(world):
    url, _, reviewer = world
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert httpx.post(f"{url}/mcp", json=body).status_code == 401
    assert httpx.post(f"{url}/mcp", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    refused = httpx.post(f"{url}/mcp", json=body, headers={"Authorization": f"Bearer {reviewer}"})
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"


def test_over_stdio_as_the_agent_whose_token_it_was_given(world):
    _, token, reviewer = world
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hitl.settings.test", "DATABASE_URL": database_url(),
           "HITL_TOKEN": token}  # fmt: skip
    server = StdioServerParameters(command=sys.executable, args=[str(ROOT / "manage.py"), "mcp_server"], env=env,
                                   cwd=str(ROOT))  # fmt: skip

    async def scenario():
        async with Client(server) as client:
            assert len((await client.list_tools()).tools) == 4
            answer = await client.call_tool("request_approval", {**email(), "wait": 0})
            assert answer.structured_content["status"] == "pending"
            return answer.structured_content["id"]

    action_id = asyncio.run(scenario())
    assert Action.objects.get(pk=action_id).agent.name == "support-bot"


def test_an_expired_action_is_an_answer_not_to_run_it(world):
    url, token, _ = world

    async def scenario():
        async with over_http(url, token) as client:
            waiting = await client.call_tool("request_approval", {**email(), "wait": 0})
            action_id = waiting.structured_content["id"]
            await sync_to_async(expire)(action_id)  # nobody decided: the SLA sweep expires it
            expired = await client.call_tool("get_decision", {"action_id": action_id, "wait": 0})
            assert expired.structured_content["status"] == "expired"
            assert expired.content[0].text.startswith("Expired: do not run it.")

    asyncio.run(scenario())
