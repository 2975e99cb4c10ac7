"""The runnable agents in examples/, run as a developer runs them against `make run` (a script with
HITL_URL and HITL_TOKEN), against a live server: each refunds what a reviewer approved (their edit
included), says why when it was rejected, and resumes after a restart with the same action."""

import os
import subprocess
import sys
import uuid

import pytest

from hitl.models import Action
from tests.clients.refunds import refund_type
from tests.conftest import ROOT

EDITED = {"order_id": "881", "amount": 25.0, "currency": "USD", "reason": "Half: the item is usable."}
REJECTED = "I could not refund: issue_refund was not run (rejected): Rejected by tina: Refunded last week already."


@pytest.fixture
def example(server_url, agent_and_token):
    """Run examples/<script> with the agent's token: example(script, *args, env={}) -> its process,
    started; .communicate() waits for it."""
    started = []

    def start(script, *args, env=None):
        env = {**os.environ, "HITL_URL": server_url, "HITL_TOKEN": agent_and_token[1], **(env or {})}
        process = subprocess.Popen([sys.executable, str(ROOT / "examples" / script), *args], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
def refunds(db):
    return refund_type()


def finished(process) -> list[str]:
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    return out.splitlines()


def stopped_while_waiting(process) -> str:
    """Read the example's output until it waits for a reviewer; then stop it, as a restart would."""
    line = process.stdout.readline()
    assert "for a reviewer" in line, line + process.stderr.read()
    process.kill()
    process.wait(timeout=10)
    return line


@pytest.mark.parametrize("script", ["langgraph_refund.py", "openai_agents_refund.py"])
def test_the_example_refunds_what_the_reviewer_approved_with_their_edit(script, example, reviewer, refunds):
    reviewer.decide_when_pending(decision="modify", payload=EDITED, comment="Half.")
    lines = finished(example(script))
    action = Action.objects.get()
    assert f"/reviews/{action.id}/" in lines[0]
    assert lines[-1] == "Refunded 25.0 USD on order 881."
    assert (action.summary, action.final_payload, action.outcome) == (
        "Refund 40.0 USD for order 881",
        EDITED,
        "executed",
    )


@pytest.mark.parametrize("script", ["langgraph_refund.py", "openai_agents_refund.py"])
def test_the_example_says_why_the_reviewer_rejected_the_refund(script, example, reviewer, refunds):
    reviewer.decide_when_pending(decision="reject", comment="Refunded last week already.")
    assert finished(example(script))[-1] == REJECTED
    assert Action.objects.get().outcome == ""


def test_the_langgraph_example_resumes_its_thread_after_a_restart(example, reviewer, refunds, checkpoints):
    thread, env = str(uuid.uuid4()), {"CHECKPOINT_DATABASE_URL": checkpoints}
    stopped_while_waiting(example("langgraph_refund.py", "--thread", thread, env=env))
    reviewer.decide(Action.objects.get().id, decision="approve")
    assert finished(example("langgraph_refund.py", "--thread", thread, env=env))[-1] == (
        "Refunded 40.0 USD on order 881."
    )
    assert Action.objects.count() == 1 and Action.objects.get().outcome == "executed"


def test_the_openai_agents_example_resumes_its_saved_run_after_a_restart(example, reviewer, refunds, tmp_path):
    state = tmp_path / "run.json"
    stopped_while_waiting(example("openai_agents_refund.py", "--state", str(state)))
    assert state.exists()
    reviewer.decide(Action.objects.get().id, decision="approve")
    assert finished(example("openai_agents_refund.py", "--state", str(state)))[-1] == (
        "Refunded 40.0 USD on order 881."
    )
    assert Action.objects.count() == 1 and Action.objects.get().outcome == "executed" and not state.exists()
