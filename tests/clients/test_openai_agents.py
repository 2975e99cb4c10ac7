"""hitl_client.openai_agents against a live server and the real Agents SDK with a scripted model:
needs_approval asks the service, a pending refund stops the run with an interruption, resolve()
waits for the reviewer and approves or rejects the run state, and the refund runs once with what
was approved; a rejection or an expiry is the tool output the model reads; an unreachable service
never runs the tool."""

import asyncio
import json
import uuid

import pytest
from agents import Agent, Model, ModelResponse, RunConfig, Runner, RunState, Usage
from agents.exceptions import UserError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection
from hitl_client import AsyncClient, DecisionTimeout, HitlUnavailable, ReceiptInvalid
from hitl_client.openai_agents import HitlApprovals
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from hitl.models import Action, IdempotencyKey
from hitl.receipts import public_jwks
from tests.conftest import free_port

from .conftest import FAST
from .refunds import REFUND_FIELDS, expire, refund_tool, refund_type
from .test_receipts import jwk

ORDER = {"order_id": "881", "amount": 40.0, "currency": "USD", "reason": "Arrived damaged."}
OFFLINE = RunConfig(tracing_disabled=True)


class ScriptedModel(Model):
    """The planner, scripted: asks for the refund once, then answers with what the tool said."""

    def __init__(self, order=ORDER):
        self.order = order
        self.call_id = f"call_{uuid.uuid4().hex}"
        self.seen: list = []  # what each turn was given

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, *, previous_response_id, conversation_id, prompt) -> ModelResponse:  # fmt: skip
        self.seen.append(input)
        outputs = [i for i in input if isinstance(i, dict) and i.get("type") == "function_call_output"]
        if not outputs:
            call = ResponseFunctionToolCall(type="function_call", name="issue_refund", call_id=self.call_id,
                                            arguments=json.dumps(self.order), id=f"fc_{self.call_id}")  # fmt: skip
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text=f"Done: {outputs[-1]['output']}", annotations=[])
        message = ResponseOutputMessage(id="msg_1", type="message", role="assistant", status="completed",
                                        content=[text])  # fmt: skip
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("The scripted planner does not stream.")


def refund_agent(client, calls, model=None, **fields):
    approvals = HitlApprovals(client)
    issue_refund = approvals.tool("issue_refund", **{**REFUND_FIELDS, **fields})(refund_tool(calls))
    return approvals, Agent(name="refunds", instructions="Refund what is due.", tools=[issue_refund],
                            model=model or ScriptedModel())  # fmt: skip


@pytest.fixture
def refunds(db):
    return refund_type()


@pytest.fixture
def agent_client(server_url, agent_and_token):
    """A factory of the agent's AsyncClients (each made inside the test's event loop)."""
    return lambda: AsyncClient(server_url, agent_and_token[1], **FAST)


def run(coroutine):
    return asyncio.run(coroutine)


async def orm(query):
    """Django's ORM from inside the agent's event loop: in a thread of its own (Django refuses
    synchronous queries in an async context), which then closes its connection."""

    def call():
        try:
            return query()
        finally:
            connection.close()

    return await asyncio.to_thread(call)


def test_a_pending_refund_stops_the_run_and_runs_once_approved(agent_client, reviewer, refunds):
    calls = []

    async def agent():
        async with agent_client() as client:
            approvals, refund = refund_agent(client, calls)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            [interruption] = stopped.interruptions
            ids = await approvals.action_ids(stopped)
            assert calls == [] and await orm(lambda: Action.objects.get().status) == "pending"
            reviewer.decide_when_pending(decision="approve")
            state = await approvals.resolve(stopped, timeout=30)
            return interruption, ids, await Runner.run(refund, state, run_config=OFFLINE)

    interruption, ids, done = run(agent())
    action = Action.objects.get()
    assert ids == {interruption.raw_item.call_id: str(action.id)}  # the interruption's action
    assert calls == [ORDER] and done.final_output == "Done: refunded 40.0 USD on order 881"
    assert (action.status, action.outcome, IdempotencyKey.objects.count()) == ("approved", "executed", 1)


