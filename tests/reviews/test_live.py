"""The live queue socket, driven with Channels' WebsocketCommunicator over the real Redis layer."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client

from hitl.asgi import application
from hitl.services import action_cancel, action_submit, agent_create
from reviews.claims import claim_take
from reviews.services import review_decide
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost:8000")


@pytest.fixture
def team(db):
    groups = {key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2))}
    groups["finance"] = ReviewerGroupFactory(key="finance", kind="expertise", rank=0)
    people = {name: UserFactory(username=name) for name in ("tina", "tom", "leo", "fiona")}
    groups["team"].members.add(people["tina"], people["tom"])
    groups["lead"].members.add(people["leo"])
    groups["finance"].members.add(people["fiona"])
    email = ActionTypeFactory()
    refund = ActionTypeFactory(key="issue_refund", payload_schema=None, reviewer_group="finance")
    agent, _ = agent_create(name="support-bot")

    def submit(summary, action_type=email, **facts):
        payload = {"to": "jane@example.com", "subject": "Hi"} if action_type == email else {"amount": 40}
        return action_submit(agent=agent, action_type=action_type, payload=payload, summary=summary,
                             confidence=0.9, **facts)  # fmt: skip

    return people, submit, refund, agent


def socket_for(user=None, origin=ORIGIN):
    headers = [origin]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, "/ws/reviews/", headers=headers)


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_socket_needs_a_logged_in_session():
    anonymous = socket_for(None)

    async def scenario():
        connected, code = await anonymous.connect()
        assert (connected, code) == (False, 4401)

    run(scenario())


def test_a_socket_from_another_origin_is_refused(team):
    people, *_ = team

    socket = socket_for(people["tina"], origin=(b"origin", b"https://evil.example"))

    async def scenario():
        connected, _ = await socket.connect()
        assert not connected

    run(scenario())


def test_new_claimed_and_decided_rows_reach_exactly_the_reviewers_who_may_see_them(team):
    people, submit, refund, _ = team

    tina, leo = socket_for(people["tina"]), socket_for(people["leo"])

    async def scenario():
        assert (await tina.connect())[0] and (await leo.connect())[0]

        action = await sync_to_async(submit)("Email Jane about her refund")
        for socket in (tina, leo):  # the team, and a lead who sees every tier1 action
            pushed = await socket.receive_json_from(timeout=2)
            assert (pushed["op"], pushed["id"], pushed["tab"]) == ("upsert", str(action.pk), "pre")
            assert f'id="row-{action.pk}"' in pushed["html"] and "Email Jane about her refund" in pushed["html"]

        await sync_to_async(submit)("Refund $40", action_type=refund)  # finance only
        assert await tina.receive_nothing(timeout=0.5)
        assert (await leo.receive_json_from(timeout=2))["op"] == "upsert"  # tier1, so the lead sees it

        await sync_to_async(claim_take)(reviewer=people["tom"], action_id=action.pk)
        claimed = await tina.receive_json_from(timeout=2)
        assert claimed["id"] == str(action.pk) and ">tom<" in claimed["html"].replace("\n", "")

        await sync_to_async(review_decide)(reviewer=people["tom"], action_id=action.pk, decision="approve")
        removed = await tina.receive_json_from(timeout=2)
        assert (removed["id"], removed["op"]) == (str(action.pk), "remove")
        await tina.disconnect()
        await leo.disconnect()

    run(scenario())


def test_a_cancelled_action_leaves_the_queue(team):
    people, submit, _, agent = team

    tina = socket_for(people["tina"])

    async def scenario():
        await tina.connect()
        action = await sync_to_async(submit)("Email Jane")
        assert (await tina.receive_json_from(timeout=2))["op"] == "upsert"
        await sync_to_async(action_cancel)(agent=agent, action_id=action.pk)
        assert (await tina.receive_json_from(timeout=2))["op"] == "remove"
        await tina.disconnect()

    run(scenario())
