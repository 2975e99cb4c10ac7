"""What an agent writes reaches Slack as text, never as a mention or a link, and reaches email as
plain text with a one-line subject: a summary is untrusted, whatever channel carries it."""

import re

import pytest
from django.core import mail

from escalation.models import Notification
from hitl.services import action_submit, agent_create
from tests.escalation.test_notify import announce, deliver, enqueued, receiver, route  # noqa: F401 (fixtures)
from tests.factories import ActionTypeFactory, ReviewerGroupFactory

BASE = "http://127.0.0.1:8000"
HOSTILE = "<!channel> Refund & close <https://evil.example|Open the review> <@U0ADMIN>"
ESCAPED = "&lt;!channel&gt; Refund &amp; close &lt;https://evil.example|Open the review&gt; &lt;@U0ADMIN&gt;"


@pytest.fixture(autouse=True)
def notify_settings(settings, own_routes_only):
    settings.HITL_BASE_URL, settings.HITL_PAGER_URL = BASE, ""


@pytest.fixture
def hostile_action(db):
    for key, rank in (("team", 1), ("lead", 2), ("executive", 3)):
        ReviewerGroupFactory(key=key, rank=rank)
    agent, _ = agent_create(name="support-bot")

    def submit(summary=HOSTILE):
        action = action_submit(agent=agent, action_type=ActionTypeFactory(), summary=summary, confidence=0.9,
                               payload={"to": "jane@example.com", "subject": "Hi"})  # fmt: skip
        assert action.reviewer_group == "team"
        return action

    return submit


def mrkdwn_texts(message: dict) -> list[str]:
    """Every text of a Slack message that Slack reads as mrkdwn: the top-level `text` (the
    notification and fallback text) and each mrkdwn text object of its blocks."""
    found = [message["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return found


def test_a_summary_reaches_slack_as_text_not_as_a_mention_or_a_link(
    hostile_action,
    receiver,  # noqa: F811
    enqueued,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    route("team", "new_item", "slack", receiver.url("/slack"))
    route("lead", "escalation", "slack", receiver.url("/slack"))
    action = hostile_action()
    url = f"{BASE}/reviews/{action.pk}/"
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    action.escalation_step, action.route_tier, action.reviewer_group = 1, "tier2", "lead"
    announce([(action, "escalation")], django_capture_on_commit_callbacks)

    for ids in enqueued:
        deliver(ids)

    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    new_item, escalated = receiver.to("/slack")
    assert new_item["text"] == f"New item waiting: {ESCAPED} (tier1) {url}"
    assert escalated["text"] == f"Escalated to tier2 (lead): {ESCAPED} (tier2) {url}"
    for message in (new_item, escalated):
        assert message["blocks"][1]["text"]["text"] == f"*<{url}|{ESCAPED}>*"
        # The only links and commands Slack finds are the service's own: the review and the deadline.
        for text in mrkdwn_texts(message):
            for inside in re.findall(r"<([^>]*)>", text):
                assert inside.startswith((f"{url}|", "!date^")), (inside, text)
    raw = b"".join(request["body"] for request in receiver.requests).decode()
    assert "<!channel>" not in raw and "<https://evil.example" not in raw and "<@U0ADMIN>" not in raw


def test_an_email_keeps_the_summary_as_plain_text_and_the_subject_on_one_line(
    hostile_action,
    enqueued,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    route("team", "new_item", "email", "oncall@example.com")
    action = hostile_action(summary="Refund <b>now</b> & close\r\nBcc: everyone@example.com\nSubject: hi")
    announce([(action, "new_item")], django_capture_on_commit_callbacks)

    deliver(enqueued[0])

    [email] = mail.outbox
    message = email.message()
    assert email.to == ["oncall@example.com"] and email.bcc == [] and message["Bcc"] is None
    assert email.subject == (
        "[HITL tier1] New item waiting: Refund <b>now</b> & close Bcc: everyone@example.com Subject: hi"
    )
    assert "\r" not in message["Subject"] and "\n" not in message["Subject"].replace("\n ", "")
    assert message.get_content_type() == "text/plain" and not getattr(email, "alternatives", [])
    assert "Refund <b>now</b> & close\r\nBcc: everyone@example.com\nSubject: hi" in email.body