def test_a_modified_refund_runs_with_the_reviewers_edit_though_the_sdk_approved_the_models(
    agent_client, reviewer, refunds
):
    calls = []
    edited = {**ORDER, "amount": 25.0, "reason": "Half: the item is usable."}

    async def agent():
        async with agent_client() as client:
            approvals, refund = refund_agent(client, calls)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            reviewer.decide_when_pending(decision="modify", payload=edited, comment="Half.")
            return await Runner.run(refund, await approvals.resolve(stopped, timeout=30), run_config=OFFLINE)

    done = run(agent())
    assert calls == [edited] and done.final_output == "Done: refunded 25.0 USD on order 881"
    assert Action.objects.get().outcome == "executed"


def test_a_rejection_reaches_the_model_with_the_reviewers_reason_and_the_refund_never_runs(
    agent_client, reviewer, refunds
):
    calls, model = [], ScriptedModel()

    async def agent():
        async with agent_client() as client:
            approvals, refund = refund_agent(client, calls, model)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            reviewer.decide_when_pending(decision="reject", comment="Refunded last week already.")
            return await Runner.run(refund, await approvals.resolve(stopped, timeout=30), run_config=OFFLINE)

    done = run(agent())
    reason = "issue_refund was not run (rejected): Rejected by tina: Refunded last week already."
    assert done.final_output == f"Done: {reason}"
    assert {"call_id": model.call_id, "output": reason, "type": "function_call_output"} in model.seen[-1]
    assert calls == [] and Action.objects.get().outcome == ""


def test_an_expired_action_is_rejected_in_the_run_and_the_refund_never_runs(agent_client, refunds):
    calls = []

    async def agent():
        async with agent_client() as client:
            approvals, refund = refund_agent(client, calls)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            assert await orm(lambda: expire(Action.objects.get().id).status) == "expired"  # nobody decided in time
            return await Runner.run(refund, await approvals.resolve(stopped), run_config=OFFLINE)

    done = run(agent())
    assert done.final_output.startswith("Done: issue_refund was not run (expired): Expired")
    assert calls == []


def test_a_run_parked_as_json_resumes_after_a_restart_with_the_same_action(agent_client, reviewer, refunds):
    calls, model = [], ScriptedModel()

    async def before():
        async with agent_client() as client:
            _, refund = refund_agent(client, calls, model)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            return stopped.to_state().to_string()

    async def after(saved):  # a new process: new client, adapter, tool and agent; the state from its JSON
        async with agent_client() as client:
            approvals, refund = refund_agent(client, calls, model)
            state = await RunState.from_string(refund, saved)
            return await Runner.run(refund, await approvals.resolve(state, timeout=30), run_config=OFFLINE)

    saved = run(before())
    reviewer.decide(Action.objects.get().id, decision="approve")
    done = run(after(saved))
    assert calls == [ORDER] and done.final_output == "Done: refunded 40.0 USD on order 881"
    assert (Action.objects.count(), IdempotencyKey.objects.count()) == (1, 1)
    assert Action.objects.get().outcome == "executed"


def test_an_approval_by_policy_needs_no_approval_in_the_run(agent_client):
    refund_type(irreversible=False)
    calls = []

    async def agent():
        async with agent_client() as client:
            await client.submit(action_type="issue_refund", payload={**ORDER, "order_id": "1"}, summary="First",
                                confidence=0.99)  # fmt: skip
            _, refund = refund_agent(client, calls, confidence=0.99)
            return await Runner.run(refund, "Refund order 881", run_config=OFFLINE)

    done = run(agent())
    assert done.interruptions == [] and done.final_output == "Done: refunded 40.0 USD on order 881"
    action = Action.objects.get(payload=ORDER)
    assert action.route_pattern != "pre_action" and action.outcome == "executed" and calls == [ORDER]


