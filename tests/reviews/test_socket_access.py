"""Open sockets follow access (issue 19): logging out, deactivation, a password change and group
changes close or narrow a reviewer's live socket at once, and a push checks the session again."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.test import Client

from hitl.asgi import application
from hitl.services import action_submit, agent_create
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost:8000")


@pytest.fixture
def world(db):
    team = ReviewerGroupFactory(key="team", rank=1)
    ReviewerGroupFactory(key="lead", rank=2)
    tina = UserFactory(username="tina")
    team.members.add(tina)
    email = ActionTypeFactory()
    agent, _ = agent_create(name="support-bot")

    def submit(summary):
        return action_submit(agent=agent, action_type=email, payload={"to": "jane@example.com", "subject": "Hi"},
                             summary=summary, confidence=0.9)  # fmt: skip

    return tina, team, submit


def logged_in(user) -> tuple[Client, WebsocketCommunicator]:
    """A browser session of `user` and its live socket."""
    client = Client()
    client.force_login(user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    return client, WebsocketCommunicator(application, "/ws/reviews/", headers=[ORIGIN, cookie])


async def closed_with(socket: WebsocketCommunicator) -> int:
    output = await socket.receive_output(timeout=2)
    assert output["type"] == "websocket.close", output
    return output["code"]


def run(coroutine):
    return asyncio.run(coroutine)


def test_logging_out_closes_that_sessions_socket_and_no_other(world):
    tina, _, submit = world
    browser, socket = logged_in(tina)
    _, phone = logged_in(tina)  # another session of hers

    async def scenario():
        assert (await socket.connect())[0] and (await phone.connect())[0]
        await sync_to_async(browser.post)("/accounts/logout/")
        assert await closed_with(socket) == 4401
        await sync_to_async(submit)("Email Jane about her refund")
        assert (await phone.receive_json_from(timeout=2))["op"] == "upsert"  # still logged in there
        await phone.disconnect()

    run(scenario())


@pytest.mark.parametrize("change", ["deactivate", "new password"])
def test_closing_the_account_or_changing_its_password_closes_its_sockets(world, change):
    tina, _, submit = world
    _, socket = logged_in(tina)

    def apply():
        if change == "deactivate":
            tina.is_active = False
        else:
            tina.set_password("a-new-pass-phrase")
        tina.save()

    async def scenario():
        assert (await socket.connect())[0]
        await sync_to_async(apply)()
        assert await closed_with(socket) == 4401

    run(scenario())


def test_leaving_a_group_narrows_the_socket_at_once(world):
    tina, team, submit = world
    _, socket = logged_in(tina)

    async def scenario():
        assert (await socket.connect())[0]
        await sync_to_async(team.members.remove)(tina)
        assert await closed_with(socket) == 4403  # the page reconnects, with her scope as it is now
        _, again = await sync_to_async(logged_in)(tina)
        assert (await again.connect())[0]
        await sync_to_async(submit)("Email Jane about her refund")
        assert await again.receive_nothing(timeout=0.5)  # no longer the team's rows
        await again.disconnect()

    run(scenario())


def test_a_push_checks_a_session_that_ended_without_a_notice(world, monkeypatch):
    """A session removed behind the socket's back (expired, or deleted by an operator): the next
    push checks it again instead of forwarding the row."""
    monkeypatch.setattr("reviews.consumers.RECHECK_SECONDS", 0)
    tina, _, submit = world
    _, socket = logged_in(tina)

    async def scenario():
        assert (await socket.connect())[0]
        await sync_to_async(Session.objects.all().delete)()
        await sync_to_async(submit)("Email Jane about her refund")
        assert await closed_with(socket) == 4401

    run(scenario())
