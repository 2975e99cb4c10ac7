"""GET ?wait=N holds the request in the event loop, woken by a Channels message after a decision."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from hitl.services import action_submit, agent_create
from reviews.services import review_decide
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scene():
    action_type = ActionTypeFactory(payload_schema=None)
    agent, token = agent_create(name="poller")
    reviewer = UserFactory(username="tina")
    ReviewerGroupFactory(key="team").members.add(reviewer)

    def new_action():
        return action_submit(
            agent=agent, action_type=action_type, payload={"to": "a@example.com"}, summary="s", confidence=0.9
        )

    return token, reviewer, new_action


def run(scenario):
    """Run an async scenario, then close the DB connection its sync_to_async thread opened."""

    async def and_close():
        try:
            return await scenario()
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(and_close())


def decide_and_close(**decision):
    """review_decide on a thread of the loop's executor, which then gives its connection back (or
    it stays checked out of the pool, and the test database cannot be dropped at the end)."""
    try:
        return review_decide(**decision)
    finally:
        connections.close_all()


def client_for(token):
    """An async client sending the agent's token (per request: AsyncClient(headers=...) drops it)."""
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {token}"}

    class Agent:
        @staticmethod
        def get(path):
            return client.get(path, headers=auth)

    return Agent


def test_long_poll_wakes_within_a_second_of_a_decision(scene):
    token, reviewer, new_action = scene
    action = new_action()

    async def scenario():
        poll = asyncio.create_task(client_for(token).get(f"/api/v1/actions/{action.pk}?wait=30"))
        await asyncio.sleep(1.5)
        assert not poll.done(), "the poll returned before any decision"
        decide = sync_to_async(decide_and_close, thread_sensitive=False)
        await decide(reviewer=reviewer, action_id=action.pk, decision="modify", payload={"to": "b@example.com"})
        decided = time.monotonic()
        response = await poll
        return response, time.monotonic() - decided

    response, woke_after = run(scenario)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved"
    assert body["decision"]["decision"] == "modified" and body["decision"]["by"] == "tina"
    assert body["final_payload"] == {"to": "b@example.com"}
    assert woke_after < 1.0


def test_long_poll_times_out_with_the_action_still_pending(scene):
    token, _, new_action = scene
    action = new_action()

    async def scenario():
        started = time.monotonic()
        response = await client_for(token).get(f"/api/v1/actions/{action.pk}?wait=1")
        return response, time.monotonic() - started

    response, took = run(scenario)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert took >= 1.0


def test_a_decided_action_returns_at_once(scene):
    token, reviewer, new_action = scene
    action = new_action()
    review_decide(reviewer=reviewer, action_id=action.pk, decision="reject", comment="wrong customer")

    async def scenario():
        started = time.monotonic()
        response = await client_for(token).get(f"/api/v1/actions/{action.pk}?wait=30")
        return response, time.monotonic() - started

    response, took = run(scenario)
    assert response.json()["status"] == "rejected"
    assert response.json()["decision"]["comment"] == "wrong customer"
    assert took < 5


def test_waiting_polls_hold_no_thread(scene):
    """Twenty 2-second polls at once finish together: sync work in one process shares one thread,
    so if each wait held it they would take 40 seconds."""
    token, _, new_action = scene
    actions = [new_action() for _ in range(20)]

    async def scenario():
        client = client_for(token)
        started = time.monotonic()
        responses = await asyncio.gather(*(client.get(f"/api/v1/actions/{a.pk}?wait=2") for a in actions))
        return responses, time.monotonic() - started

    responses, took = run(scenario)
    assert all(r.status_code == 200 and r.json()["status"] == "pending" for r in responses)
    assert took < 15