def test_an_approval_given_in_the_sdk_alone_does_not_run_the_refund(agent_client, refunds):
    calls = []

    async def agent():
        async with agent_client() as client:
            _, refund = refund_agent(client, calls)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            state = stopped.to_state()
            state.approve(state.get_interruptions()[0])  # around the service
            return await Runner.run(refund, state, run_config=OFFLINE)

    done = run(agent())
    action = Action.objects.get()
    assert done.final_output == f"Done: issue_refund was not run: action {action.id} still waits for a reviewer."
    assert calls == [] and action.status == "pending"


def test_resolve_gives_up_at_its_timeout_and_leaves_the_run_parked(agent_client, reviewer, refunds):
    calls = []

    async def agent():
        async with agent_client() as client:
            approvals, refund = refund_agent(client, calls)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            with pytest.raises(DecisionTimeout):
                await approvals.resolve(stopped, timeout=1)
            await orm(lambda: reviewer.decide(Action.objects.get().id, decision="approve"))  # later
            return await Runner.run(refund, await approvals.resolve(stopped), run_config=OFFLINE)

    assert run(agent()).final_output == "Done: refunded 40.0 USD on order 881"
    assert calls == [ORDER] and Action.objects.get().status == "approved"


def test_with_the_service_unreachable_the_run_fails_closed(db):
    calls = []

    async def agent():
        async with AsyncClient(f"http://127.0.0.1:{free_port()}", "token", max_retries=2, **FAST) as down:
            _, refund = refund_agent(down, calls)
            return await Runner.run(refund, "Refund order 881", run_config=OFFLINE)

    with pytest.raises(UserError, match="no answer from the HITL service after 3 attempts") as raised:
        run(agent())
    assert isinstance(raised.value.__cause__, HitlUnavailable)
    assert calls == []


def test_a_receipt_that_does_not_verify_fails_the_run_and_the_refund_never_runs(
    server_url, agent_and_token, reviewer, refunds
):
    calls = []
    other_key = {"keys": [jwk(Ed25519PrivateKey.generate(), public_jwks()["keys"][0]["kid"])]}

    async def agent():
        async with AsyncClient(server_url, agent_and_token[1], receipt_keys=other_key, **FAST) as client:
            approvals, refund = refund_agent(client, calls)
            stopped = await Runner.run(refund, "Refund order 881", run_config=OFFLINE)
            reviewer.decide_when_pending(decision="approve")
            return await Runner.run(refund, await approvals.resolve(stopped, timeout=30), run_config=OFFLINE)

    with pytest.raises(UserError, match="issue_refund: The receipt's signature does not verify") as raised:
        run(agent())
    assert isinstance(raised.value.__cause__, ReceiptInvalid)
    assert calls == [] and Action.objects.get().outcome == ""


def test_a_refund_that_fails_is_reported_failed_and_the_model_reads_the_sdks_error_message(agent_client):
    refund_type(irreversible=False)

    def issue_refund(order_id: str, amount: float, currency: str, reason: str) -> str:
        """Refund an order."""
        raise ConnectionError("payments API down")

    async def agent():
        async with agent_client() as client:
            await client.submit(action_type="issue_refund", payload={**ORDER, "order_id": "1"}, summary="First",
                                confidence=0.99)  # fmt: skip
            approvals = HitlApprovals(client)
            tool = approvals.tool("issue_refund", **{**REFUND_FIELDS, "confidence": 0.99})(issue_refund)
            refund = Agent(name="refunds", tools=[tool], model=ScriptedModel())
            return await Runner.run(refund, "Refund order 881", run_config=OFFLINE)

    done = run(agent())
    assert done.final_output == "Done: An error occurred while running the tool. Please try again."
    action = Action.objects.get(payload=ORDER)
    assert (action.outcome, action.outcome_detail) == ("failed", {"error": "ConnectionError('payments API down')"})
