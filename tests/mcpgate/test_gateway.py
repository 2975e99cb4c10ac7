"""The MCP gateway with the official `mcp` client, over stdio in front of a real upstream MCP server
(tests/mcpgate/refunds_upstream.py): a gated tool reaches the upstream only once approved and only
with the approved arguments, exactly once; a rejected call never does; ungated tools pass through;
bad arguments name the field; a mapping to an unknown action type is refused in admin."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from hitl.models import Action, ActionType
from hitl.services import agent_create, token_issue
from mcpgate.models import GatedTool, GatewayRun, Upstream
from tests.conftest import database_url, free_port
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
REFUND_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "number", "maximum": 500}},
    "required": ["order_id", "amount"],
}


@pytest.fixture
def world(server_url, tmp_path):
    team = ReviewerGroupFactory(key="team", rank=1)
    ReviewerGroupFactory(key="lead", rank=2)
    tina = UserFactory(username="tina")
    team.members.add(tina)
    refund = ActionTypeFactory(key="issue_refund", name="Issue refund", payload_schema=REFUND_SCHEMA)
    log = tmp_path / "refunds.log"
    upstream = Upstream.objects.create(
        name="refunds", transport="stdio", command=f"{sys.executable} {ROOT / 'tests/mcpgate/refunds_upstream.py'}",
        environment={"REFUNDS_LOG": str(log)},
    )  # fmt: skip
    GatedTool.objects.create(upstream=upstream, tool="issue_refund", action_type=refund, confidence=0.6,
                             summary="Refund {amount} {currency} on order {order_id}")  # fmt: skip
    _, token = agent_create(name="support-bot")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hitl.settings.test", "DATABASE_URL": database_url(),
           "HITL_TOKEN": token}  # fmt: skip
    gateway = StdioServerParameters(command=sys.executable, cwd=str(ROOT), env=env,
                                    args=[str(ROOT / "manage.py"), "mcp_server", "--gateway", "refunds"])  # fmt: skip
    return server_url, gateway, token_issue(user=tina, label="tests"), log


def upstream_calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def decide_when_pending(url: str, reviewer_token: str, seen: list, log: Path, **decision) -> threading.Thread:
    """A reviewer deciding through the REST API once the call waits, noting what the upstream had
    received by then (it must be nothing)."""

    def run():
        try:
            decide()
        finally:
            connection.close()  # this thread's, back to the pool

    def decide():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = Action.objects.filter(status="pending").first()
            if waiting is not None:
                seen.extend(upstream_calls(log))
                httpx.post(f"{url}/api/v1/actions/{waiting.pk}/decision", json=decision, timeout=10,
                           headers={"Authorization": f"Bearer {reviewer_token}"}).raise_for_status()  # fmt: skip
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_gated_call_runs_upstream_only_once_approved_and_with_the_approved_arguments(world):
    url, gateway, reviewer, log = world
    before_decision = []

    async def scenario():
        async with Client(gateway) as client:
            names = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"issue_refund", "lookup_order", "await_approval"} <= set(names)
            assert "Runs only once approved" in names["issue_refund"].description
            looked = await client.call_tool("lookup_order", {"order_id": "A-1"})  # ungated: straight through
            assert "order A-1" in looked.content[0].text
            reviewing = decide_when_pending(url, reviewer, before_decision, log, decision="modify",
                                            payload={"order_id": "A-7", "amount": 25, "currency": "USD"})  # fmt: skip
            ran = await client.call_tool("issue_refund", {"order_id": "A-7", "amount": 40, "currency": "USD"})
            await asyncio.to_thread(reviewing.join)
            assert not ran.is_error, ran.content
            texts = " ".join(c.text for c in ran.content)
            assert "refunded 25.0 USD on order A-7" in texts and "A reviewer changed the arguments" in texts
            action_id = (await sync_to_async(Action.objects.get)()).pk
            again = await client.call_tool("await_approval", {"action_id": str(action_id), "wait": 0})
            assert "Already run" in again.content[0].text

    asyncio.run(scenario())
    assert [c for c in before_decision if c["tool"] == "issue_refund"] == []  # nothing before the decision
    refunds = [c for c in upstream_calls(log) if c["tool"] == "issue_refund"]
    assert refunds == [
        {"tool": "issue_refund", "order_id": "A-7", "amount": 25, "currency": "USD"}
    ]  # once, as approved
    action = Action.objects.get()
    assert action.summary == "Refund 40 USD on order A-7" and action.outcome == "executed"
    assert GatewayRun.objects.get().arguments == {"order_id": "A-7", "amount": 25, "currency": "USD"}


def test_a_rejected_or_invalid_call_never_reaches_the_upstream(world):
    url, gateway, reviewer, log = world
    seen = []

    async def scenario():
        async with Client(gateway) as client:
            reviewing = decide_when_pending(url, reviewer, seen, log, decision="reject", reason="",
                                            comment="Already refunded")  # fmt: skip
            refused = await client.call_tool("issue_refund", {"order_id": "A-9", "amount": 40})
            await asyncio.to_thread(reviewing.join)
            assert refused.is_error and "Already refunded" in refused.content[0].text
            invalid = await client.call_tool("issue_refund", {"order_id": "A-9", "amount": 9000})
            assert invalid.is_error and "payload" in invalid.content[0].text

    asyncio.run(scenario())
    assert [c for c in upstream_calls(log) if c["tool"] == "issue_refund"] == []
    assert Action.objects.count() == 1  # the invalid call stored nothing


def test_a_call_still_waiting_answers_with_its_id_and_runs_later(world, settings):
    url, gateway, reviewer, log = world
    gateway.env["HITL_MCP_DEFAULT_WAIT_SECONDS"] = "0"

    async def scenario():
        async with Client(gateway) as client:
            waiting = await client.call_tool("issue_refund", {"order_id": "B-1", "amount": 10})
            assert not waiting.is_error and "await_approval" in waiting.content[0].text
            action = await sync_to_async(Action.objects.get)()
            assert upstream_calls(log) == []
            await asyncio.to_thread(
                httpx.post, f"{url}/api/v1/actions/{action.pk}/decision", json={"decision": "approve"},
                headers={"Authorization": f"Bearer {reviewer}"}, timeout=10,
            )  # fmt: skip
            ran = await client.call_tool("await_approval", {"action_id": str(action.pk), "wait": 5})
            assert "refunded 10.0" in ran.content[0].text

    asyncio.run(scenario())
    assert [c["order_id"] for c in upstream_calls(log)] == ["B-1"]


def test_a_mapping_to_an_unknown_action_type_is_refused_in_admin(admin_client):
    upstream = Upstream.objects.create(name="crm", transport="stdio", command="crm-mcp")
    form = {"upstream": upstream.pk, "tool": "delete_contact", "action_type": 999999, "summary": "Delete {id}",
            "confidence": "0.5", "argument_map": "{}"}  # fmt: skip
    page = admin_client.post("/admin/mcpgate/gatedtool/add/", form)
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert not GatedTool.objects.exists()
    known = ActionType.objects.create(key="delete_contact", name="Delete contact")
    bad_map = admin_client.post("/admin/mcpgate/gatedtool/add/", {**form, "action_type": known.pk,
                                                                   "argument_map": '{"a": "x", "b": "x"}'})  # fmt: skip
    assert "Two arguments map to the same payload field" in bad_map.content.decode()
    ok = admin_client.post("/admin/mcpgate/gatedtool/add/", {**form, "action_type": known.pk})
    assert ok.status_code == 302 and GatedTool.objects.get().action_type == known


def test_an_upstream_over_http_is_gated_the_same_way(world):
    url, gateway, reviewer, log = world
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "tests/mcpgate/refunds_upstream.py"), "--http", str(port)],
                                env={**os.environ, "REFUNDS_LOG": str(log)})  # fmt: skip
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        Upstream.objects.filter(name="refunds").update(transport="http", command="", url=f"http://127.0.0.1:{port}/mcp")
        seen = []

        async def scenario():
            async with Client(gateway) as client:
                reviewing = decide_when_pending(url, reviewer, seen, log, decision="approve")
                ran = await client.call_tool("issue_refund", {"order_id": "C-3", "amount": 12})
                await asyncio.to_thread(reviewing.join)
                assert "refunded 12.0 USD on order C-3" in ran.content[0].text

        asyncio.run(scenario())
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    assert seen == [] and [c["order_id"] for c in upstream_calls(log)] == ["C-3"]
